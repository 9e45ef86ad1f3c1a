# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of playbooks/rotate.yml (pure functions of data, no Ansible, no Engine), used by the action
``hive.swarm.swarm_plan`` (stages ``rotate`` and ``ca_wait``):

* ``rotation_plan`` - from the managers' probes (``swarm_node_info local_only=true``) and what to rotate: the
  manager to work through, a refusal, and the lines printed before anything changes (also in check mode);
* ``ca_progress`` - from one manager's read (``swarm`` and ``nodes`` views): has a root CA rotation completed,
  and which nodes have not caught up. Complete means what ``docker swarm ca --rotate`` waits for: the swarm no
  longer reports ``root_rotation_in_progress``, and every node's TLS info (trust root and certificate issuer,
  ``root_ca_digest`` / ``cert_issuer_digest``) equals the swarm's. With the root digest read before the rotation,
  the root must also have changed (so a read taken before the Engine recorded the rotation never counts).
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional, Sequence

from ansible_collections.hive.swarm.plugins.module_utils._swarm.plan import control_candidates

# what -> words, in the order they are printed
ROTATION_NAMES = (
    ("worker_token", "worker join token"),
    ("manager_token", "manager join token"),
    ("unlock_key", "unlock key"),
    ("root_ca", "root CA"),
)


def short(digest: Optional[str]) -> str:
    """The first 12 hex digits of a digest (as docker shows IDs), '?' when unknown."""
    return (digest or "?")[:12]


class RotationPlan(NamedTuple):
    control: str
    refusal: str
    lines: tuple[str, ...]
    previous_root: str
    swarm_id: str


def rotation_plan(probes: Mapping[str, Mapping[str, Any]], wanted: Mapping[str, bool], timeout: float,
                  check_mode: bool) -> RotationPlan:
    """What rotate.yml does. ``probes``: manager host -> swarm_node_info result (hosts whose probe failed are left
    out or have no ``local``); ``wanted``: the keys of ROTATION_NAMES -> bool."""
    hosts = ", ".join(probes) or "(none)"
    candidates = control_candidates({h: p for h, p in probes.items() if isinstance(p, Mapping)})
    if not candidates:
        return RotationPlan("", f"No reachable manager with control available in {hosts}: nothing was rotated.",
                            (), "", "")
    control = candidates[0]
    names = [words for key, words in ROTATION_NAMES if wanted.get(key)]
    if not names:
        return RotationPlan(control, "Nothing to rotate: all of rotate_worker_token, rotate_manager_token, "
                            "rotate_unlock_key and rotate_ca are false.", (), "", "")
    probe = probes[control]
    swarm = probe.get("swarm") or {}
    if wanted.get("unlock_key") and not (swarm.get("spec") or {}).get("autolock"):
        return RotationPlan(control, "The swarm has autolock off, so it has no unlock key to rotate (nothing was "
                            "rotated). Switch autolock on (docker_swarm_autolock: true in site.yml) or drop -e "
                            "rotate_unlock_key=true.", (), "", "")
    swarm_id = str(swarm.get("id") or "?")
    root = str(swarm.get("root_ca_digest") or "")
    lines = [f"Rotate on {control} (swarm {swarm_id}): {', '.join(names)}"]
    if wanted.get("root_ca"):
        nodes = (probe.get("local") or {}).get("nodes_count")
        count = f"{nodes} nodes" if nodes is not None else "every node"
        if swarm.get("root_rotation_in_progress"):
            lines.append("Root CA: a rotation is already in progress; this starts another one (the newer wins).")
        lines.append(f"Root CA {short(root)} is replaced by a new Engine-generated root: the swarm re-issues the "
                     f"certificates of {count}; then wait up to {timeout:g} s until every node trusts the new root and "
                     "holds a certificate from it. The swarm replaces both join tokens when its root changes (old "
                     "tokens stop working).")
    if check_mode:
        lines.append("Check mode: nothing is rotated.")
    return RotationPlan(control, "", tuple(lines), root, swarm_id)


class Behind(NamedTuple):
    hostname: str
    node_id: str
    state: str
    why: str


class CaProgress(NamedTuple):
    done: bool
    in_progress: bool
    root: str
    root_changed: Optional[bool]  # None: no previous root given
    total: int
    caught_up: int
    behind: tuple[Behind, ...]


def node_lag(node: Mapping[str, Any], root: str, issuer: str) -> str:
    """What a node still lacks ('' when it has caught up)."""
    problems = []
    if not node.get("cert_issuer_digest"):
        problems.append("reports no certificate issuer")
    elif node.get("cert_issuer_digest") != issuer:
        problems.append("certificate from another issuer")
    if not node.get("root_ca_digest"):
        problems.append("reports no trust root")
    elif node.get("root_ca_digest") != root:
        problems.append(f"trusts root {short(node.get('root_ca_digest'))}")
    return ", ".join(problems)


def ca_progress(swarm: Optional[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
                previous_root: str = "") -> CaProgress:
    """How far a root CA rotation is, from one manager's swarm and node views."""
    swarm = swarm or {}
    root = str(swarm.get("root_ca_digest") or "")
    issuer = str(swarm.get("cert_issuer_digest") or "")
    in_progress = bool(swarm.get("root_rotation_in_progress"))
    changed = (bool(root) and root != previous_root) if previous_root else None
    behind = []
    for node in sorted(nodes, key=lambda n: (str(n.get("hostname") or ""), str(n.get("id") or ""))):
        why = node_lag(node, root, issuer)
        if why:
            behind.append(Behind(str(node.get("hostname") or "?"), str(node.get("id") or "?"),
                                 str(node.get("state") or "unknown"), why))
    done = bool(root) and bool(issuer) and not in_progress and not behind and changed is not False and bool(nodes)
    return CaProgress(done, in_progress, root, changed, len(nodes), len(nodes) - len(behind), tuple(behind))


def describe_behind(behind: Sequence[Behind]) -> str:
    return "; ".join(f"{b.hostname} ({b.state}: {b.why})" for b in behind)


def progress_message(progress: CaProgress, seconds: float) -> str:
    """The verdict once the rotation completed."""
    return (f"Root CA rotation complete after {seconds:.1f} s: all {progress.total} nodes trust root "
            f"{short(progress.root)} and hold certificates from its issuer.")


def timeout_message(progress: CaProgress, timeout: float, previous_root: str = "") -> str:
    """Why the wait gave up at the deadline, naming the nodes that have not caught up."""
    reasons = []
    if progress.in_progress:
        reasons.append("the swarm still reports the root rotation in progress")
    if progress.root_changed is False:
        reasons.append(f"the swarm's root is still the old one ({short(previous_root)})")
    if progress.behind:
        reasons.append(f"{len(progress.behind)} of {progress.total} nodes have not caught up with root "
                       f"{short(progress.root)}: {describe_behind(progress.behind)}")
    if not progress.total:
        reasons.append("the manager listed no nodes")
    return (f"The root CA rotation did not complete within {timeout:g} s: {'; '.join(reasons) or 'no details'}. "
            "The Engine keeps rotating in the background: nodes that are down catch up when they come back; "
            "check again with playbooks/status.yml.")

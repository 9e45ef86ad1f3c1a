# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of playbooks/backup.yml and playbooks/restore.yml (pure: no Ansible, no Engine).

A backup is ``<DockerRootDir>/swarm`` of one manager, archived while its engine is stopped (the raft log is only
consistent then). The manager is a reachable non-leader (the leader would cost an election) unless one is named,
and only when the other managers keep a quorum while it is away (``quorum.away_keeps_quorum``). A restore puts the
archive back on the host it came from (same advertise address: the raft and the node certificate carry the node's
identity) and re-creates the swarm from it alone (``force_new_cluster``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Optional, Sequence

from ansible_collections.hive.swarm.plugins.module_utils._swarm import quorum

ARCHIVE_RE = re.compile(r"^swarm-(?P<swarm>[0-9a-z]{1,12})-(?P<host>.+)-(?P<time>\d{8}T\d{6}Z)\.tar\.gz$")
MANIFEST_KEYS = (
    "swarm_id",
    "node_id",
    "hostname",
    "advertise_addr",
    "engine_version",
    "autolocked",
    "created",
    "archive",
    "sha256",
)
# moby/moby#36852: an autolocked raft cannot be re-created alone - the unlock waits for a leader (which never
# comes) and holds the engine's control lock, and init --force-new-cluster needs the unlock first.
AUTOLOCK_RESTORE = (
    "the archive was taken with autolock on, and Docker Engine cannot re-create a swarm from an "
    "autolocked raft alone (moby/moby#36852: the unlock waits for a leader that never comes). Take "
    "restorable backups with autolock off (docker_swarm_autolock: false, then backup.yml)."
)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def archive_name(swarm_id: str, hostname: str, when: datetime) -> str:
    """``swarm-<first 12 of the swarm ID>-<hostname>-<UTC time>.tar.gz`` (sorts by time within one host)."""
    return f"swarm-{swarm_id[:12].lower()}-{hostname}-{when.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


def prune(names: Sequence[str], swarm_id: str, keep: int) -> list[str]:
    """The archives of this swarm in ``names`` beyond the newest ``keep`` (oldest first). Other files and other
    swarms' archives are never listed. ``keep`` below 1 keeps everything."""
    if keep < 1:
        return []
    ours = []
    for name in names:
        match = ARCHIVE_RE.match(name)
        if match and match.group("swarm") == swarm_id[:12].lower():
            ours.append((match.group("time"), name))
    ours.sort()
    return [n for _t, n in ours[: max(len(ours) - keep, 0)]]


@dataclass(frozen=True)
class BackupPlan:
    host: str = ""
    node_id: str = ""
    swarm_id: str = ""
    hostname: str = ""
    advertise_addr: str = ""
    engine_version: str = ""
    docker_root_dir: str = ""
    autolocked: bool = False
    leader: bool = False
    archive: str = ""
    lines: tuple[str, ...] = ()
    refusal: str = ""

    def manifest(self, sha256: str, created: str) -> dict[str, Any]:
        return {
            "swarm_id": self.swarm_id,
            "node_id": self.node_id,
            "hostname": self.hostname,
            "advertise_addr": self.advertise_addr,
            "engine_version": self.engine_version,
            "autolocked": self.autolocked,
            "created": created,
            "archive": self.archive,
            "sha256": sha256,
        }


def _local(probe: Any) -> Optional[Mapping[str, Any]]:
    if not isinstance(probe, Mapping) or probe.get("failed") or probe.get("unreachable"):
        return None
    local = probe.get("local")
    return local if isinstance(local, Mapping) else None


def backup_plan(
    probes: Mapping[str, Any],
    wanted: str,
    allow_outage: bool,
    unlock_key_set: bool,
    backup_dir: str,
    keep: int,
    now: datetime,
) -> BackupPlan:
    """Which manager to back up (``probes``: play host -> ``swarm_node_info nodes=true`` result, in inventory
    order), or why not. Nothing here changes anything; the lines are printed before any change."""
    hosts = list(probes)

    def serves(h: str) -> bool:
        v = _local(probes[h])
        return bool(v and v.get("is_manager") and not v.get("error") and isinstance(probes[h].get("swarm"), Mapping))

    reader = next((h for h in hosts if serves(h)), "")
    if not reader:
        return BackupPlan(
            refusal=(
                f"No manager with control available answered ({', '.join(hosts) or 'no hosts'}): a backup needs the "
                "swarm's quorum. Check the engines (playbooks/status.yml, playbooks/unlock.yml). Nothing was changed."
            )
        )
    nodes = [n for n in probes[reader].get("nodes") or [] if isinstance(n, Mapping)]
    swarm = probes[reader]["swarm"]
    swarm_id = _text(swarm.get("id"))
    by_id = {_text(n.get("id")): n for n in nodes}

    def usable(h: str) -> str:
        """'' when ``h`` can be backed up, else why not."""
        v = _local(probes.get(h))
        if v is None:
            return f"{h} could not be probed"
        node = by_id.get(_text(v.get("node_id")))
        if v.get("cluster_id") != swarm_id or node is None:
            return f"{h} is not a manager of swarm {swarm_id}"
        if node.get("role") != "manager" or node.get("manager_reachability") != "reachable":
            return f"{h} is not a reachable manager ({node.get('manager_reachability') or node.get('role')})"
        if not v.get("docker_root_dir"):
            return f"{h}'s engine did not report its DockerRootDir"
        return ""

    if wanted:
        if wanted not in probes:
            return BackupPlan(
                refusal=f"backup_host={wanted} is not a manager of this play ({', '.join(hosts)}). Nothing was changed."
            )
        host = wanted
        why = usable(host)
        if why:
            return BackupPlan(refusal=f"Cannot back up {why}. Nothing was changed.")
    else:
        fit = [h for h in hosts if not usable(h)]

        def is_leader(h: str) -> bool:
            return bool(by_id[_text(_local(probes[h])["node_id"])].get("leader"))  # type: ignore[index]

        fit.sort(key=is_leader)  # stable: inventory order, non-leaders first
        if not fit:
            return BackupPlan(
                refusal=f"No manager can be backed up: {'; '.join(usable(h) for h in hosts)}. Nothing was changed."
            )
        host = fit[0]
    local = _local(probes[host]) or {}
    node = by_id[_text(local.get("node_id"))]
    counts = quorum.view_counts(nodes)
    away = quorum.while_away(counts)
    if not quorum.away_keeps_quorum(counts) and not allow_outage:
        return BackupPlan(
            refusal=(
                f"Refusing to back up {host}: while its engine is stopped only {away.reachable} of {counts.total} "
                f"managers would be reachable, fewer than the quorum of {counts.quorum}, and the swarm could not be "
                "managed. Bring the other managers back first, or accept that outage with -e backup_allow_outage=true. "
                "Nothing was changed."
            )
        )
    autolocked = bool((swarm.get("spec") or {}).get("autolock"))
    if autolocked and not unlock_key_set:
        return BackupPlan(
            refusal=(
                f"Swarm {swarm_id} is autolocked: {host}'s engine comes back locked after the backup. Give the unlock "
                "key as docker_swarm_unlock_key (ansible-vault). Nothing was changed."
            )
        )
    plan = BackupPlan(
        host=host,
        node_id=_text(local.get("node_id")),
        swarm_id=swarm_id,
        hostname=_text(local.get("hostname")) or host,
        advertise_addr=_text(local.get("node_addr")) or _text(node.get("addr")),
        engine_version=_text(local.get("engine_version")),
        docker_root_dir=_text(local.get("docker_root_dir")),
        autolocked=autolocked,
        leader=bool(node.get("leader")),
    )
    archive = archive_name(swarm_id, plan.hostname, now)
    outage = "" if quorum.away_keeps_quorum(counts) else " - the swarm cannot be managed meanwhile (allowed)"
    lines = (
        f"Backup of swarm {swarm_id} from {host} (node {plan.node_id[:12]}, {plan.advertise_addr}, engine "
        f"{plan.engine_version}{', the leader' if plan.leader else ''}{', autolocked' if autolocked else ''})",
        f"Stop its engine, archive {plan.docker_root_dir}/swarm, start the engine"
        f"{', unlock it' if autolocked else ''} and wait until it is reachable; meanwhile {away.reachable} of "
        f"{counts.total} managers stay reachable (quorum {counts.quorum}){outage}.",
        f"Archive: {backup_dir.rstrip('/')}/{archive} with its manifest {archive[: -len('.tar.gz')]}.json (sha256); "
        f"the newest {keep} archives of this swarm are kept."
        if keep > 0
        else f"Archive: {backup_dir.rstrip('/')}/{archive} with its manifest (sha256); none removed.",
    )
    return BackupPlan(**{**plan.__dict__, "archive": archive, "lines": lines})


def manifest_problems(manifest: Any) -> list[str]:
    """What is missing or wrong in a manifest read back from disk."""
    if not isinstance(manifest, Mapping):
        return ["it is not a JSON object"]
    out = [f"no {k}" for k in MANIFEST_KEYS if k not in manifest or manifest[k] in (None, "")]
    if "autolocked" in manifest and not isinstance(manifest["autolocked"], bool):
        out.append("autolocked is not true/false")
    return out


@dataclass(frozen=True)
class RestorePlan:
    host: str = ""
    swarm_id: str = ""
    node_id: str = ""
    advertise_addr: str = ""
    autolocked: bool = False
    lines: tuple[str, ...] = ()
    refusal: str = ""
    warnings: tuple[str, ...] = field(default_factory=tuple)


def restore_plan(
    host: str, hosts: Sequence[str], archive: str, manifest: Any, sha256: str, target_addr: str, probe: Any, force: bool
) -> RestorePlan:
    """Whether ``archive`` (with ``manifest``, and the ``sha256`` computed now) may be restored onto ``host``
    (advertising ``target_addr`` as the role resolves it; ``probe`` its ``swarm_node_info`` result)."""
    nothing = "Nothing was changed."
    if not host or host not in hosts:
        return RestorePlan(
            refusal=f"Say which manager to restore onto: -e restore_host=HOST, one of "
            f"{', '.join(hosts) or 'the managers'}{f' (not {host})' if host else ''}. {nothing}"
        )
    problems = manifest_problems(manifest)
    if problems:
        return RestorePlan(
            refusal=f"The manifest of {archive} is unusable ({'; '.join(problems)}): restore from an "
            f"archive backup.yml wrote, with its .json manifest next to it. {nothing}"
        )
    if sha256 != manifest["sha256"]:
        return RestorePlan(
            refusal=f"The archive {archive} does not match its manifest (sha256 {sha256[:16]}..., "
            f"expected {str(manifest['sha256'])[:16]}...): it is damaged or not the one "
            f"backed up. {nothing}"
        )
    addr = _text(manifest["advertise_addr"])
    if target_addr != addr:
        return RestorePlan(
            refusal=(
                f"Refusing to restore onto {host}: the archive was taken on {manifest['hostname']} advertising {addr}, "
                f"but {host} advertises {target_addr or 'no known address'}. The restored node keeps its identity and "
                f"address: restore onto the host with address {addr} (docker_swarm_advertise_addr). {nothing}"
            )
        )
    if manifest["autolocked"]:
        return RestorePlan(refusal=f"Cannot restore {archive}: {AUTOLOCK_RESTORE} {nothing}")
    local = _local(probe)
    if local is None:
        msg = probe.get("msg") if isinstance(probe, Mapping) else None
        return RestorePlan(
            refusal=f"Could not read the engine on {host} ({msg or 'no answer'}): start it and run again. {nothing}"
        )
    if not local.get("docker_root_dir"):
        return RestorePlan(refusal=f"{host}'s engine did not report its DockerRootDir. {nothing}")
    state = _text(local.get("state"))
    healthy = state == "active" and not local.get("error")
    if (healthy or state == "locked") and not force:
        what = (
            f"holds a locked swarm ({_text(local.get('node_id'))[:12] or 'node unknown'})"
            if state == "locked"
            else f"is in a healthy swarm ({local.get('cluster_id') or 'as a worker'})"
        )
        return RestorePlan(
            refusal=(
                f"Refusing to restore onto {host}: its engine {what}, and a restore replaces that swarm state. Restore "
                f"only onto a manager whose swarm is lost, or confirm with -e restore_force=true. {nothing}"
            )
        )
    root = _text(local.get("docker_root_dir"))
    lines = (
        f"Restore swarm {manifest['swarm_id']} from {archive} (taken {manifest['created']} on {manifest['hostname']},"
        f" node {_text(manifest['node_id'])[:12]}, engine {manifest['engine_version']}) onto {host} ({addr}, now "
        f"{state}{', forced' if healthy or state == 'locked' else ''}).",
        f"Stop its engine, replace {root}/swarm with the archive's, start the engine, re-create the swarm from it "
        "alone (force_new_cluster) and wait until the node is Ready. Then run site.yml: it joins the other managers "
        "and workers again and prunes their old entries.",
    )
    return RestorePlan(
        host=host,
        swarm_id=_text(manifest["swarm_id"]),
        node_id=_text(manifest["node_id"]),
        advertise_addr=addr,
        autolocked=False,
        lines=lines,
    )


def _own_node(nodes: Sequence[Mapping[str, Any]], node_id: str) -> Optional[Mapping[str, Any]]:
    return next((n for n in nodes if n.get("id") == node_id), None)


def back_problem(read: Mapping[str, Any], node_id: str) -> str:
    """After the backup: '' once the manager's engine is unlocked, has control and its node is ready and
    reachable (``read``: ``swarm_node_info nodes=true`` on that manager), else what is missing."""
    if read.get("failed") or read.get("unreachable"):
        return f"the engine does not answer ({read.get('msg') or 'no message'})"
    local = read.get("local") or {}
    if local.get("state") != "active" or not local.get("is_manager") or local.get("error"):
        return f"the engine is {local.get('state')}{': ' + local['error'] if local.get('error') else ''}"
    node = _own_node(read.get("nodes") or [], node_id)
    if node is None:
        return f"node {node_id[:12]} is not listed"
    if node.get("state") != "ready" or node.get("manager_reachability") != "reachable":
        return f"node {node_id[:12]} is {node.get('state')}, {node.get('manager_reachability')}"
    return ""


def restored_problem(read: Mapping[str, Any], node_id: str, swarm_id: str) -> str:
    """After the restore: '' once the engine manages swarm ``swarm_id`` as node ``node_id``, ready and the leader."""
    why = back_problem(read, node_id)
    if why:
        return why
    have = ((read.get("swarm") or {}).get("id")) or ""
    if have != swarm_id:
        return f"the engine manages swarm {have or 'none'}, not {swarm_id}"
    if not (_own_node(read.get("nodes") or [], node_id) or {}).get("leader"):
        return f"node {node_id[:12]} is not the leader yet"
    return ""


def engine_problem(read: Mapping[str, Any]) -> str:
    """'' once the engine answers /info (in any swarm state), else why not."""
    if read.get("failed") or read.get("unreachable") or not isinstance(read.get("local"), Mapping):
        return f"the engine does not answer ({read.get('msg') or 'no message'})"
    return ""


def restored_engine_problem(read: Mapping[str, Any]) -> str:
    """After the restore's engine start: '' once the engine has loaded the restored swarm - active, or pending with
    an error (the old peers are gone: no leader; force_new_cluster fixes that), else what it is."""
    why = engine_problem(read)
    if why:
        return why
    local = read["local"]
    if local.get("state") == "active" or (local.get("state") == "pending" and local.get("error")):
        return ""
    return f"the engine is {local.get('state')}"

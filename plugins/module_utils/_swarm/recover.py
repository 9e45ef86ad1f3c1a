# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of playbooks/recover.yml (pure): recovery of a swarm whose managers lost their quorum.

Input: each inventory manager's ``swarm_node_info nodes=true certificate=true`` result (or the failed/unreachable
result). After a quorum loss ``/info`` of a surviving manager says ``active`` with control available, an empty
cluster (no swarm ID) and only ``Swarm.Error`` set ("The swarm does not have a leader"); its raft peers are still in
``RemoteManagers`` and its certificate (subject O) names the swarm. ``recovery_plan`` picks the survivor, the dead
managers whose entries go and the lines printed before anything changes; ``recovered`` judges the survivor's reads
after ``force_new_cluster``. Quorum arithmetic comes from ``quorum.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from ansible_collections.hive.swarm.plugins.module_utils._swarm import quorum


@dataclass
class RecoveryPlan:
    action: str = "refuse"  # recover | nothing | refuse
    survivor: str = ""
    swarm_id: str = ""
    locked: bool = False
    dead: list[dict[str, str]] = field(default_factory=list)  # {id, addr, host} of managers whose entries go
    others: list[str] = field(default_factory=list)  # inventory managers that re-join with the next site.yml
    lines: list[str] = field(default_factory=list)
    refusal: str = ""


def _local(read: Any) -> Optional[Mapping[str, Any]]:
    if isinstance(read, Mapping) and isinstance(read.get("local"), Mapping):
        return read["local"]
    return None


def swarm_of(read: Any) -> str:
    """The swarm a host's engine belongs to: the cluster ID, or with a lost quorum (no cluster in /info) the
    swarm ID in its node certificate; '' when neither is known."""
    local = _local(read) or {}
    cert = read.get("certificate") if isinstance(read, Mapping) else None
    return str(local.get("cluster_id") or (cert or {}).get("cluster_id") or "")


def serving(read: Any) -> bool:
    """An active manager with control available and no error: the swarm has a quorum."""
    local = _local(read) or {}
    return bool(
        local.get("state") == "active"
        and local.get("is_manager")
        and local.get("control_available")
        and not local.get("error")
        and local.get("cluster_id")
    )


def holds_raft(read: Any) -> bool:
    """A manager's engine that holds raft state: an active manager, or a locked engine whose certificate says
    manager (a locked engine shows nothing else)."""
    local = _local(read) or {}
    cert = (read.get("certificate") if isinstance(read, Mapping) else None) or {}
    if local.get("state") == "locked":
        return cert.get("role") == "manager"
    return local.get("state") == "active" and bool(local.get("is_manager"))


def _why(read: Any) -> str:
    if not isinstance(read, Mapping):
        return "not read"
    if read.get("unreachable"):
        return "unreachable"
    local = _local(read)
    if local is None:
        first = str(read.get("msg") or "no message").split("\n", maxsplit=1)[0]
        return f"its engine could not be read ({first[:120]})"
    if not holds_raft(read):
        return f"not a manager (state {local.get('state') or '?'})"
    return ""


def recovery_plan(
    managers: Sequence[str],
    reads: Mapping[str, Any],
    chosen: str = "",
    host_of_addr: Optional[Mapping[str, str]] = None,
    check_mode: bool = False,
    confirmed: bool = False,
    autolock: bool = False,
) -> RecoveryPlan:
    """What recover.yml does. ``managers``: the inventory's managers in order; ``reads``: host -> its read;
    ``chosen``: ``recover_from`` ('' = the first inventory manager that holds raft state of the inventory's swarm);
    ``host_of_addr``: IP -> inventory host, to name the dead managers; ``autolock``: the inventory says the swarm is
    autolocked (``docker_swarm_autolock``)."""
    addr_host = dict(host_of_addr or {})
    plan = RecoveryPlan()
    healthy = [h for h in managers if serving(reads.get(h))]
    if healthy:
        h = healthy[0]
        local = _local(reads[h]) or {}
        counts = quorum.view_counts(list(reads[h].get("nodes") or []))
        plan.action, plan.swarm_id = "nothing", str(local.get("cluster_id") or "")
        plan.lines = [
            f"Nothing to recover: the managers of swarm {plan.swarm_id} have their quorum ({h} serves it, "
            f"{counts.reachable} of {counts.total} managers reachable, quorum {counts.quorum}). "
            "Use site.yml to converge the inventory."
        ]
        return plan
    holders = [h for h in managers if holds_raft(reads.get(h))]
    swarms = {h: swarm_of(reads[h]) for h in holders}
    ids = list(dict.fromkeys(s for s in swarms.values() if s))
    if len(ids) > 1:
        listed = ", ".join(f"{h}={s or '?'}" for h, s in swarms.items())
        plan.refusal = (
            f"Refusing to recover: the inventory's managers hold the raft state of different swarms "
            f"({listed}). Nothing was changed. Make the managers of the wrong swarm leave it "
            "(docker swarm leave --force) or fix the inventory, then run again."
        )
        return plan
    if chosen:
        if chosen not in managers:
            plan.refusal = (
                f"Refusing to recover from {chosen}: it is not a manager of the inventory "
                f"({', '.join(managers)}). Nothing was changed. Give -e recover_from=HOST of the manager "
                "group."
            )
            return plan
        why = _why(reads.get(chosen))
        if why:
            plan.refusal = (
                f"Refusing to recover from {chosen}: {why}, so it holds no raft state of the swarm to "
                "recover. Nothing was changed. Start its engine, or choose another manager with "
                "-e recover_from=HOST."
            )
            return plan
        plan.survivor = chosen
    elif holders:  # an unlocked one first: a locked engine cannot be recovered (see below)
        plan.survivor = sorted(holders, key=lambda h: (_local(reads[h]) or {}).get("state") == "locked")[0]
    else:
        status = ", ".join(f"{h}: {_why(reads.get(h)) or '?'}" for h in managers)
        plan.refusal = (
            f"Nothing to recover from: no inventory manager holds the raft state of a swarm ({status}). "
            "Nothing was changed. Start a manager's engine (its data intact) and run again; a swarm "
            "whose managers all lost their state cannot be recovered (build a new one with site.yml)."
        )
        return plan
    read = reads[plan.survivor]
    local = _local(read) or {}
    plan.swarm_id = swarm_of(read)
    plan.locked = local.get("state") == "locked"
    if plan.locked:
        plan.refusal = (
            f"Refusing to recover from {plan.survivor}: its engine is locked (autolock). Nothing was changed. Without "
            "a quorum an unlock never completes (Engine 20.10: the engine stays pending, waiting for a leader, and "
            "then accepts no force_new_cluster) and a locked engine cannot force a new cluster. Recover from a manager "
            "whose engine was not restarted since the quorum was lost (-e recover_from=HOST), or bring back enough "
            "managers to restore the quorum and unlock them (playbooks/unlock.yml)."
        )
        return plan
    if autolock:
        plan.refusal = (
            f"Refusing to recover swarm {plan.swarm_id or '?'}: the inventory says it is autolocked "
            "(docker_swarm_autolock: true), and Docker Engine cannot force a new cluster from an autolocked raft: "
            "POST /swarm/init with force_new_cluster answers 'Swarm is encrypted and needs to be unlocked' and takes "
            f"{plan.survivor} out of the swarm. Nothing was changed. Bring back enough managers (engines with their "
            "data) to restore the quorum and unlock them (playbooks/unlock.yml); if autolock is in fact off for this "
            "swarm, run with -e docker_swarm_autolock=false."
        )
        return plan
    me = str(local.get("node_id") or "")
    reachable_ids = {str((_local(r) or {}).get("node_id")) for r in reads.values() if _local(r)}
    for peer in local.get("remote_managers") or []:
        pid = str(peer.get("node_id") or "")
        if not pid or pid == me or pid in reachable_ids:
            continue
        ip = str(peer.get("addr") or "").rsplit(":", 1)[0].strip("[]")
        plan.dead.append({"id": pid, "addr": str(peer.get("addr") or ""), "host": addr_host.get(ip, "")})
    plan.others = [h for h in managers if h != plan.survivor]
    plan.action = "recover"
    error = str(local.get("error") or "no leader")
    dead = ", ".join(f"{d['host'] or '?'} ({d['id'][:12]}, {d['addr']})" for d in plan.dead) or "none"
    plan.lines = [
        f"Recovery of swarm {plan.swarm_id or '?'}: its managers lost their quorum ({plan.survivor} says: "
        f"{error.splitlines()[0] if error else error}).",
        f"  survivor: {plan.survivor} (node {me[:12]})",
        f"  1. force a new cluster of one manager on {plan.survivor} from its raft state (services, networks, "
        "secrets and configs kept; same swarm ID)",
        "  2. wait until it leads and answers the node list",
        f"  3. remove the entries of the lost managers: {dead}",
        f"  next: run site.yml when the other managers ({', '.join(plan.others) or 'none'}) are back or replaced: "
        "they join again as managers (a host that comes back with the old raft state leaves it first).",
    ]
    if check_mode:
        plan.lines.append("Check mode: nothing was changed.")
    elif not confirmed:
        plan.refusal = "Nothing was changed: confirm the recovery with -e confirm_recover=yes."
    return plan


@dataclass
class Recovered:
    problem: str  # '' once the survivor is a working leader and the entries are gone
    message: str
    # manager entries outside the new raft that no reachable host reports: the lost managers' ({id, host, addr})
    lost: list[dict[str, str]] = field(default_factory=list)


def recovered(survivor: str, read: Any, gone: Sequence[str] = (), keep: Sequence[str] = ()) -> Recovered:
    """Judge the survivor's read (swarm_node_info nodes=true services=true) after force_new_cluster: it must be
    the leader, answer the node list, and list none of ``gone`` (entries removed). ``lost``: the manager entries
    outside the new raft (no reachability: the survivor is its only member) except ``keep`` (node IDs reachable
    hosts report: swarmkit takes such a manager back into the raft by itself)."""
    if not isinstance(read, Mapping) or read.get("failed") or read.get("unreachable"):
        msg = str((read or {}).get("msg") or "no answer") if isinstance(read, Mapping) else "no answer"
        return Recovered(f"{survivor} could not be read: {msg.splitlines()[0] if msg else msg}", "")
    local = _local(read) or {}
    if read.get("swarm_unavailable") or local.get("error") or not read.get("swarm"):
        return Recovered(
            f"{survivor} does not serve the swarm yet: "
            f"{read.get('swarm_unavailable') or local.get('error') or 'no swarm'}",
            "",
        )
    nodes = list(read.get("nodes") or [])
    me = next((n for n in nodes if n.get("id") == local.get("node_id")), None)
    if me is None or not me.get("leader"):
        return Recovered(f"{survivor} is not the leader yet", "")
    left = [n for n in nodes if n.get("id") in set(gone)]
    if left:
        return Recovered("entries still listed: " + ", ".join(f"{n.get('hostname')} ({n.get('id')})" for n in left), "")
    counts = quorum.view_counts(nodes)
    services = len(read.get("services") or [])
    lost = [
        {"id": str(n["id"]), "host": str(n.get("hostname") or ""), "addr": str(n.get("addr") or "")}
        for n in nodes
        if n.get("role") == "manager" and not n.get("manager_reachability") and n is not me and n["id"] not in keep
    ]
    return Recovered(
        "",
        f"Swarm {read['swarm'].get('id')} recovered on {survivor}: leader, {len(nodes)} nodes, "
        f"{counts.reachable} of {counts.total} manager{'s' if counts.total != 1 else ''} reachable, {services} "
        f"service{'s' if services != 1 else ''} kept.",
        lost,
    )

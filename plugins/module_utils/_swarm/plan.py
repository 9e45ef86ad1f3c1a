# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The converge planner: every decision of the docker_swarm role, as pure functions of data.

Inputs are the inventory's intent (:class:`Inventory`: groups, play hosts, per-host variables) and what
the probe read from the engines (per host the ``swarm_node_info`` result: ``local``, and on managers
``swarm`` and ``nodes``). Outputs are the checks of the inventory (:func:`check_inventory`), the whole
plan (:func:`make_plan`: election, addresses, the ordered steps, refusals, the table shown before any
change), the preflight verdict (:func:`preflight_problems`) and the health verdict (:func:`health`).
Nothing here talks to an engine or to Ansible: the action plugin ``hive.swarm.swarm_plan`` gathers the
inputs and returns the outputs as facts; the role's tasks only order the module calls.
Quorum arithmetic comes from ``quorum.py`` and is not written here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Optional, Sequence

from ansible_collections.hive.swarm.plugins.module_utils._swarm import quorum

# Per-host variables of the docker_swarm role the planner reads (each host's own value or the role default).
HOST_VARS = ("docker_swarm_advertise_addr", "docker_swarm_interface", "docker_swarm_listen_addr",
             "docker_swarm_data_path_addr", "docker_swarm_node_state", "docker_swarm_labels",
             "docker_swarm_labels_exclusive", "docker_swarm_node_availability")
# Cluster-wide variables of the docker_swarm role the planner reads.
SETTINGS_VARS = ("docker_swarm_manager_group", "docker_swarm_worker_group", "docker_swarm_allow_many_managers",
                 "docker_swarm_force_rejoin", "docker_swarm_prune_stale_nodes", "docker_swarm_prune_down_nodes",
                 "docker_swarm_init_ignore_unreachable", "docker_swarm_autolock", "docker_swarm_init_options",
                 "docker_swarm_unlock_key", "docker_swarm_preflight", "docker_swarm_rejoin_silent_managers")
MAX_MANAGERS = 7
SWARM_PORT = 2377
GOSSIP_PORT = 7946
VXLAN_PORT = 4789


def is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def strip_port(addr: Optional[str]) -> str:
    """'10.0.0.1:2377' -> '10.0.0.1', '[fe80::1]:2377' -> 'fe80::1', '' -> ''."""
    text = addr or ""
    if text.startswith("["):
        return text[1:text.find("]")] if "]" in text else text[1:]
    head, sep, tail = text.rpartition(":")
    if sep and tail.isdigit() and head.count(":") == 0:
        return head
    return text


def _manager_addrs(local: Mapping[str, Any]) -> list[str]:
    return [_text(m.get("addr")) for m in local.get("remote_managers") or [] if m.get("addr")]


def with_port(addr: str, port: int) -> str:
    """'10.0.0.1' -> '10.0.0.1:2377', 'fd00::1' -> '[fd00::1]:2377'."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _join(items: Sequence[str], empty: str = "none") -> str:
    return ", ".join(items) if items else empty


# --------------------------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class Host:
    """One inventory host's role variables (``docker_swarm_*``), defaults applied."""

    name: str
    target: str = ""
    advertise_addr: str = ""
    interface: str = ""
    listen_addr: str = ""
    data_path_addr: str = ""
    absent: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    labels_exclusive: bool = False
    availability: str = "active"

    @classmethod
    def from_vars(cls, name: str, hostvars: Mapping[str, Any], defaults: Mapping[str, Any]) -> Host:
        def get(key: str) -> Any:
            value = hostvars.get(key)
            return defaults.get(key) if value is None else value

        labels = get("docker_swarm_labels") or {}
        return cls(
            name=name,
            target=_text(hostvars.get("ansible_host") or name),
            advertise_addr=_text(get("docker_swarm_advertise_addr")),
            interface=_text(get("docker_swarm_interface")),
            listen_addr=_text(get("docker_swarm_listen_addr")),
            data_path_addr=_text(get("docker_swarm_data_path_addr")),
            absent=_text(get("docker_swarm_node_state")) == "absent",
            labels={str(k): _text(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {},
            labels_exclusive=_bool(get("docker_swarm_labels_exclusive")),
            availability=_text(get("docker_swarm_node_availability")) or "active",
        )


@dataclass(frozen=True)
class Settings:
    """Cluster-wide role variables."""

    manager_group: str = "docker_swarm_manager"
    worker_group: str = "docker_swarm_worker"
    allow_many_managers: bool = False
    force_rejoin: bool = False
    prune_stale_nodes: bool = True
    prune_down_nodes: bool = False
    init_ignore_unreachable: bool = False
    autolock: Optional[bool] = None
    init_autolock: bool = False
    have_unlock_key: bool = False
    preflight: bool = True
    rejoin_silent_managers: bool = False

    @classmethod
    def from_vars(cls, values: Mapping[str, Any]) -> Settings:
        autolock = values.get("docker_swarm_autolock")
        init_options = values.get("docker_swarm_init_options") or {}
        return cls(
            manager_group=_text(values.get("docker_swarm_manager_group") or cls.manager_group),
            worker_group=_text(values.get("docker_swarm_worker_group") or cls.worker_group),
            allow_many_managers=_bool(values.get("docker_swarm_allow_many_managers")),
            force_rejoin=_bool(values.get("docker_swarm_force_rejoin")),
            prune_stale_nodes=_bool(values.get("docker_swarm_prune_stale_nodes", True)),
            prune_down_nodes=_bool(values.get("docker_swarm_prune_down_nodes")),
            init_ignore_unreachable=_bool(values.get("docker_swarm_init_ignore_unreachable")),
            autolock=None if autolock is None or autolock == "" else _bool(autolock),
            init_autolock=_bool(init_options.get("autolock")) if isinstance(init_options, Mapping) else False,
            have_unlock_key=bool(_text(values.get("docker_swarm_unlock_key"))),
            preflight=_bool(values.get("docker_swarm_preflight", True)),
            rejoin_silent_managers=_bool(values.get("docker_swarm_rejoin_silent_managers")),
        )


@dataclass(frozen=True)
class Inventory:
    """The inventory as this play sees it. ``play``: hosts still in the play (not failed), in play order."""

    managers: tuple[str, ...]
    workers: tuple[str, ...]
    play: tuple[str, ...]
    play_all: tuple[str, ...]
    hosts: Mapping[str, Host]
    settings: Settings = Settings()

    @property
    def known(self) -> list[str]:
        """Every host of the two groups and of the play, once, in that order."""
        return list(dict.fromkeys([*self.managers, *self.workers, *self.play_all]))

    @property
    def absent(self) -> list[str]:
        return [h for h in self.known if h in self.hosts and self.hosts[h].absent]

    @property
    def present_managers(self) -> list[str]:
        absent = set(self.absent)
        return [h for h in self.managers if h not in absent]

    @property
    def outside_managers(self) -> list[str]:
        """Managers of the inventory that are not in this play (--limit): probed by delegation."""
        return [h for h in self.managers if h not in self.play_all]

    @property
    def play_present(self) -> list[str]:
        absent = set(self.absent)
        return [h for h in self.play if h not in absent]

    @property
    def play_managers(self) -> list[str]:
        return [h for h in self.play_present if h in self.managers]

    @property
    def play_workers(self) -> list[str]:
        return [h for h in self.play_present if h not in self.managers]

    @property
    def play_absent(self) -> list[str]:
        absent = set(self.absent)
        return [h for h in self.play if h in absent]

    def wanted_role(self, host: str) -> str:
        return "manager" if host in self.managers else "worker"


# ------------------------------------------------------------------------------------ inventory check
@dataclass
class InventoryCheck:
    problems: list[str]
    warnings: list[str]
    absent: list[str]
    present_managers: list[str]
    outside_managers: list[str]
    lock_host: str

    @property
    def message(self) -> str:
        return "Inventory check failed: " + "; ".join(self.problems) if self.problems else ""


def check_inventory(inv: Inventory) -> InventoryCheck:
    """What can be told without connecting to any host."""
    problems: list[str] = []
    invalid = [h for h in inv.play_all if h not in inv.play]
    if invalid:
        problems.append(f"invalid role variables on {', '.join(invalid)} (see the validation error above); "
                        "nothing was changed.")
        return InventoryCheck(problems, [], inv.absent, inv.present_managers, inv.outside_managers, "")
    s = inv.settings
    both = [h for h in inv.managers if h in inv.workers]
    count = len(inv.present_managers)
    bad_addr = [f"{h} ({inv.hosts[h].advertise_addr})" for h in inv.known
                if h in inv.hosts and inv.hosts[h].advertise_addr and not is_ip(inv.hosts[h].advertise_addr)]
    if both:
        problems.append(f"hosts in both {s.manager_group} and {s.worker_group}: {', '.join(both)} "
                        "(a host is a manager or a worker: remove it from one group)")
    if count == 0:
        problems.append(f"no manager: put at least one host in the group {s.manager_group} "
                        "(without docker_swarm_node_state: absent)")
    if count > MAX_MANAGERS and not s.allow_many_managers:
        problems.append(f"{count} managers: more than {MAX_MANAGERS} slow raft down and add no safety; set "
                        "docker_swarm_allow_many_managers: true to allow it")
    if bad_addr:
        problems.append(f"docker_swarm_advertise_addr is not an IP address for {', '.join(bad_addr)}: give an IP "
                        "(or an interface name in docker_swarm_interface)")
    warnings = []
    if count and count % 2 == 0:
        warnings.append(f"WARNING: {count} managers tolerate no more failures than {count - 1} would (quorum "
                        f"{quorum.quorum_size(count)}); an odd number is recommended.")
    lock_host = inv.present_managers[0] if inv.present_managers else ""
    return InventoryCheck(problems, warnings, inv.absent, inv.present_managers, inv.outside_managers, lock_host)


# ------------------------------------------------------------------------------------------ election
@dataclass
class Election:
    control: str
    bootstrap: bool
    ours: str
    votes: dict[str, int]
    in_swarm: list[str]
    cluster_of: dict[str, str]
    unprobed_managers: list[str]
    locked: list[str]
    refusals: list[str]
    # With docker_swarm_force_rejoin and no inventory manager in a swarm: the hosts that leave the swarm they are
    # in and join the one this run creates.
    movers: list[str] = field(default_factory=list)


def cut_off(local: Mapping[str, Mapping[str, Any]], host_addresses: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Hosts whose engine advertises an address the host no longer has (changed on the host under a running
    swarm): the other managers cannot reach such a manager, and what it says about the swarm is stale - a leader
    cut off this way lists the others as unreachable. Only judged when the host's addresses could be read."""
    out = []
    for h, v in local.items():
        found = host_addresses.get(h) or {}
        addr = _text(v.get("node_addr"))
        if addr and found.get("addresses") and addr not in host_ips(found):
            out.append(h)
    return out


def elect(inv: Inventory, local: Mapping[str, Mapping[str, Any]], never: Sequence[str] = ()) -> Election:
    """Which manager this run talks to, and whether a swarm is created.

    A swarm is created only when no probed host is in one, on the first probed manager of the inventory.
    Otherwise the inventory's swarm is the one most inventory managers are in, and any live manager of it
    with ControlAvailable (inventory managers first) serves tokens and node operations. ``never``: hosts that must
    not serve - one whose address is gone from its host (:func:`cut_off`), one that still runs the raft of a swarm
    that dropped it (:func:`removed_members`).
    """
    s = inv.settings
    present = inv.present_managers
    votes: dict[str, int] = {}
    for h in present:
        cid = (local.get(h) or {}).get("cluster_id")
        if cid:
            votes[cid] = votes.get(cid, 0) + 1
    top = max(votes.values()) if votes else 0
    leaders = [c for c, n in votes.items() if n == top]
    ours = leaders[0] if len(leaders) == 1 else ""
    ok = {h for h, v in local.items() if v.get("state") == "active" and v.get("control_available")
          and v.get("cluster_id") and not v.get("error") and v.get("cluster_id") == ours and h not in never}
    candidates = [h for h in [*present, *[h for h in local if h not in present]] if h in ok]
    in_swarm = [h for h, v in local.items() if v.get("state") in ("active", "locked")]
    movers: list[str] = []
    if not votes and in_swarm and s.force_rejoin:
        # No inventory manager is in a swarm: the inventory's swarm does not exist yet. The user said to move
        # hosts found in other swarms: they leave theirs and join the one created here (locked ones cannot).
        movers = [h for h in in_swarm if (local.get(h) or {}).get("state") == "active"]
    staying = [h for h in in_swarm if h not in movers]
    bootstrap = not staying
    if staying:
        control = candidates[0] if candidates else ""
    else:
        control = next((h for h in present if h in local and h not in movers), "")
    cluster_of = {h: v["cluster_id"] for h, v in local.items() if v.get("cluster_id")}
    unprobed = [h for h in present if h not in local]
    locked = [h for h, v in local.items() if v.get("state") == "locked"]

    refusals: list[str] = []
    if len(votes) > 1 and not ours:
        listed = ", ".join(f"{h}={c}" for h, c in cluster_of.items())
        refusals.append(f"inventory hosts are in different swarms ({listed}) and the inventory managers are split "
                        "evenly between them: cannot tell which one to keep; make the hosts of the wrong swarm "
                        "leave it (docker swarm leave --force). Nothing was changed")
    foreign = [f"{h} (cluster {c})" for h, c in cluster_of.items() if c != ours]
    if ours and foreign and not s.force_rejoin:
        ours_by = [h for h, c in cluster_of.items() if c == ours and h in present]
        refusals.append(f"{', '.join(foreign)} {'is' if len(foreign) == 1 else 'are'} in another swarm than the "
                        f"inventory's swarm {ours} (managers {', '.join(ours_by)}). Nothing was changed. Make them "
                        "leave that swarm, or set docker_swarm_force_rejoin: true to move them (a swarm whose last "
                        "manager leaves is gone)")
    if not votes and cluster_of and not movers:
        clusters = ", ".join(dict.fromkeys(cluster_of.values()))
        refusals.append(f"hosts {', '.join(cluster_of)} are in a swarm ({clusters})"
                        " that no inventory manager is in; the role will not adopt it or create another (set "
                        "docker_swarm_force_rejoin: true to move them into the swarm this run creates)")
    if locked and not s.have_unlock_key:
        refusals.append(f"locked (autolock) engines: {', '.join(locked)} - a manager of an autolocked swarm stays "
                        "locked after a restart. Give the unlock key as docker_swarm_unlock_key (keep it in "
                        "ansible-vault) and run again, or run playbooks/unlock.yml, or docker swarm unlock on the host")
    if not control and not bootstrap and cluster_of and ours:
        refusals.append(f"hosts {', '.join(in_swarm)} are in a swarm, but no reachable manager has control available "
                        "without error (quorum lost? engines stopped?); the role will not create a second swarm")
    if not control and not bootstrap and not cluster_of:
        refusals.append(f"hosts {', '.join(in_swarm)} are in a swarm, but no reachable manager of it could be probed "
                        f"({_join(unprobed, 'every inventory manager was probed and none is in it')} failed); bring "
                        "a manager back; the role will not create a second swarm")
    if not control and bootstrap:
        refusals.append("no reachable manager to create the swarm on" + (
            f" (every probed manager is in another swarm: {', '.join(movers)})" if movers else ""))
    if bootstrap and unprobed and not s.init_ignore_unreachable:
        refusals.append(f"no swarm found, but managers {', '.join(unprobed)} could not be probed and may already run "
                        "one; bring them back, or set docker_swarm_init_ignore_unreachable: true")
    return Election(control, bootstrap, ours, votes, in_swarm, cluster_of, unprobed, locked, refusals, movers)


# ----------------------------------------------------------------------------------------- addresses
def resolve_addresses(inv: Inventory, local: Mapping[str, Mapping[str, Any]],
                      host_addresses: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Advertise address per host: docker_swarm_advertise_addr > (an active host: the address its engine
    advertises, when the inventory names an interface or no IP) > IPv4 of docker_swarm_interface >
    ansible_host when it is an IP > the IPv4 of the default route. '' when none is known."""
    out: dict[str, str] = {}
    for h in [*inv.play, *[h for h in local if h not in inv.play]]:
        hv = inv.hosts.get(h) or Host(name=h, target=h)
        state = local.get(h) or {}
        found = host_addresses.get(h) or {}
        by_target = is_ip(hv.target)
        if hv.advertise_addr:
            addr = hv.advertise_addr
        elif state.get("state") == "active" and state.get("node_addr") and (hv.interface or not by_target):
            addr = _text(state["node_addr"])
        elif hv.interface:
            addr = _text((found.get("interfaces") or {}).get(hv.interface))
        elif by_target:
            addr = hv.target
        else:
            addr = _text(found.get("default_ipv4"))
        out[h] = addr
    return out


def address_refusal(inv: Inventory, addrs: Mapping[str, str]) -> str:
    missing = [h for h in inv.play_present if not addrs.get(h)]
    if not missing:
        return ""
    why = [f"interface {inv.hosts[h].interface} has no IPv4 address" if h in inv.hosts and inv.hosts[h].interface
           else "no docker_swarm_interface" for h in missing]
    return (f"No advertise address for {', '.join(missing)} ({', '.join(why)}): set docker_swarm_advertise_addr, a "
            "docker_swarm_interface that has an IPv4 address, or an IP as ansible_host. Nothing was changed.")


# ---------------------------------------------------------------------------------------------- plan
@dataclass
class Plan:
    """Everything this run will do, decided before the first change."""

    ready: bool = True
    unlock: list[str] = field(default_factory=list)
    unlocked: list[str] = field(default_factory=list)
    control: str = ""
    bootstrap: bool = False
    ours: str = ""
    swarm_id: str = ""
    cluster_of: dict[str, str] = field(default_factory=dict)
    addrs: dict[str, str] = field(default_factory=dict)
    node_ids: dict[str, str] = field(default_factory=dict)
    remote_addrs: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    # Hosts whose engine still runs the raft of a swarm that dropped them (see removed_members): they leave it
    # (swarm_leave force) and join like new hosts.
    rejoin: list[str] = field(default_factory=list)
    # Managers whose own engine cannot serve swarm requests, made to leave and join anew because
    # docker_swarm_rejoin_silent_managers is set (host -> the engine's error; they are in rejoin too, their old
    # entry in stale).
    rejoin_silent: dict[str, str] = field(default_factory=dict)
    stale: list[dict[str, str]] = field(default_factory=list)
    # Joiners whose node the control manager lists (a member stuck pending or in error: swarm_join recovers it by
    # leaving and joining anew, or it settles and keeps its ID): host -> that entry, removed after the joins if
    # the host comes back with another node ID (left_behind).
    replaces: dict[str, dict[str, str]] = field(default_factory=dict)
    manager_joiners: list[str] = field(default_factory=list)
    worker_joiners: list[str] = field(default_factory=list)
    autolock: Optional[bool] = None
    promote: list[str] = field(default_factory=list)
    demote: list[str] = field(default_factory=list)
    demote_via: str = ""
    control_after: str = ""
    node_updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    removals: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Hosts in the swarm whose address the inventory changed, in the order they move (managers one at a time).
    readdress: list[dict[str, Any]] = field(default_factory=list)
    unprobed_keys: list[str] = field(default_factory=list)
    # Managers this run leaves alone whose own engine reported a swarm error at the probe (silent_managers): the
    # health check reads them again, with its deadline, before it judges them.
    recheck: list[str] = field(default_factory=list)
    preflight: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    preflight_listeners: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    table: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def joins(self) -> bool:
        return bool(self.manager_joiners or self.worker_joiners)

    @property
    def changes(self) -> bool:
        """Does the plan change the swarm at all (a run that does not judges health without polling)?"""
        return bool(self.bootstrap or self.joins or self.stale or self.autolock is not None or self.promote
                    or self.demote or self.node_updates or self.removals or self.unlocked or self.readdress)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["joins"] = self.joins
        out["changes"] = self.changes
        out["reshape"] = bool(self.promote or self.demote or self.removals)
        out["prune_set_join"] = bool(self.stale or self.joins or self.autolock is not None)
        return out


def _node_state(local: Mapping[str, Any]) -> str:
    state = _text(local.get("state")) or "?"
    if state == "active":
        return "manager" if local.get("is_manager") else "worker"
    return state


def removed_members(probes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Hosts whose engine still runs the raft of a swarm that dropped them: after a recovery from a lost quorum
    (``swarm_init force_new_cluster`` on a survivor, the dead managers' entries removed: playbooks/recover.yml) a
    manager that comes back keeps its old raft state. It still names the survivor among its raft peers, while the
    survivor lists neither its node nor it as a peer. Verified on Engine 20.10: two such managers of three elect a
    leader of their own and report the same swarm ID without error (a split brain); one alone reports no leader;
    right after their first start they may still be ``pending`` (then judged by their node ID alone).
    Judged against every other active manager with control available and no error (a serving one); a host of
    another swarm (another cluster ID) is not judged here. Such a host must leave and join again."""
    views = {h: p["local"] for h, p in probes.items() if isinstance(p.get("local"), Mapping)}
    serving = {h: probes[h] for h, v in views.items() if v.get("state") == "active" and v.get("control_available")
               and v.get("is_manager") and not v.get("error") and v.get("node_id")}
    out = []
    for h, v in views.items():
        me = v.get("node_id")
        pending = v.get("state") == "pending"  # right after the first start the old raft may still be starting
        if not me or not (pending or (v.get("state") == "active" and v.get("is_manager"))):
            continue
        peers = v.get("remote_managers") or []
        peer_ids = {r.get("node_id") for r in peers if r.get("node_id")}
        peer_ips = {strip_port(r.get("addr")) for r in peers if r.get("addr")}
        for g, probe in serving.items():
            other = views[g]
            if g == h or (v.get("cluster_id") and other.get("cluster_id") != v.get("cluster_id")):
                continue
            knows_g = other["node_id"] in peer_ids or (not peer_ids and strip_port(other.get("node_addr")) in peer_ips)
            knows_g = knows_g or (pending and not peers)
            g_knows = me in {n.get("id") for n in probe.get("nodes") or []} or me in {
                r.get("node_id") for r in other.get("remote_managers") or []}
            if knows_g and not g_knows:
                out.append(h)
                break
    return out


def find_stale(inv: Inventory, local: Mapping[str, Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
               node_ids: Mapping[str, str], addrs: Mapping[str, str],
               unprobed_keys: Sequence[str]) -> list[dict[str, str]]:
    """Node entries to prune. A rebuilt host comes back with a new node ID; its old entry stays (down or
    unknown; a manager's stays in raft and counts against quorum). With docker_swarm_prune_stale_nodes an
    entry is stale when no live host reports its ID and either it is not ready and has the hostname or
    address of a probed host, or it is a manager whose raft address is a probed host's address (right after
    a rebuild the old entry may still look ready). With docker_swarm_prune_down_nodes every other ``down``
    entry no probed host reports is stale too, unless it may be an inventory host that was not probed.
    An entry with both the hostname and the address of a probed host that is out of the swarm or in it under
    another node ID is that host's former membership whatever its state: a member that has just left is still
    listed ready until its heartbeat runs out, longer after a change of leader (the new leader gives every node a
    grace period)."""
    s = inv.settings
    live = set(node_ids.values())
    names = set(local) | {v.get("hostname") for v in local.values() if v.get("hostname")}
    former = {(v.get("hostname"), addrs.get(h)) for h, v in local.items()
              if v.get("state") in ("inactive", "active") and v.get("hostname") and addrs.get(h)}
    node_addrs = {v["node_addr"] for v in local.values() if v.get("node_addr")}
    known_addrs = {addrs[h] for h in local if addrs.get(h)} | node_addrs
    unprobed = set(unprobed_keys)
    locked = {h for h, v in local.items() if v.get("state") == "locked"}
    kept = unprobed | locked | {v["hostname"] for h, v in local.items() if h in locked and v.get("hostname")} \
        | {addrs[h] for h in locked if addrs.get(h)}
    out = []
    for n in nodes:
        if n.get("id") in live:
            continue
        raft_ip = strip_port(n.get("manager_addr"))
        # The entry may be that of a host that could not be probed, or of a locked engine (no node ID shown).
        maybe_kept = n.get("hostname") in kept or n.get("addr") in kept or bool(raft_ip and raft_ip in kept)
        looks_like_probed = n.get("hostname") in names or n.get("addr") in known_addrs
        rebuilt = not maybe_kept and ((n.get("state") != "ready" and looks_like_probed)
                                      or bool(raft_ip and raft_ip in known_addrs)
                                      or (n.get("hostname"), n.get("addr")) in former)
        plain_down = n.get("state") == "down" and not maybe_kept
        if (s.prune_stale_nodes and rebuilt) or (s.prune_down_nodes and plain_down):
            out.append(stale_entry(n))
    return out


def join_through(nodes: Sequence[Mapping[str, Any]], control_id: str, avoid: set[str], fallback: list[str]
                 ) -> list[str]:
    """The addresses the joins of a run go through: the raft addresses of the reachable managers the control
    manager lists, its own first, without the entries in ``avoid`` (node IDs of managers that move, are cut off,
    leave or are pruned in this run). A join through an address that is gone waits out the Engine's 20 s and
    goes on in the background; one through a manager that is about to leave fails. ``fallback`` (the control
    engine's own list) when the node list gives none: a swarm created in this run, or no list read."""
    managers = [n for n in nodes if n.get("role") == "manager" and n.get("manager_reachability") == "reachable"
                and n.get("manager_addr") and n.get("id") not in avoid]
    managers.sort(key=lambda n: n.get("id") != control_id)
    return list(dict.fromkeys(_text(n["manager_addr"]) for n in managers)) or fallback


def stale_entry(node: Mapping[str, Any]) -> dict[str, str]:
    """A node entry to prune, as plan.stale lists it."""
    return {"id": _text(node.get("id")), "hostname": _text(node.get("hostname")), "role": _text(node.get("role")),
            "state": _text(node.get("state"))}


def quorum_refusal(nodes: Sequence[Mapping[str, Any]], leaving_ids: set[str], added: int,
                   host_by_id: Mapping[str, str]) -> str:
    """After the run the managers are the current ones minus those leaving, plus ``added``; at least a quorum
    of them must be reachable. Every step in between is at least as safe: joins, promotions and prunes of
    unreachable entries come first, and each demotion moves towards the final set."""
    managers = [n for n in nodes if n.get("role") == "manager"]
    if not managers:
        return ""
    staying = [n for n in managers if n.get("id") not in leaving_ids]
    after = quorum.after_change(quorum.view_counts(staying), added)
    if after.has_quorum:
        return ""
    unreachable = ", ".join(f"{n.get('hostname')} is {n.get('manager_reachability')}" for n in staying
                            if n.get("manager_reachability") != "reachable")
    leaving = [host_by_id.get(n["id"], "") for n in managers if n.get("id") in leaving_ids]
    return (f"Refusing to change the managers: after this run the swarm would have {after.total} managers of which "
            f"only {after.reachable} are reachable ({unreachable}), fewer than the quorum of {after.quorum}. Planned "
            f"to leave the managers: {_join(leaving)}. Nothing was changed. Bring the unreachable managers back first "
            "(or remove their entries with playbooks/remove_node.yml), then run again.")


def host_ips(found: Mapping[str, Any]) -> set[str]:
    """Every IPv4 address a probed host has (``host_addresses``: each interface's primary address, the
    default route's, and ``addresses``, all of them, secondary ones included)."""
    out = {_text(a) for a in (found.get("interfaces") or {}).values() if a}
    out |= {_text(a) for a in found.get("addresses") or [] if a}
    if found.get("default_ipv4"):
        out.add(_text(found["default_ipv4"]))
    return out


def find_readdress(inv: Inventory, local: Mapping[str, Mapping[str, Any]],
                   host_addresses: Mapping[str, Mapping[str, Any]], by_id: Mapping[str, Mapping[str, Any]],
                   addrs: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Hosts in the swarm whose address the inventory changed: the inventory names an IP
    (docker_swarm_advertise_addr; or ansible_host, when the old address is gone from the host - with both addresses
    still on the host only an explicit docker_swarm_advertise_addr moves a node) that the host has, while its node
    advertises another one (a
    manager: its raft address, ManagerStatus.Addr, or the engine's NodeAddr; a worker: the engine's NodeAddr, the
    address gossip uses - the manager's node list shows the address the connection comes from). An engine cannot
    change the address it advertises: the node leaves and joins again with the new one (a manager is demoted
    first). Managers come first, one at a time, then workers. An address the host does not have is not taken
    (a warning says so): a typo must not take a manager out of the swarm."""
    steps: list[dict[str, Any]] = []
    warnings: list[str] = []
    for h in inv.play_present:
        hv = inv.hosts.get(h)
        v = local.get(h) or {}
        entry = by_id.get(_text(v.get("node_id")))
        if hv is None or entry is None or v.get("state") not in ("active", "pending"):
            continue
        if not (hv.advertise_addr or is_ip(hv.target)):
            continue  # the address comes from an interface or the engine: nothing named to move to
        want = addrs.get(h, "")
        raft = strip_port(entry.get("manager_addr")) if entry.get("role") == "manager" else ""
        node_addr = _text(v.get("node_addr"))
        old = [a for a in dict.fromkeys([raft, node_addr]) if a and a != want]
        if not want or not old:
            continue
        ips = host_ips(host_addresses.get(h) or {})
        if want not in ips:
            warnings.append(f"WARNING: the inventory gives {h} the address {want}, but the host does not have it; its "
                            f"node keeps advertising {old[0]} (not re-addressed). Fix the inventory or the host.")
            continue
        if not hv.advertise_addr and all(a in ips for a in old):
            # Only ansible_host names the new address and the old one still works (a swarm adopted with another
            # interface's address, a public ansible_host): moving a node is disruptive, so it takes an explicit word.
            warnings.append(f"Note: {h} advertises {old[0]} in the swarm, its ansible_host is {want}; it is not "
                            f"re-addressed. To move it, set docker_swarm_advertise_addr: {want} (or to keep it "
                            f"quiet: {old[0]}).")
            continue
        steps.append({"host": h, "node_id": _text(entry.get("id")), "old": old[0], "new": want,
                      "demote": entry.get("role") == "manager", "role": inv.wanted_role(h),
                      "reachable": entry.get("manager_reachability") == "reachable",
                      "via": "", "remote_addrs": []})
    steps.sort(key=lambda st: 0 if st["demote"] else 1)
    return steps, warnings


def readdress_route(steps: list[dict[str, Any]], candidates: Sequence[str], by_id: Mapping[str, Mapping[str, Any]],
                    node_ids: Mapping[str, str], addrs: Mapping[str, str]) -> str:
    """Fill in each step's ``via`` (the manager that demotes, removes the old entry and is joined through: a
    control candidate other than the moving host, not one still to move when another will do) and
    ``remote_addrs`` (that manager's raft address at that point: the new one once it has moved). Returns the
    refusal when a step has no such manager."""
    order = [st["host"] for st in steps]
    for i, st in enumerate(steps):
        later = set(order[i:])
        others = [c for c in candidates if c != st["host"]]
        via = next((c for c in others if c not in later), others[0] if others else "")
        if not via:
            return (f"Cannot re-address {st['host']} ({st['old']} -> {st['new']}): no other manager with control "
                    "available to demote it, remove its old entry and let it join again. Nothing was changed.")
        moved = via in order[:i]
        raft = strip_port((by_id.get(node_ids.get(via, "")) or {}).get("manager_addr"))
        st["via"] = via
        st["remote_addrs"] = [with_port(addrs[via] if moved or not raft else raft, SWARM_PORT)]
    return ""


def readdress_refusal(steps: Sequence[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]]) -> str:
    """Moving a manager demotes it first (its raft membership goes, see quorum.py): the managers that stay must
    keep a quorum. Each move is judged on its own: the ones before it have joined again and are reachable."""
    counts = quorum.view_counts(list(nodes))
    blocked = [st for st in steps if st["demote"]
               and not quorum.demote_keeps_quorum(counts, node_reachable=bool(st["reachable"]))]
    if not blocked:
        return ""
    down = ", ".join(f"{n.get('hostname')} is {n.get('manager_reachability')}" for n in nodes
                     if n.get("role") == "manager" and n.get("manager_reachability") != "reachable")
    moves = ", ".join(f"{st['host']} ({st['old']} -> {st['new']})" for st in blocked)
    return (f"Refusing to re-address the managers {moves}: demoting one of them would leave fewer reachable managers "
            f"than the quorum ({counts.reachable} of {counts.total} reachable now: {down or 'all'}). Nothing was "
            "changed. Bring the other managers back first, then run again.")


def labels_differ(have: Mapping[str, str], want: Mapping[str, str], exclusive: bool) -> bool:
    if exclusive:
        return dict(have) != dict(want)
    return any(have.get(k) != v for k, v in want.items())


def make_plan(inv: Inventory, probes: Mapping[str, Mapping[str, Any]], unlocked: Optional[Sequence[str]] = None
              ) -> Plan:
    """The whole plan from the probe results (host -> swarm_node_info result; hosts that could not be
    probed are missing). ``unlocked``: the locked engines already handed to the unlock step (None: not yet);
    their node entries change state after the unlock, so the run counts as a change (health polls)."""
    s = inv.settings
    local = {h: dict(p["local"]) for h, p in probes.items() if isinstance(p.get("local"), Mapping)}
    addresses = {h: pr.get("host_addresses") or {} for h, pr in probes.items()}
    removed = removed_members(probes)
    cut = cut_off(local, addresses)
    election = elect(inv, local, [*cut, *removed])
    plan = Plan(control=election.control, bootstrap=election.bootstrap, ours=election.ours,
                cluster_of=election.cluster_of, autolock=None, unlocked=list(unlocked or []))
    if election.locked and s.have_unlock_key and unlocked is None:
        plan.ready, plan.unlock = False, list(election.locked)
        return plan

    plan.addrs = resolve_addresses(inv, local, {h: p.get("host_addresses") or {} for h, p in probes.items()})
    refusal = address_refusal(inv, plan.addrs)
    if refusal:
        plan.refusals.append(refusal)
        return plan
    if election.refusals:
        plan.refusals.append("Cannot converge: " + "; ".join(election.refusals))
        return plan

    control = probes.get(plan.control) or {}
    nodes: list[dict[str, Any]] = [] if plan.bootstrap else list(control.get("nodes") or [])
    if not plan.bootstrap and control.get("swarm_unavailable"):
        plan.refusals.append(f"The control manager {plan.control} cannot serve: {control['swarm_unavailable']}")
        return plan
    plan.swarm_id = "" if plan.bootstrap else _text((control.get("swarm") or {}).get("id"))
    plan.node_ids = {h: v["node_id"] for h, v in local.items() if v.get("node_id")}
    known = {n["id"] for n in nodes}
    plan.foreign = [h for h in inv.play_present if known and local.get(h, {}).get("state") == "active"
                    and local[h].get("node_id") not in known]
    if plan.bootstrap:  # hosts that leave another swarm to join the one created here (force_rejoin)
        plan.foreign = [h for h in inv.play_present if h in election.movers]
    else:  # dropped by the swarm after a recovery: they leave their stale raft and join, no force_rejoin needed
        plan.rejoin = [h for h in inv.play_present if h in removed]
        plan.foreign = [h for h in plan.foreign if h not in removed]
    if plan.foreign and not s.force_rejoin:
        desc = ", ".join(f"{h} (its managers: {_join(_manager_addrs(local[h]), '?')})"
                         for h in plan.foreign)
        verb = "is" if len(plan.foreign) == 1 else "are"
        plan.refusals.append(f"{desc} {verb} in a swarm whose managers do not know them (another swarm than "
                             f"{plan.swarm_id}, or removed from it). Nothing was changed. Make them leave, or set "
                             "docker_swarm_force_rejoin: true to move them.")
        return plan
    remote = _manager_addrs(local.get(plan.control) or {}) or [with_port(plan.addrs.get(plan.control, ""), SWARM_PORT)]
    plan.remote_addrs = remote

    unprobed = [h for h in dict.fromkeys([*inv.managers, *inv.workers]) if h not in local]
    plan.unprobed_keys = [k for h in unprobed if h in inv.hosts
                          for k in dict.fromkeys([h, inv.hosts[h].target, inv.hosts[h].advertise_addr]) if k]
    plan.stale = find_stale(inv, local, nodes, plan.node_ids, plan.addrs, plan.unprobed_keys)
    by_id = {n["id"]: n for n in nodes}
    readdress, moved_warnings = ([], []) if plan.bootstrap else find_readdress(inv, local, addresses, by_id, plan.addrs)
    if s.rejoin_silent_managers and not plan.bootstrap:
        # not a host that moves or is cut off: the re-address step moves it
        plan.rejoin_silent = silent_to_rejoin(inv, local, nodes, plan.control,
                                              [*plan.rejoin, *cut, *(st["host"] for st in readdress)])
        plan.rejoin += list(plan.rejoin_silent)
        plan.stale += [stale_entry(by_id[local[h]["node_id"]]) for h in plan.rejoin_silent]
    # A locked engine is in the swarm (unlocked first, or only predicted so in check mode): it does not join.
    in_swarm = {h for h, v in local.items() if v.get("state") in ("active", "locked")}
    must_join = list(dict.fromkeys([h for h in inv.play_present if h not in in_swarm] + plan.foreign + plan.rejoin))
    plan.manager_joiners = [h for h in inv.play_managers if h in must_join
                            and not (plan.bootstrap and h == plan.control)]
    plan.worker_joiners = [h for h in inv.play_workers if h in must_join]
    if not plan.bootstrap:
        plan.readdress = readdress
        plan.warnings += moved_warnings
        moving = {st["host"] for st in plan.readdress}
        plan.manager_joiners = [h for h in plan.manager_joiners if h not in moving]
        plan.worker_joiners = [h for h in plan.worker_joiners if h not in moving]
        ordered = [h for h in dict.fromkeys([plan.control, *inv.present_managers, *local]) if h in local]
        candidates = control_candidates({h: {"local": local[h]} for h in ordered
                                         if local[h].get("cluster_id") == plan.ours and h not in cut})
        refusal = readdress_refusal(plan.readdress, nodes) or readdress_route(
            plan.readdress, candidates, by_id, plan.node_ids, plan.addrs)
        if refusal:
            plan.refusals.append(refusal)
            return plan
    joiners = set(plan.manager_joiners) | set(plan.worker_joiners)
    pruned = {e["id"] for e in plan.stale}
    away = {plan.node_ids[h] for h in [*cut, *plan.rejoin, *(st["host"] for st in plan.readdress)]
            if h in plan.node_ids}
    plan.remote_addrs = join_through(nodes, plan.node_ids.get(plan.control, ""), pruned | away, remote)
    plan.replaces = {h: stale_entry(by_id[plan.node_ids[h]]) for h in [*plan.manager_joiners, *plan.worker_joiners]
                     if plan.node_ids.get(h) in by_id and plan.node_ids[h] not in pruned}
    moving = {st["host"] for st in plan.readdress}
    host_by_id = {i: h for h, i in plan.node_ids.items()}
    host_by_id.update({e["id"]: f"{e['hostname']} (stale entry)" for e in plan.stale})
    role_of = {h: by_id[i]["role"] for h, i in plan.node_ids.items()
               if i in by_id and h not in joiners and h not in moving}
    leaving = {e["id"] for e in plan.stale} | {plan.node_ids[h] for h in [*inv.play_workers, *inv.play_absent]
                                               if h in plan.node_ids}
    promote_n = sum(1 for h in inv.play_managers if by_id.get(plan.node_ids.get(h, ""), {}).get("role") == "worker")
    refusal = quorum_refusal(nodes, leaving, promote_n + len(plan.manager_joiners), host_by_id)
    if refusal:
        plan.refusals.append(refusal)
        return plan

    plan.promote = [h for h in inv.play_managers if role_of.get(h) == "worker"]
    plan.demote = [h for h in [*inv.play_workers, *inv.play_absent] if role_of.get(h) == "manager"]
    staying = [h for h in inv.present_managers if role_of.get(h) == "manager" or h in plan.promote
               or h in plan.manager_joiners or (plan.bootstrap and h == plan.control)]
    plan.demote_via = plan.control if plan.control in staying else (staying[0] if staying else plan.control)
    plan.control_after = plan.demote_via if plan.control in plan.demote else plan.control
    if s.autolock is not None:
        current = s.init_autolock if plan.bootstrap else _bool(((control.get("swarm") or {}).get("spec") or {})
                                                               .get("autolock"))
        plan.autolock = s.autolock if current != s.autolock else None

    for h in inv.play_present:
        hv = inv.hosts[h]
        entry = by_id.get(plan.node_ids.get(h, "")) if h not in joiners and h not in moving else None
        update: dict[str, Any] = {}
        if hv.labels or hv.labels_exclusive:
            if entry is None or labels_differ(entry.get("labels") or {}, hv.labels, hv.labels_exclusive):
                update["labels"] = dict(hv.labels)
        if entry is not None and entry.get("availability") != hv.availability:
            update["availability"] = hv.availability
        if update and (entry is not None or h in joiners or h in moving or (plan.bootstrap and h == plan.control)):
            update["labels_state"] = "replace" if hv.labels_exclusive else "merge"
            plan.node_updates[h] = update
    for h in inv.play_absent:
        node_id = plan.node_ids.get(h, "")
        listed = node_id in by_id
        leave = _text(local.get(h, {}).get("state")) not in ("", "inactive")
        if listed or leave:
            plan.removals[h] = {"node_id": node_id, "drain": listed, "leave": leave, "remove": listed}
    if s.preflight and (plan.bootstrap or plan.joins):
        plan.preflight_listeners, plan.preflight = preflight_targets(inv, plan, local, addresses)
    silent = silent_managers(inv, plan.as_dict(), probes)
    plan.recheck = list(silent)
    plan.warnings += join_warnings(plan, nodes, pruned, moving, host_by_id)
    plan.warnings = [*plan_warnings(inv, local), *plan.warnings,
                     *(f"{h}: its engine reports a swarm error ({err}); the health check reads it again before it "
                       "judges the swarm" for h, err in silent.items())]
    plan.table, plan.summary = render(inv, plan, local)
    return plan


def joined_node_ids(plan_ids: Mapping[str, str], joined: Mapping[str, Any]) -> dict[str, str]:
    """The node IDs after the joins: the plan's, updated with those the init and the joins returned."""
    out = dict(plan_ids)
    out.update({h: _text(i) for h, i in joined.items() if i})
    return out


def left_behind(replaces: Mapping[str, Mapping[str, str]], node_ids: Mapping[str, str],
                left: Mapping[str, Any]) -> list[dict[str, str]]:
    """The entries (plan.replaces) of hosts that left them to join anew: swarm_join says so (``left``: host -> its
    left_node_id; in check mode the ID it would leave), or the host came back with another node ID. Such an entry
    stays listed (a manager's counts against quorum) until it is removed. A host that settled keeps its ID."""
    return [dict(entry) for h, entry in replaces.items()
            if _text(left.get(h)) == entry.get("id") or (node_ids.get(h) and node_ids[h] != entry.get("id"))]


# ------------------------------------------------------------------------------------------ preflight
def preflight_targets(inv: Inventory, plan: Plan, local: Mapping[str, Mapping[str, Any]],
                      host_addresses: Optional[Mapping[str, Mapping[str, Any]]] = None
                      ) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """Who listens and who tries which ports. Hosts not active in a swarm yet listen on the swarm ports (nothing
    else listens there yet); every play host then tries, on every other host it will share the swarm with,
    2377/tcp of managers and 7946/tcp, plus 7946/udp and 4789/udp of the listening hosts. Pairs of hosts that are
    both active already are proven by the running swarm and skipped. An active host's engine listens on 7946/tcp,
    and on 2377/tcp only while it is a manager; its UDP ports cannot be checked (the engine's or the kernel's).
    Neither can a UDP port the probe found held on a listening host (``host_addresses[h]["udp_in_use"]``: the
    kernel's VXLAN socket of an engine that was in a swarm): nothing could echo, it is not tried."""
    held = {h: set((found or {}).get("udp_in_use") or []) for h, found in (host_addresses or {}).items()}
    active = {h for h, v in local.items() if v.get("state") == "active"}
    settled = active - set(plan.foreign) - set(plan.rejoin)  # a host that moves is checked like a new one
    listeners = [h for h in inv.play_present if h not in active and plan.addrs.get(h)]
    # Managers outside the play (--limit) are tried only when their engine listens (they run no listener).
    outside = [h for h in local if h in inv.present_managers and h not in inv.play_present and h in active]
    members = [h for h in dict.fromkeys([*inv.play_present, *outside]) if plan.addrs.get(h)]
    out: dict[str, list[dict[str, Any]]] = {}
    for src in inv.play_present:
        targets = []
        for dst in members:
            if dst == src or (src in settled and dst in settled):
                continue
            # An active host's engine listens on 2377 only while it is a manager (one to promote does not yet).
            manager_port = dst in inv.managers and (dst not in active or bool(local[dst].get("is_manager")))
            tcp = ([SWARM_PORT] if manager_port else []) + [GOSSIP_PORT]
            udp = [p for p in (GOSSIP_PORT, VXLAN_PORT) if p not in held.get(dst, ())] if dst in listeners else []
            targets.append({"name": dst, "addr": plan.addrs[dst], "tcp": tcp, "udp": udp})
        if targets:
            out[src] = targets
    return listeners, out


def preflight_problems(listened: Mapping[str, Mapping[str, Any]], probed: Mapping[str, Sequence[Mapping[str, Any]]]
                       ) -> list[str]:
    """The verdict of the port check. ``listened``: host -> swarm_preflight (state=listening) result;
    ``probed``: source host -> its probe results. A UDP port the target could not bind (the engine or the
    kernel's VXLAN socket holds it) cannot be checked and is not judged; any other probe that did not
    get through names the target, its port and the hosts that could not reach it."""
    failed: dict[tuple[str, str, int, str], list[str]] = {}
    for src, results in probed.items():
        for r in results:
            if r.get("status") == "ok":
                continue
            name, proto, port = _text(r.get("name")), _text(r.get("proto")), int(r.get("port") or 0)
            in_use = ((listened.get(name) or {}).get("in_use") or {}).get(proto) or []
            if proto == "udp" and port in in_use:
                continue
            key = (name, _text(r.get("addr")), port, proto)
            failed.setdefault(key, []).append(f"{src} ({r.get('status')})")
    return [f"{port}/{proto} on {name} ({addr}) is not reachable from {', '.join(srcs)}"
            for (name, addr, port, proto), srcs in sorted(failed.items())]


def preflight_message(problems: Sequence[str]) -> str:
    return ("Preflight failed: " + "; ".join(problems) + ". Swarm needs 2377/tcp to every manager and 7946/tcp+udp "
            "and 4789/udp between all hosts: open them in the firewalls between these hosts and run again (or set "
            "docker_swarm_preflight: false to skip this check). Nothing was changed.")


def join_warnings(plan: Plan, nodes: Sequence[Mapping[str, Any]], pruned: set[str], moving: set[str],
                  host_by_id: Mapping[str, str]) -> list[str]:
    """A manager joins while managers that stay are unreachable, and the quorum of the larger raft needs the
    joiner until it has caught up (``quorum.join_needs_joiner``; prunes and moves come before the joins)."""
    if not plan.manager_joiners:
        return []
    managers = [n for n in nodes if n.get("role") == "manager" and n.get("id") not in pruned]
    moved = {plan.node_ids[h] for h in moving if h in plan.node_ids}
    counts = quorum.ManagerCounts(total=len(managers), reachable=sum(
        1 for n in managers if n.get("manager_reachability") == "reachable" or n.get("id") in moved))
    if not quorum.join_needs_joiner(counts):
        return []
    away = _join([host_by_id.get(_text(n.get("id"))) or _text(n.get("hostname")) for n in managers
                  if n.get("manager_reachability") != "reachable" and n.get("id") not in moved])
    first = plan.manager_joiners[0]
    return [f"WARNING: {first} joins as a manager while {away} cannot be reached: until {first} has caught up, "
            f"the swarm holds its quorum ({quorum.quorum_size(counts.total + 1)} of {counts.total + 1} managers) "
            f"only with it. If its join fails, bring {away} back, or remove its entry (playbooks/remove_node.yml), "
            "before running again."]


def plan_warnings(inv: Inventory, local: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """What the plan reports but does not refuse: managers that advertise an interface's address, hostnames
    that several hosts report, engines of different versions."""
    out = []
    for h in inv.present_managers:
        hv = inv.hosts.get(h)
        if hv and hv.interface and not hv.advertise_addr:
            out.append(f"WARNING: manager {h} advertises the address of interface {hv.interface}: a manager's "
                       "address must not change (raft members find each other by it); set docker_swarm_advertise_addr "
                       "to a fixed IP.")
    by_name: dict[str, list[str]] = {}
    versions: dict[str, list[str]] = {}
    for h, v in local.items():
        if v.get("hostname"):
            by_name.setdefault(_text(v["hostname"]), []).append(h)
        if v.get("engine_version"):
            versions.setdefault(_text(v["engine_version"]), []).append(h)
    for name, hosts in by_name.items():
        if len(hosts) > 1:
            out.append(f"WARNING: hosts {', '.join(hosts)} all have the hostname {name}: their nodes are told apart by "
                       "node ID only (docker node commands by hostname are ambiguous); give each host its own "
                       "hostname.")
    if len(versions) > 1:
        listed = "; ".join(f"{ver}: {', '.join(hosts)}" for ver, hosts in sorted(versions.items()))
        out.append(f"Engine versions differ ({listed}): fine during an upgrade, otherwise upgrade the older engines.")
    return out


# ------------------------------------------------------------------------------------------- display
def render(inv: Inventory, plan: Plan, local: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], str]:
    """The table shown before any change (host, what it is now, what this run does to it) and its summary."""
    rows: list[tuple[str, str, str]] = []
    hosts = list(dict.fromkeys([*inv.present_managers, *inv.play, *[h for h in local if h not in inv.play]]))
    for h in hosts:
        now = _node_state(local[h]) if h in local else "not probed"
        actions = []
        if h in plan.unlocked:
            actions.append("unlocked with docker_swarm_unlock_key")
        if plan.bootstrap and h == plan.control:
            actions.append("init (creates the swarm)")
        if h in plan.foreign:
            actions.append("leave its swarm")
        if h in plan.rejoin_silent:
            actions.append(f"leave and join anew (its engine cannot serve swarm requests: {plan.rejoin_silent[h]})")
        elif h in plan.rejoin:
            actions.append("leave its stale raft (dropped by the swarm)")
        # a member stuck pending or in error: it settles, or leaves and joins anew (then its old entry goes)
        kept = (f" (keeps node {plan.replaces[h]['id'][:12]} if it settles; if it joins anew, that entry is "
                "removed)") if h in plan.replaces else ""
        if h in plan.manager_joiners:
            actions.append("join as manager" + kept)
        if h in plan.worker_joiners:
            actions.append("join as worker" + kept)
        move = next((st for st in plan.readdress if st["host"] == h), None)
        if move:
            actions.append(f"re-address {h}: {move['old']} -> {move['new']} ("
                           + ("demote, " if move["demote"] else "") + f"leave, remove entry, join as {move['role']}"
                           + f" via {move['via']})")
        if h in plan.promote:
            actions.append("promote")
        if h in plan.demote:
            actions.append("demote")
        update = plan.node_updates.get(h) or {}
        if "labels" in update:
            shown = ",".join(f"{k}={v}" for k, v in sorted(update["labels"].items())) or "(none)"
            actions.append(f"labels {shown}" + (" (exactly)" if update.get("labels_state") == "replace" else ""))
        if "availability" in update:
            actions.append(f"availability {update['availability']}")
        if h in plan.removals:
            r = plan.removals[h]
            steps = (("drain", r["drain"]), ("leave", r["leave"]), ("remove entry", r["remove"]))
            actions.append("remove (" + ", ".join(w for w, on in steps if on) + ")")
        if h not in inv.play and not actions:
            now += " (not in this play)"
        rows.append((h, now, ", ".join(actions) or "-"))
    for e in plan.stale:
        rows.append((f"{e['hostname']} {e['id'][:12]}", f"stale {e['role']} entry ({e['state']})", "prune"))
    widths = [max(len(r[i]) for r in [("HOST", "NOW", "PLANNED"), *rows]) for i in range(2)]
    table = [f"{'HOST':<{widths[0]}}  {'NOW':<{widths[1]}}  PLANNED"]
    table += [f"{h:<{widths[0]}}  {n:<{widths[1]}}  {a}" for h, n, a in rows]
    managers = len(plan.manager_joiners)
    workers = len(plan.worker_joiners)
    summary = (f"init {int(plan.bootstrap)}, join {managers} manager{'s' if managers != 1 else ''} + {workers} "
               f"worker{'s' if workers != 1 else ''}, promote {len(plan.promote)}, demote {len(plan.demote)}, "
               f"prune {len(plan.stale)}, remove {len(plan.removals)}, update {len(plan.node_updates)} "
               f"node{'s' if len(plan.node_updates) != 1 else ''}")
    if plan.readdress:
        summary += f", re-address {len(plan.readdress)}"
    if plan.autolock is not None:
        summary += f", autolock {'on' if plan.autolock else 'off'}"
    if plan.unlocked:
        summary += f", unlocked {len(plan.unlocked)}"
    return table, summary


# --------------------------------------------------------------------------------------------- health
@dataclass
class Health:
    problems: list[str]
    unprobed: list[str]
    message: str
    # problems that waiting does not clear (silent managers: no later read of the control manager shows them)
    lasting: list[str] = field(default_factory=list)

    @property
    def waiting(self) -> list[str]:
        """The problems a poll of the control manager waits for."""
        return [p for p in self.problems if p not in self.lasting]


def silent_managers(inv: Inventory, plan: Mapping[str, Any], probes: Mapping[str, Mapping[str, Any]]
                    ) -> dict[str, str]:
    """Present inventory managers this run leaves alone whose own engine, after the probe's re-reads, still
    reports a swarm error (host -> the error): a manager that cannot serve swarm requests (it reaches no leader,
    its requests run into their deadline) while the leader may still list it Ready and Reachable. Waiting does
    not help it and no other manager's view shows it, so health names it."""
    touched = {*(plan.get("manager_joiners") or []), *(plan.get("worker_joiners") or []),
               *(plan.get("rejoin") or []), *(plan.get("promote") or []), *(plan.get("demote") or []),
               *(plan.get("removals") or {}), *(plan.get("unlocked") or []),
               *(_text(step.get("host")) for step in plan.get("readdress") or [])}
    out = {}
    for h in inv.present_managers:
        local = (probes.get(h) or {}).get("local")
        if h in touched or not isinstance(local, Mapping):
            continue
        if local.get("is_manager") and local.get("error"):
            out[h] = _text(local.get("error"))
    return out


NO_LEADER = "does not have a leader"


def silent_to_rejoin(inv: Inventory, local: Mapping[str, Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
                     control: str, skip: Sequence[str]) -> dict[str, str]:
    """With docker_swarm_rejoin_silent_managers: the play's managers whose own engine, after the probe's re-reads,
    still reports a swarm error while the control manager lists their node (host -> the error). Each leaves, its
    entry is removed and it joins anew: what silent_problem tells an operator to do. Only when the swarm has its
    quorum now with all of them counted as unreachable (however the leader lists them): each removal is then
    committed by the managers that serve, and every step after it keeps the quorum. Otherwise none is touched and
    the health check names them.
    Not touched either: a manager that reports no leader (a former leader catching up after a partition does so
    for up to about a minute while the managers elect one: health waits for it; campaign seed 7 sequence 37), and
    the hosts in ``skip`` (the plan's: already leaving to join again, or moved by the re-address step; sequence
    22)."""
    listed = {_text(n.get("id")): n for n in nodes}
    found = {}
    for h in inv.play_managers:
        v = local.get(h) or {}
        if h == control or h in skip or not (v.get("state") == "active" and v.get("is_manager") and v.get("error")):
            continue
        if NO_LEADER in _text(v.get("error")):
            continue
        if _text(v.get("node_id")) in listed:
            found[h] = _text(v.get("error"))
    if not found:
        return {}
    silent_ids = {_text(local[h].get("node_id")) for h in found}
    managers = [n for n in nodes if n.get("role") == "manager"]
    serving = [n for n in managers
               if n.get("manager_reachability") == "reachable" and _text(n.get("id")) not in silent_ids]
    return found if quorum.ManagerCounts(total=len(managers), reachable=len(serving)).has_quorum else {}


def silent_problem(host: str, error: str) -> str:
    return (f"{host}: its engine is a manager but cannot serve swarm requests ({error}); check that it reaches the "
            f"other managers on 2377/tcp and restart its engine; if it stays so, make it leave (docker swarm leave "
            f"--force on {host}) and run site.yml again to join it anew")


def health(inv: Inventory, plan: Mapping[str, Any], node_ids: Mapping[str, str], nodes: Sequence[Mapping[str, Any]],
           swarm_id: str, silent: Optional[Mapping[str, str]] = None) -> Health:
    """Every present host Ready with the role the inventory gives it, managers Reachable, exactly one leader,
    one cluster, removed hosts gone. ``nodes``/``swarm_id``: as the control manager lists them now.
    Entries of inventory hosts that could not be probed are not judged (they were reported already).
    ``silent``: managers that cannot serve swarm requests (silent_managers): each is a problem of its own, and
    its node entry is not judged again."""
    silent = silent or {}
    silent_ids = {node_ids.get(h) for h in silent} - {None, ""}
    by_id = {n.get("id"): n for n in nodes}
    keys = set(plan.get("unprobed_keys") or [])
    ids = set(node_ids.values())
    unprobed = [n for n in nodes if n.get("id") not in ids and keys and (
        n.get("hostname") in keys or n.get("addr") in keys or strip_port(n.get("manager_addr")) in keys)]
    unprobed_ids = {n.get("id") for n in unprobed}
    absent = set(inv.absent)
    play = set(inv.play)
    present = set(inv.play_present)
    foreign = set(plan.get("foreign") or [])
    problems = []
    leaders = sum(1 for n in nodes if n.get("leader"))
    if leaders != 1:
        problems.append(f"{leaders} leaders")
    start_id = _text(plan.get("swarm_id"))
    if start_id and start_id != swarm_id:
        problems.append(f"cluster {start_id} is not {swarm_id}")
    for h, cid in (plan.get("cluster_of") or {}).items():
        if cid != swarm_id and h not in foreign and h not in absent:
            problems.append(f"{h} is in cluster {cid}, not {swarm_id}")
    lasting = [silent_problem(h, err) for h, err in silent.items()]
    problems.extend(lasting)
    for n in nodes:
        if n.get("role") == "manager" and n.get("manager_reachability") != "reachable" \
                and n.get("id") not in unprobed_ids and n.get("id") not in silent_ids:
            problems.append(f"manager {n.get('hostname')} ({n.get('id')}) is {n.get('manager_reachability')}")
    for h in inv.play_present:
        if not node_ids.get(h):
            problems.append(f"{h}: no node ID")
    for h, node_id in node_ids.items():
        if not node_id:
            continue
        if h in absent:
            if h in play and node_id in by_id:
                problems.append(f"{h}: still in the swarm")
        elif node_id not in by_id:
            problems.append(f"{h}: not in the swarm")
        elif h not in silent:
            n = by_id[node_id]
            if n.get("state") != "ready":
                problems.append(f"{h}: {n.get('state')}")
            if h in present and n.get("role") != inv.wanted_role(h):
                problems.append(f"{h}: {n.get('role')}, not {inv.wanted_role(h)}")
    if problems:
        message = "The swarm is not healthy: " + "; ".join(problems)
    else:
        managers = [n for n in nodes if n.get("role") == "manager"]
        leader = next((n.get("hostname") for n in nodes if n.get("leader")), "?")
        message = f"Swarm {swarm_id}: {len(nodes)} nodes, {len(managers)} managers, leader {leader}"
    if unprobed:
        message += ("; not checked, could not be probed in this run (see their errors above): "
                    + ", ".join(_text(n.get("hostname")) for n in unprobed))
    return Health(problems, [_text(n.get("hostname")) for n in unprobed], message, lasting)


# ------------------------------------------------------------------------------ playbooks (lifecycle)
def control_candidates(probes: Mapping[str, Mapping[str, Any]], exclude: Sequence[str] = ()) -> list[str]:
    """Hosts (in the given order) whose engine is an active manager with control available and no error:
    the managers a playbook may work through."""
    out = []
    for h, p in probes.items():
        v = p.get("local") if isinstance(p, Mapping) else None
        if h in exclude or not isinstance(v, Mapping):
            continue
        if v.get("state") == "active" and v.get("control_available") and v.get("is_manager") and not v.get("error"):
            out.append(h)
    return out


def removal_refusal(target: str, node: Optional[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
                    control: str, target_is_manager_engine: bool) -> str:
    """Why removing ``target`` (its node entry ``node``, None when the swarm does not list it) is refused,
    or '' when it may go. A manager may go only when the managers that stay keep a quorum."""
    if not control:
        if target_is_manager_engine:
            return f"{target} is the last reachable manager; removing it destroys the swarm."
        return f"No reachable manager with control available (other than {target})."
    if node is None or node.get("role") != "manager":
        return ""
    counts = quorum.view_counts(list(nodes))
    if counts.total <= 1:
        return f"{target} is the last manager; removing it destroys the swarm."
    reachable = node.get("manager_reachability") == "reachable"
    if not quorum.demote_keeps_quorum(counts, node_reachable=reachable):
        left = counts.reachable - (1 if reachable else 0)
        return (f"Removing manager {target} would leave {left} reachable of {counts.total - 1} managers - below "
                "quorum. Bring managers back first.")
    return ""

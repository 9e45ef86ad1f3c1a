"""plan.py: the converge planner, scenario by scenario.

Each case is a small named scenario: an inventory (groups, play, host variables, cluster settings) and the probe
results the role's swarm_node_info calls would register (``local`` = views.local_view, ``nodes`` = views.node_view
entries, ``swarm`` = views.swarm_view, ``swarm_unavailable``, ``host_addresses``), and the concrete plan, refusal,
preflight or health verdict expected from them. Hosts are m1..m9 (10.0.1.N) and w1..w9 (10.0.2.N); the node ID of
a host is node-<host>; the inventory's swarm is swarm-a, another one swarm-b.

The last group of tests covers bugs these tests found (--limit and force_rejoin preflight pairs, IPv6 remote
address after init, locked engines in check mode, duplicate hostnames of unprobed hosts)."""

from __future__ import annotations

import re
from typing import Any, Optional

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import plan as p
from ansible_collections.hive.swarm.plugins.module_utils._swarm import quorum as q
from ansible_collections.hive.swarm.plugins.module_utils._swarm import views

A = "swarm-a"
B = "swarm-b"
VERSION = "27.3.1"
IPS = {**{f"m{i}": f"10.0.1.{i}" for i in range(1, 10)}, **{f"w{i}": f"10.0.2.{i}" for i in range(1, 10)}}
# The role's defaults for the per-host variables (roles/docker_swarm/defaults/main.yml).
ROLE_DEFAULTS = {"docker_swarm_labels": {}, "docker_swarm_labels_exclusive": False,
                 "docker_swarm_node_availability": "active", "docker_swarm_node_state": "present"}
NO_STEPS = "init 0, join 0 managers + 0 workers, promote 0, demote 0, prune 0, remove 0, update 0 nodes"


# --------------------------------------------------------------------------------------------- builders
def nid(host: str) -> str:
    return f"node-{host}"


def raft(host: str) -> str:
    return f"{IPS[host]}:2377"


def _role_vars(values: dict[str, Any]) -> dict[str, Any]:
    """Variable names without the docker_swarm_ prefix (ansible_* names as they are)."""
    return {(k if k.startswith("ansible_") else f"docker_swarm_{k}"): v for k, v in values.items()}


def inventory(managers=(), workers=(), play=None, play_all=None, hostvars=None, **settings) -> p.Inventory:
    """The inventory as the action plugin builds it. ``play``: default every host of both groups (managers first);
    ``play_all``: default ``play``; ``hostvars``: host -> role variables without the docker_swarm_ prefix (each
    host's ansible_host is its IP from IPS unless given); ``settings``: cluster variables without the prefix."""
    managers, workers = tuple(managers), tuple(workers)
    play = tuple(dict.fromkeys([*managers, *workers])) if play is None else tuple(play)
    play_all = play if play_all is None else tuple(play_all)
    own = hostvars or {}
    hosts = {h: p.Host.from_vars(h, {"ansible_host": IPS.get(h, h), **_role_vars(own.get(h, {}))}, ROLE_DEFAULTS)
             for h in dict.fromkeys([*managers, *workers, *play_all])}
    return p.Inventory(managers, workers, play, play_all, hosts, p.Settings.from_vars(_role_vars(settings)))


def local(host: str, state: str = "inactive", node_id: Optional[str] = None, cluster: Optional[str] = None,
          manager: bool = False, addr: Optional[str] = None, remote=(), error: Optional[str] = None,
          hostname: Optional[str] = None, version: str = VERSION) -> dict[str, Any]:
    """A views.local_view result."""
    return {"state": state, "node_id": node_id, "node_addr": addr, "control_available": manager,
            "is_manager": state == "active" and manager, "error": error,
            "remote_managers": [{"node_id": None, "addr": a} for a in remote], "cluster_id": cluster,
            "nodes_count": None, "managers_count": None, "hostname": hostname or host, "engine_version": version,
            "docker_root_dir": "/var/lib/docker"}


def host_addresses(host: str, default: Any = "", **interfaces: str) -> dict[str, Any]:
    """swarm_node_info's host_addresses: lo, eth0 = the host's IP, more interfaces as keywords; the default
    route's address is the host's IP unless ``default`` is given (None: no default route)."""
    addr = IPS.get(host)
    return {"interfaces": {"lo": "127.0.0.1", **({"eth0": addr} if addr else {}), **interfaces},
            "default_ipv4": addr if default == "" else default}


def result(view: dict[str, Any], nodes=(), swarm: Optional[dict[str, Any]] = None, unavailable: Optional[str] = None,
           addresses: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """A swarm_node_info result (nodes: true, host_addresses: true)."""
    return {"changed": False, "local": view, "swarm": swarm, "swarm_unavailable": unavailable, "nodes": list(nodes),
            "node": None, "host_addresses": addresses or host_addresses(view["hostname"])}


def probe_inactive(host: str, state: str = "inactive", addresses: Optional[dict[str, Any]] = None,
                   **view: Any) -> dict[str, Any]:
    reason = {"inactive": "This node is not part of a swarm.",
              "pending": "This node is still joining a swarm (state pending)."}.get(state, f"state {state}")
    return result(local(host, state=state, **view), unavailable=reason, addresses=addresses or host_addresses(host))


def probe_manager(host: str, cluster: str = A, nodes=(), managers=None, node_id: Optional[str] = None,
                  autolock: bool = False, unavailable: Optional[str] = None, **view: Any) -> dict[str, Any]:
    """An active manager of ``cluster`` that lists ``nodes``; ``managers``: the hosts in its RemoteManagers."""
    remote = [raft(m) for m in (managers or [host])]
    state = local(host, "active", node_id or nid(host), cluster, True, IPS.get(host), remote, **view)
    return result(state, [] if unavailable else nodes, {"id": cluster, "spec": {"autolock": autolock}}, unavailable,
                  host_addresses(host))


def probe_worker(host: str, node_id: Optional[str] = None, remote=("10.0.1.1:2377",), **view: Any) -> dict[str, Any]:
    state = local(host, "active", node_id or nid(host), None, False, IPS.get(host), remote, **view)
    return result(state, unavailable="This node is a worker; swarm and node data are only available on managers.",
                  addresses=host_addresses(host))


def probe_locked(host: str, node_id: Optional[str] = None) -> dict[str, Any]:
    """A manager of an autolocked swarm after a restart: the engine cannot start its swarm node, so /info shows
    no node ID, no remote managers and no cluster."""
    return result(local(host, "locked", node_id, addr=IPS.get(host)),
                  unavailable="The swarm is locked on this node; unlock it to read swarm data.")


def node(node_id: str, hostname: str, role: str = "worker", state: str = "ready", reachability: str = "reachable",
         leader: bool = False, addr: Optional[str] = None, labels: Optional[dict[str, str]] = None,
         availability: str = "active", manager_addr: Optional[str] = None, version: str = VERSION) -> dict[str, Any]:
    """A views.node_view entry; addr defaults to the host's IP, a manager's raft address to addr:2377."""
    addr = addr or IPS.get(hostname)
    manager = role == "manager"
    return {"id": node_id, "version": 10, "hostname": hostname, "role": role, "availability": availability,
            "labels": dict(labels or {}), "state": state, "message": None, "addr": addr,
            "manager_reachability": reachability if manager else None,
            "manager_addr": (manager_addr or f"{addr}:2377") if manager else None, "leader": leader and manager,
            "engine_version": version, "nano_cpus": 2000000000, "memory_bytes": 2147483648,
            "root_ca_digest": "r1", "cert_issuer_digest": "i1"}


def members(managers=("m1",), workers=(), leader: Optional[str] = None, **changes: dict[str, Any]) -> list[dict]:
    """The node list of a healthy swarm of these hosts (leader: the first manager); ``changes``: host -> fields
    of its entry to override."""
    leader = leader or managers[0]
    out = [node(nid(h), h, "manager", leader=h == leader) for h in managers]
    out += [node(nid(h), h) for h in workers]
    return [{**n, **changes.get(n["hostname"], {})} for n in out]


def swarm(managers=("m1",), workers=(), cluster: str = A, nodes=None, autolock: bool = False) -> dict[str, dict]:
    """Probe results of every host of a running swarm: its managers (with the node list) and workers."""
    listed = members(managers, workers) if nodes is None else nodes
    out = {h: probe_manager(h, cluster, listed, managers, autolock=autolock) for h in managers}
    out.update({h: probe_worker(h, remote=[raft(m) for m in managers]) for h in workers})
    return out


def inactive(*hosts: str) -> dict[str, dict]:
    return {h: probe_inactive(h) for h in hosts}


def without(probes: dict[str, dict], *hosts: str) -> dict[str, dict]:
    """The probe results minus those of hosts that could not be probed (or were not: --limit)."""
    return {h: v for h, v in probes.items() if h not in hosts}


def stale(node_id: str, hostname: str, role: str = "manager", state: str = "down") -> dict[str, str]:
    return {"id": node_id, "hostname": hostname, "role": role, "state": state}


def target(host: str, tcp=(7946,), udp=()) -> dict[str, Any]:
    """One preflight target entry."""
    return {"name": host, "addr": IPS[host], "tcp": list(tcp), "udp": list(udp)}


def rows(table: list[str]) -> list[tuple[str, ...]]:
    """The table's lines split into their columns (two or more spaces apart), header first."""
    return [tuple(re.split(r"\s{2,}", line.rstrip())) for line in table]


def picked(plan: p.Plan, expected: dict[str, Any]) -> dict[str, Any]:
    data = plan.as_dict()
    return {k: data[k] for k in expected}


def test_builders_have_the_shapes_of_the_views():
    assert set(local("m1")) == set(views.local_view({}))
    assert set(node("x", "m1")) == set(views.node_view({"ID": "x"}) or {})
    assert set(probe_manager("m1")) >= {"local", "nodes", "swarm", "swarm_unavailable", "host_addresses"}


# ------------------------------------------------------------------------------------ scenario inputs
FRESH = inventory(["m1", "m2", "m3"], ["w1", "w2"])
FRESH_PROBES = inactive("m1", "m2", "m3", "w1", "w2")
FULL = inventory(["m1", "m2", "m3"], ["w1", "w2"])
FULL_PROBES = swarm(["m1", "m2", "m3"], ["w1", "w2"])

# m1 was rebuilt: its engine is new (inactive), its old entry is still listed (down, unreachable).
REBUILT_NODES = [node("old-m1", "m1", "manager", state="down", reachability="unreachable"),
                 *members(["m2", "m3"], ["w1"])]
REBUILT_PROBES = {"m1": probe_inactive("m1"), **swarm(["m2", "m3"], ["w1"], nodes=REBUILT_NODES)}
# Right after the rebuild the old entry may still look ready: only its raft address tells.
REBUILT_READY_NODES = [node("old-m1", "m1", "manager", state="ready", reachability="unreachable"),
                       *members(["m2", "m3"], ["w1"])]
REBUILT_READY_PROBES = {"m1": probe_inactive("m1", hostname="m1-new"),
                        **swarm(["m2", "m3"], ["w1"], nodes=REBUILT_READY_NODES)}

# An entry no inventory host has: an old manager, down.
OLDBOX = node("old-x", "oldbox", "manager", state="down", reachability="unreachable", addr="10.0.9.9")
OLDBOX_NODES = [*members(["m1", "m2"], ["w1"]), OLDBOX]

# w2 could not be probed (down, out of the play); oldbox is an old worker nobody has.
DOWN_NODES = [*members(["m1"], ["w1"]), node(nid("w2"), "w2", state="down"),
              node("old-y", "oldbox", state="down", addr="10.0.9.9")]
DOWN_INV = dict(managers=["m1"], workers=["w1", "w2"], play=["m1", "w1"], play_all=["m1", "w1", "w2"])

# m2 restarted and stays locked (autolock).
LOCKED_PROBES = {**swarm(["m1", "m3"], nodes=members(["m1", "m2", "m3"],
                                                     m2={"state": "down", "manager_reachability": "unreachable"})),
                 "m2": probe_locked("m2")}

# m3 cannot be reached (not probed, out of the play): its entry is unreachable.
M3_DOWN_NODES = members(["m1", "m2", "m3"], ["w1"], m3={"state": "down", "manager_reachability": "unreachable"})
M3_DOWN_PROBES = swarm(["m1", "m2"], ["w1"], nodes=M3_DOWN_NODES)
M2_DOWN_NODES = members(["m1", "m2", "m3"], ["w1"], m2={"state": "down", "manager_reachability": "unreachable"})
M2_DOWN_PROBES = swarm(["m1", "m3"], ["w1"], nodes=M2_DOWN_NODES)

# The control manager lists a node as it must: m1 with an error (cannot serve), m2 the one that can.
ERR = "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
CONTROL_DEMOTED_NODES = members(["m1", "m2"], ["w1"])
CONTROL_DEMOTED_PROBES = {"w1": probe_worker("w1", remote=[raft("m1"), raft("m2")]),
                          "m1": probe_manager("m1", nodes=CONTROL_DEMOTED_NODES, managers=["m1", "m2"], error=ERR),
                          "m2": probe_manager("m2", nodes=CONTROL_DEMOTED_NODES, managers=["m1", "m2"])}

LABELED = members(["m1"], ["w1"], w1={"labels": {"zone": "a", "disk": "ssd"}})
ZONE_B = members(["m1"], ["w1"], w1={"labels": {"zone": "b"}})


def labels_inv(**w1: Any) -> p.Inventory:
    return inventory(["m1"], ["w1"], hostvars={"w1": w1})


# ------------------------------------------------------------------------------------ plans with steps
PLANS = [
    pytest.param(
        FRESH, FRESH_PROBES,
        {"ready": True, "refusals": [], "bootstrap": True, "control": "m1", "ours": "", "swarm_id": "", "node_ids": {},
         "manager_joiners": ["m2", "m3"], "worker_joiners": ["w1", "w2"], "promote": [], "demote": [], "stale": [],
         "removals": {}, "node_updates": {}, "foreign": [], "remote_addrs": ["10.0.1.1:2377"], "control_after": "m1",
         "autolock": None, "changes": True, "joins": True, "reshape": False, "prune_set_join": True,
         "addrs": {"m1": "10.0.1.1", "m2": "10.0.1.2", "m3": "10.0.1.3", "w1": "10.0.2.1", "w2": "10.0.2.2"},
         "table": ["HOST  NOW       PLANNED",
                   "m1    inactive  init (creates the swarm)",
                   "m2    inactive  join as manager",
                   "m3    inactive  join as manager",
                   "w1    inactive  join as worker",
                   "w2    inactive  join as worker"],
         "summary": "init 1, join 2 managers + 2 workers, promote 0, demote 0, prune 0, remove 0, update 0 nodes"},
        id="fresh-lab-init-on-first-manager-then-joins"),
    pytest.param(
        FRESH, {**swarm(["m1"], ["w1"]), **inactive("m2", "m3", "w2")},
        {"bootstrap": False, "control": "m1", "ours": A, "swarm_id": A, "node_ids": {"m1": nid("m1"), "w1": nid("w1")},
         "manager_joiners": ["m2", "m3"], "worker_joiners": ["w2"], "stale": [], "remote_addrs": ["10.0.1.1:2377"],
         "preflight_listeners": ["m2", "m3", "w2"],
         "summary": "init 0, join 2 managers + 1 worker, promote 0, demote 0, prune 0, remove 0, update 0 nodes"},
        id="partial-some-active-the-rest-joins"),
    pytest.param(
        FULL, FULL_PROBES,
        {"refusals": [], "bootstrap": False, "control": "m1", "control_after": "m1", "demote_via": "m1",
         "manager_joiners": [], "worker_joiners": [], "promote": [], "demote": [], "stale": [], "removals": {},
         "node_updates": {}, "autolock": None, "preflight": {}, "preflight_listeners": [], "warnings": [],
         "changes": False, "joins": False, "reshape": False, "prune_set_join": False,
         "remote_addrs": [raft("m1"), raft("m2"), raft("m3")], "summary": NO_STEPS,
         "table": ["HOST  NOW      PLANNED",
                   "m1    manager  -",
                   "m2    manager  -",
                   "m3    manager  -",
                   "w1    worker   -",
                   "w2    worker   -"]},
        id="converged-no-steps"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"]), REBUILT_PROBES,
        {"refusals": [], "bootstrap": False, "control": "m2", "manager_joiners": ["m1"], "worker_joiners": [],
         "stale": [stale("old-m1", "m1")], "promote": [], "demote": [], "remote_addrs": [raft("m2"), raft("m3")],
         "changes": True, "prune_set_join": True,
         "table": ["HOST       NOW                         PLANNED",
                   "m1         inactive                    join as manager",
                   "m2         manager                     -",
                   "m3         manager                     -",
                   "w1         worker                      -",
                   "m1 old-m1  stale manager entry (down)  prune"],
         "summary": "init 0, join 1 manager + 0 workers, promote 0, demote 0, prune 1, remove 0, update 0 nodes"},
        id="rebuilt-first-manager-no-init-rejoins-old-entry-pruned"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"]), REBUILT_READY_PROBES,
        {"refusals": [], "bootstrap": False, "manager_joiners": ["m1"],
         "stale": [stale("old-m1", "m1", state="ready")]},
        id="rebuilt-manager-old-entry-still-ready-pruned-by-its-raft-address"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], prune_stale_nodes=False), REBUILT_PROBES,
        {"refusals": [], "manager_joiners": ["m1"], "stale": [],
         "summary": "init 0, join 1 manager + 0 workers, promote 0, demote 0, prune 0, remove 0, update 0 nodes"},
        id="rebuilt-manager-old-entry-kept-with-prune_stale_nodes-off"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"]),
        {**swarm(["m1"], ["w1"], nodes=[*members(["m1"], ["w1"]), node("old-w2", "w2", state="down")]),
         "w2": probe_inactive("w2")},
        {"refusals": [], "worker_joiners": ["w2"], "stale": [stale("old-w2", "w2", "worker")]},
        id="rebuilt-worker-rejoins-old-entry-pruned"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"]),
        {**swarm(["m1"], ["w1"], nodes=[*members(["m1"], ["w1"]), node("old-w2", "w2", state="ready")]),
         "w2": probe_inactive("w2")},
        {"refusals": [], "worker_joiners": ["w2"], "stale": [stale("old-w2", "w2", "worker", "ready")]},
        id="worker-that-just-left-old-entry-still-ready-pruned-by-its-hostname-and-address"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"]),
        {**swarm(["m1"], ["w1"], nodes=[*members(["m1"], ["w1"]), node("other-w2", "w2", addr="10.9.9.9")]),
         "w2": probe_inactive("w2")},
        {"refusals": [], "worker_joiners": ["w2"], "stale": []},
        id="ready-entry-with-the-hostname-but-another-address-kept"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], play=["m2", "m3", "w1"], play_all=["m1", "m2", "m3", "w1"],
                  init_ignore_unreachable=True),
        inactive("m2", "m3", "w1"),
        {"refusals": [], "bootstrap": True, "control": "m2", "manager_joiners": ["m3"], "worker_joiners": ["w1"],
         "remote_addrs": ["10.0.1.2:2377"], "unprobed_keys": ["m1", "10.0.1.1"],
         "table": ["HOST  NOW                            PLANNED",
                   "m1    not probed (not in this play)  -",
                   "m2    inactive                       init (creates the swarm)",
                   "m3    inactive                       join as manager",
                   "w1    inactive                       join as worker"]},
        id="bootstrap-manager-down-init_ignore_unreachable-inits-on-the-second"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], force_rejoin=True),
        {**swarm(["m1", "m2"], ["w1"]), **swarm(["m3"], [], B)},
        {"refusals": [], "control": "m1", "ours": A, "cluster_of": {"m1": A, "m2": A, "m3": B}, "foreign": ["m3"],
         "manager_joiners": ["m3"], "worker_joiners": [], "stale": [],
         "table": ["HOST  NOW      PLANNED",
                   "m1    manager  -",
                   "m2    manager  -",
                   "m3    manager  leave its swarm, join as manager",
                   "w1    worker   -"]},
        id="foreign-manager-majority-moved-with-force_rejoin"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"], force_rejoin=True),
        {**swarm(["m1"], ["w1"]), "w2": probe_worker("w2", node_id="node-w2-b", remote=["10.9.0.1:2377"])},
        {"refusals": [], "foreign": ["w2"], "worker_joiners": ["w2"], "manager_joiners": [],
         "summary": "init 0, join 0 managers + 1 worker, promote 0, demote 0, prune 0, remove 0, update 0 nodes"},
        id="foreign-worker-unknown-to-control-moved-with-force_rejoin"),
    pytest.param(
        inventory(["m1", "m2"], ["w1", "w2"], force_rejoin=True),
        {**inactive("m1", "m2", "w2"), **swarm(["w1"], [], B)},
        {"refusals": [], "bootstrap": True, "control": "m1", "foreign": ["w1"], "manager_joiners": ["m2"],
         "worker_joiners": ["w1", "w2"],
         "table": ["HOST  NOW       PLANNED",
                   "m1    inactive  init (creates the swarm)",
                   "m2    inactive  join as manager",
                   "w1    manager   leave its swarm, join as worker",
                   "w2    inactive  join as worker"]},
        id="force_rejoin-fresh-inventory-worker-in-a-foreign-single-node-swarm"),
    pytest.param(
        inventory(["m1", "m2"], ["w1"], force_rejoin=True),
        {"m1": probe_worker("m1", node_id="node-m1-b", remote=["10.9.0.1:2377"]), **inactive("m2", "w1")},
        {"refusals": [], "bootstrap": True, "control": "m2", "foreign": ["m1"], "manager_joiners": ["m1"],
         "worker_joiners": ["w1"]},
        id="force_rejoin-fresh-inventory-first-manager-a-worker-elsewhere-init-on-the-next"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1", "w2"], play=["w2"]),
        {**without(FULL_PROBES, "w1", "w2"), "w2": probe_inactive("w2")},
        {"refusals": [], "control": "m1", "bootstrap": False, "manager_joiners": [], "worker_joiners": ["w2"],
         "node_ids": {"m1": nid("m1"), "m2": nid("m2"), "m3": nid("m3")}, "unprobed_keys": ["w1", "10.0.2.1"],
         "addrs": {"w2": "10.0.2.2", "m1": "10.0.1.1", "m2": "10.0.1.2", "m3": "10.0.1.3"},
         # w2's engine is out of the swarm while the list still has its entry, ready: its former membership
         "table": ["HOST        NOW                         PLANNED",
                   "m1          manager (not in this play)  -",
                   "m2          manager (not in this play)  -",
                   "m3          manager (not in this play)  -",
                   "w2          inactive                    join as worker",
                   "w2 node-w2  stale worker entry (ready)  prune"],
         "summary": "init 0, join 0 managers + 1 worker, promote 0, demote 0, prune 1, remove 0, update 0 nodes"},
        id="limit-new-worker-outside-managers-probed"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], play=["w1"],
                  hostvars={"m2": {"labels": {"zone": "a"}}, "w1": {"labels": {"zone": "b"}}}),
        {**swarm(["m1", "m2"]), "m3": probe_inactive("m3"), "w1": probe_inactive("w1")},
        {"refusals": [], "manager_joiners": [], "worker_joiners": ["w1"], "promote": [], "demote": [],
         "node_updates": {"w1": {"labels": {"zone": "b"}, "labels_state": "merge"}},
         "table": ["HOST  NOW                          PLANNED",
                   "m1    manager (not in this play)   -",
                   "m2    manager (not in this play)   -",
                   "m3    inactive (not in this play)  -",
                   "w1    inactive                     join as worker, labels zone=b"]},
        id="limit-only-play-hosts-join-or-change"),
    pytest.param(
        inventory(["m1"], ["w1"]), {**swarm(["m1"]), "w1": probe_inactive("w1", state="pending")},
        {"refusals": [], "bootstrap": False, "worker_joiners": ["w1"],
         "table": ["HOST  NOW      PLANNED", "m1    manager  -", "w1    pending  join as worker"]},
        id="stuck-pending-worker-joins-again"),
    pytest.param(
        inventory(["m1", "m2"], []), {**swarm(["m1"]), "m2": probe_inactive("m2", state="error", error="join failed")},
        {"refusals": [], "manager_joiners": ["m2"]},
        id="manager-in-error-state-joins-again"),
    pytest.param(
        inventory(["m1", "m2", "w1"], ["m3", "w2"]), FULL_PROBES,
        {"refusals": [], "promote": ["w1"], "demote": ["m3"], "demote_via": "m1", "control_after": "m1",
         "manager_joiners": [], "worker_joiners": [], "reshape": True, "changes": True, "prune_set_join": False,
         "table": ["HOST  NOW      PLANNED",
                   "m1    manager  -",
                   "m2    manager  -",
                   "w1    worker   promote",
                   "m3    manager  demote",
                   "w2    worker   -"],
         "summary": "init 0, join 0 managers + 0 workers, promote 1, demote 1, prune 0, remove 0, update 0 nodes"},
        id="promotion-and-demotion-through-a-manager-that-stays"),
    pytest.param(
        inventory(["m1", "w2", "w1"], ["m2", "m3"]), FULL_PROBES,
        {"refusals": [], "promote": ["w2", "w1"], "demote": ["m2", "m3"], "demote_via": "m1"},
        id="promotions-and-demotions-in-play-order"),
    pytest.param(
        inventory(["w1", "m1"], ["m2"]), CONTROL_DEMOTED_PROBES,
        {"refusals": [], "ours": A, "control": "m2", "promote": ["w1"], "demote": ["m2"], "demote_via": "w1",
         "control_after": "w1"},
        id="control-manager-demoted-through-a-manager-that-stays"),
    pytest.param(
        inventory(["m1"], ["m2", "w1"], prune_down_nodes=True), swarm(["m1", "m2"], ["w1"], nodes=OLDBOX_NODES),
        {"refusals": [], "stale": [stale("old-x", "oldbox")], "demote": ["m2"],
         "table": ["HOST          NOW                         PLANNED",
                   "m1            manager                     -",
                   "m2            manager                     demote",
                   "w1            worker                      -",
                   "oldbox old-x  stale manager entry (down)  prune"]},
        id="quorum-ok-when-the-unreachable-entry-is-pruned"),
    pytest.param(
        inventory(["m1", "m3"], ["m2"]),
        {**swarm(["m1", "m2"], nodes=[*members(["m1", "m2"]),
                                      node("old-m3", "m3", "manager", state="down", reachability="unreachable")]),
         "m3": probe_inactive("m3")},
        {"refusals": [], "stale": [stale("old-m3", "m3")], "manager_joiners": ["m3"], "demote": ["m2"],
         "demote_via": "m1"},
        id="quorum-ok-rebuilt-unreachable-manager-pruned-while-another-is-demoted"),
    pytest.param(
        inventory(**DOWN_INV), swarm(["m1"], ["w1"], nodes=DOWN_NODES),
        {"refusals": [], "stale": [], "changes": False},
        id="prune_down_nodes-off-keeps-down-entries"),
    pytest.param(
        inventory(**DOWN_INV, prune_down_nodes=True), swarm(["m1"], ["w1"], nodes=DOWN_NODES),
        {"refusals": [], "stale": [stale("old-y", "oldbox", "worker")], "unprobed_keys": ["w2", "10.0.2.2"]},
        id="prune_down_nodes-keeps-the-entry-of-an-unprobed-inventory-host"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], hostvars={"m3": {"node_state": "absent"}}),
        swarm(["m1", "m2", "m3"], ["w1"]),
        {"refusals": [], "demote": ["m3"], "demote_via": "m1", "control_after": "m1", "promote": [],
         "removals": {"m3": {"node_id": nid("m3"), "drain": True, "leave": True, "remove": True}}, "reshape": True,
         "table": ["HOST  NOW      PLANNED",
                   "m1    manager  -",
                   "m2    manager  -",
                   "m3    manager  demote, remove (drain, leave, remove entry)",
                   "w1    worker   -"],
         "summary": "init 0, join 0 managers + 0 workers, promote 0, demote 1, prune 0, remove 1, update 0 nodes"},
        id="absent-manager-demoted-then-removed"),
    pytest.param(
        inventory(["m1", "m2"], ["w1"], hostvars={"m1": {"node_state": "absent"}}), swarm(["m1", "m2"], ["w1"]),
        {"refusals": [], "control": "m2", "demote": ["m1"], "demote_via": "m2", "control_after": "m2",
         "removals": {"m1": {"node_id": nid("m1"), "drain": True, "leave": True, "remove": True}}},
        id="absent-first-manager-removed-through-the-other"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"], hostvars={"w2": {"node_state": "absent"}}), swarm(["m1"], ["w1", "w2"]),
        {"refusals": [], "demote": [], "reshape": True,
         "removals": {"w2": {"node_id": nid("w2"), "drain": True, "leave": True, "remove": True}},
         "summary": "init 0, join 0 managers + 0 workers, promote 0, demote 0, prune 0, remove 1, update 0 nodes"},
        id="absent-worker-drained-left-removed"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"], hostvars={"w2": {"node_state": "absent"}}),
        {**swarm(["m1"], ["w1"]), "w2": probe_inactive("w2")},
        {"refusals": [], "removals": {}, "stale": [], "changes": False, "summary": NO_STEPS},
        id="absent-worker-already-gone-nothing-to-do"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"], hostvars={"w2": {"node_state": "absent"}}),
        {**swarm(["m1"], ["w1"], nodes=[*members(["m1"], ["w1"]), node(nid("w2"), "w2", state="down")]),
         "w2": probe_inactive("w2")},
        {"refusals": [], "removals": {}, "stale": [stale(nid("w2"), "w2", "worker")]},
        id="absent-worker-left-but-its-entry-remains-pruned"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"], hostvars={"w2": {"node_state": "absent"}}),
        {**swarm(["m1"], ["w1"]), "w2": probe_worker("w2")},
        {"refusals": [], "foreign": [],
         "removals": {"w2": {"node_id": nid("w2"), "drain": False, "leave": True, "remove": False}}},
        id="absent-worker-whose-entry-is-gone-only-leaves"),
    pytest.param(
        inventory(["m1"], ["w1"], autolock=True), swarm(["m1"], ["w1"]),
        {"autolock": True, "changes": True, "prune_set_join": True, "summary": f"{NO_STEPS}, autolock on"},
        id="autolock-switched-on"),
    pytest.param(
        inventory(["m1"], ["w1"], autolock=False), swarm(["m1"], ["w1"], autolock=True),
        {"autolock": False, "changes": True, "summary": f"{NO_STEPS}, autolock off"},
        id="autolock-switched-off"),
    pytest.param(
        inventory(["m1"], ["w1"], autolock=True), swarm(["m1"], ["w1"], autolock=True),
        {"autolock": None, "changes": False, "summary": NO_STEPS},
        id="autolock-already-on"),
    pytest.param(
        inventory(["m1"], ["w1"]), swarm(["m1"], ["w1"], autolock=True),
        {"autolock": None, "changes": False},
        id="autolock-unset-left-as-it-is"),
    pytest.param(
        inventory(["m1"], ["w1"], autolock=True), inactive("m1", "w1"),
        {"bootstrap": True, "autolock": True,
         "summary": "init 1, join 0 managers + 1 worker, promote 0, demote 0, prune 0, remove 0, update 0 nodes, "
                    "autolock on"},
        id="autolock-on-after-init"),
    pytest.param(
        inventory(["m1"], ["w1"], autolock=True, init_options={"autolock": True}), inactive("m1", "w1"),
        {"bootstrap": True, "autolock": None},
        id="autolock-already-set-by-the-init-options"),
    pytest.param(
        labels_inv(labels={"zone": "a"}), swarm(["m1"], ["w1"], nodes=LABELED),
        {"node_updates": {}, "changes": False},
        id="labels-merge-already-there"),
    pytest.param(
        labels_inv(labels={"zone": "a"}), swarm(["m1"], ["w1"], nodes=ZONE_B),
        {"node_updates": {"w1": {"labels": {"zone": "a"}, "labels_state": "merge"}}, "changes": True,
         "table": ["HOST  NOW      PLANNED", "m1    manager  -", "w1    worker   labels zone=a"],
         "summary": "init 0, join 0 managers + 0 workers, promote 0, demote 0, prune 0, remove 0, update 1 node"},
        id="labels-merge-differs"),
    pytest.param(
        labels_inv(labels={"zone": "a"}, labels_exclusive=True), swarm(["m1"], ["w1"], nodes=LABELED),
        {"node_updates": {"w1": {"labels": {"zone": "a"}, "labels_state": "replace"}},
         "table": ["HOST  NOW      PLANNED", "m1    manager  -", "w1    worker   labels zone=a (exactly)"]},
        id="labels-exclusive-drops-the-extra-label"),
    pytest.param(
        labels_inv(labels={"zone": "a", "disk": "ssd"}, labels_exclusive=True), swarm(["m1"], ["w1"], nodes=LABELED),
        {"node_updates": {}},
        id="labels-exclusive-already-exact"),
    pytest.param(
        labels_inv(labels_exclusive=True), swarm(["m1"], ["w1"], nodes=LABELED),
        {"node_updates": {"w1": {"labels": {}, "labels_state": "replace"}},
         "table": ["HOST  NOW      PLANNED", "m1    manager  -", "w1    worker   labels (none) (exactly)"]},
        id="labels-exclusive-without-labels-clears-them"),
    pytest.param(
        labels_inv(node_availability="drain"), swarm(["m1"], ["w1"]),
        {"node_updates": {"w1": {"availability": "drain", "labels_state": "merge"}},
         "table": ["HOST  NOW      PLANNED", "m1    manager  -", "w1    worker   availability drain"]},
        id="availability-changed"),
    pytest.param(
        labels_inv(node_availability="drain", labels={"zone": "b"}), swarm(["m1"], ["w1"], nodes=ZONE_B),
        {"node_updates": {"w1": {"availability": "drain", "labels_state": "merge"}}},
        id="availability-changed-labels-already-there"),
    pytest.param(
        inventory(["m1", "m2"], ["w1"], hostvars={"m1": {"labels": {"role": "db"}},
                                                  "w1": {"labels": {"zone": "a"}, "node_availability": "drain"}}),
        inactive("m1", "m2", "w1"),
        {"bootstrap": True, "node_updates": {"m1": {"labels": {"role": "db"}, "labels_state": "merge"},
                                             "w1": {"labels": {"zone": "a"}, "labels_state": "merge"}},
         "summary": "init 1, join 1 manager + 1 worker, promote 0, demote 0, prune 0, remove 0, update 2 nodes"},
        id="labels-of-the-init-host-and-of-joiners-availability-given-with-the-join"),
    pytest.param(
        inventory(["m1", "m2", "m3"], unlock_key="SWMKEY-1-secret"), LOCKED_PROBES,
        {"ready": False, "unlock": ["m2"], "refusals": [], "table": [], "summary": ""},
        id="locked-engine-with-unlock-key-unlocked-first"),
]


@pytest.mark.parametrize(("inv", "probes", "expected"), PLANS)
def test_plan(inv, probes, expected):
    assert picked(p.make_plan(inv, probes), expected) == expected


# --------------------------------------------------------------------------------------------- refusals
QUORUM_DEMOTE = ("Refusing to change the managers: after this run the swarm would have 2 managers of which only 1 "
                 "are reachable (m3 is unreachable), fewer than the quorum of 2. Planned to leave the managers: m2. "
                 "Nothing was changed. Bring the unreachable managers back first (or remove their entries with "
                 "playbooks/remove_node.yml), then run again.")

REFUSALS = [
    pytest.param(
        inventory(["m1", "m2", "m3", "m4"]), {**swarm(["m1", "m2"]), **swarm(["m3", "m4"], [], B)},
        ["Cannot converge: inventory hosts are in different swarms (m1=swarm-a, m2=swarm-a, m3=swarm-b, m4=swarm-b) "
         "and the inventory managers are split evenly between them: cannot tell which one to keep; make the hosts of "
         "the wrong swarm leave it (docker swarm leave --force). Nothing was changed"],
        id="split-votes-even"),
    pytest.param(
        inventory(["m1", "m2", "m3", "m4"], force_rejoin=True), {**swarm(["m1", "m2"]), **swarm(["m3", "m4"], [], B)},
        ["split evenly between them"],
        id="split-votes-even-not-forced-by-force_rejoin"),
    pytest.param(
        inventory(["m1", "m2", "m3"]), {**swarm(["m1", "m2"]), **swarm(["m3"], [], B)},
        ["Cannot converge: m3 (cluster swarm-b) is in another swarm than the inventory's swarm swarm-a (managers m1, "
         "m2). Nothing was changed. Make them leave that swarm, or set docker_swarm_force_rejoin: true to move them"],
        id="split-votes-majority-foreign-manager"),
    pytest.param(
        inventory(["m1"], ["m2", "m3"]), {**swarm(["m1"]), **swarm(["m2"], [], B), **swarm(["m3"], [], "swarm-c")},
        ["m2 (cluster swarm-b), m3 (cluster swarm-c) are in another swarm than the inventory's swarm swarm-a "
         "(managers m1)"],
        id="foreign-managers-of-two-other-swarms"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], play=["m2", "m3", "w1"], play_all=["m1", "m2", "m3", "w1"]),
        inactive("m2", "m3", "w1"),
        ["Cannot converge: no swarm found, but managers m1 could not be probed and may already run one; bring them "
         "back, or set docker_swarm_init_ignore_unreachable: true"],
        id="bootstrap-manager-down-on-a-fresh-lab"),
    pytest.param(
        inventory(["m1"], ["w1"], play=["w1"], play_all=["m1", "w1"], init_ignore_unreachable=True),
        inactive("w1"),
        ["Cannot converge: no reachable manager to create the swarm on"],
        id="no-manager-probed-nothing-to-init-on"),
    pytest.param(
        inventory(["m1"], ["w1"]),
        {**swarm(["m1"]), "w1": probe_worker("w1", node_id="node-w1-b", remote=["10.9.0.1:2377"])},
        ["w1 (its managers: 10.9.0.1:2377) is in a swarm whose managers do not know them (another swarm than "
         "swarm-a, or removed from it). Nothing was changed. Make them leave, or set docker_swarm_force_rejoin: true "
         "to move them."],
        id="foreign-worker-unknown-to-the-control-manager"),
    pytest.param(
        inventory(["m1"], ["w1"]), {"m1": probe_inactive("m1"), **swarm(["w1"], [], B)},
        ["Cannot converge: hosts w1 are in a swarm (swarm-b) that no inventory manager is in; the role will not adopt "
         "it or create another (set docker_swarm_force_rejoin: true to move them into the swarm this run creates)"],
        id="swarm-no-inventory-manager-is-in"),
    pytest.param(
        inventory(["m1"], ["w1"], force_rejoin=True),
        {"m1": probe_worker("m1", node_id="node-m1-b", remote=["10.9.0.1:2377"]), "w1": probe_inactive("w1")},
        ["Cannot converge: no reachable manager to create the swarm on (every probed manager is in another swarm: "
         "m1)"],
        id="force_rejoin-fresh-inventory-but-the-only-manager-is-in-another-swarm"),
    pytest.param(
        inventory(["m1", "m3"], ["m2", "w1"], play=["m1", "m2", "w1"], play_all=["m1", "m2", "m3", "w1"]),
        M3_DOWN_PROBES, [QUORUM_DEMOTE],
        id="quorum-demote-with-one-manager-unreachable"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], play=["m1", "m3", "w1"], play_all=["m1", "m2", "m3", "w1"],
                  hostvars={"m3": {"node_state": "absent"}}),
        M2_DOWN_PROBES,
        ["Refusing to change the managers", "of which only 1 are reachable (m2 is unreachable)",
         "fewer than the quorum of 2", "Planned to leave the managers: m3."],
        id="quorum-remove-with-one-manager-unreachable"),
    pytest.param(
        inventory(["m1"], ["m2", "w1"]), swarm(["m1", "m2"], ["w1"], nodes=OLDBOX_NODES),
        ["Refusing to change the managers", "of which only 1 are reachable (oldbox is unreachable)",
         "fewer than the quorum of 2", "Planned to leave the managers: m2."],
        id="quorum-unreachable-entry-kept-without-prune_down_nodes"),
    pytest.param(
        inventory(["m1", "m2", "m3"]), LOCKED_PROBES,
        ["locked (autolock) engines: m2 - a manager of an autolocked swarm stays locked after a restart. Give the "
         "unlock key as docker_swarm_unlock_key (keep it in ansible-vault) and run again, or run "
         "playbooks/unlock.yml, or docker swarm unlock on the host"],
        id="locked-engine-without-unlock-key"),
    pytest.param(
        inventory(["m1"], ["w1"]),
        {**swarm(["m1"], ["w1"]),
         "m1": probe_manager("m1", unavailable="rpc error: code = Unknown desc = The swarm does not have a leader.")},
        ["The control manager m1 cannot serve: rpc error: code = Unknown desc = The swarm does not have a leader."],
        id="control-manager-swarm-unavailable"),
    pytest.param(
        FULL, {**{h: probe_manager(h, nodes=[], managers=["m1", "m2", "m3"], error=ERR) for h in ("m1", "m2", "m3")},
               **without(FULL_PROBES, "m1", "m2", "m3")},
        ["Cannot converge: hosts m1, m2, m3, w1, w2 are in a swarm, but no reachable manager has control available "
         "without error (quorum lost? engines stopped?); the role will not create a second swarm"],
        id="no-manager-with-control-available"),
    pytest.param(
        inventory(["m1"], ["w1"], play=["w1"], play_all=["m1", "w1"]), {"w1": probe_worker("w1")},
        ["Cannot converge: hosts w1 are in a swarm, but no reachable manager of it could be probed (m1 failed); bring "
         "a manager back; the role will not create a second swarm"],
        id="no-manager-of-the-swarm-probed"),
    pytest.param(
        inventory(["m1"], ["w1"], hostvars={"m1": {"interface": "eth9"}, "w1": {"ansible_host": "w1.lab"}}),
        {"m1": probe_inactive("m1"), "w1": probe_inactive("w1", addresses=host_addresses("w1", default=None))},
        ["No advertise address for m1, w1 (interface eth9 has no IPv4 address, no docker_swarm_interface): set "
         "docker_swarm_advertise_addr, a docker_swarm_interface that has an IPv4 address, or an IP as ansible_host. "
         "Nothing was changed."],
        id="no-advertise-address"),
]


@pytest.mark.parametrize(("inv", "probes", "fragments"), REFUSALS)
def test_plan_refusal(inv, probes, fragments):
    plan = p.make_plan(inv, probes)
    assert len(plan.refusals) == 1, plan.refusals
    for fragment in fragments:
        assert fragment in plan.refusals[0]
    assert plan.table == [] and plan.summary == ""  # refused before the plan is shown


def test_quorum_refusal_text_exactly():
    inv = inventory(["m1", "m3"], ["m2", "w1"], play=["m1", "m2", "w1"], play_all=["m1", "m2", "m3", "w1"])
    assert p.make_plan(inv, M3_DOWN_PROBES).refusals == [QUORUM_DEMOTE]


def test_refusals_are_joined_after_cannot_converge():
    inv = inventory(["m1", "m2"], ["w1"])
    probes = {"m1": probe_inactive("m1"), **swarm(["w1"], [], B), "m2": probe_locked("m2")}
    [refusal] = p.make_plan(inv, probes).refusals
    assert refusal.startswith("Cannot converge: hosts w1 are in a swarm (swarm-b) that no inventory manager is in")
    assert "; locked (autolock) engines: m2 - " in refusal


# ------------------------------------------------------------------------------------ inventory check
def _check_case(case_id, inv, problems, warnings=(), **more):
    return pytest.param(inv, list(problems), list(warnings), more, id=case_id)


ADVERTISE_VARS = {"m1": {"advertise_addr": "eth0"}, "w1": {"advertise_addr": "10.0.2.1:2377"},
                  "w2": {"advertise_addr": "fd00::22"}}
CHECKS = [
    _check_case("three-managers-ok", inventory(["m1", "m2", "m3"], ["w1"]), [],
                lock_host="m1", present_managers=["m1", "m2", "m3"], absent=[], outside_managers=[]),
    _check_case("limit-outside-managers", inventory(["m1", "m2", "m3"], ["w1"], play=["w1"]), [],
                outside_managers=["m1", "m2", "m3"], lock_host="m1"),
    _check_case("invalid-role-variables", inventory(["m1", "m2"], ["w1"], play=["m1", "w1"],
                                                    play_all=["m1", "m2", "w1"]),
                ["invalid role variables on m2 (see the validation error above); nothing was changed."],
                message="Inventory check failed: invalid role variables on m2 (see the validation error above); "
                        "nothing was changed.", lock_host=""),
    _check_case("host-in-both-groups", inventory(["m1", "w1", "m2"], ["w1"]),
                ["hosts in both docker_swarm_manager and docker_swarm_worker: w1 (a host is a manager or a worker: "
                 "remove it from one group)"]),
    _check_case("no-manager", inventory([], ["w1"]),
                ["no manager: put at least one host in the group docker_swarm_manager (without "
                 "docker_swarm_node_state: absent)"], lock_host=""),
    _check_case("every-manager-absent", inventory(["m1"], ["w1"], hostvars={"m1": {"node_state": "absent"}}),
                ["no manager: put at least one host in the group docker_swarm_manager (without "
                 "docker_swarm_node_state: absent)"], absent=["m1"]),
    _check_case("no-manager-custom-group", inventory([], ["w1"], manager_group="swarm_managers"),
                ["no manager: put at least one host in the group swarm_managers (without docker_swarm_node_state: "
                 "absent)"]),
    _check_case("eight-managers-refused", inventory([f"m{i}" for i in range(1, 9)]),
                ["8 managers: more than 7 slow raft down and add no safety; set docker_swarm_allow_many_managers: "
                 "true to allow it"],
                ["WARNING: 8 managers tolerate no more failures than 7 would (quorum 5); an odd number is "
                 "recommended."]),
    _check_case("nine-managers-allowed", inventory([f"m{i}" for i in range(1, 10)], allow_many_managers=True), []),
    _check_case("seven-managers-ok", inventory([f"m{i}" for i in range(1, 8)]), []),
    _check_case("two-managers-warned", inventory(["m1", "m2"], ["w1"]), [],
                ["WARNING: 2 managers tolerate no more failures than 1 would (quorum 2); an odd number is "
                 "recommended."]),
    _check_case("four-managers-one-absent-is-three", inventory(["m1", "m2", "m3", "m4"],
                                                               hostvars={"m4": {"node_state": "absent"}}),
                [], absent=["m4"], present_managers=["m1", "m2", "m3"]),
    _check_case("first-manager-absent-lock-on-the-next", inventory(["m1", "m2", "m3"],
                                                                   hostvars={"m1": {"node_state": "absent"}}),
                [], ["WARNING: 2 managers tolerate no more failures than 1 would (quorum 2); an odd number is "
                     "recommended."], lock_host="m2"),
    _check_case("advertise-addr-not-an-ip", inventory(["m1"], ["w1", "w2"], hostvars=ADVERTISE_VARS),
                ["docker_swarm_advertise_addr is not an IP address for m1 (eth0), w1 (10.0.2.1:2377): give an IP (or "
                 "an interface name in docker_swarm_interface)"]),
]


@pytest.mark.parametrize(("inv", "problems", "warnings", "more"), CHECKS)
def test_check_inventory(inv, problems, warnings, more):
    check = p.check_inventory(inv)
    assert check.problems == problems
    assert check.warnings == warnings
    assert check.message == ("Inventory check failed: " + "; ".join(problems) if problems else "")
    for key, value in more.items():
        assert getattr(check, key) == value, key


def test_check_inventory_reports_every_problem_at_once():
    inv = inventory([f"m{i}" for i in range(1, 9)], ["m1"], hostvars={"m2": {"advertise_addr": "x"}})
    assert [pr.split(" ")[0] for pr in p.check_inventory(inv).problems] == ["hosts", "8", "docker_swarm_advertise_addr"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [({}, p.Settings()),
     ({"docker_swarm_allow_many_managers": "yes", "docker_swarm_prune_stale_nodes": "false",
       "docker_swarm_autolock": "", "docker_swarm_unlock_key": "k"},
      p.Settings(allow_many_managers=True, prune_stale_nodes=False, have_unlock_key=True)),
     ({"docker_swarm_autolock": "true", "docker_swarm_init_options": {"autolock": True},
       "docker_swarm_manager_group": "mgr"},
      p.Settings(autolock=True, init_autolock=True, manager_group="mgr"))],
    ids=["defaults", "strings-and-empty-autolock", "autolock-and-init-options"],
)
def test_settings_from_vars(values, expected):
    assert p.Settings.from_vars(values) == expected


# ------------------------------------------------------------------------------------------ addresses
@pytest.mark.parametrize(
    ("w1_vars", "w1_state", "w1_addresses", "expected"),
    [({"advertise_addr": "10.9.0.1", "interface": "eth1"}, "active", host_addresses("w1", eth1="10.5.0.1"),
      "10.9.0.1"),
     ({"interface": "eth1"}, "active", host_addresses("w1", eth1="10.5.0.1"), "10.0.2.99"),
     ({"ansible_host": "w1.lab"}, "active", host_addresses("w1"), "10.0.2.99"),
     ({}, "active", host_addresses("w1"), "10.0.2.1"),
     ({"interface": "eth1"}, "inactive", host_addresses("w1", eth1="10.5.0.1"), "10.5.0.1"),
     ({}, "inactive", host_addresses("w1", default="10.0.2.50"), "10.0.2.1"),
     ({"ansible_host": "w1.lab"}, "inactive", host_addresses("w1", default="10.0.2.50"), "10.0.2.50"),
     ({"interface": "eth9"}, "inactive", host_addresses("w1"), ""),
     ({"ansible_host": "w1.lab"}, "inactive", host_addresses("w1", default=None), "")],
    ids=["advertise_addr-first", "active-engine-address-over-interface", "active-engine-address-over-host-name",
         "ansible_host-ip-over-active-engine-address", "interface-ipv4", "ansible_host-ip-over-default-route",
         "default-route-for-a-host-name", "interface-without-ipv4", "host-name-without-default-route"],
)
def test_resolve_addresses(w1_vars, w1_state, w1_addresses, expected):
    inv = inventory(["m1"], ["w1"], hostvars={"w1": w1_vars})
    w1 = local("w1", w1_state, nid("w1") if w1_state == "active" else None, addr="10.0.2.99")
    addrs = p.resolve_addresses(inv, {"m1": local("m1"), "w1": w1}, {"w1": w1_addresses})
    assert addrs == {"m1": "10.0.1.1", "w1": expected}


def test_address_refusal_names_only_present_play_hosts():
    inv = inventory(["m1"], ["w1", "w2"], hostvars={"w2": {"node_state": "absent"}})
    assert p.address_refusal(inv, {"m1": "10.0.1.1", "w1": "10.0.2.1", "w2": ""}) == ""
    assert p.address_refusal(inv, {"m1": "10.0.1.1"}).startswith("No advertise address for w1 (no docker_swarm_")


@pytest.mark.parametrize(("addr", "host"), [("10.0.0.1:2377", "10.0.0.1"), ("[fe80::1]:2377", "fe80::1"),
                                            ("fe80::1", "fe80::1"), ("10.0.0.1", "10.0.0.1"), ("", ""), (None, "")])
def test_strip_port(addr, host):
    assert p.strip_port(addr) == host


# ------------------------------------------------------------------------------------------ preflight
ALL_UDP = (7946, 4789)
PREFLIGHTS = [
    pytest.param(
        inventory(["m1", "m2"], ["w1"]), inactive("m1", "m2", "w1"), ["m1", "m2", "w1"],
        {"m1": [target("m2", (2377, 7946), ALL_UDP), target("w1", (7946,), ALL_UDP)],
         "m2": [target("m1", (2377, 7946), ALL_UDP), target("w1", (7946,), ALL_UDP)],
         "w1": [target("m1", (2377, 7946), ALL_UDP), target("m2", (2377, 7946), ALL_UDP)]},
        id="fresh-lab-everyone-listens"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"]), {**swarm(["m1"], ["w1"]), "w2": probe_inactive("w2")}, ["w2"],
        {"m1": [target("w2", (7946,), ALL_UDP)],
         "w1": [target("w2", (7946,), ALL_UDP)],
         "w2": [target("m1", (2377, 7946)), target("w1", (7946,))]},
        id="active-pairs-skipped-udp-only-to-listeners"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1", "w2"], play=["w2"]),
        {**without(FULL_PROBES, "w1", "w2"), "w2": probe_inactive("w2")}, ["w2"],
        {"w2": [target("m1", (2377, 7946)), target("m2", (2377, 7946)), target("m3", (2377, 7946))]},
        id="limit-only-play-hosts-try-outside-managers-are-tried"),
    pytest.param(FULL, FULL_PROBES, [], {}, id="nothing-joins-no-preflight"),
    pytest.param(inventory(["m1", "m2"], ["w1"], preflight=False), inactive("m1", "m2", "w1"), [], {},
                 id="preflight-off"),
    pytest.param(
        inventory(["m1"], ["w1", "w2"], hostvars={"w2": {"node_state": "absent"}}), inactive("m1", "w1", "w2"),
        ["m1", "w1"], {"m1": [target("w1", (7946,), ALL_UDP)], "w1": [target("m1", (2377, 7946), ALL_UDP)]},
        id="absent-hosts-left-out"),
    pytest.param(
        inventory(["m1", "w1"], ["w2"]), {**swarm(["m1"], ["w1"]), "w2": probe_inactive("w2")}, ["w2"],
        {"m1": [target("w2", (7946,), ALL_UDP)],
         "w1": [target("w2", (7946,), ALL_UDP)],
         "w2": [target("m1", (2377, 7946)), target("w1", (7946,))]},
        id="no-2377-on-a-worker-engine-to-be-promoted"),
]


PREFLIGHTS.append(pytest.param(
    inventory(["m1"], ["w1"]),
    {"m1": probe_inactive("m1"), "w1": probe_inactive("w1", addresses={**host_addresses("w1"), "udp_in_use": [4789]})},
    ["m1", "w1"], {"m1": [target("w1", (7946,), (7946,))], "w1": [target("m1", (2377, 7946), ALL_UDP)]},
    id="a-udp-port-held-on-a-listener-is-not-tried"))


@pytest.mark.parametrize(("inv", "probes", "listeners", "targets"), PREFLIGHTS)
def test_preflight_targets(inv, probes, listeners, targets):
    plan = p.make_plan(inv, probes)
    assert plan.preflight_listeners == listeners
    assert plan.preflight == targets


def _unlistened_targets(plan: p.Plan, probes: dict[str, dict]) -> list[str]:
    """Targets that nothing will answer on: neither an engine in a swarm nor a preflight listener."""
    active = {h for h, v in probes.items() if v["local"]["state"] == "active"}
    return [f"{src}->{t['name']}" for src, targets in plan.preflight.items() for t in targets
            if t["name"] not in active and t["name"] not in plan.preflight_listeners]


@pytest.mark.parametrize(
    ("probes", "bootstrap"),
    [(inactive("m1", "m2", "m3", "w1"), True),
     ({**swarm(["m1", "m2"]), "m3": probe_inactive("m3"), "w1": probe_inactive("w1")}, False)],
    ids=["fresh-lab-init-on-an-outside-manager", "outside-manager-inactive-and-not-joining"],
)
def test_preflight_does_not_target_inactive_hosts_outside_the_play(probes, bootstrap):
    plan = p.make_plan(inventory(["m1", "m2", "m3"], ["w1"], play=["w1"]), probes)
    assert plan.bootstrap is bootstrap and plan.control == "m1" and plan.worker_joiners == ["w1"]
    assert _unlistened_targets(plan, probes) == []


def test_preflight_checks_a_host_moving_from_another_swarm():
    inv = inventory(["m1"], ["w1"], force_rejoin=True)
    plan = p.make_plan(inv, {**swarm(["m1"]), "w1": probe_worker("w1", node_id="node-w1-b", remote=["10.9.0.1:2377"])})
    assert plan.foreign == ["w1"] and plan.worker_joiners == ["w1"]
    assert [t["name"] for t in plan.preflight.get("w1", [])] == ["m1"]
    assert plan.preflight["w1"][0]["tcp"] == [2377, 7946]


def _probed(src: str, name: str, proto: str, port: int, status: str = "ok") -> dict[str, Any]:
    return {"src": src, "name": name, "addr": IPS[name], "proto": proto, "port": port, "status": status}


def _by_source(*results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        out.setdefault(r["src"], []).append({k: v for k, v in r.items() if k != "src"})
    return out


IN_USE_4789 = {"m2": {"in_use": {"tcp": [], "udp": [4789]}}}
PREFLIGHT_PROBLEMS = [
    pytest.param({}, _by_source(_probed("m1", "m2", "tcp", 2377), _probed("m1", "m2", "udp", 4789)), [],
                 id="all-ok"),
    pytest.param(IN_USE_4789, _by_source(_probed("m1", "m2", "udp", 4789, "timeout")), [],
                 id="udp-port-in-use-on-the-target-not-judged"),
    pytest.param(IN_USE_4789, _by_source(_probed("m1", "m2", "udp", 7946, "timeout")),
                 ["7946/udp on m2 (10.0.1.2) is not reachable from m1 (timeout)"],
                 id="udp-port-not-in-use-judged"),
    pytest.param({"m2": {"in_use": {"tcp": [2377], "udp": []}}},
                 _by_source(_probed("m1", "m2", "tcp", 2377, "refused")),
                 ["2377/tcp on m2 (10.0.1.2) is not reachable from m1 (refused)"],
                 id="tcp-port-in-use-still-judged"),
    pytest.param({"m3": {"in_use": {"tcp": [], "udp": [4789]}}},
                 _by_source(_probed("m1", "m2", "udp", 4789, "timeout")),
                 ["4789/udp on m2 (10.0.1.2) is not reachable from m1 (timeout)"],
                 id="in-use-on-another-host-does-not-count"),
    pytest.param(
        {},
        _by_source(_probed("m1", "m2", "tcp", 2377, "refused"), _probed("w1", "m2", "tcp", 2377, "timeout"),
                   _probed("w1", "m2", "tcp", 7946), _probed("m1", "w1", "udp", 7946, "timeout"),
                   _probed("m2", "w1", "udp", 7946, "timeout"), _probed("m2", "m1", "tcp", 7946, "error")),
        ["7946/tcp on m1 (10.0.1.1) is not reachable from m2 (error)",
         "2377/tcp on m2 (10.0.1.2) is not reachable from m1 (refused), w1 (timeout)",
         "7946/udp on w1 (10.0.2.1) is not reachable from m1 (timeout), m2 (timeout)"],
        id="failing-sources-grouped-per-target-and-port"),
]


@pytest.mark.parametrize(("listened", "probed", "problems"), PREFLIGHT_PROBLEMS)
def test_preflight_problems(listened, probed, problems):
    assert p.preflight_problems(listened, probed) == problems


def test_preflight_message():
    message = p.preflight_message(["2377/tcp on m2 (10.0.1.2) is not reachable from m1 (refused)"])
    assert message.startswith("Preflight failed: 2377/tcp on m2 (10.0.1.2) is not reachable from m1 (refused). ")
    assert "docker_swarm_preflight: false" in message and message.endswith("Nothing was changed.")


# ------------------------------------------------------------------------------------------- warnings
IFACE_WARNING = ("WARNING: manager m1 advertises the address of interface eth1: a manager's address must not change "
                 "(raft members find each other by it); set docker_swarm_advertise_addr to a fixed IP.")
WARNINGS = [
    pytest.param(inventory(["m1"], ["w1"]), {"m1": local("m1"), "w1": local("w1")}, [], id="none"),
    pytest.param(inventory(["m1"], ["w1"], hostvars={"m1": {"interface": "eth1"}}), {}, [IFACE_WARNING],
                 id="manager-advertises-an-interface"),
    pytest.param(inventory(["m1"], ["w1"], hostvars={"m1": {"interface": "eth1", "advertise_addr": "10.0.1.1"}}), {},
                 [], id="manager-interface-with-fixed-advertise_addr"),
    pytest.param(inventory(["m1"], ["w1"], hostvars={"w1": {"interface": "eth1"}}), {}, [],
                 id="worker-may-advertise-an-interface"),
    pytest.param(inventory(["m1"], ["w1", "w2"]),
                 {"m1": local("m1"), "w1": local("w1", hostname="debian"), "w2": local("w2", hostname="debian")},
                 ["WARNING: hosts w1, w2 all have the hostname debian: their nodes are told apart by node ID only "
                  "(docker node commands by hostname are ambiguous); give each host its own hostname."],
                 id="duplicate-hostnames"),
    pytest.param(inventory(["m1", "m2"], ["w1"]),
                 {"m1": local("m1"), "m2": local("m2"), "w1": local("w1", version="26.1.4")},
                 ["Engine versions differ (26.1.4: w1; 27.3.1: m1, m2): fine during an upgrade, otherwise upgrade "
                  "the older engines."],
                 id="engine-version-skew"),
]


@pytest.mark.parametrize(("inv", "views_by_host", "expected"), WARNINGS)
def test_plan_warnings(inv, views_by_host, expected):
    assert p.plan_warnings(inv, views_by_host) == expected


def test_plan_carries_the_warnings():
    inv = inventory(["m1"], ["w1"], hostvars={"m1": {"interface": "eth1"}})
    probes = {"m1": probe_inactive("m1", addresses=host_addresses("m1", eth1="10.0.1.1")), "w1": probe_inactive("w1")}
    plan = p.make_plan(inv, probes)
    assert plan.warnings == [IFACE_WARNING] and plan.addrs["m1"] == "10.0.1.1" and plan.refusals == []


# --------------------------------------------------------------------------------------------- health
HEALTH_INV = inventory(["m1", "m2", "m3"], ["w1"])
HEALTH_PLAN = {"swarm_id": A, "cluster_of": {"m1": A, "m2": A, "m3": A}, "foreign": [], "unprobed_keys": []}
HEALTH_IDS = {h: nid(h) for h in ("m1", "m2", "m3", "w1")}
HEALTHY = "Swarm swarm-a: 4 nodes, 3 managers, leader m1"


def _health_case(case_id, problems, nodes=None, inv=HEALTH_INV, plan=None, node_ids=None, swarm_id=A,
                 message=None, unprobed=()):
    return pytest.param(inv, {**HEALTH_PLAN, **(plan or {})}, HEALTH_IDS if node_ids is None else node_ids,
                        members(["m1", "m2", "m3"], ["w1"]) if nodes is None else nodes, swarm_id, problems,
                        message, list(unprobed), id=case_id)


HEALTH = [
    _health_case("healthy", [], message=HEALTHY),
    _health_case("two-leaders", ["2 leaders"], members(["m1", "m2", "m3"], ["w1"], m2={"leader": True}),
                 message="The swarm is not healthy: 2 leaders"),
    _health_case("no-leader", ["0 leaders"], members(["m1", "m2", "m3"], ["w1"], m1={"leader": False})),
    _health_case("manager-unreachable", ["manager m2 (node-m2) is unreachable"],
                 members(["m1", "m2", "m3"], ["w1"], m2={"manager_reachability": "unreachable"}),
                 message="The swarm is not healthy: manager m2 (node-m2) is unreachable"),
    _health_case("host-not-in-the-swarm", ["w1: not in the swarm"], members(["m1", "m2", "m3"])),
    _health_case("host-without-node-id", ["w1: no node ID"], node_ids={h: nid(h) for h in ("m1", "m2", "m3")}),
    _health_case("host-down", ["w1: down"], members(["m1", "m2", "m3"], ["w1"], w1={"state": "down"})),
    _health_case("wrong-role", ["w1: manager, not worker"], members(["m1", "m2", "m3", "w1"])),
    _health_case("absent-host-still-listed", ["w1: still in the swarm"],
                 inv=inventory(["m1", "m2", "m3"], ["w1"], hostvars={"w1": {"node_state": "absent"}})),
    _health_case("absent-host-gone", [], members(["m1", "m2", "m3"]),
                 inv=inventory(["m1", "m2", "m3"], ["w1"], hostvars={"w1": {"node_state": "absent"}})),
    _health_case("absent-host-out-of-the-play-not-judged", [],
                 inv=inventory(["m1", "m2", "m3"], ["w1"], play=["m1", "m2", "m3"],
                               hostvars={"w1": {"node_state": "absent"}})),
    _health_case("another-cluster-now", ["cluster swarm-a is not swarm-b", "m1 is in cluster swarm-a, not swarm-b",
                                         "m2 is in cluster swarm-a, not swarm-b",
                                         "m3 is in cluster swarm-a, not swarm-b"], swarm_id=B),
    _health_case("host-left-in-another-cluster", ["m3 is in cluster swarm-b, not swarm-a"],
                 plan={"cluster_of": {"m1": A, "m2": A, "m3": B}}),
    _health_case("host-moved-from-another-cluster", [], plan={"cluster_of": {"m1": A, "m2": A, "m3": B},
                                                              "foreign": ["m3"]}),
    _health_case("entries-of-unprobed-hosts-not-judged", [],
                 members(["m1", "m2", "m3"], ["w1"], m3={"manager_reachability": "unreachable", "state": "down"}),
                 inv=inventory(["m1", "m2", "m3"], ["w1"], play=["m1", "m2", "w1"]),
                 plan={"unprobed_keys": ["m3", "10.0.1.3"]}, node_ids={h: nid(h) for h in ("m1", "m2", "w1")},
                 message=f"{HEALTHY}; not checked, could not be probed in this run (see their errors above): m3",
                 unprobed=["m3"]),
    _health_case("unprobed-host-found-by-its-raft-address", [],
                 members(["m1", "m2", "m3"], ["w1"], m3={"manager_reachability": "unreachable", "hostname": "box3",
                                                         "addr": "0.0.0.0"}),
                 inv=inventory(["m1", "m2", "m3"], ["w1"], play=["m1", "m2", "w1"]),
                 plan={"unprobed_keys": ["m3", "10.0.1.3"]}, node_ids={h: nid(h) for h in ("m1", "m2", "w1")},
                 unprobed=["box3"]),
]


@pytest.mark.parametrize(("inv", "plan", "node_ids", "nodes", "swarm_id", "problems", "message", "unprobed"), HEALTH)
def test_health(inv, plan, node_ids, nodes, swarm_id, problems, message, unprobed):
    verdict = p.health(inv, plan, node_ids, nodes, swarm_id)
    assert verdict.problems == problems
    assert verdict.unprobed == unprobed
    if message is not None:
        assert verdict.message == message


def test_health_of_a_converged_plan():
    plan = p.make_plan(FULL, FULL_PROBES).as_dict()
    verdict = p.health(FULL, plan, plan["node_ids"], FULL_PROBES["m1"]["nodes"], A)
    assert verdict.problems == [] and verdict.message == "Swarm swarm-a: 5 nodes, 3 managers, leader m1"


# A manager whose own engine cannot serve swarm requests, while the leader lists it Ready and Reachable (seen on
# Engine 20.10 after a SIGKILL and restart of a re-addressed manager; reproduced by blocking its outgoing 2377/tcp).
SILENT_PROBES = {**FULL_PROBES, "m2": probe_manager("m2", cluster=None, unavailable="cannot read", error=ERR)}


@pytest.mark.parametrize(("inv", "plan", "silent"), [
    pytest.param(FULL, {}, {"m2": ERR}, id="left-alone"),
    pytest.param(FULL, {"demote": ["m2"]}, {}, id="the-run-demotes-it"),
    pytest.param(FULL, {"removals": {"m2": {}}}, {}, id="the-run-removes-it"),
    pytest.param(FULL, {"rejoin": ["m2"]}, {}, id="the-run-rejoins-it"),
    pytest.param(FULL, {"manager_joiners": ["m2"]}, {}, id="the-run-joins-it"),
    pytest.param(FULL, {"readdress": [{"host": "m2"}]}, {}, id="the-run-moves-it"),
    pytest.param(FULL, {"unlocked": ["m2"]}, {}, id="unlocked-in-this-run"),
    pytest.param(inventory(["m1", "m3"], ["m2", "w1", "w2"]), {}, {}, id="a-worker-in-the-inventory"),
    pytest.param(inventory(["m1", "m2", "m3"], ["w1", "w2"], hostvars={"m2": {"node_state": "absent"}}), {}, {},
                 id="absent"),
])
def test_silent_managers(inv, plan, silent):
    assert p.silent_managers(inv, plan, SILENT_PROBES) == silent


def test_silent_managers_ignore_states_other_than_an_active_manager():
    probes = {**FULL_PROBES, "m2": probe_inactive("m2", "pending", error=ERR), "m3": {"failed": True}}
    assert p.silent_managers(FULL, {}, probes) == {}
    assert p.silent_managers(FULL, {}, FULL_PROBES) == {}


def test_health_names_a_silent_manager_once_and_does_not_wait_for_it():
    plan = p.make_plan(FULL, SILENT_PROBES).as_dict()
    assert not plan["changes"] and plan["recheck"] == ["m2"]
    assert plan["warnings"] == [f"m2: its engine reports a swarm error ({ERR}); the health check reads it again "
                                "before it judges the swarm"]
    assert p.make_plan(FULL, FULL_PROBES).recheck == []
    silent = p.silent_managers(FULL, plan, SILENT_PROBES)
    nodes = members(["m1", "m2", "m3"], ["w1", "w2"], m2={"state": "down"})
    verdict = p.health(FULL, plan, plan["node_ids"], nodes, A, silent)
    assert verdict.problems == verdict.lasting == [p.silent_problem("m2", ERR)]
    assert verdict.waiting == []
    assert verdict.message.startswith("The swarm is not healthy: m2: its engine is a manager but cannot serve swarm "
                                      f"requests ({ERR}); check that it reaches the other managers on 2377/tcp")
    other = p.health(FULL, plan, plan["node_ids"], members(["m1", "m2", "m3"], ["w1", "w2"], w1={"state": "down"}),
                     A, silent)
    assert other.waiting == ["w1: down"] and other.lasting == verdict.lasting


def test_joined_node_ids():
    assert p.joined_node_ids({"m1": "a", "w1": "b"}, {"w1": "c", "w2": "d", "w3": "", "w4": None}) == {
        "m1": "a", "w1": "c", "w2": "d"}


# --------------------------------------------------------------------------- playbooks: control, removal
CONTROL_PROBES = {
    "m1": probe_manager("m1"),
    "w1": probe_worker("w1"),
    "m2": probe_manager("m2", error=ERR),
    "m3": probe_locked("m3"),
    "m4": probe_manager("m4"),
    "m5": {"failed": True, "msg": "unreachable"},
    "m6": probe_inactive("m6"),
}


@pytest.mark.parametrize(("exclude", "expected"), [((), ["m1", "m4"]), (("m1",), ["m4"]), (("m1", "m4"), [])],
                         ids=["active-managers-without-error", "excluded-host-skipped", "none-left"])
def test_control_candidates(exclude, expected):
    assert p.control_candidates(CONTROL_PROBES, exclude=exclude) == expected


THREE = members(["m1", "m2", "m3"], ["w1"])
M3_UNREACHABLE = members(["m1", "m2", "m3"], ["w1"], m3={"manager_reachability": "unreachable"})


def _entry(nodes: list[dict[str, Any]], host: str) -> dict[str, Any]:
    return next(n for n in nodes if n["hostname"] == host)


REMOVALS = [
    pytest.param("m1", None, [], "", True, "m1 is the last reachable manager; removing it destroys the swarm.",
                 id="no-control-target-is-the-last-manager-engine"),
    pytest.param("w1", None, [], "", False, "No reachable manager with control available (other than w1).",
                 id="no-control-at-all"),
    pytest.param("w9", None, THREE, "m1", False, "", id="not-listed"),
    pytest.param("w1", _entry(THREE, "w1"), THREE, "m1", False, "", id="worker-may-go"),
    pytest.param("m1", _entry(members(["m1"], ["w1"]), "m1"), members(["m1"], ["w1"]), "m1", True,
                 "m1 is the last manager; removing it destroys the swarm.", id="last-manager"),
    pytest.param("m2", _entry(M3_UNREACHABLE, "m2"), M3_UNREACHABLE, "m1", True,
                 "Removing manager m2 would leave 1 reachable of 2 managers - below quorum. Bring managers back first.",
                 id="reachable-manager-below-quorum"),
    pytest.param("m3", _entry(M3_UNREACHABLE, "m3"), M3_UNREACHABLE, "m1", False, "",
                 id="the-unreachable-manager-may-go"),
    pytest.param("m2", _entry(THREE, "m2"), THREE, "m1", True, "", id="one-of-three-healthy-managers-may-go"),
    pytest.param("m2", _entry(members(["m1", "m2"]), "m2"), members(["m1", "m2"]), "m1", True, "",
                 id="one-of-two-managers-may-go"),
]


@pytest.mark.parametrize(("target_host", "entry", "nodes", "control", "is_manager", "expected"), REMOVALS)
def test_removal_refusal(target_host, entry, nodes, control, is_manager, expected):
    assert p.removal_refusal(target_host, entry, nodes, control, is_manager) == expected


# ------------------------------------------------------------------------------------------- quorum.py
@pytest.mark.parametrize(
    ("staying", "added", "expected", "has_quorum"),
    [(q.ManagerCounts(2, 1), 1, q.ManagerCounts(3, 2), True), (q.ManagerCounts(2, 1), 0, q.ManagerCounts(2, 1), False),
     (q.ManagerCounts(0, 0), 1, q.ManagerCounts(1, 1), True), (q.ManagerCounts(4, 2), 0, q.ManagerCounts(4, 2), False)],
    ids=["join-restores-quorum", "one-of-two-reachable", "first-manager", "half-of-four"],
)
def test_after_change_and_has_quorum(staying, added, expected, has_quorum):
    after = q.after_change(staying, added)
    assert after == expected
    assert after.has_quorum is has_quorum


@pytest.mark.parametrize(("total", "tolerated"), [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (7, 3)])
def test_fault_tolerance(total, tolerated):
    assert q.fault_tolerance(total) == tolerated


def test_view_counts():
    nodes = members(["m1", "m2", "m3"], ["w1", "w2"], m3={"manager_reachability": "unknown"})
    counts = q.view_counts(nodes)
    assert counts == q.ManagerCounts(total=3, reachable=2)
    assert (counts.unreachable, counts.quorum, counts.has_quorum) == (1, 2, True)
    assert q.view_counts(members(["m1"], ["w1"], m1={"role": "worker"})) == q.ManagerCounts(0, 0)


# ------------------------------------------------------------------ found by these tests, fixed in plan.py
def test_remote_addrs_of_an_ipv6_init_host():
    inv = inventory(["m1"], ["w1"], hostvars={"m1": {"advertise_addr": "fd00::11"}})
    plan = p.make_plan(inv, inactive("m1", "w1"))
    assert plan.bootstrap and plan.refusals == []
    assert plan.remote_addrs == ["[fd00::11]:2377"]


def test_unlocked_engines_are_not_rejoined():
    inv = inventory(["m1", "m2", "m3"], unlock_key="SWMKEY-1-secret")
    plan = p.make_plan(inv, LOCKED_PROBES, unlocked=["m2"])
    assert plan.ready and plan.refusals == []
    assert plan.manager_joiners == []
    assert plan.stale == []
    # the unlock changed the engine: the run counts as a change (the health check polls), the table says so
    assert plan.unlocked == ["m2"] and plan.changes
    assert any(line.split()[0] == "m2" and "unlocked with docker_swarm_unlock_key" in line for line in plan.table)
    assert plan.summary.endswith(", unlocked 1")


def test_duplicate_hostname_does_not_prune_an_unprobed_hosts_entry():
    nodes = [*members(["m1"], ["w1"], w1={"hostname": "debian"}),
             node(nid("w2"), "debian", state="down", addr=IPS["w2"])]
    probes = {"m1": probe_manager("m1", nodes=nodes), "w1": probe_worker("w1", hostname="debian")}
    plan = p.make_plan(inventory(**DOWN_INV), probes)
    assert plan.unprobed_keys == ["w2", "10.0.2.2"]
    assert plan.stale == []


# ------------------------------------------------------------------------------------------ re-addressing
NO_LEADER = "rpc error: code = Unknown desc = The swarm does not have a leader."
MOVED = {"m1": "10.0.1.21", "m2": "10.0.1.22", "w1": "10.0.2.21"}


def moved_inv(*hosts: str, **more: Any) -> p.Inventory:
    """FULL-like inventory (3 managers, 1 worker) where ``hosts`` have their new address in the inventory."""
    return inventory(["m1", "m2", "m3"], ["w1"], hostvars={h: {"ansible_host": MOVED[h], "advertise_addr": MOVED[h]}
                                                           for h in hosts}, **more)


def moved_addresses(host: str, keep_old: bool) -> dict[str, Any]:
    """The host's addresses after its IP changed: only the new one, or (keep_old) the old as primary too."""
    if keep_old:
        return {**host_addresses(host), "addresses": [IPS[host], MOVED[host]]}
    return {"interfaces": {"lo": "127.0.0.1", "eth0": MOVED[host]}, "default_ipv4": MOVED[host],
            "addresses": [MOVED[host]]}


def lost_manager(host: str, nodes: list[dict], state: str = "active") -> dict[str, Any]:
    """A manager whose address went away on the host: its engine still advertises the old one and has no leader."""
    view = local(host, state, nid(host), None, True, IPS[host], [raft("m1"), raft("m2"), raft("m3")], error=NO_LEADER)
    return result(view, unavailable=NO_LEADER, addresses=moved_addresses(host, keep_old=False))


M1_GONE_NODES = members(["m1", "m2", "m3"], ["w1"], leader="m2", m1={"manager_reachability": "unreachable"})
M1_GONE_PROBES = {**swarm(["m1", "m2", "m3"], ["w1"], nodes=M1_GONE_NODES), "m1": lost_manager("m1", M1_GONE_NODES)}


def with_addresses(probes: dict[str, dict], host: str, keep_old: bool = True) -> dict[str, dict]:
    return {**probes, host: {**probes[host], "host_addresses": moved_addresses(host, keep_old)}}


def step(host: str, via: str, remote: str, demote: bool = True, role: str = "manager", reachable: bool = True
         ) -> dict[str, Any]:
    return {"host": host, "node_id": nid(host), "old": IPS[host], "new": MOVED[host], "demote": demote, "role": role,
            "reachable": reachable, "via": via, "remote_addrs": [remote]}


READDRESS = [
    pytest.param(
        moved_inv("m1"), M1_GONE_PROBES,
        {"refusals": [], "control": "m2", "readdress": [step("m1", "m2", raft("m2"), reachable=False)],
         "manager_joiners": [], "worker_joiners": [], "promote": [], "demote": [], "stale": [], "changes": True,
         "table": ["HOST  NOW      PLANNED",
                   "m1    manager  re-address m1: 10.0.1.1 -> 10.0.1.21 (demote, leave, remove entry, join as manager "
                   "via m2)",
                   "m2    manager  -",
                   "m3    manager  -",
                   "w1    worker   -"],
         "summary": NO_STEPS + ", re-address 1"},
        id="host-first-old-address-gone-manager-moves-via-another"),
    pytest.param(
        moved_inv("m1"), {**M1_GONE_PROBES, "m1": lost_manager("m1", M1_GONE_NODES, state="pending")},
        {"refusals": [], "readdress": [step("m1", "m2", raft("m2"), reachable=False)], "manager_joiners": []},
        id="host-first-engine-restarted-pending-moves-does-not-join"),
    pytest.param(
        moved_inv("m2"), with_addresses(swarm(["m1", "m2", "m3"], ["w1"]), "m2"),
        {"refusals": [], "control": "m1", "readdress": [step("m2", "m1", raft("m1"))], "demote": [], "warnings": []},
        id="inventory-first-host-has-both-addresses"),
    pytest.param(
        moved_inv("m1"), with_addresses(swarm(["m1", "m2", "m3"], ["w1"]), "m1"),
        {"refusals": [], "control": "m1", "control_after": "m1", "readdress": [step("m1", "m2", raft("m2"))]},
        id="the-control-manager-moves-via-the-next-one"),
    pytest.param(
        moved_inv("m1", "m2", "w1"),
        with_addresses(with_addresses(with_addresses(swarm(["m1", "m2", "m3"], ["w1"]), "m1"), "m2"), "w1"),
        {"refusals": [], "readdress": [step("m1", "m3", raft("m3")), step("m2", "m1", "10.0.1.21:2377"),
                                       step("w1", "m1", "10.0.1.21:2377", demote=False, role="worker",
                                            reachable=False)],
         "summary": NO_STEPS + ", re-address 3"},
        id="two-managers-one-at-a-time-then-the-worker-via-a-moved-manager"),
    pytest.param(
        moved_inv("w1"), with_addresses(swarm(["m1", "m2", "m3"], ["w1"]), "w1", keep_old=False),
        {"readdress": [step("w1", "m1", raft("m1"), demote=False, role="worker", reachable=False)]},
        id="worker-leaves-and-joins-again"),
    pytest.param(
        moved_inv("m2"), swarm(["m1", "m2", "m3"], ["w1"]),
        {"refusals": [], "readdress": [], "changes": False,
         "warnings": ["WARNING: the inventory gives m2 the address 10.0.1.22, but the host does not have it; its node "
                      "keeps advertising 10.0.1.2 (not re-addressed). Fix the inventory or the host."]},
        id="address-the-host-does-not-have-is-not-taken"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], hostvars={"m2": {"ansible_host": MOVED["m2"]}}),
        with_addresses(swarm(["m1", "m2", "m3"], ["w1"]), "m2"),
        {"refusals": [], "readdress": [], "changes": False,
         "warnings": ["Note: m2 advertises 10.0.1.2 in the swarm, its ansible_host is 10.0.1.22; it is not "
                      "re-addressed. To move it, set docker_swarm_advertise_addr: 10.0.1.22 (or to keep it quiet: "
                      "10.0.1.2)."]},
        id="only-ansible-host-differs-and-the-old-address-works-no-move"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], hostvars={"w1": {"ansible_host": MOVED["w1"]}}),
        with_addresses(swarm(["m1", "m2", "m3"], ["w1"]), "w1", keep_old=False),
        {"readdress": [step("w1", "m1", raft("m1"), demote=False, role="worker", reachable=False)]},
        id="only-ansible-host-differs-and-the-old-address-is-gone-moves"),
    pytest.param(
        inventory(["m1", "m2", "m3"], ["w1"], hostvars={"m1": {"interface": "eth0"}}),
        with_addresses(swarm(["m1", "m2", "m3"], ["w1"]), "m1"),
        {"readdress": [], "changes": False},
        id="address-from-an-interface-is-not-a-move"),
]


@pytest.mark.parametrize(("inv", "probes", "expected"), READDRESS)
def test_readdress_plan(inv, probes, expected):
    assert picked(p.make_plan(inv, probes), expected) == expected


def test_a_leader_cut_off_by_its_lost_address_is_not_the_control_manager():
    """Right after the address went away the old leader still answers without error, but lists the others as
    unreachable: the plan must not trust it (it would refuse for a quorum the swarm has)."""
    nodes = members(["m1", "m2", "m3"], ["w1"], m2={"manager_reachability": "unreachable"},
                    m3={"manager_reachability": "unreachable"})
    probes = {**swarm(["m1", "m2", "m3"], ["w1"]),
              "m1": {**probe_manager("m1", nodes=nodes, managers=["m1", "m2", "m3"]),
                     "host_addresses": moved_addresses("m1", keep_old=False)}}
    plan = p.make_plan(moved_inv("m1"), probes)
    assert plan.refusals == [] and plan.control == "m2"
    assert plan.readdress == [step("m1", "m2", raft("m2"))]


def test_joins_go_through_reachable_managers_that_stay():
    """Campaign seed 7 sequence 29: m1's address went away and m4 joins as a manager in the same run. The control
    engine still lists m1's old raft address among its remote managers; a join through it waits out the Engine's
    20 s and goes on in the background. The joins go through the reachable managers that stay, the control one
    first."""
    inv = inventory(["m1", "m2", "m3", "m4"], ["w1"],
                    hostvars={"m1": {"ansible_host": MOVED["m1"], "advertise_addr": MOVED["m1"]}})
    plan = p.make_plan(inv, {**M1_GONE_PROBES, **inactive("m4")})
    assert plan.refusals == [] and plan.control == "m2" and plan.manager_joiners == ["m4"]
    assert [st["host"] for st in plan.readdress] == ["m1"]
    assert plan.remote_addrs == [raft("m2"), raft("m3")]


def test_joins_skip_an_unreachable_manager():
    down = {"state": "down", "manager_reachability": "unreachable"}
    nodes = members(["m1", "m2", "m3"], ["w1"], leader="m2", m3=down)
    probes = {**without(swarm(["m1", "m2", "m3"], ["w1"], nodes=nodes), "m3"), **inactive("w2")}
    plan = p.make_plan(inventory(["m1", "m2", "m3"], ["w1", "w2"], play=["m1", "m2", "w1", "w2"]), probes)
    assert plan.refusals == [] and plan.worker_joiners == ["w2"] and plan.manager_joiners == []
    assert plan.remote_addrs == [raft("m1"), raft("m2")]


def test_a_manager_joining_while_another_is_down_is_warned_about():
    down = {"state": "down", "manager_reachability": "unreachable"}
    nodes = members(["m1", "m2", "m3"], ["w1"], m3=down)
    probes = {**without(swarm(["m1", "m2", "m3"], ["w1"], nodes=nodes), "m3"), **inactive("m4")}
    plan = p.make_plan(inventory(["m1", "m2", "m3", "m4"], ["w1"], play=["m1", "m2", "m4", "w1"]), probes)
    assert plan.refusals == [] and plan.manager_joiners == ["m4"]
    assert ("WARNING: m4 joins as a manager while m3 cannot be reached: until m4 has caught up, the swarm holds its "
            "quorum (3 of 4 managers) only with it. If its join fails, bring m3 back, or remove its entry "
            "(playbooks/remove_node.yml), before running again.") in plan.warnings
    healthy_probes = {**swarm(["m1", "m2", "m3"], ["w1"]), **inactive("m4")}
    healthy = p.make_plan(inventory(["m1", "m2", "m3", "m4"], ["w1"]), healthy_probes)
    assert healthy.manager_joiners == ["m4"] and not any("joins as a manager" in w for w in healthy.warnings)
    moved = p.make_plan(inventory(["m1", "m2", "m3", "m4"], ["w1"], hostvars={
        "m1": {"ansible_host": MOVED["m1"], "advertise_addr": MOVED["m1"]}}), {**M1_GONE_PROBES, **inactive("m4")})
    assert moved.manager_joiners == ["m4"] and not any("joins as a manager" in w for w in moved.warnings)


def test_joins_fall_back_to_the_control_engine_when_the_list_names_no_manager():
    assert p.join_through([], "node-m1", set(), ["10.0.1.1:2377"]) == ["10.0.1.1:2377"]
    listed = members(["m1", "m2"], leader="m1")
    assert p.join_through(listed, "node-m2", {"node-m1"}, ["x"]) == [raft("m2")]
    assert p.join_through(listed, "node-m2", set(), ["x"]) == [raft("m2"), raft("m1")]


def test_readdress_refused_when_the_others_lack_quorum():
    nodes = members(["m1", "m2", "m3"], ["w1"], leader="m2", m1={"manager_reachability": "unreachable"},
                    m3={"state": "down", "manager_reachability": "unreachable"})
    probes = {**swarm(["m2"], ["w1"], nodes=nodes), "m1": lost_manager("m1", nodes)}
    plan = p.make_plan(moved_inv("m1"), probes)
    assert plan.refusals == [
        "Refusing to re-address the managers m1 (10.0.1.1 -> 10.0.1.21): demoting one of them would leave fewer "
        "reachable managers than the quorum (1 of 3 reachable now: m1 is unreachable, m3 is unreachable). Nothing "
        "was changed. Bring the other managers back first, then run again."]
    assert plan.table == []


def test_readdress_refused_without_another_manager():
    probes = with_addresses(swarm(["m1"], ["w1"]), "m1")
    plan = p.make_plan(inventory(["m1"], ["w1"], hostvars={"m1": {"advertise_addr": MOVED["m1"]}}), probes)
    assert len(plan.refusals) == 1 and plan.refusals[0].startswith("Refusing to re-address the managers m1")


# ------------------------------------- managers that come back with stale raft state after playbooks/recover.yml
# m1 recovered the swarm alone (force_new_cluster) and removed the entries of m2 and m3; their engines come back
# with the old raft: together they still have its quorum, elect a leader and report the same swarm ID (a split
# brain, seen on Engine 20.10); alone, one reports no leader and no cluster ID.
RECOVERED_NODES = members(["m1"], ["w1"])
OLD_RAFT_NODES = [node(nid("m1"), "m1", "manager", state="down", reachability="unreachable"),
                  *members(["m2", "m3"], ["w1"], leader="m2")]
NO_LEADER = "rpc error: code = Unknown desc = The swarm does not have a leader."


def recovered_probes(back=("m2", "m3"), with_ids: bool = False) -> dict[str, dict]:
    """m1 serves the recovered swarm; the hosts in ``back`` run the old raft (a quorum of it when two are back).
    ``with_ids``: the remote managers carry node IDs as /info reports them (the builders leave them out)."""
    out = {"m1": probe_manager("m1", nodes=RECOVERED_NODES, managers=["m1"]),
           "w1": probe_worker("w1", remote=[raft("m1")])}
    for h in back:
        if len(back) > 1:
            out[h] = probe_manager(h, nodes=OLD_RAFT_NODES, managers=["m1", "m2", "m3"])
        else:
            out[h] = probe_manager(h, cluster=None, managers=["m1", "m2", "m3"], error=NO_LEADER,
                                   unavailable=f"This manager cannot read the swarm: {NO_LEADER}")
            out[h]["swarm"] = None
    if with_ids:
        for probe in out.values():
            for peer in probe["local"]["remote_managers"]:
                peer["node_id"] = nid(next(h for h, ip in IPS.items() if peer["addr"] == f"{ip}:2377"))
    return out


@pytest.mark.parametrize("with_ids", [False, True], ids=["peer-addresses", "peer-node-ids"])
@pytest.mark.parametrize(("back", "removed"), [
    pytest.param(("m2", "m3"), ["m2", "m3"], id="two-back-split-brain"),
    pytest.param(("m2",), ["m2"], id="one-back-no-leader"),
    pytest.param((), [], id="none-back"),
])
def test_removed_members(back, removed, with_ids):
    assert p.removed_members(recovered_probes(back, with_ids)) == removed


def test_removed_members_none_in_a_healthy_swarm_or_another_swarm():
    assert p.removed_members(swarm(["m1", "m2", "m3"], ["w1"])) == []
    # m3 runs another swarm (its own cluster ID) that knows m1's address: not this case (the foreign refusal is)
    other = {**swarm(["m1", "m2"]), "m3": probe_manager("m3", cluster=B, nodes=members(["m3"]), managers=["m1", "m3"])}
    assert p.removed_members(other) == []


@pytest.mark.parametrize("managers", [["m1", "m2", "m3"], ["m2", "m3", "m1"]], ids=["survivor-first", "survivor-last"])
def test_stale_raft_managers_leave_and_rejoin_without_force_rejoin(managers):
    plan = p.make_plan(inventory(managers, ["w1"]), recovered_probes())
    assert plan.refusals == []
    assert plan.control == "m1" and plan.swarm_id == A
    assert plan.rejoin == ["m2", "m3"] and plan.foreign == []
    assert plan.manager_joiners == ["m2", "m3"] and plan.worker_joiners == []
    assert plan.stale == [] and plan.promote == [] and plan.demote == []
    assert plan.as_dict()["prune_set_join"]
    rows = {line.split()[0]: line for line in plan.table[1:]}
    assert rows["m2"].endswith("leave its stale raft (dropped by the swarm), join as manager")
    assert rows["m1"].endswith("-")
    # the returning hosts are checked like new ones: their ports are probed from m1 and towards m1
    assert {t["name"] for t in plan.preflight["m1"]} == {"m2", "m3"}


def test_one_stale_manager_back_rejoins_the_other_still_down():
    inv = inventory(["m1", "m2", "m3"], ["w1"], play=["m1", "m2", "w1"], play_all=["m1", "m2", "m3", "w1"])
    plan = p.make_plan(inv, recovered_probes(("m2",)))  # m3's probe failed: it dropped out of the play
    assert plan.refusals == [] and plan.control == "m1"
    assert plan.rejoin == ["m2"] and plan.manager_joiners == ["m2"]


def test_a_host_of_another_swarm_is_still_refused_without_force_rejoin():
    probes = recovered_probes(())
    probes["m2"] = probe_manager("m2", nodes=[*RECOVERED_NODES, node(nid("m2"), "m2", "manager")],
                                 managers=["m1", "m2"])
    probes["m3"] = probe_manager("m3", cluster=B, nodes=members(["m3"]), managers=["m1", "m3"])
    plan = p.make_plan(inventory(["m1", "m2", "m3"], ["w1"]), probes)
    assert plan.rejoin == [] and plan.refusals and "another swarm than the inventory's swarm" in plan.refusals[0]


def test_a_pending_host_with_the_node_id_of_a_dropped_entry_rejoins():
    """Seen on Engine 20.10: right after their first start the dropped managers are pending for a few seconds."""
    probes = recovered_probes(())
    for h in ("m2", "m3"):
        probes[h] = probe_inactive(h, state="pending", node_id=nid(h))
    plan = p.make_plan(inventory(["m1", "m2", "m3"], ["w1"]), probes)
    assert plan.refusals == [] and plan.rejoin == ["m2", "m3"] and plan.manager_joiners == ["m2", "m3"]
    assert plan.replaces == {}  # their entries are gone: nothing to remove after the joins
    # a pending joiner without a node ID yet is not judged (its join goes on, swarm_join settles it)
    probes["m3"] = probe_inactive("m3", state="pending")
    assert p.removed_members(probes) == ["m2"]


def test_a_listed_member_stuck_pending_joins_and_its_entry_goes_only_if_it_joins_anew():
    """Campaign seed 7, sequence 52: the killed leader came back pending. swarm_join gives it time to settle and
    otherwise leaves and joins anew; then its old entry (a manager: counted in raft) is removed in the same run."""
    nodes = members(["m1", "m2", "m3"], ["w1", "w2"], m2={"manager_reachability": "unreachable", "state": "down"},
                    w2={"state": "down"})
    probes = swarm(["m1", "m3"], ["w1"], nodes=nodes)
    probes["m2"] = probe_inactive("m2", state="pending", node_id=nid("m2"))
    probes["w2"] = probe_inactive("w2", state="pending", node_id=nid("w2"))
    plan = p.make_plan(inventory(["m1", "m2", "m3"], ["w1", "w2"]), probes)
    assert plan.refusals == [] and plan.manager_joiners == ["m2"] and plan.worker_joiners == ["w2"]
    assert plan.stale == [] and plan.rejoin == []
    assert plan.replaces == {"m2": stale("node-m2", "m2", "manager", "down"), "w2": stale("node-w2", "w2", "worker")}
    assert "m2    pending  join as manager (keeps node node-m2 if it settles; if it joins anew, that entry is " \
        "removed)" in plan.table
    # after the joins: m2 settled (same ID), w2 joined anew; a host with no new ID that did not leave: nothing
    assert p.left_behind(plan.replaces, {"m2": "node-m2", "w2": "node-new"}, {}) == [stale("node-w2", "w2", "worker")]
    assert p.left_behind(plan.replaces, {"m2": "", "w2": "node-w2"}, {"m2": ""}) == []
    assert p.left_behind(plan.replaces, {"m2": "node-x"}, {})[0]["id"] == "node-m2"
    # check mode: no new ID, but swarm_join says which ID it would leave
    assert p.left_behind(plan.replaces, {"m2": "node-m2"}, {"m2": "node-m2"}) == [plan.replaces["m2"]]


REJOIN = inventory(["m1", "m2", "m3"], ["w1", "w2"], rejoin_silent_managers=True)


def test_a_silent_manager_is_made_to_leave_and_join_anew_when_asked():
    plan = p.make_plan(REJOIN, SILENT_PROBES)
    assert plan.rejoin_silent == {"m2": ERR} and plan.rejoin == ["m2"] and plan.manager_joiners == ["m2"]
    assert plan.stale == [{"id": "node-m2", "hostname": "m2", "role": "manager", "state": "ready"}]
    assert plan.replaces == {}  # pruned before it leaves
    assert plan.recheck == [] and plan.refusals == [] and plan.changes
    assert plan.control == "m1" and plan.promote == plan.demote == []
    assert any(line.startswith("m2") and f"leave and join anew (its engine cannot serve swarm requests: {ERR})" in line
               and "join as manager" in line for line in plan.table), plan.table
    # the preflight checks it like a host that moves; without the option the health check names it (case 22)
    assert "m2" in [t["name"] for t in plan.preflight["m1"]]
    assert p.make_plan(FULL, SILENT_PROBES).rejoin_silent == {}


def test_silent_managers_are_left_to_the_health_check_when_the_swarm_has_no_quorum_without_them():
    # m2 and m3 both silent: 1 of 3 managers serves, below the quorum of 2 (removing them could not be committed)
    probes = {**SILENT_PROBES, "m3": probe_manager("m3", cluster=None, unavailable="cannot read", error=ERR)}
    plan = p.make_plan(REJOIN, probes)
    assert plan.rejoin_silent == {} and plan.rejoin == [] and plan.stale == []
    assert plan.recheck == ["m2", "m3"] and plan.refusals == []
    # of 5 managers, 2 silent: 3 serve, the quorum of 5
    five = inventory(["m1", "m2", "m3", "m4", "m5"], ["w1"], rejoin_silent_managers=True)
    probes = {**swarm(["m1", "m2", "m3", "m4", "m5"], ["w1"]),
              **{h: probe_manager(h, cluster=None, unavailable="cannot read", error=ERR) for h in ("m4", "m5")}}
    plan = p.make_plan(five, probes)
    assert plan.rejoin_silent == {"m4": ERR, "m5": ERR} and plan.manager_joiners == ["m4", "m5"]
    assert [e["id"] for e in plan.stale] == ["node-m4", "node-m5"] and plan.refusals == []


def test_silent_to_rejoin_skips_the_control_manager_hosts_outside_the_play_and_unlisted_nodes():
    local = {h: v["local"] for h, v in SILENT_PROBES.items()}
    nodes = SILENT_PROBES["m1"]["nodes"]
    assert p.silent_to_rejoin(REJOIN, local, nodes, "m2", []) == {}
    assert p.silent_to_rejoin(REJOIN, local, nodes, "m1", ["m2"]) == {}
    limited = inventory(["m1", "m2", "m3"], ["w1", "w2"], play=["m1", "m3", "w1", "w2"], rejoin_silent_managers=True)
    assert p.silent_to_rejoin(limited, local, nodes, "m1", []) == {}
    assert p.silent_to_rejoin(REJOIN, local, [n for n in nodes if n["id"] != "node-m2"], "m1", []) == {}
    assert p.silent_to_rejoin(REJOIN, local, nodes, "m1", []) == {"m2": ERR}


def test_silent_to_rejoin_leaves_a_manager_without_a_leader_and_a_moving_manager_alone():
    local = {h: dict(v["local"]) for h, v in SILENT_PROBES.items()}
    nodes = SILENT_PROBES["m1"]["nodes"]
    # a former leader catching up after a partition reports no leader: health waits for it (campaign sequence 37)
    no_leader = {**local, "m2": {**local["m2"], "error": "rpc error: code = Unknown desc = The swarm does not have a "
                                                         "leader. It's possible that too few managers are online."}}
    assert p.silent_to_rejoin(REJOIN, no_leader, nodes, "m1", []) == {}
    plan = p.make_plan(REJOIN, {**SILENT_PROBES, "m2": {**SILENT_PROBES["m2"], "local": no_leader["m2"]}})
    assert plan.rejoin_silent == {} and plan.recheck == ["m2"]
    # the inventory gives it another address the host has: the re-address step moves it (campaign sequence 22)
    silent = swarm(["m1", "m2", "m3"], ["w1"])
    silent["m2"] = probe_manager("m2", cluster=None, unavailable="cannot read", error=ERR)
    plan = p.make_plan(moved_inv("m2", rejoin_silent_managers=True), with_addresses(silent, "m2"))
    assert plan.rejoin_silent == {} and plan.stale == [] and [st["host"] for st in plan.readdress] == ["m2"]
    plan = p.make_plan(inventory(["m1", "m2", "m3"], ["w1"], rejoin_silent_managers=True), silent)
    assert plan.rejoin_silent == {"m2": ERR} and plan.readdress == []

"""recover.py: the decisions of playbooks/recover.yml, scenario by scenario.

Reads have the shapes of swarm_node_info (nodes=true, certificate=true) as seen on Engine 20.10 in the lab: after a
quorum loss the survivor's /info is active with control available, no cluster ID and only an error; its raft peers
stay in remote_managers, its certificate names the swarm. Hosts m1..m3 (10.0.1.N), node IDs node-<host>, swarm A.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import recover as r

A, B = "swarm-a", "swarm-b"
MANAGERS = ["m1", "m2", "m3"]
IPS = {"m1": "10.0.1.1", "m2": "10.0.1.2", "m3": "10.0.1.3"}
HOSTS = {ip: h for h, ip in IPS.items()}
NO_LEADER = "rpc error: code = Unknown desc = The swarm does not have a leader."


def peers(*hosts: str) -> list[dict[str, str]]:
    return [{"node_id": f"node-{h}", "addr": f"{IPS[h]}:2377"} for h in hosts]


def read(
    host: str,
    state: str = "active",
    cluster: Optional[str] = None,
    error: Optional[str] = NO_LEADER,
    manager: bool = True,
    cert: Optional[str] = A,
    remote=("m1", "m2", "m3"),
    nodes=(),
) -> dict[str, Any]:
    local = {
        "state": state,
        "node_id": None if state == "locked" else f"node-{host}",
        "node_addr": IPS[host],
        "control_available": manager and state == "active",
        "is_manager": manager and state == "active",
        "error": error,
        "cluster_id": cluster,
        "remote_managers": [] if state == "locked" else peers(*remote),
    }
    return {
        "local": local,
        "nodes": list(nodes),
        "swarm": {"id": cluster} if cluster else None,
        "certificate": {"cluster_id": cert, "role": "manager" if manager else "worker"} if cert else None,
    }


def healthy(host: str) -> dict[str, Any]:
    nodes = [
        {"id": f"node-{h}", "role": "manager", "manager_reachability": "reachable" if h != "m3" else "unreachable"}
        for h in MANAGERS
    ]
    return read(host, cluster=A, error=None, nodes=nodes)


DEAD = {"failed": True, "msg": "Cannot connect to the engine at unix:///run/docker.sock: ... No such file"}
UNREACHABLE = {"unreachable": True, "msg": "ssh: connect to host 10.0.1.2 port 22: No route to host"}
LOST = {"m1": read("m1"), "m2": DEAD, "m3": DEAD}
DEAD_M2_M3 = [
    {"id": "node-m2", "addr": "10.0.1.2:2377", "host": "m2"},
    {"id": "node-m3", "addr": "10.0.1.3:2377", "host": "m3"},
]

PLANS = [
    pytest.param(
        LOST,
        "",
        {},
        {
            "action": "recover",
            "survivor": "m1",
            "swarm_id": A,
            "dead": DEAD_M2_M3,
            "others": ["m2", "m3"],
            "refusal": "",
            "locked": False,
        },
        id="lost-first-survivor",
    ),
    pytest.param(
        {"m1": DEAD, "m2": UNREACHABLE, "m3": read("m3")},
        "",
        {},
        {
            "action": "recover",
            "survivor": "m3",
            "dead": [
                {"id": "node-m1", "addr": "10.0.1.1:2377", "host": "m1"},
                {"id": "node-m2", "addr": "10.0.1.2:2377", "host": "m2"},
            ],
        },
        id="survivor-is-the-first-that-holds-raft-state",
    ),
    pytest.param(
        {"m1": read("m1"), "m2": read("m2"), "m3": DEAD},
        "m2",
        {},
        {"action": "recover", "survivor": "m2", "dead": [DEAD_M2_M3[1]]},
        id="recover_from-chosen-reachable-peer-keeps-its-entry",
    ),
    pytest.param(
        {"m1": read("m1", state="locked"), "m2": read("m2"), "m3": DEAD},
        "",
        {},
        {
            "action": "recover",
            "survivor": "m2",
            "locked": False,
            # a locked engine shows no node ID: its entry goes too, it re-joins with site.yml once unlocked
            "dead": [{"id": "node-m1", "addr": "10.0.1.1:2377", "host": "m1"}, DEAD_M2_M3[1]],
        },
        id="an-unlocked-survivor-is-preferred-to-a-locked-one",
    ),
    pytest.param(
        {"m1": healthy("m1"), "m2": healthy("m2"), "m3": DEAD},
        "",
        {},
        {"action": "nothing", "swarm_id": A, "refusal": "", "survivor": ""},
        id="quorum-not-lost",
    ),
    pytest.param(
        {"m1": healthy("m1"), "m2": healthy("m2"), "m3": DEAD},
        "m1",
        {"confirmed": True},
        {"action": "nothing"},
        id="quorum-not-lost-even-with-recover_from",
    ),
]


@pytest.mark.parametrize(("reads", "chosen", "kwargs", "expected"), PLANS)
def test_recovery_plan(reads, chosen, kwargs, expected):
    plan = r.recovery_plan(MANAGERS, reads, chosen, HOSTS, **{"confirmed": True, **kwargs})
    assert {k: getattr(plan, k) for k in expected} == expected


REFUSALS = [
    pytest.param(
        LOST,
        "m2",
        {},
        [
            "Refusing to recover from m2: its engine could not be read (Cannot connect",
            "Nothing was changed",
            "-e recover_from=HOST",
        ],
        id="chosen-engine-stopped",
    ),
    pytest.param(
        {**LOST, "m2": UNREACHABLE}, "m2", {}, ["Refusing to recover from m2: unreachable"], id="chosen-unreachable"
    ),
    pytest.param(
        {**LOST, "m2": read("m2", manager=False, error=None, cert=None)},
        "m2",
        {},
        ["Refusing to recover from m2: not a manager (state active)"],
        id="chosen-not-a-manager",
    ),
    pytest.param(
        LOST,
        "w1",
        {},
        ["Refusing to recover from w1: it is not a manager of the inventory"],
        id="chosen-not-in-the-group",
    ),
    pytest.param(
        {"m1": read("m1"), "m2": read("m2", cert=B), "m3": DEAD},
        "",
        {},
        ["different swarms (m1=swarm-a, m2=swarm-b)", "Nothing was changed"],
        id="two-swarms",
    ),
    pytest.param(
        {"m1": DEAD, "m2": UNREACHABLE, "m3": read("m3", state="inactive", manager=False, cert=None)},
        "",
        {},
        [
            "Nothing to recover from: no inventory manager holds the raft state",
            "m2: unreachable",
            "m3: not a manager (state inactive)",
        ],
        id="no-holder",
    ),
    pytest.param(
        {"m1": read("m1", state="locked"), "m2": DEAD, "m3": DEAD},
        "",
        {},
        [
            "from m1: its engine is locked (autolock). Nothing was changed.",
            "-e recover_from=HOST",
            "playbooks/unlock.yml",
        ],
        id="locked",
    ),
    pytest.param(
        LOST,
        "",
        {"autolock": True},
        [
            f"Refusing to recover swarm {A}: the inventory says it is autolocked",
            "Swarm is encrypted and needs to be unlocked",
            "takes m1 out of the swarm. Nothing was changed.",
            "-e docker_swarm_autolock=false",
        ],
        id="autolocked-swarm",
    ),
    pytest.param(
        LOST,
        "",
        {"autolock": True, "check_mode": True},
        ["the inventory says it is autolocked"],
        id="autolocked-swarm-check-mode",
    ),
    pytest.param(
        LOST,
        "",
        {"confirmed": False},
        ["Nothing was changed: confirm the recovery with -e confirm_recover=yes."],
        id="not-confirmed",
    ),
]


@pytest.mark.parametrize(("reads", "chosen", "kwargs", "fragments"), REFUSALS)
def test_refusals(reads, chosen, kwargs, fragments):
    plan = r.recovery_plan(MANAGERS, reads, chosen, HOSTS, **{"confirmed": True, **kwargs})
    for fragment in fragments:
        assert fragment in plan.refusal


def test_the_printed_plan_and_check_mode():
    plan = r.recovery_plan(MANAGERS, LOST, "", HOSTS, check_mode=True)
    assert plan.refusal == "" and plan.action == "recover"
    assert plan.lines[0].startswith(f"Recovery of swarm {A}: its managers lost their quorum (m1 says: rpc error")
    assert plan.lines[1] == "  survivor: m1 (node node-m1)"
    assert (
        plan.lines[4] == "  3. remove the entries of the lost managers: m2 (node-m2, 10.0.1.2:2377), m3 (node-m3, "
        "10.0.1.3:2377)"
    )
    assert "site.yml" in plan.lines[5] and "m2, m3" in plan.lines[5]
    assert plan.lines[-1] == "Check mode: nothing was changed."
    # the unconfirmed run prints the same plan, then stops
    unconfirmed = r.recovery_plan(MANAGERS, LOST, "", HOSTS)
    assert unconfirmed.lines == plan.lines[:-1] and unconfirmed.refusal


def test_nothing_to_recover_says_so():
    plan = r.recovery_plan(MANAGERS, {"m1": healthy("m1"), "m2": healthy("m2"), "m3": DEAD})
    assert plan.lines == [
        f"Nothing to recover: the managers of swarm {A} have their quorum (m1 serves it, 2 of 3 "
        "managers reachable, quorum 2). Use site.yml to converge the inventory."
    ]


def served(leader: bool = True, listed=("m1",), error: Optional[str] = None) -> dict[str, Any]:
    nodes = [
        {
            "id": f"node-{h}",
            "hostname": h,
            "role": "manager" if h == "m1" else "worker",
            "manager_reachability": "reachable" if h == "m1" else None,
            "leader": leader and h == "m1",
        }
        for h in listed
    ]
    out = read("m1", cluster=None if error else A, error=error, nodes=nodes)
    out["swarm_unavailable"] = f"This manager cannot read the swarm: {error}" if error else None
    out["services"] = [{"id": "s1"}, {"id": "s2"}]
    return out


RECOVERED = [
    pytest.param(served(), (), "", id="leader"),
    pytest.param(served(error=NO_LEADER), (), "m1 does not serve the swarm yet: This manager cannot", id="no-lead"),
    pytest.param(served(leader=False), (), "m1 is not the leader yet", id="not-leader"),
    pytest.param(served(listed=("m1", "m2")), ("node-m2",), "entries still listed: m2 (node-m2)", id="entry-left"),
    pytest.param(served(listed=("m1", "w1")), ("node-m2",), "", id="entries-gone"),
    pytest.param(DEAD, (), "m1 could not be read: Cannot connect", id="engine-down"),
]


@pytest.mark.parametrize(("res", "gone", "problem"), RECOVERED)
def test_recovered(res, gone, problem):
    verdict = r.recovered("m1", res, gone)
    assert verdict.problem.startswith(problem) if problem else verdict.problem == ""
    if not problem:
        assert verdict.message.startswith(f"Swarm {A} recovered on m1: leader,")
        assert verdict.message.endswith("1 of 1 manager reachable, 2 services kept.")


def test_recovered_names_the_manager_entries_outside_the_new_raft():
    """After force_new_cluster the survivor is the only raft member; the lost managers' entries keep the role
    manager without reachability (Engine 20.10, lab). A reachable host's entry is kept (``keep``)."""
    res = served(listed=("m1", "w1"))
    res["nodes"] += [
        {
            "id": f"node-{h}",
            "hostname": h,
            "role": "manager",
            "manager_reachability": None,
            "leader": False,
            "addr": IPS[h],
        }
        for h in ("m2", "m3")
    ]
    verdict = r.recovered("m1", res, keep=["node-m1", "node-m3"])
    assert verdict.problem == ""
    assert verdict.lost == [{"id": "node-m2", "host": "m2", "addr": "10.0.1.2"}]
    assert "1 of 3 managers reachable" in verdict.message
    assert r.recovered("m1", res).lost == [
        {"id": "node-m2", "host": "m2", "addr": "10.0.1.2"},
        {"id": "node-m3", "host": "m3", "addr": "10.0.1.3"},
    ]

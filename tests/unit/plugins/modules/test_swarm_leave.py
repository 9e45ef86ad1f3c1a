"""swarm_leave against the fake Engine."""

from __future__ import annotations

import pytest
from ansible_collections.hive.swarm.plugins.modules import swarm_leave
from fakes import FakeEngine, FakeSwarm

MAIN = swarm_leave.main


def managers(engine, reachable=3, unreachable=0):
    """Make ``engine`` a manager in a swarm with that many reachable/unreachable managers (itself included)."""
    swarm = engine.make_manager(FakeSwarm("q"))
    for i in range(reachable - 1):
        swarm.add_node(f"m{i + 2}", "manager", f"10.0.0.{12 + i}")
    for i in range(unreachable):
        swarm.add_node(f"u{i}", "manager", f"10.0.1.{i + 1}", reachability="unreachable", state="down")
    swarm.add_node("w1", "worker", "10.0.2.1")
    return swarm


def test_inactive_is_ok_with_one_request(engine, run_module):
    res = run_module(MAIN, {})
    assert not res.changed and not res.failed
    assert res["state"] == "inactive" and res["node_id"] is None and res["was_manager"] is False
    assert engine.requests == ["GET /info"]


def test_worker_leaves(engine, run_module):
    engine.make_worker(FakeEngine("m", "10.0.0.50").make_manager())
    node_id = engine.node_id
    check = run_module(MAIN, {}, check=True, diff=True)
    assert check.changed and engine.state == "active"
    assert check["diff"] == {"before": {"local_state": "active", "node_id": node_id, "role": "worker"},
                             "after": {"local_state": "inactive", "node_id": None, "role": None}}
    assert engine.requests == ["GET /info"]
    res = run_module(MAIN, {})
    assert res.changed and res["node_id"] == node_id and res["state"] == "inactive"
    assert engine.state == "inactive"
    assert "POST /swarm/leave" in engine.requests
    engine.requests.clear()
    assert not run_module(MAIN, {}).changed
    assert not run_module(MAIN, {}, check=True).changed
    assert engine.requests == ["GET /info", "GET /info"]


def test_last_manager_needs_force(engine, run_module):
    managers(engine, reachable=1)
    res = run_module(MAIN, {})
    assert res.failed and res["error_type"] == "QuorumError"
    assert "This is the last manager: leaving erases the swarm" in res["msg"] and "force=true" in res["msg"]
    assert engine.state == "active"
    res = run_module(MAIN, {"force": True})
    assert res.changed and engine.state == "inactive" and res["was_manager"]


def test_manager_leaves_when_quorum_survives_and_is_warned(engine, run_module):
    managers(engine, reachable=3)
    res = run_module(MAIN, {})
    assert res.changed and engine.state == "inactive"
    assert any("without being demoted" in w for w in res.warnings)
    assert engine.requests == ["GET /info", "GET /nodes", "POST /swarm/leave", "GET /info"]


def test_manager_check_mode_checks_quorum_without_leaving(engine, run_module):
    managers(engine, reachable=2, unreachable=1)
    res = run_module(MAIN, {}, check=True)
    assert res.failed and "Leaving would leave 1 reachable of 3 managers; the quorum is 2" in res["msg"]
    assert engine.state == "active"


def test_quorum_breaking_leave_needs_force(engine, run_module):
    managers(engine, reachable=2, unreachable=1)
    assert run_module(MAIN, {}).failed and engine.state == "active"
    res = run_module(MAIN, {"force": True})
    assert res.changed and engine.state == "inactive" and res.warnings == []


def test_unknown_quorum(engine, run_module):
    swarm = managers(engine, reachable=3)
    swarm.has_leader = False
    res = run_module(MAIN, {})
    assert res.failed and res["error_type"] == "QuorumError"
    assert res["msg"].startswith("Cannot check the manager quorum before leaving: GET /nodes failed (500)")
    res = run_module(MAIN, {"force": True})
    assert res.changed and any("Could not check the manager quorum" in w for w in res.warnings)


def test_locked_node_needs_force(engine, run_module):
    managers(engine, reachable=3)
    engine.state = "locked"
    res = run_module(MAIN, {})
    assert res.failed and res["error_type"] == "SwarmLocked" and "Unlock it first" in res["msg"]
    res = run_module(MAIN, {"force": True})
    assert res.changed and engine.state == "inactive"


@pytest.mark.parametrize("state", ["pending", "error"])
def test_pending_or_error_node_leaves(engine, run_module, state):
    engine.make_worker(FakeEngine("m", "10.0.0.50").make_manager())
    engine.state = state
    res = run_module(MAIN, {})
    assert res.changed and engine.state == "inactive"


def test_leave_that_did_not_happen_is_an_error(engine, run_module):
    engine.make_worker(FakeEngine("m", "10.0.0.50").make_manager())
    engine.fail_next("POST /swarm/leave", lambda eng: None)  # request "succeeds" but nothing happens

    def no_leave(eng):
        eng.requests.append("(ignored)")

    engine._leave = lambda force: no_leave(engine)
    res = run_module(MAIN, {})
    assert res.failed and "still active" in res["msg"]

"""swarm_join against the fake Engine and fake remote swarms."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from ansible_collections.hive.swarm.plugins.modules import swarm_join
from fakes import ApiFailure, FakeEngine, FakeSwarm

MAIN = swarm_join.main
A_ADDR = "10.1.0.11:2377"
B_ADDR = "10.2.0.11:2377"


@pytest.fixture
def swarm_a(engine):
    mgr = FakeEngine("a-m1", "10.1.0.11", network=engine.network)
    return mgr.make_manager(FakeSwarm("swarm-a"))


@pytest.fixture
def swarm_b(engine):
    mgr = FakeEngine("b-m1", "10.2.0.11", network=engine.network)
    return mgr.make_manager(FakeSwarm("swarm-b"))


def args(swarm, **extra):
    return {"join_token": swarm.worker_token, "remote_addrs": ["10.1.0.11"], **extra}


def test_check_mode_joins_nothing(engine, swarm_a, run_module):
    res = run_module(MAIN, args(swarm_a, role="worker"), check=True, diff=True)
    assert res.changed and res["node_id"] is None
    assert res["diff"] == {"before": {"local_state": "inactive", "node_id": None},
                           "after": {"local_state": "active", "remote_addrs": [A_ADDR], "role": "worker"}}
    assert engine.requests == ["GET /info"] and engine.state == "inactive"


def test_join_worker_then_idempotent(engine, swarm_a, run_module):
    res = run_module(MAIN, args(swarm_a, advertise_addr="127.0.0.1", availability="drain", role="worker"))
    assert res.changed and not res.failed
    assert res["node_id"] == engine.node_id and res["role"] == "worker" and res["state"] == "active"
    assert res["joined_via"] == A_ADDR
    op, body = engine.bodies[0]
    assert op == "POST /swarm/join"
    assert body == {"RemoteAddrs": [A_ADDR], "JoinToken": swarm_a.worker_token, "ListenAddr": "0.0.0.0:2377",
                    "AdvertiseAddr": "127.0.0.1", "Availability": "drain"}
    assert swarm_a.nodes[-1]["Spec"]["Availability"] == "drain"
    assert swarm_a.worker_token not in json.dumps({k: v for k, v in res.result.items() if k != "invocation"})
    engine.requests.clear()
    again = run_module(MAIN, args(swarm_a, role="worker"))
    assert not again.changed and again["node_id"] == res["node_id"] and again["role"] == "worker"
    assert engine.requests == ["GET /info"]  # identity from the node's root CA file: no extra request
    engine.requests.clear()
    check = run_module(MAIN, args(swarm_a, role="worker"), check=True, diff=True)
    assert not check.changed and "diff" not in check.result and engine.requests == ["GET /info"]


def test_join_manager_waits_for_control_and_is_idempotent(engine, swarm_a, run_module):
    engine.pending_polls = 1  # the first /info after the join still says pending
    res = run_module(MAIN, {"join_token": swarm_a.manager_token, "remote_addrs": ["10.1.0.11:2377"],
                            "role": "manager"})
    assert res.changed and res["role"] == "manager" and engine.manager
    engine.requests.clear()
    again = run_module(MAIN, {"join_token": swarm_a.manager_token, "remote_addrs": ["10.1.0.11"]})
    assert not again.changed and again["role"] == "manager"
    assert engine.requests == ["GET /info"]  # identity from /info TrustRoot


def test_addresses_are_tried_in_turn(engine, swarm_a, run_module):
    res = run_module(MAIN, args(swarm_a, remote_addrs=["10.9.9.9", "10.1.0.11"]))
    assert res.changed and res["joined_via"] == A_ADDR
    # the black-holed first address left the node pending: it was force-left before the next try
    assert engine.requests == ["GET /info", "POST /swarm/join", "GET /info", "POST /swarm/leave",
                               "GET /info", "POST /swarm/join", "GET /info"]
    assert [b["RemoteAddrs"] for op, b in engine.bodies if op == "POST /swarm/join"] == [["10.9.9.9:2377"], [A_ADDR]]


def test_all_addresses_failing_is_one_clear_error(engine, swarm_a, run_module):
    engine.fail_next("POST /swarm/join", ApiFailure(503, "rpc error: code = Unavailable desc = connection refused"))
    res = run_module(MAIN, args(swarm_a, remote_addrs=["10.1.0.11", "10.9.9.9"]))
    assert res.failed and res["error_type"] == "JoinFailed"
    assert "Could not join through any of 10.1.0.11:2377, 10.9.9.9:2377" in res["msg"]
    assert "10.1.0.11:2377: POST /swarm/join failed (503): rpc error" in res["msg"]
    assert "10.9.9.9:2377: POST /swarm/join failed (503): Timeout was reached" in res["msg"]
    assert engine.state == "inactive"


def test_token_of_another_swarm_is_refused_and_nothing_changes(engine, swarm_a, swarm_b, run_module):
    res = run_module(MAIN, {"join_token": swarm_b.worker_token, "remote_addrs": ["10.1.0.11"]})
    assert res.failed and res["error_type"] == "WrongSwarm"
    assert "belongs to another swarm than the managers at 10.1.0.11:2377" in res["msg"]
    assert "remote CA does not match fingerprint" in res["msg"]
    assert engine.state == "inactive" and len(swarm_a.nodes) == 1 and len(swarm_b.nodes) == 1
    assert swarm_b.worker_token not in res["msg"]


def test_wrong_secret_stops_at_once(engine, swarm_a, run_module):
    token = swarm_a.worker_token[:-5] + "zzzzz"
    res = run_module(MAIN, args(swarm_a, join_token=token, remote_addrs=["10.1.0.11", "10.9.9.9"]))
    assert res.failed and res["error_type"] == "InvalidParameter"
    assert "A valid join token is necessary" in res["msg"]
    assert engine.count("POST /swarm/join") == 1 and token not in res["msg"]


def test_malformed_token_fails_before_any_request(engine, run_module):
    res = run_module(MAIN, {"join_token": "SWMTKN-1-nope", "remote_addrs": ["10.1.0.11"]})
    assert res.failed and "join token is malformed" in res["msg"]
    assert engine.requests == []


def test_already_in_another_swarm(engine, swarm_a, swarm_b, run_module):
    engine.make_worker(swarm_b)
    res = run_module(MAIN, args(swarm_a))
    assert res.failed and res["error_type"] == "WrongSwarm"
    assert "already in another swarm (the swarm of managers 10.2.0.11:2377)" in res["msg"]
    assert "force_rejoin=true" in res["msg"]
    assert engine.swarm is swarm_b and engine.count("POST") == 0


def test_manager_of_another_swarm_is_named_by_id(engine, swarm_a, run_module):
    other = engine.make_manager(FakeSwarm("swarm-c"))
    res = run_module(MAIN, args(swarm_a))
    assert res.failed and f"already in another swarm (swarm {other.id})" in res["msg"]


def test_force_rejoin_moves_the_node(engine, swarm_a, swarm_b, run_module):
    engine.make_worker(swarm_b)
    old_id = engine.node_id
    res = run_module(MAIN, args(swarm_a, force_rejoin=True), diff=True)
    assert res.changed and engine.swarm is swarm_a and res["node_id"] != old_id
    assert res["diff"]["before"] == {"local_state": "active", "node_id": old_id}
    assert engine.requests[:3] == ["GET /info", "POST /swarm/leave", "GET /info"]


def test_role_mismatch_fails(engine, swarm_a, run_module):
    engine.make_worker(swarm_a)
    res = run_module(MAIN, args(swarm_a, join_token=swarm_a.manager_token, role="manager"))
    assert res.failed and "already in this swarm as a worker, not a manager" in res["msg"]
    assert "hive.swarm.swarm_node" in res["msg"]


def test_identity_fallback_by_manager_addresses_for_a_remote_engine(engine, swarm_a, run_module):
    engine.make_worker(swarm_a)
    remote = {"docker_host": "tcp://10.0.0.99:2375"}
    res = run_module(MAIN, args(swarm_a, **remote))
    assert not res.changed and not res.failed
    res = run_module(MAIN, args(swarm_a, remote_addrs=["10.7.7.7"], **remote))
    assert res.failed and "cannot be verified to be the token's swarm" in res["msg"]


def test_unreadable_root_ca_file_falls_back_to_addresses(engine, swarm_a, run_module):
    engine.make_worker(swarm_a)
    os.unlink(os.path.join(engine.docker_root, "swarm", "certificates", "swarm-root-ca.crt"))
    assert not run_module(MAIN, args(swarm_a)).changed


def test_pending_that_completes_is_not_rejoined(engine, swarm_a, run_module):
    engine.make_worker(swarm_a)
    engine.pending_polls = 3
    res = run_module(MAIN, args(swarm_a))
    assert not res.changed and engine.count("POST") == 0


def test_stuck_pending_needs_recover(engine, swarm_a, run_module):
    engine.state = "pending"
    res = run_module(MAIN, args(swarm_a, wait_timeout=3))
    assert res.failed and "swarm state is pending" in res["msg"] and "recover=true" in res["msg"]
    assert engine.clock.slept >= 3 and engine.count("POST") == 0
    res = run_module(MAIN, args(swarm_a, wait_timeout=1, recover=True))
    assert res.changed and engine.state == "active" and engine.swarm is swarm_a


def test_stuck_pending_member_recovers_within_one_budget(engine, swarm_a, run_module):
    """A member whose engine restarted and stays pending: half the budget to settle, then it leaves and joins
    anew within the other half, and says which node ID it left behind (campaign seed 7, sequence 52)."""
    engine.make_worker(swarm_a)
    old_id = engine.node_id
    engine.state = "pending"
    res = run_module(MAIN, args(swarm_a, wait_timeout=20, recover=True))
    assert res.changed and engine.state == "active" and res["left_node_id"] == old_id
    assert res["node_id"] == engine.node_id != old_id
    assert 10 <= engine.clock.slept <= 12  # settled for half the budget (the last poll may pass it a little)


def test_check_mode_says_which_node_id_a_stuck_member_would_leave(engine, swarm_a, run_module):
    engine.make_worker(swarm_a)
    old_id = engine.node_id
    engine.state = "pending"
    res = run_module(MAIN, args(swarm_a, wait_timeout=4, recover=True), check=True)
    assert res.changed and res["left_node_id"] == old_id and res["node_id"] is None
    assert engine.count("POST") == 0 and engine.node_id == old_id


def test_budget_bounds_every_wait_of_a_recovery(engine, swarm_a, run_module):
    """Settle, leave, join and the wait for active share wait_timeout: the task timeout the role derives from it
    fires only for a host that stops answering."""
    engine.make_worker(swarm_a)
    engine.state = "pending"
    engine.after_join_state = "pending"
    res = run_module(MAIN, args(swarm_a, wait_timeout=20, recover=True))
    assert res.failed and res["error_type"] == "WaitTimeout" and res.changed
    assert engine.clock.slept <= 20 + 2.5  # the budget, plus at most one poll delay
    assert engine.requests.count("POST /swarm/leave") == 1


def test_no_left_node_id_when_nothing_was_left(engine, swarm_a, run_module):
    res = run_module(MAIN, args(swarm_a))
    assert res.changed and res["left_node_id"] is None
    assert run_module(MAIN, args(swarm_a))["left_node_id"] is None


def test_error_state_recover(engine, swarm_a, run_module):
    engine.state, engine.error = "error", "certificate expired"
    res = run_module(MAIN, args(swarm_a))
    assert res.failed and "swarm state is error (certificate expired)" in res["msg"]
    res = run_module(MAIN, args(swarm_a, recover=True))
    assert res.changed and engine.state == "active"
    assert engine.requests.count("POST /swarm/leave") == 1


def test_locked_node(engine, swarm_a, run_module):
    engine.make_worker(swarm_a)
    engine.state = "locked"
    res = run_module(MAIN, args(swarm_a))
    assert res.failed and res["error_type"] == "SwarmLocked"
    res = run_module(MAIN, args(swarm_a, force_rejoin=True))
    assert res.changed and engine.state == "active"


def test_join_timeout_waiting_for_active(engine, swarm_a, run_module):
    engine.after_join_state = "pending"
    res = run_module(MAIN, args(swarm_a, wait_timeout=2))
    assert res.failed and res["error_type"] == "WaitTimeout"
    assert "waiting for the node to become active: the node is pending" in res["msg"]


@pytest.mark.parametrize(
    ("extra", "text"),
    [({"advertise_addr": "203.0.113.77"}, "is not an address of this host"),
     ({"data_path_addr": "nosuch0"}, "no interface 'nosuch0'"),
     ({"remote_addrs": []}, "remote_addrs is empty"),
     ({"remote_addrs": ["bad host"]}, "is not a host name or IP address")],
)
def test_bad_parameters_fail_before_any_request(engine, swarm_a, run_module, extra, text):
    res = run_module(MAIN, args(swarm_a, **extra))
    assert res.failed and text in res["msg"]
    assert engine.requests == []


def test_old_engine_refuses_availability(engine, swarm_a, run_module):
    engine.api_version = "1.27"
    res = run_module(MAIN, args(swarm_a, availability="pause"))
    assert res.failed and "Option 'availability' needs Engine API >= 1.28 (found 1.27)" in res["msg"]
    assert engine.count("POST") == 0


def test_join_error_after_which_the_node_is_active_counts_as_joined(engine, swarm_a, run_module):
    def join_then_fail(eng):
        eng._join({"RemoteAddrs": [A_ADDR], "JoinToken": swarm_a.worker_token})
        return ApiFailure(500, "context canceled")

    engine.fail_next("POST /swarm/join", join_then_fail)
    res = run_module(MAIN, args(swarm_a))
    assert res.changed and not res.failed and res["joined_via"] == A_ADDR


def test_wrong_advertised_address_warns(engine, swarm_a, run_module):
    engine.addr = "10.5.5.5"
    res = run_module(MAIN, args(swarm_a, advertise_addr="127.0.0.1"))
    assert any("advertises 10.5.5.5, not the requested 127.0.0.1" in w for w in res.warnings)


def test_failed_join_after_leaving_reports_changed(engine, swarm_a, swarm_b, run_module):
    engine.make_worker(swarm_b)
    engine.fail_next("POST /swarm/join", ApiFailure(503, "rpc error: code = Unavailable desc = refused"))
    res = run_module(MAIN, args(swarm_a, force_rejoin=True))
    assert res.failed and res["changed"] is True and engine.state == "inactive"


def test_leave_for_rejoin_that_does_not_leave_fails(engine, swarm_a, swarm_b, run_module):
    engine.make_worker(swarm_b)
    engine._leave = lambda force: None  # the Engine accepts the request but stays in the swarm
    res = run_module(MAIN, args(swarm_a, force_rejoin=True))
    assert res.failed and "but the node is still active" in res["msg"]


def test_fallback_with_an_unresolvable_remote_name(engine, swarm_a, run_module):
    engine.make_worker(swarm_a)
    res = run_module(MAIN, args(swarm_a, remote_addrs=["mgr.invalid"], docker_host="tcp://10.0.0.99:2375"))
    assert res.failed and "cannot be verified" in res["msg"]


def test_join_the_engine_finishes_in_the_background_counts_as_joined(engine, swarm_a, run_module):
    """A busy manager: the Engine answers 503 'will continue in the background' and joins a moment later."""
    def slow_join(eng):
        eng._join({"RemoteAddrs": [A_ADDR], "JoinToken": swarm_a.worker_token})
        eng.pending_polls = 2  # /info says pending twice more, then active
        return ApiFailure(503, "Timeout was reached before node joined. The attempt to join the swarm will continue "
                               "in the background. Use the \"docker info\" command to see the current swarm status.")

    engine.fail_next("POST /swarm/join", slow_join)
    res = run_module(MAIN, args(swarm_a))
    assert res.changed and not res.failed and res["joined_via"] == A_ADDR
    assert "POST /swarm/leave" not in engine.requests and engine.state == "active"


def test_join_that_never_finishes_in_the_background_is_left_and_fails(engine, swarm_a, run_module):
    res = run_module(MAIN, args(swarm_a, remote_addrs=["10.9.9.9"], wait_timeout=2))
    assert res.failed and res["error_type"] == "JoinFailed" and "will continue in the background" in res["msg"]
    assert engine.requests.count("POST /swarm/leave") == 1 and engine.state == "inactive"


BACKGROUND_503 = ("Timeout was reached before node joined. The attempt to join the swarm will continue in the "
                  "background. Use the \"docker info\" command to see the current swarm status of your node.")


def accepted_then(swarm: Any, state: str, pending_polls: int = 0) -> Any:
    """A join the swarm accepts (the node has its ID) that the Engine then continues in the background."""
    def join(eng: Any) -> ApiFailure:
        eng._join({"RemoteAddrs": [A_ADDR], "JoinToken": swarm.manager_token})
        eng.state, eng.pending_polls = state, pending_polls
        return ApiFailure(503, BACKGROUND_503)
    return join


def test_an_accepted_join_finishing_in_the_background_is_not_tried_elsewhere(engine, swarm_a, run_module):
    engine.fail_next("POST /swarm/join", accepted_then(swarm_a, "active", pending_polls=2))
    res = run_module(MAIN, args(swarm_a, join_token=swarm_a.manager_token, remote_addrs=["10.1.0.11", "10.9.9.9"]))
    assert res.changed and not res.failed and res["joined_via"] == A_ADDR
    assert engine.requests.count("POST /swarm/join") == 1 and "POST /swarm/leave" not in engine.requests


def test_an_accepted_join_that_stays_pending_is_not_left(engine, swarm_a, run_module):
    """Campaign seed 7 sequence 29: a manager accepted into the raft is a member from then on; leaving and joining
    through the next address added a second member, and the two unreachable ones cost the quorum."""
    engine.fail_next("POST /swarm/join", accepted_then(swarm_a, "pending"))
    res = run_module(MAIN, args(swarm_a, join_token=swarm_a.manager_token, remote_addrs=["10.1.0.11", "10.9.9.9"],
                                wait_timeout=4))
    assert res.failed and res["error_type"] == "JoinFailed"
    assert f"accepted this node (node {engine.node_id}, through {A_ADDR})" in res["msg"]
    assert "was not made to leave" in res["msg"]
    assert engine.requests.count("POST /swarm/join") == 1 and "POST /swarm/leave" not in engine.requests
    assert engine.state == "pending"

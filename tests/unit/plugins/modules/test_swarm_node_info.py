"""swarm_node_info against the fake Engine."""

from __future__ import annotations

import json

import pytest
from ansible_collections.hive.swarm.plugins.modules import swarm_node_info
from fakes import ApiFailure, FakeAPIClient, FakeEngine

MAIN = swarm_node_info.main


@pytest.fixture
def manager(engine):
    swarm = engine.make_manager()
    w1 = swarm.add_node("w1", "worker", "10.0.0.21", labels={"zone": "a"})
    swarm.add_node("m2", "manager", "10.0.0.12", reachability="unreachable", state="down")
    return swarm, w1


def test_inactive_node_reports_local_state_with_one_request(engine, run_module):
    res = run_module(MAIN, {})
    assert not res.failed and not res.changed
    assert res["local"]["state"] == "inactive"
    assert res["local"]["node_id"] is None
    assert res["swarm"] is None and res["nodes"] == [] and res["node"] is None
    assert res["swarm_unavailable"] == "This node is not part of a swarm."
    assert "join_tokens" not in res.result and "unlock_key" not in res.result
    assert engine.requests == ["GET /info"]


def test_local_only_is_exactly_one_request_and_includes_the_swarm_on_managers(engine, manager, run_module):
    swarm, _worker = manager
    res = run_module(MAIN, {"local_only": True})
    assert engine.requests == ["GET /info"]
    assert res["local"]["is_manager"] and res["local"]["cluster_id"] == swarm.id
    assert res["local"]["managers_count"] == 2 and res["local"]["nodes_count"] == 3
    assert res["swarm"]["id"] == swarm.id and res["swarm_unavailable"] is None


@pytest.mark.parametrize("extra", [{"nodes": True}, {"node": "w1"}, {"join_tokens": True}, {"unlock_key": True},
                                   {"tasks": True}, {"services": True}])
def test_local_only_refuses_other_reads(engine, run_module, extra):
    res = run_module(MAIN, {"local_only": True, **extra})
    assert res.failed and res["error_type"] == "InvalidParameter"
    assert "local_only cannot be combined" in res["msg"]
    assert engine.requests == []


def test_manager_default_read_is_one_request(engine, manager, run_module):
    swarm, _worker = manager
    res = run_module(MAIN, {})
    assert engine.requests == ["GET /info"]
    assert res["swarm"]["spec"]["snapshot_interval"] == 10000
    assert res["swarm"]["version"] == swarm.version
    assert res["nodes"] == [] and res["node"] is None


def test_nodes_with_filters_and_one_node(engine, manager, run_module):
    _swarm, w1 = manager
    res = run_module(MAIN, {"nodes": True, "nodes_filters": {"role": "manager"}, "node": "w1"})
    assert [n["hostname"] for n in res["nodes"]] == ["node1", "m2"]
    assert res["nodes"][1]["manager_reachability"] == "unreachable" and res["nodes"][1]["state"] == "down"
    assert res["node"]["id"] == w1["ID"] and res["node"]["labels"] == {"zone": "a"}
    # filtered list cannot answer the node lookup: a second, unfiltered listing
    assert engine.requests == ["GET /info", "GET /nodes", "GET /nodes"]


def test_unfiltered_listing_is_reused_for_the_node(engine, manager, run_module):
    _swarm, w1 = manager
    res = run_module(MAIN, {"nodes": True, "node": w1["ID"]})
    assert len(res["nodes"]) == 3 and res["node"]["hostname"] == "w1"
    assert engine.requests == ["GET /info", "GET /nodes"]


def test_unknown_node_is_null_and_ambiguous_node_fails(engine, manager, run_module):
    swarm, _worker = manager
    assert run_module(MAIN, {"node": "nope"})["node"] is None
    swarm.add_node("w1", "worker", "10.0.0.22")
    res = run_module(MAIN, {"node": "w1"})
    assert res.failed and res["error_type"] == "AmbiguousNode"
    assert "Hostname 'w1' matches 2 nodes" in res["msg"] and "address the node by its ID" in res["msg"]


def test_secrets_only_when_asked(engine, manager, run_module):
    swarm, _worker = manager
    plain = run_module(MAIN, {"nodes": True, "node": "w1"})
    dumped = json.dumps(plain.result)
    assert "SWMTKN" not in dumped and "SWMKEY" not in dumped and "TrustRoot" not in dumped
    assert engine.count("GET /swarm") == 0
    res = run_module(MAIN, {"join_tokens": True, "unlock_key": True})
    assert res["join_tokens"] == {"worker": swarm.worker_token, "manager": swarm.manager_token}
    assert res["unlock_key"] is None  # autolock is off
    swarm.spec["EncryptionConfig"]["AutoLockManagers"] = True
    assert run_module(MAIN, {"unlock_key": True})["unlock_key"] == swarm.unlock_key


def test_worker_reports_swarm_unavailable_without_failing(engine, run_module):
    mgr = FakeEngine("m1", "10.0.0.11")
    swarm = mgr.make_manager()
    engine.make_worker(swarm)
    res = run_module(MAIN, {"nodes": True, "node": "m1", "join_tokens": True, "unlock_key": True})
    assert not res.failed
    assert res["swarm_unavailable"] == ("This node is a worker; swarm and node data are only available on managers "
                                        "(10.0.0.11:2377).")
    assert res["swarm"] is None and res["nodes"] == [] and res["node"] is None
    assert res["join_tokens"] is None and res["unlock_key"] is None
    assert res["local"]["state"] == "active" and res["local"]["remote_managers"][0]["addr"] == "10.0.0.11:2377"
    assert engine.requests == ["GET /info"]


@pytest.mark.parametrize(
    ("state", "error", "reason"),
    [
        ("locked", "", "The swarm is locked on this node; unlock it to read swarm data."),
        ("pending", "", "This node is still joining a swarm (state pending)."),
        ("error", "rpc error: no route", "This node's swarm state is error: rpc error: no route."),
    ],
)
def test_unusual_states(engine, run_module, state, error, reason):
    engine.make_manager()
    engine.state, engine.error = state, error
    res = run_module(MAIN, {"nodes": True})
    assert not res.failed
    assert res["swarm_unavailable"] == reason and res["swarm"] is None
    assert res["local"]["state"] == state
    assert engine.requests == ["GET /info"]


def test_manager_without_leader_reports_instead_of_crashing(engine, manager, run_module):
    swarm, _worker = manager
    swarm.has_leader = False
    res = run_module(MAIN, {"nodes": True, "join_tokens": True})
    assert not res.failed
    assert res["swarm_unavailable"].startswith("This manager cannot read the swarm: rpc error")
    assert "does not have a leader" in res["local"]["error"]
    assert res["swarm"] is None and res["local"]["cluster_id"] is None
    assert res["nodes"] == [] and res["join_tokens"] is None
    assert engine.requests == ["GET /info"]


def test_manager_losing_its_leader_between_requests(engine, manager, run_module):
    swarm, _worker = manager

    def lose_leader(eng):
        swarm.has_leader = False

    engine.fail_next("GET /nodes", lose_leader)
    res = run_module(MAIN, {"nodes": True})
    assert not res.failed and res["swarm"] is not None
    assert res["swarm_unavailable"].startswith("GET /nodes failed (500): rpc error")
    assert res["nodes"] == []


def test_unexpected_engine_error_fails(engine, manager, run_module):
    engine.fail_next("GET /nodes", ApiFailure(500, "internal"))
    res = run_module(MAIN, {"nodes": True})
    assert res.failed and res["error_type"] == "EngineAPIError"
    assert res["msg"] == "GET /nodes failed (500): internal [engine unix:///run/docker.sock on node1]"


def test_check_mode_reads_the_same(engine, manager, run_module):
    res = run_module(MAIN, {"nodes": True}, check=True)
    assert not res.changed and len(res["nodes"]) == 3


@pytest.mark.parametrize(
    ("api_version", "sdk_min", "text", "fields"),
    [
        # below the SDK's own minimum: refused by docker-py before any request
        ("1.12", "1.24", "The Docker SDK for Python", {"asked_api": "1.12", "sdk_min_api": "1.24"}),
        # an SDK that sends it (docker 5.x: minimum 1.21) to an Engine whose minimum is 1.24 (26.1, 28.5)
        ("1.23", "1.21",
         "GET /info failed (400): client version 1.23 is too old. Minimum supported API version is 1.24",
         {"asked_api": "1.23", "engine_min_api": "1.24", "status": 400}),
    ],
)
def test_api_version_the_engine_or_sdk_refuses(engine, run_module, monkeypatch, api_version, sdk_min, text, fields):
    monkeypatch.setattr(FakeAPIClient, "MIN_API_VERSION", sdk_min)
    engine.min_api_version, engine.api_version = "1.24", "1.51"
    res = run_module(MAIN, {"api_version": api_version})
    assert res.failed and res["error_type"] == "APIVersionError"
    assert text in res["msg"] and "Leave api_version at auto" in res["msg"]
    assert {k: res[k] for k in fields} == fields
    assert "Traceback" not in json.dumps(res.result)


def test_tasks_and_services_as_views_with_filters(engine, manager, run_module):
    swarm, w1 = manager
    swarm.services = [{"ID": "s1", "Spec": {"Name": "web", "Mode": {"Replicated": {"Replicas": 2}}}},
                      {"ID": "s2", "Spec": {"Name": "agent", "Mode": {"Global": {}}, "Labels": {"a": "b"}}}]
    swarm.tasks = [{"ID": "t1", "ServiceID": "s1", "NodeID": w1["ID"], "Slot": 1, "DesiredState": "running",
                    "Status": {"State": "running", "Message": "started"}},
                   {"ID": "t2", "ServiceID": "s1", "NodeID": "other", "Slot": 2, "DesiredState": "shutdown",
                    "Status": {"State": "failed", "Err": "exit 1"}}]
    res = run_module(MAIN, {"tasks": True, "services": True})
    assert res["tasks"][1] == {"id": "t2", "service_id": "s1", "node_id": "other", "slot": 2,
                               "desired_state": "shutdown", "state": "failed", "message": None, "error": "exit 1"}
    assert res["services"] == [{"id": "s1", "name": "web", "mode": "replicated", "replicas": 2, "labels": {}},
                               {"id": "s2", "name": "agent", "mode": "global", "replicas": None, "labels": {"a": "b"}}]
    assert engine.requests == ["GET /info", "GET /tasks", "GET /services"]
    res = run_module(MAIN, {"tasks": True, "tasks_filters": {"node": [w1["ID"]], "desired_state": "running"}})
    assert [t["id"] for t in res["tasks"]] == ["t1"] and res["services"] == []


@pytest.mark.parametrize(("addresses", "cut"), [(["10.0.0.31"], True), (["10.0.0.31", "10.0.0.11"], False),
                                                ([], False)])
def test_manager_whose_address_is_gone_from_the_host_is_not_asked_for_nodes(engine, manager, run_module,
                                                                            monkeypatch, addresses, cut):
    monkeypatch.setattr(swarm_node_info, "host_ipv4_addresses", lambda: {
        "interfaces": {"eth0": (addresses or ["10.0.0.11"])[0]}, "default_ipv4": None, "addresses": addresses})
    res = run_module(MAIN, {"nodes": True, "host_addresses": True})
    assert not res.failed and res["local"]["node_addr"] == "10.0.0.11"
    if cut:
        assert res["swarm_unavailable"] == ("This manager advertises 10.0.0.11, an address this host no longer has: "
                                            "it is cut off from the swarm (re-address it).")
        assert res["swarm"] is None and res["nodes"] == [] and engine.requests == ["GET /info"]
    else:
        assert res["swarm_unavailable"] is None and len(res["nodes"]) == 3


def test_settle_timeout_rereads_until_the_leader_is_back(engine, manager, run_module):
    swarm, _worker = manager
    swarm.has_leader = False

    def leader_back(eng):
        swarm.has_leader = True

    engine.fail_next("GET /info", None, None, leader_back)
    res = run_module(MAIN, {"nodes": True, "settle_timeout": 30})
    assert not res.failed and res["local"]["error"] is None and res["settling"] is False
    assert res["swarm_unavailable"] is None and len(res["nodes"]) == 3
    assert engine.requests == ["GET /info"] * 3 + ["GET /nodes"]


def test_settle_timeout_bounds_the_whole_wait(engine, manager, run_module):
    swarm, _worker = manager
    swarm.has_leader = False
    start = engine.clock.now()
    res = run_module(MAIN, {"nodes": True, "settle_timeout": 10})
    assert not res.failed
    assert res["swarm_unavailable"].startswith("This manager cannot read the swarm: rpc error")
    assert res["settling"] is True  # still in error: the role's probe reads it again, health names it
    # no read starts after the deadline
    assert 9 < engine.clock.now() - start <= 10
    assert 10 < engine.count("GET /info") < 30 and engine.count("GET /nodes") == 0


def test_settle_timeout_counts_slow_reads(engine, manager, run_module):
    """An engine whose swarm requests run into their deadline answers each /info after 20 s."""
    swarm, _worker = manager
    swarm.has_leader = False

    def slow(eng):
        eng.clock.t += 20

    engine.fail_next("GET /info", *([slow] * 10))
    start = engine.clock.now()
    res = run_module(MAIN, {"nodes": True, "settle_timeout": 45})
    assert not res.failed and res["local"]["error"]
    # reads at 0-20 and 20-40; a third would end at 60, after the deadline
    assert engine.count("GET /info") == 2
    assert 40 <= engine.clock.now() - start <= 45


@pytest.mark.parametrize("state", ["inactive", "pending", "locked"])
def test_settle_timeout_does_not_wait_for_other_states(engine, run_module, state):
    engine.make_manager()
    engine.state, engine.error = state, "rpc error: code = DeadlineExceeded desc = context deadline exceeded"
    start = engine.clock.now()
    res = run_module(MAIN, {"settle_timeout": 30})
    assert not res.failed and res["local"]["state"] == state and res["settling"] is False
    assert engine.requests == ["GET /info"] and engine.clock.now() == start


def test_settle_timeout_does_not_wait_for_a_cut_off_manager(engine, manager, run_module, monkeypatch):
    swarm, _worker = manager
    swarm.has_leader = False
    monkeypatch.setattr(swarm_node_info, "host_ipv4_addresses", lambda: {
        "interfaces": {"eth0": "10.0.0.31"}, "default_ipv4": None, "addresses": ["10.0.0.31"]})
    res = run_module(MAIN, {"nodes": True, "host_addresses": True, "settle_timeout": 30})
    assert not res.failed and "cut off" in res["swarm_unavailable"] and res["settling"] is False
    assert engine.requests == ["GET /info"]


def test_negative_settle_timeout_is_refused(engine, run_module):
    res = run_module(MAIN, {"settle_timeout": -1})
    assert res.failed and res["error_type"] == "InvalidParameter"
    assert engine.requests == []

"""swarm_init against the fake Engine."""

from __future__ import annotations

import json

import pytest
from ansible_collections.hive.swarm.plugins.modules import swarm_init
from fakes import NO_LEADER, ApiFailure, FakeEngine

MAIN = swarm_init.main
ARGS = {"advertise_addr": "127.0.0.1", "task_history_retention_limit": 3}


def test_check_mode_creates_nothing(engine, run_module):
    res = run_module(MAIN, ARGS, check=True, diff=True)
    assert res.changed and not res.failed
    assert res["swarm_id"] is None and res["node_id"] is None
    assert res["diff"] == {"before": {"local_state": "inactive"},
                           "after": {"local_state": "active", "advertise_addr": "127.0.0.1",
                                     "task_history_retention_limit": 3}}
    assert engine.requests == ["GET /info"] and engine.state == "inactive"


def test_init_then_idempotent(engine, run_module):
    res = run_module(MAIN, ARGS, diff=True)
    assert res.changed and not res.failed
    assert engine.state == "active" and engine.manager
    assert res["swarm_id"] == engine.swarm.id and res["node_id"] == engine.node_id
    assert res["swarm"]["spec"]["task_history_retention_limit"] == 3
    op, body = engine.bodies[0]
    assert op == "POST /swarm/init"
    assert body == {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": "127.0.0.1", "ForceNewCluster": False,
                    "AutoLockManagers": False,
                    "Spec": {"Orchestration": {"TaskHistoryRetentionLimit": 3},
                             "EncryptionConfig": {"AutoLockManagers": False}}}
    assert "join_tokens" not in res.result
    engine.requests.clear()
    again = run_module(MAIN, ARGS)
    assert not again.changed and again["swarm_id"] == res["swarm_id"] and again["spec_differs"] == []
    assert again.warnings == []
    assert engine.requests == ["GET /info"]  # the no-op costs one request
    engine.requests.clear()
    check = run_module(MAIN, ARGS, check=True, diff=True)
    assert not check.changed and "diff" not in check.result
    assert engine.requests == ["GET /info"]


def test_zero_values_ignored_at_init_are_applied_by_an_update(engine, run_module):
    res = run_module(MAIN, {"task_history_retention_limit": 0, "keep_old_snapshots": 0, "autolock": True})
    assert res.changed
    assert engine.swarm.spec["Orchestration"]["TaskHistoryRetentionLimit"] == 0  # default was 5
    assert engine.swarm.spec["EncryptionConfig"]["AutoLockManagers"] is True
    assert engine.requests.count("POST /swarm/update") == 1
    assert res["swarm"]["spec"]["task_history_retention_limit"] == 0
    engine.requests.clear()
    assert not run_module(MAIN, {"task_history_retention_limit": 0, "autolock": True}).changed
    assert engine.requests == ["GET /info"]


def test_no_update_when_init_applied_everything(engine, run_module):
    run_module(MAIN, {"snapshot_interval": 5000, "labels": {"a": "b"}, "node_cert_expiry": "30d"})
    assert "POST /swarm/update" not in engine.requests
    assert engine.swarm.spec["CAConfig"]["NodeCertExpiry"] == 30 * 86400 * 10**9


def test_init_only_options_and_availability_are_sent(engine, run_module):
    res = run_module(MAIN, {"data_path_port": 7789, "default_addr_pool": ["10.20.0.0/16"], "subnet_size": 26,
                            "availability": "drain", "data_path_addr": "127.0.0.1", "listen_addr": "127.0.0.1:2377"})
    assert res.changed
    body = engine.bodies[0][1]
    assert (body["DataPathPort"], body["DefaultAddrPool"], body["SubnetSize"], body["Availability"],
            body["DataPathAddr"], body["ListenAddr"]) == (7789, ["10.20.0.0/16"], 26, "drain", "127.0.0.1",
                                                          "127.0.0.1:2377")
    assert res["swarm"]["data_path_port"] == 7789 and res["swarm"]["subnet_size"] == 26
    assert engine.swarm.nodes[0]["Spec"]["Availability"] == "drain"


def test_join_tokens_only_when_asked(engine, run_module):
    res = run_module(MAIN, {"join_tokens": True})
    assert res["join_tokens"] == {"worker": engine.swarm.worker_token, "manager": engine.swarm.manager_token}
    plain = run_module(MAIN, {})
    assert "SWMTKN" not in json.dumps(plain.result)


def test_check_mode_join_tokens_before_the_swarm_exists(engine, run_module):
    res = run_module(MAIN, {"join_tokens": True}, check=True)
    assert res["join_tokens"] is None and engine.count("GET /swarm") == 0


def test_adopt_warns_about_differences(engine, run_module):
    swarm = engine.make_manager()
    res = run_module(MAIN, {"snapshot_interval": 1, "autolock": True, "data_path_port": 5000, "subnet_size": 24})
    assert not res.changed
    assert res["swarm_id"] == swarm.id
    assert res["spec_differs"] == ["autolock", "snapshot_interval", "data_path_port"]
    assert any("differs in autolock, snapshot_interval" in w and "hive.swarm.swarm_update" in w for w in res.warnings)
    assert any("other data_path_port" in w and "init only" in w for w in res.warnings)
    assert swarm.spec["Raft"]["SnapshotInterval"] == 10000  # untouched
    assert engine.count("POST") == 0


def test_worker_cannot_adopt(engine, run_module):
    mgr = FakeEngine("m1", "10.0.0.11")
    engine.make_worker(mgr.make_manager())
    res = run_module(MAIN, {})
    assert res.failed and res["error_type"] == "NotAManager"
    assert "worker of an existing swarm (managers: 10.0.0.11:2377)" in res["msg"]
    assert engine.count("POST") == 0


@pytest.mark.parametrize(
    ("state", "error_type", "text"),
    [("locked", "SwarmLocked", "locked"), ("pending", "SwarmError", "still joining"),
     ("error", "SwarmError", "state is error: boom")],
)
def test_unusable_states_fail_clearly(engine, run_module, state, error_type, text):
    engine.make_manager()
    engine.state, engine.error = state, "boom" if state == "error" else ""
    res = run_module(MAIN, {})
    assert res.failed and res["error_type"] == error_type and text in res["msg"]
    assert engine.count("POST") == 0


def test_init_error_that_left_a_swarm_is_adopted(engine, run_module):
    def init_then_fail(eng):
        eng._init({"Spec": {}})
        return ApiFailure(500, "context deadline exceeded")

    engine.fail_next("POST /swarm/init", init_then_fail)
    res = run_module(MAIN, {})
    assert not res.failed and res.changed
    assert res["swarm_id"] == engine.swarm.id
    assert any("init request failed" in w and "adopting it" in w for w in res.warnings)


def test_init_error_without_swarm_fails_with_the_engine_message(engine, run_module):
    engine.fail_next("POST /swarm/init", ApiFailure(400, "must specify a listening address because the address to "
                                                         "advertise is not recognized as a system address"))
    res = run_module(MAIN, {})
    assert res.failed and res["status"] == 400
    assert res["msg"].startswith("POST /swarm/init failed (400): must specify a listening address")
    assert engine.requests == ["GET /info", "POST /swarm/init", "GET /info"]  # re-read before reporting


def test_failure_after_init_reports_changed(engine, run_module):
    engine.fail_next("POST /swarm/update", ApiFailure(500, "internal"))
    res = run_module(MAIN, {"task_history_retention_limit": 0})
    assert res.failed and res["changed"] is True and engine.state == "active"


def test_unsupported_option_fails_before_changing_anything(engine, run_module):
    engine.api_version = "1.38"
    res = run_module(MAIN, {"default_addr_pool": ["10.9.0.0/16"]})
    assert res.failed and res["error_type"] == "UnsupportedOption"
    assert "Option 'default_addr_pool' needs Engine API >= 1.39 (found 1.38)" in res["msg"]
    assert engine.count("POST") == 0


def test_option_needing_a_newer_api_than_the_pinned_one(engine, run_module):
    engine.api_version = "1.51"
    res = run_module(MAIN, {"default_addr_pool": ["10.9.0.0/16"], "api_version": "1.38"})
    assert res.failed and res["error_type"] == "UnsupportedOption"
    assert ("Option 'default_addr_pool' needs Engine API >= 1.39 (in use: 1.38, pinned by api_version). "
            "[engine unix:///run/docker.sock on node1] Set api_version to auto") in res["msg"]
    assert engine.count("POST") == 0 and engine.state == "inactive"


@pytest.mark.parametrize(
    ("args", "text"),
    [({"advertise_addr": "203.0.113.77"}, "is not an address of this host"),
     ({"advertise_addr": "0.0.0.0"}, "cannot be advertised"),
     ({"listen_addr": "nosuch0:2377"}, "no interface 'nosuch0'"),
     ({"data_path_port": 80}, "outside 1024 - 49151"),
     ({"subnet_size": 40}, "not a prefix length"),
     ({"node_cert_expiry": "forever"}, "is not a duration"),
     ({"signing_ca_key": "k"}, "needs signing_ca_cert")],
)
def test_bad_parameters_fail_before_any_request(engine, run_module, args, text):
    res = run_module(MAIN, args)
    assert res.failed and res["error_type"] == "InvalidParameter" and text in res["msg"]
    assert engine.requests == []


def test_force_new_cluster_only_acts_on_a_broken_swarm(engine, run_module):
    swarm = engine.make_manager()
    res = run_module(MAIN, {"force_new_cluster": True})
    assert not res.changed and any("force_new_cluster ignored" in w for w in res.warnings)
    assert engine.count("POST") == 0
    swarm.manager_addrs["dead"] = "10.0.0.12:2377"
    swarm.has_leader = False  # quorum lost
    adopted = run_module(MAIN, {})
    assert not adopted.changed and adopted["swarm_id"] is None and adopted["swarm"] is None
    assert any("does not have a leader" in w and "force_new_cluster=true" in w for w in adopted.warnings)
    res = run_module(MAIN, {"force_new_cluster": True}, diff=True)
    assert res.changed and res["swarm_id"] == swarm.id
    assert engine.bodies[-1][1]["ForceNewCluster"] is True
    assert res["diff"]["after"]["force_new_cluster"] is True
    assert swarm.manager_addrs == {engine.node_id: "10.0.0.11:2377"}


def test_force_new_cluster_on_a_restored_manager_that_stays_pending(engine, run_module):
    """A manager restarted without its peers (its raft restored from a backup) stays pending, with control
    available and a no-leader error: force_new_cluster re-creates the swarm from it; without it, the module fails."""
    swarm = engine.make_manager()
    swarm.manager_addrs["gone"] = "10.0.0.12:2377"
    swarm.has_leader = False
    engine.state, engine.error, engine.pending_control = "pending", NO_LEADER, True
    res = run_module(MAIN, {})
    assert res.failed and "still joining" in res["msg"] and engine.count("POST") == 0
    res = run_module(MAIN, {"force_new_cluster": True})
    assert res.changed, res.result
    assert res["swarm_id"] == swarm.id and res["node_id"] == engine.node_id
    assert engine.bodies[-1][1]["ForceNewCluster"] is True
    assert swarm.manager_addrs == {engine.node_id: "10.0.0.11:2377"}


def test_adopt_warns_about_every_init_only_difference(engine, run_module):
    engine.make_manager()
    res = run_module(MAIN, {"default_addr_pool": ["10.20.0.0/16"], "subnet_size": 26, "data_path_port": 4789})
    assert not res.changed and res["spec_differs"] == ["default_addr_pool", "subnet_size"]
    same = run_module(MAIN, {"default_addr_pool": ["10.0.0.0/8"], "subnet_size": 24})
    assert same["spec_differs"] == [] and same.warnings == []

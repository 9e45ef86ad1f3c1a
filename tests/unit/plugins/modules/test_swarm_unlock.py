"""swarm_unlock against the fake Engine."""

from __future__ import annotations

from ansible_collections.hive.swarm.plugins.modules import swarm_unlock

MAIN = swarm_unlock.main


def locked(engine):
    swarm = engine.make_manager()
    swarm.spec["EncryptionConfig"]["AutoLockManagers"] = True
    engine.state = "locked"
    return swarm


def test_locked_manager_is_unlocked_check_first(engine, run_module):
    swarm = locked(engine)
    check = run_module(MAIN, {"unlock_key": swarm.unlock_key}, check=True, diff=True)
    assert check.changed and check["state"] == "active" and engine.state == "locked"
    assert check["diff"] == {"before": {"local_state": "locked"}, "after": {"local_state": "active"}}
    assert "POST /swarm/unlock" not in engine.requests
    res = run_module(MAIN, {"unlock_key": swarm.unlock_key})
    assert res.changed and not res.failed and res["state"] == "active" and engine.state == "active"
    assert swarm.unlock_key not in str(res.result)
    again = run_module(MAIN, {"unlock_key": swarm.unlock_key})
    assert not again.changed and again["state"] == "active"


def test_wrong_key_is_refused_and_node_stays_locked(engine, run_module):
    locked(engine)
    wrong = "SWMKEY-1-" + "A" * 43
    res = run_module(MAIN, {"unlock_key": wrong})
    assert res.failed and res["error_type"] == "InvalidParameter"
    assert "invalid key" in res["msg"] and "old key stops working" in res["msg"]
    assert wrong not in res["msg"]
    assert engine.state == "locked"


def test_malformed_key_is_refused_before_any_request(engine, run_module):
    locked(engine)
    res = run_module(MAIN, {"unlock_key": "not-a-key"})
    assert res.failed and "The unlock key is malformed" in res["msg"] and "not-a-key" not in res["msg"]
    assert engine.requests == []


def test_not_locked_is_ok(engine, run_module):
    res = run_module(MAIN, {"unlock_key": "SWMKEY-1-" + "B" * 43})
    assert not res.changed and not res.failed and res["state"] == "inactive"
    engine.make_worker()
    res = run_module(MAIN, {"unlock_key": "SWMKEY-1-" + "B" * 43})
    assert not res.changed and res["state"] == "active"
    assert "POST /swarm/unlock" not in engine.requests

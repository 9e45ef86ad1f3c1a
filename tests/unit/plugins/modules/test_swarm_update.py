"""swarm_update against the fake Engine: read-modify-write, rotations, autolock, check mode, diff, errors."""

from __future__ import annotations

import copy
import json

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import client as client_mod
from ansible_collections.hive.swarm.plugins.modules import swarm_update
from fakes import ApiFailure, FakeEngine, FakeSwarm, default_spec, factory_for

MAIN = swarm_update.main


def custom_spec() -> dict:
    """A spec where every field differs from the Engine defaults (what a partial update must keep)."""
    spec = default_spec()
    spec["Labels"] = {"env": "prod", "team": "ops"}
    spec["Orchestration"]["TaskHistoryRetentionLimit"] = 7
    spec["Raft"].update(SnapshotInterval=20000, KeepOldSnapshots=3, LogEntriesForSlowFollowers=900)
    spec["Dispatcher"]["HeartbeatPeriod"] = 9_000_000_000
    spec["CAConfig"] = {
        "NodeCertExpiry": 3_600_000_000_000_000,
        "ExternalCAs": [{"Protocol": "cfssl", "URL": "https://ca.example:8888", "Options": {"k": "v"}}],
        "ForceRotate": 3,
    }
    spec["EncryptionConfig"]["AutoLockManagers"] = True
    return spec


@pytest.fixture
def swarm(engine) -> FakeSwarm:
    return engine.make_manager()


def posted_specs(engine) -> list:
    return [body for op, body in engine.bodies if op == "POST /swarm/update"]


def assert_no_secrets(res, allow_unlock_key: bool = False) -> None:
    text = json.dumps(res.result)
    assert "SWMTKN" not in text
    if not allow_unlock_key:
        assert "SWMKEY" not in text


# ------------------------------------------------------------------ no-op, apply, idempotence
def test_noop_is_one_request_and_unchanged(engine, swarm, run_module):
    res = run_module(MAIN, {}, diff=True)
    assert not res.failed and not res.changed
    assert engine.requests == ["GET /info"]
    assert res["swarm"]["id"] == swarm.id
    assert res["rotated"] == []
    assert res["diff"] == {"before": {}, "after": {}}
    assert "unlock_key" not in res.result
    assert_no_secrets(res)


def test_same_values_are_a_noop(engine, swarm, run_module):
    res = run_module(MAIN, {"snapshot_interval": 10000, "dispatcher_heartbeat_period": "5s", "autolock": False})
    assert not res.changed
    assert engine.count("POST") == 0


def test_one_raft_field_keeps_every_other_setting(engine, run_module):
    swarm = engine.make_manager(FakeSwarm(spec=custom_spec()))
    original = copy.deepcopy(swarm.spec)
    version = swarm.version
    res = run_module(MAIN, {"snapshot_interval": 5000}, diff=True)
    assert not res.failed and res.changed
    [sent] = posted_specs(engine)
    expected = copy.deepcopy(original)
    expected["Raft"]["SnapshotInterval"] = 5000
    assert sent == expected  # the WHOLE spec went back, only one field differs (ForceRotate, autolock kept)
    assert engine.requests == ["GET /info", "POST /swarm/update", "GET /info"]
    assert res["diff"] == {"before": {"snapshot_interval": 20000}, "after": {"snapshot_interval": 5000}}
    assert res["swarm"]["spec"]["snapshot_interval"] == 5000
    assert res["swarm"]["version"] == version + 1
    assert res["swarm"]["spec"]["labels"] == {"env": "prod", "team": "ops"}
    assert res["swarm"]["spec"]["autolock"] is True
    assert "unlock_key" not in res.result  # autolock was already on: not switched on by this task
    assert_no_secrets(res)


def test_update_sends_the_version_it_read(engine, swarm, run_module):
    swarm.version = 42
    res = run_module(MAIN, {"task_history_retention_limit": 2})
    assert not res.failed and engine.count("POST /swarm/update") == 1  # the fake refuses any other version
    assert swarm.version == 43
    assert swarm.spec["Orchestration"]["TaskHistoryRetentionLimit"] == 2


def test_reapply_is_unchanged(engine, swarm, run_module):
    first = run_module(MAIN, {"keep_old_snapshots": 4, "node_cert_expiry": "30d"})
    assert first.changed
    again = run_module(MAIN, {"keep_old_snapshots": 4, "node_cert_expiry": "30d"})
    assert not again.changed
    check_again = run_module(MAIN, {"keep_old_snapshots": 4, "node_cert_expiry": "30d"}, check=True)
    assert not check_again.changed
    assert swarm.spec["CAConfig"]["NodeCertExpiry"] == 30 * 86400 * 10**9
    assert engine.count("POST /swarm/update") == 1


def test_durations_are_sent_as_nanoseconds_and_shown_as_seconds(engine, swarm, run_module):
    res = run_module(MAIN, {"dispatcher_heartbeat_period": "1m30s"}, diff=True)
    assert swarm.spec["Dispatcher"]["HeartbeatPeriod"] == 90 * 10**9
    assert res["diff"]["after"] == {"dispatcher_heartbeat_period": 90}


def test_zero_is_a_value_not_a_reset(engine, swarm, run_module):
    res = run_module(MAIN, {"task_history_retention_limit": 0})
    assert res.changed
    assert swarm.spec["Orchestration"]["TaskHistoryRetentionLimit"] == 0
    assert swarm.spec["Raft"]["SnapshotInterval"] == 10000


# ------------------------------------------------------------------ check mode
def test_check_mode_predicts_and_sends_nothing(engine, swarm, run_module):
    before = copy.deepcopy(swarm.spec)
    res = run_module(MAIN, {"election_tick": 20, "labels": {"a": 1}}, check=True, diff=True)
    assert res.changed
    assert engine.count("POST") == 0 and engine.requests == ["GET /info"]
    assert swarm.spec == before
    assert res["swarm"]["spec"]["election_tick"] == 20
    assert res["swarm"]["spec"]["labels"] == {"a": "1"}
    assert res["diff"] == {
        "before": {"labels": {}, "election_tick": 10},
        "after": {"labels": {"a": "1"}, "election_tick": 20},
    }


def test_check_mode_rotation_is_changed_but_nothing_rotates(engine, swarm, run_module):
    token = swarm.worker_token
    res = run_module(MAIN, {"rotate_worker_token": True}, check=True, diff=True)
    assert res.changed and res["rotated"] == ["worker_token"]
    assert swarm.worker_token == token
    assert engine.count("POST") == 0
    assert res["diff"] == {"before": {"worker_token": "current"}, "after": {"worker_token": "rotated"}}
    assert_no_secrets(res)


def test_check_mode_autolock_on_returns_no_key(engine, swarm, run_module):
    res = run_module(MAIN, {"autolock": True}, check=True)
    assert res.changed and "unlock_key" not in res.result
    assert swarm.spec["EncryptionConfig"]["AutoLockManagers"] is False


# ------------------------------------------------------------------ labels
def test_labels_merge_keeps_others(engine, run_module):
    swarm = engine.make_manager(FakeSwarm(spec=custom_spec()))
    res = run_module(MAIN, {"labels": {"team": "dev", "tier": 2}}, diff=True)
    assert swarm.spec["Labels"] == {"env": "prod", "team": "dev", "tier": "2"}
    assert res["diff"]["before"] == {"labels": {"env": "prod", "team": "ops"}}
    assert res["diff"]["after"] == {"labels": {"env": "prod", "team": "dev", "tier": "2"}}


def test_labels_replace_is_exclusive(engine, run_module):
    swarm = engine.make_manager(FakeSwarm(spec=custom_spec()))
    run_module(MAIN, {"labels": {"tier": "2"}, "labels_state": "replace"})
    assert swarm.spec["Labels"] == {"tier": "2"}
    run_module(MAIN, {"labels": {}, "labels_state": "replace"})
    assert swarm.spec["Labels"] == {}


def test_labels_merge_subset_is_a_noop(engine, run_module):
    engine.make_manager(FakeSwarm(spec=custom_spec()))
    res = run_module(MAIN, {"labels": {"env": "prod"}})
    assert not res.changed and engine.count("POST") == 0


def test_replace_without_labels_warns(engine, swarm, run_module):
    res = run_module(MAIN, {"labels_state": "replace"})
    assert not res.changed
    assert any("labels_state=replace has no effect" in w for w in res.warnings)


# ------------------------------------------------------------------ rotations
def test_rotate_worker_token_sends_the_unchanged_spec(engine, run_module):
    swarm = engine.make_manager(FakeSwarm(spec=custom_spec()))
    original = copy.deepcopy(swarm.spec)
    worker, manager = swarm.worker_token, swarm.manager_token
    res = run_module(MAIN, {"rotate_worker_token": True})
    assert res.changed and res["rotated"] == ["worker_token"]
    assert swarm.worker_token != worker and swarm.manager_token == manager
    assert posted_specs(engine) == [original]
    assert "unlock_key" not in res.result
    assert_no_secrets(res)


def test_rotate_manager_token(engine, swarm, run_module):
    worker, manager = swarm.worker_token, swarm.manager_token
    res = run_module(MAIN, {"rotate_manager_token": True}, diff=True)
    assert res.changed and swarm.manager_token != manager and swarm.worker_token == worker
    assert res["diff"] == {"before": {"manager_token": "current"}, "after": {"manager_token": "rotated"}}


def test_rotation_is_changed_every_time(engine, swarm, run_module):
    assert run_module(MAIN, {"rotate_worker_token": True}).changed
    assert run_module(MAIN, {"rotate_worker_token": True}).changed
    assert engine.count("POST /swarm/update") == 2


def test_rotation_and_spec_change_in_one_update(engine, swarm, run_module):
    res = run_module(MAIN, {"rotate_worker_token": True, "snapshot_interval": 123}, diff=True)
    assert engine.count("POST /swarm/update") == 1
    assert res["diff"]["after"] == {"snapshot_interval": 123, "worker_token": "rotated"}


# ------------------------------------------------------------------ autolock and unlock key
def test_autolock_on_returns_the_key(engine, swarm, run_module):
    res = run_module(MAIN, {"autolock": True}, diff=True)
    assert res.changed
    assert swarm.spec["EncryptionConfig"]["AutoLockManagers"] is True
    assert res["unlock_key"] == swarm.unlock_key and res["unlock_key"].startswith("SWMKEY-1-")
    assert res["diff"] == {"before": {"autolock": False}, "after": {"autolock": True}}
    assert_no_secrets(res, allow_unlock_key=True)
    again = run_module(MAIN, {"autolock": True})
    assert not again.changed and "unlock_key" not in again.result


def test_autolock_off_returns_no_key(engine, run_module):
    swarm = engine.make_manager(FakeSwarm(spec=custom_spec()))
    res = run_module(MAIN, {"autolock": False})
    assert res.changed and swarm.spec["EncryptionConfig"]["AutoLockManagers"] is False
    assert "unlock_key" not in res.result
    assert swarm.spec["CAConfig"]["ForceRotate"] == 3


def test_rotate_unlock_key_returns_the_new_key(engine, run_module):
    swarm = engine.make_manager(FakeSwarm(spec=custom_spec()))
    old = swarm.unlock_key
    res = run_module(MAIN, {"rotate_unlock_key": True}, diff=True)
    assert res.changed and res["rotated"] == ["unlock_key"]
    assert res["unlock_key"] == swarm.unlock_key != old
    assert res["diff"] == {"before": {"unlock_key": "current"}, "after": {"unlock_key": "rotated"}}


def test_rotate_unlock_key_needs_autolock(engine, swarm, run_module):
    res = run_module(MAIN, {"rotate_unlock_key": True})
    assert res.failed
    assert res["error_type"] == "InvalidParameter"
    assert "rotate_unlock_key needs autolock" in res["msg"]
    assert engine.count("POST") == 0


def test_autolock_on_and_rotate_in_one_task(engine, swarm, run_module):
    res = run_module(MAIN, {"autolock": True, "rotate_unlock_key": True})
    assert res.changed and res["unlock_key"] == swarm.unlock_key


# ------------------------------------------------------------------ concurrency
def test_out_of_sequence_is_retried_on_a_fresh_read(engine, swarm, run_module):
    def concurrent_change(eng):
        eng.swarm.spec["Labels"] = {"other": "client"}
        eng.swarm.version += 1
        return ApiFailure(500, "rpc error: code = Unknown desc = update out of sequence")

    engine.fail_next("POST /swarm/update", concurrent_change)
    res = run_module(MAIN, {"snapshot_interval": 777}, diff=True)
    assert not res.failed and res.changed
    assert engine.count("POST /swarm/update") == 2
    assert swarm.spec["Labels"] == {"other": "client"}  # the other client's change survived
    assert swarm.spec["Raft"]["SnapshotInterval"] == 777
    assert res["diff"] == {"before": {"snapshot_interval": 10000}, "after": {"snapshot_interval": 777}}


def test_retry_finds_the_change_already_made(engine, swarm, run_module):
    def same_change(eng):
        eng.swarm.spec["Raft"]["SnapshotInterval"] = 777
        eng.swarm.version += 1
        return ApiFailure(500, "update out of sequence")

    engine.fail_next("POST /swarm/update", same_change)
    res = run_module(MAIN, {"snapshot_interval": 777})
    assert not res.failed and not res.changed
    assert engine.count("POST /swarm/update") == 1


def test_out_of_sequence_gives_up(engine, swarm, run_module):
    engine.fail_next("POST /swarm/update", *[ApiFailure(500, "update out of sequence") for _attempt in range(5)])
    res = run_module(MAIN, {"snapshot_interval": 777})
    assert res.failed and res["error_type"] == "UpdateConflict"
    assert "still out of sequence after 5 attempts" in res["msg"]


# ------------------------------------------------------------------ errors
def test_engine_error_is_reported(engine, swarm, run_module):
    engine.fail_next("POST /swarm/update", ApiFailure(400, "invalid spec: bad things"))
    res = run_module(MAIN, {"snapshot_interval": 1})
    assert res.failed and res["error_type"] == "EngineAPIError"
    assert "POST /swarm/update failed (400): invalid spec: bad things" in res["msg"]


def test_error_after_the_update_says_changed(engine, swarm, run_module):
    engine.fail_next("GET /swarm/unlockkey", ApiFailure(500, "boom"))
    res = run_module(MAIN, {"autolock": True})
    assert res.failed and res["changed"] is True
    assert swarm.spec["EncryptionConfig"]["AutoLockManagers"] is True


def test_worker_is_refused(engine, run_module):
    engine.make_worker()
    res = run_module(MAIN, {"snapshot_interval": 1})
    assert res.failed and res["error_type"] == "NotAManager"
    assert engine.count("POST") == 0


def test_inactive_is_refused(engine, run_module):
    res = run_module(MAIN, {"rotate_worker_token": True})
    assert res.failed and res["error_type"] == "NotInSwarm"


def test_locked_is_refused(engine, swarm, run_module):
    engine.state = "locked"
    res = run_module(MAIN, {"snapshot_interval": 1})
    assert res.failed and res["error_type"] == "SwarmLocked"


def test_signing_key_without_cert_is_refused(engine, swarm, run_module):
    res = run_module(MAIN, {"signing_ca_key": "-----BEGIN KEY-----"})
    assert res.failed and "signing_ca_key needs signing_ca_cert" in res["msg"]
    assert "BEGIN KEY" not in json.dumps(res.result)


def test_bad_duration_is_refused_before_any_request(engine, swarm, run_module):
    res = run_module(MAIN, {"node_cert_expiry": "soon"})
    assert res.failed and res["error_type"] == "InvalidParameter"
    assert engine.requests == []


# ------------------------------------------------------------------ version gates
def test_old_api_fails_only_when_the_option_is_used(tmp_path, monkeypatch, run_module):
    old = FakeEngine(api_version="1.24", docker_root=str(tmp_path / "d"))
    monkeypatch.setattr(client_mod, "new_api_client", factory_for(old))
    old.make_manager()
    res = run_module(MAIN, {"autolock": True})
    assert res.failed and res["error_type"] == "UnsupportedOption"
    assert "Option 'autolock' needs Engine API >= 1.25 (found 1.24)" in res["msg"]
    assert old.count("POST") == 0
    ok = run_module(MAIN, {"snapshot_interval": 3})
    assert not ok.failed and ok.changed


def test_old_sdk_fails_rotate_unlock_key(engine, run_module, monkeypatch):
    engine.make_manager(FakeSwarm(spec=custom_spec()))
    monkeypatch.setattr(client_mod, "SDK_VERSION", "3.7.0")
    res = run_module(MAIN, {"rotate_unlock_key": True})
    assert res.failed and res["error_type"] == "UnsupportedOption"
    assert "Docker SDK for Python >= 4.0.0 (found 3.7.0)" in res["msg"]
    assert engine.count("POST") == 0
    assert not run_module(MAIN, {"rotate_worker_token": True}).failed


# ------------------------------------------------------------------ root CA rotation (rotate_ca)
def test_rotate_ca_sends_force_rotate_plus_one_and_keeps_everything_else(engine, run_module):
    swarm = engine.make_manager(FakeSwarm(spec=custom_spec()))  # ForceRotate 3
    original = copy.deepcopy(swarm.spec)
    worker = swarm.worker_token
    res = run_module(MAIN, {"rotate_ca": True}, diff=True)
    assert not res.failed and res.changed and res["rotated"] == ["root_ca"]
    [sent] = posted_specs(engine)
    expected = copy.deepcopy(original)
    expected["CAConfig"]["ForceRotate"] = 4
    assert sent == expected
    assert res["diff"] == {"before": {"ca_force_rotate": 3, "root_ca": "current"},
                           "after": {"ca_force_rotate": 4, "root_ca": "rotated"}}
    assert swarm.worker_token == worker, "no token rotation asked"
    assert res["swarm"]["spec"]["ca_force_rotate"] == 4
    assert "unlock_key" not in res.result
    assert_no_secrets(res)


def test_rotate_ca_from_a_spec_without_force_rotate_and_drops_the_signing_cert(engine, run_module):
    spec = default_spec()
    spec["CAConfig"]["SigningCACert"] = "-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n"
    swarm = engine.make_manager(FakeSwarm(spec=spec))
    run_module(MAIN, {"rotate_ca": True, "rotate_worker_token": True})
    [sent] = posted_specs(engine)
    assert sent["CAConfig"]["ForceRotate"] == 1 and "SigningCACert" not in sent["CAConfig"]
    assert sent["CAConfig"]["NodeCertExpiry"] == 7776000000000000
    assert swarm.spec["CAConfig"]["ForceRotate"] == 1


def test_rotate_ca_every_run_is_a_new_rotation(engine, swarm, run_module):
    assert run_module(MAIN, {"rotate_ca": True}).changed
    assert run_module(MAIN, {"rotate_ca": True}).changed
    assert [body["CAConfig"]["ForceRotate"] for body in posted_specs(engine)] == [1, 2]


def test_rotate_ca_check_mode_predicts_and_sends_nothing(engine, swarm, run_module):
    res = run_module(MAIN, {"rotate_ca": True}, check=True, diff=True)
    assert res.changed and res["rotated"] == ["root_ca"] and engine.count("POST") == 0
    assert res["swarm"]["spec"]["ca_force_rotate"] == 1
    assert res["diff"]["after"] == {"ca_force_rotate": 1, "root_ca": "rotated"}
    assert "ForceRotate" not in swarm.spec["CAConfig"]


def test_rotate_ca_reads_again_when_out_of_sequence(engine, swarm, run_module):
    def someone_rotated(eng):
        eng.swarm.spec["CAConfig"]["ForceRotate"] = 7
        eng.swarm.version += 1
        return ApiFailure(500, "update out of sequence")

    engine.fail_next("POST /swarm/update", someone_rotated)
    res = run_module(MAIN, {"rotate_ca": True}, diff=True)
    assert not res.failed and res.changed
    assert [body["CAConfig"]["ForceRotate"] for body in posted_specs(engine)] == [1, 8]
    assert res["diff"]["before"]["ca_force_rotate"] == 7 and res["diff"]["after"]["ca_force_rotate"] == 8


def test_rotate_ca_refuses_explicit_ca_options(engine, swarm, run_module):
    res = run_module(MAIN, {"rotate_ca": True, "ca_force_rotate": 9})
    assert res.failed and res["error_type"] == "InvalidParameter"
    assert "rotate_ca cannot be combined with ca_force_rotate" in res["msg"]
    assert engine.count("POST") == 0


def test_rotate_ca_needs_api_1_30(tmp_path, monkeypatch, run_module):
    old = FakeEngine(api_version="1.29", docker_root=str(tmp_path / "d"))
    monkeypatch.setattr(client_mod, "new_api_client", factory_for(old))
    old.make_manager()
    res = run_module(MAIN, {"rotate_ca": True})
    assert res.failed and "Option 'rotate_ca' needs Engine API >= 1.30 (found 1.29)" in res["msg"]
    assert old.count("POST") == 0

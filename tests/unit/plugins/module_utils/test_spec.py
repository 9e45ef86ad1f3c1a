"""spec.py: SwarmSpec <-> options, read-modify-write merge, diff."""

from __future__ import annotations

import copy
import inspect

import docker
import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import spec as s
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter
from fakes import default_spec


def full_spec():
    """A spec with every field set, as an Engine returns it after CA rotations etc."""
    spec = default_spec()
    spec["Labels"] = {"team": "ops"}
    spec["CAConfig"] = {
        "NodeCertExpiry": 7776000000000000,
        "ForceRotate": 2,
        "ExternalCAs": [{"Protocol": "cfssl", "URL": "https://ca.example:8888", "Options": {"a": "b"}}],
        "SigningCACert": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----\n",
    }
    spec["EncryptionConfig"] = {"AutoLockManagers": True}
    spec["TaskDefaults"] = {"LogDriver": {"Name": "json-file"}}
    spec["SomethingNew"] = {"Kept": True}
    return spec


def test_every_create_swarm_spec_argument_is_mapped():
    params = set(inspect.signature(docker.types.SwarmSpec.__init__).parameters) - {"self", "version"}
    renamed = {"autolock_managers": "autolock"}
    dropped = {"log_driver"}  # TaskDefaults: accepted and dropped by the Engine
    assert {renamed.get(p, p) for p in params - dropped} == set(s.SPEC_OPTIONS)
    assert set(s.spec_argument_spec()) == set(s.SPEC_OPTIONS)


def test_init_spec_matches_docker_py_create_swarm_spec():
    requested = {
        "task_history_retention_limit": 3, "snapshot_interval": 5000, "keep_old_snapshots": 1,
        "log_entries_for_slow_followers": 600, "heartbeat_tick": 2, "election_tick": 20,
        "dispatcher_heartbeat_period": 7, "node_cert_expiry": "2160h", "name": "default", "labels": {"a": "b"},
        "signing_ca_cert": "CERT", "signing_ca_key": "KEY", "ca_force_rotate": 1, "autolock": True,
        "external_cas": [{"url": "https://ca:1", "protocol": "cfssl", "options": {"k": "v"}, "ca_cert": "C"}],
    }
    theirs = docker.types.SwarmSpec(
        "1.41", task_history_retention_limit=3, snapshot_interval=5000, keep_old_snapshots=1,
        log_entries_for_slow_followers=600, heartbeat_tick=2, election_tick=20,
        dispatcher_heartbeat_period=7 * 10**9, node_cert_expiry=2160 * 3600 * 10**9, name="default",
        labels={"a": "b"}, signing_ca_cert="CERT", signing_ca_key="KEY", ca_force_rotate=1, autolock_managers=True,
        external_cas=[docker.types.SwarmExternalCA("https://ca:1", protocol="cfssl", options={"k": "v"}, ca_cert="C")],
    )
    assert s.init_spec(s.requested_options(requested)) == dict(theirs)


def test_init_spec_holds_only_requested_fields():
    assert s.init_spec({"snapshot_interval": 100}) == {"Raft": {"SnapshotInterval": 100}}
    assert s.init_spec({}) == {}


def test_merge_changes_only_requested_fields_and_preserves_everything_else():
    current = full_spec()
    before = copy.deepcopy(current)
    new = s.merge_spec(current, {"snapshot_interval": 20000, "autolock": None})
    assert current == before  # not modified in place
    expected = copy.deepcopy(before)
    expected["Raft"]["SnapshotInterval"] = 20000
    assert new == expected  # ForceRotate, ExternalCAs, TaskDefaults, unknown fields: all still there


def test_merge_creates_missing_sections():
    new = s.merge_spec({"Name": "default"}, {"ca_force_rotate": 3, "labels": {"x": 1}})
    assert new == {"Name": "default", "CAConfig": {"ForceRotate": 3}, "Labels": {"x": "1"}}


def test_labels_replace_or_merge():
    current = full_spec()
    assert s.merge_spec(current, {"labels": {"env": "prod"}})["Labels"] == {"env": "prod"}
    assert s.merge_spec(current, {"labels": {"env": "prod"}}, labels_merge=True)["Labels"] == {
        "team": "ops", "env": "prod"}


@pytest.mark.parametrize(
    ("value", "ns"),
    [(5, 5 * 10**9), (1.5, 1_500_000_000), ("5", 5 * 10**9), ("5s", 5 * 10**9), ("1h30m", 5400 * 10**9),
     ("90d", 90 * 86400 * 10**9), ("2160h0m0s", 2160 * 3600 * 10**9), ("250ms", 250_000_000), ("0", 0)],
)
def test_parse_duration(value, ns):
    assert s.parse_duration(value, "x") == ns


@pytest.mark.parametrize("bad", ["", "5 s", "abc", "5x", "-5s", -1, True, "1h-5m"])
def test_parse_duration_rejects(bad):
    with pytest.raises(InvalidParameter) as exc:
        s.parse_duration(bad, "node_cert_expiry")
    assert "node_cert_expiry" in str(exc.value)


def test_format_seconds():
    assert s.format_seconds(5 * 10**9) == 5
    assert s.format_seconds(1_500_000_000) == 1.5
    assert s.format_seconds(None) == 0


def test_spec_to_options_normalises_absent_fields():
    opts = s.spec_to_options({"Name": "default"})
    assert opts == {
        "name": "default", "labels": {}, "task_history_retention_limit": 0, "snapshot_interval": 0,
        "keep_old_snapshots": 0, "log_entries_for_slow_followers": 0, "heartbeat_tick": 0, "election_tick": 0,
        "dispatcher_heartbeat_period": 0, "node_cert_expiry": 0, "external_cas": [], "signing_ca_cert": "",
        "ca_force_rotate": 0, "autolock": False,
    }
    assert "signing_ca_key" not in s.spec_to_options(full_spec())


def test_spec_to_options_of_a_full_spec():
    opts = s.spec_to_options(full_spec())
    assert opts["node_cert_expiry"] == 7776000
    assert opts["dispatcher_heartbeat_period"] == 5
    assert opts["ca_force_rotate"] == 2
    assert opts["autolock"] is True
    assert opts["external_cas"] == [
        {"url": "https://ca.example:8888", "protocol": "cfssl", "options": {"a": "b"}, "ca_cert": ""}]


def test_diff_has_exactly_the_changed_fields():
    current = full_spec()
    new = s.merge_spec(current, {"autolock": False, "node_cert_expiry": "30d", "snapshot_interval": 10000})
    before, after = s.spec_diff(current, new)
    assert before == {"node_cert_expiry": 7776000, "autolock": True}
    assert after == {"node_cert_expiry": 2592000, "autolock": False}
    assert s.spec_diff(current, copy.deepcopy(current)) == ({}, {})


def test_diff_never_shows_the_signing_key():
    current = full_spec()
    new = s.merge_spec(current, {"signing_ca_cert": "NEW", "signing_ca_key": "SECRET-KEY"})
    before, after = s.spec_diff(current, new)
    assert set(after) == {"signing_ca_cert"}
    assert "SECRET-KEY" not in repr((before, after))
    assert new["CAConfig"]["SigningCAKey"] == "SECRET-KEY"


def test_differing_options():
    current = full_spec()
    assert s.differing_options(current, {"snapshot_interval": 10000, "labels": {"team": "ops"}}) == []
    differing = s.differing_options(current, {"snapshot_interval": 1, "autolock": False})
    assert differing == ["autolock", "snapshot_interval"]
    # external CA protocol default and empty options compare equal to what the Engine returns
    ext = [{"url": "https://ca.example:8888", "protocol": "cfssl", "options": {"a": "b"}, "ca_cert": None}]
    assert s.differing_options(current, {"external_cas": ext}) == []


def test_requested_options_validates():
    assert s.requested_options({"snapshot_interval": 5, "name": None, "other": 1}) == {"snapshot_interval": 5}
    with pytest.raises(InvalidParameter, match="signing_ca_key needs signing_ca_cert"):
        s.requested_options({"signing_ca_key": "k"})
    with pytest.raises(InvalidParameter, match="cannot be negative"):
        s.requested_options({"keep_old_snapshots": -1})
    with pytest.raises(InvalidParameter, match="dispatcher_heartbeat_period"):
        s.requested_options({"dispatcher_heartbeat_period": "soon"})

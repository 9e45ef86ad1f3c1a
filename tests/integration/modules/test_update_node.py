"""swarm_update and swarm_node against real lab Engines, with both docker SDKs.

One lab per (docker SDK, Docker Engine) combination of ``harness.matrix()`` (``harness.LABS["update"]``:
modb1/modb2 for /usr/bin/python3 = Debian python3-docker 5.0.3 / the venv's docker SDK 7.x on Engine 20.10,
modb5-8 for the others); 3 managers + 3 workers each, swarm built with the docker CLI (m1 init, m2/m3 join as
managers, w1/w2 as workers; w3 stays out until the token test joins it). The tests of one lab build
on each other in file order. The SDK 5 labs run every test with full check -> apply -> re-apply ->
check sequences; the SDK 7 labs run the core paths. Engine-only behaviour (locked restarts, the Engine's
quorum refusal) is tested once per Engine of the run: on its SDK 5 lab, or on its SDK 7 lab where the run has
no SDK 5 lab of that Engine (the gating run's 26.1). Steps are batched into few playbooks: an Ansible run costs ~2 s
plus ~1 s per step. Every module result is checked against the Engine read independently
(raw HTTP on the Engine's socket via hivelab, never the SDK). Tokens and unlock keys are compared as
booleans only, so no assertion message can print one.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import hivelab
import pytest
from harness import Combo, Harness, check_engine, engine_owner, lab_for, matrix

pytestmark = [pytest.mark.lab, pytest.mark.slow]

UPDATE = "hive.swarm.swarm_update"
NODE = "hive.swarm.swarm_node"
COMBOS = matrix()


class Env:
    def __init__(self, combo: Combo, lab: hivelab.Lab, harness: Harness) -> None:
        self.combo = combo
        self.sdk = combo.sdk
        self.lab = lab
        self.h = harness
        self.ids: dict[str, str] = {}

    def name(self, short: str) -> str:
        return self.lab.host(short).name

    def ip(self, short: str) -> str:
        return self.lab.host(short).ip

    def raw_swarm(self) -> dict[str, Any]:
        """GET /swarm including JoinTokens (compare, never print)."""
        return self.lab.api("m1", "GET", "/swarm")

    def node(self, short: str) -> Optional[dict[str, Any]]:
        return self.h.node("m1", self.ids[short])

    @property
    def full(self) -> bool:
        """The SDK 5.0.3 labs run every step sequence in full; the SDK 7 labs the core paths."""
        return self.sdk == "sdk5"

    @property
    def engine_checks(self) -> bool:
        """This lab tests the Engine-only behaviour of its Engine (once per Engine of the run)."""
        return engine_owner(self.combo, COMBOS)

    def engine_once(self) -> None:
        if not self.engine_checks:
            owner = next(c for c in COMBOS if c.engine == self.combo.engine and engine_owner(c, COMBOS))
            pytest.skip(f"Engine behaviour, covered once per Engine (Engine {owner.engine}: the {owner.id} lab)")

    def steps(self, name: str, module: str, steps: list[tuple[dict[str, Any], str]], no_log: bool = False) -> Any:
        """Several steps in one playbook on ``name``; returns (results, Ansible's output)."""
        out = self.h.execute(name, module, steps, no_log=no_log)
        return out.results[self.name(name)], out.stdout


def poll(what: str, pred: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.25)


def local_state(env: Env, short: str) -> str:
    try:
        return env.h.state(short).get("LocalNodeState") or "?"
    except (hivelab.LabError, OSError):
        return "?"


def reachability(env: Env, short: str) -> Optional[str]:
    node = env.node(short)
    return ((node or {}).get("ManagerStatus") or {}).get("Reachability")


def join(env: Env, short: str, token: str) -> None:
    """POST /swarm/join on a lab host (the token goes in the body: never in an argv or an error message)."""
    env.lab.api(
        short,
        "POST",
        "/swarm/join",
        {
            "ListenAddr": "0.0.0.0:2377",
            "AdvertiseAddr": env.ip(short),
            "RemoteAddrs": [f"{env.ip('m1')}:2377"],
            "JoinToken": token,
        },
        timeout=60,
    )


@pytest.fixture(scope="module", params=COMBOS, ids=[combo.id for combo in COMBOS])
def env(request: pytest.FixtureRequest, lab_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    combo: Combo = request.param
    if not Path(combo.python).exists():
        pytest.skip(f"{combo.python} missing")
    name, net = lab_for("update", combo)
    lab = lab_factory(name, net, managers=3, workers=3, engine=combo.engine)
    harness = Harness(lab, combo.python, tmp_path_factory.mktemp(f"modb-{combo.id}"), combo=combo)
    versions = "?"
    try:
        engine = check_engine(lab, combo.engine)
        version = harness.sdk_version()
        assert version.startswith(combo.major), f"{combo.python} has docker SDK {version}, expected {combo.major}x"
        versions = f"docker SDK {version}, Engine {engine}"
        yield build_swarm(Env(combo, lab, harness))
    finally:
        print(f"[{combo.id}] {versions}: {harness.runs} ansible runs, {harness.seconds:.1f}s")
        lab.down(log=lambda _msg: None)
        lab_factory.labs.pop(name, None)


def build_swarm(e: Env) -> Env:
    """m1 inits (docker CLI); m2, m3 join as managers (each reachable before the next), w1, w2 as workers."""
    lab = e.lab
    lab.docker("m1", "swarm", "init", "--advertise-addr", e.ip("m1"))
    tokens = e.raw_swarm()["JoinTokens"]
    for short in ("m2", "m3", "w1", "w2"):
        join(e, short, tokens["Manager"] if short.startswith("m") else tokens["Worker"])
        if short.startswith("m"):
            e.ids[short] = e.h.state(short)["NodeID"]
            poll(f"{short} reachable", lambda s=short: reachability(e, s) == "reachable")
    for short in ("m1", "w1", "w2"):
        e.ids[short] = e.h.state(short)["NodeID"]
    return e


def no_secrets(text: str, what: str = "output") -> None:
    assert "SWMTKN-" not in text, f"a join token leaked into the {what}"
    assert "SWMKEY-" not in text, f"an unlock key leaked into the {what}"


# ============================================================== swarm_update
BASELINE = {  # every field away from the Engine defaults, so a partial update would show
    "Labels": {"team": "ops", "env": "lab"},
    "TaskHistoryRetentionLimit": 7,
    "Raft": {"KeepOldSnapshots": 2, "LogEntriesForSlowFollowers": 900},
    "HeartbeatPeriod": 7 * 10**9,
    "NodeCertExpiry": 1000 * 3600 * 10**9,
    "ForceRotate": 1,
    "AutoLockManagers": True,
}


def set_baseline(env: Env) -> None:
    """One raw POST /swarm/update with the whole spec (not the module under test); waits for the CA rotation
    that ForceRotate=1 starts."""
    current = env.raw_swarm()
    spec = current["Spec"]
    spec["Labels"] = BASELINE["Labels"]
    spec["Orchestration"]["TaskHistoryRetentionLimit"] = BASELINE["TaskHistoryRetentionLimit"]
    spec["Raft"].update(BASELINE["Raft"])
    spec["Dispatcher"]["HeartbeatPeriod"] = BASELINE["HeartbeatPeriod"]
    spec["CAConfig"]["NodeCertExpiry"] = BASELINE["NodeCertExpiry"]
    spec["CAConfig"]["ForceRotate"] = BASELINE["ForceRotate"]
    spec["EncryptionConfig"]["AutoLockManagers"] = BASELINE["AutoLockManagers"]
    env.lab.api("m1", "POST", f"/swarm/update?version={current['Version']['Index']}", spec)
    poll("the CA rotation", lambda: not env.raw_swarm()["RootRotationInProgress"])


def comparable(swarm: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(swarm without Version/UpdatedAt/JoinTokens, JoinTokens)."""
    data = copy.deepcopy(swarm)
    tokens = data.pop("JoinTokens")
    data.pop("Version")
    data.pop("UpdatedAt")
    return data, tokens


def test_update_one_raft_field_keeps_every_other_setting(env: Env) -> None:
    set_baseline(env)
    before = env.raw_swarm()
    args = {"snapshot_interval": 5000}
    runs = env.h.sequence("m1", UPDATE, args, ["check_diff", "diff", "apply", "check"])
    # check changed nothing: otherwise the apply after it would not be a change
    assert [r.ok().changed for r in runs] == [True, True, False, False]
    diff = {"before": {"snapshot_interval": 10000}, "after": {"snapshot_interval": 5000}}
    assert runs[0]["diff"] == runs[1]["diff"] == diff
    after = env.raw_swarm()
    assert after["Version"]["Index"] > before["Version"]["Index"]
    expected, tokens_before = comparable(before)
    expected["Spec"]["Raft"]["SnapshotInterval"] = 5000
    got, tokens_after = comparable(after)
    assert got == expected  # labels, autolock, raft, dispatcher, CA (ForceRotate, TLSInfo), orchestration
    assert tokens_after == tokens_before, "the join tokens changed"
    assert not after["RootRotationInProgress"]
    spec = runs[1]["swarm"]["spec"]
    assert (spec["snapshot_interval"], spec["labels"], spec["autolock"], spec["ca_force_rotate"]) == (
        5000,
        {"team": "ops", "env": "lab"},
        True,
        1,
    )
    assert (spec["keep_old_snapshots"], spec["dispatcher_heartbeat_period"], spec["node_cert_expiry"]) == (
        2,
        7,
        3600000,
    )
    assert runs[1]["swarm"]["version"] == after["Version"]["Index"]
    assert runs[0]["swarm"]["spec"]["snapshot_interval"] == 5000  # check mode predicts


def test_update_labels_merge_then_replace(env: Env) -> None:
    merge = {"labels": {"env": "prod", "tier": 1}}
    replace = {"labels": {"team": "ops"}, "labels_state": "replace"}
    runs, _out = env.steps("m1", UPDATE, [(merge, "apply"), (merge, "apply"), (replace, "diff"), (replace, "apply")])
    assert [r.ok().changed for r in runs] == [True, False, True, False]
    # the diff of the replace step shows the merged labels as the Engine had them
    assert runs[2]["diff"] == {
        "before": {"labels": {"team": "ops", "env": "prod", "tier": "1"}},
        "after": {"labels": {"team": "ops"}},
    }
    spec = env.raw_swarm()["Spec"]
    assert spec["Labels"] == {"team": "ops"}
    assert spec["Raft"]["SnapshotInterval"] == 5000 and spec["EncryptionConfig"]["AutoLockManagers"] is True


def test_rotate_worker_token_old_one_is_refused_new_one_joins(env: Env) -> None:
    rotate = {"rotate_worker_token": True}
    before = env.raw_swarm()["JoinTokens"]
    if env.full:
        check = env.h.run("m1", UPDATE, rotate, check=True, diff=True).ok()
        assert check.changed and check["rotated"] == ["worker_token"]
        assert check["diff"] == {"before": {"worker_token": "current"}, "after": {"worker_token": "rotated"}}
        assert env.raw_swarm()["JoinTokens"] == before, "check mode rotated a token"
    runs, stdout = env.steps("m1", UPDATE, [(rotate, "apply"), (rotate, "apply")] if env.full else [(rotate, "apply")])
    assert all(r.ok().changed for r in runs)  # a rotation is a change every time
    assert runs[0]["rotated"] == ["worker_token"] and "unlock_key" not in runs[0]
    no_secrets(stdout)
    no_secrets(json.dumps([r.data for r in runs]), "results")
    after = env.raw_swarm()["JoinTokens"]
    assert after["Worker"] != before["Worker"]
    assert after["Manager"] == before["Manager"]

    with pytest.raises(hivelab.LabError) as refused:
        join(env, "w3", before["Worker"])
    assert "HTTP 400" in str(refused.value) and "A valid join token is necessary" in str(refused.value)
    assert local_state(env, "w3") == "inactive"
    join(env, "w3", after["Worker"])
    assert local_state(env, "w3") == "active"
    env.ids["w3"] = env.h.state("w3")["NodeID"]
    assert env.node("w3")["Spec"]["Role"] == "worker"


def restart_locked_and_unlock(env: Env, key: str, old_key: Optional[str] = None) -> None:
    env.lab.stop("m3")
    env.lab.start("m3")
    poll("m3 locked after the restart", lambda: local_state(env, "m3") == "locked")
    if old_key is not None:
        with pytest.raises(hivelab.LabError) as wrong:
            env.lab.api("m3", "POST", "/swarm/unlock", {"UnlockKey": old_key})
        assert "HTTP 401" in str(wrong.value)
        assert local_state(env, "m3") == "locked"
    env.lab.api("m3", "POST", "/swarm/unlock", {"UnlockKey": key})
    poll("m3 active after unlock", lambda: local_state(env, "m3") == "active")
    poll("m3 reachable again", lambda: reachability(env, "m3") == "reachable")


def test_autolock_off_and_on_returns_the_key_and_restart_is_locked(env: Env) -> None:
    off, on = {"autolock": False}, {"autolock": True}
    kinds = ["check", "apply", "apply", "check"] if env.full else ["apply"]
    runs, stdout = env.steps("m1", UPDATE, [(off, k) for k in kinds] + [(on, k) for k in kinds], no_log=True)
    no_secrets(stdout)
    changed = [r.ok().changed for r in runs]
    assert changed == ([True, True, False, False] * 2 if env.full else [True, True])
    with_key = [i for i, r in enumerate(runs) if "unlock_key" in r]
    assert with_key == [len(kinds) + (1 if env.full else 0)]  # only the apply that switched autolock on
    key = runs[with_key[0]]["unlock_key"]
    assert isinstance(key, str) and key.startswith("SWMKEY-1-")
    spec = env.raw_swarm()["Spec"]
    assert spec["EncryptionConfig"]["AutoLockManagers"] is True
    assert spec["Labels"] == {"team": "ops"} and spec["CAConfig"]["ForceRotate"] == 1
    assert env.lab.api("m1", "GET", "/swarm/unlockkey")["UnlockKey"] == key, "returned key is not the Engine's"
    if env.engine_checks:
        restart_locked_and_unlock(env, key)


def test_rotate_unlock_key(env: Env) -> None:
    env.engine_once()
    old = env.lab.api("m1", "GET", "/swarm/unlockkey")["UnlockKey"]
    runs, stdout = env.steps("m1", UPDATE, [({"rotate_unlock_key": True}, "apply")], no_log=True)
    no_secrets(stdout)
    res = runs[0].ok()
    assert res.changed and res["rotated"] == ["unlock_key"]
    new = res["unlock_key"]
    assert new.startswith("SWMKEY-1-") and new != old
    assert env.lab.api("m1", "GET", "/swarm/unlockkey")["UnlockKey"] == new
    restart_locked_and_unlock(env, new, old_key=old)


def test_autolock_off_then_rotate_unlock_key_is_refused(env: Env) -> None:
    runs, stdout = env.steps("m1", UPDATE, [({"autolock": False}, "apply"), ({"rotate_unlock_key": True}, "apply")])
    no_secrets(stdout)
    assert runs[0].ok().changed and "unlock_key" not in runs[0]
    assert runs[1].failed and "rotate_unlock_key needs autolock" in runs[1].msg
    swarm = env.raw_swarm()
    assert swarm["Spec"]["EncryptionConfig"]["AutoLockManagers"] is False
    assert env.lab.api("m1", "GET", "/swarm/unlockkey")["UnlockKey"] == ""


# ============================================================== swarm_node
def test_node_labels_merge_and_replace(env: Env) -> None:
    args = {"node": env.name("w1"), "labels": {"zone": "a", "tier": 1}}
    runs = env.h.sequence("m1", NODE, args, ["check_diff", "diff", "apply", "check"])
    assert [r.ok().changed for r in runs] == [True, True, False, False]
    diff = {"before": {"labels": {}}, "after": {"labels": {"zone": "a", "tier": "1"}}}
    assert runs[0]["diff"] == runs[1]["diff"] == diff
    assert env.node("w1")["Spec"]["Labels"] == {"zone": "a", "tier": "1"}
    assert runs[2]["node"]["labels"] == {"zone": "a", "tier": "1"} and runs[2]["node"]["id"] == env.ids["w1"]

    merge = {"node": env.ids["w1"], "labels": {"rack": "r1"}}
    replace = {"node": env.ids["w1"], "labels": {"zone": "b"}, "labels_state": "replace"}
    kinds = ["check", "diff", "apply", "check"] if env.full else ["diff", "apply"]
    runs, _out = env.steps("m1", NODE, [(merge, "apply")] + [(replace, k) for k in kinds])
    assert [r.ok().changed for r in runs] == [True] + ([True, True, False, False] if env.full else [True, False])
    replaced = runs[2] if env.full else runs[1]
    assert replaced["diff"] == {
        "before": {"labels": {"zone": "a", "tier": "1", "rack": "r1"}},
        "after": {"labels": {"zone": "b"}},
    }
    assert env.node("w1")["Spec"] == {"Labels": {"zone": "b"}, "Role": "worker", "Availability": "active"}


def test_node_availability_drain(env: Env) -> None:
    args = {"node": env.name("w1"), "availability": "drain"}
    runs = env.h.sequence("m1", NODE, args, ["check", "diff", "apply", "check"] if env.full else ["diff", "apply"])
    assert [r.ok().changed for r in runs] == ([True, True, False, False] if env.full else [True, False])
    assert runs[-3 if env.full else 0]["diff"] == {
        "before": {"availability": "active"},
        "after": {"availability": "drain"},
    }
    assert env.node("w1")["Spec"] == {"Labels": {"zone": "b"}, "Role": "worker", "Availability": "drain"}


def test_node_promote_and_demote(env: Env) -> None:
    kinds = ["check", "apply", "apply", "check"] if env.full else ["apply", "apply"]
    runs = env.h.sequence("m1", NODE, {"node": env.name("w2"), "role": "manager"}, kinds)
    assert [r.ok().changed for r in runs] == ([True, True, False, False] if env.full else [True, False])
    promoted = runs[1 if env.full else 0]
    assert promoted["node"]["role"] == "manager" and promoted["node"]["manager_reachability"] == "reachable"
    assert reachability(env, "w2") == "reachable"  # the module waited until it is a reachable manager

    kinds = ["check", "diff", "apply", "check"] if env.full else ["diff", "apply"]
    runs = env.h.sequence("m1", NODE, {"node": env.ids["w2"], "role": "worker"}, kinds)
    assert [r.ok().changed for r in runs] == ([True, True, False, False] if env.full else [True, False])
    demoted = runs[-3 if env.full else 0]
    assert demoted["diff"] == {"before": {"role": "manager"}, "after": {"role": "worker"}}
    assert demoted["node"]["manager_reachability"] is None  # the module waited until it left the raft
    node = env.node("w2")
    assert node["Spec"]["Role"] == "worker" and "ManagerStatus" not in node


def test_demotion_that_breaks_quorum_is_refused(env: Env) -> None:
    env.engine_once()
    env.lab.stop("m3")
    try:
        poll("m3 unreachable", lambda: reachability(env, "m3") == "unreachable")
        before = env.node("m2")
        args = {"node": env.name("m2"), "role": "worker", "availability": "drain"}
        runs = env.h.sequence("m1", NODE, args, ["check", "apply"])
        for res in runs:
            assert res.failed and res["error_type"] == "QuorumError"
            assert (
                f"Refusing to demote {env.name('m2')}: 1 of the remaining 2 managers would be reachable, "
                "fewer than the quorum of 2."
            ) in res.msg
        after = env.node("m2")
        assert after["Spec"] == before["Spec"]  # (the Engine bumps Version by itself, e.g. status updates)
        assert after["ManagerStatus"]["Reachability"] == "reachable"
    finally:
        env.lab.start("m3")
        poll("m3 reachable again", lambda: reachability(env, "m3") == "reachable", timeout=90)


def test_remove_node(env: Env) -> None:
    """A ready node is refused (nothing changes); a stopped one is drained and removed once it is down."""
    env.lab.stop("w3")
    before = env.node("w2")
    ready = {"node": env.name("w2"), "state": "absent", "wait_timeout": 2}
    gone = {"node": env.name("w3"), "state": "absent"}
    kinds = ["check_diff", "apply", "apply", "check"] if env.full else ["apply", "apply"]
    runs, _out = env.steps("m1", NODE, [(ready, "apply")] + [(gone, k) for k in kinds])
    refused = runs[0]
    assert refused.failed and refused["error_type"] == "NodeNotDown"
    assert (
        f"Refusing to remove {env.name('w2')}: it is ready, not down (waited 2s); nothing was changed." in refused.msg
    )
    after = env.node("w2")
    assert after["Spec"] == before["Spec"]  # (the Engine bumps Version by itself after a role change)

    assert [r.ok().changed for r in runs[1:]] == ([True, True, False, False] if env.full else [True, False])
    if env.full:
        assert runs[1]["diff"] == {"before": {"state": "present"}, "after": {"state": "absent"}}
    assert all(r["node"] is None for r in runs[1:])
    assert env.node("w3") is None
    assert sorted(n["Description"]["Hostname"] for n in env.h.nodes("m1")) == sorted(
        env.name(s) for s in ("m1", "m2", "m3", "w1", "w2")
    )

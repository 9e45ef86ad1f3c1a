"""swarm_node_info, swarm_init, swarm_join, swarm_leave on real Engines (the lab), through Ansible.

Runs once per (docker SDK, Docker Engine) combination (conftest: /usr/bin/python3 = python3-docker 5.0.3,
venv = docker 7.x; Engine 20.10, 26.1 or 28.5), each on a fresh lab of 3 managers + 2 workers. The tests
build on each other in file order:

  pinned API versions on m1 (still inactive): the option gate, versions the SDK or the Engine refuses;
  m1 inits swarm A; m2 joins A as manager; w1 joins A as worker (first address refused);
  m3 inits swarm B; w2 is refused with B's token at A's manager, joins B, is refused with A's
  token, moves to A with force_rejoin; quorum refusal on m2; w1 leaves; m3 (last of B) leaves.

Every state change is checked with an independent reader (the Engine's HTTP API over its unix
socket via hivelab, not the modules or the SDK), and every module runs check -> apply -> re-apply
(changed=false) -> re-apply in check mode (changed=false).
"""

from __future__ import annotations

import hashlib
import json

import pytest

pytestmark = [pytest.mark.lab, pytest.mark.slow]

INFO = "hive.swarm.swarm_node_info"
INIT = "hive.swarm.swarm_init"
JOIN = "hive.swarm.swarm_join"
LEAVE = "hive.swarm.swarm_leave"
CTX: dict[str, dict] = {}


@pytest.fixture
def h(module_harness):
    return module_harness


@pytest.fixture
def ctx(module_harness):
    return CTX.setdefault(module_harness.python, {})


def token_digest(token: str) -> str:
    """The root CA digest in a join token, decoded independently of the collection's code."""
    return f"{int(token.split('-')[2], 36):064x}"


def no_secrets(text: str) -> bool:
    return "SWMTKN-" not in text and "SWMKEY-" not in text


def test_probe_every_host(h):
    results = h.run_hosts([x.name for x in h.lab.hosts], INFO, {"local_only": True})
    assert len(results) == 5
    for name, res in results.items():
        res.ok()
        assert res["local"]["state"] == "inactive" and res["local"]["hostname"] == name
        assert res["swarm"] is None and res["swarm_unavailable"] == "This node is not part of a swarm."
        assert h.state(name)["LocalNodeState"] == "inactive"


# API versions of the lab's Engines (GET /version: MinAPIVersion, ApiVersion; checked below) and the oldest one
# each docker SDK accepts (docker.constants.MINIMUM_DOCKER_API_VERSION).
ENGINE_API = {"20.10": ("1.12", "1.41"), "26.1": ("1.24", "1.45"), "28.5": ("1.24", "1.51")}
SDK_MIN_API = {"sdk5": "1.21", "sdk7": "1.24"}


def vt(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def test_pinned_api_versions(h):
    """api_version pinned by the user, on every Engine: the per-option gate refuses default_addr_pool (API 1.39)
    at 1.38 before any change; a version below the SDK's minimum is refused by the SDK, one below the Engine's
    minimum by the Engine (20.10 accepts down to 1.12, 26.1 and 28.5 only from 1.24), one above its maximum by
    the Engine - each as APIVersionError naming the versions and what to do, never a traceback."""
    m1 = h.host("m1")
    version = h.lab.engine_version("m1")
    engine_min, engine_max = ENGINE_API[h.combo.engine]
    assert (version["MinAPIVersion"], version["ApiVersion"]) == (engine_min, engine_max)
    sdk_min = SDK_MIN_API[h.combo.sdk]
    pool = {"advertise_addr": m1.ip, "default_addr_pool": ["10.123.0.0/16"], "api_version": "1.38"}
    gated = h.sequence("m1", INIT, pool, ["check", "apply"])
    for res in gated:
        assert res.failed and res["error_type"] == "UnsupportedOption", res.data
        assert ("Option 'default_addr_pool' needs Engine API >= 1.39 (in use: 1.38, pinned by api_version)."
                in res.msg)
        assert "Set api_version to auto" in res.msg and "or to 1.39 or newer" in res.msg
        assert res["found_api"] == "1.38" and res["needed_api"] == "1.39" and res["api_version_pinned"] is True
    assert h.state("m1")["LocalNodeState"] == "inactive"  # the Engine was not changed

    asked = ["1.12", "1.23", "1.99", "1.38"]
    out = h.execute("m1", INFO, [({"local_only": True, "api_version": v}, "apply") for v in asked])
    for v, res in zip(asked, out.results[m1.name]):
        assert "Traceback" not in json.dumps(res.data), res.data
        if vt(v) < vt(sdk_min):  # docker-py refuses it before any request
            assert res.failed and res["error_type"] == "APIVersionError", (v, res.data)
            assert res.msg.startswith(f"The Docker SDK for Python {h.sdk_version()} refused API version {v}: it "
                                      f"needs {sdk_min} or newer (API versions below {sdk_min} are no longer "
                                      "supported by this library).")
            assert res["sdk_min_api"] == sdk_min and "status" not in res
            assert f"Leave api_version at auto (the default; unset DOCKER_API_VERSION too) to use the Engine's own " \
                   f"version, or set it to {sdk_min} or newer." in res.msg
        elif vt(v) < vt(engine_min):  # sdk5 (minimum 1.21) asks 26.1/28.5 (minimum 1.24) for 1.23
            assert res.failed and res["error_type"] == "APIVersionError", (v, res.data)
            assert res.msg.startswith(f"GET /info failed (400): client version {v} is too old. Minimum supported API "
                                      f"version is {engine_min}, please upgrade your client to a newer version")
            assert f"API version {v} is older than this Engine's minimum {engine_min}. Leave api_version at auto" \
                in res.msg
            assert (res["status"], res["asked_api"], res["engine_min_api"]) == (400, v, engine_min)
        elif vt(v) > vt(engine_max):
            assert res.failed and res["error_type"] == "APIVersionError", (v, res.data)
            assert res.msg.startswith(f"GET /info failed (400): client version {v} is too new. Maximum supported API "
                                      f"version is {engine_max}")
            assert f"or set it to {engine_max} or older, or upgrade the Engine." in res.msg
            assert (res["status"], res["asked_api"], res["engine_max_api"]) == (400, v, engine_max)
        else:  # e.g. 1.23 on 20.10 with sdk5; 1.38 everywhere
            res.ok()
            assert res["local"]["state"] == "inactive" and res["local"]["hostname"] == m1.name
    assert h.state("m1")["LocalNodeState"] == "inactive"


def test_init_first_manager(h, ctx):
    m1 = h.host("m1")
    args = {"advertise_addr": m1.ip, "task_history_retention_limit": 0, "snapshot_interval": 5000,
            "labels": {"tier": "lab"}}
    c = h.cycle("m1", INIT, args)
    check, apply, again, again_check = c["check"].ok(), c["apply"].ok(), c["again"].ok(), c["again_check"].ok()
    assert check.changed and check["swarm_id"] is None
    assert check["diff"]["before"] == {"local_state": "inactive"}
    assert check["diff"]["after"]["task_history_retention_limit"] == 0
    assert c["engine_after_check"]["LocalNodeState"] == "inactive"

    assert apply.changed
    state = h.state("m1")
    assert c["engine_after_apply"]["LocalNodeState"] == state["LocalNodeState"] == "active"
    assert state["ControlAvailable"] is True and state["NodeAddr"] == m1.ip
    assert apply["swarm_id"] == state["Cluster"]["ID"] and apply["node_id"] == state["NodeID"]
    spec = h.swarm("m1")["Spec"]
    assert spec["Orchestration"]["TaskHistoryRetentionLimit"] == 0  # a zero the Engine ignores at init
    assert spec["Raft"]["SnapshotInterval"] == 5000 and spec["Labels"] == {"tier": "lab"}
    assert not again.changed and again["swarm_id"] == apply["swarm_id"] and again.warnings == []
    assert not again_check.changed
    ctx["swarm_a"] = apply["swarm_id"]


def test_info_on_the_manager(h, ctx):
    m1 = h.host("m1")
    secret_args = {"nodes": True, "node": m1.name, "join_tokens": True, "unlock_key": True}
    out = h.execute("m1", INFO, [(secret_args, "apply")], no_log=True)
    assert no_secrets(out.stdout)  # the task pattern callers use: no_log on tasks that ask for secrets
    res = out.results[m1.name][0].ok()
    tokens = res["join_tokens"]
    assert tokens["worker"].startswith("SWMTKN-1-") and tokens["manager"] != tokens["worker"]
    assert res["unlock_key"] is None  # autolock is off
    trust_root = h.swarm("m1")["TLSInfo"]["TrustRoot"]
    digest = hashlib.sha256(trust_root.encode()).hexdigest()
    assert res["swarm"]["root_ca_digest"] == digest == token_digest(tokens["worker"])
    assert res["swarm"]["id"] == ctx["swarm_a"] and res["swarm"]["spec"]["snapshot_interval"] == 5000
    assert [n["hostname"] for n in res["nodes"]] == [m1.name]
    assert res["node"]["leader"] is True and res["node"]["manager_reachability"] == "reachable"
    ctx["tokens_a"] = tokens

    plain = h.execute("m1", INFO, [({"nodes": True}, "apply")])
    assert no_secrets(json.dumps(plain.results[m1.name][0].data)) and no_secrets(plain.stdout)


def test_join_second_manager(h, ctx):
    m1, m2 = h.host("m1"), h.host("m2")
    args = {"join_token": ctx["tokens_a"]["manager"], "remote_addrs": [m1.ip], "advertise_addr": m2.ip,
            "role": "manager"}
    c = h.cycle("m2", JOIN, args)
    check, apply, again, again_check = c["check"].ok(), c["apply"].ok(), c["again"].ok(), c["again_check"].ok()
    assert check.changed and check["node_id"] is None and check["diff"]["before"]["local_state"] == "inactive"
    assert c["engine_after_check"]["LocalNodeState"] == "inactive"
    assert apply.changed and apply["role"] == "manager" and apply["joined_via"] == f"{m1.ip}:2377"
    state = h.state("m2")
    assert state["LocalNodeState"] == "active" and state["ControlAvailable"] is True
    assert apply["node_id"] == state["NodeID"] == c["engine_after_apply"]["NodeID"]
    node = h.node("m1", apply["node_id"])
    assert node["Spec"]["Role"] == "manager" and node["ManagerStatus"]["Reachability"] == "reachable"
    assert not again.changed and again["node_id"] == apply["node_id"]
    assert not again_check.changed
    assert no_secrets(c["stdout"])  # join_token is no_log: masked in the module invocation


def test_join_worker_trying_addresses_in_turn(h, ctx):
    m1, w1, w2 = h.host("m1"), h.host("w1"), h.host("w2")
    args = {"join_token": ctx["tokens_a"]["worker"], "remote_addrs": [w2.ip, m1.ip], "advertise_addr": w1.ip,
            "availability": "drain", "role": "worker"}
    c = h.cycle("w1", JOIN, args, diff=False)
    check, apply, again, again_check = c["check"].ok(), c["apply"].ok(), c["again"].ok(), c["again_check"].ok()
    assert check.changed and c["engine_after_check"]["LocalNodeState"] == "inactive"
    assert apply.changed and apply["joined_via"] == f"{m1.ip}:2377" and apply["role"] == "worker"
    state = h.state("w1")
    assert state["LocalNodeState"] == "active" and state["ControlAvailable"] is False
    assert state["NodeAddr"] == w1.ip
    node = h.node("m1", apply["node_id"])
    assert node["Spec"]["Availability"] == "drain" and node["Spec"]["Role"] == "worker"
    assert not again.changed and not again_check.changed
    assert h.state("w2")["LocalNodeState"] == "inactive"  # the refused first address left nothing behind


def test_init_on_members_adopts_or_refuses(h, ctx):
    results = h.run_hosts(["m2", "w1"], INIT, {"snapshot_interval": 5000})
    adopted = results[h.host("m2").name].ok()
    assert not adopted.changed and adopted["swarm_id"] == ctx["swarm_a"] and adopted["spec_differs"] == []
    refused = results[h.host("w1").name]
    assert refused.failed and refused["error_type"] == "NotAManager"
    assert "worker of an existing swarm (managers: " in refused.msg
    assert h.state("w1")["LocalNodeState"] == "active" and h.state("w1")["ControlAvailable"] is False


def test_token_of_another_swarm_is_refused(h, ctx):
    m1, m3 = h.host("m1"), h.host("m3")
    init_b = h.execute("m3", INIT, [({"advertise_addr": m3.ip, "join_tokens": True}, "apply")],
                       no_log=True).results[m3.name][0].ok()
    assert init_b.changed and init_b["swarm_id"] != ctx["swarm_a"]
    ctx["tokens_b"] = init_b["join_tokens"]
    nodes_before = len(h.nodes("m1"))

    res = h.run("w2", JOIN, {"join_token": ctx["tokens_b"]["worker"], "remote_addrs": [m1.ip]})
    assert res.failed and res["error_type"] == "WrongSwarm"
    assert f"belongs to another swarm than the managers at {m1.ip}:2377" in res.msg
    assert "remote CA does not match fingerprint" in res.msg
    assert h.state("w2")["LocalNodeState"] == "inactive"
    assert len(h.nodes("m1")) == nodes_before and len(h.nodes("m3")) == 1


def test_node_in_another_swarm(h, ctx):
    m1, m3, w2 = h.host("m1"), h.host("m3"), h.host("w2")
    joined_b = h.run("w2", JOIN, {"join_token": ctx["tokens_b"]["worker"], "remote_addrs": [m3.ip]}).ok()
    assert joined_b.changed
    old_id = h.state("w2")["NodeID"]
    to_a = {"join_token": ctx["tokens_a"]["worker"], "remote_addrs": [m1.ip], "role": "worker"}
    out = h.execute("w2", JOIN, [(to_a, "apply"), ({**to_a, "force_rejoin": True}, "diff"),
                                 ({**to_a, "force_rejoin": True}, "apply")])
    refused, moved, again = out.results[w2.name]
    assert refused.failed and refused["error_type"] == "WrongSwarm"
    assert f"already in another swarm (the swarm of managers {m3.ip}:2377)" in refused.msg
    assert "force_rejoin=true" in refused.msg
    assert moved.ok().changed and moved["diff"]["before"] == {"local_state": "active", "node_id": old_id}
    assert not again.ok().changed
    state = h.state("w2")
    assert state["NodeID"] == moved["node_id"] != old_id
    assert {m["Addr"] for m in state["RemoteManagers"]} <= {f"{h.host(x).ip}:2377" for x in ("m1", "m2")}
    assert h.node("m1", moved["node_id"]) is not None
    assert no_secrets(out.stdout)


def test_info_on_a_worker(h):
    m1 = h.host("m1")
    res = h.run("w2", INFO, {"nodes": True, "join_tokens": True}).ok()
    assert res["local"]["state"] == "active" and res["local"]["is_manager"] is False
    assert res["swarm"] is None and res["nodes"] == [] and res["join_tokens"] is None
    assert res["swarm_unavailable"].startswith("This node is a worker; swarm and node data are only available")
    assert f"{m1.ip}:2377" in res["swarm_unavailable"]


def test_leave_refuses_to_break_quorum(h):
    for res in h.sequence("m2", LEAVE, {}, ["check", "apply"]):
        assert res.failed and res["error_type"] == "QuorumError"
        assert "Leaving would leave 1 reachable of 2 managers; the quorum is 2" in res.msg
    assert h.state("m2")["LocalNodeState"] == "active" and h.state("m2")["ControlAvailable"] is True


def test_worker_leaves(h):
    node_id = h.state("w1")["NodeID"]
    c = h.cycle("w1", LEAVE, {})
    check, apply, again, again_check = c["check"].ok(), c["apply"].ok(), c["again"].ok(), c["again_check"].ok()
    assert check.changed and check["diff"]["after"]["local_state"] == "inactive"
    assert c["engine_after_check"]["LocalNodeState"] == "active"
    assert apply.changed and apply["node_id"] == node_id and apply["was_manager"] is False
    assert c["engine_after_apply"]["LocalNodeState"] == h.state("w1")["LocalNodeState"] == "inactive"
    assert not again.changed and not again_check.changed


def test_last_manager_leaves_only_with_force(h):
    out = h.execute("m3", LEAVE, [({}, "apply"), ({"force": True}, "apply"), ({"force": True}, "apply")])
    refused, forced, again = out.results[h.host("m3").name]
    assert refused.failed and "This is the last manager" in refused.msg
    assert forced.ok().changed and forced["was_manager"] is True
    assert not again.ok().changed
    assert h.state("m3")["LocalNodeState"] == "inactive"


def test_info_everywhere_at_the_end(h, ctx):
    results = h.run_hosts([x.name for x in h.lab.hosts], INFO, {"local_only": True})
    states = {name: res.ok()["local"]["state"] for name, res in results.items()}
    assert states == {h.host("m1").name: "active", h.host("m2").name: "active", h.host("m3").name: "inactive",
                      h.host("w1").name: "inactive", h.host("w2").name: "active"}
    assert results[h.host("m1").name]["local"]["managers_count"] == 2
    assert results[h.host("w1").name]["swarm_unavailable"] == "This node is not part of a swarm."

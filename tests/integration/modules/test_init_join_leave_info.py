"""swarm_node_info, swarm_init, swarm_join, swarm_leave on real Engines (the lab), through Ansible.

Runs once per docker SDK (conftest: /usr/bin/python3 = python3-docker 5.0.3, venv = docker 7.x),
each on a fresh lab of 3 managers + 2 workers. The tests build on each other in file order:

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

"""The action plugin hive.swarm.swarm_plan: what it reads from the play, what it returns, how it fails.

The planner's decisions are tested in tests/unit/plugins/module_utils/test_plan.py; here the plumbing: role
defaults for host variables the inventory does not set, registered probe results of play hosts and of managers
probed by delegation, facts, the plan file, refusals as task failures, and the health poll (the module call
faked) with its deadline."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock, patch

import pytest
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible_collections.hive.swarm.plugins.action import swarm_plan as action_mod
from ansible_collections.hive.swarm.plugins.plugin_utils import _poll

DEFAULTS = {"docker_swarm_labels": {}, "docker_swarm_labels_exclusive": False,
            "docker_swarm_node_availability": "active", "docker_swarm_node_state": "present",
            "docker_swarm_prune_stale_nodes": True, "other_role_var": 1}


def local(state: str = "inactive", node_id: str = "", cluster: str = "", manager: bool = False) -> dict[str, Any]:
    return {"state": state, "node_id": node_id or None, "node_addr": None, "control_available": manager,
            "error": "", "remote_managers": [], "cluster_id": cluster or None, "is_manager": manager,
            "hostname": "", "engine_version": "20.10.24"}


def node(node_id: str, hostname: str, role: str = "worker", leader: bool = False) -> dict[str, Any]:
    return {"id": node_id, "hostname": hostname, "role": role, "availability": "active", "state": "ready",
            "addr": "", "manager_reachability": "reachable" if role == "manager" else None,
            "manager_addr": None, "leader": leader, "labels": {}}


NODES = [node("id1", "m1", "manager", True), node("id2", "w1")]


def converged_probe(host: str) -> dict[str, Any]:
    if host == "m1":
        return {"local": local("active", "id1", "C1", True), "nodes": NODES, "swarm": {"id": "C1", "spec": {}},
                "swarm_unavailable": None}
    return {"local": local("active", "id2"), "nodes": [], "swarm": None, "swarm_unavailable": "worker"}


def task_vars(probes: dict[str, Any], hostvars: dict[str, dict[str, Any]] | None = None,
              **extra: Any) -> dict[str, Any]:
    hv = {h: {"ansible_host": f"10.0.0.{i + 1}", **(hostvars or {}).get(h, {})} for i, h in enumerate(("m1", "w1"))}
    for h, p in probes.items():
        hv[h]["docker_swarm__probe"] = p
    return {"groups": {"docker_swarm_manager": ["m1"], "docker_swarm_worker": ["w1"]},
            "ansible_play_hosts": ["m1", "w1"], "ansible_play_hosts_all": ["m1", "w1"], "hostvars": hv,
            "docker_swarm_prune_stale_nodes": True, **extra}


def action(args: dict[str, Any]) -> Any:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.delegate_to = "m1"
    task._role.get_default_vars.return_value = DEFAULTS
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    play_context = MagicMock()
    play_context.check_mode = False
    return action_mod.ActionModule(task, MagicMock(), play_context, MagicMock(), templar, MagicMock())


def test_inventory_stage_returns_the_lock_host_and_refuses_a_bad_inventory() -> None:
    result = action({"stage": "inventory"}).run(task_vars={**task_vars({}), "ansible_play_hosts": ["m1", "w1"]})
    facts = result["ansible_facts"]["docker_swarm__inventory"]
    assert facts["lock_host"] == "m1" and facts["absent"] == [] and facts["outside_managers"] == []
    assert facts["runner"] == "m1"
    assert facts["lock_owner"] and result["changed"] is False
    bad = task_vars({}, hostvars={"m1": {"docker_swarm_node_state": "absent"}})
    with pytest.raises(AnsibleActionFail, match="Inventory check failed: no manager"):
        action({"stage": "inventory"}).run(task_vars=bad)


def test_unknown_stage_and_arguments_are_refused() -> None:
    with pytest.raises(AnsibleActionFail, match="stage"):
        action({"stage": "bogus"}).run(task_vars=task_vars({}))


def test_plan_stage_applies_role_defaults_and_writes_the_plan_file(tmp_path: Path) -> None:
    probes = {"m1": {"local": local()}, "w1": {"local": local()}}
    path = tmp_path / "plan.json"
    tv = task_vars(probes, hostvars={"w1": {"docker_swarm_labels": {"zone": 1}}}, docker_swarm_plan_file=str(path))
    result = action({"stage": "plan"}).run(task_vars=tv)
    plan = result["ansible_facts"]["docker_swarm__plan"]
    assert plan["bootstrap"] and plan["control"] == "m1" and plan["worker_joiners"] == ["w1"]
    assert plan["node_updates"] == {"w1": {"labels": {"zone": "1"}, "labels_state": "merge"}}
    assert plan["addrs"] == {"m1": "10.0.0.1", "w1": "10.0.0.2"}
    assert result["msg"][0].split() == ["HOST", "NOW", "PLANNED"]
    assert result["msg"][-1].startswith("init 1, join 0 managers + 1 worker")
    written = json.loads(path.read_text())
    assert written["plan"]["summary"] == plan["summary"] and written["check_mode"] is False


def test_plan_stage_reads_managers_probed_outside_the_play() -> None:
    tv = task_vars({"w1": {"local": local()}})
    tv["ansible_play_hosts"] = tv["ansible_play_hosts_all"] = ["w1"]
    tv["docker_swarm__probe_outside"] = {"results": [{"item": "m1", **converged_probe("m1")}]}
    plan = action({"stage": "plan"}).run(task_vars=tv)["ansible_facts"]["docker_swarm__plan"]
    assert plan["control"] == "m1" and not plan["bootstrap"] and plan["worker_joiners"] == ["w1"]


def test_plan_stage_fails_with_the_refusal() -> None:
    probes = {"m1": {"local": local("active", "id1", "C1", True)}, "w1": {"local": local("active", "x", "C2", True)}}
    tv = task_vars(probes)
    tv["groups"]["docker_swarm_manager"] = ["m1", "w1"]
    tv["groups"]["docker_swarm_worker"] = []
    with pytest.raises(AnsibleActionFail, match="Cannot converge: inventory hosts are in different swarms"):
        action({"stage": "plan"}).run(task_vars=tv)


def test_joined_stage_merges_init_and_join_results() -> None:
    plan = {"bootstrap": True, "control": "m1", "node_ids": {}, "worker_joiners": ["w1"]}
    tv = task_vars({}, docker_swarm__plan=plan, docker_swarm__init={"node_id": "id1"}, docker_swarm__joined={})
    tv["hostvars"]["w1"]["docker_swarm__join_worker"] = {"node_id": "id2"}
    facts = action({"stage": "joined"}).run(task_vars=tv)["ansible_facts"]
    assert facts["docker_swarm__node_ids"] == {"m1": "id1", "w1": "id2"}
    assert facts["docker_swarm__left_behind"] == []


def test_joined_stage_lists_the_entries_of_members_that_joined_anew() -> None:
    entry = {"id": "old-w1", "hostname": "w1", "role": "worker", "state": "down"}
    plan = {"control": "m1", "node_ids": {"m1": "id1", "w1": "old-w1", "w2": "old-w2"},
            "worker_joiners": ["w1", "w2"], "replaces": {"w1": entry, "w2": {**entry, "id": "old-w2"}}}
    tv = task_vars({}, docker_swarm__plan=plan, docker_swarm__joined={})
    tv["hostvars"]["w1"]["docker_swarm__join_worker"] = {"node_id": "new-w1"}
    tv["hostvars"]["w2"] = {"docker_swarm__join_worker": {"node_id": "old-w2"}}  # it settled
    facts = action({"stage": "joined"}).run(task_vars=tv)["ansible_facts"]
    assert facts["docker_swarm__left_behind"] == [entry]
    # check mode: no node IDs, the joins say which entries they would leave (a manager's through docker_swarm__left)
    plan["manager_joiners"], plan["node_ids"]["m2"] = ["m2"], "old-m2"
    plan["replaces"]["m2"] = {**entry, "id": "old-m2", "hostname": "m2"}
    tv = task_vars({}, docker_swarm__plan=plan, docker_swarm__joined={"m2": ""}, docker_swarm__left={"m2": "old-m2"})
    tv["hostvars"]["w1"]["docker_swarm__join_worker"] = {"node_id": None, "left_node_id": "old-w1"}
    tv["hostvars"]["w2"] = {"docker_swarm__join_worker": {"node_id": None, "left_node_id": None}}
    facts = action({"stage": "joined"}).run(task_vars=tv)["ansible_facts"]
    assert [e["id"] for e in facts["docker_swarm__left_behind"]] == ["old-w1", "old-m2"]


def test_preflight_stage_names_the_blocked_port() -> None:
    plan = {"preflight": {"m1": [], "w1": []}}
    tv = task_vars({}, docker_swarm__plan=plan)
    tv["hostvars"]["w1"]["docker_swarm__preflight_listen"] = {"in_use": {"tcp": [], "udp": []}}
    tv["hostvars"]["m1"]["docker_swarm__preflight_probe"] = {"results": [
        {"name": "w1", "addr": "10.0.0.2", "proto": "tcp", "port": 7946, "status": "timeout"},
        {"name": "w1", "addr": "10.0.0.2", "proto": "udp", "port": 4789, "status": "ok"}]}
    with pytest.raises(AnsibleActionFail, match=r"7946/tcp on w1 \(10.0.0.2\) is not reachable from m1 \(timeout\)"):
        action({"stage": "preflight"}).run(task_vars=tv)


def test_health_without_poll_judges_the_probe() -> None:
    probes = {h: converged_probe(h) for h in ("m1", "w1")}
    tv = task_vars(probes, docker_swarm__plan={"control": "m1", "control_after": "m1", "swarm_id": "C1",
                                               "node_ids": {"m1": "id1", "w1": "id2"}})
    result = action({"stage": "health"}).run(task_vars=tv)
    assert result["msg"].startswith("Swarm C1: 2 nodes, 1 managers, leader m1")


def test_health_without_poll_reads_again_when_the_probe_saw_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: None)
    down = [NODES[0], {**NODES[1], "state": "down"}]
    probe = {**converged_probe("m1"), "nodes": down}
    tv = task_vars({"m1": probe, "w1": converged_probe("w1")}, docker_swarm__plan={"control": "m1", "swarm_id": "C1"},
                   docker_swarm__node_ids={"m1": "id1", "w1": "id2"})
    reads = iter([{"nodes": down, "swarm": {"id": "C1"}}, {"nodes": NODES, "swarm": {"id": "C1"}}])
    act = action({"stage": "health", "timeout": 30})
    act._execute_module = lambda **kw: next(reads)
    assert act.run(task_vars=tv)["msg"].startswith("Swarm C1: 2 nodes")
    assert next(reads, None) is None, "read the node list until the node was ready again"


def test_health_poll_reads_until_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: None)
    tv = task_vars({}, docker_swarm__plan={"control": "m1", "control_after": "m1", "swarm_id": "C1"},
                   docker_swarm__node_ids={"m1": "id1", "w1": "id2"})
    down = [NODES[0], {**NODES[1], "state": "down"}]
    reads = iter([{"nodes": down, "swarm": {"id": "C1"}}, {"nodes": NODES, "swarm": {"id": "C1"}}])
    act = action({"stage": "health", "poll": True, "timeout": 30, "connection": {"docker_host": "unix:///x"}})
    calls: list[dict[str, Any]] = []

    def execute(module_name: str, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        calls.append({"module": module_name, **module_args})
        return next(reads)

    act._execute_module = execute
    result = act.run(task_vars=tv)
    assert "Swarm C1: 2 nodes" in result["msg"]
    assert calls == [{"module": "hive.swarm.swarm_node_info", "docker_host": "unix:///x", "nodes": True}] * 2


def test_health_poll_gives_up_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"t": 0.0}
    monkeypatch.setattr(_poll.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: clock.update(t=clock["t"] + seconds))
    tv = task_vars({}, docker_swarm__plan={"control": "m1", "swarm_id": "C1"},
                   docker_swarm__node_ids={"m1": "id1", "w1": "id2"})
    act = action({"stage": "health", "poll": True, "timeout": 5, "delay": 2})
    down = {"nodes": [NODES[0], {**NODES[1], "state": "down"}], "swarm": {"id": "C1"}}
    act._execute_module = lambda **kw: down
    with pytest.raises(AnsibleActionFail, match="The swarm is not healthy: w1: down"):
        act.run(task_vars=tv)
    assert 4 <= clock["t"] <= 5


def _silent_m2() -> dict[str, Any]:
    """m1 leads and lists m2 Ready and Reachable; m2's own engine times out on every swarm request."""
    nodes = [*NODES, node("id3", "m2", "manager")]
    probes = {"m1": {**converged_probe("m1"), "nodes": nodes}, "w1": converged_probe("w1"),
              "m2": {"local": {**local("active", "id3", "", True),
                               "error": "rpc error: code = DeadlineExceeded desc = context deadline exceeded"},
                     "nodes": [], "swarm": None, "swarm_unavailable": "This manager cannot read the swarm"}}
    tv = task_vars({}, docker_swarm__plan={"control": "m1", "control_after": "m1", "swarm_id": "C1"},
                   docker_swarm__node_ids={"m1": "id1", "w1": "id2", "m2": "id3"})
    tv["groups"]["docker_swarm_manager"] = ["m1", "m2"]
    tv["ansible_play_hosts"] = tv["ansible_play_hosts_all"] = ["m1", "w1", "m2"]
    tv["hostvars"]["m2"] = {"ansible_host": "10.0.0.3"}
    for h, p in probes.items():
        tv["hostvars"][h]["docker_swarm__probe"] = p
    return tv


def test_health_names_a_manager_that_cannot_serve_without_waiting_for_it() -> None:
    act = action({"stage": "health", "timeout": 30})
    act._execute_module = MagicMock(side_effect=AssertionError("no poll: waiting does not clear it"))
    with pytest.raises(AnsibleActionFail) as err:
        act.run(task_vars=_silent_m2())
    msg = str(err.value)
    assert msg.startswith("The swarm is not healthy: m2: its engine is a manager but cannot serve swarm requests "
                          "(rpc error: code = DeadlineExceeded")
    assert "docker swarm leave --force on m2" in msg and "2377/tcp" in msg


def test_health_polls_for_other_problems_and_still_names_the_silent_manager(monkeypatch: pytest.MonkeyPatch
                                                                            ) -> None:
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: None)
    tv = _silent_m2()
    listed = tv["hostvars"]["m1"]["docker_swarm__probe"]["nodes"]
    down = [listed[0], {**listed[1], "state": "down"}, {**listed[2], "state": "down"}]
    reads = iter([{"nodes": down, "swarm": {"id": "C1"}}, {"nodes": listed, "swarm": {"id": "C1"}}])
    act = action({"stage": "health", "poll": True, "timeout": 30})
    act._execute_module = lambda **kw: next(reads)
    with pytest.raises(AnsibleActionFail) as err:
        act.run(task_vars=tv)
    assert next(reads, None) is None, "polled until w1 was ready again"
    assert "w1" not in str(err.value) and "m2: down" not in str(err.value)
    assert "m2: its engine is a manager but cannot serve swarm requests" in str(err.value)


def test_the_probes_second_read_of_a_manager_in_error_replaces_its_first() -> None:
    tv = _silent_m2()
    tv["hostvars"]["m2"]["docker_swarm__probe_again"] = {**tv["hostvars"]["m2"]["docker_swarm__probe"],
                                                         "local": local("active", "id3", "C1", True)}
    tv["hostvars"]["m1"]["docker_swarm__probe_again"] = {"skipped": True}
    result = action({"stage": "health"}).run(task_vars=tv)
    assert result["msg"].startswith("Swarm C1: 3 nodes, 2 managers, leader m1")


def test_health_judges_a_manager_in_error_by_its_second_read() -> None:
    tv = _silent_m2()
    tv["docker_swarm__recheck"] = {"results": [{"item": "m2", "local": local("active", "id3", "C1", True)}]}
    result = action({"stage": "health"}).run(task_vars=tv)
    assert result["msg"].startswith("Swarm C1: 3 nodes, 2 managers, leader m1")
    tv["docker_swarm__recheck"] = {"results": [{"item": "m2", "unreachable": True, "msg": "gone"}]}
    with pytest.raises(AnsibleActionFail, match="m2: its engine is a manager but cannot serve"):
        action({"stage": "health"}).run(task_vars=tv)


def test_control_and_removal_stages_for_playbooks() -> None:
    tv = task_vars({})
    tv["hostvars"]["m1"]["my_probe"] = converged_probe("m1")
    tv["hostvars"]["w1"]["my_probe"] = converged_probe("w1")
    result = action({"stage": "control", "probe": "my_probe"}).run(task_vars=tv)
    assert result["control"] == "m1" and result["candidates"] == ["m1"]
    assert action({"stage": "control", "probe": "my_probe", "exclude": ["m1"]}).run(task_vars=tv)["control"] == ""
    with pytest.raises(AnsibleActionFail, match="m1 is the last manager"):
        action({"stage": "removal", "target": "m1", "node": NODES[0], "nodes": NODES, "host": "m2"}).run(task_vars=tv)
    ok = action({"stage": "removal", "target": "w1", "node": NODES[1], "nodes": NODES, "host": "m1"}).run(task_vars=tv)
    assert ok["msg"] == "the removal keeps the managers' quorum"


# ------------------------------------------------------------------------ rotate.yml and status.yml stages
OLD, NEW, ISSUER = "a" * 64, "b" * 64, "c" * 64


def ca_swarm(root: str = NEW, in_progress: bool = False) -> dict[str, Any]:
    return {"id": "C1", "root_ca_digest": root, "cert_issuer_digest": ISSUER, "root_rotation_in_progress": in_progress,
            "spec": {"autolock": False}}


def ca_node(node_id: str, hostname: str, root: str = NEW, state: str = "ready") -> dict[str, Any]:
    return {**node(node_id, hostname), "state": state, "root_ca_digest": root, "cert_issuer_digest": ISSUER}


def test_rotate_stage_prints_the_plan_also_in_check_mode(capsys: pytest.CaptureFixture[str]) -> None:
    tv = task_vars({})
    tv["hostvars"]["m1"]["rot"] = {**converged_probe("m1"), "swarm": ca_swarm(OLD)}
    tv["hostvars"]["w1"]["rot"] = {"unreachable": True, "msg": "gone"}
    act = action({"stage": "rotate", "probe": "rot", "timeout": 90,
                  "rotate": {"worker_token": "False", "manager_token": False, "unlock_key": False, "root_ca": "true"}})
    act._play_context.check_mode = True
    result = act.run(task_vars=tv)
    assert result["control"] == "m1" and result["previous_root"] == OLD and result["changed"] is False
    assert result["msg"][0] == "Rotate on m1 (swarm C1): root CA"
    assert "wait up to 90 s" in result["msg"][1] and result["msg"][-1] == "Check mode: nothing is rotated."
    assert "Rotate on m1 (swarm C1): root CA" in capsys.readouterr().out
    with pytest.raises(AnsibleActionFail, match="Nothing to rotate"):
        action({"stage": "rotate", "probe": "rot", "rotate": {"root_ca": False}}).run(task_vars=tv)


def test_ca_wait_polls_until_every_node_caught_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: None)
    reads = iter([
        {"failed": True, "msg": "no leader for a moment"},
        {"swarm": ca_swarm(OLD, in_progress=True), "nodes": [ca_node("id1", "m1", OLD), ca_node("id2", "w1", OLD)]},
        {"swarm": ca_swarm(NEW, in_progress=False), "nodes": [ca_node("id1", "m1"), ca_node("id2", "w1", OLD)]},
        {"swarm": ca_swarm(NEW, in_progress=False), "nodes": [ca_node("id1", "m1"), ca_node("id2", "w1")]},
    ])
    act = action({"stage": "ca_wait", "previous_root": OLD, "timeout": 60, "connection": {"timeout": 5}})
    calls: list[dict[str, Any]] = []

    def execute(module_name: str, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        calls.append({"module": module_name, **module_args})
        return next(reads)

    act._execute_module = execute
    result = act.run(task_vars=task_vars({}))
    assert result["polls"] == 4 and result["nodes"] == 2 and result["behind"] == [] and result["changed"] is False
    assert result["msg"].startswith("Root CA rotation complete after ")
    assert calls[0] == {"module": "hive.swarm.swarm_node_info", "timeout": 5, "nodes": True}


def test_ca_wait_fails_at_the_deadline_naming_the_nodes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"t": 0.0}
    monkeypatch.setattr(_poll.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: clock.update(t=clock["t"] + seconds))
    stuck = {"swarm": ca_swarm(NEW, in_progress=True),
             "nodes": [ca_node("id1", "m1"), ca_node("id2", "w1", OLD, state="down")]}
    act = action({"stage": "ca_wait", "previous_root": OLD, "timeout": 5, "delay": 2})
    act._execute_module = lambda **kw: stuck
    with pytest.raises(AnsibleActionFail, match=r"within 5 s: the swarm still reports the root rotation in progress; "
                                                r"1 of 2 nodes have not caught up .*: w1 \(down: trusts root aaaa"):
        act.run(task_vars=task_vars({}))
    assert 5 <= clock["t"] <= 6
    act = action({"stage": "ca_wait", "timeout": 1})
    act._execute_module = lambda **kw: {"unreachable": True, "msg": "ssh: no route"}
    with pytest.raises(AnsibleActionFail, match="Could not read the swarm from m1 within 1 s: ssh: no route"):
        act.run(task_vars=task_vars({}))


def test_ca_wait_does_nothing_in_check_mode() -> None:
    act = action({"stage": "ca_wait", "timeout": 300})
    act._play_context.check_mode = True
    act._execute_module = MagicMock(side_effect=AssertionError("no read in check mode"))
    assert act.run(task_vars=task_vars({}))["msg"] == "Check mode: would wait up to 300 s for the root CA rotation."


def test_status_stage_builds_the_table_and_warns() -> None:
    tv = task_vars({})
    cert = {"expires_in_days": 10.0}
    tv["hostvars"]["m1"]["st"] = {**converged_probe("m1"), "certificate": cert}
    tv["hostvars"]["w1"]["st"] = {**converged_probe("w1"), "certificate": {"expires_in_days": 80.0}}
    result = action({"stage": "status", "probe": "st", "warn_days": 30}).run(task_vars=tv)
    assert result["control"] == "m1" and result["expiring"] == ["m1"] and result["unread"] == []
    assert result["lines"][0].startswith("Swarm C1 (2 nodes)")
    assert result["warnings"][0].startswith("WARNING: node certificates expire within 30 days: m1 (10.0 days)")
    quiet = action({"stage": "status", "probe": "st", "warn_days": 5}).run(task_vars=tv)
    assert "warnings" not in quiet and quiet["expiring"] == []
    with patch("ansible_collections.hive.swarm.plugins.action.swarm_plan.show") as shown:
        as_json = action({"stage": "status", "probe": "st", "format": "json"}).run(task_vars=tv)
    document = json.loads(shown.call_args.args[0][0])
    assert document["swarm_id"] == "C1" and document["control"] == "m1" and document["unread"] == []
    assert [row["hostname"] for row in document["nodes"]] == ["m1", "w1"] == [r["hostname"] for r in as_json["rows"]]
    assert document["expiring"] == ["m1"] and document["warnings"] == as_json["warnings"]
    tv["hostvars"]["m1"]["st"] = {"unreachable": True, "msg": "down"}
    with pytest.raises(AnsibleActionFail, match=r"No manager with control available answered \(m1, w1\)"):
        action({"stage": "status", "probe": "st"}).run(task_vars=tv)


# ------------------------------------------------------------------------------------------------- lock
@pytest.fixture(autouse=True)
def renewers(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The lease renewer is not started by these tests: its start is recorded (it succeeds unless told)."""
    started: list[dict[str, Any]] = []

    def start(renew: Any, main_pid: int, alive: Any, interval: float) -> tuple[int, bool]:
        started.append({"renew": renew, "main_pid": main_pid, "alive": alive, "interval": interval})
        return 4242, not any(s.get("fail") for s in started[:-1])

    monkeypatch.setattr(action_mod._lease, "start", start)
    return started


def lock_action(answers: list[Any], **args: Any) -> tuple[Any, list[str]]:
    act = action({"stage": "lock", "path": "/run/l", "stale": 1800, "timeout": 10, **args})
    sent: list[str] = []
    queue = iter(answers)

    def execute(cmd: str, executable: str = "") -> dict[str, Any]:
        sent.append(cmd)
        if "rm -rf" in cmd:
            return {"rc": 0, "stdout": "", "stderr": ""}
        answer = next(queue, answers[-1])
        if isinstance(answer, Exception):
            raise answer
        return answer

    act._low_level_execute_command = execute
    return act, sent


def lock_vars() -> dict[str, Any]:
    return {"docker_swarm__inventory": {"lock_owner": "me@here pid 1 start 2 t 3"}}


def test_lock_taken_at_once_starts_the_lease_renewer(renewers: list[dict[str, Any]]) -> None:
    act, sent = lock_action([{"rc": 0, "stdout": "taken\n"}])
    result = act.run(task_vars=lock_vars())
    assert result["held"] is True and result["unreachable_lock"] is False
    assert "owner='me@here pid 1 start 2 t 3'" in sent[0] and "lock=/run/l" in sent[0]
    assert ': > "$lock/lease"' in sent[0]
    assert result["lease"] == {"renewer": 4242, "renew": 5, "timeout": 20, "renewed": True}
    (started,) = renewers
    assert started["main_pid"] == 1 and started["interval"] == 5
    # the renewal: one shell command that compares the owner line and touches the lease, else rc 4
    sent.clear()
    assert started["renew"]() == 0
    assert "= 'me@here pid 1 start 2 t 3' ] || exit 4" in sent[0] and 'touch -c "$lock/lease"' in sent[0]


def test_a_lease_that_cannot_be_renewed_falls_back_to_the_stale_rule(
        monkeypatch: pytest.MonkeyPatch, renewers: list[dict[str, Any]]) -> None:
    monkeypatch.setattr(action_mod._lease, "start", lambda *a: (None, False))
    monkeypatch.setattr(action_mod, "_alive", lambda pid, start: True)  # the run lives
    act, sent = lock_action([{"rc": 0, "stdout": "taken\n"}])
    result = act.run(task_vars=lock_vars())
    assert result["held"] is True and result["lease"]["renewed"] is False
    assert 'rm -f "$lock/lease"' in sent[-1] and "= 'me@here pid 1 start 2 t 3' ]" in sent[-1]
    assert "could not be renewed from this controller" in result["msg"]


def test_a_run_interrupted_while_it_takes_the_lock_releases_it(
        monkeypatch: pytest.MonkeyPatch, renewers: list[dict[str, Any]]) -> None:
    """The run's ansible-playbook process was killed while its worker (a session of its own) took the lock: the
    first renewal finds the run gone. The lock is released, not left without a lease (reliability case 19 waited
    for docker_swarm_lock_stale in a gating run)."""
    monkeypatch.setattr(action_mod._lease, "start", lambda *a: (None, False))
    monkeypatch.setattr(action_mod, "_alive", lambda pid, start: False)
    act, sent = lock_action([{"rc": 0, "stdout": "taken\n"}])
    act.run(task_vars=lock_vars())
    assert 'rm -rf "$lock"' in sent[-1] and "= 'me@here pid 1 start 2 t 3' ]" in sent[-1]
    assert not any('rm -f "$lock/lease"' in cmd for cmd in sent)


def test_lock_without_a_fresh_lease_of_another_controller_is_taken_over(renewers: list[dict[str, Any]]) -> None:
    held = {"rc": 3, "stdout": "age 400\nlease 21\nops@elsewhere pid 7 start 5 t 1\n"}
    act, sent = lock_action([held, {"rc": 0, "stdout": "taken\n"}])
    result = act.run(task_vars=lock_vars())
    assert result["held"] is True
    assert "broke the lock: its lease was last renewed 21s ago (abandoned after 20s): ops@elsewhere (process 7) " \
           "is gone" in result["msg"]
    assert "rm -rf" in sent[1] and len(renewers) == 1


def test_lock_of_a_gone_run_on_this_controller_is_broken_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    host = action_mod.socket.gethostname()
    monkeypatch.setattr(action_mod, "_alive", lambda pid, start: False)
    held = {"rc": 3, "stdout": f"age 40\nlease 2\nops@{host} pid 999 start 5 t 1\n"}
    act, sent = lock_action([held, {"rc": 0, "stdout": "taken\n"}])
    result = act.run(task_vars=lock_vars())
    assert result["held"] is True and "broke the lock: its holder, process 999 on this controller, is gone" in \
        result["msg"]
    assert "rm -rf" in sent[1] and f"= 'ops@{host} pid 999 start 5 t 1' ]" in sent[1]


def test_lock_of_a_live_run_is_waited_for_until_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"t": 0.0}
    monkeypatch.setattr(_poll.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: clock.update(t=clock["t"] + seconds))
    act, sent = lock_action([{"rc": 3, "stdout": "age 40\nlease 1\nops@elsewhere pid 7 start 5 t 1\n"}])
    result = act.run(task_vars=lock_vars())
    assert result["held"] is False and result["unreachable_lock"] is False
    assert result["msg"].startswith("Another run is converging this swarm: the lock /run/l on m1 is held by "
                                    "ops@elsewhere (process 7) for 40s, lease renewed 1s ago. Waited 10s.")
    assert len(sent) > 3 and not any("rm -rf" in c for c in sent)


def test_lock_host_unreachable_is_reported_not_raised() -> None:
    act, _sent = lock_action([AnsibleConnectionFailure("ssh: no route")])
    result = act.run(task_vars=lock_vars())
    assert result["held"] is False and result["unreachable_lock"] is True and "no route" in result["msg"]


def test_lock_taken_after_waiting_says_how_long(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: None)
    held = {"rc": 3, "stdout": "age 3\nlease 0\nops@elsewhere pid 7 start 5 t 1\n"}
    act, _sent = lock_action([held, held, {"rc": 0, "stdout": "taken\n"}])
    result = act.run(task_vars=lock_vars())
    assert result["held"] is True
    assert re.search(r"waited \d+s for the lock, held by ops@elsewhere \(process 7\) for 3s, lease renewed 0s ago",
                     result["msg"])

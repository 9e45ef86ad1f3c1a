"""The action plugin hive.swarm.swarm_rolling: what it reads from the play, what it returns, how it fails.

The decisions are tested in tests/unit/plugins/module_utils/test_rolling.py; here the plumbing: probes and the
managers' looped reads, the confirmation, refusals before anything changes, and the polls (the module call faked)
with their deadlines."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible_collections.hive.swarm.plugins.action import swarm_rolling as action_mod
from ansible_collections.hive.swarm.plugins.plugin_utils import _poll

MARK = "hive.swarm.maintenance.availability"
HOSTS = ("m1", "m2", "m3", "w1")


def node(host: str, role: str = "worker", leader: bool = False, **extra: Any) -> dict[str, Any]:
    return {"id": f"id-{host}", "hostname": host, "role": role, "availability": "active", "state": "ready",
            "manager_reachability": "reachable" if role == "manager" else None, "leader": leader, "labels": {},
            "engine_version": "20.10.24", **extra}


NODES = [node("m1", "manager", True), node("m2", "manager"), node("m3", "manager"), node("w1")]


def local(host: str, state: str = "active") -> dict[str, Any]:
    return {"state": state, "node_id": f"id-{host}" if state == "active" else None, "hostname": host,
            "engine_version": "20.10.24", "is_manager": host.startswith("m")}


def read(host: str, nodes: list[dict[str, Any]] | None = None, autolock: bool = False) -> dict[str, Any]:
    return {"item": host, "local": local(host), "nodes": NODES if nodes is None else nodes,
            "swarm": {"id": "C1", "spec": {"autolock": autolock}}, "swarm_unavailable": None}


def task_vars(probes: dict[str, Any] | None = None, reads: list[dict[str, Any]] | None = None,
              **extra: Any) -> dict[str, Any]:
    probes = probes if probes is not None else {h: {"local": local(h)} for h in HOSTS}
    hostvars = {h: {"rolling_probe": p} for h, p in probes.items()}
    return {"hostvars": hostvars, "ansible_play_hosts_all": list(probes), "inventory_hostname": "m1",
            "rolling_read": {"results": reads if reads is not None else [read("m1"), read("m2"), read("m3")]},
            "playbook_dir": "/nowhere", **extra}


def action(args: dict[str, Any], delegate_to: str = "m2") -> Any:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.delegate_to = delegate_to
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    return action_mod.ActionModule(task, MagicMock(), MagicMock(), MagicMock(), templar, MagicMock())


WALK_ARGS = {"stage": "walk", "probe": "rolling_probe", "read": "rolling_read", "target_version": "28.5"}


def walk(**extra: Any) -> dict[str, Any]:
    return action({**WALK_ARGS, "confirmed": True}).run(task_vars=task_vars(**extra))["walk"]


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, float]]:
    clock = {"t": 0.0}
    monkeypatch.setattr(_poll.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: clock.update(t=clock["t"] + seconds))
    yield clock


# ------------------------------------------------------------------------------------------------ walk
def test_walk_returns_the_batches_with_readers_and_prints_the_plan() -> None:
    result = action({**WALK_ARGS, "confirmed": True}).run(task_vars=task_vars())
    data = result["walk"]
    assert result["ansible_facts"] == {"hive_swarm_walk": data} and result["changed"] is False
    assert [(b["hosts"], b["reader"]) for b in data["batches"]] == [
        (["w1"], "m1"), (["m2"], "m1"), (["m3"], "m1"), (["m1"], "m2")]
    assert data["hosts"] == ["w1", "m2", "m3", "m1"] and data["report_reader"] == "m2"
    assert data["node_ids"] == {h: f"id-{h}" for h in HOSTS} and data["swarm_id"] == "C1"
    step = data["batches"][0]["steps"][0]
    assert step["drain_labels"] == {MARK: "active"} and step["restore_labels"] == {MARK: None}
    assert data["batches"][0]["work_hosts"] == ["w1"]
    assert result["msg"][0].split()[:3] == ["ORDER", "HOST", "ROLE"]
    assert "Gates:" in result["msg"] and any("before manager m1:" in line for line in result["msg"])


def test_walk_needs_a_confirmation_in_a_normal_run_but_not_in_check_mode() -> None:
    with pytest.raises(AnsibleActionFail, match=r"Confirm with -e confirm_upgrade=yes.*Nothing was changed"):
        action({**WALK_ARGS, "confirm_hint": "-e confirm_upgrade=yes"}).run(task_vars=task_vars())
    result = action(WALK_ARGS).run(task_vars=task_vars(ansible_check_mode=True))
    assert len(result["walk"]["batches"]) == 4


def test_walk_with_nothing_to_do_needs_no_confirmation() -> None:
    done = [node(n["hostname"], n["role"], n["leader"], engine_version="28.5.2") for n in NODES]
    probes = {h: {"local": {**local(h), "engine_version": "28.5.2"}} for h in HOSTS}
    result = action(WALK_ARGS).run(task_vars=task_vars(probes, reads=[read("m1", done)]))
    assert result["walk"]["batches"] == [] and result["walk"]["report_reader"] == "m1"


def test_walk_trusts_each_host_s_own_engine_version() -> None:
    # the list says every node is done; w1's and m2's own engines still run 20.10: those two are walked
    done = [node(n["hostname"], n["role"], n["leader"], engine_version="28.5.2") for n in NODES]
    probes = {h: {"local": {**local(h), "engine_version": "20.10.24" if h in ("w1", "m2") else "28.5.2"}}
              for h in HOSTS}
    result = action({**WALK_ARGS, "confirmed": True}).run(task_vars=task_vars(probes, reads=[read("m1", done)]))
    assert [b["hosts"] for b in result["walk"]["batches"]] == [["w1"], ["m2"]]


@pytest.mark.parametrize(("probes", "extra", "message"), [
    ({**{h: {"local": local(h)} for h in HOSTS}, "w1": {"unreachable": True, "msg": "ssh: timeout"}}, {},
     "w1 could not be probed \\(ssh: timeout\\)"),
    (None, {"reads": [read("m1", autolock=True)]}, "the swarm is autolocked.*docker_swarm_unlock_key"),
    (None, {"reads": [read("m1", [*NODES[:3], node("w1", state="down")])]}, "node w1 is down"),
])
def test_walk_refusals_change_nothing(probes: Any, extra: dict[str, Any], message: str) -> None:
    with pytest.raises(AnsibleActionFail, match=rf"Cannot start: .*{message}.*Nothing was changed"):
        action({**WALK_ARGS, "confirmed": True}).run(task_vars=task_vars(probes, **extra))


def test_walk_without_any_manager_that_lists_the_nodes() -> None:
    reads = [{"item": "m1", "failed": True, "msg": "engine down"},
             {**read("m2"), "nodes": [], "swarm_unavailable": "locked"}]
    with pytest.raises(AnsibleActionFail, match=r"tried: m1 \(engine down\), m2 \(locked\)"):
        action(WALK_ARGS).run(task_vars=task_vars(reads=reads))


def test_walk_finds_a_locked_host_by_its_hostname() -> None:
    probes = {h: {"local": local(h)} for h in HOSTS}
    probes["m2"] = {"local": local("m2", "locked")}
    data = walk(probes=probes)
    assert data["node_ids"]["m2"] == "id-m2"


def test_walk_resolves_the_tasks_file_and_refuses_a_missing_one(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.yml"
    tasks.write_text("[]\n")
    args = {**WALK_ARGS, "confirmed": True, "tasks_file": "tasks.yml"}
    assert action(args).run(task_vars=task_vars(playbook_dir=str(tmp_path)))["walk"]["tasks_file"] == str(tasks)
    with pytest.raises(AnsibleActionFail, match=r"the tasks file missing.yml does not exist"):
        action({**args, "tasks_file": "missing.yml"}).run(task_vars=task_vars(playbook_dir=str(tmp_path)))


def test_walk_refuses_a_bad_max_unavailable() -> None:
    with pytest.raises(AnsibleActionFail, match=r"maintenance_max_unavailable=0 is not allowed.*Nothing was changed"):
        action({**WALK_ARGS, "max_unavailable": 0}).run(task_vars=task_vars())


# ----------------------------------------------------------------------------------------------- polls
def polled(stage: str, reads: list[Any], walk_data: dict[str, Any], batch_no: int = 0, **args: Any) -> Any:
    act = action({"stage": stage, "walk": walk_data, "batch": walk_data["batches"][batch_no], **args})
    calls: list[dict[str, Any]] = []
    answers = iter(reads)

    def execute(module_name: str, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        calls.append({"module": module_name, **module_args})
        answer = next(answers, reads[-1])
        if isinstance(answer, Exception):
            raise answer
        return answer

    act._execute_module = execute
    return act, calls


def test_gate_polls_until_it_passes_and_fails_at_the_deadline(no_waiting: dict[str, float]) -> None:
    data = walk()
    m3_down = [*NODES[:2], node("m3", "manager", manager_reachability="unreachable"), NODES[3]]
    act, calls = polled("gate", [{"nodes": m3_down, "swarm": {"id": "C1"}}, {"nodes": NODES, "swarm": {"id": "C1"}}],
                        data, 1, connection={"docker_host": "unix:///x"})
    assert act.run(task_vars={})["msg"].startswith("Gate passed: before manager m2")
    assert calls == [{"module": "hive.swarm.swarm_node_info", "docker_host": "unix:///x", "nodes": True}] * 2
    act, _calls = polled("gate", [{"nodes": m3_down, "swarm": {"id": "C1"}}], data, 1, timeout=5)
    with pytest.raises(AnsibleActionFail, match=r"Stopped before manager m2: manager m3 is unreachable.*after 5s"):
        act.run(task_vars={})
    act, _calls = polled("gate", [{"nodes": NODES, "swarm": {"id": "C2"}}], data, 0, timeout=1)
    with pytest.raises(AnsibleActionFail, match=r"is now in swarm C2, not in C1"):
        act.run(task_vars={})


def task(node_id: str, state: str = "running") -> dict[str, Any]:
    return {"id": f"t-{node_id}", "service_id": "s1", "node_id": node_id, "desired_state": "running", "state": state}


def test_drained_waits_for_the_tasks_to_move() -> None:
    data = walk()
    service = [{"id": "s1", "name": "web", "mode": "replicated", "replicas": 1}]
    reads = [{"nodes": NODES, "swarm": {"id": "C1"}, "tasks": [task("id-w1")], "services": service},
             {"nodes": NODES, "swarm": {"id": "C1"}, "tasks": [task("id-m2")], "services": service}]
    act, calls = polled("drained", reads, data)
    assert act.run(task_vars={})["msg"].startswith("w1 drained in")
    assert calls[0] == {"module": "hive.swarm.swarm_node_info", "nodes": True, "tasks": True, "services": True}
    act, _calls = polled("drained", reads[:1], data, timeout=3)
    with pytest.raises(AnsibleActionFail, match=r"w1 did not drain within 3s: Not drained yet: w1 still runs 1 task "
                                                "of web.*the next run resumes it"):
        act.run(task_vars={})


def test_engine_waits_through_a_reboot_and_reports_a_locked_engine() -> None:
    data = walk()
    up = {"local": {**local("m2", "locked"), "engine_version": "28.5.2"}}
    act, _calls = polled("engine", [AnsibleConnectionFailure("ssh: no route"), {"failed": True, "msg": "refused"},
                                    up], data)
    result = act.run(task_vars={"inventory_hostname": "m2", "docker_swarm_unlock_key": "SWMKEY-1-x"})
    assert result["locked"] is True and result["engine_version"] == "28.5.2"
    act, _calls = polled("engine", [up], data)
    with pytest.raises(AnsibleActionFail, match=r"m2's engine came back locked.*docker_swarm_unlock_key"):
        act.run(task_vars={"inventory_hostname": "m2"})
    act, _calls = polled("engine", [{"local": local("m2", "inactive")}], data, timeout=2)
    with pytest.raises(AnsibleActionFail, match=r"m2 is not back after 2s: its engine is inactive in the swarm"):
        act.run(task_vars={"inventory_hostname": "m2"})


def test_back_waits_for_ready_and_the_target_version() -> None:
    data = walk()
    old = {"nodes": NODES, "swarm": {"id": "C1"}}
    new = {"nodes": [*NODES[:3], node("w1", engine_version="28.5.2+dfsg1")], "swarm": {"id": "C1"}}
    act, _calls = polled("back", [old, new], data)
    assert act.run(task_vars={})["msg"].startswith("w1 back (ready) in")
    act, _calls = polled("back", [old], data, timeout=4)
    with pytest.raises(AnsibleActionFail, match=r"w1 not back after 4s: w1 reports Engine 20.10.24, not 28.5"):
        act.run(task_vars={})


def test_report_waits_for_states_to_settle_and_prints_the_nodes() -> None:
    data = walk()
    unknown = {"nodes": [*NODES[:3], node("w1", state="unknown")], "swarm": {"id": "C1"}}
    act, _calls = polled("report", [unknown, {"nodes": NODES, "swarm": {"id": "C1"}}], data)
    lines = act.run(task_vars={})["msg"]
    assert lines[0] == "Walked 4 nodes in 4 steps to Engine 28.5."
    assert any(line.startswith("WARNING: w1 runs Engine 20.10.24, not 28.5") for line in lines)
    act, _calls = polled("report", [{"failed": True, "msg": "gone"}], data, timeout=1)
    with pytest.raises(AnsibleActionFail, match=r"could not read the swarm on m2: gone"):
        act.run(task_vars={})


# ------------------------------------------------------------------------------------------ check mode
CHECK = {"ansible_check_mode": True}


@pytest.mark.parametrize(("stage", "batch_no", "until"), [
    ("drained", 0, "until no replicated task runs on w1"),
    ("back", 0, "until w1 is ready on Engine 28.5"),
    ("back", 1, "until m2 is ready and reachable on Engine 28.5"),
])
def test_check_mode_waits_return_at_once(stage: str, batch_no: int, until: str) -> None:
    act, calls = polled(stage, [{"failed": True, "msg": "must not be read"}], walk(), batch_no, timeout=30)
    result = act.run(task_vars=CHECK)
    assert calls == [] and result["changed"] is False
    assert result["msg"] == f"Check mode: would wait up to 30s {until}"


def test_gate_reads_in_check_mode_too() -> None:
    act, calls = polled("gate", [{"nodes": NODES, "swarm": {"id": "C1"}}], walk(), 1)
    assert act.run(task_vars=CHECK)["msg"].startswith("Gate passed: before manager m2") and len(calls) == 1


def test_engine_in_check_mode_reads_once_and_predicts_the_lock() -> None:
    key = {"docker_swarm_unlock_key": "SWMKEY-1-x"}
    data = walk(reads=[read("m1", autolock=True), read("m2"), read("m3")], **key)
    assert data["autolock"] is True
    act, calls = polled("engine", [{"local": local("m2")}], data, 1)
    result = act.run(task_vars={**CHECK, **key, "inventory_hostname": "m2"})
    assert calls == [{"module": "hive.swarm.swarm_node_info", "local_only": True}]
    assert result["locked"] is True and result["changed"] is False
    assert result["msg"].startswith("Check mode: would wait up to 300s until the engine of m2 answers (it is active "
                                    "now); it would come back locked")
    act, _calls = polled("engine", [{"local": local("w1")}], data, 0)
    assert act.run(task_vars={**CHECK, **key, "inventory_hostname": "w1"})["locked"] is False  # a worker
    act, _calls = polled("engine", [{"local": local("m2")}], data, 1)
    with pytest.raises(AnsibleActionFail, match=r"m2's engine would come back locked.*docker_swarm_unlock_key"):
        act.run(task_vars={**CHECK, "inventory_hostname": "m2"})
    act, _calls = polled("engine", [{"local": local("m2")}], walk(), 1)  # no autolock
    assert act.run(task_vars={**CHECK, "inventory_hostname": "m2"})["locked"] is False
    act, _calls = polled("engine", [AnsibleConnectionFailure("ssh: no route")], data, 1)
    result = act.run(task_vars={**CHECK, **key, "inventory_hostname": "m2"})
    assert result["locked"] is True and "it does not answer now (ssh: no route)" in result["msg"]
    act, _calls = polled("engine", [{"local": local("m3")}], data, 1)
    with pytest.raises(AnsibleActionFail, match=r"m3 is not a host of step 2"):
        act.run(task_vars={**CHECK, **key, "inventory_hostname": "m3"})


def test_report_in_check_mode_reads_nothing_and_names_the_walk() -> None:
    act, calls = polled("report", [{"failed": True, "msg": "must not be read"}], walk())
    result = act.run(task_vars=CHECK)
    assert calls == [] and result["msg"] == [
        "Check mode: would walk 4 nodes in 4 steps to Engine 28.5 (w1, m2, m3, m1); nothing was changed."]


@pytest.mark.parametrize("stage", ["gate", "drained", "back", "report"])
def test_every_stage_that_reads_the_swarm_stops_in_another_swarm(stage: str) -> None:
    act, _calls = polled(stage, [{"nodes": NODES, "swarm": {"id": "C2"}, "tasks": [], "services": []}], walk(),
                         timeout=1)
    with pytest.raises(AnsibleActionFail, match=r"is now in swarm C2, not in C1 where the walk started"):
        act.run(task_vars={})


def test_stages_that_poll_need_the_walk_and_a_batch() -> None:
    with pytest.raises(AnsibleActionFail, match=r"pass walk"):
        action({"stage": "gate"}).run(task_vars={})
    with pytest.raises(AnsibleActionFail, match=r"pass batch"):
        action({"stage": "gate", "walk": walk()}).run(task_vars={})

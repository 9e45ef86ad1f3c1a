"""The stages of playbooks/recover.yml in the action plugin hive.swarm.swarm_plan: recover (the plan printed,
refusals and the missing confirmation as task failures, nothing to recover as a success) and recovered (the poll of
the survivor with its deadline, the module call faked). The decisions are tested in
tests/unit/plugins/module_utils/test_recover.py."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.hive.swarm.plugins.action import swarm_plan as action_mod
from ansible_collections.hive.swarm.plugins.plugin_utils import _poll

MANAGERS = ["m1", "m2", "m3"]
NO_LEADER = "rpc error: code = Unknown desc = The swarm does not have a leader."


def survivor_read() -> dict[str, Any]:
    return {
        "local": {
            "state": "active",
            "node_id": "id1",
            "is_manager": True,
            "control_available": True,
            "error": NO_LEADER,
            "cluster_id": None,
            "remote_managers": [{"node_id": f"id{i}", "addr": f"10.0.0.{i}:2377"} for i in (1, 2, 3)],
        },
        "nodes": [],
        "swarm": None,
        "certificate": {"cluster_id": "C1", "role": "manager"},
    }


DEAD = {"failed": True, "msg": "Cannot connect to the engine at unix:///run/docker.sock"}


def task_vars(reads: dict[str, Any], **extra: Any) -> dict[str, Any]:
    hv = {h: {"ansible_host": f"10.0.0.{i + 1}", "recover_probe": reads.get(h)} for i, h in enumerate(MANAGERS)}
    return {"ansible_play_hosts_all": MANAGERS, "hostvars": hv, **extra}


def action(args: dict[str, Any], check: bool = False) -> Any:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.delegate_to = "m1"
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    play_context = MagicMock()
    play_context.check_mode = check
    return action_mod.ActionModule(task, MagicMock(), play_context, MagicMock(), templar, MagicMock())


LOST = {"m1": survivor_read(), "m2": DEAD, "m3": DEAD}


def test_recover_confirmed_returns_the_survivor_and_the_dead(capsys: pytest.CaptureFixture[str]) -> None:
    result = action({"stage": "recover", "probe": "recover_probe"}).run(
        task_vars=task_vars(LOST, confirm_recover="yes")
    )
    assert result["recover"] is True and result["survivor"] == "m1" and result["swarm_id"] == "C1"
    assert result["dead"] == [
        {"id": "id2", "addr": "10.0.0.2:2377", "host": "m2"},
        {"id": "id3", "addr": "10.0.0.3:2377", "host": "m3"},
    ]
    assert result["changed"] is False
    assert "survivor: m1" in capsys.readouterr().out


def test_recover_check_mode_prints_the_same_plan_without_confirmation(capsys: pytest.CaptureFixture[str]) -> None:
    result = action({"stage": "recover", "probe": "recover_probe"}, check=True).run(task_vars=task_vars(LOST))
    assert result["recover"] is True and result["msg"][-1] == "Check mode: nothing was changed."
    printed = capsys.readouterr().out
    with pytest.raises(AnsibleActionFail, match="confirm the recovery with -e confirm_recover=yes"):
        action({"stage": "recover", "probe": "recover_probe"}).run(task_vars=task_vars(LOST, confirm_recover="no"))
    assert capsys.readouterr().out == printed.replace("\nCheck mode: nothing was changed.", "")


def test_recover_refusal_and_nothing_to_recover() -> None:
    with pytest.raises(AnsibleActionFail, match="Refusing to recover from m2: its engine could not be read"):
        action({"stage": "recover", "probe": "recover_probe", "target": "m2"}).run(
            task_vars=task_vars(LOST, confirm_recover="yes")
        )
    healthy = survivor_read()
    healthy["local"].update(error=None, cluster_id="C1")
    result = action({"stage": "recover", "probe": "recover_probe"}).run(task_vars=task_vars({**LOST, "m1": healthy}))
    assert result["recover"] is False and result["changed"] is False
    assert result["msg"][0].startswith("Nothing to recover: the managers of swarm C1 have their quorum")


def test_recover_refuses_a_swarm_the_inventory_says_is_autolocked() -> None:
    reads = task_vars(LOST, confirm_recover="yes")
    reads["hostvars"]["m2"]["docker_swarm_autolock"] = "true"  # one manager's variable is enough (an -e is on all)
    with pytest.raises(AnsibleActionFail, match="the inventory says it is autolocked"):
        action({"stage": "recover", "probe": "recover_probe"}).run(task_vars=reads)
    reads["hostvars"]["m2"]["docker_swarm_autolock"] = False
    assert action({"stage": "recover", "probe": "recover_probe"}).run(task_vars=reads)["recover"] is True


def leader(listed: tuple[str, ...] = ("id1",)) -> dict[str, Any]:
    read = survivor_read()
    read["local"].update(error=None, cluster_id="C1")
    read.update(
        swarm={"id": "C1"},
        swarm_unavailable=None,
        services=[{"id": "s1"}],
        nodes=[
            {"id": i, "hostname": i, "role": "manager", "manager_reachability": "reachable", "leader": i == "id1"}
            for i in listed
        ],
    )
    return read


def test_recovered_polls_until_the_survivor_leads_and_the_entries_are_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: None)
    reads = iter(
        [
            {**survivor_read(), "swarm_unavailable": f"This manager cannot read the swarm: {NO_LEADER}"},
            leader(("id1", "id2")),
            leader(),
        ]
    )
    calls: list[dict[str, Any]] = []

    def execute(module_name: str, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        calls.append({"module": module_name, **module_args})
        return next(reads)

    act = action(
        {"stage": "recovered", "host": "m1", "exclude": ["id2"], "connection": {"timeout": 5}, "probe": "recover_probe"}
    )
    act._execute_module = execute
    result = act.run(task_vars=task_vars(LOST))
    assert len(calls) == 3 and calls[0] == {
        "module": "hive.swarm.swarm_node_info",
        "timeout": 5,
        "nodes": True,
        "services": True,
    }
    assert result["msg"] == "Swarm C1 recovered on m1: leader, 1 nodes, 1 of 1 manager reachable, 1 service kept."
    assert result["lost"] == []


def test_recovered_returns_the_lost_entries_and_keeps_those_of_reachable_hosts() -> None:
    read = leader()
    read["nodes"] += [
        {"id": i, "hostname": h, "role": "manager", "manager_reachability": None, "leader": False, "addr": ""}
        for i, h in (("id2", "m2"), ("id3", "m3"))
    ]
    reachable = survivor_read()
    reachable["local"]["node_id"] = "id3"
    act = action({"stage": "recovered", "host": "m1", "probe": "recover_probe"})
    act._execute_module = lambda **kw: read
    result = act.run(task_vars=task_vars({**LOST, "m3": reachable}))
    assert result["lost"] == [{"id": "id2", "host": "m2", "addr": ""}]


def test_recovered_fails_at_the_deadline_and_does_nothing_in_check_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"t": 0.0}
    monkeypatch.setattr(_poll.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: clock.update(t=clock["t"] + seconds))
    act = action({"stage": "recovered", "host": "m1", "timeout": 5})
    act._execute_module = lambda **kw: DEAD
    with pytest.raises(
        AnsibleActionFail,
        match=r"m1 did not become a working leader within 5 s: m1 could not be "
        r"read: Cannot connect",
    ):
        act.run(task_vars=task_vars(LOST))
    assert 5 <= clock["t"] <= 6
    check = action({"stage": "recovered", "host": "m1", "timeout": 60}, check=True)
    check._execute_module = MagicMock()
    assert check.run(task_vars=task_vars(LOST))["msg"].startswith("Check mode: would wait up to 60 s")
    check._execute_module.assert_not_called()


def test_recovered_in_check_mode_returns_the_plan_s_dead_managers_as_lost() -> None:
    # nothing was forced: the entries a real run finds lost and removes are the plan's dead managers
    check = action({"stage": "recovered", "host": "m1", "probe": "recover_probe"}, check=True)
    check._execute_module = MagicMock()
    result = check.run(task_vars=task_vars(LOST))
    assert result["lost"] == [
        {"id": "id2", "addr": "10.0.0.2:2377", "host": "m2"},
        {"id": "id3", "addr": "10.0.0.3:2377", "host": "m3"},
    ]
    check._execute_module.assert_not_called()
    # the second wait (no probe) returns no prediction
    assert "lost" not in action({"stage": "recovered", "host": "m1"}, check=True).run(task_vars=task_vars(LOST))

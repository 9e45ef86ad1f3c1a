"""The backup and restore stages of hive.swarm.swarm_plan (plugin_utils/_backup.py): what they read from the play,
what they return, the files they write on the controller, their polls (module calls faked) with deadlines.
The decisions themselves are tested in tests/unit/plugins/module_utils/test_backup.py."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from ansible.errors import AnsibleActionFail
from ansible_collections.hive.swarm.plugins.action import swarm_plan as action_mod
from ansible_collections.hive.swarm.plugins.plugin_utils import _backup, _poll

SWARM = "dpr3gnu94ue20xk6ohh0ie3rg"
HOSTS = ("m1", "m2", "m3")


def node(host: str, leader: bool = False, reach: str = "reachable", state: str = "ready") -> dict[str, Any]:
    return {
        "id": f"{host}id",
        "hostname": host,
        "role": "manager",
        "state": state,
        "addr": f"10.0.0.{host[-1]}",
        "manager_reachability": reach,
        "leader": leader,
    }


NODES = [node("m1", True), node("m2"), node("m3")]


def probe(host: str, state: str = "active", autolock: bool = False) -> dict[str, Any]:
    active = state == "active"
    return {
        "local": {
            "state": state,
            "node_id": f"{host}id" if active else None,
            "node_addr": f"10.0.0.{host[-1]}",
            "is_manager": active,
            "control_available": active,
            "error": None,
            "cluster_id": SWARM if active else None,
            "hostname": host,
            "engine_version": "20.10.24",
            "docker_root_dir": "/var/lib/docker",
        },
        "swarm": {"id": SWARM, "spec": {"autolock": autolock}} if active else None,
        "nodes": NODES if active else [],
        "host_addresses": {"default_ipv4": f"10.0.0.{host[-1]}"},
    }


def task_vars(var: str, probes: dict[str, Any], host: str = "m2", **extra: Any) -> dict[str, Any]:
    hv = {h: {"ansible_host": f"10.0.0.{h[-1]}"} for h in HOSTS}
    for h, p in probes.items():
        hv[h][var] = p
    return {
        "groups": {"docker_swarm_manager": list(HOSTS), "docker_swarm_worker": []},
        "ansible_play_hosts": list(HOSTS),
        "ansible_play_hosts_all": list(HOSTS),
        "hostvars": hv,
        "inventory_hostname": host,
        **extra,
    }


def action(args: dict[str, Any], check: bool = False) -> Any:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.delegate_to = None
    task._role = None
    templar = MagicMock()
    templar.template.side_effect = lambda value: value
    play_context = MagicMock()
    play_context.check_mode = check
    return action_mod.ActionModule(task, MagicMock(), play_context, MagicMock(), templar, MagicMock())


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    clock = {"t": 0.0}
    monkeypatch.setattr(_poll.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(_poll.time, "sleep", lambda seconds: clock.update(t=clock["t"] + seconds))
    return clock


def test_stages_and_arguments_are_registered() -> None:
    assert set(_backup.BACKUP_STAGES) <= set(action_mod.STAGES)
    assert set(_backup.BACKUP_ARGS) <= set(action_mod.ARGUMENT_SPEC)


def test_backup_stage_plans_and_prints(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    tv = task_vars("bp", {h: probe(h) for h in HOSTS})
    result = action({"stage": "backup", "probe": "bp", "path": str(tmp_path), "keep": 3}).run(task_vars=tv)
    assert result["host"] == "m2" and result["node_id"] == "m2id" and result["swarm_id"] == SWARM
    assert result["dest"] == str(tmp_path / result["archive"]) and result["docker_root_dir"] == "/var/lib/docker"
    assert result["manifest"]["advertise_addr"] == "10.0.0.2" and not result["changed"]
    out = capsys.readouterr().out
    assert f"Backup of swarm {SWARM} from m2" in out and "the newest 3 archives" in out


def test_backup_stage_refuses(tmp_path: Path) -> None:
    tv = task_vars("bp", {h: probe(h, autolock=True) for h in HOSTS})
    with pytest.raises(AnsibleActionFail, match="is autolocked"):
        action({"stage": "backup", "probe": "bp", "path": str(tmp_path)}).run(task_vars=tv)
    result = action({"stage": "backup", "probe": "bp", "path": str(tmp_path), "unlock_key_set": True}).run(task_vars=tv)
    assert result["autolocked"] is True


def test_backup_engine_polls_until_the_engine_answers(no_sleep: dict[str, float]) -> None:
    reads = iter(
        [{"failed": True, "msg": "no socket"}, {"failed": True, "msg": "no socket"}, {"local": {"state": "locked"}}]
    )
    act = action({"stage": "backup_engine", "timeout": 30})
    calls: list[dict[str, Any]] = []

    def execute(module_name: str, module_args: dict[str, Any], task_vars: dict[str, Any]) -> dict[str, Any]:
        calls.append(module_args)
        return next(reads)

    act._execute_module = execute
    result = act.run(task_vars=task_vars("x", {}))
    assert result["locked"] is True and result["state"] == "locked"
    assert calls == [{"local_only": True}] * 3 and no_sleep["t"] == 1.5


def test_backup_engine_fails_at_the_deadline(no_sleep: dict[str, float]) -> None:
    act = action({"stage": "backup_engine", "timeout": 5, "delay": 2})
    act._execute_module = lambda **kw: {"failed": True, "msg": "no socket"}
    with pytest.raises(AnsibleActionFail, match=r"The engine on m2 did not come back within 5s: .*no socket"):
        act.run(task_vars=task_vars("x", {}))
    assert 4 <= no_sleep["t"] <= 5


def test_backup_back_waits_for_reachable(no_sleep: dict[str, float]) -> None:
    unreachable = {**probe("m2"), "nodes": [node("m1", True), node("m2", reach="unreachable"), node("m3")]}
    reads = iter([unreachable, probe("m2")])
    act = action({"stage": "backup_back", "target": "m2id", "timeout": 30})
    act._execute_module = lambda **kw: next(reads)
    assert "m2 is ready and reachable again" in act.run(task_vars=task_vars("x", {}))["msg"]
    act = action({"stage": "backup_back", "target": "m2id", "timeout": 3})
    act._execute_module = lambda **kw: unreachable
    with pytest.raises(AnsibleActionFail, match="m2 is not back in the swarm after 3s: node m2id is ready, unreach"):
        act.run(task_vars=task_vars("x", {}))


def archives(directory: Path, times: list[str], swarm: str = SWARM[:12]) -> list[Path]:
    out = []
    for t in times:
        path = directory / f"swarm-{swarm}-m2-{t}.tar.gz"
        path.write_bytes(t.encode())
        path.with_name(path.name[: -len(".tar.gz")] + ".json").write_text("{}")
        out.append(path)
    return out


def test_backup_store_writes_the_manifest_and_prunes(tmp_path: Path) -> None:
    old = archives(tmp_path, ["20261201T000000Z", "20261202T000000Z"])
    other = archives(tmp_path, ["20200101T000000Z"], swarm="otherswarm12")
    new = archives(tmp_path, ["20261203T000000Z"])[0]
    sha = hashlib.sha256(new.read_bytes()).hexdigest()
    base = {
        "swarm_id": SWARM,
        "node_id": "m2id",
        "hostname": "m2",
        "advertise_addr": "10.0.0.2",
        "engine_version": "20.10.24",
        "autolocked": False,
        "created": "",
        "archive": "",
        "sha256": "",
    }
    result = action({"stage": "backup_store", "path": str(new), "manifest": base, "sha256": sha, "keep": 2}).run(
        task_vars={}
    )
    manifest = json.loads(new.with_name(new.name.replace(".tar.gz", ".json")).read_text())
    assert manifest["sha256"] == sha and manifest["archive"] == new.name and manifest["created"]
    assert result["changed"] and result["removed"] == [old[0].name]
    assert not old[0].exists() and not old[0].with_name(old[0].name.replace(".tar.gz", ".json")).exists()
    assert old[1].exists() and other[0].exists()
    assert oct(os.stat(new).st_mode & 0o777) == "0o600"
    assert oct(os.stat(result["manifest_path"]).st_mode & 0o777) == "0o600"


def test_backup_store_refuses_a_damaged_transfer_and_does_nothing_in_check_mode(tmp_path: Path) -> None:
    new = archives(tmp_path, ["20261203T000000Z"])[0]
    args = {
        "stage": "backup_store",
        "path": str(new),
        "manifest": {"hostname": "m2", "swarm_id": SWARM},
        "sha256": "0" * 64,
    }
    with pytest.raises(AnsibleActionFail, match="differs from the one on m2"):
        action(args).run(task_vars={})
    before = sorted(tmp_path.iterdir())
    result = action(args, check=True).run(task_vars={})
    # check mode reads nothing, writes nothing, and reports the store a real run makes
    assert "would store" in result["msg"] and result["changed"] is True
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("stage", "args", "until"),
    [
        ("backup_engine", {}, "until the engine on m2 answers"),
        ("backup_back", {"target": "m2id"}, "until m2 is ready and reachable again"),
        ("restore_engine", {}, "until the engine on m2 has loaded the restored swarm"),
        (
            "restore_back",
            {"manifest": {"swarm_id": SWARM, "node_id": "m2id"}},
            f"until m2 leads swarm {SWARM} as node m2id",
        ),
    ],
)
def test_waits_return_at_once_in_check_mode(stage: str, args: dict[str, Any], until: str) -> None:
    act = action({"stage": stage, "timeout": 30, **args}, check=True)
    act._execute_module = MagicMock(side_effect=AssertionError("check mode must not wait"))
    result = act.run(task_vars=task_vars("x", {}))
    assert result["msg"] == f"Check mode: would wait up to 30s {until}" and result["changed"] is False


@pytest.mark.parametrize("autolocked", [True, False])
def test_backup_engine_predicts_the_lock_in_check_mode(autolocked: bool) -> None:
    # an autolocked swarm's manager comes back locked: the unlock task then reports the change a real run makes
    act = action({"stage": "backup_engine", "manifest": {"autolocked": autolocked}}, check=True)
    act._execute_module = MagicMock(side_effect=AssertionError("check mode must not read"))
    assert act.run(task_vars=task_vars("x", {}))["locked"] is autolocked


def backed_up(tmp_path: Path, **manifest: Any) -> Path:
    path = tmp_path / f"swarm-{SWARM[:12]}-m2-20261203T000000Z.tar.gz"
    path.write_bytes(b"raft")
    doc = {
        "swarm_id": SWARM,
        "node_id": "m2id",
        "hostname": "m2",
        "advertise_addr": "10.0.0.2",
        "engine_version": "20.10.24",
        "autolocked": False,
        "created": "2026-12-03T00:00:00+00:00",
        "archive": path.name,
        "sha256": hashlib.sha256(b"raft").hexdigest(),
        **manifest,
    }
    path.with_name(path.name.replace(".tar.gz", ".json")).write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("host", "state", "force", "error"),
    [
        ("m2", "inactive", False, ""),
        ("m2", "active", False, "its engine is in a healthy swarm"),
        ("m2", "active", True, ""),
        # the address comes from the planner's resolution: ansible_host of m1 is 10.0.0.1
        ("m1", "inactive", False, "but m1 advertises 10.0.0.1"),
        ("", "inactive", False, "Say which manager to restore onto"),
    ],
)
def test_restore_stage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str, state: str, force: bool, error: str
) -> None:
    archive = backed_up(tmp_path)
    tv = task_vars("rp", {host: probe(host, state)} if host else {})
    act = action({"stage": "restore", "path": str(archive), "host": host, "probe": "rp", "force": force})
    if error:
        with pytest.raises(AnsibleActionFail, match=error):
            act.run(task_vars=tv)
        return
    result = act.run(task_vars=tv)
    assert result["host"] == "m2" and result["advertise_addr"] == "10.0.0.2"
    assert result["manifest"] == {"swarm_id": SWARM, "node_id": "m2id"}
    assert result["docker_root_dir"] == "/var/lib/docker" and not result["changed"]
    assert f"Restore swarm {SWARM}" in capsys.readouterr().out


def test_restore_stage_uses_docker_swarm_advertise_addr(tmp_path: Path) -> None:
    archive = backed_up(tmp_path, advertise_addr="192.0.2.2")
    tv = task_vars("rp", {"m2": probe("m2", "inactive")})
    tv["hostvars"]["m2"]["docker_swarm_advertise_addr"] = "192.0.2.2"
    result = action({"stage": "restore", "path": str(archive), "host": "m2", "probe": "rp"}).run(task_vars=tv)
    assert result["advertise_addr"] == "192.0.2.2"


def test_restore_stage_refuses_missing_and_damaged_archives(tmp_path: Path) -> None:
    tv = task_vars("rp", {"m2": probe("m2", "inactive")})
    with pytest.raises(AnsibleActionFail, match="-e backup_archive=PATH"):
        action({"stage": "restore", "host": "m2", "probe": "rp"}).run(task_vars=tv)
    with pytest.raises(AnsibleActionFail, match="Cannot read the archive or its manifest"):
        action({"stage": "restore", "path": str(tmp_path / "none.tar.gz"), "host": "m2", "probe": "rp"}).run(
            task_vars=tv
        )
    archive = backed_up(tmp_path)
    archive.write_bytes(b"tampered")
    with pytest.raises(AnsibleActionFail, match="does not match its manifest"):
        action({"stage": "restore", "path": str(archive), "host": "m2", "probe": "rp"}).run(task_vars=tv)


def test_restore_engine_and_back_poll(no_sleep: dict[str, float]) -> None:
    pending = {"local": {"state": "pending", "error": "The swarm does not have a leader."}}
    reads = iter([{"failed": True, "msg": "no socket"}, {"local": {"state": "inactive"}}, pending])
    act = action({"stage": "restore_engine", "timeout": 30})
    act._execute_module = lambda **kw: next(reads)
    assert act.run(task_vars=task_vars("x", {}))["state"] == "pending"
    not_leader = {**probe("m2"), "nodes": [node("m2"), node("m1", reach="unreachable", state="down")]}
    reads = iter([not_leader, {**probe("m2"), "nodes": [node("m2", True)]}])
    act = action({"stage": "restore_back", "manifest": {"swarm_id": SWARM, "node_id": "m2id"}, "timeout": 30})
    act._execute_module = lambda **kw: next(reads)
    assert f"m2 leads swarm {SWARM} again" in act.run(task_vars=task_vars("x", {}))["msg"]
    act = action({"stage": "restore_back", "manifest": {"swarm_id": SWARM, "node_id": "m2id"}, "timeout": 4})
    act._execute_module = lambda **kw: not_leader
    with pytest.raises(AnsibleActionFail, match="not up after 4s: node m2id is not the leader yet"):
        act.run(task_vars=task_vars("x", {}))

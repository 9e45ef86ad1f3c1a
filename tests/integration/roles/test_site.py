"""site.yml (role hive.swarm.docker_swarm) against real lab engines.

Labs: rol1 (net 23, 3 managers + 3 workers; the inventory starts without rol1-w3, which a later
test adds under --limit) and rol2 (net 24, 1 + 1, for the ansible-runner run). The tests of this
file build on each other in file order: check on a fresh lab -> converge -> re-run -> check/diff
-> rebuild the first manager -> --limit to a new worker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hivelab
import pytest
import yaml
from labfixtures import REPO

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BIN = Path(sys.executable).parent
SECRETS = ("SWMTKN-", "SWMKEY-")
RECAP_RE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.M,
)
DURATIONS: dict[str, float] = {}


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.proc = proc
        self.seconds = seconds
        self.out = proc.stdout + proc.stderr
        recap = self.out[self.out.rfind("PLAY RECAP"):] if "PLAY RECAP" in self.out else ""
        self.recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
                      for m in RECAP_RE.finditer(recap)}

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    def ok(self) -> Run:
        assert self.proc.returncode == 0, f"rc={self.proc.returncode}\n{self.out[-8000:]}"
        assert self.recap, f"no PLAY RECAP\n{self.out[-4000:]}"
        assert all(h["failed"] == 0 and h["unreachable"] == 0 for h in self.recap.values()), self.recap
        return self


def env() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}",
            "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}


def playbook(inventory: Path, *args: str, name: str, playbook_path: str = "site.yml") -> Run:
    t0 = time.monotonic()
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), playbook_path, *args], cwd=REPO,
                          env=env(), capture_output=True, text=True, timeout=900, check=False)
    run = Run(proc, time.monotonic() - t0)
    DURATIONS[name] = run.seconds
    print(f"[{name}] rc={proc.returncode} changed={run.changed} {run.seconds:.1f}s")
    return run


def write_inventory(lab: hivelab.Lab, path: Path, leave_out: tuple[str, ...] = (),
                    host_vars: dict[str, dict[str, Any]] | None = None) -> Path:
    lab.write_inventory(path)
    inv = yaml.safe_load(path.read_text())
    for group in inv["all"]["children"]["docker_swarm"]["children"].values():
        hosts = group.get("hosts") or {}
        for name in leave_out:
            hosts.pop(name, None)
        for name, extra in (host_vars or {}).items():
            if name in hosts:
                hosts[name].update(extra)
    path.write_text(yaml.safe_dump(inv))
    return path


def swarm(lab: hivelab.Lab, host: str) -> dict[str, Any]:
    return lab.info(host)["Swarm"]


def nodes(lab: hivelab.Lab, manager: str) -> list[dict[str, Any]]:
    return lab.api(manager, "GET", "/nodes")


@pytest.fixture(scope="module", autouse=True)
def report_durations() -> Any:
    yield
    print("\nsite.yml durations (s): " + json.dumps({k: round(v, 1) for k, v in DURATIONS.items()}))


@pytest.fixture(scope="module")
def lab1(lab_factory: Any) -> hivelab.Lab:
    return lab_factory("rol1", 23, managers=3, workers=3)


@pytest.fixture(scope="module")
def inv1(lab1: hivelab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    labels = {"rol1-w1": {"docker_swarm_labels": {"zone": "a"}}, "rol1-w2": {"docker_swarm_labels": {"zone": "b"}}}
    return write_inventory(lab1, tmp_path_factory.mktemp("rol1") / "inventory.yml", leave_out=("rol1-w3",),
                           host_vars=labels)


FIVE = ("rol1-m1", "rol1-m2", "rol1-m3", "rol1-w1", "rol1-w2")
MANAGERS = ("rol1-m1", "rol1-m2", "rol1-m3")


def test_check_on_fresh_lab_changes_nothing(lab1: hivelab.Lab, inv1: Path) -> None:
    run = playbook(inv1, "--check", name="check on fresh lab").ok()
    assert run.changed > 0, "check mode must predict the init and the joins"
    assert set(run.recap) == set(FIVE)
    for h in (*FIVE, "rol1-w3"):
        assert swarm(lab1, h)["LocalNodeState"] == "inactive", h


def test_converge_fresh_lab_without_leaking_tokens(lab1: hivelab.Lab, inv1: Path) -> None:
    run = playbook(inv1, "-vvv", name="converge fresh 3+2 (-vvv)").ok()
    assert run.changed > 0
    for secret in SECRETS:
        assert secret not in run.out
    infos = {h: swarm(lab1, h) for h in FIVE}
    assert all(i["LocalNodeState"] == "active" for i in infos.values()), infos
    assert {h for h, i in infos.items() if i["ControlAvailable"]} == set(MANAGERS)
    assert len({infos[m]["Cluster"]["ID"] for m in MANAGERS}) == 1
    listed = nodes(lab1, "rol1-m2")
    assert sorted(n["Description"]["Hostname"] for n in listed) == sorted(FIVE)
    assert all(n["Status"]["State"] == "ready" for n in listed)
    assert sum(1 for n in listed if n.get("ManagerStatus", {}).get("Leader")) == 1
    by_name = {n["Description"]["Hostname"]: n for n in listed}
    assert by_name["rol1-w1"]["Spec"]["Labels"] == {"zone": "a"}
    assert by_name["rol1-w2"]["Spec"]["Labels"] == {"zone": "b"}
    assert swarm(lab1, "rol1-w3")["LocalNodeState"] == "inactive", "not in the inventory: untouched"


def test_second_run_changes_nothing(inv1: Path) -> None:
    run = playbook(inv1, name="re-run converged").ok()
    assert run.changed == 0, run.recap


def test_check_diff_on_converged_lab_changes_nothing(inv1: Path) -> None:
    run = playbook(inv1, "--check", "--diff", name="check --diff converged").ok()
    assert run.changed == 0, run.recap


def test_rebuilt_first_manager_rejoins_the_same_swarm(lab1: hivelab.Lab, inv1: Path) -> None:
    cluster = swarm(lab1, "rol1-m2")["Cluster"]["ID"]
    old_id = swarm(lab1, "rol1-m1")["NodeID"]
    lab1.wipe("rol1-m1")
    assert swarm(lab1, "rol1-m1")["LocalNodeState"] == "inactive"
    # Straight away: the managers may still list the old rol1-m1 as ready and reachable.
    run = playbook(inv1, "-vvv", name="re-join wiped first manager (-vvv)").ok()
    for secret in SECRETS:
        assert secret not in run.out
    ids = {m: swarm(lab1, m)["Cluster"]["ID"] for m in MANAGERS}
    assert set(ids.values()) == {cluster}, f"a second swarm: {ids}"
    new_id = swarm(lab1, "rol1-m1")["NodeID"]
    assert new_id != old_id
    listed = nodes(lab1, "rol1-m1")
    assert len(listed) == len(FIVE), [(n["Description"]["Hostname"], n["ID"]) for n in listed]
    assert old_id not in {n["ID"] for n in listed}, "the stale entry of the old rol1-m1 is gone"
    managers = [n for n in listed if n["Spec"]["Role"] == "manager"]
    assert len(managers) == 3 and all(n["ManagerStatus"]["Reachability"] == "reachable" for n in managers)
    assert playbook(inv1, name="re-run after rebuild").ok().changed == 0


def test_limit_to_a_new_worker_touches_nothing_else(lab1: hivelab.Lab, inv1: Path, tmp_path: Path) -> None:
    inv = write_inventory(lab1, tmp_path / "inventory.yml", host_vars={
        "rol1-w1": {"docker_swarm_labels": {"zone": "a"}}, "rol1-w2": {"docker_swarm_labels": {"zone": "b"}},
        "rol1-w3": {"docker_swarm_labels": {"zone": "c"}}})
    before = {n["ID"]: n["Spec"] for n in nodes(lab1, "rol1-m1")}
    swarm_before = lab1.api("rol1-m1", "GET", "/swarm")["Version"]["Index"]
    run = playbook(inv, "--limit", "rol1-w3", name="--limit new worker").ok()
    assert set(run.recap) == {"rol1-w3"}
    assert run.changed > 0
    assert swarm(lab1, "rol1-w3")["LocalNodeState"] == "active"
    after = {n["ID"]: n for n in nodes(lab1, "rol1-m1")}
    assert set(after) - set(before) == {swarm(lab1, "rol1-w3")["NodeID"]}
    for node_id, spec in before.items():
        assert after[node_id]["Spec"] == spec, f"{after[node_id]['Description']['Hostname']} was changed"
    new = after[swarm(lab1, "rol1-w3")["NodeID"]]
    assert new["Spec"]["Role"] == "worker" and new["Spec"]["Labels"] == {"zone": "c"}
    assert lab1.api("rol1-m1", "GET", "/swarm")["Version"]["Index"] == swarm_before, "swarm spec untouched"
    assert playbook(inv, name="full re-run after --limit").ok().changed == 0


def test_ansible_runner_job_events(lab_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ansible_runner = pytest.importorskip("ansible_runner")
    lab = lab_factory("rol2", 24, managers=1, workers=1)
    inv = write_inventory(lab, tmp_path / "inventory.yml")
    for key, value in env().items():
        monkeypatch.setenv(key, value)
    private = tmp_path / "runner"
    private.mkdir()
    t0 = time.monotonic()
    result = ansible_runner.run(private_data_dir=str(private), project_dir=str(REPO), playbook=str(REPO / "site.yml"),
                                inventory=str(inv), quiet=True, timeout=900)
    DURATIONS["ansible-runner converge 1+1"] = time.monotonic() - t0
    assert result.status == "successful", result.stdout.read()[-6000:]
    assert result.rc == 0
    events = list(result.events)
    assert not [e for e in events if e.get("event") in ("runner_on_failed", "runner_on_unreachable")
                and not e.get("event_data", {}).get("ignore_errors")]
    stats = [e for e in events if e.get("event") == "playbook_on_stats"]
    assert stats and stats[-1]["event_data"]["changed"], "the converge changed hosts"
    assert swarm(lab, "rol2-w1")["LocalNodeState"] == "active"
    leaked = []
    for path in private.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            leaked += [f"{path.relative_to(private)}: {s}" for s in SECRETS if s.encode() in data]
    assert not leaked, leaked
    assert (private / "artifacts").is_dir()


def test_refuses_inventory_hosts_in_different_swarms(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("rol3", 25, managers=2, workers=0)
    for host in ("rol3-m1", "rol3-m2"):
        ip = lab.host(host).ip
        lab.api(host, "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": ip})
    before = {h: swarm(lab, h)["Cluster"]["ID"] for h in ("rol3-m1", "rol3-m2")}
    assert len(set(before.values())) == 2
    run = playbook(write_inventory(lab, tmp_path / "inventory.yml"), name="refuse two swarms")
    assert run.proc.returncode != 0
    assert "inventory hosts are in different swarms" in run.out
    assert run.changed == 0
    assert {h: swarm(lab, h)["Cluster"]["ID"] for h in before} == before

"""playbooks/upgrade.yml and playbooks/maintenance.yml on real engines, sampled every second.

Lab upg1 (net 41): 3 managers + 2 workers on Engine 20.10, converged by site.yml with autolock on, and a
service of 6 replicas of the lab image. The tests build on each other in file order:

1. --check prints the walk and its gates, predicts changes and changes nothing; without the confirmation nothing
   changes either.
2. A gate failure: with upg1-m2's engine stopped the run stops before any node is touched.
3. upgrade.yml to 28.5, killed (SIGKILL) as soon as the second node is done, then run again: the second run
   touches only the remaining nodes, unlocks the restarted managers itself, and ends with every node on 28.5 and
   the availability it had (upg1-m3 was 'pause'). While both runs go on, a sampler reads the swarm every second:
   a service with one replica per node (spread, 3) never runs fewer than 3 - 1, one with up to two per node (web,
   6) never fewer than 6 - 2; reachable managers never below the quorum; one cluster ID.
4. A third run changes nothing (every node skipped); --check --diff too.
5. maintenance.yml on the two workers in one batch of 2 (maintenance_max_shortfall=2: the other nodes have no
   room for every replica) restarts their engines (the tasks file) and gives them back.
The sampled numbers are printed (pytest -s) and written to $HIVE_UPGRADE_RESULTS when set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Optional

import hivelab
import pytest
from labfixtures import REPO, EverySecond
from test_site import BIN, Run, env, playbook, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME, NET = "upg1", 41
MANAGERS = tuple(f"{NAME}-m{i}" for i in (1, 2, 3))
WORKERS = (f"{NAME}-w1", f"{NAME}-w2")
HOSTS = (*MANAGERS, *WORKERS)
# web: 6 replicas, at most 2 on a node; spread: 3 replicas, at most 1 on a node. Swarm stops a drained node's
# tasks before their replacements start (after the stop grace period), so a service runs one replica less for
# each of its tasks on the drained nodes for the second the replacement takes to start: with one task per node
# (spread) it never misses more than the step's node count.
SERVICES = {"web": (6, 2), "spread": (3, 1)}
TARGET = "28.5"
MARK = "hive.swarm.maintenance.availability"
HIVELAB = str(REPO / "lab" / "hivelab")
SAMPLES: dict[str, dict[str, Any]] = {}
RAW: dict[str, list[dict[str, Any]]] = {}


class Sampler(EverySecond):
    """Reads the swarm once a second from the first manager that answers: running replicas of the service,
    reachable managers, the cluster ID."""

    join_seconds = 10.0

    def _read(self) -> Optional[dict[str, Any]]:
        for manager in MANAGERS:
            try:
                info = self.lab.api(manager, "GET", "/info", timeout=5)
                if not info["Swarm"].get("ControlAvailable"):
                    continue
                nodes = self.lab.api(manager, "GET", "/nodes", timeout=5)
                services = {s["ID"]: s["Spec"]["Name"] for s in self.lab.api(manager, "GET", "/services", timeout=5)}
                tasks = self.lab.api(manager, "GET", "/tasks", timeout=5)
            except (hivelab.LabError, OSError, KeyError, ValueError):
                continue
            sample: dict[str, Any] = {
                "via": manager, "cluster": info["Swarm"]["Cluster"]["ID"],
                "reachable": sum(1 for n in nodes if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable")}
            for name in SERVICES:
                running = [t for t in tasks
                           if services.get(t["ServiceID"]) == name and t["Status"]["State"] == "running"]
                # containers running (an old task keeps running through its stop grace period) ...
                sample[name] = len(running)
                # ... and what 'docker service ls' shows: running tasks the orchestrator wants running
                sample[name + "_desired"] = sum(1 for t in running if t["DesiredState"] == "running")
            return sample
        return None

    def take(self) -> None:
        sample = self._read()
        self.samples.append({"t": time.time(), **(sample or {"via": None})})

    def summary(self) -> dict[str, Any]:
        read = [s for s in self.samples if s["via"]]
        out: dict[str, Any] = {"samples": len(self.samples), "unread": len(self.samples) - len(read),
                               "min_reachable": min((s["reachable"] for s in read), default=None),
                               "clusters": sorted({s["cluster"] for s in read})}
        for name in SERVICES:
            out[f"min_{name}"] = min((s[name] for s in read), default=None)
            out[f"min_{name}_desired"] = min((s[name + "_desired"] for s in read), default=None)
        return out


NODE_IDS: dict[str, str] = {}


def node_id(lab: hivelab.Lab, host: str) -> str:
    """The host's node ID, from its own /info (read once: an upgrade keeps the data root and the ID)."""
    if host not in NODE_IDS:
        NODE_IDS[host] = lab.api(host, "GET", "/info", timeout=5)["Swarm"]["NodeID"]
    return NODE_IDS[host]


def nodes_by_host(lab: hivelab.Lab) -> dict[str, dict[str, Any]]:
    """host -> its node entry, matched by node ID. Not by Description.Hostname: after a drain, restart and
    activate, the Engine can list a manager for a while with the description (hostname, engine version) of
    another node (moby/moby#46167, #46462); the ID and the spec stay right."""
    ids = {node_id(lab, h): h for h in HOSTS}
    for manager in MANAGERS:
        try:
            nodes = lab.api(manager, "GET", "/nodes", timeout=5)
        except (hivelab.LabError, OSError):
            continue
        return {ids[n["ID"]]: n for n in nodes if n["ID"] in ids}
    raise AssertionError("no manager lists the nodes")


def engine_of(lab: hivelab.Lab, host: str) -> str:
    """The engine version the host's own dockerd reports ('' while it does not answer)."""
    try:
        return str(lab.engine_version(host).get("Version", ""))
    except (hivelab.LabError, OSError):
        return ""


def state(lab: hivelab.Lab) -> dict[str, tuple[str, str, str]]:
    """host -> (engine version, availability, maintenance label)."""
    return {h: (engine_of(lab, h), n["Spec"]["Availability"], n["Spec"].get("Labels", {}).get(MARK, ""))
            for h, n in nodes_by_host(lab).items()}


def wait_for(what: str, predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def record(name: str, sampler: Sampler, **extra: Any) -> dict[str, Any]:
    data = {**sampler.summary(), **extra}
    SAMPLES[name] = data
    RAW[name] = sampler.samples
    print(f"[{name}] {json.dumps(data)}")
    return data


@pytest.fixture(scope="module", autouse=True)
def report_samples() -> Any:
    yield
    text = json.dumps(SAMPLES, indent=1)
    print("\nupgrade samples: " + text)
    path = os.environ.get("HIVE_UPGRADE_RESULTS")
    if path:
        Path(path).write_text(text + "\n")
        Path(path + ".samples.json").write_text(json.dumps(RAW) + "\n")


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> hivelab.Lab:
    return lab_factory(NAME, NET, managers=3, workers=2, engine="20.10")


@pytest.fixture(scope="module")
def inv(lab: hivelab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_inventory(lab, tmp_path_factory.mktemp(NAME) / "inventory.yml",
                           host_vars={f"{NAME}-m3": {"docker_swarm_node_availability": "pause"}})
    playbook(path, "-e", "docker_swarm_autolock=true", name="converge 3+2 autolocked").ok()
    key = lab.docker(MANAGERS[0], "swarm", "unlock-key", "-q").stdout.strip()
    assert key.startswith("SWMKEY-")
    (path.parent / "key.yml").write_text(json.dumps({"docker_swarm_unlock_key": key}) + "\n")
    for name, (replicas, per_node) in SERVICES.items():
        lab.docker(MANAGERS[0], "service", "create", "--detach", "--name", name, "--replicas", str(replicas),
                   "--replicas-max-per-node", str(per_node), hivelab.IMAGE, "sleep", "1000000")
    total = sum(replicas for replicas, _per_node in SERVICES.values())
    wait_for(f"{total} running replicas", lambda: len([t for t in lab.api(MANAGERS[0], "GET", "/tasks") if
                                                      t["Status"]["State"] == "running"]) == total)
    return path


def upgrade_args(inv: Path, *extra: str) -> list[str]:
    return ["-e", f"upgrade_engine_version={TARGET}", "-e", f"upgrade_install_tasks={REPO}/lab/engine_switch.yml",
            "-e", f"hivelab_name={NAME}", "-e", f"@{inv.parent / 'key.yml'}", *extra]


def upgrade(inv: Path, *extra: str, name: str) -> Run:
    return playbook(inv, *upgrade_args(inv, *extra), name=name, playbook_path="playbooks/upgrade.yml")


def test_check_prints_the_walk_and_changes_nothing(lab: hivelab.Lab, inv: Path) -> None:
    before = state(lab)
    run = upgrade(inv, "--check", name="upgrade --check").ok()
    assert run.changed > 0, "--check walks every step and predicts the changes (tests/integration/roles/" \
                            "test_check_fidelity.py compares them with a real run)"
    assert "5 steps: 2 workers in batches of up to 1, 3 managers one at a time (leader last)" in run.out
    assert "Gates:" in run.out and "the quorum kept while" in run.out
    order = [line.split()[1] for line in run.out.splitlines() if line[:1].isdigit() and f"{NAME}-" in line]
    assert order[:2] == list(WORKERS) and set(order[2:]) == set(MANAGERS), order
    run = upgrade(inv, name="upgrade without confirmation")
    assert run.proc.returncode != 0 and "Confirm with -e confirm_upgrade=yes" in run.out
    assert state(lab) == before


def test_a_gate_failure_stops_before_any_node_is_touched(lab: hivelab.Lab, inv: Path) -> None:
    before = state(lab)
    lab.stop(f"{NAME}-m2")
    try:
        wait_for("m2 unreachable", lambda: nodes_by_host(lab)[f"{NAME}-m2"]["ManagerStatus"]["Reachability"]
                 == "unreachable", 60)
        run = upgrade(inv, "-e", "confirm_upgrade=yes", name="upgrade with a manager down")
        assert run.proc.returncode != 0
        assert f"{NAME}-m2 could not be probed" in run.out or f"manager {NAME}-m2 is" in run.out, run.out[-3000:]
        assert "Nothing was changed" in run.out
        assert "TASK [Drain" not in run.out
    finally:
        lab.start(f"{NAME}-m2")
        playbook(inv, "-e", f"@{inv.parent / 'key.yml'}", name="unlock m2", playbook_path="playbooks/unlock.yml").ok()
    wait_for("m2 reachable", lambda: nodes_by_host(lab)[f"{NAME}-m2"].get("ManagerStatus", {}).get("Reachability")
             == "reachable", 60)
    assert {h: s[:2] for h, s in state(lab).items()} == {h: s[:2] for h, s in before.items()}


def test_upgrade_killed_after_two_nodes_then_resumed(lab: hivelab.Lab, inv: Path) -> None:
    before = state(lab)
    assert all(v.startswith("20.10.") for v, _a, _m in before.values()), before
    assert before[f"{NAME}-m3"][1] == "pause"
    with Sampler(lab) as sampler:
        argv = [str(BIN / "ansible-playbook"), "-i", str(inv), "playbooks/upgrade.yml",
                *upgrade_args(inv, "-e", "confirm_upgrade=yes")]
        log = inv.parent / "killed.log"
        with open(log, "w") as out:
            proc = subprocess.Popen(argv, cwd=REPO, env=env(), stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                def two_done() -> bool:
                    assert proc.poll() is None, f"the run ended before the kill:\n{log.read_text()[-3000:]}"
                    now = state(lab)
                    return sum(1 for h in HOSTS if now[h][0].startswith(TARGET) and not now[h][2]) >= 2
                wait_for("two nodes upgraded", two_done, 300)
            finally:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(30)
        killed = state(lab)
        done = sorted(h for h in HOSTS if killed[h][0].startswith(TARGET) and not killed[h][2])
        assert done == sorted(WORKERS), killed
        run = upgrade(inv, "-e", "confirm_upgrade=yes", name="upgrade resumed").ok()
    for host in WORKERS:
        assert f"TASK [Drain {host}]" not in run.out, f"{host} was drained again"
        assert f"already at {TARGET}" in next(line for line in run.out.splitlines() if f" {host} " in line)
    assert run.out.count("TASK [Unlock the engine (autolock)]") >= 3 and "changed: [upg1-m1]" in run.out
    after = state(lab)
    assert all(v.startswith(TARGET + ".") for v, _a, _m in after.values()), after
    assert {h: a for h, (_v, a, _m) in after.items()} == {h: a for h, (_v, a, _m) in before.items()}
    assert not any(m for _v, _a, m in after.values())
    data = record("upgrade 20.10 -> 28.5 (killed after 2 nodes, resumed)", sampler,
                  resumed_seconds=round(run.seconds, 1))
    assert data["samples"] >= 30 and data["unread"] <= 3, data
    for name, (replicas, per_node) in SERVICES.items():  # one node per step
        assert data[f"min_{name}"] >= replicas - per_node, (name, data)
        assert data[f"min_{name}_desired"] >= replicas - per_node, (name, data)
    assert data["min_spread"] >= 3 - 1, data
    assert data["min_reachable"] >= 2, data
    assert len(data["clusters"]) == 1, data


def test_a_rerun_changes_nothing(lab: hivelab.Lab, inv: Path) -> None:
    run = upgrade(inv, "-e", "confirm_upgrade=yes", name="upgrade re-run").ok()
    assert run.changed == 0 and "skip 5 (5 already at 28.5)" in run.out
    assert upgrade(inv, "--check", "--diff", name="upgrade --check --diff after").ok().changed == 0


def test_maintenance_of_the_workers_in_one_batch(lab: hivelab.Lab, inv: Path, tmp_path: Path) -> None:
    tasks = tmp_path / "restart.yml"
    tasks.write_text(
        "- name: Restart the lab engine\n"
        "  ansible.builtin.command:\n"
        f"    argv: [{HIVELAB}, restart, --name, {NAME}, '{{{{ inventory_hostname }}}}']\n"
        "  delegate_to: localhost\n"
        "  changed_when: true\n")
    pids = {h: lab.host(h).dockerd_pidfile.read_text().strip() for h in WORKERS}
    before = state(lab)
    with Sampler(lab) as sampler:
        # two workers away leave room for 4 of web's 6 replicas and 2 of spread's 3 (m3 is paused)
        run = playbook(inv, "-e", f"maintenance_tasks={tasks}", "-e", "maintenance_max_unavailable=100%",
                       "-e", "maintenance_max_shortfall=2", "-e", "confirm_maintenance=yes",
                       "--limit", ",".join(WORKERS), name="maintenance workers",
                       playbook_path="playbooks/maintenance.yml").ok()
    assert f"TASK [Drain {WORKERS[0]}, {WORKERS[1]}]" in run.out
    assert "1 step: 2 workers in batches of up to 2, 0 managers" in run.out
    assert {h: lab.host(h).dockerd_pidfile.read_text().strip() for h in WORKERS} != pids
    assert state(lab) == before
    data = record("maintenance of 2 workers in one batch", sampler, seconds=round(run.seconds, 1))
    assert data["unread"] <= 3 and len(data["clusters"]) == 1, data
    for name, (replicas, per_node) in SERVICES.items():  # two nodes in the step
        assert data[f"min_{name}"] >= replicas - 2 * per_node, (name, data)

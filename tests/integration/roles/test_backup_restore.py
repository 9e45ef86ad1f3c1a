"""playbooks/backup.yml and playbooks/restore.yml on real engines: a raft backup, a disaster, a restore.

Lab bak1 (net 45): 3 managers + 2 workers on Engine 20.10, converged by site.yml with autolock on; a service of the
lab image, a secret, a config and an overlay network. The tests build on each other in file order:

1. backup.yml --check prints the plan and changes nothing; without the confirmation nothing changes either.
2. backup.yml of the autolocked swarm: the chosen manager is a non-leader; its engine comes back locked and the
   playbook unlocks it (docker_swarm_unlock_key); a sampler reads the swarm every second and records that reachable
   managers never drop below 2. restore.yml refuses that archive (autolocked raft: moby/moby#36852) and changes
   nothing.
3. site.yml switches autolock off; a second backup (the restorable one).
4. Refusals change nothing: a host with another address; a host in a healthy swarm without restore_force;
   restore.yml --check of a valid restore.
5. The disaster: every manager's swarm state is destroyed (hivelab wipe: a rebuilt host). restore.yml onto the
   backup's host, then site.yml: the same swarm ID, the same IDs and specs of the service, the secret, the config
   and the network, 3 reachable managers, the workers ready; the restore time is printed. site.yml again: changed=0.
No output of any run holds SWMKEY- or SWMTKN-. The numbers are printed (pytest -s).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Optional

import hivelab
import pytest
from labfixtures import REPO, EverySecond
from test_site import SECRETS, Run, playbook, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME, NET = "bak1", 45
MANAGERS = tuple(f"{NAME}-m{i}" for i in (1, 2, 3))
WORKERS = (f"{NAME}-w1", f"{NAME}-w2")
NUMBERS: dict[str, Any] = {}
RUNS: list[Run] = []


def run(inv: Path, path: str, *args: str, name: str) -> Run:
    result = playbook(
        inv,
        "-e",
        f"engine_control_tasks={REPO}/lab/engine_control.yml",
        "-e",
        f"hivelab_name={NAME}",
        *args,
        name=name,
        playbook_path=path,
    )
    RUNS.append(result)
    for secret in SECRETS:
        assert secret not in result.out, f"{secret} in the output of {name}"
    return result


def wait_for(what: str, predicate: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def control(lab: hivelab.Lab) -> Optional[str]:
    for manager in MANAGERS:
        try:
            if lab.api(manager, "GET", "/info", timeout=5)["Swarm"].get("ControlAvailable"):
                return manager
        except (hivelab.LabError, OSError, KeyError, ValueError):
            continue
    return None


def objects(lab: hivelab.Lab) -> dict[str, Any]:
    """Swarm ID, and ID -> spec of every service, secret, config and swarm-scoped network."""
    via = control(lab)
    assert via, "no manager with control available"
    nets = {
        n["Id"]: {k: n.get(k) for k in ("Name", "Driver", "Options", "Labels", "Attachable", "Internal")}
        | {"Subnets": [c.get("Subnet") for c in (n.get("IPAM") or {}).get("Config") or []]}
        for n in lab.api(via, "GET", "/networks")
        if n.get("Scope") == "swarm"
    }
    return {
        "swarm": lab.info(via)["Swarm"]["Cluster"]["ID"],
        "services": {s["ID"]: s["Spec"] for s in lab.api(via, "GET", "/services")},
        "secrets": {s["ID"]: s["Spec"] for s in lab.api(via, "GET", "/secrets")},
        "configs": {s["ID"]: s["Spec"] for s in lab.api(via, "GET", "/configs")},
        "networks": nets,
    }


def managers_state(lab: hivelab.Lab) -> dict[str, Any]:
    """host -> (node ID, reachability), the swarm's ID, and each manager's dockerd pid (a restart changes it)."""
    via = control(lab)
    nodes = lab.api(via, "GET", "/nodes") if via else []
    return {
        "swarm": lab.info(via)["Swarm"]["Cluster"]["ID"] if via else None,
        "nodes": sorted(
            (
                n["Description"]["Hostname"],
                n["ID"],
                (n.get("ManagerStatus") or {}).get("Reachability"),
                n["Status"]["State"],
            )
            for n in nodes
        ),
        "pids": {h: lab.host(h).dockerd_pidfile.read_text().strip() for h in MANAGERS},
    }


class Sampler(EverySecond):
    """Counts reachable managers once a second (from the first manager with control available)."""

    join_seconds = 10.0

    def take(self) -> None:
        reachable = None
        for manager in MANAGERS:
            try:
                nodes = self.lab.api(manager, "GET", "/nodes", timeout=3)
            except (hivelab.LabError, OSError, ValueError):
                continue
            reachable = sum(1 for n in nodes if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable")
            break
        self.samples.append(reachable)


@pytest.fixture(scope="module", autouse=True)
def report() -> Any:
    yield
    print("\nbackup/restore numbers: " + json.dumps(NUMBERS, indent=1))


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> hivelab.Lab:
    return lab_factory(NAME, NET, managers=3, workers=2, engine="20.10")


@pytest.fixture(scope="module")
def inv(lab: hivelab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_inventory(lab, tmp_path_factory.mktemp(NAME) / "inventory.yml")
    assert playbook(path, "-e", "docker_swarm_autolock=true", name="converge 3+2 autolocked").ok().changed > 0
    key = lab.docker(MANAGERS[0], "swarm", "unlock-key", "-q").stdout.strip()
    assert key.startswith("SWMKEY-")
    (path.parent / "key.yml").write_text(json.dumps({"docker_swarm_unlock_key": key}) + "\n")
    m1 = MANAGERS[0]
    lab.docker(m1, "network", "create", "--driver", "overlay", "--attachable", "--subnet", "10.45.7.0/24", "appnet")
    lab.exec(m1, ["sh", "-c", "printf s3cret | docker secret create db_pass -"])
    lab.exec(m1, ["sh", "-c", "printf 'port: 80' | docker config create app_conf -"])
    lab.docker(
        m1,
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--replicas",
        "2",
        "--network",
        "appnet",
        "--secret",
        "db_pass",
        "--config",
        "app_conf",
        hivelab.IMAGE,
        "sleep",
        "1000000",
    )
    wait_for(
        "2 running replicas",
        lambda: len([t for t in lab.api(m1, "GET", "/tasks") if t["Status"]["State"] == "running"]) == 2,
    )
    return path


@pytest.fixture(scope="module")
def backups(inv: Path) -> Path:
    return inv.parent / "backups"


def backup_args(inv: Path, backups: Path, *extra: str) -> list[str]:
    return ["-e", f"backup_dir={backups}", "-e", f"@{inv.parent / 'key.yml'}", *extra]


def test_backup_check_and_unconfirmed_change_nothing(lab: hivelab.Lab, inv: Path, backups: Path) -> None:
    before = managers_state(lab)
    check = run(inv, "playbooks/backup.yml", *backup_args(inv, backups), "--check", name="backup --check").ok()
    assert check.changed > 0 and f"Backup of swarm {before['swarm']} from " in check.out  # predicted, not made
    unconfirmed = run(inv, "playbooks/backup.yml", *backup_args(inv, backups), name="backup unconfirmed")
    assert unconfirmed.proc.returncode != 0 and "Confirm with -e confirm_backup=yes" in unconfirmed.out
    assert "Stop the engine" not in unconfirmed.out and not backups.exists()
    assert managers_state(lab) == before


def test_backup_of_an_autolocked_swarm_keeps_the_quorum(lab: hivelab.Lab, inv: Path, backups: Path) -> None:
    before = managers_state(lab)
    leader = next(
        n["Description"]["Hostname"]
        for n in lab.api(MANAGERS[0], "GET", "/nodes")
        if (n.get("ManagerStatus") or {}).get("Leader")
    )
    with Sampler(lab) as sampler:
        done = run(
            inv,
            "playbooks/backup.yml",
            *backup_args(inv, backups, "-e", "confirm_backup=yes"),
            name="backup autolocked",
        ).ok()
    manifests = sorted(backups.glob("*.json"))
    assert len(manifests) == 1 and len(list(backups.glob("*.tar.gz"))) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["hostname"] != leader and manifest["autolocked"] is True
    assert manifest["swarm_id"] == before["swarm"]
    unlock = done.out.split("TASK [Unlock the engine (autolock)]", 1)[1].split("TASK [", 1)[0]
    assert f"changed: [{manifest['hostname']}]" in unlock, unlock
    read = [s for s in sampler.samples if s is not None]
    NUMBERS["backup autolocked"] = {
        "seconds": round(done.seconds, 1),
        "samples": len(sampler.samples),
        "unread": len(sampler.samples) - len(read),
        "min_reachable": min(read),
    }
    assert len(read) >= 5 and min(read) >= 2, NUMBERS
    after = managers_state(lab)
    assert (
        after["nodes"] == before["nodes"]
        and after["pids"][manifest["hostname"]] != before["pids"][manifest["hostname"]]
    )
    refused = run(
        inv,
        "playbooks/restore.yml",
        "-e",
        f"backup_archive={backups / manifest['archive']}",
        "-e",
        f"restore_host={manifest['hostname']}",
        "-e",
        "restore_force=true",
        "-e",
        "confirm_restore=yes",
        name="restore of an autolocked archive",
    )
    assert refused.proc.returncode != 0 and "moby/moby#36852" in refused.out and "Nothing was changed." in refused.out
    assert managers_state(lab) == after


def test_autolock_off_and_the_restorable_backup(lab: hivelab.Lab, inv: Path, backups: Path) -> None:
    playbook(inv, "-e", "docker_swarm_autolock=false", name="autolock off").ok()
    with Sampler(lab) as sampler:
        done = run(
            inv,
            "playbooks/backup.yml",
            *backup_args(inv, backups, "-e", "confirm_backup=yes", "-e", "backup_keep=1"),
            name="backup",
        ).ok()
    assert len(list(backups.glob("*.tar.gz"))) == 1 and len(list(backups.glob("*.json"))) == 1  # keep=1
    manifest = json.loads(next(backups.glob("*.json")).read_text())
    assert manifest["autolocked"] is False
    read = [s for s in sampler.samples if s is not None]
    NUMBERS["backup"] = {
        "seconds": round(done.seconds, 1),
        "samples": len(sampler.samples),
        "unread": len(sampler.samples) - len(read),
        "min_reachable": min(read),
    }
    assert min(read) >= 2, NUMBERS


def restore_args(backups: Path, host: str, *extra: str) -> list[str]:
    archive = next(backups.glob("*.tar.gz"))
    return ["-e", f"backup_archive={archive}", "-e", f"restore_host={host}", *extra]


def test_restore_refusals_and_check_change_nothing(lab: hivelab.Lab, inv: Path, backups: Path) -> None:
    manifest = json.loads(next(backups.glob("*.json")).read_text())
    target = manifest["hostname"]
    other = next(h for h in MANAGERS if h != target)
    before = managers_state(lab)
    wrong = run(
        inv,
        "playbooks/restore.yml",
        *restore_args(backups, other, "-e", "confirm_restore=yes", "-e", "restore_force=true"),
        name="restore wrong host",
    )
    assert wrong.proc.returncode != 0 and f"but {other} advertises {lab.host(other).ip}" in wrong.out
    healthy = run(
        inv,
        "playbooks/restore.yml",
        *restore_args(backups, target, "-e", "confirm_restore=yes"),
        name="restore onto a healthy swarm",
    )
    assert healthy.proc.returncode != 0 and "its engine is in a healthy swarm" in healthy.out
    check = run(
        inv,
        "playbooks/restore.yml",
        *restore_args(backups, target, "-e", "restore_force=true"),
        "--check",
        name="restore --check",
    ).ok()
    assert check.changed > 0 and f"Restore swarm {manifest['swarm_id']}" in check.out  # predicted, not made
    for refused in (wrong, healthy):
        assert "Nothing was changed." in refused.out and "Stop the engine" not in refused.out
    assert managers_state(lab) == before


def test_disaster_restore_and_regrow(lab: hivelab.Lab, inv: Path, backups: Path) -> None:
    manifest = json.loads(next(backups.glob("*.json")).read_text())
    target = manifest["hostname"]
    before = objects(lab)
    assert len(before["services"]) == 1 and len(before["secrets"]) == 1 and len(before["configs"]) == 1
    assert any(n["Name"] == "appnet" for n in before["networks"].values())
    for manager in MANAGERS:
        lab.wipe(manager)
    assert all(lab.info(m)["Swarm"]["LocalNodeState"] == "inactive" for m in MANAGERS)
    t0 = time.monotonic()
    restored = run(
        inv, "playbooks/restore.yml", *restore_args(backups, target, "-e", "confirm_restore=yes"), name="restore"
    ).ok()
    regrown = playbook(inv, name="site.yml after the restore").ok()
    seconds = time.monotonic() - t0
    assert "stale manager entry" in regrown.out
    after = objects(lab)
    assert after == before
    nodes = lab.api(target, "GET", "/nodes")
    assert sorted(n["Description"]["Hostname"] for n in nodes) == sorted((*MANAGERS, *WORKERS))
    assert all(n["Status"]["State"] == "ready" for n in nodes), nodes
    assert sum(1 for n in nodes if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable") == 3
    NUMBERS["restore"] = {
        "restore.yml": round(restored.seconds, 1),
        "site.yml": round(regrown.seconds, 1),
        "total": round(seconds, 1),
    }
    print(f"[restore] restore.yml {restored.seconds:.1f}s + site.yml {regrown.seconds:.1f}s = {seconds:.1f}s")
    again = playbook(inv, name="site.yml again").ok()
    assert again.changed == 0
    for secret in SECRETS:
        assert secret not in regrown.out and secret not in again.out

"""playbooks/remove_node.yml against real lab engines (lab rmn1, net 27: 3 managers + 2 workers).

In file order: a worker (check mode first: engines unchanged), the same worker again (already gone: no change),
a manager (drained, demoted, left, removed; the other two keep the quorum), a worker whose engine is stopped
(it cannot leave itself, its entry is removed), and a refusal: with one manager's engine stopped, removing the
last other manager would leave no manager to work through - refused, nothing changed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hivelab
import pytest
from test_site import Run, nodes, playbook, swarm, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

MANAGERS = ("rmn1-m1", "rmn1-m2", "rmn1-m3")


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> hivelab.Lab:
    return lab_factory("rmn1", 27, managers=3, workers=2)


@pytest.fixture(scope="module")
def inv(lab: hivelab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_inventory(lab, tmp_path_factory.mktemp("rmn1") / "inventory.yml")
    playbook(path, name="remove_node: converge").ok()
    return path


def remove(inv: Path, node: str, *args: str) -> Run:
    return playbook(inv, "-e", f"node={node}", "-e", "confirm_remove=yes", *args, name=f"remove {node} {args}",
                    playbook_path="playbooks/remove_node.yml")


def hostnames(lab: hivelab.Lab, via: str) -> list[str]:
    return sorted(n["Description"]["Hostname"] for n in nodes(lab, via))


def wait_for(what: str, predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def test_remove_a_worker_check_first_then_again_is_no_change(lab: hivelab.Lab, inv: Path) -> None:
    before = hostnames(lab, "rmn1-m1")
    check = remove(inv, "rmn1-w2", "--check").ok()
    assert check.changed > 0 and hostnames(lab, "rmn1-m1") == before, "--check must change nothing"
    assert "Remove rmn1-w2 (worker) through rmn1-m1: drain, demote, leave, remove the entry" in check.out
    assert remove(inv, "rmn1-w2").ok().changed > 0
    assert swarm(lab, "rmn1-w2")["LocalNodeState"] == "inactive"
    assert "rmn1-w2" not in hostnames(lab, "rmn1-m1")
    assert remove(inv, "rmn1-w2").ok().changed == 0, "already gone: nothing to do"


def test_remove_a_manager_keeps_the_quorum(lab: hivelab.Lab, inv: Path) -> None:
    remove(inv, "rmn1-m3").ok()
    assert swarm(lab, "rmn1-m3")["LocalNodeState"] == "inactive"
    listed = nodes(lab, "rmn1-m1")
    managers = [n for n in listed if n["Spec"]["Role"] == "manager"]
    assert sorted(n["Description"]["Hostname"] for n in managers) == ["rmn1-m1", "rmn1-m2"]
    assert all(n["ManagerStatus"]["Reachability"] == "reachable" for n in managers)


def test_remove_a_worker_whose_engine_is_stopped(lab: hivelab.Lab, inv: Path) -> None:
    lab.stop("rmn1-w1")
    try:
        def down() -> bool:
            return any(n["Description"]["Hostname"] == "rmn1-w1" and n["Status"]["State"] == "down"
                       for n in nodes(lab, "rmn1-m1"))

        wait_for("rmn1-w1 down", down)
        run = remove(inv, "rmn1-w1").ok()
        assert run.changed > 0
        assert "rmn1-w1" not in hostnames(lab, "rmn1-m1")
    finally:
        lab.start("rmn1-w1")


def test_refused_when_no_other_manager_can_work(lab: hivelab.Lab, inv: Path) -> None:
    # Two managers are left (rmn1-m1, rmn1-m2); with rmn1-m1's engine stopped, rmn1-m2 is the only one that answers.
    node_id = swarm(lab, "rmn1-m2")["NodeID"]
    lab.stop("rmn1-m1")
    try:
        run = remove(inv, "rmn1-m2")
        assert run.proc.returncode != 0
        assert "rmn1-m2 is the last reachable manager; removing it destroys the swarm." in run.out
        assert run.changed == 0
        after = swarm(lab, "rmn1-m2")
        assert after["LocalNodeState"] == "active" and after["NodeID"] == node_id and after["ControlAvailable"]
    finally:
        lab.start("rmn1-m1")

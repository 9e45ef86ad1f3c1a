"""site.yml and status.yml on newer engines and on mixed clusters (Debian's docker.io 28.5 beside the system's 20.10).

Labs: eng1 (net 28, 3 managers + 2 workers, all on Engine 28.5): converge, re-run (changed=0), --check --diff
(changed=0), transform (labels, a drain, a manager moved to the workers), re-run. eng2 (net 29, managers on 20.10,
workers on 28.5) and eng3 (net 31, the reverse): converge, re-run, and status.yml shows every node's engine
version; the plan warns that the versions differ. The lab's engines are fetched once from Debian's package
registry (cached under /var/lib/hive-lab/engines).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hivelab
import pytest
import yaml
from test_site import nodes, playbook, swarm, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def engine_versions(lab: hivelab.Lab, via: str) -> dict[str, str]:
    return {n["Description"]["Hostname"]: n["Description"]["Engine"]["EngineVersion"] for n in nodes(lab, via)}


@pytest.fixture(scope="module")
def lab28(lab_factory: Any) -> hivelab.Lab:
    return lab_factory("eng1", 28, managers=3, workers=2, engine="28.5")


def test_converge_transform_and_rerun_on_engine_28(lab28: hivelab.Lab, tmp_path: Path) -> None:
    hosts = [h.name for h in lab28.hosts]
    running = {h: lab28.engine_version(h)["Version"] for h in hosts}
    assert all(v.startswith("28.5.") for v in running.values()), running
    inv = write_inventory(lab28, tmp_path / "inventory.yml")
    run = playbook(inv, name="28.5: converge 3+2").ok()
    assert run.changed > 0
    assert "init 1, join 2 managers + 2 workers" in run.out
    assert playbook(inv, name="28.5: re-run").ok().changed == 0
    assert playbook(inv, "--check", "--diff", name="28.5: check --diff").ok().changed == 0
    versions = engine_versions(lab28, "eng1-m1")
    assert sorted(versions) == sorted(hosts) and all(v.startswith("28.5.") for v in versions.values()), versions

    moved = tmp_path / "transformed.yml"
    write_inventory(lab28, moved, host_vars={"eng1-w1": {"docker_swarm_labels": {"zone": "a"}},
                                             "eng1-w2": {"docker_swarm_node_availability": "drain"}})
    inv_data = yaml.safe_load(moved.read_text())  # eng1-m3 becomes a worker (a demotion)
    groups = inv_data["all"]["children"]["docker_swarm"]["children"]
    groups["docker_swarm_worker"]["hosts"]["eng1-m3"] = groups["docker_swarm_manager"]["hosts"].pop("eng1-m3")
    moved.write_text(yaml.safe_dump(inv_data))
    run = playbook(moved, name="28.5: transform").ok()
    assert "demote" in run.out
    listed = {n["Description"]["Hostname"]: n for n in nodes(lab28, "eng1-m1")}
    assert listed["eng1-m3"]["Spec"]["Role"] == "worker"
    assert listed["eng1-w1"]["Spec"]["Labels"] == {"zone": "a"}
    assert listed["eng1-w2"]["Spec"]["Availability"] == "drain"
    assert sum(1 for n in listed.values() if n["Spec"]["Role"] == "manager") == 2
    assert playbook(moved, name="28.5: re-run after transform").ok().changed == 0


@pytest.mark.parametrize("managers_engine,workers_engine,name,net", [
    ("20.10", "28.5", "eng2", 29),
    ("28.5", "20.10", "eng3", 31),
], ids=["managers-20.10-workers-28.5", "managers-28.5-workers-20.10"])
def test_mixed_cluster_converges_and_status_shows_engines(
        lab_factory: Any, tmp_path: Path, managers_engine: str, workers_engine: str, name: str, net: int) -> None:
    lab = lab_factory(name, net, managers=1, workers=2, engine=managers_engine,
                      host_engines={"w1": workers_engine, "w2": workers_engine})
    inv = write_inventory(lab, tmp_path / "inventory.yml")
    run = playbook(inv, name=f"mixed {name}: converge").ok()
    assert "Engine versions differ (" in run.out, "the plan reports the version skew"
    assert playbook(inv, name=f"mixed {name}: re-run").ok().changed == 0
    assert swarm(lab, f"{name}-w1")["LocalNodeState"] == "active"
    versions = engine_versions(lab, f"{name}-m1")
    assert versions[f"{name}-m1"].startswith(managers_engine + ".")
    assert versions[f"{name}-w1"].startswith(workers_engine + ".") and versions[f"{name}-w2"].startswith(workers_engine)
    status = playbook(inv, name=f"mixed {name}: status", playbook_path="playbooks/status.yml").ok()
    for host, version in versions.items():
        row = next(line for line in status.out.splitlines() if re.match(rf"{re.escape(host)}\s+(manager|worker)", line))
        assert version in row, (host, version, row)

"""Verify a Molecule scenario's lab over SSH (testinfra): every lab host named in the scenario's
expected topology (lab.yml: expect.<phase>, phase from the inventory) and the cluster as a whole."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml

EPHEMERAL = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
LAB = yaml.safe_load((SCENARIO / "lab.yml").read_text())["lab"]
INVENTORY = yaml.safe_load((EPHEMERAL / "inventory" / "lab.yml").read_text())
PHASE = INVENTORY["all"]["children"]["docker_swarm"]["vars"]["lab_phase"]
EXPECT: dict[str, dict[str, Any]] = LAB["expect"][PHASE]
PRESENT = sorted(h for h, e in EXPECT.items() if e.get("state", "active") == "active")
MANAGERS = sorted(h for h in PRESENT if EXPECT[h]["role"] == "manager")
# Every lab host, with its connection variables (also hosts the phase's inventory leaves out).
FULL_INVENTORY = str(EPHEMERAL / "lab-full.yml")


def connect(name: str) -> Any:
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=FULL_INVENTORY)


def swarm_info(name: str) -> dict[str, Any]:
    out = connect(name).check_output("docker info --format '{{json .Swarm}}'")
    return json.loads(out)


@pytest.fixture(scope="module")
def nodes() -> dict[str, dict[str, Any]]:
    """The node list as the first expected manager sees it: hostname -> docker node inspect."""
    mgr = connect(MANAGERS[0])
    ids = mgr.check_output("docker node ls -q").split()
    inspected = json.loads(mgr.check_output("docker node inspect " + " ".join(ids)))
    by_name: dict[str, dict[str, Any]] = {}
    for n in inspected:
        name = n["Description"]["Hostname"]
        assert name not in by_name, f"two node entries for {name}"
        by_name[name] = n
    return by_name


def test_expected_topology_is_complete() -> None:
    inventory_hosts = {h for g in INVENTORY["all"]["children"]["docker_swarm"]["children"].values()
                       for h in (g.get("hosts") or {})}
    assert inventory_hosts <= set(EXPECT), "every inventory host needs an expectation"
    assert MANAGERS, "the expectation names no manager"


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_engine_swarm_state(name: str) -> None:
    want = EXPECT[name]
    info = swarm_info(name)
    assert info["LocalNodeState"] == want.get("state", "active")
    assert not info.get("Error")
    if want.get("state", "active") == "active":
        assert info["ControlAvailable"] is (want["role"] == "manager")


@pytest.mark.parametrize("name", PRESENT)
def test_node_entry(name: str, nodes: dict[str, dict[str, Any]]) -> None:
    want = EXPECT[name]
    assert name in nodes, f"{name} has no node entry"
    node = nodes[name]
    assert node["ID"] == swarm_info(name)["NodeID"], "the entry is not the one the host reports"
    assert node["Status"]["State"] == "ready"
    assert node["Spec"]["Role"] == want["role"]
    assert node["Spec"]["Availability"] == want["availability"]
    assert (node["Spec"].get("Labels") or {}) == {k: str(v) for k, v in want["labels"].items()}
    if want["role"] == "manager":
        assert node["ManagerStatus"]["Reachability"] == "reachable"
    else:
        assert "ManagerStatus" not in node


def test_exactly_the_expected_nodes(nodes: dict[str, dict[str, Any]]) -> None:
    assert sorted(nodes) == PRESENT


def test_one_leader(nodes: dict[str, dict[str, Any]]) -> None:
    leaders = [n for n, v in nodes.items() if v.get("ManagerStatus", {}).get("Leader")]
    assert len(leaders) == 1, leaders


def test_one_cluster() -> None:
    ids = {m: swarm_info(m)["Cluster"]["ID"] for m in MANAGERS}
    assert len(set(ids.values())) == 1, ids

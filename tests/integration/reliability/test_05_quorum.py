"""Case 7 (quorum guards of the role) and case 1b (an existing swarm whose first manager is down).

rel1-m1's engine is stopped, so 2 of 3 managers are reachable. Then, started together (the converge
lock serializes the two real runs): demoting rel1-m2, removing rel1-m3 (each would leave 1 reachable
of 2 managers) are refused before any change, with a label change in the same inventory that must not
be applied; an even manager count warns (--check); 8 managers are refused, and accepted with
docker_swarm_allow_many_managers (--check). Afterwards, with rel1-m1 still down, the plain inventory
(plus a label) converges through rel1-m2/rel1-m3: rel1-m1 is reported, nothing else fails, no second swarm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import relkit
import yaml

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LABEL = {"rel1-w1": {"docker_swarm_labels": {"quorum": "test"}}}


def reachability(lab: Any, via: str, host: str) -> str:
    for n in relkit.nodes(lab, via):
        if n["Description"]["Hostname"] == host:
            return n.get("ManagerStatus", {}).get("Reachability", "")
    return ""


def control_ready(lab: Any) -> bool:
    sw = relkit.swarm_of(lab, "rel1-m2")
    return bool(sw.get("ControlAvailable")) and not sw.get("Error")


def many_managers(lab: Any, path: Path, allow: bool) -> Path:
    """The lab inventory plus 5 more managers (addresses on the lab bridge where no host runs)."""
    relkit.write_inventory(lab, path, all_vars={"docker_swarm_allow_many_managers": allow} if allow else None)
    inv = yaml.safe_load(path.read_text())
    hosts = inv["all"]["children"]["docker_swarm"]["children"]["docker_swarm_manager"]["hosts"]
    template = dict(hosts["rel1-m1"])
    for i in range(1, 6):
        hosts[f"rel1-x{i}"] = {**template, "ansible_host": f"198.18.30.{100 + i}",
                               "docker_swarm_advertise_addr": f"198.18.30.{100 + i}"}
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def test_quorum_refusals_then_converge_with_first_manager_down(converged: Any, record: Any, tmp_path: Path) -> None:
    lab = converged
    cluster = relkit.swarm_of(lab, "rel1-m2")["Cluster"]["ID"]
    lab.stop("rel1-m1")
    relkit.poll("rel1-m1 unreachable", lambda: control_ready(lab)
                and reachability(lab, "rel1-m2", "rel1-m1") == "unreachable", 60)
    relkit.poll("a leader among rel1-m2/rel1-m3", lambda: control_ready(lab), 60)
    before = relkit.snapshot(lab)
    variants = {
        "demote": relkit.write_inventory(lab, tmp_path / "demote.yml", move={"rel1-m2": "worker"}, host_vars=LABEL),
        "remove": relkit.write_inventory(lab, tmp_path / "remove.yml", host_vars={
            **LABEL, "rel1-m3": {"docker_swarm_node_state": "absent"}}),
        "even": relkit.write_inventory(lab, tmp_path / "even.yml", move={"rel1-m3": "worker"}),
        "eight": many_managers(lab, tmp_path / "eight.yml", allow=False),
        "eight-allowed": many_managers(lab, tmp_path / "eight-allowed.yml", allow=True),
    }
    started = {name: relkit.start_playbook(inv, *(["--check"] if name in ("even", "eight-allowed") else []))
               for name, inv in variants.items()}
    runs = relkit.finish_all(started, "quorum")
    after = relkit.snapshot(lab)
    assert after == before, "a refused plan changed the engines"

    # The five runs above ran at the same time: each case's time is its own run's wall time.
    case = record("7.1", "quorum: demotion below quorum refused")
    case.inject("rel1-m1 stopped (2/3 managers reachable); inventory moves rel1-m2 to workers and labels rel1-w1")
    msg = runs["demote"].failed_with(
        "Refusing to change the managers: after this run the swarm would have 2 managers of which only 1 are reachable",
        "rel1-m1 is unreachable", "fewer than the quorum of 2", "Planned to leave the managers: rel1-m2",
        "Nothing was changed")
    assert runs["demote"].changed == 0
    case.observe(f"refused before any change (label not applied, engines identical): '{msg[:170]}...'")
    case.seconds = runs["demote"].seconds

    case = record("7.2", "quorum: removal below quorum refused")
    case.inject("rel1-m1 stopped; rel1-m3 docker_swarm_node_state: absent, label on rel1-w1")
    runs["remove"].failed_with("only 1 are reachable", "Planned to leave the managers: rel1-m3", "Nothing was changed")
    assert runs["remove"].changed == 0
    case.observe("refused before any change (same message, rel1-m3 named); engines identical")
    case.seconds = runs["remove"].seconds

    case = record("7.3", "quorum: even manager count warns")
    case.inject("inventory with 2 managers (rel1-m3 as worker), --check")
    assert "WARNING: 2 managers tolerate no more failures than 1 would (quorum 2)" in runs["even"].out
    assert runs["even"].changed == 0
    case.observe("warning printed; in check mode nothing changed (the plan is also refused: rel1-m1 is down)")
    case.seconds = runs["even"].seconds

    case = record("7.4", "more than 7 managers refused unless allowed")
    case.inject("8 managers in the inventory; then docker_swarm_allow_many_managers: true (--check)")
    msg = runs["eight"].failed_with("Inventory check failed: 8 managers: more than 7",
                                    "docker_swarm_allow_many_managers: true")
    assert runs["eight"].recap and all(r["ok"] <= 3 for r in runs["eight"].recap.values()), "must stop first"
    allowed = runs["eight-allowed"]
    assert "more than 7" not in allowed.out
    assert {f["host"] for f in allowed.failures if f["unreachable"]} <= {f"rel1-x{i}" for i in range(1, 6)}
    case.observe(f"refused before any connection ('{msg[:90]}...'); allowed: inventory check passes (the 5 extra "
                 "hosts are then unreachable), nothing changed")
    case.seconds = runs["eight"].seconds + allowed.seconds

    case = record("1.3", "existing swarm, first manager down: the rest converges")
    case.inject("rel1-m1 (bootstrap manager, lock host) engine stopped; site.yml with a new label on rel1-w1")
    inv = relkit.write_inventory(lab, tmp_path / "label.yml", host_vars=LABEL)
    run = relkit.playbook(inv, name="converge with rel1-m1 down")
    assert run.failed_hosts == {"rel1-m1"} and not run.unreachable_hosts, run.recap
    msg = run.failed_with("Cannot connect to the engine", "Check that dockerd runs")
    assert run.changed == 1
    listed = {n["Description"]["Hostname"]: n for n in relkit.nodes(lab, "rel1-m3")}
    assert listed["rel1-w1"]["Spec"]["Labels"] == {"quorum": "test"}
    assert {relkit.swarm_of(lab, m)["Cluster"]["ID"] for m in ("rel1-m2", "rel1-m3")} == {cluster}
    lab.start("rel1-m1")
    note = relkit.back_healthy(lab, "rel1-m1 back, swarm healthy", 90)
    assert relkit.swarm_of(lab, "rel1-m1")["Cluster"]["ID"] == cluster
    case.observe(f"rel1-m1 reported ('{msg[:70]}...'), label applied through rel1-m2/m3, one cluster; rel1-m1 "
                 f"started: healthy, same cluster{note}")

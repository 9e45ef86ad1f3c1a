"""Case 10 (check mode) and case 9 (secrets: the init run at -vvv).

On a fresh, a converged and a transformed (labels changed, a worker to drain) lab: ``--check`` changes
nothing (engine state identical before/after) and predicts exactly as many changed tasks as the real
run that follows reports. The real run on the fresh lab is the -vvv init run of case 9: its output
holds no token or key, neither by prefix nor by value (values read afterwards with the docker CLI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def cli_tokens(lab: Any, manager: str) -> list[str]:
    return [lab.docker(manager, "swarm", "join-token", "-q", role).stdout.strip() for role in ("worker", "manager")]


def check_then_apply(lab: Any, inv: Path, label: str, *apply_args: str) -> tuple[relkit.Run, relkit.Run]:
    before = relkit.snapshot(lab)
    check = relkit.playbook(inv, "--check", "--diff", name=f"check {label}").ok()
    assert relkit.snapshot(lab) == before, f"--check changed the engines ({label})"
    real = relkit.playbook(inv, *apply_args, name=f"apply {label}").ok()
    assert check.changed == real.changed, (
        f"{label}: check predicted {check.changed} changed, the real run changed {real.changed}\n"
        f"check {check.recap}\nreal {real.recap}")
    return check, real


def test_check_mode_fresh_converged_transformed(lab: Any, inv: Path, record: Any, tmp_path: Path) -> None:
    relkit.leave_all(lab)
    case = record("10.1", "check mode, fresh lab")
    case.inject("all 5 engines inactive; site.yml --check --diff, then site.yml -vvv")
    check, real = check_then_apply(lab, inv, "fresh", "-vvv")
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    case.observe(f"check: engines unchanged, predicted changed={check.changed}; real run changed={real.changed}")

    secrets = record("9.1", "secrets: init run at -vvv")
    secrets.inject("site.yml -vvv on the fresh lab (swarm created, 2 managers and 2 workers joined)")
    values = cli_tokens(lab, "rel1-m1")
    assert all(v.startswith("SWMTKN-") for v in values)
    assert relkit.leaked(real.out, values) == [], "a join token leaked into the -vvv output"
    assert len(real.out) > 50_000, "expected a verbose (-vvv) output"
    secrets.observe(f"{len(real.out)} bytes of -vvv output: no SWMTKN-/SWMKEY-, no token value (docker CLI)")
    secrets.seconds = real.seconds

    case = record("10.2", "check mode, converged lab")
    case.inject("no change; --check --diff, then a real run")
    check, real = check_then_apply(lab, inv, "converged")
    assert check.changed == real.changed == 0
    case.observe("check: engines unchanged, predicted 0; real run changed 0")

    case = record("10.3", "check mode, transformed inventory")
    changed_inv = relkit.write_inventory(lab, tmp_path / "transformed.yml", host_vars={
        "rel1-w1": {"docker_swarm_labels": {"zone": "a", "disk": "ssd"}},
        "rel1-m2": {"docker_swarm_labels": {"zone": "b"}},
        "rel1-w2": {"docker_swarm_node_availability": "drain"}})
    case.inject("labels on rel1-w1 and rel1-m2, rel1-w2 to drain; --check --diff, then a real run")
    check, real = check_then_apply(lab, changed_inv, "transformed")
    assert real.changed == 3, real.recap
    listed = {n["Description"]["Hostname"]: n["Spec"] for n in relkit.nodes(lab, "rel1-m3")}
    assert listed["rel1-w1"]["Labels"] == {"zone": "a", "disk": "ssd"}
    assert listed["rel1-m2"]["Labels"] == {"zone": "b"}
    assert listed["rel1-w2"]["Availability"] == "drain"
    case.observe(f"check: engines unchanged, predicted {check.changed}; real run changed {real.changed} "
                 "(labels and drain read back from the node list)")

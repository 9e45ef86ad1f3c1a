"""Case 1: the bootstrap manager's engine is stopped before site.yml runs on a fresh lab.

What an operator expects: rel1-m1 may hold a swarm nobody can see, so by default the role refuses to
create one - it names rel1-m1 and says what to do (bring it back, or accept the risk with
docker_swarm_init_ignore_unreachable) - and nothing changes. With docker_swarm_init_ignore_unreachable
the swarm is created on rel1-m2, the rest joins, rel1-m1 is reported. Once rel1-m1 is started, a
re-run joins it: one swarm, all Ready. (An existing swarm with rel1-m1 down: case 1.3, test_05.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_bootstrap_manager_down_on_a_fresh_lab(lab: Any, inv: Path, record: Any, tmp_path: Path) -> None:
    relkit.leave_all(lab)
    lab.stop("rel1-m1")
    case = record("1.1", "fresh lab, bootstrap manager down: refused")
    case.inject("all engines inactive, rel1-m1's engine stopped; site.yml")
    before = relkit.snapshot(lab)
    run = relkit.playbook(inv, name="fresh, rel1-m1 down")
    assert run.failed_hosts >= {"rel1-m1"}
    probe = run.failed_with("Cannot connect to the engine", "Check that dockerd runs")
    msg = run.failed_with("no swarm found, but managers rel1-m1 could not be probed and may already run one",
                          "bring them back, or set docker_swarm_init_ignore_unreachable: true")
    assert run.changed == 0 and relkit.snapshot(lab) == before
    case.observe(f"refused, nothing changed: rel1-m1 '{probe[:60]}...'; '{msg[:140]}'")

    case = record("1.2", "fresh lab, bootstrap manager down: init elsewhere when allowed, then re-join")
    anyway = relkit.write_inventory(lab, tmp_path / "anyway.yml",
                                    all_vars={"docker_swarm_init_ignore_unreachable": True})
    case.inject("docker_swarm_init_ignore_unreachable: true")
    run = relkit.playbook(anyway, name="fresh, rel1-m1 down, ignore_unreachable")
    assert run.failed_hosts == {"rel1-m1"} and not run.unreachable_hosts, run.recap
    rest = ("rel1-m2", "rel1-m3", "rel1-w1", "rel1-w2")
    assert relkit.healthy(lab, rest, ("rel1-m2", "rel1-m3")) is None
    cluster = relkit.swarm_of(lab, "rel1-m2")["Cluster"]["ID"]
    case.observe(f"swarm {cluster} created on rel1-m2, 3 hosts joined, rel1-m1 reported failed")
    lab.start("rel1-m1")
    case.inject("then rel1-m1 started and site.yml re-run")
    run = relkit.playbook(inv, name="rel1-m1 back: re-run").ok()
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    clusters = {relkit.swarm_of(lab, m)["Cluster"]["ID"] for m in MANAGERS}
    assert clusters == {cluster}, f"a second swarm: {clusters}"
    case.observe(f"rel1-m1 joined {cluster}: one swarm, 5 nodes ready (changed={run.changed})")

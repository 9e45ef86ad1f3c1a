"""Case 4: a host already in a foreign swarm (initialised on it with the docker CLI).

site.yml refuses, naming the host and the foreign cluster's ID, and changes nothing anywhere; with
docker_swarm_force_rejoin: true the host leaves the foreign swarm (which is gone: it was its only
manager) and joins the inventory's swarm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_host_in_a_foreign_swarm(converged: Any, inv: Path, record: Any, tmp_path: Path) -> None:
    lab = converged
    ours = relkit.swarm_of(lab, "rel1-m1")["Cluster"]["ID"]
    old_w1 = relkit.swarm_of(lab, "rel1-w1")["NodeID"]
    lab.docker("rel1-w1", "swarm", "leave", "--force")
    lab.docker("rel1-w1", "swarm", "init", "--advertise-addr", "198.18.30.14")
    foreign = relkit.swarm_of(lab, "rel1-w1")["Cluster"]["ID"]
    assert foreign and foreign != ours
    case = record("4", "host in a foreign swarm")
    case.inject(f"rel1-w1 left and ran 'docker swarm init' (cluster {foreign})")
    before = relkit.snapshot(lab)
    run = relkit.playbook(inv, name="foreign swarm: refused")
    msg = run.failed_with(f"rel1-w1 (cluster {foreign}) is in another swarm than the inventory's swarm {ours}",
                          "managers rel1-m1, rel1-m2, rel1-m3", "Nothing was changed",
                          "docker_swarm_force_rejoin: true")
    assert run.changed == 0 and relkit.snapshot(lab) == before
    case.observe(f"refused, nothing changed anywhere: '{msg[:200]}...'")

    relkit.poll("rel1-w1's old entry down", lambda: any(
        n["ID"] == old_w1 and n["Status"]["State"] == "down" for n in relkit.nodes(lab, "rel1-m1")), 60)
    force = relkit.write_inventory(lab, tmp_path / "force.yml", all_vars={"docker_swarm_force_rejoin": True})
    case.inject("then docker_swarm_force_rejoin: true")
    run = relkit.playbook(force, name="foreign swarm: force_rejoin").ok()
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    assert relkit.swarm_of(lab, "rel1-w1").get("Cluster") is None, "rel1-w1 is a worker of our swarm now"
    assert relkit.swarm_of(lab, "rel1-w1")["NodeID"] in {n["ID"] for n in relkit.nodes(lab, "rel1-m1")}
    case.observe(f"rel1-w1 left {foreign} (gone) and joined {ours}; old entry pruned; healthy (changed={run.changed})")

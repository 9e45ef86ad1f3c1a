"""Case 2 (a rebuilt host re-joins; pruning of its old `down` entry) and case 9 (the join run at -vvv).

rel1-w2 is wiped (new engine state, new node ID) while rel1-w1's engine is stopped. With
docker_swarm_prune_stale_nodes: false the re-run re-joins rel1-w2 and keeps its old entry; with
docker_swarm_prune_down_nodes: true the old entry (down, an ID no live host reports) is removed, while
rel1-w1's down entry stays: rel1-w1 could not be probed and may come back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def entry(lab: Any, node_id: str) -> dict[str, Any] | None:
    return next((n for n in relkit.nodes(lab, "rel1-m1") if n["ID"] == node_id), None)


def test_rebuilt_worker_rejoins_and_down_entries_are_pruned(converged: Any, record: Any, tmp_path: Path) -> None:
    lab = converged
    case = record("2", "rebuilt host (wipe) re-joins; old down entry pruned")
    old_w2 = relkit.swarm_of(lab, "rel1-w2")["NodeID"]
    w1_id = relkit.swarm_of(lab, "rel1-w1")["NodeID"]
    lab.wipe("rel1-w2")
    lab.stop("rel1-w1")
    case.inject("wipe rel1-w2 (new node ID) and stop rel1-w1's engine; site.yml -vvv with "
                "docker_swarm_prune_stale_nodes: false")
    keep = relkit.write_inventory(lab, tmp_path / "keep.yml", all_vars={"docker_swarm_prune_stale_nodes": False})
    run = relkit.playbook(keep, "-vvv", name="re-join wiped rel1-w2, rel1-w1 down, no pruning (-vvv)")
    assert run.failed_hosts == {"rel1-w1"} and not run.unreachable_hosts, run.recap
    msg = run.failed_with("Cannot connect to the engine", "Check that dockerd runs")
    assert run.failures[0]["host"] == "rel1-w1"
    new_w2 = relkit.swarm_of(lab, "rel1-w2")["NodeID"]
    assert new_w2 and new_w2 != old_w2
    assert relkit.local_state(lab, "rel1-w2") == "active"
    assert entry(lab, old_w2) is not None, "pruning was off: the old entry must stay"
    assert entry(lab, new_w2)["Status"]["State"] == "ready"
    case.observe(f"rel1-w2 re-joined with a new ID, old entry kept; rel1-w1 failed: {msg[:90]}...")

    tokens = [lab.docker("rel1-m1", "swarm", "join-token", "-q", r).stdout.strip() for r in ("worker", "manager")]
    assert relkit.leaked(run.out, tokens) == [], "a join token leaked into the -vvv output"
    join_bytes, join_seconds = len(run.out), run.seconds

    def both_down() -> bool:
        return all((entry(lab, i) or {}).get("Status", {}).get("State") == "down" for i in (old_w2, w1_id))

    relkit.poll("the old rel1-w2 entry and rel1-w1 down", both_down, 90)
    case.inject("then site.yml with docker_swarm_prune_down_nodes: true (stale pruning still off)")
    prune_vars = {"docker_swarm_prune_stale_nodes": False, "docker_swarm_prune_down_nodes": True}
    prune = relkit.write_inventory(lab, tmp_path / "prune.yml", all_vars=prune_vars)
    run = relkit.playbook(prune, name="prune down entries, rel1-w1 still down")
    assert run.failed_hosts == {"rel1-w1"}, run.recap
    assert entry(lab, old_w2) is None, "the old down entry of rel1-w2 must be removed"
    assert entry(lab, w1_id) is not None, "rel1-w1 could not be probed: its entry must stay"
    assert run.changed == 1, run.recap
    case.observe("old rel1-w2 entry removed (1 change); rel1-w1's down entry kept (host not probed)")
    lab.start("rel1-w1")
    relkit.poll("rel1-w1 back and the swarm healthy", lambda: relkit.healthy(lab, ALL, MANAGERS) is None, 60)
    case.observe("rel1-w1 started again: one swarm, 5 nodes, all ready")
    secrets = record("9.2", "secrets: join run at -vvv")
    secrets.inject("the re-join run of case 2 (-vvv): a worker joined with the worker token")
    secrets.observe(f"{join_bytes} bytes: no SWMTKN-/SWMKEY-, no token value (read with the docker CLI)")
    secrets.seconds = join_seconds

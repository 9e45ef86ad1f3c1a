"""Case 11: two site.yml runs started at the same time on the same fresh inventory.

The role takes a lock directory on the first manager before it reads any state; the second run waits
for it and then finds the swarm converged. Exactly one cluster, all nodes Ready; the loser changes
nothing (or fails cleanly).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_two_runs_at_once_make_one_swarm(lab: Any, inv: Path, record: Any) -> None:
    relkit.leave_all(lab)
    case = record("11", "two site.yml runs at the same time")
    case.inject("fresh lab; two site.yml runs started together on the same inventory")
    first = relkit.start_playbook(inv)
    second = relkit.start_playbook(inv)
    runs = list(relkit.finish_all({"A": first, "B": second}, "concurrent run").values())
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    clusters = {relkit.swarm_of(lab, m)["Cluster"]["ID"] for m in MANAGERS}
    assert len(clusters) == 1, clusters
    winner, loser = sorted(runs, key=lambda r: -r.changed)
    winner.ok()
    assert winner.changed > 0
    assert (loser.rc == 0 and loser.changed == 0) or loser.failures, loser.out[-3000:]
    if loser.rc == 0:
        loser.ok()
    waits = re.findall(r"waited (\d+)s for the lock", loser.out)
    waited = f"{waits[0]}s" if waits else "0s"
    case.observe(f"one cluster {clusters.pop()}, 5 nodes ready; winner changed={winner.changed} "
                 f"({winner.seconds:.0f}s), the other waited {waited} for the lock and changed "
                 f"{loser.changed}, rc={loser.rc}")

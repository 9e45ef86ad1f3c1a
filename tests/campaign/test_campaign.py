"""The gating run's subset of the randomized fault campaign (``campaign.py``): the first sequences of seed 7.

Lab ``cmp2`` (net 66): 5 managers + 3 workers, converged once, then the same sequences the full campaign
starts with (same seed, same numbers): transitions and faults, a run under the faults, heal, two converge
runs. Asserts 0 violations (one cluster ID and quorum kept in every sample, the converge run green, the
re-run without change, the end state as the inventory says) and prints the table (pytest -s). The full
campaign (55 sequences of seed 7) is ``tests/campaign/campaign.py``; its table is ``tests/campaign/RESULTS.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import campaign

pytestmark = [pytest.mark.lab, pytest.mark.slow]

SEED, SEQUENCES = 7, 3


def test_campaign_subset(lab_factory: Any, tmp_path: Path) -> None:
    lab = lab_factory("cmp2", 66, managers=campaign.MANAGERS_AT_START, workers=campaign.WORKERS_AT_START,
                      timeout=240)
    run = campaign.Campaign(lab, tmp_path, SEED)
    run.start()
    for number in range(1, SEQUENCES + 1):
        run.run_sequence(number)
    print("\n" + run.table())
    totals = run.totals()
    assert totals["sequences"] == SEQUENCES
    assert totals["samples"] >= 60, totals  # the sampler ran through every sequence
    assert totals["violations"] == 0, "\n" + run.table()

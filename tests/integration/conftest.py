"""Fixtures for tests/integration: module harnesses on lab hosts, per docker SDK and Docker Engine.

Module tests run once per (SDK, Engine) combination of ``harness.matrix()``: the SDK is the lab hosts'
/usr/bin/python3 (Debian python3-docker 5.0.3, ``sdk5``) or the controller venv's python (docker SDK 7.x,
``sdk7``), the Engine 20.10, 26.1 or 28.5; test ids name both, e.g. ``[sdk5-28.5]``. The gating run has 4
combinations (sdk5/sdk7 x 20.10, sdk5 x 28.5, sdk7 x 26.1), ``HIVE_ENGINE_MATRIX=full`` all 6. Each
combination has its own lab per test family (``harness.LABS``: ``moda*``, ``modr*``, ``modb*`` on nets
10-13, 15-16, 32-39, 50-53); roles (tests/integration/roles) use their own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Combo, Harness, check_engine, lab_for, matrix
from labfixtures import LabFactory

COMBOS = matrix()


@pytest.fixture(scope="module", params=COMBOS, ids=[combo.id for combo in COMBOS])
def module_harness(request: pytest.FixtureRequest, lab_factory: LabFactory,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A fresh lab (3 managers + 2 workers) of the param's Engine, and a harness whose hosts use the param's SDK."""
    combo: Combo = request.param
    if not Path(combo.python).exists():
        pytest.skip(f"{combo.python} missing")
    name, net = lab_for("info", combo)
    lab = lab_factory(name, net, managers=3, workers=2, engine=combo.engine)
    harness = Harness(lab, combo.python, tmp_path_factory.mktemp(f"harness-{combo.id}"), combo=combo)
    versions = "?"
    try:
        engine = check_engine(lab, combo.engine)
        version = harness.sdk_version()
        assert version.startswith(combo.major), f"{combo.python} has docker SDK {version}, expected {combo.major}x"
        versions = f"docker SDK {version}, Engine {engine}"
        yield harness
    finally:
        print(f"[{combo.id}] {versions}: {harness.runs} ansible runs, {harness.seconds:.1f}s")
        lab.down(log=lambda _msg: None)
        lab_factory.labs.pop(name, None)

"""Run every Molecule scenario end to end (create = lab up, converge = site.yml, idempotence,
verify = testinfra, destroy = lab down)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str) -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}
    proc = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200, check=False)
    tail = f"{proc.stdout[-8000:]}\n{proc.stderr[-8000:]}"
    assert proc.returncode == 0, tail
    assert "SWMTKN-" not in proc.stdout + proc.stderr


def test_scenarios_exist() -> None:
    assert {"default", "ha", "transform"} <= set(SCENARIOS)

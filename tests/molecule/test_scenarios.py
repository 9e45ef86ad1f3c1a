"""Run every Molecule scenario (extensions/molecule, the collection layout Molecule 25+ expects) end to end:
create = lab up, converge = site.yml, idempotence, verify = testinfra, destroy = lab down. Each run gets its own
ephemeral directory (no state of an earlier run) and must print no warning at all (scenario format included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCENARIOS = sorted(p.parent.name for p in (ROOT / "extensions" / "molecule").glob("*/molecule.yml"))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0", "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "ephemeral")}
    proc = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200, check=False)
    tail = f"{proc.stdout[-8000:]}\n{proc.stderr[-8000:]}"
    assert proc.returncode == 0, tail
    assert "SWMTKN-" not in proc.stdout + proc.stderr
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line or "DEPRECAT" in line]
    assert not warnings, "\n".join(warnings)


def test_scenarios_exist() -> None:
    assert {"default", "ha", "transform"} <= set(SCENARIOS)

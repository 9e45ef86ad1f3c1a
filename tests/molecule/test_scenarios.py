"""Run every Molecule scenario (extensions/molecule, the collection layout Molecule 25+ expects) end to end:
create = lab up, converge = site.yml, idempotence, verify = testinfra, destroy = lab down. Each run gets its own
ANSIBLE_HOME (no Molecule state of an earlier run) and must print no warning at all (scenario format included)."""

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
    # Molecule keeps each scenario's state under ANSIBLE_HOME (or the venv's .ansible when VIRTUAL_ENV is set):
    # a fresh one per run, so no state of an earlier run (another checkout, an older molecule.yml) is found.
    base = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MOLECULE_EPHEMERAL_DIRECTORY")}
    env = {**base, "PATH": f"{BIN}:{os.environ['PATH']}", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0", "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    proc = subprocess.run([str(BIN / "molecule"), "test", "-s", scenario], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200, check=False)
    tail = f"{proc.stdout[-8000:]}\n{proc.stderr[-8000:]}"
    assert proc.returncode == 0, tail
    assert "SWMTKN-" not in proc.stdout + proc.stderr
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "WARNING" in line or "DEPRECAT" in line]
    assert not warnings, "\n".join(warnings)


def test_scenarios_exist() -> None:
    assert {"default", "ha", "transform"} <= set(SCENARIOS)

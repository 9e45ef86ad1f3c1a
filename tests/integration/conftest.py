"""Fixtures for tests/integration: module harnesses on lab hosts, per docker SDK.

Module tests run twice: with the lab hosts' /usr/bin/python3 (Debian python3-docker 5.0.3) and
with the controller venv's python (docker SDK 7.x), each on its own lab. Lab names/nets of this
directory: modules ``moda*`` on nets 10-14; roles (tests/integration/roles) use their own.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import INTERPRETERS, Harness
from labfixtures import LabFactory


@pytest.fixture(scope="module", params=sorted(INTERPRETERS))
def module_harness(request: pytest.FixtureRequest, lab_factory: LabFactory,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """A fresh lab (3 managers + 2 workers) and a harness whose hosts use the interpreter of the param."""
    python, name, net, major = INTERPRETERS[request.param]
    if not Path(python).exists():
        pytest.skip(f"{python} missing")
    lab = lab_factory(name, net, managers=3, workers=2)
    harness = Harness(lab, python, tmp_path_factory.mktemp(f"harness-{request.param}"))
    version = harness.sdk_version()
    assert version.startswith(major), f"{python} has docker SDK {version}, expected {major}x"
    try:
        yield harness
    finally:
        print(f"[{request.param}] docker SDK {version}: {harness.runs} ansible runs, {harness.seconds:.1f}s")
        lab.down(log=lambda _msg: None)
        lab_factory.labs.pop(name, None)

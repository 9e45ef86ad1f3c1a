"""Shared pytest fixtures for tests that need the multi-host lab (``lab/hivelab.py``).

Use ``lab_factory(name, net, managers, workers)`` from any test: it brings a *fresh* lab up (an
existing lab of that name, e.g. left by an interrupted run, is taken down first) and guarantees
``down`` at the end of the session. Each test directory uses its own lab names and nets so
labs never collide (tests/lab: ``labt*`` on nets 1-9 and 57, ``labe*`` on nets 62-63). Tests are
skipped with a clear reason when not root or when lab tools are missing.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "lab") not in sys.path:
    sys.path.insert(0, str(REPO / "lab"))

import hivelab  # noqa: E402

REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "setsid", "dockerd", "sshd", "ssh", "ssh-keygen")


def lab_skip_reason() -> Optional[str]:
    """Why lab tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, mounts, its own dockerd per host)"
    missing = [t for t in REQUIRED_TOOLS if not shutil.which(t, path=hivelab.TOOL_PATH)]
    if missing:
        return f"lab tools missing: {', '.join(missing)} (run scripts/bootstrap.sh)"
    if not os.access(hivelab.BUSYBOX, os.X_OK):
        return f"{hivelab.BUSYBOX} missing (apt-get install busybox-static)"
    return None


class EverySecond:
    """A sampler for lab tests: ``take()`` (a subclass's: read the engines, append to ``samples``) runs about once a
    second in a daemon thread while the ``with`` block lasts; the wait after a sample is what is left of the second.
    Leaving the block waits up to ``join_seconds`` for the sample in progress."""

    join_seconds = 15.0

    def __init__(self, lab: hivelab.Lab) -> None:
        self.lab = lab
        self.samples: List[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EverySecond:
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join(self.join_seconds)

    def take(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.monotonic()
            self.take()
            self._stop.wait(max(1.0 - (time.monotonic() - t0), 0.05))


class LabFactory:
    """Callable: ``factory(name, net, managers=1, workers=0, engine=None, host_engines=None)`` -> an up
    ``hivelab.Lab`` (``engine``/``host_engines``: Docker Engine versions, as ``Lab.up`` takes them)."""

    def __init__(self) -> None:
        self.labs: Dict[str, hivelab.Lab] = {}
        self.up_seconds: Dict[str, float] = {}

    def __call__(self, name: str, net: int, managers: int = 1, workers: int = 0, *, fresh: bool = True,
                 timeout: float = 180, engine: Optional[str] = None,
                 host_engines: Optional[Dict[str, str]] = None) -> hivelab.Lab:
        lab = hivelab.Lab(name, net)
        if fresh and name not in self.labs:
            lab.down(log=lambda _msg: None)
            lab = hivelab.Lab(name, net)
        self.labs[name] = lab
        report = lab.up(managers, workers, timeout=timeout, log=lambda _msg: None, engine=engine,
                        host_engines=host_engines)
        self.up_seconds[name] = report["seconds"]
        return lab

    def down_all(self) -> None:
        errors = []
        for name, lab in self.labs.items():
            try:
                lab.down(log=lambda _msg: None)
            except hivelab.LabError as exc:
                errors.append(f"{name}: {exc}")
        self.labs.clear()
        if errors:
            raise hivelab.LabError("lab teardown failed: " + "; ".join(errors))


@pytest.fixture(scope="session")
def lab_factory() -> Iterator[LabFactory]:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    factory = LabFactory()
    try:
        yield factory
    finally:
        factory.down_all()

"""plugin_utils/_lease.py: the lease renewer as real processes (fork, setsid), with a renewal that appends to a
file instead of running a command on a lock host. Every wait polls a fact with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import lock
from ansible_collections.hive.swarm.plugins.plugin_utils import _lease

INTERVAL = 0.2


def until(what: str, fact: Callable[[], bool], timeout: float = 10) -> float:
    """Seconds until ``fact()`` held (polled every 20 ms), or fail after ``timeout``."""
    start = time.monotonic()
    while not fact():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
    return time.monotonic() - start


def gone(pid: int) -> bool:
    """The renewer (a child of init after the double fork, reaped there) has ended: no process or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return not lock.proc_alive(handle.read(), "")
    except OSError:
        return True


@pytest.fixture
def main() -> subprocess.Popen:
    """A stand-in for the run's ansible-playbook process."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def renewals(path: Path, rc: int = 0) -> Callable[[], Optional[int]]:
    def renew() -> Optional[int]:
        with path.open("a") as handle:
            handle.write("renewed\n")
        return rc
    return renew


def count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the renewer's tests use /proc")


def test_renews_while_the_run_lives_and_stops_at_once_when_it_is_gone(main: subprocess.Popen, tmp_path: Path) -> None:
    log = tmp_path / "renewals"
    pid, renewed = _lease.start(renewals(log), main.pid, lambda: not gone(main.pid),
                                INTERVAL)
    assert pid and renewed
    until("three renewals", lambda: count(log) >= 3)
    main.kill()
    main.wait(10)
    until("the renewer gone", lambda: gone(pid))
    before = count(log)
    time.sleep(INTERVAL * 2)  # nothing renews any more: checked over two intervals
    assert count(log) == before


def test_stops_when_the_lock_is_no_longer_this_runs(main: subprocess.Popen, tmp_path: Path) -> None:
    log = tmp_path / "renewals"
    pid, renewed = _lease.start(renewals(log, rc=lock.NOT_OURS), main.pid, lambda: not gone(main.pid), INTERVAL)
    assert pid and not renewed  # the first renewal said "not ours": no lease to keep
    until("the renewer gone", lambda: gone(pid))
    assert count(log) == 1


# start() bounds its own wait for the first renewal (interval + 1 s): one that waited for the hanging renewal (a
# sleep of 600 s) would run into this deadline. No speed is asserted (the machine may be loaded).
@pytest.mark.timeout(120)
def test_a_hanging_renewal_is_killed_and_does_not_hold_the_run(main: subprocess.Popen, tmp_path: Path) -> None:
    marker = tmp_path / "started"

    def hang() -> Optional[int]:
        marker.write_text(str(os.getpid()))
        os.execvp("sleep", ["sleep", "600"])  # like an ssh client to a host that stopped answering
        return None

    pid, renewed = _lease.start(hang, main.pid, lambda: not gone(main.pid), INTERVAL)
    assert pid and not renewed
    hung = int(marker.read_text())
    until("the hanging renewal killed", lambda: gone(hung))
    main.kill()
    main.wait(10)
    until("the renewer gone", lambda: gone(pid))


def test_bounded_returns_the_status_or_none() -> None:
    assert _lease.bounded(lambda: 3, 5) == 3
    assert _lease.bounded(lambda: None, 5) is None

    def boom() -> Optional[int]:
        raise OSError("unreachable")

    assert _lease.bounded(boom, 5) is None

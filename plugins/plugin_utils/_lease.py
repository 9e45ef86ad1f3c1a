# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The converge lock's lease renewer (controller side; the decisions are in module_utils/_swarm/lock.py).

The lock stage of hive.swarm.swarm_plan runs in an Ansible worker process, which ends with its task. After it took
the lock it starts the renewer with :func:`start`: a double fork and ``setsid`` make it a process of its own
session (a Ctrl-C or a SIGKILL of the run's process group does not reach it), with stdin/stdout/stderr on
/dev/null and every other inherited file descriptor closed (the run's output pipe and the worker's result queue
are not held open: a caller that waits for the end of ansible-playbook's output is not kept waiting). It keeps the
worker's copy of the task's connection, so each renewal is one command over the same SSH master connection (or
local, or whatever the lock host uses), with the same become settings.

Every ``interval`` seconds it checks that the run's ansible-playbook process still lives (pid and start time), then
renews; it stops as soon as that process is gone (it waits on a pidfd, so at once; at most one interval without
pidfds), or when the renewal says the lock no longer carries this run's owner line (released, broken). Each
renewal runs in a child of its own process group, killed with the ssh client it started when it takes longer than
``interval``: a lock host that stops answering never blocks the renewer, and the run itself never waits for it.
"""

from __future__ import annotations

import os
import select
import signal
import time
from typing import Any, Callable, Optional

from ansible.utils.display import Display
from ansible_collections.hive.swarm.plugins.module_utils._swarm import lock

# Exit codes of a renewal child that did not get a result (an exception: unreachable, killed).
_NO_RESULT = 254


class _Deadline(BaseException):
    """Raised by SIGALRM in the renewer (a BaseException: no plugin code catches it on the way)."""


def _on_alarm(_signum: int, _frame: Any) -> None:
    raise _Deadline()


def _detach(keep: int) -> None:
    """stdin/stdout/stderr on /dev/null, every other descriptor but ``keep`` closed, Display printing locally."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = list(range(3, 1024))
    for fd in fds:
        if fd > 2 and fd != keep:
            try:
                os.close(fd)
            except OSError:
                pass
    # a worker's Display sends what it prints to the main process through the result queue (now closed)
    display = Display()
    if getattr(display, "_final_q", None) is not None:
        display._final_q = None


def bounded(run: Callable[[], Optional[int]], seconds: float) -> Optional[int]:
    """``run()`` (an exit status, or None) in a child process of its own process group, killed with whatever it
    started after ``seconds``; its status, or None when it raised, returned None or was killed."""
    pid = os.fork()
    if pid == 0:
        code = _NO_RESULT
        try:
            os.setpgid(0, 0)
            got = run()
            code = _NO_RESULT if got is None else int(got) & 0xFF
        except BaseException:  # noqa: BLE001 - whatever failed, the renewer only needs "no result"
            code = _NO_RESULT
        finally:
            os._exit(code)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child did it first (or is gone)
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.1))
    try:
        status = os.waitpid(pid, 0)[1]
    except _Deadline:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(pid, 0)
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    code = os.waitstatus_to_exitcode(status)
    return None if code < 0 or code == _NO_RESULT else code


def _wait_for(due: float, pid: int) -> None:
    """Return at monotonic time ``due``, or at once when process ``pid`` ends (a pidfd; else at ``due``)."""
    remaining = due - time.monotonic()
    if remaining <= 0:
        return
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        time.sleep(remaining)  # no pidfd: the next renewal checks the process again (the renew period)
        return
    try:
        select.select([fd], [], [], remaining)
    finally:
        os.close(fd)


def _renew_loop(renew: Callable[[], Optional[int]], main_pid: int, alive: Callable[[], bool], interval: float,
                report: int) -> None:
    """The renewer's life: renew every ``interval`` while the run lives and the lock is this run's. The first
    renewal's outcome is written to ``report`` ('renewed 1' or 'renewed 0')."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    first = True
    while True:
        due = time.monotonic() + interval
        main_alive = alive()
        rc = bounded(renew, interval) if main_alive else None
        if first:
            first = False
            os.write(report, b"renewed 1\n" if rc == 0 else b"renewed 0\n")
            os.close(report)
        if not lock.keep_renewing(main_alive and alive(), rc):
            return
        _wait_for(due, main_pid)


def start(renew: Callable[[], Optional[int]], main_pid: int, alive: Callable[[], bool],
          interval: float) -> tuple[Optional[int], bool]:
    """Start the renewer (see the module docstring); wait at most ``interval`` + 1 seconds for its first renewal.
    Returns (the renewer's pid or None, whether the first renewal succeeded)."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(read)
            os.setsid()
            grandchild = os.fork()
            if grandchild == 0:
                try:
                    _detach(write)
                    _renew_loop(renew, main_pid, alive, interval, write)
                finally:
                    os._exit(0)
            os.write(write, f"pid {grandchild}\n".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    got = b""
    deadline = time.monotonic() + interval + 1
    try:
        while b"renewed" not in got or not got.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read], [], [], remaining)[0]:
                break
            chunk = os.read(read, 256)
            if not chunk:
                break
            got += chunk
    finally:
        os.close(read)
    said = dict(line.split(" ", 1) for line in got.decode(errors="replace").splitlines() if " " in line)
    pid = said.get("pid", "")
    return (int(pid) if pid.isdigit() else None), said.get("renewed") == "1"

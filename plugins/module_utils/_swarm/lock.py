# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The converge lock's decisions (pure): who holds it, and whether a lock held by another run may be broken.

The lock is a directory on the lock host (``mkdir`` is atomic) with an ``owner`` file: one line naming the run
that holds it (:func:`owner_line`): ``user@controller pid PID start START time RANDOM``. ``PID`` is the
controller's ansible-playbook process and ``START`` its start time (clock ticks after boot, field 22 of
``/proc/PID/stat``), so a reused PID is not mistaken for the holder.

A run that finds the lock held (:func:`verdict`) breaks it at once when the holder ran on this same controller
and that process is gone (a run interrupted with Ctrl-C or killed); else when the lock is older than the stale
limit; else it waits.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple, Optional

_OWNER_RE = re.compile(r"^(?P<user>[^@\s]*)@(?P<host>\S+) pid (?P<pid>\d+) start (?P<start>\d+) \S+ \S+$")


class Owner(NamedTuple):
    user: str
    host: str
    pid: int
    start: str


def owner_line(user: str, host: str, pid: int, start: str, when: str, token: int) -> str:
    """The owner line this run writes into the lock."""
    return f"{user}@{host} pid {pid} start {start} {when} {token}"


def parse_owner(text: str) -> Optional[Owner]:
    """The owner line read from a lock, or None when it is not one (another version's line, empty, garbage)."""
    match = _OWNER_RE.match((text or "").strip())
    if not match:
        return None
    return Owner(match["user"], match["host"], int(match["pid"]), match["start"])


def proc_start(stat: str) -> str:
    """The start time (field 22) from the text of ``/proc/PID/stat`` ('' when it cannot be read). The command
    name (field 2) may hold spaces and parentheses: the fields after it are counted from its last ')'."""
    fields = stat[stat.rfind(")") + 1:].split()
    return fields[19] if len(fields) > 19 else ""


class Verdict(NamedTuple):
    """``action``: 'break' or 'wait'; ``why``: the sentence for the log."""

    action: str
    why: str


def verdict(owner_text: str, age: int, stale: int, this_host: str,
            alive: Callable[[int, str], bool]) -> Verdict:
    """What to do about a lock held by ``owner_text`` for ``age`` seconds: break it when its holder ran on
    ``this_host`` (the controller) and ``alive(pid, start)`` says that process is gone, or when ``age`` reached
    ``stale`` seconds; otherwise wait."""
    owner = parse_owner(owner_text)
    if owner is not None and owner.host == this_host and not alive(owner.pid, owner.start):
        return Verdict("break", f"its holder, process {owner.pid} on this controller, is gone")
    if age >= stale:
        return Verdict("break", f"it is {age}s old, older than docker_swarm_lock_stale ({stale}s)")
    who = f"{owner.user}@{owner.host} (process {owner.pid})" if owner else (owner_text.strip() or "an unknown run")
    return Verdict("wait", f"held by {who} for {age}s")

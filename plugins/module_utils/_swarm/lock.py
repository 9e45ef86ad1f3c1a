# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The converge lock's decisions (pure): who holds it, whether its holder is alive, whether it may be broken.

The lock is a directory on the lock host (``mkdir`` is atomic) with an ``owner`` file: one line naming the run
that holds it (:func:`owner_line`): ``user@controller pid PID start START time RANDOM``. ``PID`` is the
controller's ansible-playbook process and ``START`` its start time (clock ticks after boot, field 22 of
``/proc/PID/stat``), so a reused PID is not mistaken for the holder.

Next to it a ``lease`` file, which the holding run's renewer touches every :data:`LEASE_RENEW` seconds while that
run's ansible-playbook process lives and the lock still carries its owner line. Its age is read on the lock host
with the lock host's clock (``date`` minus the file's mtime), so controllers' clocks do not matter.

A run that finds the lock held (:func:`verdict`) breaks it when the holder ran on this same controller and that
process is gone (a run interrupted with Ctrl-C or killed: at once); when the lease was not renewed for
:data:`LEASE_TIMEOUT` seconds (the holder's controller lost it, whichever controller that was); or, for a lock
without a lease (taken by an older version of the role), when it is older than the stale limit. Otherwise it waits.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple, Optional

# Seconds between two renewals of the lease, and the age at which a lease counts as abandoned. A run that was
# killed is taken over after at most LEASE_TIMEOUT + the waiting run's poll delay (2 s): well within 30 s. A live
# holder would have to miss four renewals in a row (20 s without one successful touch over its connection to the
# lock host) to lose its lock.
LEASE_RENEW = 5
LEASE_TIMEOUT = 20

# The exit status of the renewal command when the lock no longer carries this run's owner line.
NOT_OURS = 4

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


def proc_alive(stat: str, start: str) -> bool:
    """Whether the process whose ``/proc/PID/stat`` text is ``stat`` ('' = no such process) runs and is the one
    that started at ``start`` ('' = any). A zombie (state Z) or a dead task (X) is gone: it will never renew."""
    fields = stat[stat.rfind(")") + 1:].split()
    if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return False
    return not start or fields[19] == start


class Held(NamedTuple):
    """What the lock command reported about a lock held by another run: the lock's ``age`` (seconds since it was
    taken), the ``lease`` age (seconds since its last renewal; None: the lock has no lease file) and the owner
    line (``owner_text``, as read)."""

    age: int
    lease: Optional[int]
    owner_text: str


def _seconds(word: str) -> Optional[int]:
    return int(word) if word.lstrip("-").isdigit() else None


def parse_held(stdout: str) -> Optional[Held]:
    """The output of the lock command when the lock is held: ``age N``, then ``lease N`` or ``lease none``, then
    the owner line. None when the output is not that. A negative age (a clock step on the lock host) counts as 0."""
    lines = (stdout or "").splitlines()
    if len(lines) < 2 or not lines[0].startswith("age ") or not lines[1].startswith("lease "):
        return None
    age = _seconds(lines[0].split(" ", 1)[1].strip())
    lease_word = lines[1].split(" ", 1)[1].strip()
    lease = None if lease_word == "none" else _seconds(lease_word)
    if age is None or (lease is None and lease_word != "none"):
        return None
    return Held(max(age, 0), None if lease is None else max(lease, 0), "\n".join(lines[2:]))


def _who(owner: Optional[Owner], otherwise: str) -> str:
    """``user@controller (process PID)`` of an owner line, or ``otherwise`` when it could not be parsed."""
    return f"{owner.user}@{owner.host} (process {owner.pid})" if owner else otherwise


def holder(held: Held) -> str:
    """Who holds the lock, for how long and how fresh its lease is: the waiting run's sentence."""
    who = _who(parse_owner(held.owner_text), held.owner_text.strip() or "an unknown run")
    lease = "no lease (a lock of an older version)" if held.lease is None else f"lease renewed {held.lease}s ago"
    return f"held by {who} for {held.age}s, {lease}"


class Verdict(NamedTuple):
    """``action``: 'break' or 'wait'; ``why``: the sentence for the log."""

    action: str
    why: str


def verdict(held: Held, stale: int, this_host: str, alive: Callable[[int, str], bool],
            lease_timeout: int = LEASE_TIMEOUT) -> Verdict:
    """What to do about a lock another run holds (``held``): break it when its holder ran on ``this_host`` (the
    controller) and ``alive(pid, start)`` says that process is gone; when its lease was last renewed
    ``lease_timeout`` seconds ago or earlier (the holder is gone, on whichever controller); when it has no lease
    (an older version's lock) and is ``stale`` seconds old; otherwise wait. A lock with a fresh lease is never
    broken for its age: its run is alive, however long it takes."""
    owner = parse_owner(held.owner_text)
    if owner is not None and owner.host == this_host and not alive(owner.pid, owner.start):
        return Verdict("break", f"its holder, process {owner.pid} on this controller, is gone")
    if held.lease is not None and held.lease >= lease_timeout:
        return Verdict("break", f"its lease was last renewed {held.lease}s ago (abandoned after {lease_timeout}s): "
                                f"{_who(owner, 'its holder')} is gone")
    if held.lease is None and held.age >= stale:
        return Verdict("break", f"it has no lease and is {held.age}s old, older than docker_swarm_lock_stale "
                                f"({stale}s)")
    return Verdict("wait", holder(held))


def keep_renewing(main_alive: bool, renew_rc: Optional[int]) -> bool:
    """Whether the lease renewer goes on: only while the run's ansible-playbook process lives and the last renewal
    did not find the lock gone or taken by another run (``renew_rc`` :data:`NOT_OURS`; None: the renewal could
    not run, e.g. the lock host did not answer: try again next time, the lease runs out meanwhile)."""
    return main_alive and renew_rc != NOT_OURS

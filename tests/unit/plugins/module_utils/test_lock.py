"""module_utils/_swarm/lock.py: the owner line, and when a held lock may be broken."""

from __future__ import annotations

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import lock

LINE = lock.owner_line("ops", "ctl1", 4242, "987654", "2026-12-03T06:00:00+00:00", 17)


def test_owner_line_round_trip():
    assert LINE == "ops@ctl1 pid 4242 start 987654 2026-12-03T06:00:00+00:00 17"
    assert lock.parse_owner(LINE) == lock.Owner("ops", "ctl1", 4242, "987654")
    assert lock.parse_owner(LINE + "\n") == lock.Owner("ops", "ctl1", 4242, "987654")


@pytest.mark.parametrize("text", ["", "garbage", "ops@ctl1 pid 12 2026-12-03T06:00:00 5", "ops@ctl1 pid x start 1 a b"])
def test_owner_lines_of_other_versions_are_not_parsed(text):
    assert lock.parse_owner(text) is None


def test_proc_start_counts_fields_after_the_command_name():
    stat = "4242 (ansible (play) book) S 1 4242 4242 0 -1 4194560 " + " ".join(str(i) for i in range(10, 30))
    # fields after ')': state ppid pgrp session tty tpgid flags then minflt...: field 22 is the 20th after ')'
    fields = stat[stat.rfind(")") + 1:].split()
    assert lock.proc_start(stat) == fields[19]
    assert lock.proc_start("1 (x) S") == ""


def test_proc_alive_needs_a_live_process_with_the_same_start():
    rest = " ".join(str(i) for i in range(10, 30))
    stat = f"4242 (ansible-playbook) S 1 4242 4242 0 -1 4194560 {rest}"
    start = lock.proc_start(stat)
    assert lock.proc_alive(stat, start) and lock.proc_alive(stat, "")
    assert not lock.proc_alive(stat, "1")  # the pid was reused by another process
    assert not lock.proc_alive(stat.replace(") S ", ") Z "), start)  # a zombie renews nothing
    assert not lock.proc_alive("", start)


@pytest.mark.parametrize(("stdout", "held"), [
    ("age 40\nlease 3\nops@ctl1 pid 4242 start 1 t 2\n", lock.Held(40, 3, "ops@ctl1 pid 4242 start 1 t 2")),
    ("age 40\nlease none\nops@ctl1 pid 4242 start 1 t 2", lock.Held(40, None, "ops@ctl1 pid 4242 start 1 t 2")),
    ("age -2\nlease -1\n", lock.Held(0, 0, "")),  # the lock host's clock stepped back; owner not written yet
    ("age 40\nops@ctl1 pid 4242 start 1 t 2\n", None),  # not the lock command's output
    ("age x\nlease 3\n", None),
    ("age 4\nlease soon\n", None),
    ("", None),
])
def test_parse_held(stdout, held):
    assert lock.parse_held(stdout) == held


CTL2 = LINE.replace("ctl1", "ctl2")


@pytest.mark.parametrize(("owner", "age", "lease", "alive", "action", "why"), [
    # this controller: the holder's process decides at once
    (LINE, 5, 1, True, "wait", "held by ops@ctl1 (process 4242) for 5s, lease renewed 1s ago"),
    (LINE, 5, 1, False, "break", "its holder, process 4242 on this controller, is gone"),
    (LINE, 5, None, False, "break", "its holder, process 4242 on this controller, is gone"),
    # another controller: the lease decides
    (CTL2, 5, 3, False, "wait", "held by ops@ctl2 (process 4242) for 5s, lease renewed 3s ago"),
    (CTL2, 500, 19, True, "wait", "held by ops@ctl2 (process 4242) for 500s, lease renewed 19s ago"),
    (CTL2, 500, 20, True, "break",
     "its lease was last renewed 20s ago (abandoned after 20s): ops@ctl2 (process 4242) is gone"),
    # a fresh lease is never broken for the lock's age: its run is alive, however long it takes
    (CTL2, 7200, 2, True, "wait", "held by ops@ctl2 (process 4242) for 7200s, lease renewed 2s ago"),
    # no lease: a lock of an older version, broken when stale
    (CTL2, 1799, None, True, "wait",
     "held by ops@ctl2 (process 4242) for 1799s, no lease (a lock of an older version)"),
    (CTL2, 1800, None, True, "break",
     "it has no lease and is 1800s old, older than docker_swarm_lock_stale (1800s)"),
    ("an old owner line", 60, None, False, "wait",
     "held by an old owner line for 60s, no lease (a lock of an older version)"),
    ("", 60, 25, False, "break", "its lease was last renewed 25s ago (abandoned after 20s): its holder is gone"),
    ("", 60, 2, False, "wait", "held by an unknown run for 60s, lease renewed 2s ago"),
])
def test_verdict(owner, age, lease, alive, action, why):
    seen = []

    def is_alive(pid, start):
        seen.append((pid, start))
        return alive

    held = lock.Held(age, lease, owner)
    assert lock.verdict(held, 1800, "ctl1", is_alive) == lock.Verdict(action, why)
    if owner.startswith("ops@ctl1"):
        assert seen == [(4242, "987654")]
    else:
        assert seen == []  # another controller's process ids mean nothing here


def test_takeover_within_30_seconds():
    """A run killed right after a renewal is taken over once its lease is LEASE_TIMEOUT old, at the waiting run's
    next poll (at most 2 s later by default): under 30 s."""
    assert lock.LEASE_RENEW * 3 < lock.LEASE_TIMEOUT and lock.LEASE_TIMEOUT + 2 + 1 < 30


@pytest.mark.parametrize(("main_alive", "rc", "keep"), [
    (True, 0, True), (True, None, True), (True, 1, True), (True, lock.NOT_OURS, False), (False, 0, False),
    (False, None, False),
])
def test_keep_renewing(main_alive, rc, keep):
    assert lock.keep_renewing(main_alive, rc) is keep

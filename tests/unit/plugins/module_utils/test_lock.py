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


@pytest.mark.parametrize(("owner", "age", "alive", "action", "why"), [
    (LINE, 5, True, "wait", "held by ops@ctl1 (process 4242) for 5s"),
    (LINE, 5, False, "break", "its holder, process 4242 on this controller, is gone"),
    (LINE.replace("ctl1", "ctl2"), 5, False, "wait", "held by ops@ctl2 (process 4242) for 5s"),
    (LINE.replace("ctl1", "ctl2"), 1800, True, "break", "it is 1800s old, older than docker_swarm_lock_stale (1800s)"),
    ("an old owner line", 60, False, "wait", "held by an old owner line for 60s"),
    ("", 60, False, "wait", "held by an unknown run for 60s"),
])
def test_verdict(owner, age, alive, action, why):
    seen = []

    def is_alive(pid, start):
        seen.append((pid, start))
        return alive

    assert lock.verdict(owner, age, 1800, "ctl1", is_alive) == lock.Verdict(action, why)
    if owner.startswith("ops@ctl1"):
        assert seen == [(4242, "987654")]

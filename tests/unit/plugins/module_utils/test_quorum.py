"""quorum.py: raft arithmetic for leave and demote."""

from __future__ import annotations

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import quorum as q


def nodes(reachable, unreachable, workers=1):
    out = [{"ManagerStatus": {"Reachability": "reachable"}} for _index in range(reachable)]
    out += [{"ManagerStatus": {"Reachability": "unreachable"}} for _index in range(unreachable)]
    out += [{"Spec": {"Role": "worker"}} for _index in range(workers)]
    return out


def test_manager_counts():
    counts = q.manager_counts(nodes(3, 2))
    assert counts == q.ManagerCounts(total=5, reachable=3)
    assert counts.unreachable == 2


@pytest.mark.parametrize(("total", "size"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3), (7, 4)])
def test_quorum_size(total, size):
    assert q.quorum_size(total) == size


# Matches moby's removingManagerCausesLossOfQuorum(reachable, unreachable): reachable-2 <= unreachable.
@pytest.mark.parametrize(("reachable", "unreachable"), [(r, u) for r in range(1, 8) for u in range(0, 4)])
def test_leave_matches_the_engine_rule(reachable, unreachable):
    counts = q.ManagerCounts(reachable + unreachable, reachable)
    assert q.leave_keeps_quorum(counts) is not (reachable - 2 <= unreachable)


@pytest.mark.parametrize(
    ("total", "reachable", "node_reachable", "ok"),
    [(1, 1, True, False), (2, 2, True, True), (3, 3, True, True), (3, 2, True, False), (3, 2, False, True),
     (5, 3, True, False), (5, 4, True, True), (2, 1, False, True)],
)
def test_demote_keeps_quorum(total, reachable, node_reachable, ok):
    assert q.demote_keeps_quorum(q.ManagerCounts(total, reachable), node_reachable) is ok


@pytest.mark.parametrize(
    ("total", "reachable", "node_reachable", "after", "ok"),
    [(1, 1, True, 0, False), (2, 2, True, 1, False), (3, 3, True, 2, True), (3, 2, True, 1, False),
     (3, 2, False, 2, True), (4, 4, True, 3, True), (4, 3, True, 2, False), (5, 5, True, 4, True),
     (5, 3, True, 2, False), (5, 3, False, 3, True), (7, 5, True, 4, True)],
)
def test_away_keeps_quorum(total, reachable, node_reachable, after, ok):
    counts = q.ManagerCounts(total, reachable)
    assert q.while_away(counts, node_reachable) == q.ManagerCounts(total, after)
    assert q.away_keeps_quorum(counts, node_reachable) is ok


@pytest.mark.parametrize(("reachable", "unreachable"), [(r, u) for r in range(1, 8) for u in range(0, 4)])
def test_away_of_a_reachable_manager_is_judged_like_a_leave(reachable, unreachable):
    counts = q.ManagerCounts(reachable + unreachable, reachable)
    assert q.away_keeps_quorum(counts) is q.leave_keeps_quorum(counts)


@pytest.mark.parametrize(("total", "reachable", "needs"), [
    (1, 1, False),  # the second manager of a swarm: every swarm goes through 1 of 2
    (3, 3, False),  # 3 of 4 while the fourth catches up
    (3, 2, True),   # campaign seed 7 sequence 29 before the move came first: 2 of 4
    (4, 3, False),  # 3 of 5
    (5, 3, True),   # 3 of 6
    (2, 1, True),
])
def test_join_needs_joiner(total, reachable, needs):
    assert q.join_needs_joiner(q.ManagerCounts(total, reachable)) is needs

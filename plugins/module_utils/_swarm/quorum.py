# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Manager quorum arithmetic (raft: a quorum of N members is N // 2 + 1). The only place it is written.

Two ways a manager stops counting, with different effects on raft membership:

* leaving (``docker swarm leave --force`` on a manager) keeps the node in the raft member list
  as unreachable: N stays, reachable managers drop by one;
* demoting (or removing a demoted node) removes the raft member: N and reachable both drop by one
  (swarmkit refuses it with "this would result in a loss of quorum").
"""

from __future__ import annotations

from typing import Any, NamedTuple


class ManagerCounts(NamedTuple):
    total: int
    reachable: int

    @property
    def unreachable(self) -> int:
        return self.total - self.reachable

    @property
    def quorum(self) -> int:
        return quorum_size(self.total)

    @property
    def has_quorum(self) -> bool:
        return self.reachable >= quorum_size(self.total)


def quorum_size(total: int) -> int:
    return total // 2 + 1


def fault_tolerance(total: int) -> int:
    """How many managers may fail before the quorum is lost."""
    return max(total - quorum_size(total), 0)


def manager_counts(nodes: list[dict[str, Any]]) -> ManagerCounts:
    """Count managers and reachable managers in a GET /nodes answer."""
    managers = [n for n in nodes if n.get("ManagerStatus")]
    reachable = [n for n in managers if (n["ManagerStatus"].get("Reachability") or "") == "reachable"]
    return ManagerCounts(total=len(managers), reachable=len(reachable))


def view_counts(nodes: list[dict[str, Any]]) -> ManagerCounts:
    """Count managers and reachable managers in node views (``views.node_view`` entries)."""
    managers = [n for n in nodes if n.get("role") == "manager"]
    reachable = [n for n in managers if n.get("manager_reachability") == "reachable"]
    return ManagerCounts(total=len(managers), reachable=len(reachable))


def after_change(staying: ManagerCounts, added: int) -> ManagerCounts:
    """The managers once a plan is done: those that stay, plus ``added`` new (reachable) ones."""
    return ManagerCounts(total=staying.total + added, reachable=staying.reachable + added)


def leave_keeps_quorum(counts: ManagerCounts) -> bool:
    """A reachable manager leaves without demotion: still a quorum among the same members?"""
    return counts.reachable - 1 >= quorum_size(counts.total)


def demote_keeps_quorum(counts: ManagerCounts, node_reachable: bool = True) -> bool:
    """One manager is demoted (its raft membership removed): still a quorum afterwards?"""
    if counts.total <= 1:
        return False
    reachable_after = counts.reachable - (1 if node_reachable else 0)
    return reachable_after >= quorum_size(counts.total - 1)


def while_away(counts: ManagerCounts, node_reachable: bool = True) -> ManagerCounts:
    """The managers while one of them is away for a while without leaving the raft (drained, its engine
    restarted or upgraded: rolling maintenance). Like a leave, N stays; the reachable ones drop by one unless
    the manager is unreachable already."""
    return ManagerCounts(total=counts.total, reachable=counts.reachable - (1 if node_reachable else 0))


def away_keeps_quorum(counts: ManagerCounts, node_reachable: bool = True) -> bool:
    """One manager goes away for a while (see ``while_away``): do the others keep a quorum meanwhile?
    Fewer than 3 managers never do: 1 of 1 away leaves 0, 1 of 2 left is below the quorum of 2."""
    return while_away(counts, node_reachable).has_quorum


def join_needs_joiner(counts: ManagerCounts) -> bool:
    """A manager joins: from the moment the raft adds it until it has caught up it is a member that is not
    reachable. Does the quorum of the larger raft then need it? Only when managers are unreachable already (with
    all of them reachable, only the second manager of a swarm does: 1 of 2, which every swarm goes through)."""
    return counts.unreachable > 0 and counts.reachable < quorum_size(counts.total + 1)

#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_node
short_description: Manage one node of a Docker swarm - labels, availability, role, removal
version_added: 1.0.0
description:
  - Runs on a manager and changes one node of its swarm, addressed by node ID or hostname.
  - Sets node labels (merged or exclusive), availability (active, pause, drain) and role (promote to manager, demote to
    worker). Read-modify-write of the node spec with its version; a concurrent change is retried with a fresh read.
  - Refuses a demotion that would leave the remaining managers without a quorum before changing anything.
  - O(state=absent) removes the node from the swarm - drain, demote (if a manager, with the same quorum check), wait
    until it has left the raft, remove. A node that is already gone is V(ok).
extends_documentation_fragment:
  - hive.swarm.swarm
attributes:
  check_mode:
    support: full
    description: Reports what would change (with the quorum check); nothing is sent and nothing is waited for.
  diff_mode:
    support: full
    description: Shows exactly the node fields that change (C(labels), C(availability), C(role), C(state)).
options:
  node:
    description:
      - The node's full ID, or its hostname.
      - A hostname that matches several nodes (for example a rebuilt host whose old entry is still listed) is an error,
        not a guess; use the ID then. ID prefixes are not accepted.
    type: str
    required: true
  labels:
    description:
      - Node labels. Values are converted to strings.
      - With O(labels_state=merge), a label whose value is null is removed.
    type: dict
  labels_state:
    description:
      - V(merge) adds or overwrites the labels in O(labels) and keeps the others.
      - V(replace) makes the node's labels exactly O(labels) (V({}) removes all).
    type: str
    choices: [merge, replace]
    default: merge
  availability:
    description:
      - V(active) schedules tasks on the node, V(pause) stops new tasks, V(drain) moves its tasks away.
    type: str
    choices: [active, pause, drain]
  role:
    description:
      - V(manager) promotes the node, V(worker) demotes it.
      - A demotion is refused when the reachable managers after it would be fewer than a quorum of the managers after
        it (C(N // 2 + 1)), and when it is the last manager. The Engine applies the same rule.
      - With O(wait_timeout) > 0 the module waits until a promoted node is a reachable manager, or a demoted node has
        left the raft, and fails (reporting the change) when that does not happen in time - for example when a down
        worker is promoted.
    type: str
    choices: [worker, manager]
  state:
    description:
      - V(present) applies O(labels), O(availability) and O(role).
      - V(absent) removes the node; O(labels), O(availability) and O(role) are ignored then.
      - Without O(force), a node is removed only when it is C(down) (its engine stopped or it left the swarm); the
        module waits up to O(wait_timeout) seconds for that before changing anything, then refuses.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=absent), remove the node even when it is not C(down) (for example an unreachable host that the
        swarm still counts as ready, or one that already left). The node itself is not told; if its engine still runs it
        keeps believing it is in the swarm until it leaves.
      - Does not bypass the quorum check.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for a role change to complete, and (O(state=absent)) for the node to be C(down) and out of the
        raft. V(0) does not wait.
      - Also how long a request that finds no leader is asked again (the managers are electing one, typically for
        seconds, up to about a minute after a manager that was cut off came back); then the module fails with the
        Engine's error. Nothing is changed without a leader.
    type: int
    default: 60
notes:
  - Removing the manager the module talks to is refused (delegate the task to another manager). Demoting it is
    allowed (with the quorum check); the returned node is then the predicted one, since a worker cannot read nodes.
  - O(state=absent) always waits (at least 30 seconds) for a demoted manager to leave the raft, because the Engine
    removes only nodes that are no raft members.
  - Address nodes by the ID their own engine reports (M(hive.swarm.swarm_node_info) C(local.node_id)) in automation;
    hostnames are for humans.
seealso:
  - module: hive.swarm.swarm_node_info
  - module: hive.swarm.swarm_leave
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Label a node (other labels stay)
  hive.swarm.swarm_node:
    node: worker-1
    labels:
      zone: a
      ssd: "true"

- name: Make the labels exactly these
  hive.swarm.swarm_node:
    node: "{{ node_id }}"
    labels:
      zone: b
    labels_state: replace

- name: Drain a node before maintenance
  hive.swarm.swarm_node:
    node: worker-1
    availability: drain

- name: Promote a worker and wait until it is a reachable manager
  hive.swarm.swarm_node:
    node: worker-2
    role: manager

- name: Remove a node whose engine is stopped (drain, demote, remove)
  hive.swarm.swarm_node:
    node: "{{ old_node_id }}"
    state: absent
"""

RETURN = r"""
node:
  description:
    - The node after the change, as RV(hive.swarm.swarm_node_info#module:nodes) entries are; null after removal (or
      when O(state=absent) and the node did not exist).
    - In check mode, the predicted node.
  returned: always
  type: dict
"""

import copy
from typing import Any, Optional

from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import SwarmClient, describe_node
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import (
    InvalidParameter,
    NodeNotDown,
    NodeNotFound,
    QuorumError,
    SwarmError,
    WaitTimeout,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.module import run_module
from ansible_collections.hive.swarm.plugins.module_utils._swarm.quorum import (
    demote_keeps_quorum,
    manager_counts,
    quorum_size,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.views import node_view

ARGUMENT_SPEC: dict[str, Any] = {
    "node": {"type": "str", "required": True},
    "labels": {"type": "dict"},
    "labels_state": {"type": "str", "choices": ["merge", "replace"], "default": "merge"},
    "availability": {"type": "str", "choices": ["active", "pause", "drain"]},
    "role": {"type": "str", "choices": ["worker", "manager"]},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "force": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 60},
}
FIELDS = ("labels", "availability", "role")
# state=absent must wait for a demoted manager to leave the raft before the Engine removes it.
MIN_RAFT_WAIT = 30


# ---------------------------------------------------------------------------- pure helpers
def is_raft_member(node: dict[str, Any]) -> bool:
    return bool(node.get("ManagerStatus"))


def node_state(node: dict[str, Any]) -> str:
    return (node.get("Status") or {}).get("State") or "unknown"


def wanted_spec(spec: dict[str, Any], p: dict[str, Any]) -> Optional[dict[str, Any]]:
    """The complete node spec with the requested fields applied, or None when nothing changes."""
    new = copy.deepcopy(spec)
    if p.get("labels") is not None:
        given = p["labels"]
        if p.get("labels_state") == "replace":
            labels = {str(k): str(v) for k, v in given.items() if v is not None}
        else:
            labels = dict(spec.get("Labels") or {})
            for key, value in given.items():
                if value is None:
                    labels.pop(str(key), None)
                else:
                    labels[str(key)] = str(value)
        new["Labels"] = labels
    if p.get("availability"):
        new["Availability"] = p["availability"]
    if p.get("role"):
        new["Role"] = p["role"]
    return new if spec_fields(new) != spec_fields(spec) else None


def spec_fields(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "labels": dict(spec.get("Labels") or {}),
        "availability": spec.get("Availability"),
        "role": spec.get("Role"),
    }


def field_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    b, a = spec_fields(before), spec_fields(after)
    changed = [k for k in FIELDS if b[k] != a[k]]
    return {"before": {k: b[k] for k in changed}, "after": {k: a[k] for k in changed}}


def check_demotion(node: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
    """Raise QuorumError when removing ``node`` from the raft would leave no quorum (before any change)."""
    if not is_raft_member(node):
        return
    counts = manager_counts(nodes)
    hostname = (node.get("Description") or {}).get("Hostname") or node.get("ID")
    if counts.total <= 1:
        raise QuorumError.demotion(f"Refusing to demote {hostname}: it is the last manager of the swarm.")
    reachable = node["ManagerStatus"].get("Reachability") == "reachable"
    if not demote_keeps_quorum(counts, node_reachable=reachable):
        after_total = counts.total - 1
        after_reachable = counts.reachable - (1 if reachable else 0)
        raise QuorumError.demotion(
            f"Refusing to demote {hostname}: {after_reachable} of the remaining {after_total} managers would be "
            f"reachable, fewer than the quorum of {quorum_size(after_total)}."
        )


def left_raft(node: Optional[dict[str, Any]]) -> bool:
    return node is None or not is_raft_member(node)


def reachable_manager(node: Optional[dict[str, Any]]) -> bool:
    return node is not None and (node.get("ManagerStatus") or {}).get("Reachability") == "reachable"


def down_or_gone(node: Optional[dict[str, Any]]) -> bool:
    return node is None or node_state(node) == "down"


# ---------------------------------------------------------------------------- state=present
def ensure_present(module: Any, client: SwarmClient, node: dict[str, Any], nodes: list[dict[str, Any]]) -> dict:
    p = module.params
    spec = node.get("Spec") or {}
    planned = wanted_spec(spec, p)
    result: dict[str, Any] = {"changed": planned is not None}
    demoting = planned is not None and spec.get("Role") == "manager" and planned.get("Role") == "worker"
    if demoting:
        check_demotion(node, nodes)
    if planned is None:
        result["node"] = node_view(node)
        if module._diff:
            result["diff"] = {"before": {}, "after": {}}
        return result
    if module.check_mode:
        predicted = copy.deepcopy(node)
        predicted["Spec"] = planned
        result["node"] = node_view(predicted)
        if module._diff:
            result["diff"] = field_diff(spec, planned)
        return result

    def mutate(current: dict[str, Any]) -> Optional[dict[str, Any]]:
        return wanted_spec(current, p)

    read, sent = client.update_node(node["ID"], mutate, current=node)
    before = read.get("Spec") or {}
    result["changed"] = sent is not None
    if module._diff:
        result["diff"] = field_diff(before, sent if sent is not None else before)
    if sent is None:
        result["node"] = node_view(read)
        return result
    try:
        result["node"] = node_view(settle(client, read, sent, p["wait_timeout"]))
    except SwarmError as err:
        err.details["changed"] = True
        raise
    return result


def settle(client: SwarmClient, read: dict[str, Any], sent: dict[str, Any], timeout: int) -> dict[str, Any]:
    """After an update: wait for a role change to take effect (when asked); return the node as read last."""
    node_id = read["ID"]
    before = read.get("Spec") or {}
    promoted = before.get("Role") != "manager" and sent.get("Role") == "manager"
    demoted = before.get("Role") == "manager" and sent.get("Role") == "worker"
    if demoted and node_id == client.node_id:
        # This engine demoted itself: it stops answering node requests, so report what was sent.
        predicted = copy.deepcopy(read)
        predicted["Spec"] = sent
        return predicted
    node: Optional[dict[str, Any]] = None
    if timeout > 0 and promoted:
        node = client.poll_node(node_id, reachable_manager, timeout, "is a reachable manager")
    elif timeout > 0 and demoted:
        node = client.poll_node(node_id, left_raft, timeout, "has left the raft")
    return node if node is not None else client.inspect_node(node_id)


# ---------------------------------------------------------------------------- state=absent
def ensure_absent(module: Any, client: SwarmClient, node: dict[str, Any], nodes: list[dict[str, Any]]) -> dict:
    p = module.params
    node_id = node["ID"]
    hostname = (node.get("Description") or {}).get("Hostname") or node_id
    ignored = [name for name in FIELDS if p.get(name) is not None]
    if ignored:
        module.warn(f"state=absent: {', '.join(ignored)} ignored.")
    if node_id == client.node_id:
        raise InvalidParameter(
            f"Refusing to remove {hostname}: it is the manager this module runs on.",
            hint="Run the task on (delegate it to) another manager, or use hive.swarm.swarm_leave on this host.",
        )
    spec = node.get("Spec") or {}
    manager = spec.get("Role") == "manager" or is_raft_member(node)
    if manager:
        check_demotion(node, nodes)
    result: dict[str, Any] = {"changed": True, "node": None}
    if module._diff:
        result["diff"] = {"before": {"state": "present"}, "after": {"state": "absent"}}
    if module.check_mode:
        if not p["force"] and node_state(node) != "down":
            module.warn(
                f"{hostname} is {node_state(node)}, not down: the real run waits up to {p['wait_timeout']}s for it "
                "to go down and refuses otherwise (or use force=true)."
            )
        return result

    if not p["force"] and node_state(node) != "down":
        try:
            current = client.poll_node(node_id, down_or_gone, p["wait_timeout"], "is down")
        except WaitTimeout as err:
            raise NodeNotDown(
                f"Refusing to remove {hostname}: it is {describe_node(err.last)}, not down "
                f"(waited {p['wait_timeout']}s); nothing was changed."
            ) from None
        if current is None:
            return gone(module)
        node = current

    def mutate(current: dict[str, Any]) -> Optional[dict[str, Any]]:
        new = copy.deepcopy(current)
        new["Availability"] = "drain"
        new["Role"] = "worker"
        return new if spec_fields(new) != spec_fields(current) else None

    try:
        try:
            client.update_node(node_id, mutate, current=node)
        except NodeNotFound:
            if not listed(client, node_id):
                return gone(module)
            # A manager entry outside the raft (its swarm was recovered with force_new_cluster on another manager):
            # the Engine answers the demotion with 404 "can't find manager in raft memberlist". Drain it and remove
            # it as it is (a node outside the raft needs no demotion before removal).
            client.update_node(node_id, drain_only)
            manager = False
        if manager:
            client.poll_node(node_id, left_raft, max(p["wait_timeout"], MIN_RAFT_WAIT), "has left the raft")
        remove(client, node_id, hostname, p["force"])
    except SwarmError as err:
        err.details.setdefault("changed", True)  # drained/demoted at least
        raise
    return result


def drain_only(current: dict[str, Any]) -> Optional[dict[str, Any]]:
    new = copy.deepcopy(current)
    new["Availability"] = "drain"
    return new if spec_fields(new) != spec_fields(current) else None


def listed(client: SwarmClient, node_id: str) -> bool:
    """Whether the swarm still has the node entry."""
    try:
        client.inspect_node(node_id)
    except NodeNotFound:
        return False
    return True


def remove(client: SwarmClient, node_id: str, hostname: str, force: bool) -> None:
    try:
        client.remove_node(node_id, force=force)
    except NodeNotFound:
        return  # removed meanwhile
    except NodeNotDown as err:
        raise NodeNotDown(
            f"Cannot remove {hostname}: the Engine says it is not down ({err.explanation}).",
            status=err.status,
            explanation=err.explanation,
        ) from None


def gone(module: Any) -> dict[str, Any]:
    """Result for state=absent when the node does not exist (any more)."""
    result: dict[str, Any] = {"changed": False, "node": None}
    if module._diff:
        result["diff"] = {"before": {}, "after": {}}
    return result


# ---------------------------------------------------------------------------- entry point
def run(module: Any, client: SwarmClient) -> dict[str, Any]:
    p = module.params
    if p["wait_timeout"] < 0:
        raise InvalidParameter(f"wait_timeout cannot be negative ({p['wait_timeout']}).")
    client.leader_wait = float(p["wait_timeout"])
    if p["labels_state"] == "replace" and p["labels"] is None and p["state"] == "present":
        module.warn("labels_state=replace has no effect without labels (use labels: {} to remove all).")
    client.info()
    client.require_manager("manage swarm nodes")
    nodes = client.nodes()
    if p["state"] == "absent":
        try:
            node = client.get_node(p["node"], nodes=nodes)
        except NodeNotFound:
            return gone(module)
        return ensure_absent(module, client, node, nodes)
    node = client.get_node(p["node"], nodes=nodes)
    return ensure_present(module, client, node, nodes)


def main() -> None:
    run_module(ARGUMENT_SPEC, run, supports_check_mode=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_leave
short_description: Make a Docker Engine leave its swarm without breaking the managers' quorum
version_added: 1.0.0
description:
  - Makes the Engine leave its swarm. Nothing to do (ok) when it is not in a swarm.
  - A worker, or a node that is pending or in error, simply leaves.
  - A manager leaves only if the remaining reachable managers still form a quorum; the last manager, or a manager
    whose leaving breaks the quorum, is refused unless O(force=true).
  - A locked node leaves only with O(force=true) (its state cannot be checked).
extends_documentation_fragment:
  - hive.swarm.swarm
attributes:
  check_mode:
    support: full
    description: Reports whether the node would leave; nothing is changed.
  diff_mode:
    support: full
    description: Shows the local state before and after.
options:
  force:
    description:
      - Leave even if this is the last manager (the swarm is gone), the managers lose their quorum, the quorum cannot
        be checked, or the node is locked.
    type: bool
    default: false
notes:
  - A manager that leaves stays in the raft member list as unreachable, which lowers the swarm's fault tolerance.
    Prefer demoting it first (M(hive.swarm.swarm_node) O(hive.swarm.swarm_node#module:role=worker) on another
    manager), then leaving, then removing the node entry (M(hive.swarm.swarm_node)
    O(hive.swarm.swarm_node#module:state=absent)). The module warns when a manager leaves.
  - The node's entry stays in the swarm's node list as C(down) until it is removed on a manager; RV(node_id) names it.
seealso:
  - module: hive.swarm.swarm_node
  - module: hive.swarm.swarm_join
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Take a worker out of the swarm
  hive.swarm.swarm_leave:

- name: Dismantle a one-manager test swarm
  hive.swarm.swarm_leave:
    force: true
"""

RETURN = r"""
node_id:
  description: The ID the node had in the swarm it left (null when it was not in a swarm).
  returned: always
  type: str
was_manager:
  description: Whether the node was a manager.
  returned: always
  type: bool
state:
  description: The node's local swarm state afterwards (C(inactive); in check mode the state it would have).
  returned: always
  type: str
  sample: inactive
"""

from typing import Any

from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import SwarmClient
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import (
    QuorumError,
    SwarmError,
    SwarmLocked,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.module import run_module
from ansible_collections.hive.swarm.plugins.module_utils._swarm.quorum import (
    leave_keeps_quorum,
    manager_counts,
    quorum_size,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "force": {"type": "bool", "default": False},
}


def manager_leave_check(module: Any, client: SwarmClient) -> None:
    """Refuse (unless force) a manager leave that ends the swarm or its quorum."""
    force = module.params["force"]
    try:
        counts = manager_counts(client.nodes({"role": "manager"}))
    except SwarmError as err:
        if force:
            module.warn(f"Could not check the manager quorum ({err.message}); leaving anyway (force).")
            return
        raise QuorumError.leave(f"Cannot check the manager quorum before leaving: {err.message}") from None
    if counts.total <= 1:
        if not force:
            raise QuorumError(
                "This is the last manager: leaving erases the swarm (services, secrets, node list).",
                hint="Set force=true to dismantle the swarm.",
            )
        return
    if not leave_keeps_quorum(counts):
        if not force:
            raise QuorumError.leave(
                f"Leaving would leave {counts.reachable - 1} reachable of {counts.total} managers; the quorum is "
                f"{quorum_size(counts.total)}, so the swarm would stop accepting changes."
            )
        return
    module.warn(
        "A manager left without being demoted: it stays in the raft member list as unreachable. Demote managers "
        "(hive.swarm.swarm_node role=worker) before they leave, and remove the old node entry."
    )


def run(module: Any, client: SwarmClient) -> dict[str, Any]:
    force = module.params["force"]
    client.info()
    state = client.local_state
    node_id = client.node_id
    was_manager = client.is_manager
    result: dict[str, Any] = {"changed": False, "node_id": node_id, "was_manager": was_manager, "state": state}
    if state == "inactive":
        return result
    api_force = force
    if state == "locked":
        if not force:
            raise SwarmLocked(
                "The swarm on this node is locked; leaving it cannot be checked.",
                hint="Unlock it first, or set force=true to leave anyway.",
            )
    elif state in ("pending", "error"):
        api_force = True  # not (yet) a member: nothing to protect
    elif was_manager:
        manager_leave_check(module, client)
        api_force = True  # the Engine refuses any manager leave without force; we checked the quorum
    result.update(changed=True, state="inactive")
    if module._diff:
        result["diff"] = {
            "before": {"local_state": state, "node_id": node_id, "role": "manager" if was_manager else "worker"},
            "after": {"local_state": "inactive", "node_id": None, "role": None},
        }
    if module.check_mode:
        return result
    client.leave_swarm(force=api_force)
    client.info(refresh=True)
    if client.local_state != "inactive":
        raise SwarmError(
            f"The leave request returned but the node is still {client.local_state}.",
            hint="Set force=true if it is a manager, or check the Engine's log.",
        )
    return result


def main() -> None:
    run_module(ARGUMENT_SPEC, run, supports_check_mode=True)


if __name__ == "__main__":
    main()

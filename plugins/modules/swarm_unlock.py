#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_unlock
short_description: Unlock a Docker swarm manager that restarted with autolock on
version_added: 1.0.0
description:
  - When the swarm has autolock on, a manager whose Engine restarts comes up C(locked) (its raft data is encrypted)
    and stays so until it is given the unlock key. This module gives it the key and waits until the node is active.
  - A node that is not locked (active, inactive, pending, error) is left alone (V(ok)); RV(state) tells which.
extends_documentation_fragment:
  - hive.swarm.swarm
attributes:
  check_mode:
    support: full
    description: Reports whether the node would be unlocked; the key is not sent, so a wrong key is not detected.
  diff_mode:
    support: full
    description: Shows the local state before and after.
options:
  unlock_key:
    description:
      - The swarm's unlock key, V(SWMKEY-1-...) (a secret, never logged). Keep it in ansible-vault.
      - Read it on an unlocked manager with M(hive.swarm.swarm_node_info)
        O(hive.swarm.swarm_node_info#module:unlock_key=true) or C(docker swarm unlock-key -q).
    type: str
    required: true
  wait_timeout:
    description: Seconds to wait for the node to become active after the key was accepted.
    type: int
    default: 30
notes:
  - After a rotation (M(hive.swarm.swarm_update) O(hive.swarm.swarm_update#module:rotate_unlock_key=true)) the old key
    no longer unlocks managers that restart; the Engine answers "invalid key".
seealso:
  - module: hive.swarm.swarm_update
  - module: hive.swarm.swarm_node_info
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Unlock managers that restarted (key from an ansible-vault encrypted vars file)
  hive.swarm.swarm_unlock:
    unlock_key: "{{ vault_swarm_unlock_key }}"
  no_log: true
"""

RETURN = r"""
state:
  description: The node's local swarm state afterwards (in check mode, the state it would have).
  returned: always
  type: str
  sample: active
node_id:
  description: The node's ID (also known while locked).
  returned: always
  type: str
"""

import re
from typing import Any

from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import SwarmClient
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter, SwarmError
from ansible_collections.hive.swarm.plugins.module_utils._swarm.module import run_module

ARGUMENT_SPEC: dict[str, Any] = {
    "unlock_key": {"type": "str", "required": True, "no_log": True},
    "wait_timeout": {"type": "int", "default": 30},
}
KEY_RE = re.compile(r"^SWMKEY-1-[A-Za-z0-9+/=]+$")


def run(module: Any, client: SwarmClient) -> dict[str, Any]:
    p = module.params
    if not KEY_RE.match((p["unlock_key"] or "").strip()):
        raise InvalidParameter(
            "The unlock key is malformed.",
            hint="An unlock key looks like SWMKEY-1-<base64>; read it on an unlocked manager "
            "(swarm_node_info unlock_key: true, or 'docker swarm unlock-key -q').",
        )
    if p["wait_timeout"] < 0:
        raise InvalidParameter(f"wait_timeout cannot be negative ({p['wait_timeout']}).")
    client.info()
    before = client.local_state
    result: dict[str, Any] = {"changed": before == "locked", "state": before, "node_id": client.node_id}
    if module._diff:
        after = "active" if before == "locked" else before
        result["diff"] = {"before": {"local_state": before}, "after": {"local_state": after}}
    if before != "locked":
        return result
    result["state"] = "active"
    if module.check_mode:
        return result
    client.unlock(p["unlock_key"].strip())
    try:
        client.wait_for(lambda i: (i.get("Swarm") or {}).get("LocalNodeState") != "locked", p["wait_timeout"],
                        "the node to unlock")
    except SwarmError as err:
        err.details["changed"] = True  # the key was accepted
        raise
    result.update(state=client.local_state, node_id=client.node_id)
    return result


def main() -> None:
    run_module(ARGUMENT_SPEC, run, supports_check_mode=True)


if __name__ == "__main__":
    main()

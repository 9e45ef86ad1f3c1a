#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_update
short_description: Change the settings of an existing Docker swarm, rotate its join tokens and unlock key
version_added: 1.0.0
description:
  - Runs on a manager. Changes the swarm spec (raft, dispatcher, CA, orchestration, labels, autolock), rotates the
    worker or manager join token and the unlock key.
  - Read-modify-write. The module reads the whole current spec and its version, changes only the options the task
    sets, and sends the complete spec back with that version. Every setting the task does not name is kept exactly,
    including labels, autolock, raft and CA settings (C(ForceRotate) too). A concurrent change ("update out of
    sequence") is retried with a fresh read.
  - Options that are not set are left as they are; there are no defaults that reset anything.
  - O(rotate_ca=true) starts a root CA rotation the way C(docker swarm ca --rotate) does, with the same
    read-modify-write (it sends the C(CAConfig.ForceRotate) it read plus one), and returns without waiting. The
    Engine then issues every node a certificate from the new root;
    RV(hive.swarm.swarm_node_info#module:swarm.root_rotation_in_progress) and the nodes' C(root_ca_digest) /
    C(cert_issuer_digest) (M(hive.swarm.swarm_node_info)) show the progress, and
    C(playbooks/rotate.yml -e rotate_ca=true) waits for it.
  - Rotations always report a change (also in check mode). Join tokens are never returned; use
    M(hive.swarm.swarm_node_info) with O(hive.swarm.swarm_node_info#module:join_tokens=true) to read the new ones.
extends_documentation_fragment:
  - hive.swarm.swarm
  - hive.swarm.swarm.spec
attributes:
  check_mode:
    support: full
    description: Reports what would change (rotations always count as a change); nothing is sent to the Engine.
  diff_mode:
    support: full
    description: Shows exactly the spec options that change, and which secrets are rotated (never their values).
options:
  labels_state:
    description:
      - How O(labels) (the labels of the swarm object) are applied.
      - V(merge) adds or overwrites the given labels and keeps the others.
      - V(replace) makes the swarm's labels exactly O(labels) (V({}) removes all).
    type: str
    choices: [merge, replace]
    default: merge
  rotate_worker_token:
    description:
      - Replace the worker join token. Nodes that already joined are not affected; the old token stops working.
    type: bool
    default: false
  rotate_manager_token:
    description:
      - Replace the manager join token. The old token stops working.
    type: bool
    default: false
  rotate_unlock_key:
    description:
      - Replace the unlock key of an autolocked swarm and return the new one as RV(unlock_key).
      - Needs autolock on (already, or switched on by O(autolock=true) in the same task).
      - Needs Docker SDK for Python >= 4.0 and Engine API >= 1.25.
    type: bool
    default: false
  rotate_ca:
    description:
      - Start a rotation of the swarm's root CA to a new, Engine-generated root (what C(docker swarm ca --rotate)
        does without a certificate). C(CAConfig.ForceRotate) becomes the current value plus one, and a signing CA
        certificate in the spec is not sent (a new root is generated). Every node gets a new certificate, and when
        the new root is in place the swarm replaces both join tokens (they carry the root's digest; old tokens stop
        working).
      - Cannot be combined with O(ca_force_rotate), O(signing_ca_cert) or O(signing_ca_key).
      - The rotation goes on in the background; this module does not wait for it.
      - Needs Engine API >= 1.30.
    type: bool
    default: false
    version_added: 1.0.0
notes:
  - When the task switches O(autolock) on or sets O(rotate_unlock_key=true), the new unlock key is returned as
    RV(unlock_key). It is a secret - set C(no_log) on such tasks and store the key safely; every manager that restarts
    stays locked until it is unlocked with this key.
  - The Engine never returns O(signing_ca_key), so only a change of O(signing_ca_cert) is detected.
  - Init-only settings (data path port, default address pool, subnet size) cannot be changed here.
seealso:
  - module: hive.swarm.swarm_init
  - module: hive.swarm.swarm_node_info
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Keep more raft snapshots; everything else stays as it is
  hive.swarm.swarm_update:
    snapshot_interval: 5000
    keep_old_snapshots: 2

- name: Switch autolock on and keep the unlock key (a secret)
  hive.swarm.swarm_update:
    autolock: true
  register: lock
  no_log: true

- name: Rotate the worker join token (for example after it leaked)
  hive.swarm.swarm_update:
    rotate_worker_token: true

- name: Rotate the unlock key
  hive.swarm.swarm_update:
    rotate_unlock_key: true
  register: lock
  no_log: true

- name: Rotate the root CA (the Engine re-issues every node's certificate in the background)
  hive.swarm.swarm_update:
    rotate_ca: true

- name: Make the swarm's labels exactly these
  hive.swarm.swarm_update:
    labels:
      env: prod
    labels_state: replace
"""

RETURN = r"""
swarm:
  description:
    - The swarm after the change, without secrets, as RV(hive.swarm.swarm_node_info#module:swarm) returns it.
    - In check mode, the predicted swarm.
  returned: always
  type: dict
rotated:
  description: What was (in check mode, would be) rotated (C(root_ca) for O(rotate_ca=true)).
  returned: always
  type: list
  elements: str
  sample: [worker_token]
unlock_key:
  description:
    - The unlock key (a secret; set C(no_log) on the task). Only when autolock was switched on or the unlock key was
      rotated, and not in check mode.
  returned: when the task switched autolock on or rotated the unlock key
  type: str
"""

import copy
from typing import Any, Optional

from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import SwarmClient
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter, SwarmError
from ansible_collections.hive.swarm.plugins.module_utils._swarm.module import run_module
from ansible_collections.hive.swarm.plugins.module_utils._swarm.spec import (
    GATED_OPTIONS,
    merge_spec,
    requested_options,
    spec_argument_spec,
    spec_diff,
    spec_to_options,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.views import swarm_view

ROTATIONS = (
    ("rotate_worker_token", "worker_token"),
    ("rotate_manager_token", "manager_token"),
    ("rotate_unlock_key", "unlock_key"),
    ("rotate_ca", "root_ca"),
)
# Spec options that name the CA explicitly: rotate_ca makes the Engine generate a new root instead.
CA_CHOICES = ("ca_force_rotate", "signing_ca_cert", "signing_ca_key")

ARGUMENT_SPEC: dict[str, Any] = {
    **spec_argument_spec(),
    "labels_state": {"type": "str", "choices": ["merge", "replace"], "default": "merge"},
    "rotate_worker_token": {"type": "bool", "default": False, "no_log": False},
    "rotate_manager_token": {"type": "bool", "default": False, "no_log": False},
    "rotate_unlock_key": {"type": "bool", "default": False, "no_log": False},
    "rotate_ca": {"type": "bool", "default": False},
}


def autolock_of(spec: dict[str, Any]) -> bool:
    return bool(spec_to_options(spec)["autolock"])


def new_spec_or_none(spec: dict[str, Any], requested: dict[str, Any], labels_merge: bool,
                     rotate_ca: bool = False) -> Optional[dict[str, Any]]:
    """The complete spec with the requested options applied, or None when no visible option changes.
    (``signing_ca_key`` alone never counts: the Engine does not return it, see the notes.)
    ``rotate_ca``: CAConfig.ForceRotate of ``spec`` (the spec just read) plus one, and no signing CA certificate or
    key, so the Engine generates a new root (as ``docker swarm ca --rotate``)."""
    merged = merge_spec(spec, requested, labels_merge=labels_merge)
    if rotate_ca:
        ca_config = merged.get("CAConfig")
        if not isinstance(ca_config, dict):
            ca_config = merged["CAConfig"] = {}
        ca_config["ForceRotate"] = int(ca_config.get("ForceRotate") or 0) + 1
        ca_config.pop("SigningCACert", None)
        ca_config.pop("SigningCAKey", None)
    return merged if spec_diff(spec, merged)[1] else None


def make_diff(before_spec: dict[str, Any], after_spec: dict[str, Any], rotated: list[str]) -> dict[str, Any]:
    before, after = spec_diff(before_spec, after_spec)
    for name in rotated:
        before[name] = "current"
        after[name] = "rotated"
    return {"before": before, "after": after}


def check_params(client: SwarmClient, p: dict[str, Any], requested: dict[str, Any], cluster: dict[str, Any]) -> None:
    """Everything that can be refused before a change: version gates and option combinations."""
    for name in GATED_OPTIONS:
        if name in requested:
            client.check_option_support(name)
    if p["rotate_ca"]:
        clash = [name for name in CA_CHOICES if name in requested]
        if clash:
            raise InvalidParameter(
                f"rotate_ca cannot be combined with {', '.join(clash)}.",
                hint="rotate_ca generates a new root itself; to rotate to your own CA set signing_ca_cert and "
                "signing_ca_key without rotate_ca.",
            )
        client.check_option_support("rotate_ca")
    if p["rotate_unlock_key"]:
        client.check_option_support("rotate_unlock_key")
        autolock_after = requested.get("autolock", autolock_of(cluster.get("Spec") or {}))
        if not autolock_after:
            raise InvalidParameter(
                "rotate_unlock_key needs autolock: the swarm has no unlock key while autolock is off.",
                hint="Set autolock=true in the same task (that creates a key) or drop rotate_unlock_key.",
            )


def run(module: Any, client: SwarmClient) -> dict[str, Any]:
    p = module.params
    requested = requested_options(p)
    labels_merge = p["labels_state"] == "merge"
    if not labels_merge and "labels" not in requested:
        module.warn("labels_state=replace has no effect without labels (use labels: {} to remove all).")
    client.info()
    cluster = client.require_manager("update the swarm")
    check_params(client, p, requested, cluster)
    flags = {flag: bool(p[flag]) for flag, _name in ROTATIONS}
    rotated = [name for flag, name in ROTATIONS if flags[flag]]
    current_spec = cluster.get("Spec") or {}

    if module.check_mode:
        planned = new_spec_or_none(current_spec, requested, labels_merge, rotate_ca=flags["rotate_ca"])
        after_spec = planned if planned is not None else current_spec
        predicted = copy.deepcopy(cluster)
        predicted["Spec"] = after_spec
        result: dict[str, Any] = {
            "changed": planned is not None or bool(rotated),
            "swarm": swarm_view(predicted),
            "rotated": rotated,
        }
        if module._diff:
            result["diff"] = make_diff(current_spec, after_spec, rotated)
        return result

    read, sent = client.update_swarm(
        lambda spec: new_spec_or_none(spec, requested, labels_merge, rotate_ca=flags["rotate_ca"]),
        rotate_worker_token=flags["rotate_worker_token"],
        rotate_manager_token=flags["rotate_manager_token"],
        rotate_unlock_key=flags["rotate_unlock_key"],
        current=cluster,
    )
    # ``read`` is the cluster the update was based on (a retry re-reads): diff against it.
    before_spec = read.get("Spec") or {}
    after_spec = sent if sent is not None else before_spec
    spec_changed = bool(spec_diff(before_spec, after_spec)[1])
    changed = spec_changed or bool(rotated)
    result = {"changed": changed, "rotated": rotated}
    if module._diff:
        result["diff"] = make_diff(before_spec, after_spec, rotated)
    if not changed:
        result["swarm"] = swarm_view(read)
        return result
    try:
        if flags["rotate_unlock_key"] or (autolock_of(after_spec) and not autolock_of(before_spec)):
            result["unlock_key"] = client.get_unlock_key()
        client.info(refresh=True)
        result["swarm"] = swarm_view(client.require_manager("read the updated swarm"))
    except SwarmError as err:
        err.details["changed"] = True  # the update went through
        raise
    return result


def main() -> None:
    run_module(ARGUMENT_SPEC, run, supports_check_mode=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_init
short_description: Create a Docker swarm on an Engine, or adopt the one it already manages
version_added: 1.0.0
description:
  - If the Engine is not in a swarm, initialise a new swarm with this Engine as its first manager.
  - If the Engine already manages a swarm, change nothing and report it. When its spec differs from the requested
    options, warn (changing an existing swarm is M(hive.swarm.swarm_update)'s job).
  - Fails with a clear message when the Engine is a worker, is still joining (pending), is in error or is locked.
  - An init that returns an error can still leave a swarm behind; the module re-reads the Engine's state before
    reporting and adopts such a swarm.
extends_documentation_fragment:
  - hive.swarm.swarm
  - hive.swarm.swarm.spec
attributes:
  check_mode:
    support: full
    description: Reports whether a swarm would be created; nothing is changed.
  diff_mode:
    support: full
    description: Shows the local state and the requested options that a new swarm gets.
options:
  advertise_addr:
    description:
      - Address other nodes use to reach this one, V(<ip>), V(<ip>:<port>), V(<interface>) or V(<interface>:<port>).
      - When the Engine is local (unix socket) the IP must be assigned to this host and the interface must exist.
      - Default is the Engine's choice (fails when the host has several addresses).
    type: str
  listen_addr:
    description:
      - Address the swarm manager listens on (raft and control), V(<ip|interface>[:<port>]).
    type: str
    default: 0.0.0.0:2377
  data_path_addr:
    description:
      - Address or interface for overlay (VXLAN) data traffic. Needs Engine API >= 1.30.
    type: str
  data_path_port:
    description:
      - UDP port for VXLAN data traffic (1024 - 49151; Engine default 4789). Init-only. Needs Engine API >= 1.40.
    type: int
  default_addr_pool:
    description:
      - CIDR pools that overlay networks take subnets from, for example V(10.20.0.0/16). Init-only.
        Needs Engine API >= 1.39.
    type: list
    elements: str
  subnet_size:
    description:
      - Prefix length of the subnets carved from O(default_addr_pool) (Engine default 24). Init-only.
    type: int
  availability:
    description:
      - Availability of this first node. Needs Engine API >= 1.28.
    type: str
    choices: [active, pause, drain]
  force_new_cluster:
    description:
      - Disaster recovery. On a manager whose swarm lost its quorum (the Engine reports a swarm error), start a new
        single-manager cluster from this node's raft data, keeping services, networks and nodes (as down).
      - Has no effect on a healthy swarm (a warning says so), so the task stays idempotent.
    type: bool
    default: false
  join_tokens:
    description:
      - Return the worker and manager join tokens (secrets). Set C(no_log) on the task.
    type: bool
    default: false
notes:
  - Init-only settings (O(data_path_port), O(default_addr_pool), O(subnet_size)) cannot be changed later; when an
    adopted swarm has other values the module warns.
  - At init the Engine ignores zero values in the spec (for example O(task_history_retention_limit=0)); the module
    applies such values with an update right after the init, so the new swarm has exactly the requested spec.
seealso:
  - module: hive.swarm.swarm_join
  - module: hive.swarm.swarm_update
  - module: hive.swarm.swarm_node_info
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Create the swarm on the first manager (or adopt the existing one)
  hive.swarm.swarm_init:
    advertise_addr: 10.0.0.11
    default_addr_pool: [10.20.0.0/16]
    subnet_size: 24
    autolock: false
    task_history_retention_limit: 3
  register: init

- name: Create it and get the join tokens in the same step
  hive.swarm.swarm_init:
    advertise_addr: "{{ ansible_host }}"
    join_tokens: true
  register: init
  no_log: true

- name: Recover a swarm that lost its manager quorum, on the surviving manager
  hive.swarm.swarm_init:
    force_new_cluster: true
"""

RETURN = r"""
swarm_id:
  description: The swarm ID (null in check mode when the swarm would be created).
  returned: always
  type: str
  sample: 4ao4sw8l0k6m1f6brfxzs6ozq
node_id:
  description: This node's ID (null in check mode when the swarm would be created).
  returned: always
  type: str
swarm:
  description: The swarm without secrets, as RV(hive.swarm.swarm_node_info#module:swarm) returns it.
  returned: always
  type: dict
spec_differs:
  description: Requested options that differ from the adopted swarm (warned about, not changed).
  returned: always
  type: list
  elements: str
join_tokens:
  description: The join tokens (secrets); null in check mode before the swarm exists.
  returned: when O(join_tokens=true)
  type: dict
  contains:
    worker:
      description: Worker join token.
      type: str
    manager:
      description: Manager join token.
      type: str
"""

from typing import Any

from ansible_collections.hive.swarm.plugins.module_utils._swarm.addresses import engine_is_local, validate_node_addr
from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import SwarmClient
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import (
    InvalidParameter,
    NotAManager,
    SwarmError,
    SwarmLocked,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.module import run_module
from ansible_collections.hive.swarm.plugins.module_utils._swarm.spec import (
    FIELD_BY_OPTION,
    GATED_OPTIONS,
    differing_options,
    init_spec,
    merge_spec,
    requested_options,
    spec_argument_spec,
    to_api,
    to_option,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.views import swarm_view

ARGUMENT_SPEC: dict[str, Any] = {
    "advertise_addr": {"type": "str"},
    "listen_addr": {"type": "str", "default": "0.0.0.0:2377"},
    "data_path_addr": {"type": "str"},
    "data_path_port": {"type": "int"},
    "default_addr_pool": {"type": "list", "elements": "str"},
    "subnet_size": {"type": "int"},
    "availability": {"type": "str", "choices": ["active", "pause", "drain"]},
    "force_new_cluster": {"type": "bool", "default": False},
    "join_tokens": {"type": "bool", "default": False, "no_log": False},
    **spec_argument_spec(),
}
INIT_ONLY = ("data_path_addr", "data_path_port", "default_addr_pool", "subnet_size", "availability")


def check_params(module: Any, client: SwarmClient) -> dict[str, Any]:
    """Validate everything before touching the Engine; returns the requested spec options."""
    p = module.params
    requested = requested_options(p)
    local = engine_is_local(client.docker_host)
    validate_node_addr(p["advertise_addr"], "advertise_addr", local, allow_unspecified=False)
    validate_node_addr(p["listen_addr"], "listen_addr", local, allow_unspecified=True)
    validate_node_addr(p["data_path_addr"], "data_path_addr", local, allow_unspecified=False)
    port = p["data_path_port"]
    if port is not None and not 1024 <= port <= 49151:
        raise InvalidParameter(f"data_path_port {port} is outside 1024 - 49151.")
    if p["subnet_size"] is not None and not 1 <= p["subnet_size"] <= 32:
        raise InvalidParameter(f"subnet_size {p['subnet_size']} is not a prefix length (1 - 32).")
    return requested


def init_body(p: dict[str, Any], requested: dict[str, Any], force_new_cluster: bool = False) -> dict[str, Any]:
    spec = init_spec(requested)
    autolock = bool(p.get("autolock"))
    # The Engine copies Spec.EncryptionConfig.AutoLockManagers unconditionally at init.
    spec.setdefault("EncryptionConfig", {})["AutoLockManagers"] = autolock
    return {
        "ListenAddr": p["listen_addr"],
        "AdvertiseAddr": p["advertise_addr"],
        "DataPathAddr": p["data_path_addr"],
        "DataPathPort": p["data_path_port"],
        "DefaultAddrPool": p["default_addr_pool"],
        "SubnetSize": p["subnet_size"],
        "Availability": p["availability"],
        "ForceNewCluster": force_new_cluster,
        "AutoLockManagers": autolock,
        "Spec": spec,
    }


def init_only_differences(p: dict[str, Any], cluster: dict[str, Any]) -> list[str]:
    out = []
    if p["data_path_port"] is not None and p["data_path_port"] != cluster.get("DataPathPort"):
        out.append("data_path_port")
    if p["default_addr_pool"] is not None and sorted(p["default_addr_pool"]) != sorted(
        cluster.get("DefaultAddrPool") or []
    ):
        out.append("default_addr_pool")
    if p["subnet_size"] is not None and p["subnet_size"] != cluster.get("SubnetSize"):
        out.append("subnet_size")
    return out


def visible(requested: dict[str, Any]) -> dict[str, Any]:
    """Requested spec options as they will read back (no secrets)."""
    return {
        name: to_option(FIELD_BY_OPTION[name], to_api(FIELD_BY_OPTION[name], value))
        for name, value in requested.items()
        if FIELD_BY_OPTION[name].kind != "secret"
    }


def adopt(module: Any, client: SwarmClient, requested: dict[str, Any]) -> dict[str, Any]:
    cluster = client.cluster or {}
    differs = differing_options(cluster.get("Spec") or {}, requested)
    if differs:
        module.warn(
            f"This engine already manages swarm {cluster.get('ID')}; its spec differs in {', '.join(differs)}. "
            "swarm_init does not change an existing swarm: use hive.swarm.swarm_update."
        )
    fixed = init_only_differences(module.params, cluster)
    if fixed:
        module.warn(
            f"Swarm {cluster.get('ID')} was created with other {', '.join(fixed)}; these are set at init only and "
            "cannot be changed."
        )
    return {
        "changed": False,
        "swarm_id": cluster.get("ID") or None,
        "node_id": client.node_id,
        "swarm": swarm_view(cluster),
        "spec_differs": differs + fixed,
    }


def create(module: Any, client: SwarmClient, requested: dict[str, Any], force_new_cluster: bool) -> dict[str, Any]:
    p = module.params
    for name in INIT_ONLY:
        if p[name] is not None:
            client.check_option_support(name)
    for name in GATED_OPTIONS:
        if name in requested:
            client.check_option_support(name)
    before_state = client.local_state
    result: dict[str, Any] = {"changed": True, "swarm_id": None, "node_id": None, "swarm": None, "spec_differs": []}
    if module._diff:
        after = {"local_state": "active", **visible(requested)}
        after.update({k: p[k] for k in ("advertise_addr", *INIT_ONLY) if p[k] is not None})
        if force_new_cluster:
            after["force_new_cluster"] = True
        result["diff"] = {"before": {"local_state": before_state}, "after": after}
    if module.check_mode:
        return result
    try:
        client.init_swarm(init_body(p, requested, force_new_cluster))
    except SwarmError as err:
        # An init that errors can still leave a swarm behind: look before reporting.
        client.info(refresh=True)
        if not client.is_manager or force_new_cluster:
            raise
        module.warn(f"The init request failed ({err.message}) but the engine now manages a swarm; adopting it.")
    try:
        client.wait_for(lambda i: (i.get("Swarm") or {}).get("Cluster") is not None, client.timeout, "the new swarm")
        cluster = client.cluster or {}
        # Zero values are ignored by the Engine at init: apply what still differs (read-modify-write).
        if differing_options(cluster.get("Spec") or {}, requested):

            def mutate(spec: dict[str, Any]) -> Any:
                return merge_spec(spec, requested) if differing_options(spec, requested) else None

            client.update_swarm(mutate, current=cluster)
            client.info(refresh=True)
            cluster = client.cluster or {}
    except SwarmError as err:
        err.details["changed"] = True  # the swarm exists now
        raise
    result.update(swarm_id=cluster.get("ID"), node_id=client.node_id, swarm=swarm_view(cluster))
    return result


def run(module: Any, client: SwarmClient) -> dict[str, Any]:
    p = module.params
    requested = check_params(module, client)
    client.info()
    state = client.local_state
    swarm = client.swarm_info
    if state == "locked":
        raise SwarmLocked("The swarm on this engine is locked; swarm_init can neither create nor adopt it.")
    if state == "pending" and p["force_new_cluster"] and swarm.get("ControlAvailable") and swarm.get("Error"):
        # A manager that lost its quorum at start (its peers are gone, e.g. after a restore of its raft) stays
        # pending with "no leader": re-creating the swarm from its state is exactly what force_new_cluster is for.
        result = create(module, client, requested, force_new_cluster=True)
        if p["join_tokens"]:
            result["join_tokens"] = client.join_tokens() if result["swarm_id"] else None
        return result
    if state == "pending":
        raise SwarmError(
            "This engine is still joining a swarm (state pending).",
            hint="Wait for the join to finish, or leave with hive.swarm.swarm_leave (force=true) first.",
        )
    if state == "error":
        raise SwarmError(
            f"This engine's swarm state is error: {swarm.get('Error') or 'no details'}.",
            hint="Leave the broken swarm with hive.swarm.swarm_leave first.",
        )
    if state == "active" and not client.is_manager:
        managers = ", ".join(m.get("Addr", "?") for m in swarm.get("RemoteManagers") or []) or "none known"
        raise NotAManager(
            f"This engine is a worker of an existing swarm (managers: {managers}); swarm_init cannot adopt it here.",
            hint="Run swarm_init on a manager, or remove this node from that swarm (hive.swarm.swarm_leave) first.",
        )
    if state == "active":
        if p["force_new_cluster"] and swarm.get("Error"):
            result = create(module, client, requested, force_new_cluster=True)
        else:
            if p["force_new_cluster"]:
                module.warn("force_new_cluster ignored: the swarm reports no error (it has its quorum).")
            elif swarm.get("Error"):
                module.warn(
                    f"The swarm on this manager reports an error: {swarm['Error']} If its managers are lost for "
                    "good, re-create it from this one with force_new_cluster=true."
                )
            result = adopt(module, client, requested)
    else:
        result = create(module, client, requested, force_new_cluster=False)
    if p["join_tokens"]:
        result["join_tokens"] = client.join_tokens() if result["swarm_id"] else None
    return result


def main() -> None:
    run_module(ARGUMENT_SPEC, run, supports_check_mode=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_join
short_description: Join a Docker Engine to an existing swarm, safely and idempotently
version_added: 1.0.0
description:
  - Joins the Engine to the swarm of O(join_token) through the managers in O(remote_addrs), tried one after the
    other (the Engine itself only uses the first address of a join request), then waits until the node is active.
  - Already in B(this) swarm is a no-op. Already in B(another) swarm fails with a message naming that swarm, unless
    O(force_rejoin=true) (leave it, then join).
  - A node stuck joining (pending) or in error is recovered (force-leave, join again) when O(recover=true).
  - O(advertise_addr) is checked before joining (the Engine silently accepts a wrong one).
extends_documentation_fragment:
  - hive.swarm.swarm
attributes:
  check_mode:
    support: full
    description: Reports whether the node would join (or leave and re-join); nothing is changed.
  diff_mode:
    support: full
    description: Shows the local state before and after.
options:
  join_token:
    description:
      - The worker or manager join token of the swarm (a secret, never logged).
    type: str
    required: true
  remote_addrs:
    description:
      - Addresses of managers of the swarm, V(<host>[:<port>]) (port default 2377). Tried in turn until one works.
    type: list
    elements: str
    required: true
  role:
    description:
      - The role the token gives (V(worker) or V(manager)). Optional; when set, a node that is already in this swarm
        with the other role fails (change roles with M(hive.swarm.swarm_node) on a manager), and a manager join waits
        until the node answers manager requests.
    type: str
    choices: [worker, manager]
  advertise_addr:
    description:
      - Address other nodes use to reach this one, V(<ip>), V(<ip>:<port>), V(<interface>) or V(<interface>:<port>).
      - When the Engine is local (unix socket) the IP must be assigned to this host and the interface must exist.
      - Default is the address the managers see this node connect from.
    type: str
  listen_addr:
    description:
      - Listen address for swarm traffic if the node is or becomes a manager, V(<ip|interface>[:<port>]).
    type: str
    default: 0.0.0.0:2377
  data_path_addr:
    description:
      - Address or interface for overlay (VXLAN) data traffic. Needs Engine API >= 1.30.
    type: str
  availability:
    description:
      - Availability the node joins with (sent in the join request; the Docker SDK has no option for it, the Engine
        accepts it since API 1.28). Applied at join only; change it later with M(hive.swarm.swarm_node) on a manager
        (a worker cannot update nodes).
    type: str
    choices: [active, pause, drain]
  force_rejoin:
    description:
      - If the node is in another swarm (or one whose identity cannot be checked), leave it (forced) and join this one.
      - A rejoined node gets a new node ID; its old entry stays in the other swarm as C(down).
    type: bool
    default: false
  recover:
    description:
      - If the node is stuck joining (pending) or its swarm state is error, leave (forced) and join again.
      - The node joins anew with a new node ID; RV(left_node_id) is the ID it had. Its old entry stays in the
        swarm's node list until it is removed on a manager
        (M(hive.swarm.swarm_node) with O(hive.swarm.swarm_node#module:state=absent)).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds the module waits in all, counted from its start - for a pending node to settle, for a join that the
        Engine continues in the background, and for the node to become active after the join request. One budget,
        so a task timeout of this plus the connection's overhead bounds the whole call.
      - A pending node gets the whole budget to settle (a join in progress may still succeed), or half of it when
        O(recover=true), so that the leave and the join again get the other half.
      - When the Engine stops waiting for a join and continues it in the background (a busy manager), what is left
        of the budget goes to that join if the swarm already accepted the node (it has a node ID) or if no other
        address in O(remote_addrs) is left to try. An accepted node that is still not active then is not made to
        leave (a manager would stay in the raft as an unreachable member) and the task fails; one that was not
        accepted is left before the next address is tried, or before the task fails.
    type: int
    default: 60
notes:
  - "Swarm identity: the join token carries the SHA-256 digest of the swarm's root CA. The module compares it with
    the root CA of the swarm the node is already in - from C(GET /info) on a manager, and from the node's root CA file
    (C(<DockerRootDir>/swarm/certificates/swarm-root-ca.crt)) on a worker when the Engine is local. This is the check
    the Engine itself makes when joining, so it is exact and needs no extra request. Comparing remote manager
    addresses is used only as a fallback (remote Engine, unreadable file): addresses move and are reused, so no
    overlap means \"cannot tell\" and the module fails unless O(force_rejoin=true)."
  - A token of another swarm is refused by the Engine (\"remote CA does not match fingerprint\"); the node stays out
    of any swarm and the module fails.
seealso:
  - module: hive.swarm.swarm_init
  - module: hive.swarm.swarm_leave
  - module: hive.swarm.swarm_node
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Get the tokens on the first manager
  hive.swarm.swarm_node_info:
    join_tokens: true
  register: swarm_tokens
  delegate_to: mgr1
  run_once: true
  no_log: true

- name: Join the workers
  hive.swarm.swarm_join:
    join_token: "{{ swarm_tokens.join_tokens.worker }}"
    remote_addrs: [10.0.0.11, 10.0.0.12, 10.0.0.13]
    advertise_addr: "{{ ansible_host }}"
    role: worker
    recover: true

- name: Join a manager that is drained from the start
  hive.swarm.swarm_join:
    join_token: "{{ swarm_tokens.join_tokens.manager }}"
    remote_addrs: [10.0.0.11:2377]
    advertise_addr: eth1
    availability: drain
    role: manager
"""

RETURN = r"""
node_id:
  description: This node's ID (null in check mode when the node would join).
  returned: always
  type: str
role:
  description: The node's role as the Engine reports it (C(manager) if it answers manager requests), or null.
  returned: always
  type: str
  sample: worker
state:
  description: The node's local swarm state afterwards.
  returned: always
  type: str
  sample: active
node_addr:
  description: The address the node advertises.
  returned: always
  type: str
joined_via:
  description: The remote address the join succeeded through (null when nothing was joined).
  returned: always
  type: str
left_node_id:
  description:
    - The node ID the node had before it left its swarm to join anew (O(recover) or O(force_rejoin)), or null. In
      check mode, the ID it would leave.
    - When it left this same swarm (recovered from pending or error), that ID's entry stays in the node list (a
      manager's counts against quorum while it is listed) until it is removed on a manager.
  returned: always
  type: str
  version_added: 1.0.0
"""

import os
import socket
from typing import Any, Optional

from ansible_collections.hive.swarm.plugins.module_utils._swarm.addresses import (
    engine_is_local,
    parse_ip,
    split_host_port,
    validate_node_addr,
    validate_remote_addr,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import SwarmClient
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import (
    EngineUnreachable,
    InvalidParameter,
    JoinFailed,
    SwarmError,
    SwarmLocked,
    WaitTimeout,
    WrongSwarm,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.module import run_module
from ansible_collections.hive.swarm.plugins.module_utils._swarm.tokens import ca_digest, parse_join_token

ARGUMENT_SPEC: dict[str, Any] = {
    "join_token": {"type": "str", "required": True, "no_log": True},
    "remote_addrs": {"type": "list", "elements": "str", "required": True},
    "role": {"type": "str", "choices": ["worker", "manager"]},
    "advertise_addr": {"type": "str"},
    "listen_addr": {"type": "str", "default": "0.0.0.0:2377"},
    "data_path_addr": {"type": "str"},
    "availability": {"type": "str", "choices": ["active", "pause", "drain"]},
    "force_rejoin": {"type": "bool", "default": False},
    "recover": {"type": "bool", "default": False},
    "wait_timeout": {"type": "int", "default": 60},
}
ROOT_CA_FILE = ("swarm", "certificates", "swarm-root-ca.crt")


def current_role(client: SwarmClient) -> Optional[str]:
    if client.local_state != "active":
        return None
    return "manager" if client.swarm_info.get("ControlAvailable") else "worker"


def _resolve(addr: str) -> set[str]:
    host, port = split_host_port(addr, "remote_addrs")
    out = {f"{host}:{port}"}
    try:
        for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP):
            out.add(f"{info[4][0]}:{port}")
    except OSError:
        pass
    return out


def identify(client: SwarmClient, token_digest: str, remote_addrs: list[str]) -> tuple[Optional[bool], str]:
    """Is the swarm this node is in the token's swarm? (True/False/None = cannot tell, description)."""
    cluster = client.cluster
    if client.is_manager and cluster:
        root = (cluster.get("TLSInfo") or {}).get("TrustRoot")
        if root:
            return ca_digest(root) == token_digest, f"swarm {cluster.get('ID')}"
    managers = [m.get("Addr") for m in client.swarm_info.get("RemoteManagers") or [] if m.get("Addr")]
    described = f"the swarm of managers {', '.join(managers) or '(none known)'}"
    root_dir = client.info().get("DockerRootDir")
    if root_dir and engine_is_local(client.docker_host):
        try:
            with open(os.path.join(root_dir, *ROOT_CA_FILE), "rb") as handle:
                return ca_digest(handle.read()) == token_digest, described
        except OSError:
            pass
    wanted: set[str] = set()
    for addr in remote_addrs:
        wanted |= _resolve(addr)
    if wanted & set(managers):
        return True, described
    return None, described


def join_body(p: dict[str, Any], addr: str) -> dict[str, Any]:
    return {
        "RemoteAddrs": [addr],
        "JoinToken": p["join_token"],
        "ListenAddr": p["listen_addr"],
        "AdvertiseAddr": p["advertise_addr"],
        "DataPathAddr": p["data_path_addr"],
        "Availability": p["availability"],
    }


def leave_for_rejoin(client: SwarmClient, why: str) -> None:
    client.leave_swarm(force=True)
    client.info(refresh=True)
    if client.local_state != "inactive":
        raise SwarmError(f"Left the swarm ({why}) but the node is still {client.local_state}.")


# The Engine's answer (503) when a join takes longer than its own wait; the node goes on joining.
BACKGROUND_JOIN = "will continue in the background"


def settle_pending(client: SwarmClient, timeout: float) -> str:
    """Wait until the node is no longer pending (a join in progress may still succeed); its state then."""
    try:
        client.wait_for(lambda i: (i.get("Swarm") or {}).get("LocalNodeState") != "pending", timeout,
                        "a pending join to settle")
    except WaitTimeout:
        pass
    return client.local_state


def left_of(client: SwarmClient, deadline: float) -> float:
    """Seconds left of the module's budget that ends at ``deadline`` (client.clock() time)."""
    return max(0.0, deadline - client.clock())


def join(module: Any, client: SwarmClient, addrs: list[str], deadline: float) -> Optional[str]:
    """Try each address in turn; returns the one that worked. ``deadline``: the end of the module's budget
    (client.clock() time)."""
    p = module.params
    failures: list[tuple[str, SwarmError]] = []
    for addr in addrs:
        try:
            client.join_swarm(join_body(p, addr))
            return addr
        except (InvalidParameter, EngineUnreachable, SwarmLocked):
            raise  # the token or our own engine is the problem: other addresses will not help
        except SwarmError as err:
            failures.append((addr, err))
        # The request failed, but the node may have joined anyway, or be left pending/error.
        client.info(refresh=True)
        state = client.local_state
        background = state == "pending" and BACKGROUND_JOIN in failures[-1][1].message
        # A node ID: the swarm accepted the node (its CA issued the certificate; a manager is in the raft from
        # then on). Leaving and joining through the next address would add a second member and leave the first
        # one unreachable (campaign seed 7 sequence 29: two such members cost the quorum).
        accepted = background and bool(client.node_id)
        if background and (accepted or addr == addrs[-1]):
            # The Engine stopped waiting (a busy manager, or one that does not answer) but keeps joining in the
            # background. Accepted, or with no other address left to try: give that join what is left of the budget.
            state = settle_pending(client, left_of(client, deadline))
        if state == "active":
            return addr
        if accepted:
            raise JoinFailed(
                f"The swarm accepted this node (node {client.node_id}, through {addr}) but it did not become active "
                f"within wait_timeout ({p['wait_timeout']:g}s); it is {state} and goes on joining in the background. "
                "It was not made to leave: a manager that leaves now stays in the raft as an unreachable member.",
                hint="Check the swarm's managers (a leader, and the quorum reachable), then run again: a node still "
                     "pending then is made to leave and join anew with recover=true.",
            )
        if state in ("pending", "error"):
            client.leave_swarm(force=True)
            client.info(refresh=True)
    detail = "; ".join(f"{addr}: {err.message}" for addr, err in failures)
    if failures and all(isinstance(failure[1], WrongSwarm) for failure in failures):
        raise WrongSwarm(
            f"The join token belongs to another swarm than the managers at {', '.join(addrs)} ({detail}).",
            hint="Use a token of the swarm those managers run (swarm_node_info join_tokens on one of them).",
        )
    raise JoinFailed(
        f"Could not join through any of {', '.join(addrs)}: {detail}.",
        hint="Check that the managers are up and reachable from this host on port 2377 and that the token is current.",
    )


def run(module: Any, client: SwarmClient) -> dict[str, Any]:
    p = module.params
    token = parse_join_token(p["join_token"])
    if not p["remote_addrs"]:
        raise InvalidParameter("remote_addrs is empty: give at least one manager address.")
    addrs = [validate_remote_addr(a) for a in p["remote_addrs"]]
    local = engine_is_local(client.docker_host)
    validate_node_addr(p["advertise_addr"], "advertise_addr", local, allow_unspecified=False)
    validate_node_addr(p["listen_addr"], "listen_addr", local, allow_unspecified=True)
    validate_node_addr(p["data_path_addr"], "data_path_addr", local, allow_unspecified=False)
    for name in ("data_path_addr", "availability"):
        if p[name] is not None:
            client.check_option_support(name)

    # One budget for every wait of the call (see wait_timeout).
    deadline = client.clock() + p["wait_timeout"]
    client.info()
    before = {"local_state": client.local_state, "node_id": client.node_id}
    leave_first: Optional[str] = None
    state = client.local_state
    if state == "pending":
        # A join in progress (or a member reconnecting after its engine restarted) may still succeed: give it
        # time before recovering or failing. With recover, half the budget: the leave and the join get the rest.
        state = settle_pending(client, p["wait_timeout"] / 2 if p["recover"] else p["wait_timeout"])
    if state in ("pending", "error"):
        if not p["recover"]:
            error = client.swarm_info.get("Error")
            raise SwarmError(
                f"This node's swarm state is {state}" + (f" ({error})" if error else "") + ".",
                hint="Set recover=true to leave and join again.",
            )
        leave_first = f"recovering from state {state}"
    elif state == "locked":
        if not p["force_rejoin"]:
            raise SwarmLocked("The swarm on this node is locked, so its identity cannot be checked.")
        leave_first = "locked, force_rejoin"
    elif state == "active":
        same, described = identify(client, token.ca_digest, addrs)
        if same:
            role = current_role(client)
            if p["role"] and role != p["role"]:
                raise SwarmError(
                    f"This node is already in this swarm as a {role}, not a {p['role']}; a join cannot change roles.",
                    hint="Promote or demote it with hive.swarm.swarm_node on a manager.",
                )
            return {
                "changed": False,
                "node_id": client.node_id,
                "role": role,
                "state": "active",
                "node_addr": client.swarm_info.get("NodeAddr"),
                "joined_via": None,
                "left_node_id": None,
            }
        if not p["force_rejoin"]:
            if same is None:
                raise WrongSwarm(
                    f"This node is already in a swarm ({described}) that cannot be verified to be the token's swarm.",
                    hint="Set force_rejoin=true to leave it and join, or check remote_addrs.",
                )
            raise WrongSwarm(
                f"This node is already in another swarm ({described}); the join token belongs to a different one.",
                hint="Set force_rejoin=true to leave that swarm and join this one, or use that swarm's token.",
            )
        leave_first = f"leaving {described}"

    result: dict[str, Any] = {
        "changed": True,
        "node_id": None,
        "role": p["role"],
        "state": "active",
        "node_addr": None,
        "joined_via": None,
        "left_node_id": before["node_id"] if leave_first else None,
    }
    if module._diff:
        result["diff"] = {
            "before": before,
            "after": {"local_state": "active", "remote_addrs": addrs, **({"role": p["role"]} if p["role"] else {})},
        }
    if module.check_mode:
        return result
    if leave_first:
        leave_for_rejoin(client, leave_first)
    try:
        result["joined_via"] = join(module, client, addrs, deadline)

        def ready(info: dict[str, Any]) -> bool:
            swarm = info.get("Swarm") or {}
            if swarm.get("LocalNodeState") != "active":
                return False
            return p["role"] != "manager" or bool(swarm.get("ControlAvailable"))

        client.wait_for(ready, left_of(client, deadline), "the node to become active")
    except SwarmError as err:
        if leave_first:
            err.details["changed"] = True  # the node left its previous swarm
        raise
    swarm = client.swarm_info
    result.update(node_id=client.node_id, role=current_role(client), node_addr=swarm.get("NodeAddr"))
    wanted = parse_ip(split_host_port(p["advertise_addr"], "advertise_addr")[0]) if p["advertise_addr"] else None
    if wanted is not None and swarm.get("NodeAddr") and parse_ip(swarm["NodeAddr"]) != wanted:
        module.warn(f"The node advertises {swarm.get('NodeAddr')}, not the requested {wanted}.")
    return result


def main() -> None:
    run_module(ARGUMENT_SPEC, run, supports_check_mode=True)


if __name__ == "__main__":
    main()

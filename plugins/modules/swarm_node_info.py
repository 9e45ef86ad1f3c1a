#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_node_info
short_description: Read a Docker Engine's swarm state, and on managers the swarm and its nodes
version_added: 1.0.0
description:
  - Works on every node. Always returns the node's own view (O(local_only) makes that the only Engine request).
  - On a manager it also returns the swarm (ID, version, spec, root CA digest), and on request the node list, one
    node, the join tokens and the unlock key.
  - On workers and on inactive, pending, error or locked nodes the manager-only data is empty and RV(swarm_unavailable)
    says why; the module does not fail for that.
extends_documentation_fragment:
  - hive.swarm.swarm
attributes:
  check_mode:
    support: full
    description: The module never changes anything.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  local_only:
    description:
      - Read only the Engine's C(GET /info) (exactly one API request) and return RV(local) and, on managers,
        RV(swarm). Meant for probing many hosts cheaply.
      - Cannot be combined with O(nodes), O(node), O(join_tokens) or O(unlock_key).
    type: bool
    default: false
  nodes:
    description:
      - On managers, list the swarm's nodes (filtered by O(nodes_filters)).
    type: bool
    default: false
  nodes_filters:
    description:
      - Filters for O(nodes), as the Engine's C(GET /nodes) applies them (O(nodes_filters.id) and
        O(nodes_filters.name) match prefixes).
    type: dict
    suboptions:
      id:
        description: Node IDs.
        type: list
        elements: str
      name:
        description: Node names (hostnames).
        type: list
        elements: str
      membership:
        description: Membership.
        type: str
        choices: [accepted, pending]
      role:
        description: Role.
        type: str
        choices: [manager, worker]
  node:
    description:
      - On managers, return one node (RV(node)) by its exact ID or its hostname. A hostname that several nodes have
        is an error; no match returns RV(node=null).
    type: str
  join_tokens:
    description:
      - On managers, return the worker and manager join tokens (secrets). Set C(no_log) on the task.
    type: bool
    default: false
  unlock_key:
    description:
      - On managers, return the current unlock key (a secret; V(null) when autolock is off). Set C(no_log) on the task.
    type: bool
    default: false
  tasks:
    description:
      - On managers, list the swarm's tasks (RV(tasks), filtered by O(tasks_filters)), that is which node runs which
        task of which service, and in which state. The maintenance and upgrade playbooks poll it to know when a
        drained node runs no task any more.
    type: bool
    default: false
    version_added: 1.0.0
  tasks_filters:
    description:
      - Filters for O(tasks), as the Engine's C(GET /tasks) applies them.
    type: dict
    version_added: 1.0.0
    suboptions:
      node:
        description: Node IDs or hostnames.
        type: list
        elements: str
      service:
        description: Service IDs or names.
        type: list
        elements: str
      desired_state:
        description: Only tasks with this desired state.
        type: str
        choices: [running, shutdown, accepted]
  services:
    description:
      - On managers, list the swarm's services (RV(services)) with their mode and desired replicas.
    type: bool
    default: false
    version_added: 1.0.0
  host_addresses:
    description:
      - Also return RV(host_addresses), the IPv4 addresses of the host the module runs on (Linux; no Engine request).
        The docker_swarm role's probe uses it to resolve C(docker_swarm_interface) without gathering facts.
      - Can be combined with O(local_only).
    type: bool
    default: false
    version_added: 1.0.0
  certificate:
    description:
      - Also return RV(certificate), this node's own swarm certificate
        (C(<DockerRootDir>/swarm/certificates/swarm-node.crt), read on the host the module runs on; no Engine request
        beyond C(GET /info)) with its expiry, issuer and subject. Works on managers and workers.
      - The file is only read for an Engine behind a local socket (O(docker_host) C(unix://...)); otherwise, and when
        the file is absent or unreadable, RV(certificate) is null and RV(certificate_unavailable) says why.
      - Can be combined with O(local_only).
    type: bool
    default: false
    version_added: 1.0.0
  settle_timeout:
    description:
      - On a manager whose Engine reports a swarm error (RV(local.error); typically no leader yet, after a manager
        was lost, or requests that run into the Engine's deadline), re-read C(GET /info) until the error clears or
        this many seconds have passed, then report what was read last. V(0) reads once.
      - The option bounds the whole call, counted from the first read, however long each read takes (an Engine whose
        swarm requests time out answers C(GET /info) only after its own request deadline, 20 seconds on current
        Engines); the module starts no read that the previous read's duration says would end after the deadline.
      - Not applied to a manager whose address is gone from the host (see O(host_addresses)); it never recovers by
        waiting.
    type: float
    default: 0
    version_added: 1.0.0
notes:
  - "A manager that lost quorum still reports RV(local.state=active) and RV(local.control_available=true); only
    RV(local.error) shows the problem."
seealso:
  - module: hive.swarm.swarm_init
  - module: hive.swarm.swarm_join
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Probe a host (one API request)
  hive.swarm.swarm_node_info:
    local_only: true
  register: probe

- name: List the managers of the swarm
  hive.swarm.swarm_node_info:
    nodes: true
    nodes_filters:
      role: manager
  register: swarm

- name: Get the join tokens from a manager
  hive.swarm.swarm_node_info:
    join_tokens: true
  register: tokens
  no_log: true

- name: One node by hostname, on a remote Engine over TLS
  hive.swarm.swarm_node_info:
    node: worker-1
    docker_host: tcp://10.0.0.11:2376
    validate_certs: true
    ca_path: /etc/docker/ca.pem
    client_cert: /etc/docker/cert.pem
    client_key: /etc/docker/key.pem
"""

RETURN = r"""
local:
  description: The node's own view (C(GET /info) Swarm section).
  returned: always
  type: dict
  contains:
    state:
      description: Local node state.
      type: str
      sample: active
      choices: [inactive, pending, active, error, locked]
    node_id:
      description: This node's ID, null when not in a swarm.
      type: str
    node_addr:
      description: The address this node advertises.
      type: str
    control_available:
      description: Whether this node answers manager requests.
      type: bool
    is_manager:
      description: RV(local.state=active) and RV(local.control_available=true).
      type: bool
    error:
      description: The Engine's swarm error text (for example after quorum loss), or null.
      type: str
    remote_managers:
      description: Managers this node knows, as C(node_id) and C(addr).
      type: list
      elements: dict
    cluster_id:
      description: The swarm ID (managers only), else null.
      type: str
    nodes_count:
      description: Number of nodes in the swarm (managers only), else null.
      type: int
    managers_count:
      description: Number of managers in the swarm (managers only), else null.
      type: int
    hostname:
      description: The Engine's host name.
      type: str
    engine_version:
      description: The Engine's version.
      type: str
    docker_root_dir:
      description: The Engine's data root (C(DockerRootDir) of C(/info)); its C(swarm) directory holds the node's
        swarm state (what C(playbooks/backup.yml) archives).
      type: str
      version_added: 1.0.0
swarm:
  description: The swarm object, without secrets. Null unless this node is a manager.
  returned: always
  type: dict
  contains:
    id:
      description: Swarm ID.
      type: str
    version:
      description: Version index of the swarm object (changes with every update).
      type: int
    created_at:
      description: Creation time.
      type: str
    updated_at:
      description: Last update time.
      type: str
    spec:
      description: The spec as module options (see M(hive.swarm.swarm_init)); durations in seconds.
      type: dict
    data_path_port:
      description: VXLAN data path port.
      type: int
    default_addr_pool:
      description: Address pools for overlay networks.
      type: list
      elements: str
    subnet_size:
      description: Subnet size carved from the default address pools.
      type: int
    root_ca_digest:
      description: SHA-256 (hex) of the root CA bundle; the digest that join tokens of this swarm carry.
      type: str
    root_rotation_in_progress:
      description: Whether a root CA rotation is running.
      type: bool
    cert_issuer_digest:
      description:
        - SHA-256 (hex) over the subject and public key (DER) of the CA that issues node certificates now (the swarm's
          C(TLSInfo)). A node whose RV(nodes[].cert_issuer_digest) and RV(nodes[].root_ca_digest) equal the swarm's has
          caught up with a root CA rotation. Null when the Engine does not report it.
      type: str
      version_added: 1.0.0
settling:
  description:
    - The node is a manager whose Engine still reports a swarm error (RV(local.error)) and whose address is still on
      the host; waiting may clear it (what O(settle_timeout) waits for). False when it was read without an error,
      on a worker, or on a manager cut off from the swarm.
  returned: always
  type: bool
  sample: false
swarm_unavailable:
  description:
    - Why manager data (RV(swarm), RV(nodes), RV(node), tokens) is not available on this node; null when it is.
    - With O(host_addresses=true), also when a manager advertises an address the host no longer has (its address
      changed under the running swarm; RV(swarm) is null then too and nothing more is asked of the engine).
  returned: always
  type: str
  sample: This node is a worker; swarm and node data are only available on managers.
nodes:
  description: Nodes, when O(nodes=true) on a manager (else empty).
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Node ID.
      type: str
    version:
      description: Version index of the node object.
      type: int
    hostname:
      description: Host name.
      type: str
    role:
      description: Role.
      type: str
      choices: [manager, worker]
    availability:
      description: Availability.
      type: str
      choices: [active, pause, drain]
    labels:
      description: Node labels.
      type: dict
    state:
      description: Node status.
      type: str
      choices: [unknown, down, ready, disconnected]
    message:
      description: Status message, or null.
      type: str
    addr:
      description: Address the node connects from.
      type: str
    manager_reachability:
      description: For managers C(reachable), C(unreachable) or C(unknown); null for workers.
      type: str
    manager_addr:
      description: Raft address of a manager; null for workers.
      type: str
    leader:
      description: Whether the node is the raft leader.
      type: bool
    engine_version:
      description: Engine version on the node.
      type: str
    nano_cpus:
      description: CPUs in units of 1e-9.
      type: int
    memory_bytes:
      description: Memory in bytes.
      type: int
    root_ca_digest:
      description:
        - SHA-256 (hex) of the root CA bundle the node trusts (its C(TLSInfo.TrustRoot) text); null when not reported.
      type: str
      version_added: 1.0.0
    cert_issuer_digest:
      description: SHA-256 (hex) over the subject and public key (DER) of the CA that issued the node's certificate;
        compare with RV(swarm.cert_issuer_digest). Null when not reported.
      type: str
      version_added: 1.0.0
node:
  description: The node selected by O(node) (same fields as RV(nodes) entries), or null.
  returned: always
  type: dict
tasks:
  description: Tasks, when O(tasks=true) on a manager (else empty).
  returned: always
  type: list
  elements: dict
  version_added: 1.0.0
  contains:
    id:
      description: Task ID.
      type: str
    service_id:
      description: ID of the task's service.
      type: str
    node_id:
      description: Node the task is assigned to; null while it is not assigned.
      type: str
    slot:
      description: Replica slot (replicated services); null for global services.
      type: int
    desired_state:
      description: The state the orchestrator wants the task in (C(running), C(shutdown), ...).
      type: str
    state:
      description: The task's current state (C(running), C(shutdown), C(failed), ...).
      type: str
    message:
      description: Status message, or null.
      type: str
    error:
      description: Error text of a failed task, or null.
      type: str
services:
  description: Services, when O(services=true) on a manager (else empty).
  returned: always
  type: list
  elements: dict
  version_added: 1.0.0
  contains:
    id:
      description: Service ID.
      type: str
    name:
      description: Service name.
      type: str
    mode:
      description: Scheduling mode.
      type: str
      choices: [replicated, global, replicated-job, global-job]
    replicas:
      description: Desired replicas of a replicated service; null for the other modes.
      type: int
    labels:
      description: Service labels.
      type: dict
join_tokens:
  description: Join tokens (secrets), null when not available on this node.
  returned: when O(join_tokens=true)
  type: dict
  contains:
    worker:
      description: Worker join token.
      type: str
    manager:
      description: Manager join token.
      type: str
unlock_key:
  description: The unlock key (a secret), null when autolock is off or not available on this node.
  returned: when O(unlock_key=true)
  type: str
host_addresses:
  description: IPv4 addresses of the host the module runs on.
  returned: when O(host_addresses=true)
  type: dict
  contains:
    interfaces:
      description: Interface name -> its (primary) IPv4 address, for interfaces that have one.
      type: dict
      sample: {"lo": "127.0.0.1", "eth0": "10.0.0.11"}
    default_ipv4:
      description: The IPv4 address of the interface that holds the default route, null when there is none.
      type: str
      sample: 10.0.0.11
    addresses:
      description:
        - Every IPv4 address of the host except loopback ones, secondary addresses included (from the kernel's
          local routing table), empty when it cannot be read.
      type: list
      elements: str
      sample: ["10.0.0.11", "10.0.0.21"]
      version_added: 1.0.0
    udp_in_use:
      description:
        - The swarm's UDP ports (7946 gossip, 4789 VXLAN) that a socket on the host already holds on every address
          (from the kernel's socket tables), for example the kernel's VXLAN socket an engine that was in a swarm
          leaves behind. Nothing else can listen on such a port, so the preflight check does not try it.
      type: list
      elements: int
      sample: [4789]
      version_added: 1.0.0
certificate:
  description:
    - This node's swarm certificate (public data only), null when it cannot be read (see RV(certificate_unavailable)).
  returned: when O(certificate=true)
  type: dict
  version_added: 1.0.0
  contains:
    path:
      description: The file read.
      type: str
      sample: /var/lib/docker/swarm/certificates/swarm-node.crt
    not_before:
      description: Start of validity, ISO 8601 UTC.
      type: str
      sample: "2026-03-01T12:00:00Z"
    not_after:
      description: End of validity, ISO 8601 UTC. The Engine renews the certificate by itself before it expires.
      type: str
      sample: "2026-05-30T12:00:00Z"
    expires_in_days:
      description: Days until RV(certificate.not_after) from now (negative when expired), two decimals.
      type: float
      sample: 89.5
    expired:
      description: Whether RV(certificate.not_after) has passed.
      type: bool
    serial:
      description: Serial number, hex.
      type: str
    subject:
      description: Subject attributes (C(cn), C(ou), C(o), ... as present).
      type: dict
      sample: {"cn": "o3gtxmnx5q9kfwcxf1p3qn2vb", "ou": "swarm-worker", "o": "7w2kfe1ptdkqjnkp4m5tmrgg4"}
    issuer:
      description: Issuer attributes (C(cn), C(ou), C(o), ... as present); C(cn) is C(swarm-ca) for the swarm's own CA.
      type: dict
      sample: {"cn": "swarm-ca"}
    node_id:
      description: The node ID the certificate was issued to (subject CN).
      type: str
    role:
      description: The role in the certificate (subject OU C(swarm-manager) / C(swarm-worker)); null for another OU.
      type: str
      choices: [manager, worker]
    cluster_id:
      description: The swarm ID in the certificate (subject O).
      type: str
certificate_unavailable:
  description: Why RV(certificate) is null (not in a swarm, remote Engine, file absent or unreadable), else null.
  returned: when O(certificate=true)
  type: str
  version_added: 1.0.0
"""

from typing import Any

from ansible_collections.hive.swarm.plugins.module_utils._swarm.addresses import host_ipv4_addresses
from ansible_collections.hive.swarm.plugins.module_utils._swarm.certs import node_certificate
from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import SwarmClient, poll_delays
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import (
    InvalidParameter,
    NodeNotFound,
    NotAManager,
    NotInSwarm,
    QuorumError,
    SwarmLocked,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.module import run_module
from ansible_collections.hive.swarm.plugins.module_utils._swarm.views import (
    local_view,
    node_view,
    service_view,
    swarm_view,
    task_view,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "local_only": {"type": "bool", "default": False},
    "nodes": {"type": "bool", "default": False},
    "nodes_filters": {
        "type": "dict",
        "options": {
            "id": {"type": "list", "elements": "str"},
            "name": {"type": "list", "elements": "str"},
            "membership": {"type": "str", "choices": ["accepted", "pending"]},
            "role": {"type": "str", "choices": ["manager", "worker"]},
        },
    },
    "node": {"type": "str"},
    "join_tokens": {"type": "bool", "default": False, "no_log": False},
    "unlock_key": {"type": "bool", "default": False, "no_log": False},
    "host_addresses": {"type": "bool", "default": False},
    "certificate": {"type": "bool", "default": False},
    "tasks": {"type": "bool", "default": False},
    "tasks_filters": {
        "type": "dict",
        "options": {
            "node": {"type": "list", "elements": "str"},
            "service": {"type": "list", "elements": "str"},
            "desired_state": {"type": "str", "choices": ["running", "shutdown", "accepted"]},
        },
    },
    "services": {"type": "bool", "default": False},
    "settle_timeout": {"type": "float", "default": 0},
}
TASK_FILTER_KEYS = {"node": "node", "service": "service", "desired_state": "desired-state"}


def unavailable_reason(local: dict[str, Any]) -> Any:
    """Why manager-only data cannot be read here, or None."""
    state = local["state"]
    if state == "inactive":
        return "This node is not part of a swarm."
    if state == "locked":
        return "The swarm is locked on this node; unlock it to read swarm data."
    if state == "pending":
        return "This node is still joining a swarm (state pending)."
    if state == "error":
        return f"This node's swarm state is error: {local['error'] or 'no details'}."
    if not local["is_manager"]:
        managers = ", ".join(p["addr"] for p in local["remote_managers"] if p.get("addr")) or "none known"
        return f"This node is a worker; swarm and node data are only available on managers ({managers})."
    if not local["cluster_id"]:
        return f"This manager cannot read the swarm: {local['error'] or 'no details'}."
    return None


def may_settle(local: dict[str, Any]) -> bool:
    """A manager whose Engine reports a swarm error: another read later may find it cleared."""
    return bool(local["is_manager"] and local["error"])


def settled(client: SwarmClient, local: dict[str, Any], started: float, timeout: float) -> dict[str, Any]:
    """Re-read /info while the node is a manager with a swarm error, until ``timeout`` seconds after ``started``
    (the first read's start): no read starts that the last read's duration says would end after it. The local
    view as read last."""
    deadline = started + timeout
    took = client.clock() - started
    delays = poll_delays()
    while may_settle(local):
        pause = next(delays)
        if client.clock() + pause + took > deadline:
            break
        client.sleep(pause)
        t0 = client.clock()
        local = local_view(client.info(refresh=True))
        took = client.clock() - t0
    return local


def run(module: Any, client: SwarmClient) -> dict[str, Any]:
    p = module.params
    if p["local_only"] and (p["nodes"] or p["node"] or p["join_tokens"] or p["unlock_key"] or p["tasks"]
                            or p["services"]):
        raise InvalidParameter("local_only cannot be combined with nodes, node, join_tokens, unlock_key, tasks or "
                               "services.")
    if p["settle_timeout"] < 0:
        raise InvalidParameter(f"settle_timeout cannot be negative ({p['settle_timeout']:g}).")
    started = client.clock()
    local = local_view(client.info())
    addresses = host_ipv4_addresses() if p["host_addresses"] else None
    # The host's address changed under the running swarm: the other managers cannot reach this one, and its swarm
    # requests only run into their deadlines (seconds each). Nothing more is asked.
    cut_off = bool(addresses and addresses.get("addresses") and local["is_manager"] and local["node_addr"]
                   and local["node_addr"] not in addresses["addresses"])
    if p["settle_timeout"] and not cut_off:
        local = settled(client, local, started, p["settle_timeout"])
    result: dict[str, Any] = {
        "changed": False,
        "local": local,
        "settling": may_settle(local) and not cut_off,
        "swarm": swarm_view(client.cluster) if local["is_manager"] and not cut_off else None,
        "swarm_unavailable": (f"This manager advertises {local['node_addr']}, an address this host no longer has: "
                              "it is cut off from the swarm (re-address it)." if cut_off
                              else unavailable_reason(local)),
        "nodes": [],
        "node": None,
        "tasks": [],
        "services": [],
    }
    if p["join_tokens"]:
        result["join_tokens"] = None
    if p["unlock_key"]:
        result["unlock_key"] = None
    if addresses is not None:
        result["host_addresses"] = addresses
    if p["certificate"]:
        result["certificate"], result["certificate_unavailable"] = node_certificate(client.info(), client.docker_host)
    if p["local_only"] or result["swarm_unavailable"]:
        return result
    try:
        listed = None
        if p["nodes"]:
            listed = client.nodes(p["nodes_filters"])
            result["nodes"] = [node_view(n) for n in listed]
        if p["node"]:
            unfiltered = listed if listed is not None and not any((p["nodes_filters"] or {}).values()) else None
            try:
                result["node"] = node_view(client.get_node(p["node"], nodes=unfiltered))
            except NodeNotFound:
                result["node"] = None
        if p["tasks"]:
            filters = {TASK_FILTER_KEYS[k]: v for k, v in (p["tasks_filters"] or {}).items() if v}
            result["tasks"] = [task_view(t) for t in client.tasks(filters)]
        if p["services"]:
            result["services"] = [service_view(s) for s in client.services()]
        if p["join_tokens"]:
            result["join_tokens"] = client.join_tokens()
        if p["unlock_key"]:
            result["unlock_key"] = client.get_unlock_key()
    except (NotAManager, NotInSwarm, SwarmLocked, QuorumError) as err:
        # The node stopped being a usable manager between /info and this request (demoted, lost quorum, ...).
        result["swarm_unavailable"] = str(err)
    return result


def main() -> None:
    run_module(ARGUMENT_SPEC, run, supports_check_mode=True)


if __name__ == "__main__":
    main()

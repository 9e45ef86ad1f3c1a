# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The result shapes modules return (documented in docs/architecture.md): local state, swarm, node.
No secrets: join tokens and the unlock key are never part of these views."""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.hive.swarm.plugins.module_utils._swarm.spec import spec_to_options
from ansible_collections.hive.swarm.plugins.module_utils._swarm.tokens import ca_digest


def local_view(info: dict[str, Any]) -> dict[str, Any]:
    """The node's own view (GET /info Swarm section); works on every node."""
    swarm = info.get("Swarm") or {}
    state = swarm.get("LocalNodeState") or "inactive"
    control = bool(swarm.get("ControlAvailable"))
    cluster = swarm.get("Cluster") or {}
    return {
        "state": state,
        "node_id": swarm.get("NodeID") or None,
        "node_addr": swarm.get("NodeAddr") or None,
        "control_available": control,
        "is_manager": state == "active" and control,
        "error": swarm.get("Error") or None,
        "remote_managers": [
            {"node_id": peer.get("NodeID"), "addr": peer.get("Addr")} for peer in (swarm.get("RemoteManagers") or [])
        ],
        "cluster_id": cluster.get("ID") or None,
        "nodes_count": swarm.get("Nodes") if cluster else None,
        "managers_count": swarm.get("Managers") if cluster else None,
        "hostname": info.get("Name") or None,
        "engine_version": info.get("ServerVersion") or None,
    }


def swarm_view(cluster: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The swarm object (from /info Swarm.Cluster or GET /swarm) without JoinTokens. None when there
    is none - also for the empty object /info shows on a manager that lost its quorum."""
    if not cluster or not cluster.get("ID"):
        return None
    trust_root = (cluster.get("TLSInfo") or {}).get("TrustRoot") or ""
    return {
        "id": cluster.get("ID"),
        "version": (cluster.get("Version") or {}).get("Index"),
        "created_at": cluster.get("CreatedAt"),
        "updated_at": cluster.get("UpdatedAt"),
        "spec": spec_to_options(cluster.get("Spec")),
        "data_path_port": cluster.get("DataPathPort"),
        "default_addr_pool": list(cluster.get("DefaultAddrPool") or []),
        "subnet_size": cluster.get("SubnetSize"),
        "root_ca_digest": ca_digest(trust_root) if trust_root else None,
        "root_rotation_in_progress": bool(cluster.get("RootRotationInProgress")),
    }


def node_view(node: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """One entry of GET /nodes in snake_case."""
    if not node:
        return None
    spec = node.get("Spec") or {}
    desc = node.get("Description") or {}
    status = node.get("Status") or {}
    manager = node.get("ManagerStatus") or None
    resources = desc.get("Resources") or {}
    return {
        "id": node.get("ID"),
        "version": (node.get("Version") or {}).get("Index"),
        "hostname": desc.get("Hostname"),
        "role": spec.get("Role"),
        "availability": spec.get("Availability"),
        "labels": dict(spec.get("Labels") or {}),
        "state": status.get("State"),
        "message": status.get("Message") or None,
        "addr": status.get("Addr"),
        "manager_reachability": manager.get("Reachability") if manager else None,
        "manager_addr": manager.get("Addr") if manager else None,
        "leader": bool(manager.get("Leader")) if manager else False,
        "engine_version": (desc.get("Engine") or {}).get("EngineVersion"),
        "nano_cpus": resources.get("NanoCPUs"),
        "memory_bytes": resources.get("MemoryBytes"),
    }

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The result shapes modules return (documented in docs/architecture.md): local state, swarm, node.
No secrets: join tokens and the unlock key are never part of these views."""

from __future__ import annotations

import base64
import binascii
import hashlib
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
        "docker_root_dir": info.get("DockerRootDir") or None,
    }


def cert_issuer_digest(tls_info: Optional[dict[str, Any]]) -> Optional[str]:
    """Hex SHA-256 over the issuer's subject and public key (DER, as the Engine's TLSInfo carries them base64
    encoded in CertIssuerSubject and CertIssuerPublicKey); None when the Engine reports neither. Equal digests mean
    the same issuer: a node has caught up with a root CA rotation when its digest equals the swarm's."""
    tls_info = tls_info or {}
    subject, public_key = tls_info.get("CertIssuerSubject") or "", tls_info.get("CertIssuerPublicKey") or ""
    if not subject and not public_key:
        return None
    digest = hashlib.sha256()
    for part in (subject, public_key):
        try:
            digest.update(base64.b64decode(part))
        except (binascii.Error, ValueError):  # not base64: hash the text, equality still holds
            digest.update(str(part).encode("utf-8"))
    return digest.hexdigest()


def trust_root_digest(tls_info: Optional[dict[str, Any]]) -> Optional[str]:
    """Hex SHA-256 of a TLSInfo's TrustRoot (the PEM text as the Engine returns it), None when empty."""
    trust_root = (tls_info or {}).get("TrustRoot") or ""
    return ca_digest(trust_root) if trust_root else None


def swarm_view(cluster: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """The swarm object (from /info Swarm.Cluster or GET /swarm) without JoinTokens. None when there
    is none - also for the empty object /info shows on a manager that lost its quorum."""
    if not cluster or not cluster.get("ID"):
        return None
    tls_info = cluster.get("TLSInfo") or {}
    return {
        "id": cluster.get("ID"),
        "version": (cluster.get("Version") or {}).get("Index"),
        "created_at": cluster.get("CreatedAt"),
        "updated_at": cluster.get("UpdatedAt"),
        "spec": spec_to_options(cluster.get("Spec")),
        "data_path_port": cluster.get("DataPathPort"),
        "default_addr_pool": list(cluster.get("DefaultAddrPool") or []),
        "subnet_size": cluster.get("SubnetSize"),
        "root_ca_digest": trust_root_digest(tls_info),
        "cert_issuer_digest": cert_issuer_digest(tls_info),
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
        "root_ca_digest": trust_root_digest(desc.get("TLSInfo")),
        "cert_issuer_digest": cert_issuer_digest(desc.get("TLSInfo")),
    }


def task_view(task: dict[str, Any]) -> dict[str, Any]:
    """One entry of GET /tasks in snake_case: where it runs and in which state (no spec, no secrets)."""
    status = task.get("Status") or {}
    return {
        "id": task.get("ID"),
        "service_id": task.get("ServiceID"),
        "node_id": task.get("NodeID") or None,
        "slot": task.get("Slot"),
        "desired_state": task.get("DesiredState"),
        "state": status.get("State"),
        "message": status.get("Message") or None,
        "error": status.get("Err") or None,
    }


def service_mode(spec: dict[str, Any]) -> tuple[str, Optional[int]]:
    """(mode, desired replicas): ``replicated`` (Replicas, 1 when the spec leaves it out, as the Engine does),
    ``global``, ``replicated-job`` or ``global-job`` (replicas None for the last three)."""
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return "global", None
    if "GlobalJob" in mode:
        return "global-job", None
    if "ReplicatedJob" in mode:
        return "replicated-job", None
    replicas = (mode.get("Replicated") or {}).get("Replicas")
    return "replicated", 1 if replicas is None else int(replicas)


def service_view(service: dict[str, Any]) -> dict[str, Any]:
    """One entry of GET /services in snake_case: its name and how many tasks it wants (no spec details)."""
    spec = service.get("Spec") or {}
    mode, replicas = service_mode(spec)
    return {
        "id": service.get("ID"),
        "name": spec.get("Name"),
        "mode": mode,
        "replicas": replicas,
        "labels": dict(spec.get("Labels") or {}),
    }

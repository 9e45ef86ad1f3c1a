"""views.py: result shapes (docs/architecture.md contract)."""

from __future__ import annotations

import hashlib

from ansible_collections.hive.swarm.plugins.module_utils._swarm import views as v
from ansible_collections.hive.swarm.plugins.module_utils._swarm.tokens import ca_digest
from fakes import FakeEngine

LOCAL_KEYS = {"state", "node_id", "node_addr", "control_available", "is_manager", "error", "remote_managers",
              "cluster_id", "nodes_count", "managers_count", "hostname", "engine_version", "docker_root_dir"}
NODE_KEYS = {"id", "version", "hostname", "role", "availability", "labels", "state", "message", "addr",
             "manager_reachability", "manager_addr", "leader", "engine_version", "nano_cpus", "memory_bytes",
             "root_ca_digest", "cert_issuer_digest"}


def test_local_view_inactive():
    view = v.local_view(FakeEngine().info())
    assert set(view) == LOCAL_KEYS
    assert view["state"] == "inactive" and view["node_id"] is None and view["remote_managers"] == []
    assert view["cluster_id"] is None and view["is_manager"] is False and view["error"] is None
    assert view["docker_root_dir"] == "/var/lib/docker"


def test_local_view_manager_and_worker():
    mgr = FakeEngine("m1", "10.0.0.11")
    swarm = mgr.make_manager()
    view = v.local_view(mgr.info())
    assert view["is_manager"] and view["cluster_id"] == swarm.id
    assert view["remote_managers"] == [{"node_id": mgr.node_id, "addr": "10.0.0.11:2377"}]
    assert view["nodes_count"] == 1 and view["managers_count"] == 1 and view["hostname"] == "m1"
    wrk = FakeEngine("w1", "10.0.0.21")
    wrk.make_worker(swarm)
    view = v.local_view(wrk.info())
    assert not view["is_manager"] and view["cluster_id"] is None and view["nodes_count"] is None
    assert view["node_addr"] == "10.0.0.21"


def test_swarm_view_has_no_secrets():
    mgr = FakeEngine()
    swarm = mgr.make_manager()
    cluster = {**swarm.cluster(), "JoinTokens": {"Worker": swarm.worker_token, "Manager": swarm.manager_token}}
    view = v.swarm_view(cluster)
    assert set(view) == {"id", "version", "created_at", "updated_at", "spec", "data_path_port", "default_addr_pool",
                         "subnet_size", "root_ca_digest", "cert_issuer_digest", "root_rotation_in_progress"}
    assert view["root_ca_digest"] == ca_digest(swarm.trust_root)
    assert len(view["cert_issuer_digest"]) == 64 and view["cert_issuer_digest"] != view["root_ca_digest"]
    assert view["spec"]["node_cert_expiry"] == 7776000
    assert "SWMTKN" not in repr(view)
    assert v.swarm_view(None) is None


def test_node_view():
    mgr = FakeEngine()
    swarm = mgr.make_manager()
    worker = swarm.add_node("w1", "worker", "10.0.0.21", labels={"a": "b"}, availability="drain")
    view = v.node_view(worker)
    assert set(view) == NODE_KEYS
    assert view["hostname"] == "w1" and view["role"] == "worker" and view["availability"] == "drain"
    assert view["labels"] == {"a": "b"} and view["manager_reachability"] is None and view["leader"] is False
    mview = v.node_view(swarm.nodes[0])
    assert mview["leader"] is True and mview["manager_reachability"] == "reachable"
    assert mview["manager_addr"] == "10.0.0.11:2377" and mview["nano_cpus"] == 2000000000
    assert v.node_view(None) is None


def test_tls_digests_of_a_node_and_of_the_swarm():
    """A node has caught up with a root rotation when both digests equal the swarm's (docker swarm ca waits so)."""
    swarm = FakeEngine().make_manager()
    worker = swarm.add_node("w1", "worker", "10.0.0.21")
    cluster = v.swarm_view(swarm.cluster())
    node = v.node_view(worker)
    assert node["root_ca_digest"] == cluster["root_ca_digest"] == ca_digest(swarm.trust_root)
    assert node["cert_issuer_digest"] == cluster["cert_issuer_digest"]
    # the issuer digest is SHA-256 over the decoded subject + public key (DER is self-delimiting)
    tls = {"CertIssuerSubject": "c3ViamVjdA==", "CertIssuerPublicKey": "a2V5"}
    assert v.cert_issuer_digest(tls) == hashlib.sha256(b"subjectkey").hexdigest()
    assert v.cert_issuer_digest({**tls, "CertIssuerPublicKey": "b3RoZXI="}) != v.cert_issuer_digest(tls)
    # what the Engine reports while a node has no TLS info yet, or an old Engine
    worker["Description"].pop("TLSInfo")
    assert v.node_view(worker)["root_ca_digest"] is None and v.node_view(worker)["cert_issuer_digest"] is None
    assert v.cert_issuer_digest({"TrustRoot": "x", "CertIssuerSubject": "", "CertIssuerPublicKey": ""}) is None
    assert v.trust_root_digest({}) is None and v.trust_root_digest(None) is None


def test_task_and_service_views():
    assert v.task_view({"ID": "t", "ServiceID": "s", "NodeID": "", "DesiredState": "running",
                        "Status": {"State": "pending"}}) == {
        "id": "t", "service_id": "s", "node_id": None, "slot": None, "desired_state": "running", "state": "pending",
        "message": None, "error": None}
    modes = [({"Replicated": {}}, ("replicated", 1)), ({}, ("replicated", 1)), ({"Global": {}}, ("global", None)),
             ({"ReplicatedJob": {}}, ("replicated-job", None)), ({"GlobalJob": {}}, ("global-job", None))]
    for mode, expected in modes:
        view = v.service_view({"ID": "s", "Spec": {"Name": "web", "Mode": mode}})
        assert (view["mode"], view["replicas"]) == expected

"""views.py: result shapes (docs/architecture.md contract)."""

from __future__ import annotations

from ansible_collections.hive.swarm.plugins.module_utils._swarm import views as v
from ansible_collections.hive.swarm.plugins.module_utils._swarm.tokens import ca_digest
from fakes import FakeEngine

LOCAL_KEYS = {"state", "node_id", "node_addr", "control_available", "is_manager", "error", "remote_managers",
              "cluster_id", "nodes_count", "managers_count", "hostname", "engine_version"}
NODE_KEYS = {"id", "version", "hostname", "role", "availability", "labels", "state", "message", "addr",
             "manager_reachability", "manager_addr", "leader", "engine_version", "nano_cpus", "memory_bytes"}


def test_local_view_inactive():
    view = v.local_view(FakeEngine().info())
    assert set(view) == LOCAL_KEYS
    assert view["state"] == "inactive" and view["node_id"] is None and view["remote_managers"] == []
    assert view["cluster_id"] is None and view["is_manager"] is False and view["error"] is None


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
                         "subnet_size", "root_ca_digest", "root_rotation_in_progress"}
    assert view["root_ca_digest"] == ca_digest(swarm.trust_root)
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

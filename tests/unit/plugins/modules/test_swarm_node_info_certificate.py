"""swarm_node_info certificate=true against the fake Engine: this node's own swarm certificate from
<DockerRootDir>/swarm/certificates/swarm-node.crt (the parsing itself: module_utils/test_certs.py). Kept apart from
test_swarm_node_info.py so the two option families can change independently."""

from __future__ import annotations

import shutil
from pathlib import Path

from ansible_collections.hive.swarm.plugins.modules import swarm_node_info
from fakes import FakeEngine

MAIN = swarm_node_info.main
DATA = Path(__file__).resolve().parents[1] / "module_utils" / "data"


def install_certificate(engine: FakeEngine) -> Path:
    target = Path(engine.docker_root) / "swarm" / "certificates"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(DATA / "swarm-node.crt", target / "swarm-node.crt")
    return target / "swarm-node.crt"


def test_worker_reads_its_certificate_with_local_only_in_one_request(engine, run_module):
    swarm = FakeEngine("m1", "10.0.0.11").make_manager()
    engine.make_worker(swarm)
    path = install_certificate(engine)
    res = run_module(MAIN, {"local_only": True, "certificate": True})
    assert not res.failed and not res.changed
    assert engine.requests == ["GET /info"]
    cert = res["certificate"]
    assert cert["path"] == str(path) and cert["not_after"] == "2027-03-03T05:15:23Z"
    assert cert["role"] == "worker" and cert["node_id"] == "o3gtxmnx5q9kfwcxf1p3qn2vb"
    assert cert["issuer"] == {"cn": "swarm-ca"} and isinstance(cert["expires_in_days"], float)
    assert res["certificate_unavailable"] is None
    assert res["swarm"] is None and res["swarm_unavailable"].startswith("This node is a worker")


def test_manager_with_nodes_and_certificate(engine, run_module):
    engine.make_manager()
    install_certificate(engine)
    res = run_module(MAIN, {"nodes": True, "certificate": True})
    assert res["certificate"]["serial"] == "123456789abcdef"
    assert res["nodes"][0]["root_ca_digest"] == res["swarm"]["root_ca_digest"]
    assert res["nodes"][0]["cert_issuer_digest"] == res["swarm"]["cert_issuer_digest"]


def test_missing_file_is_null_with_a_reason(engine, run_module):
    engine.make_manager()
    res = run_module(MAIN, {"certificate": True})
    assert not res.failed
    assert res["certificate"] is None
    assert res["certificate_unavailable"].endswith("swarm/certificates/swarm-node.crt does not exist.")


def test_inactive_and_remote_engines_say_why(engine, run_module):
    res = run_module(MAIN, {"certificate": True})
    assert res["certificate"] is None and "not part of a swarm" in res["certificate_unavailable"]
    engine.make_manager()
    install_certificate(engine)
    res = run_module(MAIN, {"certificate": True, "docker_host": "tcp://10.0.0.11:2375"})
    assert res["certificate"] is None and "is not local" in res["certificate_unavailable"]


def test_not_asked_not_returned(engine, run_module):
    engine.make_manager()
    res = run_module(MAIN, {})
    assert "certificate" not in res.result and "certificate_unavailable" not in res.result

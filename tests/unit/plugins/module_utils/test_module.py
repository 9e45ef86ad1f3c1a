"""module.py: run_module builds the module, runs the logic and fails exactly once."""

from __future__ import annotations

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import client as client_mod
from ansible_collections.hive.swarm.plugins.module_utils._swarm import errors as e
from ansible_collections.hive.swarm.plugins.module_utils._swarm import module as m


def make_main(logic, spec=None, **kwargs):
    return lambda: m.run_module(spec or {"thing": {"type": "str"}}, logic, **kwargs)


def test_success_returns_the_logic_result(engine, run_module):
    seen = {}

    def logic(module, client):
        seen["params"] = dict(module.params)
        seen["client"] = client
        return {"changed": True, "answer": client.info()["Name"]}

    res = run_module(make_main(logic), {"thing": "x"})
    assert not res.failed
    assert res["answer"] == "node1" and res.changed
    assert seen["params"]["thing"] == "x" and seen["params"]["docker_host"] == "unix:///run/docker.sock"
    assert isinstance(seen["client"], client_mod.SwarmClient)


def test_typed_error_fails_once_with_engine_host_and_hint(engine, run_module, monkeypatch):
    calls = []
    real_fail = m.AnsibleModule.fail_json

    def counting_fail(self, **kwargs):
        calls.append(kwargs)
        real_fail(self, **kwargs)

    monkeypatch.setattr(m.AnsibleModule, "fail_json", counting_fail)

    def logic(module, client):
        client.info()
        raise e.QuorumError("Leaving breaks the quorum.", status=400, explanation="why", changed=False)

    res = run_module(make_main(logic), {"docker_host": "tcp://10.0.0.5:2375"})
    assert res.failed and len(calls) == 1
    assert res["msg"] == ("Leaving breaks the quorum. [engine tcp://10.0.0.5:2375 on node1] " + e.QuorumError.hint)
    assert res["error_type"] == "QuorumError"
    assert res["status"] == 400 and res["explanation"] == "why"
    assert res["changed"] is False


def test_error_before_any_request_has_no_hostname(engine, run_module):
    def logic(module, client):
        raise e.InvalidParameter("bad value.")

    res = run_module(make_main(logic), {})
    assert res["msg"] == "bad value. [engine unix:///run/docker.sock]"


def test_unreachable_engine(engine, run_module):
    import requests

    engine.fail_next("GET /info", requests.exceptions.ConnectionError("[Errno 2] No such file or directory"))
    res = run_module(make_main(lambda module, client: client.info()), {})
    assert res.failed and res["error_type"] == "EngineUnreachable"
    assert res["msg"].startswith("Cannot connect to the engine at unix:///run/docker.sock: ")
    assert "Check that dockerd runs" in res["msg"]


def test_missing_sdk(engine, run_module, monkeypatch):
    monkeypatch.setattr(m, "HAS_DOCKER", False)
    monkeypatch.setattr(m, "DOCKER_IMPORT_ERROR", "Traceback: No module named 'docker'")
    monkeypatch.setattr(client_mod, "_MISSING_MODULE", "docker")
    monkeypatch.setattr(client_mod, "_installed_sdk_version", lambda: None)
    res = run_module(make_main(lambda module, client: {"changed": False}), {})
    assert res.failed and res["error_type"] == "MissingDependency"
    assert "Docker SDK for Python (docker) is not installed" in res["msg"]
    assert "apt-get install python3-docker" in res["msg"]


def test_common_option_validation_and_required_together(engine, run_module):
    res = run_module(make_main(lambda module, client: {}), {"client_cert": "/x"})
    assert res.failed and "client_cert" in res["msg"] and "client_key" in res["msg"]
    assert engine.requests == []


def test_module_options_cannot_shadow_common_ones():
    with pytest.raises(ValueError, match="docker_host"):
        m.argument_spec({"docker_host": {"type": "str"}})


def test_failure_message_without_client():
    err = e.SwarmError("x")
    assert m.failure_message(err, None, {"docker_host": "unix:///a"}) == "x [engine unix:///a]"
    assert m.failure_message(err, None, {}) == "x"

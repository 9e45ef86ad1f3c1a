"""client.py: SwarmClient against the fake Engine (and the real SDK where it matters)."""

from __future__ import annotations

import builtins
import json
import shutil
import subprocess
import sys
import types

import docker
import pytest
import requests
from ansible_collections.hive.swarm.plugins.module_utils._swarm import client as c
from ansible_collections.hive.swarm.plugins.module_utils._swarm import errors as e
from fakes import ApiFailure, FakeAPIClient, FakeEngine, FakeSwarm, api_error

BASE = {"docker_host": "unix:///run/docker.sock", "tls": False, "validate_certs": False, "ca_path": None,
        "client_cert": None, "client_key": None, "tls_hostname": None, "api_version": "auto", "timeout": 60}


def make(engine, **params):
    return c.SwarmClient({**BASE, **params})


def test_construction_makes_no_request_and_builds_the_sdk_client_explicitly(engine):
    client = make(engine, timeout=7)
    assert engine.requests == []
    assert client.api is not None
    assert engine.requests == []
    assert engine.clients[0].kwargs == {"base_url": "unix:///run/docker.sock", "version": "1.24", "tls": False,
                                        "timeout": 7}


def test_auto_version_costs_no_extra_request(engine):
    engine.api_version = "1.43"
    client = make(engine)
    info = client.info()
    assert info["Name"] == "node1"
    assert client.api_version == "1.43"
    assert engine.clients[0]._version == "1.43"  # later calls are versioned with the Engine's version
    assert engine.requests == ["GET /info"]
    assert client.calls == ["GET /info"]
    client.info()
    assert engine.requests == ["GET /info"]  # cached
    client.info(refresh=True)
    assert len(engine.requests) == 2


def test_auto_version_falls_back_to_get_version_without_header(engine):
    engine.send_api_version_header = False
    engine.api_version = "1.40"
    client = make(engine)
    client.info()
    assert engine.requests == ["GET /info", "GET /version"]
    assert client.api_version == "1.40"


def test_explicit_api_version(engine):
    client = make(engine, api_version="1.41")
    client.info()
    assert engine.clients[0].kwargs["version"] == "1.41"
    assert client.api_version == "1.41"
    assert engine.requests == ["GET /info"]


def test_pinned_version_below_the_engine_minimum_is_a_typed_error(engine, monkeypatch):
    """Engines 26.1/28.5 refuse API < 1.24 (HTTP 400); an SDK whose own minimum is lower (docker 5.x: 1.21)
    sends such a version."""
    monkeypatch.setattr(FakeAPIClient, "MIN_API_VERSION", "1.21")
    engine.min_api_version, engine.api_version = "1.24", "1.51"
    client = make(engine, api_version="1.23")
    with pytest.raises(e.APIVersionError) as exc:
        client.info()
    assert exc.value.status == 400 and exc.value.details == {"asked_api": "1.23", "engine_min_api": "1.24"}
    assert "Minimum supported API version is 1.24" in exc.value.message
    assert "Leave api_version at auto" in exc.value.hint and "set it to 1.24 or newer" in exc.value.hint
    assert engine.requests == ["GET /info"]


def test_pinned_version_above_the_engine_maximum_is_a_typed_error(engine):
    client = make(engine, api_version="1.99")
    with pytest.raises(e.APIVersionError, match=r"Maximum supported API version is 1\.41") as exc:
        client.info()
    assert "set it to 1.41 or older" in exc.value.hint


def test_plain_text_refusal_is_decoded(engine):
    """Engine 28.5 answers clients that ask for API < 1.24 in text/plain: docker-py's explanation is then bytes."""
    text = "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a " \
           "newer version"
    err = api_error(400, "x")
    err.explanation = text.encode()
    engine.fail_next("GET /info", err)
    with pytest.raises(e.APIVersionError) as exc:
        make(engine, api_version="1.41").info()
    assert exc.value.explanation == text and exc.value.details["engine_min_api"] == "1.24"


def test_pinned_version_below_the_sdk_minimum_fails_before_any_request(engine, monkeypatch):
    monkeypatch.setattr(c, "SDK_MIN_API_VERSION", "1.24")
    monkeypatch.setattr(c, "SDK_VERSION", "7.1.0")
    client = make(engine, api_version="1.12")
    with pytest.raises(e.APIVersionError) as exc:
        client.info()
    assert exc.value.message.startswith(f"The Docker SDK for Python 7.1.0 refused API version 1.12: it needs "
                                        f"{FakeAPIClient.MIN_API_VERSION} or newer (API versions below")
    assert "Leave api_version at auto" in exc.value.hint
    assert engine.requests == [] and engine.clients == []


def test_sdk_method_newer_than_the_pinned_version(engine):
    engine.make_manager()
    client = make(engine, api_version="1.41")
    client.info()

    def refuse():
        raise docker.errors.InvalidVersion("get_unlock_key is not available for version < 1.25")

    with pytest.raises(e.APIVersionError, match=r"it needs 1\.25 or newer"):
        client._call("GET /swarm/unlockkey", refuse)


@pytest.mark.parametrize("version", ["abc", "1", "v1.41", "1.41.0.1", "1.4x"])
def test_malformed_api_version_is_a_parameter_error_before_any_request(engine, version):
    client = make(engine, api_version=version)
    with pytest.raises(e.InvalidParameter, match=r"api_version must be auto or an Engine API version such as 1\.41"):
        client.info()
    assert engine.requests == []


def test_check_option_support_with_a_pinned_version(engine):
    engine.api_version = "1.51"
    client = make(engine, api_version="1.38")
    with pytest.raises(e.UnsupportedOption) as exc:
        client.check_option_support("default_addr_pool")
    assert exc.value.message == ("Option 'default_addr_pool' needs Engine API >= 1.39 (in use: 1.38, pinned by "
                                 "api_version).")
    assert exc.value.hint.startswith("Set api_version to auto")
    assert exc.value.details["api_version_pinned"] is True
    assert engine.requests == []  # the pinned version needs no request to know


def test_tls_config(engine, tmp_path):
    cert, key, ca = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "ca.pem"
    for f in (cert, key, ca):
        f.write_text("x")
    client = make(engine, docker_host="tcp://10.0.0.1:2376", tls=True)
    tls = client._tls()
    assert isinstance(tls, docker.tls.TLSConfig)
    assert not tls.verify and tls.cert is None
    client = make(engine, docker_host="tcp://10.0.0.1:2376", validate_certs=True, ca_path=str(ca),
                  client_cert=str(cert), client_key=str(key), tls_hostname="engine.example")
    tls = client._tls()
    assert tls.verify is True and tls.ca_cert == str(ca) and tls.cert == (str(cert), str(key))
    api = client.api
    adapter = api.mounts["https://"]
    assert adapter.poolmanager.connection_pool_kw["assert_hostname"] == "engine.example"
    assert adapter.poolmanager.connection_pool_kw["server_hostname"] == "engine.example"
    assert make(engine)._tls() is False


@pytest.mark.parametrize(
    ("validate", "ca", "expected"),
    [(True, True, "ca"), (False, False, False), (True, False, "/etc/ssl/certs/ca-certificates.crt")],
)
def test_tls_settings_win_over_ca_bundle_variables(tmp_path, monkeypatch, validate, ca, expected):
    """With the real SDK: requests would let REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the session's verify
    (ca_path, or False), so the Engine would be checked against the system CAs. The client keeps its own."""
    files = {name: tmp_path / f"{name}.pem" for name in ("cert", "key", "ca")}
    for path in files.values():
        path.write_text("x")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    client = c.SwarmClient({**BASE, "docker_host": "tcp://198.18.19.11:2376", "tls": True, "validate_certs": validate,
                            "ca_path": str(files["ca"]) if ca else None, "client_cert": str(files["cert"]),
                            "client_key": str(files["key"])})
    assert isinstance(client.api, docker.APIClient)
    settings = client.api.merge_environment_settings("https://198.18.19.11:2376/info", {}, None, None, None)
    # validate_certs without ca_path means "the system CAs": there the variables may still name the bundle
    assert settings["verify"] == (str(files["ca"]) if expected == "ca" else expected)
    assert settings["cert"] == (str(files["cert"]), str(files["key"]))
    # what the client protects against: a plain requests session loses its verify to the variable
    plain = requests.Session()
    plain.verify = str(files["ca"])
    assert plain.merge_environment_settings("https://x", {}, None, None, None)["verify"] != str(files["ca"])


def test_docker_cert_path_fills_the_files_not_given(engine, tmp_path, monkeypatch):
    """DOCKER_CERT_PATH as the Docker CLI reads it: ca.pem, cert.pem and key.pem of that directory, for the options
    not given; given options win; without TLS it changes nothing."""
    for name in ("ca.pem", "cert.pem", "key.pem", "other-ca.pem"):
        (tmp_path / name).write_text("x")
    monkeypatch.setenv("DOCKER_CERT_PATH", f"{tmp_path}/")
    tls = make(engine, docker_host="tcp://10.0.0.1:2376", validate_certs=True)._tls()
    assert tls.ca_cert == f"{tmp_path}/ca.pem" and tls.cert == (f"{tmp_path}/cert.pem", f"{tmp_path}/key.pem")
    tls = make(engine, docker_host="tcp://10.0.0.1:2376", validate_certs=True,
               ca_path=str(tmp_path / "other-ca.pem"))._tls()
    assert tls.ca_cert == str(tmp_path / "other-ca.pem") and tls.cert == (f"{tmp_path}/cert.pem", f"{tmp_path}/key.pem")
    assert make(engine)._tls() is False
    monkeypatch.setenv("DOCKER_CERT_PATH", str(tmp_path / "nowhere"))
    with pytest.raises(e.InvalidParameter, match="TLS options are not usable"):
        make(engine, tls=True).info()


def test_bad_tls_files_are_an_invalid_parameter(engine, tmp_path):
    client = make(engine, tls=True, client_cert=str(tmp_path / "missing.pem"), client_key=str(tmp_path / "k.pem"))
    with pytest.raises(e.InvalidParameter, match="TLS options are not usable"):
        client.info()


def test_bad_docker_host_is_an_invalid_parameter(monkeypatch):
    def boom(**_kw):
        raise docker.errors.DockerException("Invalid bind address format: foo://x")

    monkeypatch.setattr(c, "new_api_client", boom)
    with pytest.raises(e.InvalidParameter, match="Cannot use docker_host 'foo://x'"):
        c.SwarmClient({**BASE, "docker_host": "foo://x"}).info()


@pytest.mark.parametrize(
    ("raised", "cls", "text"),
    [
        (requests.exceptions.ConnectionError("No such file"), e.EngineUnreachable, "Cannot connect to the engine"),
        (requests.exceptions.ReadTimeout("slow"), e.EngineUnreachable, "did not answer within 60s"),
        (docker.errors.DockerException("weird"), e.SwarmError, "GET /info failed: weird"),
        (api_error(500, "boom"), e.EngineAPIError, "GET /info failed (500): boom"),
        (requests.exceptions.SSLError("... Caused by SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 "
                                      "alert bad certificate (_ssl.c:992)')))"),
         e.TLSError, "requires a client certificate"),
        (api_error(400, "Client sent an HTTP request to an HTTPS server."), e.TLSError, "expects TLS"),
    ],
)
def test_transport_errors_become_typed_errors(engine, raised, cls, text):
    engine.fail_next("GET /info", raised)
    client = make(engine, api_version="1.41")
    with pytest.raises(cls) as exc:
        client.info()
    assert exc.type is cls
    assert text in str(exc.value)


def test_api_error_bytes_explanation_is_decoded(engine):
    err = api_error(503, "x")
    err.explanation = b"This node is not a swarm manager."
    engine.fail_next("GET /swarm", err)
    engine.make_manager()
    with pytest.raises(e.NotAManager, match="This node is not a swarm manager"):
        make(engine).inspect_swarm()


def test_local_state_properties(engine):
    client = make(engine)
    assert (client.local_state, client.node_id, client.is_manager, client.cluster) == ("inactive", None, False, None)
    assert client.hostname == "node1"
    engine.make_worker()
    client.info(refresh=True)
    assert client.local_state == "active" and client.node_id and not client.is_manager and client.cluster is None
    engine2 = FakeEngine()
    swarm = engine2.make_manager()
    client2 = c.SwarmClient(BASE, api_factory=lambda **kw: FakeAPIClient(engine2, **kw))
    assert client2.is_manager and client2.cluster["ID"] == swarm.id


def test_check_option_support(engine, monkeypatch):
    engine.api_version = "1.38"
    client = make(engine)
    client.check_option_support("autolock")  # 1.25 <= 1.38
    with pytest.raises(e.UnsupportedOption) as exc:
        client.check_option_support("default_addr_pool")
    assert exc.value.details["needed_api"] == "1.39" and exc.value.details["found_api"] == "1.38"
    assert engine.requests == ["GET /info"]  # the version came from /info
    monkeypatch.setattr(client, "sdk_version", "2.6.1")
    with pytest.raises(e.UnsupportedOption) as exc:
        client.check_option_support("unlock")
    assert "Docker SDK for Python >= 2.7.0 (found 2.6.1)" in str(exc.value)
    assert "Engine API" not in exc.value.message


def test_require_manager(engine):
    client = make(engine)
    with pytest.raises(e.NotInSwarm, match="state inactive"):
        client.require_manager("read the spec")
    engine.make_worker()
    with pytest.raises(e.NotAManager, match="worker"):
        client.info(refresh=True) and client.require_manager("read the spec")
    engine.state = "locked"
    client.info(refresh=True)
    with pytest.raises(e.SwarmLocked):
        client.require_manager("read the spec")


def test_tokens_and_unlock_key(engine):
    swarm = engine.make_manager()
    client = make(engine)
    assert client.join_tokens() == {"worker": swarm.worker_token, "manager": swarm.manager_token}
    assert client.get_unlock_key() is None  # autolock off
    swarm.spec["EncryptionConfig"]["AutoLockManagers"] = True
    assert client.get_unlock_key() == swarm.unlock_key
    engine.state = "locked"
    client.unlock(swarm.unlock_key)
    assert engine.state == "active"
    with pytest.raises(e.InvalidParameter, match="not locked"):
        client.unlock(swarm.unlock_key)


@pytest.fixture
def three_nodes(engine):
    swarm = engine.make_manager()
    w1 = swarm.add_node("w1", "worker", "10.0.0.21")
    swarm.add_node("dup", "worker", "10.0.0.22")
    swarm.add_node("dup", "worker", "10.0.0.23")
    return swarm, w1


def test_get_node_by_id_or_hostname(engine, three_nodes):
    _swarm, w1 = three_nodes
    client = make(engine)
    assert client.get_node(w1["ID"])["ID"] == w1["ID"]
    assert client.get_node("w1")["ID"] == w1["ID"]
    with pytest.raises(e.AmbiguousNode, match="matches 2 nodes"):
        client.get_node("dup")
    with pytest.raises(e.NodeNotFound, match="'nope'"):
        client.get_node("nope")
    with pytest.raises(e.NodeNotFound):
        client.get_node(w1["ID"][:5])  # no prefix matching


def test_get_node_reuses_a_listing(engine, three_nodes):
    _swarm, w1 = three_nodes
    client = make(engine)
    listed = client.nodes()
    before = engine.count()
    assert client.get_node("w1", nodes=listed)["ID"] == w1["ID"]
    assert engine.count() == before


def test_nodes_filters_drop_empty_values(engine, three_nodes):
    client = make(engine)
    assert [n["Spec"]["Role"] for n in client.nodes({"role": "manager", "id": None, "name": []})] == ["manager"]
    assert len(client.nodes()) == 4


def test_update_swarm_read_modify_write(engine):
    swarm = engine.make_manager()
    client = make(engine)
    read, sent = client.update_swarm(lambda spec: {**spec, "Labels": {"a": "b"}}, current=client.cluster)
    assert sent["Labels"] == {"a": "b"} and swarm.spec["Labels"] == {"a": "b"}
    assert read["Version"]["Index"] == 10 and swarm.version == 11
    assert engine.requests == ["GET /info", "POST /swarm/update"]


def test_update_swarm_without_change_sends_nothing(engine):
    engine.make_manager()
    client = make(engine)
    _result, sent = client.update_swarm(lambda spec: None, current=client.cluster)
    assert sent is None
    assert engine.count("POST") == 0


def test_update_swarm_retries_out_of_sequence_with_a_fresh_read(engine):
    swarm = engine.make_manager()
    client = make(engine)
    stale = client.cluster
    swarm.version += 3  # someone else updated meanwhile
    seen = []

    def mutate(spec):
        seen.append(spec["Raft"]["SnapshotInterval"])
        spec["Raft"]["SnapshotInterval"] = 42
        return spec

    client.update_swarm(mutate, current=stale)
    assert swarm.spec["Raft"]["SnapshotInterval"] == 42
    assert engine.requests == ["GET /info", "POST /swarm/update", "GET /info", "POST /swarm/update"]
    assert len(seen) == 2  # the change was re-applied to the fresh spec


def test_update_swarm_gives_up_after_bounded_attempts(engine):
    engine.make_manager()
    client = make(engine)
    conflict = ApiFailure(500, "rpc error: code = Unknown desc = update out of sequence")
    engine.fail_next("POST /swarm/update", *[conflict] * 3)
    with pytest.raises(e.UpdateConflict, match="after 3 attempts"):
        client.update_swarm(lambda spec: spec, attempts=3)
    assert engine.count("POST /swarm/update") == 3


def test_update_swarm_rotations(engine):
    swarm = engine.make_manager()
    old = (swarm.worker_token, swarm.manager_token, swarm.unlock_key)
    client = make(engine)
    _result, sent = client.update_swarm(lambda spec: None, rotate_worker_token=True, rotate_unlock_key=True)
    assert sent == swarm.spec
    assert swarm.worker_token != old[0] and swarm.manager_token == old[1] and swarm.unlock_key != old[2]


def test_rotate_unlock_key_needs_sdk_4(engine, monkeypatch):
    engine.make_manager()
    client = make(engine)
    monkeypatch.setattr(client, "sdk_version", "3.7.0")
    with pytest.raises(e.UnsupportedOption, match="rotate_unlock_key"):
        client.update_swarm(lambda spec: None, rotate_unlock_key=True)
    assert engine.count("POST") == 0


def test_update_node_retries_and_no_change(engine, three_nodes):
    _swarm, w1 = three_nodes
    client = make(engine)
    node, sent = client.update_node(w1["ID"], lambda spec: None)
    assert sent is None and node["ID"] == w1["ID"]
    engine.fail_next("POST /nodes/{id}/update", ApiFailure(500, "update out of sequence"))
    _result, sent = client.update_node(w1["ID"], lambda spec: {**spec, "Availability": "drain"})
    assert sent["Availability"] == "drain" and w1["Spec"]["Availability"] == "drain"
    assert engine.count("GET /nodes/{id}") == 3
    engine.fail_next("POST /nodes/{id}/update", *[ApiFailure(500, "update out of sequence")] * 2)
    with pytest.raises(e.UpdateConflict):
        client.update_node(w1["ID"], lambda spec: spec, attempts=2)


def test_remove_and_inspect_node(engine, three_nodes):
    _swarm, w1 = three_nodes
    client = make(engine)
    assert client.inspect_node(w1["ID"])["Description"]["Hostname"] == "w1"
    client.remove_node(w1["ID"])
    with pytest.raises(e.NodeNotFound):
        client.inspect_node(w1["ID"])


def test_init_and_join_bodies_go_through_the_sdk_session(engine):
    client = make(engine)
    node_id = client.init_swarm({"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": None, "Spec": {}})
    assert node_id == engine.node_id
    assert engine.bodies[-1] == ("POST /swarm/init", {"ListenAddr": "0.0.0.0:2377", "Spec": {}})
    other = FakeEngine(hostname="w", network=engine.network)
    client2 = c.SwarmClient(BASE, api_factory=lambda **kw: FakeAPIClient(other, **kw))
    client2.join_swarm({"RemoteAddrs": ["10.0.0.11:2377"], "JoinToken": engine.swarm.worker_token})
    assert other.state == "active"
    with pytest.raises(e.SwarmError, match="already part of a swarm"):
        client2.join_swarm({"RemoteAddrs": ["10.0.0.11:2377"], "JoinToken": engine.swarm.worker_token})


def test_leave(engine):
    engine.make_worker()
    client = make(engine)
    client.leave_swarm(force=False)
    assert engine.state == "inactive"


def test_wait_for(engine):
    engine.make_worker()
    engine.pending_polls = 2
    client = make(engine)
    info = client.wait_for(lambda i: i["Swarm"]["LocalNodeState"] == "active", 10, "active")
    assert info["Swarm"]["LocalNodeState"] == "active"
    assert engine.count("GET /info") == 3
    assert engine.clock.slept == pytest.approx(c.POLL_FIRST + 2 * c.POLL_FIRST)
    engine.error = "raft: no leader"
    with pytest.raises(e.WaitTimeout, match=r"Timed out after 2s waiting for godot: the node is active \(raft"):
        client.wait_for(lambda i: False, 2, "godot")


def test_poll_node_until_the_predicate_holds(engine):
    swarm = engine.make_manager()
    target = swarm.add_node("w1", "worker", "10.0.0.21", node_id="w1id")
    client = make(engine)
    reads = []

    def down_on_third_read(node):
        reads.append(node["Status"]["State"])
        if len(reads) == 2:
            target["Status"]["State"] = "down"
        return node["Status"]["State"] == "down"

    node = client.poll_node("w1id", down_on_third_read, 10, "is down")
    assert node["ID"] == "w1id" and node["Status"]["State"] == "down"
    assert reads == ["ready", "ready", "down"]
    assert engine.count("GET /nodes/{id}") == 3
    assert engine.clock.slept == pytest.approx(c.POLL_FIRST + 2 * c.POLL_FIRST)


def test_poll_node_reports_a_vanished_node_as_none(engine):
    swarm = engine.make_manager()
    swarm.add_node("w1", "worker", "10.0.0.21", node_id="w1id")
    client = make(engine)
    swarm.nodes.pop()
    assert client.poll_node("w1id", lambda n: n is None, 5) is None
    assert engine.count("GET /nodes/{id}") == 1 and engine.clock.slept == 0


def test_poll_node_timeout_says_what_and_keeps_the_last_read(engine):
    swarm = engine.make_manager()
    swarm.add_node("m2", "manager", "10.0.0.12", node_id="m2id", reachability="unreachable")
    client = make(engine)
    with pytest.raises(e.WaitTimeout) as caught:
        client.poll_node("m2id", lambda n: False, 3, "has left the raft")
    assert caught.value.message == ("Timed out after 3s waiting until node m2id has left the raft "
                                    "(it is ready, manager unreachable).")
    assert caught.value.last["ID"] == "m2id"
    assert engine.clock.slept >= 3
    with pytest.raises(e.WaitTimeout, match=r"\(it is gone\)"):
        client.poll_node("nope", lambda n: n is not None, 0, "exists")
    assert c.describe_node(None) == "gone"
    assert c.describe_node({"Status": {}}) == "unknown"


def test_swarm_fixture_identity():
    # FakeSwarm tokens carry the digest of its trust root, like swarmkit's
    from ansible_collections.hive.swarm.plugins.module_utils._swarm.tokens import token_matches_ca

    swarm = FakeSwarm("x")
    assert token_matches_ca(swarm.worker_token, swarm.trust_root)
    assert not token_matches_ca(FakeSwarm("y").worker_token, swarm.trust_root)


SDK_INTERNALS = (
    "import docker\n"
    "c = docker.APIClient(base_url='unix:///nonexistent/docker.sock', version='1.24')\n"
    "assert c._url('/info', versioned_api=False).endswith('localhost/info'), c._url('/info', versioned_api=False)\n"
    "assert c._url('/swarm/join').endswith('/v1.24/swarm/join')\n"
    "for name in ('_get', '_result', '_post_json', '_raise_for_status', 'mount', 'info', 'version', 'inspect_swarm',\n"
    "             'nodes', 'inspect_node', 'update_node', 'remove_node', 'leave_swarm', 'update_swarm',\n"
    "             'get_unlock_key', 'unlock_swarm', 'merge_environment_settings'):\n"
    "    assert callable(getattr(c, name)), name\n"
    "c._version = '1.41'\n"
    "assert c.api_version == '1.41' and c._url('/info').endswith('/v1.41/info')\n"
    "import inspect\n"
    "assert 'rotate_manager_unlock_key' in inspect.signature(c.update_swarm).parameters\n"
    "assert list(inspect.signature(c.merge_environment_settings).parameters) == "
    "['url', 'proxies', 'stream', 'verify', 'cert']\n"
    "from docker.constants import MINIMUM_DOCKER_API_VERSION\n"
    "from docker.errors import InvalidVersion\n"
    "try:\n"
    "    docker.APIClient(base_url='unix:///nonexistent/docker.sock', version='1.12')\n"
    "except InvalidVersion as err:\n"
    "    assert f'API versions below {MINIMUM_DOCKER_API_VERSION} are no longer supported' in str(err), err\n"
    "else:\n"
    "    raise AssertionError('no InvalidVersion for API 1.12')\n"
    "print(docker.__version__)\n"
)


@pytest.mark.parametrize("python", ["venv", "/usr/bin/python3"])
def test_sdk_internals_we_rely_on_exist(python):
    """The unversioned /info, the version switch and init/join posting use SDK internals: check
    them on every SDK we support (the venv's docker 7.x and Debian's python3-docker 5.0.3)."""
    import sys

    exe = sys.executable if python == "venv" else python
    if python != "venv" and not shutil.which(exe):
        pytest.skip(f"{exe} not present")
    proc = subprocess.run([exe, "-c", SDK_INTERNALS], capture_output=True, text=True, check=False)
    if python != "venv" and "No module named 'docker'" in proc.stderr:
        pytest.skip(f"{exe} has no docker SDK")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


REAL_SDK_COUNT = r'''
import json, socketserver, sys, tempfile, threading, os
from http.server import BaseHTTPRequestHandler
sys.path.insert(0, sys.argv[1])       # .collections: ansible_collections.hive.swarm
sys.path.append(sys.argv[2])          # ansible (module_utils) for interpreters without it, AFTER their own docker
import docker
from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import SwarmClient

SEEN = []
INFO = {"Name": "real", "Swarm": {"LocalNodeState": "active", "ControlAvailable": True, "NodeID": "x",
                                  "Cluster": {"ID": "c", "Spec": {}, "Version": {"Index": 1}}}}

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        SEEN.append(self.path)
        body = json.dumps(INFO if self.path.endswith("/info") else []).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.41")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

path = os.path.join(tempfile.mkdtemp(), "docker.sock")
server = Server(path, Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
client = SwarmClient({"docker_host": "unix://" + path, "api_version": "auto", "timeout": 5})
assert client.info()["Name"] == "real" and client.is_manager
client.info()
client.nodes()
server.shutdown()
print(json.dumps({"sdk": docker.__version__, "requests": SEEN, "api_version": client.api_version}))
'''


@pytest.mark.parametrize("python", ["venv", "/usr/bin/python3"])
def test_real_sdk_request_count(python, tmp_path):
    """With the real SDK over a unix socket: api_version auto costs no request of its own; a run
    that only needs /info makes exactly one request, and later calls use the Engine's version."""
    import sys
    from pathlib import Path

    import ansible

    exe = sys.executable if python == "venv" else python
    if python != "venv" and not shutil.which(exe):
        pytest.skip(f"{exe} not present")
    # Asked before the run: the script appends the venv's site-packages (for ansible), which has a docker SDK too.
    if python != "venv" and subprocess.run([exe, "-c", "import docker"], capture_output=True, check=False,
                                           timeout=60).returncode != 0:
        pytest.skip(f"{exe} has no docker SDK")
    repo = Path(__file__).resolve().parents[4]
    site = str(Path(ansible.__file__).resolve().parents[1])
    proc = subprocess.run([exe, "-c", REAL_SDK_COUNT, str(repo / ".collections"), site], capture_output=True,
                          text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["requests"] == ["/info", "/v1.41/nodes"], out
    assert out["api_version"] == "1.41"
    if python != "venv":
        assert out["sdk"].startswith("5."), out  # Debian's python3-docker, not the venv's


# _load_stdlib_distutils: the SDK 5.0.3 import without setuptools' distutils shim ------------------


class _ShimFinder:
    """Stands for setuptools' DistutilsMetaFinder; records what it was asked for."""

    def __init__(self):
        self.asked = []

    def find_spec(self, fullname, path, target=None):
        self.asked.append(fullname)
        return None


_ShimFinder.__module__ = "_distutils_hack"
NEEDS_STDLIB_DISTUTILS = pytest.mark.skipif(sys.version_info >= (3, 12), reason="no stdlib distutils on Python >= 3.12")


@pytest.fixture
def no_distutils(monkeypatch):
    """sys.modules without distutils and sys.meta_path with a shim first; both restored afterwards."""
    for name in [n for n in sys.modules if n == "distutils" or n.startswith("distutils.")]:
        monkeypatch.delitem(sys.modules, name)
    shim = _ShimFinder()
    monkeypatch.setattr(sys, "meta_path", [shim, *sys.meta_path])
    return shim


@NEEDS_STDLIB_DISTUTILS
def test_stdlib_distutils_is_loaded_with_the_shim_set_aside_and_the_shim_restored(no_distutils):
    before = list(sys.meta_path)
    c._load_stdlib_distutils()
    assert no_distutils.asked == []  # the shim was not consulted
    assert {"distutils", "distutils.spawn", "distutils.version"} <= set(sys.modules)
    assert "setuptools" not in sys.modules["distutils"].__file__
    assert sys.meta_path == before


def test_nothing_is_done_without_a_shim(no_distutils, monkeypatch):
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if type(f).__module__ != "_distutils_hack"])
    c._load_stdlib_distutils()
    assert "distutils" not in sys.modules


def test_nothing_is_done_when_distutils_is_loaded(no_distutils, monkeypatch):
    marker = object()
    monkeypatch.setitem(sys.modules, "distutils", marker)
    c._load_stdlib_distutils()
    assert sys.modules["distutils"] is marker
    assert "distutils.spawn" not in sys.modules


@NEEDS_STDLIB_DISTUTILS
def test_a_missing_stdlib_distutils_leaves_the_import_to_the_shim(no_distutils, monkeypatch):
    real_import = builtins.__import__

    def without_distutils(name, *args, **kwargs):
        if name.startswith("distutils"):
            sys.modules["distutils"] = types.ModuleType("distutils")  # a partial import, to be cleaned up
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    before = list(sys.meta_path)
    monkeypatch.setattr(builtins, "__import__", without_distutils)
    c._load_stdlib_distutils()
    monkeypatch.setattr(builtins, "__import__", real_import)
    assert sys.meta_path == before
    assert not [n for n in sys.modules if n == "distutils" or n.startswith("distutils.")]


def test_poll_delays_start_short_and_double_up_to_the_interval():
    delays = c.poll_delays()
    got = [next(delays) for _step in range(6)]
    assert got == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5, 0.5])
    assert got[0] == c.POLL_FIRST and max(got) == c.POLL_INTERVAL


# missing_sdk_message: what a module or the inventory plugin says when the SDK cannot be imported ------------
@pytest.mark.parametrize(("missing", "python", "installed", "says", "hint"), [
    ("distutils", (3, 12), "5.0.3", "docker 5.0.3 imports distutils, which Python 3.12 and newer no longer have",
     "apt-get install python3-setuptools"),
    ("distutils.version", (3, 13), "", "The installed docker package imports distutils", "'docker>=6'"),
    ("requests", (3, 11), "7.1.0", "docker 7.1.0) is installed on Python 3.11", "--force-reinstall"),
    ("docker", (3, 11), "", "(docker) is not installed on Python 3.11", "apt-get install python3-docker"),
])
def test_missing_sdk_message(missing, python, installed, says, hint):
    message, advice = c.missing_sdk_message(missing, python, installed)
    assert says in message and hint in advice


BLOCKED_DISTUTILS = r'''
import sys
class NoDistutils:  # Python >= 3.12 without setuptools: no distutils at all
    def find_spec(self, name, path=None, target=None):
        if name == "distutils" or name.startswith("distutils."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoDistutils())
sys.path.insert(0, sys.argv[1])  # .collections: ansible_collections.hive.swarm
sys.path.append(sys.argv[2])     # ansible (module_utils), after the system Python's own docker
from ansible_collections.hive.swarm.plugins.module_utils._swarm import client
message, hint = client.missing_sdk_message()
print(client.HAS_DOCKER, message, hint, sep="\n")
'''


def test_debian_sdk_without_distutils_gets_the_distutils_message():
    """Debian 12's python3-docker 5.0.3 (the system Python's), with distutils made unimportable as on Python
    3.12+ without setuptools: the client's import does not raise, and the message names distutils and the fixes."""
    from pathlib import Path

    import ansible

    proc = subprocess.run(["/usr/bin/python3", "-c", "import docker; print(docker.__version__)"],
                          capture_output=True, text=True, check=False, timeout=60)
    if proc.returncode != 0 or not proc.stdout.startswith("5."):
        pytest.skip("no Debian python3-docker 5.x on /usr/bin/python3")
    repo = Path(__file__).resolve().parents[4]
    site = str(Path(ansible.__file__).resolve().parents[1])
    proc = subprocess.run(["/usr/bin/python3", "-c", BLOCKED_DISTUTILS, str(repo / ".collections"), site],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    has_docker, message, hint = proc.stdout.splitlines()
    assert has_docker == "False"
    assert "docker 5.0.3 imports distutils, which Python 3.12 and newer no longer have" in message
    assert "python3-setuptools" in hint and "docker>=6" in hint


NO_LEADER = ("rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers "
             "are online. Make sure more than half of the managers are online.")


class FakeClock:
    """The client's clock and sleep: time passes only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def with_clock(client: c.SwarmClient) -> FakeClock:
    clock = FakeClock()
    client.clock, client.sleep = (lambda: clock.now), clock.sleep
    return clock


def test_no_leader_is_asked_again_within_leader_wait(engine, three_nodes):
    _swarm, w1 = three_nodes
    client = make(engine)
    clock = with_clock(client)
    client.leader_wait = 10
    engine.fail_next("GET /nodes", *[ApiFailure(500, NO_LEADER)] * 4)
    assert {n["ID"] for n in client.nodes()} >= {w1["ID"]}
    assert engine.count("GET /nodes") == 5 and len(clock.slept) == 4
    # a change too: the refused update was not applied, the next one is
    engine.fail_next("POST /nodes/{id}/update", ApiFailure(500, NO_LEADER))
    _result, sent = client.update_node(w1["ID"], lambda spec: {**spec, "Availability": "pause"})
    assert sent["Availability"] == "pause" and w1["Spec"]["Availability"] == "pause"


def test_a_demotion_dropped_by_a_leader_change_is_sent_again(engine, three_nodes):
    """Campaign seed 7 sequence 54: 'node lost leader status' in the middle of a demotion."""
    _swarm, w1 = three_nodes
    client = make(engine)
    with_clock(client)
    client.leader_wait = 10
    lost = "rpc error: code = Unknown desc = raft: failed to process the request: node lost leader status"
    engine.fail_next("POST /nodes/{id}/update", ApiFailure(500, lost))
    _result, sent = client.update_node(w1["ID"], lambda spec: {**spec, "Availability": "drain"})
    assert sent["Availability"] == "drain" and w1["Spec"]["Availability"] == "drain"
    assert engine.count("POST /nodes/{id}/update") == 2


def test_no_leader_fails_at_once_without_leader_wait(engine, three_nodes):
    client = make(engine)
    clock = with_clock(client)
    engine.fail_next("GET /nodes", ApiFailure(500, NO_LEADER))
    with pytest.raises(e.NoLeader) as err:
        client.nodes()
    assert isinstance(err.value, e.QuorumError) and "still no leader" not in str(err.value)
    assert engine.count("GET /nodes") == 1 and clock.slept == []


def test_no_leader_gives_up_at_the_deadline_and_says_so(engine, three_nodes):
    client = make(engine)
    clock = with_clock(client)
    client.leader_wait = 3
    engine.fail_next("GET /nodes", *[ApiFailure(500, NO_LEADER)] * 100)
    with pytest.raises(e.NoLeader, match=r"still no leader within 3s"):
        client.nodes()
    assert clock.now <= 3 and sum(clock.slept) == clock.now
    assert 3 < engine.count("GET /nodes") < 100


def test_other_quorum_refusals_are_not_asked_again(engine, three_nodes):
    _swarm, w1 = three_nodes
    client = make(engine)
    clock = with_clock(client)
    client.leader_wait = 10
    engine.fail_next("POST /nodes/{id}/update", ApiFailure(500, "rpc error: code = FailedPrecondition desc = "
                                                                "attempting to demote the last manager of the swarm"))
    with pytest.raises(e.QuorumError) as err:
        client.update_node(w1["ID"], lambda spec: {**spec, "Role": "worker"})
    assert not isinstance(err.value, e.NoLeader) and clock.slept == []


def test_the_leader_wait_is_one_budget_for_all_requests(engine, three_nodes):
    client = make(engine)
    clock = with_clock(client)
    client.leader_wait = 4
    engine.fail_next("GET /nodes", *[ApiFailure(500, NO_LEADER)] * 6)
    client.nodes()
    spent = client.leader_waited
    assert 0 < spent <= 4 and spent == pytest.approx(clock.now)
    engine.fail_next("GET /nodes", *[ApiFailure(500, NO_LEADER)] * 1000)
    with pytest.raises(e.NoLeader):
        client.nodes()
    assert client.leader_waited <= 4 and clock.now <= 4

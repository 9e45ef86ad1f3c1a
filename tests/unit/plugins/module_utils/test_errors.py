"""errors.py: typed errors and the mapping of Engine error texts."""

from __future__ import annotations

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import errors as e

# (status, explanation as dockerd 20.10 sends it, expected class) - texts as dockerd sends them.
CASES = [
    (500, "rpc error: code = Unknown desc = update out of sequence", e.UpdateConflict),
    (503, "Swarm is encrypted and locked. Please unlock it first.", e.SwarmLocked),
    (409, "swarm is not locked", e.InvalidParameter),
    (401, "invalid key provided", e.InvalidParameter),
    (400, "invalid key string", e.InvalidParameter),
    (503, "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state.",
     e.NotAManager),
    (503, "This node is not part of a swarm", e.NotInSwarm),
    (503, "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm.", e.SwarmError),
    (400, "rpc error: code = FailedPrecondition desc = this would result in a loss of quorum", e.QuorumError),
    (400, "rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm",
     e.QuorumError),
    (503, "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers "
          "are online.", e.NoLeader),
    (500, "rpc error: code = Unknown desc = raft: failed to process the request: node lost leader status",
     e.NoLeader),
    (400, "node name \"w1\" is ambiguous and matches 2 nodes", e.AmbiguousNode),
    (500, "rpc error: code = Unknown desc = remote CA does not match fingerprint. Expected: abc", e.WrongSwarm),
    (500, "invalid join token", e.InvalidParameter),
    (400, "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster",
     e.InvalidParameter),
    (503, "Timeout was reached before node joined. The attempt to join the swarm will continue in the background.",
     e.WaitTimeout),
    (404, "node xyz not found", e.NodeNotFound),
    (400, "rpc error: code = FailedPrecondition desc = node abc is not down and can't be removed", e.NodeNotDown),
    (400, "rpc error: code = FailedPrecondition desc = node abc is a cluster manager and is a member of the raft "
          "cluster. It must be demoted to worker before removal", e.NodeIsManager),
    # the Engine's version middleware (20.10, 26.1, 28.5): a request path version outside its range
    (400, "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a "
          "newer version", e.APIVersionError),
    (400, "client version 1.99 is too new. Maximum supported API version is 1.51", e.APIVersionError),
    (500, "something new", e.EngineAPIError),
]


@pytest.mark.parametrize(("status", "text", "cls"), CASES)
def test_from_api_error_maps_engine_texts(status, text, cls):
    err = e.from_api_error(status, text, "POST /x")
    assert err.__class__ is cls
    assert err.status == status
    assert err.explanation == text
    assert err.message == f"POST /x failed ({status}): {text}"


def test_status_restricted_entries_need_their_status():
    # "invalid key" means a wrong unlock key only with 401; otherwise it is a generic error.
    assert e.from_api_error(500, "invalid key provided", "op").__class__ is e.EngineAPIError


def test_error_text_includes_hint_and_result_fields():
    err = e.QuorumError("Leaving breaks quorum.", status=400, explanation="x", extra=1)
    assert str(err) == "Leaving breaks quorum. " + e.QuorumError.hint
    assert err.result() == {"error_type": "QuorumError", "status": 400, "explanation": "x", "extra": 1}
    plain = e.SwarmError("plain")
    assert str(plain) == "plain"
    assert plain.result() == {"error_type": "SwarmError"}


def test_hint_can_be_overridden_per_instance():
    err = e.NotAManager("no", hint="do this")
    assert str(err) == "no do this"
    assert e.NotAManager("no").hint == e.NotAManager.hint


def test_unsupported_option_names_option_and_versions():
    err = e.UnsupportedOption("data_path_port", needed_sdk=None, found_sdk="5.0.3", needed_api="1.40", found_api="1.39")
    assert "Option 'data_path_port' needs Engine API >= 1.40 (found 1.39)." in str(err)
    assert "SDK" not in err.message
    both = e.UnsupportedOption("unlock", needed_sdk="2.7.0", found_sdk="2.6.1", needed_api="1.25", found_api="1.24")
    assert both.message == ("Option 'unlock' needs Docker SDK for Python >= 2.7.0 (found 2.6.1) and "
                            "Engine API >= 1.25 (found 1.24).")
    assert both.result()["needed_sdk"] == "2.7.0"
    assert "upgrade the Engine" in both.hint and "Upgrade the SDK" in both.hint and "api_version" not in both.hint


def test_unsupported_option_with_a_pinned_api_version_says_to_unpin():
    err = e.UnsupportedOption("default_addr_pool", needed_sdk=None, found_sdk="7.1.0", needed_api="1.39",
                              found_api="1.38", pinned=True)
    # the option, the version in use (and where it comes from), the minimum
    assert err.message == ("Option 'default_addr_pool' needs Engine API >= 1.39 (in use: 1.38, pinned by "
                           "api_version).")
    assert err.hint == ("Set api_version to auto (the default; unset DOCKER_API_VERSION too) so that the Engine's own "
                        "API version is used, or to 1.39 or newer, or do not use this option.")
    assert "upgrade the Engine" not in str(err)
    assert err.result()["api_version_pinned"] is True and err.result()["found_api"] == "1.38"


TOO_OLD = ("client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a "
           "newer version")


def test_engine_refusing_an_old_api_version_names_both_versions_and_what_to_do():
    err = e.from_api_error(400, TOO_OLD, "GET /info")
    assert err.__class__ is e.APIVersionError
    assert err.message == f"GET /info failed (400): {TOO_OLD}"
    assert err.hint.startswith("API version 1.23 is older than this Engine's minimum 1.24. Leave api_version at auto")
    assert "or set it to 1.24 or newer" in err.hint and "newer Docker SDK" not in err.hint
    assert "must be upgraded on the managed host" in err.hint
    assert err.result() == {"error_type": "APIVersionError", "status": 400, "explanation": TOO_OLD,
                            "asked_api": "1.23", "engine_min_api": "1.24"}


def test_engine_refusing_a_new_api_version():
    text = "client version 1.52 is too new. Maximum supported API version is 1.41"
    err = e.from_api_error(400, text, "GET /info")
    assert err.__class__ is e.APIVersionError
    assert err.hint.startswith("API version 1.52 is newer than this Engine's maximum 1.41. Leave api_version at auto")
    assert "or set it to 1.41 or older, or upgrade the Engine." in err.hint
    assert err.result()["engine_max_api"] == "1.41" and "engine_min_api" not in err.result()


@pytest.mark.parametrize(
    ("text", "sdk", "asked", "message"),
    [
        # docker-py's InvalidVersion texts (APIClient() below MINIMUM_DOCKER_API_VERSION; a method newer than the
        # pinned version)
        ("API versions below 1.21 are no longer supported by this library.", "5.0.3", "1.12",
         "The Docker SDK for Python 5.0.3 refused API version 1.12: it needs 1.21 or newer (API versions below 1.21 "
         "are no longer supported by this library)."),
        ("API versions below 1.24 are no longer supported by this library.", "7.1.0", "1.23",
         "The Docker SDK for Python 7.1.0 refused API version 1.23: it needs 1.24 or newer (API versions below 1.24 "
         "are no longer supported by this library)."),
        ("get_unlock_key is not available for version < 1.25", "7.1.0", "1.24",
         "The Docker SDK for Python 7.1.0 refused API version 1.24: it needs 1.25 or newer (get_unlock_key is not "
         "available for version < 1.25)."),
    ],
)
def test_sdk_refusing_the_api_version(text, sdk, asked, message):
    err = e.sdk_refused_api_version(text, asked, sdk, "1.24")
    assert err.__class__ is e.APIVersionError and err.status is None
    assert err.message == message
    minimum = message.split("it needs ")[1].split(" ")[0]
    assert err.hint == ("Leave api_version at auto (the default; unset DOCKER_API_VERSION too) to use the Engine's "
                        f"own version, or set it to {minimum} or newer.")
    assert err.result() == {"error_type": "APIVersionError", "asked_api": asked, "sdk_min_api": minimum}


def test_sdk_refusal_with_an_unknown_text_uses_the_sdk_minimum():
    err = e.sdk_refused_api_version("something else", "1.2", None, "1.21")
    assert err.message == "The Docker SDK for Python refused API version 1.2: it needs 1.21 or newer (something else)."
    assert e.sdk_refused_api_version("x", None, None, None).message == "The Docker SDK for Python refused the API " \
        "version (x)."


QUORUM_TEXT = "rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a " \
    "loss of quorum"
LAST_MANAGER = "rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm"
LEAVE_LAST = ("You are attempting to leave the swarm on a node that is participating as a manager. Removing the last "
              "manager erases all current state of the swarm. Use `--force` to ignore this message.")


@pytest.mark.parametrize(
    ("operation", "text", "hint"),
    [
        ("POST /nodes/{id}/update", QUORUM_TEXT, e.QuorumError.DEMOTION_HINT),
        ("POST /nodes/{id}/update", LAST_MANAGER, e.QuorumError.DEMOTION_HINT),
        ("DELETE /nodes/{id}", QUORUM_TEXT, e.QuorumError.DEMOTION_HINT),
        ("POST /swarm/leave", LEAVE_LAST, e.QuorumError.LEAVE_HINT),
        ("GET /nodes", QUORUM_TEXT, e.QuorumError.hint),
    ],
)
def test_quorum_refusals_carry_the_hint_of_the_refused_operation(operation, text, hint):
    err = e.from_api_error(400, text, operation)
    assert err.__class__ is e.QuorumError and err.hint == hint
    assert str(err).endswith(hint)


def test_quorum_hints_per_use():
    demotion = e.QuorumError.demotion("Refusing to demote m3.", status=400)
    assert demotion.hint == e.QuorumError.DEMOTION_HINT and "force does not help" in str(demotion)
    assert "force=true" not in str(demotion)
    assert demotion.result() == {"error_type": "QuorumError", "status": 400}
    leave = e.QuorumError.leave("Leaving would leave 1 of 3.")
    assert "set force=true" in str(leave)
    # the class default must be right for every use: it offers neither force nor "force does not help"
    assert "force" not in e.QuorumError.hint
    # no-leader errors keep their own (recovery) hint whatever the operation
    no_leader = e.from_api_error(503, "The swarm does not have a leader.", "POST /nodes/{id}/update")
    assert "force_new_cluster" in no_leader.hint
    assert isinstance(no_leader, e.NoLeader) and isinstance(no_leader, e.QuorumError)  # caught as a quorum problem


def test_node_removal_refusals_have_hints():
    not_down = e.from_api_error(400, "node x is not down and can't be removed", "DELETE /nodes/{id}")
    assert "hive.swarm.swarm_leave" in str(not_down) and "force=true" in str(not_down)
    manager = e.from_api_error(400, "It must be demoted to worker before removal", "DELETE /nodes/{id}")
    assert manager.result()["error_type"] == "NodeIsManager" and "role=worker" in str(manager)


def test_wait_timeout_keeps_the_last_object_out_of_the_result():
    err = e.WaitTimeout("Timed out.")
    assert err.last is None
    err.last = {"ID": "x"}
    assert err.result() == {"error_type": "WaitTimeout"}
    assert e.WaitTimeout("again").last is None


WRAP = "HTTPSConnectionPool(host='198.18.19.11', port=2376): Max retries exceeded with url: /info (Caused by {})"
HOST = "tcp://198.18.19.11:2376"


@pytest.mark.parametrize(
    ("cause", "client_cert", "tls_hostname", "message", "hint"),
    [
        # texts as docker SDK 5.0.3 / 7.x (urllib3 1.26 / 2.x) report them against dockerd 20.10 --tlsverify
        ("SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate (_ssl.c:992)'))",
         False, None,
         f"The Engine at {HOST} requires a client certificate (it runs with --tlsverify) and refused the connection "
         "without one (SSLV3_ALERT_BAD_CERTIFICATE: sslv3 alert bad certificate).", "Set client_cert and client_key"),
        ("SSLError(SSLError(1, '[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate (_ssl.c:2546)'))",
         True, None, f"The Engine at {HOST} refused the client certificate", "signed by the CA the Engine trusts"),
        ("SSLError(SSLEOFError(8, 'EOF occurred in violation of protocol (_ssl.c:2393)'))", True, None,
         "most likely it did not accept the client certificate", "signed by the CA the Engine trusts"),
        ("SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable "
         "to get local issuer certificate (_ssl.c:992)'))", True, None,
         f"The Engine's certificate at {HOST} could not be verified (CERTIFICATE_VERIFY_FAILED: certificate verify "
         "failed: unable to get local issuer certificate).", "Set ca_path"),
        ("SSLError(CertificateError(\"hostname 'wrong.hive.test' doesn't match either of '198.18.19.11', "
         "'engine.hive.test'\"))", True, "wrong.hive.test",
         f"The Engine's certificate at {HOST} is not valid for wrong.hive.test (hostname 'wrong.hive.test' doesn't "
         "match either of '198.18.19.11', 'engine.hive.test').", "set tls_hostname"),
        ("SSLError(SSLCertVerificationError(1, \"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: IP "
         "address mismatch, certificate is not valid for '198.18.19.11'. (_ssl.c:992)\"))", True, None,
         "is not valid for the host in docker_host (IP address mismatch, certificate is not valid for "
         "'198.18.19.11')", "tls_hostname"),
        ("SSLError(SSLError(1, '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:992)'))", False, None,
         "it does not seem to speak TLS on that port", "TLS port"),
        ("SSLError('something else')", False, None, f"TLS to the Engine at {HOST} failed: ", "Check the TLS options"),
    ],
)
def test_tls_errors_say_which_side_refused(cause, client_cert, tls_hostname, message, hint):
    err = e.from_tls_error(WRAP.format(cause), HOST, client_cert, tls_hostname)
    assert err.__class__ is e.TLSError
    assert message in err.message
    assert hint in err.hint

"""options.py: the common argument spec and the version table (its doc fragment: tests/unit/plugins/test_docs.py)."""

from __future__ import annotations

import re

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import options


def test_common_spec_defaults_and_env_fallbacks():
    spec = options.common_argument_spec()
    assert spec["docker_host"]["default"] == "unix:///run/docker.sock"
    assert spec["docker_host"]["fallback"][1] == ["DOCKER_HOST"]
    assert spec["validate_certs"]["aliases"] == ["tls_verify"]
    assert spec["ca_path"]["aliases"] == ["ca_cert"]
    assert spec["api_version"]["default"] == "auto"
    assert spec["timeout"]["default"] == 60
    # a fresh copy every time: modules may not change each other's spec
    spec["docker_host"]["default"] = "x"
    assert options.common_argument_spec()["docker_host"]["default"] == "unix:///run/docker.sock"


@pytest.mark.parametrize(
    ("name", "api", "sdk"),
    [
        ("swarm", "1.24", "2.0.0"),
        ("autolock", "1.25", None),
        ("external_cas", "1.25", None),
        ("signing_ca_cert", "1.30", None),
        ("ca_force_rotate", "1.30", None),
        ("unlock", "1.25", "2.7.0"),
        ("unlock_key", "1.25", "2.7.0"),
        ("rotate_unlock_key", "1.25", "4.0.0"),
        ("default_addr_pool", "1.39", None),
        ("subnet_size", "1.39", None),
        ("data_path_addr", "1.30", None),
        ("data_path_port", "1.40", None),
        ("availability", "1.28", None),
    ],
)
def test_version_table(name, api, sdk):
    req = options.OPTION_REQUIREMENTS[name]
    assert (req.api, req.sdk) == (api, sdk)


def test_version_table_values_are_versions():
    for req in options.OPTION_REQUIREMENTS.values():
        assert re.fullmatch(r"\d+\.\d+", req.api)
        assert req.sdk is None or re.fullmatch(r"\d+\.\d+\.\d+", req.sdk)
        assert req.what


@pytest.mark.parametrize(
    ("found", "needed", "lt"),
    [("1.41", "1.40", False), ("1.39", "1.40", True), ("1.9", "1.10", True), ("5.0.3", "6.0.0", True),
     ("7.1.0", "6.0.0", False), (None, "1.24", True), ("7.2.0-dev", "7.2.0", False)],
)
def test_version_lt(found, needed, lt):
    assert options.version_lt(found, needed) is lt

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Common connection options (argument spec) and the per-option minimum SDK/API versions.

The option names here and in ``plugins/doc_fragments/swarm.py`` are the same one for one
(a unit test checks it).
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple, Optional

from ansible.module_utils.basic import env_fallback

DEFAULT_DOCKER_HOST = "unix:///run/docker.sock"
DEFAULT_TIMEOUT = 60


def common_argument_spec() -> dict[str, dict[str, Any]]:
    """A fresh copy of the connection options every module accepts."""
    return {
        "docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST, "fallback": (env_fallback, ["DOCKER_HOST"])},
        "tls": {"type": "bool", "default": False, "fallback": (env_fallback, ["DOCKER_TLS"])},
        "validate_certs": {
            "type": "bool",
            "default": False,
            "aliases": ["tls_verify"],
            "fallback": (env_fallback, ["DOCKER_TLS_VERIFY"]),
        },
        "ca_path": {"type": "path", "aliases": ["ca_cert"]},
        "client_cert": {"type": "path"},
        "client_key": {"type": "path", "no_log": False},
        "tls_hostname": {"type": "str", "fallback": (env_fallback, ["DOCKER_TLS_HOSTNAME"])},
        "api_version": {"type": "str", "default": "auto", "fallback": (env_fallback, ["DOCKER_API_VERSION"])},
        "timeout": {"type": "int", "default": DEFAULT_TIMEOUT, "fallback": (env_fallback, ["DOCKER_TIMEOUT"])},
    }


COMMON_REQUIRED_TOGETHER = [["client_cert", "client_key"]]

# Files the Docker CLI reads from the directory in DOCKER_CERT_PATH, per option.
CERT_PATH_FILES = {"ca_path": "ca.pem", "client_cert": "cert.pem", "client_key": "key.pem"}


def tls_files(params: dict[str, Any], environ: Any) -> dict[str, Optional[str]]:
    """ca_path, client_cert and client_key as given, else from the directory in DOCKER_CERT_PATH (ca.pem, cert.pem,
    key.pem: what the Docker CLI reads there); only for the options not given."""
    cert_dir = (environ.get("DOCKER_CERT_PATH") or "").rstrip("/")
    return {name: params.get(name) or (f"{cert_dir}/{file}" if cert_dir else None)
            for name, file in CERT_PATH_FILES.items()}


class Requirement(NamedTuple):
    """Minimum versions for one feature. ``sdk`` None: the request is built by hive.swarm itself,
    so any supported SDK works and only the Engine API version matters."""

    api: str
    sdk: Optional[str]
    what: str


# Per-option minimums (checked against docker-py and moby sources; docs/architecture.md, "Engine facts").
# init and join bodies are posted by SwarmClient itself (docker-py has no `availability`, and
# `data_path_port` only from 6.0), and specs are built as plain dicts (not create_swarm_spec), so
# the SDK version matters only for the calls that go through an SDK method.
OPTION_REQUIREMENTS: dict[str, Requirement] = {
    "swarm": Requirement("1.24", "2.0.0", "swarm mode endpoints (APIClient)"),
    "autolock": Requirement("1.25", None, "EncryptionConfig.AutoLockManagers"),
    "external_cas": Requirement("1.25", None, "CAConfig.ExternalCAs"),
    "signing_ca_cert": Requirement("1.30", None, "CAConfig.SigningCACert"),
    "signing_ca_key": Requirement("1.30", None, "CAConfig.SigningCAKey"),
    "ca_force_rotate": Requirement("1.30", None, "CAConfig.ForceRotate"),
    "rotate_ca": Requirement("1.30", None, "CAConfig.ForceRotate (read, plus one)"),
    "unlock": Requirement("1.25", "2.7.0", "POST /swarm/unlock (APIClient.unlock_swarm)"),
    "unlock_key": Requirement("1.25", "2.7.0", "GET /swarm/unlockkey (APIClient.get_unlock_key)"),
    "rotate_unlock_key": Requirement("1.25", "4.0.0", "update_swarm(rotate_manager_unlock_key=...)"),
    "data_path_addr": Requirement("1.30", None, "InitRequest/JoinRequest.DataPathAddr"),
    "availability": Requirement("1.28", None, "InitRequest/JoinRequest.Availability (Engine 17.04)"),
    "default_addr_pool": Requirement("1.39", None, "InitRequest.DefaultAddrPool"),
    "subnet_size": Requirement("1.39", None, "InitRequest.SubnetSize"),
    "data_path_port": Requirement("1.40", None, "InitRequest.DataPathPort"),
}


def version_tuple(version: Optional[str]) -> tuple[int, ...]:
    """'1.41' -> (1, 41); '7.1.0' -> (7, 1, 0); None/'' -> ()."""
    return tuple(int(part) for part in re.findall(r"\d+", version or "")[:3])


def version_lt(found: Optional[str], needed: str) -> bool:
    return version_tuple(found) < version_tuple(needed)

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of the hive.swarm library code.

Library code raises these; only ``module.run_module`` turns one into ``fail_json``.
Every error carries a message saying what happened and a ``hint`` saying what to do.
``from_api_error`` maps an Engine API error (HTTP status + explanation) to the right class,
using the texts verified against dockerd (listed in docs/architecture.md, "Engine facts").
"""

from __future__ import annotations

import re
from typing import Any, Optional


class SwarmError(Exception):
    """Base class: ``str(err)`` is the user-facing message including the hint."""

    hint = ""

    def __init__(
        self,
        message: str,
        hint: Optional[str] = None,
        status: Optional[int] = None,
        explanation: Optional[str] = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        self.status = status
        self.explanation = explanation
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip() if self.hint else self.message

    def result(self) -> dict[str, Any]:
        """Machine-readable fields added to the failed module result."""
        out: dict[str, Any] = {"error_type": type(self).__name__}
        if self.status is not None:
            out["status"] = self.status
        if self.explanation:
            out["explanation"] = self.explanation
        out.update(self.details)
        return out


class MissingDependency(SwarmError):
    """The Docker SDK for Python cannot be imported on the managed host."""


class EngineUnreachable(SwarmError):
    hint = "Check that dockerd runs and that docker_host (and the TLS options) point at it."


class TLSError(SwarmError):
    """The TLS connection to the Engine failed: a certificate check on either side, or TLS on one side only."""

    hint = (
        "Check the TLS options: validate_certs with ca_path (the CA that signed the Engine's certificate), "
        "client_cert and client_key (a certificate signed by the CA the Engine trusts), tls_hostname."
    )


class EngineAPIError(SwarmError):
    """An Engine error that has no more specific class."""


class UnsupportedOption(SwarmError):
    """The Docker SDK for Python or the Engine API is too old for an option that was used. ``pinned``: the API
    version in use is the user's ``api_version`` (or DOCKER_API_VERSION), not the Engine's own."""

    def __init__(
        self,
        option: str,
        needed_sdk: Optional[str],
        found_sdk: Optional[str],
        needed_api: Optional[str],
        found_api: Optional[str],
        pinned: bool = False,
    ) -> None:
        parts = []
        todo = []
        if needed_sdk:
            parts.append(f"Docker SDK for Python >= {needed_sdk} (found {found_sdk})")
            todo.append("upgrade the SDK on the managed host (or point ansible_python_interpreter at a Python "
                        "that has a newer 'docker' package)")
        if needed_api and pinned:
            parts.append(f"Engine API >= {needed_api} (in use: {found_api}, pinned by api_version)")
            todo.append(f"set api_version to auto (the default; unset DOCKER_API_VERSION too) so that the Engine's "
                        f"own API version is used, or to {needed_api} or newer")
        elif needed_api:
            parts.append(f"Engine API >= {needed_api} (found {found_api})")
            todo.append("upgrade the Engine")
        todo.append("do not use this option")
        hint = ", or ".join(todo) + "."
        super().__init__(
            f"Option '{option}' needs {' and '.join(parts)}.",
            hint=hint[0].upper() + hint[1:],
            option=option,
            needed_sdk=needed_sdk,
            found_sdk=found_sdk,
            needed_api=needed_api,
            found_api=found_api,
            api_version_pinned=pinned,
        )


class APIVersionError(SwarmError):
    """The client and the Engine (or the Docker SDK for Python) cannot agree on an API version: a pinned
    ``api_version`` below the Engine's minimum or above its maximum, or below the SDK's own minimum.
    ``from_api_error`` builds it from the Engine's refusal, ``sdk_refused_api_version`` from the SDK's."""

    AUTO = "Leave api_version at auto (the default; unset DOCKER_API_VERSION too) to use the Engine's own version"

    @classmethod
    def too_old_hint(cls, asked: str, minimum: str) -> str:
        return (f"API version {asked} is older than this Engine's minimum {minimum}. {cls.AUTO}, or set it to "
                f"{minimum} or newer; a Docker SDK for Python that cannot use {minimum} or newer must be upgraded "
                "on the managed host.")

    @classmethod
    def too_new_hint(cls, asked: str, maximum: str) -> str:
        return (f"API version {asked} is newer than this Engine's maximum {maximum}. {cls.AUTO}, or set it to "
                f"{maximum} or older, or upgrade the Engine.")


def sdk_refused_api_version(text: str, asked: Optional[str], sdk_version: Optional[str],
                            sdk_minimum: Optional[str]) -> APIVersionError:
    """The typed error for docker-py's ``InvalidVersion``, raised before any request: an API version below the
    SDK's own minimum (``MINIMUM_DOCKER_API_VERSION``: 1.21 in docker 5.x, 1.24 in 7.x), or an SDK method the
    pinned version does not have ("... is not available for version < 1.25")."""
    text = text.strip()
    found = _SDK_BELOW_RE.search(text) or _SDK_METHOD_RE.search(text)
    minimum = found.group(1) if found else sdk_minimum
    sdk = "The Docker SDK for Python" + (f" {sdk_version}" if sdk_version else "")
    message = f"{sdk} refused API version {asked}" if asked else f"{sdk} refused the API version"
    if minimum:
        message += f": it needs {minimum} or newer"
    return APIVersionError(
        f"{message} ({text.rstrip('.')}).",
        hint=APIVersionError.AUTO + (f", or set it to {minimum} or newer." if minimum else "."),
        asked_api=asked,
        sdk_min_api=minimum,
    )


class InvalidParameter(SwarmError):
    """A module option value is wrong (detected by us or rejected by the Engine)."""


class NotInSwarm(SwarmError):
    hint = "Initialise a swarm (hive.swarm.swarm_init) or join one (hive.swarm.swarm_join) first."


class NotAManager(SwarmError):
    hint = "Run this on a manager node (one whose swarm_node_info reports local.control_available)."


class SwarmLocked(SwarmError):
    hint = "Unlock it with the unlock key ('docker swarm unlock' or the unlock playbook) and run again."


class WrongSwarm(SwarmError):
    """The engine is in (or the token/address points to) a different swarm than the one asked for."""


class JoinFailed(SwarmError):
    """Joining did not succeed with any of the remote addresses."""


class QuorumError(SwarmError):
    """A change would cost the manager quorum (or needs one). What helps depends on the change, so the hint is
    chosen per use: ``QuorumError.leave(...)``, ``QuorumError.demotion(...)``; ``from_api_error`` picks it from the
    refused operation. The class hint is the advice that is right for every use."""

    hint = "Add or recover managers first (more than half of the managers must stay reachable)."
    LEAVE_HINT = "Add or recover managers first, or set force=true if you accept losing the manager quorum."
    DEMOTION_HINT = "Add or recover managers first (force does not help: the Engine refuses such a demotion too)."

    @classmethod
    def leave(cls, message: str, **kwargs: Any) -> QuorumError:
        """A manager leaving the swarm (swarm_leave's force overrides the check)."""
        return cls(message, hint=cls.LEAVE_HINT, **kwargs)

    @classmethod
    def demotion(cls, message: str, **kwargs: Any) -> QuorumError:
        """A demotion or removal of a manager (nothing overrides it: the Engine refuses too)."""
        return cls(message, hint=cls.DEMOTION_HINT, **kwargs)

    @classmethod
    def hint_for(cls, operation: str) -> Optional[str]:
        """The hint for an Engine refusal of ``operation`` ('POST /swarm/leave', 'POST /nodes/{id}/update', ...)."""
        if operation.startswith(("POST /nodes/", "DELETE /nodes/")):
            return cls.DEMOTION_HINT
        if operation.startswith("POST /swarm/leave"):
            return cls.LEAVE_HINT
        return None


class NoLeader(QuorumError):
    """The manager asked has no leader at the moment: the managers lost the quorum, or they are electing a leader
    (for a few seconds, up to about a minute after a manager that was cut off came back). A client with a
    ``leader_wait`` asks again until that passes (SwarmClient._call)."""


class NodeNotFound(SwarmError):
    hint = "Address nodes by the ID the host's own /info reports (swarm_node_info local.node_id) or its hostname."


class AmbiguousNode(SwarmError):
    hint = "Several nodes match: address the node by its ID instead of its hostname."


class UpdateConflict(SwarmError):
    hint = "Another client keeps changing the object; run again."


class NodeNotDown(SwarmError):
    """A node to remove is still ready (or unknown): the Engine removes only nodes that are down, unless forced."""

    hint = "Stop its engine or run hive.swarm.swarm_leave on it first, or set force=true to remove it anyway."


class NodeIsManager(SwarmError):
    """A node to remove is still a manager (a raft member); force does not help."""

    hint = "Demote it first (hive.swarm.swarm_node role=worker; state=absent demotes and waits by itself)."


class WaitTimeout(SwarmError):
    """A state was not reached before the deadline. ``last`` is the object as read last (for messages; it is not
    part of the module result)."""

    last: Any = None


class CertificateError(SwarmError):
    """A certificate file could not be read or parsed (module_utils/_swarm/certs.py)."""

    hint = "The node's swarm certificate is under <DockerRootDir>/swarm/certificates; the Engine renews it itself."


# The Engine's refusal of the API version in the request path (moby api/server/middleware/version.go; the same
# text from Engine 20.10 to 28.5, HTTP 400; 28.5 sends it as text/plain to clients that ask for API < 1.24).
_TOO_OLD_RE = re.compile(r"client version (\S+) is too old\. minimum supported api version is ([0-9.]+)",
                         re.IGNORECASE)
_TOO_NEW_RE = re.compile(r"client version (\S+) is too new\. maximum supported api version is ([0-9.]+)",
                         re.IGNORECASE)
# docker-py's InvalidVersion texts
_SDK_BELOW_RE = re.compile(r"api versions below ([0-9.]+) are no longer supported", re.IGNORECASE)
_SDK_METHOD_RE = re.compile(r"is not available for version < ([0-9.]+)", re.IGNORECASE)

# (HTTP status or None for any, lower-case text contained in the explanation, error class, hint or None).
# First match wins. Texts are the Engine's (dockerd 20.10 verified, same wording in current moby).
_API_ERROR_TABLE: tuple[tuple[Optional[int], str, type[SwarmError], Optional[str]], ...] = (
    (None, "update out of sequence", UpdateConflict, None),
    (None, "encrypted and locked", SwarmLocked, None),
    (None, "swarm is locked", SwarmLocked, None),
    (409, "swarm is not locked", InvalidParameter, "The swarm is not locked: nothing to unlock."),
    (401, "invalid key", InvalidParameter, "The unlock key is wrong (after a rotation the old key stops working)."),
    (400, "invalid key string", InvalidParameter, "The unlock key is malformed: it looks like SWMKEY-1-..."),
    (None, "not a swarm manager", NotAManager, None),
    (None, "not part of a swarm", NotInSwarm, None),
    (None, "already part of a swarm", SwarmError, "The engine joined or created a swarm meanwhile; run again."),
    (None, "loss of quorum", QuorumError, None),
    (None, "does not have a leader", NoLeader,
     "More than half of the managers must be up and reachable; recover them, or re-create the swarm from one "
     "manager with swarm_init force_new_cluster=true."),
    # swarmkit's ErrLostLeadership: the leader stepped down while the change was proposed (an election). Asked
    # again like a refusal without a leader; the change may have been applied meanwhile: an update sent again
    # with the version read before is refused as out of sequence and read again, a removal finds no node.
    (None, "lost leader status", NoLeader,
     "The leader changed while the request was in flight; more than half of the managers must be up and "
     "reachable for a new one to stay elected."),
    (None, "last manager", QuorumError, None),
    (None, "ambiguous", AmbiguousNode, None),
    (None, "is not down and can't be removed", NodeNotDown, None),
    (None, "must be demoted to worker before removal", NodeIsManager, None),
    (None, "remote ca does not match fingerprint", WrongSwarm,
     "The join token belongs to another swarm than the manager at this address."),
    (None, "invalid join token", InvalidParameter, "The join token is malformed: it looks like SWMTKN-1-..."),
    (None, "valid join token is necessary", InvalidParameter,
     "The join token was rejected (wrong or rotated token, or a worker/manager mix-up)."),
    (None, "timeout was reached before node joined", WaitTimeout,
     "The manager did not answer in time; the node keeps trying in the background (state pending)."),
    (400, "client sent an http request to an https server", TLSError,
     "The Engine at docker_host expects TLS: set validate_certs=true with ca_path, client_cert and client_key."),
    (404, "", NodeNotFound, None),
)

_SSL_REASON_RE = re.compile(r"\[SSL: ([A-Z0-9_]+)\] ?([^'\"()]*)")
# urllib3's own check (used with tls_hostname) and Python's ssl check_hostname
_HOSTNAME_RE = re.compile(
    r"(hostname '[^']*' doesn't match [^\"()]*[^\"() ]|(?:hostname|ip address) mismatch, certificate is not valid "
    r"for '[^']*')",
    re.IGNORECASE,
)


def from_tls_error(text: str, docker_host: str, client_cert: bool, tls_hostname: Optional[str]) -> TLSError:
    """The typed error for a failed TLS connection; ``text`` is the SSL error as the SDK reports it (the OpenSSL
    reason is picked out of the urllib3/requests wrapping). No secret is involved: certificates are public."""
    match = _SSL_REASON_RE.search(text)
    code = match.group(1) if match else ""
    detail = f"{code}: {match.group(2).strip()}" if match else text.strip()
    host = _HOSTNAME_RE.search(text)
    if host:
        expected = tls_hostname or "the host in docker_host"
        return TLSError(
            f"The Engine's certificate at {docker_host} is not valid for {expected} ({host.group(0)}).",
            hint="Use the name or IP address the certificate was issued for in docker_host, or set tls_hostname "
            "to the name it contains.",
        )
    if code == "CERTIFICATE_VERIFY_FAILED":
        return TLSError(
            f"The Engine's certificate at {docker_host} could not be verified ({detail}).",
            hint="Set ca_path to the CA certificate that signed the Engine's certificate (validate_certs=true "
            "checks the Engine against it).",
        )
    if code in ("SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA",
                "SSLV3_ALERT_CERTIFICATE_UNKNOWN", "TLSV1_ALERT_ACCESS_DENIED", "SSLV3_ALERT_HANDSHAKE_FAILURE"):
        if not client_cert:
            return TLSError(
                f"The Engine at {docker_host} requires a client certificate (it runs with --tlsverify) and refused "
                f"the connection without one ({detail}).",
                hint="Set client_cert and client_key to a certificate signed by the CA the Engine trusts.",
            )
        return TLSError(
            f"The Engine at {docker_host} refused the client certificate ({detail}).",
            hint="client_cert must be signed by the CA the Engine trusts (its --tlscacert) and be valid for client "
            "authentication.",
        )
    if not code and "eof occurred in violation of protocol" in text.lower() and client_cert:
        return TLSError(
            f"The Engine at {docker_host} closed the connection during the TLS handshake; most likely it did not "
            "accept the client certificate.",
            hint="client_cert must be signed by the CA the Engine trusts (its --tlscacert) and be valid for client "
            "authentication.",
        )
    if code in ("WRONG_VERSION_NUMBER", "UNEXPECTED_EOF_WHILE_READING", "RECORD_LAYER_FAILURE", "HTTP_REQUEST"):
        return TLSError(
            f"TLS to the Engine at {docker_host} failed ({detail}): it does not seem to speak TLS on that port.",
            hint="Use the Engine's TLS port (usually 2376), or drop tls/validate_certs for a plain endpoint.",
        )
    return TLSError(f"TLS to the Engine at {docker_host} failed: {detail}")


def from_api_error(status: Optional[int], explanation: Optional[str], operation: str) -> SwarmError:
    """Return the typed error for an Engine error response to ``operation`` (e.g. 'POST /swarm/join')."""
    text = (explanation or "").strip()
    low = text.lower()
    message = f"{operation} failed ({status}): {text}"
    too_old, too_new = _TOO_OLD_RE.search(text), _TOO_NEW_RE.search(text)
    if too_old:
        asked, minimum = too_old.group(1), too_old.group(2).rstrip(".")
        return APIVersionError(message, hint=APIVersionError.too_old_hint(asked, minimum), status=status,
                               explanation=text, asked_api=asked, engine_min_api=minimum)
    if too_new:
        asked, maximum = too_new.group(1), too_new.group(2).rstrip(".")
        return APIVersionError(message, hint=APIVersionError.too_new_hint(asked, maximum), status=status,
                               explanation=text, asked_api=asked, engine_max_api=maximum)
    for want_status, needle, cls, hint in _API_ERROR_TABLE:
        if want_status is not None and want_status != status:
            continue
        if needle and needle not in low:
            continue
        if hint is None and cls is QuorumError:
            hint = QuorumError.hint_for(operation)
        return cls(message, hint=hint, status=status, explanation=text)
    return EngineAPIError(message, status=status, explanation=text)

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SwarmClient: the one object modules use to talk to a Docker Engine's swarm endpoints.

* Builds ``docker.APIClient`` explicitly from the common options (never ``from_env``: docker-py
  7.x follows the CLI context there).
* ``api_version: auto`` costs no extra request: the client starts with a fixed version, the first
  ``GET /info`` goes to the unversioned path and the answer's ``Api-Version`` header becomes the
  client's version (the same value docker-py's own negotiation would get from ``GET /version``).
* Every Engine call goes through ``_call``: it is counted in ``calls`` and SDK/requests errors
  become typed ``SwarmError``s carrying the HTTP status and the Engine's explanation.
* ``POST /swarm/init`` and ``POST /swarm/join`` bodies are built here and posted with the SDK's
  session (docker-py has no ``Availability`` there, and ``DataPathPort`` only from 6.0); all
  other calls use public SDK methods. Tested with docker-py 5.0.3 (Debian 12) and 7.x.
"""

from __future__ import annotations

import copy
import os
import re
import sys
import time
import traceback
import warnings
from typing import Any, Callable, Iterator, Optional

from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import (
    AmbiguousNode,
    EngineUnreachable,
    InvalidParameter,
    NodeNotFound,
    NoLeader,
    NotAManager,
    NotInSwarm,
    SwarmError,
    SwarmLocked,
    UnsupportedOption,
    UpdateConflict,
    WaitTimeout,
    from_api_error,
    from_tls_error,
    sdk_refused_api_version,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.options import (
    DEFAULT_DOCKER_HOST,
    DEFAULT_TIMEOUT,
    OPTION_REQUIREMENTS,
    tls_files,
    version_lt,
)


def _load_stdlib_distutils() -> None:
    """Load the standard library's ``distutils`` with setuptools' distutils shim set aside.

    docker-py before 6.0 (Debian 12's python3-docker 5.0.3) imports ``distutils.spawn`` and
    ``distutils.version``. Where setuptools installs its shim (a ``.pth`` file adding a
    ``sys.meta_path`` finder; Debian's python3-setuptools does), that import loads all of setuptools
    and pkg_resources instead: about 0.13 s of every module call, 40 % of the SDK import. Python up
    to 3.11 still has the standard library's distutils, which has the two functions the SDK uses.
    Nothing is done when distutils is already loaded, when there is no shim, on Python >= 3.12 (no
    stdlib distutils) or when the stdlib copy is missing (Debian's python3-distutils not installed):
    then the SDK's own import goes through the shim as before.
    """
    if sys.version_info >= (3, 12) or "distutils" in sys.modules:
        return
    shims: list[Any] = [finder for finder in sys.meta_path if type(finder).__module__ == "_distutils_hack"]
    if not shims:
        return
    saved = list(sys.meta_path)
    sys.meta_path[:] = [finder for finder in saved if finder not in shims]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            for name in ("distutils.spawn", "distutils.version"):
                __import__(name)
    except ImportError:
        for name in [name for name in sys.modules if name == "distutils" or name.startswith("distutils.")]:
            del sys.modules[name]
    finally:
        sys.meta_path[:] = saved


_load_stdlib_distutils()

try:
    import docker
    import requests
    from docker import constants as docker_constants
    from docker import errors as docker_errors
    from docker.tls import TLSConfig
    from requests.adapters import HTTPAdapter

    HAS_DOCKER = True
    DOCKER_IMPORT_ERROR: Optional[str] = None
    SDK_VERSION: Optional[str] = getattr(docker, "__version__", None)
    # The oldest API version the SDK accepts (docker 5.x: 1.21, 7.x: 1.24); below it APIClient() raises
    # InvalidVersion before any request.
    SDK_MIN_API_VERSION: Optional[str] = getattr(docker_constants, "MINIMUM_DOCKER_API_VERSION", None)
except ImportError as _import_error:
    HAS_DOCKER = False
    DOCKER_IMPORT_ERROR = traceback.format_exc()
    SDK_VERSION = None
    SDK_MIN_API_VERSION = None
    _MISSING_MODULE: Optional[str] = getattr(_import_error, "name", None)
else:
    _MISSING_MODULE = None


def _installed_sdk_version() -> Optional[str]:
    """The installed docker distribution's version, read without importing it (None when not installed)."""
    try:
        from importlib import metadata
    except ImportError:  # pragma: no cover - Python < 3.8
        return None
    try:
        return metadata.version("docker")
    except metadata.PackageNotFoundError:
        return None


def missing_sdk_message(missing: Optional[str] = None, python: Optional[tuple[int, int]] = None,
                        installed: Optional[str] = None) -> tuple[str, str]:
    """(message, hint) for a Docker SDK that cannot be imported. Defaults: this import's missing module, this
    Python, the installed SDK's version. The case named apart: an SDK before 6.0 (Debian 12's python3-docker
    5.0.3) on Python >= 3.12 without setuptools, whose import of ``distutils`` fails."""
    missing = _MISSING_MODULE if missing is None else missing
    python = tuple(sys.version_info[:2]) if python is None else python  # type: ignore[assignment]
    installed = _installed_sdk_version() if installed is None else installed
    where = f"Python {python[0]}.{python[1]} ({sys.executable})"
    if missing and (missing == "distutils" or missing.startswith("distutils.")):
        sdk = f"docker {installed}" if installed else "The installed docker package"
        return (f"The Docker SDK for Python cannot be imported on {where}: {sdk} imports distutils, which Python "
                "3.12 and newer no longer have (Debian 12's python3-docker 5.0.3 is such an SDK).",
                "Install setuptools for that Python (it provides distutils; Debian/Ubuntu: apt-get install "
                "python3-setuptools), or a Docker SDK 6.0 or newer (pip install 'docker>=6', or the distribution's "
                "newer python3-docker).")
    if installed:
        return (f"The Docker SDK for Python (docker {installed}) is installed on {where} but cannot be imported "
                f"(missing module: {missing or '?'}).",
                "Reinstall it with what it needs (pip install --force-reinstall docker requests), or install the "
                "distribution's python3-docker.")
    return (f"The Docker SDK for Python (docker) is not installed on {where}.",
            "On Debian/Ubuntu: apt-get install python3-docker; elsewhere: pip install docker. It must be installed "
            "for the Python that runs the modules (ansible_python_interpreter).")


# Version used to build the APIClient before /info told us the Engine's (never sent when the
# first call is the unversioned /info). docker-py's own minimum.
PLACEHOLDER_API_VERSION = "1.24"
API_VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+$")
UPDATE_ATTEMPTS = 5
# Polls (wait_for, poll_node) sleep POLL_FIRST, then twice as long each time, up to POLL_INTERVAL: what a
# join or an init waits for is usually there within a few hundred milliseconds, a role change may take
# seconds. /info and /nodes/<id> are cheap local reads.
POLL_FIRST = 0.1
POLL_INTERVAL = 0.5
SWARM_STATES = ("inactive", "pending", "active", "error", "locked")


def poll_delays() -> Iterator[float]:
    """POLL_FIRST, doubling, capped at POLL_INTERVAL."""
    delay = POLL_FIRST
    while True:
        yield delay
        delay = min(delay * 2, POLL_INTERVAL)


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def _now() -> float:
    return time.monotonic()


def new_api_client(**kwargs: Any) -> Any:
    """The SDK client constructor (unit tests replace this with a fake)."""
    return docker.APIClient(**kwargs)


def _hostname_adapter(hostname: str) -> Any:
    """A requests adapter that checks the server certificate against ``hostname`` (tls_hostname).
    docker-py 7 dropped TLSConfig(assert_hostname=...), so this works the same on every SDK."""

    class _TLSHostnameAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["assert_hostname"] = hostname
            kwargs["server_hostname"] = hostname
            super().init_poolmanager(*args, **kwargs)

    return _TLSHostnameAdapter()


def _keep_session_verify(api: Any) -> None:
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a session's ``verify`` for every request that
    does not pass its own (docker-py never does): where those variables are set - common on managed hosts - the
    Engine would be checked against the system CAs instead of ca_path, and even validate_certs=false would verify.
    Keep the value docker-py's TLSConfig put on the session (a CA path, or False); only where it is True (no
    ca_path: "the system CAs") may those variables name the bundle."""
    merge = api.merge_environment_settings

    def merged(url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        settings = merge(url, proxies, stream, verify, cert)
        if verify is None and api.verify is not True:
            settings["verify"] = api.verify
        return settings

    api.merge_environment_settings = merged


class SwarmClient:
    """Engine access for one module run. Cheap to create: no request until the first call."""

    def __init__(self, params: dict[str, Any], api_factory: Optional[Callable[..., Any]] = None) -> None:
        self.params = params
        self.docker_host: str = params.get("docker_host") or DEFAULT_DOCKER_HOST
        self.timeout: int = params.get("timeout") or DEFAULT_TIMEOUT
        requested = (params.get("api_version") or "auto").strip()
        self._negotiate = requested.lower() == "auto"
        self.api_version: Optional[str] = None if self._negotiate else requested
        self.sdk_version = SDK_VERSION
        self._factory = api_factory or new_api_client
        self._api: Any = None
        self._info: Optional[dict[str, Any]] = None
        self.calls: list[str] = []
        self.sleep: Callable[[float], None] = _pause
        self.clock: Callable[[], float] = _now
        # Seconds this client's requests that find no leader are asked again, all requests together (0: not at
        # all). The managers elect one within seconds, up to about a minute after a manager that was cut off came
        # back; a module that changes the swarm sets it to its wait_timeout.
        self.leader_wait: float = 0.0
        self.leader_waited: float = 0.0

    # ------------------------------------------------------------------ plumbing
    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = self._build_api()
        return self._api

    def _tls(self) -> Any:
        p = self.params
        if not (p.get("tls") or p.get("validate_certs")):
            return False
        files = tls_files(p, os.environ)
        cert, key = files["client_cert"], files["client_key"]
        verify = bool(p.get("validate_certs"))
        return TLSConfig(
            client_cert=(cert, key) if cert and key else None,
            ca_cert=files["ca_path"],
            verify=verify,
        )

    def _build_api(self) -> Any:
        if self.api_version is not None and not API_VERSION_RE.match(self.api_version):
            raise InvalidParameter(
                f"api_version must be auto or an Engine API version such as 1.41, not {self.api_version!r}.",
                hint="Leave api_version at auto (the default; check DOCKER_API_VERSION too) to use the Engine's own "
                "version.",
            )
        try:
            tls = self._tls()
            api = self._factory(
                base_url=self.docker_host,
                version=self.api_version or PLACEHOLDER_API_VERSION,
                tls=tls,
                timeout=self.timeout,
            )
        except docker_errors.TLSParameterError as err:
            raise InvalidParameter(f"TLS options are not usable: {err}") from None
        except docker_errors.InvalidVersion as err:
            raise sdk_refused_api_version(str(err), self.api_version, self.sdk_version, SDK_MIN_API_VERSION) from None
        except docker_errors.DockerException as err:
            raise InvalidParameter(f"Cannot use docker_host {self.docker_host!r}: {err}") from None
        if tls:
            _keep_session_verify(api)
            if self.params.get("tls_hostname") and self.params.get("validate_certs"):
                api.mount("https://", _hostname_adapter(self.params["tls_hostname"]))
        return api

    def _call(self, operation: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one Engine request, count it, and turn SDK/transport errors into typed errors. A request that
        finds no leader is asked again while the client has spent less than ``leader_wait`` seconds waiting for one
        (the Engine applied nothing: a change without a leader is refused before it is proposed)."""
        delays = poll_delays()
        refused: Optional[float] = None
        while True:
            try:
                result = self._call_once(operation, func, *args, **kwargs)
            except NoLeader as err:
                now = self.clock()
                if refused is not None:  # the pause and the request's own time: a slow Engine does not stretch it
                    self.leader_waited += now - refused
                refused = now
                pause = next(delays)
                if self.leader_waited + pause > self.leader_wait:
                    if self.leader_wait > 0:
                        err.message += f" (still no leader within {self.leader_wait:g}s)"
                    raise
                self.sleep(pause)
                continue
            if refused is not None:
                self.leader_waited += self.clock() - refused
            return result

    def _call_once(self, operation: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.calls.append(operation)
        try:
            return func(*args, **kwargs)
        except docker_errors.APIError as err:
            explanation = err.explanation
            if isinstance(explanation, bytes):
                explanation = explanation.decode("utf-8", "replace")
            raise from_api_error(err.status_code, explanation or str(err), operation) from None
        except requests.exceptions.SSLError as err:
            raise from_tls_error(
                str(err), self.docker_host, bool(self.params.get("client_cert")), self.params.get("tls_hostname")
            ) from None
        except requests.exceptions.Timeout:
            raise EngineUnreachable(
                f"{operation}: the engine at {self.docker_host} did not answer within {self.timeout}s.",
                hint="Check the engine, or raise the timeout option.",
            ) from None
        except requests.exceptions.ConnectionError as err:
            raise EngineUnreachable(f"Cannot connect to the engine at {self.docker_host}: {err}") from None
        except docker_errors.InvalidVersion as err:  # an SDK method newer than the pinned api_version
            raise sdk_refused_api_version(str(err), self.api_version, self.sdk_version, SDK_MIN_API_VERSION) from None
        except docker_errors.DockerException as err:
            raise SwarmError(f"{operation} failed: {err}") from None

    # ------------------------------------------------------------------ /info and local state
    def _get_unversioned_info(self) -> dict[str, Any]:
        api = self.api
        response = api._get(api._url("/info", versioned_api=False))
        data = api._result(response, json=True)
        header = response.headers.get("Api-Version") if response.headers is not None else None
        if header:
            self.api_version = header
        return data

    def info(self, refresh: bool = False) -> dict[str, Any]:
        """GET /info (cached; ``refresh`` re-reads). The first call negotiates the API version."""
        if self._info is not None and not refresh:
            return self._info
        if self._negotiate and self.api_version is None:
            data = self._call("GET /info", self._get_unversioned_info)
            if self.api_version is None:
                version = self._call("GET /version", self.api.version, api_version=False)
                self.api_version = version.get("ApiVersion") or PLACEHOLDER_API_VERSION
            self.api._version = self.api_version
        else:
            data = self._call("GET /info", self.api.info)
        self._info = data
        return data

    @property
    def swarm_info(self) -> dict[str, Any]:
        return self.info().get("Swarm") or {}

    @property
    def local_state(self) -> str:
        """inactive | pending | active | error | locked."""
        return self.swarm_info.get("LocalNodeState") or "inactive"

    @property
    def node_id(self) -> Optional[str]:
        return self.swarm_info.get("NodeID") or None

    @property
    def is_manager(self) -> bool:
        """An active node with the control API (a manager that can answer swarm/node requests)."""
        return self.local_state == "active" and bool(self.swarm_info.get("ControlAvailable"))

    @property
    def cluster(self) -> Optional[dict[str, Any]]:
        """The swarm object (ID, Spec, Version, TLSInfo, ...) from /info: only on managers."""
        return self.swarm_info.get("Cluster") or None

    @property
    def hostname(self) -> Optional[str]:
        return self._info.get("Name") if self._info else None

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str) -> dict[str, Any]:
        """Poll /info until ``predicate(info)`` holds; WaitTimeout after ``timeout`` seconds."""
        deadline = self.clock() + timeout
        delays = poll_delays()
        while True:
            info = self.info(refresh=True)
            if predicate(info):
                return info
            if self.clock() >= deadline:
                swarm = info.get("Swarm") or {}
                raise WaitTimeout(
                    f"Timed out after {timeout:g}s waiting for {what}: the node is "
                    f"{swarm.get('LocalNodeState') or 'inactive'}"
                    + (f" ({swarm.get('Error')})" if swarm.get("Error") else "")
                    + "."
                )
            self.sleep(next(delays))

    # ------------------------------------------------------------------ version gates
    def check_option_support(self, name: str) -> None:
        """Raise UnsupportedOption when the SDK or the Engine API is too old for ``name``."""
        req = OPTION_REQUIREMENTS[name]
        if self.api_version is None:
            self.info()
        api_old = version_lt(self.api_version, req.api)
        sdk_old = req.sdk is not None and version_lt(self.sdk_version, req.sdk)
        if api_old or sdk_old:
            raise UnsupportedOption(
                name,
                needed_sdk=req.sdk if sdk_old else None,
                found_sdk=self.sdk_version,
                needed_api=req.api if api_old else None,
                found_api=self.api_version,
                pinned=not self._negotiate,
            )

    # ------------------------------------------------------------------ swarm
    def require_manager(self, action: str) -> dict[str, Any]:
        """Return the cluster object from /info, or raise why this engine cannot ``action``."""
        state = self.local_state
        if state == "locked":
            raise SwarmLocked(f"Cannot {action}: the swarm on this node is locked.")
        if state != "active":
            raise NotInSwarm(f"Cannot {action}: this engine is not an active swarm node (state {state}).")
        if not self.is_manager or self.cluster is None:
            raise NotAManager(f"Cannot {action}: this engine is a worker node.")
        return self.cluster

    def inspect_swarm(self) -> dict[str, Any]:
        """GET /swarm: the cluster object INCLUDING JoinTokens (a secret: never return it whole)."""
        return self._call("GET /swarm", self.api.inspect_swarm)

    def join_tokens(self) -> dict[str, str]:
        tokens = self.inspect_swarm().get("JoinTokens") or {}
        return {"worker": tokens.get("Worker", ""), "manager": tokens.get("Manager", "")}

    def get_unlock_key(self) -> Optional[str]:
        self.check_option_support("unlock_key")
        data = self._call("GET /swarm/unlockkey", self.api.get_unlock_key)
        return (data or {}).get("UnlockKey") or None

    def unlock(self, key: str) -> None:
        self.check_option_support("unlock")
        self._call("POST /swarm/unlock", self.api.unlock_swarm, key)

    def _post(self, operation: str, path: str, body: dict[str, Any], want_json: bool) -> Any:
        api = self.api

        def post() -> Any:
            response = api._post_json(api._url(path), data=body)
            if want_json:
                return api._result(response, json=True)
            api._raise_for_status(response)
            return None

        return self._call(operation, post)

    def init_swarm(self, body: dict[str, Any]) -> str:
        """POST /swarm/init with an InitRequest body; returns the new node ID."""
        return self._post("POST /swarm/init", "/swarm/init", body, want_json=True)

    def join_swarm(self, body: dict[str, Any]) -> None:
        """POST /swarm/join with a JoinRequest body (the Engine uses only RemoteAddrs[0])."""
        self._post("POST /swarm/join", "/swarm/join", body, want_json=False)

    def leave_swarm(self, force: bool) -> None:
        self._call("POST /swarm/leave", self.api.leave_swarm, force=force)

    def update_swarm(
        self,
        mutate: Callable[[dict[str, Any]], Optional[dict[str, Any]]],
        rotate_worker_token: bool = False,
        rotate_manager_token: bool = False,
        rotate_unlock_key: bool = False,
        current: Optional[dict[str, Any]] = None,
        attempts: int = UPDATE_ATTEMPTS,
    ) -> tuple[dict[str, Any], Optional[dict[str, Any]]]:
        """Read-modify-write of the whole swarm spec with its version, retried on conflicts.

        ``mutate(spec_copy)`` returns the complete new spec, or None for "no spec change".
        ``current`` (a cluster object, e.g. from /info) saves the first read. Returns
        ``(cluster_read, spec_sent)``; ``spec_sent`` is None when nothing was sent.
        """
        rotate = rotate_worker_token or rotate_manager_token or rotate_unlock_key
        if rotate_unlock_key:
            self.check_option_support("rotate_unlock_key")
        kwargs: dict[str, Any] = {
            "rotate_worker_token": rotate_worker_token,
            "rotate_manager_token": rotate_manager_token,
        }
        if rotate_unlock_key:
            kwargs["rotate_manager_unlock_key"] = True
        last: Optional[SwarmError] = None
        for attempt in range(attempts):
            cluster = current if attempt == 0 and current is not None else self._fresh_cluster()
            new_spec = mutate(copy.deepcopy(cluster["Spec"]))
            if new_spec is None and not rotate:
                return cluster, None
            spec = new_spec if new_spec is not None else cluster["Spec"]
            try:
                self._call(
                    "POST /swarm/update",
                    self.api.update_swarm,
                    version=cluster["Version"]["Index"],
                    swarm_spec=spec,
                    **kwargs,
                )
                return cluster, spec
            except UpdateConflict as err:
                last = err
        raise UpdateConflict(f"The swarm spec update was still out of sequence after {attempts} attempts ({last}).")

    def _fresh_cluster(self) -> dict[str, Any]:
        self.info(refresh=True)
        return self.require_manager("read the swarm spec")

    # ------------------------------------------------------------------ nodes
    def nodes(self, filters: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
        """GET /nodes (manager only), optional filters id/name/membership/role."""
        clean = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
        return self._call("GET /nodes", self.api.nodes, filters=clean or None) or []

    def tasks(self, filters: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
        """GET /tasks (manager only), optional filters (node, service, desired-state, ...)."""
        clean = {k: v for k, v in (filters or {}).items() if v not in (None, "", [])}
        return self._call("GET /tasks", self.api.tasks, filters=clean or None) or []

    def services(self) -> list[dict[str, Any]]:
        """GET /services (manager only)."""
        return self._call("GET /services", self.api.services) or []

    def inspect_node(self, node_id: str) -> dict[str, Any]:
        return self._call("GET /nodes/{id}", self.api.inspect_node, node_id)

    def get_node(self, ref: str, nodes: Optional[list[dict[str, Any]]] = None) -> dict[str, Any]:
        """One node by exact ID or by hostname. No match: NodeNotFound; >1 hostname match: AmbiguousNode.
        (The Engine itself also accepts ID prefixes and node names; we do not.)"""
        listed = self.nodes() if nodes is None else nodes
        for node in listed:
            if node.get("ID") == ref:
                return node
        matches = [n for n in listed if (n.get("Description") or {}).get("Hostname") == ref]
        if not matches:
            raise NodeNotFound(f"No node with ID or hostname {ref!r} in this swarm ({len(listed)} nodes).")
        if len(matches) > 1:
            ids = ", ".join(sorted(n.get("ID", "?") for n in matches))
            raise AmbiguousNode(f"Hostname {ref!r} matches {len(matches)} nodes: {ids}.")
        return matches[0]

    def update_node(
        self,
        node_id: str,
        mutate: Callable[[dict[str, Any]], Optional[dict[str, Any]]],
        current: Optional[dict[str, Any]] = None,
        attempts: int = UPDATE_ATTEMPTS,
    ) -> tuple[dict[str, Any], Optional[dict[str, Any]]]:
        """Read-modify-write of a node spec with its version, retried on conflicts.
        Returns ``(node_read, spec_sent)``; ``spec_sent`` None when ``mutate`` returned None."""
        last: Optional[SwarmError] = None
        for attempt in range(attempts):
            node = current if attempt == 0 and current is not None else self.inspect_node(node_id)
            new_spec = mutate(copy.deepcopy(node.get("Spec") or {}))
            if new_spec is None:
                return node, None
            try:
                self._call(
                    "POST /nodes/{id}/update",
                    self.api.update_node,
                    node_id=node["ID"],
                    version=node["Version"]["Index"],
                    node_spec=new_spec,
                )
                return node, new_spec
            except UpdateConflict as err:
                last = err
        raise UpdateConflict(f"The node update was still out of sequence after {attempts} attempts ({last}).")

    def remove_node(self, node_id: str, force: bool = False) -> None:
        self._call("DELETE /nodes/{id}", self.api.remove_node, node_id, force=force)

    def poll_node(
        self,
        node_id: str,
        predicate: Callable[[Optional[dict[str, Any]]], bool],
        timeout: float,
        what: str = "reaches the wanted state",
    ) -> Optional[dict[str, Any]]:
        """Poll GET /nodes/{id} until ``predicate(node)`` holds (``node`` None: the node is gone); at least one
        read. Returns the node as read last. WaitTimeout after ``timeout`` seconds ("... until node <id> <what>
        (it is <status>)"); its ``last`` is the node as read last."""
        deadline = self.clock() + timeout
        delays = poll_delays()
        while True:
            try:
                node: Optional[dict[str, Any]] = self.inspect_node(node_id)
            except NodeNotFound:
                node = None
            if predicate(node):
                return node
            if self.clock() >= deadline:
                err = WaitTimeout(
                    f"Timed out after {timeout:g}s waiting until node {node_id} {what} (it is {describe_node(node)})."
                )
                err.last = node
                raise err
            self.sleep(next(delays))


def describe_node(node: Optional[dict[str, Any]]) -> str:
    """'ready', 'down, manager unreachable', 'gone' (None) - a node's status for messages."""
    if node is None:
        return "gone"
    state = (node.get("Status") or {}).get("State") or "unknown"
    reach = (node.get("ManagerStatus") or {}).get("Reachability")
    return state + (f", manager {reach}" if reach else "")

"""A fake Docker Engine (and swarm) behind a fake ``docker.APIClient``, for the unit tests.

The fake mimics the Engine behaviour and error texts verified on dockerd 20.10 (docs/architecture.md, "Engine facts"):
the JSON shapes of /info, /swarm, /nodes; "update out of sequence" on a stale version; a manager
leave needs force; join errors (invalid token, wrong secret, remote CA mismatch, timeout -> pending);
init merges only non-zero spec values. Every request is recorded in ``FakeEngine.requests``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import json
import os
import re
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlparse

import docker.constants
import docker.errors
import requests
from ansible_collections.hive.swarm.plugins.module_utils._swarm.tokens import digest_base36

_ids = itertools.count(1)


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def new_id(prefix: str = "n") -> str:
    return f"{prefix}{next(_ids):024d}"[:25]


def default_spec() -> dict[str, Any]:
    """The spec dockerd 20.10 gives a new swarm (as GET /swarm returns it)."""
    return {
        "Name": "default",
        "Labels": {},
        "Orchestration": {"TaskHistoryRetentionLimit": 5},
        "Raft": {"SnapshotInterval": 10000, "KeepOldSnapshots": 0, "LogEntriesForSlowFollowers": 500,
                 "ElectionTick": 10, "HeartbeatTick": 1},
        "Dispatcher": {"HeartbeatPeriod": 5000000000},
        "CAConfig": {"NodeCertExpiry": 7776000000000000},
        "TaskDefaults": {},
        "EncryptionConfig": {"AutoLockManagers": False},
    }


def make_pem(seed: str) -> str:
    body = hashlib.sha256(seed.encode()).hexdigest()
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"


def make_token(pem: str, secret: str) -> str:
    secret36 = digest_base36(hashlib.sha256(secret.encode()).hexdigest())[-25:]
    return f"SWMTKN-1-{digest_base36(hashlib.sha256(pem.encode()).hexdigest())}-{secret36}"


NO_LEADER = ("rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers "
             "are online. Make sure more than half of the managers are online.")


class ApiFailure(Exception):
    """Raised inside the fake to produce an HTTP error response."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _merge_nonzero(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict):
            _merge_nonzero(base.setdefault(key, {}), value)
        elif value not in (0, None, "", [], {}) or key == "AutoLockManagers":
            base[key] = value


class FakeSwarm:
    """One swarm: cluster object, tokens, nodes, unlock key."""

    def __init__(self, name: str = "swarm-a", spec: Optional[dict[str, Any]] = None) -> None:
        self.id = new_id("s")
        self.trust_root = make_pem(name)
        self.spec = spec or default_spec()
        self.version = 10
        self.worker_token = make_token(self.trust_root, f"w{name}")
        self.manager_token = make_token(self.trust_root, f"m{name}")
        self.unlock_key = "SWMKEY-1-" + hashlib.sha256(name.encode()).hexdigest()[:43]
        self.nodes: list[dict[str, Any]] = []
        self.manager_addrs: dict[str, str] = {}  # node id -> "ip:2377"
        self.data_path_port = 4789
        self.default_addr_pool = ["10.0.0.0/8"]
        self.subnet_size = 24
        self.has_leader = True
        self.tasks: list[dict[str, Any]] = []  # GET /tasks entries
        self.services: list[dict[str, Any]] = []  # GET /services entries

    def cluster(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Version": {"Index": self.version},
            "CreatedAt": "2026-01-01T00:00:00Z",
            "UpdatedAt": "2026-01-01T00:00:01Z",
            "Spec": copy.deepcopy(self.spec),
            "TLSInfo": self.tls_info(),
            "RootRotationInProgress": False,
            "DefaultAddrPool": list(self.default_addr_pool),
            "SubnetSize": self.subnet_size,
            "DataPathPort": self.data_path_port,
        }

    def tls_info(self) -> dict[str, Any]:
        """The swarm's TLSInfo (the issuer fields are base64 DER in the Engine; here base64 of stand-in bytes)."""
        return {"TrustRoot": self.trust_root,
                "CertIssuerSubject": base64.b64encode(b"subject " + self.trust_root.encode()).decode(),
                "CertIssuerPublicKey": base64.b64encode(b"key " + self.trust_root.encode()).decode()}

    def add_node(self, hostname: str, role: str, addr: str, node_id: Optional[str] = None,
                 availability: str = "active", state: str = "ready", reachability: str = "reachable",
                 leader: bool = False, labels: Optional[dict[str, str]] = None) -> dict[str, Any]:
        node = {
            "ID": node_id or new_id(),
            "Version": {"Index": 20},
            "Spec": {"Labels": dict(labels or {}), "Role": role, "Availability": availability},
            "Description": {
                "Hostname": hostname,
                "Resources": {"NanoCPUs": 2000000000, "MemoryBytes": 1 << 31},
                "Engine": {"EngineVersion": "20.10.24+dfsg1"},
                "TLSInfo": self.tls_info(),
            },
            "Status": {"State": state, "Addr": addr},
        }
        if role == "manager":
            node["ManagerStatus"] = {"Leader": leader, "Reachability": reachability, "Addr": f"{addr}:2377"}
            self.manager_addrs[node["ID"]] = f"{addr}:2377"
        self.nodes.append(node)
        return node

    def node(self, node_id: str) -> dict[str, Any]:
        for node in self.nodes:
            if node["ID"] == node_id:
                return node
        raise ApiFailure(404, f"node {node_id} not found")

    def remote_managers(self) -> list[dict[str, str]]:
        return [{"NodeID": i, "Addr": a} for i, a in self.manager_addrs.items()]


class FakeEngine:
    """One Engine. ``network`` maps manager addresses ("ip:2377") to the swarm that answers there."""

    def __init__(self, hostname: str = "node1", addr: str = "10.0.0.11", api_version: str = "1.41",
                 network: Optional[dict[str, FakeSwarm]] = None, docker_root: Optional[str] = None,
                 min_api_version: str = "1.12") -> None:
        self.hostname = hostname
        self.addr = addr
        self.api_version = api_version
        # The oldest API version the Engine accepts in a request path (20.10: 1.12; 26.1 and 28.5: 1.24).
        self.min_api_version = min_api_version
        self.network = network if network is not None else {}
        self.docker_root = docker_root
        self.state = "inactive"
        self.error = ""
        self.node_id: Optional[str] = None
        self.swarm: Optional[FakeSwarm] = None
        self.manager = False
        self.send_api_version_header = True
        self.requests: list[str] = []
        self.bodies: list[tuple[str, Any]] = []
        self.failures: dict[str, list[Any]] = {}  # "POST /swarm/init" -> [ApiFailure | Exception | callable]
        self.after_join_state: Optional[str] = None  # e.g. "pending" to simulate a slow join
        self.pending_polls = 0  # /info calls that still report pending before the join completes
        # a manager that restarted without its peers (e.g. a restored raft) reports pending with ControlAvailable
        self.pending_control = False
        self.clients: list[FakeAPIClient] = []

    # ----------------------------------------------------------- set-up helpers
    def make_manager(self, swarm: Optional[FakeSwarm] = None, leader: bool = True) -> FakeSwarm:
        swarm = swarm or FakeSwarm()
        node = swarm.add_node(self.hostname, "manager", self.addr, leader=leader)
        self._enter(swarm, node["ID"], manager=True)
        return swarm

    def make_worker(self, swarm: Optional[FakeSwarm] = None) -> FakeSwarm:
        swarm = swarm or FakeSwarm()
        node = swarm.add_node(self.hostname, "worker", self.addr)
        self._enter(swarm, node["ID"], manager=False)
        return swarm

    def _enter(self, swarm: FakeSwarm, node_id: str, manager: bool) -> None:
        self.swarm, self.node_id, self.manager, self.state = swarm, node_id, manager, "active"
        if manager:
            self.network[f"{self.addr}:2377"] = swarm
        if self.docker_root:
            path = os.path.join(self.docker_root, "swarm", "certificates")
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "swarm-root-ca.crt"), "w") as handle:
                handle.write(swarm.trust_root)

    def _clear(self) -> None:
        self.state, self.node_id, self.manager, self.swarm, self.error = "inactive", None, False, None, ""
        if self.docker_root:
            path = os.path.join(self.docker_root, "swarm", "certificates", "swarm-root-ca.crt")
            if os.path.exists(path):
                os.unlink(path)

    def fail_next(self, operation: str, *failures: Any) -> None:
        self.failures.setdefault(operation, []).extend(failures)

    def count(self, prefix: str = "") -> int:
        return sum(1 for r in self.requests if r.startswith(prefix))

    # ----------------------------------------------------------- request handling
    def handle(self, method: str, url: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        parsed = urlparse(url)
        path = re.sub(r"^/v[0-9.]+", "", parsed.path)
        params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        operation = f"{method} {re.sub(r'/nodes/[^/]+', '/nodes/{id}', path)}"
        self.requests.append(operation)
        if body is not None:
            self.bodies.append((operation, copy.deepcopy(body)))
        queued = self.failures.get(operation)
        try:
            self._check_path_version(parsed.path)
            if queued:
                failure = queued.pop(0)
                if callable(failure) and not isinstance(failure, BaseException):
                    failure = failure(self)
                if failure is not None:
                    raise failure
            data = self._route(method, path, params, body)
        except ApiFailure as err:
            return err.status, {"message": err.message}, {"Api-Version": self.api_version}
        headers = {"Api-Version": self.api_version} if self.send_api_version_header else {}
        return 200, data, headers

    def _check_path_version(self, path: str) -> None:
        """The Engine's version middleware (moby api/server/middleware/version.go): HTTP 400 for a request path
        version outside [min_api_version, api_version], texts as Engines 20.10 to 28.5 send them."""
        match = re.match(r"^/v([0-9.]+)/", path)
        if not match:
            return
        asked = match.group(1)
        if _vt(asked) < _vt(self.min_api_version):
            raise ApiFailure(400, f"client version {asked} is too old. Minimum supported API version is "
                                  f"{self.min_api_version}, please upgrade your client to a newer version")
        if _vt(asked) > _vt(self.api_version):
            raise ApiFailure(400, f"client version {asked} is too new. Maximum supported API version is "
                                  f"{self.api_version}")

    def _require_manager(self) -> FakeSwarm:
        if self.state == "locked":
            raise ApiFailure(503, "Swarm is encrypted and locked. Please unlock it first.")
        if self.state != "active" or self.swarm is None:
            raise ApiFailure(503, "This node is not a swarm manager. Use \"docker swarm init\" or "
                                  "\"docker swarm join\" to connect this node to swarm and try again.")
        if not self.manager:
            raise ApiFailure(503, "This node is not a swarm manager. Worker nodes can't be used to view or modify "
                                  "cluster state. Please run this command on a manager node or promote the current "
                                  "node to a manager.")
        if not self.swarm.has_leader:
            raise ApiFailure(500, NO_LEADER)
        return self.swarm

    def info(self) -> dict[str, Any]:
        state = self.state
        if state == "active" and self.pending_polls > 0:
            self.pending_polls -= 1
            state = "pending"
        swarm: dict[str, Any] = {
            "NodeID": self.node_id or "",
            "NodeAddr": self.addr if self.state != "inactive" else "",
            "LocalNodeState": state,
            "ControlAvailable": (self.manager and state == "active") or (state == "pending" and self.pending_control),
            "Error": self.error,
            "RemoteManagers": self.swarm.remote_managers() if self.swarm and state == "active" else None,
        }
        if self.manager and state == "active" and self.swarm is not None and not self.swarm.has_leader:
            # dockerd 20.10 after quorum loss: still active + ControlAvailable, an empty Cluster, the Error
            swarm["Error"] = self.error or NO_LEADER
            swarm["Cluster"] = {"ID": "", "Version": {}, "CreatedAt": "0001-01-01T00:00:00Z", "Spec": {}}
        elif self.manager and state == "active" and self.swarm is not None:
            swarm["Cluster"] = self.swarm.cluster()
            swarm["Nodes"] = len(self.swarm.nodes)
            swarm["Managers"] = len(self.swarm.manager_addrs)
        return {
            "Name": self.hostname,
            "ServerVersion": "20.10.24+dfsg1",
            "DockerRootDir": self.docker_root or "/var/lib/docker",
            "Swarm": swarm,
        }

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> Any:
        if (method, path) == ("GET", "/info"):
            return self.info()
        if (method, path) == ("GET", "/version"):
            return {"ApiVersion": self.api_version, "Version": "20.10.24"}
        if (method, path) == ("GET", "/swarm"):
            swarm = self._require_manager()
            return {**swarm.cluster(), "JoinTokens": {"Worker": swarm.worker_token, "Manager": swarm.manager_token}}
        if (method, path) == ("POST", "/swarm/init"):
            return self._init(body)
        if (method, path) == ("POST", "/swarm/join"):
            return self._join(body)
        if (method, path) == ("POST", "/swarm/leave"):
            return self._leave(params.get("force") in ("True", "true", "1"))
        if (method, path) == ("POST", "/swarm/update"):
            return self._update_swarm(params, body)
        if (method, path) == ("GET", "/swarm/unlockkey"):
            swarm = self._require_manager()
            return {"UnlockKey": swarm.unlock_key if swarm.spec["EncryptionConfig"]["AutoLockManagers"] else ""}
        if (method, path) == ("POST", "/swarm/unlock"):
            if self.state != "locked":
                raise ApiFailure(409, "swarm is not locked")
            if body.get("UnlockKey") != (self.swarm.unlock_key if self.swarm else None):
                raise ApiFailure(401, "invalid key provided")
            self.state = "active"
            return None
        if (method, path) == ("GET", "/nodes"):
            swarm = self._require_manager()
            filters = json.loads(params.get("filters", "{}"))
            nodes = swarm.nodes
            if "role" in filters:
                nodes = [n for n in nodes if n["Spec"]["Role"] in filters["role"]]
            if "id" in filters:
                nodes = [n for n in nodes if any(n["ID"].startswith(i) for i in filters["id"])]
            if "name" in filters:
                nodes = [n for n in nodes if any(n["Description"]["Hostname"].startswith(i) for i in filters["name"])]
            return copy.deepcopy(nodes)
        if (method, path) == ("GET", "/tasks"):
            swarm = self._require_manager()
            filters = json.loads(params.get("filters", "{}"))
            tasks = swarm.tasks
            if "node" in filters:
                tasks = [t for t in tasks if t.get("NodeID") in filters["node"]]
            if "desired-state" in filters:
                tasks = [t for t in tasks if t.get("DesiredState") in filters["desired-state"]]
            return copy.deepcopy(tasks)
        if (method, path) == ("GET", "/services"):
            return copy.deepcopy(self._require_manager().services)
        match = re.fullmatch(r"/nodes/([^/]+)(/update)?", path)
        if match:
            swarm = self._require_manager()
            node = swarm.node(match.group(1))
            if method == "GET":
                return copy.deepcopy(node)
            if method == "DELETE":
                swarm.nodes.remove(node)
                return None
            if int(params["version"]) != node["Version"]["Index"]:
                raise ApiFailure(500, "rpc error: code = Unknown desc = update out of sequence")
            node["Spec"] = copy.deepcopy(body)
            node["Version"]["Index"] += 1
            return None
        raise AssertionError(f"fake engine: unexpected request {method} {path}")

    def _init(self, body: dict[str, Any]) -> str:
        if self.state != "inactive" and not body.get("ForceNewCluster"):
            raise ApiFailure(503, "This node is already part of a swarm. Use \"docker swarm leave\" to leave this "
                                  "swarm and join another one.")
        if body.get("ForceNewCluster") and self.swarm is not None:
            swarm = self.swarm
            swarm.manager_addrs = {self.node_id: f"{self.addr}:2377"}
            swarm.has_leader = True
            self.error = ""
            self.state, self.pending_control = "active", False
            return self.node_id
        spec = default_spec()
        _merge_nonzero(spec, body.get("Spec") or {})
        swarm = FakeSwarm(name=f"init-{self.hostname}", spec=spec)
        if body.get("DataPathPort"):
            swarm.data_path_port = body["DataPathPort"]
        if body.get("DefaultAddrPool"):
            swarm.default_addr_pool = body["DefaultAddrPool"]
        if body.get("SubnetSize"):
            swarm.subnet_size = body["SubnetSize"]
        node = swarm.add_node(self.hostname, "manager", self.addr, leader=True,
                              availability=body.get("Availability") or "active")
        self._enter(swarm, node["ID"], manager=True)
        return node["ID"]

    def _join(self, body: dict[str, Any]) -> None:
        if self.state != "inactive":
            raise ApiFailure(503, "This node is already part of a swarm. Use \"docker swarm leave\" to leave this "
                                  "swarm and join another one.")
        token = body.get("JoinToken") or ""
        if not re.fullmatch(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}", token):
            raise ApiFailure(500, "invalid join token")
        swarm = self.network.get(body["RemoteAddrs"][0])
        if swarm is None:
            self.state = "pending"
            raise ApiFailure(503, "Timeout was reached before node joined. The attempt to join the swarm will "
                                  "continue in the background. Use the \"docker info\" command to see the current "
                                  "swarm status of your node.")
        if token.split("-")[2] != swarm.worker_token.split("-")[2]:
            raise ApiFailure(500, "rpc error: code = Unknown desc = remote CA does not match fingerprint. "
                                  "Expected: 0123")
        if token not in (swarm.worker_token, swarm.manager_token):
            raise ApiFailure(400, "rpc error: code = InvalidArgument desc = A valid join token is necessary to join "
                                  "this cluster")
        role = "manager" if token == swarm.manager_token else "worker"
        node = swarm.add_node(self.hostname, role, body.get("AdvertiseAddr") or self.addr,
                              availability=body.get("Availability") or "active")
        self._enter(swarm, node["ID"], manager=role == "manager")
        if self.after_join_state:
            self.state = self.after_join_state

    def _leave(self, force: bool) -> None:
        if self.state == "inactive":
            raise ApiFailure(503, "This node is not part of a swarm")
        if self.state == "locked" and not force:
            raise ApiFailure(503, "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore "
                                  "this message.")
        if self.manager and not force:
            raise ApiFailure(503, "You are attempting to leave the swarm on a node that is participating as a "
                                  "manager. Use `--force` to suppress this message.")
        if self.swarm is not None and self.node_id:
            for node in self.swarm.nodes:
                if node["ID"] == self.node_id:
                    node["Status"]["State"] = "down"
                    if node.get("ManagerStatus"):
                        node["ManagerStatus"]["Reachability"] = "unreachable"
            self.swarm.manager_addrs.pop(self.node_id, None)
        self._clear()

    def _update_swarm(self, params: dict[str, str], body: Any) -> None:
        swarm = self._require_manager()
        if int(params["version"]) != swarm.version:
            raise ApiFailure(500, "rpc error: code = Unknown desc = update out of sequence")
        swarm.spec = copy.deepcopy(body)
        swarm.version += 1
        if params.get("rotateWorkerToken") in ("True", "true"):
            swarm.worker_token = make_token(swarm.trust_root, f"w{swarm.version}")
        if params.get("rotateManagerToken") in ("True", "true"):
            swarm.manager_token = make_token(swarm.trust_root, f"m{swarm.version}")
        if params.get("rotateManagerUnlockKey") in ("True", "true"):
            swarm.unlock_key = "SWMKEY-1-" + hashlib.sha256(str(swarm.version).encode()).hexdigest()[:43]


class FakeResponse:
    def __init__(self, status: int, data: Any, headers: dict[str, str]) -> None:
        self.status_code = status
        self.data = data
        self.headers = headers


def api_error(status: int, message: str) -> docker.errors.APIError:
    """What docker-py raises for an HTTP error response."""
    response = requests.models.Response()
    response.status_code = status
    response._content = json.dumps({"message": message}).encode()
    cls = docker.errors.NotFound if status == 404 else docker.errors.APIError
    return cls(f"{status} Server Error", response=response, explanation=message)


class FakeAPIClient:
    """The subset of docker.APIClient that SwarmClient uses, backed by a FakeEngine. Like docker-py it refuses an
    API version below its own minimum (``MIN_API_VERSION``: the installed SDK's) before any request."""

    MIN_API_VERSION = docker.constants.MINIMUM_DOCKER_API_VERSION

    def __init__(self, engine: FakeEngine, **kwargs: Any) -> None:
        version = kwargs.get("version")
        if version and _vt(version) < _vt(self.MIN_API_VERSION):
            raise docker.errors.InvalidVersion(
                f"API versions below {self.MIN_API_VERSION} are no longer supported by this library.")
        self.engine = engine
        self.kwargs = kwargs
        self._version = version
        self.mounts: dict[str, Any] = {}
        engine.clients.append(self)

    # transport-level (used for the unversioned /info and init/join bodies)
    def mount(self, prefix: str, adapter: Any) -> None:
        self.mounts[prefix] = adapter

    verify: Any = True

    def merge_environment_settings(self, url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        """As requests.Session does it: the CA bundle variables replace the session's verify."""
        if verify is None:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or self.verify
        return {"proxies": proxies, "stream": stream, "verify": verify, "cert": cert}

    def _url(self, pathfmt: str, *args: str, versioned_api: bool = True) -> str:
        path = pathfmt.format(*args) if args else pathfmt
        return f"http+docker://localhost/v{self._version}{path}" if versioned_api else f"http+docker://localhost{path}"

    def _get(self, url: str, **kwargs: Any) -> FakeResponse:
        return FakeResponse(*self.engine.handle("GET", url))

    def _post_json(self, url: str, data: Any, **kwargs: Any) -> FakeResponse:
        clean = {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data
        return FakeResponse(*self.engine.handle("POST", url, clean))

    def _raise_for_status(self, response: FakeResponse) -> None:
        if response.status_code >= 400:
            raise api_error(response.status_code, (response.data or {}).get("message", ""))

    def _result(self, response: FakeResponse, json: bool = False) -> Any:
        self._raise_for_status(response)
        return response.data

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        response = FakeResponse(*self.engine.handle(method, self._url(path), body))
        return self._result(response, True)

    # public SDK methods
    def info(self) -> Any:
        return self._call("GET", "/info")

    def version(self, api_version: bool = True) -> Any:
        return self._result(FakeResponse(*self.engine.handle("GET", self._url("/version", versioned_api=api_version))))

    def inspect_swarm(self) -> Any:
        return self._call("GET", "/swarm")

    def get_unlock_key(self) -> Any:
        return self._call("GET", "/swarm/unlockkey")

    def unlock_swarm(self, key: str) -> bool:
        self._call("POST", "/swarm/unlock", {"UnlockKey": key})
        return True

    def leave_swarm(self, force: bool = False) -> bool:
        response = FakeResponse(*self.engine.handle("POST", self._url(f"/swarm/leave?force={force}")))
        if force and response.status_code in (406, 503):
            return True  # docker-py ignores these with force
        self._raise_for_status(response)
        return True

    def update_swarm(self, version: int, swarm_spec: Any = None, rotate_worker_token: bool = False,
                     rotate_manager_token: bool = False, rotate_manager_unlock_key: bool = False) -> bool:
        query = f"version={version}&rotateWorkerToken={rotate_worker_token}&rotateManagerToken={rotate_manager_token}"
        if rotate_manager_unlock_key:
            query += "&rotateManagerUnlockKey=True"
        self._call("POST", f"/swarm/update?{query}", swarm_spec)
        return True

    def nodes(self, filters: Optional[dict[str, Any]] = None) -> Any:
        query = ""
        if filters:
            norm = {k: v if isinstance(v, list) else [v] for k, v in filters.items()}
            query = "?filters=" + json.dumps(norm)
        return self._call("GET", f"/nodes{query}")

    def inspect_node(self, node_id: str) -> Any:
        return self._call("GET", f"/nodes/{node_id}")

    def tasks(self, filters: Optional[dict[str, Any]] = None) -> Any:
        query = ""
        if filters:
            norm = {k: v if isinstance(v, list) else [v] for k, v in filters.items()}
            query = "?filters=" + json.dumps(norm)
        return self._call("GET", f"/tasks{query}")

    def services(self, filters: Optional[dict[str, Any]] = None, status: Optional[bool] = None) -> Any:
        return self._call("GET", "/services")

    def update_node(self, node_id: str, version: int, node_spec: Any = None) -> bool:
        self._call("POST", f"/nodes/{node_id}/update?version={version}", node_spec)
        return True

    def remove_node(self, node_id: str, force: bool = False) -> bool:
        self._call("DELETE", f"/nodes/{node_id}?force={force}")
        return True


def factory_for(engine: FakeEngine) -> Callable[..., FakeAPIClient]:
    return lambda **kwargs: FakeAPIClient(engine, **kwargs)

"""hivelab: a real multi-host Docker Swarm lab on one Linux machine (Python 3 stdlib only).

Every lab host is a network + UTS + mount namespace holding its own dockerd (with its own
containerd), its own sshd and its own ``/run`` (so ``/run/docker.sock`` is per host). Hosts sit on
a bridge ``hlbr<N>`` with ``198.18.<N>.1`` on the root side and the hosts on ``198.18.<N>.11+``.
All state lives in ``/var/lib/hive-lab/<NAME>/``; ``down`` removes every trace of a lab.

Importable (``Lab`` class) and a CLI (``lab/hivelab --help``). Needs root, iproute2, util-linux
(nsenter, unshare, setsid), dockerd, sshd and busybox-static.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import http.client
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set

STATE_ROOT = Path(os.environ.get("HIVELAB_ROOT", "/var/lib/hive-lab"))
IMAGE_REPO = "hive/busybox"
IMAGE_TAG = "latest"
IMAGE = f"{IMAGE_REPO}:{IMAGE_TAG}"
NETNS_PREFIX = "hivelab-"
CGROUP_PARENT = "hivelab"
ENV_MARK = "HIVELAB"
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
MAX_HOSTS = 243  # .11 .. .253
SSH_COMMON_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes"
TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DOCKERD = os.environ.get("HIVELAB_DOCKERD") or shutil.which("dockerd", path=TOOL_PATH) or "/usr/sbin/dockerd"
SSHD = shutil.which("sshd", path=TOOL_PATH) or "/usr/sbin/sshd"
BUSYBOX = "/bin/busybox"
# dockerd flags the lab sets itself (per-host paths and isolation): extra engine args may not repeat them.
LAB_DOCKERD_FLAGS = ("--data-root", "--exec-root", "--pidfile", "--config-file", "--cgroup-parent", "--iptables",
                     "--ip6tables", "--bridge", "--storage-driver", "-g", "-p")


class LabError(RuntimeError):
    """A lab operation failed; the message says what and where."""


# --------------------------------------------------------------------------- small helpers


def _run(argv: Sequence[str], *, input_text: Optional[str] = None, check: bool = True,
         timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), input=input_text, capture_output=True, text=True, timeout=timeout,
                          check=False, env=_env())
    if check and proc.returncode != 0:
        raise LabError(f"{shlex.join(argv)} failed (rc={proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc


def _env(mark: Optional[str] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = TOOL_PATH + ":" + env.get("PATH", "")
    env.pop(ENV_MARK, None)
    for var in ("DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"):
        env.pop(var, None)
    if mark:
        env[ENV_MARK] = mark
    return env


def _poll(pred: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Call pred until it returns True or the deadline passes; no fixed sleeps beyond the poll step."""
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_pid(path: Path) -> Optional[int]:
    text = _read(path)
    if text and text.strip().isdigit():
        return int(text.strip())
    return None


def _tail(path: Path, lines: int = 15) -> str:
    text = _read(path) or ""
    return "\n".join(text.splitlines()[-lines:])


def _proc_state(pid: int) -> Optional[str]:
    """Process state letter, or None when the pid does not exist."""
    text = _read(Path(f"/proc/{pid}/stat"))
    if text is None:
        return None
    return text[text.rfind(")") + 2:].split(" ", 1)[0]


def _alive(pid: int) -> bool:
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _ns_inode(path: str) -> Optional[int]:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


# --------------------------------------------------------------------------- engine API over AF_UNIX


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def engine_request(sock_path: str, method: str, url: str, body: Optional[bytes] = None,
                   headers: Optional[Dict[str, str]] = None, timeout: float = 10) -> tuple:
    """One HTTP request to a Docker Engine unix socket. Returns (status, body bytes)."""
    conn = _UnixHTTPConnection(sock_path, timeout)
    try:
        conn.request(method, url, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _engine_ping(sock_path: str, timeout: float = 1.0) -> bool:
    try:
        status, body = engine_request(sock_path, "GET", "/_ping", timeout=timeout)
    except OSError:
        return False
    return status == 200 and body.strip() == b"OK"


# --------------------------------------------------------------------------- busybox image


_ROOTFS_CACHE: Dict[str, bytes] = {}


def busybox_rootfs() -> bytes:
    """A tar of a minimal rootfs: /bin/busybox plus one symlink per applet (built once per process)."""
    if "tar" in _ROOTFS_CACHE:
        return _ROOTFS_CACHE["tar"]
    if not os.access(BUSYBOX, os.X_OK):
        raise LabError(f"{BUSYBOX} not found: apt-get install busybox-static")
    applets = _run([BUSYBOX, "--list-full"]).stdout.split()
    mtime = int(os.stat(BUSYBOX).st_mtime)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp", "root", "var", "proc", "sys",
                "dev", "run"}
        for app in applets:
            parent = os.path.dirname(app)
            while parent:
                dirs.add(parent)
                parent = os.path.dirname(parent)
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755, mtime
            tar.addfile(info)
        with open(BUSYBOX, "rb") as fh:
            info = tar.gettarinfo(fileobj=fh, arcname="bin/busybox")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = mtime
            tar.addfile(info, fh)
        for app in applets:
            if app == "bin/busybox":
                continue
            info = tarfile.TarInfo(app)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, "/bin/busybox", mtime
            tar.addfile(info)
        for name, text in (("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"), ("etc/group", "root:x:0:\n")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, mtime
            tar.addfile(info, io.BytesIO(data))
    _ROOTFS_CACHE["tar"] = buf.getvalue()
    return _ROOTFS_CACHE["tar"]


def _import_image(sock_path: str) -> None:
    status, _body = engine_request(sock_path, "GET", f"/images/{IMAGE}/json", timeout=10)
    if status == 200:
        return
    status, body = engine_request(
        sock_path, "POST", f"/images/create?fromSrc=-&repo={IMAGE_REPO}&tag={IMAGE_TAG}",
        body=busybox_rootfs(), headers={"Content-Type": "application/x-tar"}, timeout=120)
    if status != 200 or b'"error' in body:
        raise LabError(f"image import via {sock_path} failed: HTTP {status} {body[:300]!r}")


# --------------------------------------------------------------------------- process table


@dataclass
class _Proc:
    pid: int
    ppid: int
    state: str
    env: bytes
    cgroup: str
    argv: List[str]
    netns: Optional[int]
    mntns: Optional[int]


def _scan_procs() -> Dict[int, _Proc]:
    procs: Dict[int, _Proc] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        base = f"/proc/{pid}"
        try:
            with open(f"{base}/stat") as fh:
                stat = fh.read()
            with open(f"{base}/environ", "rb") as fh:
                env = fh.read()
            with open(f"{base}/cgroup") as fh:
                cgroup = fh.read()
            with open(f"{base}/cmdline", "rb") as fh:
                argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
        except OSError:
            continue  # vanished or a kernel thread we cannot read
        rest = stat[stat.rfind(")") + 2:].split()
        procs[pid] = _Proc(pid, int(rest[1]), rest[0], env, cgroup, argv,
                           _ns_inode(f"{base}/ns/net"), _ns_inode(f"{base}/ns/mnt"))
    return procs


def _has_mark(proc: _Proc, prefix: str) -> bool:
    needle = f"{ENV_MARK}={prefix}".encode()
    return any(item.startswith(needle) for item in proc.env.split(b"\0"))


def _descendants(procs: Dict[int, _Proc], roots: Set[int]) -> Set[int]:
    children: Dict[int, List[int]] = {}
    for p in procs.values():
        children.setdefault(p.ppid, []).append(p.pid)
    out, todo = set(roots), list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _self_and_ancestors() -> Set[int]:
    out, pid = set(), os.getpid()
    while pid > 1 and pid not in out:
        out.add(pid)
        text = _read(Path(f"/proc/{pid}/stat"))
        if not text:
            break
        pid = int(text[text.rfind(")") + 2:].split()[1])
    out.add(1)
    return out


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _terminate(pids: Set[int], grace: float, what: str, kill_timeout: float = 15) -> None:
    """SIGTERM (or SIGKILL when grace is 0), wait for exit up to grace, escalate to SIGKILL, wait again."""
    pids = {p for p in pids if _alive(p)}
    if not pids:
        return
    if grace > 0:
        _signal_all(pids, signal.SIGTERM)
        if _poll(lambda: not any(_alive(p) for p in pids), grace):
            return
    _signal_all([p for p in pids if _alive(p)], signal.SIGKILL)
    if not _poll(lambda: not any(_alive(p) for p in pids), kill_timeout):
        left = sorted(p for p in pids if _alive(p))
        raise LabError(f"{what}: processes {left} survived SIGKILL")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Host:
    """One lab host. ``name`` is also its hostname and inventory name."""

    lab: str
    name: str
    role: str  # manager | worker
    index: int  # 1-based position in the lab
    ip: str
    veth: str  # root-side interface (cut/heal)
    netns: str
    dir: Path

    @property
    def socket(self) -> Path:
        """The host's /run/docker.sock as seen from the root namespace."""
        return self.dir / "run" / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def data_root(self) -> Path:
        return self.dir / "docker"

    @property
    def holder_pidfile(self) -> Path:
        return self.dir / "holder.pid"

    @property
    def dockerd_pidfile(self) -> Path:
        return self.dir / "run" / "docker.pid"

    @property
    def containerd_pidfile(self) -> Path:
        return self.dir / "run" / "docker" / "containerd" / "containerd.pid"

    @property
    def sshd_pidfile(self) -> Path:
        return self.dir / "run" / "sshd.pid"

    @property
    def engine_args_file(self) -> Path:
        """Extra dockerd arguments of this host (JSON list), kept across stop/start/repair/wipe until changed."""
        return self.dir / "dockerd-extra-args.json"

    @property
    def cgroup(self) -> str:
        return f"/{CGROUP_PARENT}/{self.lab}/{self.name}"

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "role": self.role, "ip": self.ip, "veth": self.veth, "netns": self.netns,
                "socket": str(self.socket), "docker_host": self.docker_host}


def _validate_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise LabError(f"bad lab name {name!r}: use [a-z][a-z0-9-]{{0,19}}")


def _validate_net(net: int) -> None:
    if not 0 <= net <= 255:
        raise LabError(f"bad net {net}: 0..255 (subnet 198.18.<net>.0/24)")


def list_labs(root: Path = STATE_ROOT) -> List[Dict[str, Any]]:
    """Labs that have a state directory under root."""
    out = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        state = d / "lab.json"
        if d.is_dir() and state.is_file():
            try:
                out.append(json.loads(state.read_text()))
            except (OSError, ValueError):
                out.append({"name": d.name, "net": None, "managers": None, "workers": None})
    return out


class Lab:
    """A named lab. ``Lab(name, net).up(managers, workers)``; ``down()`` removes every trace."""

    def __init__(self, name: str = "hive", net: Optional[int] = None, root: Path = STATE_ROOT) -> None:
        _validate_name(name)
        self.name = name
        self.root = Path(root)
        self.dir = self.root / name
        state = self._load_state()
        self.net = net if net is not None else (state["net"] if state else 0)
        _validate_net(self.net)
        self._shape = (state["managers"], state["workers"]) if state and state.get("net") == self.net else None

    # ----- naming
    @property
    def bridge(self) -> str:
        return f"hlbr{self.net}"

    @property
    def gateway(self) -> str:
        return f"198.18.{self.net}.1"

    @property
    def key_path(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def inventory_path(self) -> Path:
        return self.dir / "inventory.yml"

    @property
    def state_path(self) -> Path:
        return self.dir / "lab.json"

    def _alias(self, host: Optional[str] = None) -> str:
        return f"hivelab:{self.name}" + (f":{host}" if host else "")

    def _make_hosts(self, managers: int, workers: int) -> List[Host]:
        hosts = []
        roles = [("manager", f"m{i}") for i in range(1, managers + 1)] + \
                [("worker", f"w{i}") for i in range(1, workers + 1)]
        for idx, (role, short) in enumerate(roles, start=1):
            name = f"{self.name}-{short}"
            hosts.append(Host(self.name, name, role, idx, f"198.18.{self.net}.{10 + idx}", f"hl{self.net}h{idx}",
                              f"{NETNS_PREFIX}{name}", self.dir / "hosts" / name))
        return hosts

    @property
    def hosts(self) -> List[Host]:
        if not self._shape:
            return []
        return self._make_hosts(*self._shape)

    @property
    def managers(self) -> List[Host]:
        return [h for h in self.hosts if h.role == "manager"]

    @property
    def workers(self) -> List[Host]:
        return [h for h in self.hosts if h.role == "worker"]

    def host(self, ref: str | Host) -> Host:
        """Find a host by Host, full name (lab-m1), short name (m1) or IP."""
        if isinstance(ref, Host):
            return ref
        for h in self.hosts:
            if ref in (h.name, h.ip, h.name[len(self.name) + 1:]):
                return h
        raise LabError(f"lab {self.name}: no host {ref!r} (hosts: {', '.join(h.name for h in self.hosts) or 'none'})")

    def exists(self) -> bool:
        return self.state_path.is_file()

    def _load_state(self) -> Optional[Dict[str, Any]]:
        try:
            return json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            return None

    def _save_state(self, managers: int, workers: int) -> None:
        state = {"name": self.name, "net": self.net, "managers": managers, "workers": workers,
                 "subnet": f"198.18.{self.net}.0/24", "bridge": self.bridge}
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_path)

    # ----- process identity
    def _verified_pid(self, host: Host, kind: str) -> Optional[int]:
        """The pid from a pid file, only if it is alive and really that lab process."""
        pidfile = {"holder": host.holder_pidfile, "dockerd": host.dockerd_pidfile,
                   "containerd": host.containerd_pidfile, "sshd": host.sshd_pidfile}[kind]
        pid = _read_pid(pidfile)
        if pid is None or not _alive(pid):
            return None
        procs = _scan_one(pid)
        if procs is None:
            return None
        if kind == "holder":
            ok = _has_mark(procs, f"{self.name}/{host.name}/holder")
        elif kind in ("dockerd", "containerd"):
            ok = _has_mark(procs, f"{self.name}/{host.name}/engine") and bool(procs.argv) and \
                os.path.basename(procs.argv[0]) == kind
        else:
            ok = any(str(host.dir) + "/" in a for a in procs.argv) and bool(procs.argv) and "sshd" in procs.argv[0]
        return pid if ok else None

    def _lab_pids(self, host: Optional[Host] = None) -> Set[int]:
        """Every live process of this lab (or of one host): markers, cgroups, namespaces, descendants."""
        procs = _scan_procs()
        scope = f"{self.name}/{host.name}/" if host else f"{self.name}/"
        cg = f":/{CGROUP_PARENT}/{self.name}/" + (f"{host.name}/" if host else "")
        path = str(host.dir if host else self.dir) + "/"
        netns: Set[int] = set()
        mntns: Set[int] = set()
        for h in [host] if host else self._all_known_hosts():
            ino = _ns_inode(f"/run/netns/{h.netns}")
            if ino:
                netns.add(ino)
            hp = self._verified_pid(h, "holder")
            if hp:
                netns.add(_ns_inode(f"/proc/{hp}/ns/net") or 0)
                mntns.add(_ns_inode(f"/proc/{hp}/ns/mnt") or 0)
        for own in ("/proc/1", "/proc/self"):
            netns.discard(_ns_inode(f"{own}/ns/net"))
            mntns.discard(_ns_inode(f"{own}/ns/mnt"))
        netns.discard(0)
        mntns.discard(0)
        roots = set()
        for p in procs.values():
            if p.state in ("Z", "X"):
                continue
            words = p.argv[0].split() if p.argv else []
            prog = os.path.basename(words[0]) if words else ""
            if (_has_mark(p, scope) or cg in p.cgroup or p.netns in netns or p.mntns in mntns
                    or (prog in ("ssh", "sshd", "sshd:") and any(path in a for a in p.argv))):
                roots.add(p.pid)
        out = _descendants(procs, roots) - _self_and_ancestors()
        return {p for p in out if p in procs and procs[p].state not in ("Z", "X")}

    def pids(self, host: str | Host | None = None) -> Set[int]:
        """Live processes of the lab (or of one host): daemons, holders, containers, SSH sessions."""
        return self._lab_pids(self.host(host) if host is not None else None)

    def image_present(self, host: str | Host) -> bool:
        try:
            status, _body = engine_request(str(self.host(host).socket), "GET", f"/images/{IMAGE}/json", timeout=5)
        except OSError:
            return False
        return status == 200

    def _engine_pids(self, host: Host) -> Set[int]:
        """dockerd, its containerd, shims and the containers of one host (not the holder, not sshd)."""
        procs = _scan_procs()
        cg = f":/{CGROUP_PARENT}/{self.name}/{host.name}/"
        roots = {p.pid for p in procs.values()
                 if _has_mark(p, f"{self.name}/{host.name}/engine") or cg in p.cgroup}
        out = _descendants(procs, roots) - _self_and_ancestors()
        return {p for p in out if p in procs and procs[p].state not in ("Z", "X")}

    def _all_known_hosts(self) -> List[Host]:
        """Hosts from the state file plus any leftover netns / host dirs of this lab name."""
        known = {h.name: h for h in self.hosts}
        pat = re.compile(rf"^{re.escape(NETNS_PREFIX + self.name)}-([mw])(\d+)$")
        names = set()
        try:
            names.update(n[len(NETNS_PREFIX):] for n in os.listdir("/run/netns") if pat.match(n))
        except OSError:
            pass
        if (self.dir / "hosts").is_dir():
            names.update(d.name for d in (self.dir / "hosts").iterdir())
        for n in names:
            if n not in known:
                known[n] = Host(self.name, n, "unknown", 0, "", "", NETNS_PREFIX + n, self.dir / "hosts" / n)
        return list(known.values())

    # ----- health
    def _structure_ok(self, host: Host) -> bool:
        hp = self._verified_pid(host, "holder")
        if not hp:
            return False
        ino = _ns_inode(f"/run/netns/{host.netns}")
        if not ino or ino != _ns_inode(f"/proc/{hp}/ns/net"):
            return False
        master = Path(f"/sys/class/net/{host.veth}/master")
        return master.exists() and os.path.basename(os.readlink(master)) == self.bridge

    def link_up(self, host: str | Host) -> bool:
        h = self.host(host)
        text = _read(Path(f"/sys/class/net/{h.veth}/flags"))
        return bool(text) and bool(int(text.strip(), 16) & 1)

    def engine_up(self, host: str | Host) -> bool:
        return _engine_ping(str(self.host(host).socket))

    def sshd_up(self, host: str | Host) -> bool:
        return self._verified_pid(self.host(host), "sshd") is not None

    def _ssh_banner(self, host: Host, timeout: float = 1.0) -> bool:
        try:
            with socket.create_connection((host.ip, 22), timeout=timeout) as s:
                s.settimeout(timeout)
                return s.recv(8).startswith(b"SSH-")
        except OSError:
            return False

    # ----- up
    def up(self, managers: int = 3, workers: int = 2, timeout: float = 120, log: Callable[[str], None] = print
           ) -> Dict[str, Any]:
        """Bring the lab up (or repair it). Returns a report with timings."""
        if managers < 1 or workers < 0 or managers + workers > MAX_HOSTS:
            raise LabError(f"bad shape: managers={managers} workers={workers} (1+ managers, <= {MAX_HOSTS} hosts)")
        _require_root()
        with _locked(self.root):
            return self._up_locked(managers, workers, timeout, log)

    def _up_locked(self, managers: int, workers: int, timeout: float, log: Callable[[str], None]) -> Dict[str, Any]:
        t0 = time.monotonic()
        state = self._load_state()
        same = bool(state) and state.get("net") == self.net and \
            (state.get("managers"), state.get("workers")) == (managers, workers)
        if same:
            self._shape = (managers, workers)
            if all(self._structure_ok(h) for h in self.hosts):
                repaired = self._repair(timeout)
                self.write_inventory()
                took = time.monotonic() - t0
                log(f"lab {self.name}: already up ({len(self.hosts)} hosts"
                    + (f", repaired {', '.join(repaired)}" if repaired else "") + f") in {took:.1f}s")
                return {"action": "repaired" if repaired else "noop", "seconds": took, "count": len(self.hosts)}
        elif state and any(self._verified_pid(h, "holder") for h in self._all_known_hosts()):
            raise LabError(f"lab {self.name} is up with net {state.get('net')} and shape "
                           f"{state.get('managers')}+{state.get('workers')}; run `down --name {self.name}` first")
        self._check_net_free(managers, workers)
        self._cleanup(quiet=True)
        self._shape = (managers, workers)
        _ensure_neighbour_room(managers + workers, log)
        try:
            report = self._create(timeout, log)
        except BaseException:
            log(f"lab {self.name}: up failed; logs stay in {self.dir}/hosts/*/ until `down`")
            raise
        report["seconds"] = time.monotonic() - t0
        log(f"lab {self.name}: {len(self.hosts)} hosts up in {report['seconds']:.1f}s "
            f"(inventory: {self.inventory_path})")
        return report

    def _check_net_free(self, managers: int, workers: int) -> None:
        for other in list_labs(self.root):
            if other.get("name") != self.name and other.get("net") == self.net:
                raise LabError(f"net {self.net} is used by lab {other['name']}; pick another --net")
        alias = _read(Path(f"/sys/class/net/{self.bridge}/ifalias"))
        if alias is not None and alias.strip() != self._alias():
            raise LabError(f"bridge {self.bridge} exists and is not lab {self.name}'s "
                           f"(alias {alias.strip()!r}); pick another --net")
        for h in self._make_hosts(managers, workers):
            a = _read(Path(f"/sys/class/net/{h.veth}/ifalias"))
            if a is not None and not a.strip().startswith(self._alias()):
                raise LabError(f"interface {h.veth} exists and is not lab {self.name}'s; pick another --net")

    def _create(self, timeout: float, log: Callable[[str], None]) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        t0 = time.monotonic()
        hosts = self.hosts
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self._save_state(*self._shape)  # early: a crash mid-up still leaves a record for down
        for h in hosts:
            (h.dir / "run").mkdir(parents=True, exist_ok=True)
            h.data_root.mkdir(exist_ok=True)
            # Own trust key (the default /etc/docker/key.json would be shared): the engine ID in /info derives
            # from it. It lives in the data root, so `wipe` gives the host a new engine ID like a rebuilt host.
            (h.dir / "daemon.json").write_text(json.dumps({"deprecated-key-path": str(h.data_root / "key.json")})
                                               + "\n")
        _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"hivelab-{self.name}", "-f", str(self.key_path)])
        auth = self.dir / "authorized_keys"
        auth.write_text(self.key_path.with_suffix(".pub").read_text())
        os.chmod(auth, 0o600)
        busybox_rootfs()
        self._create_network(hosts)
        t_net = time.monotonic()
        for h in hosts:
            self._spawn_holder(h)
        pending = list(hosts)
        if not _poll(lambda: not [h for h in pending if not self._verified_pid(h, "holder")],
                     max(1.0, deadline - time.monotonic())):
            bad = [h for h in pending if not self._verified_pid(h, "holder")]
            raise LabError("namespace holders did not start: " + "; ".join(
                f"{h.name}: {_tail(h.dir / 'holder.log', 5)}" for h in bad))
        t_holders = time.monotonic()
        for h in hosts:
            self._spawn_dockerd(h)
        with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
            list(pool.map(self._start_sshd, hosts))
        self._wait_ready(hosts, deadline)
        self.write_inventory()
        t_end = time.monotonic()
        return {"action": "created", "count": len(hosts), "network_s": round(t_net - t0, 2),
                "holders_s": round(t_holders - t_net, 2), "daemons_s": round(t_end - t_holders, 2)}

    def _create_network(self, hosts: List[Host]) -> None:
        lines = [f"link add {self.bridge} type bridge nf_call_iptables 0 nf_call_ip6tables 0 nf_call_arptables 0",
                 f"link set {self.bridge} alias {self._alias()}",
                 f"addr add {self.gateway}/24 dev {self.bridge}",
                 f"link set {self.bridge} up"]
        for h in hosts:
            lines += [f"netns add {h.netns}",
                      f"link add {h.veth} type veth peer name eth0 netns {h.netns}",
                      f"link set {h.veth} master {self.bridge} alias {self._alias(h.name)} up"]
        _run(["ip", "-batch", "-"], input_text="\n".join(lines) + "\n")

        def inner(h: Host) -> None:
            _run(["ip", "-n", h.netns, "-batch", "-"],
                 input_text=f"addr add {h.ip}/24 dev eth0\nlink set eth0 up\nlink set lo up\n")

        with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
            list(pool.map(inner, hosts))

    def _spawn_holder(self, h: Host) -> None:
        h.holder_pidfile.unlink(missing_ok=True)
        # The host's own /root: the machine's dotfiles (a ~/.bashrc that runs `pyenv init`, say) must not
        # run in every SSH session of every lab host; on a real host they would not exist either.
        (h.dir / "home").mkdir(mode=0o700, exist_ok=True)
        d = shlex.quote(str(h.dir))
        script = (
            "set -e\n"
            f"hostname {shlex.quote(h.name)}\n"
            "mount --make-rprivate /\n"
            # drop this namespace's copies of /run/netns/* so it pins no other lab's netns
            "umount -l /run/netns 2>/dev/null || true\n"
            f"mount --bind {d}/run /run\n"
            f"mount --bind {d}/home /root\n"
            "mkdir -p /run/sshd\n"
            f"echo $$ > {d}/holder.pid.tmp\n"
            f"mv {d}/holder.pid.tmp {d}/holder.pid\n"
            "exec sleep infinity\n")
        with open(h.dir / "holder.log", "ab") as logf:
            subprocess.run(["setsid", "-f", "nsenter", f"--net=/run/netns/{h.netns}", "unshare", "--uts", "--mount",
                            "--propagation", "private", "sh", "-c", script],
                           stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, check=True,
                           env=_env(f"{self.name}/{h.name}/holder"), cwd="/")

    def _nsenter(self, h: Host) -> List[str]:
        hp = self._verified_pid(h, "holder")
        if not hp:
            raise LabError(f"{h.name}: namespace holder is not running (run `up` again)")
        return ["nsenter", "-t", str(hp), "--net", "--uts", "--mount", "--"]

    def _dockerd_argv(self, h: Host) -> List[str]:
        return [DOCKERD, "--data-root", str(h.data_root), "--exec-root", "/run/docker",
                "--pidfile", "/run/docker.pid", "-H", "unix:///run/docker.sock",
                "--config-file", str(h.dir / "daemon.json"), "--iptables=false", "--ip6tables=false",
                "--bridge=none", "--storage-driver=vfs", "--cgroup-parent", h.cgroup,
                "--shutdown-timeout", "5", *self.engine_args(h)]

    def engine_args(self, host: str | Host) -> List[str]:
        """The extra dockerd arguments the host's engine is started with ([] = none)."""
        text = _read(self.host(host).engine_args_file)
        if not text:
            return []
        try:
            args = json.loads(text)
        except ValueError as exc:
            raise LabError(f"{self.host(host).engine_args_file}: not JSON ({exc})") from None
        return [str(a) for a in args]

    def _set_engine_args(self, h: Host, extra_args: Sequence[str]) -> None:
        args = [str(a) for a in extra_args]
        for arg in args:
            flag = arg.split("=", 1)[0]
            if flag in LAB_DOCKERD_FLAGS:
                raise LabError(f"{h.name}: extra dockerd argument {arg!r} conflicts with the lab's own {flag}")
        if not args:
            h.engine_args_file.unlink(missing_ok=True)
            return
        tmp = h.engine_args_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(args) + "\n")
        tmp.replace(h.engine_args_file)

    def _spawn_dockerd(self, h: Host) -> None:
        for stale in (h.dockerd_pidfile, h.containerd_pidfile):
            stale.unlink(missing_ok=True)
        argv = self._nsenter(h) + self._dockerd_argv(h)
        with open(h.dir / "dockerd.log", "ab") as logf:
            subprocess.run(["setsid", "-f", *argv], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, check=True,
                           env=_env(f"{self.name}/{h.name}/engine"), cwd="/")

    def _start_sshd(self, h: Host) -> None:
        if self._verified_pid(h, "sshd"):
            return
        h.sshd_pidfile.unlink(missing_ok=True)
        argv = [
            *self._nsenter(h), SSHD, "-E", str(h.dir / "sshd.log"),
            "-o", f"ListenAddress={h.ip}", "-o", "PidFile=/run/sshd.pid",
            "-o", f"AuthorizedKeysFile={self.dir / 'authorized_keys'}",
            "-o", "PermitRootLogin=prohibit-password", "-o", "PasswordAuthentication=no",
            "-o", "KbdInteractiveAuthentication=no", "-o", "PrintMotd=no", "-o", "X11Forwarding=no",
            "-o", "MaxStartups=100:30:200"]
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=_env(), cwd="/",
                              timeout=30, check=False)
        if proc.returncode != 0:
            raise LabError(f"{h.name}: sshd failed (rc={proc.returncode}): {proc.stderr.strip()} "
                           f"{_tail(h.dir / 'sshd.log', 5)}")

    def _wait_ready(self, hosts: List[Host], deadline: float) -> None:
        """Poll every host until sshd answers, dockerd answers /_ping and the busybox image is in."""
        engine_ok: Set[str] = set()
        ssh_ok: Set[str] = set()
        futures = {}
        errors: Dict[str, str] = {}
        with ThreadPoolExecutor(max_workers=min(8, len(hosts))) as pool:
            while True:
                for h in hosts:
                    if h.name not in engine_ok and h.name not in futures and _engine_ping(str(h.socket), 0.5):
                        engine_ok.add(h.name)
                        futures[h.name] = pool.submit(_import_image, str(h.socket))
                    if h.name not in ssh_ok and self._ssh_banner(h, 0.5):
                        ssh_ok.add(h.name)
                done = {n for n, f in futures.items() if f.done()}
                for n in done:
                    exc = futures[n].exception()
                    if exc:
                        errors[n] = str(exc)
                if errors:
                    raise LabError("image import failed: " + "; ".join(f"{n}: {e}" for n, e in errors.items()))
                if len(done) == len(hosts) and len(ssh_ok) == len(hosts):
                    return
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        problems = []
        for h in hosts:
            if h.name not in engine_ok:
                problems.append(f"{h.name}: dockerd not answering; log tail:\n{_tail(h.dir / 'dockerd.log')}")
            elif not futures[h.name].done():
                problems.append(f"{h.name}: image import still running")
            if h.name not in ssh_ok:
                problems.append(f"{h.name}: sshd not answering on {h.ip}:22; {_tail(h.dir / 'sshd.log', 5)}")
        raise LabError("hosts not ready before the deadline:\n" + "\n".join(problems))

    def _repair(self, timeout: float) -> List[str]:
        """Lab structure is fine: restart missing daemons, heal links, import the image where missing."""
        deadline = time.monotonic() + timeout
        repaired = []
        for h in self.hosts:
            fixed = False
            if not self.link_up(h):
                self.heal(h)
                fixed = True
            if not self.engine_up(h):
                if not self._verified_pid(h, "dockerd"):
                    _terminate(self._engine_pids(h), 5, f"{h.name} engine leftovers")
                    self._spawn_dockerd(h)
                fixed = True
            if not self.sshd_up(h):
                self._start_sshd(h)
                fixed = True
            if fixed:
                repaired.append(h.name)
        if repaired:
            self._wait_ready([self.host(n) for n in repaired], deadline)
        return repaired

    # ----- down
    def down(self, log: Callable[[str], None] = print) -> float:
        """Remove every trace of the lab. Returns the seconds it took."""
        _require_root()
        t0 = time.monotonic()
        with _locked(self.root):
            self._cleanup(quiet=False, log=log)
        took = time.monotonic() - t0
        log(f"lab {self.name}: down in {took:.1f}s")
        return took

    def _cleanup(self, quiet: bool = True, log: Callable[[str], None] = print) -> None:
        hosts = self._all_known_hosts()
        # 1. processes: daemons by pid file first, then anything else of the lab (markers, namespaces).
        # The lab's data is deleted anyway, so engines get SIGKILL at once (a graceful swarm-mode dockerd
        # shutdown takes seconds); sshd gets SIGTERM so open SSH sessions end cleanly.
        sshds = {p for p in (self._verified_pid(h, "sshd") for h in hosts) if p}
        engines = {p for p in (self._verified_pid(h, kind) for h in hosts for kind in ("dockerd", "containerd")) if p}
        engines |= {p.pid for p in _scan_procs().values()
                    if f":/{CGROUP_PARENT}/{self.name}/" in p.cgroup and p.state not in ("Z", "X")}
        _terminate(engines, 0, f"lab {self.name} engines")
        _terminate(sshds, 3, f"lab {self.name} sshd")
        for _attempt in range(5):
            rest = self._lab_pids()
            if not rest:
                break
            _terminate(rest, 2, f"lab {self.name} processes")
        else:
            raise LabError(f"lab {self.name}: processes keep appearing: {sorted(self._lab_pids())}")
        # 2. links (veths, bridge) by alias, then network namespaces.
        for ifname in sorted(os.listdir("/sys/class/net")):
            alias = (_read(Path(f"/sys/class/net/{ifname}/ifalias")) or "").strip()
            if alias == self._alias() or alias.startswith(self._alias() + ":"):
                _run(["ip", "link", "del", ifname], check=False)
        for h in hosts:
            if os.path.exists(f"/run/netns/{h.netns}"):
                _run(["ip", "netns", "del", h.netns])
        # 3. mounts left in the root namespace (normally none), cgroups, files.
        self._unmount_leftovers()
        self._remove_cgroups()
        if self.dir.exists():
            _rmtree(self.dir)
        self._shape = None
        if not quiet:
            log(f"lab {self.name}: removed {len(hosts)} hosts")

    def _unmount_leftovers(self) -> None:
        prefixes = (str(self.dir) + "/", f"/run/netns/{NETNS_PREFIX}{self.name}-")
        for _attempt in range(10):
            points = []
            for line in (_read(Path("/proc/self/mounts")) or "").splitlines():
                fields = line.split()
                if len(fields) > 1:
                    point = fields[1].replace("\\040", " ")
                    if point.startswith(prefixes) or point == str(self.dir):
                        points.append(point)
            if not points:
                return
            for point in sorted(points, key=len, reverse=True):
                _run(["umount", "-l", point], check=False)
        raise LabError(f"lab {self.name}: mounts remain: {points}")

    def _remove_cgroups(self) -> None:
        base = Path("/sys/fs/cgroup")
        roots = []
        for ctrl in base.iterdir() if base.is_dir() else []:
            d = ctrl / CGROUP_PARENT / self.name
            if d.is_dir():
                roots.append(d)
        for d in roots:
            for sub in [*sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True), d]:
                _poll(lambda s=sub: _rmdir_ok(s), 5)
            parent = d.parent
            try:
                parent.rmdir()  # only succeeds when no other lab uses it
            except OSError:
                pass

    # ----- per-host operations
    def stop(self, host: str | Host, timeout: float = 30, kill: bool = False) -> None:
        """Stop the host's engine (dockerd, its containerd, containers); the data root stays.

        Graceful (SIGTERM, like ``systemctl stop docker``; running tasks get their stop grace period,
        escalated to SIGKILL after ``timeout``) unless ``kill``: SIGKILL at once, like a power cut.
        """
        h = self.host(host)
        pid = self._verified_pid(h, "dockerd")
        if pid and not kill:
            _terminate({pid}, timeout, f"{h.name} dockerd")
        _terminate(self._engine_pids(h), 0 if kill else 5, f"{h.name} engine processes")
        for stale in (h.dockerd_pidfile, h.containerd_pidfile):
            stale.unlink(missing_ok=True)

    def start(self, host: str | Host, timeout: float = 60, extra_args: Optional[Sequence[str]] = None) -> None:
        """Start the host's engine again with the same data root (same swarm state).

        ``extra_args``: extra dockerd arguments (e.g. ``-H tcp://IP:2376 --tlsverify ...``), kept for this
        host - later starts, ``up`` repairs and ``wipe`` use them too - until replaced; ``[]`` drops them,
        None keeps the current ones. An engine that runs with other extra arguments is restarted.
        """
        h = self.host(host)
        if extra_args is not None and list(extra_args) != self.engine_args(h):
            self._set_engine_args(h, extra_args)
            self.stop(h)
        if self.engine_up(h):
            return
        if not self._verified_pid(h, "dockerd"):
            _terminate(self._engine_pids(h), 5, f"{h.name} engine leftovers")
            self._spawn_dockerd(h)
        if not _poll(lambda: _engine_ping(str(h.socket), 0.5), timeout):
            raise LabError(f"{h.name}: dockerd did not answer within {timeout}s; log tail:\n"
                           f"{_tail(h.dir / 'dockerd.log')}")

    def restart(self, host: str | Host, timeout: float = 60, extra_args: Optional[Sequence[str]] = None) -> None:
        """Stop the host's engine (gracefully) and start it again; ``extra_args`` as in ``start``."""
        h = self.host(host)
        if extra_args is not None:
            self._set_engine_args(h, extra_args)
        self.stop(h)
        self.start(h, timeout)

    def wipe(self, host: str | Host, timeout: float = 60) -> None:
        """Simulate a rebuilt host: stop the engine, delete its data root, start it, re-import the image."""
        h = self.host(host)
        self.stop(h, kill=True)
        if h.data_root.exists():
            _rmtree(h.data_root)
        h.data_root.mkdir()
        self.start(h, timeout)
        _import_image(str(h.socket))

    def cut(self, host: str | Host) -> None:
        """Take the host's link down (root side of its veth): it drops off the bridge."""
        _run(["ip", "link", "set", self.host(host).veth, "down"])

    def heal(self, host: str | Host) -> None:
        _run(["ip", "link", "set", self.host(host).veth, "up"])

    def exec_argv(self, host: str | Host, argv: Sequence[str]) -> List[str]:
        """The argv that runs a command inside the host's namespaces."""
        return self._nsenter(self.host(host)) + list(argv)

    def exec(self, host: str | Host, argv: Sequence[str], *, check: bool = True, timeout: float = 120,
             input_text: Optional[str] = None) -> subprocess.CompletedProcess:
        """Run a command inside the host (net + uts + mount namespaces); captures text output."""
        return _run(self.exec_argv(host, argv), check=check, timeout=timeout, input_text=input_text)

    def docker(self, host: str | Host, *args: str, check: bool = True, timeout: float = 120
               ) -> subprocess.CompletedProcess:
        """The docker CLI against the host's engine socket."""
        search_path = os.environ.get("PATH", "") + ":" + TOOL_PATH
        cli = os.environ.get("HIVELAB_DOCKER_CLI") or shutil.which("docker", path=search_path)
        if not cli:
            raise LabError("docker CLI not found")
        return _run([cli, "-H", self.host(host).docker_host, *args], check=check, timeout=timeout)

    def api(self, host: str | Host, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        """Engine API call over the host's socket; returns parsed JSON (or text); raises on HTTP >= 400."""
        h = self.host(host)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        status, raw = engine_request(str(h.socket), method, path, body=data, headers=headers, timeout=timeout)
        if status >= 400:
            raise LabError(f"{h.name}: {method} {path} -> HTTP {status}: {raw[:300].decode(errors='replace')}")
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def info(self, host: str | Host) -> Dict[str, Any]:
        return self.api(host, "GET", "/info")

    def tcp_probe(self, src: str | Host, ip: str, port: int, timeout: float = 2.0) -> bool:
        """True when a TCP connect from inside host src to ip:port succeeds within timeout."""
        code = ("import socket,sys\ntry:\n socket.create_connection((sys.argv[1], int(sys.argv[2])), "
                "float(sys.argv[3])).close()\nexcept OSError:\n sys.exit(1)\n")
        proc = self.exec(src, ["/usr/bin/python3", "-c", code, ip, str(port), str(timeout)], check=False,
                         timeout=timeout + 20)
        return proc.returncode == 0

    def ssh_argv(self, host: str | Host, *command: str) -> List[str]:
        h = self.host(host)
        return ["ssh", "-i", str(self.key_path), *SSH_COMMON_ARGS.split(), "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=10", f"root@{h.ip}", *command]

    # ----- reporting
    def status(self, info_timeout: float = 3) -> List[Dict[str, Any]]:
        rows = []
        for h in self.hosts:
            engine = self.engine_up(h)
            swarm = "-"
            if engine:
                try:  # a cut-off manager's /info blocks until the engine's own raft timeout: keep it short
                    info = self.api(h, "GET", "/info", timeout=info_timeout)
                    swarm = info.get("Swarm", {}).get("LocalNodeState", "?")
                except socket.timeout:
                    swarm = "timeout"
                except (LabError, OSError):
                    swarm = "?"
            rows.append({"host": h.name, "role": h.role, "ip": h.ip,
                         "holder": bool(self._verified_pid(h, "holder")), "dockerd": engine,
                         "sshd": self.sshd_up(h), "link": "up" if self.link_up(h) else "cut", "swarm": swarm})
        return rows

    def write_inventory(self, path: str | Path | None = None, fmt: str = "yaml",
                        python: str = "/usr/bin/python3") -> Path:
        """Write an Ansible inventory (yaml or ini) for the lab; returns its path."""
        if not self.hosts:
            raise LabError(f"lab {self.name} is not up")
        if fmt not in ("yaml", "ini"):
            raise LabError(f"bad inventory format {fmt!r}")
        out = Path(path) if path else self.dir / ("inventory.yml" if fmt == "yaml" else "inventory.ini")
        text = self._inventory_yaml(python) if fmt == "yaml" else self._inventory_ini(python)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(text)
        tmp.replace(out)
        return out

    def host_vars(self, h: Host, python: str = "/usr/bin/python3") -> Dict[str, str]:
        return {"ansible_host": h.ip, "ansible_user": "root",
                "ansible_ssh_private_key_file": str(self.key_path),
                "ansible_ssh_common_args": SSH_COMMON_ARGS,
                "ansible_python_interpreter": python,
                "docker_swarm_advertise_addr": h.ip}

    def _inventory_yaml(self, python: str) -> str:
        q = json.dumps  # a JSON string is a valid YAML double-quoted scalar
        lines = [f"# hivelab inventory for lab {self.name} (198.18.{self.net}.0/24); generated, do not edit",
                 "all:", "  children:", "    docker_swarm:", "      children:"]
        for group, role in (("docker_swarm_manager", "manager"), ("docker_swarm_worker", "worker")):
            members = [h for h in self.hosts if h.role == role]
            lines.append(f"        {group}:")
            if not members:
                lines.append("          hosts: {}")
                continue
            lines.append("          hosts:")
            for h in members:
                lines.append(f"            {h.name}:")
                lines += [f"              {k}: {q(v)}" for k, v in self.host_vars(h, python).items()]
        return "\n".join(lines) + "\n"

    def _inventory_ini(self, python: str) -> str:
        lines = [f"# hivelab inventory for lab {self.name} (198.18.{self.net}.0/24); generated, do not edit"]
        for group, role in (("docker_swarm_manager", "manager"), ("docker_swarm_worker", "worker")):
            lines.append(f"[{group}]")
            for h in self.hosts:
                if h.role == role:
                    hv = " ".join(f"{k}={shlex.quote(v)}" if " " not in v else f"{k}='{v}'"
                                  for k, v in self.host_vars(h, python).items())
                    lines.append(f"{h.name} {hv}")
            lines.append("")
        lines += ["[docker_swarm:children]", "docker_swarm_manager", "docker_swarm_worker"]
        return "\n".join(lines) + "\n"


def _scan_one(pid: int) -> Optional[_Proc]:
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/stat") as fh:
            stat = fh.read()
        with open(f"{base}/environ", "rb") as fh:
            env = fh.read()
        with open(f"{base}/cmdline", "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return None
    rest = stat[stat.rfind(")") + 2:].split()
    return _Proc(pid, int(rest[1]), rest[0], env, "", argv, None, None)


def _rmdir_ok(path: Path) -> bool:
    try:
        path.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError as exc:
        return exc.errno not in (errno.EBUSY, errno.ENOTEMPTY)


NEIGH_SYSCTL = Path("/proc/sys/net/ipv4/neigh/default")


def _ensure_neighbour_room(hosts: int, log: Callable[[str], None]) -> None:
    """Swarm nodes all talk to each other, so a lab of N hosts holds about N*N ARP entries, counted against
    one kernel-wide limit for every network namespace (gc_thresh3, 1024 by default). Past it the kernel drops
    packets ("neighbour table overflow": joins time out, SSH hangs). Raise the thresholds when they are too
    low for this lab plus the labs already up; never lower them."""
    others = sum(int(lab.get("managers", 0)) + int(lab.get("workers", 0)) for lab in list_labs())
    need = 2 * ((hosts + 1) ** 2 + others * others)
    wanted = {"gc_thresh1": need // 4, "gc_thresh2": need // 2, "gc_thresh3": need}
    raised = []
    for key in ("gc_thresh3", "gc_thresh2", "gc_thresh1"):  # keep thresh1 <= thresh2 <= thresh3
        path = NEIGH_SYSCTL / key
        try:
            current = int(path.read_text())
            if current < wanted[key]:
                path.write_text(f"{wanted[key]}\n")
                raised.append(f"{key} {current} -> {wanted[key]}")
        except (OSError, ValueError):
            continue
    if raised:
        log(f"raised net.ipv4.neigh.default limits for {hosts} hosts: {', '.join(raised)}")


def _rmtree(path: Path) -> None:
    """Remove a tree that may contain root-owned read-only dirs, immutable-free vfs layers, stale mountpoints."""
    def onerror(func: Callable[..., Any], p: str, exc_info: Any) -> None:
        exc = exc_info[1]
        if isinstance(exc, FileNotFoundError):
            return
        if isinstance(exc, OSError) and exc.errno == errno.EBUSY:
            _run(["umount", "-l", p], check=False)
        try:
            os.chmod(os.path.dirname(p), 0o700)
            os.chmod(p, 0o700, follow_symlinks=False)
        except OSError:
            pass
        func(p)

    for _attempt in range(3):
        try:
            if sys.version_info >= (3, 12):
                shutil.rmtree(path, onexc=lambda f, p, e: onerror(f, p, (type(e), e, None)))
            else:
                shutil.rmtree(path, onerror=onerror)
        except OSError:
            pass
        if not os.path.lexists(path):
            return
    _run(["rm", "-rf", "--one-file-system", str(path)])
    if os.path.lexists(path):
        raise LabError(f"could not remove {path}")


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise structural changes (up/down) across processes: one flock on the state root."""
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(root), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("hivelab needs root (network namespaces, mounts, dockerd)")


# --------------------------------------------------------------------------- CLI


def _print_table(rows: List[Dict[str, Any]], columns: Sequence[str]) -> None:
    def cell(v: Any) -> str:
        if isinstance(v, bool):
            return "up" if v else "down"
        return str(v)

    widths = {c: max([len(c)] + [len(cell(r[c])) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        print("  ".join(cell(r[c]).ljust(widths[c]) for c in columns).rstrip())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="hivelab", description="multi-host Docker Swarm lab on one machine")
    sub = p.add_subparsers(dest="cmd", required=True)

    def named(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--name", default=os.environ.get("HIVELAB_NAME", "hive"), help="lab name (default hive)")
        return sp

    up = named(sub.add_parser("up", help="create the lab (or repair it; no-op when healthy)"))
    up.add_argument("--managers", "-m", type=int, default=3)
    up.add_argument("--workers", "-w", type=int, default=2)
    up.add_argument("--net", type=int, default=None, help="subnet 198.18.NET.0/24 (default 0, or the lab's)")
    up.add_argument("--timeout", type=float, default=120)
    up.add_argument("--json", action="store_true", help="print the report as JSON")
    down = named(sub.add_parser("down", help="remove the lab and every trace of it"))
    down.add_argument("--all", action="store_true", help="every lab under " + str(STATE_ROOT))
    named(sub.add_parser("status", help="table of hosts"))
    inv = named(sub.add_parser("inventory", help="write the Ansible inventory and print its path"))
    inv.add_argument("--output", "-o", default=None)
    inv.add_argument("--format", choices=("yaml", "ini"), default="yaml")
    inv.add_argument("--python", default="/usr/bin/python3", help="ansible_python_interpreter for all hosts")
    stop = named(sub.add_parser("stop", help="stop the host's dockerd (SIGTERM; --kill: SIGKILL at once)"))
    stop.add_argument("host")
    stop.add_argument("--kill", action="store_true", help="SIGKILL the engine at once (like a power cut)")
    for cmd, text in (("start", "start the host's dockerd: start HOST [-- DOCKERD_ARGS...]"),
                      ("restart", "stop and start the host's dockerd: restart HOST [-- DOCKERD_ARGS...]")):
        sp = named(sub.add_parser(cmd, help=text, description=(
            "Extra dockerd arguments after -- are kept for the host (later starts, up repairs, wipe) until "
            "replaced; --no-extra-args drops them. An engine running with other extra arguments is restarted.")))
        sp.add_argument("host")
        sp.add_argument("--no-extra-args", action="store_true", help="start without the kept extra arguments")
        sp.add_argument("dockerd_args", nargs=argparse.REMAINDER, help="-- extra dockerd arguments")
    for cmd, text in (("kill", "same as stop --kill"),
                      ("wipe", "stop the engine, delete its data, start it (a rebuilt host)"),
                      ("cut", "take the host's link down"), ("heal", "bring the host's link up"),
                      ("ip", "print the host's IP")):
        sp = named(sub.add_parser(cmd, help=text))
        sp.add_argument("host")
    ex = named(sub.add_parser("exec", help="run a command inside a host: exec HOST -- cmd ..."))
    ex.add_argument("host")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    ssh = named(sub.add_parser("ssh", help="ssh into a host as root with the lab key: ssh HOST [-- cmd ...]"))
    ssh.add_argument("host")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    named(sub.add_parser("hosts", help="hosts as JSON"))
    sub.add_parser("list", help="labs that exist")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "list":
            labs = list_labs()
            for st in labs:
                lab = Lab(st["name"])
                alive = sum(1 for h in lab.hosts if lab._verified_pid(h, "holder"))
                print(f"{st['name']}\tnet={st.get('net')}\tmanagers={st.get('managers')}\t"
                      f"workers={st.get('workers')}\trunning={alive}/{len(lab.hosts)}")
            return 0
        if args.cmd == "down" and args.all:
            for st in list_labs():
                Lab(st["name"]).down()
            return 0
        lab = Lab(args.name, getattr(args, "net", None))
        if args.cmd == "up":
            report = lab.up(args.managers, args.workers, timeout=args.timeout,
                            log=(lambda _m: None) if args.json else print)
            if args.json:
                print(json.dumps({**report, "inventory": str(lab.inventory_path),
                                  "hosts": [h.as_dict() for h in lab.hosts]}, indent=2))
            return 0
        if args.cmd == "down":
            lab.down()
            return 0
        if not lab.exists():
            others = ", ".join(s["name"] for s in list_labs()) or "none"
            raise LabError(f"lab {args.name} does not exist (labs: {others})")
        if args.cmd == "status":
            _print_table(lab.status(), ("host", "role", "ip", "dockerd", "sshd", "link", "swarm"))
        elif args.cmd == "inventory":
            print(lab.write_inventory(args.output, args.format, args.python))
        elif args.cmd == "hosts":
            print(json.dumps([h.as_dict() for h in lab.hosts], indent=2))
        elif args.cmd == "ip":
            print(lab.host(args.host).ip)
        elif args.cmd in ("stop", "kill"):
            lab.stop(args.host, kill=args.cmd == "kill" or args.kill)
        elif args.cmd in ("start", "restart"):
            extra = [a for a in args.dockerd_args if a != "--no-extra-args"]
            clear = args.no_extra_args or extra != args.dockerd_args
            if clear and extra:
                raise LabError("--no-extra-args and extra dockerd arguments exclude each other")
            getattr(lab, args.cmd)(args.host, extra_args=[] if clear else (extra or None))
        elif args.cmd in ("wipe", "cut", "heal"):
            getattr(lab, args.cmd)(args.host)
        elif args.cmd == "ssh":
            cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
            return subprocess.call(lab.ssh_argv(args.host, *cmd))
        elif args.cmd == "exec":
            cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not cmd:
                raise LabError("exec HOST -- command ...")
            return subprocess.call(lab.exec_argv(args.host, cmd), env=_env())
    except LabError as exc:
        print(f"hivelab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

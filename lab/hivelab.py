"""hivelab: a real multi-host Docker Swarm lab on one Linux machine (Python 3 stdlib only).

Every lab host is a network + UTS + mount namespace holding its own dockerd (with its own
containerd), its own sshd and its own ``/run`` (so ``/run/docker.sock`` is per host). Hosts sit on
a bridge ``hlbr<N>`` with ``198.18.<N>.1`` on the root side and the hosts on ``198.18.<N>.11+``.
All state lives in ``/var/lib/hive-lab/<NAME>/``; ``down`` removes every trace of a lab.

Importable (``Lab`` class) and a CLI (``lab/hivelab --help``). Needs root, iproute2, util-linux
(nsenter, unshare, setsid), dockerd, sshd and busybox-static; ``block``/``unblock`` need iptables.
Hosts run the system's dockerd or another Docker Engine version (``ENGINES``), fetched once with apt from the
machine's Debian mirror into ``/var/lib/hive-lab/engines/<version>/`` (apt-get, dpkg-deb).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import hashlib
import http.client
import io
import ipaddress
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
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
IPTABLES = shutil.which("iptables", path=TOOL_PATH) or "/usr/sbin/iptables"
# block/unblock: iptables rules in a host's network namespace carry this comment (unblock-all sweeps them all)
BLOCK_COMMENT = "hivelab-block"
BLOCK_PROTOS = ("tcp", "udp")
BLOCK_CHAINS = {"in": "INPUT", "out": "OUTPUT"}  # in: traffic to the host's port; out: traffic it sends to that port
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


def _env(mark: Optional[str] = None, path_first: Optional[Path] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = (f"{path_first}:" if path_first else "") + TOOL_PATH + ":" + env.get("PATH", "")
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


def _read_json(path: Path) -> Dict[str, Any]:
    text = _read(path)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


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


# --------------------------------------------------------------------------- Docker Engine versions

# Engines a lab host can run, by major.minor: the Debian suite whose docker.io has it and the exact package
# version pinned (checked on this project's Debian 12 machines). The system's own dockerd serves its own
# major.minor ("system"); the others are fetched once from Debian's package registry into the engine cache
# (<state root>/engines/<version>/, shared by all labs, kept by `down`), never installed system-wide. When
# Debian has replaced the pinned package in the suite, the suite's docker.io of the same major.minor is used
# (and recorded in engine.json); any other version is refused.
ENGINES: Dict[str, Dict[str, str]] = {
    "20.10": {"suite": "bookworm", "package": "docker.io", "pin": "20.10.24+dfsg1-1+deb12u1+b6"},
    "26.1": {"suite": "trixie", "package": "docker.io", "pin": "26.1.5+dfsg1-9+deb13u1+b1"},
    "28.5": {"suite": "sid", "package": "docker.io", "pin": "28.5.2+dfsg4-5"},
}
SYSTEM_ENGINE = "system"
ENGINE_DIR = "engines"  # under the state root; also a reserved lab name
# What the cache keeps of the package: dockerd plus its helpers (docker-init comes from the system: Debian's
# docker.io links it to tini-static, and swarm services of the lab do not use --init).
ENGINE_FILES = ("usr/sbin/dockerd", "usr/sbin/docker-proxy", "usr/bin/docker")
APT_ETC = Path("/etc/apt")
OS_RELEASE = Path("/etc/os-release")
# A Debian archive URI to use instead of the one in the machine's apt sources (tests: an unreachable loopback).
MIRROR_ENV = "HIVELAB_DEBIAN_MIRROR"
_SYSTEM_ENGINE_CACHE: Dict[str, Optional[str]] = {}


def _dockerd_version(binary: str) -> Optional[str]:
    """'Docker version 28.5.2+dfsg4, build …' -> '28.5.2+dfsg4' (None when it does not run)."""
    try:
        proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30, check=False,
                              env=_env())
    except OSError:
        return None
    match = re.search(r"\bversion (\S+?),?(?:\s|$)", proc.stdout, re.I)
    return match.group(1) if proc.returncode == 0 and match else None


def _major_minor(version: str) -> str:
    match = re.match(r"^(\d+)\.(\d+)", version)
    return f"{int(match.group(1))}.{int(match.group(2))}" if match else version


def system_engine() -> Optional[str]:
    """major.minor of the system's dockerd (the lab's default engine), None when there is none."""
    if "v" not in _SYSTEM_ENGINE_CACHE:
        version = _dockerd_version(DOCKERD)
        _SYSTEM_ENGINE_CACHE["v"] = _major_minor(version) if version else None
    return _SYSTEM_ENGINE_CACHE["v"]


def resolve_engine(spec: Optional[str]) -> str:
    """'system'/None -> the system's major.minor; '28.5' -> '28.5'. Refuses versions the lab cannot run."""
    text = (spec or SYSTEM_ENGINE).strip().lower()
    system = system_engine()
    if text == SYSTEM_ENGINE:
        if not system:
            raise LabError(f"no system dockerd ({DOCKERD}): pick an engine version ({', '.join(ENGINES)})")
        return system
    if re.match(r"^\d+\.\d+$", text):
        text = _major_minor(text)
        if text == system or text in ENGINES:
            return text
    known = sorted(set(ENGINES) | ({system} if system else set()), key=lambda v: tuple(map(int, v.split("."))))
    raise LabError(f"unknown Docker Engine version {spec!r}: use {', '.join(known)} or {SYSTEM_ENGINE} "
                   f"(major.minor)")


def engine_cache(version: str, root: Path = STATE_ROOT) -> Path:
    return Path(root) / ENGINE_DIR / version


def engine_bin_dir(version: str, root: Path = STATE_ROOT) -> Optional[Path]:
    """Directory of the engine's dockerd (and helpers); None for the system engine."""
    return None if version == system_engine() else engine_cache(version, root) / "bin"


def engine_info(version: str, root: Path = STATE_ROOT) -> Optional[Dict[str, Any]]:
    """The cache record of a fetched engine (package, version, suite, mirror, sha256, ...), None if not cached."""
    cache = engine_cache(version, root)
    try:
        info = json.loads((cache / "engine.json").read_text())
    except (OSError, ValueError):
        return None
    return info if os.access(cache / "bin" / "dockerd", os.X_OK) else None


def _deb822_paragraphs(text: str) -> List[Dict[str, str]]:
    paragraphs: List[Dict[str, str]] = []
    fields: Dict[str, str] = {}
    key = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if not line.strip():
            if fields:
                paragraphs.append(fields)
            fields, key = {}, None
        elif line[0] in " \t" and key:
            fields[key] += "\n" + line
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
    if fields:
        paragraphs.append(fields)
    return paragraphs


def _apt_sources(etc: Path) -> List[Dict[str, Any]]:
    """Every deb source of the machine: deb822 *.sources and one-line sources.list / *.list entries."""
    out: List[Dict[str, Any]] = []
    parts = etc / "sources.list.d"
    for path in sorted(parts.glob("*.sources")) if parts.is_dir() else []:
        for p in _deb822_paragraphs(_read(path) or ""):
            if p.get("enabled", "yes").lower() == "no" or "deb" not in p.get("types", "").split():
                continue
            out.append({"uris": p.get("uris", "").split(), "suites": p.get("suites", "").split(),
                        "components": p.get("components", "").split(), "signed_by": p.get("signed-by"),
                        "file": str(path)})
    one_line = [etc / "sources.list"] + (sorted(parts.glob("*.list")) if parts.is_dir() else [])
    for path in one_line:
        for line in (_read(path) or "").splitlines():
            line = line.split("#", 1)[0].strip()
            match = re.match(r"^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
            if not match:
                continue
            opts = dict(o.split("=", 1) for o in (match.group(1) or "").split() if "=" in o)
            out.append({"uris": [match.group(2)], "suites": [match.group(3)], "components": match.group(4).split(),
                        "signed_by": opts.get("signed-by"), "file": str(path)})
    return out


def _os_codename(os_release: Path = OS_RELEASE) -> Optional[str]:
    for line in (_read(os_release) or "").splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"') or None
    return None


def debian_mirror(etc: Path = APT_ETC, os_release: Path = OS_RELEASE) -> Dict[str, Any]:
    """The Debian archive the machine uses for its own suite (Suites: <codename>, Components: main), read from
    its apt sources: {"uri", "signed_by", "file"}. HIVELAB_DEBIAN_MIRROR replaces the URI (keyring kept)."""
    codename = _os_codename(os_release)
    found = None
    for src in _apt_sources(etc):
        if codename in src["suites"] and "main" in src["components"] and src["uris"]:
            found = src
            break
    override = os.environ.get(MIRROR_ENV)
    if override:
        return {"uri": override, "signed_by": found["signed_by"] if found else None, "file": MIRROR_ENV}
    if not found:
        raise LabError(f"no Debian archive for suite {codename or '?'} (component main) in the apt sources under "
                       f"{etc}: the lab fetches Docker Engines from the machine's Debian mirror")
    return {"uri": found["uris"][0], "signed_by": found["signed_by"], "file": found["file"]}


@contextlib.contextmanager
def _cache_lock(root: Path, subdir: str = ENGINE_DIR, log: Callable[[str], None] = print) -> Iterator[Path]:
    """One fetch (or build) at a time per cache (labs coming up at once wait, then find the engine cached)."""
    cache = Path(root) / subdir
    cache.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(cache / ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another fetch or build into {cache} ...")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield cache
    finally:
        os.close(fd)


class _PrivateApt:
    """apt-get/apt-cache with their own sources, lists, cache, status and preferences in one directory: the
    machine's apt state is neither read for packages nor changed. Transport settings (proxies, retries) are the
    machine's apt configuration."""

    def __init__(self, base: Path, mirror: Dict[str, Any], suite: str,
                 options: Optional[Dict[str, str]] = None) -> None:
        self.base = base
        for d in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d", "debs"):
            (base / d).mkdir(parents=True, exist_ok=True)
        (base / "status").write_text("")
        arch = _run(["dpkg", "--print-architecture"]).stdout.strip()
        lines = ["Types: deb", f"URIs: {mirror['uri']}", f"Suites: {suite}", "Components: main",
                 f"Architectures: {arch}", "Targets: Packages"]
        if mirror.get("signed_by"):
            lines.append(f"Signed-By: {mirror['signed_by']}")
        (base / "sources.list.d" / "hivelab.sources").write_text("\n".join(lines) + "\n")
        self.options = {
            "Dir::State::Lists": str(base / "lists"), "Dir::State::status": str(base / "status"),
            "Dir::State::extended_states": str(base / "extended_states"), "Dir::Cache": str(base / "cache"),
            "Dir::Etc::SourceList": str(base / "sources.list"), "Dir::Etc::SourceParts": str(base / "sources.list.d"),
            "Dir::Etc::Preferences": str(base / "preferences"),
            "Dir::Etc::PreferencesParts": str(base / "preferences.d"),
            "APT::Update::Error-Mode": "any", **(options or {})}
        # apt downloads as its sandbox user: let it write the download directory (else it warns and runs as root)
        with contextlib.suppress(KeyError, OSError):
            os.chmod(base, 0o755)
            os.chown(base / "debs", pwd.getpwnam("_apt").pw_uid, -1)

    def run(self, tool: str, *args: str, cwd: Optional[Path] = None, timeout: float = 600,
            keyring: Optional[str] = None) -> str:
        argv = [tool, "-q"] + [f"-o{k}={v}" for k, v in self.options.items()] + list(args)
        env = {**_env(), "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env,
                                  cwd=str(cwd or self.base))
        except subprocess.TimeoutExpired:
            raise LabError(f"{tool} {args[0]}: no answer within {timeout:.0f}s") from None
        if proc.returncode != 0:
            lines = (proc.stderr + "\n" + proc.stdout).splitlines()
            errors = [ln[3:].strip() for ln in lines  # without apt's generic summary of the failure above
                      if ln.startswith("E: ") and not ln.startswith("E: Some index files failed")]
            text = "; ".join(dict.fromkeys(errors)) or (proc.stderr or proc.stdout).strip() \
                or f"{tool} rc={proc.returncode}"
            if keyring and re.search(r"NO_PUBKEY|not signed|signatures couldn't be verified|EXPKEYSIG", text):
                text += (f" (the suite's Release is signed with keys that {keyring} lacks: install the newest "
                         "debian-archive-keyring of the machine's own suite; verification stays on)")
            raise LabError(text)
        return proc.stdout


def fetch_engine(version: str, root: Path = STATE_ROOT, log: Callable[[str], None] = print,
                 mirror: Optional[Dict[str, Any]] = None, apt_options: Optional[Dict[str, str]] = None) -> Path:
    """Make sure Docker Engine ``version`` (major.minor) is in the engine cache; returns its bin directory.

    Fetched once from Debian's package registry (the machine's mirror, see ``debian_mirror``) with a private
    apt configuration, unpacked and checked (``dockerd --version``) in a temporary directory of the cache and
    moved into place in one rename, under a lock file: no partial engine is ever left, and labs coming up at
    once fetch once. The system engine needs nothing."""
    version = resolve_engine(version)
    if version == system_engine():
        return Path(DOCKERD).parent
    spec = ENGINES[version]
    final = engine_cache(version, root)
    if engine_info(version, root):
        return final / "bin"
    with _cache_lock(root, ENGINE_DIR, log) as cache:
        if engine_info(version, root):
            return final / "bin"
        for stale in cache.glob(".fetch-*"):  # a fetch that died: we hold the lock, nobody else is using it
            _rmtree(stale)
        if final.exists():  # incomplete (no engine.json or no dockerd): replace it
            _rmtree(final)
        t0 = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".fetch-{version}-", dir=str(cache)))
        os.chmod(tmp, 0o755)  # apt's sandbox user (_apt) must reach its download directories
        try:
            info = _fetch_into(tmp, version, spec, mirror, apt_options, log)
            info["seconds"] = round(time.monotonic() - t0, 1)
            (tmp / "engine" / "engine.json").write_text(json.dumps(info, indent=2) + "\n")
            os.chmod(tmp / "engine", 0o755)
            os.rename(tmp / "engine", final)
        except (LabError, OSError) as exc:
            raise LabError(f"cannot fetch Docker Engine {version} from Debian's package registry "
                           f"({spec['suite']}): {exc}") from None
        finally:
            _rmtree(tmp)
        log(f"engine {version}: fetched {spec['package']} {info['package_version']} ({spec['suite']}) in "
            f"{info['seconds']:.1f}s -> {final}")
        return final / "bin"


def engine_table(root: Path = STATE_ROOT) -> List[Dict[str, Any]]:
    """One row per engine version the lab can run: suite, package version (pinned or cached), cache path."""
    rows = []
    system = system_engine()
    if system:
        rows.append({"engine": system, "suite": SYSTEM_ENGINE, "package": _dockerd_version(DOCKERD) or "?",
                     "cached": DOCKERD})
    for version, spec in ENGINES.items():
        if version == system:
            continue
        info = engine_info(version, root)
        rows.append({"engine": version, "suite": spec["suite"],
                     "package": f"{spec['package']} {info['package_version'] if info else spec['pin']}",
                     "cached": str(engine_cache(version, root)) if info else "-"})
    return rows


def _fetch_into(tmp: Path, version: str, spec: Dict[str, str], mirror: Optional[Dict[str, Any]],
                apt_options: Optional[Dict[str, str]], log: Callable[[str], None]) -> Dict[str, Any]:
    mirror = mirror or debian_mirror()
    suite, package = spec["suite"], spec["package"]
    apt = _PrivateApt(tmp / "apt", mirror, suite, apt_options)
    log(f"engine {version}: fetching {package} from {mirror['uri']} {suite} (once; cached under "
        f"{tmp.parent})")
    apt.run("apt-get", "update", keyring=mirror.get("signed_by") or "the machine's apt keyring")
    listed = re.findall(r"^\s*\S+\s*\|\s*(\S+)\s*\|", apt.run("apt-cache", "madison", package), re.M)
    if spec["pin"] in listed:
        chosen = spec["pin"]
    else:
        same = [v for v in listed if _major_minor(v) == version]
        if not same:
            raise LabError(f"{suite} has {package} {', '.join(listed) or 'in no version'}, not {version}.x")
        chosen = same[0]
        log(f"engine {version}: pinned {package} {spec['pin']} is no longer in {suite}; using {chosen}")
    apt.run("apt-get", "download", f"{package}={chosen}", cwd=tmp / "apt" / "debs")
    debs = list((tmp / "apt" / "debs").glob("*.deb"))
    if len(debs) != 1:
        raise LabError(f"apt-get download left {len(debs)} .deb files")
    digest = hashlib.sha256(debs[0].read_bytes()).hexdigest()
    unpacked = tmp / "unpacked"
    _run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], timeout=300)
    bin_dir = tmp / "engine" / "bin"
    bin_dir.mkdir(parents=True)
    for rel in ENGINE_FILES:
        src = unpacked / rel
        if src.is_file() and not src.is_symlink():
            os.rename(src, bin_dir / src.name)
    if not os.access(bin_dir / "dockerd", os.X_OK):
        raise LabError(f"{debs[0].name} has no usr/sbin/dockerd")
    got = _dockerd_version(str(bin_dir / "dockerd"))
    if not got or _major_minor(got) != version:
        raise LabError(f"{debs[0].name}: dockerd --version says {got or 'nothing'}, not {version}.x")
    return {"engine": version, "dockerd_version": got, "package": package, "package_version": chosen,
            "pinned": spec["pin"], "suite": suite, "mirror": mirror["uri"], "sources_file": mirror.get("file"),
            "deb": debs[0].name, "sha256": digest, "files": sorted(p.name for p in bin_dir.iterdir()),
            "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


# --------------------------------------------------------------------------- controller root filesystems

# A newer Debian as a chroot controller, for the tools this machine's Python is too old for (ansible-core 2.20+
# needs Python 3.12): debootstrap'ed once from the machine's Debian mirror (``debian_mirror``: another suite of
# the same archive, verified with the same keyring) into <state root>/controllers/<suite>/ (``rootfs/`` and
# ``controller.json``, written last; shared by all tests, kept by ``down``). Commands run in it through
# ``controller_argv``: a private mount namespace and PID namespace of their own (unshare), so the mounts made for
# the command (/proc, /dev, a tmpfs /tmp, bind mounts) and every process it starts end with it. The chroot shares
# the machine's network namespace: the lab bridges (198.18.N.0/24) and the package index are reachable.
CONTROLLER_DIR = "controllers"  # under the state root; also a reserved lab name
CONTROLLER_SUITE = "trixie"
CONTROLLER_PACKAGES = ("python3", "python3-venv", "openssh-client", "git", "rsync", "ca-certificates")
CONTROLLER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# The machine's network settings a command in the controller needs (DNS, trusted CAs incl. local ones, pip's
# global configuration): copied in before each command, so they follow the machine.
CONTROLLER_HOST_FILES = ("/etc/resolv.conf", "/etc/ssl/certs/ca-certificates.crt", "/etc/pip.conf")
SUITE_RE = re.compile(r"^[a-z][a-z0-9-]{1,30}$")


def controller_cache(suite: str = CONTROLLER_SUITE, root: Path = STATE_ROOT) -> Path:
    return Path(root) / CONTROLLER_DIR / suite


def controller_info(suite: str = CONTROLLER_SUITE, root: Path = STATE_ROOT) -> Optional[Dict[str, Any]]:
    """The record of a built controller (suite, mirror, python, packages, seconds), None if not built."""
    cache = controller_cache(suite, root)
    try:
        info = json.loads((cache / "controller.json").read_text())
    except (OSError, ValueError):
        return None
    return info if os.path.lexists(cache / "rootfs" / "usr" / "bin" / "python3") else None


def build_controller(suite: str = CONTROLLER_SUITE, root: Path = STATE_ROOT, log: Callable[[str], None] = print,
                     mirror: Optional[Dict[str, Any]] = None, timeout: float = 1800) -> Path:
    """Make sure the Debian ``suite`` controller root filesystem is built; returns its rootfs directory.

    Built once with debootstrap (minbase plus ``CONTROLLER_PACKAGES``) in a temporary directory of the cache, under
    a lock file, checked (its python3 runs), recorded in controller.json (written last) and moved into place in one
    rename: parallel callers build once and no partial controller is ever used."""
    if not SUITE_RE.match(suite):
        raise LabError(f"bad suite {suite!r}")
    final = controller_cache(suite, root)
    if controller_info(suite, root):
        return final / "rootfs"
    _require_root()
    if not shutil.which("debootstrap", path=TOOL_PATH):
        raise LabError("debootstrap not found: apt-get install debootstrap (scripts/bootstrap.sh)")
    with _cache_lock(root, CONTROLLER_DIR, log) as cache:
        if controller_info(suite, root):
            return final / "rootfs"
        for stale in cache.glob(".build-*"):  # a build that died: we hold the lock, nobody else is using it
            _rmtree(stale)
        if final.exists():  # incomplete (no controller.json): replace it
            _rmtree(final)
        mirror = mirror or debian_mirror()
        t0 = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{suite}-", dir=str(cache)))
        try:
            os.chmod(tmp, 0o755)
            log(f"controller {suite}: debootstrap from {mirror['uri']} (once; cached under {cache})")
            argv = ["debootstrap", "--variant=minbase", "--components=main",
                    "--include=" + ",".join(CONTROLLER_PACKAGES)]
            if mirror.get("signed_by"):
                argv.append(f"--keyring={mirror['signed_by']}")
            argv += [suite, str(tmp / "rootfs"), mirror["uri"]]
            # In a mount namespace of its own: the /proc and /sys debootstrap mounts in the target end with it,
            # also when it fails half-way.
            proc = _run(["unshare", "--mount", "--propagation", "private", "--", *argv], check=False,
                        timeout=timeout)
            if proc.returncode != 0:
                log_file = tmp / "rootfs" / "debootstrap" / "debootstrap.log"
                raise LabError(f"debootstrap rc={proc.returncode}: {(proc.stderr or proc.stdout).strip()[-1500:]}"
                               + (f"\n{_tail(log_file)}" if log_file.exists() else ""))
            _rmtree_contents(tmp / "rootfs" / "var" / "cache" / "apt" / "archives", keep=("partial", "lock"))
            check = _run(controller_argv(tmp / "rootfs", ["python3", "-c", "import platform, venv; "
                                                          "print(platform.python_version())"]), timeout=120)
            info = {"suite": suite, "mirror": mirror["uri"], "sources_file": mirror.get("file"),
                    "keyring": mirror.get("signed_by"), "python": check.stdout.strip(),
                    "packages": list(CONTROLLER_PACKAGES), "seconds": round(time.monotonic() - t0, 1),
                    "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            (tmp / "controller.json").write_text(json.dumps(info, indent=2) + "\n")
            os.rename(tmp, final)
        except (LabError, OSError, subprocess.TimeoutExpired) as exc:
            raise LabError(f"cannot build the {suite} controller from Debian's package registry: {exc}") from None
        finally:
            if tmp.exists():
                _rmtree(tmp)
        log(f"controller {suite}: built (python {info['python']}) in {info['seconds']:.1f}s -> {final / 'rootfs'}")
        return final / "rootfs"


def _rmtree_contents(path: Path, keep: Sequence[str] = ()) -> None:
    for entry in path.iterdir() if path.is_dir() else []:
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            _rmtree(entry)
        else:
            entry.unlink()


def _sync_host_files(rootfs: Path) -> None:
    """Copy the machine's network settings (``CONTROLLER_HOST_FILES``) into the controller, atomically."""
    for name in CONTROLLER_HOST_FILES:
        src, dst = Path(name), rootfs / name.lstrip("/")
        try:
            data = src.read_bytes()
        except FileNotFoundError:
            if dst.is_file() and name != "/etc/resolv.conf":
                dst.unlink()
            continue
        if dst.is_file() and not dst.is_symlink() and dst.read_bytes() == data:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        # a temporary name of its own: threads of one process sync the same controller at once (tests/core)
        fd, name_tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
        tmp = Path(name_tmp)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o644)
        if dst.is_symlink():
            dst.unlink()
        os.replace(tmp, dst)


def controller_argv(rootfs: Path, argv: Sequence[str], binds: Sequence[Any] = (),
                    env: Optional[Dict[str, str]] = None, cwd: str = "/") -> List[str]:
    """argv running ``argv`` inside the controller ``rootfs`` (run it as root).

    ``binds``: host paths (or (host path, path inside, read_only) tuples) bind-mounted into the controller; a plain
    path appears at the same path inside, read-write. ``env``: the command's environment on top of HOME=/root, the
    controller's PATH and LANG=C.UTF-8 (nothing else of the caller's environment goes in). The command gets a
    private mount namespace and PID namespace (unshare): its mounts and processes cannot outlive it, and killing
    the returned process (e.g. a subprocess timeout) kills everything it started."""
    rootfs = Path(rootfs)
    q = shlex.quote
    lines = ["set -eu", f"R={q(str(rootfs))}", 'mount -t proc proc "$R/proc"', 'mount --rbind /dev "$R/dev"',
             'mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"']
    for bind in binds:
        src, dst, read_only = (bind, bind, False) if isinstance(bind, (str, Path)) else bind
        src, dst = str(src), str(dst)
        if not dst.startswith("/") or "/../" in dst + "/":
            raise LabError(f"bad bind mount target {dst!r}: an absolute path")
        target = f'"$R"{q(dst)}'
        if os.path.isdir(src):
            lines.append(f"mkdir -p {target}")
        else:
            lines.append(f"mkdir -p \"$(dirname {target})\" && touch {target}")
        lines.append(f"mount --bind {q(src)} {target}")
        if read_only:
            lines.append(f"mount -o remount,bind,ro {target}")
    full_env = {"HOME": "/root", "PATH": CONTROLLER_PATH, "LANG": "C.UTF-8", **(env or {})}
    inner = ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in full_env.items()), "/bin/sh", "-c",
             'cd "$1" && shift && exec "$@"', "sh", cwd, *argv]
    lines.append('exec chroot "$R" ' + shlex.join(inner))
    return ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--",
            "/bin/sh", "-c", "\n".join(lines)]


def run_in_controller(argv: Sequence[str], suite: str = CONTROLLER_SUITE, root: Path = STATE_ROOT,
                      binds: Sequence[Any] = (), env: Optional[Dict[str, str]] = None, cwd: str = "/",
                      timeout: float = 600, capture: bool = True) -> subprocess.CompletedProcess:
    """Run ``argv`` in the built controller (``build_controller`` first); returns the completed process (not
    checked). Raises LabError on a timeout (the command and everything it started are gone by then)."""
    info = controller_info(suite, root)
    if not info:
        raise LabError(f"the {suite} controller is not built: hivelab controller --suite {suite}")
    rootfs = controller_cache(suite, root) / "rootfs"
    _sync_host_files(rootfs)
    full = controller_argv(rootfs, argv, binds=binds, env=env, cwd=cwd)
    try:
        return subprocess.run(full, capture_output=capture, text=True, timeout=timeout, check=False, env=_env())
    except subprocess.TimeoutExpired:
        raise LabError(f"{shlex.join(argv)} in the {suite} controller: no end within {timeout:.0f}s") from None


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
    def engine_file(self) -> Path:
        """The host's Docker Engine version ({"engine": "28.5"}); absent = the system's dockerd."""
        return self.dir / "engine.json"

    @property
    def addr_file(self) -> Path:
        """The host's address when ``readdress`` changed it ({"ip": ..., "extra": [...]}); absent = the default."""
        return self.dir / "addr.json"

    @property
    def blocks_file(self) -> Path:
        """The host's port blocks (JSON list of {port, proto, direction}), as set by ``Lab.block``."""
        return self.dir / "blocks.json"

    @property
    def cgroup(self) -> str:
        return f"/{CGROUP_PARENT}/{self.lab}/{self.name}"

    def as_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "role": self.role, "ip": self.ip, "veth": self.veth, "netns": self.netns,
                "socket": str(self.socket), "docker_host": self.docker_host}


def _validate_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise LabError(f"bad lab name {name!r}: use [a-z][a-z0-9-]{{0,19}}")
    if name == ENGINE_DIR:
        raise LabError(f"bad lab name {name!r}: {STATE_ROOT}/{ENGINE_DIR} is the engine cache")
    if name == CONTROLLER_DIR:
        raise LabError(f"bad lab name {name!r}: {STATE_ROOT}/{CONTROLLER_DIR} is the controller cache")


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
            hdir = self.dir / "hosts" / name
            ip = str(_read_json(hdir / "addr.json").get("ip") or f"198.18.{self.net}.{10 + idx}")
            hosts.append(Host(self.name, name, role, idx, ip, f"hl{self.net}h{idx}", f"{NETNS_PREFIX}{name}", hdir))
        return hosts

    def extra_addresses(self, host: str | Host) -> List[str]:
        """Addresses the host keeps besides its IP (``readdress --keep-old``)."""
        return [str(a) for a in _read_json(self.host(host).addr_file).get("extra") or []]

    def readdress(self, host: str | Host, new_ip: str, keep_old: bool = False) -> Dict[str, Any]:
        """Change the host's IP on the lab bridge: the new address is added on the host's eth0, then the old one
        (and any kept one) is removed; with ``keep_old`` the new one becomes the primary address and the old one
        stays as a secondary one (until the next ``readdress`` of the host); sshd is restarted to listen on the
        addresses the host has; the state (``hosts/<host>/addr.json``) and the inventory follow. The engine is
        not touched: what it does when its address goes away is what a real host's engine does. Only addresses of
        the lab's own 198.18.N.0/24 (.2-.254, not the bridge's .1, not another host's)."""
        h = self.host(host)
        subnet = ipaddress.ip_network(f"198.18.{self.net}.0/24")
        try:
            addr = ipaddress.ip_address(new_ip)
        except ValueError as exc:
            raise LabError(f"bad address {new_ip!r}: an IPv4 address in {subnet}") from exc
        if addr not in subnet or int(addr) & 0xFF in (0, 1, 255):
            raise LabError(f"address {new_ip} is outside lab {self.name}'s {subnet} (.2-.254, .1 is the bridge)")
        new = str(addr)
        for other in self.hosts:
            if other.name != h.name and new in (other.ip, *self.extra_addresses(other)):
                raise LabError(f"address {new} is used by {other.name}")
        old = [a for a in dict.fromkeys([h.ip, *self.extra_addresses(h)]) if a != new]
        keep = old if keep_old else []
        have = self._addresses(h)
        ns = ["nsenter", f"--net=/run/netns/{h.netns}"]
        # Deleting a primary address deletes its secondaries too unless promote_secondaries is on.
        _run([*ns, "sysctl", "-q", "-w", "net.ipv4.conf.eth0.promote_secondaries=1"])
        batch = []
        if keep and new not in have:
            # The new address becomes the primary one (the source of new outgoing connections), the old ones stay
            # as secondary addresses: taken off and put back at once (open connections from them survive).
            batch += [f"addr del {a}/24 dev eth0" for a in keep if a in have]
            batch += [f"addr add {new}/24 dev eth0", *[f"addr add {a}/24 dev eth0" for a in keep]]
        elif new not in have:
            batch.append(f"addr add {new}/24 dev eth0")
        batch += [f"addr del {a}/24 dev eth0" for a in old if a not in keep and a in have]
        if batch:
            _run(["ip", "-n", h.netns, "-batch", "-"], input_text="\n".join(batch) + "\n")
        record = {"ip": new, "extra": keep}
        h.addr_file.write_text(json.dumps(record) + "\n")
        moved = self.host(h.name)
        pid = self._verified_pid(h, "sshd")
        if pid:
            _terminate({pid}, 5, f"{h.name} sshd")
        self._start_sshd(moved)
        if not _poll(lambda: self._ssh_banner(moved), 15, 0.1):
            raise LabError(f"{h.name}: sshd does not answer on {new}; log tail:\n{_tail(h.dir / 'sshd.log', 5)}")
        self.write_inventory()
        return {"host": h.name, "from": h.ip, "to": new, "kept": keep}

    def _addresses(self, h: Host) -> List[str]:
        """The IPv4 addresses on the host's eth0."""
        out = _run(["ip", "-n", h.netns, "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
        return re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out)

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
    def up(self, managers: int = 3, workers: int = 2, timeout: float = 120, log: Callable[[str], None] = print,
           engine: Optional[str] = None, host_engines: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        """Bring the lab up (or repair it). Returns a report with timings.

        ``engine``: Docker Engine version (major.minor, e.g. "28.5", or "system") of every host;
        ``host_engines``: {host: version} for single hosts (full or short name, e.g. {"w1": "28.5"}), over
        ``engine``. None keeps what each host of an existing lab runs (new labs: the system's dockerd). On a lab
        that is up, a host whose engine differs from the one asked for is switched in place (``upgrade``).
        Engines not cached yet are fetched first (see ``fetch_engine``).
        """
        if managers < 1 or workers < 0 or managers + workers > MAX_HOSTS:
            raise LabError(f"bad shape: managers={managers} workers={workers} (1+ managers, <= {MAX_HOSTS} hosts)")
        _require_root()
        wanted = self._plan_engines(managers, workers, engine, host_engines)
        for version in sorted(set(wanted.values())):  # outside the state lock: other labs' up/down go on
            fetch_engine(version, self.root, log)
        with _locked(self.root):
            return self._up_locked(managers, workers, timeout, log, wanted)

    def _plan_engines(self, managers: int, workers: int, engine: Optional[str],
                      host_engines: Optional[Dict[str, str]]) -> Dict[str, str]:
        """{host name: engine version} for the hosts whose engine was asked for."""
        hosts = self._make_hosts(managers, workers)
        wanted = {h.name: resolve_engine(engine) for h in hosts} if engine else {}
        for ref, version in (host_engines or {}).items():
            match = [h for h in hosts if ref in (h.name, h.name[len(self.name) + 1:], h.ip)]
            if not match:
                raise LabError(f"engine for unknown host {ref!r} (hosts: {', '.join(h.name for h in hosts)})")
            wanted[match[0].name] = resolve_engine(version)
        return wanted

    def _up_locked(self, managers: int, workers: int, timeout: float, log: Callable[[str], None],
                   wanted: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
        t0 = time.monotonic()
        wanted = wanted or {}
        state = self._load_state()
        same = bool(state) and state.get("net") == self.net and \
            (state.get("managers"), state.get("workers")) == (managers, workers)
        if same:
            self._shape = (managers, workers)
            if all(self._structure_ok(h) for h in self.hosts):
                switched = [f"{h.name} {self.engine(h)}->{wanted[h.name]}" for h in self.hosts
                            if h.name in wanted and wanted[h.name] != self.engine(h)]
                for h in self.hosts:
                    if h.name in wanted and wanted[h.name] != self.engine(h):
                        self.upgrade(h, wanted[h.name], timeout=timeout, log=log)
                repaired = self._repair(timeout)
                self.write_inventory()
                took = time.monotonic() - t0
                log(f"lab {self.name}: already up ({len(self.hosts)} hosts"
                    + (f", engines switched: {', '.join(switched)}" if switched else "")
                    + (f", repaired {', '.join(repaired)}" if repaired else "") + f") in {took:.1f}s")
                action = "switched" if switched else "repaired" if repaired else "noop"
                return {"action": action, "seconds": took, "count": len(self.hosts), "switched": switched}
        elif state and any(self._verified_pid(h, "holder") for h in self._all_known_hosts()):
            raise LabError(f"lab {self.name} is up with net {state.get('net')} and shape "
                           f"{state.get('managers')}+{state.get('workers')}; run `down --name {self.name}` first")
        self._check_net_free(managers, workers)
        # a lab recreated after a crash keeps its hosts' engines unless others are asked for
        previous: Dict[str, str] = {}
        for h in self._all_known_hosts():
            with contextlib.suppress(LabError):
                if h.engine_file.is_file():
                    previous[h.name] = self.engine(h)
        wanted = {**previous, **wanted}
        self._cleanup(quiet=True)
        self._shape = (managers, workers)
        _ensure_neighbour_room(managers + workers, log)
        try:
            report = self._create(timeout, log, wanted)
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

    def _create(self, timeout: float, log: Callable[[str], None], wanted: Dict[str, str]) -> Dict[str, Any]:
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
            self._set_engine(h, wanted.get(h.name) or resolve_engine(None))
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
        return [self.dockerd_binary(h), "--data-root", str(h.data_root), "--exec-root", "/run/docker",
                "--pidfile", "/run/docker.pid", "-H", "unix:///run/docker.sock",
                "--config-file", str(h.dir / "daemon.json"), "--iptables=false", "--ip6tables=false",
                "--bridge=none", "--storage-driver=vfs", "--cgroup-parent", h.cgroup,
                "--shutdown-timeout", "5", *self.engine_args(h)]

    def engine(self, host: str | Host) -> str:
        """The Docker Engine version (major.minor) the host is set to run, as recorded in the lab state."""
        h = self.host(host)
        text = _read(h.engine_file)
        if not text:
            return resolve_engine(None)
        try:
            return str(json.loads(text)["engine"])
        except (ValueError, KeyError, TypeError) as exc:
            raise LabError(f"{h.engine_file}: not an engine record ({exc})") from None

    def engines(self) -> Dict[str, str]:
        """{host name: engine version} of every host."""
        return {h.name: self.engine(h) for h in self.hosts}

    def _set_engine(self, h: Host, version: str) -> None:
        tmp = h.engine_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"engine": version}) + "\n")
        tmp.replace(h.engine_file)

    def dockerd_binary(self, host: str | Host) -> str:
        """Path of the dockerd the host runs (fetched into the engine cache first if it is not there)."""
        version = self.engine(host)
        bin_dir = engine_bin_dir(version, self.root)
        if bin_dir is None:
            return DOCKERD
        if not engine_info(version, self.root):
            fetch_engine(version, self.root)
        return str(bin_dir / "dockerd")

    def engine_version(self, host: str | Host, timeout: float = 5) -> Dict[str, Any]:
        """The running daemon's GET /version (``Version``, ``ApiVersion``, ``MinAPIVersion``, ...)."""
        return self.api(host, "GET", "/version", timeout=timeout)

    def upgrade(self, host: str | Host, engine: str, timeout: float = 60, log: Callable[[str], None] = print
                ) -> Dict[str, Any]:
        """Switch the host's Docker Engine in place: fetch it if needed, stop the engine gracefully, start the
        other dockerd on the same data root with the same extra arguments (same node ID, same swarm
        membership). A no-op when the engine already runs that version. Docker supports upgrades; a downgrade
        may leave a data root the older engine cannot read."""
        h = self.host(host)
        version = resolve_engine(engine)
        fetch_engine(version, self.root, log)  # before stopping anything: a failed fetch leaves the host as it is
        before = self.engine(h)
        running = None
        if self.engine_up(h):
            with contextlib.suppress(LabError, OSError):
                running = self.engine_version(h).get("Version")
        if before == version and running and _major_minor(running) == version:
            return {"host": h.name, "from": running, "to": running, "action": "noop", "seconds": 0.0}
        t0 = time.monotonic()
        self.stop(h, timeout=timeout)
        self._set_engine(h, version)
        self.start(h, timeout)
        _import_image(str(h.socket))  # normally still in the data root
        now = self.engine_version(h).get("Version", "?")
        took = time.monotonic() - t0
        log(f"{h.name}: engine {running or before} -> {now} in {took:.1f}s")
        return {"host": h.name, "from": running or before, "to": now, "action": "switched", "seconds": took}

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
        # a fetched engine's helpers (docker-proxy) come first in its PATH; containerd and runc are the system's
        bin_dir = engine_bin_dir(self.engine(h), self.root)
        # containerd writes a stack dump to $TMPDIR when it is told to (dockerd does so when it stops it): the
        # host's own directory keeps them, and `down` removes it
        env = _env(f"{self.name}/{h.name}/engine", path_first=bin_dir)
        env["TMPDIR"] = str(h.dir / "tmp")
        (h.dir / "tmp").mkdir(exist_ok=True)
        with open(h.dir / "dockerd.log", "ab") as logf:
            subprocess.run(["setsid", "-f", *argv], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, check=True,
                           env=env, cwd="/")

    def _start_sshd(self, h: Host) -> None:
        if self._verified_pid(h, "sshd"):
            return
        h.sshd_pidfile.unlink(missing_ok=True)
        argv = [
            *self._nsenter(h), SSHD, "-E", str(h.dir / "sshd.log"),
            *[f"-oListenAddress={a}" for a in dict.fromkeys([h.ip, *self.extra_addresses(h)])],
            "-o", "PidFile=/run/sshd.pid",
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

    # ----- port blocks (iptables DROP rules inside a host's network namespace)
    def blocks(self, host: str | Host) -> List[Dict[str, Any]]:
        """The host's port blocks as recorded: [{"port": 7946, "proto": "tcp", "direction": "in"}, ...]."""
        text = _read(self.host(host).blocks_file)
        if not text:
            return []
        try:
            return [{"port": int(b["port"]), "proto": str(b["proto"]), "direction": str(b["direction"])}
                    for b in json.loads(text)]
        except (ValueError, KeyError, TypeError) as exc:
            raise LabError(f"{self.host(host).blocks_file}: not a list of blocks ({exc})") from None

    def _save_blocks(self, h: Host, blocks: List[Dict[str, Any]]) -> None:
        if not blocks:
            h.blocks_file.unlink(missing_ok=True)
            return
        tmp = h.blocks_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(blocks) + "\n")
        tmp.replace(h.blocks_file)

    def _iptables(self, h: Host, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """iptables inside the host's network namespace (only the netns: rules live there)."""
        netns = f"/run/netns/{h.netns}"
        if not os.path.exists(netns):
            raise LabError(f"{h.name}: network namespace {netns} is missing (run `up` again)")
        if not os.access(IPTABLES, os.X_OK):
            raise LabError(f"{IPTABLES} not found: apt-get install iptables")
        return _run(["nsenter", f"--net={netns}", "--", IPTABLES, "-w", "10", *args], check=check)

    @staticmethod
    def _block_rule(port: int, proto: str, direction: str) -> List[str]:
        return [BLOCK_CHAINS[direction], "-p", proto, "-m", proto, "--dport", str(port), "-m", "comment",
                "--comment", BLOCK_COMMENT, "-j", "DROP"]

    @staticmethod
    def _check_block(port: Optional[int], proto: Optional[str], direction: Optional[str]) -> None:
        if port is not None and not 1 <= int(port) <= 65535:
            raise LabError(f"bad port {port}: 1..65535")
        if proto is not None and proto not in BLOCK_PROTOS:
            raise LabError(f"bad protocol {proto!r}: {' or '.join(BLOCK_PROTOS)}")
        if direction is not None and direction not in BLOCK_CHAINS:
            raise LabError(f"bad direction {direction!r}: {' or '.join(BLOCK_CHAINS)}")

    def block(self, host: str | Host, port: int, proto: str = "tcp", direction: str = "in") -> bool:
        """Drop the host's traffic to ``port``/``proto`` (a firewall inside the host): ``direction`` ``in`` drops
        what arrives for its port (INPUT), ``out`` what it sends to that port elsewhere (OUTPUT). Other hosts see
        a timeout, not a refusal. Recorded in the lab state; returns False when the block already existed."""
        self._check_block(port, proto, direction)
        h = self.host(host)
        rule = self._block_rule(int(port), proto, direction)
        added = self._iptables(h, "-C", *rule, check=False).returncode != 0
        if added:
            self._iptables(h, "-I", *rule)
        entry = {"port": int(port), "proto": proto, "direction": direction}
        blocks = self.blocks(h)
        if entry not in blocks:
            self._save_blocks(h, [*blocks, entry])
        return added

    def unblock(self, host: str | Host, port: Optional[int] = None, proto: Optional[str] = None,
                direction: Optional[str] = None) -> List[Dict[str, Any]]:
        """Remove the host's blocks that match (no port: all of them, including rules the record does not know
        of). Returns the removed blocks as recorded."""
        self._check_block(port, proto, direction)
        h = self.host(host)
        blocks = self.blocks(h)
        keep, removed = [], []
        for b in blocks:
            match = (port is None or b["port"] == int(port)) and (proto is None or b["proto"] == proto) and \
                (direction is None or b["direction"] == direction)
            (removed if match else keep).append(b)
        for b in removed:
            rule = self._block_rule(b["port"], b["proto"], b["direction"])
            while self._iptables(h, "-C", *rule, check=False).returncode == 0:
                self._iptables(h, "-D", *rule)
        if port is None and proto is None and direction is None:
            for chain in BLOCK_CHAINS.values():
                for line in self._iptables(h, "-S", chain).stdout.splitlines():
                    words = shlex.split(line)
                    if words[:1] == ["-A"] and BLOCK_COMMENT in words:
                        self._iptables(h, "-D", *words[1:])
        self._save_blocks(h, keep)
        return removed

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
            blocks = ",".join(f"{b['port']}/{b['proto']}" + ("" if b["direction"] == "in" else "(out)")
                              for b in self.blocks(h))
            version = api = "-"
            if engine:
                try:
                    ver = self.engine_version(h, timeout=info_timeout)
                    version, api = ver.get("Version", "?"), ver.get("ApiVersion", "?")
                except (LabError, OSError):
                    version = "?"
            else:
                version = f"({self.engine(h)})"  # not running: the version it is set to run
            rows.append({"host": h.name, "role": h.role, "ip": h.ip,
                         "holder": bool(self._verified_pid(h, "holder")), "dockerd": engine,
                         "engine": version, "api": api, "engine_wanted": self.engine(h),
                         "sshd": self.sshd_up(h), "link": "up" if self.link_up(h) else "cut", "swarm": swarm,
                         "blocks": blocks or "-"})
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


def _port_proto(text: str, need_proto: bool) -> tuple:
    """'7946/tcp' -> (7946, 'tcp'); '7946' -> (7946, None) unless a protocol is needed."""
    match = re.match(r"^(\d{1,5})(?:/(tcp|udp))?$", text.strip().lower())
    if not match or (need_proto and not match.group(2)):
        raise LabError(f"bad PORT/PROTO {text!r}: e.g. 7946/tcp or 4789/udp")
    return int(match.group(1)), match.group(2)


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
    up.add_argument("--engine", metavar="VERSION", default=None,
                    help="Docker Engine of every host: " + ", ".join(ENGINES) + " or system (major.minor; "
                    "default: system for a new lab, unchanged for an existing one)")
    up.add_argument("--host-engine", metavar="HOST=VERSION", action="append", default=[],
                    help="engine of one host (e.g. w1=28.5), over --engine; repeat for more hosts")
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
    rea = named(sub.add_parser("readdress", help="change a host's IP on the lab bridge: readdress HOST NEW_IP",
                               description="Adds NEW_IP (198.18.NET.2-254) on the host's eth0 and removes the old "
                               "address (--keep-old: keeps it too until the next readdress); sshd listens on the "
                               "new address, the lab state and the inventory follow. The engine is not touched."))
    rea.add_argument("host")
    rea.add_argument("new_ip")
    rea.add_argument("--keep-old", action="store_true", help="keep the old address on the host as well")
    blk = named(sub.add_parser("block", help="drop a port's traffic inside a host (iptables): block HOST PORT/PROTO",
                               description="An iptables DROP rule in the host's network namespace: with --direction "
                               "in (default) packets to the host's PORT/PROTO are dropped, with out the packets it "
                               "sends to PORT/PROTO on other hosts. Peers see a timeout, not a refusal."))
    blk.add_argument("host")
    blk.add_argument("port", metavar="PORT/PROTO", help="e.g. 7946/tcp or 4789/udp")
    blk.add_argument("--direction", choices=sorted(BLOCK_CHAINS), default="in")
    unb = named(sub.add_parser("unblock", help="remove a host's blocks: unblock HOST [PORT[/PROTO]] (none: all)"))
    unb.add_argument("host")
    unb.add_argument("port", metavar="PORT/PROTO", nargs="?", default=None,
                     help="e.g. 7946/tcp; a bare port removes both protocols; none removes every block of the host")
    unb.add_argument("--direction", choices=sorted(BLOCK_CHAINS), default=None)
    upg = named(sub.add_parser("upgrade", help="switch a host's Docker Engine in place: upgrade HOST --engine VERSION",
                               description="Stops the engine gracefully and starts the other dockerd on the same "
                               "data root with the same extra arguments: the node keeps its ID and swarm membership."))
    upg.add_argument("host")
    upg.add_argument("--engine", metavar="VERSION", required=True, help=", ".join(ENGINES) + " or system")
    upg.add_argument("--timeout", type=float, default=60)
    sub.add_parser("engines", help="Docker Engine versions the lab can run and which are cached")
    fetch = sub.add_parser("fetch", help="fetch Docker Engines into the cache now: fetch VERSION...")
    fetch.add_argument("versions", metavar="VERSION", nargs="+")
    ctl = sub.add_parser("controller", help="build the Debian controller root filesystem (once) and print its "
                         "path; with -- CMD, run CMD in it",
                         description="A chroot of a newer Debian suite (debootstrap from the machine's Debian mirror, "
                         f"cached under {STATE_ROOT}/{CONTROLLER_DIR}/SUITE) with python3, venv, ssh, git and rsync. "
                         "A command runs in private mount and PID namespaces, with the machine's network.")
    ctl.add_argument("--suite", default=CONTROLLER_SUITE, help=f"Debian suite (default {CONTROLLER_SUITE})")
    ctl.add_argument("--bind", metavar="PATH", action="append", default=[],
                     help="bind-mount PATH into the controller at the same path for the command; repeat for more")
    ctl.add_argument("--timeout", type=float, default=3600, help="seconds the command may run (default 3600)")
    ctl.add_argument("command", nargs=argparse.REMAINDER, help="-- command to run inside")
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
        if args.cmd == "engines":
            _print_table(engine_table(), ("engine", "suite", "package", "cached"))
            return 0
        if args.cmd == "controller":
            _require_root()
            rootfs = build_controller(args.suite, log=lambda m: print(m, file=sys.stderr))
            cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
            if not cmd:
                print(rootfs)
                return 0
            binds = [os.path.abspath(b) for b in args.bind]
            cwd = os.getcwd()
            inside = any(cwd == b or cwd.startswith(b.rstrip("/") + "/") for b in binds)
            return run_in_controller(cmd, args.suite, binds=binds, cwd=cwd if inside else "/",
                                     env={"TERM": os.environ.get("TERM", "dumb")}, timeout=args.timeout,
                                     capture=False).returncode
        if args.cmd == "fetch":
            _require_root()
            for version in args.versions:
                print(fetch_engine(version) / "dockerd")
            return 0
        lab = Lab(args.name, getattr(args, "net", None))
        if args.cmd == "up":
            host_engines = {}
            for item in args.host_engine:
                ref, sep, version = item.partition("=")
                if not sep or not ref or not version:
                    raise LabError(f"bad --host-engine {item!r}: HOST=VERSION, e.g. w1=28.5")
                host_engines[ref] = version
            report = lab.up(args.managers, args.workers, timeout=args.timeout,
                            log=(lambda _m: None) if args.json else print, engine=args.engine,
                            host_engines=host_engines)
            if args.json:
                print(json.dumps({**report, "inventory": str(lab.inventory_path),
                                  "hosts": [{**h.as_dict(), "engine": lab.engine(h)} for h in lab.hosts]}, indent=2))
            return 0
        if args.cmd == "down":
            lab.down()
            return 0
        if not lab.exists():
            others = ", ".join(s["name"] for s in list_labs()) or "none"
            raise LabError(f"lab {args.name} does not exist (labs: {others})")
        if args.cmd == "status":
            _print_table(lab.status(), ("host", "role", "ip", "dockerd", "engine", "api", "sshd", "link", "swarm",
                                        "blocks"))
        elif args.cmd == "inventory":
            print(lab.write_inventory(args.output, args.format, args.python))
        elif args.cmd == "hosts":
            print(json.dumps([{**h.as_dict(), "engine": lab.engine(h)} for h in lab.hosts], indent=2))
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
        elif args.cmd == "upgrade":
            _require_root()
            report = lab.upgrade(args.host, args.engine, timeout=args.timeout)
            if report["action"] == "noop":
                print(f"{report['host']}: already runs {report['to']}")
        elif args.cmd in ("wipe", "cut", "heal"):
            getattr(lab, args.cmd)(args.host)
        elif args.cmd == "readdress":
            _require_root()
            report = lab.readdress(args.host, args.new_ip, keep_old=args.keep_old)
            print(f"{report['host']}: {report['from']} -> {report['to']}"
                  + (f" (kept {', '.join(report['kept'])})" if report["kept"] else ""))
        elif args.cmd == "block":
            port, proto = _port_proto(args.port, need_proto=True)
            added = lab.block(args.host, port, proto or "tcp", args.direction)
            print(f"{lab.host(args.host).name}: {'blocked' if added else 'already blocked'} {port}/{proto} "
                  f"({args.direction})")
        elif args.cmd == "unblock":
            port, proto = _port_proto(args.port, need_proto=False) if args.port else (None, None)
            removed = lab.unblock(args.host, port, proto, args.direction)
            print(f"{lab.host(args.host).name}: unblocked " + (", ".join(
                f"{b['port']}/{b['proto']} ({b['direction']})" for b in removed) or "nothing recorded"))
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

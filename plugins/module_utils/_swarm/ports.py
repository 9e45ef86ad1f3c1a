# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Swarm port checks before a swarm exists (module hive.swarm.swarm_preflight): a detached helper process that
listens on the swarm ports for a while (TCP accept-and-close, UDP echo of our probes), and concurrent TCP/UDP
probes of other hosts' ports. Python standard library only (no Docker SDK): it runs on hosts without Docker's
Python SDK too. Raises SwarmError subclasses; the module's main() turns them into fail_json.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import secrets
import select
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Tuple

from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter, SwarmError

# The helper's argv is [python, -I, -S, -c, HELPER, MARKER, pid_file, fd, config]: MARKER and the pid file in
# /proc/PID/cmdline are how a helper is recognised - nothing else is ever signalled.
MARKER = "hive-swarm-preflight-listener"
PREFIX = b"hive-preflight "
TTL_MAX = 3600
REPORT_TIMEOUT = 15.0  # seconds the helper has to bind its sockets and report
STOP_TIMEOUT = 5.0  # seconds per signal (SIGTERM, then SIGKILL) for a helper to exit
MAX_WORKERS = 256  # probes in flight at once: hundreds of probes still take about one timeout
UDP_SENDS = 4  # datagrams per UDP probe, spread over the timeout

# The helper (Python 3.9+ standard library only), run as `python -I -S -c HELPER MARKER PID_FILE FD CONFIG`.
# SIGALRM (default action: terminate) is armed first, so the kernel ends the process after ttl seconds whatever
# happens in it. It reports one JSON line on FD once its sockets are bound (or it failed), then serves until
# ttl or SIGTERM.
HELPER = r"""
import errno, json, os, select, signal, socket, sys, time
signal.signal(signal.SIGALRM, signal.SIG_DFL)
conf = json.loads(sys.argv[4])
signal.alarm(int(conf["ttl"]))
start = time.monotonic()
pid_file, fd = sys.argv[2], int(sys.argv[3])
prefix = conf["prefix"].encode()


class Stop(Exception):
    pass


def on_term(signum, frame):
    raise Stop()


def report(data):
    global fd
    if fd >= 0:
        try:
            os.write(fd, (json.dumps(data) + "\n").encode())
        finally:
            os.close(fd)
            fd = -1


signal.signal(signal.SIGTERM, on_term)
socks = {}
try:
    addr = conf["addr"]
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    bound = {"tcp": [], "udp": []}
    in_use = {"tcp": [], "udp": []}
    for proto in ("tcp", "udp"):
        for port in conf[proto]:
            s = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
            try:
                if proto == "tcp":
                    # our own accepted connections leave TIME_WAIT behind: a new helper must still bind
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((addr, port))
                if proto == "tcp":
                    s.listen(128)
            except OSError as exc:
                s.close()
                if exc.errno == errno.EADDRINUSE:
                    in_use[proto].append(port)
                    continue
                name = errno.errorcode.get(exc.errno, str(exc.errno))
                report({"error": "cannot listen on %s %s port %d: %s (%s)" % (proto, addr, port, exc.strerror, name),
                        "errno": name})
                raise SystemExit(1)
            s.setblocking(False)
            socks[s.fileno()] = (proto, s)
            bound[proto].append(port)
    report({"pid": os.getpid(), "listening": bound, "in_use": in_use})
    poller = select.poll()
    for sfd in socks:
        poller.register(sfd, select.POLLIN)
    deadline = start + max(conf["ttl"] - 0.25, 0.1)
    while socks:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for sfd, _ev in poller.poll(left * 1000):
            proto, s = socks[sfd]
            try:
                if proto == "tcp":
                    s.accept()[0].close()
                else:
                    data, peer = s.recvfrom(2048)
                    if data.startswith(prefix):
                        s.sendto(data, peer)
            except OSError:
                pass
except Stop:
    pass
except BaseException as exc:
    if not isinstance(exc, SystemExit):
        report({"error": "listener failed: %s: %s" % (type(exc).__name__, exc)})
    raise
finally:
    for _proto, s in socks.values():
        s.close()
    try:
        with open(pid_file) as fh:
            mine = fh.read().strip() == str(os.getpid())
        if mine:
            os.unlink(pid_file)
    except OSError:
        pass
"""


class ListenerError(SwarmError):
    """The temporary listener could not be started, did not report, or could not be stopped."""


# --------------------------------------------------------------------------- input


def _port_list(ports: Optional[List[int]], where: str) -> List[int]:
    """Sorted unique ports; any port outside 1..65535 is an error naming ``where``."""
    out = set()
    for port in ports or []:
        if not 1 <= port <= 65535:
            raise InvalidParameter(f"{where}: port {port} is out of range (1..65535).")
        out.add(port)
    return sorted(out)


def _ip(value: str, option: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise InvalidParameter(f"{option} {value!r} is not an IP address.") from None


def _family(addr: str) -> int:
    return socket.AF_INET6 if ipaddress.ip_address(addr).version == 6 else socket.AF_INET


# --------------------------------------------------------------------------- the helper process


def _cmdline(pid: int) -> List[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return []


def is_listener(pid: int, pid_file: str) -> bool:
    """True when ``pid`` is a live helper started for ``pid_file`` (marker and path in its command line; a zombie's
    command line is empty)."""
    args = _cmdline(pid)
    marker = MARKER.encode()
    if marker not in args:
        return False
    index = args.index(marker)
    return index + 1 < len(args) and args[index + 1] == os.fsencode(pid_file)


def _read_pid(pid_file: str) -> Optional[int]:
    try:
        with open(pid_file) as fh:
            text = fh.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ListenerError(f"Cannot remove the pid file {path}: {exc.strerror}.") from None


def _wait_gone(pid: int, pid_file: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while is_listener(pid, pid_file):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _terminate(pid: int, pid_file: str) -> None:
    """SIGTERM, then SIGKILL, a helper of ``pid_file`` (re-checked before each signal)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_listener(pid, pid_file):
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            raise ListenerError(f"Not allowed to stop the listener (pid {pid}).",
                                hint="Run as the user that started it (become: true).") from None
        if _wait_gone(pid, pid_file, STOP_TIMEOUT):
            return
    raise ListenerError(f"The listener (pid {pid}) did not exit after SIGKILL.")


def stop_listener(pid_file: str) -> Optional[int]:
    """Stop the helper that ``pid_file`` names (only if it really is one) and remove the file; the pid stopped."""
    pid = _read_pid(pid_file)
    stopped = None
    if pid is not None and is_listener(pid, pid_file):
        _terminate(pid, pid_file)
        stopped = pid
    _remove(pid_file)
    return stopped


def _spawn(argv: List[str], write_fd: int) -> int:
    """Double fork: the child starts a new session and forks the helper, which execs ``argv`` with stdio on
    /dev/null and only ``write_fd`` inherited. Returns the child's pid (it exits at once, after writing
    ``pid <helper pid>`` on ``write_fd``)."""
    child = os.fork()
    if child:
        return child
    # In the child: never return into the module, whatever happens.
    try:
        os.setsid()
        helper = os.fork()
        if helper:
            os.write(write_fd, f"pid {helper}\n".encode())
        else:
            os.chdir("/")
            null = os.open(os.devnull, os.O_RDWR)
            for std in (0, 1, 2):
                os.dup2(null, std)
            os.set_inheritable(write_fd, True)
            os.execv(argv[0], argv)
    except OSError as exc:
        error = f"cannot start the listener with {argv[0]}: {exc.strerror or exc}"
        os.write(write_fd, (json.dumps({"error": error}) + "\n").encode())
    finally:
        os._exit(0)
    return 0  # not reached


def _read_report(read_fd: int, timeout: float) -> Tuple[Optional[int], Optional[Dict[str, Any]]]:
    """Read the ``pid N`` line and the helper's JSON report; stops at EOF or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    buf = b""
    poller = select.poll()
    poller.register(read_fd, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        if not poller.poll(left * 1000):
            continue
        chunk = os.read(read_fd, 65536)
        if not chunk:
            break
        buf += chunk
    pid = None
    report = None
    for line in buf.decode(errors="replace").splitlines():
        if line.startswith("pid ") and line[4:].strip().isdigit():
            pid = int(line[4:])
        elif line.startswith("{"):
            try:
                report = json.loads(line)
            except ValueError:
                continue
    return pid, report


def start_listener(bind_addr: str, tcp: List[int], udp: List[int], ttl: int, pid_file: str) -> Dict[str, Any]:
    """Start the helper and wait for its report: {pid, listening: {tcp, udp}, in_use: {tcp, udp}}."""
    python = sys.executable
    if not python:
        raise ListenerError("Cannot tell which Python runs this module (sys.executable is empty).")
    conf = {"addr": bind_addr, "tcp": tcp, "udp": udp, "ttl": ttl, "prefix": PREFIX.decode()}
    read_fd, write_fd = os.pipe()
    try:
        argv = [python, "-I", "-S", "-c", HELPER, MARKER, pid_file, str(write_fd), json.dumps(conf)]
        child = _spawn(argv, write_fd)
        os.close(write_fd)
        write_fd = -1
        os.waitpid(child, 0)
        helper_pid, report = _read_report(read_fd, REPORT_TIMEOUT)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    if report is None:
        if helper_pid is not None and is_listener(helper_pid, pid_file):
            _terminate(helper_pid, pid_file)
            raise ListenerError(f"The listener did not bind its sockets within {REPORT_TIMEOUT:.0f}s; stopped it.")
        raise ListenerError(f"The listener ({python}) exited without reporting.",
                            hint="Run the same Python by hand on the host to see why it does not start.")
    if "error" in report:
        hint = None
        if report.get("errno") == "EADDRNOTAVAIL":
            hint = f"bind_addr must be an address of this host ({bind_addr} is not)."
        elif report.get("errno") == "EACCES":
            hint = "Ports below 1024 need root (become: true)."
        raise ListenerError(str(report["error"]) + ".", hint=hint)
    return report


# --------------------------------------------------------------------------- probes


def _errno_text(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0)
    return f"{name}: {exc.strerror}" if name and exc.strerror else str(exc)


def _socket(family: int, kind: int, source: Optional[str]) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        if source:
            sock.bind((source, 0))
    except OSError:
        sock.close()
        raise
    return sock


def probe_tcp(family: int, ip: str, port: int, timeout: float, source: Optional[str]) -> Tuple[str, str]:
    """(status, detail) of one TCP connect."""
    try:
        sock = _socket(family, socket.SOCK_STREAM, source)
    except OSError as exc:
        return "error", _errno_text(exc)
    try:
        sock.settimeout(timeout)
        sock.connect((ip, port))
        return "ok", "connected"
    except socket.timeout:
        return "timeout", f"no answer within {timeout}s"
    except ConnectionRefusedError:
        return "refused", "connection refused (nothing listens)"
    except OSError as exc:
        if exc.errno == errno.ETIMEDOUT:
            return "timeout", f"no answer within {timeout}s"
        return "error", _errno_text(exc)
    finally:
        sock.close()


def probe_udp(family: int, ip: str, port: int, timeout: float, source: Optional[str]) -> Tuple[str, str]:
    """(status, detail) of one UDP echo probe: up to UDP_SENDS datagrams spread over ``timeout``."""
    payload = PREFIX + secrets.token_hex(8).encode()
    deadline = time.monotonic() + timeout
    interval = max(timeout / UDP_SENDS, 0.05)
    sent = 0
    try:
        sock = _socket(family, socket.SOCK_DGRAM, source)
    except OSError as exc:
        return "error", _errno_text(exc)
    try:
        sock.connect((ip, port))
        while time.monotonic() < deadline:
            sock.send(payload)
            sent += 1
            resend_at = min(time.monotonic() + interval, deadline)
            while True:
                wait = resend_at - time.monotonic()
                if wait <= 0:
                    break
                sock.settimeout(wait)
                try:
                    data = sock.recv(2048)
                except socket.timeout:
                    break
                if data == payload:
                    return "ok", "echo received"
        return "timeout", f"no echo within {timeout}s ({sent} datagrams sent)"
    except ConnectionRefusedError:
        return "refused", "ICMP port unreachable (nothing listens)"
    except OSError as exc:
        return "error", _errno_text(exc)
    finally:
        sock.close()


PROBES = {"tcp": probe_tcp, "udp": probe_udp}


def _resolve(addr: str, family: int) -> Tuple[int, str]:
    """(family, IP) of a target address: an IP literal, or the first address a name resolves to."""
    try:
        ip = ipaddress.ip_address(addr)
        return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), str(ip)
    except ValueError:
        pass
    infos = socket.getaddrinfo(addr, None, family, socket.SOCK_STREAM)
    fam, _kind, _proto, _name, sockaddr = infos[0]
    return fam, str(sockaddr[0])


def _targets(targets: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Validated targets (name defaults to addr; ports sorted and unique)."""
    out = []
    for index, target in enumerate(targets):
        name = target.get("name")
        label = f"targets[{index}]" + (f" ({name})" if name else "")
        addr = (target.get("addr") or "").strip()
        if not addr:
            raise InvalidParameter(f"{label} has no addr.", hint="Every target needs addr: its IP address.")
        label = f"targets[{index}] ({name or addr})"
        out.append({"name": name or addr, "addr": addr, "tcp": _port_list(target.get("tcp"), f"{label} tcp"),
                    "udp": _port_list(target.get("udp"), f"{label} udp")})
    return out


def probe(targets: List[Dict[str, Any]], timeout: float, source: Optional[str]) -> List[Dict[str, Any]]:
    """Probe every (target, proto, port) concurrently; results in targets order, tcp before udp, ports ascending."""
    jobs = [(index, proto, port) for index, t in enumerate(targets) for proto in ("tcp", "udp") for port in t[proto]]
    if not jobs:
        return []
    want = _family(source) if source else socket.AF_UNSPEC

    def resolve(target: Dict[str, Any]) -> Tuple[int, str]:
        try:
            return _resolve(target["addr"], want)
        except (OSError, IndexError) as exc:
            return 0, f"cannot resolve {target['addr']}: {exc}"

    def one(job: Tuple[int, str, int]) -> Dict[str, Any]:
        index, proto, port = job
        target = targets[index]
        family, ip = where[index]
        start = time.monotonic()
        if not family:
            status, detail = "error", ip
        elif source and family != want:
            status, detail = "error", f"{target['addr']} is another IP version than source_addr {source}"
        else:
            status, detail = PROBES[proto](family, ip, port, timeout, source)
        return {"name": target["name"], "addr": target["addr"], "proto": proto, "port": port, "status": status,
                "detail": detail, "seconds": round(time.monotonic() - start, 3)}

    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, len(jobs))) as pool:
        where = list(pool.map(resolve, targets))
        return list(pool.map(one, jobs))


# --------------------------------------------------------------------------- states


def probed(params: Dict[str, Any]) -> Dict[str, Any]:
    timeout = params["timeout"]
    if not 0 < timeout <= 300:
        raise InvalidParameter(f"timeout must be more than 0 and at most 300 seconds ({timeout}).")
    source = _ip(params["source_addr"], "source_addr") if params.get("source_addr") else None
    if source:
        try:
            _socket(_family(source), socket.SOCK_DGRAM, source).close()
        except OSError as exc:
            raise InvalidParameter(f"source_addr {source} cannot be used on this host ({_errno_text(exc)}).",
                                   hint="Use one of this host's own addresses.") from None
    results = probe(_targets(params["targets"] or []), timeout, source)
    return {"changed": False, "results": results, "failed_count": sum(1 for r in results if r["status"] != "ok")}


def _write_pid(pid_file: str, pid: int) -> None:
    tmp = f"{pid_file}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w") as fh:
            fh.write(f"{pid}\n")
        os.replace(tmp, pid_file)
    except OSError as exc:
        _terminate(pid, pid_file)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ListenerError(f"Cannot write the pid file {pid_file}: {exc.strerror}; stopped the listener.",
                            hint="Choose a pid_file in a writable directory.") from None


def listening(params: Dict[str, Any], pid_file: str) -> Dict[str, Any]:
    bind_addr = _ip(params["bind_addr"] or "", "bind_addr")
    ttl = params["ttl"]
    if not 1 <= ttl <= TTL_MAX:
        raise InvalidParameter(f"ttl must be 1 to {TTL_MAX} seconds ({ttl}).")
    tcp = _port_list(params["tcp_ports"], "tcp_ports")
    udp = _port_list(params["udp_ports"], "udp_ports")
    stop_listener(pid_file)
    report = start_listener(bind_addr, tcp, udp, ttl, pid_file)
    listening = {"tcp": list(report["listening"]["tcp"]), "udp": list(report["listening"]["udp"])}
    in_use = {"tcp": list(report["in_use"]["tcp"]), "udp": list(report["in_use"]["udp"])}
    pid: Optional[int] = int(report["pid"])
    if listening["tcp"] or listening["udp"]:
        _write_pid(pid_file, int(report["pid"]))
    else:
        pid = None  # every port in use: the helper has nothing to serve and exits by itself
    target = {"name": socket.gethostname(), "addr": bind_addr, "tcp": tcp, "udp": listening["udp"]}
    return {"changed": False, "listening": listening, "in_use": in_use, "target": target, "pid": pid,
            "bind_addr": bind_addr}


def run(params: Dict[str, Any]) -> Dict[str, Any]:
    """The module's logic; raises SwarmError subclasses, returns the result."""
    if params["state"] == "probed":
        return probed(params)
    pid_file = os.path.abspath(params["pid_file"])
    if params["state"] == "stopped":
        pid = stop_listener(pid_file)
        return {"changed": False, "stopped": pid is not None, "pid": pid}
    return listening(params, pid_file)

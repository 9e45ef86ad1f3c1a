"""swarm_preflight with real sockets and real helper processes on 127.0.0.1 (never any other address)."""

from __future__ import annotations

import ast
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import ports
from ansible_collections.hive.swarm.plugins.modules import swarm_preflight

MAIN = swarm_preflight.main
LOCAL = "127.0.0.1"


def wait_until(pred: Callable[[], bool], timeout: float) -> bool:
    """Poll pred until it holds or the deadline passes (the only way these tests wait)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def free_ports(count: int) -> list[int]:
    """Ports the OS hands out that are free for both TCP and UDP on 127.0.0.1."""
    out: list[int] = []
    while len(out) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((LOCAL, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((LOCAL, port))
                except OSError:
                    continue
        if port not in out:
            out.append(port)
    return out


@pytest.fixture
def pid_file(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "preflight.pid")
    yield path
    ports.stop_listener(path)  # never leave a helper behind


def listen(run_module, pid_file: str, tcp: list[int], udp: list[int], ttl: int = 60, check: bool = False):
    return run_module(MAIN, {"state": "listening", "bind_addr": LOCAL, "tcp_ports": tcp, "udp_ports": udp,
                             "ttl": ttl, "pid_file": pid_file}, check=check)


def probe(run_module, targets: list[dict], timeout: float = 1.0, **extra):
    return run_module(MAIN, {"state": "probed", "targets": targets, "timeout": timeout, **extra})


def statuses(res) -> dict[tuple[str, int], str]:
    return {(r["proto"], r["port"]): r["status"] for r in res["results"]}


# --------------------------------------------------------------------------- listen, probe, stop


def test_listen_probe_stop(run_module, pid_file):
    tcp1, tcp2, udp1, udp2 = free_ports(4)
    res = listen(run_module, pid_file, [tcp2, tcp1], [udp1, udp2])
    assert not res.failed and not res.changed, res.result
    pid = res["pid"]
    assert res["listening"] == {"tcp": sorted([tcp1, tcp2]), "udp": sorted([udp1, udp2])}
    assert res["in_use"] == {"tcp": [], "udp": []}
    assert res["bind_addr"] == LOCAL
    assert res["target"] == {"name": socket.gethostname(), "addr": LOCAL, "tcp": sorted([tcp1, tcp2]),
                             "udp": sorted([udp1, udp2])}
    assert Path(pid_file).read_text().strip() == str(pid)
    assert ports.is_listener(pid, pid_file)
    assert pid != os.getpid() and os.getsid(pid) != os.getsid(0), "the helper runs in its own session"

    out = probe(run_module, [res["target"]])
    assert not out.failed and not out.changed
    assert [(r["proto"], r["port"], r["status"]) for r in out["results"]] == [
        ("tcp", p, "ok") for p in sorted([tcp1, tcp2])] + [("udp", p, "ok") for p in sorted([udp1, udp2])]
    assert out["failed_count"] == 0
    for r in out["results"]:
        assert r["name"] == socket.gethostname() and r["addr"] == LOCAL and r["seconds"] < 1.0 and r["detail"]

    stop = run_module(MAIN, {"state": "stopped", "pid_file": pid_file})
    assert not stop.failed and not stop.changed and stop["stopped"] is True and stop["pid"] == pid
    assert not ports.is_listener(pid, pid_file)
    assert not Path(pid_file).exists()
    again = run_module(MAIN, {"state": "stopped", "pid_file": pid_file})
    assert again["stopped"] is False and again["pid"] is None
    # the ports are free again
    after = probe(run_module, [{"name": "x", "addr": LOCAL, "tcp": [tcp1], "udp": [udp1]}])
    assert statuses(after) == {("tcp", tcp1): "refused", ("udp", udp1): "refused"}


def test_check_mode_behaves_the_same(run_module, pid_file):
    tcp, udp = free_ports(2)
    res = listen(run_module, pid_file, [tcp], [udp], check=True)
    assert not res.failed and not res.changed and res["listening"] == {"tcp": [tcp], "udp": [udp]}
    assert ports.is_listener(res["pid"], pid_file)
    out = run_module(MAIN, {"state": "probed", "targets": [res["target"]], "timeout": 1.0}, check=True)
    assert out["failed_count"] == 0
    stop = run_module(MAIN, {"state": "stopped", "pid_file": pid_file}, check=True)
    assert stop["stopped"] is True and not stop.changed


def test_closed_ports_are_refused(run_module):
    tcp, udp = free_ports(2)
    out = probe(run_module, [{"name": "lo", "addr": LOCAL, "tcp": [tcp], "udp": [udp]}])
    assert not out.failed
    assert out["results"] == [
        {"name": "lo", "addr": LOCAL, "proto": "tcp", "port": tcp, "status": "refused",
         "detail": "connection refused (nothing listens)", "seconds": out["results"][0]["seconds"]},
        {"name": "lo", "addr": LOCAL, "proto": "udp", "port": udp, "status": "refused",
         "detail": "ICMP port unreachable (nothing listens)", "seconds": out["results"][1]["seconds"]},
    ]
    assert out["failed_count"] == 2


def test_ports_in_use_are_reported_not_an_error(run_module, pid_file):
    busy_tcp, free_tcp, busy_udp, free_udp = free_ports(4)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held_tcp, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held_udp:
        held_tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like dockerd's listeners
        held_tcp.bind((LOCAL, busy_tcp))
        held_tcp.listen(8)
        held_udp.bind((LOCAL, busy_udp))
        res = listen(run_module, pid_file, [busy_tcp, free_tcp], [busy_udp, free_udp])
        assert not res.failed, res.get("msg")
        assert res["listening"] == {"tcp": [free_tcp], "udp": [free_udp]}
        assert res["in_use"] == {"tcp": [busy_tcp], "udp": [busy_udp]}
        # the target keeps every TCP port (its owner accepts connections) and only the UDP ports that echo
        assert res["target"]["tcp"] == sorted([busy_tcp, free_tcp]) and res["target"]["udp"] == [free_udp]
        out = probe(run_module, [res["target"]])
        assert out["failed_count"] == 0, out["results"]
        # a UDP port held by something that does not echo cannot be checked: it times out
        held = probe(run_module, [{"addr": LOCAL, "udp": [busy_udp]}], timeout=0.3)
        assert statuses(held) == {("udp", busy_udp): "timeout"}
        assert held["results"][0]["name"] == LOCAL  # name defaults to addr


def test_every_port_in_use_leaves_no_helper(run_module, pid_file):
    (port,) = free_ports(1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind((LOCAL, port))
        held.listen(1)
        res = listen(run_module, pid_file, [port], [])
    assert not res.failed and res["pid"] is None
    assert res["listening"] == {"tcp": [], "udp": []} and res["in_use"] == {"tcp": [port], "udp": []}
    assert not Path(pid_file).exists()


def test_listening_again_replaces_the_previous_helper(run_module, pid_file):
    tcp, udp = free_ports(2)
    first = listen(run_module, pid_file, [tcp], [udp])
    # the first helper accepted a connection: its TIME_WAIT must not stop the next one from listening
    assert probe(run_module, [first["target"]])["failed_count"] == 0
    second = listen(run_module, pid_file, [tcp], [udp])
    assert not second.failed and second["pid"] != first["pid"]
    assert not ports.is_listener(first["pid"], pid_file)
    assert second["in_use"] == {"tcp": [], "udp": []} and second["listening"] == {"tcp": [tcp], "udp": [udp]}
    assert probe(run_module, [second["target"]])["failed_count"] == 0


def test_the_helper_ends_itself_after_ttl(run_module, pid_file):
    tcp, udp = free_ports(2)
    res = listen(run_module, pid_file, [tcp], [udp], ttl=1)
    pid = res["pid"]
    assert ports.is_listener(pid, pid_file)
    # nothing stops it but its ttl (1 s); the deadline only bounds the wait (no speed is asserted)
    assert wait_until(lambda: not ports.is_listener(pid, pid_file), 10), "helper outlived its ttl"
    assert wait_until(lambda: not Path(pid_file).exists(), 5), "the helper leaves its pid file behind"
    assert statuses(probe(run_module, [{"addr": LOCAL, "tcp": [tcp], "udp": [udp]}])) == {
        ("tcp", tcp): "refused", ("udp", udp): "refused"}


def test_a_helper_stops_on_sigterm(run_module, pid_file):
    (tcp,) = free_ports(1)
    pid = listen(run_module, pid_file, [tcp], [])["pid"]
    os.kill(pid, 15)
    assert wait_until(lambda: not ports.is_listener(pid, pid_file), 5)
    assert wait_until(lambda: not Path(pid_file).exists(), 5)


def test_stop_signals_only_a_helper_of_this_pid_file(run_module, pid_file, tmp_path):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        Path(pid_file).write_text(f"{other.pid}\n")
        res = run_module(MAIN, {"state": "stopped", "pid_file": pid_file})
        assert not res.failed and res["stopped"] is False
        assert other.poll() is None, "a process without the marker was signalled"
        assert not Path(pid_file).exists()
    finally:
        other.kill()
        other.wait()
    # a real helper, but named by another pid file: not ours to stop
    (tcp,) = free_ports(1)
    pid = listen(run_module, pid_file, [tcp], [])["pid"]
    foreign = tmp_path / "other.pid"
    foreign.write_text(f"{pid}\n")
    res = run_module(MAIN, {"state": "stopped", "pid_file": str(foreign)})
    assert res["stopped"] is False and ports.is_listener(pid, pid_file)
    Path(pid_file).write_text("garbage\n")
    assert run_module(MAIN, {"state": "stopped", "pid_file": pid_file})["stopped"] is False
    assert ports.is_listener(pid, pid_file)
    Path(pid_file).write_text(f"{pid}\n")
    assert run_module(MAIN, {"state": "stopped", "pid_file": pid_file})["stopped"] is True


# --------------------------------------------------------------------------- failures and bad input


def test_bind_addr_that_is_not_local_fails_clearly(run_module, pid_file):
    # binding sends nothing; 192.0.2.1 (TEST-NET-1) is not an address of this machine
    res = run_module(MAIN, {"state": "listening", "bind_addr": "192.0.2.1", "pid_file": pid_file,
                            "tcp_ports": free_ports(1), "udp_ports": []})
    assert res.failed and res["error_type"] == "ListenerError"
    assert "cannot listen on tcp 192.0.2.1 port" in res["msg"] and "EADDRNOTAVAIL" in res["msg"]
    assert "bind_addr must be an address of this host" in res["msg"]
    assert not Path(pid_file).exists()


def test_a_helper_that_does_not_start_fails_the_module(run_module, pid_file, monkeypatch):
    monkeypatch.setattr(ports.sys, "executable", "/nonexistent/python")
    res = listen(run_module, pid_file, free_ports(1), [])
    assert res.failed and res["error_type"] == "ListenerError"
    assert "cannot start the listener" in res["msg"] and "/nonexistent/python" in res["msg"]


def test_a_helper_that_does_not_report_is_stopped(run_module, pid_file, monkeypatch):
    monkeypatch.setattr(ports, "HELPER", "import time\ntime.sleep(30)\n")
    monkeypatch.setattr(ports, "REPORT_TIMEOUT", 0.5)
    res = listen(run_module, pid_file, free_ports(1), [])
    assert res.failed and "did not bind its sockets within" in res["msg"] and "stopped it" in res["msg"]


@pytest.mark.parametrize(("args", "message"), [
    ({"state": "probed", "targets": [{"name": "m1", "addr": LOCAL, "tcp": [1]}, {"name": "w2", "tcp": [7946]}]},
     "targets[1] (w2) has no addr."),
    ({"state": "probed", "targets": [{"addr": "10.0.0.5", "tcp": [0]}]},
     "targets[0] (10.0.0.5) tcp: port 0 is out of range (1..65535)."),
    ({"state": "probed", "targets": [{"name": "w1", "addr": "10.0.0.5", "udp": [4789, 70000]}]},
     "targets[0] (w1) udp: port 70000 is out of range (1..65535)."),
    ({"state": "probed", "targets": [], "timeout": 0}, "timeout must be more than 0"),
    ({"state": "probed", "targets": [], "source_addr": "nope"}, "source_addr 'nope' is not an IP address."),
    ({"state": "probed", "targets": [], "source_addr": "192.0.2.1"}, "source_addr 192.0.2.1 cannot be used"),
    ({"state": "listening", "bind_addr": "host.example"}, "bind_addr 'host.example' is not an IP address."),
    ({"state": "listening", "bind_addr": LOCAL, "ttl": 0}, "ttl must be 1 to 3600 seconds (0)."),
    ({"state": "listening", "bind_addr": LOCAL, "ttl": 3601}, "ttl must be 1 to 3600 seconds (3601)."),
    ({"state": "listening", "bind_addr": LOCAL, "udp_ports": [65536]}, "udp_ports: port 65536 is out of range"),
])
def test_bad_input_is_refused_naming_the_item(run_module, pid_file, args, message):
    res = run_module(MAIN, {"pid_file": pid_file, **args})
    assert res.failed and res["error_type"] == "InvalidParameter", res.result
    assert message in res["msg"]
    assert not Path(pid_file).exists()


def test_required_options_per_state(run_module):
    assert "bind_addr" in run_module(MAIN, {"state": "listening"})["msg"]
    assert "targets" in run_module(MAIN, {"state": "probed"})["msg"]


# --------------------------------------------------------------------------- probe classification (mocked)


class FakeSocket:
    """connect/recv behaviour chosen by the test; records what was sent."""

    def __init__(self, connect_exc=None, recv_exc=None) -> None:
        self.connect_exc = connect_exc
        self.recv_exc = recv_exc
        self.sent: list[bytes] = []
        self.timeouts: list[float] = []
        self.closed = False

    def settimeout(self, value):
        self.timeouts.append(value)

    def connect(self, addr):
        if self.connect_exc:
            raise self.connect_exc

    def send(self, data):
        self.sent.append(data)
        return len(data)

    def recv(self, size):
        if self.recv_exc is socket.timeout:
            time.sleep(self.timeouts[-1])
        raise self.recv_exc

    def close(self):
        self.closed = True


@pytest.fixture
def fake_socket(monkeypatch):
    made: list[FakeSocket] = []

    def use(**behaviour):
        def factory(family, kind, source):
            sock = FakeSocket(**behaviour)
            made.append(sock)
            return sock
        monkeypatch.setattr(ports, "_socket", factory)
        return made

    return use


def test_tcp_timeout_and_errors_are_classified(fake_socket):
    made = fake_socket(connect_exc=socket.timeout("timed out"))
    assert ports.probe_tcp(socket.AF_INET, "10.0.0.5", 2377, 3.0, None) == (
        "timeout", "no answer within 3.0s")
    assert made[-1].timeouts == [3.0] and made[-1].closed
    fake_socket(connect_exc=OSError(110, "Connection timed out"))
    assert ports.probe_tcp(socket.AF_INET, "10.0.0.5", 2377, 3.0, None)[0] == "timeout"
    fake_socket(connect_exc=ConnectionRefusedError(111, "Connection refused"))
    assert ports.probe_tcp(socket.AF_INET, "10.0.0.5", 2377, 3.0, None)[0] == "refused"
    fake_socket(connect_exc=OSError(113, "No route to host"))
    assert ports.probe_tcp(socket.AF_INET, "10.0.0.5", 2377, 3.0, None) == (
        "error", "EHOSTUNREACH: No route to host")


def test_udp_without_echo_resends_then_times_out(fake_socket):
    made = fake_socket(recv_exc=socket.timeout)
    status, detail = ports.probe_udp(socket.AF_INET, "10.0.0.5", 4789, 0.4, None)
    assert status == "timeout" and "no echo within 0.4s" in detail
    sent = made[-1].sent
    assert 2 <= len(sent) <= ports.UDP_SENDS and len(set(sent)) == 1, "the same nonce is re-sent"
    assert sent[0].startswith(b"hive-preflight ") and len(sent[0]) > len(b"hive-preflight ") + 8
    # the waits for an echo are spread over the timeout: none longer than one re-send interval, none beyond it
    waits = made[-1].timeouts
    interval = max(0.4 / ports.UDP_SENDS, 0.05)
    assert waits and all(0 < w <= interval + 1e-6 for w in waits) and sum(waits) <= 0.4 + 1e-6, waits
    fake_socket(recv_exc=ConnectionRefusedError(111, "Connection refused"))
    assert ports.probe_udp(socket.AF_INET, "10.0.0.5", 4789, 0.4, None)[0] == "refused"
    fake_socket(recv_exc=OSError(101, "Network is unreachable"))
    assert ports.probe_udp(socket.AF_INET, "10.0.0.5", 4789, 0.4, None) == (
        "error", "ENETUNREACH: Network is unreachable")


def test_hundreds_of_probes_run_at_once(monkeypatch):
    """240 probes run concurrently (about one timeout in all, not 240): every probe waits until the others have
    started (polled with a deadline), which only ends when they are in flight together."""
    started: list[int] = []
    lock = threading.Lock()

    def slow(family, ip, port, timeout, source):
        with lock:
            started.append(port)
        together = wait_until(lambda: len(started) >= min(240, ports.MAX_WORKERS), 30)
        return ("timeout" if together else "error"), f"no answer within {timeout}s"

    monkeypatch.setattr(ports, "PROBES", {"tcp": slow, "udp": slow})
    targets = [{"name": f"h{i}", "addr": f"10.0.{i}.1", "tcp": [2377, 7946], "udp": [7946, 4789]} for i in range(60)]
    results = ports.probe(ports._targets(targets), 0.5, None)
    assert len(results) == 240 and {r["status"] for r in results} == {"timeout"}
    assert ports.MAX_WORKERS >= 240, "one timeout in all needs a thread per probe"
    # stable order: targets order, tcp before udp, ports ascending
    assert [(r["name"], r["proto"], r["port"]) for r in results[:8]] == [
        ("h0", "tcp", 2377), ("h0", "tcp", 7946), ("h0", "udp", 4789), ("h0", "udp", 7946),
        ("h1", "tcp", 2377), ("h1", "tcp", 7946), ("h1", "udp", 4789), ("h1", "udp", 7946)]


def test_duplicate_ports_are_probed_once_and_unresolvable_names_are_errors(run_module, monkeypatch):
    def no_dns(host, *args):  # no name service traffic from unit tests
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(ports.socket, "getaddrinfo", no_dns)
    (tcp,) = free_ports(1)
    out = probe(run_module, [{"name": "a", "addr": LOCAL, "tcp": [tcp, tcp]},
                             {"name": "b", "addr": "no-such-host.invalid", "tcp": [tcp]}])
    assert [(r["name"], r["status"]) for r in out["results"]] == [("a", "refused"), ("b", "error")]
    assert "cannot resolve no-such-host.invalid" in out["results"][1]["detail"]


def test_module_and_helper_are_python39_syntax():
    for path in (swarm_preflight.__file__, ports.__file__):
        source = Path(path).read_text()
        ast.parse(source, feature_version=(3, 9))
        assert "import docker" not in source and "module_utils._swarm.client" not in source
    ast.parse(ports.HELPER, feature_version=(3, 9))

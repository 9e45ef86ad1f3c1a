"""hivelab block/unblock: an iptables DROP rule inside a lab host's network namespace.

Lab used here: labt5 (net 57, 1 manager + 1 worker, no swarm: nothing listens on the swarm ports, so an open
port answers "refused" and a blocked one times out). Traffic goes only between the lab's 198.18.57.x hosts.
"""

from __future__ import annotations

import subprocess

import hivelab
import pytest
from labfixtures import REPO

pytestmark = pytest.mark.lab

LAB, NET = "labt5", 57
HIVELAB = REPO / "lab" / "hivelab"
# Run inside a lab host: one TCP connect or one UDP exchange -> ok | refused | timeout (plain Python sockets).
ATTEMPT = r"""
import socket, sys
ip, port, proto, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
try:
    if proto == "tcp":
        s = socket.create_connection((ip, port), timeout)
        s.close()
        print("ok")
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect((ip, port))
        for _ in range(3):
            s.send(b"hivelab-test")
            s.settimeout(timeout / 3)
            try:
                s.recv(64)
                print("ok")
                break
            except socket.timeout:
                continue
        else:
            print("timeout")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
"""


@pytest.fixture(scope="module")
def lab(lab_factory) -> hivelab.Lab:
    return lab_factory(LAB, NET, managers=1, workers=1)


def attempt(lab: hivelab.Lab, src: str, dst: str, port: int, proto: str = "tcp", timeout: float = 1.5) -> str:
    proc = lab.exec(src, ["/usr/bin/python3", "-c", ATTEMPT, lab.host(dst).ip, str(port), proto, str(timeout)],
                    timeout=30)
    return proc.stdout.strip()


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HIVELAB), *args, "--name", LAB], capture_output=True, text=True, timeout=60,
                          check=False)


def rules(lab: hivelab.Lab, host: str) -> list[str]:
    h = lab.host(host)
    out = lab._iptables(h, "-S").stdout
    return [line for line in out.splitlines() if hivelab.BLOCK_COMMENT in line]


def test_block_tcp_port_times_out_while_others_are_refused(lab):
    assert attempt(lab, "m1", "w1", 7946) == "refused"
    assert attempt(lab, "m1", "w1", 2377) == "refused"
    assert lab.block("w1", 7946, "tcp") is True
    assert lab.block("w1", 7946, "tcp") is False, "blocking twice adds no second rule"
    assert len(rules(lab, "w1")) == 1
    assert lab.blocks("w1") == [{"port": 7946, "proto": "tcp", "direction": "in"}]
    assert attempt(lab, "m1", "w1", 7946) == "timeout"
    assert attempt(lab, "m1", "w1", 2377) == "refused"
    assert next(r for r in lab.status() if r["host"] == "labt5-w1")["blocks"] == "7946/tcp"
    assert next(r for r in lab.status() if r["host"] == "labt5-m1")["blocks"] == "-"
    assert lab.unblock("w1", 7946, "tcp") == [{"port": 7946, "proto": "tcp", "direction": "in"}]
    assert attempt(lab, "m1", "w1", 7946) == "refused"
    assert lab.blocks("w1") == [] and rules(lab, "w1") == []


def test_block_udp_and_outgoing(lab):
    assert attempt(lab, "m1", "w1", 4789, "udp") == "refused"  # ICMP port unreachable
    lab.block("w1", 4789, "udp")
    assert attempt(lab, "m1", "w1", 4789, "udp") == "timeout"
    # out: the manager's own packets to port 2377 anywhere are dropped; the worker can still reach the manager
    lab.block("m1", 2377, "tcp", direction="out")
    assert attempt(lab, "m1", "w1", 2377) == "timeout"
    assert attempt(lab, "w1", "m1", 2377) == "refused"
    assert lab.unblock("m1") == [{"port": 2377, "proto": "tcp", "direction": "out"}]
    assert attempt(lab, "m1", "w1", 2377) == "refused"
    lab.unblock("w1", 4789)  # a bare port: both protocols
    assert attempt(lab, "m1", "w1", 4789, "udp") == "refused"
    assert lab.blocks("m1") == lab.blocks("w1") == []


def test_cli_block_status_unblock(lab):
    proc = cli("block", "labt5-w1", "7946/tcp")
    assert proc.returncode == 0 and "labt5-w1: blocked 7946/tcp (in)" in proc.stdout, proc.stderr
    assert cli("block", "w1", "7946/udp").returncode == 0
    status = cli("status")
    assert status.returncode == 0 and "BLOCKS" in status.stdout
    assert any(line.startswith("labt5-w1") and line.rstrip().endswith("7946/tcp,7946/udp")
               for line in status.stdout.splitlines()), status.stdout
    assert attempt(lab, "m1", "w1", 7946) == "timeout"
    # a rule the record does not know of (set by hand) goes too with unblock-all
    lab._iptables(lab.host("w1"), "-I", *lab._block_rule(22, "tcp", "in"))
    proc = cli("unblock", "w1")
    assert proc.returncode == 0 and "7946/tcp (in), 7946/udp (in)" in proc.stdout, proc.stdout + proc.stderr
    assert rules(lab, "w1") == [] and lab.blocks("w1") == []
    assert attempt(lab, "m1", "w1", 7946) == "refused"
    assert cli("unblock", "w1").stdout.strip() == "labt5-w1: unblocked nothing recorded"


def test_bad_block_arguments(lab):
    for port, proto, direction in ((0, "tcp", "in"), (70000, "tcp", "in"), (7946, "icmp", "in"),
                                   (7946, "tcp", "sideways")):
        with pytest.raises(hivelab.LabError):
            lab.block("w1", port, proto, direction)
    proc = cli("block", "w1", "7946")
    assert proc.returncode == 1 and "bad PORT/PROTO '7946'" in proc.stderr
    assert lab.blocks("w1") == [] and rules(lab, "w1") == []

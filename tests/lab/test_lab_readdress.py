"""hivelab readdress: change a lab host's IP on the lab bridge (state, inventory, sshd follow).

Lab used here: adr2 (net 49, 1 manager + 1 worker, no swarm).
"""

from __future__ import annotations

import json
import subprocess

import hivelab
import pytest
import yaml
from labfixtures import REPO

pytestmark = pytest.mark.lab

LAB, NET = "adr2", 49
HIVELAB = REPO / "lab" / "hivelab"


@pytest.fixture(scope="module")
def lab(lab_factory) -> hivelab.Lab:
    return lab_factory(LAB, NET, managers=1, workers=1)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HIVELAB), *args, "--name", LAB], capture_output=True, text=True, timeout=60,
                          check=False)


def eth0(lab: hivelab.Lab, host: str) -> list[str]:
    """The host's IPv4 addresses on eth0, the primary one first."""
    return lab._addresses(lab.host(host))


def ssh_hostname(lab: hivelab.Lab, host: str, ip: str) -> str:
    argv = lab.ssh_argv(host, "hostname")
    argv[-2] = f"root@{ip}"
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout.strip()


def test_readdress_moves_the_host_and_everything_follows(lab):
    proc = cli("readdress", "m1", f"198.18.{NET}.31")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{LAB}-m1: 198.18.{NET}.11 -> 198.18.{NET}.31"
    fresh = hivelab.Lab(LAB)
    assert fresh.host("m1").ip == f"198.18.{NET}.31" and fresh.host(f"198.18.{NET}.31").name == f"{LAB}-m1"
    assert eth0(fresh, "m1") == [f"198.18.{NET}.31"]
    assert cli("ip", "m1").stdout.strip() == f"198.18.{NET}.31"
    assert {h["name"]: h["ip"] for h in json.loads(cli("hosts").stdout)}[f"{LAB}-m1"] == f"198.18.{NET}.31"
    inv = yaml.safe_load(fresh.inventory_path.read_text())
    m1 = inv["all"]["children"]["docker_swarm"]["children"]["docker_swarm_manager"]["hosts"][f"{LAB}-m1"]
    assert m1["ansible_host"] == m1["docker_swarm_advertise_addr"] == f"198.18.{NET}.31"
    assert ssh_hostname(fresh, "m1", f"198.18.{NET}.31") == f"{LAB}-m1"
    assert fresh.tcp_probe("w1", f"198.18.{NET}.31", 22) and not fresh.tcp_probe("w1", f"198.18.{NET}.11", 22, 1)
    assert fresh.up(1, 1, log=lambda _m: None)["action"] == "noop"
    assert fresh.host("m1").ip == f"198.18.{NET}.31", "up keeps the new address"


def test_keep_old_makes_the_new_address_primary_until_the_next_readdress(lab):
    report = lab.readdress("w1", f"198.18.{NET}.32", keep_old=True)
    assert report["kept"] == [f"198.18.{NET}.12"]
    assert eth0(lab, "w1") == [f"198.18.{NET}.32", f"198.18.{NET}.12"]
    assert lab.host("w1").ip == f"198.18.{NET}.32" and lab.extra_addresses("w1") == [f"198.18.{NET}.12"]
    assert ssh_hostname(lab, "w1", f"198.18.{NET}.12") == ssh_hostname(lab, "w1", f"198.18.{NET}.32") == f"{LAB}-w1"
    lab.readdress("w1", f"198.18.{NET}.32")
    assert eth0(lab, "w1") == [f"198.18.{NET}.32"] and lab.extra_addresses("w1") == []


@pytest.mark.parametrize(("ip", "why"), [
    (f"198.18.{NET + 1}.40", "outside lab"), (f"198.18.{NET}.1", "outside lab"), ("nonsense", "bad address"),
    (f"198.18.{NET}.32", f"is used by {LAB}-w1")])
def test_readdress_refusals_change_nothing(lab, ip, why):
    before = lab.host("m1").ip
    proc = cli("readdress", "m1", ip)
    assert proc.returncode == 1 and why in proc.stderr, proc.stderr
    assert hivelab.Lab(LAB).host("m1").ip == before and eth0(lab, "m1") == [before]

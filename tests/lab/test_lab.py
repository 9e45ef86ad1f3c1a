"""Tests of the lab tool itself (lab/hivelab.py): real namespaces, dockerd, sshd, swarm.

Labs used here: labt1 (net 1, 3 managers + 2 workers), labt2 (net 2), labt3 (net 3), labt4 (net 4);
test_lab_block.py: labt5 (net 57); test_lab_engines.py: labe1 (net 62), labe2 (net 63).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import hivelab
import pytest
from labfixtures import REPO

pytestmark = pytest.mark.lab

VENV_BIN = REPO / ".venv" / "bin"
HIVELAB = REPO / "lab" / "hivelab"


def _cli(*args: str, python: str | None = None) -> subprocess.CompletedProcess:
    argv = [python, str(REPO / "lab" / "hivelab.py"), *args] if python else [str(HIVELAB), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)


def _poll(pred, timeout: float, interval: float = 0.2) -> bool:
    return hivelab._poll(pred, timeout, interval)


def _snapshot(lab: hivelab.Lab) -> dict:
    """Everything of a lab that `down` must remove."""
    pidfiles = []
    for h in lab.hosts:
        pidfiles += [h.holder_pidfile, h.dockerd_pidfile, h.containerd_pidfile, h.sshd_pidfile]
    pids = set(lab.pids())
    pids |= {int(p.read_text()) for p in pidfiles if p.exists()}
    return {
        "name": lab.name,
        "pids": pids,
        "netns": {h.netns for h in lab.hosts},
        "links": {h.veth for h in lab.hosts} | {lab.bridge},
        "dir": lab.dir,
    }


def _assert_gone(snap: dict) -> None:
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    listed = {line.split()[0] for line in netns.splitlines() if line.strip()}
    assert not (snap["netns"] & listed), f"netns left: {snap['netns'] & listed}"
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = {m.group(1) for m in re.finditer(r"^\d+: ([^:@]+)", links, re.M)}
    assert not (snap["links"] & names), f"links left: {snap['links'] & names}"
    mounts = Path("/proc/mounts").read_text()
    assert str(snap["dir"]) not in mounts
    assert not any(ns in mounts for ns in snap["netns"])
    assert snap["pids"], "snapshot recorded no processes"
    alive = {p for p in snap["pids"] if hivelab._alive(p)}
    assert not alive, f"processes still running: {alive}"
    assert not snap["dir"].exists()
    assert not list(Path("/sys/fs/cgroup").glob(f"*/hivelab/{snap['name']}")), "cgroups left"


# --------------------------------------------------------------------------- labt1: 3 managers + 2 workers


@pytest.fixture(scope="module")
def lab5(lab_factory) -> hivelab.Lab:
    lab = lab_factory("labt1", 1, managers=3, workers=2)
    print(f"\nlabt1: 5 hosts up in {lab_factory.up_seconds['labt1']:.1f}s")
    return lab


def test_hosts_layout(lab5):
    assert [h.name for h in lab5.hosts] == ["labt1-m1", "labt1-m2", "labt1-m3", "labt1-w1", "labt1-w2"]
    assert [h.ip for h in lab5.hosts] == [f"198.18.1.{i}" for i in range(11, 16)]
    assert [h.role for h in lab5.hosts] == ["manager"] * 3 + ["worker"] * 2
    assert all(len(h.veth) <= 15 for h in lab5.hosts) and len(lab5.bridge) <= 15
    assert len({h.socket for h in lab5.hosts}) == 5
    assert all(h.socket.is_socket() for h in lab5.hosts)
    assert lab5.host("m2") is not None and lab5.host("labt1-m2").ip == "198.18.1.12"


def test_ansible_ping_with_generated_inventory(lab5):
    inv = lab5.inventory_path
    assert inv.is_file()
    proc = subprocess.run([str(VENV_BIN / "ansible"), "-i", str(inv), "all", "-m", "ansible.builtin.ping"],
                          capture_output=True, text=True, timeout=180, cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for h in lab5.hosts:
        assert re.search(rf"^{h.name} \| SUCCESS", proc.stdout, re.M), proc.stdout


def test_inventory_groups_and_vars(lab5, tmp_path):
    out = tmp_path / "inv.ini"
    proc = _cli("inventory", "--name", "labt1", "--format", "ini", "--output", str(out),
                "--python", str(VENV_BIN / "python"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    for path, python in ((lab5.inventory_path, "/usr/bin/python3"), (out, str(VENV_BIN / "python"))):
        listing = subprocess.run([str(VENV_BIN / "ansible-inventory"), "-i", str(path), "--list"],
                                 capture_output=True, text=True, timeout=60, cwd=REPO, check=True).stdout
        data = json.loads(listing)
        assert sorted(data["docker_swarm"]["children"]) == ["docker_swarm_manager", "docker_swarm_worker"]
        assert data["docker_swarm_manager"]["hosts"] == ["labt1-m1", "labt1-m2", "labt1-m3"]
        assert data["docker_swarm_worker"]["hosts"] == ["labt1-w1", "labt1-w2"]
        hv = data["_meta"]["hostvars"]["labt1-w2"]
        assert hv["ansible_host"] == hv["docker_swarm_advertise_addr"] == "198.18.1.15"
        assert hv["ansible_user"] == "root"
        assert hv["ansible_python_interpreter"] == python
        assert hv["ansible_ssh_private_key_file"] == str(lab5.key_path)
        assert "StrictHostKeyChecking=no" in hv["ansible_ssh_common_args"]


def test_ssh_reaches_distinct_hosts(lab5):
    seen = {}
    for h in lab5.hosts:
        proc = subprocess.run(lab5.ssh_argv(h, "hostname; cat /proc/sys/kernel/hostname; "
                                               "ip -o -4 addr show dev eth0"),
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == lines[1] == h.name
        assert f"inet {h.ip}/24" in lines[2]
        seen[h.name] = lines[0]
    assert len(set(seen.values())) == 5


def test_hosts_have_their_own_home(lab5):
    """Each host has its own /root: the machine's dotfiles do not run in the hosts' SSH sessions."""
    marker = ".hivelab-home-probe"
    h = lab5.hosts[0]
    proc = subprocess.run(lab5.ssh_argv(h, f"touch ~/{marker}; echo $HOME"), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "/root"
    try:
        assert (h.dir / "home" / marker).exists()
        assert not Path("/root", marker).exists()
        assert not (lab5.hosts[1].dir / "home" / marker).exists()
    finally:
        (h.dir / "home" / marker).unlink(missing_ok=True)


def test_password_login_refused(lab5):
    h = lab5.hosts[0]
    proc = subprocess.run(["ssh", *hivelab.SSH_COMMON_ARGS.split(), "-o", "BatchMode=yes",
                           "-o", "PubkeyAuthentication=no", f"root@{h.ip}", "true"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 255
    assert "Permission denied" in proc.stderr


def test_engines_are_distinct(lab5):
    infos = {h.name: lab5.info(h) for h in lab5.hosts}
    assert len({i["ID"] for i in infos.values()}) == 5
    for name, info in infos.items():
        assert info["Name"] == name
        assert info["Driver"] == "vfs"
        assert info["Swarm"]["LocalNodeState"] == "inactive"
        assert info["DockerRootDir"] == str(lab5.host(name).data_root)
    assert all(lab5.image_present(h) for h in lab5.hosts)


def test_exec_runs_inside_the_host(lab5):
    h = lab5.host("w1")
    proc = lab5.exec(h, ["sh", "-c", "hostname; stat -c %i /run/docker.sock; ip -o -4 addr show"])
    hostname, inode, addrs = proc.stdout.split("\n", 2)
    assert hostname == h.name
    assert int(inode) == os.stat(h.socket).st_ino
    assert f"inet {h.ip}/24" in addrs
    assert "198.18.1.1/" not in addrs  # the root side of the bridge is not inside
    cli = _cli("exec", "--name", "labt1", "w1", "--", "sh", "-c", "hostname; exit 7")
    assert cli.returncode == 7 and cli.stdout.strip() == h.name


def test_swarm_forms_across_three_hosts(lab5):
    m1, m2, m3 = lab5.managers
    lab5.docker(m1, "swarm", "init", "--advertise-addr", m1.ip)
    token = lab5.docker(m1, "swarm", "join-token", "-q", "manager").stdout.strip()
    for h in (m2, m3):
        lab5.docker(h, "swarm", "join", "--token", token, f"{m1.ip}:2377")

    def nodes() -> list:
        out = lab5.docker(m1, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").stdout
        return sorted(out.split("\n")[:-1])

    assert _poll(lambda: nodes() == [f"{h.name} Ready" for h in (m1, m2, m3)], 60), nodes()
    for h in (m1, m2, m3):
        sw = lab5.info(h)["Swarm"]
        assert sw["LocalNodeState"] == "active" and sw["ControlAvailable"] is True
        assert sw["NodeAddr"] == h.ip
    assert len({lab5.info(h)["Swarm"]["NodeID"] for h in (m1, m2, m3)}) == 3


def test_smoke_service_runs_on_every_node(lab5):
    m1 = lab5.managers[0]
    lab5.docker(m1, "service", "create", "--detach", "--no-resolve-image", "--name", "smoke",
                "--mode", "global", "--stop-signal", "KILL", "--stop-grace-period", "1s",
                hivelab.IMAGE, "sleep", "3600")

    def running() -> set:
        out = lab5.docker(m1, "service", "ps", "smoke", "--filter", "desired-state=running",
                          "--format", "{{.Node}} {{.CurrentState}}").stdout
        return {line.split()[0] for line in out.splitlines() if " Running " in f" {line} "}

    assert _poll(lambda: running() == {h.name for h in lab5.managers}, 90), running()


def test_overlay_network_spans_hosts(lab5):
    """Gossip (7946) and VXLAN (4789) between lab hosts: a task on m1 pings a task on m3 over an overlay."""
    m1, m3 = lab5.managers[0], lab5.managers[2]
    lab5.docker(m1, "network", "create", "--driver", "overlay", "--attachable", "labt1-ov")
    lab5.docker(m1, "service", "create", "--detach", "--no-resolve-image", "--name", "ov", "--mode", "global",
                "--network", "labt1-ov", "--stop-signal", "KILL", hivelab.IMAGE, "sleep", "3600")

    def task(h: hivelab.Host) -> str:
        ids = lab5.docker(h, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=ov").stdout.split()
        return ids[0] if ids else ""

    assert _poll(lambda: bool(task(m1)) and bool(task(m3)), 90)
    addr = lab5.docker(m3, "inspect", "-f", '{{(index .NetworkSettings.Networks "labt1-ov").IPAddress}}',
                       task(m3)).stdout.strip()
    assert addr
    ping = lab5.docker(m1, "exec", task(m1), "ping", "-c", "2", "-W", "5", addr, check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    lab5.docker(m1, "service", "rm", "ov")


def test_cut_isolates_a_host_and_heal_restores(lab5):
    m1, _m2, m3 = lab5.managers
    assert lab5.tcp_probe(m1, m3.ip, 2377)
    lab5.cut(m3)
    try:
        assert not lab5.link_up(m3)
        assert not lab5.tcp_probe(m1, m3.ip, 2377, timeout=2)
        assert not lab5.tcp_probe(m3, m1.ip, 2377, timeout=2)
        assert lab5.tcp_probe(m1, lab5.managers[1].ip, 2377)  # the others still talk
        row = next(r for r in lab5.status() if r["host"] == m3.name)
        assert row["link"] == "cut" and row["dockerd"] is True
    finally:
        lab5.heal(m3)
    assert lab5.link_up(m3)
    assert _poll(lambda: lab5.tcp_probe(m1, m3.ip, 2377), 30)


def test_stop_and_start_keep_swarm_state(lab5):
    m3 = lab5.managers[2]
    node_id = lab5.info(m3)["Swarm"]["NodeID"]
    engine_id = lab5.info(m3)["ID"]
    lab5.stop(m3)
    assert not lab5.engine_up(m3)
    assert lab5._engine_pids(m3) == set()  # dockerd, containerd, shims, containers
    assert lab5.sshd_up(m3)  # only the engine stops
    assert hivelab._alive(int(m3.holder_pidfile.read_text()))
    lab5.start(m3)
    assert lab5.engine_up(m3)
    info = lab5.info(m3)
    assert info["ID"] == engine_id
    assert info["Swarm"]["NodeID"] == node_id
    assert _poll(lambda: lab5.info(m3)["Swarm"]["LocalNodeState"] == "active", 30)
    m1 = lab5.managers[0]
    assert _poll(lambda: f"{m3.name} Ready" in lab5.docker(
        m1, "node", "ls", "--format", "{{.Hostname}} {{.Status}}").stdout, 60)


def test_kill_via_cli_then_up_repairs(lab5):
    w1 = lab5.host("w1")
    assert _cli("kill", "--name", "labt1", "w1").returncode == 0
    assert not lab5.engine_up(w1)
    assert lab5._engine_pids(w1) == set()
    status = _cli("status", "--name", "labt1").stdout
    # columns: host role ip dockerd engine api sshd link swarm blocks (a stopped engine: the version it is set to)
    assert re.search(r"^labt1-w1\s+worker\s+198\.18\.1\.14\s+down\s+\(\d+\.\d+\)\s+-\s+up\s+up\s+-\s+-\s*$", status,
                     re.M), status
    holder = int(w1.holder_pidfile.read_text())
    report = lab5.up(3, 2, log=lambda _m: None)
    assert report["action"] == "repaired"
    assert lab5.engine_up(w1) and lab5.image_present(w1)
    assert int(w1.holder_pidfile.read_text()) == holder  # repaired in place, not recreated


def test_wipe_gives_a_rebuilt_host(lab5):
    m1, w2 = lab5.managers[0], lab5.host("w2")
    token = lab5.docker(m1, "swarm", "join-token", "-q", "worker").stdout.strip()
    lab5.docker(w2, "swarm", "join", "--token", token, f"{m1.ip}:2377")
    old = lab5.info(w2)
    assert old["Swarm"]["LocalNodeState"] == "active"
    lab5.wipe(w2)
    new = lab5.info(w2)
    assert new["Swarm"]["LocalNodeState"] == "inactive"
    assert new["ID"] != old["ID"] and new["Name"] == w2.name
    assert lab5.image_present(w2)
    assert lab5.tcp_probe(w2, m1.ip, 2377)  # same IP, same network


def test_up_again_is_a_noop(lab5):
    holders = [int(h.holder_pidfile.read_text()) for h in lab5.hosts]
    report = lab5.up(3, 2, log=lambda _m: None)
    assert report["action"] == "noop"
    assert [int(h.holder_pidfile.read_text()) for h in lab5.hosts] == holders
    assert lab5.info(lab5.managers[0])["Swarm"]["LocalNodeState"] == "active"  # swarm untouched
    with pytest.raises(hivelab.LabError, match="run `down --name labt1` first"):
        hivelab.Lab("labt1").up(1, 0, log=lambda _m: None)


def test_status_and_list(lab5):
    proc = _cli("status", "--name", "labt1")
    assert proc.returncode == 0
    for h in lab5.hosts:
        assert re.search(rf"^{h.name}\s+{h.role}\s+{re.escape(h.ip)}\s+up\s+\d+\.\d+\.\S+\s+1\.\d+\s+up\s+up\s+",
                         proc.stdout, re.M)
    assert re.search(r"^labt1-m1 .* active\s+-$", proc.stdout, re.M)  # last column: blocks (none)
    listing = _cli("list").stdout
    assert re.search(r"^labt1\tnet=1\tmanagers=3\tworkers=2\trunning=5/5$", listing, re.M), listing


@pytest.mark.parametrize("python", ["/usr/bin/python3", sys.executable])
def test_cli_runs_with_both_pythons(python, lab5):
    proc = _cli("ip", "--name", "labt1", "m3", python=python)
    assert proc.returncode == 0 and proc.stdout.strip() == "198.18.1.13"
    bad = _cli("ip", "--name", "labt1", "x9", python=python)
    assert bad.returncode == 1 and "no host 'x9'" in bad.stderr


# --------------------------------------------------------------------------- other labs


def test_two_labs_coexist_and_are_isolated(lab5, lab_factory):
    other = lab_factory("labt2", 2, managers=1, workers=1)
    assert other.bridge != lab5.bridge
    assert other.hosts[0].ip == "198.18.2.11"
    assert lab5.engine_up(lab5.hosts[0]) and other.engine_up(other.hosts[0])
    assert other.tcp_probe(other.hosts[1], other.hosts[0].ip, 22)
    assert not other.tcp_probe(other.hosts[0], lab5.hosts[0].ip, 22, timeout=2)
    with pytest.raises(hivelab.LabError, match="net 2 is used by lab labt2"):
        hivelab.Lab("labt9", 2).up(1, 0, log=lambda _m: None)


def test_down_removes_every_trace(lab_factory):
    lab = lab_factory("labt2", 2, managers=1, workers=1)
    h = lab.hosts[0]
    lab.docker(h, "run", "-d", "--network", "none", hivelab.IMAGE, "sleep", "3600")  # a container + shim
    held = subprocess.Popen(lab.ssh_argv(h, "sleep 3601"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _poll(lambda: any("sleep 3601" in " ".join(hivelab._scan_one(p).argv)
                                 for p in lab.pids(h) if hivelab._scan_one(p)), 30)
        snap = _snapshot(lab)
        assert len(snap["pids"]) >= 9  # 2 x (holder, dockerd, containerd, sshd) + shim/container/session
        took = lab.down(log=lambda _m: None)
        print(f"\nlabt2: down in {took:.1f}s")
        _assert_gone(snap)
        assert held.wait(timeout=30) != 0  # the SSH session ended with the host
    finally:
        if held.poll() is None:
            held.kill()
    assert not hivelab.Lab("labt2").exists()
    assert "labt2" not in _cli("list").stdout


def test_up_recovers_after_a_crash(lab_factory):
    lab = lab_factory("labt3", 3, managers=1, workers=1)
    h = lab.hosts[0]
    lab.docker(h, "run", "-d", "--network", "none", hivelab.IMAGE, "sleep", "3600")
    before = _snapshot(lab)
    for host in lab.hosts:  # crash: SIGKILL every daemon by pid file, leave netns, links, shims, containers
        for pidfile in (host.holder_pidfile, host.dockerd_pidfile, host.containerd_pidfile, host.sshd_pidfile):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
    assert _poll(lambda: not lab.engine_up(h), 10)
    assert os.path.exists(f"/run/netns/{h.netns}")
    leftovers = lab.pids()
    assert leftovers, "the container and its shim should survive the crash"
    relab = hivelab.Lab("labt3")
    report = relab.up(1, 1, log=lambda _m: None)
    assert report["action"] == "created"
    assert not any(hivelab._alive(p) for p in before["pids"])
    for host in relab.hosts:
        assert relab.engine_up(host) and relab.sshd_up(host) and relab.image_present(host)
        assert relab.info(host)["Containers"] == 0
    proc = subprocess.run(relab.ssh_argv(relab.hosts[1], "hostname"), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.stdout.strip() == relab.hosts[1].name
    snap = _snapshot(relab)
    relab.down(log=lambda _m: None)
    _assert_gone(snap)


@pytest.mark.slow
def test_23_hosts_up_and_down(lab_factory):
    t0 = time.monotonic()
    lab = lab_factory("labt4", 4, managers=3, workers=20)
    up_s = time.monotonic() - t0
    assert len(lab.hosts) == 23
    assert lab.hosts[-1].ip == "198.18.4.33"
    for h in lab.hosts:
        assert lab.engine_up(h), h.name
        assert lab.sshd_up(h) and lab._ssh_banner(h), h.name
        assert lab.image_present(h), h.name
    assert len({lab.info(h)["ID"] for h in lab.hosts}) == 23
    snap = _snapshot(lab)
    assert len(snap["pids"]) >= 4 * 23
    down_s = lab.down(log=lambda _m: None)
    print(f"\nlabt4: 23 hosts up in {lab_factory.up_seconds['labt4']:.1f}s "
          f"(fixture incl. clean-up {up_s:.1f}s), down in {down_s:.1f}s")
    _assert_gone(snap)


def test_neighbour_limits_are_raised_never_lowered(tmp_path, monkeypatch):
    """A 53-host lab needs more ARP entries than the kernel's default 1024 for all namespaces."""
    for key, value in (("gc_thresh1", 128), ("gc_thresh2", 512), ("gc_thresh3", 1024)):
        (tmp_path / key).write_text(f"{value}\n")
    monkeypatch.setattr(hivelab, "NEIGH_SYSCTL", tmp_path)
    monkeypatch.setattr(hivelab, "list_labs", lambda *a, **k: [])
    said = []
    hivelab._ensure_neighbour_room(5, said.append)  # 5 hosts: the defaults are plenty
    assert said == [] and (tmp_path / "gc_thresh3").read_text() == "1024\n"
    hivelab._ensure_neighbour_room(53, said.append)
    values = [int((tmp_path / k).read_text()) for k in ("gc_thresh1", "gc_thresh2", "gc_thresh3")]
    assert values[2] >= 54 * 54 and values[0] <= values[1] <= values[2]
    assert len(said) == 1 and "gc_thresh3 1024 -> " in said[0]
    (tmp_path / "gc_thresh3").write_text("100000\n")
    hivelab._ensure_neighbour_room(53, said.append)
    assert (tmp_path / "gc_thresh3").read_text() == "100000\n" and len(said) == 1

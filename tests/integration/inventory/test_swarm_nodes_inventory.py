"""The hive.swarm.swarm_nodes inventory plugin against a real swarm, through ansible-inventory and ansible.

Lab ``tlsinv`` (net 19): tlsinv-m1 manages a swarm that tlsinv-w1 (labelled) and tlsinv-w2 (drained) joined. The
plugin reads the manager's node list from the controller over the manager's unix socket (the host-side path the
lab exposes), and the inventory it makes is used as is to reach the workers over SSH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import hivelab
import pytest

pytestmark = [pytest.mark.lab]

LAB, NET = "tlsinv", 19
REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
ENV = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}",
       "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}


def wait(what: str, pred: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> Iterator[hivelab.Lab]:
    lab = lab_factory(LAB, NET, managers=1, workers=2)
    try:
        m1 = lab.host("m1")
        lab.api(m1, "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": m1.ip})
        wait("the swarm", lambda: lab.info(m1)["Swarm"].get("ControlAvailable"))
        token = lab.api(m1, "GET", "/swarm")["JoinTokens"]["Worker"]
        for short in ("w1", "w2"):
            host = lab.host(short)
            lab.api(host, "POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": host.ip,
                                                  "RemoteAddrs": [f"{m1.ip}:2377"], "JoinToken": token}, timeout=60)
        wait("3 ready nodes", lambda: [n["Status"]["State"] for n in lab.api(m1, "GET", "/nodes")].count("ready") == 3)
        nodes = {n["Description"]["Hostname"]: n for n in lab.api(m1, "GET", "/nodes")}
        for hostname, change in ((f"{LAB}-w1", {"Labels": {"zone": "a", "disk": "ssd"}}),
                                 (f"{LAB}-w2", {"Availability": "drain"})):
            node = nodes[hostname]
            lab.api(m1, "POST", f"/nodes/{node['ID']}/update?version={node['Version']['Index']}",
                    {**node["Spec"], **change})
        yield lab
    finally:
        lab.down(log=lambda _msg: None)
        lab_factory.labs.pop(LAB, None)


def config(lab: hivelab.Lab, path: Path) -> Path:
    m1 = lab.host("m1")
    key = str(lab.key_path)
    path.write_text(json.dumps({
        "plugin": "hive.swarm.swarm_nodes",
        "docker_host": f"unix://{m1.socket}",
        "compose": {"ansible_user": "'root'", "ansible_ssh_private_key_file": repr(key),
                    "ansible_ssh_common_args": repr(hivelab.SSH_COMMON_ARGS),
                    "ansible_python_interpreter": "'/usr/bin/python3'"},
        "keyed_groups": [{"key": "swarm_labels.zone | default('none')", "prefix": "zone"}],
    }))
    return path


def test_inventory_lists_the_swarm(lab: hivelab.Lab, tmp_path: Path) -> None:
    source = config(lab, tmp_path / "lab.swarm_nodes.yml")
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    # ansible-core 2.19 marks the plugin's (Engine) strings as {"__ansible_unsafe": ...} in --list output
    data = json.loads(proc.stdout, object_hook=lambda d: d["__ansible_unsafe"] if set(d) == {"__ansible_unsafe"} else d)
    hostvars = data["_meta"]["hostvars"]
    names = {h.name: h for h in lab.hosts}
    assert sorted(hostvars) == sorted(names)
    for name, host in names.items():
        own = lab.info(host)["Swarm"]
        assert hostvars[name]["swarm_node_id"] == own["NodeID"]  # the ID the host's own engine reports
        assert hostvars[name]["ansible_host"] == host.ip == hostvars[name]["swarm_addr"]
        assert hostvars[name]["swarm_state"] == "ready"

    def group(name: str) -> list[str]:
        return sorted(data.get(name, {}).get("hosts", []))

    assert group("swarm_manager") == [f"{LAB}-m1"] == group("swarm_leader")
    assert group("swarm_worker") == [f"{LAB}-w1", f"{LAB}-w2"]
    assert group("swarm_drain") == [f"{LAB}-w2"] and group("swarm_active") == [f"{LAB}-m1", f"{LAB}-w1"]
    assert group("swarm_label_zone_a") == [f"{LAB}-w1"] == group("swarm_label_disk_ssd")
    assert group("zone_a") == [f"{LAB}-w1"] and group("zone_none") == [f"{LAB}-m1", f"{LAB}-w2"]
    assert sorted(data["swarm_nodes"]["hosts"]) == sorted(names)
    assert hostvars[f"{LAB}-w1"]["swarm_labels"] == {"zone": "a", "disk": "ssd"}
    assert hostvars[f"{LAB}-m1"]["swarm_manager_reachability"] == "reachable"
    assert "SWMTKN" not in proc.stdout

    # the discovered inventory is usable as it is: reach the workers over SSH
    ping = subprocess.run([str(BIN / "ansible"), "-i", str(source), "swarm_worker", "-m", "ansible.builtin.command",
                           "-a", "hostname"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120,
                          check=False)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    for name in (f"{LAB}-w1", f"{LAB}-w2"):
        assert f"{name} | CHANGED | rc=0 >>\n{name}" in ping.stdout


def test_not_a_manager_fails_the_source(lab: hivelab.Lab, tmp_path: Path) -> None:
    source = tmp_path / "worker.swarm_nodes.yml"
    source.write_text(json.dumps({"plugin": "hive.swarm.swarm_nodes",
                                  "docker_host": f"unix://{lab.host('w1').socket}"}))
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(source), "--list"], cwd=REPO,
                          env={**ENV, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode != 0
    assert "Cannot list the swarm's nodes: this engine is a worker node." in proc.stderr

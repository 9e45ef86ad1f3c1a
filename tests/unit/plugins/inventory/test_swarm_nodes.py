"""The swarm_nodes inventory plugin, run through its real parse() (config file, options, constructed) against
the fake Engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible import constants as C
from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import fragment_loader
from ansible.utils.plugin_docs import add_fragments
from ansible_collections.hive.swarm.plugins.inventory import swarm_nodes
from ansible_collections.hive.swarm.plugins.module_utils._swarm.options import common_argument_spec
from fakes import FakeSwarm

NAME = swarm_nodes.InventoryModule.NAME


def documentation() -> dict[str, Any]:
    doc = yaml.safe_load(swarm_nodes.DOCUMENTATION)
    add_fragments(doc, swarm_nodes.__file__, fragment_loader=fragment_loader)
    return doc


def make_plugin() -> swarm_nodes.InventoryModule:
    """The plugin as the inventory loader would set it up (option definitions from its documentation)."""
    C.config.initialize_plugin_configuration_definitions("inventory", NAME, documentation()["options"])
    plugin = swarm_nodes.InventoryModule()
    plugin._load_name = NAME
    plugin._redirected_names = [NAME]
    return plugin


@pytest.fixture
def swarm(engine) -> FakeSwarm:
    """m1 (this engine, leader), m2, m3 managers; w1 (labels, drained), w2 ready, w2 again (old entry, down)."""
    sw = engine.make_manager()
    sw.add_node("m2", "manager", "10.0.0.12", node_id="m2id" + "x" * 21)
    sw.add_node("m3", "manager", "0.0.0.0", node_id="m3id" + "x" * 21)
    sw.add_node("w1", "worker", "10.0.0.21", node_id="w1id" + "x" * 21, availability="drain",
                labels={"zone": "a", "disk.type": "ssd"})
    sw.add_node("w2", "worker", "10.0.0.99", node_id="w2old" + "x" * 20, state="down")
    sw.add_node("w2", "worker", "10.0.0.22", node_id="w2id" + "x" * 21)
    return sw


def run(tmp_path: Path, config: dict[str, Any], name: str = "lab.swarm_nodes.yml") -> InventoryData:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"plugin": NAME, **config}))
    plugin = make_plugin()
    assert plugin.verify_file(str(path))
    inventory = InventoryData()
    plugin.parse(inventory, DataLoader(), str(path), cache=False)
    return inventory


def members(inventory: InventoryData, group: str) -> list[str]:
    return sorted(h.name for h in inventory.groups[group].get_hosts())


def hostvars(inventory: InventoryData, host: str) -> dict[str, Any]:
    return dict(inventory.get_host(host).vars)


def test_verify_file_wants_the_plugin_suffix(tmp_path):
    plugin = make_plugin()
    for name, ok in (("prod.swarm_nodes.yml", True), ("swarm_nodes.yaml", True), ("prod.yml", False),
                     ("swarm_nodes.json", False)):
        path = tmp_path / name
        path.write_text("plugin: hive.swarm.swarm_nodes\n")
        assert plugin.verify_file(str(path)) is ok, name


def test_nodes_become_hosts_with_groups_and_vars(engine, swarm, tmp_path):
    inventory = run(tmp_path, {})
    assert engine.requests == ["GET /info", "GET /nodes"]
    assert engine.clients[0].kwargs["base_url"] == "unix:///run/docker.sock"
    w2_old = "w2-w2oldxxxxxxx"
    assert sorted(inventory.hosts) == sorted(["node1", "m2", "m3", "w1", "w2", w2_old])
    assert members(inventory, "swarm_nodes") == sorted(inventory.hosts)
    assert members(inventory, "swarm_manager") == ["m2", "m3", "node1"]
    assert members(inventory, "swarm_worker") == ["w1", "w2", w2_old]
    assert members(inventory, "swarm_drain") == ["w1"]
    assert members(inventory, "swarm_active") == sorted(["node1", "m2", "m3", "w2", w2_old])
    assert members(inventory, "swarm_leader") == ["node1"]
    assert members(inventory, "swarm_label_zone_a") == ["w1"]
    assert members(inventory, "swarm_label_disk_type_ssd") == ["w1"]
    assert "swarm_pause" not in inventory.groups
    w1 = hostvars(inventory, "w1")
    assert w1 == {
        "inventory_file": w1["inventory_file"], "inventory_dir": w1["inventory_dir"],
        "ansible_host": "10.0.0.21", "swarm_node_id": "w1id" + "x" * 21, "swarm_hostname": "w1",
        "swarm_role": "worker", "swarm_availability": "drain", "swarm_state": "ready", "swarm_addr": "10.0.0.21",
        "swarm_labels": {"zone": "a", "disk.type": "ssd"}, "swarm_leader": False,
        "swarm_manager_reachability": None, "swarm_manager_addr": None, "swarm_engine_version": "20.10.24+dfsg1",
    }
    leader = hostvars(inventory, "node1")
    assert leader["swarm_leader"] is True and leader["swarm_manager_reachability"] == "reachable"
    assert leader["swarm_node_id"] == engine.node_id
    # no usable address at all (0.0.0.0, raft address 0.0.0.0 too): no ansible_host
    assert "ansible_host" not in hostvars(inventory, "m3")
    # the ready w2 keeps the hostname; the old down entry is renamed
    assert hostvars(inventory, "w2")["swarm_state"] == "ready"
    assert hostvars(inventory, w2_old)["swarm_state"] == "down"


def test_unspecified_manager_address_falls_back_to_the_raft_address(engine, swarm, tmp_path):
    node = next(n for n in swarm.nodes if n["ID"].startswith("m3id"))
    node["ManagerStatus"]["Addr"] = "10.0.0.13:2377"
    inventory = run(tmp_path, {})
    assert hostvars(inventory, "m3")["ansible_host"] == "10.0.0.13"
    assert hostvars(inventory, "m3")["swarm_addr"] == "0.0.0.0"
    assert swarm_nodes.node_address({"addr": "0.0.0.0", "manager_addr": "[fd00::13]:2377"}) == "fd00::13"
    assert swarm_nodes.node_address({"addr": "", "manager_addr": None}) is None


def test_prefix_label_groups_ansible_host_and_constructed(engine, swarm, tmp_path):
    inventory = run(tmp_path, {
        "group_prefix": "docker_swarm_", "label_groups": False, "ansible_host": "none",
        "compose": {"zone": "swarm_labels.zone | default('none')"},
        "groups": {"unhealthy": "swarm_state != 'ready'"},
        "keyed_groups": [{"key": "swarm_role", "prefix": "role"}],
    })
    assert members(inventory, "docker_swarm_manager") == ["m2", "m3", "node1"]
    assert not [g for g in inventory.groups if "label" in g]
    assert "ansible_host" not in hostvars(inventory, "w1")
    assert hostvars(inventory, "w1")["zone"] == "a" and hostvars(inventory, "m2")["zone"] == "none"
    assert members(inventory, "unhealthy") == ["w2-w2oldxxxxxxx"]
    assert members(inventory, "role_worker") == ["w1", "w2", "w2-w2oldxxxxxxx"]


def test_connection_options_reach_the_client(engine, swarm, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.11:2375")
    run(tmp_path, {"timeout": 9})
    assert engine.clients[-1].kwargs == {"base_url": "tcp://10.0.0.11:2375", "version": "1.24", "tls": False,
                                         "timeout": 9}
    run(tmp_path, {"docker_host": "unix:///tmp/x.sock", "api_version": "1.41"})
    assert engine.clients[-1].kwargs["base_url"] == "unix:///tmp/x.sock"
    assert engine.clients[-1].kwargs["version"] == "1.41"


@pytest.mark.parametrize("setup", ["worker", "inactive"])
def test_not_a_manager_is_a_parser_error(engine, tmp_path, setup):
    if setup == "worker":
        engine.make_worker()
    with pytest.raises(AnsibleParserError) as caught:
        run(tmp_path, {})
    text = str(caught.value)
    assert text.startswith(f"{NAME}: Cannot list the swarm's nodes:")
    assert "[engine unix:///run/docker.sock]" in text
    assert ("worker node" if setup == "worker" else "not an active swarm node") in text
    assert engine.count("GET /nodes") == 0


def test_half_a_client_certificate_is_refused(engine, swarm, tmp_path):
    with pytest.raises(AnsibleParserError, match="client_cert and client_key go together"):
        run(tmp_path, {"client_cert": "/x/cert.pem"})
    assert engine.requests == []


def test_results_hold_no_secrets(engine, swarm, tmp_path):
    inventory = run(tmp_path, {})
    text = json.dumps({h: hostvars(inventory, h) for h in inventory.hosts}, default=str)
    assert "SWMTKN" not in text and "SWMKEY" not in text


def test_connection_options_are_documented_like_the_modules():
    """Same names, types, defaults and aliases as the modules' common options; the same environment variables."""
    options = documentation()["options"]
    for name, arg in common_argument_spec().items():
        doc = options[name]
        assert doc.get("type", "str") == arg.get("type", "str"), name
        assert doc.get("default") == arg.get("default"), name
        assert sorted(doc.get("aliases") or []) == sorted(arg.get("aliases") or []), name
        env = [e["name"] for e in doc.get("env") or []]
        assert env == (arg["fallback"][1] if "fallback" in arg else []), name
    assert {"compose", "groups", "keyed_groups", "strict"} <= set(options)


def test_engine_data_is_never_templated(engine, swarm, tmp_path):
    from ansible.template import Templar

    node = next(n for n in swarm.nodes if n["ID"].startswith("w1id"))
    node["Spec"]["Labels"]["evil"] = "{{ 6 * 7 }}"
    inventory = run(tmp_path, {"compose": {"evil_copy": "swarm_labels.evil"}})
    w1 = hostvars(inventory, "w1")
    templar = Templar(loader=DataLoader(), variables=w1)
    assert templar.template(w1["swarm_labels"]["evil"]) == "{{ 6 * 7 }}"
    assert templar.template(w1["evil_copy"]) == "{{ 6 * 7 }}"

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# ansible-test wants the imports after DOCUMENTATION/EXAMPLES:
# ruff: noqa: E402

DOCUMENTATION = r"""
name: swarm_nodes
short_description: Docker swarm nodes as inventory hosts, read from a manager
version_added: 1.0.0
description:
  - Reads the node list of a Docker swarm from one manager's Engine API (C(GET /info), C(GET /nodes)) and adds every
    node as a host, grouped by role, availability, leadership and labels.
  - Connects from the controller with the same connection options as the hive.swarm modules (O(docker_host), TLS).
  - The inventory file name must end with C(swarm_nodes.yml) or C(swarm_nodes.yaml).
  - Host names are the nodes' hostnames. When several nodes share a hostname (for example a rebuilt host whose old
    entry is still listed as C(down)), the first in the order ready, then other states, keeps the plain name and the
    others get C(<hostname>-<first 12 characters of the node ID>) (with a warning).
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin; must be V(hive.swarm.swarm_nodes).
    type: str
    required: true
    choices: [hive.swarm.swarm_nodes]
  docker_host:
    description:
      - The manager's Engine API endpoint, for example V(unix:///run/docker.sock) or V(tcp://10.0.0.11:2376).
    type: str
    default: unix:///run/docker.sock
    env:
      - name: DOCKER_HOST
  tls:
    description: Connect with TLS without verifying the Engine's certificate (see O(validate_certs)).
    type: bool
    default: false
    env:
      - name: DOCKER_TLS
  validate_certs:
    description: Connect with TLS and verify the Engine's certificate against O(ca_path). Implies O(tls).
    type: bool
    default: false
    aliases: [tls_verify]
    env:
      - name: DOCKER_TLS_VERIFY
  ca_path:
    description: CA certificate file used to verify the Engine's certificate when O(validate_certs=true).
    type: path
    aliases: [ca_cert]
  client_cert:
    description: Client certificate file presented to the Engine. Needs O(client_key).
    type: path
  client_key:
    description: Private key file of O(client_cert).
    type: path
  tls_hostname:
    description: Host name expected in the Engine's certificate, when it differs from the host in O(docker_host).
    type: str
    env:
      - name: DOCKER_TLS_HOSTNAME
  api_version:
    description: Engine API version, or V(auto) for the Engine's own.
    type: str
    default: auto
    env:
      - name: DOCKER_API_VERSION
  timeout:
    description: Seconds to wait for one Engine API request.
    type: int
    default: 60
    env:
      - name: DOCKER_TIMEOUT
  group_prefix:
    description:
      - Prefix of the groups this plugin makes - C(<prefix>nodes) (all nodes), C(<prefix>manager),
        C(<prefix>worker), C(<prefix>active), C(<prefix>pause), C(<prefix>drain), C(<prefix>leader), and per node
        label C(<prefix>label_<key>_<value>) (characters not valid in group names become C(_)).
    type: str
    default: swarm_
  label_groups:
    description: Make the C(<prefix>label_<key>_<value>) groups.
    type: bool
    default: true
  ansible_host:
    description:
      - What to set C(ansible_host) to. V(addr) - the address the node connects to the swarm from (for a manager that
        reports C(0.0.0.0) there, the address of its raft endpoint); V(none) - do not set it (the host name is used).
    type: str
    choices: [addr, none]
    default: addr
requirements:
  - Docker SDK for Python (C(docker)) on the controller.
notes:
  - "Host variables (prefix C(swarm_)): C(swarm_node_id), C(swarm_hostname), C(swarm_role), C(swarm_availability),
    C(swarm_state), C(swarm_addr), C(swarm_labels), C(swarm_leader), C(swarm_manager_reachability),
    C(swarm_manager_addr), C(swarm_engine_version). Use them in O(compose), O(groups) and O(keyed_groups)."
  - Two Engine requests per refresh; nothing is cached.
seealso:
  - module: hive.swarm.swarm_node_info
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
# prod.swarm_nodes.yml - the swarm as seen by the local manager is one line:
#   plugin: hive.swarm.swarm_nodes

# remote.swarm_nodes.yml - a manager over TLS; SSH as admin; groups per zone label
plugin: hive.swarm.swarm_nodes
docker_host: tcp://10.0.0.11:2376
validate_certs: true
ca_path: /etc/docker/ca.pem
client_cert: /etc/docker/cert.pem
client_key: /etc/docker/key.pem
compose:
  ansible_user: "'admin'"
keyed_groups:
  - key: swarm_labels.zone | default('none')
    prefix: zone
groups:
  unhealthy: swarm_state != 'ready'
"""

import re
from typing import Any, Optional

from ansible.errors import AnsibleParserError
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable
from ansible.utils.display import Display
from ansible.utils.unsafe_proxy import wrap_var
from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import (
    HAS_DOCKER,
    SwarmClient,
    missing_sdk_message,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import SwarmError
from ansible_collections.hive.swarm.plugins.module_utils._swarm.options import common_argument_spec
from ansible_collections.hive.swarm.plugins.module_utils._swarm.views import node_view

display = Display()

HOSTVAR_PREFIX = "swarm_"
# hostvar (without prefix) -> key of the node view
HOSTVARS = {
    "node_id": "id",
    "hostname": "hostname",
    "role": "role",
    "availability": "availability",
    "state": "state",
    "addr": "addr",
    "labels": "labels",
    "leader": "leader",
    "manager_reachability": "manager_reachability",
    "manager_addr": "manager_addr",
    "engine_version": "engine_version",
}
UNSPECIFIED = ("", "0.0.0.0", "::")


def connection_params(get_option: Any) -> dict[str, Any]:
    """The common connection options, as SwarmClient takes them."""
    return {name: get_option(name) for name in common_argument_spec()}


def node_address(view: dict[str, Any]) -> Optional[str]:
    """The node's address; a manager that reports 0.0.0.0 as its address gets the host part of its raft address."""
    addr = view.get("addr") or ""
    if addr not in UNSPECIFIED:
        return addr
    manager_addr = view.get("manager_addr") or ""
    host = re.sub(r":\d+$", "", manager_addr).strip("[]")
    return host if host not in UNSPECIFIED else None


def host_names(views: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], bool]]:
    """(inventory name, node view, renamed) for every node: ready nodes claim a hostname first."""
    order = sorted(views, key=lambda v: (v.get("state") != "ready", v.get("hostname") or "", v.get("id") or ""))
    taken: set[str] = set()
    out = []
    for view in order:
        name = view.get("hostname") or view["id"]
        renamed = name in taken
        if renamed:
            name = f"{name}-{view['id'][:12]}"
        taken.add(name)
        out.append((name, view, renamed))
    return out


class InventoryModule(BaseInventoryPlugin, Constructable):
    NAME = "hive.swarm.swarm_nodes"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("swarm_nodes.yml", "swarm_nodes.yaml"))

    def read_nodes(self) -> list[dict[str, Any]]:
        """GET /info (must be a manager) and GET /nodes through the common client."""
        if not HAS_DOCKER:
            message, hint = missing_sdk_message()
            raise AnsibleParserError(f"{self.NAME} needs the Docker SDK for Python on the controller. {message} "
                                     f"{hint}")
        params = connection_params(self.get_option)
        if bool(params["client_cert"]) != bool(params["client_key"]):
            raise AnsibleParserError(f"{self.NAME}: client_cert and client_key go together.")
        client = SwarmClient(params)
        try:
            client.info()
            client.require_manager("list the swarm's nodes")
            return client.nodes()
        except SwarmError as err:
            raise AnsibleParserError(f"{self.NAME}: {err.message} [engine {client.docker_host}] {err.hint}".strip()
                                     ) from None

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        self.populate([node_view(node) for node in self.read_nodes()])

    def _group(self, name: str) -> str:
        return self.inventory.add_group(self._sanitize_group_name(self.get_option("group_prefix") + name))

    def populate(self, views: list[dict[str, Any]]) -> None:
        strict = self.get_option("strict")
        everyone = self._group("nodes")
        for name, view, renamed in host_names(views):
            if renamed:
                display.warning(f"{self.NAME}: several nodes have hostname {view.get('hostname')!r}; node "
                                f"{view['id']} ({view.get('state')}) is host {name!r}.")
            self.inventory.add_host(name, group=everyone)
            # Engine data (labels, hostnames) is never a template: marked unsafe.
            hostvars = {HOSTVAR_PREFIX + var: wrap_var(view.get(key)) for var, key in HOSTVARS.items()}
            if self.get_option("ansible_host") == "addr" and node_address(view):
                hostvars["ansible_host"] = wrap_var(node_address(view))
            for var, value in hostvars.items():
                self.inventory.set_variable(name, var, value)
            groups = [view.get("role"), view.get("availability")] + (["leader"] if view.get("leader") else [])
            if self.get_option("label_groups"):
                groups += [f"label_{key}_{value}" for key, value in sorted((view.get("labels") or {}).items())]
            for group in groups:
                if group:
                    self.inventory.add_child(self._group(group), name)
            self._set_composite_vars(self.get_option("compose"), hostvars, name, strict=strict)
            self._add_host_to_composed_groups(self.get_option("groups"), hostvars, name, strict=strict)
            self._add_host_to_keyed_groups(self.get_option("keyed_groups"), hostvars, name, strict=strict)

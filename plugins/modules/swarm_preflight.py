#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_preflight
short_description: Check that the Docker Swarm ports are reachable between hosts before a swarm exists
version_added: 1.0.0
description:
  - A swarm needs TCP 2377 (managers' cluster management), TCP and UDP 7946 (node gossip) and UDP 4789 (the overlay
    networks' VXLAN data path) open between its hosts. Before a swarm exists nothing listens on those ports, so a plain
    connect test cannot tell a firewall from a closed port. This module brings its own temporary listeners.
  - O(state=listening) starts a detached helper process on the host that listens on O(bind_addr) on every asked port
    that is free - TCP ports accept and close every connection, UDP ports echo datagrams that start with
    C(hive-preflight ) back to their sender - and ends on its own after O(ttl) seconds (or on
    O(state=stopped)). The module returns once the helper has bound its sockets. Ports that something else already
    uses (a Docker Engine that is already a swarm node listens on 2377 and 7946, the kernel's VXLAN socket uses 4789)
    are not an error; they are reported in RV(in_use).
  - O(state=probed) connects from this host to every port of every target at once (each probe waits at most
    O(timeout) seconds, so a run takes about one O(timeout) even with hundreds of probes) and reports one status per
    target, protocol and port (RV(results)). It does not fail because a port is unreachable - judge the results in the
    playbook (RV(failed_count), or M(ansible.builtin.assert)), knowing from the targets' RV(in_use) which ports they
    could not listen on. Each listening host's RV(target) is a ready-made entry for O(targets) that leaves out the UDP
    ports it could not listen on.
  - O(state=stopped) ends the helper that O(pid_file) names.
  - For a full check nothing may listen on the asked ports of the targets, that is run it before C(docker swarm init)
    and C(docker swarm join). A TCP port in use is still checked (a TCP connection to another listener counts too). A
    UDP port in use cannot be checked - UDP has no connection, and the program that holds the port (dockerd's gossip
    or the kernel's VXLAN socket) does not echo the probe, so such a probe reports V(timeout) even when the network
    is fine; leave UDP ports that a target reports in RV(in_use) out of the judgement.
  - This is not an Engine API module; it does not talk to Docker and takes none of the connection options. It needs
    nothing but Python's standard library on the host (Linux, Python 3.9 or later).
attributes:
  check_mode:
    support: full
    description:
      - The module never changes a Docker Engine or the host's configuration. It runs the same in check mode
        (listeners are started and stopped, probes are sent), so a C(--check) run checks the network too.
  diff_mode:
    support: none
    description: Nothing to diff.
options:
  state:
    description:
      - V(listening) starts the temporary listeners (replacing a previous helper of the same O(pid_file)).
      - V(probed) probes the O(targets).
      - V(stopped) ends the listeners of O(pid_file).
    type: str
    required: true
    choices: [listening, probed, stopped]
  bind_addr:
    description:
      - The IP address to listen on, the address the host will advertise to the swarm. Required with
        O(state=listening).
    type: str
  tcp_ports:
    description: TCP ports to listen on with O(state=listening).
    type: list
    elements: int
    default: [2377, 7946]
  udp_ports:
    description: UDP ports to listen on (echo) with O(state=listening).
    type: list
    elements: int
    default: [7946, 4789]
  ttl:
    description:
      - Seconds the listeners live (1 to 3600). The helper exits after that, whatever happens to the play, so a failed
        or interrupted run leaves nothing behind for long.
    type: int
    default: 120
  pid_file:
    description:
      - Where O(state=listening) records the helper's process ID and O(state=stopped) reads it. A process is only
        ever stopped when its command line carries the helper's marker and this path.
    type: path
    default: /run/hive-swarm-preflight.pid
  targets:
    description:
      - The hosts to probe with O(state=probed), in the order the results come back. Required with O(state=probed).
    type: list
    elements: dict
    suboptions:
      name:
        description: A name for the results (the inventory host name, say). Defaults to O(targets[].addr).
        type: str
      addr:
        description: The target's IP address (or a name that resolves to it). Required for every target.
        type: str
      tcp:
        description: TCP ports to probe.
        type: list
        elements: int
        default: []
      udp:
        description: UDP ports to probe.
        type: list
        elements: int
        default: []
  timeout:
    description: Seconds each probe waits for an answer (O(state=probed)).
    type: float
    default: 3
  source_addr:
    description:
      - An IP address of this host to send the probes from (the address it will advertise); default is the kernel's
        choice for each target.
    type: str
notes:
  - "Probe statuses: V(ok) - a TCP connection was accepted, or the UDP echo came back (a listener on the target and
    the network in between let it through); V(refused) - the target's kernel answered that nothing listens there (TCP
    reset, or ICMP port unreachable for UDP): the network is fine, the port is closed; V(timeout) - no answer within
    O(timeout): a firewall drops the packets, or for UDP a program that does not echo holds the port; V(error) -
    anything else (no route to the host, an address that does not resolve), RV(results[].detail) says what."
  - The helper is a separate Python process started with the module's interpreter (C(python -c)) in its own session,
    with its input and output on C(/dev/null); it holds nothing of the Ansible run.
seealso:
  - module: hive.swarm.swarm_init
  - module: hive.swarm.swarm_join
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Listen on the swarm ports on every host (before any swarm exists)
  hive.swarm.swarm_preflight:
    state: listening
    bind_addr: "{{ docker_swarm_advertise_addr | default(ansible_host) }}"
    ttl: 300
  register: preflight_listen

- name: Probe every other host on the ports it listens on (each host's preflight_listen.target)
  hive.swarm.swarm_preflight:
    state: probed
    timeout: 3
    targets: "{{ ansible_play_hosts | difference([inventory_hostname])
                 | map('extract', hostvars, ['preflight_listen', 'target']) | list }}"
  register: preflight_probe
  failed_when: preflight_probe.failed_count > 0

- name: Stop the listeners
  hive.swarm.swarm_preflight:
    state: stopped
"""

RETURN = r"""
listening:
  description: Ports the helper listens on.
  returned: when O(state=listening)
  type: dict
  contains:
    tcp:
      description: TCP ports.
      type: list
      elements: int
    udp:
      description: UDP ports.
      type: list
      elements: int
  sample: {tcp: [2377, 7946], udp: [7946]}
in_use:
  description:
    - Asked ports that something else already holds on O(bind_addr).
    - A TCP port in use can still be probed (its owner accepts connections); a UDP port in use cannot.
  returned: when O(state=listening)
  type: dict
  contains:
    tcp:
      description: TCP ports.
      type: list
      elements: int
    udp:
      description: UDP ports.
      type: list
      elements: int
  sample: {tcp: [], udp: [4789]}
target:
  description:
    - This host as an entry for O(targets) of other hosts' O(state=probed) - its host name, O(bind_addr), every asked
      TCP port and the UDP ports it listens on (UDP ports in use cannot be checked, see RV(in_use)).
  returned: when O(state=listening)
  type: dict
  sample: {name: mgr1, addr: 10.0.0.11, tcp: [2377, 7946], udp: [7946]}
pid:
  description:
    - O(state=listening) - the helper's process ID, or null when every port was in use (then no helper stays).
    - O(state=stopped) - the process ID that was stopped, or null.
  returned: when O(state) is V(listening) or V(stopped)
  type: int
bind_addr:
  description: The address listened on.
  returned: when O(state=listening)
  type: str
  sample: 10.0.0.11
results:
  description:
    - One entry per target, protocol and port, in the order of O(targets), TCP before UDP, ports ascending.
  returned: when O(state=probed)
  type: list
  elements: dict
  contains:
    name:
      description: The target's name.
      type: str
    addr:
      description: The target's address as given.
      type: str
    proto:
      description: Protocol.
      type: str
      choices: [tcp, udp]
    port:
      description: Port.
      type: int
    status:
      description: V(ok), V(refused), V(timeout) or V(error) (see the notes).
      type: str
      choices: [ok, refused, timeout, error]
    detail:
      description: What happened, in words (the error for V(error)).
      type: str
    seconds:
      description: How long the probe took.
      type: float
  sample:
    - {name: mgr2, addr: 10.0.0.12, proto: tcp, port: 2377, status: ok, detail: connected, seconds: 0.001}
    - {name: mgr2, addr: 10.0.0.12, proto: udp, port: 4789, status: timeout, detail: "no echo within 3.0s",
       seconds: 3.002}
failed_count:
  description: Number of RV(results) whose status is not V(ok).
  returned: when O(state=probed)
  type: int
  sample: 0
stopped:
  description: Whether a running helper was stopped.
  returned: when O(state=stopped)
  type: bool
"""

from typing import Any, Dict, Optional

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import SwarmError
from ansible_collections.hive.swarm.plugins.module_utils._swarm.ports import run

ARGUMENT_SPEC: dict[str, Any] = {
    "state": {"type": "str", "required": True, "choices": ["listening", "probed", "stopped"]},
    "bind_addr": {"type": "str"},
    "tcp_ports": {"type": "list", "elements": "int", "default": [2377, 7946]},
    "udp_ports": {"type": "list", "elements": "int", "default": [7946, 4789]},
    "ttl": {"type": "int", "default": 120},
    "pid_file": {"type": "path", "default": "/run/hive-swarm-preflight.pid"},
    "targets": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str"},
            "addr": {"type": "str"},
            "tcp": {"type": "list", "elements": "int", "default": []},
            "udp": {"type": "list", "elements": "int", "default": []},
        },
    },
    "timeout": {"type": "float", "default": 3},
    "source_addr": {"type": "str"},
}
REQUIRED_IF = [("state", "listening", ["bind_addr"]), ("state", "probed", ["targets"])]


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True)
    result: Dict[str, Any] = {}
    failure: Optional[SwarmError] = None
    try:
        result = run(module.params)
    except SwarmError as err:
        failure = err
    if failure is not None:
        module.fail_json(msg=str(failure), **failure.result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()

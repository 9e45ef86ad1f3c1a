#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_rolling
short_description: Walk a swarm node by node for maintenance or an engine upgrade - order, gates and waits
version_added: 1.0.0
description:
  - The rolling-maintenance planner of C(playbooks/maintenance.yml) and C(playbooks/upgrade.yml), as an action that
    runs on the controller. The order (workers first in batches, then managers one at a time, the leader last), the
    gates, when a node is drained and when it is back are decided by typed, unit-tested Python
    (C(plugins/module_utils/_swarm/rolling.py)); the playbooks only order the module calls.
  - O(stage=walk) does not connect to any host. The other stages read the swarm through
    M(hive.swarm.swarm_node_info) on the host the task runs on (delegate them to the batch's C(reader), a manager
    outside the batch; O(stage=engine) runs on the maintained host itself) until the condition holds or O(timeout)
    has passed - never a fixed sleep.
  - A node the walk drains carries the label C(hive.swarm.maintenance.availability) (the availability to give back)
    until it is given back, so a run that stopped is resumed at that node by the next one.
options:
  stage:
    description:
      - V(walk) - the walk from the play's probes (O(probe)) and the managers' node lists (O(read)); prints the table
        (order, host, role, what it is now, what the walk does), a summary and the gate of every step, also in check
        mode, and returns it as RV(walk) and as the fact C(hive_swarm_walk). Fails, before anything is changed, when
        a node is down, the quorum would not survive a manager's absence, a play host cannot be probed, the swarm is
        autolocked without C(docker_swarm_unlock_key), O(tasks_file) does not exist, or O(confirmed) is false in a
        normal run.
      - V(gate) - before O(batch) - workers - every node outside the batch ready, the managers' quorum and one leader;
        before a manager - every other manager reachable, one leader, the quorum kept while it is away. Fails with a
        sentence naming the nodes and what is wrong.
      - V(drained) - waits until no task of a replicated service is live on the batch and each replicated service
        runs its replicas (minus O(max_shortfall)) on ready nodes elsewhere.
      - V(engine) - on the maintained host - waits until its engine answers and is in the swarm (active or
        locked); returns RV(locked). Fails when it is locked and C(docker_swarm_unlock_key) is not set.
      - V(back) - waits until the batch's nodes are ready (managers reachable), the swarm has one leader, and with
        an upgrade every node reports the target version.
      - V(report) - prints every node's engine, availability and state after the walk, with warnings for what is
        left wrong.
      - In check mode V(gate) reads as in a normal run; V(drained), V(engine) and V(back) return at once (nothing was
        drained or restarted) and say what a real run waits for; V(engine) reads the host's engine once and
        predicts RV(locked) - locked now, or an autolocked manager whose engine the step restarts (it is in the
        batch's C(work_hosts)); V(report) names the walk without reading the swarm.
    type: str
    required: true
    choices: [walk, gate, drained, engine, back, report]
  probe:
    description: With O(stage=walk) - the variable each play host registered its C(swarm_node_info local_only=true)
      result in.
    type: str
  read:
    description: With O(stage=walk) - the variable a looped, delegated C(swarm_node_info nodes=true) over the
      inventory's managers was registered in.
    type: str
  max_unavailable:
    description: With O(stage=walk) - workers per batch - a whole number or a percentage of the workers (V(25%)).
      Default 1.
    type: raw
  target_version:
    description: With O(stage=walk) - the engine version of an upgrade (V(28.5) matches 28.5.x); nodes already at it
      are skipped.
    type: str
  allow_quorum_loss:
    description: With O(stage=walk) and O(stage=gate) - walk managers even when the others cannot keep a quorum while
      one is away (fewer than 3 managers).
    type: bool
    default: false
  tasks_file:
    description: With O(stage=walk) - the operator's tasks file; the walk fails when it does not exist and returns it
      as an absolute path (relative paths are looked up from the current directory, then from the playbook's).
    type: str
  confirmed:
    description: With O(stage=walk) - the operator confirmed the walk; without it a normal run stops after printing
      the plan (check mode needs no confirmation).
    type: bool
    default: false
  confirm_hint:
    description: With O(stage=walk) - how to confirm, for the message.
    type: str
    default: -e confirm=yes
  walk:
    description: With every stage but V(walk) - RV(walk).
    type: dict
  batch:
    description: With O(stage=gate), O(stage=drained), O(stage=engine) and O(stage=back) - one entry of
      RV(walk.batches).
    type: dict
  max_shortfall:
    description: With O(stage=drained) - replicas each service may miss while the batch is drained.
    type: int
    default: 0
  timeout:
    description: Seconds to wait - default 60 for V(gate) and V(report), 300 for V(drained), V(engine) and V(back).
    type: float
  delay:
    description: The longest pause between two reads (the first is 0.5 s).
    type: float
    default: 2
  connection:
    description:
      - The connection options for M(hive.swarm.swarm_node_info) (as in the role's C(docker_swarm_connection)).
    type: dict
attributes:
  check_mode:
    support: full
    description: The walk is planned and shown in check mode exactly as in a normal run; it never changes anything.
      The waits return at once in check mode.
  diff_mode:
    support: none
    description: Nothing to diff.
  action:
    support: full
    description: Runs on the controller.
seealso:
  - module: hive.swarm.swarm_node_info
  - module: hive.swarm.swarm_node
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Plan the walk (after probing the play hosts and reading the managers' node lists)
  hive.swarm.swarm_rolling:
    stage: walk
    probe: my_probe
    read: my_read
    target_version: "28.5"
    confirmed: "{{ confirm | default(false) | bool }}"
  run_once: true
  register: my_walk

- name: Wait until the batch is drained
  hive.swarm.swarm_rolling:
    stage: drained
    walk: "{{ my_walk.walk }}"
    batch: "{{ my_batch }}"
  delegate_to: "{{ my_batch.reader }}"
  run_once: true
"""

RETURN = r"""
msg:
  description: The table and gates (O(stage=walk)), the report (O(stage=report)) or the verdict.
  returned: always
  type: raw
walk:
  description: With O(stage=walk) - the walk.
  returned: when O(stage=walk)
  type: dict
  contains:
    batches:
      description: The steps in order - C(number), C(kind) (workers or manager), C(hosts), C(node_ids), C(reader),
        C(gate), C(work_hosts), and C(steps) (per node - C(host), C(node_id), C(before), C(restore), C(resume),
        C(work), C(drain_labels), C(restore_labels), C(restore_changes) - whether giving the availability back
        changes the node in a real run, what check mode reports for it - ...).
      type: list
      elements: dict
    skipped:
      description: Nodes not walked, with C(skip_reason).
      type: list
      elements: dict
    hosts:
      description: The walked hosts in order.
      type: list
      elements: str
    node_ids:
      description: Inventory host -> node ID.
      type: dict
    swarm_id:
      description: The swarm's ID when the walk was planned.
      type: str
    autolock:
      description: Whether the swarm is autolocked.
      type: bool
    tasks_file:
      description: O(tasks_file) as an absolute path, empty when none was given.
      type: str
    report_reader:
      description: The manager to read the swarm from after the walk (the last step's reader).
      type: str
    summary:
      description: One line - how many steps, workers, managers, resumed and skipped nodes.
      type: str
locked:
  description: With O(stage=engine) - the engine came back locked (autolock) and must be unlocked; in check mode,
    whether it would.
  returned: when O(stage=engine)
  type: bool
engine_version:
  description: With O(stage=engine) - the engine's version now.
  returned: when O(stage=engine)
  type: str
seconds:
  description: How long the stage waited.
  returned: when O(stage) is V(drained), V(engine) or V(back)
  type: float
"""

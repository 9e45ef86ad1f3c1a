#!/usr/bin/python
# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: swarm_plan
short_description: Plan a swarm converge on the controller - election, steps, quorum, preflight and health
version_added: 1.0.0
description:
  - The planner of the P(hive.swarm.docker_swarm#role) role and of the collection's playbooks, as an action that runs
    on the controller. Every decision - which manager to talk to, whether to create the swarm, each host's advertise
    address, stale entries to prune, who joins as what, hosts to re-address, promotions, demotions, labels, removals,
    whether the plan keeps the managers' quorum, whether the swarm is healthy - is made here by typed, unit-tested
    Python (C(plugins/module_utils/_swarm/plan.py)); the role's tasks only order the module calls.
  - It reads the play (groups, play hosts, every host's C(docker_swarm_*) variables with the role's defaults) and the
    results the role's tasks registered (C(docker_swarm__probe), C(docker_swarm__probe_outside),
    C(docker_swarm__reprobe), C(docker_swarm__join_worker), C(docker_swarm__joined), C(docker_swarm__left),
    C(docker_swarm__init),
    C(docker_swarm__preflight_listen), C(docker_swarm__preflight_probe)), and returns its outputs as facts.
  - Apart from O(stage=health) with O(poll=true) and O(stage=ca_wait), which read the swarm through
    M(hive.swarm.swarm_node_info) on the host the task is delegated to, it does not connect to any host.
  - Run it with C(run_once=true).
options:
  stage:
    description:
      - V(inventory) - checks that need no connection (groups, manager count, advertise addresses, invalid role
        variables); sets the fact C(docker_swarm__inventory) (absent hosts, present and outside managers, lock host
        and this run's lock owner); prints a warning for an even manager count.
      - V(lock) - delegated to the lock host - takes the converge lock (a directory at O(path), C(mkdir) is atomic,
        with the run's owner line and a lease file) and starts a detached process on the controller that renews the
        lease every 5 seconds, over the task's connection, while the run's ansible-playbook process lives and the
        lock is still this run's. While another run holds the lock, waits up to O(timeout), printing who holds it,
        for how long and how long ago its lease was renewed. A lock whose lease was not renewed for 20 seconds (its
        run is gone, on whichever controller) is taken over; one whose holder ran on this controller and is gone (an
        interrupted or killed run) at once; a lock without a lease (taken by an older version) after O(stale)
        seconds. Returns RV(held) (false with the reason in RV(msg) when another run kept it) and
        RV(unreachable_lock) when the lock host cannot be reached; it does not fail, so that the caller can stop
        every host at once. Runs shell over the connection (no module, no Python on the lock host).
      - V(plan) - the whole plan from the probe (fact C(docker_swarm__plan), and C(docker_swarm__node_ids)); prints
        the plan as a table (host, what it is now, what this run does to it) and a one-line summary, also in check
        mode, and writes it as JSON to C(docker_swarm_plan_file) when that variable is set. Fails with the refusal
        (naming hosts and what to do) when the plan cannot be converged safely. When locked engines must be unlocked
        first, returns C(docker_swarm__plan.ready=false) and C(docker_swarm__plan.unlock).
      - V(joined) - the node IDs after the init and the joins (fact C(docker_swarm__node_ids)).
      - V(preflight) - judges the port checks of M(hive.swarm.swarm_preflight); fails naming the host, the port and
        the hosts that could not reach it.
      - V(health) - every present host Ready with its inventory role, managers Reachable, one leader, one cluster,
        removed hosts gone; fails with the problems.
      - V(control) - for playbooks, the managers with control available among the play's hosts, from the probe
        registered as O(probe) (returns RV(control) and RV(candidates)).
      - V(removal) - for playbooks, fails when removing O(target) would leave the managers without a quorum.
      - V(rotate) - for C(playbooks/rotate.yml), from the managers' probes registered as O(probe) and O(rotate), the
        manager to work through (RV(control)), the swarm's current root CA digest (RV(previous_root)), and the lines
        saying what will be rotated, printed before anything changes (also in check mode). Fails when no manager
        has control available, when nothing is to be rotated, or for an unlock key rotation without autolock.
      - V(ca_wait) - for C(playbooks/rotate.yml), reads the swarm and its nodes through
        M(hive.swarm.swarm_node_info) on the host the task is delegated to, again and again, until the root CA
        rotation is complete (the swarm no longer reports it in progress, its root differs from O(previous_root),
        and every node's trust root and certificate issuer equal the swarm's) or O(timeout) has passed; then fails
        naming the nodes that have not caught up (hostname, state, what they lack). Does nothing in check mode.
      - V(status) - for C(playbooks/status.yml), from every play host's M(hive.swarm.swarm_node_info) result
        (with O(hive.swarm.swarm_node_info#module:nodes=true) and O(hive.swarm.swarm_node_info#module:certificate=true))
        registered as O(probe), the table of nodes (RV(lines)) with each node's certificate expiry in days, the
        hosts that could not be read, and a warning naming the hosts whose certificate expires within
        O(warn_days).
      - V(backup) - for C(playbooks/backup.yml), from the managers' M(hive.swarm.swarm_node_info) results (with
        O(hive.swarm.swarm_node_info#module:nodes=true)) registered as O(probe) - the manager to back up (O(host), or
        the first reachable non-leader), refusals (quorum while it is away unless O(allow_outage), autolock without
        O(unlock_key_set)) and the lines printed before any change (also in check mode). Returns RV(host),
        RV(archive), RV(dest), RV(backup_dir), RV(docker_root_dir), RV(node_id), RV(swarm_id), RV(manifest).
        Decisions in C(plugins/module_utils/_swarm/backup.py).
      - V(backup_engine) - polls the engine of the task's host until it answers (after a start); returns RV(locked).
        In check mode it returns at once (nothing was stopped) with RV(locked) predicted from
        O(manifest)C(.autolocked) (the manager of an autolocked swarm restarts locked).
      - V(backup_back) - polls the task's host until its node O(target) is ready and reachable again.
      - V(backup_store) - on the controller, checks the fetched archive O(path) against O(sha256), writes its
        manifest (O(manifest) with the time and the checksum, mode 0600) and removes this swarm's archives beyond
        the newest O(keep). In check mode it reads and writes nothing and reports the store as the change a real
        run makes.
      - V(restore) - for C(playbooks/restore.yml), checks the archive O(path) against its manifest, its advertise
        address against the address O(host) advertises (resolved as in O(stage=plan)), and O(host)'s engine (its
        result registered as O(probe) - not in a healthy swarm unless O(force)); prints the plan. Returns RV(host),
        RV(swarm_id), RV(node_id), RV(docker_root_dir), RV(manifest), RV(advertise_addr).
      - V(restore_engine) - polls the task's host until its engine has loaded the restored swarm state (active, or
        pending with an error).
      - V(restore_back) - polls the task's host until it leads swarm O(manifest)C(.swarm_id) as node
        O(manifest)C(.node_id).
      - The waits V(backup_engine), V(backup_back), V(restore_engine) and V(restore_back) return at once in check mode
        (nothing was stopped or restored) and say what a real run waits for.
      - V(recover) - for C(playbooks/recover.yml), from the inventory managers' M(hive.swarm.swarm_node_info) results
        (with O(hive.swarm.swarm_node_info#module:certificate=true)) registered as O(probe) - the survivor (O(target)
        or the first manager holding raft state of the swarm), the swarm and the lost managers whose entries go
        (RV(survivor), RV(swarm_id), RV(dead), RV(recover)), printed before anything changes (also in check mode).
        Fails with nothing changed for an unusable O(target), managers of two swarms, no manager to recover from, a
        locked survivor (autolock), or without C(confirm_recover=yes) in a normal run.
        When the quorum is not lost it says so and returns RV(recover=false).
      - V(recovered) - for C(playbooks/recover.yml), reads the survivor (the host the task is delegated to) through
        M(hive.swarm.swarm_node_info) until it is the leader, answers the node list and lists none of the node IDs in
        O(exclude), or fails at O(timeout). In check mode it returns at once (nothing was forced); with O(probe) its
        RV(lost) is then the plan's dead managers (RV(dead) of O(stage=recover)), the entries a real run removes.
    type: str
    required: true
    choices: [inventory, lock, plan, joined, preflight, health, control, removal, rotate, ca_wait, status, recover,
              recovered, backup, backup_engine, backup_back, backup_store, restore, restore_engine, restore_back]
  unlocked:
    description:
      - With O(stage=plan) - the locked engines were already handed to the unlock step (plan with what was read).
    type: bool
    default: false
  target_is_manager:
    description: With O(stage=removal) - the engine of O(target) itself is a manager (so the swarm may have no other).
    type: bool
    default: false
  poll:
    description: With O(stage=health) - read the node list again until the swarm is healthy or O(timeout) has passed.
    type: bool
    default: false
  timeout:
    description:
      - With O(stage=health) and O(poll=true) - seconds to wait for the swarm to become healthy.
      - With O(stage=ca_wait) - seconds to wait for the root CA rotation to complete (O(stage=rotate) prints it).
      - With O(stage=lock) - seconds to wait while another live run holds the lock.
      - With O(stage=recovered) - seconds to wait for the survivor to lead the swarm.
    type: float
    default: 60
  delay:
    description:
      - With O(stage=health) and O(poll=true), and with O(stage=ca_wait) and O(stage=lock) - the longest pause
        between two reads (the first is 0.5 s).
    type: float
    default: 2
  connection:
    description:
      - With O(stage=health) and O(poll=true), and with O(stage=ca_wait) and O(stage=recovered) - the connection
        options for
        M(hive.swarm.swarm_node_info) (as in the role's C(docker_swarm_connection)).
    type: dict
  probe:
    description:
      - With O(stage=control), O(stage=rotate), O(stage=status), O(stage=recover) and O(stage=recovered) - the name
        of the variable each host registered
        its swarm_node_info result in.
    type: str
  rotate:
    description:
      - With O(stage=rotate) - what to rotate, as booleans C(worker_token), C(manager_token), C(unlock_key),
        C(root_ca).
    type: dict
  previous_root:
    description: With O(stage=ca_wait) - the swarm's root CA digest before the rotation (RV(previous_root)).
    type: str
    default: ""
  warn_days:
    description: With O(stage=status) - warn about node certificates that expire within this many days.
    type: float
    default: 30
  format:
    description:
      - With O(stage=status) - how the action prints the swarm (at every verbosity) - V(text), an aligned table whose
        columns are as wide as their data, or V(json), one JSON document (swarm ID, root CA digest, the rows of
        RV(rows), unread and expiring hosts, warnings).
    type: str
    choices: [text, json]
    default: text
  path:
    description: With O(stage=lock) - the lock directory on the lock host.
    type: str
  stale:
    description: With O(stage=lock) - seconds after which a lock held by a run of another controller is broken.
    type: int
    default: 1800
  exclude:
    description:
      - With O(stage=control) - hosts that may not be chosen.
      - With O(stage=recovered) - node IDs that must no longer be listed.
    type: list
    elements: str
  target:
    description:
      - With O(stage=removal) - the node to remove (as the user named it).
      - With O(stage=recover) - the manager to recover from (C(recover_from)); empty to choose the first that holds
        raft state of the swarm.
    type: str
  node:
    description: With O(stage=removal) - its node entry (RV(hive.swarm.swarm_node_info#module:node)), null if none.
    type: dict
  nodes:
    description: With O(stage=removal) - the swarm's node list (RV(hive.swarm.swarm_node_info#module:nodes)).
    type: list
    elements: dict
  host:
    description:
      - With O(stage=removal) - the manager the removal works through, empty when there is none.
      - With O(stage=backup) - the manager to back up (empty - choose one); with O(stage=restore) - the host to
        restore onto.
      - With O(stage=recovered) - the survivor's name in messages.
    type: str
  allow_outage:
    description: With O(stage=backup) - back up even when the other managers do not keep a quorum meanwhile.
    type: bool
    default: false
  unlock_key_set:
    description: With O(stage=backup) - whether C(docker_swarm_unlock_key) is set (an autolocked swarm needs it).
    type: bool
    default: false
  keep:
    description: With O(stage=backup) and O(stage=backup_store) - how many archives of the swarm to keep (0 - all).
    type: int
    default: 7
  sha256:
    description: With O(stage=backup_store) - the archive's sha256 as read on the host it was made on.
    type: str
    default: ""
  manifest:
    description:
      - With O(stage=backup_store) - the manifest to write (RV(manifest) of O(stage=backup)).
      - With O(stage=backup_engine) - RV(manifest) of O(stage=backup); in check mode its C(autolocked) predicts
        RV(locked).
      - With O(stage=restore_back) - C(swarm_id) and C(node_id) of the restored swarm (RV(manifest) of
        O(stage=restore)).
    type: dict
  force:
    description: With O(stage=restore) - restore also onto a host whose engine is in a healthy (or locked) swarm.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Plans in check mode exactly as in a normal run (it never changes anything).
  diff_mode:
    support: none
    description: Nothing to diff.
  action:
    support: full
    description: Runs on the controller.
seealso:
  - module: hive.swarm.swarm_node_info
  - module: hive.swarm.swarm_preflight
author:
  - hive.swarm contributors (@hive-swarm)
"""

EXAMPLES = r"""
- name: Plan the run and show the plan (in the docker_swarm role, after the probe)
  hive.swarm.swarm_plan:
    stage: plan
  run_once: true

- name: Choose a manager with control available (in a playbook)
  hive.swarm.swarm_plan:
    stage: control
    probe: my_probe
  run_once: true
  register: my_control
"""

RETURN = r"""
msg:
  description: The plan table and summary (O(stage=plan)), warnings (O(stage=inventory)) or the verdict.
  returned: when there is something to show
  type: raw
held:
  description: With O(stage=lock) - this run holds the lock.
  returned: when O(stage=lock)
  type: bool
unreachable_lock:
  description: With O(stage=lock) - the lock host could not be reached; the run is not serialized.
  returned: when O(stage=lock)
  type: bool
lease:
  description:
    - With O(stage=lock), when the lock was taken - the lease renewer's process ID on the controller (C(renewer)),
      the renewal interval (C(renew)) and the age at which a lease counts as abandoned (C(timeout)), in seconds, and
      whether the first renewal succeeded (C(renewed); when it did not, the lease was removed and the lock falls
      back to O(stale)).
  returned: when O(stage=lock) took the lock
  type: dict
control:
  description:
    - With O(stage=control) - the first manager with control available, empty when there is none.
    - With O(stage=rotate) and O(stage=status) - the manager the playbook works through (or read the nodes from).
  returned: when O(stage=control), O(stage=rotate) or O(stage=status)
  type: str
candidates:
  description: With O(stage=control) - every such manager, in play order.
  returned: when O(stage=control)
  type: list
  elements: str
previous_root:
  description: With O(stage=rotate) - the swarm's root CA digest as the chosen manager read it.
  returned: when O(stage=rotate)
  type: str
lines:
  description: With O(stage=status) - the table and the notes below it, one line each.
  returned: when O(stage=status)
  type: list
  elements: str
rows:
  description:
    - With O(stage=status) - one dict per node of the table, with the keys C(hostname), C(role), C(availability),
      C(state), C(leader), C(engine), C(cert_days) and C(labels) (the cells as printed).
  returned: when O(stage=status)
  type: list
  elements: dict
expiring:
  description: With O(stage=status) - the hosts whose certificate expires within O(warn_days) (or has expired).
  returned: when O(stage=status)
  type: list
  elements: str
unread:
  description: With O(stage=status) - the play hosts whose read failed or that were unreachable.
  returned: when O(stage=status)
  type: list
  elements: str
seconds:
  description: With O(stage=ca_wait), O(stage=recovered) and the waits of backup and restore - how long the wait took.
  returned: when O(stage=ca_wait) or O(stage=recovered) ran (not in check mode), or a wait of backup or restore
  type: float
behind:
  description: With O(stage=ca_wait) - the nodes that had not caught up at the last read (C(hostname), C(node_id),
    C(state), C(why)).
  returned: when O(stage=ca_wait) ran (not in check mode)
  type: list
  elements: dict
host:
  description: With O(stage=backup) - the manager to back up; with O(stage=restore) - the host to restore onto.
  returned: when O(stage=backup) or O(stage=restore)
  type: str
archive:
  description: With O(stage=backup) - the archive's file name.
  returned: when O(stage=backup)
  type: str
dest:
  description: With O(stage=backup) - the archive's path on the controller.
  returned: when O(stage=backup)
  type: str
backup_dir:
  description: With O(stage=backup) - the controller directory of the archives (absolute).
  returned: when O(stage=backup)
  type: str
docker_root_dir:
  description: With O(stage=backup) and O(stage=restore) - the chosen host's Engine data root.
  returned: when O(stage=backup) or O(stage=restore)
  type: str
node_id:
  description: With O(stage=backup) and O(stage=restore) - the node ID of the archived manager.
  returned: when O(stage=backup) or O(stage=restore)
  type: str
swarm_id:
  description:
    - With O(stage=rotate), O(stage=backup) and O(stage=restore) - the swarm's ID.
    - With O(stage=recover) - the swarm's ID (from the survivor's certificate when /info has none).
  returned: when O(stage=rotate), O(stage=backup), O(stage=restore) or O(stage=recover)
  type: str
advertise_addr:
  description: With O(stage=restore) - the address the restored node advertises (the archive's).
  returned: when O(stage=restore)
  type: str
manifest:
  description:
    - With O(stage=backup) - the manifest's data known before the archive (swarm and node IDs, hostname, advertise
      address, engine version, autolocked).
    - With O(stage=backup_store) - the manifest written.
    - With O(stage=restore) - C(swarm_id) and C(node_id) (for O(stage=restore_back)).
  returned: when O(stage=backup), O(stage=backup_store) or O(stage=restore)
  type: dict
removed:
  description: With O(stage=backup_store) - the older archives removed (file names).
  returned: when O(stage=backup_store) ran (not in check mode)
  type: list
  elements: str
locked:
  description:
    - With O(stage=backup_engine) - the engine came back locked (autolock); in check mode, whether it would.
    - With O(stage=recover) - the survivor's engine is locked (always false when it recovers).
  returned: when O(stage=backup_engine) or O(stage=recover)
  type: bool
recover:
  description: With O(stage=recover) - the managers lost their quorum and the recovery goes ahead (false when there
    is nothing to recover).
  returned: when O(stage=recover)
  type: bool
survivor:
  description: With O(stage=recover) - the manager the swarm is recovered from.
  returned: when O(stage=recover)
  type: str
dead:
  description: With O(stage=recover) - the lost managers whose entries are removed (C(id), C(addr), C(host)).
  returned: when O(stage=recover)
  type: list
  elements: dict
lost:
  description: With O(stage=recovered) - the manager entries outside the new raft that no reachable host reports
    (C(id), C(host), C(addr)); when O(probe) is given, the node IDs in those reads are kept. In check mode (with
    O(probe)) - the plan's dead managers, the entries a real run removes.
  returned: when O(stage=recovered) ran, in check mode when O(probe) is given
  type: list
  elements: dict
ansible_facts:
  description: The planner's outputs (see O(stage)).
  returned: for the role's stages
  type: dict
"""

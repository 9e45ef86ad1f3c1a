# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin hive.swarm.swarm_rolling: the rolling-maintenance planner (module_utils/_swarm/rolling.py) for
playbooks/maintenance.yml and playbooks/upgrade.yml, run on the controller.

Stage ``walk`` reads the play's probes and the managers' node lists from registered results and returns the
walk. The other stages poll a fact with a deadline through hive.swarm.swarm_node_info on the host the task runs
on (delegate it to the batch's reader, or to the maintained host for ``engine``) and fail with a sentence when
the deadline passes. Documentation: plugins/modules/swarm_rolling.py.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible_collections.hive.swarm.plugins.module_utils._swarm import rolling
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter
from ansible_collections.hive.swarm.plugins.plugin_utils._action import StagedAction, plain, show
from ansible_collections.hive.swarm.plugins.plugin_utils._poll import poll

STAGES = ("walk", "gate", "drained", "engine", "back", "report")
# Documented in plugins/modules/swarm_rolling.py (tests/unit/plugins/test_docs.py compares the two).
ARGUMENT_SPEC: dict[str, Any] = {
    "stage": {"type": "str", "required": True, "choices": list(STAGES)},
    "probe": {"type": "str"},
    "read": {"type": "str"},
    "max_unavailable": {"type": "raw"},
    "target_version": {"type": "str"},
    "allow_quorum_loss": {"type": "bool", "default": False},
    "tasks_file": {"type": "str"},
    "confirmed": {"type": "bool", "default": False},
    "confirm_hint": {"type": "str", "default": "-e confirm=yes"},
    "batch": {"type": "dict"},
    "walk": {"type": "dict"},
    "max_shortfall": {"type": "int", "default": 0},
    "timeout": {"type": "float"},
    "delay": {"type": "float", "default": 2},
    "connection": {"type": "dict"},
}
ENGINE_UP_STATES = ("active", "locked")
UNLOCK_KEY_VAR = "docker_swarm_unlock_key"


def _failed(res: Any) -> bool:
    return not isinstance(res, Mapping) or bool(res.get("failed") or res.get("unreachable"))


class ActionModule(StagedAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    # ------------------------------------------------------------------------------------------ reads
    def _read(self, task_vars: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        """One swarm_node_info call on the host the task runs on (or its delegate). A module failure is
        returned as such; a connection failure too (``unreachable``), so a poll can go on."""
        module_args = {**dict(self._args.get("connection") or {}), **options}
        try:
            res = self._execute_module(module_name="hive.swarm.swarm_node_info", module_args=module_args,
                                       task_vars=dict(task_vars))
        except AnsibleConnectionFailure as err:
            return {"unreachable": True, "msg": str(err)}
        return plain(res)

    def _where(self, task_vars: Mapping[str, Any]) -> str:
        return str(self._task.delegate_to or task_vars.get("inventory_hostname") or "the manager")

    def _manager_read(self, task_vars: Mapping[str, Any], walk: Mapping[str, Any], **options: Any) -> dict[str, Any]:
        """A manager's node list (plus ``options``); a failed read, a node that cannot serve it, or a swarm other
        than the one the ``walk`` started in is returned with ``problem`` set, so a poll can retry it (and every
        stage that reads the swarm stops on another swarm)."""
        res = self._read(task_vars, nodes=True, **options)
        if _failed(res):
            res["problem"] = f"could not read the swarm on {self._where(task_vars)}: {res.get('msg', 'no message')}"
        elif res.get("swarm_unavailable"):
            res["problem"] = f"{self._where(task_vars)} cannot read the swarm: {res['swarm_unavailable']}"
        else:
            res["problem"] = self._swarm_changed(res, walk)
        return res

    @staticmethod
    def _check_mode(task_vars: Mapping[str, Any]) -> bool:
        return bool(task_vars.get("ansible_check_mode"))

    def _would_wait(self, result: dict[str, Any], default: float, what: str) -> None:
        """Check mode: a wait stage returns at once (nothing was changed, so there is nothing to wait for) and says
        what the real run waits for."""
        result["msg"] = f"Check mode: would wait up to {self._timeout(default):g}s until {what}"

    def _walk_data(self) -> dict[str, Any]:
        walk = plain(self._args.get("walk") or {})
        if not walk.get("node_ids"):
            raise AnsibleActionFail("swarm_rolling: pass walk (the result of stage walk)")
        return walk

    def _batch(self) -> dict[str, Any]:
        batch = plain(self._args.get("batch") or {})
        if not batch.get("node_ids"):
            raise AnsibleActionFail("swarm_rolling: pass batch (one entry of the walk's batches)")
        return batch

    def _swarm_changed(self, read: Mapping[str, Any], walk: Mapping[str, Any]) -> str:
        swarm_id = (read.get("swarm") or {}).get("id")
        if swarm_id and walk.get("swarm_id") and swarm_id != walk["swarm_id"]:
            return (f"{self._where({})} is now in swarm {swarm_id}, not in {walk['swarm_id']} where the walk started: "
                    "stop and check the managers")
        return ""

    # ------------------------------------------------------------------------------------------ walk
    def _stage_walk(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        args = self._args
        probe_var = str(args.get("probe") or "")
        play = [str(h) for h in task_vars.get("ansible_play_hosts_all") or ()]
        problems: list[str] = []

        reads = [r for r in (task_vars.get(str(args.get("read") or "")) or {}).get("results") or []
                 if isinstance(r, Mapping)]
        readers = [str(r["item"]) for r in reads if not _failed(r) and r.get("nodes") and r.get("item")]
        if not readers:
            tried = ", ".join(f"{r.get('item')} ({r.get('swarm_unavailable') or r.get('msg') or 'no nodes'})"
                              for r in reads) or "none"
            raise AnsibleActionFail("No manager of the inventory answered with the swarm's node list (tried: "
                                    f"{tried}): start their engines, unlock them (playbooks/unlock.yml), or restore "
                                    "the quorum; nothing was changed.")
        by_host = {str(r["item"]): plain(r) for r in reads if r.get("item")}
        leader_ids = {n["id"] for r in readers for n in by_host[r]["nodes"] if n.get("leader")}
        leader = next((h for h in readers if by_host[h]["local"].get("node_id") in leader_ids), "")
        source = by_host[leader or readers[0]]
        nodes = source["nodes"]

        node_ids: dict[str, Optional[str]] = {}
        own_versions: dict[str, Optional[str]] = {}  # each play host's engine version, as its own engine says
        hostnames = {}
        for n in nodes:
            hostnames.setdefault(n.get("hostname"), []).append(n.get("id"))
        for h in play:
            probe = plain(self._hostvar(task_vars, h, probe_var))
            if _failed(probe) or not isinstance(probe.get("local"), Mapping):
                msg = (probe or {}).get("msg", "no result") if isinstance(probe, Mapping) else "no result"
                problems.append(f"{h} could not be probed ({msg}): bring it back, or leave it out of the play "
                                "with --limit")
                continue
            local = probe["local"]
            node_id = local.get("node_id")
            if not node_id and local.get("state") == "locked" and len(hostnames.get(local.get("hostname"), [])) == 1:
                node_id = hostnames[local["hostname"]][0]  # a locked engine does not say its node ID
            node_ids[h] = node_id
            own_versions[h] = local.get("engine_version")
        for h, r in by_host.items():  # managers outside the play: their own node IDs name them
            if h not in node_ids and r.get("local", {}).get("node_id"):
                node_ids[h] = r["local"]["node_id"]

        nodes = rolling.with_own_versions(nodes, node_ids, own_versions)
        try:
            walk = rolling.walk_order(nodes, node_ids, args.get("max_unavailable"),
                                      target_version=args.get("target_version"), only=play,
                                      allow_quorum_loss=bool(args.get("allow_quorum_loss")))
        except InvalidParameter as err:
            raise AnsibleActionFail(f"{err} Nothing was changed.") from None
        autolock = bool(((source.get("swarm") or {}).get("spec") or {}).get("autolock"))
        managers_walked = any(b.kind == "manager" for b in walk.batches)
        if autolock and managers_walked and not self._templar.template(task_vars.get(UNLOCK_KEY_VAR)):
            problems.append(f"the swarm is autolocked, so every manager restarted by the maintenance comes back "
                            f"locked: set {UNLOCK_KEY_VAR} (ansible-vault) so the walk can unlock it")
        tasks_file = self._tasks_file(task_vars, problems)

        batches = rolling.playbook_batches(walk, nodes, readers, leader)
        data = walk.as_dict()
        data.update({"batches": batches, "node_ids": node_ids, "swarm_id": (source.get("swarm") or {}).get("id"),
                     "autolock": autolock, "readers": readers, "leader": leader, "tasks_file": tasks_file,
                     "hosts": [h for b in batches for h in b["hosts"]],
                     "report_reader": batches[-1]["reader"] if batches else (leader or readers[0])})
        result["walk"] = data
        result["ansible_facts"] = {"hive_swarm_walk": data}
        lines = [*walk.table, walk.summary, *(f"WARNING: {w}" for w in walk.warnings)]
        if batches:
            lines.append("Gates:")
            lines += [f"  {b['number']}. {b['gate']} (read on {b['reader']})" for b in batches]
        result["msg"] = lines
        show(lines)
        refusals = [*walk.refusals, *problems]
        if refusals:
            raise AnsibleActionFail("Cannot start: " + "; ".join(refusals) + ". Nothing was changed.")
        if batches and not task_vars.get("ansible_check_mode") and not args.get("confirmed"):
            raise AnsibleActionFail(f"This drains {len(data['hosts'])} nodes one batch after the other (the plan "
                                    f"above). Confirm with {args.get('confirm_hint')}; --check shows the plan "
                                    "without it. Nothing was changed.")

    def _tasks_file(self, task_vars: Mapping[str, Any], problems: list[str]) -> str:
        """The operator's tasks file as an absolute path (relative paths: from the current directory, then from
        the playbook's), or '' when none was given; a missing file is a refusal."""
        given = str(self._args.get("tasks_file") or "")
        if not given:
            return ""
        candidates = [os.path.abspath(os.path.expanduser(given))]
        playbook_dir = str(task_vars.get("playbook_dir") or "")
        if playbook_dir and not os.path.isabs(os.path.expanduser(given)):
            candidates.append(os.path.join(playbook_dir, given))
        found = next((c for c in candidates if os.path.isfile(c)), "")
        if not found:
            problems.append(f"the tasks file {given} does not exist (looked at {', '.join(candidates)})")
        return found

    # ------------------------------------------------------------------------------------------ gates
    def _stage_gate(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        walk, batch = self._walk_data(), self._batch()
        names = walk["node_ids"]

        def problem(read: dict[str, Any]) -> str:
            if read["problem"]:
                return read["problem"]
            if batch["kind"] == "manager":
                return rolling.gate_before_manager(read["nodes"], batch["node_ids"][0], names,
                                                   bool(self._args.get("allow_quorum_loss")))
            return rolling.gate_before_batch(read["nodes"], batch["node_ids"], names)

        _read, why, waited = poll(lambda: self._manager_read(task_vars, walk), problem, self._timeout(60),
                                  self._args["delay"])
        if why:
            raise AnsibleActionFail(f"{why} (still so after {waited:.0f}s)")
        result["msg"] = f"Gate passed: {batch['gate']}"

    def _stage_drained(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        walk, batch = self._walk_data(), self._batch()
        who = ", ".join(batch["hosts"])
        shortfall = int(self._args.get("max_shortfall") or 0)
        if self._check_mode(task_vars):
            self._would_wait(result, 300, f"no replicated task runs on {who}")
            return

        def problem(read: dict[str, Any]) -> str:
            if read["problem"]:
                return read["problem"]
            verdict = rolling.drained(read.get("tasks") or [], read.get("services") or [], batch["node_ids"],
                                      nodes=read["nodes"], max_shortfall=shortfall, name=who)
            return verdict.message

        _read, why, waited = poll(lambda: self._manager_read(task_vars, walk, tasks=True, services=True), problem,
                                  self._timeout(300), self._args["delay"])
        if why:
            raise AnsibleActionFail(
                f"{who} did not drain within {waited:.0f}s: {why} Check the services' placement constraints and the "
                f"other nodes' resources. {who} stays drained (label {rolling.MARK_LABEL}); the next run resumes it.")
        result["msg"] = f"{who} drained in {waited:.1f}s"
        result["seconds"] = round(waited, 1)

    def _stage_engine(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        host = str(task_vars.get("inventory_hostname"))
        if self._check_mode(task_vars):
            self._engine_check(task_vars, host, result)
            return

        def problem(read: dict[str, Any]) -> str:
            if _failed(read):
                return f"its engine does not answer ({read.get('msg', 'no message')})"
            state = (read.get("local") or {}).get("state")
            if state not in ENGINE_UP_STATES:
                return f"its engine is {state} in the swarm"
            return ""

        read, why, waited = poll(lambda: self._read(task_vars, local_only=True), problem, self._timeout(300),
                                 self._args["delay"])
        if why:
            raise AnsibleActionFail(f"{host} is not back after {waited:.0f}s: {why}. It stays drained (label "
                                    f"{rolling.MARK_LABEL}); fix it and run again to resume.")
        local = read.get("local") or {}
        locked = local.get("state") == "locked"
        if locked and not self._templar.template(task_vars.get(UNLOCK_KEY_VAR)):
            raise AnsibleActionFail(f"{host}'s engine came back locked (autolock): set {UNLOCK_KEY_VAR} "
                                    "(ansible-vault) and run again, or unlock it with playbooks/unlock.yml.")
        result.update({"locked": locked, "engine_version": local.get("engine_version"), "seconds": round(waited, 1),
                       "msg": f"{host}: Engine {local.get('engine_version')} answers ({local.get('state')}) after "
                              f"{waited:.1f}s"})

    def _engine_check(self, task_vars: Mapping[str, Any], host: str, result: dict[str, Any]) -> None:
        """Check mode: one read of the engine, no wait; ``locked`` is predicted (rolling.comes_back_locked) from the
        walk (autolock), the host's step (role, whether the work restarts it) and its state now, so the unlock task
        reports the change the real run makes."""
        walk, batch = self._walk_data(), self._batch()
        step = next((s for s in batch.get("steps") or [] if s.get("host") == host), None)
        if step is None:
            raise AnsibleActionFail(f"swarm_rolling: {host} is not a host of step {batch.get('number')}")
        read = self._read(task_vars, local_only=True)
        now = None if _failed(read) else (read.get("local") or {}).get("state")
        locked = rolling.comes_back_locked(now, bool(walk.get("autolock")), str(step.get("role") or ""),
                                           host in (batch.get("work_hosts") or []))
        if locked and not self._templar.template(task_vars.get(UNLOCK_KEY_VAR)):
            raise AnsibleActionFail(f"{host}'s engine would come back locked (autolock): set {UNLOCK_KEY_VAR} "
                                    "(ansible-vault) and run again, or unlock it with playbooks/unlock.yml.")
        seen = f"it is {now} now" if now else f"it does not answer now ({read.get('msg', 'no message')})"
        result.update({"locked": locked, "engine_version": (read.get("local") or {}).get("engine_version"),
                       "seconds": 0.0,
                       "msg": f"Check mode: would wait up to {self._timeout(300):g}s until the engine of {host} "
                              f"answers ({seen}); it would come back {'locked' if locked else 'unlocked'}"})

    def _stage_back(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        walk, batch = self._walk_data(), self._batch()
        target = str(walk.get("target_version") or "")
        if self._check_mode(task_vars):
            kind = "ready and reachable" if batch["kind"] == "manager" else "ready"
            self._would_wait(result, 300, f"{', '.join(batch['hosts'])} {'is' if len(batch['hosts']) == 1 else 'are'} "
                                          f"{kind}{f' on Engine {target}' if target else ''}")
            return

        def problem(read: dict[str, Any]) -> str:
            if read["problem"]:
                return read["problem"]
            return "; ".join(rolling.back_problems(read["nodes"], batch["node_ids"], target, walk["node_ids"]))

        _read, why, waited = poll(lambda: self._manager_read(task_vars, walk), problem, self._timeout(300),
                                  self._args["delay"])
        who = ", ".join(batch["hosts"])
        if why:
            raise AnsibleActionFail(f"{who} not back after {waited:.0f}s: {why}. It stays drained (label "
                                    f"{rolling.MARK_LABEL}); fix it and run again to resume.")
        result["msg"] = f"{who} back (ready{', reachable' if batch['kind'] == 'manager' else ''}) in {waited:.1f}s"
        result["seconds"] = round(waited, 1)

    def _stage_report(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        walk = self._walk_data()
        if self._check_mode(task_vars):
            lines = rolling.check_report(walk)
            result["msg"] = lines
            show(lines)
            return

        def problem(read: dict[str, Any]) -> str:  # a manager that was just elected lists states as unknown
            return read["problem"] or "; ".join(rolling.unsettled(read["nodes"]))

        read, _why, _waited = poll(lambda: self._manager_read(task_vars, walk), problem, self._timeout(60),
                                   self._args["delay"])
        if read["problem"]:
            raise AnsibleActionFail(read["problem"])
        lines = rolling.final_report(read["nodes"], walk)
        result["msg"] = lines
        show(lines)

    # --------------------------------------------------------------------------------------- helpers
    def _timeout(self, default: float) -> float:
        given = self._args.get("timeout")
        return float(given) if given is not None else default

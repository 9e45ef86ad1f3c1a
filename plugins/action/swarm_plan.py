# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin hive.swarm.swarm_plan: runs the planner (module_utils/_swarm/plan.py) on the controller.

It reads what the planner needs from the play (groups, play hosts, every host's docker_swarm_* variables,
the role's defaults, the results the role's probe tasks registered) and returns the planner's outputs as
facts. Apart from the health and ca_wait stages, which poll a manager through hive.swarm.swarm_node_info, it
never connects to a host. The stages of playbooks (rotate, ca_wait, status) decide through the pure functions of
module_utils/_swarm/rotation.py and status.py. Documentation: plugins/modules/swarm_plan.py.
"""

from __future__ import annotations

import getpass
import json
import os
import random
import shlex
import signal
import socket
from datetime import datetime, timezone
from typing import Any, Mapping, Optional

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure
from ansible.module_utils.parsing.convert_bool import boolean
from ansible_collections.hive.swarm.plugins.module_utils._swarm import lock, rotation
from ansible_collections.hive.swarm.plugins.module_utils._swarm import plan as planner
from ansible_collections.hive.swarm.plugins.module_utils._swarm import recover as recovery
from ansible_collections.hive.swarm.plugins.module_utils._swarm import status as status_table
from ansible_collections.hive.swarm.plugins.plugin_utils import _lease
from ansible_collections.hive.swarm.plugins.plugin_utils._action import StagedAction, plain, show
from ansible_collections.hive.swarm.plugins.plugin_utils._backup import BACKUP_ARGS, BACKUP_STAGES, BackupStages
from ansible_collections.hive.swarm.plugins.plugin_utils._poll import poll

ROLE_PREFIX = "docker_swarm_"
STAGES = ("inventory", "lock", "plan", "joined", "preflight", "health", "control", "removal", "rotate", "ca_wait",
          "status", "recover", "recovered", *BACKUP_STAGES)
# Documented in plugins/modules/swarm_plan.py (tests/unit/plugins/test_docs.py compares the two).
ARGUMENT_SPEC: dict[str, Any] = {
    "stage": {"type": "str", "required": True, "choices": list(STAGES)},
    "unlocked": {"type": "bool", "default": False},
    "poll": {"type": "bool", "default": False},
    "timeout": {"type": "float", "default": 60},
    "delay": {"type": "float", "default": 2},
    "connection": {"type": "dict"},
    "probe": {"type": "str"},
    "exclude": {"type": "list", "elements": "str"},
    "target": {"type": "str"},
    "node": {"type": "dict"},
    "nodes": {"type": "list", "elements": "dict"},
    "host": {"type": "str"},
    "target_is_manager": {"type": "bool", "default": False},
    "rotate": {"type": "dict"},
    "previous_root": {"type": "str", "default": ""},
    "warn_days": {"type": "float", "default": 30},
    "format": {"type": "str", "default": "text", "choices": ["text", "json"]},
    "path": {"type": "str"},
    "stale": {"type": "int", "default": 1800},
    **BACKUP_ARGS,
}
# The lock: take it (mkdir is atomic; the owner line, then a fresh lease) or say for how long it is held, how long
# ago its lease was renewed ('none': a lock of an older version) and who holds it (rc 3). Ages on the lock host's
# clock.
LOCK_TAKE = """lock=%(path)s; owner=%(owner)s
if mkdir "$lock" 2>/dev/null; then printf '%%s\\n' "$owner" > "$lock/owner" && : > "$lock/lease"; echo taken; exit 0; fi
now=$(date +%%s)
echo "age $(( now - $(stat -c %%Y "$lock" 2>/dev/null || echo "$now") ))"
if [ -e "$lock/lease" ]; then echo "lease $(( now - $(stat -c %%Y "$lock/lease" 2>/dev/null || echo "$now") ))"
else echo "lease none"; fi
cat "$lock/owner" 2>/dev/null
exit 3
"""
# Break a lock, but only if it still has the owner line read before (another run may have broken it first).
LOCK_BREAK = """lock=%(path)s
if [ "$(cat "$lock/owner" 2>/dev/null)" = %(old)s ]; then rm -rf "$lock"; fi
"""
# Renew this run's lease: only while the lock carries this run's owner line (compared in the same command), else
# rc NOT_OURS. touch -c never creates a lease (a lock that reverted to the stale rule stays without one).
LOCK_RENEW = """lock=%(path)s
[ "$(cat "$lock/owner" 2>/dev/null)" = %(owner)s ] || exit %(not_ours)d
touch -c "$lock/lease"
"""
# Drop this run's lease (its renewer could not renew): the lock then falls back to docker_swarm_lock_stale.
LOCK_UNLEASE = """lock=%(path)s
if [ "$(cat "$lock/owner" 2>/dev/null)" = %(owner)s ]; then rm -f "$lock/lease"; fi
"""


def _proc_stat(pid: int) -> Optional[str]:
    """The text of /proc/PID/stat: '' when the process is gone, None when this system has no /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return "" if os.path.isdir("/proc/self") else None
    except OSError:
        return ""


def _proc_start(pid: int) -> str:
    """The start time of a controller process ('' when it is gone or cannot be read)."""
    return lock.proc_start(_proc_stat(pid) or "")


def _alive(pid: int, start: str) -> bool:
    """Whether controller process ``pid`` runs and is the one that started at ``start`` (without /proc, as on
    macOS: whether a process ``pid`` exists)."""
    stat = _proc_stat(pid)
    if stat is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True
    return lock.proc_alive(stat, start)


class ActionModule(BackupStages, StagedAction):
    ARGUMENT_SPEC = ARGUMENT_SPEC
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)

    # ----------------------------------------------------------------------------------------- inputs
    def _var(self, task_vars: Mapping[str, Any], key: str) -> Any:
        """A variable of the host the task runs for, templated."""
        return self._templar.template(task_vars.get(key))

    def _inventory(self, task_vars: Mapping[str, Any]) -> planner.Inventory:
        settings = planner.Settings.from_vars(
            {k: self._var(task_vars, k) for k in planner.SETTINGS_VARS if k in task_vars})
        groups = task_vars.get("groups") or {}
        managers = tuple(groups.get(settings.manager_group) or ())
        workers = tuple(groups.get(settings.worker_group) or ())
        play = tuple(task_vars.get("ansible_play_hosts") or ())
        play_all = tuple(task_vars.get("ansible_play_hosts_all") or ())
        role = getattr(self._task, "_role", None)
        defaults = {k: v for k, v in (role.get_default_vars() if role else {}).items() if k.startswith(ROLE_PREFIX)}
        hostvars = task_vars.get("hostvars") or {}
        hosts = {}
        for h in dict.fromkeys([*managers, *workers, *play_all]):
            if h in hostvars:
                hv = hostvars[h]
                wanted = {k: hv.get(k) for k in (*planner.HOST_VARS, "ansible_host")}
                hosts[h] = planner.Host.from_vars(h, plain(wanted), defaults)
        return planner.Inventory(managers=managers, workers=workers, play=play, play_all=play_all, hosts=hosts,
                                 settings=settings)

    def _probes(self, task_vars: Mapping[str, Any], inv: planner.Inventory, var: str = "docker_swarm__probe",
                outside: str = "docker_swarm__probe_outside", again: str = "docker_swarm__reprobe",
                local_again: str = "") -> dict[str, Any]:
        """host -> swarm_node_info result, for every host whose probe succeeded: the play's own probe, the
        delegated probe of managers outside the play, and a second probe after an unlock. ``local_again``: a
        loop of ``local_only`` reads (health.yml's re-read of managers in error) whose ``local`` replaces the one
        of the probe (the node list and the swarm stay the probe's)."""
        def read(res: Any) -> bool:  # a swarm_node_info result with the engine's local view
            return isinstance(res, Mapping) and isinstance(res.get("local"), Mapping)

        def items(loop_var: str) -> list[Mapping[str, Any]]:  # a delegated loop's reads, by host
            return [i for i in (task_vars.get(loop_var) or {}).get("results") or [] if read(i) and i.get("item")]

        out: dict[str, Any] = {}
        for h in inv.play:
            # the probe, or its second read of a manager whose engine reported a swarm error (probe.yml)
            for res in (self._hostvar(task_vars, h, var), self._hostvar(task_vars, h, f"{var}_again")):
                if read(res):
                    out[h] = res
        for item in items(outside) + items(again):
            out[str(item["item"])] = item
        for item in items(local_again):
            if item["item"] in out:
                out[str(item["item"])] = {**out[str(item["item"])], "local": item["local"]}
        return plain(out)

    # ----------------------------------------------------------------------------------------- stages
    def _stage_inventory(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        inv = self._inventory(task_vars)
        check = planner.check_inventory(inv)
        if check.problems:
            raise AnsibleActionFail(check.message)
        # the controller's ansible-playbook process (this action runs in a worker forked from it)
        main_pid = os.getppid()
        owner = lock.owner_line(getpass.getuser(), socket.gethostname(), main_pid, _proc_start(main_pid),
                                datetime.now(timezone.utc).isoformat(), random.randint(0, 2 ** 31))
        result["ansible_facts"] = {"docker_swarm__inventory": {
            "absent": check.absent, "present_managers": check.present_managers,
            "outside_managers": check.outside_managers, "lock_host": check.lock_host, "lock_owner": owner,
            # the play host that takes the lock (a task of one host instead of run_once: see lock.yml)
            "runner": next(iter(inv.play), "")}}
        if check.warnings:
            result["msg"] = check.warnings
            show(check.warnings)

    def _stage_lock(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """Take the converge lock on the lock host (the task is delegated there) and start renewing its lease; wait
        while a live run holds it; break it when its holder ran on this controller and is gone, when its lease was
        not renewed for lock.LEASE_TIMEOUT seconds, or (a lock without a lease) when it is older than ``stale``. An
        unreachable lock host is reported (``unreachable_lock``): the run goes on unserialized. Nothing is raised:
        the role stops every host (run_once) when the lock is not held."""
        args = self._args
        owner = str((task_vars.get("docker_swarm__inventory") or {}).get("lock_owner") or "")
        path = str(args.get("path") or "")
        stale = int(args.get("stale") or 0)
        host = socket.gethostname()
        where = self._task.delegate_to or "the lock host"
        notes: list[str] = []
        waits: list[str] = []  # the first time the lock was found held by a live run

        def attempt() -> dict[str, Any]:
            try:
                take = LOCK_TAKE % {"path": shlex.quote(path), "owner": shlex.quote(owner)}
                res = self._low_level_execute_command(take, executable="/bin/sh")
            except AnsibleConnectionFailure as err:
                return {"state": "unreachable", "why": str(err)}
            if res.get("rc") == 0:
                return {"state": "taken", "why": ""}
            held = lock.parse_held(str(res.get("stdout") or "")) if res.get("rc") == 3 else None
            if held is None:
                return {"state": "error", "why": f"rc={res.get('rc')} {res.get('stderr') or res.get('stdout')}"}
            decision = lock.verdict(held, stale, host, _alive)
            if decision.action == "break":
                old = shlex.quote(held.owner_text)
                self._low_level_execute_command(LOCK_BREAK % {"path": shlex.quote(path), "old": old},
                                                executable="/bin/sh")
                notes.append(f"broke the lock: {decision.why}")
                return attempt()
            if not waits:
                waits.append(decision.why)
                show([f"Waiting for the converge lock {path} on {where}: {decision.why} (up to "
                      f"{float(args.get('timeout') or 600):.0f}s)"])
            return {"state": "held", "why": decision.why}

        got, why, waited = poll(attempt, lambda r: r["why"] if r["state"] == "held" else "",
                                float(args.get("timeout") or 600), float(args.get("delay") or 2))
        result["held"] = got["state"] == "taken"
        result["unreachable_lock"] = got["state"] == "unreachable"
        if got["state"] == "error":
            result["msg"] = f"Could not take the converge lock {path} on {where}: {got['why']}"
        elif got["state"] == "held":  # the role's next task (run_once) stops every host with this sentence
            result["msg"] = (
                f"Another run is converging this swarm: the lock {path} on {where} is {why}. Waited {waited:.0f}s. "
                f"Run again when it has finished. A lock whose run is gone is taken over by the next run once its "
                f"lease is {lock.LEASE_TIMEOUT}s old (at once by a run on the same controller); a lock without a "
                f"lease (an older version of the role) after docker_swarm_lock_stale ({stale}s).")
        else:
            if waits and got["state"] == "taken":
                notes.append(f"waited {waited:.0f}s for the lock, {waits[0]}")
            if got["state"] == "taken":
                notes.extend(self._start_lease(path, owner, where, result))
            result["msg"] = "; ".join([*notes, got["why"] or "taken"])
        if notes:
            show(notes)

    def _start_lease(self, path: str, owner: str, where: str, result: dict[str, Any]) -> list[str]:
        """Start the renewer of this run's lease (plugin_utils/_lease.py); when its first renewal fails, end it and
        drop the lease, so that the lock falls back to docker_swarm_lock_stale instead of being taken over while
        this run lives. Returns the notes for the log."""
        me = lock.parse_owner(owner)
        if me is None:
            return []
        renew_cmd = LOCK_RENEW % {"path": shlex.quote(path), "owner": shlex.quote(owner), "not_ours": lock.NOT_OURS}

        def renew() -> Optional[int]:
            res = self._low_level_execute_command(renew_cmd, executable="/bin/sh")
            return int(res.get("rc", 1))

        pid, renewed = _lease.start(renew, me.pid, lambda: _alive(me.pid, me.start), lock.LEASE_RENEW)
        result["lease"] = {"renewer": pid, "renew": lock.LEASE_RENEW, "timeout": lock.LEASE_TIMEOUT,
                           "renewed": renewed}
        if renewed:
            return []
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        if not _alive(me.pid, me.start):
            # The run was interrupted while it took the lock: its ansible-playbook process is gone, and this worker
            # lives on (Ansible's workers run in a session of their own: a kill of the run's process group does not
            # reach them). Nobody will use the lock; dropping its lease would make the next run wait for
            # docker_swarm_lock_stale. Release it (when that fails, the lease is left to run out).
            try:
                self._low_level_execute_command(LOCK_BREAK % {"path": shlex.quote(path), "old": shlex.quote(owner)},
                                                executable="/bin/sh")
            except AnsibleConnectionFailure:
                pass
            return []
        try:
            self._low_level_execute_command(LOCK_UNLEASE % {"path": shlex.quote(path), "owner": shlex.quote(owner)},
                                            executable="/bin/sh")
        except AnsibleConnectionFailure:
            pass  # the lease then runs out: the lock may be taken over; said below
        return [f"WARNING: the lease of the converge lock on {where} could not be renewed from this controller "
                f"(connection {self._connection.transport}); the lock falls back to docker_swarm_lock_stale"]

    def _stage_plan(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        inv = self._inventory(task_vars)
        unlocked = None
        if self._args.get("unlocked"):  # the hosts the first plan handed to the unlock step
            unlocked = [str(h) for h in (task_vars.get("docker_swarm__plan") or {}).get("unlock") or []]
        plan = planner.make_plan(inv, self._probes(task_vars, inv), unlocked=unlocked)
        data = plan.as_dict()
        result["ansible_facts"] = {"docker_swarm__plan": data, "docker_swarm__node_ids": dict(plan.node_ids)}
        if plan.refusals:
            raise AnsibleActionFail(" ".join(plan.refusals))
        if not plan.ready:
            result["msg"] = f"Locked engines to unlock first (docker_swarm_unlock_key): {', '.join(plan.unlock)}"
            show([result["msg"]])
            return
        result["msg"] = [*plan.table, plan.summary, *plan.warnings]
        show(result["msg"])
        path = self._var(task_vars, "docker_swarm_plan_file")
        if path:
            self._write_plan_file(str(path), data, task_vars)

    def _write_plan_file(self, path: str, data: dict[str, Any], task_vars: Mapping[str, Any]) -> None:
        doc = {"created": datetime.now(timezone.utc).isoformat(),
               "check_mode": bool(task_vars.get("ansible_check_mode")), "plan": data}
        path = os.path.expanduser(path)
        tmp = f"{path}.tmp{os.getpid()}"
        try:
            with open(tmp, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, indent=1, sort_keys=True)
            os.replace(tmp, path)
        except OSError as err:
            raise AnsibleActionFail(f"Could not write the plan to docker_swarm_plan_file {path}: {err}") from err

    def _stage_joined(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        plan = task_vars.get("docker_swarm__plan") or {}
        joined: dict[str, Any] = dict(plain(task_vars.get("docker_swarm__joined") or {}))
        init = task_vars.get("docker_swarm__init") or {}
        if plan.get("bootstrap") and init.get("node_id"):
            joined[plan["control"]] = init["node_id"]
        left: dict[str, Any] = dict(plain(task_vars.get("docker_swarm__left") or {}))
        for h in plan.get("worker_joiners") or []:
            res = self._hostvar(task_vars, h, "docker_swarm__join_worker")
            if isinstance(res, Mapping) and res.get("node_id"):
                joined[h] = res["node_id"]
            if isinstance(res, Mapping) and res.get("left_node_id"):
                left[h] = res["left_node_id"]
        node_ids = planner.joined_node_ids(plan.get("node_ids") or {}, joined)
        result["ansible_facts"] = {"docker_swarm__node_ids": node_ids,
                                   "docker_swarm__left_behind": planner.left_behind(plan.get("replaces") or {},
                                                                                    node_ids, left)}

    def _stage_preflight(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        plan = task_vars.get("docker_swarm__plan") or {}
        listened, probed = {}, {}
        for h in plan.get("preflight") or {}:
            listen = self._hostvar(task_vars, h, "docker_swarm__preflight_listen")
            probe = self._hostvar(task_vars, h, "docker_swarm__preflight_probe")
            if isinstance(listen, Mapping):
                listened[h] = plain(listen)
            if isinstance(probe, Mapping):
                probed[h] = plain(probe.get("results") or [])
        problems = planner.preflight_problems(listened, probed)
        if problems:
            raise AnsibleActionFail(planner.preflight_message(problems))
        checked = sum(len(r) for r in probed.values())
        result["msg"] = f"Preflight: {checked} port checks between {len(probed)} hosts passed"

    def _stage_health(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        inv = self._inventory(task_vars)
        plan = task_vars.get("docker_swarm__plan") or {}
        node_ids = plain(task_vars.get("docker_swarm__node_ids") or plan.get("node_ids") or {})
        args = self._args
        # the managers in error at the probe as health.yml read them again (with the health deadline)
        probes = self._probes(task_vars, inv, local_again="docker_swarm__recheck")
        silent = planner.silent_managers(inv, plan, probes)
        verdict = None
        if not args.get("poll"):
            control = probes.get(plan.get("control_after") or plan.get("control")) or {}
            verdict = planner.health(inv, plan, node_ids, control.get("nodes") or [],
                                     str((control.get("swarm") or {}).get("id") or ""), silent)
        if verdict is None or verdict.waiting:
            # also when the probe saw a problem: a node whose link just came back is about to be marked Ready
            verdict = self._poll_health(inv, plan, node_ids, task_vars, silent)
        result["msg"] = verdict.message
        if not verdict.problems:
            show([verdict.message])
        if verdict.problems:
            raise AnsibleActionFail(verdict.message)

    def _poll_health(self, inv: planner.Inventory, plan: Mapping[str, Any], node_ids: Mapping[str, str],
                     task_vars: Mapping[str, Any], silent: Mapping[str, str]) -> planner.Health:
        args = self._args
        module_args = {**dict(args.get("connection") or {}), "nodes": True}

        def read() -> planner.Health:
            res = self._execute_module(module_name="hive.swarm.swarm_node_info", module_args=module_args,
                                       task_vars=task_vars)
            if res.get("failed") or res.get("unreachable"):
                raise AnsibleActionFail(f"Could not read the swarm from {self._task.delegate_to or 'the manager'}: "
                                        f"{res.get('msg', 'no message')}")
            return planner.health(inv, plan, node_ids, plain(res.get("nodes") or []),
                                  str((res.get("swarm") or {}).get("id") or ""), silent)

        verdict, _why, _waited = poll(read, lambda v: "; ".join(v.waiting), float(args.get("timeout") or 60),
                                      float(args.get("delay") or 2))
        return verdict

    def _stage_control(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """Playbooks: the managers to work through (from the probe registered as ``probe``)."""
        var = str(self._args.get("probe") or "")
        hosts = list(task_vars.get("ansible_play_hosts_all") or ())
        probes = {h: plain(self._hostvar(task_vars, h, var)) for h in hosts}
        candidates = planner.control_candidates({h: p for h, p in probes.items() if isinstance(p, Mapping)},
                                                exclude=[str(x) for x in self._args.get("exclude") or []])
        result["candidates"] = candidates
        result["control"] = candidates[0] if candidates else ""

    def _stage_removal(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        args = self._args
        node: Optional[Mapping[str, Any]] = plain(args.get("node")) or None
        refusal = planner.removal_refusal(str(args.get("target") or ""), node, plain(args.get("nodes") or []),
                                          str(args.get("host") or ""), bool(args.get("target_is_manager")))
        if refusal:
            raise AnsibleActionFail(refusal)
        result["msg"] = "the removal keeps the managers' quorum"

    def _reads(self, task_vars: Mapping[str, Any]) -> dict[str, Any]:
        """Every play host -> what it registered as ``probe`` (also failed or unreachable results)."""
        var = str(self._args.get("probe") or "")
        hosts = list(task_vars.get("ansible_play_hosts_all") or ())
        return {h: plain(self._hostvar(task_vars, h, var)) for h in hosts}

    def _stage_rotate(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """rotate.yml: the manager to work through, refusals, and what will be rotated (printed, also in check)."""
        reads = self._reads(task_vars)
        wanted = {str(k): boolean(v, strict=False) for k, v in (plain(self._args.get("rotate")) or {}).items()}
        plan = rotation.rotation_plan({h: r for h, r in reads.items() if isinstance(r, Mapping)}, wanted,
                                      float(self._args.get("timeout") or 60), bool(self._play_context.check_mode))
        if plan.refusal:
            raise AnsibleActionFail(plan.refusal)
        result.update(control=plan.control, previous_root=plan.previous_root, swarm_id=plan.swarm_id,
                      msg=list(plan.lines))
        show(list(plan.lines))

    def _stage_ca_wait(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """rotate.yml: poll the manager the task is delegated to until the root CA rotation completed."""
        args = self._args
        timeout = float(args.get("timeout") or 60)
        previous = str(args.get("previous_root") or "")
        if self._play_context.check_mode:
            result["msg"] = f"Check mode: would wait up to {timeout:g} s for the root CA rotation."
            return
        module_args = {**dict(args.get("connection") or {}), "nodes": True}
        polls = 0
        progress: Optional[rotation.CaProgress] = None  # the last progress read (a failed read keeps it)

        def read() -> str:
            """'' once the rotation completed, else what is missing."""
            nonlocal polls, progress
            polls += 1
            res = self._execute_module(module_name="hive.swarm.swarm_node_info", module_args=module_args,
                                       task_vars=task_vars)
            if res.get("failed") or res.get("unreachable") or not res.get("swarm"):
                # a manager may answer without a leader for a moment: read again until the deadline
                return str(res.get("msg") or res.get("swarm_unavailable") or "no message")
            progress = rotation.ca_progress(plain(res["swarm"]), plain(res.get("nodes") or []), previous)
            return "" if progress.done else "rotation in progress"

        problem, _why, seconds = poll(read, lambda why: why, timeout, float(args.get("delay") or 2))
        if progress is None:
            raise AnsibleActionFail(f"Could not read the swarm from {self._task.delegate_to or 'the manager'} "
                                    f"within {timeout:g} s: {problem}")
        result.update(seconds=round(seconds, 1), polls=polls, root_ca_digest=progress.root,
                      nodes=progress.total, behind=[b._asdict() for b in progress.behind])
        if not progress.done:
            raise AnsibleActionFail(rotation.timeout_message(progress, timeout, previous))
        result["msg"] = rotation.progress_message(progress, seconds)
        show([result["msg"]])

    def _stage_status(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """status.yml: the table, from the node list of the first manager with control available and every host's
        own certificate."""
        reads = self._reads(task_vars)
        usable = {h: r for h, r in reads.items() if isinstance(r, Mapping)}
        candidates = planner.control_candidates(usable)
        if not candidates:
            raise AnsibleActionFail(
                f"No manager with control available answered ({', '.join(reads)}): check that their engines run and "
                "that the swarm has a quorum (playbooks/unlock.yml for locked managers).")
        control = usable[candidates[0]]
        report = status_table.status_table(control.get("swarm"), control.get("nodes") or [], reads,
                                           float(self._args.get("warn_days") or 0))
        swarm = control.get("swarm") or {}
        document = {"swarm_id": swarm.get("id"), "root_ca_digest": swarm.get("root_ca_digest"),
                    "root_rotation_in_progress": bool(swarm.get("root_rotation_in_progress")), "control": candidates[0],
                    "nodes": list(report.rows), "unread": list(report.unread), "expiring": list(report.expiring),
                    "warnings": list(report.warnings)}
        result.update(control=candidates[0], lines=list(report.lines), expiring=list(report.expiring),
                      unread=list(report.unread), rows=list(report.rows))
        show([json.dumps(document, indent=2, sort_keys=True)] if self._args.get("format") == "json"
             else list(report.lines))
        if report.warnings:
            result["warnings"] = list(report.warnings)

    # ------------------------------------------------------------------------- playbooks/recover.yml
    def _stage_recover(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """recover.yml: from the managers' reads registered as ``probe``, the survivor, the swarm, the dead managers
        whose entries go; the plan printed (also in check mode); refusals and the missing confirmation fail, with
        nothing changed. Quorum not lost: says so, ``recover: false`` (not a failure)."""
        confirm = str(self._var(task_vars, "confirm_recover") or "").lower() in ("yes", "true")
        plan = self._recovery_plan(task_vars, str(self._args.get("target") or ""), confirm)
        if plan.lines:
            show(plan.lines)
        if plan.refusal:
            raise AnsibleActionFail(plan.refusal)
        result.update(recover=plan.action == "recover", survivor=plan.survivor, swarm_id=plan.swarm_id,
                      locked=plan.locked, dead=plan.dead, msg=plan.lines)

    def _recovery_plan(self, task_vars: Mapping[str, Any], target: str, confirmed: bool) -> recovery.RecoveryPlan:
        """recovery.recovery_plan from the managers' reads registered as ``probe`` (dead managers named by the
        inventory's addresses)."""
        reads = self._reads(task_vars)
        managers = [str(h) for h in task_vars.get("ansible_play_hosts_all") or ()]
        hostvars = task_vars.get("hostvars") or {}
        host_of_addr: dict[str, str] = {}
        for h in managers:
            hv = hostvars.get(h) or {}
            for key in ("docker_swarm_advertise_addr", "ansible_host"):
                addr = self._templar.template(hv.get(key)) if hv.get(key) else ""
                if addr:
                    host_of_addr.setdefault(str(addr), h)
        autolock = any(boolean(self._templar.template((hostvars.get(h) or {}).get("docker_swarm_autolock", False)),
                               strict=False) for h in managers)
        return recovery.recovery_plan(managers, reads, target, host_of_addr,
                                      check_mode=bool(self._play_context.check_mode), confirmed=confirmed,
                                      autolock=autolock)

    def _stage_recovered(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """recover.yml: poll the survivor (the task is delegated to it) until it leads, answers the node list, and
        lists none of the entries in ``exclude``; fails at the deadline with what is missing. Check mode: at once
        (nothing was forced); ``lost`` is the plan's dead managers (from ``probe``): the entries a real run finds
        and removes, so their removal is reported."""
        args = self._args
        survivor = str(args.get("host") or self._task.delegate_to or "the survivor")
        timeout = float(args.get("timeout") or 60)
        gone = [str(x) for x in args.get("exclude") or []]
        if self._play_context.check_mode:
            result["msg"] = f"Check mode: would wait up to {timeout:g} s for {survivor} to lead the swarm."
            if args.get("probe"):
                result["lost"] = self._recovery_plan(task_vars, survivor, False).dead
            return
        module_args = {**dict(args.get("connection") or {}), "nodes": True, "services": True}
        # the node IDs the reachable managers reported (their entries stay: they rejoin the raft by themselves)
        keep = [str(r["local"]["node_id"]) for r in self._reads(task_vars).values()
                if isinstance(r, Mapping) and isinstance(r.get("local"), Mapping) and r["local"].get("node_id")]

        def read() -> recovery.Recovered:
            res = self._execute_module(module_name="hive.swarm.swarm_node_info", module_args=module_args,
                                       task_vars=task_vars)
            return recovery.recovered(survivor, plain(res), gone, keep)

        verdict, problem, seconds = poll(read, lambda v: v.problem, timeout, float(args.get("delay") or 2))
        result["seconds"] = round(seconds, 1)
        if problem:
            raise AnsibleActionFail(f"{survivor} did not become a working leader within {timeout:g} s: {problem}. "
                                    "Check its engine's log; run recover.yml again to retry.")
        result["msg"] = verdict.message
        result["lost"] = verdict.lost
        show([verdict.message])

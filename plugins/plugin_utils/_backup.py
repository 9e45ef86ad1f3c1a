# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The stages of hive.swarm.swarm_plan for playbooks/backup.yml and playbooks/restore.yml (a mixin of the action;
the decisions are in module_utils/_swarm/backup.py). Documented in plugins/modules/swarm_plan.py."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from ansible.errors import AnsibleActionFail
from ansible_collections.hive.swarm.plugins.module_utils._swarm import backup
from ansible_collections.hive.swarm.plugins.module_utils._swarm import plan as planner
from ansible_collections.hive.swarm.plugins.plugin_utils._action import plain, show
from ansible_collections.hive.swarm.plugins.plugin_utils._poll import poll

BACKUP_STAGES = ("backup", "backup_engine", "backup_back", "backup_store", "restore", "restore_engine", "restore_back")
BACKUP_ARGS: dict[str, Any] = {
    "allow_outage": {"type": "bool", "default": False},
    "unlock_key_set": {"type": "bool", "default": False},
    "keep": {"type": "int", "default": 7},
    "sha256": {"type": "str", "default": ""},
    "manifest": {"type": "dict"},
    "force": {"type": "bool", "default": False},
}


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_path(archive: str) -> str:
    """``swarm-....tar.gz`` -> ``swarm-....json``."""
    return (archive[: -len(".tar.gz")] if archive.endswith(".tar.gz") else archive) + ".json"


class BackupStages:
    """Stages ``backup*`` and ``restore*`` of the swarm_plan action (mixed into its ActionModule)."""

    _args: dict[str, Any]
    _task: Any
    _templar: Any
    _play_context: Any
    _execute_module: Callable[..., dict[str, Any]]
    _hostvar: Callable[..., Any]
    _inventory: Callable[..., planner.Inventory]

    def _read_here(self, task_vars: Mapping[str, Any], **module_args: Any) -> dict[str, Any]:
        """swarm_node_info on the host the task runs for (a failure is a result, not an exception)."""
        args = {**dict(self._args.get("connection") or {}), **module_args}
        try:
            res = self._execute_module(module_name="hive.swarm.swarm_node_info", module_args=args, task_vars=task_vars)
        except Exception as err:  # noqa: BLE001 - a host that cannot be reached is read again until the deadline
            return {"failed": True, "msg": str(err)}
        return plain(res)

    def _poll_here(
        self, task_vars: Mapping[str, Any], problem: Callable[[dict[str, Any]], str], **module_args: Any
    ) -> tuple[dict[str, Any], str, float]:
        return poll(
            lambda: self._read_here(task_vars, **module_args),
            problem,
            float(self._args.get("timeout") or 60),
            float(self._args.get("delay") or 2),
        )

    def _stage_backup(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """backup.yml: the manager to back up and the lines printed before any change (also in check mode)."""
        args = self._args
        var = str(args.get("probe") or "")
        probes = {h: plain(self._hostvar(task_vars, h, var)) for h in task_vars.get("ansible_play_hosts_all") or ()}
        backup_dir = os.path.abspath(os.path.expanduser(str(args.get("path") or "swarm-backups")))
        plan = backup.backup_plan(
            probes,
            str(args.get("host") or ""),
            bool(args.get("allow_outage")),
            bool(args.get("unlock_key_set")),
            backup_dir,
            int(args.get("keep") or 0),
            datetime.now(timezone.utc),
        )
        if plan.refusal:
            raise AnsibleActionFail(plan.refusal)
        result.update(
            host=plan.host,
            archive=plan.archive,
            dest=os.path.join(backup_dir, plan.archive),
            backup_dir=backup_dir,
            docker_root_dir=plan.docker_root_dir,
            node_id=plan.node_id,
            swarm_id=plan.swarm_id,
            autolocked=plan.autolocked,
            msg=list(plan.lines),
            manifest=plan.manifest("", ""),
        )
        show(list(plan.lines))

    def _would_wait(self, result: dict[str, Any], what: str) -> bool:
        """Check mode: a wait returns at once (nothing was stopped, so there is nothing to wait for) and says what
        the real run waits for; True when it did."""
        if not self._play_context.check_mode:
            return False
        result["msg"] = f"Check mode: would wait up to {float(self._args.get('timeout') or 60):g}s until {what}"
        return True

    def _stage_backup_engine(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """Wait until the engine of the task's host answers (after a start); says whether it is locked. Check mode:
        at once, ``locked`` predicted from ``manifest.autolocked`` (an autolocked manager restarts locked), so the
        unlock task reports the change the real run makes."""
        host = str(task_vars.get("inventory_hostname"))
        if self._would_wait(result, f"the engine on {host} answers"):
            result["locked"] = bool(dict(plain(self._args.get("manifest") or {})).get("autolocked"))
            return
        read, why, waited = self._poll_here(task_vars, backup.engine_problem, local_only=True)
        if why:
            raise AnsibleActionFail(
                f"The engine on {host} did not come back within {waited:.0f}s: {why}. Start it "
                "(systemctl start docker) and check its log."
            )
        state = (read.get("local") or {}).get("state")
        result.update(
            locked=state == "locked",
            state=state,
            seconds=round(waited, 1),
            msg=f"{host}: the engine answers ({state}) after {waited:.1f}s",
        )

    def _stage_backup_back(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """Wait until the backed-up manager is ready and reachable again (read on that manager)."""
        host = str(task_vars.get("inventory_hostname"))
        node_id = str(self._args.get("target") or "")
        if self._would_wait(result, f"{host} is ready and reachable again"):
            return
        _read, why, waited = self._poll_here(task_vars, lambda r: backup.back_problem(r, node_id), nodes=True)
        if why:
            raise AnsibleActionFail(
                f"{host} is not back in the swarm after {waited:.0f}s: {why}. Check its engine "
                "(playbooks/status.yml; playbooks/unlock.yml if it is locked)."
            )
        result.update(seconds=round(waited, 1), msg=f"{host} is ready and reachable again after {waited:.1f}s")

    def _stage_backup_store(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """On the controller: check the fetched archive against the sha256 read on the host, write its manifest
        (mode 0600, like the archive) and remove this swarm's archives beyond the newest ``keep``."""
        args = self._args
        path = str(args.get("path") or "")
        base = dict(plain(args.get("manifest") or {}))
        if self._play_context.check_mode:  # the change the real run makes (the archive was not fetched)
            result.update(changed=True, msg=f"Check mode: would store {path} and its manifest")
            return
        try:
            actual = sha256_of(path)
        except OSError as err:
            raise AnsibleActionFail(f"Could not read the fetched archive {path}: {err}.") from err
        if actual != str(args.get("sha256") or ""):
            raise AnsibleActionFail(
                f"The archive fetched to {path} (sha256 {actual}) differs from the one on "
                f"{base.get('hostname')} ({args.get('sha256')}): run the backup again."
            )
        doc = {
            **base,
            "archive": os.path.basename(path),
            "sha256": actual,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        target = manifest_path(path)
        try:
            os.chmod(path, 0o600)
            fd = os.open(f"{target}.tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(doc, handle, indent=1, sort_keys=True)
            os.replace(f"{target}.tmp", target)
            directory = os.path.dirname(path)
            removed = backup.prune(
                sorted(os.listdir(directory)), str(base.get("swarm_id") or ""), int(args.get("keep") or 0)
            )
            for name in removed:
                for victim in (os.path.join(directory, name), manifest_path(os.path.join(directory, name))):
                    if os.path.exists(victim):
                        os.remove(victim)
        except OSError as err:
            raise AnsibleActionFail(f"Could not store the backup in {os.path.dirname(path)}: {err}.") from err
        result.update(
            changed=True,
            manifest=doc,
            manifest_path=target,
            removed=removed,
            msg=f"Stored {path} ({os.path.getsize(path)} bytes, sha256 {actual}) and {target}"
            + (f"; removed the older {', '.join(removed)}" if removed else ""),
        )
        show([result["msg"]])

    def _stage_restore(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """restore.yml: check the archive and the target host; the lines printed before any change."""
        args = self._args
        archive = os.path.abspath(os.path.expanduser(str(args.get("path") or "")))
        host = str(args.get("host") or "")
        hosts = list(task_vars.get("ansible_play_hosts_all") or ())
        manifest: Any = None
        sha = ""
        if not args.get("path"):
            raise AnsibleActionFail(
                "Say which archive to restore: -e backup_archive=PATH (a .tar.gz backup.yml "
                "wrote). Nothing was changed."
            )
        try:
            sha = sha256_of(archive)
            with open(manifest_path(archive), encoding="utf-8") as handle:
                manifest = json.load(handle)
        except (OSError, ValueError) as err:
            raise AnsibleActionFail(f"Cannot read the archive or its manifest: {err}. Nothing was changed.") from err
        probe = plain(self._hostvar(task_vars, host, str(args.get("probe") or ""))) if host in hosts else None
        addr = ""
        if host in hosts:
            inv = self._inventory(task_vars)
            local = (probe or {}).get("local") if isinstance(probe, Mapping) else None
            found = (probe or {}).get("host_addresses") if isinstance(probe, Mapping) else None
            addr = planner.resolve_addresses(
                inv, {host: local} if isinstance(local, Mapping) else {}, {host: found or {}}
            ).get(host, "")
        plan = backup.restore_plan(host, hosts, archive, manifest, sha, addr, probe, bool(args.get("force")))
        if plan.refusal:
            raise AnsibleActionFail(plan.refusal)
        local = probe.get("local") or {}  # type: ignore[union-attr]
        result.update(
            host=plan.host,
            swarm_id=plan.swarm_id,
            node_id=plan.node_id,
            advertise_addr=plan.advertise_addr,
            docker_root_dir=local.get("docker_root_dir"),
            sha256=sha,
            msg=list(plan.lines),
            manifest={"swarm_id": plan.swarm_id, "node_id": plan.node_id},
        )
        show(list(plan.lines))

    def _stage_restore_engine(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """Wait until the engine of the task's host has loaded the restored swarm state."""
        host = str(task_vars.get("inventory_hostname"))
        if self._would_wait(result, f"the engine on {host} has loaded the restored swarm"):
            return
        read, why, waited = self._poll_here(task_vars, backup.restored_engine_problem, local_only=True)
        if why:
            raise AnsibleActionFail(
                f"The engine on {host} did not load the restored swarm within {waited:.0f}s: "
                f"{why}. Check the engine's log."
            )
        local = read.get("local") or {}
        result.update(
            state=local.get("state"),
            seconds=round(waited, 1),
            msg=f"{host}: the engine answers ({local.get('state')}) after {waited:.1f}s",
        )

    def _stage_restore_back(self, task_vars: Mapping[str, Any], result: dict[str, Any]) -> None:
        """Wait until the restored engine leads swarm ``manifest.swarm_id`` as node ``manifest.node_id``."""
        host = str(task_vars.get("inventory_hostname"))
        manifest = dict(plain(self._args.get("manifest") or {}))
        node_id, swarm_id = str(manifest.get("node_id") or ""), str(manifest.get("swarm_id") or "")
        if self._would_wait(result, f"{host} leads swarm {swarm_id} as node {node_id[:12]}"):
            return
        _read, why, waited = self._poll_here(
            task_vars, lambda r: backup.restored_problem(r, node_id, swarm_id), nodes=True
        )
        if why:
            raise AnsibleActionFail(
                f"The restored swarm on {host} is not up after {waited:.0f}s: {why}. Check the engine's log."
            )
        result.update(
            seconds=round(waited, 1),
            msg=f"{host} leads swarm {swarm_id} again (node {node_id[:12]}) after {waited:.1f}s",
        )
        show([result["msg"]])

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark-only callback: per-task and per-host wall times, written as JSON.

Not part of the collection's plugins: bench/bench.py enables it with
ANSIBLE_CALLBACK_PLUGINS=bench/callback_plugins ANSIBLE_CALLBACKS_ENABLED=hive_bench_timer
and names the output file in HIVE_BENCH_PROFILE_OUT.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Dict, List, Optional

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: hive_bench_timer
type: aggregate
short_description: per-task and per-host wall times for the hive.swarm benchmark
description:
  - Records when each task starts, when each host starts and finishes it, and how many retries it
    took; writes everything as JSON to the file named by the environment variable HIVE_BENCH_PROFILE_OUT
    when the playbook ends. Prints nothing.
requirements:
  - enabled only by bench/bench.py (ANSIBLE_CALLBACKS_ENABLED=hive_bench_timer)
"""


def _host_name(result: Any) -> str:
    host = getattr(result, "host", None) or getattr(result, "_host", None)
    return str(getattr(host, "name", host))


def _result_dict(result: Any) -> Dict[str, Any]:
    data = getattr(result, "result", None)
    if data is None:
        data = getattr(result, "_result", None)
    return data if isinstance(data, dict) else dict(data or {})


def _task_of(result: Any) -> Any:
    return getattr(result, "task", None) or getattr(result, "_task", None)


class CallbackModule(CallbackBase):
    """Collects timings in memory; one JSON file at the end."""

    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "hive_bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._t0 = time.time()
        self._tasks: List[Dict[str, Any]] = []
        self._by_uuid: Dict[str, Dict[str, Any]] = {}
        self._current: Optional[Dict[str, Any]] = None
        self._plays: List[Dict[str, Any]] = []

    # ----- helpers
    def _close_current(self, now: float) -> None:
        if self._current is not None and self._current.get("until_next") is None:
            self._current["until_next"] = now - self._current["start"]

    def _entry(self, task: Any) -> Dict[str, Any]:
        uuid = str(getattr(task, "_uuid", id(task)))
        entry = self._by_uuid.get(uuid)
        if entry is None:  # a result for a task we did not see start (e.g. handlers of another play)
            entry = self._start(task, time.time(), kind="task")
        return entry

    def _start(self, task: Any, now: float, kind: str) -> Dict[str, Any]:
        self._close_current(now)
        try:
            path = task.get_path() or ""
        except (AttributeError, TypeError):
            path = ""
        entry: Dict[str, Any] = {
            "name": task.get_name(), "action": str(getattr(task, "action", "")), "path": path, "kind": kind,
            "start": now, "until_next": None, "last_end": None, "hosts": {}, "status": {}, "retries": 0, "items": 0,
        }
        self._tasks.append(entry)
        self._by_uuid[str(getattr(task, "_uuid", id(task)))] = entry
        self._current = entry
        return entry

    def _host_start(self, entry: Dict[str, Any], host: str, now: float) -> None:
        entry["hosts"].setdefault(host, {"start": now, "end": None})

    def _host_end(self, result: Any, status: str) -> None:
        now = time.time()
        entry = self._entry(_task_of(result))
        host = _host_name(result)
        rec = entry["hosts"].setdefault(host, {"start": entry["start"], "end": None})
        rec["end"] = now
        rec["status"] = status
        entry["status"][status] = entry["status"].get(status, 0) + 1
        entry["last_end"] = now

    # ----- play / task events
    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._plays.append({"event": "playbook_start", "t": time.time()})

    def v2_playbook_on_play_start(self, play: Any) -> None:
        now = time.time()
        self._close_current(now)
        self._current = None
        self._plays.append({"event": "play_start", "name": play.get_name(), "t": now})

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._start(task, time.time(), "task")

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._start(task, time.time(), "handler")

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._host_start(self._entry(task), str(getattr(host, "name", host)), time.time())

    # ----- results
    def v2_runner_on_ok(self, result: Any) -> None:
        self._host_end(result, "changed" if _result_dict(result).get("changed") else "ok")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._host_end(result, "ignored" if ignore_errors else "failed")

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._host_end(result, "skipped")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._host_end(result, "unreachable")

    def v2_runner_retry(self, result: Any) -> None:
        self._entry(_task_of(result))["retries"] += 1

    def v2_runner_item_on_ok(self, result: Any) -> None:
        self._entry(_task_of(result))["items"] += 1

    v2_runner_item_on_failed = v2_runner_item_on_ok
    v2_runner_item_on_skipped = v2_runner_item_on_ok

    # ----- output
    def v2_playbook_on_stats(self, stats: Any) -> None:
        now = time.time()
        self._close_current(now)
        out_path = os.environ.get("HIVE_BENCH_PROFILE_OUT")
        if not out_path:
            return
        tasks = []
        for t in self._tasks:
            hosts = {h: round((r["end"] or now) - r["start"], 4) for h, r in t["hosts"].items()}
            tasks.append({
                "name": t["name"], "action": t["action"], "path": t["path"], "kind": t["kind"],
                "start": round(t["start"] - self._t0, 4),
                "wall": round(t["until_next"] if t["until_next"] is not None else now - t["start"], 4),
                "busy": round((t["last_end"] or t["start"]) - t["start"], 4),
                "hosts": hosts, "status": t["status"], "retries": t["retries"], "items": t["items"],
            })
        data = {"callback_loaded": self._t0, "end": now, "plays": self._plays, "tasks": tasks}
        tmp = out_path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, out_path)

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback of the reliability suite (never part of the collection).

* HIVE_REL_SNAPSHOT_OUT=PATH: an independent snapshot of the lab's Engines (relkit.snapshot: raw HTTP on
  their sockets, no module, no SDK) before every task and at the end, written as
  ``{"tasks": [{"name", "t", "before"}], "t", "end"}``. With a linear play on one host the snapshot
  before task i+1 is the state after task i.
* HIVE_REL_CUT_ON="TEXT=HOST": when the first task whose name contains TEXT starts, cut HOST's link
  (fault injection at an exact point of a run).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: rel_hooks
type: aggregate
short_description: engine snapshots and fault injection around tasks (hive.swarm reliability tests)
description:
  - Snapshots every lab Engine before each task (HIVE_REL_SNAPSHOT_OUT) and cuts a lab host's link when a
    named task starts (HIVE_REL_CUT_ON).
requirements:
  - enabled only by the reliability tests
"""

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import relkit  # noqa: E402


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "rel_hooks"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.lab = relkit.hivelab.Lab(relkit.LAB_NAME, relkit.LAB_NET)
        self.out = os.environ.get("HIVE_REL_SNAPSHOT_OUT")
        cut = os.environ.get("HIVE_REL_CUT_ON", "")
        self.cut_text, self.cut_host = cut.rpartition("=")[::2]
        self.tasks: list[dict[str, Any]] = []

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        name = task.get_name()
        if self.cut_text and self.cut_text in name:
            self.lab.cut(self.cut_host)
            self.cut_text = ""
        if self.out:
            self.tasks.append({"name": name, "t": time.monotonic(), "before": relkit.snapshot(self.lab)})

    def v2_playbook_on_stats(self, stats: Any) -> None:
        if self.out:
            with open(self.out, "w", encoding="utf-8") as handle:
                json.dump({"tasks": self.tasks, "t": time.monotonic(), "end": relkit.snapshot(self.lab)}, handle)

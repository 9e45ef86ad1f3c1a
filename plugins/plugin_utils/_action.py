# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The base of the collection's controller-side action plugins: arguments validated against the class's
``ARGUMENT_SPEC``, then the method ``_stage_<stage>`` called; printing and plain-data helpers."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Mapping, Optional

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

DISPLAY = Display()


def show(lines: list[str]) -> None:
    """Print lines as they are (a table stays a table), under the task's header, at every verbosity."""
    DISPLAY.display("\n".join(lines))


def plain(value: Any) -> Any:
    """Templated values as plain Python data (drops Ansible's tags)."""
    return json.loads(json.dumps(value, default=str))


class StagedAction(ActionBase):
    """An action whose ``stage`` argument names the method that does the work (``_stage_<stage>(task_vars,
    result)``); the result starts as ``changed: false``."""

    TRANSFERS_FILES = False
    ARGUMENT_SPEC: ClassVar[dict[str, Any]] = {}
    _args: dict[str, Any] = {}

    def _hostvar(self, task_vars: Mapping[str, Any], host: str, key: str) -> Any:
        hostvars = task_vars.get("hostvars") or {}
        if host not in hostvars:
            return None
        return hostvars[host].get(key)

    def run(self, tmp: Optional[str] = None, task_vars: Optional[dict[str, Any]] = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _validation, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC)
        self._args = args
        result["changed"] = False
        getattr(self, f"_stage_{args['stage']}")(task_vars, result)
        return result

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``run_module``: builds the AnsibleModule (common + module options), creates the SwarmClient,
runs the module's logic and is the only place that calls ``fail_json`` - once, with the typed
error's message, the engine it talked to and what to do.

Module shape::

    def run(module, client):          # may raise SwarmError; returns the result dict
        ...
    def main():
        run_module(ARGUMENT_SPEC, run, supports_check_mode=True)
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.hive.swarm.plugins.module_utils._swarm.client import (
    DOCKER_IMPORT_ERROR,
    HAS_DOCKER,
    SwarmClient,
    missing_sdk_message,
)
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import MissingDependency, SwarmError
from ansible_collections.hive.swarm.plugins.module_utils._swarm.options import (
    COMMON_REQUIRED_TOGETHER,
    common_argument_spec,
)

# typing.Dict: evaluated at import time, and managed hosts may run Python 3.8.
Logic = Callable[[AnsibleModule, SwarmClient], Dict[str, Any]]


def argument_spec(module_spec: dict[str, Any]) -> dict[str, Any]:
    """Common connection options + the module's own (names must not collide)."""
    spec = common_argument_spec()
    clash = set(spec) & set(module_spec)
    if clash:
        raise ValueError(f"module options shadow common options: {sorted(clash)}")
    spec.update(module_spec)
    return spec


def failure_message(err: SwarmError, client: Optional[SwarmClient], params: dict[str, Any]) -> str:
    """'<what happened> [engine <docker_host> on <hostname>] <what to do>'."""
    engine = client.docker_host if client is not None else params.get("docker_host")
    where = f"engine {engine}" if engine else ""
    host = client.hostname if client is not None else None
    if host:
        where += f" on {host}"
    text = err.message
    if where:
        text += f" [{where}]"
    if err.hint:
        text += f" {err.hint}"
    return text


def run_module(module_spec: dict[str, Any], logic: Logic, **module_kwargs: Any) -> None:
    """Build the module, run ``logic(module, client)``, exit with its result or fail once."""
    required_together = COMMON_REQUIRED_TOGETHER + list(module_kwargs.pop("required_together", None) or [])
    module = AnsibleModule(
        argument_spec=argument_spec(module_spec), required_together=required_together, **module_kwargs
    )
    client: Optional[SwarmClient] = None
    result: dict[str, Any] = {}
    failure: Optional[SwarmError] = None
    try:
        if not HAS_DOCKER:
            message, hint = missing_sdk_message()
            raise MissingDependency(message, hint=hint, exception=DOCKER_IMPORT_ERROR)
        client = SwarmClient(module.params)
        result = logic(module, client)
    except SwarmError as err:
        failure = err
    if failure is not None:
        module.fail_json(msg=failure_message(failure, client, module.params), **failure.result())
    module.exit_json(**result)

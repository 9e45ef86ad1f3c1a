"""Unit-test plumbing: import the checkout as ansible_collections.hive.swarm, a fake Engine per
test, and ``run_module`` to run a module's main() with arguments and get its JSON result."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / ".collections"
if (COLLECTIONS / "ansible_collections" / "hive" / "swarm").exists() and str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ansible.module_utils import basic as ansible_basic  # noqa: E402
from ansible.module_utils.common import warnings as ansible_warnings  # noqa: E402
from ansible_collections.hive.swarm.plugins.module_utils._swarm import client as client_mod  # noqa: E402
from fakes import FakeEngine, factory_for  # noqa: E402

try:  # ansible-core >= 2.19
    from ansible.module_utils import _internal as module_utils_internal
except ImportError:  # pragma: no cover
    module_utils_internal = None

try:  # ansible-core >= 2.19
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core 2.18: AnsibleModule reads its arguments from basic._ANSIBLE_ARGS

    @contextlib.contextmanager
    def patch_module_args(args: dict[str, Any] | None = None) -> Iterator[None]:
        data = json.dumps({"ANSIBLE_MODULE_ARGS": args or {}}).encode()
        with mock.patch.object(ansible_basic, "_ANSIBLE_ARGS", data):
            yield


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    """A fresh inactive Engine; every SwarmClient built in the test talks to it."""
    fake = FakeEngine(docker_root=str(tmp_path / "docker"))
    monkeypatch.setattr(client_mod, "new_api_client", factory_for(fake))
    clock = FakeClock()
    monkeypatch.setattr(client_mod, "_pause", clock.sleep)
    monkeypatch.setattr(client_mod, "_now", clock.now)
    fake.clock = clock
    return fake


class FakeClock:
    """Time that passes only when the code under test sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.slept += seconds


class ModuleRun:
    def __init__(self, result: dict[str, Any], failed: bool) -> None:
        self.result = result
        self.failed = failed

    def __getitem__(self, key: str) -> Any:
        return self.result[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.result.get(key, default)

    @property
    def changed(self) -> bool:
        return bool(self.result.get("changed"))

    @property
    def warnings(self) -> list[str]:
        """Warning texts (ansible-core 2.19 sends {'event': {'msg': ...}}, older versions plain strings)."""
        out = []
        for warning in self.result.get("warnings") or []:
            out.append(warning["event"]["msg"] if isinstance(warning, dict) else warning)
        return out


@pytest.fixture
def run_module(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModuleRun]:
    """run_module(main, {args}, check=False, diff=False) -> ModuleRun (result dict + failed flag)."""
    # Modules run in their own process, never in the controller's: once a test imported controller code (the
    # inventory plugin's tests do), ansible-core 2.19 would send module warnings to the controller's display.
    if module_utils_internal is not None:
        monkeypatch.setattr(module_utils_internal, "is_controller", False, raising=False)

    def run(main: Callable[[], None], args: dict[str, Any], check: bool = False, diff: bool = False) -> ModuleRun:
        full = dict(args)
        full["_ansible_check_mode"] = check
        full["_ansible_diff"] = diff
        capsys.readouterr()
        # warnings are process-global in ansible-core (one module run per process): reset them
        for name in ("_global_warnings", "_global_deprecations"):
            registry = getattr(ansible_warnings, name, None)
            if registry is not None:
                registry.clear()
        with patch_module_args(full):
            with pytest.raises(SystemExit) as exc:
                main()
        out = capsys.readouterr().out
        result = json.loads(out)
        return ModuleRun(result, failed=exc.value.code != 0 or bool(result.get("failed")))

    return run

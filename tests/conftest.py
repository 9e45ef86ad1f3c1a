"""Session-wide fixtures shared by every test directory (keep small; directories add their own).

Parallel runs (``scripts/test.sh`` uses pytest-xdist, ``--dist loadgroup``): every test file is its own group,
so a module-scoped lab never has two owners; the reliability suite shares one session lab (``rel1``) across
its files and is one group. Labs of different files never share a name or a net.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from labfixtures import lab_factory  # noqa: E402,F401  # pylint: disable=unused-import

# Directories whose files share a session-scoped lab: one xdist group each.
SHARED_LAB_DIRS = {HERE / "integration" / "reliability": "reliability"}


def xdist_group_of(path: Path) -> str:
    for directory, group in SHARED_LAB_DIRS.items():
        if directory in path.parents:
            return group
    return str(path.relative_to(HERE))


@pytest.hookimpl(tryfirst=True)  # before xdist turns the groups into scopes
def pytest_collection_modifyitems(items: list[Any]) -> None:
    for item in items:
        if not any(mark.name == "xdist_group" for mark in item.iter_markers()):
            item.add_marker(pytest.mark.xdist_group(xdist_group_of(Path(str(item.path)))))

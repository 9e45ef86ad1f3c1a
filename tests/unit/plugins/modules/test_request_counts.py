"""Engine API requests per idempotent no-op run, measured with the fake Engine's request counter and compared
with the table in docs/architecture.md ("Engine API calls per idempotent no-op run"), so the doc cannot drift."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml
from ansible_collections.hive.swarm.plugins.modules import (
    swarm_init,
    swarm_join,
    swarm_leave,
    swarm_node,
    swarm_node_info,
    swarm_unlock,
    swarm_update,
)
from fakes import FakeEngine, FakeSwarm

DOC = Path(__file__).resolve().parents[4] / "docs" / "architecture.md"
# The Engine API modules: the action group `swarm` (tests/unit/plugins/test_docs.py checks that exactly these take
# the connection options; swarm_preflight talks to no Engine).
MODULES = set(yaml.safe_load((DOC.parents[1] / "meta" / "runtime.yml").read_text())["action_groups"]["swarm"])
ROW = re.compile(r"^\| `(?P<module>swarm_\w+)` \((?P<case>[^)]*)\) \| (?P<count>\d+) \| (?P<which>[^|]*)\|$")


def doc_table() -> dict[str, tuple[int, list[str]]]:
    """module -> (count, requests) from the architecture doc's table."""
    section = DOC.read_text().split("### Engine API calls per idempotent no-op run", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line.strip())
        if match:
            which = [w.strip().strip("`") for w in match.group("which").split(",")]
            rows[match.group("module")] = (int(match.group("count")), which)
    return rows


def _manager(engine: FakeEngine) -> FakeSwarm:
    swarm = engine.make_manager()
    swarm.add_node("w1", "worker", "10.0.0.21", node_id="w1id", labels={"zone": "a"})
    return swarm


def _worker(engine: FakeEngine) -> FakeSwarm:
    return engine.make_worker()


# module -> (main, set-up, arguments of a run that changes nothing)
NOOPS: dict[str, tuple[Callable[[], None], Callable[[FakeEngine], Any], Callable[[Any], dict[str, Any]]]] = {
    "swarm_node_info": (swarm_node_info.main, _manager, lambda swarm: {}),
    "swarm_init": (swarm_init.main, _manager, lambda swarm: {"snapshot_interval": 10000}),
    "swarm_join": (swarm_join.main, _worker,
                   lambda swarm: {"join_token": swarm.worker_token, "remote_addrs": ["10.9.9.9"], "role": "worker"}),
    "swarm_leave": (swarm_leave.main, lambda engine: None, lambda swarm: {}),
    "swarm_update": (swarm_update.main, _manager,
                     lambda swarm: {"snapshot_interval": 10000, "labels": {}, "autolock": False}),
    "swarm_node": (swarm_node.main, _manager,
                   lambda swarm: {"node": "w1", "labels": {"zone": "a"}, "availability": "active"}),
    "swarm_unlock": (swarm_unlock.main, _manager, lambda swarm: {"unlock_key": swarm.unlock_key}),
}


def test_the_doc_table_covers_every_module():
    assert set(doc_table()) == set(NOOPS) == set(MODULES)


@pytest.mark.parametrize("check", [False, True], ids=["apply", "check"])
@pytest.mark.parametrize("module", sorted(NOOPS))
def test_noop_request_count_matches_the_doc(module, check, engine, run_module):
    count, which = doc_table()[module]
    main, setup, args = NOOPS[module]
    swarm = setup(engine)
    res = run_module(main, args(swarm), check=check, diff=True)
    assert not res.failed, res.get("msg")
    assert not res.changed, res.result
    assert len(engine.requests) == count, engine.requests
    assert engine.requests == which


def test_join_noop_on_a_manager_is_one_request_too(engine, run_module):
    swarm = engine.make_manager()
    res = run_module(swarm_join.main, {"join_token": swarm.manager_token, "remote_addrs": ["10.0.0.11"]})
    assert not res.failed and not res.changed
    assert engine.requests == ["GET /info"]  # identity from the TrustRoot in /info

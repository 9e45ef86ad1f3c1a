"""swarm_node against a fake Engine that also knows the node rules of swarmkit: role changes complete
asynchronously, a demotion that loses the quorum (or of the last manager) is refused, a manager must
leave the raft before removal, and only a node that is not ready is removed without force."""

from __future__ import annotations

import json
import re
from typing import Any, Optional

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import client as client_mod
from ansible_collections.hive.swarm.plugins.modules import swarm_node
from fakes import ApiFailure, FakeEngine, FakeSwarm, factory_for

MAIN = swarm_node.main


class NodeEngine(FakeEngine):
    """FakeEngine + swarmkit's node rules (texts as dockerd 20.10 returns them)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settle_reads: Optional[int] = 1  # GET /nodes/{id} reads until a role change completes; None = never
        self.pending: dict[str, int] = {}
        self.down_after: dict[str, int] = {}  # node id -> reads until it reports down

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> Any:
        match = re.fullmatch(r"/nodes/([^/]+)(/update)?", path)
        if match and self.swarm is not None and self.manager and self.state == "active":
            node = next((n for n in self.swarm.nodes if n["ID"] == match.group(1)), None)
            if node is not None and method == "POST":
                return self._update(node, params, body)
            if node is not None and method == "DELETE":
                self._check_remove(node, params.get("force") in ("True", "true"))
            if node is not None and method == "GET":
                self._tick(node)
        return super()._route(method, path, params, body)

    def _update(self, node: dict[str, Any], params: dict[str, str], body: Any) -> None:
        if int(params["version"]) != node["Version"]["Index"]:
            raise ApiFailure(500, "rpc error: code = Unknown desc = update out of sequence")
        if node["Spec"]["Role"] == "manager" and body.get("Role") == "worker" and node.get("ManagerStatus"):
            members = [n for n in self.swarm.nodes if n.get("ManagerStatus")]
            if len(members) == 1:
                raise ApiFailure(
                    400,
                    "rpc error: code = FailedPrecondition desc = attempting to demote the last manager of the swarm",
                )
            reachable = [n for n in members if n is not node and n["ManagerStatus"]["Reachability"] == "reachable"]
            if len(reachable) < (len(members) - 1) // 2 + 1:
                raise ApiFailure(
                    400,
                    "rpc error: code = FailedPrecondition desc = can't remove member from the raft: "
                    "this would result in a loss of quorum",
                )
        if body.get("Role") != node["Spec"]["Role"] and self.settle_reads is not None:
            self.pending[node["ID"]] = self.settle_reads
        elif body.get("Role") != node["Spec"]["Role"]:
            self.pending[node["ID"]] = 10**9
        node["Spec"] = dict(body)
        node["Version"]["Index"] += 1

    def _tick(self, node: dict[str, Any]) -> None:
        node_id = node["ID"]
        if node_id in self.pending:
            self.pending[node_id] -= 1
            if self.pending[node_id] <= 0:
                del self.pending[node_id]
                if node["Spec"]["Role"] == "manager":
                    node["ManagerStatus"] = {
                        "Leader": False,
                        "Reachability": "reachable",
                        "Addr": f"{node['Status']['Addr']}:2377",
                    }
                else:
                    node.pop("ManagerStatus", None)
        if node_id in self.down_after:
            self.down_after[node_id] -= 1
            if self.down_after[node_id] <= 0:
                del self.down_after[node_id]
                node["Status"]["State"] = "down"

    def _check_remove(self, node: dict[str, Any], force: bool) -> None:
        if node["Spec"]["Role"] == "manager" and node.get("ManagerStatus"):
            raise ApiFailure(
                400,
                f"rpc error: code = FailedPrecondition desc = node {node['ID']} is a cluster manager "
                "and is a member of the raft cluster. It must be demoted to worker before removal",
            )
        if not force and node["Status"]["State"] == "ready":
            raise ApiFailure(
                400, f"rpc error: code = FailedPrecondition desc = node {node['ID']} is not down and can't be removed"
            )


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def engine(tmp_path, monkeypatch) -> NodeEngine:
    fake = NodeEngine(hostname="m1", addr="10.0.0.11", docker_root=str(tmp_path / "docker"))
    monkeypatch.setattr(client_mod, "new_api_client", factory_for(fake))
    clock = Clock()
    monkeypatch.setattr(client_mod, "_pause", clock.sleep)
    monkeypatch.setattr(client_mod, "_now", clock.now)
    fake.clock = clock
    return fake


@pytest.fixture
def swarm(engine) -> FakeSwarm:
    """m1 (this engine, leader), m2, m3 managers; w1, w2 workers - all ready."""
    sw = engine.make_manager()
    sw.add_node("m2", "manager", "10.0.0.12", node_id="m2id")
    sw.add_node("m3", "manager", "10.0.0.13", node_id="m3id")
    sw.add_node("w1", "worker", "10.0.0.21", node_id="w1id", labels={"keep": "me", "zone": "a"})
    sw.add_node("w2", "worker", "10.0.0.22", node_id="w2id")
    return sw


def node(swarm: FakeSwarm, node_id: str) -> Optional[dict]:
    return next((n for n in swarm.nodes if n["ID"] == node_id), None)


def updates(engine) -> list:
    return [body for op, body in engine.bodies if op == "POST /nodes/{id}/update"]


def no_changes(engine) -> bool:
    return engine.count("POST") == 0 and engine.count("DELETE") == 0


# ------------------------------------------------------------------ addressing
def test_noop_by_hostname_is_two_requests(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w1", "labels": {"zone": "a"}, "availability": "active"}, diff=True)
    assert not res.failed and not res.changed
    assert engine.requests == ["GET /info", "GET /nodes"]
    assert res["node"]["id"] == "w1id" and res["node"]["labels"] == {"keep": "me", "zone": "a"}
    assert res["diff"] == {"before": {}, "after": {}}


def test_node_by_id(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w2id", "availability": "pause"})
    assert res.changed and node(swarm, "w2id")["Spec"]["Availability"] == "pause"


def test_id_prefix_is_not_accepted(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w2", "availability": "pause"})
    assert res["node"]["id"] == "w2id"  # hostname w2
    res = run_module(MAIN, {"node": "w2i", "availability": "pause"})
    assert res.failed and res["error_type"] == "NodeNotFound"


def test_ambiguous_hostname_is_an_error(engine, swarm, run_module):
    swarm.add_node("w1", "worker", "10.0.0.31", node_id="w1new")
    res = run_module(MAIN, {"node": "w1", "availability": "drain"})
    assert res.failed and res["error_type"] == "AmbiguousNode"
    assert "w1id" in res["msg"] and "w1new" in res["msg"] and "by its ID" in res["msg"]
    assert no_changes(engine)
    absent = run_module(MAIN, {"node": "w1", "state": "absent", "force": True})
    assert absent.failed and absent["error_type"] == "AmbiguousNode"
    assert no_changes(engine)


def test_unknown_node_present_fails(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "nope", "labels": {"a": "b"}})
    assert res.failed and res["error_type"] == "NodeNotFound"


# ------------------------------------------------------------------ labels
def test_labels_merge(engine, swarm, run_module):
    version = node(swarm, "w1id")["Version"]["Index"]
    res = run_module(MAIN, {"node": "w1", "labels": {"zone": "b", "ssd": True, "n": 3}}, diff=True)
    assert res.changed
    [sent] = updates(engine)
    assert sent == {
        "Labels": {"keep": "me", "zone": "b", "ssd": "True", "n": "3"},
        "Role": "worker",
        "Availability": "active",
    }
    assert node(swarm, "w1id")["Version"]["Index"] == version + 1
    assert res["diff"] == {
        "before": {"labels": {"keep": "me", "zone": "a"}},
        "after": {"labels": {"keep": "me", "zone": "b", "ssd": "True", "n": "3"}},
    }
    assert res["node"]["labels"] == sent["Labels"]


def test_labels_merge_null_removes(engine, swarm, run_module):
    run_module(MAIN, {"node": "w1", "labels": {"zone": None}})
    assert node(swarm, "w1id")["Spec"]["Labels"] == {"keep": "me"}
    again = run_module(MAIN, {"node": "w1", "labels": {"zone": None}})
    assert not again.changed


def test_labels_replace(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w1", "labels": {"zone": "c"}, "labels_state": "replace"})
    assert res.changed and node(swarm, "w1id")["Spec"]["Labels"] == {"zone": "c"}
    res = run_module(MAIN, {"node": "w1", "labels": {}, "labels_state": "replace"})
    assert res.changed and node(swarm, "w1id")["Spec"]["Labels"] == {}
    res = run_module(MAIN, {"node": "w1", "labels": {}, "labels_state": "replace"})
    assert not res.changed


def test_replace_without_labels_warns(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w1", "labels_state": "replace"})
    assert not res.changed and any("no effect without labels" in w for w in res.warnings)


# ------------------------------------------------------------------ availability, check mode
def test_drain_keeps_labels_and_role(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w1", "availability": "drain"}, diff=True)
    assert res.changed
    assert updates(engine) == [{"Labels": {"keep": "me", "zone": "a"}, "Role": "worker", "Availability": "drain"}]
    assert res["diff"] == {"before": {"availability": "active"}, "after": {"availability": "drain"}}
    assert res["node"]["availability"] == "drain"
    assert not run_module(MAIN, {"node": "w1", "availability": "drain"}).changed


def test_check_mode_predicts_and_sends_nothing(engine, swarm, run_module):
    res = run_module(
        MAIN, {"node": "w1", "availability": "drain", "labels": {"x": "1"}, "role": "manager"}, check=True, diff=True
    )
    assert res.changed and no_changes(engine)
    assert res["node"]["availability"] == "drain" and res["node"]["role"] == "manager"
    assert res["node"]["labels"] == {"keep": "me", "zone": "a", "x": "1"}
    assert res["diff"]["before"] == {"labels": {"keep": "me", "zone": "a"}, "availability": "active", "role": "worker"}
    assert node(swarm, "w1id")["Spec"]["Availability"] == "active"


def test_check_mode_noop(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w1", "availability": "active"}, check=True)
    assert not res.changed


def test_out_of_sequence_is_retried(engine, swarm, run_module):
    def concurrent(eng):
        target = node(eng.swarm, "w1id")
        target["Spec"]["Labels"]["other"] = "client"
        target["Version"]["Index"] += 1
        return ApiFailure(500, "rpc error: code = Unknown desc = update out of sequence")

    engine.fail_next("POST /nodes/{id}/update", concurrent)
    res = run_module(MAIN, {"node": "w1", "availability": "pause"})
    assert not res.failed and res.changed
    assert node(swarm, "w1id")["Spec"]["Labels"] == {"keep": "me", "zone": "a", "other": "client"}
    assert node(swarm, "w1id")["Spec"]["Availability"] == "pause"
    assert engine.count("GET /nodes/{id}") >= 1  # the retry re-read the node


def test_out_of_sequence_gives_up(engine, swarm, run_module):
    engine.fail_next("POST /nodes/{id}/update", *[ApiFailure(500, "update out of sequence") for _attempt in range(5)])
    res = run_module(MAIN, {"node": "w1", "availability": "pause"})
    assert res.failed and res["error_type"] == "UpdateConflict"


# ------------------------------------------------------------------ role changes
def test_promote_waits_until_reachable(engine, swarm, run_module):
    engine.settle_reads = 3
    res = run_module(MAIN, {"node": "w1", "role": "manager"}, diff=True)
    assert not res.failed and res.changed
    assert res["node"]["role"] == "manager" and res["node"]["manager_reachability"] == "reachable"
    assert engine.count("GET /nodes/{id}") == 3
    assert res["diff"] == {"before": {"role": "worker"}, "after": {"role": "manager"}}
    assert not run_module(MAIN, {"node": "w1", "role": "manager"}).changed


def test_promote_without_wait(engine, swarm, run_module):
    engine.settle_reads = None
    res = run_module(MAIN, {"node": "w1", "role": "manager", "wait_timeout": 0})
    assert res.changed and res["node"]["manager_reachability"] is None
    assert engine.count("GET /nodes/{id}") == 1


def test_promote_timeout_reports_changed(engine, swarm, run_module):
    engine.settle_reads = None
    res = run_module(MAIN, {"node": "w1", "role": "manager", "wait_timeout": 5})
    assert res.failed and res["error_type"] == "WaitTimeout" and res["changed"] is True
    assert "Timed out after 5s waiting until node w1id is a reachable manager (it is ready)" in res["msg"]


def test_demote_waits_until_out_of_the_raft(engine, swarm, run_module):
    engine.settle_reads = 2
    res = run_module(MAIN, {"node": "m3", "role": "worker"})
    assert not res.failed and res.changed
    assert res["node"]["role"] == "worker" and res["node"]["manager_reachability"] is None
    assert node(swarm, "m3id").get("ManagerStatus") is None


def test_demotion_breaking_quorum_is_refused_before_any_change(engine, swarm, run_module):
    node(swarm, "m2id")["ManagerStatus"]["Reachability"] = "unreachable"
    for check in (True, False):
        res = run_module(MAIN, {"node": "m3", "role": "worker", "availability": "drain"}, check=check)
        assert res.failed and res["error_type"] == "QuorumError"
        assert (
            "Refusing to demote m3: 1 of the remaining 2 managers would be reachable, fewer than the quorum of 2"
            in res["msg"]
        )
        assert "force does not help" in res["msg"]
    assert no_changes(engine)
    assert node(swarm, "m3id")["Spec"] == {"Labels": {}, "Role": "manager", "Availability": "active"}


def test_demoting_an_unreachable_manager_keeps_quorum(engine, swarm, run_module):
    node(swarm, "m2id")["ManagerStatus"]["Reachability"] = "unreachable"
    res = run_module(MAIN, {"node": "m2", "role": "worker"})
    assert not res.failed and res.changed


def test_demoting_the_last_manager_is_refused(engine, run_module):
    engine.make_manager()
    res = run_module(MAIN, {"node": "m1", "role": "worker"})
    assert res.failed and res["error_type"] == "QuorumError" and "last manager" in res["msg"]
    assert no_changes(engine)


def test_engine_quorum_refusal_is_typed(engine, swarm, run_module):
    engine.fail_next(
        "POST /nodes/{id}/update",
        ApiFailure(
            400,
            "rpc error: code = FailedPrecondition desc = can't remove member from the raft: this would result in a "
            "loss of quorum",
        ),
    )
    res = run_module(MAIN, {"node": "m3", "role": "worker"})
    assert res.failed and res["error_type"] == "QuorumError"
    assert "loss of quorum" in res["msg"] and "force does not help" in res["msg"]
    assert "set force=true" not in res["msg"]


NO_LEADER = ApiFailure(500, "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that "
                       "too few managers are online. Make sure more than half of the managers are online.")


def test_no_leader_is_waited_for_within_wait_timeout(engine, swarm, run_module):
    """The managers are electing a leader (a manager that was cut off came back): the labels go through after it."""
    engine.fail_next("GET /nodes", *[NO_LEADER] * 3)
    engine.fail_next("POST /nodes/{id}/update", NO_LEADER)
    res = run_module(MAIN, {"node": "w1", "labels": {"zone": "b"}, "wait_timeout": 30})
    assert res.changed and node(swarm, "w1id")["Spec"]["Labels"] == {"keep": "me", "zone": "b"}
    assert 0 < engine.clock.t <= 30


def test_no_leader_past_wait_timeout_fails_and_changes_nothing(engine, swarm, run_module):
    engine.fail_next("GET /nodes", *[NO_LEADER] * 1000)
    res = run_module(MAIN, {"node": "w1", "labels": {"zone": "b"}, "wait_timeout": 5})
    assert res.failed and res["error_type"] == "NoLeader" and "still no leader within 5s" in res["msg"]
    assert no_changes(engine) and engine.clock.t <= 5


def test_demoting_itself_returns_the_predicted_node(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "m1", "role": "worker"})
    assert not res.failed and res.changed
    assert res["node"]["id"] == engine.node_id and res["node"]["role"] == "worker"
    assert engine.count("GET /nodes/{id}") == 0


# ------------------------------------------------------------------ state=absent
def test_absent_down_worker_is_drained_and_removed(engine, swarm, run_module):
    node(swarm, "w1id")["Status"]["State"] = "down"
    res = run_module(MAIN, {"node": "w1", "state": "absent"}, diff=True)
    assert not res.failed and res.changed and res["node"] is None
    assert updates(engine) == [{"Labels": {"keep": "me", "zone": "a"}, "Role": "worker", "Availability": "drain"}]
    assert "DELETE /nodes/{id}" in engine.requests
    assert node(swarm, "w1id") is None
    assert res["diff"] == {"before": {"state": "present"}, "after": {"state": "absent"}}
    again = run_module(MAIN, {"node": "w1", "state": "absent"}, diff=True)
    assert not again.changed and again["node"] is None and again["diff"] == {"before": {}, "after": {}}
    check = run_module(MAIN, {"node": "w1", "state": "absent"}, check=True)
    assert not check.changed


def test_absent_ready_node_is_refused_after_waiting_and_nothing_changes(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w1", "state": "absent", "wait_timeout": 3})
    assert res.failed and res["error_type"] == "NodeNotDown"
    assert "Refusing to remove w1: it is ready, not down (waited 3s); nothing was changed." in res["msg"]
    assert "hive.swarm.swarm_leave" in res["msg"] and "force=true" in res["msg"]
    assert no_changes(engine)
    assert engine.clock.t >= 3


def test_absent_waits_until_the_node_is_down(engine, swarm, run_module):
    engine.down_after["w2id"] = 4
    res = run_module(MAIN, {"node": "w2", "state": "absent"})
    assert not res.failed and res.changed and node(swarm, "w2id") is None
    assert [r for r in engine.requests if r.startswith("DELETE")] == ["DELETE /nodes/{id}"]


def test_absent_force_removes_a_ready_node(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w2", "state": "absent", "force": True})
    assert not res.failed and res.changed and node(swarm, "w2id") is None
    assert engine.clock.t == 0  # no waiting for down


def test_absent_down_manager_is_demoted_then_removed(engine, swarm, run_module):
    target = node(swarm, "m3id")
    target["Status"]["State"] = "down"
    target["ManagerStatus"]["Reachability"] = "unreachable"
    engine.settle_reads = 2
    res = run_module(MAIN, {"node": "m3", "state": "absent"})
    assert not res.failed and res.changed
    assert updates(engine) == [{"Labels": {}, "Role": "worker", "Availability": "drain"}]
    assert node(swarm, "m3id") is None


def test_absent_manager_entry_outside_the_raft_is_removed(engine, swarm, run_module):
    """After force_new_cluster the old managers stay listed with role manager but without raft membership (no
    ManagerStatus); the Engine answers their demotion with NotFound ("can't find manager in raft memberlist"):
    the entry is removed as it is."""
    target = node(swarm, "m3id")
    target["Status"]["State"] = "unknown"
    del target["ManagerStatus"]
    swarm.manager_addrs.pop("m3id", None)
    engine.fail_next("POST /nodes/{id}/update",
                     ApiFailure(404, "rpc error: code = NotFound desc = can't find manager in raft memberlist"))
    res = run_module(MAIN, {"node": "m3id", "state": "absent", "force": True})
    assert not res.failed and res.changed, res.result
    assert node(swarm, "m3id") is None
    assert [r for r in engine.requests if r.startswith("DELETE")] == ["DELETE /nodes/{id}"]


def test_absent_node_gone_before_its_demotion_is_not_a_change(engine, swarm, run_module):
    def vanish(fake):
        fake.swarm.nodes = [n for n in fake.swarm.nodes if n["ID"] != "w2id"]
        return ApiFailure(404, "node w2id not found")

    engine.fail_next("POST /nodes/{id}/update", vanish)
    res = run_module(MAIN, {"node": "w2", "state": "absent", "force": True})
    assert not res.failed and not res.changed and "DELETE /nodes/{id}" not in engine.requests


def test_absent_manager_breaking_quorum_is_refused(engine, swarm, run_module):
    node(swarm, "m2id")["ManagerStatus"]["Reachability"] = "unreachable"
    res = run_module(MAIN, {"node": "m3", "state": "absent", "force": True})
    assert res.failed and res["error_type"] == "QuorumError"
    assert no_changes(engine)


def test_absent_manager_that_never_leaves_the_raft_times_out(engine, swarm, run_module):
    engine.settle_reads = None
    res = run_module(MAIN, {"node": "m3", "state": "absent", "force": True, "wait_timeout": 0})
    assert res.failed and res["error_type"] == "WaitTimeout" and res["changed"] is True
    assert "has left the raft" in res["msg"]
    assert engine.clock.t >= swarm_node.MIN_RAFT_WAIT
    assert node(swarm, "m3id") is not None


def test_absent_refuses_the_engine_it_runs_on(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "m1", "state": "absent", "force": True})
    assert res.failed and res["error_type"] == "InvalidParameter"
    assert "it is the manager this module runs on" in res["msg"]
    assert no_changes(engine)


def test_absent_check_mode_warns_when_not_down(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w1", "state": "absent", "labels": {"a": "b"}}, check=True, diff=True)
    assert res.changed and res["node"] is None and no_changes(engine)
    assert any("w1 is ready, not down" in w for w in res.warnings)
    assert any("labels ignored" in w for w in res.warnings)
    assert res["diff"] == {"before": {"state": "present"}, "after": {"state": "absent"}}


def test_absent_node_gone_while_waiting(engine, swarm, run_module):
    def vanish(eng):
        eng.swarm.nodes.remove(node(eng.swarm, "w2id"))

    engine.fail_next("GET /nodes/{id}", vanish)
    res = run_module(MAIN, {"node": "w2", "state": "absent"})
    assert not res.failed and not res.changed and res["node"] is None


def test_absent_engine_says_not_down(engine, swarm, run_module):
    node(swarm, "w2id")["Status"]["State"] = "down"

    def back_up(eng):
        node(eng.swarm, "w2id")["Status"]["State"] = "ready"

    engine.fail_next("DELETE /nodes/{id}", back_up)
    res = run_module(MAIN, {"node": "w2", "state": "absent"})
    assert res.failed and res["error_type"] == "NodeNotDown"
    assert "the Engine says it is not down" in res["msg"] and res["changed"] is True


def test_absent_engine_says_still_a_manager(engine, swarm, run_module):
    node(swarm, "w2id")["Status"]["State"] = "down"
    engine.fail_next(
        "DELETE /nodes/{id}",
        ApiFailure(400, "rpc error: code = FailedPrecondition desc = node w2id is a cluster manager and is a member "
                        "of the raft cluster. It must be demoted to worker before removal"),
    )
    res = run_module(MAIN, {"node": "w2", "state": "absent"})
    assert res.failed and res["error_type"] == "NodeIsManager" and res["changed"] is True
    assert "must be demoted to worker before removal" in res["msg"] and "role=worker" in res["msg"]


def test_node_module_has_no_error_classes_or_polling_of_its_own():
    # NodeNotDown lives in errors.py, polling in SwarmClient.poll_node, the quorum hint in QuorumError.demotion
    from ansible_collections.hive.swarm.plugins.module_utils._swarm import errors

    assert swarm_node.NodeNotDown is errors.NodeNotDown
    for name in ("poll_node", "wait_node", "QUORUM_HINT", "update"):
        assert not hasattr(swarm_node, name), name


# ------------------------------------------------------------------ errors, secrets
def test_worker_engine_is_refused(engine, run_module):
    engine.make_worker()
    res = run_module(MAIN, {"node": "x", "availability": "drain"})
    assert res.failed and res["error_type"] == "NotAManager"


def test_negative_wait_timeout_is_refused(engine, swarm, run_module):
    res = run_module(MAIN, {"node": "w1", "wait_timeout": -1})
    assert res.failed and res["error_type"] == "InvalidParameter" and engine.requests == []


def test_results_hold_no_secrets(engine, swarm, run_module):
    for args in ({"node": "w1", "labels": {"a": "b"}}, {"node": "w2", "state": "absent", "force": True}):
        text = json.dumps(run_module(MAIN, args, diff=True).result)
        assert "SWMTKN" not in text and "SWMKEY" not in text


def test_absent_manager_entry_outside_the_raft_is_drained_and_removed(engine, swarm, run_module):
    """After force_new_cluster on another manager the lost managers' entries keep the role manager but have no
    ManagerStatus; the Engine answers their demotion with 404 "can't find manager in raft memberlist" (Engine 20.10,
    lab). The entry is drained and removed without the demotion."""
    target = node(swarm, "m3id")
    target["Status"]["State"] = "unknown"
    del target["ManagerStatus"]
    engine.fail_next("POST /nodes/{id}/update", ApiFailure(404, "can't find manager in raft memberlist"))
    res = run_module(MAIN, {"node": "m3id", "state": "absent", "force": True})
    assert not res.failed and res.changed and res["node"] is None
    assert updates(engine)[-1] == {"Labels": {}, "Role": "manager", "Availability": "drain"}
    assert node(swarm, "m3id") is None

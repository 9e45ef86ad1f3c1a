"""rolling.py: the rolling-maintenance planner, scenario by scenario.

Each case is a small named scenario: the swarm's node list as a manager returns it (``views.node_view`` entries),
the inventory host of each node ID, and the walk, gate verdict or drain verdict expected from them. Hosts are
m1..m9 (managers, m1 the leader unless said otherwise) and w1..w9 (workers); the node ID of a host is node-<host>
and its hostname the host's name. Engines run 27.3.1 unless said otherwise; upgrades go to 28.5. For ``drained`` the
inputs are the Engine's own GET /tasks and GET /services entries."""

from __future__ import annotations

import re
from typing import Any, Optional

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import rolling as r
from ansible_collections.hive.swarm.plugins.module_utils._swarm import views
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter

VERSION = "27.3.1"
TARGET = "28.5"
MARK = r.MARK_LABEL


# --------------------------------------------------------------------------------------------- builders
def nid(host: str) -> str:
    return f"node-{host}"


def node(host: str, state: str = "ready", reachability: str = "reachable", leader: bool = False,
         availability: str = "active", version: Optional[str] = VERSION, labels: Optional[dict[str, str]] = None,
         hostname: Optional[str] = None, role: Optional[str] = None) -> dict[str, Any]:
    """A views.node_view entry; the role comes from the name (m* manager, else worker) unless given."""
    manager = (role or ("manager" if host.startswith("m") else "worker")) == "manager"
    return {"id": nid(host), "version": 10, "hostname": hostname or host, "role": "manager" if manager else "worker",
            "availability": availability, "labels": dict(labels or {}), "state": state, "message": None,
            "addr": "10.0.0.1", "manager_reachability": reachability if manager else None,
            "manager_addr": "10.0.0.1:2377" if manager else None, "leader": leader and manager,
            "engine_version": version, "nano_cpus": 2000000000, "memory_bytes": 2147483648,
            "root_ca_digest": "r1", "cert_issuer_digest": "i1"}


def swarm(managers=("m1", "m2", "m3"), workers=("w1", "w2", "w3"), leader: Optional[str] = None,
          **changes: dict[str, Any]) -> list[dict[str, Any]]:
    """The node list of a healthy swarm (leader: the first manager); ``changes``: host -> fields to override. The
    list is given in a scrambled order: the walk must not depend on it."""
    leader = leader or (managers[0] if managers else None)
    out = [node(h, leader=h == leader) for h in [*managers, *workers]]
    out = [{**n, **changes.get(n["hostname"], {})} for n in out]
    return out[1::2] + out[0::2]


def ids(nodes: list[dict[str, Any]], *without: str) -> dict[str, str]:
    """The inventory: every node's host -> node ID, minus ``without`` (not inventory hosts)."""
    return {n["id"][len("node-"):]: n["id"] for n in nodes if n["hostname"] not in without}


def marked(before: str = "active", **fields: Any) -> dict[str, Any]:
    """Fields of a node left drained by a run that stopped."""
    return {"availability": "drain", "labels": {MARK: before}, **fields}


def order(walk: r.Walk) -> list[list[str]]:
    return [b.hosts for b in walk.batches]


def rows(table: list[str]) -> list[tuple[str, ...]]:
    return [tuple(re.split(r"\s{2,}", line.rstrip())) for line in table]


def picked(walk: r.Walk, expected: dict[str, Any]) -> dict[str, Any]:
    data = {"order": order(walk), "kinds": [b.kind for b in walk.batches],
            "skipped": {s.name: s.skip_reason for s in walk.skipped}, "batch_size": walk.batch_size,
            "refusals": walk.refusals, "warnings": walk.warnings, "table": walk.table, "summary": walk.summary,
            "restore": {s.name: s.restore for b in walk.batches for s in b.steps},
            "resume": [s.name for b in walk.batches for s in b.steps if s.resume],
            "work": {s.name: s.work for b in walk.batches for s in b.steps}}
    return {k: data[k] for k in expected}


def test_builders_have_the_shapes_of_the_views():
    assert set(node("m1")) == set(views.node_view({"ID": "x"}) or {})


# ------------------------------------------------------------------------------------------------- walks
BASIC = swarm(workers=("w1", "w2", "w3", "w4", "w5"))
SIX = swarm(workers=("w1", "w2", "w3", "w4", "w5", "w6"))
ALL_ACTIVE = "drain, maintenance tasks, back to active"
UPGRADE = "drain, upgrade to 28.5, back to active"

WALKS = [
    pytest.param(
        swarm(), {},
        {"order": [["w1"], ["w2"], ["w3"], ["m2"], ["m3"], ["m1"]],
         "kinds": ["workers", "workers", "workers", "manager", "manager", "manager"], "batch_size": 1,
         "refusals": [], "warnings": [], "skipped": {},
         "restore": {"w1": "active", "w2": "active", "w3": "active", "m2": "active", "m3": "active", "m1": "active"},
         "table": ["ORDER  HOST  ROLE              NOW            PLANNED",
                   f"1      w1    worker            27.3.1 active  {ALL_ACTIVE}",
                   f"2      w2    worker            27.3.1 active  {ALL_ACTIVE}",
                   f"3      w3    worker            27.3.1 active  {ALL_ACTIVE}",
                   f"4      m2    manager           27.3.1 active  {ALL_ACTIVE}",
                   f"5      m3    manager           27.3.1 active  {ALL_ACTIVE}",
                   f"6      m1    manager (leader)  27.3.1 active  {ALL_ACTIVE}"],
         "summary": "6 steps: 3 workers in batches of up to 1, 3 managers one at a time (leader last), resume 0, "
                    "skip 0"},
        id="default-one-worker-at-a-time-then-managers-leader-last"),
    pytest.param(
        BASIC, {"max_unavailable": 2},
        {"order": [["w1", "w2"], ["w3", "w4"], ["w5"], ["m2"], ["m3"], ["m1"]], "batch_size": 2,
         "summary": "6 steps: 5 workers in batches of up to 2, 3 managers one at a time (leader last), resume 0, "
                    "skip 0"},
        id="batches-of-2-last-batch-smaller"),
    pytest.param(
        swarm(workers=("w1", "w2", "w3", "w4")), {"max_unavailable": "50%"},
        {"order": [["w1", "w2"], ["w3", "w4"], ["m2"], ["m3"], ["m1"]], "batch_size": 2},
        id="50-percent-of-4-workers-is-2"),
    pytest.param(
        SIX, {"max_unavailable": "34%"},
        {"order": [["w1", "w2"], ["w3", "w4"], ["w5", "w6"], ["m2"], ["m3"], ["m1"]], "batch_size": 2},
        id="34-percent-of-6-workers-rounds-down-to-2"),
    pytest.param(
        swarm(workers=("w1", "w2")), {"max_unavailable": "34%"},
        {"order": [["w1"], ["w2"], ["m2"], ["m3"], ["m1"]], "batch_size": 1},
        id="34-percent-of-2-workers-is-at-least-1"),
    pytest.param(
        BASIC, {"max_unavailable": "100%"},
        {"order": [["w1", "w2", "w3", "w4", "w5"], ["m2"], ["m3"], ["m1"]], "batch_size": 5},
        id="100-percent-all-workers-at-once-managers-still-one-at-a-time"),
    pytest.param(
        SIX, {"max_unavailable": "50%", "only": ["w1", "w2", "m1"]},
        {"order": [["w1", "w2"], ["m1"]], "batch_size": 3,
         "skipped": {"w3": "not in this play", "w4": "not in this play", "w5": "not in this play",
                     "w6": "not in this play", "m2": "not in this play", "m3": "not in this play"}},
        id="percentage-is-of-every-worker-of-the-swarm-not-of-the-play"),
    pytest.param(
        swarm(leader="m2"), {},
        {"order": [["w1"], ["w2"], ["w3"], ["m1"], ["m3"], ["m2"]]},
        id="leader-last-wherever-its-hostname-sorts"),
    pytest.param(
        swarm(workers=("w1", "w2", "w3"), w1={"hostname": "zeta"}, w3={"hostname": "alpha"}), {},
        {"order": [["w3"], ["w2"], ["w1"], ["m2"], ["m3"], ["m1"]]},
        id="workers-by-hostname-not-by-inventory-name"),
    pytest.param(
        BASIC, {"max_unavailable": 2, "only": ["w2", "w4", "w5", "m3"]},
        {"order": [["w2", "w4"], ["w5"], ["m3"]],
         "skipped": {"w1": "not in this play", "w3": "not in this play", "m2": "not in this play",
                     "m1": "not in this play"},
         "summary": "3 steps: 3 workers in batches of up to 2, 1 manager one at a time (leader last), resume 0, "
                    "skip 4 (4 not in this play)"},
        id="limit-subset-batches-of-the-play-hosts-only"),
    pytest.param(
        swarm(w1={"engine_version": "28.5.1"}, m2={"engine_version": "28.5.0+dfsg1"}), {"target_version": TARGET},
        {"order": [["w2"], ["w3"], ["m3"], ["m1"]],
         "skipped": {"w1": "already at 28.5", "m2": "already at 28.5"},
         "table": ["ORDER  HOST  ROLE              NOW                  PLANNED",
                   f"1      w2    worker            27.3.1 active        {UPGRADE}",
                   f"2      w3    worker            27.3.1 active        {UPGRADE}",
                   f"3      m3    manager           27.3.1 active        {UPGRADE}",
                   f"4      m1    manager (leader)  27.3.1 active        {UPGRADE}",
                   "-      w1    worker            28.5.1 active        skip: already at 28.5",
                   "-      m2    manager           28.5.0+dfsg1 active  skip: already at 28.5"],
         "summary": "4 steps: 2 workers in batches of up to 1, 2 managers one at a time (leader last), resume 0, "
                    "skip 2 (2 already at 28.5)"},
        id="upgrade-skips-nodes-at-the-target-version"),
    pytest.param(
        swarm(w1={"engine_version": "28.5.1"}, w2=marked(engine_version="28.5.1")),
        {"target_version": TARGET, "max_unavailable": 2},
        {"order": [["w2"], ["w3"], ["m2"], ["m3"], ["m1"]], "resume": ["w2"],
         "work": {"w2": False, "w3": True, "m2": True, "m3": True, "m1": True},
         "restore": {"w2": "active", "w3": "active", "m2": "active", "m3": "active", "m1": "active"},
         "skipped": {"w1": "already at 28.5"},
         "table": ["ORDER  HOST  ROLE              NOW            PLANNED",
                   "1      w2    worker            28.5.1 drain   resume (drained by an earlier run, was active), "
                   "already at 28.5, back to active",
                   f"2      w3    worker            27.3.1 active  {UPGRADE}",
                   f"3      m2    manager           27.3.1 active  {UPGRADE}",
                   f"4      m3    manager           27.3.1 active  {UPGRADE}",
                   f"5      m1    manager (leader)  27.3.1 active  {UPGRADE}",
                   "-      w1    worker            28.5.1 active  skip: already at 28.5"]},
        id="resume-after-partial-upgrade-upgraded-but-still-drained-gets-its-availability-back-not-drained-again"),
    pytest.param(
        swarm(w1={"engine_version": "28.5.1"}, w2=marked("pause", state="down")), {"target_version": TARGET},
        {"order": [["w2"], ["w3"], ["m2"], ["m3"], ["m1"]], "resume": ["w2"], "work": {
            "w2": True, "w3": True, "m2": True, "m3": True, "m1": True},
         "restore": {"w2": "pause", "w3": "active", "m2": "active", "m3": "active", "m1": "active"},
         "refusals": [],
         "summary": "5 steps: 2 workers in batches of up to 1, 3 managers one at a time (leader last), resume 1, "
                    "skip 1 (1 already at 28.5)"},
        id="resume-a-node-a-failed-upgrade-left-down-first-its-own-availability-from-the-label"),
    pytest.param(
        swarm(w3=marked(), m2=marked(), w1={"engine_version": None}), {"target_version": TARGET},
        {"order": [["w3"], ["m2"], ["w1"], ["w2"], ["m3"], ["m1"]], "kinds": [
            "workers", "manager", "workers", "workers", "manager", "manager"], "resume": ["w3", "m2"]},
        id="resumed-workers-then-resumed-managers-before-the-rest"),
    pytest.param(
        swarm(w1={"engine_version": None}, m1={"engine_version": ""}), {"target_version": TARGET},
        {"order": [["w1"], ["w2"], ["w3"], ["m2"], ["m3"], ["m1"]], "skipped": {},
         "table": ["ORDER  HOST  ROLE              NOW            PLANNED",
                   f"1      w1    worker            ? active       {UPGRADE}",
                   f"2      w2    worker            27.3.1 active  {UPGRADE}",
                   f"3      w3    worker            27.3.1 active  {UPGRADE}",
                   f"4      m2    manager           27.3.1 active  {UPGRADE}",
                   f"5      m3    manager           27.3.1 active  {UPGRADE}",
                   f"6      m1    manager (leader)  ? active       {UPGRADE}"]},
        id="unknown-engine-version-is-not-skipped"),
    pytest.param(
        swarm(w1={"availability": "drain"}, w2={"availability": "pause"}), {},
        {"restore": {"w1": None, "w2": "pause", "w3": "active", "m2": "active", "m3": "active", "m1": "active"},
         "table": ["ORDER  HOST  ROLE              NOW            PLANNED",
                   "1      w1    worker            27.3.1 drain   drained already, maintenance tasks, stays drained",
                   "2      w2    worker            27.3.1 pause   drain, maintenance tasks, back to pause",
                   f"3      w3    worker            27.3.1 active  {ALL_ACTIVE}",
                   f"4      m2    manager           27.3.1 active  {ALL_ACTIVE}",
                   f"5      m3    manager           27.3.1 active  {ALL_ACTIVE}",
                   f"6      m1    manager (leader)  27.3.1 active  {ALL_ACTIVE}"]},
        id="each-node-gets-back-the-availability-it-had"),
    pytest.param(
        [*swarm(), node("x1", hostname="oldbox")], {"node_ids": "inventory-without-x1"},
        {"order": [["w1"], ["w2"], ["w3"], ["m2"], ["m3"], ["m1"]], "skipped": {"oldbox": "not in the inventory"},
         "refusals": []},
        id="node-without-an-inventory-host-is-not-walked"),
    pytest.param(
        swarm(w1={"engine_version": "29.0.1"}), {"target_version": TARGET},
        {"warnings": ["w1 runs Engine 29.0.1, newer than the target 28.5: it would be downgraded"]},
        id="downgrade-warned"),
    pytest.param(
        swarm(), {"node_ids": {"w1": nid("w1"), "w2": "", "w3": "node-gone", "m1": nid("m1"), "m2": nid("m2"),
                               "m3": nid("m3"), "m9": nid("m1")}},
        {"order": [["w1"], ["m2"], ["m3"], ["m1"]],
         "skipped": {"w2": "not in the inventory", "w3": "not in the inventory"},
         "warnings": ["w2 reports no node ID (in no swarm, or it could not be probed): not maintained",
                      "w3 is node node-gone, which this swarm does not list: not maintained",
                      "m9 and m1 are the same node node-m1: walked as m1"]},
        id="hosts-without-a-listed-node-reported"),
    pytest.param(
        swarm(w3=marked()), {"only": ["w1", "w2"]},
        {"order": [["w1"], ["w2"]], "refusals": [],
         "warnings": ["w3 was drained by a maintenance run that did not finish and is not walked now (not in this "
                      "play): it stays drain until a run includes it"]},
        id="node-left-drained-outside-the-play-warned"),
    pytest.param(
        swarm(w2={"labels": {MARK: "bogus"}}), {},
        {"resume": [], "warnings": [f"w2 carries the label {MARK}=bogus, which is not an availability (active, pause, "
                                    "drain): ignored; remove it"]},
        id="mark-label-with-a-bad-value-ignored"),
    pytest.param(
        swarm(("m1",), ("w1",)), {"allow_quorum_loss": True},
        {"order": [["w1"], ["m1"]], "refusals": []},
        id="single-manager-walked-when-quorum-loss-accepted"),
]


@pytest.mark.parametrize(("nodes", "kwargs", "expected"), WALKS)
def test_walk(nodes, kwargs, expected):
    options = dict(kwargs)
    node_ids = options.pop("node_ids", None)
    if node_ids is None:
        node_ids = ids(nodes)
    elif node_ids == "inventory-without-x1":
        node_ids = ids(nodes, "oldbox")
    walk = r.walk_order(nodes, node_ids, **options)
    assert picked(walk, expected) == expected


def test_walk_as_dict_has_what_the_playbook_loops_over():
    data = r.walk_order(swarm(("m1", "m2", "m3"), ("w1", "w2")), ids(swarm(("m1", "m2", "m3"), ("w1", "w2"))),
                        "100%", TARGET).as_dict()
    assert [(b["number"], b["kind"], b["hosts"], b["node_ids"]) for b in data["batches"]] == [
        (1, "workers", ["w1", "w2"], [nid("w1"), nid("w2")]), (2, "manager", ["m2"], [nid("m2")]),
        (3, "manager", ["m3"], [nid("m3")]), (4, "manager", ["m1"], [nid("m1")])]
    step = data["batches"][0]["steps"][0]
    assert step == {"host": "w1", "node_id": nid("w1"), "hostname": "w1", "role": "worker", "leader": False,
                    "state": "ready", "reachability": "", "availability": "active", "engine_version": VERSION,
                    "before": "active", "restore": "active", "resume": False, "work": True, "skip_reason": ""}
    assert data["mark_label"] == MARK and data["message"] == "" and data["target_version"] == TARGET
    assert data["summary"] == ("4 steps: 2 workers in batches of up to 2, 3 managers one at a time (leader last), "
                               "resume 0, skip 0")


def test_a_rerun_after_the_walk_finished_has_nothing_to_do():
    nodes = swarm(**{h: {"engine_version": "28.5.1"} for h in ("m1", "m2", "m3", "w1", "w2", "w3")})
    walk = r.walk_order(nodes, ids(nodes), 1, TARGET)
    assert walk.batches == [] and walk.refusals == []
    assert walk.summary == ("0 steps: 0 workers in batches of up to 1, 0 managers one at a time (leader last), "
                            "resume 0, skip 6 (6 already at 28.5)")
    assert [row[0] for row in rows(walk.table)] == ["ORDER", "-", "-", "-", "-", "-", "-"]


# --------------------------------------------------------------------------------------------- refusals
NOT_SAFE_1 = ("manager m1 cannot be maintained without losing the quorum: while one is away 0 of 1 managers are "
              "reachable, fewer than the quorum of 1; add managers (3 keep the quorum while one is away), leave the "
              "managers out of the play (--limit), or set maintenance_allow_quorum_loss: true to accept that the "
              "swarm cannot be managed while one restarts")
REFUSALS = [
    pytest.param(
        swarm(w2={"state": "down"}), {},
        ["node w2 is down: bring it back or remove it (playbooks/remove_node.yml) before maintenance"],
        id="down-worker-refused-up-front"),
    pytest.param(
        swarm(w2={"state": "down"}), {"only": ["w1", "w3"]},
        ["node w2 is down: bring it back or remove it (playbooks/remove_node.yml) before maintenance"],
        id="down-worker-outside-the-play-refused-too"),
    pytest.param(
        swarm(w2=marked(state="down")), {"only": ["w1", "w3"]},
        ["node w2 is down (an earlier maintenance run drained it and did not finish: include it in the play to "
         "resume it): bring it back or remove it (playbooks/remove_node.yml) before maintenance"],
        id="node-left-down-by-a-stopped-run-outside-the-play"),
    pytest.param(
        [*swarm(), node("x1", state="unknown", hostname="oldbox")], {"node_ids": "inventory-without-x1"},
        ["node oldbox is unknown: bring it back or remove it (playbooks/remove_node.yml) before maintenance"],
        id="down-node-outside-the-inventory-refused"),
    pytest.param(
        swarm(m3={"state": "down", "manager_reachability": "unreachable"}), {},
        ["manager m3 is down and unreachable: bring it back or remove it (playbooks/remove_node.yml) before "
         "maintenance",
         "managers m2, m1 cannot be maintained without losing the quorum: while one is away 1 of 3 managers are "
         "reachable, fewer than the quorum of 2; add managers (3 keep the quorum while one is away), leave the "
         "managers out of the play (--limit), or set maintenance_allow_quorum_loss: true to accept that the swarm "
         "cannot be managed while one restarts"],
        id="unreachable-manager-refused-and-the-others-cannot-go-either"),
    pytest.param(
        swarm(m2={"manager_reachability": "unknown"}), {"only": ["w1"]},
        ["manager m2 is unknown: bring it back or remove it (playbooks/remove_node.yml) before maintenance"],
        id="ready-manager-of-unknown-reachability-refused"),
    pytest.param(
        swarm(m1={"leader": False}), {}, ["the swarm has no leader"],
        id="no-leader"),
    pytest.param(
        swarm(m2={"leader": True}), {}, ["the swarm reports 2 leaders (m1, m2)"],
        id="two-leaders"),
    pytest.param(swarm(("m1",), ("w1",)), {}, [NOT_SAFE_1], id="single-manager-quorum-refused"),
    pytest.param(
        swarm(("m1",), ("w1",)), {"only": ["w1"]}, [],
        id="single-manager-workers-only-walk-is-fine"),
    pytest.param(
        swarm(("m1", "m2"), ("w1",)), {},
        ["managers m2, m1 cannot be maintained without losing the quorum: while one is away 1 of 2 managers are "
         "reachable, fewer than the quorum of 2; add managers (3 keep the quorum while one is away), leave the "
         "managers out of the play (--limit), or set maintenance_allow_quorum_loss: true to accept that the swarm "
         "cannot be managed while one restarts"],
        id="two-managers-quorum-refused"),
    pytest.param([], {}, ["the manager listed no nodes (read them with swarm_node_info nodes=true on a manager)"],
                 id="no-node-list"),
]


@pytest.mark.parametrize(("nodes", "kwargs", "refusals"), REFUSALS)
def test_walk_refusal(nodes, kwargs, refusals):
    node_ids = ids(nodes, "oldbox") if kwargs.get("node_ids") else ids(nodes)
    options = {k: v for k, v in kwargs.items() if k != "node_ids"}
    walk = r.walk_order(nodes, node_ids, **options)
    assert walk.refusals == refusals
    assert walk.message == ("Cannot start the maintenance: " + "; ".join(refusals) if refusals else "")
    assert walk.table or not nodes  # the plan is shown even when refused


def test_refused_walk_still_shows_the_down_node_in_the_table():
    walk = r.walk_order(swarm(w2={"state": "down"}), ids(swarm()), 1)
    assert ("2", "w2", "worker", "27.3.1 active (down)", ALL_ACTIVE) in rows(walk.table)


# ------------------------------------------------------------------------------------ max_unavailable
@pytest.mark.parametrize(
    ("value", "workers", "size"),
    [(None, 5, 1), (1, 5, 1), (3, 5, 3), (10, 2, 10), ("2", 5, 2), (" 4 ", 5, 4), ("25%", 8, 2), ("25%", 7, 1),
     ("25%", 3, 1), ("50%", 5, 2), ("34%", 6, 2), ("100%", 7, 7), ("1%", 0, 1), ("10 %", 30, 3)],
)
def test_parse_max_unavailable(value, workers, size):
    assert r.parse_max_unavailable(value, workers) == size


@pytest.mark.parametrize("value", [0, -1, "0", "-1", "0%", "101%", "2.5", "12.5%", "", "many", "%", 2.0, True,
                                   [1], {"n": 1}])
def test_parse_max_unavailable_refuses(value):
    with pytest.raises(InvalidParameter) as err:
        r.parse_max_unavailable(value, 4)
    assert str(err.value) == (f"maintenance_max_unavailable={value!r} is not allowed: give a whole number of workers "
                              "of at least 1 (for example 2) or a percentage of the workers from 1% to 100% (for "
                              "example '25%', rounded down, at least 1).")


def test_walk_refuses_a_bad_max_unavailable():
    with pytest.raises(InvalidParameter, match=r"maintenance_max_unavailable='0%' is not allowed"):
        r.walk_order(swarm(), ids(swarm()), "0%")


# ---------------------------------------------------------------------------------- versions, availability
@pytest.mark.parametrize(
    ("version", "target", "at", "newer"),
    [("28.5.1", "28.5", True, False), ("28.5.1+dfsg1", "28.5.1", True, False), ("28.5.10", "28.5.1", False, True),
     ("28.5", "28.5", True, False), ("26.1.5+dfsg1", "28.5", False, False), ("29.0.0", "28.5", False, True),
     ("20.10.24+dfsg1", "20.10", True, False), ("28.50.0", "28.5", False, True), (None, "28.5", False, False),
     ("", "28.5", False, False), ("28.5.1", "", False, False), ("28.5.1-1~deb12", "28.5.1", True, False)],
)
def test_at_version_and_newer_than(version, target, at, newer):
    assert r.at_version(version, target) is at
    assert r.newer_than(version, target) is newer


def test_own_versions_decide_the_skip_not_a_swapped_description():
    # m3 is still on 27.3.1, but the list shows it with w1's description (28.5.1, moby/moby#46167): its own
    # /info decides, so it is walked; w1's own engine agrees with the list; w2's host gave no version.
    nodes = swarm(w1={"engine_version": "28.5.1"}, m3={"engine_version": "28.5.1", "hostname": "w1"})
    inventory = {n["id"][len("node-"):]: n["id"] for n in swarm()}
    fixed = r.with_own_versions(nodes, inventory, {"m3": VERSION, "w1": "28.5.1", "w2": None, "m1": ""})
    by_id = {n["id"]: n for n in fixed}
    assert by_id[nid("m3")]["engine_version"] == VERSION and by_id[nid("w1")]["engine_version"] == "28.5.1"
    assert by_id[nid("w2")]["engine_version"] == VERSION and by_id[nid("m1")]["engine_version"] == VERSION
    assert nodes[0] is not fixed[0] and [n["id"] for n in fixed] == [n["id"] for n in nodes]
    walk = r.walk_order(fixed, inventory, target_version=TARGET)
    skipped = {s.host: s.skip_reason for s in walk.steps if s.skip_reason}
    assert skipped == {"w1": f"already at {TARGET}"}
    assert r.walk_order(nodes, inventory, target_version=TARGET).steps != walk.steps


@pytest.mark.parametrize(
    ("before", "now", "restore"),
    [("active", "drain", "active"), ("pause", "drain", "pause"), ("drain", "drain", None), ("active", "active", None),
     ("drain", "active", "drain"), (None, "drain", None), ("", "drain", None), ("bogus", "drain", None),
     ("Active", "drain", "active")],
)
def test_restore_availability(before, now, restore):
    assert r.restore_availability(before, now) == restore


def test_mark_and_unmark_labels():
    assert r.mark_labels("pause") == {MARK: "pause"}
    assert r.unmark_labels() == {MARK: None}


# ------------------------------------------------------------------------------------------------- gates
MANAGER_GATES = [
    pytest.param(swarm(), "m2", False, "", id="all-reachable-one-leader-ok"),
    pytest.param(swarm(), "m1", False, "", id="the-leader-last-ok"),
    pytest.param(
        swarm(m3={"manager_reachability": "unreachable", "state": "down"}), "m2", False,
        "Stopped before manager m2: manager m3 is down and unreachable; while m2 is away 1 of 3 managers would be "
        "reachable, fewer than the quorum of 2. Nothing was changed on m2; fix this and run again.",
        id="another-manager-unreachable"),
    pytest.param(
        swarm(("m1", "m2", "m3", "m4", "m5"), m5={"manager_reachability": "unreachable"}), "m2", False,
        "Stopped before manager m2: manager m5 is unreachable. Nothing was changed on m2; fix this and run again.",
        id="another-manager-unreachable-even-with-quorum-to-spare"),
    pytest.param(
        swarm(m1={"leader": False}), "m2", False,
        "Stopped before manager m2: the swarm has no leader. Nothing was changed on m2; fix this and run again.",
        id="no-leader"),
    pytest.param(
        swarm(m3={"leader": True}), "m2", False,
        "Stopped before manager m2: the swarm reports 2 leaders (m1, m3). Nothing was changed on m2; fix this and run "
        "again.",
        id="two-leaders"),
    pytest.param(
        swarm(("m1", "m2")), "m2", False,
        "Stopped before manager m2: while m2 is away 1 of 2 managers would be reachable, fewer than the quorum of 2. "
        "Nothing was changed on m2; fix this and run again.",
        id="two-managers-lose-the-quorum"),
    pytest.param(swarm(("m1", "m2")), "m2", True, "", id="two-managers-quorum-loss-accepted"),
    pytest.param(
        swarm(m2={"manager_reachability": "unreachable", "state": "down"}), "m2", False, "",
        id="resumed-manager-down-itself-the-others-keep-quorum"),
    pytest.param(
        swarm(), "m9", False,
        "Stopped before manager m9: the swarm does not list it. Nothing was changed on m9.",
        id="manager-not-listed"),
    pytest.param(
        swarm(m2={"role": "worker", "manager_reachability": None}), "m2", False,
        "Stopped before manager m2: it is a worker now. Nothing was changed on m2; run again to plan the walk anew.",
        id="manager-demoted-meanwhile"),
]


@pytest.mark.parametrize(("nodes", "host", "allow", "expected"), MANAGER_GATES)
def test_gate_before_manager(nodes, host, allow, expected):
    node_ids = {**ids(nodes), "m9": nid("m9")}
    assert r.gate_before_manager(nodes, nid(host), node_ids, allow_quorum_loss=allow) == expected


def test_gate_before_manager_names_nodes_without_inventory_by_hostname():
    nodes = swarm(m3={"manager_reachability": "unreachable", "hostname": "box3"})
    assert r.gate_before_manager(nodes, nid("m2")).startswith("Stopped before manager m2: manager box3 is unreachable;")


BATCH_GATES = [
    pytest.param(swarm(), ["w1", "w2"], "", id="everyone-else-ready-ok"),
    pytest.param(swarm(w1={"state": "down"}), ["w1"], "", id="the-batch-itself-may-be-down-resume"),
    pytest.param(
        swarm(w3={"state": "down"}), ["w1", "w2"],
        "Stopped before w1, w2: not ready outside this batch: w3 (down). Nothing was changed on w1, w2; fix this and "
        "run again.",
        id="worker-outside-the-batch-down"),
    pytest.param(
        swarm(w3={"state": "disconnected"}, m2={"state": "unknown"}), ["w1"],
        "Stopped before w1: not ready outside this batch: w3 (disconnected), m2 (unknown). Nothing was changed on w1; "
        "fix this and run again.",
        id="every-node-not-ready-named"),
    pytest.param(
        swarm(m2={"manager_reachability": "unreachable"}, m3={"manager_reachability": "unreachable"}), ["w1"],
        "Stopped before w1: only 1 of 3 managers are reachable, fewer than the quorum of 2. Nothing was changed on "
        "w1; fix this and run again.",
        id="managers-quorum-lost"),
    pytest.param(
        swarm(m1={"leader": False}), ["w1"],
        "Stopped before w1: the swarm has no leader. Nothing was changed on w1; fix this and run again.",
        id="no-leader"),
    pytest.param(
        swarm(), ["w1", "m2"],
        "Stopped before w1, m2: m2 is a manager (managers are maintained one at a time). Nothing was changed on w1, "
        "m2; fix this and run again.",
        id="manager-in-a-worker-batch"),
    pytest.param(
        swarm(), ["w9"],
        "Stopped before w9: the swarm does not list w9. Nothing was changed on w9; fix this and run again.",
        id="batch-node-not-listed"),
]


@pytest.mark.parametrize(("nodes", "batch", "expected"), BATCH_GATES)
def test_gate_before_batch(nodes, batch, expected):
    node_ids = {**ids(nodes), "w9": nid("w9")}
    assert r.gate_before_batch(nodes, [nid(h) for h in batch], node_ids) == expected


# ------------------------------------------------------------------------------------------------- drain
def service(name: str, replicas: Optional[int] = 1, mode: str = "Replicated") -> dict[str, Any]:
    """A service view (ID svc-<name>) as swarm_node_info services=true returns it."""
    spec_mode: dict[str, Any] = {mode: {}}
    if mode == "Replicated" and replicas is not None:
        spec_mode = {"Replicated": {"Replicas": replicas}}
    return views.service_view({"ID": f"svc-{name}", "Version": {"Index": 5}, "Spec": {"Name": name, "Mode": spec_mode}})


def task(name: str, host: str, state: str = "running", desired: str = "running", number: int = 1) -> dict[str, Any]:
    """A task view of service ``name`` on ``host`` ('' = not scheduled) as swarm_node_info tasks=true returns it."""
    return views.task_view({"ID": f"task-{name}-{host}-{number}", "ServiceID": f"svc-{name}",
                            "NodeID": nid(host) if host else "", "Slot": number, "DesiredState": desired,
                            "Status": {"State": state, "Message": state}})


WEB3 = [task("web", "w2", number=1), task("web", "w3", number=2), task("web", "m1", number=3)]
DRAINS = [
    pytest.param([*WEB3, task("web", "w1", "shutdown", "shutdown", 4)], [service("web", 3)], ["w1"], {}, "",
                 id="done-replicas-elsewhere-old-task-shut-down"),
    pytest.param(
        [task("web", "w1"), task("web", "w2", number=2), task("api", "w1")], [service("web", 2), service("api", 1)],
        ["w1"], {},
        "Not drained yet: w1 still runs 1 task of api, 1 task of web; running elsewhere: api 0 of 1, web 1 of 2.",
        id="replicated-tasks-still-on-the-node"),
    pytest.param(
        [*WEB3[:2], task("web", "w1", "running", "shutdown", 3)], [service("web", 3)], ["w1"], {},
        "Not drained yet: w1 still runs 1 task of web; running elsewhere: web 2 of 3.",
        id="task-told-to-stop-but-still-running-blocks"),
    pytest.param(
        [*WEB3[:2], task("web", "w4", "starting", "running", 3), task("web", "w1", "complete", "shutdown", 4)],
        [service("web", 3)], ["w1"], {},
        "Not drained yet: running elsewhere: web 2 of 3.",
        id="replacement-still-starting-not-counted"),
    pytest.param(
        [*WEB3[:2], task("web", "", "pending", "running", 3)], [service("web", 3)], ["w1"], {"max_shortfall": 1}, "",
        id="shortfall-allowed-replacement-pending-elsewhere"),
    pytest.param(
        [task("web", "w2")], [service("web", 3)], ["w1"], {"max_shortfall": 1},
        "Not drained yet: running elsewhere: web 1 of 3 (at least 2 needed).",
        id="shortfall-allowed-but-not-enough"),
    pytest.param(
        [*WEB3, task("agent", "w1"), task("agent", "w2")], [service("web", 3), service("agent", mode="Global")],
        ["w1"], {}, "",
        id="global-service-task-on-the-node-does-not-block"),
    pytest.param(
        [task("web", "w2"), task("web", "w3", number=2)], [service("web", 3)], ["w1"],
        {"nodes": swarm(w3={"state": "down"})},
        "Not drained yet: running elsewhere: web 1 of 3.",
        id="tasks-on-a-down-node-do-not-count"),
    pytest.param(
        [task("web", "w2"), task("web", "w3", number=2), task("web", "m1", number=3)], [service("web", 3)],
        ["w1", "w2"], {"name": "w1, w2"},
        "Not drained yet: w1, w2 still run 1 task of web; running elsewhere: web 2 of 3.",
        id="batch-tasks-on-another-batch-node-are-not-elsewhere"),
    pytest.param(
        [task("migrate", "w1", "running", "complete")], [service("migrate", mode="ReplicatedJob")], ["w1"],
        {"name": "w1"},
        "Not drained yet: w1 still runs 1 task of migrate.",
        id="replicated-job-task-blocks-until-it-stopped-no-replicas-needed"),
    pytest.param(
        [task("web", "w2"), task("gone", "w1")], [service("web", None), service("zero", 0)], ["w1"], {}, "",
        id="replicas-default-to-1-zero-replicas-fine-unknown-service-ignored"),
]


@pytest.mark.parametrize(("tasks", "services", "batch", "kwargs", "message"), DRAINS)
def test_drained(tasks, services, batch, kwargs, message):
    names = {nid(h): h for h in batch}
    options = {"name": names[nid(batch[0])] if len(batch) == 1 else "", **kwargs}
    verdict = r.drained(tasks, services, [nid(h) for h in batch], **options)
    assert verdict == r.Drain(message == "", message)
    done, text = verdict  # a plain (bool, str) pair too
    assert (done, text) == (message == "", message)


def test_drained_takes_one_node_id_and_names_it_by_id():
    assert r.drained([task("web", "w1")], [service("web", 1)], nid("w1")) == r.Drain(
        False, "Not drained yet: node-w1 still runs 1 task of web; running elsewhere: web 0 of 1.")


# ------------------------------------------------------------------------------------- for the playbooks
@pytest.mark.parametrize(("readers", "batch", "leader", "expected"), [
    (["m1", "m2", "m3"], ["w1"], "m2", "m2"),
    (["m1", "m2", "m3"], ["m2"], "m2", "m1"),
    (["m1", "m3"], ["m1"], "m2", "m3"),
    (["m1"], ["m1"], "m1", "m1"),
    ([], ["w1"], "", ""),
])
def test_pick_reader(readers, batch, leader, expected):
    assert r.pick_reader(readers, batch, leader) == expected


def test_playbook_batches_add_reader_gate_work_and_labels():
    nodes = swarm(("m1", "m2", "m3"), ("w1", "w2"), m2={"engine_version": "28.5.0", "labels": {MARK: "pause"}})
    walk = r.walk_order(nodes, ids(nodes), 2, TARGET)
    batches = r.playbook_batches(walk, nodes, ["m1", "m2", "m3"], "m1")
    assert [(b["hosts"], b["reader"], b["work_hosts"]) for b in batches] == [
        (["m2"], "m1", []), (["w1", "w2"], "m1", ["w1", "w2"]), (["m3"], "m1", ["m3"]), (["m1"], "m2", ["m1"])]
    assert batches[0]["steps"][0]["drain_labels"] == {MARK: "pause"}
    assert batches[0]["steps"][0]["restore_labels"] == {MARK: None}
    assert all(s["restore_changes"] is True for b in batches for s in b["steps"])
    assert batches[1]["gate"] == ("before w1, w2: every node outside the batch ready, at least 2 of 3 managers "
                                  "reachable, one leader")
    assert batches[2]["gate"] == ("before manager m3: every other manager reachable, one leader, the quorum kept "
                                  "while m3 is away (2 of 3 reachable, quorum 2)")


@pytest.mark.parametrize(("nodes", "hosts", "target", "expected"), [
    pytest.param(swarm(), ["w1"], "", [], id="back"),
    pytest.param(swarm(w1={"state": "down"}), ["w1"], "", ["w1 is down"], id="down"),
    pytest.param(swarm(m2={"manager_reachability": "unreachable"}), ["m2"], "", ["m2 is unreachable"],
                 id="manager-unreachable"),
    pytest.param(swarm(), ["w1"], TARGET, [f"w1 reports Engine {VERSION}, not 28.5"], id="old-version"),
    pytest.param(swarm(leader="m9"), ["w9"], "", ["w9 is not listed", "the swarm has no leader"],
                 id="not-listed-no-leader"),
])
def test_back_problems(nodes, hosts, target, expected):
    assert r.back_problems(nodes, [nid(h) for h in hosts], target, {**ids(nodes), "w9": nid("w9")}) == expected


def test_unsettled_and_final_report():
    nodes = swarm(("m1", "m2", "m3"), ("w1",), w1={"state": "unknown", "labels": {MARK: "active"}})
    assert r.unsettled(nodes) == ["w1 is unknown"]
    walk = r.walk_order(swarm(("m1", "m2", "m3"), ("w1",)), ids(nodes), 1, TARGET).as_dict()
    lines = r.final_report(nodes, {**walk, "node_ids": ids(nodes)})
    assert lines[0] == "Walked 4 nodes in 4 steps to Engine 28.5."
    assert lines[1].split() == ["HOST", "ROLE", "ENGINE", "AVAILABILITY", "STATE"]
    assert f"WARNING: w1 still carries {MARK} (a walk that did not finish)" in lines
    assert "WARNING: w1 is unknown" in lines and f"WARNING: m1 runs Engine {VERSION}, not 28.5" in lines
    done = swarm(("m1", "m2", "m3"), ("w1",), **{h: {"engine_version": "28.5.2"} for h in ("m1", "m2", "m3", "w1")})
    assert r.final_report(done, {"batches": [], "target_version": TARGET})[-1] == (
        "Every node is ready, every manager reachable.")


# ------------------------------------------------------------------------------------------ check mode
@pytest.mark.parametrize(("before", "restore"), [
    pytest.param("active", "active", id="back to active"),
    pytest.param("pause", "pause", id="back to pause"),
    pytest.param("drain", None, id="stays drained: the label still goes"),
])
def test_restore_changes_the_node_the_drain_left(before: str, restore: Optional[str]) -> None:
    # what check mode reports for the give-back: a real run meets the node drained and labelled
    assert r.restore_changes(before, restore) is True


def test_restore_changes_follows_the_step_of_the_walk() -> None:
    nodes = swarm(("m1", "m2", "m3"), ("w1",), w1={"availability": "drain"})
    batches = r.playbook_batches(r.walk_order(nodes, ids(nodes)), nodes, ["m1", "m2", "m3"], "m1")
    w1 = batches[0]["steps"][0]
    assert (w1["host"], w1["restore"], w1["restore_changes"]) == ("w1", None, True)


@pytest.mark.parametrize(("state", "autolock", "role", "restarted", "locked"), [
    pytest.param("active", True, "manager", True, True, id="autolocked manager restarted"),
    pytest.param("active", True, "worker", True, False, id="workers never lock"),
    pytest.param("active", False, "manager", True, False, id="no autolock"),
    pytest.param("active", True, "manager", False, False, id="not restarted (a resumed node at the target)"),
    pytest.param("locked", False, "manager", False, True, id="locked now (a stopped run left it)"),
    pytest.param(None, True, "manager", True, True, id="engine down now, restarted by the step"),
])
def test_comes_back_locked(state: Optional[str], autolock: bool, role: str, restarted: bool, locked: bool) -> None:
    assert r.comes_back_locked(state, autolock, role, restarted) is locked


def test_check_report_names_the_walk() -> None:
    nodes = swarm(("m1", "m2", "m3"), ("w1", "w2"))
    walk = r.walk_order(nodes, ids(nodes), 2, TARGET).as_dict()
    assert r.check_report(walk) == ["Check mode: would walk 5 nodes in 4 steps to Engine 28.5 (w1, w2, m2, m3, m1); "
                                    "nothing was changed."]
    assert r.check_report({"batches": []}) == ["Check mode: would walk 0 nodes in 0 steps (none); nothing was "
                                               "changed."]

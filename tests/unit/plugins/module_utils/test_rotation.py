"""rotation.py: what rotate.yml prints and refuses, and when a root CA rotation has completed (table-driven)."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import rotation

OLD, NEW = "a" * 64, "b" * 64
OLD_ISSUER, NEW_ISSUER = "1" * 64, "2" * 64


def probe(manager: bool = True, autolock: bool = False, in_progress: bool = False, nodes: int = 5) -> dict[str, Any]:
    local = {"state": "active", "control_available": manager, "is_manager": manager, "error": None,
             "nodes_count": nodes if manager else None}
    swarm = {"id": "swarm1", "spec": {"autolock": autolock}, "root_ca_digest": OLD,
             "root_rotation_in_progress": in_progress} if manager else None
    return {"local": local, "swarm": swarm}


ALL = {"worker_token": True, "manager_token": True, "unlock_key": False, "root_ca": False}
CA = {"worker_token": False, "manager_token": False, "unlock_key": False, "root_ca": True}


def test_rotation_plan_tokens_only_as_before() -> None:
    plan = rotation.rotation_plan({"m1": probe(), "m2": probe()}, ALL, 300, check_mode=False)
    assert plan.refusal == "" and plan.control == "m1" and plan.previous_root == OLD and plan.swarm_id == "swarm1"
    assert plan.lines == ("Rotate on m1 (swarm swarm1): worker join token, manager join token",)


def test_rotation_plan_ca_in_check_mode_says_what_it_would_do() -> None:
    plan = rotation.rotation_plan({"m1": {"unreachable": True}, "m2": probe()}, CA, 120, check_mode=True)
    assert plan.control == "m2"
    assert plan.lines[0] == "Rotate on m2 (swarm swarm1): root CA"
    assert plan.lines[1].startswith("Root CA aaaaaaaaaaaa is replaced by a new Engine-generated root: the swarm "
                                    "re-issues the certificates of 5 nodes; then wait up to 120 s")
    assert plan.lines[-1] == "Check mode: nothing is rotated."


def test_rotation_plan_warns_about_a_rotation_in_progress() -> None:
    plan = rotation.rotation_plan({"m1": probe(in_progress=True)}, CA, 300, check_mode=False)
    assert "already in progress" in plan.lines[1]


@pytest.mark.parametrize("probes,wanted,needle", [
    ({"m1": probe(manager=False)}, ALL, "No reachable manager with control available in m1: nothing was rotated."),
    ({}, ALL, "No reachable manager with control available in (none)"),
    ({"m1": probe()}, {k: False for k in ALL}, "Nothing to rotate"),
    ({"m1": probe()}, {**ALL, "unlock_key": True}, "The swarm has autolock off"),
])
def test_rotation_plan_refusals(probes: dict[str, Any], wanted: dict[str, bool], needle: str) -> None:
    plan = rotation.rotation_plan(probes, wanted, 300, check_mode=False)
    assert needle in plan.refusal and plan.lines == ()


def test_unlock_key_with_autolock_is_fine() -> None:
    plan = rotation.rotation_plan({"m1": probe(autolock=True)}, {**ALL, "unlock_key": True}, 300, check_mode=False)
    assert plan.refusal == "" and "unlock key" in plan.lines[0]


def node(host: str, root: Optional[str] = NEW, issuer: Optional[str] = NEW_ISSUER, state: str = "ready") -> dict:
    return {"id": f"id-{host}", "hostname": host, "state": state, "root_ca_digest": root,
            "cert_issuer_digest": issuer}


def swarm(root: str = NEW, issuer: str = NEW_ISSUER, in_progress: bool = False) -> dict[str, Any]:
    return {"id": "swarm1", "root_ca_digest": root, "cert_issuer_digest": issuer,
            "root_rotation_in_progress": in_progress}


CASES = [
    # (name, swarm, nodes, previous root, done, behind hostnames)
    ("all caught up", swarm(), [node("m1"), node("w1")], OLD, True, []),
    ("no previous root given", swarm(), [node("m1")], "", True, []),
    ("still in progress", swarm(in_progress=True), [node("m1"), node("w1")], OLD, False, []),
    ("root not changed yet", swarm(root=OLD, issuer=OLD_ISSUER), [node("m1", OLD, OLD_ISSUER)], OLD, False, []),
    ("a worker with an old certificate", swarm(), [node("m1"), node("w1", issuer=OLD_ISSUER)], OLD, False, ["w1"]),
    ("a node that trusts the old root", swarm(), [node("w2", root=OLD), node("m1")], OLD, False, ["w2"]),
    ("a node without TLS info", swarm(), [node("m1"), node("w1", None, None, "down")], OLD, False, ["w1"]),
    ("no nodes listed", swarm(), [], OLD, False, []),
    ("no swarm", None, [node("m1")], OLD, False, ["m1"]),
]


@pytest.mark.parametrize("name,swarm_view,nodes,previous,done,behind", CASES, ids=[c[0] for c in CASES])
def test_ca_progress(name: str, swarm_view: Optional[dict], nodes: list, previous: str, done: bool,
                     behind: list) -> None:
    progress = rotation.ca_progress(swarm_view, nodes, previous)
    assert progress.done is done, name
    assert [b.hostname for b in progress.behind] == behind
    assert progress.total == len(nodes) and progress.caught_up == len(nodes) - len(behind)


def test_timeout_message_names_the_nodes_and_their_state() -> None:
    progress = rotation.ca_progress(swarm(in_progress=True),
                                    [node("m1"), node("w1", root=OLD, issuer=OLD_ISSUER, state="down"),
                                     node("w2", None, None)], OLD)
    text = rotation.timeout_message(progress, 300, OLD)
    assert text.startswith("The root CA rotation did not complete within 300 s: the swarm still reports the root "
                           "rotation in progress; 2 of 3 nodes have not caught up with root bbbbbbbbbbbb: ")
    assert ("w1 (down: certificate from another issuer, trusts root aaaaaaaaaaaa); "
            "w2 (ready: reports no certificate issuer, reports no trust root)") in text
    stuck = rotation.ca_progress(swarm(root=OLD), [node("m1", OLD)], OLD)
    assert "the swarm's root is still the old one (aaaaaaaaaaaa)" in rotation.timeout_message(stuck, 5, OLD)


def test_progress_message() -> None:
    progress = rotation.ca_progress(swarm(), [node("m1"), node("w1")], OLD)
    assert rotation.progress_message(progress, 12.34) == (
        "Root CA rotation complete after 12.3 s: all 2 nodes trust root bbbbbbbbbbbb and hold certificates from "
        "its issuer.")

"""Quorum loss on real Engines: swarm_node_info reports it, swarm_leave refuses, and swarm_init
force_new_cluster recovers the swarm from the surviving manager (check -> apply -> re-apply -> check).

One lab per (docker SDK, Docker Engine) combination of ``harness.matrix()`` (``harness.LABS["recovery"]``:
moda3/moda4 for SDK 5.0.3/7.x on Engine 20.10, modr5-8 for the others), 3 managers each, the swarm built with
the docker CLI. Verified here on dockerd 20.10, 26.1 and 28.5: after quorum loss /info still says active +
ControlAvailable with an empty Cluster and only Error set; GET /nodes answers 500 "The swarm does not have a
leader".
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest
from harness import Combo, Harness, check_engine, lab_for, matrix

pytestmark = [pytest.mark.lab, pytest.mark.slow]

INFO = "hive.swarm.swarm_node_info"
INIT = "hive.swarm.swarm_init"
LEAVE = "hive.swarm.swarm_leave"
COMBOS = matrix()


def poll(what: str, predicate, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


@pytest.fixture(scope="module", params=COMBOS, ids=[combo.id for combo in COMBOS])
def broken(request, lab_factory, tmp_path_factory) -> Iterator[Harness]:
    """A 3-manager swarm whose m2 and m3 engines are stopped: m1 has lost its quorum."""
    combo: Combo = request.param
    name, net = lab_for("recovery", combo)
    lab = lab_factory(name, net, managers=3, workers=0, engine=combo.engine)
    h = Harness(lab, combo.python, tmp_path_factory.mktemp(f"recovery-{combo.id}"), combo=combo)
    try:
        check_engine(lab, combo.engine)
        assert h.sdk_version().startswith(combo.major)
        break_quorum(lab, h)
        yield h
    finally:
        print(f"[{combo.id}] {h.runs} ansible runs, {h.seconds:.1f}s")
        lab.down(log=lambda _msg: None)
        lab_factory.labs.pop(name, None)


def break_quorum(lab, h: Harness) -> None:
    """m1 inits, m2 and m3 join as managers (docker CLI), then m2 and m3 stop: m1 loses its quorum."""
    m1 = lab.host("m1")
    lab.docker(m1, "swarm", "init", "--advertise-addr", m1.ip)
    token = lab.api(m1, "GET", "/swarm")["JoinTokens"]["Manager"]
    for short in ("m2", "m3"):
        lab.docker(short, "swarm", "join", "--token", token, "--advertise-addr", lab.host(short).ip, f"{m1.ip}:2377")
    poll("3 reachable managers", lambda: sum(
        1 for n in h.nodes("m1") if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable") == 3)
    h.swarm_id = h.state("m1")["Cluster"]["ID"]
    lab.stop("m2")
    lab.stop("m3")
    poll("m1 to report the lost quorum", lambda: "does not have a leader" in (h.state("m1", 60).get("Error") or ""))


def test_info_reports_the_lost_quorum(broken):
    res = broken.run("m1", INFO, {"nodes": True}).ok()
    assert res["local"]["state"] == "active" and res["local"]["control_available"] is True
    assert "does not have a leader" in res["local"]["error"]
    assert res["swarm"] is None and res["nodes"] == []
    assert res["swarm_unavailable"].startswith("This manager cannot read the swarm: rpc error")


def test_leave_refuses_when_quorum_cannot_be_checked(broken):
    res = broken.run("m1", LEAVE, {})
    assert res.failed and res["error_type"] == "QuorumError"
    assert res.msg.startswith("Cannot check the manager quorum before leaving: GET /nodes failed (500)")
    assert broken.state("m1", 60)["LocalNodeState"] == "active"


def test_plain_init_adopts_and_points_at_force_new_cluster(broken):
    res = broken.run("m1", INIT, {}).ok()
    assert not res.changed and res["swarm_id"] is None
    assert any("force_new_cluster=true" in w for w in res.warnings)


def test_force_new_cluster_recovers(broken):
    check = broken.run("m1", INIT, {"force_new_cluster": True}, check=True, diff=True).ok()
    assert check.changed and check["diff"]["after"]["force_new_cluster"] is True
    assert "does not have a leader" in (broken.state("m1", 60).get("Error") or "")

    apply, again, again_check = broken.sequence("m1", INIT, {"force_new_cluster": True}, ["apply", "apply", "check"])
    assert apply.ok().changed and apply["swarm_id"] == broken.swarm_id  # same swarm, services and all
    state = broken.state("m1")
    assert not state.get("Error") and state["Cluster"]["ID"] == broken.swarm_id
    nodes = {n["Description"]["Hostname"]: n for n in broken.nodes("m1")}
    me = nodes[broken.host("m1").name]
    assert me["ManagerStatus"]["Leader"] is True
    assert sum(1 for n in nodes.values() if n.get("ManagerStatus")) == 1  # the lost managers left the raft
    assert not again.ok().changed and any("force_new_cluster ignored" in w for w in again.warnings)
    assert not again_check.ok().changed
    info = broken.run("m1", INFO, {"nodes": True}).ok()
    assert info["swarm_unavailable"] is None and info["swarm"]["id"] == broken.swarm_id

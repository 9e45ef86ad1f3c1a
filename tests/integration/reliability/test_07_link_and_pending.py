"""Case 3 (link cut while a worker joins), case 5 (nodes stuck pending, recovered by a re-run) and case 5.1 (a
member that comes back pending for good joins anew, and its old entry goes in the same run).

Both workers start out of the swarm (left, entries removed). Case 3: rel1-w1's link is cut by a test
callback the moment the role's worker-join task starts (inventory without rel1-w2): the run reports
rel1-w1 unreachable, naming it, and converges the rest; the link is healed. Case 5: (a) with the three
managers' links cut, rel1-w1 asks to join: it stays pending; once healed it completes on its own.
(b) rel1-w2 asks to join through an address where no manager answers (black hole on the lab bridge):
it stays pending for good. One re-run (docker_swarm_join_timeout: 10) recovers it: the role waits for
the pending join to settle, makes the node leave and joins it through the live managers.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
JOIN_TASK = "Join workers | Join every new worker"


def out_of_swarm(lab: Any, host: str) -> None:
    node_id = relkit.swarm_of(lab, host).get("NodeID")
    if relkit.local_state(lab, host) != "inactive":
        lab.docker(host, "swarm", "leave", "--force")
    if node_id and any(n["ID"] == node_id for n in relkit.nodes(lab, "rel1-m1")):
        lab.docker("rel1-m1", "node", "rm", "--force", node_id)


def ask_to_join(lab: Any, host: str, ip: str, remote: str, token: str) -> None:
    """POST /swarm/join straight on the Engine; the request blocks while the join is pending: do not wait."""
    body = {"RemoteAddrs": [remote], "JoinToken": token, "ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": ip}
    try:
        lab.api(host, "POST", "/swarm/join", body, timeout=2)
    except (TimeoutError, socket.timeout):
        pass
    relkit.poll(f"{host} pending", lambda: relkit.local_state(lab, host) == "pending", 30)


def test_cut_during_join_and_pending_nodes(converged: Any, record: Any, tmp_path: Path) -> None:
    lab = converged
    token = lab.docker("rel1-m1", "swarm", "join-token", "-q", "worker").stdout.strip()
    for w in ("rel1-w1", "rel1-w2"):
        out_of_swarm(lab, w)

    case = record("3", "link cut while a worker joins")
    case.inject(f"rel1-w1's link cut when the task '{JOIN_TASK}' starts (callback); inventory without rel1-w2")
    inv = relkit.write_inventory(lab, tmp_path / "no-w2.yml", leave_out=("rel1-w2",))
    run = relkit.playbook(inv, name="cut rel1-w1 during its join", extra_env={
        "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"), "ANSIBLE_CALLBACKS_ENABLED": "rel_hooks",
        "HIVE_REL_CUT_ON": f"{JOIN_TASK}=rel1-w1"})
    assert not lab.link_up("rel1-w1"), "the callback did not cut the link"
    assert run.rc == 4 and run.unreachable_hosts == {"rel1-w1"} and not run.failed_hosts, run.recap
    failure = next(f for f in run.failures if f["unreachable"])
    assert failure["host"] == "rel1-w1" and failure["task"].endswith(JOIN_TASK)
    assert "198.18.30.14" in failure["msg"] or "rel1-w1" in failure["msg"], failure
    assert relkit.healthy(lab, ("rel1-m1", "rel1-m2", "rel1-m3"), MANAGERS) is None
    lab.heal("rel1-w1")
    case.observe(f"rc=4, rel1-w1 UNREACHABLE in '{JOIN_TASK}': '{failure['msg'][:110]}'; the managers stay healthy; "
                 f"rel1-w1 afterwards: {relkit.local_state(lab, 'rel1-w1')}; link healed")

    pending = record("5", "nodes stuck pending")
    managers_cut = list(MANAGERS)
    for m in managers_cut:
        lab.cut(m)
    try:
        ask_to_join(lab, "rel1-w1", "198.18.30.14", "198.18.30.11:2377", token)
    finally:
        for m in managers_cut:
            lab.heal(m)
    relkit.poll("rel1-w1 completes its join once healed", lambda: relkit.local_state(lab, "rel1-w1") == "active", 60)
    pending.inject("(a) managers' links cut, rel1-w1 asks to join -> pending; links healed")
    pending.observe("(a) rel1-w1 completed the join by itself after the heal")
    ask_to_join(lab, "rel1-w2", "198.18.30.15", "198.18.30.99:2377", token)
    pending.inject("(b) rel1-w2 asks to join through 198.18.30.99:2377 (no host) -> pending for good")
    state = relkit.local_state(lab, "rel1-w2")
    full = relkit.write_inventory(lab, tmp_path / "full.yml", all_vars={"docker_swarm_join_timeout": 10})
    run = relkit.playbook(full, name="re-run: recover the pending rel1-w2").ok()
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    assert run.recap["rel1-w2"]["changed"] >= 1
    case.observe("re-run after the heal: converged (see case 5)")
    pending.observe(f"(b) rel1-w2 was {state} at the re-run; the re-run made it leave and join: all 5 ready, one "
                    f"swarm (changed={run.changed})")


def point_at_nowhere(lab: Any, host: str, nowhere: str) -> None:
    """With the engine stopped: every manager address the node keeps (swarmkit's remotes in swarm/state.json, the
    join address in swarm/docker-state.json) replaced by one where no host answers - as when the managers moved while
    the node was down. The node keeps its ID and certificate; restarted, it stays pending."""
    swarm_dir = lab.host(host).data_root / "swarm"
    remotes = json.loads((swarm_dir / "state.json").read_text())
    (swarm_dir / "state.json").write_text(json.dumps([{**r, "addr": nowhere} for r in remotes]))
    conf = json.loads((swarm_dir / "docker-state.json").read_text())
    (swarm_dir / "docker-state.json").write_text(json.dumps({**conf, "RemoteAddr": nowhere}))


def test_a_member_stuck_pending_joins_anew_and_its_old_entry_goes(
        converged: Any, record: Any, tmp_path: Path) -> None:
    """Campaign seed 7 sequence 52 in a form the lab can hold: a member whose engine comes back pending and stays
    so. The run gives it half of docker_swarm_join_timeout to settle, makes it leave and join anew, and removes the
    entry it left (before, that entry stayed listed until the next run pruned it: a second run with changes, and a
    manager's stale entry counted against quorum)."""
    lab, host = converged, "rel1-w2"
    old_id = relkit.swarm_of(lab, host)["NodeID"]
    case = record("5.1", "a member that comes back pending for good joins anew; its old entry goes in the same run")
    lab.stop(host)
    point_at_nowhere(lab, host, "198.18.30.99:2377")
    lab.start(host)
    relkit.poll(f"{host} pending", lambda: relkit.local_state(lab, host) == "pending", 60)
    case.inject(f"{host} stopped, its stored manager addresses pointed at 198.18.30.99:2377 (no host), started: "
                f"pending with its node ID {old_id[:12]}")
    inv = relkit.write_inventory(lab, tmp_path / "join20.yml", all_vars={"docker_swarm_join_timeout": 20})
    before = relkit.snapshot(lab)
    check = relkit.playbook(inv, "--check", name="check: the pending member").ok()
    assert relkit.snapshot(lab) == before, "--check changed the swarm"
    row = next(line for line in check.out.splitlines() if line.startswith(host))
    assert f"join as worker (keeps node {old_id[:12]} if it settles" in row, row
    assert relkit.local_state(lab, host) == "pending"
    run = relkit.playbook(inv, name="the pending member joins anew").ok()
    new_id = relkit.swarm_of(lab, host)["NodeID"]
    listed = [n["ID"] for n in relkit.nodes(lab, "rel1-m1")]
    assert new_id and new_id != old_id and old_id not in listed and len(listed) == len(ALL), listed
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    assert check.changed == run.changed, (check.recap, run.recap)
    again = relkit.playbook(inv, name="re-run after the pending member").ok()
    assert again.changed == 0, again.recap
    case.observe(f"plan: '{row.strip()[:110]}'; --check predicted changed={check.changed} and changed nothing; the "
                 f"run converged in {run.seconds:.0f}s (changed={run.changed}): {host} joined anew as "
                 f"{new_id[:12]}, its old entry removed, healthy; re-run changed=0")

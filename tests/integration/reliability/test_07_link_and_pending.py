"""Case 3 (link cut while a worker joins) and case 5 (nodes stuck pending, recovered by a re-run).

Both workers start out of the swarm (left, entries removed). Case 3: rel1-w1's link is cut by a test
callback the moment the role's worker-join task starts (inventory without rel1-w2): the run reports
rel1-w1 unreachable, naming it, and converges the rest; the link is healed. Case 5: (a) with the three
managers' links cut, rel1-w1 asks to join: it stays pending; once healed it completes on its own.
(b) rel1-w2 asks to join through an address where no manager answers (black hole on the lab bridge):
it stays pending for good. One re-run (docker_swarm_join_timeout: 10) recovers it: the role waits for
the pending join to settle, makes the node leave and joins it through the live managers.
"""

from __future__ import annotations

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

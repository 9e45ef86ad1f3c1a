"""Cases 11, 19, 20: concurrent runs and the converge lock.

Case 11: two site.yml runs started at the same time on the same fresh inventory.

The role takes a lock directory on the first manager before it reads any state; the second run waits
for it and then finds the swarm converged. Exactly one cluster, all nodes Ready; the loser changes
nothing (or fails cleanly).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS, WORKERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_two_runs_at_once_make_one_swarm(lab: Any, inv: Path, record: Any) -> None:
    relkit.leave_all(lab)
    case = record("11", "two site.yml runs at the same time")
    case.inject("fresh lab; two site.yml runs started together on the same inventory")
    first = relkit.start_playbook(inv)
    second = relkit.start_playbook(inv)
    runs = list(relkit.finish_all({"A": first, "B": second}, "concurrent run").values())
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    clusters = {relkit.swarm_of(lab, m)["Cluster"]["ID"] for m in MANAGERS}
    assert len(clusters) == 1, clusters
    winner, loser = sorted(runs, key=lambda r: -r.changed)
    winner.ok()
    assert winner.changed > 0
    assert (loser.rc == 0 and loser.changed == 0) or loser.failures, loser.out[-3000:]
    if loser.rc == 0:
        loser.ok()
    waits = re.findall(r"waited (\d+)s for the lock", loser.out)
    waited = f"{waits[0]}s" if waits else "0s"
    case.observe(f"one cluster {clusters.pop()}, 5 nodes ready; winner changed={winner.changed} "
                 f"({winner.seconds:.0f}s), the other waited {waited} for the lock and changed "
                 f"{loser.changed}, rc={loser.rc}")


LOCK = "/run/hive-swarm-converge.lock"
M1 = MANAGERS[0]


def lock_owner(lab: Any) -> str:
    """The owner line of the converge lock on the lock host ('' when there is no lock)."""
    res = lab.exec(M1, ["cat", f"{LOCK}/owner"], check=False)
    return res.stdout.strip() if res.returncode == 0 else ""


def test_a_killed_runs_lock_is_taken_over_from_another_controller(converged: Any, inv: Path, record: Any) -> None:
    """Case 19: a run of another controller (an AWX job pod, a laptop) is killed while it holds the lock. Measured
    before: the next run waited for docker_swarm_lock_stale (1800 s; with the default docker_swarm_lock_wait of
    600 s it failed). Now its lease stops being renewed and the next run takes the lock over within 30 s."""
    lab = converged
    case = record("19", "the lock of a run killed on another controller")
    case.inject("site.yml as controller 'ctl-b' (own UTS namespace) SIGKILLed (process group) as soon as it holds "
                "the lock; site.yml from this controller at once")
    proc, _t0 = relkit.start_playbook(inv, controller="ctl-b", session=True)
    try:
        relkit.poll("the lock taken by ctl-b", lambda: proc.poll() is None and "@ctl-b " in lock_owner(lab),
                    timeout=120, interval=0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    killed = time.monotonic()
    held = lock_owner(lab)
    assert f"@ctl-b pid {proc.pid} " in held, held
    run_started = relkit.start_playbook(inv)
    try:
        relkit.poll("the lock taken over", lambda: lock_owner(lab) != held, timeout=60, interval=0.2)
    except AssertionError as err:  # say what the run was doing (it failed once in a loaded CI run, session 10)
        now = lock_owner(lab)
        run_started[0].terminate()  # it may wait docker_swarm_lock_wait for the lock
        out = run_started[0].communicate(timeout=60)[0]
        raise AssertionError(f"{err}; lock now {now!r}; the run's output:\n{out[-4000:]}") from None
    takeover = time.monotonic() - killed
    run = relkit.finish_playbook(run_started, "after the run killed on ctl-b").ok()
    broke = re.search(r"broke the lock: its lease was last renewed (\d+)s ago \(abandoned after 20s\): "
                      rf"\S+@ctl-b \(process {proc.pid}\) is gone", run.out)
    if broke:
        how = f"took the lock over {takeover:.1f}s after the kill (lease {broke[1]}s old)"
    else:
        # Killed before its first lease renewal: the worker that took the lock (Ansible's workers run in a session
        # of their own and outlive the kill) found its run gone and released the lock; it is never left without a
        # lease (that waited for docker_swarm_lock_stale in one gating run).
        assert "broke the lock" not in run.out and "no lease" not in run.out, run.out[-3000:]
        how = f"found the lock released by the killed run's own worker and took it {takeover:.1f}s after the kill"
    assert takeover < 30, takeover
    assert run.changed == 0 and relkit.healthy(lab, ALL, MANAGERS) is None
    assert not lock_owner(lab), "the lock was not released"
    case.observe(f"the next run {how} and converged in {run.seconds:.0f}s (changed=0); the lock was released at "
                 "its end")


def test_two_live_runs_from_two_controllers_are_serialized(
        converged: Any, lab: Any, record: Any, tmp_path: Path) -> None:
    """Case 20: two live runs from two controllers (this one and 'ctl-b') at the same time, with a change to make.
    The lease of the first is renewed while it runs, so the second waits (saying who holds the lock) and then
    finds the swarm converged."""
    case = record("20", "two live runs from two controllers at once")
    label = f"t{int(time.time())}"
    labelled = relkit.write_inventory(lab, tmp_path / "label.yml",
                                      host_vars={WORKERS[0]: {"docker_swarm_labels": {"case20": label}}})
    case.inject(f"a new label on {WORKERS[0]}; site.yml from this controller and as controller 'ctl-b' started "
                "together")
    runs = relkit.finish_all({"here": relkit.start_playbook(labelled),
                              "ctl-b": relkit.start_playbook(labelled, controller="ctl-b")}, "two controllers")
    winner, loser = sorted(runs.items(), key=lambda kv: -kv[1].changed)
    winner[1].ok()
    loser[1].ok()
    assert winner[1].changed > 0 and loser[1].changed == 0, (winner[1].recap, loser[1].recap)
    holder = "ctl-b" if winner[0] == "ctl-b" else socket.gethostname()
    said = re.search(rf"waited (\d+)s for the lock, held by \S+@{re.escape(holder)} \(process \d+\) for \d+s, "
                     r"lease renewed \d+s ago", loser[1].out)
    assert said, loser[1].out[-3000:]
    assert "Waiting for the converge lock" in loser[1].out
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    listed = {n["Description"]["Hostname"]: n["Spec"] for n in relkit.nodes(lab, M1)}
    assert listed[WORKERS[0]]["Labels"].get("case20") == label
    assert not lock_owner(lab), "the lock was not released"
    case.observe(f"the run on '{winner[0]}' converged (changed={winner[1].changed}, {winner[1].seconds:.0f}s); the "
                 f"run on '{loser[0]}' printed '{said[0]}' and converged with changed=0 ({loser[1].seconds:.0f}s)")

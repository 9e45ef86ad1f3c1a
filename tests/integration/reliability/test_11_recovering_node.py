"""Cases 14-18: recovering nodes, silent hosts, a killed run's lock, force_rejoin on a fresh inventory, no host.

Case 14: a no-change site.yml right after a worker's link came back.

Measured before: the swarm still listed the node as down for a few seconds after the link came back, and the
run failed "The swarm is not healthy: rel1-w2: down" at once. What an operator expects: the run waits (with
the role's deadline) for the node the swarm is about to mark Ready, then reports the swarm healthy and changes
nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS, WORKERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LOCK = "/run/hive-swarm-converge.lock"
M1, (W1, W2) = MANAGERS[0], WORKERS


def state_of(lab: Any, host: str) -> str:
    listed = {n["Description"]["Hostname"]: n for n in relkit.nodes(lab, M1)}
    return str(listed[host]["Status"]["State"])


def test_no_change_run_waits_for_a_node_that_is_coming_back(converged: Any, inv: Path, record: Any) -> None:
    lab = converged
    case = record("14", "no-change run right after a worker's link came back")
    case.inject(f"{W2}'s link cut until the swarm lists it down, then healed; site.yml at once")
    lab.cut(W2)
    try:
        relkit.poll(f"{W2} listed down", lambda: state_of(lab, W2) == "down", timeout=60)
    finally:
        lab.heal(W2)
    seen = state_of(lab, W2)
    run = relkit.playbook(inv, name=f"no-change run, {W2} just back").ok()
    assert run.changed == 0, run.recap
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    case.observe(f"{W2} was '{seen}' when the run started; the run waited for it and reported the swarm "
                 f"healthy in {run.seconds:.0f}s, changed=0")


def test_a_host_that_stops_answering_fails_instead_of_hanging(converged: Any, record: Any, tmp_path: Path) -> None:
    """Case 16: a worker's link is cut right after a run, while the controller still holds an SSH master connection
    to it. Measured before (Ansible's SSH defaults, no keepalive): the next site.yml hung in the probe until it was
    killed after 10 minutes. With the shipped ansible.cfg (ServerAlive 5 s x 3) that host fails as unreachable and
    the run ends; the others converge. The inventory here is the lab's own, without the suite's extra SSH options."""
    lab = converged
    case = record("16", "a host stops answering while an SSH master connection is open")
    inv = lab.write_inventory(tmp_path / "plain.yml")
    relkit.playbook(inv, name="plain inventory: converged run (opens the master connections)").ok()
    case.inject(f"site.yml (master connections open), then {W2}'s link cut; site.yml again at once")
    lab.cut(W2)
    try:
        run = relkit.playbook(inv, name=f"{W2} silent", timeout=300)
    finally:
        lab.heal(W2)
    assert run.unreachable_hosts == {W2}, run.recap
    assert not run.failed_hosts - {W2}, run.recap
    reason = next(f["msg"] for f in run.failures if f["host"].startswith(W2))
    relkit.poll(f"{W2} ready again", lambda: state_of(lab, W2) == "ready", timeout=60)
    case.observe(f"{W2} failed as unreachable ('{reason[:80]}'), the run ended after {run.seconds:.0f}s "
                 "and the other four hosts stayed converged")


def test_a_killed_runs_lock_is_taken_over_by_the_next_run(converged: Any, inv: Path, record: Any) -> None:
    """Case 17: a run is killed (SIGKILL, like a lost terminal) while it holds the converge lock. Measured before:
    the next run waited docker_swarm_lock_wait (600 s), then failed asking to remove the lock by hand; the lock
    expired only after 1800 s. Now the next run on this controller sees that the holder's process is gone and
    breaks the lock at once."""
    lab = converged
    case = record("17", "the lock of a killed run")
    case.inject("site.yml killed (SIGKILL to its process group) as soon as it holds the lock; site.yml again")
    argv = [str(relkit.BIN / "ansible-playbook"), "-i", str(inv), "site.yml"]
    proc = subprocess.Popen(argv, cwd=relkit.REPO, env=relkit.env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        relkit.poll("the lock taken", lambda: proc.poll() is None and lab.exec(
            M1, ["test", "-d", LOCK], check=False).returncode == 0, timeout=120, interval=0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert lab.exec(M1, ["test", "-d", LOCK], check=False).returncode == 0, "the killed run left no lock"
    run = relkit.playbook(inv, name="after the killed run").ok()
    assert f"broke the lock: its holder, process {proc.pid} on this controller, is gone" in run.out
    assert run.changed == 0 and relkit.healthy(lab, ALL, MANAGERS) is None
    assert lab.exec(M1, ["test", "-d", LOCK], check=False).returncode != 0, "the lock was not released"
    case.observe(f"the next run broke the lock of process {proc.pid} at once and converged in {run.seconds:.0f}s "
                 "(changed=0); the lock was released at its end")


def test_force_rejoin_on_a_fresh_inventory(lab: Any, inv: Path, record: Any, tmp_path: Path) -> None:
    """Case 18: no swarm yet, and one worker is the only manager of a foreign single-node swarm. Measured before:
    even with docker_swarm_force_rejoin: true the run refused ("in a swarm that no inventory manager is in; the
    role will not adopt it or create another"). With the force option the user has said what to do: the worker
    leaves, the inventory's swarm is created, the worker joins it."""
    relkit.leave_all(lab)
    lab.docker(W1, "swarm", "init", "--advertise-addr", relkit.ip_of(lab, W1))
    foreign = relkit.swarm_of(lab, W1)["Cluster"]["ID"]
    case = record("18", "force_rejoin on a fresh inventory")
    case.inject(f"every engine inactive but {W1}, the only manager of swarm {foreign}; site.yml with "
                "docker_swarm_force_rejoin: true")
    force = relkit.write_inventory(lab, tmp_path / "force.yml", all_vars={"docker_swarm_force_rejoin": True})
    run = relkit.playbook(force, name=f"fresh inventory, {W1} in a foreign swarm, force_rejoin").ok()
    assert "leave its swarm, join as worker" in run.out
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    clusters = {relkit.swarm_of(lab, h)["Cluster"]["ID"] for h in MANAGERS}
    assert len(clusters) == 1 and foreign not in clusters, clusters
    assert relkit.playbook(force, name="force_rejoin re-run").ok().changed == 0
    case.observe(f"swarm {clusters.pop()} created on {M1}, {W1} left {foreign} and joined it as a worker; "
                 f"5 nodes ready; re-run changed=0")


def test_every_host_unreachable_fails_loudly(record: Any, tmp_path: Path) -> None:
    """Case 15: no host of the inventory answers SSH (wrong address, VPN down). Measured before: rc=2, a recap of
    failed=0 unreachable=0 and no sentence (the unreachable lock task, run_once, ended the play silently)."""
    case = record("15", "every host unreachable")
    hosts = {"x-m1": "manager", "x-m2": "manager", "x-w1": "worker"}
    inv = tmp_path / "unreachable.yml"
    groups: dict[str, Any] = {"docker_swarm_manager": {"hosts": {}}, "docker_swarm_worker": {"hosts": {}}}
    for host, role in hosts.items():  # loopback, a closed port: refused at once, no traffic leaves the machine
        hostvars = {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "root"}
        groups[f"docker_swarm_{role}"]["hosts"][host] = hostvars
    inv.write_text(json.dumps({"all": {"children": {"docker_swarm": {"children": groups}}}}))
    case.inject("inventory of 3 hosts whose SSH port refuses connections; site.yml")
    run = relkit.playbook(inv, name="every host unreachable")
    assert run.rc != 0
    assert run.unreachable_hosts == set(hosts), run.recap
    reasons = {f["host"]: f["msg"] for f in run.failures if f["unreachable"]}
    assert set(reasons) >= set(hosts) and all("Connection refused" in m for m in reasons.values()), reasons
    assert "could not take the converge lock on x-m1 (unreachable" in run.out
    case.observe(f"rc={run.rc}, every host UNREACHABLE with its reason ('{reasons['x-w1'][:90]}'), "
                 "the lock warning printed; nothing else ran")

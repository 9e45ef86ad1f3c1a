"""Case 12 (the plan is shown before any change and matches what the run does) and case 13 (preflight: a
blocked swarm port stops the run before any change).

Case 12: on a fresh lab, ``site.yml --check`` prints the plan table and writes it (docker_swarm_plan_file);
the real run writes the same plan, and afterwards the engines show exactly what it said, host by host: the
control manager created the swarm, the planned managers and workers joined with those roles, hosts with
no action were not touched, and the labels planned for a host are on its node.
Case 13: with 7946/tcp dropped inside rel1-w1's network namespace (iptables in the host, as a host
firewall would), the fresh-lab run fails in the preflight, naming the port, rel1-w1 and the hosts that
cannot reach it; nothing changes on any engine. Without the preflight (before it existed) that run
converged and reported the swarm healthy although rel1-w1's gossip over TCP was cut. Unblocked, the
same inventory converges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LABELS = {"rel1-w2": {"docker_swarm_labels": {"zone": "b"}}}


def plan_of(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())["plan"]


def test_preflight_blocked_port_stops_before_any_change(lab: Any, inv: Path, record: Any, tmp_path: Path) -> None:
    relkit.leave_all(lab)
    case = record("13", "preflight: a blocked swarm port")
    lab.block("rel1-w1", 7946, "tcp")
    try:
        case.inject("all engines inactive; 7946/tcp dropped (iptables INPUT DROP) inside rel1-w1; site.yml")
        before = relkit.snapshot(lab)
        run = relkit.playbook(inv, name="preflight: 7946/tcp blocked on rel1-w1")
        msg = run.failed_with("Preflight failed: 7946/tcp on rel1-w1 (198.18.30.14) is not reachable from",
                              "rel1-m1 (timeout)", "Nothing was changed")
        for source in ("rel1-m2", "rel1-m3", "rel1-w2"):
            assert f"{source} (timeout)" in msg, msg
        problems = msg.split(". Swarm needs")[0]
        assert "2377/tcp" not in problems and "udp" not in problems, "only the blocked port is named"
        assert run.changed == 0 and relkit.snapshot(lab) == before
        assert all(relkit.local_state(lab, h) == "inactive" for h in ALL)
        case.observe(f"refused before any change: '{msg[:190]}...'; engines identical, all inactive")
    finally:
        lab.unblock("rel1-w1")
    case.inject("then the block removed, the same site.yml")
    run = relkit.playbook(inv, name="preflight: unblocked").ok()
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    case.observe(f"converged: 5 nodes ready, one swarm (changed={run.changed})")


def test_plan_shown_in_check_matches_the_real_run(lab: Any, record: Any, tmp_path: Path) -> None:
    relkit.leave_all(lab)
    case = record("12", "the plan: shown in --check, done by the run")
    checked, applied = tmp_path / "check-plan.json", tmp_path / "real-plan.json"
    check_inv = relkit.write_inventory(lab, tmp_path / "check.yml", host_vars=LABELS,
                                       all_vars={"docker_swarm_plan_file": str(checked)})
    real_inv = relkit.write_inventory(lab, tmp_path / "real.yml", host_vars=LABELS,
                                      all_vars={"docker_swarm_plan_file": str(applied)})
    case.inject("fresh lab, label zone=b on rel1-w2; site.yml --check, then site.yml (both write the plan as JSON)")
    before = relkit.snapshot(lab)
    check = relkit.playbook(check_inv, "--check", name="plan: --check on a fresh lab").ok()
    assert relkit.snapshot(lab) == before, "--check changed the engines"
    predicted = plan_of(checked)
    for line in predicted["table"]:
        assert line in check.out, f"the table line {line!r} is not in the --check output"
    assert predicted["summary"] in check.out
    assert predicted["summary"].startswith("init 1, join 2 managers + 2 workers, promote 0, demote 0, prune 0")

    real = relkit.playbook(real_inv, name="plan: the real run").ok()
    assert check.changed == real.changed, f"check predicted {check.changed} changes, the run made {real.changed}"
    done = plan_of(applied)
    keys = ("control", "bootstrap", "manager_joiners", "worker_joiners", "promote", "demote", "stale", "removals",
            "node_updates", "table", "summary")
    assert {k: done[k] for k in keys} == {k: predicted[k] for k in keys}, "check and real run planned differently"
    assert predicted["table"][0].split() == ["HOST", "NOW", "PLANNED"]
    rows = {line.split()[0]: line for line in predicted["table"][1:]}
    assert set(rows) == set(ALL)
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    listed = {n["Description"]["Hostname"]: n for n in relkit.nodes(lab, "rel1-m1")}
    control = predicted["control"]
    assert "init (creates the swarm)" in rows[control]
    for host in ALL:
        role = listed[host]["Spec"]["Role"]
        if host in predicted["manager_joiners"]:
            assert "join as manager" in rows[host] and role == "manager", (host, rows[host], role)
        elif host in predicted["worker_joiners"]:
            assert "join as worker" in rows[host] and role == "worker", (host, rows[host], role)
        else:
            assert host == control and role == "manager"
    assert "labels zone=b" in rows["rel1-w2"] and listed["rel1-w2"]["Spec"]["Labels"] == {"zone": "b"}
    assert (listed["rel1-w1"]["Spec"].get("Labels") or {}) == {}
    case.observe(f"--check printed {len(predicted['table'])} table lines + '{predicted['summary']}'; the real run "
                 f"planned the same; engines afterwards: {control} created the swarm, "
                 f"{', '.join(predicted['manager_joiners'])} managers, {', '.join(predicted['worker_joiners'])} "
                 f"workers, zone=b on rel1-w2 (check changed={check.changed}, real changed={real.changed})")

    case.inject("then site.yml --check and site.yml again (converged)")
    again = relkit.playbook(check_inv, "--check", name="plan: --check converged").ok()
    assert again.changed == 0
    assert "init 0, join 0 managers + 0 workers, promote 0, demote 0, prune 0, remove 0, update 0 nodes" in again.out
    assert all(line.split()[-1] == "-" for line in plan_of(checked)["table"][1:])
    case.observe("converged: every row '-', summary all zeros, changed=0")

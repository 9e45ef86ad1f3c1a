"""playbooks/recover.yml against real lab engines (lab rcv1, net 47: 3 managers + 1 worker, Engine 20.10).

The scenario, in file order: site.yml converges the lab and a service of 4 replicas of the lab image runs; the
engines of m2 and m3 stop, and m1 reports the lost quorum ("The swarm does not have a leader"). recover.yml --check
prints the plan and changes nothing; -e recover_from=m2 (its engine stopped) is refused, nothing changed; without
-e confirm_recover=yes it prints the plan and stops, nothing changed; with it m1 forces a new cluster, leads, and
the entries of m2 and m3 are gone - within 120 s of the run's start, same swarm ID, same service IDs. A second
recover.yml says there is nothing to recover (changed=0, rc 0). Then m2 and m3 start again with their old raft
state (on Engine 20.10 they first show pending, then, two of the old three, elect a leader of their own: a split
brain with the same swarm ID); site.yml makes them leave it and join m1's swarm as managers: 3 reachable managers,
one swarm, the worker Ready; site.yml again changes nothing. No join token or unlock key shows in any output. The
measured times are printed at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hivelab
import pytest
from test_site import Run, nodes, playbook, swarm, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME, NET = "rcv1", 47
M1, M2, M3, W1 = (f"{NAME}-{h}" for h in ("m1", "m2", "m3", "w1"))
MANAGERS = (M1, M2, M3)
SECRETS = ("SWMTKN-", "SWMKEY-")
NO_LEADER = "does not have a leader"
RECOVER_BUDGET = 120.0
TIMES: dict[str, float] = {}
RUNS: list[Run] = []
STATE: dict[str, Any] = {}


def wait_for(what: str, predicate: Any, timeout: float = 90) -> float:
    """Poll ``predicate`` until true or the deadline; returns the seconds it took."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.5)
    return time.monotonic() - start


def run(inv: Path, *args: str, name: str, playbook_path: str = "playbooks/recover.yml") -> Run:
    result = playbook(inv, *args, name=name, playbook_path=playbook_path)
    RUNS.append(result)
    TIMES[name] = round(result.seconds, 1)
    return result


def lost(lab: hivelab.Lab) -> bool:
    """m1 reports the lost quorum (/info may take long to answer while it still tries to elect a leader)."""
    try:
        return NO_LEADER in (lab.api(M1, "GET", "/info", timeout=60)["Swarm"].get("Error") or "")
    except OSError:
        return False


def service_ids(lab: hivelab.Lab, host: str = M1) -> set[str]:
    return {s["ID"] for s in lab.api(host, "GET", "/services")}


def by_host(lab: hivelab.Lab, via: str) -> dict[str, dict[str, Any]]:
    return {n["Description"]["Hostname"]: n for n in nodes(lab, via)}


@pytest.fixture(scope="module", autouse=True)
def report() -> Any:
    yield
    print("\nrecover.yml times (s): " + json.dumps(TIMES))
    for result in RUNS:
        for secret in SECRETS:
            assert secret not in result.out


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> hivelab.Lab:
    return lab_factory(NAME, NET, managers=3, workers=1)


@pytest.fixture(scope="module")
def inv(lab: hivelab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converged 3+1 with a service of 4 replicas; then m2's and m3's engines stop and m1 loses the quorum."""
    path = write_inventory(lab, tmp_path_factory.mktemp(NAME) / "inventory.yml")
    run(path, name="site.yml converge 3+1", playbook_path="site.yml").ok()
    lab.docker(
        M1, "service", "create", "--detach", "--name", "web", "--replicas", "4", hivelab.IMAGE, "sleep", "1000000"
    )
    wait_for(
        "4 running replicas",
        lambda: sum(1 for t in lab.api(M1, "GET", "/tasks") if t["Status"]["State"] == "running") == 4,
    )
    STATE.update(
        swarm_id=swarm(lab, M1)["Cluster"]["ID"],
        services=service_ids(lab),
        node_ids={h: swarm(lab, h)["NodeID"] for h in (*MANAGERS, W1)},
    )
    lab.stop(M2)
    lab.stop(M3)
    TIMES["quorum loss seen"] = round(wait_for("m1 to report the lost quorum", lambda: lost(lab)), 1)
    return path


def test_check_prints_the_plan_and_changes_nothing(lab: hivelab.Lab, inv: Path) -> None:
    # one read per manager (the quorum loss was seen above; the real run keeps the default re-reads)
    check = run(inv, "--check", "-e", "recover_probe_reads=1", name="recover --check").ok()
    assert f"Recovery of swarm {STATE['swarm_id']}: its managers lost their quorum (rcv1-m1 says:" in check.out
    assert f"  survivor: {M1} (node {STATE['node_ids'][M1][:12]})" in check.out
    for host in (M2, M3):
        assert f"{host} ({STATE['node_ids'][host][:12]}, " in check.out
    assert "Check mode: nothing was changed." in check.out
    assert lost(lab), "--check must leave the lost quorum as it is"


def test_an_unusable_survivor_is_refused_and_nothing_changes(lab: hivelab.Lab, inv: Path) -> None:
    args = ("-e", f"recover_from={M2}", "-e", "confirm_recover=yes", "-e", "recover_probe_reads=1")
    refused = run(inv, *args, name="recover_from a stopped engine")
    assert refused.proc.returncode != 0 and refused.changed == 0
    assert f"Refusing to recover from {M2}: its engine could not be read (Cannot connect to the engine" in refused.out
    assert "Nothing was changed." in refused.out
    assert lost(lab)


def test_without_confirmation_nothing_changes(lab: hivelab.Lab, inv: Path) -> None:
    refused = run(inv, "-e", "recover_probe_reads=1", name="recover without confirmation")
    assert refused.proc.returncode != 0 and refused.changed == 0
    assert "Nothing was changed: confirm the recovery with -e confirm_recover=yes." in refused.out
    assert f"  survivor: {M1}" in refused.out, "the plan is printed before the refusal"
    assert lost(lab)


def test_recover_makes_m1_a_working_manager_within_budget(lab: hivelab.Lab, inv: Path) -> None:
    t0 = time.monotonic()
    result = run(inv, "-e", "confirm_recover=yes", name="recover -e confirm_recover=yes").ok()
    listed = by_host(lab, M1)  # answers: GET /nodes works again
    working = time.monotonic() - t0
    TIMES["recover: m1 working manager (from run start)"] = round(working, 1)
    assert working <= RECOVER_BUDGET, f"recovery took {working:.1f}s (budget {RECOVER_BUDGET:.0f}s)"
    assert result.changed > 0
    recovered = f"Swarm {STATE['swarm_id']} recovered on {M1}: leader, 2 nodes, 1 of 1 manager reachable, 1 service"
    assert f"{recovered} kept." in result.out
    info = swarm(lab, M1)
    assert not info.get("Error") and info["Cluster"]["ID"] == STATE["swarm_id"]
    assert sorted(listed) == [M1, W1], "the lost managers' entries are removed"
    assert listed[M1]["ManagerStatus"]["Leader"] is True
    assert service_ids(lab) == STATE["services"], "every service is still defined, same IDs"
    wait_for("w1 Ready", lambda: by_host(lab, M1)[W1]["Status"]["State"] == "ready")


def test_a_second_run_has_nothing_to_recover(lab: hivelab.Lab, inv: Path) -> None:
    again = run(inv, "-e", "confirm_recover=yes", name="recover again").ok()
    assert again.changed == 0
    assert f"Nothing to recover: the managers of swarm {STATE['swarm_id']} have their quorum" in again.out
    assert "Use site.yml" in again.out


def test_stale_managers_come_back_and_site_makes_them_managers_again(lab: hivelab.Lab, inv: Path) -> None:
    lab.start(M2)
    lab.start(M3)
    converge = run(inv, name="site.yml with m2, m3 back (stale raft)", playbook_path="site.yml").ok()
    assert converge.changed > 0
    rows = [row for row in converge.out.splitlines() if row.startswith((f"{M2} ", f"{M3} ")) and " : ok=" not in row]
    assert len(rows) == 2 and all(
        row.endswith("leave its stale raft (dropped by the swarm), join as manager") for row in rows
    ), rows
    ids = {h: swarm(lab, h)["Cluster"]["ID"] for h in MANAGERS}
    assert set(ids.values()) == {STATE["swarm_id"]}, ids
    for via in MANAGERS:  # every manager lists the same swarm: no second raft left
        listed = by_host(lab, via)
        assert sorted(listed) == sorted((*MANAGERS, W1)), via
        managers = [n for n in listed.values() if n["Spec"]["Role"] == "manager"]
        assert len(managers) == 3 and all(n["ManagerStatus"]["Reachability"] == "reachable" for n in managers)
        assert sum(1 for n in managers if n["ManagerStatus"].get("Leader")) == 1
        assert listed[W1]["Status"]["State"] == "ready"
    assert swarm(lab, W1)["NodeID"] == STATE["node_ids"][W1], "the worker kept its node"
    assert service_ids(lab, M2) == STATE["services"]


def test_site_again_changes_nothing(lab: hivelab.Lab, inv: Path) -> None:
    again = run(inv, name="site.yml again", playbook_path="site.yml").ok()
    assert again.changed == 0

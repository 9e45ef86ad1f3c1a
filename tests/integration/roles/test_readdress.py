"""site.yml re-addresses managers one at a time (issue 13 item 4, moby#41043), sampled every second.

Lab adr1 (net 48): 3 managers + 1 worker, converged by site.yml, a service of 4 replicas of the lab image. The
three managers move one after the other; each time the lab changes the host's IP (``Lab.readdress``), the
inventory follows and site.yml runs:

* adr1-m1, host first: the old address is gone before the run (the engine still advertises it and is cut off
  from the raft: without the role's move it stays so for good);
* adr1-m2 and the worker adr1-w1, inventory first: the hosts have both addresses during the run (the new one
  primary), the old ones are removed afterwards; the manager moves first, then the worker (leave, remove the
  old entry, join again: its engine, too, keeps advertising the old address otherwise);
* adr1-m3, host first, with a ``--check`` run before: it prints the same move and changes nothing.

Then (campaign seed 7 sequence 29) adr1-m1 moves again, host first, while the worker, made to leave, joins as a
fourth manager in the same run: the move comes before the join, and no sample falls below the quorum.

A sampler reads the swarm every second from the first manager that answers (over the engines' unix sockets,
not the lab network): running replicas, reachable managers, the cluster ID. After each move: 3 reachable
managers at the new addresses, one cluster. At the end site.yml and ``--check --diff`` change nothing. The
sampled numbers and the run times are printed (pytest -s).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import hivelab
import pytest
import yaml
from test_site import playbook, write_inventory
from test_upgrade import Sampler, wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME, NET = "adr1", 48
MANAGERS = tuple(f"{NAME}-m{i}" for i in (1, 2, 3))
REPLICAS = 4
WORKER = f"{NAME}-w1"
# host, new address, which changes first, hosts moved in the same run (the worker: leave, remove, join again)
MOVES = ((f"{NAME}-m1", f"198.18.{NET}.21", "host", {}),
         (f"{NAME}-m2", f"198.18.{NET}.22", "inventory", {WORKER: f"198.18.{NET}.24"}),
         (f"{NAME}-m3", f"198.18.{NET}.23", "host", {}))
RESULTS: dict[str, Any] = {}


class ServiceSampler(Sampler):
    """test_upgrade's sampler for this lab's managers and its one service."""

    def _read(self) -> dict[str, Any] | None:
        """Every manager that answers is read, except one whose engine advertises an address its host no longer
        has: cut off from the raft, it still answers for a while with a stale view (the others unreachable).
        The sample is the view with the most reachable managers."""
        views = []
        for manager in MANAGERS:
            try:
                info = self.lab.api(manager, "GET", "/info", timeout=3)
                own = {self.lab.host(manager).ip, *self.lab.extra_addresses(manager)}
                if not info["Swarm"].get("ControlAvailable") or info["Swarm"].get("NodeAddr") not in own:
                    continue
                nodes = self.lab.api(manager, "GET", "/nodes", timeout=3)
                tasks = self.lab.api(manager, "GET", "/tasks", timeout=3)
            except (hivelab.LabError, OSError, KeyError, ValueError):
                continue
            views.append({"via": manager, "cluster": info["Swarm"]["Cluster"]["ID"],
                          "managers": sum(1 for n in nodes if n.get("ManagerStatus")),
                          "reachable": sum(1 for n in nodes
                                           if (n.get("ManagerStatus") or {}).get("Reachability") == "reachable"),
                          "web": sum(1 for t in tasks if t["Status"]["State"] == "running"
                                     and t["DesiredState"] == "running")})
        if not views:
            return None
        return {**max(views, key=lambda v: v["reachable"]), "answered": len(views)}

    def take(self) -> None:
        start = time.time()  # stamped when the read starts (a read may take seconds)
        sample = self._read()
        self.samples.append({"t": start, **(sample or {"via": None})})

    def summary(self, windows: list[tuple[float, float]] | None = None) -> dict[str, Any]:
        """The numbers of the samples taken within ``windows`` (time.time() spans; None: all samples)."""
        taken = [s for s in self.samples if windows is None or any(a <= s["t"] <= b for a, b in windows)]
        read = [s for s in taken if s["via"]]
        return {"samples": len(taken), "unread": len(taken) - len(read),
                "min_reachable": min((s["reachable"] for s in read), default=None),
                "min_web": min((s["web"] for s in read), default=None),
                "clusters": sorted({s["cluster"] for s in read})}


def managers_by_host(lab: hivelab.Lab) -> dict[str, dict[str, Any]]:
    """host -> its node entry, read from the first manager that lists the nodes."""
    for manager in MANAGERS:
        try:
            nodes = lab.api(manager, "GET", "/nodes", timeout=5)
        except (hivelab.LabError, OSError):
            continue
        return {n["Description"]["Hostname"]: n for n in nodes if n.get("ManagerStatus")}
    raise AssertionError("no manager lists the nodes")


def settled(lab: hivelab.Lab, addrs: dict[str, str]) -> bool:
    """Every manager Reachable at its expected address, as a manager lists them."""
    try:
        managers = managers_by_host(lab)
    except AssertionError:
        return False
    return ({h: m["ManagerStatus"]["Addr"] for h, m in managers.items()} == {h: f"{a}:2377" for h, a in addrs.items()}
            and all(m["ManagerStatus"]["Reachability"] == "reachable" for m in managers.values()))


@pytest.fixture(scope="module", autouse=True)
def report() -> Any:
    yield
    samples = RESULTS.pop("samples", [])
    t0 = samples[0]["t"] if samples else 0
    print("\nre-address results: " + json.dumps(RESULTS, indent=1))
    print("samples (s since start: via/answered reachable web): " + " ".join(
        f"{s['t'] - t0:.0f}:{s.get('via') or '-'}/{s.get('answered', 0)}:{s.get('reachable')}:{s.get('web')}"
        for s in samples))


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> hivelab.Lab:
    return lab_factory(NAME, NET, managers=3, workers=1)


@pytest.fixture(scope="module")
def inv(lab: hivelab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_inventory(lab, tmp_path_factory.mktemp(NAME) / "inventory.yml")
    RESULTS["converge s"] = round(playbook(path, name="converge 3+1").ok().seconds, 1)
    lab.docker(MANAGERS[0], "service", "create", "--detach", "--name", "web", "--replicas", str(REPLICAS),
               hivelab.IMAGE, "sleep", "1000000")
    wait_for(f"{REPLICAS} running replicas", lambda: len([t for t in lab.api(MANAGERS[0], "GET", "/tasks")
                                                          if t["Status"]["State"] == "running"]) == REPLICAS)
    return path


def test_managers_move_one_at_a_time(lab: hivelab.Lab, inv: Path) -> None:
    cluster = lab.info(MANAGERS[0])["Swarm"]["Cluster"]["ID"]
    addrs = {h: lab.host(h).ip for h in MANAGERS}
    steps = []
    windows: list[tuple[float, float]] = []
    sampler = ServiceSampler(lab)
    RESULTS["samples"] = sampler.samples
    with sampler:
        for host, new, first, also in MOVES:
            old = addrs[host]
            lines = [f"re-address {host}: {old} -> {new}",
                     *[f"re-address {h}: {lab.host(h).ip} -> {a}" for h, a in also.items()]]
            t0 = time.monotonic()
            for moving, addr in {host: new, **also}.items():
                lab.readdress(moving, addr, keep_old=first == "inventory")
            write_inventory(lab, inv)
            election = 0.0
            if first == "host":
                # The swarm notices: a leader that lost its address is replaced (the managers answer nothing
                # meanwhile). That is the lab's doing, before the role runs; the sampler's numbers that count
                # are those taken while site.yml runs.
                wait_for("a leader among the managers that kept their address", lambda: sampler._read() is not None,
                         timeout=90)
                election = time.monotonic() - t0
            if host == MOVES[-1][0]:
                node_id = managers_by_host(lab)[host]["ID"]  # its own /info blocks while it is cut off
                start = time.time()
                check = playbook(inv, "--check", name=f"--check before moving {host}")
                windows.append((start, time.time()))
                check.ok()
                assert all(line in check.out for line in lines) and check.changed > 0, check.out[-4000:]
                assert managers_by_host(lab)[host]["ID"] == node_id, "--check changed the node"
            start = time.time()
            run = playbook(inv, name=f"move {host} ({first} first)")
            windows.append((start, time.time()))
            (inv.parent / f"move-{host}.log").write_text(run.out)
            run.ok()
            assert all(line in run.out for line in lines) and run.changed > 0, run.out[-4000:]
            addrs[host] = new
            settle = 0.0
            if first == "inventory":
                # The old address goes once the swarm uses the new one. Connections the engine opened from it
                # (the old one stays the primary address, the source of outgoing connections) break: wait until
                # the swarm has settled again.
                for moving, addr in {host: new, **also}.items():
                    lab.readdress(moving, addr)
                t1 = time.monotonic()
                wait_for("3 reachable managers after the old address went",
                         lambda: settled(lab, addrs), timeout=90)
                settle = time.monotonic() - t1
            assert settled(lab, addrs), managers_by_host(lab)
            assert lab.info(host)["Swarm"]["NodeAddr"] == new
            assert lab.info(host)["Swarm"]["Cluster"]["ID"] == cluster
            for moving, addr in also.items():  # the worker: its engine and its entry show the new address
                assert lab.info(moving)["Swarm"]["NodeAddr"] == addr
                entry = next(n for n in lab.api(host, "GET", "/nodes") if n["Description"]["Hostname"] == moving)
                assert entry["Status"]["State"] == "ready" and entry["Status"]["Addr"] == addr, entry["Status"]
            steps.append({"host": ", ".join([host, *also]), "first": first, "election s": round(election, 1),
                          "run s": round(run.seconds, 1), "settle s": round(settle, 1),
                          "step s": round(time.monotonic() - t0, 1)})
            print(f"[step {host}] {json.dumps(steps[-1])} sampled in the runs so far "
                  f"{json.dumps(sampler.summary(windows))}")
    during, overall = sampler.summary(windows), sampler.summary()
    RESULTS.update({"steps": steps, "sampled during the site.yml runs": during, "sampled overall": overall})
    print(f"[re-address 3 managers] {json.dumps({'steps': steps, 'runs': during, 'overall': overall})}")
    assert overall["clusters"] == [cluster], overall
    assert during["unread"] == 0 and during["min_reachable"] >= 2, during
    assert overall["min_reachable"] >= 2 and overall["min_web"] >= 1, overall


def test_a_rerun_changes_nothing(inv: Path) -> None:
    assert playbook(inv, name="re-run after the moves").ok().changed == 0


def test_check_diff_changes_nothing(inv: Path) -> None:
    assert playbook(inv, "--check", "--diff", name="--check --diff after the moves").ok().changed == 0


def test_a_manager_moves_while_a_new_manager_joins(lab: hivelab.Lab, inv: Path) -> None:
    """Campaign seed 7 sequence 29: a manager's address goes away (host first) and a new manager joins in the
    same run. The move comes first: a manager joining while the moved one is unreachable makes the raft need the
    joiner for its quorum (3 of 4), and its join went through the lost address first (20 s each, then on in the
    background). Before, the joins came first: the join timed out through every address, each attempt left one
    more unreachable member, and the swarm lost its quorum."""
    host, new = MANAGERS[0], f"198.18.{NET}.31"
    lab.docker(WORKER, "swarm", "leave", "--force")  # the worker comes back as a new manager
    lab.readdress(host, new)
    wait_for("a leader among the managers that kept their address",
             lambda: ServiceSampler(lab)._read() is not None, timeout=90)
    write_inventory(lab, inv)
    data = yaml.safe_load(inv.read_text())
    groups = data["all"]["children"]["docker_swarm"]["children"]
    groups["docker_swarm_manager"]["hosts"][WORKER] = groups["docker_swarm_worker"]["hosts"].pop(WORKER)
    inv.write_text(yaml.safe_dump(data))
    sampler = ServiceSampler(lab)
    with sampler:
        run = playbook(inv, name=f"move {host} while {WORKER} joins as a manager")
    (inv.parent / "move-and-join.log").write_text(run.out)
    run.ok()
    moved = run.out.index(f"Re-address | Join again with the new address {host}")
    joined = run.out.index(f"Join managers | Join as manager {WORKER}")
    assert moved < joined, "the new manager joined before the moved one was back"
    addrs = {**{h: lab.host(h).ip for h in MANAGERS}, WORKER: lab.host(WORKER).ip}
    wait_for("4 reachable managers at their addresses", lambda: settled4(lab, addrs), timeout=60)
    summary = sampler.summary()
    # reachable managers minus the quorum of the listed ones, lowest sample (a manager counted before it is
    # reachable: the joiner, the moved one between its join and its first heartbeat)
    margins = [s["reachable"] - (s["managers"] // 2 + 1) for s in sampler.samples if s["via"]]
    summary["min_quorum_margin"] = min(margins, default=None)
    RESULTS["move and join"] = {"run s": round(run.seconds, 1), "changed": run.changed, "sampled": summary}
    print(f"[move {host} while {WORKER} joins] {json.dumps(RESULTS['move and join'])}")
    assert summary["clusters"] and len(summary["clusters"]) == 1, summary
    assert summary["min_quorum_margin"] is not None and summary["min_quorum_margin"] >= 0, summary
    assert playbook(inv, name="re-run after the move and the join").ok().changed == 0


def settled4(lab: hivelab.Lab, addrs: dict[str, str]) -> bool:
    """``settled`` for the managers in ``addrs`` (the worker that became one included)."""
    for manager in MANAGERS:
        try:
            nodes = lab.api(manager, "GET", "/nodes", timeout=5)
        except (hivelab.LabError, OSError):
            continue
        managers = {n["Description"]["Hostname"]: n for n in nodes if n.get("ManagerStatus")}
        return ({h: m["ManagerStatus"]["Addr"] for h, m in managers.items()}
                == {h: f"{a}:2377" for h, a in addrs.items()}
                and all(m["ManagerStatus"]["Reachability"] == "reachable" for m in managers.values()))
    return False

"""The seeded randomized fault campaign (issue 15): random inventory transitions and faults on a 5+3 lab.

Each sequence, drawn from a ``random.Random(f"{seed}:{number}")`` (a sequence is the same whatever ran before):

1. 1-3 **transitions** of the inventory: add (a removed host back), remove (``docker_swarm_node_state: absent``),
   promote, demote, relabel (``docker_swarm_labels``, exclusive), drain/pause/activate
   (``docker_swarm_node_availability``) and re-address (the host's IP changes first - ``Lab.readdress`` - and the
   inventory follows). The model keeps 3 to 7 managers.
2. 0-2 **faults**: before the run an engine stopped (SIGTERM) or killed (SIGKILL), a link cut, a host rebuilt
   (data wiped: a new node ID); during the run a link cut, the controller killed (SIGKILL to the run's process
   group) or a second run from another controller at the same time. At most one manager is made unavailable
   in a sequence (a fault or a re-address), so the swarm keeps its quorum unless the product loses it.
3. ``site.yml`` with the new inventory under those faults (it may fail the faulted hosts, or refuse).
4. **Heal** (links up, engines started), then ``site.yml`` twice: the first must converge (rc 0, no failed host),
   the second must change nothing.

A sampler reads every engine once a second over its unix socket (not the lab network): the cluster IDs the
managers report and, from the manager whose node list shows the most reachable managers, reachable managers
against the quorum of the listed managers. Views of managers the campaign itself cut off (link down, or the host's
address changed under the engine) are not read: such a manager answers with the stale view of a minority. A
**violation** is a sample with more than one cluster ID or with fewer reachable managers than the quorum, a
converge run that fails, a second run that changes something, an end state that differs from the inventory (see
``Campaign.verify``), or a process of a run (ansible-playbook, its workers, the lock's lease renewer) still
alive once the sequence's runs have ended. Samples in which no manager could list
the nodes (a leader election) are counted as unread, not as violations.

Run (root; the lab is created and removed; ``--keep`` keeps it)::

    .venv/bin/python tests/campaign/campaign.py --seed 7 --sequences 50 --results tests/campaign/RESULTS.md

``tests/campaign/test_campaign.py`` runs a short fixed-seed subset in the gating run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for extra in (REPO / "lab", REPO / "tests", REPO / "tests" / "integration" / "reliability"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import hivelab  # noqa: E402
import relkit  # noqa: E402
from labfixtures import EverySecond  # noqa: E402

MANAGERS_AT_START, WORKERS_AT_START = 5, 3
TRANSITIONS = ("add", "remove", "promote", "demote", "relabel", "availability", "readdress")
FAULTS = ("stop", "kill", "cut", "wipe", "cut_mid", "ctl_kill", "two_runs")
IN_RUN = ("ctl_kill", "two_runs")  # faults that are a way of running: at most one of them
LABELS = ({}, {"zone": "a"}, {"zone": "b"}, {"zone": "a", "disk": "ssd"}, {"disk": "hdd"})
# Extra vars of every run: labels exact (a relabel removes labels), the other controller of 'two_runs' has its
# own name; a host that stops answering fails within ~20 s (the lab's SSH settings plus keepalives). A manager
# whose engine cannot serve swarm requests after the faults (seed 7 sequence 52: minutes after a SIGKILL and a
# restart) is made to leave and join anew by the run: the option an operator who wants a self-healing converge
# sets (without it the run names that manager and says what to do, and the sequence counts a violation).
ALL_VARS = {"docker_swarm_labels_exclusive": True, "docker_swarm_host_timeout": 30,
            "docker_swarm_rejoin_silent_managers": True}


def quorum(managers: int) -> int:
    return managers // 2 + 1


@dataclass
class HostModel:
    role: str
    present: bool = True
    labels: dict[str, str] = field(default_factory=dict)
    availability: str = "active"


@dataclass
class Sequence:
    number: int
    transitions: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    samples: int = 0
    unread: int = 0
    max_clusters: int = 0
    min_margin: Optional[int] = None  # reachable - quorum, lowest seen
    violations: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Sampler(EverySecond):
    """Once a second: the cluster IDs the engines report and reachable managers vs quorum (see the module doc)."""

    def take(self) -> None:
        start = time.time()  # stamped when the read starts (a read may take seconds)
        self.samples.append({**self.read(), "t": start})

    def read(self) -> dict[str, Any]:
        """One sample; the engines are read in parallel (a sample takes about as long as the slowest one)."""
        names = [h.name for h in self.lab.hosts]
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            infos = dict(zip(names, pool.map(lambda n: relkit.info(self.lab, n, timeout=2), names)))
            swarms = {n: (data or {}).get("Swarm") or {} for n, data in infos.items()}
            # a node changing role can report a Cluster with an empty ID for a moment: not another cluster
            clusters = {(sw.get("Cluster") or {}).get("ID") for sw in swarms.values()} - {None, ""}
            readers = [n for n, sw in swarms.items() if sw.get("ControlAvailable") and self._in_touch(n, sw)]
            views = [v for v in pool.map(self._view, readers) if v]
        sample: dict[str, Any] = {"clusters": sorted(clusters)}
        if views:
            sample.update(max(views, key=lambda v: v["reachable"]))
        return sample

    def _in_touch(self, host: str, swarm: dict[str, Any]) -> bool:
        """The host's view can speak for the swarm: its link is up and its engine advertises an address the host
        has (see the module docstring)."""
        if not self.lab.link_up(host):
            return False
        return swarm.get("NodeAddr") in {self.lab.host(host).ip, *self.lab.extra_addresses(host)}

    def _view(self, manager: str) -> Optional[dict[str, Any]]:
        """Managers and reachable managers in ``manager``'s node list; None without a leader in its view."""
        try:
            listed = self.lab.api(manager, "GET", "/nodes", timeout=3)
        except (hivelab.LabError, OSError, ValueError):
            return None
        managers = [n for n in listed if n.get("ManagerStatus")]
        reachable = sum(1 for n in managers if n["ManagerStatus"].get("Reachability") == "reachable")
        return {"via": manager, "managers": len(managers), "reachable": reachable}


class Campaign:
    """The model of the inventory, the lab and the sequences (see the module docstring)."""

    def __init__(self, lab: hivelab.Lab, workdir: Path, seed: int, log: Callable[[str], None] = print) -> None:
        self.lab = lab
        self.workdir = workdir
        self.seed = seed
        self.log = log
        self.model = {h.name: HostModel(h.role) for h in lab.hosts}
        self.inventory = workdir / "inventory.yml"
        self.sequences: list[Sequence] = []
        self.free_ips = [f"198.18.{lab.net}.{i}" for i in range(100, 200)]
        # the output of every run (seqNN-<what>.log): what a violation's run did, to read afterwards
        self.runs_dir = workdir / "runs"

    def keep(self, run: relkit.Run) -> relkit.Run:
        """Write the run's output to the runs directory; the run."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9]+", "-", run.name).strip("-")
        (self.runs_dir / f"{name}.log").write_text(run.out, encoding="utf-8")
        return run

    # ------------------------------------------------------------------ inventory
    def managers(self) -> list[str]:
        return [h for h, m in self.model.items() if m.present and m.role == "manager"]

    def write_inventory(self) -> Path:
        host_vars: dict[str, dict[str, Any]] = {}
        for name, m in self.model.items():
            host_vars[name] = {"docker_swarm_labels": dict(m.labels), "docker_swarm_node_availability": m.availability,
                               "docker_swarm_node_state": "present" if m.present else "absent"}
        return relkit.write_inventory(self.lab, self.inventory, host_vars=host_vars, all_vars=ALL_VARS,
                                      move={name: m.role for name, m in self.model.items()})

    # ------------------------------------------------------------------ transitions
    def transition(self, rng: random.Random, budget: dict[str, int]) -> Optional[str]:
        """Apply one random transition to the model (and the lab for a re-address); its description."""
        kinds = list(TRANSITIONS)
        rng.shuffle(kinds)
        managers = len(self.managers())
        for kind in kinds:
            present = sorted(h for h, m in self.model.items() if m.present)
            absent = sorted(h for h, m in self.model.items() if not m.present)
            if kind == "add" and absent:
                host = rng.choice(absent)
                role = rng.choice(("manager", "worker")) if managers < 7 else "worker"
                self.model[host].present, self.model[host].role = True, role
                return f"add {host} as {role}"
            if kind == "remove":
                choices = [h for h in present if self.model[h].role == "worker" or managers > 3]
                if choices:
                    host = rng.choice(choices)
                    self.model[host].present = False
                    return f"remove {host}"
            if kind == "promote" and managers < 7:
                choices = [h for h in present if self.model[h].role == "worker"]
                if choices:
                    host = rng.choice(choices)
                    self.model[host].role = "manager"
                    return f"promote {host}"
            if kind == "demote" and managers > 3:
                host = rng.choice([h for h in present if self.model[h].role == "manager"])
                self.model[host].role = "worker"
                return f"demote {host}"
            if kind == "relabel" and present:
                host = rng.choice(present)
                labels = dict(rng.choice([x for x in LABELS if x != self.model[host].labels]))
                self.model[host].labels = labels
                return f"relabel {host} {json.dumps(labels, sort_keys=True)}"
            if kind == "availability" and present:
                host = rng.choice(present)
                value = rng.choice([a for a in ("active", "drain", "pause") if a != self.model[host].availability])
                self.model[host].availability = value
                return f"{value} {host}"
            if kind == "readdress" and present:
                choices = [h for h in present if budget["managers"] > 0 or not self._in_swarm_as_manager(h)]
                if choices:
                    host = rng.choice(choices)
                    if self._in_swarm_as_manager(host):
                        budget["managers"] -= 1
                    new = self.free_ips.pop(rng.randrange(len(self.free_ips)))
                    moved = self.lab.readdress(host, new)
                    self.free_ips.append(moved["from"])
                    return f"readdress {host} {moved['from']} -> {new}"
        return None

    # ------------------------------------------------------------------ faults
    def pick_faults(self, rng: random.Random, count: int, budget: dict[str, int]) -> list[tuple[str, str, float]]:
        """``count`` faults as (kind, host, delay s); hosts only of the lab, managers within the budget."""
        out: list[tuple[str, str, float]] = []
        used: set[str] = set()
        for _fault in range(count):
            kind = rng.choice(FAULTS)
            if kind in IN_RUN:
                if any(k in IN_RUN for k, _h, _d in out):
                    continue
                out.append((kind, "", round(rng.uniform(2, 12), 1)))
                continue
            # any host (an absent one too: its engine must still be brought back) but one per fault
            hosts = [h.name for h in self.lab.hosts if h.name not in used
                     and (not self._in_swarm_as_manager(h.name) or budget["managers"] > 0)]
            if not hosts:
                continue
            host = rng.choice(sorted(hosts))
            if self._in_swarm_as_manager(host):
                budget["managers"] -= 1
            used.add(host)
            out.append((kind, host, round(rng.uniform(2, 10), 1)))
        return out

    def _in_swarm_as_manager(self, host: str) -> bool:
        """A manager of the swarm now (before this sequence's run) as far as the campaign can tell: its engine says
        so, or its engine does not answer in time. A manager still catching up after a partition answers /info only
        after its 20 s request deadline; counting it as no manager let a sequence take a second manager away (seed
        7, sequence 29 of a pass in session 10: a re-address of such a manager and a stopped one, 2 of 4 left)."""
        data = relkit.info(self.lab, host)
        return data is None or bool((data.get("Swarm") or {}).get("ControlAvailable"))

    def inject_before(self, faults: list[tuple[str, str, float]]) -> None:
        for kind, host, _delay in faults:
            if kind == "stop":
                self.lab.stop(host)
            elif kind == "kill":
                self.lab.stop(host, kill=True)
            elif kind == "cut":
                self.lab.cut(host)
            elif kind == "wipe":
                self.lab.wipe(host)

    def heal(self) -> list[str]:
        done = []
        for h in self.lab.hosts:
            if not self.lab.link_up(h.name):
                self.lab.heal(h.name)
                done.append(f"link {h.name}")
            if not self.lab.engine_up(h.name):
                self.lab.start(h.name)
                done.append(f"engine {h.name}")
        return done

    # ------------------------------------------------------------------ runs
    def faulted_run(self, faults: list[tuple[str, str, float]], seq: Sequence) -> None:
        """site.yml under the faults; a run may fail (faulted hosts), it must not hang."""
        inv = self.inventory
        in_run = next(((k, d) for k, _h, d in faults if k in IN_RUN), None)
        mid_cuts = [(h, d) for k, h, d in faults if k == "cut_mid"]
        started = {"run": relkit.start_playbook(inv, session=True)}
        if in_run and in_run[0] == "two_runs":
            started["other"] = relkit.start_playbook(inv, controller="ctl-b", session=True)
        timers = [threading.Timer(d, self.lab.cut, (h,)) for h, d in mid_cuts]
        if in_run and in_run[0] == "ctl_kill":
            proc = started["run"][0]
            timers.append(threading.Timer(in_run[1], lambda: _killpg(proc)))
        for t in timers:
            t.start()
        runs = relkit.finish_all(started, f"seq {seq.number:02d}: faulted", timeout=900)
        for run in runs.values():
            self.keep(run)
        for t in timers:
            t.join()
        for key, run in runs.items():
            failed = sorted(run.failed_hosts | run.unreachable_hosts)
            rc = "killed" if run.rc < 0 else f"rc={run.rc}"
            seq.runs.append(f"{key}: {rc} changed={run.changed} {run.seconds:.0f}s"
                            + (f" failed {','.join(h.split('-')[-1] for h in failed)}" if failed else ""))

    def converge_twice(self, seq: Sequence) -> None:
        first = self.keep(relkit.playbook(self.inventory, name=f"seq {seq.number:02d}: converge"))
        seq.runs.append(f"converge: rc={first.rc} changed={first.changed} {first.seconds:.0f}s")
        if first.rc != 0 or first.failed_hosts or first.unreachable_hosts:
            seq.violations.append(f"converge run failed: {first.messages[:400] or first.out[-400:]}")
            return
        second = self.keep(relkit.playbook(self.inventory, name=f"seq {seq.number:02d}: re-run"))
        seq.runs.append(f"re-run: rc={second.rc} changed={second.changed} {second.seconds:.0f}s")
        if second.rc != 0 or second.changed:
            seq.violations.append(f"re-run: rc={second.rc} changed={second.changed}")

    # ------------------------------------------------------------------ checks
    def verify(self) -> list[str]:
        """The lab as the inventory says: one swarm of the present hosts, roles, labels, availability and
        addresses as in the model, every node ready (managers reachable, one leader), nothing else listed,
        the removed hosts out of any swarm."""
        problems = []
        local = {h: relkit.swarm_of(self.lab, h) for h in self.model}
        for h, m in self.model.items():
            state = local[h].get("LocalNodeState")
            if m.present and state != "active":
                problems.append(f"{h} {state}")
            if not m.present and state != "inactive":
                problems.append(f"{h} (removed) {state}")
        managers = self.managers()
        clusters = {(local[h].get("Cluster") or {}).get("ID") for h in managers}
        if len(clusters) != 1 or None in clusters:
            return [*problems, f"cluster IDs of the managers: {sorted(map(str, clusters))}"]
        listed = self._node_list(managers)
        if listed is None:
            return [*problems, "no manager lists the nodes"]
        by_id = {n["ID"]: n for n in listed}
        want = {local[h].get("NodeID"): h for h, m in self.model.items() if m.present}
        for extra in set(by_id) - set(want):
            n = by_id[extra]
            problems.append(f"extra node entry {n['Description'].get('Hostname')} {extra} {n['Status']['State']}")
        for node_id, h in want.items():
            n, m = by_id.get(node_id), self.model[h]
            if n is None:
                problems.append(f"{h} not listed")
                continue
            ip = self.lab.host(h).ip
            got = (n["Spec"]["Role"], n["Spec"].get("Labels") or {}, n["Spec"]["Availability"], n["Status"]["State"],
                   n["Status"].get("Addr"))
            if got != (m.role, m.labels, m.availability, "ready", ip):
                problems.append(f"{h}: {got} (want {(m.role, m.labels, m.availability, 'ready', ip)})")
            ms = n.get("ManagerStatus") or {}
            if m.role == "manager" and (ms.get("Reachability") != "reachable" or ms.get("Addr") != f"{ip}:2377"):
                problems.append(f"{h}: manager {ms}")
        if sum(1 for n in listed if (n.get("ManagerStatus") or {}).get("Leader")) != 1:
            problems.append("not exactly one leader")
        return problems

    def _node_list(self, managers: list[str]) -> Optional[list[dict[str, Any]]]:
        for manager in managers:
            try:
                return relkit.nodes(self.lab, manager)
            except (hivelab.LabError, OSError, ValueError):
                continue
        return None

    def leftovers(self, timeout: float = 20) -> dict[int, str]:
        """Processes of this campaign's runs still alive (their command line names the inventory), after up to
        ``timeout`` seconds; a lease renewer ends at once with its run."""
        deadline = time.monotonic() + timeout
        while True:
            found = _processes_naming(str(self.inventory))
            if not found or time.monotonic() > deadline:
                return found
            time.sleep(0.5)

    def judge(self, seq: Sequence, samples: list[dict[str, Any]]) -> None:
        seq.samples = len(samples)
        seq.unread = sum(1 for s in samples if "via" not in s)
        seq.max_clusters = max((len(s["clusters"]) for s in samples), default=0)
        margins = [s["reachable"] - quorum(s["managers"]) for s in samples if "via" in s]
        seq.min_margin = min(margins, default=None)
        split = [s for s in samples if len(s["clusters"]) > 1]
        if split:
            seq.violations.append(f"{len(split)} samples with {max(len(s['clusters']) for s in split)} cluster IDs")
        lost = [s for s in samples if "via" in s and s["reachable"] < quorum(s["managers"])]
        if lost:
            worst = min(lost, key=lambda s: s["reachable"] - quorum(s["managers"]))
            seq.violations.append(f"{len(lost)} samples below quorum (worst {worst['reachable']} of "
                                  f"{worst['managers']} reachable, via {worst['via']})")

    # ------------------------------------------------------------------ one sequence
    def run_sequence(self, number: int) -> Sequence:
        rng = random.Random(f"{self.seed}:{number}")
        seq = Sequence(number)
        t0 = time.monotonic()
        budget = {"managers": 1}
        with Sampler(self.lab) as sampler:
            faults = self.pick_faults(rng, rng.choice((0, 1, 1, 2)), budget)
            for _transition in range(rng.randint(1, 3)):
                described = self.transition(rng, budget)
                if described:
                    seq.transitions.append(described)
            self.write_inventory()
            self.inject_before(faults)
            seq.faults = [f"{k} {h.split('-')[-1]}".strip() + (f" @{d}s" if k in ("cut_mid", *IN_RUN) else "")
                          for k, h, d in faults]
            self.log(f"seq {number}: {'; '.join(seq.transitions)} | faults: {', '.join(seq.faults) or '-'}")
            self.faulted_run(faults, seq)
            healed = self.heal()
            if healed:
                self.log(f"seq {number}: healed {', '.join(healed)}")
            self.converge_twice(seq)
            problems = self.verify() if not seq.violations else []
            if problems:
                # The swarm may still be settling (a node the run re-joined becomes ready on its own): look again
                # for a while before calling it a violation.
                try:
                    relkit.poll("the lab as the inventory says", lambda: not self.verify(), timeout=30, interval=1)
                    problems = []
                except AssertionError:
                    problems = self.verify()
            seq.violations += [f"end state: {p}" for p in problems]
            left = self.leftovers()
            if left:
                seq.violations.append(f"processes left: {left}")
                for pid in left:
                    _kill(pid)
        self.judge(seq, sampler.samples)
        seq.seconds = time.monotonic() - t0
        self.log(f"seq {number}: {seq.seconds:.0f}s, {seq.samples} samples, {len(seq.violations)} violations "
                 f"{seq.violations}")
        self.sequences.append(seq)
        if seq.violations:
            self.recover()
        return seq

    def start(self) -> None:
        """The first converge of the lab as the model says (all present, roles as created)."""
        self.write_inventory()
        relkit.playbook(self.inventory, name="campaign: first converge").ok()
        problems = self.verify()
        assert not problems, problems

    def recover(self) -> None:
        """After a violation: heal and converge so the next sequence starts from the inventory."""
        self.heal()
        self.keep(relkit.playbook(self.inventory, name=f"seq {len(self.sequences):02d}: campaign recover"))

    # ------------------------------------------------------------------ report
    def table(self) -> str:
        rows = ["| seq | transitions | faults | runs (faulted, converge, re-run) | samples (unread) | "
                "clusters max | quorum margin min | violations | s |", "|---|---|---|---|---|---|---|---|---|"]
        for s in self.sequences:
            rows.append(f"| {s.number} | {'; '.join(s.transitions)} | {', '.join(s.faults) or '-'} | "
                        f"{'; '.join(s.runs)} | {s.samples} ({s.unread}) | {s.max_clusters} | "
                        f"{'-' if s.min_margin is None else s.min_margin} | "
                        f"{'; '.join(s.violations) or '0'} | {s.seconds:.0f} |")
        return "\n".join(rows)

    def totals(self) -> dict[str, Any]:
        faults: dict[str, int] = {}
        transitions: dict[str, int] = {}
        for s in self.sequences:
            for f in s.faults:
                faults[f.split()[0]] = faults.get(f.split()[0], 0) + 1
            for t in s.transitions:
                kind = t.split()[0]
                kind = "availability" if kind in ("active", "drain", "pause") else kind
                transitions[kind] = transitions.get(kind, 0) + 1
        return {"sequences": len(self.sequences), "samples": sum(s.samples for s in self.sequences),
                "unread": sum(s.unread for s in self.sequences),
                "violations": sum(len(s.violations) for s in self.sequences),
                "faults": dict(sorted(faults.items())), "transitions": dict(sorted(transitions.items())),
                "seconds": round(sum(s.seconds for s in self.sequences))}


def _processes_naming(text: str) -> dict[int, str]:
    """pid -> command line of the live processes whose command line contains ``text``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if text in cmdline:
            found[int(entry.name)] = cmdline[:160]
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _killpg(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def results_markdown(campaign: Campaign, command: str, lab_seconds: float) -> str:
    t = campaign.totals()
    load = os.getloadavg()[0]
    return "\n".join([
        "# Randomized fault campaign - results", "",
        f"Generated by `{command}` (lab `{campaign.lab.name}`: {MANAGERS_AT_START} managers + {WORKERS_AT_START} "
        f"workers, net {campaign.lab.net}; lab up in {lab_seconds:.0f} s; 1-minute load average {load:.1f} at the "
        "end). What a sequence is, what is sampled and what counts as a violation: `tests/campaign/campaign.py`. "
        "Every run's extra variables: " + ", ".join(f"`{k}: {json.dumps(v)}`" for k, v in ALL_VARS.items()) + ".", "",
        f"**{t['sequences']} sequences, {t['violations']} violations**; {t['samples']} samples "
        f"({t['unread']} unread: no manager could list the nodes), {t['seconds']} s.", "",
        f"- transitions: {', '.join(f'{k} {v}' for k, v in t['transitions'].items())}",
        f"- faults: {', '.join(f'{k} {v}' for k, v in t['faults'].items())}", "",
        "Runs: `rc` of each ansible-playbook (`killed`: SIGKILLed by the campaign), changed tasks, wall seconds, "
        "the hosts that failed or were unreachable. Quorum margin: reachable managers minus the quorum of the "
        "listed managers, the lowest sample of the sequence.", "",
        campaign.table(), ""])


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sequences", type=int, default=50)
    parser.add_argument("--first", type=int, default=1, help="number of the first sequence")
    parser.add_argument("--lab", default="cmp1")
    parser.add_argument("--net", type=int, default=65)
    parser.add_argument("--results", type=Path, default=None, help="write the RESULTS table here")
    parser.add_argument("--keep", action="store_true", help="keep the lab at the end")
    args = parser.parse_args(argv)
    lab = hivelab.Lab(args.lab, args.net)
    lab.down(log=lambda _m: None)
    lab = hivelab.Lab(args.lab, args.net)
    report = lab.up(MANAGERS_AT_START, WORKERS_AT_START, timeout=240, log=lambda _m: None)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"hive-campaign-{args.lab}"
    workdir.mkdir(parents=True, exist_ok=True)
    campaign = Campaign(lab, workdir, args.seed)
    command = (f"tests/campaign/campaign.py --seed {args.seed} --sequences {args.sequences}"
               + (f" --first {args.first}" if args.first != 1 else ""))
    try:
        campaign.start()
        for number in range(args.first, args.first + args.sequences):
            campaign.run_sequence(number)
            if args.results:
                args.results.write_text(results_markdown(campaign, command, report["seconds"]))
    finally:
        if not args.keep:
            lab.down(log=lambda _m: None)
    totals = campaign.totals()
    print(json.dumps(totals))
    return 1 if totals["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())

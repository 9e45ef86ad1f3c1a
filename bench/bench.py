"""hive.swarm benchmark: how far is site.yml from the raw Docker CLI floor, and from the community.docker recipe?

For each lab size (managers+workers) it brings up a fresh lab (``bench`` on 198.18.40.0/24 by default,
one lab at a time) and measures, median of ``--reps`` repetitions:

  floor    raw ``docker -H unix://<host socket>`` calls, no Ansible: init on the first manager, join the
           other managers one by one (each until Reachable), workers in parallel, until every node is Ready
  first    ``ansible-playbook site.yml`` on a fresh lab (swarm state reset before each run)
  rerun    ``site.yml`` again with nothing to change (must report changed=0 everywhere)
  status   ``playbooks/status.yml``
  micro    (with ``--profile``; first size only) bench/micro.yml: the cost of one call (SSH exec, remote
           Python start, Docker SDK import, module framework, a hive.swarm module) on the first manager

Ratios are to the floor's median of the same size (the re-run too). Controller memory is measured two
ways: the largest single process of the ansible-playbook tree (wait4 rusage ``ru_maxrss``) and the peak
of the whole tree summed (RSS and PSS, polled from /proc). ``--profile`` adds a per-task timing callback
(bench/callback_plugins/hive_bench_timer.py) and prints the tasks that take the time. ``--variant``
repeats first/rerun/status with environment overrides (ANSIBLE_FORKS=…) or extra ansible-playbook
arguments (``-e docker_swarm_wait_delay=0.2``) to measure a change without editing the role.

``--against recipe`` (issue 16) compares site.yml with bench/recipe/site.yml, the plain community.docker
playbook most users write (``docker_swarm`` init on the first manager, the other managers join one at a
time, the workers in parallel, no checks), run by the ``ansible`` package of its own venv
(bench/.venv-recipe, created from bench/recipe/requirements.txt on first use). Per size and repetition,
alternating recipe then hive on the same lab with the same reset:

  first    first converge of each (fresh swarm state before each)
  rerun    each again with nothing to change
  limit    a converged swarm whose last worker was made new to it (it leaves, its node entry is removed),
           then the recipe and site.yml each with ``--limit <that worker>``; the recipe's join plays need
           the first manager's tokens, so it is also run with ``--limit <first manager>,<worker>``

and prints hive/recipe ratios per size against the issue's targets. Both sides use forks 100 and SSH
pipelining, and the same Python (and Docker SDK) on the managed hosts (``--host-python``; the controller
venv's, docker SDK 7.x, by default in this mode).

Run it with ``bash bench/run.sh [--sizes 3+2,3+5] [--reps 3]`` (needs root, like the lab). Results:
a table on stdout, JSON in bench/results/<timestamp>.json, logs in bench/results/<timestamp>/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT / "lab"))

import hivelab  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
CALLBACK_DIR = BENCH / "callback_plugins"
CALLBACK_NAME = "hive_bench_timer"
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# Targets from issue 5: ratio of the median to the floor's median of the same size.
TARGETS: Dict[str, Dict[Tuple[int, int], float]] = {
    "first": {(3, 2): 2.5, (3, 20): 4.0},
    "rerun": {(3, 2): 1.5, (3, 20): 2.5},
}
SCALING_TARGET = 2.0  # first(3+50) / first(3+5)

# --against recipe (issue 16): site.yml against bench/recipe/site.yml, run from its own venv.
RECIPE_DIR = BENCH / "recipe"
RECIPE_VENV = BENCH / ".venv-recipe"
RECIPE_REQUIREMENTS = RECIPE_DIR / "requirements.txt"
# Targets from issue 16: hive's median over the recipe's median of the same size (reported, not asserted).
RECIPE_TARGETS: Dict[str, Dict[Tuple[int, int], float]] = {
    "first": {(3, 2): 0.7, (3, 20): 0.6},
    "rerun": {(3, 2): 0.5, (3, 20): 0.35},
}
LIMIT_SCALING = ("3+2", "3+20")  # hive's --limit add-one-worker: LIMIT_SCALING[1] over LIMIT_SCALING[0]
LIMIT_SCALING_TARGET = 1.5
# The Python (and so the Docker SDK) of the managed hosts, for both sides. The lab hosts share this
# machine's file system, so the controller venv's interpreter runs there too.
HOST_PYTHONS: Dict[str, str] = {
    "system": "/usr/bin/python3",  # Debian's python3-docker 5.0.3
    "venv": str((ROOT / ".venv").resolve() / "bin" / "python"),  # the dev venv's docker SDK 7.x
}

# Named variants: --variant NAME uses these; --variant NAME:SPEC defines a new one.
PRESETS: Dict[str, str] = {
    "baseline": "",
    "forks5": "ANSIBLE_FORKS=5",
    "forks10": "ANSIBLE_FORKS=10",
    "forks25": "ANSIBLE_FORKS=25",
    "forks100": "ANSIBLE_FORKS=100",
    "nopipelining": "ANSIBLE_PIPELINING=False",
    "nocp": "ANSIBLE_SSH_ARGS='-o ControlMaster=no -o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no"
            " -o LogLevel=ERROR'",
    "free": "ANSIBLE_STRATEGY=free",
    "delay02": "-e docker_swarm_wait_delay=0.2",
    "delay1": "-e docker_swarm_wait_delay=1",
    "poll": "ANSIBLE_INTERNAL_POLL_INTERVAL=0.05",
    "warmssh": "BENCH_SSH=warm",
}

RECAP_RE = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
                      r"skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


class BenchError(RuntimeError):
    """A benchmark step failed; the message says which and where its log is."""


# --------------------------------------------------------------------------- data


@dataclass
class Variant:
    name: str
    env: Dict[str, str] = field(default_factory=dict)
    args: List[str] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> Variant:
        name, sep, spec = text.partition(":")
        if not sep:
            if name not in PRESETS:
                raise BenchError(f"unknown variant {name!r}: presets are {', '.join(PRESETS)}; or NAME:SPEC")
            spec = PRESETS[name]
        env: Dict[str, str] = {}
        args: List[str] = []
        for token in shlex.split(spec):
            key, eq, value = token.partition("=")
            if eq and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
                env[key] = value
            else:
                args.append(token)
        return cls(name, env, args)


@dataclass
class Run:
    """One measured run (a floor or an ansible-playbook)."""

    size: str
    phase: str  # floor | first | rerun | status | micro | limit
    variant: str  # an ansible variant of site.yml, "-" for the floor, "recipe" / "recipe+m1" for the recipe
    rep: int
    seconds: float
    ok: bool
    error: str = ""
    idempotent: Optional[bool] = None
    maxrss_kb: int = 0  # largest single process of the tree (wait4 rusage)
    tree_rss_kb: int = 0  # peak of the summed RSS of the tree (polled)
    tree_pss_kb: int = 0  # peak of the summed PSS of the tree (polled)
    tree_procs: int = 0  # most processes seen in the tree at once
    cpu_s: float = 0.0  # user + system CPU of the tree
    load1: float = 0.0  # 1-minute load average when the run started
    phases: Dict[str, float] = field(default_factory=dict)
    log: str = ""
    profile: str = ""
    expected_failure: bool = False  # a failure the design predicts (the recipe under --limit <worker>)


# --------------------------------------------------------------------------- the recipe's venv


def ensure_recipe_venv(log: Any, log_file: Path) -> Dict[str, str]:
    """Create or refresh bench/.venv-recipe from bench/recipe/requirements.txt (a stamp holds the file's
    SHA-256, so a changed pin reinstalls); returns what it holds (ansible, ansible-core, community.docker)."""
    want = hashlib.sha256(RECIPE_REQUIREMENTS.read_bytes()).hexdigest()
    stamp = RECIPE_VENV / ".requirements.sha256"
    python = RECIPE_VENV / "bin" / "python"
    if not python.exists() or not stamp.is_file() or stamp.read_text().strip() != want:
        log(f"recipe venv: installing {RECIPE_REQUIREMENTS.relative_to(ROOT)} into {RECIPE_VENV} (a few minutes)")
        with open(log_file, "a") as out:
            if not python.exists():
                subprocess.run([sys.executable, "-m", "venv", str(RECIPE_VENV)], stdout=out, stderr=subprocess.STDOUT,
                               check=True)
            for attempt in range(1, 4):  # the package index can be briefly unreachable
                proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(RECIPE_REQUIREMENTS)],
                                      stdout=out, stderr=subprocess.STDOUT, check=False)
                if proc.returncode == 0:
                    break
                if attempt == 3:
                    raise BenchError(f"recipe venv: pip install failed, see {log_file}")
                time.sleep(10 * attempt)
        stamp.write_text(want + "\n")
    code = ("import json, importlib.metadata as m, pathlib, ansible_collections.community.docker as d\n"
            "man = json.loads((pathlib.Path(d.__path__[0]) / 'MANIFEST.json').read_text())\n"
            "print(json.dumps({'ansible': m.version('ansible'), 'ansible-core': m.version('ansible-core'), "
            "'community.docker': man['collection_info']['version']}))")
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"recipe venv {RECIPE_VENV}: no community.docker: {proc.stderr.strip()[-300:]}")
    return {"venv": str(RECIPE_VENV), **json.loads(proc.stdout)}


# --------------------------------------------------------------------------- process tree memory


def _proc_table() -> Dict[int, Tuple[int, int]]:
    """pid -> (ppid, rss pages) for every process we can read."""
    out: Dict[int, Tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        out[int(entry)] = (int(rest[1]), int(rest[21]))
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Polls /proc and keeps the peak summed RSS / PSS of a process and all its descendants."""

    def __init__(self, root_pid: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.interval = interval
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.peak_procs = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        table = _proc_table()
        children: Dict[int, List[int]] = {}
        for pid, (ppid, _rss) in table.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = [], [self.root_pid]
        while todo:
            pid = todo.pop()
            if pid in table:
                tree.append(pid)
                todo.extend(children.get(pid, []))
        rss = sum(table[p][1] for p in tree) * PAGE_KB
        pss = sum(_pss_kb(p) for p in tree)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        self.peak_pss_kb = max(self.peak_pss_kb, pss)
        self.peak_procs = max(self.peak_procs, len(tree))

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# --------------------------------------------------------------------------- the bench


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _diff(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a - b


def _size_key(text: str) -> Tuple[int, int]:
    m = re.fullmatch(r"(\d+)\+(\d+)", text.strip())
    if not m or int(m.group(1)) < 1:
        raise BenchError(f"bad size {text!r}: MANAGERS+WORKERS, e.g. 3+20")
    return int(m.group(1)), int(m.group(2))


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stamp = time.strftime("%Y%m%dT%H%M%S")
        self.results_dir = Path(args.results_dir)
        self.log_dir = self.results_dir / self.stamp
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.json_path = self.results_dir / f"{self.stamp}.json"
        self.variants = [Variant.parse(v) for v in (args.variant or ["baseline"])]
        self.runs: List[Run] = []
        self.lab_reports: Dict[str, Any] = {}
        search_path = os.environ.get("PATH", "") + ":" + hivelab.TOOL_PATH
        self.cli = os.environ.get("HIVELAB_DOCKER_CLI") or shutil.which("docker", path=search_path)
        if not self.cli:
            raise BenchError("docker CLI not found (the floor uses it)")
        self._cp_count = 0
        self._wipe_lock = threading.Lock()
        self.wiped: List[str] = []  # hosts whose reset fell back to a wipe
        self.reset_seconds: List[float] = []
        # The code under test may be edited while the bench runs: record what it measured.
        self.git_state = {
            "head": subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                                   check=False).stdout.strip(),
            "dirty": subprocess.run(["git", "-C", str(ROOT), "status", "--short", "--", "roles", "playbooks", "plugins",
                                     "ansible.cfg", "site.yml", "bench/recipe"], capture_output=True, text=True,
                                    check=False).stdout.splitlines(),
        }
        self.src = ROOT  # the tree whose site.yml is measured (a snapshot of HEAD unless --source worktree)
        self.micro_size = ""  # micro.yml runs for the first size only (its per-call costs do not depend on size)
        self.host_python = HOST_PYTHONS.get(args.host_python, args.host_python)
        self.inventory: Optional[Path] = None  # the current lab's inventory, with self.host_python
        self.recipe: Dict[str, str] = {}  # what bench/.venv-recipe holds (--against recipe)

    def say(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)

    # ----- lab
    def lab_up(self, managers: int, workers: int) -> hivelab.Lab:
        lab = hivelab.Lab(self.args.lab_name, self.args.net)
        if lab.exists():
            lab.down(log=lambda _m: None)
            lab = hivelab.Lab(self.args.lab_name, self.args.net)
        # The lab says how long it took, and when it raised the kernel's neighbour-table limits for its size.
        report = lab.up(managers, workers, timeout=120 + 3 * (managers + workers), log=self.say)
        self.lab_reports[f"{managers}+{workers}"] = report
        # Both sides (and every phase) use this inventory: the lab's, with the chosen managed-host Python.
        self.inventory = lab.write_inventory(self.log_dir / f"inventory-{managers}+{workers}.yml",
                                             python=self.host_python)
        return lab

    def reset(self, lab: hivelab.Lab) -> None:
        """Fresh swarm state on every engine (not timed)."""
        t0 = time.monotonic()
        self._reset(lab)
        self.reset_seconds.append(round(time.monotonic() - t0, 2))

    def _reset(self, lab: hivelab.Lab) -> None:
        if self.args.reset == "wipe":
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(lab.wipe, lab.hosts))
        else:
            with ThreadPoolExecutor(max_workers=min(32, len(lab.hosts))) as pool:
                list(pool.map(lambda h: self._leave(lab, h), lab.hosts))
        self._assert_fresh(lab)

    def _leave(self, lab: hivelab.Lab, h: hivelab.Host) -> None:
        sock = str(h.socket)
        status, body = hivelab.engine_request(sock, "POST", "/swarm/leave?force=1", timeout=120)
        if status not in (200, 503):  # 503: not part of a swarm
            raise BenchError(f"{h.name}: swarm leave -> HTTP {status} {body[:200]!r}")
        # After the leave the engine removes the ingress network (and its sandbox endpoint on docker_gwbridge)
        # asynchronously; joining created docker_gwbridge and leaving keeps it, a fresh engine has none. Poll until
        # ingress is gone and docker_gwbridge could be removed; an engine that never lets go gets a new data root.
        last: List[Any] = []

        def clean() -> bool:
            names = [n["Name"] for n in lab.api(h, "GET", "/networks") if n["Name"] not in ("host", "none")]
            last[:] = names
            if names and names != ["docker_gwbridge"]:
                return False
            if not names:
                return True
            status, _body = hivelab.engine_request(sock, "DELETE", "/networks/docker_gwbridge", timeout=60)
            return status in (204, 404)

        if not hivelab._poll(clean, 30, 0.2):
            self.say(f"{h.name}: networks {last} still there 30s after the leave; wiping the host")
            with self._wipe_lock:
                self.wiped.append(h.name)
            lab.wipe(h)

    def _assert_fresh(self, lab: hivelab.Lab, hosts: Optional[Sequence[hivelab.Host]] = None) -> None:
        for h in lab.hosts if hosts is None else hosts:
            swarm = lab.info(h).get("Swarm", {})
            leftovers = [p.name for p in (h.data_root / "swarm").glob("*")]
            networks = [n["Name"] for n in lab.api(h, "GET", "/networks") if n["Name"] not in ("host", "none")]
            if swarm.get("LocalNodeState") != "inactive" or swarm.get("NodeID") or leftovers or networks:
                raise BenchError(f"{h.name}: not fresh after reset: state={swarm.get('LocalNodeState')} "
                                 f"node={swarm.get('NodeID')!r} swarm dir={leftovers} networks={networks}")

    def detach(self, lab: hivelab.Lab, h: hivelab.Host) -> None:
        """Make a worker of a converged swarm new to it (not timed): it leaves the swarm (fresh engine state, as
        the reset), and its node entry, left behind as down, is removed on the first manager."""
        node_id = lab.info(h).get("Swarm", {}).get("NodeID")
        self._leave(lab, h)
        m1 = lab.managers[0]
        if node_id:
            status, body = hivelab.engine_request(str(m1.socket), "DELETE", f"/nodes/{node_id}?force=1", timeout=60)
            if status not in (200, 404):
                raise BenchError(f"{m1.name}: node rm {h.name} -> HTTP {status} {body[:200]!r}")
            if not hivelab._poll(lambda: all(n["ID"] != node_id for n in lab.api(m1, "GET", "/nodes")), 30, 0.1):
                raise BenchError(f"{h.name}: node entry still listed 30s after its removal")
        self._assert_fresh(lab, [h])

    def _assert_swarm(self, lab: hivelab.Lab) -> None:
        """After a converge: one swarm with every host Ready and every manager reachable."""
        nodes = lab.api(lab.managers[0], "GET", "/nodes")
        want = {h.name: h.role for h in lab.hosts}
        have = {n["Description"]["Hostname"]: n for n in nodes}
        bad = [name for name, role in want.items()
               if name not in have or have[name]["Spec"]["Role"] != role or have[name]["Status"]["State"] != "ready"
               or (role == "manager" and have[name].get("ManagerStatus", {}).get("Reachability") != "reachable")]
        if bad or len(nodes) != len(want):
            raise BenchError(f"swarm not as expected after converge: {len(nodes)} nodes, wrong: {bad}")

    def _await_swarm(self, lab: hivelab.Lab, timeout: float = 60) -> float:
        """Seconds until the swarm is as _assert_swarm wants it (the recipe does not wait for that itself)."""
        t0 = time.monotonic()
        last: List[str] = []

        def good() -> bool:
            try:
                self._assert_swarm(lab)
            except (BenchError, hivelab.LabError) as exc:
                last[:] = [str(exc)]
                return False
            return True

        if not hivelab._poll(good, timeout, 0.1):
            raise BenchError(f"{last[0] if last else 'swarm not as expected'} ({timeout:.0f}s after the run)")
        return time.monotonic() - t0

    # ----- (a) the floor
    def _docker(self, h: hivelab.Host, *args: str, timeout: float = 120) -> str:
        proc = subprocess.run([self.cli, "-H", h.docker_host, *args], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:  # never echo stdout: join-token output holds secrets
            raise BenchError(f"docker {args[0]} {args[1] if len(args) > 1 else ''} on {h.name} failed: "
                             f"{proc.stderr.strip()[:300]}")
        return proc.stdout.strip()

    def floor(self, lab: hivelab.Lab, deadline_s: float = 300) -> Dict[str, float]:
        m1, others, workers = lab.managers[0], lab.managers[1:], lab.workers
        addr = f"{m1.ip}:2377"
        phases: Dict[str, float] = {}
        t = time.monotonic()
        self._docker(m1, "swarm", "init", "--advertise-addr", m1.ip)
        manager_token = self._docker(m1, "swarm", "join-token", "-q", "manager")
        worker_token = self._docker(m1, "swarm", "join-token", "-q", "worker")
        phases["init"] = time.monotonic() - t
        t = time.monotonic()
        for h in others:
            self._docker(h, "swarm", "join", "--token", manager_token, "--advertise-addr", h.ip, addr)
            node_id = self._docker(h, "info", "--format", "{{.Swarm.NodeID}}")

            def reachable(node: str = node_id) -> bool:
                return self._docker(m1, "node", "inspect", node, "--format",
                                    "{{.ManagerStatus.Reachability}}") == "reachable"

            if not hivelab._poll(reachable, deadline_s, 0.05):
                raise BenchError(f"floor: {h.name} not reachable within {deadline_s}s")
        phases["managers"] = time.monotonic() - t
        t = time.monotonic()
        procs = [(h, subprocess.Popen([self.cli, "-H", h.docker_host, "swarm", "join", "--token", worker_token,
                                       "--advertise-addr", h.ip, addr], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)) for h in workers]
        slow = []
        for h, p in procs:
            _out, err = p.communicate(timeout=deadline_s)
            if p.returncode != 0 and "Timeout was reached before node joined" in err:
                slow.append(h)  # the engine keeps joining in the background (what a CLI user waits for)
            elif p.returncode != 0:
                raise BenchError(f"floor: worker {h.name} join failed: {err.strip()[:300]}")
        for h in slow:
            if not hivelab._poll(lambda h=h: self._docker(h, "info", "--format", "{{.Swarm.LocalNodeState}}")
                                 == "active", deadline_s, 0.1):
                raise BenchError(f"floor: worker {h.name} did not become active after a join timeout")
        phases["workers"] = time.monotonic() - t
        phases["join_timeouts"] = float(len(slow))
        t = time.monotonic()
        total = len(lab.hosts)

        def all_ready() -> bool:
            rows = self._docker(m1, "node", "ls", "--format", "{{.Status}} {{.ManagerStatus}}").splitlines()
            return len(rows) == total and all(r.split()[0] == "Ready" for r in rows) and \
                sum(1 for r in rows if r.split()[1:] in (["Leader"], ["Reachable"])) == len(lab.managers)

        if not hivelab._poll(all_ready, deadline_s, 0.05):
            raise BenchError("floor: nodes not all Ready")
        phases["ready"] = time.monotonic() - t
        return phases

    def run_floor(self, lab: hivelab.Lab, size: str, rep: int) -> Run:
        load1 = os.getloadavg()[0]
        t0 = time.monotonic()
        try:
            phases = self.floor(lab)
            ok, error = True, ""
        except BenchError as exc:
            phases, ok, error = {}, False, str(exc)
        run = Run(size, "floor", "-", rep, time.monotonic() - t0, ok, error, load1=load1,
                  phases={k: round(v, 3) for k, v in phases.items()})
        if ok:
            self._assert_swarm(lab)
        return run

    # ----- (b)(c)(d) ansible-playbook
    def _control_dir(self) -> Path:
        self._cp_count += 1
        d = Path(f"/tmp/hive-bench-cp-{os.getpid()}-{self._cp_count}")
        d.mkdir(mode=0o700)
        return d

    def _close_control_dir(self, d: Path) -> None:
        """Ask every SSH ControlMaster this run left behind to exit, then remove the directory."""
        for sock in d.iterdir():
            subprocess.run(["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "bench-close"],
                           capture_output=True, timeout=30, check=False)
        shutil.rmtree(d, ignore_errors=True)

    def ansible(self, lab: hivelab.Lab, playbook: str, variant: Variant, tag: str, phase: str,
                control_dir: Optional[Path] = None, recipe: bool = False, extra_args: Sequence[str] = ()) -> Run:
        """One ansible-playbook run: site.yml's side from .venv with the checkout's ansible.cfg, or (recipe) the
        recipe's side from bench/.venv-recipe with bench/recipe/ansible.cfg; same inventory, same SSH set-up."""
        log_path = self.log_dir / f"{tag}.log"
        prof_path = self.log_dir / f"{tag}.profile.json"
        own_cp = control_dir is None
        cp = control_dir or self._control_dir()
        bin_dir = RECIPE_VENV / "bin" if recipe else VENV_BIN
        cfg = self.src / "bench" / "recipe" / "ansible.cfg" if recipe else self.src / "ansible.cfg"
        env = dict(os.environ)
        env.update({"ANSIBLE_CONFIG": str(cfg), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
                    "ANSIBLE_SSH_CONTROL_PATH_DIR": str(cp), "PATH": f"{bin_dir}:{env.get('PATH', '')}"})
        if recipe:
            env.pop("VIRTUAL_ENV", None)
        if self.args.profile or phase == "micro":
            env.update({"ANSIBLE_CALLBACK_PLUGINS": str(CALLBACK_DIR), "ANSIBLE_CALLBACKS_ENABLED": CALLBACK_NAME,
                        "HIVE_BENCH_PROFILE_OUT": str(prof_path)})
        env.update({k: v for k, v in variant.env.items() if not k.startswith("BENCH_")})
        inventory = self.inventory or lab.inventory_path
        argv = [str(bin_dir / "ansible-playbook"), "-i", str(inventory), playbook, *variant.args, *extra_args]
        load1 = os.getloadavg()[0]
        with open(log_path, "w") as logf:
            logf.write(f"# {shlex.join(argv)}\n# env: {json.dumps(variant.env)}\n")
            logf.flush()
            t0 = time.monotonic()
            start_wall = time.time()
            proc = subprocess.Popen(argv, cwd=self.src, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
            sampler = TreeSampler(proc.pid)
            sampler.start()
            # A hung SSH session hangs ansible-playbook for good (no task timeout): stop the run's process group.
            timed_out = threading.Event()
            timer = threading.Timer(self.args.run_timeout, self._stop_group, (proc.pid, timed_out))
            timer.start()
            try:
                _pid, status, usage = os.wait4(proc.pid, 0)
            except KeyboardInterrupt:  # the run is in its own session: stop it too
                timer.cancel()
                self._stop_group(proc.pid, timed_out)
                raise
            seconds = time.monotonic() - t0
            timer.cancel()
            sampler.stop()
            proc.returncode = os.waitstatus_to_exitcode(status)
        if own_cp:
            self._close_control_dir(cp)
        text = log_path.read_text()
        recap = {m.group(1): [int(x) for x in m.groups()[1:]] for m in RECAP_RE.finditer(text)}
        ok = proc.returncode == 0 and bool(recap) and all(r[2] == 0 and r[3] == 0 for r in recap.values())
        error = "" if ok else f"rc={proc.returncode}, see {log_path}"
        if timed_out.is_set():
            ok, error = False, f"no result after {self.args.run_timeout:.0f}s (stopped), see {log_path}"
        run = Run(lab.name, "", variant.name, 0, seconds, ok, error,
                  maxrss_kb=int(usage.ru_maxrss), tree_rss_kb=sampler.peak_rss_kb, tree_pss_kb=sampler.peak_pss_kb,
                  tree_procs=sampler.peak_procs, cpu_s=round(usage.ru_utime + usage.ru_stime, 2), load1=load1,
                  log=str(log_path.relative_to(ROOT)) if log_path.is_relative_to(ROOT) else str(log_path))
        run.idempotent = all(r[1] == 0 for r in recap.values()) if recap else None
        if prof_path.is_file():
            data = json.loads(prof_path.read_text())
            data["process_start"] = start_wall
            data["process_seconds"] = seconds
            prof_path.write_text(json.dumps(data))
            run.profile = str(prof_path)
        return run

    @staticmethod
    def _stop_group(pid: int, flag: threading.Event) -> None:
        """SIGTERM the process group of an ansible-playbook this bench started, SIGKILL it 10s later."""
        flag.set()
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 0.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                return
            if wait and hivelab._poll(lambda: not hivelab._alive(pid), wait, 0.2):
                return

    def run_ansible_set(self, lab: hivelab.Lab, size: str, rep: int, variant: Variant,
                        phases: Optional[Sequence[str]] = None, record: bool = True) -> bool:
        """site.yml first converge, no-change re-run, status.yml, micro.yml (those of --phases); True when all
        ran. record=False: not measured (a converge to set up the next measurement)."""
        wanted = self.args.phases if phases is None else phases
        steps = [("first", "site.yml"), ("rerun", "site.yml"), ("status", "playbooks/status.yml"),
                 ("micro", str(BENCH / "micro.yml"))]
        steps = [p for p in steps if p[0] in wanted and (p[0] != "micro" or size == self.micro_size)]
        shared = self._control_dir() if variant.env.get("BENCH_SSH", self.args.ssh) == "warm" else None
        try:
            for phase, playbook in steps:
                tag = f"{size}-{variant.name}-r{rep}-{phase}" + ("" if record else "-setup")
                run = self.ansible(lab, playbook, variant, tag, phase, control_dir=shared)
                run.size, run.phase, run.rep = size, phase, rep
                if run.ok and phase == "first":
                    self._assert_swarm(lab)
                if phase == "rerun" and run.ok and not run.idempotent:
                    run.error = f"not idempotent (changed > 0), see {run.log}"
                if record:
                    self.record(run)
                elif not run.ok:
                    raise BenchError(f"set-up converge failed: {run.error}")
                if not run.ok:
                    return False
        finally:
            if shared is not None:
                self._close_control_dir(shared)
        return True

    def run_recipe_set(self, lab: hivelab.Lab, size: str, rep: int) -> bool:
        """The recipe's first converge (on a reset lab) and its no-change re-run; True when both ran."""
        playbook = str(self.src / "bench" / "recipe" / "site.yml")
        for phase in ("first", "rerun"):
            if phase not in self.args.phases:
                continue
            run = self.ansible(lab, playbook, Variant("recipe"), f"{size}-recipe-r{rep}-{phase}", phase, recipe=True)
            run.size, run.phase, run.rep = size, phase, rep
            self._settle(lab, run)
            if phase == "rerun" and run.ok and not run.idempotent:
                run.error = f"not idempotent (changed > 0), see {run.log}"
            self.record(run)
            if not run.ok:
                return False
        return True

    def _settle(self, lab: hivelab.Lab, run: Run) -> None:
        """After a run that reported success: wait (untimed) until the swarm is whole; record how long it took."""
        if not run.ok:
            return
        try:
            run.phases["settle"] = round(self._await_swarm(lab), 2)
        except BenchError as exc:
            run.ok, run.error = False, f"{exc}; see {run.log}"

    def run_limit(self, lab: hivelab.Lab, size: str, rep: int, variant: Variant, with_recipe: bool) -> None:
        """--limit add-one-worker on a converged swarm: the last worker is made new to the swarm, then joined by a
        run limited to it (the recipe first, when asked, then site.yml)."""
        if not lab.workers:
            self.say(f"{size}: no worker, no --limit measurement")
            return
        w, m1 = lab.workers[-1], lab.managers[0]
        if with_recipe:
            playbook = str(self.src / "bench" / "recipe" / "site.yml")
            self.detach(lab, w)
            run = self.ansible(lab, playbook, Variant("recipe"), f"{size}-recipe-r{rep}-limit", "limit", recipe=True,
                               extra_args=["--limit", w.name])
            run.size, run.phase, run.rep = size, "limit", rep
            self._settle(lab, run)
            if not run.ok:
                text = (ROOT / run.log).read_text()  # run.log is relative to ROOT or absolute
                if "recipe_swarm" in text and ("undefined" in text or "has no attribute" in text):
                    run.expected_failure = True
                    run.error = (f"the recipe cannot join a worker under --limit {w.name}: its join token comes from "
                                 f"the first manager's play, outside the limit (see {run.log})")
            self.record(run)
            if not run.ok:  # what a recipe user does instead: the first manager in the limit too
                run = self.ansible(lab, playbook, Variant("recipe+m1"), f"{size}-recipe+m1-r{rep}-limit", "limit",
                                   recipe=True, extra_args=["--limit", f"{m1.name},{w.name}"])
                run.size, run.phase, run.rep = size, "limit", rep
                self._settle(lab, run)
                self.record(run)
                if not run.ok:
                    self.reset(lab)  # leave hive's run a converged swarm again
                    self.run_ansible_set(lab, size, rep, variant, phases=("first",), record=False)
        self.detach(lab, w)
        run = self.ansible(lab, "site.yml", variant, f"{size}-{variant.name}-r{rep}-limit", "limit",
                           extra_args=["--limit", w.name])
        run.size, run.phase, run.rep = size, "limit", rep
        self._settle(lab, run)
        self.record(run)

    def record(self, run: Run) -> None:
        self.runs.append(run)
        extra = f" rss(tree)={run.tree_rss_kb // 1024}M cpu={run.cpu_s}s" if run.phase != "floor" else \
            " " + " ".join(f"{k}={v:.2f}" for k, v in run.phases.items())
        flag = "" if run.ok else f"  {'FAILED (as expected)' if run.expected_failure else 'FAILED'}: {run.error}"
        if run.ok and run.phase == "rerun" and not run.idempotent:
            flag = "  NOT IDEMPOTENT"
        self.say(f"{run.size} {run.phase:<6} {run.variant:<12} rep {run.rep}: {run.seconds:7.2f}s"
                 f" load={run.load1:.1f}{extra}{flag}")
        self.write_json()

    # ----- what is measured
    def snapshot(self) -> None:
        """Measure the committed tree: other people edit the working tree while a bench runs for an hour."""
        if self.args.source == "worktree":
            self.src = ROOT
            return
        dest = Path(f"/tmp/hive-bench-src-{os.getpid()}")
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        link = dest / ".collections" / "ansible_collections" / "hive" / "swarm"
        link.parent.mkdir(parents=True)
        link.symlink_to(dest)
        self.src = dest

    def drop_snapshot(self) -> None:
        if self.src != ROOT and self.src.name.startswith("hive-bench-src-"):
            shutil.rmtree(self.src, ignore_errors=True)

    # ----- main loop
    def run(self) -> int:
        sizes = [_size_key(s) for s in self.args.sizes.split(",") if s.strip()]
        if not sizes:
            raise BenchError("no sizes given")
        self.micro_size = f"{sizes[0][0]}+{sizes[0][1]}"
        against_recipe = self.args.against == "recipe"
        if against_recipe:
            self.recipe = ensure_recipe_venv(self.say, self.log_dir / "recipe-venv.log")
            self.say(f"recipe: bench/recipe/site.yml with ansible {self.recipe['ansible']} (ansible-core "
                     f"{self.recipe['ansible-core']}, community.docker {self.recipe['community.docker']}) from "
                     f"{RECIPE_VENV.relative_to(ROOT)}")
        self.snapshot()
        self.say(f"sizes {', '.join(f'{m}+{w}' for m, w in sizes)}, reps {self.args.reps}, phases "
                 f"{','.join(self.args.phases)}, variants {', '.join(v.name for v in self.variants)}, against "
                 f"{self.args.against}, reset {self.args.reset}, ssh {self.args.ssh}, managed-host python "
                 f"{self.host_python}; measuring {self.src} "
                 f"({'HEAD ' + self.git_state['head'][:10] if self.src != ROOT else 'worktree'}); "
                 f"logs in {self.log_dir}")
        lab: Optional[hivelab.Lab] = None
        try:
            for managers, workers in sizes:
                size = f"{managers}+{workers}"
                lab = self.lab_up(managers, workers)
                for rep in range(1, self.args.reps + 1):
                    if "floor" in self.args.phases:
                        self.reset(lab)
                        self.record(self.run_floor(lab, size, rep))
                    # --against recipe: the recipe, then site.yml, each from the same reset, every repetition.
                    if against_recipe and {"first", "rerun"} & set(self.args.phases):
                        self.reset(lab)
                        self.run_recipe_set(lab, size, rep)
                    ansible_phases = {"first", "rerun", "status", "micro", "limit"} & set(self.args.phases)
                    for i, variant in enumerate(self.variants if ansible_phases else []):
                        self.reset(lab)
                        converged = self.run_ansible_set(lab, size, rep, variant)
                        if "limit" not in self.args.phases:
                            continue
                        if "first" not in self.args.phases:  # --limit needs a converged swarm to add to
                            converged = self.run_ansible_set(lab, size, rep, variant, phases=("first",),
                                                             record=False)
                        if converged:
                            self.run_limit(lab, size, rep, variant, with_recipe=against_recipe and i == 0)
                        else:
                            self.say(f"{size} {variant.name} rep {rep}: site.yml failed, no --limit measurement")
                self.print_table()
                if against_recipe:
                    self.print_comparison()
        finally:
            self.drop_snapshot()
            if lab is not None and not self.args.keep_lab:
                lab.down(log=lambda _m: None)
                self.say(f"lab {lab.name} down")
        self.print_table()
        if against_recipe:
            self.print_comparison()
        if self.args.profile:
            self.print_profile()
        if "micro" in self.args.phases:
            self.print_micro()
        self.say(f"results: {self.json_path}")
        return 0 if all((r.ok or r.expected_failure) and (r.phase != "rerun" or r.idempotent)
                        for r in self.runs) else 1

    # ----- reporting
    def summary(self) -> List[Dict[str, Any]]:
        rows: List[Dict[str, Any]] = []
        keys: List[Tuple[str, str, str]] = []
        for r in self.runs:
            if (r.size, r.phase, r.variant) not in keys:
                keys.append((r.size, r.phase, r.variant))
        order = {"floor": 0, "first": 1, "rerun": 2, "limit": 3, "status": 4, "micro": 5}
        keys.sort(key=lambda k: (_size_key(k[0]), order.get(k[1], 9), k[2] != "baseline", k[2]))
        floors = {size: _median([r.seconds for r in self.runs if r.size == size and r.phase == "floor" and r.ok])
                  for size in {k[0] for k in keys}}
        for size, phase, variant in keys:
            runs = [r for r in self.runs if (r.size, r.phase, r.variant) == (size, phase, variant)]
            good = [r for r in runs if r.ok]
            secs = [r.seconds for r in good]
            med = _median(secs)
            floor = floors.get(size, float("nan"))
            target = None if variant.startswith("recipe") else TARGETS.get(phase, {}).get(_size_key(size))
            ratio = med / floor if good and not math.isnan(floor) and floor > 0 else float("nan")
            rows.append({
                "size": size, "phase": phase, "variant": variant, "n": len(good), "failed": len(runs) - len(good),
                "expected_failures": sum(1 for r in runs if r.expected_failure),
                "not_idempotent": sum(1 for r in good if phase == "rerun" and not r.idempotent),
                "median": med, "min": min(secs) if secs else float("nan"), "max": max(secs) if secs else float("nan"),
                "ratio": ratio, "target": target,
                "meets_target": (ratio <= target) if target is not None and not math.isnan(ratio) else None,
                "maxrss_mb": max((r.maxrss_kb for r in good), default=0) / 1024,
                "tree_rss_mb": max((r.tree_rss_kb for r in good), default=0) / 1024,
                "tree_pss_mb": max((r.tree_pss_kb for r in good), default=0) / 1024,
                "tree_procs": max((r.tree_procs for r in good), default=0),
                "cpu_s": _median([r.cpu_s for r in good]),
                "load1": _median([r.load1 for r in runs]),
            })
        return rows

    def scaling(self) -> Optional[Dict[str, Any]]:
        rows = {(r["size"], r["variant"]): r for r in self.summary() if r["phase"] == "first"}
        small, big = rows.get(("3+5", "baseline")), rows.get(("3+50", "baseline"))
        if not small or not big or not small["n"] or not big["n"]:
            return None
        value = big["median"] / small["median"]
        return {"first_3+50_over_3+5": value, "target": SCALING_TARGET, "meets_target": value <= SCALING_TARGET}

    def print_table(self) -> None:
        rows = self.summary()
        label = {"floor": "floor (docker CLI)", "first": "first converge", "rerun": "no-change re-run",
                 "limit": "--limit +1 worker", "status": "status.yml", "micro": "micro.yml"}
        head = (f"{'size':<5} {'phase':<19} {'variant':<13} {'n':>2} {'median':>7} {'min':>7} {'max':>7} "
                f"{'ratio':>6} {'target':>7} {'ok?':<4} {'RSS1':>5} {'RSStree':>7} {'PSStree':>7} {'procs':>5} "
                f"{'cpu':>5} {'load':>4}")
        print("\n" + head + "\n" + "-" * len(head))
        for r in rows:
            if r["phase"] == "micro":
                continue
            verdict = "" if r["meets_target"] is None else ("yes" if r["meets_target"] else "NO")
            expected = f" ({r['expected_failures']} as expected)" if r["expected_failures"] else ""
            notes = (f"  {r['failed']} failed{expected}" if r["failed"] else "") + \
                (f"  {r['not_idempotent']} not idempotent" if r["not_idempotent"] else "")
            mem = ("" if r["phase"] == "floor" else
                   f"{r['maxrss_mb']:5.0f} {r['tree_rss_mb']:7.0f} {r['tree_pss_mb']:7.0f} {r['tree_procs']:5d} "
                   f"{r['cpu_s']:5.1f}")
            mem = mem or f"{'':5} {'':7} {'':7} {'':5} {'':5}"
            target = f"<={r['target']:.1f}x" if r["target"] is not None else ""
            ratio = "" if math.isnan(r["ratio"]) else f"{r['ratio']:5.2f}x"  # no floor measured
            print(f"{r['size']:<5} {label.get(r['phase'], r['phase']):<19} {r['variant']:<13} {r['n']:>2} "
                  f"{r['median']:7.2f} {r['min']:7.2f} {r['max']:7.2f} {ratio:>6} {target:>7} {verdict:<4} "
                  f"{mem} {r['load1']:4.1f}{notes}")
        scaling = self.scaling()
        if scaling:
            print(f"scaling first(3+50)/first(3+5) = {scaling['first_3+50_over_3+5']:.2f} "
                  f"(target <= {SCALING_TARGET}: {'yes' if scaling['meets_target'] else 'NO'})")
        print("RSS1 = largest single controller process (MB, wait4 ru_maxrss); RSStree/PSStree = peak sum over the "
              "ansible-playbook process tree (MB, polled every 0.25s); cpu = controller CPU seconds; "
              "load = 1-min load average at start. Ratios are to the floor median of the same size."
              + (" Variant recipe = bench/recipe/site.yml (community.docker)." if self.args.against == "recipe"
                 else ""), flush=True)

    def comparison(self) -> Optional[Dict[str, Any]]:
        """--against recipe: hive's median over the recipe's, per size and phase, against issue 16's targets; and
        hive's --limit add-one-worker at LIMIT_SCALING[1] over the same at LIMIT_SCALING[0]."""
        if self.args.against != "recipe":
            return None
        hive = self.variants[0].name

        def runs(size: str, phase: str, variant: str) -> List[Run]:
            return [r for r in self.runs if (r.size, r.phase, r.variant) == (size, phase, variant)]

        rows: List[Dict[str, Any]] = []
        for size in sorted({r.size for r in self.runs}, key=_size_key):
            for phase in ("first", "rerun", "limit"):
                recipe_runs, hive_runs = runs(size, phase, "recipe"), runs(size, phase, hive)
                if not recipe_runs and not hive_runs:
                    continue
                recipe_good = [r for r in recipe_runs if r.ok]
                recipe_variant, note = "recipe", ""
                if phase == "limit" and not recipe_good and runs(size, phase, "recipe+m1"):
                    recipe_variant = "recipe+m1"
                    recipe_good = [r for r in runs(size, phase, "recipe+m1") if r.ok]
                    note = ("the recipe cannot add a worker under --limit <worker> (its join token comes from the "
                            "first manager's play)" if any(r.expected_failure for r in recipe_runs)
                            else "the recipe failed under --limit <worker>") + \
                        "; its figure is with --limit <first manager>,<worker>"
                hive_good = [r for r in hive_runs if r.ok]
                r_med = _median([r.seconds for r in recipe_good])
                h_med = _median([r.seconds for r in hive_good])
                ratio = h_med / r_med if recipe_good and hive_good and r_med > 0 else float("nan")
                target = RECIPE_TARGETS.get(phase, {}).get(_size_key(size))
                rows.append({
                    "size": size, "phase": phase, "recipe_variant": recipe_variant, "hive_variant": hive,
                    "recipe_n": len(recipe_good), "hive_n": len(hive_good),
                    "recipe_failed": sum(1 for r in recipe_runs if not r.ok and not r.expected_failure),
                    "recipe_expected_failures": sum(1 for r in recipe_runs if r.expected_failure),
                    "hive_failed": len(hive_runs) - len(hive_good),
                    "recipe_not_idempotent": sum(1 for r in recipe_good if phase == "rerun" and not r.idempotent),
                    "hive_not_idempotent": sum(1 for r in hive_good if phase == "rerun" and not r.idempotent),
                    "recipe_median": r_med, "hive_median": h_med, "ratio": ratio, "target": target,
                    "meets_target": (ratio <= target) if target is not None and not math.isnan(ratio) else None,
                    # untimed: how long after the playbook ended the swarm was whole (every node Ready, every
                    # manager Reachable); the recipe does not wait for that, site.yml does
                    "recipe_settle": _median([r.phases.get("settle", 0.0) for r in recipe_good]),
                    "hive_settle": _median([r.phases.get("settle", 0.0) for r in hive_good]),
                    "recipe_cpu_s": _median([r.cpu_s for r in recipe_good]),
                    "hive_cpu_s": _median([r.cpu_s for r in hive_good]),
                    "note": note,
                })
        limit = {r["size"]: r for r in rows if r["phase"] == "limit"}
        small, big = (limit.get(s) for s in LIMIT_SCALING)
        scaling = None
        if small and big and small["hive_n"] and big["hive_n"]:
            value = big["hive_median"] / small["hive_median"]
            scaling = {"sizes": list(LIMIT_SCALING), "hive_limit_ratio": value, "target": LIMIT_SCALING_TARGET,
                       "meets_target": value <= LIMIT_SCALING_TARGET}
        return {"recipe": self.recipe, "hive_variant": hive, "host_python": self.host_python, "rows": rows,
                "limit_scaling": scaling}

    def print_comparison(self) -> None:
        data = self.comparison()
        if not data:
            return
        label = {"first": "first converge", "rerun": "no-change re-run", "limit": "--limit +1 worker"}
        print(f"\nsite.yml ({data['hive_variant']}) against the recipe (bench/recipe/site.yml, community.docker "
              f"{self.recipe.get('community.docker')}, ansible {self.recipe.get('ansible')}); managed hosts' python "
              f"{self.host_python}; medians, runs alternating recipe then site.yml")
        head = (f"{'size':<5} {'measurement':<18} {'n':>4} {'recipe':>7} {'hive':>7} {'hive/recipe':>11} "
                f"{'target':>7} {'met?':<4} {'settle r/h':>10} {'cpu r/h':>11}")
        print(head + "\n" + "-" * len(head))
        notes: List[str] = []
        for r in data["rows"]:
            verdict = "" if r["meets_target"] is None else ("yes" if r["meets_target"] else "NO")
            target = f"<={r['target']:.2f}x" if r["target"] is not None else ""
            mark = ""
            if r["note"]:
                notes.append(f"{r['size']} {label[r['phase']]}: {r['note']}")
                mark = "*" * len(notes)
            counts = ("recipe_failed", "hive_failed", "recipe_not_idempotent", "hive_not_idempotent")
            extra = "".join(f"  {r[k]} {k.replace('_', ' ')}" for k in counts if r[k])
            print(f"{r['size']:<5} {label[r['phase']]:<18} {r['recipe_n']:>1}/{r['hive_n']:<2} "
                  f"{r['recipe_median']:7.2f} {r['hive_median']:7.2f} {r['ratio']:10.2f}x {target:>7} {verdict:<4} "
                  f"{r['recipe_settle']:4.1f}/{r['hive_settle']:<4.1f} {r['recipe_cpu_s']:5.1f}/{r['hive_cpu_s']:<5.1f}"
                  f"{mark}{extra}")
        for i, text in enumerate(notes, 1):
            print(f"{'*' * i} {text}")
        scaling = data["limit_scaling"]
        if scaling:
            print(f"hive --limit +1 worker {LIMIT_SCALING[1]} / {LIMIT_SCALING[0]} = {scaling['hive_limit_ratio']:.2f} "
                  f"(target <= {LIMIT_SCALING_TARGET}: {'yes' if scaling['meets_target'] else 'NO'})")
        else:
            print(f"hive --limit +1 worker {LIMIT_SCALING[1]} / {LIMIT_SCALING[0]}: needs both sizes "
                  f"(target <= {LIMIT_SCALING_TARGET})")
        print("n = recipe/hive runs that succeeded; settle = seconds after the playbook until every node was Ready "
              "and every manager Reachable (untimed); cpu = controller CPU seconds. Targets (issue 16) are reported, "
              "not asserted.", flush=True)

    def profile_rows(self, phase: str, variant: str = "baseline") -> List[Dict[str, Any]]:
        """Per task name: median wall (task start to next task start) over the runs of a phase, per size."""
        out: List[Dict[str, Any]] = []
        for size in sorted({r.size for r in self.runs}, key=_size_key):
            runs = [r for r in self.runs if r.size == size and r.phase == phase and r.variant == variant
                    and r.ok and r.profile]
            per_task: Dict[str, List[Dict[str, Any]]] = {}
            overhead: List[Dict[str, float]] = []
            for r in runs:
                data = json.loads(Path(r.profile).read_text())
                sums: Dict[str, Dict[str, Any]] = {}
                for t in data["tasks"]:
                    s = sums.setdefault(t["name"], {"wall": 0.0, "busy": 0.0, "count": 0, "retries": 0, "host_s": []})
                    s["wall"] += t["wall"]
                    s["busy"] += t["busy"]
                    s["count"] += 1
                    s["retries"] += t["retries"]
                    s["host_s"] += list(t["hosts"].values())
                for name, s in sums.items():
                    per_task.setdefault(name, []).append(s)
                first_task = min((t["start"] for t in data["tasks"]), default=0.0)
                overhead.append({"startup": data["callback_loaded"] + first_task - data["process_start"],
                                 "exit": data["process_start"] + data["process_seconds"] - data["end"],
                                 "tasks": sum(t["wall"] for t in data["tasks"])})
            for name, samples in per_task.items():
                host_s = [x for s in samples for x in s["host_s"]]
                out.append({"size": size, "phase": phase, "variant": variant, "task": name, "runs": len(samples),
                            "wall": _median([s["wall"] for s in samples]),
                            "busy": _median([s["busy"] for s in samples]),
                            "count": _median([s["count"] for s in samples]),
                            "retries": _median([s["retries"] for s in samples]),
                            "host_median": _median(host_s) if host_s else 0.0,
                            "host_max": max(host_s) if host_s else 0.0})
            if overhead:
                for key in ("startup", "exit"):
                    out.append({"size": size, "phase": phase, "variant": variant,
                                "task": f"(process {key}: python, plugins, inventory)"
                                if key == "startup" else "(process exit after the recap)", "runs": len(overhead),
                                "wall": _median([o[key] for o in overhead]), "busy": 0.0, "count": 1, "retries": 0,
                                "host_median": 0.0, "host_max": 0.0})
        return out

    def _profiled_variants(self) -> List[str]:
        return [v.name for v in self.variants] + (["recipe", "recipe+m1"] if self.args.against == "recipe" else [])

    def print_profile(self, top: int = 15) -> None:
        for variant in [self.variants[0].name] + (["recipe"] if self.args.against == "recipe" else []):
            for phase in ("first", "rerun", "limit", "status"):
                self._print_profile_phase(phase, variant, top)

    def _print_profile_phase(self, phase: str, variant: str, top: int) -> None:
        rows = self.profile_rows(phase, variant)
        for size in sorted({r["size"] for r in rows}, key=_size_key):
            mine = sorted((r for r in rows if r["size"] == size), key=lambda r: -r["wall"])
            total = sum(r["wall"] for r in mine)
            print(f"\nprofile {size} {phase} {variant} (median over runs; wall = task start to next task start; "
                  f"sum {total:.1f}s)")
            print(f"{'wall':>6} {'share':>5} {'n':>3} {'retry':>5} {'host med':>8} {'host max':>8}  task")
            for r in mine[:top]:
                print(f"{r['wall']:6.2f} {100 * r['wall'] / total if total else 0:4.0f}% {r['count']:3.0f} "
                      f"{r['retries']:5.0f} {r['host_median']:8.2f} {r['host_max']:8.2f}  {r['task'][:90]}")

    def micro_rows(self) -> List[Dict[str, Any]]:
        """Seconds per call of each micro task (busy time of the one host / items), median over runs."""
        out: List[Dict[str, Any]] = []
        for size in sorted({r.size for r in self.runs}, key=_size_key):
            for v in self.variants:
                per: Dict[str, List[float]] = {}
                for r in self.runs:
                    if (r.size, r.phase, r.variant) != (size, "micro", v.name) or not r.ok or not r.profile:
                        continue
                    for t in json.loads(Path(r.profile).read_text())["tasks"]:
                        if t["name"].startswith("Micro | ") and t["hosts"]:
                            per.setdefault(t["name"][len("Micro | "):], []).append(t["busy"] / max(1, t["items"]))
                if per:
                    out.append({"size": size, "variant": v.name, "calls": len(next(iter(per.values()))),
                                "per_call": {k: round(_median(x), 4) for k, x in per.items()}})
        return out

    def print_micro(self) -> None:
        for row in self.micro_rows():
            c = row["per_call"]
            print(f"\nper-call cost {row['size']} {row['variant']} (median of {row['calls']} calls, s per call):")
            for name, secs in c.items():
                print(f"  {secs:6.3f}  {name}")
            parts = {
                "controller task/item overhead (debug)": c.get("debug"),
                "SSH exec over ControlMaster (raw true)": c.get("raw true"),
                "remote python3 start": _diff(c.get("raw python3 -c pass"), c.get("raw true")),
                "import docker SDK": _diff(c.get("raw python3 -c 'import docker'"), c.get("raw python3 -c pass")),
                "AnsiballZ module framework (ping - raw python)": _diff(c.get("ping"), c.get("raw python3 -c pass")),
                "hive.swarm module beyond ping (SDK import + /info)": _diff(
                    c.get("swarm_node_info local_only"), c.get("ping")),
            }
            print("  breakdown:")
            for name, secs in parts.items():
                if secs is not None:
                    print(f"  {secs:6.3f}  {name}")

    def write_json(self) -> None:
        data = {
            "stamp": self.stamp, "argv": sys.argv[1:], "host": os.uname().nodename, "cpus": os.cpu_count(),
            "lab": {"name": self.args.lab_name, "net": self.args.net, "reports": self.lab_reports},
            "source": self.args.source, "reset": self.args.reset, "reset_wipe_fallbacks": self.wiped,
            "reset_seconds": self.reset_seconds, "ssh": self.args.ssh,
            "variants": [asdict(v) for v in self.variants],
            "ansible_cfg": (self.src / "ansible.cfg").read_text() if (self.src / "ansible.cfg").is_file() else "",
            "git_head": self.git_state["head"], "git_dirty": self.git_state["dirty"],
            "summary": self.summary(), "scaling": self.scaling(), "runs": [asdict(r) for r in self.runs],
            "against": self.args.against, "host_python": self.host_python, "comparison": self.comparison(),
        }
        data["micro"] = self.micro_rows()
        if self.args.profile:
            data["profile"] = [row for ph in ("first", "rerun", "limit", "status") for v in self._profiled_variants()
                               for row in self.profile_rows(ph, v)]
        tmp = self.json_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=str) + "\n")
        tmp.replace(self.json_path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n\n", maxsplit=1)[0])
    p.add_argument("--sizes", default="3+2,3+5", help="comma-separated MANAGERS+WORKERS (default 3+2,3+5)")
    p.add_argument("--reps", type=int, default=3, help="repetitions per measurement (default 3)")
    p.add_argument("--variant", action="append", metavar="NAME[:SPEC]",
                   help="ansible variant to measure (repeatable; default baseline). Presets: "
                        + ", ".join(f"{k}={v!r}" for k, v in PRESETS.items() if v)
                        + ". SPEC: VAR=VALUE environment overrides and/or ansible-playbook arguments; "
                        "BENCH_SSH=warm|cold overrides --ssh for the variant")
    p.add_argument("--against", choices=("floor", "recipe"), default="floor",
                   help="floor: site.yml against the raw docker CLI (default); recipe: site.yml against "
                        "bench/recipe/site.yml (community.docker, from bench/.venv-recipe, created on first use), "
                        "alternating, with ratios against issue 16's targets")
    p.add_argument("--phases", default=None,
                   type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                   help="subset of floor,first,rerun,status,micro,limit (rerun/status/micro need first; --profile "
                        "adds micro; limit: --limit add-one-worker on a converged swarm). Default: "
                        "floor,first,rerun,status; with --against recipe: first,rerun,limit")
    p.add_argument("--host-python", default=None, metavar="system|venv|PATH",
                   help="ansible_python_interpreter of the lab hosts, for every playbook: system = /usr/bin/python3 "
                        "(Debian's python3-docker 5.0.3; the default), venv = the dev venv's python (docker SDK 7.x; "
                        "the default with --against recipe), or a path")
    p.add_argument("--run-timeout", type=float, default=900,
                   help="stop an ansible-playbook run that has not finished after this many seconds (default 900)")
    p.add_argument("--profile", action="store_true", help="per-task timing callback; prints the top tasks")
    p.add_argument("--no-micro", action="store_true", help="with --profile: skip the micro.yml phase")
    p.add_argument("--reset", choices=("wipe", "leave"), default="wipe",
                   help="fresh engines before each floor / first converge: wipe = `hivelab wipe` of every host (engine "
                        "killed, new data root, restarted; ~3s for 8 hosts; default); leave = `swarm leave --force` "
                        "+ drop docker_gwbridge (faster, but workers' ingress network sometimes lingers for more than "
                        "30s: such hosts are wiped)")
    p.add_argument("--ssh", choices=("cold", "warm"), default="cold",
                   help="cold: every ansible-playbook starts without SSH ControlMaster sockets (default); warm: "
                        "first/rerun/status of one repetition share them (ControlPersist as a user re-running)")
    p.add_argument("--source", choices=("head", "worktree"), default="head",
                   help="head: measure a snapshot of the committed tree (git archive HEAD; default); worktree: the "
                        "checkout as it is, uncommitted edits included")
    p.add_argument("--lab-name", default="bench", help="lab name (default bench)")
    p.add_argument("--net", type=int, default=40, help="lab subnet 198.18.NET.0/24 (default 40; use 40-49)")
    p.add_argument("--keep-lab", action="store_true", help="leave the last lab up")
    p.add_argument("--results-dir", default=str(BENCH / "results"))
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.phases is None:
        args.phases = ["first", "rerun", "limit"] if args.against == "recipe" else ["floor", "first", "rerun", "status"]
    if args.host_python is None:
        args.host_python = "venv" if args.against == "recipe" else "system"
    if args.profile and "micro" not in args.phases and not args.no_micro:
        args.phases.append("micro")
    bad = [p for p in args.phases if p not in ("floor", "first", "rerun", "status", "micro", "limit")]
    if bad:
        print(f"bench: unknown phases {bad}", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("bench: needs root (the lab uses network namespaces)", file=sys.stderr)
        return 2
    try:
        return Bench(args).run()
    except (BenchError, hivelab.LabError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

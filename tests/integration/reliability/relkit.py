"""Helpers of the reliability suite: run playbooks, parse their outcome, read the Engines independently.

The independent reader talks HTTP to each lab host's Engine socket through ``hivelab`` (never the
modules or the docker SDK); the docker CLI (``lab.docker``) is used where a second reader helps
(token values). Snapshots compare what a change would alter: local state of every host, and per
swarm its ID, spec version and spec, and the node list (ID and spec: role, availability, labels). Node status
(ready/down), raft leadership and the node descriptions (hostname, engine) move on their own and are not
part of "unchanged".
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import yaml

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
if str(REPO / "lab") not in sys.path:
    sys.path.insert(0, str(REPO / "lab"))

import hivelab  # noqa: E402

SECRETS = ("SWMTKN-", "SWMKEY-")
# HIVE_REL_LAB / HIVE_REL_NET: another lab name and net, to run files of the suite beside a run that uses rel1.
LAB_NAME = os.environ.get("HIVE_REL_LAB", "rel1")
LAB_NET = int(os.environ.get("HIVE_REL_NET", "30"))
MANAGERS = tuple(f"{LAB_NAME}-m{i}" for i in (1, 2, 3))
WORKERS = tuple(f"{LAB_NAME}-w{i}" for i in (1, 2))
ALL = MANAGERS + WORKERS
# Drop a dead SSH link within ~6 s (the lab's own args keep the defaults).
SSH_ALIVE = "-o ServerAliveInterval=2 -o ServerAliveCountMax=3"
RECAP_RE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)\s+ignored=(?P<ignored>\d+)",
    re.M,
)
# 'fatal: [h]: FAILED! => {...}', 'fatal: [h -> d]: UNREACHABLE! => {...}', 'failed: [h] (item=x) => {...}'
FAIL_RE = re.compile(
    r"^(?P<verb>fatal|failed): \[(?P<host>[^\]]+)\](?: \(item=(?P<item>[^\n]*?)\))?(?:: (?P<kind>FAILED|UNREACHABLE)!)?"
    r" => (?P<json>\{.*\})\s*$",
    re.M,
)
TASK_RE = re.compile(r"^TASK \[(?P<task>.*?)\] \**$", re.M)


def env(extra: Optional[dict[str, str]] = None) -> dict[str, str]:
    out = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}",
           "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
           "ANSIBLE_CALLBACK_FORMAT_PRETTY": "false"}
    out.update(extra or {})
    return out


class Run:
    """A finished ansible-playbook run: rc, output, PLAY RECAP per host, failures (parsed JSON results)."""

    def __init__(self, rc: int, out: str, seconds: float, name: str) -> None:
        self.rc = rc
        self.out = out
        self.seconds = seconds
        self.name = name
        recap = out[out.rfind("PLAY RECAP"):] if "PLAY RECAP" in out else ""
        self.recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed", "skipped")}
                      for m in RECAP_RE.finditer(recap)}
        self.failures: list[dict[str, Any]] = []
        for m in FAIL_RE.finditer(out):
            try:
                result = json.loads(m["json"])
            except ValueError:
                result = {"msg": m["json"]}
            task = ""
            for t in TASK_RE.finditer(out, 0, m.start()):
                task = t["task"]
            self.failures.append({"host": m["host"], "item": m["item"], "unreachable": m["kind"] == "UNREACHABLE",
                                  "task": task, "result": result, "msg": str(result.get("msg", ""))})

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    @property
    def failed_hosts(self) -> set[str]:
        return {h for h, r in self.recap.items() if r["failed"]}

    @property
    def unreachable_hosts(self) -> set[str]:
        return {h for h, r in self.recap.items() if r["unreachable"]}

    @property
    def messages(self) -> str:
        return "\n".join(f"[{f['host']}] {f['task']}: {f['msg']}" for f in self.failures)

    def ok(self) -> Run:
        assert self.rc == 0, f"{self.name}: rc={self.rc}\n{self.messages}\n{self.out[-6000:]}"
        assert self.recap, f"{self.name}: no PLAY RECAP\n{self.out[-4000:]}"
        assert not self.failed_hosts and not self.unreachable_hosts, self.recap
        return self

    def failed_with(self, *phrases: str) -> str:
        """Assert the run failed and one failure message holds every phrase; returns that message."""
        assert self.rc != 0, f"{self.name}: expected a failure, rc=0\n{self.out[-3000:]}"
        for f in self.failures:
            if all(p in f["msg"] for p in phrases):
                return f["msg"]
        raise AssertionError(f"{self.name}: no failure message with {phrases!r}; failures:\n{self.messages}\n"
                             f"{self.out[-3000:]}")


def start_playbook(inventory: Path, *args: str, playbook: str = "site.yml",
                   extra_env: Optional[dict[str, str]] = None, controller: str = "",
                   session: bool = False) -> tuple[subprocess.Popen, float]:
    """ansible-playbook in the background; ``controller``: as another controller (a UTS namespace with that
    hostname: the lock's owner line names it; ansible-playbook keeps the process ID of the Popen), ``session``: in a
    new session (its process group can be killed)."""
    argv = [str(BIN / "ansible-playbook"), "-i", str(inventory), playbook, *args]
    if controller:
        argv = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', controller, *argv]
    proc = subprocess.Popen(argv, cwd=REPO, env=env(extra_env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=session)
    return proc, time.monotonic()


def finish_playbook(started: tuple[subprocess.Popen, float], name: str, timeout: float = 900) -> Run:
    proc, t0 = started
    out = proc.communicate(timeout=timeout)[0]
    run = Run(proc.returncode, out, time.monotonic() - t0, name)
    print(f"[{name}] rc={run.rc} changed={run.changed} {run.seconds:.1f}s")
    return run


def finish_all(started: dict[str, tuple[subprocess.Popen, float]], label: str, timeout: float = 900) -> dict[str, Run]:
    """Wait for runs started together; each Run's seconds is its own wall time (collected in threads)."""
    with ThreadPoolExecutor(max_workers=len(started) or 1) as pool:
        futures = {key: pool.submit(finish_playbook, s, f"{label}: {key}", timeout) for key, s in started.items()}
        return {key: future.result() for key, future in futures.items()}


def playbook(inventory: Path, *args: str, name: str, playbook: str = "site.yml",
             extra_env: Optional[dict[str, str]] = None, timeout: float = 900) -> Run:
    return finish_playbook(start_playbook(inventory, *args, playbook=playbook, extra_env=extra_env), name, timeout)


def write_inventory(lab: hivelab.Lab, path: Path, *, leave_out: Iterable[str] = (),
                    host_vars: Optional[dict[str, dict[str, Any]]] = None,
                    all_vars: Optional[dict[str, Any]] = None,
                    move: Optional[dict[str, str]] = None) -> Path:
    """The lab's inventory with changes: hosts left out, host vars added (None removes one), ``all_vars``,
    ``move`` = {host: 'manager'|'worker'}; every host gets dead-link detection on SSH."""
    lab.write_inventory(path)
    inv = yaml.safe_load(path.read_text())
    groups = inv["all"]["children"]["docker_swarm"]["children"]
    for group in groups.values():
        group["hosts"] = group.get("hosts") or {}
    for host, role in (move or {}).items():
        for group in groups.values():
            hv = group["hosts"].pop(host, None)
            if hv is not None:
                groups[f"docker_swarm_{role}"]["hosts"][host] = hv
    for group in groups.values():
        for name in leave_out:
            group["hosts"].pop(name, None)
        for name, hv in group["hosts"].items():
            hv["ansible_ssh_common_args"] = f"{hv.get('ansible_ssh_common_args', '')} {SSH_ALIVE}".strip()
            for key, value in (host_vars or {}).get(name, {}).items():
                if value is None:
                    hv.pop(key, None)  # None removes a variable the lab sets
                else:
                    hv[key] = value
    if all_vars:
        inv["all"]["vars"] = dict(all_vars)
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return path


def ip_of(lab: hivelab.Lab, host: str) -> str:
    """The lab address of ``host``."""
    return next(h.ip for h in lab.hosts if h.name == host)


# --------------------------------------------------------------------------- independent reader
def info(lab: hivelab.Lab, host: str, timeout: float = 5) -> Optional[dict[str, Any]]:
    """The Engine's /info, or None when the engine does not answer."""
    try:
        return lab.api(host, "GET", "/info", timeout=timeout)
    except (OSError, socket.timeout, hivelab.LabError):
        return None


def swarm_of(lab: hivelab.Lab, host: str) -> dict[str, Any]:
    data = info(lab, host)
    return (data or {}).get("Swarm") or {}


def local_state(lab: hivelab.Lab, host: str) -> str:
    data = info(lab, host)
    if data is None:
        return "engine down"
    return (data.get("Swarm") or {}).get("LocalNodeState") or "inactive"


def snapshot(lab: hivelab.Lab) -> dict[str, Any]:
    """What a change would alter, read from every host's Engine (see the module docstring)."""
    local: dict[str, Any] = {}
    readers: dict[str, str] = {}
    for h in lab.hosts:
        data = info(lab, h.name)
        sw = (data or {}).get("Swarm") or {}
        cluster = (sw.get("Cluster") or {}).get("ID")
        local[h.name] = {"state": sw.get("LocalNodeState", "engine down" if data is None else "inactive"),
                         "node_id": sw.get("NodeID") or None, "cluster": cluster}
        if cluster and sw.get("ControlAvailable") and not sw.get("Error") and cluster not in readers:
            readers[cluster] = h.name
    clusters: dict[str, Any] = {}
    for cluster, host in readers.items():
        try:
            sw = lab.api(host, "GET", "/swarm", timeout=10)
            nodes = lab.api(host, "GET", "/nodes", timeout=10)
        except (OSError, socket.timeout, hivelab.LabError) as err:
            clusters[cluster] = {"error": str(err)}
            continue
        clusters[cluster] = {
            "version": sw["Version"]["Index"], "spec": sw["Spec"],
            # by ID, the spec only: a node's description (hostname, engine) is the node's own report, which a
            # restarted manager can give with another node's values for a while (moby/moby#46167)
            "nodes": {n["ID"]: n["Spec"] for n in nodes},
        }
    return {"local": local, "clusters": clusters}


def nodes(lab: hivelab.Lab, manager: str) -> list[dict[str, Any]]:
    return lab.api(manager, "GET", "/nodes", timeout=10)


def poll(what: str, predicate: Callable[[], Any], timeout: float = 60, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def healthy(lab: hivelab.Lab, hosts: Iterable[str], managers: Iterable[str]) -> Optional[str]:
    """None when ``hosts`` form exactly one swarm, every listed node is ready, ``managers`` are reachable
    managers and the other hosts workers, and the node list has no other entries; else what is wrong."""
    hosts, managers = list(hosts), set(managers)
    states = {h: swarm_of(lab, h) for h in hosts}
    bad = {h: s.get("LocalNodeState") for h, s in states.items() if s.get("LocalNodeState") != "active"}
    if bad:
        return f"not active: {bad}"
    clusters = {swarm_of(lab, m).get("Cluster", {}).get("ID") for m in managers}
    if len(clusters) != 1 or None in clusters:
        return f"cluster IDs of managers: {clusters}"
    listed = nodes(lab, sorted(managers)[0])
    by_id = {n["ID"]: n for n in listed}
    if set(by_id) != {s["NodeID"] for s in states.values()}:
        return f"node list {sorted((n['Description']['Hostname'], n['ID'], n['Status']['State']) for n in listed)}"
    for h, s in states.items():
        n = by_id[s["NodeID"]]
        want = "manager" if h in managers else "worker"
        if n["Status"]["State"] != "ready" or n["Spec"]["Role"] != want:
            return f"{h}: {n['Status']['State']} {n['Spec']['Role']}"
        if want == "manager" and n.get("ManagerStatus", {}).get("Reachability") != "reachable":
            return f"{h}: manager {n.get('ManagerStatus')}"
    if sum(1 for n in listed if n.get("ManagerStatus", {}).get("Leader")) != 1:
        return "not exactly one leader"
    return None


def listed_down_while_running(lab: hivelab.Lab, hosts: Iterable[str], managers: Iterable[str]) -> list[str]:
    """The hosts whose engine runs and reports itself an active member while the swarm lists their node ``down``
    (heartbeat failure): the Engine's agent lost its session to the dispatcher and has not opened another one.
    Seen once in the gating run (Engine 20.10): a manager stopped and started again stayed listed down for over
    5 minutes while its own engine served; swarmkit issue #2868 reports the same after a reboot."""
    listed: list[dict[str, Any]] = []
    for m in managers:
        try:
            listed = nodes(lab, m)
        except (OSError, hivelab.LabError):
            continue
        if listed:
            break
    down = {n["ID"] for n in listed if n["Status"]["State"] == "down"}
    out = []
    for h in hosts:
        s = swarm_of(lab, h)
        if s.get("LocalNodeState") == "active" and s.get("NodeID") in down:
            out.append(h)
    return out


def restart_listed_down(lab: hivelab.Lab) -> list[str]:
    """Restart (lab.restart) each engine of the five hosts that listed_down_while_running finds; returns them."""
    stuck = listed_down_while_running(lab, ALL, MANAGERS)
    for h in stuck:
        lab.restart(h)
    return stuck


def back_healthy(lab: hivelab.Lab, what: str, timeout: float = 90) -> str:
    """Poll until the five hosts are one healthy swarm. When the deadline passes with a node listed down while
    its engine runs (listed_down_while_running: the Engine's, not the product's, and no site.yml run changes it),
    restart that engine once and poll again. Returns a note for the case's observation ('' when none was
    needed); fails as ``poll`` does when the swarm is still not healthy."""
    try:
        poll(what, lambda: healthy(lab, ALL, MANAGERS) is None, timeout)
        return ""
    except AssertionError:
        stuck = restart_listed_down(lab)
        if not stuck:
            raise
    poll(f"{what} (after restarting {', '.join(stuck)})", lambda: healthy(lab, ALL, MANAGERS) is None, timeout)
    return (f" (the Engine listed {', '.join(stuck)} down for {timeout:.0f} s while it ran: restarted once more, "
            "then healthy)")


def ensure_converged(lab: hivelab.Lab, inventory: Path) -> None:
    """The lab as one healthy swarm of all five hosts: engines started, links up, an engine the swarm lists down
    while it runs restarted (listed_down_while_running), site.yml if needed."""
    problem = healthy(lab, ALL, MANAGERS)
    if problem is None:
        return
    print(f"converging first: {problem}")
    for h in ALL:
        if not lab.link_up(h):
            lab.heal(h)
        if not lab.engine_up(h):
            lab.start(h)
    stuck = restart_listed_down(lab)
    if stuck:
        print(f"restarted the engines listed down while they ran: {stuck}")
    playbook(inventory, name="converge (set-up)").ok()
    problem = healthy(lab, ALL, MANAGERS)
    assert problem is None, problem


def leave_all(lab: hivelab.Lab, hosts: Optional[Iterable[str]] = None) -> None:
    """A fresh lab without new hosts: every engine leaves its swarm (forced), started, healed."""
    for h in hosts or [h.name for h in lab.hosts]:
        if not lab.link_up(h):
            lab.heal(h)
        if not lab.engine_up(h):
            lab.start(h)
        if local_state(lab, h) != "inactive":
            lab.docker(h, "swarm", "leave", "--force", check=False)
        poll(f"{h} inactive", lambda h=h: local_state(lab, h) == "inactive", 30)
        lab.exec(h, ["rm", "-rf", "/run/hive-swarm-converge.lock"])


SECRET_LIKE = re.compile(r"SWMTKN-[12]-(?:[01]-)?[0-9a-z]{50}-[0-9a-z]{25}|SWMKEY-1-[A-Za-z0-9+/]{20,}")


def leaked(text: str, values: Iterable[str] = (), prefixes: bool = True) -> list[str]:
    """Secret prefixes (``prefixes``; else only strings shaped like a real token or key) and secret values
    found in ``text``. Error hints show the shapes 'SWMTKN-1-<50 base36 ...>': use prefixes=False there."""
    found = [s for s in SECRETS if s in text] if prefixes else [m[:12] + "..." for m in SECRET_LIKE.findall(text)]
    found += [f"value {v[:12]}..." for v in values if v and v in text]
    return found


def main(argv: list[str]) -> int:
    """``python relkit.py restart-locked HOST``: for playbooks of the suite (lab operations as a task)."""
    if len(argv) == 2 and argv[0] == "restart-locked":
        lab = hivelab.Lab(LAB_NAME, LAB_NET)
        lab.stop(argv[1])
        lab.start(argv[1])
        poll(f"{argv[1]} locked", lambda: local_state(lab, argv[1]) == "locked", 60)
        return 0
    print(main.__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Case 8: bad input. Every case fails with a message holding a key phrase, and changes nothing: the
local state of every host, and every swarm's ID, spec version, spec and node list (IDs, hostnames,
node specs) are identical before and after (read from the Engines by the rel_hooks callback).

Module cases run as ONE playbook on localhost, each task delegated to its lab host, in this state:
the 3 managers and rel1-w1 in the swarm, rel1-w1 listed twice (it left and joined again, so its old
entry has the same hostname), rel1-w2 out of any swarm. Some setup steps in between (not cases) give
rel1-w2 its own one-manager swarm, autolocked and restarted (locked), for the last-manager and unlock
cases. Role cases (inventory errors) are site.yml runs, started together.
"""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
M1, W1, W2 = "rel1-m1", "rel1-w1", "rel1-w2"
W2_IP = "198.18.30.15"
REMOTE = ["198.18.30.11:2377"]
FOREIGN_TOKEN = "SWMTKN-1-" + "1" * 50 + "-" + secrets.token_hex(16)[:25]
WORKER_TOKEN = "{{ rel_tokens.join_tokens.worker }}"
WRONG_KEY = "SWMKEY-1-" + "A" * 43


class Case(NamedTuple):
    id: str
    title: str
    host: str
    module: str
    args: dict[str, Any]
    phrases: tuple[str, ...]


class Setup(NamedTuple):
    title: str
    task: dict[str, Any]


STEPS: list[Any] = [
    Setup("read the join tokens", {"hive.swarm.swarm_node_info": {"join_tokens": True}, "delegate_to": M1,
                                   "register": "rel_tokens", "no_log": True}),
    Setup("read rel1-m1's node ID", {"hive.swarm.swarm_node_info": {"local_only": True}, "delegate_to": M1,
                                     "register": "rel_m1"}),
    Case("01", "malformed join token", W2, "swarm_join",
         {"join_token": "SWMTKN-1-abc-def", "remote_addrs": REMOTE}, ("The join token is malformed", "SWMTKN-1-<50")),
    Case("02", "join token of another swarm", W2, "swarm_join",
         {"join_token": FOREIGN_TOKEN, "remote_addrs": REMOTE},
         ("The join token belongs to another swarm than the managers at 198.18.30.11:2377",
          "remote CA does not match fingerprint")),
    Case("03", "token of the wrong role (worker token, role manager) on a worker", W1, "swarm_join",
         {"join_token": WORKER_TOKEN, "remote_addrs": REMOTE, "role": "manager"},
         ("already in this swarm as a worker, not a manager", "hive.swarm.swarm_node")),
    Case("04", "advertise address not on the host", W2, "swarm_join",
         {"join_token": WORKER_TOKEN, "remote_addrs": REMOTE, "advertise_addr": "198.18.30.99"},
         ("advertise_addr '198.18.30.99': 198.18.30.99 is not an address of this host",)),
    Case("05", "unknown interface", W2, "swarm_join",
         {"join_token": WORKER_TOKEN, "remote_addrs": REMOTE, "advertise_addr": "eth9"},
         ("this host has no interface 'eth9'", "Interfaces here:")),
    Case("06", "unreachable remote_addrs (nothing listens)", W2, "swarm_join",
         {"join_token": WORKER_TOKEN, "remote_addrs": ["198.18.30.14:2399"], "advertise_addr": W2_IP},
         ("Could not join through any of 198.18.30.14:2399", "connection refused", "reachable from this host")),
    Case("07", "remote address with a bad port", W2, "swarm_join",
         {"join_token": WORKER_TOKEN, "remote_addrs": ["198.18.30.11:99999"]},
         ("the port must be a number from 1 to 65535",)),
    Case("08", "no remote address", W2, "swarm_join",
         {"join_token": WORKER_TOKEN, "remote_addrs": []}, ("remote_addrs is empty",)),
    Case("09", "init: negative snapshot_interval", W2, "swarm_init",
         {"advertise_addr": W2_IP, "snapshot_interval": -1}, ("snapshot_interval cannot be negative",)),
    Case("10", "init: bad duration string", W2, "swarm_init",
         {"advertise_addr": W2_IP, "dispatcher_heartbeat_period": "5 parsecs"},
         ("dispatcher_heartbeat_period: '5 parsecs' is not a duration",)),
    Case("11", "init: unknown interface", W2, "swarm_init", {"advertise_addr": "eth9"},
         ("this host has no interface 'eth9'",)),
    Case("12", "update: negative snapshot_interval", M1, "swarm_update", {"snapshot_interval": -5},
         ("snapshot_interval cannot be negative",)),
    Case("13", "update: bad duration string", M1, "swarm_update", {"node_cert_expiry": "90 days"},
         ("node_cert_expiry: '90 days' is not a duration",)),
    Case("14", "update: negative task_history_retention_limit", M1, "swarm_update",
         {"task_history_retention_limit": -3}, ("task_history_retention_limit cannot be negative",)),
    Case("15", "rotate_unlock_key with autolock off", M1, "swarm_update", {"rotate_unlock_key": True},
         ("rotate_unlock_key needs autolock", "autolock=true")),
    Case("16", "bad availability", M1, "swarm_node", {"node": "rel1-m2", "availability": "sleepy"},
         ("value of availability must be one of: active, pause, drain, got: sleepy",)),
    Case("17", "nonexistent node", M1, "swarm_node", {"node": "no-such-node", "availability": "drain"},
         ("No node with ID or hostname 'no-such-node'",)),
    Case("18", "hostname that matches two nodes", M1, "swarm_node", {"node": W1, "labels": {"zone": "x"}},
         ("Hostname 'rel1-w1' matches 2 nodes", "by its ID")),
    Case("19", "labels not a dict", M1, "swarm_node", {"node": "rel1-m2", "labels": ["zone", "a"]},
         ("labels", "dict")),
    Case("20", "negative wait_timeout", M1, "swarm_node", {"node": "rel1-m2", "role": "worker", "wait_timeout": -1},
         ("wait_timeout cannot be negative",)),
    Case("21", "conflicting options (local_only with nodes)", M1, "swarm_node_info",
         {"local_only": True, "nodes": True},
         ("local_only cannot be combined with nodes",)),
    Case("22", "remove self (the manager the task runs on)", M1, "swarm_node",
         {"node": "{{ rel_m1.local.node_id }}", "state": "absent"},
         ("Refusing to remove rel1-m1: it is the manager this module runs on", "another manager")),
    Setup("rel1-w2: its own one-manager swarm", {"hive.swarm.swarm_init": {"advertise_addr": W2_IP},
                                                 "delegate_to": W2, "register": "rel_scratch"}),
    Case("23", "demote the last manager", W2, "swarm_node", {"node": "{{ rel_scratch.node_id }}", "role": "worker"},
         ("Refusing to demote rel1-w2: it is the last manager of the swarm",)),
    Case("24", "last manager leaves without force", W2, "swarm_leave", {},
         ("last manager", "force=true")),
    Setup("rel1-w2: autolock on", {"hive.swarm.swarm_update": {"autolock": True}, "delegate_to": W2, "no_log": True}),
    Setup("rel1-w2: restart its engine (comes up locked)",
          {"ansible.builtin.command": {"argv": [sys.executable, str(HERE / "relkit.py"), "restart-locked", W2]},
           "changed_when": False}),
    Case("25", "unlock with a wrong key", W2, "swarm_unlock", {"unlock_key": WRONG_KEY},
         ("invalid key", "old key stops working")),
    Case("26", "unlock with a malformed key", W2, "swarm_unlock", {"unlock_key": "not-a-key"},
         ("The unlock key is malformed", "SWMKEY-1-")),
    Case("27", "init on a locked node", W2, "swarm_init", {"advertise_addr": W2_IP}, ("locked",)),
]
CASES = [s for s in STEPS if isinstance(s, Case)]


class RoleCase(NamedTuple):
    id: str
    title: str
    batch: str  # cases of one batch share one site.yml run (their errors are reported together)
    host_vars: dict[str, dict[str, Any]]
    phrases: tuple[str, ...]


ROLE_CASES = [
    RoleCase("R1", "host in both groups", "inventory", {}, (
        "Inventory check failed: hosts in both docker_swarm_manager and docker_swarm_worker: rel1-w1",)),
    RoleCase("R2", "advertise address not an IP", "inventory", {W2: {"docker_swarm_advertise_addr": "198.18.30.300"}},
             ("docker_swarm_advertise_addr is not an IP address for rel1-w2 (198.18.30.300)",)),
    RoleCase("R3", "no managers (all marked absent)", "no-manager",
             {m: {"docker_swarm_node_state": "absent"} for m in MANAGERS},
             ("no manager: put at least one host in the group docker_swarm_manager",)),
    RoleCase("R4", "bad availability", "variables", {W1: {"docker_swarm_node_availability": "sleepy"}},
             ("docker_swarm_node_availability", "sleepy", "active, pause, drain")),
    RoleCase("R5", "labels not a dict", "variables", {W2: {"docker_swarm_labels": ["zone", "a"]}},
             ("docker_swarm_labels", "dict")),
    RoleCase("R6", "bad node state", "variables", {"rel1-m3": {"docker_swarm_node_state": "gone"}},
             ("docker_swarm_node_state", "gone", "present, absent")),
    RoleCase("R7", "invalid variables stop every host", "variables", {},
             ("Inventory check failed: invalid role variables on", "rel1-w1", "rel1-w2", "rel1-m3",
              "nothing was changed")),
    RoleCase("R8", "unknown interface, no address (a host that must join)", "interface",
             {W2: {"docker_swarm_advertise_addr": None, "docker_swarm_interface": "eth9"}},
             ("No advertise address for rel1-w2", "interface eth9 has no IPv4 address", "Nothing was changed")),
]


def playbook_of(steps: list[Any], out: Path) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    for step in steps:
        if isinstance(step, Setup):
            tasks.append({"name": f"setup: {step.title}", **step.task})
        else:
            tasks.append({"name": f"case {step.id}: {step.title}", f"hive.swarm.{step.module}": step.args,
                          "delegate_to": step.host, "register": f"rel_case_{step.id}", "ignore_errors": True})
    results = "{" + ", ".join(f"'{c.id}': rel_case_{c.id}" for c in steps if isinstance(c, Case)) + "}"
    tasks.append({"name": "write the case results", "ansible.builtin.copy": {
        "content": "{{ " + results + " | to_json }}", "dest": str(out), "mode": "0600"}})
    return [{"name": "bad input", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


class TableRun(NamedTuple):
    results: dict[str, dict[str, Any]]
    snapshots: dict[str, Any]
    out: str


def prepare(lab: Any) -> None:
    """rel1-w1 listed twice (left and joined again), rel1-w2 out of any swarm with no entry."""
    token = lab.docker(M1, "swarm", "join-token", "-q", "worker").stdout.strip()
    w2_id = relkit.swarm_of(lab, W2)["NodeID"]
    lab.docker(W2, "swarm", "leave", "--force")
    lab.docker(M1, "node", "rm", "--force", w2_id)
    lab.docker(W1, "swarm", "leave", "--force")
    lab.docker(W1, "swarm", "join", "--token", token, "--advertise-addr", "198.18.30.14", "198.18.30.11:2377")
    relkit.poll("rel1-w1 listed twice",
                lambda: [n["Description"]["Hostname"] for n in relkit.nodes(lab, M1)].count(W1) == 2)


@pytest.fixture(scope="module")
def table(lab: Any, inv: Path, tmp_path_factory: pytest.TempPathFactory) -> TableRun:
    relkit.ensure_converged(lab, inv)
    prepare(lab)
    work = tmp_path_factory.mktemp("bad-input")
    book = work / "bad-input.yml"
    results_file, snapshots_file = work / "results.json", work / "snapshots.json"
    book.write_text(json.dumps(playbook_of(STEPS, results_file), indent=1))
    inv = relkit.write_inventory(lab, work / "inventory.yml")
    run = relkit.playbook(inv, playbook=str(book), name="bad input (module cases)", extra_env={
        "ANSIBLE_CALLBACK_PLUGINS": str(HERE / "callback_plugins"), "ANSIBLE_CALLBACKS_ENABLED": "rel_hooks",
        "HIVE_REL_SNAPSHOT_OUT": str(snapshots_file)})
    assert run.rc == 0, run.out[-5000:]
    tokens = [lab.docker(M1, "swarm", "join-token", "-q", r).stdout.strip() for r in ("worker", "manager")]
    assert relkit.leaked(run.out, [*tokens, FOREIGN_TOKEN], prefixes=False) == []
    lab.docker(W2, "swarm", "leave", "--force")
    return TableRun(json.loads(results_file.read_text()), json.loads(snapshots_file.read_text()), run.out)


def around(snapshots: dict[str, Any], name: str) -> tuple[dict[str, Any], dict[str, Any], float]:
    tasks = snapshots["tasks"]
    index = next(i for i, t in enumerate(tasks) if t["name"] == name)
    after = tasks[index + 1] if index + 1 < len(tasks) else {"before": snapshots["end"], "t": snapshots["t"]}
    return tasks[index]["before"], after["before"], after["t"] - tasks[index]["t"]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.id}-{c.module}" for c in CASES])
def test_module_bad_input(table: TableRun, case: Case, record: Any) -> None:
    res = table.results[case.id]
    row = record(f"8.{case.id}", f"bad input: {case.title}")
    shown = json.dumps(case.args).replace(WORKER_TOKEN, "<worker join token>")
    shown = shown.replace(FOREIGN_TOKEN, "<token of another CA>").replace(WRONG_KEY, "<well-formed wrong key>")
    row.inject(f"{case.module} on {case.host} {shown[:140]}")
    assert res.get("failed"), f"case {case.id} did not fail: {res}"
    msg = str(res.get("msg", ""))
    for phrase in case.phrases:
        assert phrase in msg, f"case {case.id}: {phrase!r} not in {msg!r}"
    before, after, seconds = around(table.snapshots, f"case {case.id}: {case.title}")
    assert after == before, f"case {case.id} changed the engines"
    assert relkit.leaked(msg, prefixes=False) == []
    row.observe(f"failed: '{msg[:160]}'; engines unchanged")
    row.seconds = seconds


@pytest.fixture(scope="module")
def role_table(table: TableRun, lab: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One site.yml run per batch, all batches started together (they fail before any change); the snapshot
    around all of them."""
    work = tmp_path_factory.mktemp("bad-role-input")
    before = relkit.snapshot(lab)
    started = {}
    for batch in dict.fromkeys(c.batch for c in ROLE_CASES):
        host_vars: dict[str, dict[str, Any]] = {}
        for case in ROLE_CASES:
            if case.batch == batch:
                for host, hv in case.host_vars.items():
                    host_vars.setdefault(host, {}).update(hv)
        inv = relkit.write_inventory(lab, work / f"{batch}.yml", host_vars=host_vars)
        if batch == "inventory":  # rel1-w1 in both groups
            text = inv.read_text().replace("docker_swarm_manager:\n          hosts:\n",
                                           "docker_swarm_manager:\n          hosts:\n            rel1-w1: {}\n", 1)
            assert text != inv.read_text()
            inv.write_text(text)
        started[batch] = relkit.start_playbook(inv)
    runs = relkit.finish_all(started, "role cases")
    return {"runs": runs, "before": before, "after": relkit.snapshot(lab)}


@pytest.mark.parametrize("case", ROLE_CASES, ids=[c.id for c in ROLE_CASES])
def test_role_bad_input(role_table: dict[str, Any], case: RoleCase, record: Any) -> None:
    run: relkit.Run = role_table["runs"][case.batch]
    row = record(f"8.{case.id}", f"bad inventory: {case.title}")
    given = "rel1-w1 in both groups" if case.id == "R1" else json.dumps(case.host_vars) if case.host_vars else "R4-R6"
    row.inject(f"site.yml with {given} (run '{case.batch}')")
    msg = run.failed_with(*case.phrases)
    assert run.changed == 0
    assert role_table["after"] == role_table["before"], "a role case changed the engines"
    assert not any(f["task"].endswith("Probe | Read the local swarm state of every host") for f in run.failures) \
        or case.batch == "interface"
    at = msg.find(case.phrases[0])  # batched cases share one message: quote this case's part of it
    excerpt = msg[:160] if at <= 0 else "..." + msg[at:at + 160]
    row.observe(f"failed: '{excerpt}'; nothing changed")
    row.seconds = run.seconds


def test_after_bad_input_site_converges(role_table: dict[str, Any], lab: Any, inv: Path, record: Any) -> None:
    """The lab as the table left it (rel1-w1 listed twice, rel1-w2 out) converges in one run."""
    row = record("8.end", "after the table: one site.yml run")
    row.inject("rel1-w1's old entry (same hostname) still listed, rel1-w2 out of the swarm")
    run = relkit.playbook(inv, name="converge after the bad-input table").ok()
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    row.observe(f"old rel1-w1 entry pruned, rel1-w2 joined; healthy (changed={run.changed})")

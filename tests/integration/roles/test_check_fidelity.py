"""Check-mode fidelity of every playbook that changes state (issue 15, item 6), on real lab engines.

Lab chk1 (net 42): 3 managers + 2 workers on the system engine, converged by site.yml, with a service of 2
replicas. For each playbook, in a scenario where the real run changes something (and, where it is cheap, once more
where there is nothing to do), ``fidelity`` does:

1. waits until the engines are quiet (no event for ``QUIET`` seconds: the aftermath of the previous step - an
   engine that finishes an unlock creates its ingress network, a restarted one re-creates its tasks - is not the
   check run's), then snapshots every engine (``state``: per host its swarm state, node ID and cluster, its
   dockerd's pid - a restart changes it; per swarm its ID, spec version and spec, every node's ID and spec, every
   service's ID, version and spec) and notes the time;
2. runs the playbook with ``--check --diff``;
3. asserts the engines saw no write: the snapshot is unchanged, and no engine that answers reports an event in the
   check run's time window (``GET /events?since=&until=``). Every event type counts as a write (container, image,
   volume, network, plugin, daemon, and on managers node, service, secret, config): the Engine emits events only
   for changes of its state, never for a read, so a check run must leave the stream empty. One exception: a node
   ``update`` that carries no ``role``/``availability`` change is the swarm's own report of a node's status or
   description (a worker re-registering with a new leader, for minutes after a recovery) - a label write gives the
   same event, and is caught by the spec comparison;
4. runs the same playbook with the same arguments for real; when it reports changes, the snapshot must differ (the
   readers see real writes) and the events of its window are counted for the table;
5. asserts that check mode predicted, host by host, as many changed tasks as the real run reported (PLAY RECAP),
   and that the real run changed what it is for (each test's own assertions).

The scenarios flow, in file order: remove_node (a worker), site.yml joins it again,
upgrade (the workers to Engine 28.5 in one batch with lab/engine_switch.yml), backup (lab/engine_control.yml stops
and starts the engine), restore (after every manager was wiped: the disaster), site.yml regrows the swarm with
autolock on, unlock (a restarted manager; again: nothing to do), rotate (join tokens and the unlock key, written to a
file), maintenance (a manager, its lab engine restarted by lab/engine_control.yml: it comes back locked and is
unlocked), recover (site.yml switches autolock off, the leader and another manager are killed; again: nothing to
recover). The table of predicted and real changes is printed at the end (pytest -s).
"""

from __future__ import annotations

import glob
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Optional

import hivelab
import pytest
from labfixtures import REPO

sys.path.insert(0, str(REPO / "tests" / "integration" / "reliability"))

import relkit

pytestmark = [pytest.mark.lab, pytest.mark.slow]

NAME, NET = "chk1", 42
M1, M2, M3, W1, W2 = (f"{NAME}-{h}" for h in ("m1", "m2", "m3", "w1", "w2"))
MANAGERS = (M1, M2, M3)
HOSTS = (M1, M2, M3, W1, W2)
TARGET = "28.5"
QUIET = 2.0  # seconds without an engine event before a check run starts
MARK = "hive.swarm.maintenance.availability"
ENGINE_CONTROL = ("-e", f"engine_control_tasks={REPO}/lab/engine_control.yml", "-e", f"hivelab_name={NAME}")
ROWS: list[tuple[str, int, int, int, str]] = []
STATE: dict[str, Any] = {}


# ----------------------------------------------------------------------------------------- reading the engines
def up(lab: hivelab.Lab) -> list[str]:
    return [h for h in HOSTS if lab.engine_up(h)]


def pid(lab: hivelab.Lab, host: str) -> Optional[str]:
    path = lab.host(host).dockerd_pidfile
    return path.read_text().strip() if path.exists() else None


def state(lab: hivelab.Lab) -> dict[str, Any]:
    """relkit.snapshot (local states; per swarm its spec, version and node specs), every host's dockerd pid, and the
    services as the first manager with control available lists them."""
    snap = relkit.snapshot(lab)
    snap["pids"] = {h: pid(lab, h) for h in HOSTS}
    services: Any = None
    for host in MANAGERS:
        sw = relkit.swarm_of(lab, host)
        if sw.get("ControlAvailable") and not sw.get("Error"):
            services = {s["ID"]: (s["Version"]["Index"], s["Spec"]) for s in lab.api(host, "GET", "/services")}
            break
    snap["services"] = services
    return snap


def name_of(event: dict[str, Any]) -> str:
    return str(((event.get("Actor") or {}).get("Attributes") or {}).get("name") or "")


def own_node_report(event: dict[str, Any]) -> bool:
    """The engine's own doing, not a write: a node update without a role or availability change (see the module
    docstring), or the ingress network an engine creates by itself some time after its swarm started (seen after
    an unlock, past the quiet period)."""
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    if (event.get("Type"), event.get("Action"), name_of(event)) == ("network", "create", "ingress"):
        return True
    return (event.get("Type"), event.get("Action")) == ("node", "update") and not (
        {"role.new", "availability.new"} & set(attributes))


def engine_events(lab: hivelab.Lab, since: float, until: float) -> dict[str, list[str]]:
    """host -> the events its engine reports between ``since`` and ``until`` ('type action name'), for every host
    whose engine answers (a stopped engine has no stream)."""
    out: dict[str, list[str]] = {}
    for host in up(lab):
        try:
            raw = lab.api(host, "GET", f"/events?since={since:.6f}&until={until:.6f}", timeout=30)
        except (hivelab.LabError, OSError):
            continue
        lines = raw.splitlines() if isinstance(raw, str) else [json.dumps(raw)] if raw else []
        events = [e for e in (json.loads(line) for line in lines if line.strip()) if not own_node_report(e)]
        if events:
            out[host] = [f"{e.get('Type')} {e.get('Action')} {name_of(e)}" for e in events]
    return out


def settle(lab: hivelab.Lab) -> None:
    """Poll until no engine reported an event during the last ``QUIET`` seconds."""
    def quiet() -> bool:
        now = time.time()
        return not engine_events(lab, now - QUIET, now)

    relkit.poll(f"{QUIET:g}s without an engine event", quiet, 120)


def fidelity(lab: hivelab.Lab, inv: Path, playbook: str, *args: str, label: str) -> relkit.Run:
    """--check --diff, then the real run (see the module docstring); returns the real run."""
    settle(lab)
    before = state(lab)
    t0 = time.time()
    check = relkit.playbook(inv, "--check", "--diff", *args, playbook=playbook, name=f"{label} --check").ok()
    t1 = time.time()
    assert state(lab) == before, f"{label}: --check changed the engines"
    writes = engine_events(lab, t0, t1)
    assert not writes, f"{label}: the engines saw writes during --check: {writes}"
    t2 = time.time()
    real = relkit.playbook(inv, *args, playbook=playbook, name=label).ok()
    seen = sum(len(e) for e in engine_events(lab, t2, time.time()).values())
    if real.changed:  # the same readers see the real run's writes
        assert state(lab) != before, f"{label}: the real run changed {real.changed} tasks, the snapshot nothing"
    predicted = {h: r["changed"] for h, r in check.recap.items()}
    done = {h: r["changed"] for h, r in real.recap.items()}
    per_host = ", ".join(f"{h.removeprefix(NAME + '-')}={n}" for h, n in done.items() if n)
    ROWS.append((label, check.changed, real.changed, seen, per_host or "-"))
    assert predicted == done, (f"{label}: --check predicted {predicted}, the real run changed {done}\n"
                               f"{check.out[-6000:]}")
    return real


def wait_healthy(lab: hivelab.Lab, managers: tuple[str, ...] = MANAGERS) -> None:
    relkit.poll("one healthy swarm", lambda: relkit.healthy(lab, HOSTS, managers) is None, 120)


def by_host(lab: hivelab.Lab, via: str) -> dict[str, dict[str, Any]]:
    return {n["Description"]["Hostname"]: n for n in relkit.nodes(lab, via)}


def leader(lab: hivelab.Lab) -> str:
    for host in MANAGERS:
        sw = relkit.swarm_of(lab, host)
        if sw.get("ControlAvailable") and not sw.get("Error"):
            return next(h for h, n in by_host(lab, host).items() if (n.get("ManagerStatus") or {}).get("Leader"))
    raise AssertionError("no manager serves the swarm")


def write_key(lab: hivelab.Lab, inv: Path, key: str = "") -> Path:
    key = key or lab.docker(leader(lab), "swarm", "unlock-key", "-q").stdout.strip()
    assert key.startswith("SWMKEY-")
    path = inv.parent / "key.yml"
    path.write_text(json.dumps({"docker_swarm_unlock_key": key}) + "\n")
    return path


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module", autouse=True)
def report() -> Any:
    yield
    width = max((len(r[0]) for r in ROWS), default=8)
    lines = [f"{'PLAYBOOK':<{width}}  PREDICTED  REAL  EVENTS (check 0, real)  CHANGED PER HOST (real)"]
    lines += [f"{label:<{width}}  {predicted:>9}  {real:>4}  {events:>22}  {hosts}"
              for label, predicted, real, events, hosts in ROWS]
    print("\ncheck-mode fidelity:\n" + "\n".join(lines))


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> hivelab.Lab:
    return lab_factory(NAME, NET, managers=3, workers=2)


@pytest.fixture(scope="module")
def inv(lab: hivelab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = relkit.write_inventory(lab, tmp_path_factory.mktemp(NAME) / "inventory.yml")
    relkit.playbook(path, name="converge 3+2").ok()
    lab.docker(M1, "service", "create", "--detach", "--name", "web", "--replicas", "2", hivelab.IMAGE, "sleep",
               "1000000")
    relkit.poll("2 running replicas", lambda: sum(1 for t in lab.api(M1, "GET", "/tasks")
                                                  if t["Status"]["State"] == "running") == 2, 120)
    return path


# ------------------------------------------------------------------------------------------------------- tests
def test_remove_node(lab: hivelab.Lab, inv: Path) -> None:
    args = ("-e", f"node={W2}", "-e", "confirm_remove=yes")
    fidelity(lab, inv, "playbooks/remove_node.yml", *args, label=f"remove_node {W2}")
    assert relkit.local_state(lab, W2) == "inactive" and W2 not in by_host(lab, M1)
    relkit.playbook(inv, name="site.yml joins w2 again").ok()
    wait_healthy(lab)


def test_upgrade_the_workers(lab: hivelab.Lab, inv: Path) -> None:
    args = ("-e", f"upgrade_engine_version={TARGET}", "-e", f"upgrade_install_tasks={REPO}/lab/engine_switch.yml",
            "-e", f"hivelab_name={NAME}", "-e", "maintenance_max_unavailable=2", "-e", "confirm_upgrade=yes",
            "--limit", f"{W1},{W2}")
    real = fidelity(lab, inv, "playbooks/upgrade.yml", *args, label=f"upgrade {W1}, {W2} to {TARGET}")
    assert f"TASK [Drain {W1}, {W2}]" in real.out
    listed = by_host(lab, M1)
    for host in (W1, W2):
        assert str(lab.engine_version(host)["Version"]).startswith(TARGET + "."), host
        assert listed[host]["Spec"]["Availability"] == "active" and MARK not in listed[host]["Spec"].get("Labels", {})


def test_backup(lab: hivelab.Lab, inv: Path) -> None:
    backups = inv.parent / "backups"
    pids = {h: pid(lab, h) for h in MANAGERS}
    fidelity(lab, inv, "playbooks/backup.yml", *ENGINE_CONTROL, "-e", f"backup_dir={backups}", "-e",
             "confirm_backup=yes", label="backup")
    archives = glob.glob(str(backups / "*.tar.gz"))
    assert len(archives) == 1, archives
    manifest = json.loads(Path(archives[0][: -len(".tar.gz")] + ".json").read_text())
    assert pid(lab, manifest["hostname"]) != pids[manifest["hostname"]], "the backed-up engine was restarted"
    STATE.update(archive=archives[0], manifest=manifest)
    wait_healthy(lab)


def test_restore_after_the_disaster(lab: hivelab.Lab, inv: Path) -> None:
    manifest = STATE["manifest"]
    for manager in MANAGERS:
        lab.wipe(manager)
    args = (*ENGINE_CONTROL, "-e", f"backup_archive={STATE['archive']}", "-e", f"restore_host={manifest['hostname']}",
            "-e", "confirm_restore=yes")
    fidelity(lab, inv, "playbooks/restore.yml", *args, label=f"restore onto {manifest['hostname']}")
    sw = relkit.swarm_of(lab, manifest["hostname"])
    assert sw["Cluster"]["ID"] == manifest["swarm_id"] and sw["NodeID"] == manifest["node_id"]
    relkit.playbook(inv, "-e", "docker_swarm_autolock=true", name="site.yml regrows the swarm, autolock on").ok()
    wait_healthy(lab)
    write_key(lab, inv)


def test_unlock(lab: hivelab.Lab, inv: Path) -> None:
    locked = next(m for m in MANAGERS if m != leader(lab))
    lab.restart(locked)
    relkit.poll(f"{locked} locked", lambda: relkit.local_state(lab, locked) == "locked", 60)
    key = ("-e", f"@{inv.parent / 'key.yml'}")
    fidelity(lab, inv, "playbooks/unlock.yml", *key, label=f"unlock {locked}")
    assert relkit.local_state(lab, locked) == "active"
    wait_healthy(lab)
    fidelity(lab, inv, "playbooks/unlock.yml", *key, label="unlock (none locked)")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_rotate(lab: hivelab.Lab, inv: Path) -> None:
    key_file = inv.parent / "unlock-key.txt"
    via = leader(lab)
    tokens = {k: digest(v) for k, v in lab.api(via, "GET", "/swarm")["JoinTokens"].items()}
    old_key = json.loads((inv.parent / "key.yml").read_text())["docker_swarm_unlock_key"]
    fidelity(lab, inv, "playbooks/rotate.yml", "-e", "rotate_unlock_key=true", "-e",
             f"rotate_unlock_key_file={key_file}", label="rotate (join tokens, unlock key)")
    after = {k: digest(v) for k, v in lab.api(via, "GET", "/swarm")["JoinTokens"].items()}
    assert after["Worker"] != tokens["Worker"] and after["Manager"] != tokens["Manager"]
    new_key = key_file.read_text().strip()
    assert new_key != old_key and new_key == lab.docker(via, "swarm", "unlock-key", "-q").stdout.strip()
    write_key(lab, inv, new_key)


def test_maintenance_of_a_manager(lab: hivelab.Lab, inv: Path) -> None:
    manager = next(m for m in MANAGERS if m != leader(lab))
    walked = (manager,)
    before = {h: (n["Spec"]["Availability"], n["Spec"].get("Labels", {})) for h, n in by_host(lab, M1).items()}
    pids = {h: pid(lab, h) for h in walked}
    real = fidelity(lab, inv, "playbooks/maintenance.yml", *ENGINE_CONTROL, "-e", "engine_control_action=restart",
                    "-e", f"maintenance_tasks={REPO}/lab/engine_control.yml", "-e", "confirm_maintenance=yes",
                    "-e", f"@{inv.parent / 'key.yml'}", "--limit", ",".join(walked),
                    label=f"maintenance {manager}")
    unlocks = [part.split("TASK [", 1)[0] for part in real.out.split("TASK [Unlock the engine (autolock)]")[1:]]
    assert any(f"changed: [{manager}]" in part for part in unlocks), "the restarted manager came back locked"
    assert all(pid(lab, h) != pids[h] for h in walked), "the walked engines were restarted"
    wait_healthy(lab)
    after = {h: (n["Spec"]["Availability"], n["Spec"].get("Labels", {})) for h, n in by_host(lab, M1).items()}
    assert after == before


def test_recover_a_lost_quorum(lab: hivelab.Lab, inv: Path) -> None:
    # Without autolock: force_new_cluster cannot re-create an autolocked swarm (Engine 20.10 answers "Swarm is
    # encrypted and needs to be unlocked" and leaves the survivor inactive), so recover.yml is run on a swarm whose
    # autolock was switched off.
    relkit.playbook(inv, "-e", "docker_swarm_autolock=false", "-e", f"@{inv.parent / 'key.yml'}",
                    name="site.yml switches autolock off").ok()
    wait_healthy(lab)
    lead = leader(lab)
    dead = (lead, next(m for m in MANAGERS if m != lead))
    survivor = next(m for m in MANAGERS if m not in dead)
    for host in dead:
        lab.stop(host, kill=True)

    def lost() -> bool:
        try:
            error = lab.api(survivor, "GET", "/info", timeout=60)["Swarm"].get("Error") or ""
        except (hivelab.LabError, OSError):
            return False
        return "does not have a leader" in error

    relkit.poll(f"{survivor} to report the lost quorum", lost, 120)
    args = ("-e", "confirm_recover=yes", "-e", "recover_probe_reads=1")
    # An inventory that says autolock: refused before any change (the Engine cannot force a new cluster then).
    before = state(lab)
    refused = relkit.playbook(inv, *args, "-e", "docker_swarm_autolock=true", playbook="playbooks/recover.yml",
                              name="recover, inventory autolocked")
    refused.failed_with("the inventory says it is autolocked", "Nothing was changed")
    assert state(lab) == before, "the refused recover.yml changed the engines"
    fidelity(lab, inv, "playbooks/recover.yml", *args, label=f"recover from {survivor}")
    listed = by_host(lab, survivor)
    assert sorted(listed) == sorted((survivor, W1, W2)), sorted(listed)
    assert listed[survivor]["ManagerStatus"]["Leader"] is True
    fidelity(lab, inv, "playbooks/recover.yml", *args, label="recover (nothing to recover)")

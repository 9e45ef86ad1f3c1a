"""backup.py: the decisions of playbooks/backup.yml and restore.yml (table-driven)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import backup as b

SWARM = "dpr3gnu94ue20xk6ohh0ie3rg"
NOW = datetime(2026, 12, 3, 9, 10, 33, tzinfo=timezone.utc)
ROOT = "/var/lib/docker"


def node(
    host: str, role: str = "manager", reach: Optional[str] = "reachable", leader: bool = False, state: str = "ready"
) -> dict[str, Any]:
    return {
        "id": f"{host}id",
        "hostname": host,
        "role": role,
        "state": state,
        "addr": f"10.0.0.{host[-1]}",
        "manager_reachability": reach if role == "manager" else None,
        "leader": leader,
    }


def probe(
    host: str,
    nodes: list[dict[str, Any]],
    autolock: bool = False,
    manager: bool = True,
    error: Optional[str] = None,
    root: Optional[str] = ROOT,
) -> dict[str, Any]:
    local = {
        "state": "active",
        "node_id": f"{host}id",
        "node_addr": f"10.0.0.{host[-1]}",
        "is_manager": manager,
        "control_available": manager,
        "error": error,
        "cluster_id": SWARM if manager else None,
        "hostname": host,
        "engine_version": "20.10.24",
        "docker_root_dir": root,
    }
    return {
        "local": local,
        "swarm": {"id": SWARM, "spec": {"autolock": autolock}} if manager else None,
        "nodes": nodes if manager else [],
    }


def three(**kw: Any) -> list[dict[str, Any]]:
    """m1 leader, m2 and m3 reachable, w1; keyword m2=... replaces a node's fields."""
    out = [node("m1", leader=True), node("m2"), node("m3"), node("w1", role="worker")]
    return [{**n, **kw.get(n["hostname"], {})} for n in out]


def probes(nodes: list[dict[str, Any]], **over: Any) -> dict[str, Any]:
    out: dict[str, Any] = {h: probe(h, nodes) for h in ("m1", "m2", "m3")}
    out.update(over)
    return out


def plan(
    probes_: dict[str, Any], wanted: str = "", allow: bool = False, key: bool = False, keep: int = 7
) -> b.BackupPlan:
    return b.backup_plan(probes_, wanted, allow, key, "/backups", keep, NOW)


@pytest.mark.parametrize(
    ("name", "probes_", "wanted", "allow", "key", "host", "refusal"),
    [
        ("first non-leader", probes(three()), "", False, False, "m2", ""),
        (
            "m2 unreachable: m3",
            probes(
                three(m2={"manager_reachability": "unreachable", "state": "down"}), m2={"failed": True, "msg": "down"}
            ),
            "",
            False,
            False,
            "",
            "while its engine is stopped only 1 of 3 managers would be reachable, fewer than the quorum of 2",
        ),
        (
            "m2 not probed, others fine",
            probes(three(), m2={"unreachable": True, "msg": "ssh"}),
            "",
            False,
            False,
            "m3",
            "",
        ),
        ("named leader", probes(three()), "m1", False, False, "m1", ""),
        ("named unknown host", probes(three()), "m9", False, False, "", "backup_host=m9 is not a manager"),
        (
            "named unreachable manager",
            probes(three(m3={"manager_reachability": "unreachable"})),
            "m3",
            False,
            False,
            "",
            "Cannot back up m3 is not a reachable manager (unreachable)",
        ),
        (
            "one manager",
            {"m1": probe("m1", [node("m1", leader=True)])},
            "",
            False,
            False,
            "",
            "only 0 of 1 managers would be reachable, fewer than the quorum of 1",
        ),
        ("one manager, outage allowed", {"m1": probe("m1", [node("m1", leader=True)])}, "", True, False, "m1", ""),
        (
            "two managers",
            {h: probe(h, [node("m1", leader=True), node("m2")]) for h in ("m1", "m2")},
            "",
            False,
            False,
            "",
            "only 1 of 2 managers",
        ),
        (
            "autolock without key",
            {h: probe(h, three(), autolock=True) for h in ("m1", "m2", "m3")},
            "",
            False,
            False,
            "",
            "is autolocked",
        ),
        (
            "autolock with key",
            {h: probe(h, three(), autolock=True) for h in ("m1", "m2", "m3")},
            "",
            False,
            True,
            "m2",
            "",
        ),
        (
            "no manager answers",
            {"m1": {"failed": True, "msg": "x"}, "m2": probe("m2", [], error="no leader")},
            "",
            False,
            False,
            "",
            "No manager with control available answered (m1, m2)",
        ),
        (
            "no DockerRootDir",
            {h: probe(h, three(), root=None) for h in ("m1", "m2", "m3")},
            "",
            False,
            False,
            "",
            "did not report its DockerRootDir",
        ),
    ],
)
def test_backup_plan(name, probes_, wanted, allow, key, host, refusal):
    got = plan(probes_, wanted, allow, key)
    assert got.host == host, (name, got)
    if refusal:
        assert refusal in got.refusal, (name, got.refusal)
        assert got.refusal.endswith("Nothing was changed.") and not got.lines
    else:
        assert not got.refusal, (name, got.refusal)


def test_backup_plan_lines_and_manifest():
    got = plan(probes(three()))
    assert got.archive == "swarm-dpr3gnu94ue2-m2-20261203T091033Z.tar.gz"
    assert got.lines[0] == f"Backup of swarm {SWARM} from m2 (node m2id, 10.0.0.2, engine 20.10.24)"
    assert "archive /var/lib/docker/swarm" in got.lines[1]
    assert "2 of 3 managers stay reachable (quorum 2)" in got.lines[1]
    assert got.lines[2].startswith("Archive: /backups/swarm-dpr3gnu94ue2-m2-") and "newest 7" in got.lines[2]
    assert got.manifest("abc", "t") == {
        "swarm_id": SWARM,
        "node_id": "m2id",
        "hostname": "m2",
        "advertise_addr": "10.0.0.2",
        "engine_version": "20.10.24",
        "autolocked": False,
        "created": "t",
        "archive": got.archive,
        "sha256": "abc",
    }
    leader = plan(probes(three()), wanted="m1")
    assert leader.leader and "the leader" in leader.lines[0]
    alone = plan({"m1": probe("m1", [node("m1", leader=True)])}, allow=True, keep=0)
    assert "cannot be managed meanwhile (allowed)" in alone.lines[1] and "none removed" in alone.lines[2]


@pytest.mark.parametrize(
    ("names", "keep", "removed"),
    [
        ([], 7, []),
        (
            [f"swarm-dpr3gnu94ue2-m2-2026120{d}T000000Z.tar.gz" for d in range(1, 4)],
            2,
            ["swarm-dpr3gnu94ue2-m2-20261201T000000Z.tar.gz"],
        ),
        # by time, not by host name; other swarms, manifests and other files are never removed
        (
            [
                "swarm-dpr3gnu94ue2-m3-20261201T000000Z.tar.gz",
                "swarm-dpr3gnu94ue2-m1-20261202T000000Z.tar.gz",
                "swarm-dpr3gnu94ue2-m1-20261201T000000Z.json",
                "swarm-otherswarm12-m1-20200101T000000Z.tar.gz",
                "notes.txt",
            ],
            1,
            ["swarm-dpr3gnu94ue2-m3-20261201T000000Z.tar.gz"],
        ),
        ([f"swarm-dpr3gnu94ue2-m2-2026120{d}T000000Z.tar.gz" for d in range(1, 4)], 0, []),
    ],
)
def test_prune(names, keep, removed):
    assert b.prune(names, SWARM, keep) == removed


MANIFEST = {
    "swarm_id": SWARM,
    "node_id": "m2id",
    "hostname": "m2",
    "advertise_addr": "10.0.0.2",
    "engine_version": "20.10.24",
    "autolocked": False,
    "created": "2026-12-03T09:10:47+00:00",
    "archive": "a.tar.gz",
    "sha256": "f" * 64,
}


def target(state: str = "inactive", error: Optional[str] = None, root: Optional[str] = ROOT) -> dict[str, Any]:
    return {
        "local": {
            "state": state,
            "error": error,
            "docker_root_dir": root,
            "node_id": "x" if state != "inactive" else None,
            "cluster_id": SWARM if state == "active" else None,
        }
    }


@pytest.mark.parametrize(
    ("name", "host", "manifest", "sha", "addr", "probe_", "force", "refusal"),
    [
        ("fresh host", "m2", MANIFEST, "f" * 64, "10.0.0.2", target(), False, ""),
        ("pending without leader", "m2", MANIFEST, "f" * 64, "10.0.0.2", target("pending", "no leader"), False, ""),
        ("no host", "", MANIFEST, "f" * 64, "10.0.0.2", target(), False, "Say which manager to restore onto"),
        ("host not in play", "w1", MANIFEST, "f" * 64, "10.0.0.2", target(), False, "one of m1, m2, m3 (not w1)"),
        (
            "bad manifest",
            "m2",
            {**MANIFEST, "sha256": "", "autolocked": "no"},
            "f" * 64,
            "10.0.0.2",
            target(),
            False,
            "unusable (no sha256; autolocked is not true/false)",
        ),
        ("damaged archive", "m2", MANIFEST, "e" * 64, "10.0.0.2", target(), False, "does not match its manifest"),
        (
            "other address",
            "m1",
            MANIFEST,
            "f" * 64,
            "10.0.0.1",
            target(),
            False,
            "taken on m2 advertising 10.0.0.2, but m1 advertises 10.0.0.1",
        ),
        (
            "autolocked",
            "m2",
            {**MANIFEST, "autolocked": True},
            "f" * 64,
            "10.0.0.2",
            target(),
            False,
            "moby/moby#36852",
        ),
        (
            "unreadable host",
            "m2",
            MANIFEST,
            "f" * 64,
            "10.0.0.2",
            {"unreachable": True, "msg": "ssh: timeout"},
            False,
            "Could not read the engine on m2 (ssh: timeout)",
        ),
        (
            "healthy swarm",
            "m2",
            MANIFEST,
            "f" * 64,
            "10.0.0.2",
            target("active"),
            False,
            f"its engine is in a healthy swarm ({SWARM})",
        ),
        ("healthy swarm, forced", "m2", MANIFEST, "f" * 64, "10.0.0.2", target("active"), True, ""),
        ("locked engine", "m2", MANIFEST, "f" * 64, "10.0.0.2", target("locked"), False, "holds a locked swarm"),
        ("no DockerRootDir", "m2", MANIFEST, "f" * 64, "10.0.0.2", target(root=None), False, "DockerRootDir"),
    ],
)
def test_restore_plan(name, host, manifest, sha, addr, probe_, force, refusal):
    got = b.restore_plan(host, ["m1", "m2", "m3"], "/b/a.tar.gz", manifest, sha, addr, probe_, force)
    if refusal:
        assert refusal in got.refusal, (name, got.refusal)
        assert got.refusal.endswith("Nothing was changed.") and not got.lines
    else:
        assert not got.refusal, (name, got.refusal)
        assert got.swarm_id == SWARM and got.node_id == "m2id" and got.advertise_addr == "10.0.0.2"
        assert "force_new_cluster" in got.lines[1] and "site.yml" in got.lines[1]


def read(
    state: str = "active", manager: bool = True, error: Optional[str] = None, swarm: str = SWARM, **me: Any
) -> dict[str, Any]:
    own = {**node("m2", leader=True), **me}
    return {
        "local": {"state": state, "is_manager": manager, "error": error},
        "swarm": {"id": swarm},
        "nodes": [own, node("m1", reach="unreachable", state="down")],
    }


@pytest.mark.parametrize(
    ("name", "value", "back", "restored"),
    [
        ("ready leader", read(), "", ""),
        ("engine down", {"failed": True, "msg": "no socket"}, "the engine does not answer (no socket)", "same"),
        ("locked", read("locked", manager=False), "the engine is locked", "same"),
        ("no leader", read("pending", error="no leader"), "the engine is pending: no leader", "same"),
        ("not listed", {**read(), "nodes": []}, "node m2id is not listed", "same"),
        ("unreachable", read(manager_reachability="unreachable"), "node m2id is ready, unreachable", "same"),
        ("not the leader", read(leader=False), "", "node m2id is not the leader yet"),
        ("other swarm", read(swarm="zzz"), "", f"the engine manages swarm zzz, not {SWARM}"),
    ],
)
def test_back_and_restored_problems(name, value, back, restored):
    assert b.back_problem(value, "m2id") == back, name
    assert b.restored_problem(value, "m2id", SWARM) == (back if restored == "same" else restored), name


@pytest.mark.parametrize(
    ("value", "engine", "loaded"),
    [
        ({"failed": True, "msg": "x"}, "the engine does not answer (x)", "the engine does not answer (x)"),
        ({"local": {"state": "inactive"}}, "", "the engine is inactive"),
        ({"local": {"state": "pending", "error": None}}, "", "the engine is pending"),
        ({"local": {"state": "pending", "error": "no leader"}}, "", ""),
        ({"local": {"state": "active"}}, "", ""),
        ({"local": {"state": "locked"}}, "", "the engine is locked"),
    ],
)
def test_engine_problems(value, engine, loaded):
    assert b.engine_problem(value) == engine
    assert b.restored_engine_problem(value) == loaded


def test_archive_name_and_manifest_problems():
    assert b.archive_name("ABCDEFGHIJKLMNOP", "m1", NOW) == "swarm-abcdefghijkl-m1-20261203T091033Z.tar.gz"
    assert b.ARCHIVE_RE.match(b.archive_name(SWARM, "host-with-dashes", NOW))["host"] == "host-with-dashes"
    assert b.manifest_problems(MANIFEST) == []
    assert b.manifest_problems([]) == ["it is not a JSON object"]
    assert b.manifest_problems({}) == [f"no {k}" for k in b.MANIFEST_KEYS]

"""status.py: the table of playbooks/status.yml, certificate days per node, unread hosts, the expiry warning."""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.hive.swarm.plugins.module_utils._swarm import status

SWARM = {"id": "swarm1", "root_ca_digest": "c" * 64, "root_rotation_in_progress": False}


def node(host: str, role: str = "worker", leader: bool = False, reach: Optional[str] = None,
         labels: Optional[dict[str, str]] = None) -> dict[str, Any]:
    return {"id": f"id-{host}", "hostname": host, "role": role, "availability": "active", "state": "ready",
            "leader": leader, "manager_reachability": reach if role == "manager" else None,
            "engine_version": "20.10.24", "labels": dict(labels or {})}


def read(host: str, days: Optional[float] = 80.25, manager: bool = False, node_id: Optional[str] = None,
         why: str = "") -> dict[str, Any]:
    cert = {"expires_in_days": days, "not_after": "2027-03-03T05:15:23Z"} if days is not None else None
    return {"local": {"state": "active", "node_id": node_id or f"id-{host}", "hostname": host,
                      "control_available": manager, "is_manager": manager, "error": None},
            "certificate": cert, "certificate_unavailable": why or None}


NODES = [node("m1", "manager", True, "reachable"), node("w1", labels={"zone": "a", "disk": "ssd"}),
         node("w2"), node("x9")]


def test_table_rows_with_certificate_days() -> None:
    reads = {"m1": read("m1", 88.04, manager=True), "w1": read("w1", 12.5), "w2": read("w2", -1)}
    report = status.status_table(SWARM, NODES, reads, warn_days=30)
    assert report.lines[0] == "Swarm swarm1 (4 nodes), root CA cccccccccccc"
    assert report.lines[1].split() == ["HOSTNAME", "ROLE", "AVAILABILITY", "STATE", "LEADER", "ENGINE", "CERT",
                                       "DAYS", "LABELS"]
    rows = {line.split()[0]: line for line in report.lines[2:6]}
    # columns as wide as their widest cell, two spaces apart, no trailing blanks
    assert report.lines[1] == ("HOSTNAME  ROLE     AVAILABILITY  STATE  LEADER  ENGINE    CERT DAYS  LABELS")
    assert rows["m1"] == "m1        manager  active        ready  yes     20.10.24  88.0"
    assert rows["w1"] == "w1        worker   active        ready          20.10.24  12.5       disk=ssd,zone=a"
    assert report.rows[0] == {"hostname": "m1", "role": "manager", "availability": "active", "state": "ready",
                              "leader": "yes", "engine": "20.10.24", "cert_days": "88.0", "labels": ""}
    assert [row["hostname"] for row in report.rows] == ["m1", "w1", "w2", "x9"]
    assert rows["w1"].split()[-2:] == ["12.5", "disk=ssd,zone=a"]
    assert rows["w2"].split()[-1] == "expired"
    assert rows["x9"].split()[-1] == "-", "a node that is no host of the play"
    assert report.expiring == ("w1", "w2")
    assert report.warnings == ("WARNING: node certificates expire within 30 days: w1 (12.5 days), w2 (expired). "
                               "The Engine renews them by itself while the node is in the swarm; a node that stays "
                               "away longer must rejoin.",)
    assert report.lines[-1] == report.warnings[0]


def test_unreachable_failed_and_unreadable_hosts_are_reported() -> None:
    reads = {"m1": read("m1", manager=True), "w1": {"unreachable": True, "msg": "ssh: connect timed out"},
             "w2": {"failed": True, "msg": "Cannot connect to the engine"},
             "x9": read("x9", None, why="/d/swarm/certificates/swarm-node.crt does not exist.")}
    report = status.status_table({**SWARM, "root_rotation_in_progress": True}, NODES, reads, warn_days=30)
    assert report.lines[0].endswith(", root CA rotation in progress")
    rows = {line.split()[0]: line.split() for line in report.lines[2:6]}
    assert rows["w1"][-2:] == ["?", "disk=ssd,zone=a"] and rows["w2"][-1] == "?" and rows["x9"][-1] == "?"
    assert report.unread == ("w1", "w2")
    assert ("Hosts not read: w1 (unreachable: ssh: connect timed out); w2 (failed: Cannot connect to the engine)"
            in report.lines)
    assert "Certificates not read: x9 (/d/swarm/certificates/swarm-node.crt does not exist.)" in report.lines
    assert report.warnings == () and report.expiring == ()


def test_hosts_match_nodes_by_node_id_then_engine_hostname() -> None:
    reads = {"inv-name": read("m1", 50, manager=True), "other": read("w1-real", 40, node_id="id-w1")}
    report = status.status_table(SWARM, [node("m1", "manager", True), node("w1")], reads, warn_days=45)
    rows = {line.split()[0]: line.split() for line in report.lines[2:4]}
    assert rows["m1"][-1] == "50.0" and rows["w1"][-1] == "40.0"
    assert report.expiring == ("other",)


def test_manager_reachability_and_no_certificate_option() -> None:
    reads = {"m1": {"local": {"state": "active", "node_id": "id-m1", "is_manager": True}}}  # certificate not asked
    report = status.status_table(None, [node("m1", "manager", reach="unreachable")], reads, warn_days=30)
    assert report.lines[0] == "Swarm ? (1 nodes), root CA ?"
    assert report.lines[2].split()[:3] == ["m1", "manager", "(unreachable)"]
    assert report.warnings == () and not any(line.startswith("Certificates not read") for line in report.lines)


def test_columns_grow_with_long_names() -> None:
    long = "a-very-long-hostname-of-node-7.example.internal"
    report = status.status_table(SWARM, [node("m1", "manager", True, "reachable"), node(long)],
                                 {"m1": read("m1", manager=True)}, warn_days=30)
    header, second, first = report.lines[1:4]  # sorted by hostname: the long one first
    assert first.startswith("m1 ")
    assert first.index("manager") == second.index("worker") == header.index("ROLE") == len(long) + 2
    assert len({line.index(word) for line, word in ((header, "ENGINE"), (first, "20.10"), (second, "20.10"))}) == 1


def test_aligned_of_nothing() -> None:
    assert status.aligned([]) == []

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The table of playbooks/status.yml (pure: no Ansible, no Engine), built by the action ``hive.swarm.swarm_plan``
stage ``status`` from what every host of the play read with ``swarm_node_info nodes=true certificate=true``.

One row per node of the swarm (as a manager lists it): hostname, role (and manager reachability when not
reachable), availability, state, leader, engine version, days until the node's certificate expires (read on that
node's own host; ``?`` when its host was not read, ``-`` when the node is no host of the play), labels. Below it:
hosts that could not be read, and a WARNING line naming the hosts whose certificate expires within the threshold.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional, Sequence

from ansible_collections.hive.swarm.plugins.module_utils._swarm.rotation import short

HEADER = ("HOSTNAME", "ROLE", "AVAILABILITY", "STATE", "LEADER", "ENGINE", "CERT DAYS", "LABELS")
KEYS = ("hostname", "role", "availability", "state", "leader", "engine", "cert_days", "labels")


class Status(NamedTuple):
    lines: tuple[str, ...]
    warnings: tuple[str, ...]
    expiring: tuple[str, ...]  # hosts whose certificate expires within the threshold (or has expired)
    unread: tuple[str, ...]  # hosts of the play that could not be read
    rows: tuple[dict[str, str], ...] = ()  # the table's rows, keyed by KEYS (the JSON form)


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as lines whose columns are as wide as their widest cell (two spaces apart, no trailing
    blanks)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def host_problem(read: Any) -> str:
    """Why a host's registered read is unusable ('' when it is usable)."""
    if not isinstance(read, Mapping):
        return "not read"
    if read.get("unreachable"):
        return f"unreachable: {read.get('msg') or 'no details'}"
    if read.get("failed") or not isinstance(read.get("local"), Mapping):
        return f"failed: {read.get('msg') or 'no details'}"
    return ""


def host_of_node(node: Mapping[str, Any], reads: Mapping[str, Mapping[str, Any]]) -> Optional[str]:
    """The play host that is this node: same node ID in its own /info, else the same Engine host name."""
    for host, read in reads.items():
        if not host_problem(read) and (read["local"].get("node_id") or "") == node.get("id"):
            return host
    for host, read in reads.items():
        if not host_problem(read) and read["local"].get("hostname") and read["local"]["hostname"] == node.get(
                "hostname"):
            return host
    hostname = str(node.get("hostname") or "")
    return hostname if hostname in reads else None


def cert_cell(host: Optional[str], reads: Mapping[str, Mapping[str, Any]]) -> str:
    if host is None:
        return "-"
    read = reads.get(host)
    cert = read.get("certificate") if isinstance(read, Mapping) and not host_problem(read) else None
    if not isinstance(cert, Mapping) or cert.get("expires_in_days") is None:
        return "?"
    days = float(cert["expires_in_days"])
    return "expired" if days <= 0 else f"{days:.1f}"


def status_table(swarm: Optional[Mapping[str, Any]], nodes: Sequence[Mapping[str, Any]],
                 reads: Mapping[str, Any], warn_days: float) -> Status:
    """The lines to print, warnings, expiring and unread hosts. ``swarm`` / ``nodes``: the views a manager read;
    ``reads``: every play host -> its swarm_node_info result (as registered, possibly unreachable or failed)."""
    swarm = swarm or {}
    title = f"Swarm {swarm.get('id') or '?'} ({len(nodes)} nodes), root CA {short(swarm.get('root_ca_digest'))}"
    if swarm.get("root_rotation_in_progress"):
        title += ", root CA rotation in progress"
    cells: list[tuple[str, ...]] = []
    for node in sorted(nodes, key=lambda n: (str(n.get("hostname") or ""), str(n.get("id") or ""))):
        reach = node.get("manager_reachability")
        role = str(node.get("role") or "?") + (f" ({reach})" if reach and reach != "reachable" else "")
        labels = ",".join(f"{k}={v}" for k, v in sorted((node.get("labels") or {}).items()))
        cells.append((str(node.get("hostname") or "?"), role, str(node.get("availability") or "?"),
                      str(node.get("state") or "?"), "yes" if node.get("leader") else "",
                      str(node.get("engine_version") or "?"), cert_cell(host_of_node(node, reads), reads), labels))
    lines = [title, *aligned([HEADER, *cells])]
    unread = tuple(sorted(h for h, read in reads.items() if host_problem(read)))
    if unread:
        lines.append("Hosts not read: " + "; ".join(f"{h} ({host_problem(reads[h])})" for h in unread))
    expiring: list[tuple[str, float]] = []
    missing: list[str] = []
    for host in sorted(reads):
        read = reads[host]
        if host in unread:
            continue
        if "certificate" not in read:
            continue
        cert = read.get("certificate")
        if isinstance(cert, Mapping) and cert.get("expires_in_days") is not None:
            if float(cert["expires_in_days"]) < warn_days:
                expiring.append((host, float(cert["expires_in_days"])))
        elif (read.get("local") or {}).get("state") not in (None, "inactive"):
            missing.append(f"{host} ({read.get('certificate_unavailable') or 'no details'})")
    if missing:
        lines.append("Certificates not read: " + "; ".join(missing))
    warnings = []
    if expiring:
        named = ", ".join(f"{h} ({'expired' if d <= 0 else f'{d:.1f} days'})" for h, d in expiring)
        warnings.append(f"WARNING: node certificates expire within {warn_days:g} days: {named}. The Engine renews "
                        "them by itself while the node is in the swarm; a node that stays away longer must rejoin.")
        lines.extend(warnings)
    return Status(tuple(lines), tuple(warnings), tuple(host for host, _days in expiring), unread,
                  tuple(dict(zip(KEYS, row)) for row in cells))

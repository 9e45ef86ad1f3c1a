# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rolling-maintenance planner (``playbooks/maintenance.yml``, ``playbooks/upgrade.yml``): pure functions of data.

The walk goes through the swarm node by node: workers first, by hostname, in batches of ``max_unavailable``;
then managers one at a time, the leader last. Per batch the playbook runs: the gate
(:func:`gate_before_batch` / :func:`gate_before_manager`) -> drain -> wait until :func:`drained` -> the
operator's tasks or the engine upgrade -> wait for the engine API -> unlock if autolocked -> wait Ready (and
Reachable) -> give the availability back (:attr:`Step.restore`, :func:`restore_availability`) -> next batch.

Inputs are what the modules read: node views (``views.node_view`` entries, ``swarm_node_info nodes=true``), the
inventory host of each node ID (each host's ``local.node_id``), and for :func:`drained` the Engine's own
``GET /tasks`` and ``GET /services`` entries. Nothing here talks to an engine or to Ansible; quorum arithmetic
comes from ``quorum.py``.

Decisions taken here (docs/architecture.md, "Rolling maintenance planner"):

* Resuming. When the playbook drains a node it also sets the node label :data:`MARK_LABEL` to the availability
  the node had (:func:`mark_labels`), and removes it when it gives that availability back
  (:func:`unmark_labels`). A node that still carries the label was left by a run that stopped: the walk
  *resumes* it first (its availability to restore is the label's, not today's ``drain``), even when it is down
  or already at the target version (then only the steps after the upgrade are left: wait, unlock, restore).
* Down nodes. A node that is not ``ready`` (a manager that is not ``reachable``) and does not carry the label
  refuses the whole walk up front: every later gate would stop on it anyway, and capacity is missing already.
  The sentence says to bring it back or remove it.
* Upgrade. With ``target_version`` a node whose engine is already at it (:func:`at_version`) is skipped, so a
  re-run after a failure starts at the first node not done and never drains an upgraded node again; a node
  whose engine version is unknown is not skipped.
* Quorum. A manager is maintained only if the other managers keep a quorum while it is away
  (``quorum.away_keeps_quorum``); with fewer than 3 managers that is never so, and the walk is refused unless
  ``allow_quorum_loss`` (the swarm's control plane is then unavailable while that manager restarts; running
  tasks go on).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Optional, Sequence, Union

from ansible_collections.hive.swarm.plugins.module_utils._swarm import quorum
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter

# The node label a maintenance run sets while it holds a node drained: the availability to give back.
MARK_LABEL = "hive.swarm.maintenance.availability"
AVAILABILITIES = ("active", "pause", "drain")
DEFAULT_MAX_UNAVAILABLE = 1
# The playbook variables named in refusals.
MAX_UNAVAILABLE_VAR = "maintenance_max_unavailable"
QUORUM_LOSS_VAR = "maintenance_allow_quorum_loss"
# Task states (Engine ``Task.Status.State``) in which a task is on its node and not finished: it holds the node.
LIVE_TASK_STATES = frozenset(("assigned", "accepted", "preparing", "ready", "starting", "running"))

_MAX_UNAVAILABLE_RE = re.compile(r"^\s*(\d+)\s*(%?)\s*$")
_ALLOWED_MAX_UNAVAILABLE = ("a whole number of workers of at least 1 (for example 2) or a percentage of the workers "
                            "from 1% to 100% (for example '25%', rounded down, at least 1)")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _plural(count: int, word: str, many: str = "") -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


# ------------------------------------------------------------------------------------------ parameters
def parse_max_unavailable(value: Any, workers: int, name: str = MAX_UNAVAILABLE_VAR) -> int:
    """How many workers one batch takes: ``value`` is a whole number (``2``, ``"2"``) or a percentage of
    ``workers`` (``"25%"``: rounded down, at least 1); None means the default, 1. Zero, negative numbers,
    fractions, percentages above 100% and anything else raise ``InvalidParameter`` naming the value."""
    if value is None:
        return DEFAULT_MAX_UNAVAILABLE
    number: Optional[int] = None
    percent = False
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        match = _MAX_UNAVAILABLE_RE.match(value)
        if match:
            number, percent = int(match.group(1)), bool(match.group(2))
    if number is None or number < 1 or (percent and number > 100):
        raise InvalidParameter(f"{name}={value!r} is not allowed: give {_ALLOWED_MAX_UNAVAILABLE}.")
    if percent:
        return max(max(workers, 0) * number // 100, 1)
    return number


def _version_key(version: str) -> tuple[int, ...]:
    """The leading numeric parts: '26.1.5+dfsg1' -> (26, 1, 5), 'v28.5' -> (28, 5), 'abc' -> ()."""
    out = []
    for piece in version.strip().lstrip("vV").split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        out.append(int(match.group(0)))
        if match.end() != len(piece):
            break
    return tuple(out)


def at_version(version: Optional[str], target: Optional[str]) -> bool:
    """Is an engine of ``version`` at ``target``? The same text, or ``target`` is its leading part up to a
    separator: '28.5' matches 28.5.0 and 28.5.1+dfsg1, '26.1.5' matches 26.1.5+dfsg1 but not 26.1.50. An unknown
    version (None, '') is never at the target."""
    have, want = _text(version).strip(), _text(target).strip()
    if not have or not want:
        return False
    return have == want or (have.startswith(want) and have[len(want)] in ".+-~")


def newer_than(version: Optional[str], target: Optional[str]) -> bool:
    """Is ``version`` newer than ``target`` (compared on the parts ``target`` gives: 28.5.1 is newer than 26.1,
    26.1.5 is not newer than 26.1)? False when either is unknown or not numeric."""
    have, want = _version_key(_text(version)), _version_key(_text(target))
    return bool(have and want) and have[:len(want)] > want


def restore_availability(before: Optional[str], now: Optional[str]) -> Optional[str]:
    """The availability to set back after the maintenance: ``before`` when the node has another one ``now``;
    None when nothing is to be done (the same, or ``before`` is not one of active, pause, drain)."""
    want = _text(before).strip().lower()
    if want not in AVAILABILITIES or want == _text(now).strip().lower():
        return None
    return want


def mark_labels(before: str) -> dict[str, str]:
    """The labels to set together with the drain (``swarm_node labels_state=merge``): the availability to give
    back, so a run that stops is resumed correctly."""
    return {MARK_LABEL: before}


def unmark_labels() -> dict[str, None]:
    """The labels to set together with the restore (``swarm_node labels_state=merge``: null removes the label)."""
    return {MARK_LABEL: None}


def restore_changes(before: str, restore: Optional[str]) -> bool:
    """Does giving the availability back change the node in a real run? It meets the node as the drain left it
    (``drain``, labelled :func:`mark_labels`) and sets ``restore`` (None: keeps ``drain``) and
    :func:`unmark_labels`. Check mode cannot see that: its drain changed nothing, so ``swarm_node`` finds nothing to
    give back; the playbook reports this prediction instead (``restore_changes`` of each step)."""
    drained = {"availability": "drain", "labels": mark_labels(before)}
    back = {"availability": restore or "drain",
            "labels": {k: v for k, v in {**drained["labels"], **unmark_labels()}.items() if v is not None}}
    return drained != back


def comes_back_locked(state_now: Optional[str], autolock: bool, role: str, restarted: bool) -> bool:
    """Check mode's answer of the ``engine`` stage, which does not wait: will the engine be locked when it is back?
    Yes when it is locked now (a run that stopped left it so), or when the swarm is autolocked, the node is a
    manager and the step restarts its engine (``restarted``: the step does the work on it - an upgrade always
    restarts the engine; maintenance tasks are assumed to, a reboot or an engine restart being what a drain is
    for). Workers never come back locked."""
    if _text(state_now) == "locked":
        return True
    return bool(autolock and role == "manager" and restarted)


# ---------------------------------------------------------------------------------------------- naming
def _namer(nodes: Sequence[Mapping[str, Any]], node_ids: Optional[Mapping[str, str]]) -> Callable[[str], str]:
    """node ID -> its inventory host, else its hostname, else the ID."""
    host_of: dict[str, str] = {}
    for host, node_id in (node_ids or {}).items():
        if node_id:
            host_of.setdefault(_text(node_id), host)
    hostname = {_text(n.get("id")): _text(n.get("hostname")) for n in nodes}

    def name(node_id: str) -> str:
        return host_of.get(node_id) or hostname.get(node_id) or node_id

    return name


def _in_order(nodes: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Nodes in walk order (workers, managers, the leader last; each by hostname), so that every sentence names
    them in the same order whatever order the Engine listed them in."""
    def key(n: Mapping[str, Any]) -> tuple[int, str, str]:
        rank = 0 if not _is_manager(n) else (2 if n.get("leader") else 1)
        return (rank, _text(n.get("hostname")), _text(n.get("id")))

    return sorted(nodes, key=key)


def _leaders(nodes: Sequence[Mapping[str, Any]], name: Callable[[str], str]) -> str:
    """'' when exactly one node is the leader, else what is wrong."""
    leaders = [name(_text(n.get("id"))) for n in _in_order(nodes) if n.get("leader")]
    if len(leaders) == 1:
        return ""
    if not leaders:
        return "the swarm has no leader"
    return f"the swarm reports {len(leaders)} leaders ({', '.join(leaders)})"


def _is_manager(node: Mapping[str, Any]) -> bool:
    return node.get("role") == "manager"


def _reachable(node: Mapping[str, Any]) -> bool:
    return node.get("manager_reachability") == "reachable"


def _what_is_wrong(node: Mapping[str, Any]) -> list[str]:
    """Why a node is not fit: its state when not ready; a manager's reachability when not reachable."""
    out = []
    if node.get("state") != "ready":
        out.append(_text(node.get("state")) or "in an unknown state")
    if _is_manager(node) and not _reachable(node):
        out.append(_text(node.get("manager_reachability")) or "of unknown reachability")
    return out


# ------------------------------------------------------------------------------------------------ walk
@dataclass
class Step:
    """One node of the walk (or one that is skipped: ``skip_reason``)."""

    host: str
    node_id: str
    hostname: str
    role: str
    leader: bool
    state: str
    reachability: str
    availability: str
    engine_version: str
    before: str
    restore: Optional[str]
    resume: bool
    work: bool
    skip_reason: str = ""

    @property
    def name(self) -> str:
        return self.host or self.hostname or self.node_id


@dataclass
class Batch:
    """What is maintained at once: workers (up to ``batch_size``) or one manager."""

    number: int
    kind: str
    steps: list[Step]

    @property
    def hosts(self) -> list[str]:
        return [s.host for s in self.steps]

    @property
    def node_ids(self) -> list[str]:
        return [s.node_id for s in self.steps]

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "kind": self.kind, "hosts": self.hosts, "node_ids": self.node_ids,
                "steps": [asdict(s) for s in self.steps]}


@dataclass
class Walk:
    """The whole walk, decided before the first drain. ``batches`` in order (only nodes with something to do);
    ``skipped`` the others; ``refusals``: why the walk must not start (the table is filled all the same, so the
    operator sees what was planned)."""

    batches: list[Batch] = field(default_factory=list)
    skipped: list[Step] = field(default_factory=list)
    batch_size: int = DEFAULT_MAX_UNAVAILABLE
    target_version: str = ""
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    table: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def steps(self) -> list[Step]:
        """Every node, walked ones in walk order, then the skipped ones."""
        return [s for b in self.batches for s in b.steps] + self.skipped

    @property
    def message(self) -> str:
        return "Cannot start the maintenance: " + "; ".join(self.refusals) if self.refusals else ""

    def as_dict(self) -> dict[str, Any]:
        return {"batches": [b.as_dict() for b in self.batches], "skipped": [asdict(s) for s in self.skipped],
                "batch_size": self.batch_size, "target_version": self.target_version, "refusals": self.refusals,
                "message": self.message, "warnings": self.warnings, "table": self.table, "summary": self.summary,
                "mark_label": MARK_LABEL}


def _step(node: Mapping[str, Any], host: str, target: str, only: Optional[set[str]], warnings: list[str]) -> Step:
    node_id = _text(node.get("id"))
    availability = _text(node.get("availability"))
    mark = _text((node.get("labels") or {}).get(MARK_LABEL))
    resume = mark in AVAILABILITIES
    name = host or _text(node.get("hostname")) or node_id
    if mark and not resume:
        warnings.append(f"{name} carries the label {MARK_LABEL}={mark}, which is not an availability "
                        f"({', '.join(AVAILABILITIES)}): ignored; remove it")
    before = mark if resume else availability
    engine = _text(node.get("engine_version"))
    done = bool(target) and at_version(engine, target)
    if not host:
        reason = "not in the inventory"
    elif only is not None and host not in only:
        reason = "not in this play"
    elif done and not resume:
        reason = f"already at {target}"
    else:
        reason = ""
    return Step(host=host, node_id=node_id, hostname=_text(node.get("hostname")), role=_text(node.get("role")),
                leader=bool(node.get("leader")), state=_text(node.get("state")),
                reachability=_text(node.get("manager_reachability")), availability=availability,
                engine_version=engine, before=before,
                restore=None if reason else restore_availability(before, "drain"), resume=resume and not reason,
                work=not done, skip_reason=reason)


def with_own_versions(nodes: Sequence[Mapping[str, Any]], node_ids: Mapping[str, Optional[str]],
                      own_versions: Mapping[str, Optional[str]]) -> list[dict[str, Any]]:
    """``nodes`` with each inventory host's engine version as its own engine reports it (``own_versions``: host ->
    version from that host's ``/info``), in place of the version in the manager's node list. The node list's
    description comes from the node's last report and can, after a drain, restart and activate, show another
    node's description for a while (moby/moby#46167): the skip decision of an upgrade must not rest on it.
    Hosts without an own version keep the listed one."""
    by_id = {_text(i): _text(v) for h, i in node_ids.items() if i and _text(v := own_versions.get(h)).strip()}
    return [{**n, "engine_version": by_id[_text(n.get("id"))]} if _text(n.get("id")) in by_id else dict(n)
            for n in nodes]


def walk_order(nodes: Sequence[Mapping[str, Any]], node_ids: Mapping[str, Optional[str]], max_unavailable: Any = None,
               target_version: Optional[str] = None, only: Optional[Iterable[str]] = None,
               allow_quorum_loss: bool = False) -> Walk:
    """The walk over the swarm's ``nodes`` (node views as a manager lists them now).

    ``node_ids``: inventory host -> the node ID its engine reports (``local.node_id``; None or '' when it is in
    no swarm or could not be probed: reported, not maintained). ``max_unavailable``: the raw
    ``maintenance_max_unavailable`` (:func:`parse_max_unavailable`; a percentage is of every worker node of the
    swarm). ``target_version``: the engine version of an upgrade (nodes already at it are skipped);
    ``only``: the play's hosts (``--limit``), None for all. Raises ``InvalidParameter`` for a bad
    ``max_unavailable``."""
    target = _text(target_version).strip()
    only_set = None if only is None else set(only)
    walk = Walk(target_version=target)
    workers_total = sum(1 for n in nodes if not _is_manager(n))
    walk.batch_size = parse_max_unavailable(max_unavailable, workers_total)
    if not nodes:
        walk.refusals.append("the manager listed no nodes (read them with swarm_node_info nodes=true on a manager)")

    listed = {_text(n.get("id")) for n in nodes}
    host_of: dict[str, str] = {}
    for host, raw_id in node_ids.items():
        node_id = _text(raw_id)
        in_play = only_set is None or host in only_set
        if not node_id or node_id not in listed:
            if in_play:
                why = ("reports no node ID (in no swarm, or it could not be probed)" if not node_id
                       else f"is node {node_id}, which this swarm does not list")
                walk.warnings.append(f"{host} {why}: not maintained")
        elif node_id in host_of:
            walk.warnings.append(f"{host} and {host_of[node_id]} are the same node {node_id}: walked as "
                                 f"{host_of[node_id]}")
        else:
            host_of[node_id] = host

    steps = [_step(n, host_of.get(_text(n.get("id")), ""), target, only_set, walk.warnings) for n in _in_order(nodes)]
    walked = [s for s in steps if not s.skip_reason]
    walk.skipped = [s for s in steps if s.skip_reason]

    # Batches: resumed workers together, resumed managers, then the rest.
    plan: list[tuple[str, list[Step]]] = []
    resumed_workers = [s for s in walked if s.resume and s.role != "manager"]
    if resumed_workers:
        plan.append(("workers", resumed_workers))
    plan += [("manager", [s]) for s in walked if s.resume and s.role == "manager"]
    workers = [s for s in walked if not s.resume and s.role != "manager"]
    plan += [("workers", workers[i:i + walk.batch_size]) for i in range(0, len(workers), walk.batch_size)]
    plan += [("manager", [s]) for s in walked if not s.resume and s.role == "manager"]
    walk.batches = [Batch(number, kind, batch) for number, (kind, batch) in enumerate(plan, start=1)]

    walk.refusals += _refusals(nodes, steps, allow_quorum_loss)
    marked = {_text(n.get("id")) for n in nodes if MARK_LABEL in (n.get("labels") or {})}
    for s in steps:
        if s.skip_reason and s.node_id in marked and s.state == "ready":
            walk.warnings.append(f"{s.name} was drained by a maintenance run that did not finish and is not walked "
                                 f"now ({s.skip_reason}): it stays {s.availability} until a run includes it")
        if target and not s.skip_reason and s.work and newer_than(s.engine_version, target):
            walk.warnings.append(f"{s.name} runs Engine {s.engine_version}, newer than the target {target}: it would "
                                 "be downgraded")
    walk.table, walk.summary = render(walk)
    return walk


def _node(nodes: Sequence[Mapping[str, Any]], node_id: str) -> Optional[Mapping[str, Any]]:
    return next((n for n in nodes if _text(n.get("id")) == node_id), None)


def _refusals(nodes: Sequence[Mapping[str, Any]], steps: Sequence[Step], allow_quorum_loss: bool) -> list[str]:
    """Why the walk must not start: a node down (or a manager not reachable) that the walk does not resume, not
    exactly one leader, managers to maintain that the others cannot cover for."""
    out = []
    by_id = {s.node_id: s for s in steps}
    for n in _in_order(nodes):
        s = by_id[_text(n.get("id"))]
        wrong = _what_is_wrong(n)
        if not wrong or s.resume:
            continue
        kind = "manager" if _is_manager(n) else "node"
        hint = ""
        if MARK_LABEL in (n.get("labels") or {}):
            hint = " (an earlier maintenance run drained it and did not finish: include it in the play to resume it)"
        out.append(f"{kind} {s.name} is {' and '.join(wrong)}{hint}: bring it back or remove it "
                   "(playbooks/remove_node.yml) before maintenance")
    if nodes:
        leaders = _leaders(nodes, lambda i: by_id[i].name if i in by_id else i)
        if leaders:
            out.append(leaders)
    counts = quorum.view_counts(list(nodes))
    managers = [s for s in steps if not s.skip_reason and s.role == "manager"]
    short = [s for s in managers if not quorum.away_keeps_quorum(counts, s.reachability == "reachable")]
    if short and not allow_quorum_loss:
        away = quorum.while_away(counts, short[0].reachability == "reachable")
        out.append(f"{'manager' if len(short) == 1 else 'managers'} {', '.join(s.name for s in short)} cannot be "
                   f"maintained without losing the quorum: while one is away {away.reachable} of "
                   f"{counts.total} managers are reachable, fewer than the quorum of {counts.quorum}; add managers "
                   "(3 keep the quorum while one is away), leave the managers out of the play (--limit), or set "
                   f"{QUORUM_LOSS_VAR}: true to accept that the swarm cannot be managed while one restarts")
    return out


# --------------------------------------------------------------------------------------------- display
def _now(s: Step) -> str:
    out = f"{s.engine_version or '?'} {s.availability or '?'}"
    extra = [] if s.state == "ready" else [s.state or "unknown"]
    if s.role == "manager" and s.reachability != "reachable":
        extra.append(s.reachability or "unknown")
    return out + (f" ({', '.join(extra)})" if extra else "")


def _planned(s: Step, target: str) -> str:
    if s.skip_reason:
        return f"skip: {s.skip_reason}"
    actions = []
    if s.resume:
        actions.append(f"resume (drained by an earlier run, was {s.before})")
    elif s.availability == "drain":
        actions.append("drained already")
    else:
        actions.append("drain")
    if not s.work:
        actions.append(f"already at {target}")
    elif target:
        actions.append(f"upgrade to {target}")
    else:
        actions.append("maintenance tasks")
    actions.append(f"back to {s.restore}" if s.restore else "stays drained")
    return ", ".join(actions)


def render(walk: Walk) -> tuple[list[str], str]:
    """The table printed before the first drain (also in check mode) and its one-line summary."""
    rows: list[tuple[str, str, str, str, str]] = []
    for b in walk.batches:
        for s in b.steps:
            role = "manager (leader)" if s.leader else s.role
            rows.append((str(b.number), s.name, role, _now(s), _planned(s, walk.target_version)))
    for s in walk.skipped:
        role = "manager (leader)" if s.leader else s.role
        rows.append(("-", s.name, role, _now(s), _planned(s, walk.target_version)))
    head = ("ORDER", "HOST", "ROLE", "NOW", "PLANNED")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    table = ["  ".join(f"{c:<{widths[i]}}" for i, c in enumerate(r[:4])) + f"  {r[4]}" for r in [head, *rows]]

    walked = [s for b in walk.batches for s in b.steps]
    workers = sum(1 for s in walked if s.role != "manager")
    managers = len(walked) - workers
    resumed = sum(1 for s in walked if s.resume)
    summary = (f"{_plural(len(walk.batches), 'step')}: {_plural(workers, 'worker')} in batches of up to "
               f"{walk.batch_size}, {_plural(managers, 'manager')} one at a time (leader last), resume {resumed}, "
               f"skip {len(walk.skipped)}")
    reasons: dict[str, int] = {}
    for s in walk.skipped:
        reasons[s.skip_reason] = reasons.get(s.skip_reason, 0) + 1
    if reasons:
        summary += " (" + ", ".join(f"{count} {why}" for why, count in reasons.items()) + ")"
    return table, summary


# ----------------------------------------------------------------------------------------------- gates
def gate_before_manager(nodes: Sequence[Mapping[str, Any]], node_id: str,
                        node_ids: Optional[Mapping[str, str]] = None, allow_quorum_loss: bool = False) -> str:
    """'' when manager ``node_id`` may be drained now, else the sentence that stops the walk. ``nodes``: the
    node views as a manager lists them right now; ``node_ids``: inventory host -> node ID (for the names).
    Every other manager reachable, exactly one leader, and the quorum kept while this one is away (it may be
    unreachable itself: the walk resumes on a manager a stopped run left down)."""
    name = _namer(nodes, node_ids)
    who = name(node_id)
    node = _node(nodes, node_id)
    if node is None:
        return f"Stopped before manager {who}: the swarm does not list it. Nothing was changed on {who}."
    if not _is_manager(node):
        return (f"Stopped before manager {who}: it is a {_text(node.get('role')) or 'node of unknown role'} now. "
                f"Nothing was changed on {who}; run again to plan the walk anew.")
    problems = [f"manager {name(_text(n.get('id')))} is {' and '.join(_what_is_wrong(n))}" for n in _in_order(nodes)
                if _is_manager(n) and _text(n.get("id")) != node_id and _what_is_wrong(n)]
    leaders = _leaders(nodes, name)
    if leaders:
        problems.append(leaders)
    counts = quorum.view_counts(list(nodes))
    if not allow_quorum_loss and not quorum.away_keeps_quorum(counts, _reachable(node)):
        away = quorum.while_away(counts, _reachable(node))
        problems.append(f"while {who} is away {away.reachable} of {counts.total} managers would be reachable, fewer "
                        f"than the quorum of {counts.quorum}")
    if not problems:
        return ""
    return f"Stopped before manager {who}: {'; '.join(problems)}. Nothing was changed on {who}; fix this and run again."


def gate_before_batch(nodes: Sequence[Mapping[str, Any]], batch_node_ids: Sequence[str],
                      node_ids: Optional[Mapping[str, str]] = None) -> str:
    """'' when the workers ``batch_node_ids`` may be drained now, else the sentence that stops the walk. Every
    node outside the batch ready (those that are not are named), the managers' quorum intact with one leader;
    the batch holds listed workers only (managers go one at a time, through :func:`gate_before_manager`)."""
    name = _namer(nodes, node_ids)
    batch = [_text(i) for i in batch_node_ids]
    who = ", ".join(name(i) for i in batch) or "an empty batch"
    by_id = {_text(n.get("id")): n for n in nodes}
    problems = []
    missing = [name(i) for i in batch if i not in by_id]
    if missing:
        problems.append(f"the swarm does not list {', '.join(missing)}")
    managers = [name(i) for i in batch if i in by_id and _is_manager(by_id[i])]
    if managers:
        problems.append(f"{', '.join(managers)} {'is a manager' if len(managers) == 1 else 'are managers'} "
                        "(managers are maintained one at a time)")
    not_ready = [f"{name(_text(n.get('id')))} ({_text(n.get('state')) or 'unknown'})" for n in _in_order(nodes)
                 if _text(n.get("id")) not in batch and n.get("state") != "ready"]
    if not_ready:
        problems.append(f"not ready outside this batch: {', '.join(not_ready)}")
    counts = quorum.view_counts(list(nodes))
    if counts.total and not counts.has_quorum:
        problems.append(f"only {counts.reachable} of {counts.total} managers are reachable, fewer than the quorum of "
                        f"{counts.quorum}")
    leaders = _leaders(nodes, name)
    if leaders:
        problems.append(leaders)
    if not problems:
        return ""
    return f"Stopped before {who}: {'; '.join(problems)}. Nothing was changed on {who}; fix this and run again."


# ----------------------------------------------------------------------------------------------- drain
class Drain(NamedTuple):
    """The verdict of :func:`drained`: ``done``, else ``message`` says what is still missing."""

    done: bool
    message: str


def drained(tasks: Sequence[Mapping[str, Any]], services: Sequence[Mapping[str, Any]],
            node_ids: Union[str, Sequence[str]], nodes: Optional[Sequence[Mapping[str, Any]]] = None,
            max_shortfall: int = 0, name: str = "") -> Drain:
    """Is the batch ``node_ids`` (one ID or several) drained? ``tasks``/``services``: the task and service views
    (``views.task_view``/``views.service_view``; ``swarm_node_info tasks=true services=true`` on a manager).

    Done when no task of a replicated service (or replicated job) is still live on the batch
    (:data:`LIVE_TASK_STATES`), and every replicated service runs at least its desired replicas minus
    ``max_shortfall`` outside the batch (tasks running with desired state running; with ``nodes`` given, only on
    nodes that are ready). Tasks of global services (and global jobs) do not count: they stop with the drain and
    have nowhere else to go; jobs need no replicas elsewhere. Tasks of services not listed are ignored. ``name``
    names the batch in the message (default: the node IDs)."""
    batch = {node_ids} if isinstance(node_ids, str) else {_text(i) for i in node_ids}
    ready = None if nodes is None else {_text(n.get("id")) for n in nodes if n.get("state") == "ready"}
    by_id = {_text(s.get("id")): s for s in services}
    on_batch: dict[str, int] = {}
    elsewhere: dict[str, int] = {}
    for t in tasks:
        service = by_id.get(_text(t.get("service_id")))
        if service is None:
            continue
        mode = _text(service.get("mode")) or "replicated"
        state = _text(t.get("state"))
        node = _text(t.get("node_id"))
        sid = _text(service.get("id"))
        if node in batch:
            if mode in ("replicated", "replicated-job") and state in LIVE_TASK_STATES:
                on_batch[sid] = on_batch.get(sid, 0) + 1
        elif (mode == "replicated" and node and state == "running" and t.get("desired_state") == "running"
              and (ready is None or node in ready)):
            elsewhere[sid] = elsewhere.get(sid, 0) + 1

    def label(sid: str) -> str:
        return _text(by_id[sid].get("name")) or sid

    still = sorted((label(sid), count) for sid, count in on_batch.items())
    short = []
    for sid, service in by_id.items():
        mode = _text(service.get("mode")) or "replicated"
        raw = service.get("replicas")
        replicas = 1 if raw is None else int(raw)
        need = max(replicas - max(max_shortfall, 0), 0)
        have = elsewhere.get(sid, 0)
        if mode == "replicated" and have < need:
            short.append((label(sid), have, replicas, need))
    short.sort()
    if not still and not short:
        return Drain(True, "")
    who = name or ", ".join(sorted(batch))
    parts = []
    if still:
        verb = "runs" if len(batch) == 1 else "run"
        parts.append(f"{who} still {verb} " + ", ".join(f"{_plural(c, 'task')} of {s}" for s, c in still))
    if short:
        parts.append("running elsewhere: " + ", ".join(
            f"{s} {have} of {replicas}" + (f" (at least {need} needed)" if need != replicas else "")
            for s, have, replicas, need in short))
    return Drain(False, "Not drained yet: " + "; ".join(parts) + ".")


# ------------------------------------------------------------------------------------- for the playbooks
def pick_reader(readers: Sequence[str], batch_hosts: Iterable[str], leader: str = "") -> str:
    """The manager (inventory host) to read the swarm from while ``batch_hosts`` are away: the ``leader`` when it
    can be read and is not in the batch, else the first of ``readers`` (managers that answered with the node list,
    in inventory order) not in the batch. A swarm whose only manager is in the batch (one manager, walked with
    ``maintenance_allow_quorum_loss``) is read on that manager itself: before it goes and after it is back. ''
    when there is no reader at all."""
    away = set(batch_hosts)
    if leader and leader in readers and leader not in away:
        return leader
    return next((h for h in readers if h not in away), "") or next(iter(readers), "")


def gate_text(batch: Batch, counts: quorum.ManagerCounts) -> str:
    """What the gate before ``batch`` checks, as the plan shows it (``counts``: the managers now)."""
    if batch.kind == "manager":
        who = batch.steps[0].name
        away = quorum.while_away(counts, batch.steps[0].reachability == "reachable")
        return (f"before manager {who}: every other manager reachable, one leader, the quorum kept while {who} is "
                f"away ({away.reachable} of {counts.total} reachable, quorum {counts.quorum})")
    return (f"before {', '.join(batch.hosts)}: every node outside the batch ready, at least {counts.quorum} of "
            f"{counts.total} managers reachable, one leader")


def playbook_batches(walk: Walk, nodes: Sequence[Mapping[str, Any]], readers: Sequence[str],
                     leader: str = "") -> list[dict[str, Any]]:
    """The walk's batches as the playbook loops over them: :meth:`Batch.as_dict` plus the manager to read
    from (``reader``, :func:`pick_reader`), the gate's text (``gate``), the hosts that still need the work
    (``work_hosts``: not those a stopped upgrade left at the target version) and per step the labels to set with
    the drain (``drain_labels``) and with the restore (``restore_labels``), and whether the restore changes the
    node (``restore_changes``, :func:`restore_changes`: what check mode reports for it)."""
    counts = quorum.view_counts(list(nodes))
    out = []
    for batch in walk.batches:
        data = batch.as_dict()
        data["reader"] = pick_reader(readers, batch.hosts, leader)
        data["gate"] = gate_text(batch, counts)
        data["work_hosts"] = [s.host for s in batch.steps if s.work]
        for step in data["steps"]:
            step["drain_labels"] = mark_labels(step["before"])
            step["restore_labels"] = unmark_labels()
            step["restore_changes"] = restore_changes(step["before"], step["restore"])
        out.append(data)
    return out


def back_problems(nodes: Sequence[Mapping[str, Any]], node_ids: Sequence[str], target_version: str = "",
                  names: Optional[Mapping[str, str]] = None) -> list[str]:
    """Why the maintained nodes ``node_ids`` are not back yet ([] when they are): each must be listed and ready, a
    manager reachable, the swarm must have exactly one leader, and with ``target_version`` each must report an
    engine at it. ``names``: inventory host -> node ID, for the sentences."""
    name = _namer(nodes, names)
    by_id = {_text(n.get("id")): n for n in nodes}
    out = []
    for node_id in node_ids:
        node = by_id.get(_text(node_id))
        who = name(_text(node_id))
        if node is None:
            out.append(f"{who} is not listed")
            continue
        wrong = _what_is_wrong(node)
        if wrong:
            out.append(f"{who} is {' and '.join(wrong)}")
        if target_version and not at_version(_text(node.get("engine_version")), target_version):
            out.append(f"{who} reports Engine {_text(node.get('engine_version')) or '?'}, not {target_version}")
    leaders = _leaders(nodes, name)
    if leaders:
        out.append(leaders)
    return out


def unsettled(nodes: Sequence[Mapping[str, Any]]) -> list[str]:
    """What is not ready yet in ``nodes``: every node not ready, every manager not reachable, not one leader."""
    name = _namer(nodes, None)
    out = [f"{name(_text(n.get('id')))} is {' and '.join(_what_is_wrong(n))}" for n in _in_order(nodes)
           if _what_is_wrong(n)]
    leaders = _leaders(nodes, name)
    return out + ([leaders] if leaders else [])


def check_report(walk: Mapping[str, Any]) -> list[str]:
    """What the report says in check mode, where nothing was walked: the walk the real run makes (the node states
    after it cannot be read before it happened)."""
    target = _text(walk.get("target_version"))
    hosts = [h for b in walk.get("batches") or [] for h in b.get("hosts") or []]
    return [f"Check mode: would walk {_plural(len(hosts), 'node')} in {_plural(len(walk.get('batches') or []), 'step')}"
            + (f" to Engine {target}" if target else "") + f" ({', '.join(hosts) or 'none'}); nothing was changed."]


def final_report(nodes: Sequence[Mapping[str, Any]], walk: Mapping[str, Any]) -> list[str]:
    """The lines printed after the walk: what was walked, each node's engine, availability and state now, and
    the problems left (a node not ready, a label of an unfinished run, a node not at the target)."""
    names = _namer(nodes, walk.get("node_ids") or {})
    target = _text(walk.get("target_version"))
    walked = [h for b in walk.get("batches") or [] for h in b.get("hosts") or []]
    rows = [("HOST", "ROLE", "ENGINE", "AVAILABILITY", "STATE")]
    problems = []
    for n in _in_order(nodes):
        who = names(_text(n.get("id")))
        role = "manager (leader)" if n.get("leader") else _text(n.get("role"))
        state = _text(n.get("state")) + ("" if not _is_manager(n) else f", {_text(n.get('manager_reachability'))}")
        rows.append((who, role, _text(n.get("engine_version")) or "?", _text(n.get("availability")), state))
        problems += [f"{who} is {w}" for w in _what_is_wrong(n)]
        if MARK_LABEL in (n.get("labels") or {}):
            problems.append(f"{who} still carries {MARK_LABEL} (a walk that did not finish)")
        if target and not at_version(_text(n.get("engine_version")), target):
            problems.append(f"{who} runs Engine {_text(n.get('engine_version')) or '?'}, not {target}")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    table = ["  ".join(f"{c:<{widths[i]}}" for i, c in enumerate(r[:4])) + f"  {r[4]}" for r in rows]
    head = (f"Walked {_plural(len(walked), 'node')} in {_plural(len(walk.get('batches') or []), 'step')}"
            + (f" to Engine {target}" if target else "") + ".")
    tail = [f"WARNING: {p}" for p in problems] or ["Every node is ready, every manager reachable."]
    return [head, *table, *tail]

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SwarmSpec <-> snake_case module options.

One table (``FIELDS``) maps every field of docker-py's ``create_swarm_spec`` to its place in the
Engine's SwarmSpec JSON. On top of it:

* ``spec_argument_spec()`` - the module options (documented once in doc fragment ``hive.swarm.swarm.spec``);
* ``requested_options(params)`` - the options a task actually set;
* ``init_spec(requested)`` - the Spec for POST /swarm/init (only requested fields);
* ``merge_spec(current, requested)`` - read-modify-write: the COMPLETE current spec with only the
  requested fields changed (the Engine stores the body of /swarm/update as the whole spec; see
  docs/architecture.md, "Engine facts": fields you leave out become zero, a missing CAConfig.ForceRotate
  re-rotates the CA);
* ``spec_to_options(spec)`` / ``spec_diff(before, after)`` - the user-facing view and a diff with
  exactly the changed options.

Not mapped: ``TaskDefaults`` (the Engine accepts and drops it). ``heartbeat_tick``/``election_tick``
are stored by the Engine but dockerd runs raft with 10/1 regardless.
Durations (``dispatcher_heartbeat_period``, ``node_cert_expiry``) are given as seconds or strings
like ``5s``, ``1h30m``, ``90d`` and shown as seconds; the API uses nanoseconds.
"""

from __future__ import annotations

import copy
import re
from typing import Any, NamedTuple, Optional

from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter


class Field(NamedTuple):
    option: str
    path: tuple[str, ...]
    kind: str  # int | bool | str | dict | duration | external_cas | secret


FIELDS: tuple[Field, ...] = (
    Field("name", ("Name",), "str"),
    Field("labels", ("Labels",), "dict"),
    Field("task_history_retention_limit", ("Orchestration", "TaskHistoryRetentionLimit"), "int"),
    Field("snapshot_interval", ("Raft", "SnapshotInterval"), "int"),
    Field("keep_old_snapshots", ("Raft", "KeepOldSnapshots"), "int"),
    Field("log_entries_for_slow_followers", ("Raft", "LogEntriesForSlowFollowers"), "int"),
    Field("heartbeat_tick", ("Raft", "HeartbeatTick"), "int"),
    Field("election_tick", ("Raft", "ElectionTick"), "int"),
    Field("dispatcher_heartbeat_period", ("Dispatcher", "HeartbeatPeriod"), "duration"),
    Field("node_cert_expiry", ("CAConfig", "NodeCertExpiry"), "duration"),
    Field("external_cas", ("CAConfig", "ExternalCAs"), "external_cas"),
    Field("signing_ca_cert", ("CAConfig", "SigningCACert"), "str"),
    Field("signing_ca_key", ("CAConfig", "SigningCAKey"), "secret"),
    Field("ca_force_rotate", ("CAConfig", "ForceRotate"), "int"),
    Field("autolock", ("EncryptionConfig", "AutoLockManagers"), "bool"),
)
FIELD_BY_OPTION: dict[str, Field] = {f.option: f for f in FIELDS}
SPEC_OPTIONS: tuple[str, ...] = tuple(f.option for f in FIELDS)
# Shown in results and diffs; the signing CA key is write-only (the Engine never returns it).
VISIBLE_OPTIONS: tuple[str, ...] = tuple(f.option for f in FIELDS if f.kind != "secret")

# Options that need a minimum API version (keys of options.OPTION_REQUIREMENTS).
GATED_OPTIONS: tuple[str, ...] = ("autolock", "external_cas", "signing_ca_cert", "signing_ca_key", "ca_force_rotate")

NANOSECONDS = 1_000_000_000
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": NANOSECONDS,
    "m": 60 * NANOSECONDS,
    "h": 3600 * NANOSECONDS,
    "d": 86400 * NANOSECONDS,
}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)")


def spec_argument_spec() -> dict[str, dict[str, Any]]:
    """Module options for the SwarmSpec fields (all default None = "leave as is")."""
    return {
        "name": {"type": "str"},
        "labels": {"type": "dict"},
        "task_history_retention_limit": {"type": "int"},
        "snapshot_interval": {"type": "int"},
        "keep_old_snapshots": {"type": "int"},
        "log_entries_for_slow_followers": {"type": "int"},
        "heartbeat_tick": {"type": "int"},
        "election_tick": {"type": "int"},
        "dispatcher_heartbeat_period": {"type": "raw"},
        "node_cert_expiry": {"type": "raw"},
        "external_cas": {
            "type": "list",
            "elements": "dict",
            "options": {
                "url": {"type": "str", "required": True},
                "protocol": {"type": "str", "default": "cfssl", "choices": ["cfssl"]},
                "options": {"type": "dict"},
                "ca_cert": {"type": "str"},
            },
        },
        "signing_ca_cert": {"type": "str"},
        "signing_ca_key": {"type": "str", "no_log": True},
        "ca_force_rotate": {"type": "int"},
        "autolock": {"type": "bool"},
    }


def parse_duration(value: Any, option: str) -> int:
    """Seconds (int/float or digit string) or a Go-style duration string ('5s', '1h30m', '90d') -> ns."""
    if isinstance(value, bool):
        raise InvalidParameter(f"{option}: expected a duration, got {value!r}.")
    if isinstance(value, (int, float)):
        seconds = value
    else:
        text = str(value).strip()
        if re.fullmatch(r"\d+(\.\d+)?", text):
            seconds = float(text)
        else:
            pos, total = 0, 0.0
            for match in _DURATION_RE.finditer(text):
                if match.start() != pos:
                    break
                total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
                pos = match.end()
            if not text or pos != len(text):
                raise InvalidParameter(
                    f"{option}: {value!r} is not a duration (use seconds or e.g. '5s', '1h30m', '90d')."
                )
            return int(total)
    if seconds < 0:
        raise InvalidParameter(f"{option}: a duration cannot be negative ({value!r}).")
    return round(seconds * NANOSECONDS)


def format_seconds(nanoseconds: Any) -> Any:
    """ns -> seconds (int when whole, else float); None/0 stay 0."""
    ns = int(nanoseconds or 0)
    return ns // NANOSECONDS if ns % NANOSECONDS == 0 else ns / NANOSECONDS


def _external_cas_to_api(value: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for ca in value:
        item: dict[str, Any] = {"Protocol": ca.get("protocol") or "cfssl", "URL": ca["url"]}
        if ca.get("options"):
            item["Options"] = {str(k): str(v) for k, v in ca["options"].items()}
        if ca.get("ca_cert"):
            item["CACert"] = ca["ca_cert"]
        out.append(item)
    return out


def _external_cas_to_options(value: Any) -> list[dict[str, Any]]:
    return [
        {
            "url": ca.get("URL") or "",
            "protocol": ca.get("Protocol") or "cfssl",
            "options": dict(ca.get("Options") or {}),
            "ca_cert": ca.get("CACert") or "",
        }
        for ca in (value or [])
    ]


def to_api(field: Field, value: Any) -> Any:
    """Module option value -> SwarmSpec JSON value."""
    if field.kind == "duration":
        return parse_duration(value, field.option)
    if field.kind == "external_cas":
        return _external_cas_to_api(value)
    if field.kind == "dict":
        return {str(k): str(v) for k, v in value.items()}
    if field.kind == "int":
        if int(value) < 0:
            raise InvalidParameter(f"{field.option} cannot be negative ({value}).")
        return int(value)
    return value


def to_option(field: Field, value: Any) -> Any:
    """SwarmSpec JSON value (possibly absent) -> normalised module option value."""
    if field.kind == "duration":
        return format_seconds(value)
    if field.kind == "external_cas":
        return _external_cas_to_options(value)
    if field.kind == "dict":
        return dict(value or {})
    if field.kind == "int":
        return int(value or 0)
    if field.kind == "bool":
        return bool(value)
    return value or ""


def _get(spec: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = spec
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _set(spec: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = spec
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node = node[key]
    node[path[-1]] = value


def requested_options(params: dict[str, Any]) -> dict[str, Any]:
    """The SwarmSpec options a task set (None = not set). Validates values early."""
    requested = {name: params.get(name) for name in SPEC_OPTIONS if params.get(name) is not None}
    if "signing_ca_key" in requested and "signing_ca_cert" not in requested:
        raise InvalidParameter("signing_ca_key needs signing_ca_cert (the Engine never returns the current one).")
    for name, value in requested.items():
        to_api(FIELD_BY_OPTION[name], value)  # raises InvalidParameter on bad values
    return requested


def init_spec(requested: dict[str, Any]) -> dict[str, Any]:
    """The Spec body for POST /swarm/init: only the requested fields. (At init the Engine merges
    non-zero values into its defaults, so zero values are applied afterwards by an update.)"""
    spec: dict[str, Any] = {}
    for name, value in requested.items():
        field = FIELD_BY_OPTION[name]
        _set(spec, field.path, to_api(field, value))
    return spec


def merge_spec(current: dict[str, Any], requested: dict[str, Any], labels_merge: bool = False) -> dict[str, Any]:
    """The complete current spec with only the requested options changed (read-modify-write).
    ``labels_merge``: add/overwrite the given labels and keep the others (default: replace all)."""
    new = copy.deepcopy(current)
    for name, value in requested.items():
        if value is None:
            continue
        field = FIELD_BY_OPTION[name]
        api_value = to_api(field, value)
        if field.kind == "dict" and labels_merge:
            api_value = {**(_get(current, field.path) or {}), **api_value}
        _set(new, field.path, api_value)
    return new


def spec_to_options(spec: Optional[dict[str, Any]]) -> dict[str, Any]:
    """Every visible SwarmSpec option, normalised (absent -> 0/''/{}/[]/False)."""
    spec = spec or {}
    return {f.option: to_option(f, _get(spec, f.path)) for f in FIELDS if f.kind != "secret"}


def spec_diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) dicts holding exactly the visible options whose values differ."""
    b, a = spec_to_options(before), spec_to_options(after)
    changed = [k for k in VISIBLE_OPTIONS if b[k] != a[k]]
    return {k: b[k] for k in changed}, {k: a[k] for k in changed}


def differing_options(current: dict[str, Any], requested: dict[str, Any]) -> list[str]:
    """Names of the requested options whose value differs from ``current`` (signing_ca_key is
    judged by signing_ca_cert: the Engine never returns the key)."""
    after = spec_diff(current, merge_spec(current, requested))[1]
    return sorted(after)

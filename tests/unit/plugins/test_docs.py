"""Documentation == argument spec, for the doc fragments and for every module (a fast stand-in for the parts of
ansible-test validate-modules that matter most): option names, types, defaults, choices, aliases, elements,
required, suboptions; secrets are no_log; every module documents check/diff mode and its returns.

The Engine API modules are the members of the action group ``swarm`` in meta/runtime.yml: they (and only they) take
the common connection options (doc fragment ``hive.swarm.swarm``). Other modules (swarm_preflight) take none."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.hive.swarm.plugins import modules as modules_pkg
from ansible_collections.hive.swarm.plugins.module_utils._swarm.module import argument_spec
from ansible_collections.hive.swarm.plugins.module_utils._swarm.options import common_argument_spec
from ansible_collections.hive.swarm.plugins.module_utils._swarm.spec import spec_argument_spec

MODULES = sorted(name for _finder, name, _pkg in pkgutil.iter_modules(modules_pkg.__path__))
RUNTIME = Path(modules_pkg.__path__[0]).parents[1] / "meta" / "runtime.yml"
ENGINE_MODULES = set(yaml.safe_load(RUNTIME.read_text())["action_groups"]["swarm"])
# Option names that hold secret values when they are strings (bool switches such as join_tokens: true are not).
SECRET_NAME = re.compile(r"(token|secret|password|passphrase|(^|_)key$)")


def fragment_options(name: str) -> dict[str, Any]:
    """Options of a doc fragment 'hive.swarm.<file>[.<attribute>]'."""
    parts = name.split(".")
    assert parts[:2] == ["hive", "swarm"] and len(parts) in (3, 4), name
    module = importlib.import_module(f"ansible_collections.hive.swarm.plugins.doc_fragments.{parts[2]}")
    text = getattr(module.ModuleDocFragment, parts[3].upper() if len(parts) == 4 else "DOCUMENTATION")
    return yaml.safe_load(text).get("options") or {}


def mismatches(doc: dict[str, Any], spec: dict[str, Any], where: str) -> list[str]:
    """Every difference between documented options and an argument spec (empty list = equal)."""
    out = []
    if set(doc) != set(spec):
        out.append(f"{where}: documented only {sorted(set(doc) - set(spec))}, "
                   f"in the spec only {sorted(set(spec) - set(doc))}")
    for name in sorted(set(doc) & set(spec)):
        d, a = doc[name], spec[name]
        here = f"{where}.{name}"
        pairs = {
            "type": (d.get("type", "str"), a.get("type", "str")),
            "default": (d.get("default"), a.get("default")),
            "choices": (d.get("choices"), a.get("choices")),
            "aliases": (sorted(d.get("aliases") or []), sorted(a.get("aliases") or [])),
            "elements": (d.get("elements"), a.get("elements")),
            "required": (bool(d.get("required")), bool(a.get("required"))),
        }
        out += [f"{here}: {key} documented {dv!r}, spec {av!r}" for key, (dv, av) in pairs.items() if dv != av]
        if not d.get("description"):
            out.append(f"{here}: no description")
        if ("suboptions" in d) != ("options" in a):
            out.append(f"{here}: suboptions documented {'suboptions' in d}, in the spec {'options' in a}")
        elif "options" in a:
            out += mismatches(d["suboptions"], a["options"], here)
    return out


def secrets_without_no_log(spec: dict[str, Any], where: str) -> list[str]:
    out = []
    for name, arg in spec.items():
        if arg.get("type", "str") in ("str", "raw") and SECRET_NAME.search(name) and not arg.get("no_log"):
            out.append(f"{where}.{name}")
        if "options" in arg:
            out += secrets_without_no_log(arg["options"], f"{where}.{name}")
    return out


def load(name: str) -> tuple[Any, dict[str, Any]]:
    """The module (for an action plugin's documentation stub: the action plugin, which holds the spec) and its docs."""
    module = importlib.import_module(f"ansible_collections.hive.swarm.plugins.modules.{name}")
    if not hasattr(module, "ARGUMENT_SPEC"):
        action = importlib.import_module(f"ansible_collections.hive.swarm.plugins.action.{name}")
        for key in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
            setattr(action, key, getattr(module, key))
        module = action
    return module, yaml.safe_load(module.DOCUMENTATION)


def full_spec(name: str, module: Any) -> dict[str, Any]:
    """The argument spec the module runs with: common connection options + its own for Engine API modules."""
    return argument_spec(module.ARGUMENT_SPEC) if name in ENGINE_MODULES else dict(module.ARGUMENT_SPEC)


def test_the_modules_are_found():
    assert {"swarm_init", "swarm_join", "swarm_leave", "swarm_node", "swarm_node_info", "swarm_update"} <= set(MODULES)
    assert ENGINE_MODULES <= set(MODULES), f"action group names unknown modules {sorted(ENGINE_MODULES - set(MODULES))}"
    assert "swarm_preflight" in MODULES and "swarm_preflight" not in ENGINE_MODULES


def test_common_fragment_documents_the_common_argument_spec():
    assert mismatches(fragment_options("hive.swarm.swarm"), common_argument_spec(), "hive.swarm.swarm") == []


def test_spec_fragment_documents_the_spec_options():
    assert mismatches(fragment_options("hive.swarm.swarm.spec"), spec_argument_spec(), "hive.swarm.swarm.spec") == []


@pytest.mark.parametrize("name", MODULES)
def test_module_documentation_matches_its_argument_spec(name):
    module, doc = load(name)
    assert doc["module"] == name
    documented: dict[str, Any] = {}
    for fragment in doc.get("extends_documentation_fragment") or []:
        documented.update(fragment_options(fragment))
    own = doc.get("options") or {}
    assert not set(own) & set(documented), f"{name} re-documents fragment options {sorted(set(own) & set(documented))}"
    documented.update(own)
    fragments = doc.get("extends_documentation_fragment") or []
    if name in ENGINE_MODULES:
        assert "hive.swarm.swarm" in fragments, "common options not documented"
    else:
        # not in the action group `swarm`, so module_defaults for the group would not reach it: no connection options
        assert "hive.swarm.swarm" not in fragments and "docker_host" not in module.ARGUMENT_SPEC, (
            f"{name} takes the connection options: add it to the action group swarm in meta/runtime.yml")
    assert mismatches(documented, full_spec(name, module), name) == []


@pytest.mark.parametrize("name", MODULES)
def test_module_secrets_are_no_log(name):
    module, _doc = load(name)
    assert secrets_without_no_log(full_spec(name, module), name) == []


@pytest.mark.parametrize("name", MODULES)
def test_module_documents_modes_examples_and_returns(name):
    module, doc = load(name)
    assert set(doc["attributes"]) >= {"check_mode", "diff_mode"}
    examples = yaml.safe_load(module.EXAMPLES)
    assert examples and any(f"hive.swarm.{name}" in task for task in examples)
    returns = yaml.safe_load(module.RETURN) or {}
    assert returns, f"{name} documents no return values"
    for key, value in returns.items():
        assert value.get("description") and value.get("returned") and value.get("type"), f"{name}: RV {key}"


def test_the_checks_catch_differences():
    # the helpers must be able to fail: a wrong default, a missing option, an undocumented secret
    spec = {"a": {"type": "int", "default": 1}, "t": {"type": "str"}}
    doc = {"a": {"description": "x", "type": "int", "default": 2}}
    problems = mismatches(doc, spec, "m")
    assert any("documented only []" in p and "'t'" in p for p in problems)
    assert "m.a: default documented 2, spec 1" in problems
    assert secrets_without_no_log({"join_token": {"type": "str"}, "join_tokens": {"type": "bool"}}, "m") == [
        "m.join_token"
    ]

"""Run hive.swarm modules against lab hosts through Ansible, and read the Engines independently.

    h = Harness(lab, python="/usr/bin/python3", workdir=tmp_path)
    res = h.run("m1", "hive.swarm.swarm_init", {"advertise_addr": "198.18.10.11"}, check=True, diff=True)
    res.changed, res.failed, res.msg, res.warnings, res["swarm_id"]
    runs = h.sequence("m1", "hive.swarm.swarm_init", args, ["check", "apply", "apply", "check"])
    c = h.cycle("m1", "hive.swarm.swarm_init", args)  # check, read, apply, read, apply, check
    h.state("m1")  # LocalNodeState etc. from the Engine's /info, read over its socket (no SDK)

Each call writes a playbook (JSON is YAML) with one task per step; every task registers its result
(``ignore_errors``) and a last ``debug`` task (no process on the host) prints all of them as one
JSON line, which is parsed from Ansible's output. With ``no_log=True`` (steps that return secrets)
the steps are ``no_log`` and the results go to a 0600 file on the controller instead, so
``RunOutput.stdout`` can be checked for leaked secrets. The
inventory comes from the lab with ``ansible_python_interpreter`` set to ``python``, so the same
tests run against Debian's python3-docker (5.0.3) and the venv's docker SDK (7.x), each on labs of
Docker Engine 20.10, 26.1 or 28.5 (``Combo``, ``matrix()``: the gating subset, or every combination with
``HIVE_ENGINE_MATRIX=full``).
The independent reader (``info``/``nodes``/``node``) talks HTTP to the Engine's unix socket through
``hivelab`` - never through the modules or the docker SDK.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Optional, Union

import hivelab

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Module tests run on (docker SDK, Docker Engine) combinations: the SDK the modules use on the lab hosts
# (id -> interpreter there, expected SDK major version) and the lab hosts' Engine (lab/README.md).
SDKS = {
    "sdk5": ("/usr/bin/python3", "5."),  # Debian 12 python3-docker 5.0.3
    "sdk7": (str(REPO / ".venv" / "bin" / "python"), "7."),  # the controller venv's docker 7.x
}
ENGINES = ("20.10", "26.1", "28.5")  # API 1.41, 1.45, 1.51
MATRIX_ENV = "HIVE_ENGINE_MATRIX"


class Combo(NamedTuple):
    """One (SDK, Engine) combination; ``id`` names both, e.g. ``sdk5-28.5`` (the test ids)."""

    sdk: str
    engine: str

    @property
    def id(self) -> str:
        return f"{self.sdk}-{self.engine}"

    @property
    def python(self) -> str:
        return SDKS[self.sdk][0]

    @property
    def major(self) -> str:
        return SDKS[self.sdk][1]


# The gating run (scripts/test.sh): today's two (both SDKs on 20.10), the distro SDK against the newest
# Engine and the venv SDK against 26.1 (~3.2 min of module tests per combination). HIVE_ENGINE_MATRIX=full:
# every SDK x every Engine (6 combinations).
GATING = (Combo("sdk5", "20.10"), Combo("sdk7", "20.10"), Combo("sdk5", "28.5"), Combo("sdk7", "26.1"))
FULL = tuple(Combo(sdk, engine) for sdk in SDKS for engine in ENGINES)

# Lab (name, net) per test family and combination, unique in the test suite (nets in use: tests/labfixtures.py,
# `grep -rn "lab_factory(\|NET =" tests`): "info" = module_harness (conftest.py), "recovery" =
# test_init_join_leave_info_recovery.py, "update" = test_update_node.py.
LABS: dict[str, dict[str, tuple[str, int]]] = {
    "info": {"sdk5-20.10": ("moda1", 10), "sdk7-20.10": ("moda2", 11), "sdk5-28.5": ("moda5", 32),
             "sdk7-26.1": ("moda6", 33), "sdk5-26.1": ("moda7", 34), "sdk7-28.5": ("moda8", 35)},
    "recovery": {"sdk5-20.10": ("moda3", 12), "sdk7-20.10": ("moda4", 13), "sdk5-28.5": ("modr5", 36),
                 "sdk7-26.1": ("modr6", 37), "sdk5-26.1": ("modr7", 38), "sdk7-28.5": ("modr8", 39)},
    "update": {"sdk5-20.10": ("modb1", 15), "sdk7-20.10": ("modb2", 16), "sdk5-28.5": ("modb5", 50),
               "sdk7-26.1": ("modb6", 51), "sdk5-26.1": ("modb7", 52), "sdk7-28.5": ("modb8", 53)},
}


def _check_labs() -> None:
    """Every family has a lab for every combination; no two labs share a name or a net."""
    labs = [lab for by_combo in LABS.values() for lab in by_combo.values()]
    if any(set(by_combo) != {combo.id for combo in FULL} for by_combo in LABS.values()):
        raise ValueError("harness.LABS: every family needs a lab for every combination of FULL")
    if len({lab[0] for lab in labs}) != len(labs) or len({lab[1] for lab in labs}) != len(labs):
        raise ValueError("harness.LABS: lab names and nets must be unique")


_check_labs()


def matrix() -> tuple[Combo, ...]:
    """The combinations of this run: GATING, or FULL with HIVE_ENGINE_MATRIX=full."""
    value = os.environ.get(MATRIX_ENV, "").strip().lower()
    if value == "full":
        return FULL
    if value in ("", "gating"):
        return GATING
    raise ValueError(f"{MATRIX_ENV}={value!r}: use 'full' (every SDK x Engine) or leave it unset (the gating subset)")


def engine_owner(combo: Combo, combos: Iterable[Combo]) -> bool:
    """Whether ``combo`` runs the tests of Engine-only behaviour (locked restarts, the Engine's quorum refusal...):
    once per Engine of the run, on the SDK 5.0.3 lab of that Engine, else on the first combination that has it."""
    same = [c for c in combos if c.engine == combo.engine]
    return combo == next((c for c in same if c.sdk == "sdk5"), same[0] if same else combo)


def lab_for(family: str, combo: Combo) -> tuple[str, int]:
    return LABS[family][combo.id]


def check_engine(lab: hivelab.Lab, engine: str) -> str:
    """The Engine version every lab host reports (GET /version); fails unless it is ``engine``."""
    versions = {host.name: str(lab.engine_version(host.name).get("Version") or "") for host in lab.hosts}
    wrong = {name: v for name, v in versions.items() if not v.startswith(engine + ".")}
    assert not wrong, f"lab {lab.name}: expected Docker Engine {engine}, got {wrong}"
    return next(iter(versions.values()))


STEP_KINDS = ("apply", "check", "diff", "check_diff", "read")
MARKER = "HIVE-RESULTS "
# 'ok: [host] => {"msg": "HIVE-RESULTS [...]"}' (one line: result format json, not pretty)
REPORT_RE = re.compile(r'^ok: \[(?P<host>[^\]]+)\] => (?P<json>\{.*"HIVE-RESULTS .*\})$', re.M)


def docker_cli() -> str:
    path = f"{os.environ['PATH']}:{hivelab.TOOL_PATH}"
    cli = os.environ.get("HIVELAB_DOCKER_CLI") or shutil.which("docker", path=path)
    if not cli:
        raise AssertionError("docker CLI not found (apt-get install docker.io)")
    return cli


class Result:
    """One module result (the registered variable)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.data

    @property
    def changed(self) -> bool:
        return bool(self.data.get("changed"))

    @property
    def failed(self) -> bool:
        return bool(self.data.get("failed"))

    @property
    def msg(self) -> str:
        return str(self.data.get("msg") or "")

    @property
    def warnings(self) -> list[str]:
        out = []
        for warning in self.data.get("warnings") or []:
            out.append(warning.get("event", {}).get("msg", str(warning)) if isinstance(warning, dict) else warning)
        return out

    def ok(self) -> Result:
        assert not self.failed, f"module failed: {self.msg}\n{json.dumps(self.data, indent=1)[:3000]}"
        return self

    def __repr__(self) -> str:
        return f"Result(changed={self.changed}, failed={self.failed}, msg={self.msg!r})"


class RunOutput:
    """Results per host and step, plus Ansible's own output (for secret checks)."""

    def __init__(self, results: dict[str, list[Result]], stdout: str, seconds: float) -> None:
        self.results = results
        self.stdout = stdout
        self.seconds = seconds


class Harness:
    def __init__(self, lab: hivelab.Lab, python: str, workdir: Path, combo: Optional[Combo] = None) -> None:
        self.lab = lab
        self.python = python
        self.combo = combo  # the (SDK, Engine) combination of the lab, when the test runs on the matrix
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        self.inventory = lab.write_inventory(self.workdir / "inventory.yml", python=python)
        self.runs = 0
        self.seconds = 0.0

    # ------------------------------------------------------------------ running modules
    def host(self, ref: str) -> hivelab.Host:
        return self.lab.host(ref)

    def _playbook(self, hosts: list[str], module: str, steps: list[tuple[dict[str, Any], str]],
                  out_dir: Path, no_log: bool) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        names = []
        for index, (args, kind) in enumerate(steps):
            if kind not in STEP_KINDS:
                raise ValueError(f"unknown step kind {kind!r}")
            var = f"hive_step_{index}"
            names.append(var)
            if kind == "read":
                # The independent reader inside the same playbook: the docker CLI on the controller
                # against the host's Engine socket (no module, no SDK).
                tasks.append({
                    "name": f"step {index} (read the Engine)",
                    "ansible.builtin.command": {"argv": [
                        docker_cli(), "-H", "unix://{{ hive_sockets[inventory_hostname] }}", "info",
                        "--format", "{{ '{{json .Swarm}}' }}"]},
                    "delegate_to": "localhost",
                    "changed_when": False,
                    "register": var,
                })
                continue
            tasks.append({
                "name": f"step {index} ({kind})",
                module: args,
                "check_mode": kind in ("check", "check_diff"),
                "diff": kind in ("diff", "check_diff"),
                "register": var,
                "ignore_errors": True,
                "no_log": no_log,
            })
        results = "[" + ", ".join(names) + "]"
        if no_log:
            # Secrets must not reach Ansible's output: write the results to a file on the controller.
            tasks.append({
                "name": "write the results",
                "ansible.builtin.copy": {"content": "{{ " + results + " | to_json }}",
                                         "dest": f"{out_dir}/{{{{ inventory_hostname }}}}.json", "mode": "0600"},
                "delegate_to": "localhost",
                "no_log": True,
            })
        else:
            # An action-only task (no process on any host): the results come back in Ansible's output.
            tasks.append({"name": "report the results",
                          "ansible.builtin.debug": {"msg": MARKER + "{{ " + results + " | to_json }}"}})
        sockets = {name: str(self.host(name).socket) for name in hosts}
        return [{"name": f"{module} on {','.join(hosts)}", "hosts": ",".join(hosts), "gather_facts": False,
                 "vars": {"hive_sockets": sockets}, "tasks": tasks}]

    def execute(self, hosts: Union[str, Iterable[str]], module: str, steps: list[tuple[dict[str, Any], str]],
                no_log: bool = False) -> RunOutput:
        names = [self.host(h).name for h in ([hosts] if isinstance(hosts, str) else hosts)]
        self.runs += 1
        run_dir = self.workdir / f"run{self.runs:03d}"
        run_dir.mkdir(mode=0o700)
        playbook = run_dir / "playbook.yml"
        playbook.write_text(json.dumps(self._playbook(names, module, steps, run_dir, no_log), indent=1))
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}",
               "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
               "ANSIBLE_CALLBACK_FORMAT_PRETTY": "false"}
        t0 = time.monotonic()
        proc = subprocess.run(
            [str(BIN / "ansible-playbook"), "-v", "-i", str(self.inventory), str(playbook)],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
        )
        seconds = time.monotonic() - t0
        self.seconds += seconds
        out = proc.stdout + proc.stderr
        results: dict[str, list[Result]] = {}
        for match in REPORT_RE.finditer(proc.stdout):
            msg = json.loads(match.group("json"))["msg"]
            results[match.group("host")] = [Result(r) for r in json.loads(msg[len(MARKER):])]
        for path in run_dir.glob("*.json"):
            results[path.stem] = [Result(r) for r in json.loads(path.read_text())]
        for host_results in results.values():
            for (_args, kind), res in zip(steps, host_results):
                if kind == "read":
                    assert res.get("rc") == 0, f"docker info failed: {res.data}"
                    res.data = {"Swarm": json.loads(res["stdout"])}
        missing = [name for name in names if name not in results]
        if missing:
            raise AssertionError(f"no results for {missing} (rc={proc.returncode})\n{out[-6000:]}")
        return RunOutput(results, out, seconds)

    def run(self, host: str, module: str, args: Optional[dict[str, Any]] = None, *, check: bool = False,
            diff: bool = False) -> Result:
        """One module run on one host."""
        kind = {(False, False): "apply", (True, False): "check", (False, True): "diff", (True, True): "check_diff"}
        out = self.execute(host, module, [(args or {}, kind[(check, diff)])])
        return out.results[self.host(host).name][0]

    def run_hosts(self, hosts: Iterable[str], module: str, args: Optional[dict[str, Any]] = None,
                  check: bool = False) -> dict[str, Result]:
        """One module run on several hosts in parallel; results by host name."""
        out = self.execute(list(hosts), module, [(args or {}, "check" if check else "apply")])
        return {name: res[0] for name, res in out.results.items()}

    def cycle(self, host: str, module: str, args: dict[str, Any], diff: bool = True) -> dict[str, Any]:
        """The standard idempotency cycle in one playbook: check(+diff) -> read the Engine -> apply ->
        read the Engine -> re-apply -> re-apply in check mode. Returns the results by name;
        ``engine_after_check``/``engine_after_apply`` are the Engine's /info Swarm sections."""
        kinds = ["check_diff" if diff else "check", "read", "apply", "read", "apply", "check"]
        res = self.execute(host, module, [(args if kind != "read" else {}, kind) for kind in kinds])
        check, after_check, apply, after_apply, again, again_check = res.results[self.host(host).name]
        return {"check": check, "engine_after_check": after_check["Swarm"], "apply": apply,
                "engine_after_apply": after_apply["Swarm"], "again": again, "again_check": again_check,
                "stdout": res.stdout}

    def sequence(self, host: str, module: str, args: dict[str, Any], kinds: list[str]) -> list[Result]:
        """Several runs of the same task on one host in one playbook, e.g. ['apply', 'apply', 'check']."""
        return self.execute(host, module, [(args, kind) for kind in kinds]).results[self.host(host).name]

    # ------------------------------------------------------------------ independent reader
    def info(self, host: str, timeout: float = 10) -> dict[str, Any]:
        return self.lab.api(host, "GET", "/info", timeout=timeout)

    def state(self, host: str, timeout: float = 10) -> dict[str, Any]:
        """The Engine's own /info Swarm section (a manager losing its quorum can take ~20 s to answer)."""
        return self.info(host, timeout).get("Swarm") or {}

    def nodes(self, manager: str) -> list[dict[str, Any]]:
        return self.lab.api(manager, "GET", "/nodes")

    def node(self, manager: str, node_id: str) -> Optional[dict[str, Any]]:
        for node in self.nodes(manager):
            if node["ID"] == node_id:
                return node
        return None

    def swarm(self, manager: str) -> dict[str, Any]:
        """GET /swarm without the join tokens."""
        data = self.lab.api(manager, "GET", "/swarm")
        data.pop("JoinTokens", None)
        return data

    def sdk_version(self) -> str:
        """The docker SDK version the modules use on the lab hosts (same interpreter everywhere)."""
        host = self.lab.hosts[0]
        proc = self.lab.exec(host, [self.python, "-c", "import docker; print(docker.__version__)"])
        return proc.stdout.strip()

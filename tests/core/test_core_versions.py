"""The supported ansible-core versions (issue 14): 2.18 (the oldest kept: its managed-node floor, Python 3.8, is the
modules' own, tests/config.yml) to 2.21. 2.19 is the dev venv's and the rest of the gating run covers it fully
(scripts/sanity.sh, tests/unit, all integration); this file covers the others.

For each of 2.18, 2.20 and 2.21 a fresh venv with exactly that ansible-core and what the unit tests need (ranges from
requirements/dev.txt): 2.18 with this run's Python (3.11) in a temporary directory; 2.20 and 2.21 need Python >= 3.12,
so inside the Debian trixie controller chroot (``hivelab controller``: python3.13; built once and cached, the
temporary directory bind-mounted at the same path). With it: ``ansible-test sanity`` on a copy of the tracked tree
(no ignore files) and ``pytest tests/unit``. On the oldest and the newest: converge a small lab with site.yml twice
(the second changes nothing) and once with ``--check --diff`` (changes nothing); from the chroot, ansible-playbook
reaches the lab hosts over their bridge (the chroot shares the machine's network namespace).

Labs: cor1 (net 56, ansible-core 2.18), cor2 (net 64, 2.21), cor3 (net 59, 2.21: the installed collection from an
empty directory, as the README says); 1 manager + 1 worker each.
Every part's seconds are printed at the end of the file.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import hivelab
import pytest
from labfixtures import REPO, lab_skip_reason

sys.path.insert(0, str(REPO / "tests" / "integration" / "roles"))
from test_site import Run, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

VERSIONS = ("2.18", "2.20", "2.21")
IN_CHROOT = {"2.20", "2.21"}  # ansible-core 2.20+ needs Python >= 3.12; this machine has 3.11
# pylint is the one sanity test whose time counts. Measured (warm caches): on an idle machine pylint alone takes
# 64 s on 2.18 and the whole sanity run 55 s on 2.21, the rest 15-17 s a version; with a parallel test run on the
# machine (the gating run's load) pylint took 135 s of a 171 s sanity run on 2.18 and 200 s of 240 s on 2.21. Full
# sanity on all three would add 4-5 min to this file under load: pylint runs on the newest (2.21) and, by the
# gating run's scripts/sanity.sh, on 2.19; 2.18 and 2.20 skip only it.
SKIP_PYLINT = {"2.18", "2.20"}
LABS = {"2.18": ("cor1", 56), "2.21": ("cor2", 64)}
# What the unit tests import (besides ansible-core), at requirements/dev.txt's ranges.
UNIT_NEEDS = ("pytest", "pytest-timeout", "pytest-xdist", "docker", "requests", "pyyaml")
SECRETS = ("SWMTKN-", "SWMKEY-")
TIMES: dict[str, float] = {}


def dev_requirements(names: tuple[str, ...]) -> list[str]:
    found = {}
    for line in (REPO / "requirements" / "dev.txt").read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.-]+)", line)
        if m and not line.lstrip().startswith("#") and m[1].lower() in names:
            found[m[1].lower()] = line.strip()
    missing = set(names) - set(found)
    assert not missing, f"not in requirements/dev.txt: {missing}"
    return [found[n] for n in names]


def core_requirement(version: str) -> str:
    major, minor = version.split(".")
    return f"ansible-core>={version},<{major}.{int(minor) + 1}"


def copy_tree(dest: Path) -> Path:
    """The tracked tree of the checkout at ``dest``/ansible_collections/hive/swarm (outside any git work tree)."""
    target = dest / "ansible_collections" / "hive" / "swarm"
    target.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True, timeout=60).stdout
    subprocess.run(["rsync", "-a", "--from0", "--files-from=-", "./", f"{target}/"], cwd=REPO, input=files,
                   capture_output=True, check=True, timeout=120)
    return target


def host_env(venv: Path) -> dict[str, str]:
    """This machine's environment without the test run's own tools: the venv first, no dev venv, no pytest state."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ANSIBLE_", "PYTEST_", "MOLECULE_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    path = [p for p in base.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(REPO))]
    return {**base, "PATH": os.pathsep.join([str(venv / "bin"), *path])}


@dataclass
class Core:
    """One ansible-core version's venv, on this machine or in the controller chroot; ``work`` holds everything."""

    version: str
    work: Path
    chroot: bool
    python: str = ""

    @property
    def venv(self) -> Path:
        return self.work / "venv"

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        if self.chroot:  # run_in_controller starts from HOME=/root, the chroot's PATH and LANG only
            env = {"PATH": f"{self.venv / 'bin'}:{hivelab.CONTROLLER_PATH}", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        else:
            env = host_env(self.venv)
        return {**env, **(extra or {})}

    def run(self, argv: list[str], cwd: Path | None = None, extra_env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
        cwd = cwd or self.work
        if self.chroot:
            return hivelab.run_in_controller(argv, binds=[str(self.work)], env=self.env(extra_env), cwd=str(cwd),
                                             timeout=timeout)
        return subprocess.run(argv, cwd=cwd, env=self.env(extra_env), capture_output=True, text=True,
                              timeout=timeout, check=False)

    def check(self, argv: list[str], cwd: Path | None = None, extra_env: dict[str, str] | None = None,
              timeout: float = 600) -> subprocess.CompletedProcess[str]:
        proc = self.run(argv, cwd, extra_env, timeout)
        assert proc.returncode == 0, (f"[{self.version}] {argv} exited {proc.returncode}\n"
                                      f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
        return proc

    def timed(self, part: str, t0: float) -> None:
        TIMES[f"{self.version} {part}"] = round(time.monotonic() - t0, 1)
        print(f"[core {self.version}] {part}: {TIMES[f'{self.version} {part}']:.1f}s")


@pytest.fixture(scope="module", autouse=True)
def report_times() -> Iterator[None]:
    yield
    info = hivelab.controller_info()
    if info:
        print(f"\ncontroller {info['suite']} (python {info['python']}): first build (debootstrap) {info['seconds']}s")
    print("ansible-core matrix times (s): " + json.dumps(TIMES))


@pytest.fixture(scope="module")
def controller() -> Path:
    """The trixie controller chroot, built once (cached across runs under the lab's state root)."""
    reason = lab_skip_reason()  # root: the chroot (and the lab); the whole matrix runs as root
    if reason:
        pytest.skip(reason)
    t0 = time.monotonic()
    rootfs = hivelab.build_controller(log=print)
    TIMES["controller ready"] = round(time.monotonic() - t0, 1)
    return rootfs


def make_venv(c: Core) -> Core:
    t0 = time.monotonic()
    c.check(["python3" if c.chroot else sys.executable, "-m", "venv", str(c.venv)], timeout=300)
    c.check([str(c.venv / "bin" / "python"), "-m", "pip", "install", "-q", core_requirement(c.version),
             *dev_requirements(UNIT_NEEDS)], timeout=900)
    c.python = c.check([str(c.venv / "bin" / "python"), "-c",
                        "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.strip()
    c.timed("venv", t0)
    return c


@pytest.fixture(scope="module")
def venvs(controller: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Core]:
    """The venvs of all versions, made at once (mostly waiting on the package index)."""
    cores = [Core(v, tmp_path_factory.mktemp(f"core{v}"), v in IN_CHROOT) for v in VERSIONS]
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(len(cores)) as pool:
        made = {c.version: c for c in pool.map(make_venv, cores)}
    TIMES["all venvs (at once)"] = round(time.monotonic() - t0, 1)
    return made


@pytest.fixture(scope="module", params=VERSIONS)
def core(request: pytest.FixtureRequest, venvs: dict[str, Core]) -> Core:
    return venvs[request.param]


def installed_core(c: Core) -> str:
    """The ansible-core version of the venv, as ``ansible --version`` reports it; checked against ansible-test's."""
    out = c.check(["ansible", "--version"]).stdout
    m = re.match(r"ansible \[core (\d+\.\d+\.\d+\S*)\]", out)
    assert m, out
    test = c.check(["ansible-test", "--version"]).stdout.strip()
    assert test == f"ansible-test version {m[1]}", (test, m[1])
    return m[1]


def test_the_venv_has_exactly_the_ansible_core_asked_for(core: Core) -> None:
    assert installed_core(core).startswith(core.version + "."), core.version
    if core.chroot:
        assert tuple(int(x) for x in core.python.split(".")) >= (3, 12), core.python
    else:
        assert core.python == "{}.{}".format(*sys.version_info[:2])


def test_ansible_test_sanity(core: Core) -> None:
    src = copy_tree(core.work / "sanity")
    assert not list((src / "tests" / "sanity").glob("ignore-*.txt")), "ignore files are not allowed"
    core.check(["bash", "scripts/ansible-test-offline.sh"], cwd=src, extra_env={"HIVE_VENV": str(core.venv)},
               timeout=300)
    argv = ["ansible-test", "sanity", "--venv", "--python", core.python, "--color", "no"]
    if core.version in SKIP_PYLINT:
        argv += ["--skip-test", "pylint"]
    t0 = time.monotonic()
    proc = core.run(argv, cwd=src, timeout=1800)
    core.timed("sanity" + (" (no pylint)" if core.version in SKIP_PYLINT else ""), t0)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"[{core.version}] ansible-test sanity exited {proc.returncode}\n{out[-12000:]}"
    assert "All targets skipped" not in out, out[-4000:]
    ran = set(re.findall(r'^Running sanity test "([\w-]+)"', out, re.M))
    assert {"validate-modules", "import", "compile", "ansible-doc", "yamllint"} <= ran, sorted(ran)
    assert ("pylint" in ran) == (core.version not in SKIP_PYLINT), sorted(ran)
    assert installed_core(core).startswith(core.version + ".")


def test_unit_tests(core: Core) -> None:
    src = copy_tree(core.work / "unit")
    link = src / ".collections" / "ansible_collections" / "hive" / "swarm"  # as scripts/bootstrap.sh links it
    link.parent.mkdir(parents=True)
    link.symlink_to("../../..")
    t0 = time.monotonic()
    # its own --basetemp: a nested pytest on the default one would count as a run of this machine's
    # /tmp/pytest-of-<user>/pytest-N, whose cleanup keeps the newest three and could remove the outer run's
    proc = core.run([str(core.venv / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-o",
                     "addopts=", "--basetemp", str(core.work / "unit-tmp"), "tests/unit"], cwd=src, timeout=1200)
    core.timed("unit", t0)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"[{core.version}] pytest tests/unit exited {proc.returncode}\n{out[-12000:]}"
    summary = out.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, summary


@pytest.mark.parametrize("core", sorted(LABS), indirect=True)
def test_site_converges_a_lab(core: Core, lab_factory: Any) -> None:
    name, net = LABS[core.version]
    t0 = time.monotonic()
    lab: hivelab.Lab = lab_factory(name, net, managers=1, workers=1)
    core.timed("lab up", t0)
    play = copy_tree(core.work / "play")
    key = core.work / "id_ed25519"  # the lab's key, where the chroot sees it (the work directory is bound)
    shutil.copyfile(lab.key_path, key)
    key.chmod(0o600)
    hosts = [h.name for h in lab.hosts]
    inventory = write_inventory(lab, core.work / "inventory.yml",
                                host_vars={h: {"ansible_ssh_private_key_file": str(key)} for h in hosts})
    env = {"ANSIBLE_CONFIG": str(play / "ansible.cfg"), "ANSIBLE_COLLECTIONS_PATH": str(core.work / "play"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}

    def playbook(part: str, *args: str) -> Run:
        t0 = time.monotonic()
        proc = core.run(["ansible-playbook", "-i", str(inventory), "site.yml", *args], cwd=play, extra_env=env,
                        timeout=900)
        core.timed(part, t0)
        return Run(proc, time.monotonic() - t0).ok()

    first = playbook("converge")
    assert first.changed > 0 and set(first.recap) == set(hosts), first.recap
    manager, worker = f"{name}-m1", f"{name}-w1"
    info = {h: lab.api(h, "GET", "/info")["Swarm"] for h in hosts}
    assert all(i["LocalNodeState"] == "active" for i in info.values()), info
    assert info[manager]["ControlAvailable"] is True and info[worker]["ControlAvailable"] is False
    assert info[manager]["Cluster"]["ID"], info[manager]
    nodes = lab.api(manager, "GET", "/nodes")
    assert sorted(n["Description"]["Hostname"] for n in nodes) == sorted(hosts)
    assert all(n["Status"]["State"] == "ready" for n in nodes), nodes
    second = playbook("re-run")
    assert second.changed == 0, second.recap
    check = playbook("check --diff", "--check", "--diff")
    assert check.changed == 0, check.recap
    for run in (first, second, check):
        for secret in SECRETS:
            assert secret not in run.out
    assert installed_core(core).startswith(core.version + ".")


def test_installed_collection_on_the_newest(venvs: dict[str, Core], lab_factory: Any) -> None:
    """The user's path on the newest ansible-core (the README's install and quick start): the tarball built and
    installed with that version's ansible-galaxy into a fresh home (~/.ansible/collections), then ``hive.swarm.site``
    from a directory that holds only the inventory (no ansible.cfg, no ANSIBLE_* variable), twice, and
    ``hive.swarm.status``. tests/integration/roles/test_installed_collection.py does the same with 2.19."""
    c = venvs[VERSIONS[-1]]
    t0 = time.monotonic()
    lab: hivelab.Lab = lab_factory("cor3", 59, managers=1, workers=1)
    src = copy_tree(c.work / "src")
    dist, home, user = c.work / "dist", c.work / "home", c.work / "user"
    for d in (dist, home, user):
        d.mkdir()
    env = {"HOME": str(home), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    c.check(["ansible-galaxy", "collection", "build", "--output-path", str(dist), str(src)], extra_env=env)
    (tarball,) = dist.glob("hive-swarm-*.tar.gz")
    c.check(["ansible-galaxy", "collection", "install", str(tarball)], cwd=user, extra_env=env)
    assert (home / ".ansible" / "collections" / "ansible_collections" / "hive" / "swarm" / "MANIFEST.json").is_file()
    key = c.work / "cor3_key"
    shutil.copyfile(lab.key_path, key)
    key.chmod(0o600)
    hosts = [h.name for h in lab.hosts]
    keys = {h: {"ansible_ssh_private_key_file": str(key)} for h in hosts}
    write_inventory(lab, user / "inventory.yml", host_vars=keys)
    assert sorted(p.name for p in user.iterdir()) == ["inventory.yml"], "no ansible.cfg, nothing else"
    assert "config file = None" in c.check(["ansible", "--version"], cwd=user, extra_env=env).stdout
    c.timed("installed: build + install", t0)

    def run(playbook: str) -> Run:
        t0 = time.monotonic()
        proc = c.run(["ansible-playbook", "-i", "inventory.yml", playbook], cwd=user, extra_env=env, timeout=900)
        c.timed(f"installed: {playbook}", t0)
        return Run(proc, time.monotonic() - t0).ok()

    first = run("hive.swarm.site")
    assert first.changed > 0 and set(first.recap) == set(hosts), first.recap
    info = {h: lab.api(h, "GET", "/info")["Swarm"] for h in hosts}
    assert all(i["LocalNodeState"] == "active" for i in info.values()), info
    assert info["cor3-m1"]["ControlAvailable"] is True
    second = run("hive.swarm.site")
    assert second.changed == 0, second.recap
    status = run("hive.swarm.status")
    assert "cor3-w1" in status.out and "HOSTNAME" in status.out
    for out in (first.out, second.out, status.out):
        assert not any(secret in out for secret in SECRETS)

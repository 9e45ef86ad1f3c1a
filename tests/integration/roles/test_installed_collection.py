"""The user's path, as the README gives it: build the collection tarball, install it with ansible-galaxy into a
fresh home (the default collection path ~/.ansible/collections) with a fresh venv of the newest ansible-core this
controller's Python runs, then converge a lab from an empty directory - no ansible.cfg, no ANSIBLE_* variable, no
checkout on the paths - with ``hive.swarm.site``, run it again (changed=0) and print ``hive.swarm.status``.

Lab inst1 (net 55): 1 manager + 1 worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import hivelab
import pytest
from labfixtures import REPO
from test_site import BIN, SECRETS, Run, swarm, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# The newest ansible-core that runs on this controller's Python (2.20+ need Python 3.12).
CORE = "ansible-core>=2.19,<2.20" if sys.version_info < (3, 12) else "ansible-core"


def user_env(home: Path, venv: Path) -> dict[str, str]:
    """The environment of a user who only installed the collection: no ANSIBLE_* variable, no repo on PATH."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_", "PYTEST_"))}
    path = [p for p in base.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(REPO))]
    return {**base, "HOME": str(home), "PATH": os.pathsep.join([str(venv / "bin"), *path]), "ANSIBLE_NOCOLOR": "1"}


def sh(argv: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"{argv} exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def user(lab_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    lab = lab_factory("inst1", 55, managers=1, workers=1)
    root = tmp_path_factory.mktemp("installed")
    home, venv, work, dist = root / "home", root / "venv", root / "work", root / "dist"
    for d in (home, work, dist):
        d.mkdir()
    # the tarball, built from this checkout as the README says
    sh([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(dist), str(REPO)], cwd=root,
       env=user_env(home, Path(sys.executable).parent))
    (tarball,) = dist.glob("hive-swarm-*.tar.gz")
    sh([sys.executable, "-m", "venv", str(venv)], cwd=root, env=os.environ.copy())
    sh([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", CORE], cwd=root, env=user_env(home, venv))
    env = user_env(home, venv)
    sh([str(venv / "bin" / "ansible-galaxy"), "collection", "install", str(tarball)], cwd=work, env=env)
    write_inventory(lab, work / "inventory.yml")
    return {"lab": lab, "env": env, "work": work, "venv": venv, "home": home}


def run(user: dict[str, Any], playbook: str) -> Run:
    t0 = time.monotonic()
    proc = subprocess.run([str(user["venv"] / "bin" / "ansible-playbook"), "-i", "inventory.yml", playbook],
                          cwd=user["work"], env=user["env"], capture_output=True, text=True, timeout=900, check=False)
    result = Run(proc, time.monotonic() - t0)
    print(f"[installed {playbook}] rc={proc.returncode} changed={result.changed} {result.seconds:.1f}s")
    return result


def test_installed_collection_converges_from_an_empty_directory(user: dict[str, Any]) -> None:
    assert sorted(p.name for p in user["work"].iterdir()) == ["inventory.yml"], "no ansible.cfg, nothing else"
    installed = user["home"] / ".ansible" / "collections" / "ansible_collections" / "hive" / "swarm"
    assert (installed / "MANIFEST.json").is_file()
    version = subprocess.run([str(user["venv"] / "bin" / "ansible"), "--version"], env=user["env"], cwd=user["work"],
                             capture_output=True, text=True, check=True).stdout
    assert "config file = None" in version, version
    first = run(user, "hive.swarm.site").ok()
    assert first.changed > 0
    lab: hivelab.Lab = user["lab"]
    assert swarm(lab, "inst1-m1")["ControlAvailable"] is True
    assert swarm(lab, "inst1-w1")["LocalNodeState"] == "active"
    second = run(user, "hive.swarm.site").ok()
    assert second.changed == 0, second.recap
    status = run(user, "hive.swarm.status").ok()
    assert "inst1-w1" in status.out and "HOSTNAME" in status.out
    for secret in SECRETS:
        assert secret not in first.out + second.out + status.out

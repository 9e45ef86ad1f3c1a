"""Static checks of the collection, run as tests so they count in the one test summary."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
ROLES = sorted(p.parent.parent.name for p in (ROOT / "roles").glob("*/tasks/main.yml"))


def run(*argv: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{BIN}:{os.environ['PATH']}"}
    full_env.update(env or {})
    return subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)


def assert_ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"


def test_ruff() -> None:
    assert_ok(run(str(BIN / "ruff"), "check", "."))


def test_ansible_lint_production() -> None:
    """The whole repository (playbooks, roles, Molecule, bench, lab, plugin EXAMPLES); .ansible-lint excludes
    only what is not Ansible content or not ours (venv, build output, unit tests, changelog fragments)."""
    proc = run(str(BIN / "ansible-lint"), "--profile", "production", "--offline")
    assert_ok(proc)
    assert "WARNING" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_changelog_lint() -> None:
    assert_ok(run(str(BIN / "antsibull-changelog"), "lint"))


def test_changelog_is_generated_and_matches_the_release(tmp_path: Path) -> None:
    """galaxy.yml's version is the newest release in changelogs/changelog.yaml, and CHANGELOG.rst is what
    antsibull-changelog generates from it (regenerated in a copy: the tree is not touched)."""
    changes = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    releases = sorted(changes["releases"], key=lambda v: tuple(int(p) for p in v.split(".")))
    assert releases and releases[-1] == galaxy["version"], (releases, galaxy["version"])
    copy = tmp_path / "swarm"
    shutil.copytree(ROOT / "changelogs", copy / "changelogs")
    for name in ("galaxy.yml", "CHANGELOG.rst"):
        shutil.copy(ROOT / name, copy / name)
    proc = subprocess.run([str(BIN / "antsibull-changelog"), "generate"], cwd=copy, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (copy / "CHANGELOG.rst").read_text() == (ROOT / "CHANGELOG.rst").read_text(), \
        "CHANGELOG.rst is not what antsibull-changelog generates: run antsibull-changelog generate"


def lint_docs(collection: Path) -> subprocess.CompletedProcess[str]:
    """antsibull-docs lint-collection-docs (with the plugin docs) on the collection at ``collection``
    (a .../ansible_collections/hive/swarm directory)."""
    return run(str(BIN / "antsibull-docs"), "lint-collection-docs", "--plugin-docs", str(collection),
               env={"ANSIBLE_COLLECTIONS_PATH": str(collection.parents[2])}, timeout=300)


def test_antsibull_docs_lint(tmp_path: Path) -> None:
    assert_ok(lint_docs(ROOT / ".collections" / "ansible_collections" / "hive" / "swarm"))
    # the same lint on a copy with one broken option reference fails: the pass above means something
    copy = tmp_path / "ansible_collections" / "hive" / "swarm"
    shutil.copytree(ROOT / "plugins", copy / "plugins")
    for name in ("galaxy.yml", "meta"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, copy / name)
    module = copy / "plugins" / "modules" / "swarm_node_info.py"
    text = module.read_text()
    assert "O(local_only)" in text
    module.write_text(text.replace("O(local_only)", "O(no_such_option)", 1))
    proc = lint_docs(copy)
    assert proc.returncode != 0 and "no_such_option" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_every_module_is_listed() -> None:
    proc = run(str(BIN / "ansible-doc"), "-t", "module", "-l", "hive.swarm")
    assert_ok(proc)
    listed = set(re.findall(r"^hive\.swarm\.(\w+)", proc.stdout, re.M))
    assert listed == set(MODULES)
    expected = {"swarm_init", "swarm_join", "swarm_leave", "swarm_node", "swarm_node_info", "swarm_update"}
    assert expected <= listed


@pytest.mark.parametrize("module", MODULES)
def test_module_doc_renders(module: str) -> None:
    proc = run(str(BIN / "ansible-doc"), "-t", "module", f"hive.swarm.{module}")
    assert_ok(proc)
    assert f"hive.swarm.{module}" in proc.stdout
    assert "EXAMPLES" in proc.stdout and "RETURN VALUES" in proc.stdout


@pytest.mark.parametrize("role", ROLES)
def test_role_doc_renders(role: str) -> None:
    proc = run(str(BIN / "ansible-doc"), "-t", "role", f"hive.swarm.{role}")
    assert_ok(proc)
    assert re.search(r"ENTRY POINT: \W?main\W?", proc.stdout)


def test_galaxy_build_and_install(tmp_path: Path) -> None:
    proc = run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path / "dist"))
    assert_ok(proc)
    tarballs = list((tmp_path / "dist").glob("hive-swarm-*.tar.gz"))
    assert len(tarballs) == 1
    dest = tmp_path / "collections"
    empty_cfg = tmp_path / "empty.cfg"
    empty_cfg.write_text("[defaults]\n")
    assert_ok(run(str(BIN / "ansible-galaxy"), "collection", "install", "--force", "-p", str(dest), str(tarballs[0]),
                  env={"ANSIBLE_CONFIG": str(empty_cfg)}))
    installed = dest / "ansible_collections" / "hive" / "swarm"
    assert (installed / "MANIFEST.json").is_file()
    assert not (installed / ".venv").exists() and not (installed / ".collections").exists()
    proc = run(str(BIN / "ansible-doc"), "-t", "module", "-l", "hive.swarm",
               env={"ANSIBLE_COLLECTIONS_PATH": str(dest), "ANSIBLE_CONFIG": str(empty_cfg)})
    assert_ok(proc)
    assert "hive.swarm.swarm_init" in proc.stdout


def test_execution_environment_builds_its_context(tmp_path: Path) -> None:
    """ansible-builder create on the repository's execution-environment.yml (with the built tarball): exact pins
    that requirements/dev.txt allows (the versions the gating run tests), and the Docker SDK in the context."""
    from packaging.requirements import Requirement

    ee = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
    deps = ee["dependencies"]
    pins = [Requirement(deps["ansible_core"]["package_pip"]), Requirement(deps["ansible_runner"]["package_pip"]),
            *(Requirement(line) for line in deps["python"])]
    ranges = {Requirement(line).name: Requirement(line).specifier
              for line in (ROOT / "requirements" / "dev.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    for pin in pins:
        (spec,) = pin.specifier
        assert spec.operator == "==", f"{pin}: pin an exact version"
        assert pin.name not in ranges or ranges[pin.name].contains(spec.version), f"{pin} is outside dev.txt"
    meta = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    assert {"python": "requirements.txt", "system": "bindep.txt"} == meta["dependencies"]
    assert any(line.startswith("docker>=") for line in (ROOT / "requirements.txt").read_text().splitlines())

    ctx = tmp_path / "ee"
    ctx.mkdir()
    assert_ok(run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(ctx)))
    for name in ("execution-environment.yml", "bindep.txt"):
        (ctx / name).write_text((ROOT / name).read_text())
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context"],
                          cwd=ctx, capture_output=True, text=True, timeout=300, check=False)
    assert_ok(proc)
    built = ctx / "context" / "_build"
    assert "docker==" in (built / "requirements.txt").read_text()
    assert "openssh" in (built / "bindep.txt").read_text()
    assert list((built / "collections").glob("hive-swarm-*.tar.gz"))
    assert "ansible-core==" in (ctx / "context" / "Dockerfile").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in readme
    assert re.search(r"^exec bash scripts/test\.sh\s*$", ci, re.M)


def test_ansible_test_sanity() -> None:
    proc = run("bash", str(ROOT / "scripts" / "sanity.sh"), timeout=1500)
    assert_ok(proc)


def test_awx_credential_type_is_consistent() -> None:
    """extensions/awx/credential_type.yml: every injected template names an input (or a file it injects), the secrets
    are secret, and the unlock key lands in the variable the role and playbooks read."""
    cred = yaml.safe_load((ROOT / "extensions" / "awx" / "credential_type.yml").read_text())
    fields = {field["id"]: field for field in cred["inputs"]["fields"]}
    assert fields["unlock_key"]["secret"] is True and fields["tls_key"]["secret"] is True
    injectors = cred["injectors"]
    files = {name.split(".", 1)[1] for name in injectors["file"]}
    for text in [*injectors["file"].values(), *injectors["extra_vars"].values()]:
        for ref in re.findall(r"\{\{\s*([\w.]+)\s*\}\}", text):
            assert ref in fields or (ref.startswith("tower.filename.") and ref.rsplit(".", 1)[1] in files), ref
    assert injectors["extra_vars"]["docker_swarm_unlock_key"] == "{{ unlock_key }}"
    argument_specs = (ROOT / "roles" / "docker_swarm" / "meta" / "argument_specs.yml").read_text()
    assert "docker_swarm_unlock_key:" in argument_specs
    docs = (ROOT / "docs" / "awx.md").read_text()
    for playbook in sorted(p.name for p in (ROOT / "playbooks").glob("*.yml")):
        assert f"playbooks/{playbook}" in docs or playbook == "site.yml", f"docs/awx.md: no job template for {playbook}"


def test_modules_parse_on_the_oldest_managed_host_python() -> None:
    """Modules and module_utils run on managed hosts: their syntax must be Python 3.8 (tests/config.yml)."""
    import ast

    assert yaml.safe_load((ROOT / "tests" / "config.yml").read_text())["modules"]["python_requires"] == ">=3.8"
    files = [*(ROOT / "plugins" / "modules").glob("*.py"), *(ROOT / "plugins" / "module_utils").rglob("*.py")]
    assert len(files) > 10
    for path in files:
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 8))


def test_galaxy_metadata_has_no_placeholders() -> None:
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    for key in ("repository", "documentation", "homepage", "issues"):
        value = str(galaxy.get(key) or "")
        assert not any(word in value for word in ("example.", ".invalid", "TODO", "CHANGEME")), (key, value)

"""Case 6 (autolock: a restarted manager is locked; site.yml says so, and unlocks with a vaulted key) and
case 9 (secrets: rotate.yml and status.yml at verbosity 3 through ansible-runner, artifacts included).
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import relkit
from relkit import ALL, MANAGERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def cli(lab: Any, *args: str) -> str:
    return lab.docker("rel1-m1", *args).stdout.strip()


def restart_locked(lab: Any, host: str) -> None:
    lab.stop(host)
    lab.start(host)
    relkit.poll(f"{host} locked after its restart", lambda: relkit.local_state(lab, host) == "locked", 60)


def vault_file(tmp_path: Path, name: str, key: str) -> tuple[Path, Path]:
    """An ansible-vault encrypted vars file setting docker_swarm_unlock_key, and its password file."""
    password = tmp_path / "vault-pass"
    if not password.exists():
        password.write_text(secrets.token_hex(16) + "\n")
        password.chmod(0o600)
    path = tmp_path / name
    path.write_text(f"docker_swarm_unlock_key: {key}\n")
    subprocess.run([str(relkit.BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(path)],
                   check=True, capture_output=True, env=relkit.env())
    assert key not in path.read_text() and path.read_text().startswith("$ANSIBLE_VAULT")
    return path, password


def runner(playbook: str, inv: Path, private: Path, extravars: dict[str, Any]) -> tuple[Any, str]:
    ansible_runner = pytest.importorskip("ansible_runner")
    private.mkdir()
    saved = dict(os.environ)
    os.environ.update(relkit.env())
    try:
        result = ansible_runner.run(private_data_dir=str(private), project_dir=str(relkit.REPO), playbook=playbook,
                                    inventory=str(inv), extravars=extravars, verbosity=3, quiet=True, timeout=600)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    stdout = result.stdout.read()
    assert result.status == "successful" and result.rc == 0, stdout[-5000:]
    return result, stdout


def artifacts_leaks(private: Path, values: list[str]) -> list[str]:
    found = []
    for path in private.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", "replace")
            found += [f"{path.relative_to(private)}: {what}" for what in relkit.leaked(text, values)]
    return found


def test_autolock_locked_manager_unlock_rotate_status(converged: Any, inv: Path, record: Any, tmp_path: Path) -> None:
    lab = converged
    case = record("6", "autolock: restarted manager is locked")
    locked_inv = relkit.write_inventory(lab, tmp_path / "autolock.yml", all_vars={"docker_swarm_autolock": True})
    run = relkit.playbook(locked_inv, name="autolock on").ok()
    assert run.changed == 1 and relkit.leaked(run.out) == []
    assert lab.api("rel1-m1", "GET", "/swarm")["Spec"]["EncryptionConfig"]["AutoLockManagers"] is True
    assert "docker swarm unlock-key -q" in run.out, "the run must say where the unlock key is"
    key = cli(lab, "swarm", "unlock-key", "-q")
    assert key.startswith("SWMKEY-1-")
    restart_locked(lab, "rel1-m2")
    case.inject("docker_swarm_autolock: true (site.yml), then rel1-m2's engine restarted -> locked")

    before = relkit.snapshot(lab)
    run = relkit.playbook(locked_inv, name="manager locked, no key")
    msg = run.failed_with("locked (autolock) engines: rel1-m2", "docker_swarm_unlock_key", "ansible-vault",
                          "playbooks/unlock.yml")
    assert run.changed == 0 and relkit.snapshot(lab) == before
    case.observe(f"without a key: refused, nothing changed: '{msg[:150]}...'")

    right, password = vault_file(tmp_path, "unlock.vault.yml", key)
    run = relkit.playbook(locked_inv, "-e", f"@{right}", "--vault-password-file", str(password),
                          name="manager locked, key from ansible-vault").ok()
    assert relkit.local_state(lab, "rel1-m2") == "active"
    assert relkit.healthy(lab, ALL, MANAGERS) is None
    assert relkit.leaked(run.out, [key]) == []
    case.observe(f"key from an ansible-vault file: rel1-m2 unlocked, converged (changed={run.changed}), key not in "
                 "the output")

    rotate = record("9.3", "secrets: rotate.yml (tokens + unlock key) at verbosity 3 via ansible-runner")
    old_tokens = [cli(lab, "swarm", "join-token", "-q", r) for r in ("worker", "manager")]
    key_file = tmp_path / "new-unlock-key"
    _result, stdout = runner("playbooks/rotate.yml", inv, tmp_path / "runner-rotate",
                             {"rotate_unlock_key": True, "rotate_unlock_key_file": str(key_file)})
    new_tokens = [cli(lab, "swarm", "join-token", "-q", r) for r in ("worker", "manager")]
    new_key = cli(lab, "swarm", "unlock-key", "-q")
    assert all(o != n for o, n in zip(old_tokens, new_tokens)) and new_key != key, "not rotated"
    assert key_file.read_text().strip() == new_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    values = old_tokens + new_tokens + [key, new_key]
    assert relkit.leaked(stdout, values) == []
    assert artifacts_leaks(tmp_path / "runner-rotate", values) == []
    assert "Rotated worker_token, manager_token, unlock_key" in stdout
    rotate.inject("playbooks/rotate.yml -e rotate_unlock_key=true -e rotate_unlock_key_file=F, ansible-runner "
                  "verbosity 3")
    rotate.observe(f"both tokens and the key rotated (docker CLI), key only in F (0600); stdout ({len(stdout)} bytes) "
                   f"and {sum(1 for p in (tmp_path / 'runner-rotate').rglob('*') if p.is_file())} artifact files hold "
                   "no SWMTKN-/SWMKEY-, no old/new value")

    unlock = record("6.1", "unlock.yml with the rotated key")
    restart_locked(lab, "rel1-m3")
    old_vault, password = vault_file(tmp_path, "old.vault.yml", key)
    run = relkit.playbook(inv, "-e", f"@{old_vault}", "--vault-password-file", str(password),
                          playbook="playbooks/unlock.yml", name="unlock.yml, old key")
    run.failed_with("invalid key", "old key stops working")
    assert relkit.local_state(lab, "rel1-m3") == "locked"
    new_vault, password = vault_file(tmp_path, "new.vault.yml", new_key)
    run = relkit.playbook(inv, "-e", f"@{new_vault}", "--vault-password-file", str(password),
                          playbook="playbooks/unlock.yml", name="unlock.yml, new key").ok()
    assert relkit.local_state(lab, "rel1-m3") == "active" and "rel1-m3 unlocked" in run.out
    assert relkit.leaked(run.out, [key, new_key]) == []
    unlock.inject("rel1-m3 restarted (locked); playbooks/unlock.yml with the pre-rotation key, then the new one")
    unlock.observe("old key: 'invalid key', still locked; new key: unlocked; no key in the output")

    status = record("9.4", "secrets: status.yml at verbosity 3 via ansible-runner")
    relkit.poll("swarm healthy after the unlock", lambda: relkit.healthy(lab, ALL, MANAGERS) is None, 60)
    _result, stdout = runner("playbooks/status.yml", inv, tmp_path / "runner-status", {})
    assert "rel1-w2" in stdout and "HOSTNAME" in stdout
    assert relkit.leaked(stdout, [*new_tokens, new_key]) == []
    assert artifacts_leaks(tmp_path / "runner-status", [*new_tokens, new_key]) == []
    status.inject("playbooks/status.yml, ansible-runner verbosity 3")
    status.observe("table printed; stdout and artifacts hold no SWMTKN-/SWMKEY-, no current value")

    # Leave autolock off for the next cases (read-modify-write of the whole spec, straight on the Engine).
    current = lab.api("rel1-m1", "GET", "/swarm")
    spec = current["Spec"]
    spec["EncryptionConfig"]["AutoLockManagers"] = False
    lab.api("rel1-m1", "POST", f"/swarm/update?version={current['Version']['Index']}", spec)
    assert lab.api("rel1-m1", "GET", "/swarm")["Spec"]["EncryptionConfig"]["AutoLockManagers"] is False

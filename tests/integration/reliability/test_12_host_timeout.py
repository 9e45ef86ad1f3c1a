"""Case 21: a host that stops answering, with Ansible's default SSH settings (no keepalive).

Like case 16 (a worker's link cut while the controller holds an SSH master connection to it), but with an
ansible.cfg that leaves Ansible's SSH defaults alone: ``ssh_args`` unset (``-C -o ControlMaster=auto -o
ControlPersist=60s``, no ServerAliveInterval). Measured before (case 16's note): the probe hung until the run was
killed after 10 minutes. Now every remote task of the role has a ``timeout:`` of its own wait plus
``docker_swarm_host_timeout``: the silent host fails within that, the others converge, the run ends.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import relkit
import yaml
from relkit import ALL, MANAGERS, WORKERS

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST_TIMEOUT = 20
W2 = WORKERS[1]


def default_ssh_config(path: Path) -> Path:
    """An ansible.cfg with the collection path and the repository's non-SSH settings; SSH at Ansible's defaults."""
    path.write_text(
        "[defaults]\n"
        f"collections_path = {relkit.REPO / '.collections'}\n"
        "host_key_checking = False\nretry_files_enabled = False\ninterpreter_python = auto_silent\n"
        "forks = 100\ngathering = explicit\n"
        "[ssh_connection]\n"
        f"control_path_dir = {path.parent / 'cp'}\n")
    return path


def timed_run(inventory: Path, cfg: Path, name: str,
              timeout: float = 300) -> tuple[relkit.Run, list[tuple[float, str]]]:
    """ansible-playbook site.yml, each output line with the second it arrived (from the start of the run)."""
    argv = [str(relkit.BIN / "ansible-playbook"), "-i", str(inventory), "site.yml"]
    proc = subprocess.Popen(argv, cwd=relkit.REPO, env=relkit.env({"ANSIBLE_CONFIG": str(cfg)}),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    lines: list[tuple[float, str]] = []
    assert proc.stdout is not None
    for line in proc.stdout:  # ends when ansible-playbook closes its output
        lines.append((time.monotonic() - t0, line))
        if time.monotonic() - t0 > timeout:
            proc.kill()
            break
    proc.wait(30)
    run = relkit.Run(proc.returncode, "".join(line[1] for line in lines), time.monotonic() - t0, name)
    print(f"[{name}] rc={run.rc} changed={run.changed} {run.seconds:.1f}s")
    return run, lines


def test_a_silent_host_fails_within_the_host_timeout_with_default_ssh(converged: Any, tmp_path: Path,
                                                                      record: Any) -> None:
    lab = converged
    case = record("21", "a host stops answering, Ansible's default SSH settings (no keepalive)")
    cfg = default_ssh_config(tmp_path / "ansible.cfg")
    inv = lab.write_inventory(tmp_path / "plain.yml")
    data = yaml.safe_load(inv.read_text())
    data["all"]["vars"] = {"docker_swarm_host_timeout": HOST_TIMEOUT}
    inv.write_text(yaml.safe_dump(data, sort_keys=False))
    timed_run(inv, cfg, "default SSH: converged run (opens the master connections)")[0].ok()
    case.inject(f"ansible.cfg with Ansible's SSH defaults (ControlPersist 60s, no ServerAlive), "
                f"docker_swarm_host_timeout: {HOST_TIMEOUT}; site.yml, then {W2}'s link cut; site.yml again at once")
    lab.cut(W2)
    try:
        run, lines = timed_run(inv, cfg, f"{W2} silent, default SSH")
    finally:
        lab.heal(W2)
    assert run.recap, run.out[-3000:]
    assert W2 in run.failed_hosts | run.unreachable_hosts, run.recap
    others = [h for h in ALL if h != W2]
    assert all(run.recap[h]["failed"] == 0 and run.recap[h]["unreachable"] == 0 for h in others), run.recap
    failure = next(f for f in run.failures if f["host"] == W2)
    assert "timed out" in failure["msg"].lower() or failure["unreachable"], failure
    # seconds from the start of the task that failed W2 to the line that reported it
    fatal = next(i for i, line in enumerate(lines) if re.match(rf"^fatal: \[{re.escape(W2)}\]", line[1]))
    start = next(t for t, text in reversed(lines[:fatal]) if text.startswith("TASK ["))
    to_fail = lines[fatal][0] - start
    assert to_fail < HOST_TIMEOUT + 10, to_fail
    relkit.poll(f"{W2} ready again", lambda: relkit.healthy(lab, ALL, MANAGERS) is None, timeout=90)
    case.observe(f"{W2} failed in '{failure['task']}' {to_fail:.1f}s after the task started ('{failure['msg'][:70]}'); "
                 f"the other four hosts converged (failed=0), the run ended after {run.seconds:.0f}s (rc={run.rc}); "
                 f"after the heal the swarm is healthy")

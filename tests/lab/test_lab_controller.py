"""hivelab controller: the Debian trixie chroot (tests/core runs ansible-core 2.20+ in it).

Built once from the machine's Debian mirror and cached (the first build takes about 1.5 min; tests/core needs it as
well). A command in it runs in private mount and PID namespaces: its mounts (proc, dev, tmpfs /tmp, bind mounts)
never show in the machine's mount table, and a timeout ends every process it started. No lab is used.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import hivelab
import pytest
from labfixtures import REPO, lab_skip_reason

pytestmark = pytest.mark.lab

HIVELAB = REPO / "lab" / "hivelab"


def mounts() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


@pytest.fixture(scope="module")
def rootfs() -> Path:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    return hivelab.build_controller(log=print)


def test_controller_argv_is_namespaced_and_checks_bind_targets(tmp_path: Path) -> None:
    argv = hivelab.controller_argv(tmp_path, ["true"], binds=[str(tmp_path), (str(tmp_path), "/srv/x", True)])
    assert argv[:8] == ["unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--"]
    script = argv[-1]
    assert "mount --bind" in script and "remount,bind,ro" in script and 'exec chroot "$R"' in script
    for bad in ("relative/path", "/srv/../etc"):
        with pytest.raises(hivelab.LabError, match="bad bind mount target"):
            hivelab.controller_argv(tmp_path, ["true"], binds=[(str(tmp_path), bad, False)])
    with pytest.raises(hivelab.LabError, match="controller cache"):
        hivelab.Lab(hivelab.CONTROLLER_DIR, 9)


def test_commands_run_in_the_chroot_without_leaking_mounts(rootfs: Path, tmp_path: Path) -> None:
    info = hivelab.controller_info()
    assert info and info["suite"] == hivelab.CONTROLLER_SUITE
    assert tuple(int(x) for x in info["python"].split(".")[:2]) >= (3, 12), info
    assert info["mirror"] == hivelab.debian_mirror()["uri"], "the machine's own Debian mirror"
    (tmp_path / "in.txt").write_text("from the host\n")
    proc = hivelab.run_in_controller(
        ["/bin/sh", "-c", "cat in.txt; . /etc/os-release; echo $VERSION_CODENAME; python3 -c 'import venv, ssl';"
         " echo out > out.txt; echo $$; echo $HOME"], binds=[str(tmp_path)], cwd=str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "from the host" and lines[1] == hivelab.CONTROLLER_SUITE
    assert lines[2] == "1", "the command is PID 1 of a PID namespace of its own"
    assert lines[3] == "/root"
    assert (tmp_path / "out.txt").read_text() == "out\n", "the bind mount is read-write"
    # (other tests may mount and unmount meanwhile: only the command's own mount points are looked for)
    leaked = [m for m in mounts() if m.startswith(str(rootfs)) or m == str(tmp_path)]
    assert not leaked, f"mounts of the command show outside: {leaked}"
    # the CLI: the same, with the current directory inside a --bind
    cli = subprocess.run([str(HIVELAB), "controller", "--bind", str(tmp_path), "--", "cat", "out.txt"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert cli.returncode == 0 and cli.stdout == "out\n", cli.stderr


def test_a_timeout_ends_every_process_of_the_command(rootfs: Path) -> None:
    marker = f"hive-controller-timeout-{os.getpid()}"
    with pytest.raises(hivelab.LabError, match="no end within"):
        hivelab.run_in_controller(["bash", "-c", f"(exec -a {marker} sleep 300) & exec -a {marker} sleep 301"],
                                  timeout=2)

    def gone() -> bool:
        for pid in (p for p in os.listdir("/proc") if p.isdigit()):
            try:
                if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return False
            except OSError:
                continue
        return True

    assert hivelab._poll(gone, 30, 0.2), f"processes of {marker} left running"

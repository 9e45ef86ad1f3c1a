"""hivelab engine matrix: hosts on Docker Engine 20.10 (the system's), 26.1 and 28.5, switched in place.

Labs used here: labe1 (net 62, 1 manager + 1 worker, all on 28.5) and labe2 (net 63, 1 manager + 1 worker:
first mixed 20.10/28.5, then rebuilt on 20.10 for the upgrades). Traffic goes only between the labs' own
198.18.62.x/63.x hosts; the engines come from the engine cache (fetched once through the machine's apt on first
use). The fetch error test points apt at a closed loopback port and an empty cache of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.parse
from pathlib import Path

import hivelab
import pytest
from labfixtures import REPO, lab_skip_reason

pytestmark = pytest.mark.lab

HIVELAB = REPO / "lab" / "hivelab"
API = {"20.10": "1.41", "26.1": "1.45", "28.5": "1.51"}
DEADLINE = 90


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(HIVELAB), *args], capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, **(env or {})})


def poll(what: str, pred, timeout: float = DEADLINE) -> None:
    assert hivelab._poll(pred, timeout, 0.2), f"not within {timeout}s: {what}"


def version(lab: hivelab.Lab, host: str) -> tuple:
    ver = lab.engine_version(host)
    return hivelab._major_minor(ver["Version"]), ver["ApiVersion"]


def form_swarm(lab: hivelab.Lab) -> None:
    """swarm init on m1 and join of w1 through the engine API."""
    m1, w1 = lab.host("m1"), lab.host("w1")
    lab.api(m1, "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": m1.ip}, timeout=60)
    token = lab.api(m1, "GET", "/swarm")["JoinTokens"]["Worker"]
    lab.api(w1, "POST", "/swarm/join", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": w1.ip,
                                        "RemoteAddrs": [f"{m1.ip}:2377"], "JoinToken": token}, timeout=60)


def nodes(lab: hivelab.Lab) -> dict:
    """{hostname: (node ID, state, engine version)} as the manager sees them."""
    try:
        listed = lab.api("m1", "GET", "/nodes", timeout=5)
    except (hivelab.LabError, OSError):
        return {}
    return {n["Description"]["Hostname"]: (n["ID"], n["Status"]["State"],
                                           n["Description"]["Engine"]["EngineVersion"]) for n in listed}


def swarm_ready(lab: hivelab.Lab, engines: dict) -> bool:
    """Both nodes active locally, Ready on the manager, and reporting the engine versions asked for."""
    try:
        if any(lab.info(h)["Swarm"]["LocalNodeState"] != "active" for h in lab.hosts):
            return False
    except (hivelab.LabError, OSError):
        return False
    seen = nodes(lab)
    return len(seen) == len(lab.hosts) and all(
        seen.get(h.name, ("", "", ""))[1] == "ready"
        and hivelab._major_minor(seen[h.name][2]) == engines[h.name.split("-")[-1]] for h in lab.hosts)


# --------------------------------------------------------------------------- labe1: up --engine 28.5


@pytest.fixture(scope="module")
def lab28(lab_factory) -> hivelab.Lab:
    return lab_factory("labe1", 62, managers=1, workers=1, engine="28.5")


def test_up_engine_runs_28_5_on_every_host(lab28):
    for h in lab28.hosts:
        assert version(lab28, h) == ("28.5", API["28.5"])
        assert lab28.engine(h) == "28.5"
        assert lab28.dockerd_binary(h) == str(hivelab.engine_cache("28.5") / "bin" / "dockerd")
    info = hivelab.engine_info("28.5")
    assert info and info["suite"] == "sid" and info["package_version"].startswith("28.5.")
    assert info["dockerd_version"].startswith("28.5.")
    rows = {r["host"]: r for r in lab28.status()}
    assert all(r["engine"].startswith("28.5.") and r["api"] == API["28.5"] for r in rows.values()), rows
    table = cli("status", "--name", "labe1")
    assert table.returncode == 0, table.stderr
    head, *lines = table.stdout.splitlines()
    col = head.split().index("ENGINE")
    assert [line.split()[col][:5] for line in lines] == ["28.5.", "28.5."], table.stdout


def test_swarm_and_a_busybox_service_on_28_5(lab28):
    form_swarm(lab28)
    poll("labe1 swarm ready on 28.5", lambda: swarm_ready(lab28, {"m1": "28.5", "w1": "28.5"}))
    lab28.docker("m1", "service", "create", "--detach", "--no-resolve-image", "--name", "smoke", "--mode", "global",
                 "--stop-signal", "KILL", "--stop-grace-period", "1s", hivelab.IMAGE, "sleep", "3600")

    def running() -> set:
        tasks = lab28.api("m1", "GET", "/tasks?filters=" + urllib.parse.quote(json.dumps({"service": ["smoke"]})))
        ids = {n: i for n, (i, _s, _v) in nodes(lab28).items()}
        return {n for n, i in ids.items() for t in tasks if t["NodeID"] == i and t["Status"]["State"] == "running"}

    poll("smoke task running on both 28.5 nodes", lambda: running() == {h.name for h in lab28.hosts})
    lab28.api("m1", "DELETE", "/services/smoke")


# --------------------------------------------------------------------------- labe2: mixed, then upgrades


def test_mixed_lab_reports_each_hosts_engine(lab_factory):
    lab = lab_factory("labe2", 63, managers=1, workers=1, engine="20.10", host_engines={"w1": "28.5"})
    assert lab.engines() == {"labe2-m1": "20.10", "labe2-w1": "28.5"}
    assert version(lab, "m1") == ("20.10", API["20.10"])
    assert version(lab, "w1") == ("28.5", API["28.5"])
    again = cli("up", "--name", "labe2", "-m", "1", "-w", "1", "--engine", "20.10", "--host-engine", "w1=28.5")
    assert again.returncode == 0 and "already up (2 hosts)" in again.stdout, again.stdout + again.stderr
    hosts = json.loads(cli("hosts", "--name", "labe2").stdout)
    assert {h["name"]: h["engine"] for h in hosts} == lab.engines()
    rows = {r["host"]: r for r in lab.status()}
    assert rows["labe2-m1"]["engine"].startswith("20.10.") and rows["labe2-m1"]["api"] == API["20.10"]
    assert rows["labe2-w1"]["engine"].startswith("28.5.") and rows["labe2-w1"]["api"] == API["28.5"]
    bad = cli("up", "--name", "labe2", "-m", "1", "-w", "1", "--host-engine", "w1=27.0")
    assert bad.returncode != 0 and "unknown Docker Engine version '27.0'" in bad.stderr, bad.stderr


@pytest.fixture(scope="module")
def swarm20(lab_factory) -> hivelab.Lab:
    hivelab.Lab("labe2", 63).down(log=lambda _m: None)  # the mixed lab above: rebuilt on 20.10
    lab = lab_factory("labe2", 63, managers=1, workers=1, engine="20.10")
    lab.restart("w1", extra_args=["--label", "hivelab.test=engines"])  # kept across the engine switch
    form_swarm(lab)
    poll("labe2 swarm ready on 20.10", lambda: swarm_ready(lab, {"m1": "20.10", "w1": "20.10"}))
    return lab


def test_upgrade_keeps_node_ids_and_the_swarm(swarm20):
    lab = swarm20
    ids = {h.name: lab.info(h)["Swarm"]["NodeID"] for h in lab.hosts}
    cluster = lab.api("m1", "GET", "/swarm")["ID"]
    assert version(lab, "w1")[0] == "20.10"

    up = cli("upgrade", "--name", "labe2", "w1", "--engine", "28.5")
    assert up.returncode == 0, up.stderr
    assert "labe2-w1: engine 20.10." in up.stdout and "-> 28.5." in up.stdout, up.stdout
    poll("w1 back on 28.5", lambda: swarm_ready(lab, {"m1": "20.10", "w1": "28.5"}))

    report = lab.upgrade("m1", "26.1", log=lambda _m: None)
    assert report["action"] == "switched" and report["to"].startswith("26.1.")
    poll("m1 back on 26.1", lambda: swarm_ready(lab, {"m1": "26.1", "w1": "28.5"}))

    assert {h.name: lab.info(h)["Swarm"]["NodeID"] for h in lab.hosts} == ids
    assert {n: i for n, (i, _s, _v) in nodes(lab).items()} == ids
    assert lab.api("m1", "GET", "/swarm")["ID"] == cluster
    assert version(lab, "m1") == ("26.1", API["26.1"]) and version(lab, "w1") == ("28.5", API["28.5"])
    assert lab.engines() == {"labe2-m1": "26.1", "labe2-w1": "28.5"}
    assert "hivelab.test=engines" in lab.info("w1")["Labels"]
    assert lab.engine_args("w1") == ["--label", "hivelab.test=engines"]
    assert lab.upgrade("w1", "28.5", log=lambda _m: None)["action"] == "noop"


# --------------------------------------------------------------------------- engine selection and the cache (no lab)


@pytest.fixture
def lab_tools() -> None:
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)


def test_engine_versions_resolve(lab_tools):
    system = hivelab.system_engine()
    assert system and hivelab.resolve_engine("system") == system == hivelab.resolve_engine(None)
    assert hivelab.resolve_engine("28.5") == "28.5" and hivelab.resolve_engine(" 26.1 ") == "26.1"
    for bad in ("27.0", "28", "latest", "28.5.2"):
        with pytest.raises(hivelab.LabError, match="unknown Docker Engine version"):
            hivelab.resolve_engine(bad)
    with pytest.raises(hivelab.LabError, match="engine cache"):
        hivelab.Lab(hivelab.ENGINE_DIR)


def test_mirror_is_read_from_the_apt_sources(tmp_path, monkeypatch):
    monkeypatch.delenv(hivelab.MIRROR_ENV, raising=False)
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    os_release = tmp_path / "os-release"
    os_release.write_text('NAME="Debian GNU/Linux"\nVERSION_CODENAME=bookworm\n')
    (etc / "sources.list.d" / "a.sources").write_text(
        "Types: deb\n# a comment\nURIs: http://127.0.0.2:9/debian-security\nSuites: bookworm-security\n"
        "Components: main\nSigned-By: /k/sec.gpg\n\n"
        "Types: deb\nURIs: http://127.0.0.3:9/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n"
        "Types: deb-src\nURIs: http://127.0.0.4:9/debian\nSuites: bookworm\nComponents: main\n\n"
        "Types: deb\nURIs: http://127.0.0.5:9/debian http://127.0.0.6:9/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main contrib\nSigned-By: /k/archive.gpg\n")
    assert hivelab.debian_mirror(etc, os_release) == {
        "uri": "http://127.0.0.5:9/debian", "signed_by": "/k/archive.gpg",
        "file": str(etc / "sources.list.d" / "a.sources")}
    (etc / "sources.list.d" / "a.sources").unlink()
    (etc / "sources.list").write_text("# one-line format\ndeb [arch=amd64 signed-by=/k/one.gpg] "
                                      "http://127.0.0.7:9/debian bookworm main non-free\n")
    assert hivelab.debian_mirror(etc, os_release)["uri"] == "http://127.0.0.7:9/debian"
    assert hivelab.debian_mirror(etc, os_release)["signed_by"] == "/k/one.gpg"
    (etc / "sources.list").write_text("deb http://127.0.0.7:9/debian bookworm contrib\n")
    with pytest.raises(hivelab.LabError, match="no Debian archive for suite bookworm"):
        hivelab.debian_mirror(etc, os_release)


def test_fetch_error_is_clear_and_leaves_no_partial_cache(lab_tools, tmp_path):
    """Only a closed loopback port as the mirror: apt fails at once (no retries), nothing is cached."""
    root = tmp_path / "root"
    cache = root / hivelab.ENGINE_DIR
    (cache / ".fetch-28.5-crashed").mkdir(parents=True)  # left by a fetch that died
    (cache / "28.5" / "bin").mkdir(parents=True)  # an incomplete engine: no engine.json, no dockerd
    apt_conf = tmp_path / "apt.conf"
    apt_conf.write_text('Acquire::Retries "0";\n')
    proc = cli("fetch", "28.5", env={"HIVELAB_ROOT": str(root), hivelab.MIRROR_ENV: "http://127.0.0.1:9/debian",
                                     "APT_CONFIG": str(apt_conf)})
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("hivelab: cannot fetch Docker Engine 28.5 from Debian's package registry (sid): "), last
    assert "127.0.0.1:9" in last and "Connection refused" in last, last
    assert sorted(p.name for p in cache.iterdir()) == [".lock"]
    with pytest.raises(hivelab.LabError, match=r"cannot fetch Docker Engine 26\.1 .*\(trixie\): .*127\.0\.0\.1:9"):
        hivelab.fetch_engine("26.1", root, log=lambda _m: None, apt_options={"Acquire::Retries": "0"},
                             mirror={"uri": "http://127.0.0.1:9/debian", "signed_by": None})
    assert sorted(p.name for p in cache.iterdir()) == [".lock"]
    assert not any(Path(tmp_path).rglob("*.deb"))

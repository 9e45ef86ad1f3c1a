"""swarm_preflight on real hosts: listeners on the swarm ports, probes between the hosts, a firewall, an active node.

Lab ``pref1`` (net 58, 1 manager + 2 workers; engines up, no swarm at first). The module runs over SSH with the hosts'
/usr/bin/python3 (it needs no docker SDK). Every host listens on its lab IP, then probes the two others on
2377/tcp, 7946/tcp, 7946/udp and 4789/udp. ``Lab.block`` drops 7946/tcp inside pref1-w1: exactly the probes to it
time out. The last test makes pref1-m1 an active swarm manager: its engine holds 2377 and 7946, which the module
reports in ``in_use``, and TCP probes to them still get through.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

import hivelab
import pytest
from harness import Harness, Result

pytestmark = [pytest.mark.lab]

LAB, NET = "pref1", 58
MODULE = "hive.swarm.swarm_preflight"
TCP, UDP = [2377, 7946], [4789, 7946]
MARKER = b"hive-swarm-preflight-listener"


@pytest.fixture(scope="module")
def h(lab_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    lab = lab_factory(LAB, NET, managers=1, workers=2)
    try:
        yield Harness(lab, "/usr/bin/python3", tmp_path_factory.mktemp("preflight"))
    finally:
        lab.down(log=lambda _msg: None)
        lab_factory.labs.pop(LAB, None)


def names(h: Harness) -> list[str]:
    return [host.name for host in h.lab.hosts]


def listen_args(ttl: int = 300) -> dict[str, Any]:
    return {"state": "listening", "bind_addr": "{{ ansible_host }}", "ttl": ttl}


def probe_args(h: Harness, timeout: float = 2) -> dict[str, Any]:
    """Every host probes the two others (a Jinja list literal, filtered per host)."""
    every = [{"name": host.name, "addr": host.ip, "tcp": TCP, "udp": UDP} for host in h.lab.hosts]
    return {"state": "probed", "timeout": timeout,
            "targets": "{{ " + json.dumps(every) + " | rejectattr('name', 'equalto', inventory_hostname) | list }}"}


def run_steps(h: Harness, steps: list[tuple[dict[str, Any], str]]) -> dict[str, list[Result]]:
    """One playbook on all hosts (step by step across the hosts); every step must succeed."""
    out = h.execute(names(h), MODULE, steps).results
    for host, results in out.items():
        for index, res in enumerate(results):
            res.ok()
            assert not res.changed, f"{host} step {index} reports a change"
    return out


def outcome(results: dict[str, list[Result]], step: int) -> dict[tuple[str, str, str, int], str]:
    """(source, target, proto, port) -> status of a probe step."""
    return {(src, r["name"], r["proto"], r["port"]): r["status"]
            for src, res in results.items() for r in res[step]["results"]}


def expected(h: Harness, **special: str) -> dict[tuple[str, str, str, int], str]:
    """Every probe between different hosts ok, except special {'<target>:<port>/<proto>': status}."""
    out = {}
    for src in names(h):
        for dst in names(h):
            if src == dst:
                continue
            for proto, ports in (("tcp", TCP), ("udp", UDP)):
                for port in ports:
                    out[(src, dst, proto, port)] = special.get(f"{dst}:{port}/{proto}", "ok")
    return out


def helpers(lab: hivelab.Lab, host: str) -> list[int]:
    """Live preflight helpers in the host's network namespace (the lab hosts share the PID namespace)."""
    want = os.stat(f"/run/netns/{lab.host(host).netns}").st_ino
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            if MARKER in args and os.stat(f"/proc/{entry}/ns/net").st_ino == want:
                out.append(int(entry))
        except OSError:
            continue
    return out


def test_listen_probe_block_stop(h: Harness) -> None:
    hosts = names(h)
    t0 = time.monotonic()
    # step 2: the module's EXAMPLES way - the other hosts' own `target` results
    example = {"state": "probed", "timeout": 2, "targets": "{{ ansible_play_hosts | difference([inventory_hostname]) "
               "| map('extract', hostvars, ['hive_step_0', 'target']) | list }}"}
    res = run_steps(h, [(listen_args(), "apply"), (probe_args(h), "apply"), (example, "apply")])
    for host in hosts:
        listen = res[host][0]
        ip = h.lab.host(host).ip
        assert listen["listening"] == {"tcp": TCP, "udp": UDP} and listen["in_use"] == {"tcp": [], "udp": []}
        assert listen["bind_addr"] == ip and listen["target"] == {"name": host, "addr": ip, "tcp": TCP, "udp": UDP}
        assert helpers(h.lab, host) == [listen["pid"]]
        probe = res[host][1]
        assert probe["failed_count"] == 0, probe["results"]
        assert res[host][2]["failed_count"] == 0 and len(res[host][2]["results"]) == 8
        # targets order, tcp before udp, ports ascending
        assert [(r["name"], r["proto"], r["port"]) for r in probe["results"]] == [
            (dst, proto, port) for dst in hosts if dst != host for proto, ports in (("tcp", TCP), ("udp", UDP))
            for port in ports]
    assert outcome(res, 1) == outcome(res, 2) == expected(h)
    print(f"\nlisten + probe on 3 hosts: {time.monotonic() - t0:.1f}s")

    w1 = h.lab.host("w1").name
    h.lab.block(w1, 7946, "tcp")
    try:
        # listening again replaces the running helpers (in check mode: the module behaves the same)
        res = run_steps(h, [(listen_args(), "check"), (probe_args(h), "apply")])
        for host in hosts:
            assert res[host][0]["in_use"] == {"tcp": [], "udp": []}
            assert helpers(h.lab, host) == [res[host][0]["pid"]]
        assert outcome(res, 1) == expected(h, **{f"{w1}:7946/tcp": "timeout"})
        blocked = [r for src in hosts if src != w1 for r in res[src][1]["results"] if r["status"] != "ok"]
        assert len(blocked) == 2 and all(r["seconds"] >= 1.9 for r in blocked)
        assert {res[src][1]["failed_count"] for src in hosts} == {0, 1}

        # stopped: the helpers are gone and the ports closed (refused; the blocked one still times out)
        res = run_steps(h, [({"state": "stopped"}, "apply"), (probe_args(h, timeout=1), "apply")])
        for host in hosts:
            assert res[host][0]["stopped"] is True and helpers(h.lab, host) == []
        assert outcome(res, 1) == {key: ("timeout" if status == "timeout" else "refused")
                                   for key, status in expected(h, **{f"{w1}:7946/tcp": "timeout"}).items()}
        # a second listen finds every port free again
        res = run_steps(h, [(listen_args(), "apply"), ({"state": "stopped"}, "apply"), ({"state": "stopped"}, "apply")])
        for host in hosts:
            assert res[host][0]["in_use"] == {"tcp": [], "udp": []}
            assert res[host][0]["listening"] == {"tcp": TCP, "udp": UDP}
            assert res[host][1]["stopped"] is True and res[host][2]["stopped"] is False
            assert helpers(h.lab, host) == []
    finally:
        h.lab.unblock(w1)
    assert h.lab.blocks(w1) == []


def test_ttl_ends_the_helper_on_a_lab_host(h: Harness) -> None:
    m1 = h.lab.host("m1").name
    # ttl 8: long enough that the helper is still there when the module call has returned on a loaded machine
    # (with 2 it was once gone already), short enough to wait for
    res = h.run(m1, MODULE, {"state": "listening", "bind_addr": h.lab.host(m1).ip, "ttl": 8}).ok()
    assert helpers(h.lab, m1) == [res["pid"]]
    deadline = time.monotonic() + 30
    while helpers(h.lab, m1):
        assert time.monotonic() < deadline, "the helper outlived its ttl"
        time.sleep(0.1)
    # it removed its pid file on the way out (the host's own /run)
    assert not (h.lab.host(m1).dir / "run" / "hive-swarm-preflight.pid").exists()


def test_active_swarm_node_ports_are_in_use_and_reachable(h: Harness) -> None:
    m1, w1 = h.lab.host("m1"), h.lab.host("w1")
    h.lab.api(m1, "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": m1.ip})
    deadline = time.monotonic() + 60
    while not h.lab.info(m1)["Swarm"].get("ControlAvailable"):
        assert time.monotonic() < deadline, "swarm init did not complete"
        time.sleep(0.2)
    listen = h.run(m1.name, MODULE, listen_args()).ok()
    print(f"\nactive manager: listening {listen['listening']}, in use {listen['in_use']}")
    assert {2377, 7946} <= set(listen["in_use"]["tcp"]) and listen["listening"]["tcp"] == []
    assert 7946 in listen["in_use"]["udp"]
    assert listen["target"]["tcp"] == TCP and 7946 not in listen["target"]["udp"]
    probe = h.run(w1.name, MODULE, {"state": "probed", "timeout": 2,
                                    "targets": [{"name": m1.name, "addr": m1.ip, "tcp": TCP}]}).ok()
    assert [(r["port"], r["status"]) for r in probe["results"]] == [(2377, "ok"), (7946, "ok")]
    stop = h.run(m1.name, MODULE, {"state": "stopped"}).ok()
    assert stop["stopped"] is (listen["pid"] is not None)
    assert helpers(h.lab, m1.name) == []

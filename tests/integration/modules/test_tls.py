"""The modules against a remote Engine over TCP + TLS (dockerd --tlsverify), with certificates made here.

Lab ``tls1`` (net 19, Docker Engine 20.10) and ``tls2`` (net 54, Engine 28.5; test ids ``[20.10]``, ``[28.5]``:
the TLS stacks of Go 1.19 and 1.27, ~16 s per lab): <lab>-m1 serves its Engine API on
``tcp://198.18.N.11:2376`` with ``--tlsverify``
in addition to its unix socket (``Lab.start(host, extra_args=...)``) and manages a one-node swarm; the test
makes a CA, a server certificate (SAN: the host's IP and ``engine.hive.test``), a client certificate and an
unrelated CA with openssl. The modules run

* on the CONTROLLER (connection local, the venv's docker SDK 7.x) with ``REQUESTS_CA_BUNDLE`` pointing at
  the unrelated CA - that variable must not replace ``ca_path``: swarm_node_info, and swarm_node labels
  check -> apply -> re-apply -> check;
* on ANOTHER lab host, <lab>-w1 (over SSH, Debian's python3-docker 5.0.3): swarm_node_info, and
  swarm_update check -> apply -> re-apply -> check;

and are refused with a TLSError that names the problem without client certificates, with a wrong CA, with
a wrong tls_hostname and without TLS. Every change is checked on the Engine through its unix socket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import hivelab
import pytest
from harness import MARKER, REPO, REPORT_RE, Result

pytestmark = [pytest.mark.lab]

LABS = {"20.10": ("tls1", 19), "28.5": ("tls2", 54)}  # Engine -> lab name, net (tls1's net is shared with tlsinv)
PORT = 2376
DNS_NAME = "engine.hive.test"
NODE_INFO, NODE, UPDATE = "hive.swarm.swarm_node_info", "hive.swarm.swarm_node", "hive.swarm.swarm_update"
BIN = Path(sys.executable).parent


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, text=True, timeout=60)


def make_certs(d: Path, ip: str) -> dict[str, str]:
    """CA, server cert (SAN IP + DNS name, serverAuth), client cert (clientAuth), and an unrelated CA."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", str(d / f"{ca}-key.pem"), "-out", str(d / f"{ca}.pem"), "-days", "2",
                "-subj", f"/CN=hive.swarm test {ca}")
    for name, ext in (("server", f"subjectAltName=IP:{ip},DNS:{DNS_NAME}\nextendedKeyUsage=serverAuth\n"),
                      ("client", "extendedKeyUsage=clientAuth\n")):
        (d / f"{name}.ext").write_text(ext)
        openssl("req", *ec, "-keyout", str(d / f"{name}-key.pem"), "-out", str(d / f"{name}.csr"),
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey",
                str(d / "ca-key.pem"), "-CAcreateserial", "-out", str(d / f"{name}.pem"), "-days", "2",
                "-extfile", str(d / f"{name}.ext"))
    return {name: str(d / f"{name}.pem") for name in ("ca", "other-ca", "server", "server-key", "client",
                                                      "client-key")}


class Env:
    def __init__(self, lab: hivelab.Lab, certs: dict[str, str], workdir: Path) -> None:
        self.lab = lab
        self.certs = certs
        self.workdir = workdir
        self.ip = lab.host("m1").ip
        self.docker_host = f"tcp://{self.ip}:{PORT}"
        self.runs = 0

    def tls(self, **override: Any) -> dict[str, Any]:
        """Connection options of the full TLS setup (validate_certs + CA + client certificate)."""
        args = {"docker_host": self.docker_host, "validate_certs": True, "ca_path": self.certs["ca"],
                "client_cert": self.certs["client"], "client_key": self.certs["client-key"]}
        args.update(override)
        return {k: v for k, v in args.items() if v is not None}

    def play(self, inventory: Path, host: str, steps: list[tuple[str, dict[str, Any], str]],
             env: dict[str, str] | None = None) -> list[Result]:
        """One playbook on ``host``: one task per (module, args, kind) step; results in step order."""
        self.runs += 1
        tasks: list[dict[str, Any]] = []
        for index, (module, args, kind) in enumerate(steps):
            tasks.append({"name": f"step {index} ({module} {kind})", module: args,
                          "check_mode": kind in ("check", "check_diff"), "diff": kind in ("diff", "check_diff"),
                          "register": f"hive_step_{index}", "ignore_errors": True})
        names = ", ".join(f"hive_step_{index}" for index in range(len(steps)))
        tasks.append({"name": "report", "ansible.builtin.debug": {"msg": MARKER + "{{ [" + names + "] | to_json }}"}})
        playbook = self.workdir / f"play{self.runs}.yml"
        playbook.write_text(json.dumps([{"name": "tls", "hosts": host, "gather_facts": False, "tasks": tasks}]))
        full_env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}",
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
                    "ANSIBLE_CALLBACK_FORMAT_PRETTY": "false", **(env or {})}
        proc = subprocess.run([str(BIN / "ansible-playbook"), "-v", "-i", str(inventory), str(playbook)], cwd=REPO,
                              env=full_env, capture_output=True, text=True, timeout=300, check=False)
        for match in REPORT_RE.finditer(proc.stdout):
            msg = json.loads(match.group("json"))["msg"]
            return [Result(r) for r in json.loads(msg[len(MARKER):])]
        raise AssertionError(f"no results (rc={proc.returncode})\n{(proc.stdout + proc.stderr)[-5000:]}")

    def node(self) -> dict[str, Any]:
        [node] = self.lab.api("m1", "GET", "/nodes")
        return node

    def swarm(self) -> dict[str, Any]:
        data = self.lab.api("m1", "GET", "/swarm")
        data.pop("JoinTokens", None)
        return data


@pytest.fixture(scope="module", params=sorted(LABS), ids=sorted(LABS))
def env(request: pytest.FixtureRequest, lab_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    name, net = LABS[request.param]
    lab = lab_factory(name, net, managers=1, workers=1, engine=request.param)
    try:
        assert lab.engine_version("m1")["Version"].startswith(request.param + ".")
        workdir = tmp_path_factory.mktemp(f"tls-{request.param}")
        os.chmod(workdir, 0o700)
        ip = lab.host("m1").ip
        certs = make_certs(workdir, ip)
        lab.start("m1", extra_args=["-H", f"tcp://{ip}:{PORT}", "--tlsverify", "--tlscacert", certs["ca"],
                                    "--tlscert", certs["server"], "--tlskey", certs["server-key"]])
        assert lab.engine_args("m1")[-1] == certs["server-key"]
        lab.api("m1", "POST", "/swarm/init", {"ListenAddr": "0.0.0.0:2377", "AdvertiseAddr": ip})
        deadline = time.monotonic() + 60
        while not lab.info("m1")["Swarm"].get("ControlAvailable"):
            assert time.monotonic() < deadline, "swarm init did not complete"
            time.sleep(0.2)
        yield Env(lab, certs, workdir)
    finally:
        lab.down(log=lambda _msg: None)
        lab_factory.labs.pop(name, None)


def assert_refused(res: Result, *texts: str) -> None:
    assert res.failed and res["error_type"] == "TLSError", res.data
    for text in texts:
        assert text in res.msg, res.msg


def test_from_the_controller(env: Env) -> None:
    """Venv SDK 7.x on the controller; REQUESTS_CA_BUNDLE names an unrelated CA and must not win over ca_path."""
    inventory = env.workdir / "controller.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    before = env.node()
    m1 = env.lab.host("m1").name
    label = {"labels": {"tls": "yes"}}
    results = env.play(inventory, "localhost", [
        (NODE_INFO, {**env.tls(), "nodes": True}, "apply"),
        (NODE_INFO, env.tls(tls_hostname=DNS_NAME, local_only=True), "apply"),
        (NODE_INFO, env.tls(validate_certs=False, ca_path=None, tls=True, local_only=True), "apply"),
        (NODE, {**env.tls(), "node": m1, **label}, "check_diff"),
        (NODE, {**env.tls(), "node": m1, **label}, "diff"),
        (NODE, {**env.tls(), "node": m1, **label}, "diff"),
        (NODE, {**env.tls(), "node": m1, **label}, "check"),
        (NODE_INFO, env.tls(client_cert=None, client_key=None, local_only=True), "apply"),
        (NODE_INFO, env.tls(ca_path=env.certs["other-ca"], local_only=True), "apply"),
        (NODE_INFO, env.tls(tls_hostname="wrong.hive.test", local_only=True), "apply"),
        (NODE_INFO, {"docker_host": env.docker_host, "local_only": True}, "apply"),
    ], env={"REQUESTS_CA_BUNDLE": env.certs["other-ca"], "CURL_CA_BUNDLE": env.certs["other-ca"]})
    info, by_name, unverified, check, apply, again, again_check, no_cert, wrong_ca, wrong_name, plain = results

    info.ok()
    assert not info.changed
    assert info["local"]["state"] == "active" and info["local"]["is_manager"] is True
    assert info["local"]["hostname"] == m1 and info["local"]["node_addr"] == env.ip
    assert info["swarm"]["id"] == env.swarm()["ID"] and info["swarm_unavailable"] is None
    assert [n["id"] for n in info["nodes"]] == [before["ID"]]
    assert by_name.ok()["local"]["node_id"] == before["ID"]
    assert unverified.ok()["local"]["node_id"] == before["ID"]

    assert check.ok().changed and check["diff"] == {"before": {"labels": {}}, "after": {"labels": {"tls": "yes"}}}
    assert apply.ok().changed and apply["diff"]["after"] == {"labels": {"tls": "yes"}}
    assert apply["node"]["labels"] == {"tls": "yes"}
    assert not again.ok().changed and again["diff"] == {"before": {}, "after": {}}
    assert not again_check.ok().changed
    after = env.node()
    assert after["Spec"]["Labels"] == {"tls": "yes"}
    assert after["Version"]["Index"] > before["Version"]["Index"]
    assert {k: v for k, v in after["Spec"].items() if k != "Labels"} == \
        {k: v for k, v in before["Spec"].items() if k != "Labels"}

    assert_refused(no_cert, f"The Engine at {env.docker_host} requires a client certificate",
                   "Set client_cert and client_key")
    assert_refused(wrong_ca, f"The Engine's certificate at {env.docker_host} could not be verified",
                   "CERTIFICATE_VERIFY_FAILED", "Set ca_path")
    assert_refused(wrong_name, "is not valid for wrong.hive.test", "set tls_hostname")
    assert_refused(plain, "Client sent an HTTP request to an HTTPS server", "set validate_certs=true")


def test_from_another_host(env: Env) -> None:
    """Debian's python3-docker 5.0.3 on <lab>-w1 (over SSH) drives <lab>-m1's Engine over TLS."""
    inventory = env.lab.write_inventory(env.workdir / "lab.yml", python="/usr/bin/python3")
    before = env.swarm()
    limit = {"task_history_retention_limit": 7}
    results = env.play(inventory, env.lab.host("w1").name, [
        (NODE_INFO, env.tls(), "apply"),
        (UPDATE, {**env.tls(), **limit}, "check_diff"),
        (UPDATE, {**env.tls(), **limit}, "diff"),
        (UPDATE, {**env.tls(), **limit}, "diff"),
        (UPDATE, {**env.tls(), **limit}, "check"),
        (NODE_INFO, env.tls(client_cert=None, client_key=None, local_only=True), "apply"),
        (NODE_INFO, env.tls(ca_path=env.certs["other-ca"], local_only=True), "apply"),
    ])
    info, check, apply, again, again_check, no_cert, wrong_ca = results

    assert info.ok()["local"]["hostname"] == env.lab.host("m1").name and info["local"]["is_manager"] is True
    assert info["swarm"]["id"] == before["ID"]
    old = before["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"]
    assert old != 7
    diff = {"before": {"task_history_retention_limit": old}, "after": {"task_history_retention_limit": 7}}
    assert check.ok().changed and check["diff"] == diff and check["rotated"] == []
    assert apply.ok().changed and apply["diff"] == diff
    assert apply["swarm"]["spec"]["task_history_retention_limit"] == 7
    assert not again.ok().changed and again["diff"] == {"before": {}, "after": {}}
    assert not again_check.ok().changed
    after = env.swarm()
    assert after["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] == 7
    before["Spec"]["Orchestration"]["TaskHistoryRetentionLimit"] = 7
    assert after["Spec"] == before["Spec"]  # nothing else changed

    assert_refused(no_cert, "requires a client certificate", "Set client_cert and client_key")
    assert_refused(wrong_ca, "could not be verified", "Set ca_path")


def test_the_tls_endpoint_survives_stop_and_start(env: Env) -> None:
    """The extra dockerd arguments are kept by the lab: after stop/start the TLS endpoint is back (and down
    removes everything, checked by the fixture's teardown through lab_factory)."""
    env.lab.stop("m1")
    assert not env.lab.engine_up("m1")
    env.lab.start("m1")
    assert "--tlsverify" in env.lab.engine_args("m1")
    proc = subprocess.run(["openssl", "s_client", "-connect", f"{env.ip}:{PORT}", "-CAfile", env.certs["ca"],
                           "-cert", env.certs["client"], "-key", env.certs["client-key"], "-verify_return_error",
                           "-brief"], input="", capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "Verification: OK" in proc.stderr

"""playbooks/rotate.yml -e rotate_ca=true and playbooks/status.yml certificates, against real lab engines
(lab cas1, net 44: 3 managers + 2 workers, converged with site.yml).

In file order: the CA rotation under --check (printed, changed=1 predicted, the root and the join tokens
untouched), then for real (the playbook waits until it completed: the swarm's root changed, the rotation is no
longer in progress, every node's TLS info - trust root and certificate issuer - equals the swarm's, read from the
Engines directly; the join tokens are new: the Engine replaces both when the root changes), site.yml afterwards is
changed=0, and status.yml shows every host's certificate expiry and, with a huge threshold, the WARNING line naming
every host.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import hivelab
import pytest
from test_site import Run, nodes, playbook, write_inventory

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOSTS = ("cas1-m1", "cas1-m2", "cas1-m3", "cas1-w1", "cas1-w2")
DONE_RE = re.compile(r"Root CA rotation complete after ([0-9.]+) s: all (\d+) nodes trust root ([0-9a-f]{12})")


@pytest.fixture(scope="module")
def lab(lab_factory: Any) -> hivelab.Lab:
    return lab_factory("cas1", 44, managers=3, workers=2)


@pytest.fixture(scope="module")
def inv(lab: hivelab.Lab, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_inventory(lab, tmp_path_factory.mktemp("cas1") / "inventory.yml")
    playbook(path, name="cas1: converge").ok()
    return path


def rotate(inv: Path, *args: str, name: str) -> Run:
    return playbook(inv, "-e", "rotate_ca=true", *args, name=name, playbook_path="playbooks/rotate.yml")


def cluster(lab: hivelab.Lab) -> dict[str, Any]:
    return lab.api("cas1-m1", "GET", "/swarm")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def token_digests(swarm: dict[str, Any]) -> tuple[str, str]:
    """SHA-256 of each join token (a failing assertion must not print a token)."""
    tokens = swarm["JoinTokens"]
    return digest(tokens["Worker"]), digest(tokens["Manager"])


def tls_by_host(lab: hivelab.Lab) -> dict[str, dict[str, Any]]:
    return {n["Description"]["Hostname"]: n["Description"].get("TLSInfo") or {} for n in nodes(lab, "cas1-m2")}


def test_ca_rotation_check_first_then_for_real(lab: hivelab.Lab, inv: Path) -> None:
    before = cluster(lab)
    root_before = before["TLSInfo"]["TrustRoot"]
    tokens_before = token_digests(before)
    tls_before = tls_by_host(lab)
    assert sorted(tls_before) == sorted(HOSTS)
    assert all(t["TrustRoot"] == root_before for t in tls_before.values())

    check = rotate(inv, "--check", name="cas1: rotate_ca --check").ok()
    assert check.changed == 1, check.recap  # the rotation it would make, predicted by swarm_update in check mode
    assert "Rotate on cas1-m1 (swarm " in check.out and ": root CA" in check.out
    assert f"Root CA {digest(root_before)[:12]} is replaced by a new Engine-generated root" in check.out
    assert "Check mode: nothing is rotated." in check.out
    same = cluster(lab)
    assert same["TLSInfo"] == before["TLSInfo"] and same["Version"] == before["Version"], "--check changed the swarm"
    assert not same["RootRotationInProgress"]

    run = rotate(inv, "-e", "rotate_ca_timeout=240", name="cas1: rotate_ca").ok()
    assert run.changed > 0
    done = DONE_RE.search(run.out)
    assert done, run.out[-4000:]
    print(f"[cas1] root CA rotation: {done.group(2)} nodes caught up after {done.group(1)} s "
          f"(the whole playbook {run.seconds:.1f} s)")
    after = cluster(lab)
    root_after = after["TLSInfo"]["TrustRoot"]
    assert root_after != root_before, "the root CA did not change"
    assert done.group(3) == digest(root_after)[:12] and int(done.group(2)) == len(HOSTS)
    assert not after["RootRotationInProgress"]
    assert after["Spec"]["CAConfig"].get("ForceRotate", 0) == before["Spec"]["CAConfig"].get("ForceRotate", 0) + 1
    tls_after = tls_by_host(lab)
    assert sorted(tls_after) == sorted(HOSTS)
    for host, tls in tls_after.items():
        assert tls["TrustRoot"] == root_after, f"{host} still trusts another root"
        assert tls["CertIssuerSubject"] == after["TLSInfo"]["CertIssuerSubject"], host
        assert tls["CertIssuerPublicKey"] == after["TLSInfo"]["CertIssuerPublicKey"], host
        assert tls["CertIssuerPublicKey"] != tls_before[host]["CertIssuerPublicKey"], f"{host}: same issuer key"
    # the Engine itself replaces both join tokens when the root changes (the playbook did not ask for it)
    new_tokens = token_digests(after)
    assert new_tokens[0] != tokens_before[0] and new_tokens[1] != tokens_before[1], "join tokens unchanged"
    assert '"rotated": ["root_ca"]' in run.out or "Rotated root_ca of swarm" in run.out
    for secret in ("SWMTKN-", "SWMKEY-"):
        assert secret not in run.out


def test_site_after_the_rotation_changes_nothing(inv: Path) -> None:
    run = playbook(inv, name="cas1: site.yml after the rotation").ok()
    assert run.changed == 0, run.recap


def test_status_shows_certificate_expiry_and_warns(lab: hivelab.Lab, inv: Path) -> None:
    status = playbook(inv, name="cas1: status", playbook_path="playbooks/status.yml").ok()
    assert status.changed == 0
    assert "CERT DAYS" in status.out
    print("\n".join(line for line in status.out.splitlines() if "CERT DAYS" in line or "cas1-" in line))
    for host in HOSTS:
        row = next(line for line in status.out.splitlines() if re.match(rf"{re.escape(host)}\s+(manager|worker)", line))
        days = re.search(r"\s(\d+\.\d)(\s|$)", row)
        assert days and 0 < float(days.group(1)) <= 91, (host, row)
    assert "WARNING: node certificates expire" not in status.out
    root = digest(cluster(lab)["TLSInfo"]["TrustRoot"])
    assert f"root CA {root[:12]}" in status.out

    as_json = playbook(inv, "-e", "status_format=json", name="cas1: status json",
                       playbook_path="playbooks/status.yml").ok()
    text = as_json.out
    document = json.loads(text[text.index("\n{\n") + 1:text.index("\n}\n") + 2])
    assert document["swarm_id"] == cluster(lab)["ID"] and document["root_ca_digest"] == root
    assert sorted(row["hostname"] for row in document["nodes"]) == sorted(HOSTS)
    assert all(0 < float(row["cert_days"]) <= 91 for row in document["nodes"]), document["nodes"]

    warned = playbook(inv, "-e", "status_cert_warn_days=100000", name="cas1: status warn",
                      playbook_path="playbooks/status.yml").ok()
    line = next(line for line in warned.out.splitlines()
                if "WARNING: node certificates expire within 100000 days:" in line)
    for host in HOSTS:
        assert f"{host} (" in line, (host, line)

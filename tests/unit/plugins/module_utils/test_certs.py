"""certs.py: the stdlib DER reader of a node's swarm certificate.

Fixed certificates made once with OpenSSL are in data/ (see data/README.md for their expected values); when the
openssl command is there, certificates made at test time (a manager-like one, UTCTime and GeneralizedTime
validity) are read too and compared with what openssl itself prints."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import certs
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import CertificateError, SwarmError

DATA = Path(__file__).parent / "data"
NOW = datetime(2027, 1, 1, tzinfo=timezone.utc)


def test_fixed_worker_certificate_with_its_chain() -> None:
    cert = certs.read_certificate_file(str(DATA / "swarm-node.crt"))
    assert cert.subject == {"o": "7w2kfe1ptdkqjnkp4m5tmrgg4", "ou": "swarm-worker", "cn": "o3gtxmnx5q9kfwcxf1p3qn2vb"}
    assert cert.issuer == {"cn": "swarm-ca"}
    assert cert.serial == 0x0123456789ABCDEF
    assert cert.not_before == datetime(2026, 12, 3, 5, 15, 23, tzinfo=timezone.utc)
    assert cert.not_after == datetime(2027, 3, 3, 5, 15, 23, tzinfo=timezone.utc)
    view = certs.certificate_view(cert, "/x/swarm-node.crt", NOW)
    assert view == {
        "path": "/x/swarm-node.crt", "not_before": "2026-12-03T05:15:23Z", "not_after": "2027-03-03T05:15:23Z",
        "expires_in_days": 61.22, "expired": False, "serial": "123456789abcdef",
        "subject": cert.subject, "issuer": {"cn": "swarm-ca"}, "node_id": "o3gtxmnx5q9kfwcxf1p3qn2vb",
        "role": "worker", "cluster_id": "7w2kfe1ptdkqjnkp4m5tmrgg4"}
    later = certs.certificate_view(cert, "p", datetime(2027, 4, 1, tzinfo=timezone.utc))
    assert later["expired"] is True and later["expires_in_days"] < 0


def test_generalized_time_after_2049_and_der_input() -> None:
    text = (DATA / "late.crt").read_text()
    cert = certs.load_certificate(text.encode())
    assert cert.not_after == datetime(2054, 4, 20, 5, 15, 23, tzinfo=timezone.utc)
    [der] = certs.pem_certificates(text)
    assert certs.load_certificate(der) == cert


def test_the_ca_certificate_of_the_chain_is_the_second_block() -> None:
    blocks = certs.pem_certificates((DATA / "swarm-node.crt").read_text())
    assert len(blocks) == 2
    ca = certs.parse_certificate(blocks[1])
    assert ca.subject == ca.issuer == {"cn": "swarm-ca"} and ca.serial == 0x1A2B


@pytest.mark.parametrize("tag,text,expected", [
    (0x17, "491231235959Z", datetime(2049, 12, 31, 23, 59, 59, tzinfo=timezone.utc)),
    (0x17, "500101000000Z", datetime(1950, 1, 1, tzinfo=timezone.utc)),
    (0x18, "20510101000000Z", datetime(2051, 1, 1, tzinfo=timezone.utc)),
    (0x18, "20510101000000.123Z", datetime(2051, 1, 1, tzinfo=timezone.utc)),
])
def test_times(tag: int, text: str, expected: datetime) -> None:
    assert certs.decode_time(tag, text.encode()) == expected


@pytest.mark.parametrize("tag,text", [(0x17, "4912312359Z"), (0x18, "20511301000000Z"), (0x02, "491231235959Z")])
def test_bad_times(tag: int, text: str) -> None:
    with pytest.raises(CertificateError):
        certs.decode_time(tag, text.encode())


def test_oids() -> None:
    assert certs.decode_oid(bytes([0x55, 0x04, 0x03])) == "2.5.4.3"
    assert certs.decode_oid(bytes([0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B])) == "1.2.840.113549.1.1.11"
    assert certs.decode_oid(bytes([0x88, 0x37, 0x01])) == "2.999.1"


def test_long_form_lengths() -> None:
    data = bytes([0x04, 0x82, 0x01, 0x00]) + b"x" * 256
    assert certs.read_tlv(data, 0) == certs.Tlv(0x04, 4, 260)


@pytest.mark.parametrize("data,needle", [
    (b"", "No certificate"),
    (b"hello", "No certificate"),
    (b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n", "bad base64"),
    (bytes([0x30, 0x05, 0x02, 0x01]), "runs past"),
    (bytes([0x30, 0x03, 0x02, 0x01, 0x01]), "expected certificate, algorithm and signature"),
    (bytes([0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), "runs past"),
    (bytes([0x30, 0x80, 0x00, 0x00]), "bad length"),
    (bytes([0x30, 0x06, 0x04, 0x00, 0x30, 0x00, 0x03, 0x00]), "has tag 0x04"),
])
def test_malformed_input_is_a_typed_error(data: bytes, needle: str) -> None:
    with pytest.raises(CertificateError, match=needle) as caught:
        certs.load_certificate(data)
    assert isinstance(caught.value, SwarmError)


def test_truncated_real_certificate() -> None:
    [der, _ca] = certs.pem_certificates((DATA / "swarm-node.crt").read_text())
    for cut in (10, len(der) // 2, len(der) - 1):
        with pytest.raises(CertificateError):
            certs.parse_certificate(der[:cut])


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="does not exist"):
        certs.read_certificate_file(str(tmp_path / "missing.crt"))
    with pytest.raises(CertificateError, match="cannot be read"):
        certs.read_certificate_file(str(tmp_path))  # a directory
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate")
    with pytest.raises(CertificateError, match=f"{junk}: No certificate"):
        certs.read_certificate_file(str(junk))


def info(state: str = "active", root: str = "/var/lib/docker") -> dict:
    return {"DockerRootDir": root, "Swarm": {"LocalNodeState": state}}


def test_node_certificate_reads_the_engines_file(tmp_path: Path) -> None:
    target = tmp_path / "swarm" / "certificates"
    target.mkdir(parents=True)
    shutil.copy(DATA / "swarm-node.crt", target / "swarm-node.crt")
    view, why = certs.node_certificate(info(root=str(tmp_path)), "unix:///run/docker.sock", NOW)
    assert why is None and view is not None
    assert view["path"] == str(target / "swarm-node.crt") and view["role"] == "worker"
    assert certs.node_certificate(info(root=str(tmp_path)), "/run/docker.sock", NOW)[0] == view


@pytest.mark.parametrize("engine_info,docker_host,needle", [
    (info(), "tcp://10.0.0.1:2376", "is not local"),
    (info("inactive"), "unix:///run/docker.sock", "not part of a swarm"),
    ({"Swarm": {"LocalNodeState": "active"}}, "unix:///run/docker.sock", "DockerRootDir"),
    (info(root="/nonexistent-hive-root"), "unix:///run/docker.sock", "does not exist"),
])
def test_node_certificate_says_why_not(engine_info: dict, docker_host: str, needle: str) -> None:
    view, why = certs.node_certificate(engine_info, docker_host, NOW)
    assert view is None and needle in (why or "")


OPENSSL = shutil.which("openssl")


def openssl(*args: str, cwd: Path) -> str:
    return subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
@pytest.mark.parametrize("days", [90, 12000])
def test_certificates_made_now_by_openssl(tmp_path: Path, days: int) -> None:
    """A manager-like certificate made at test time (RSA, UTF8String names); the dates as openssl prints them."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "k.pem", "-out", "c.pem", "-days",
            str(days), "-subj", "/O=swarmid0123456789/OU=swarm-manager/CN=nodeid0123456789", "-set_serial",
            "0x7f00ff", cwd=tmp_path)
    cert = certs.read_certificate_file(str(tmp_path / "c.pem"))
    assert cert.subject == {"o": "swarmid0123456789", "ou": "swarm-manager", "cn": "nodeid0123456789"}
    assert cert.issuer == cert.subject and cert.serial == 0x7F00FF
    printed = openssl("x509", "-in", "c.pem", "-noout", "-enddate", cwd=tmp_path).strip().split("=", 1)[1]
    expected = datetime.strptime(printed, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=timezone.utc)
    assert cert.not_after == expected
    view = certs.certificate_view(cert, "c.pem", datetime.now(timezone.utc))
    assert view["role"] == "manager" and abs(view["expires_in_days"] - days) < 0.1
    der = base64.b64decode("".join(line for line in (tmp_path / "c.pem").read_text().splitlines()
                                   if not line.startswith("-----")))
    assert certs.load_certificate(der) == cert

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A node's swarm certificate: a small DER reader for X.509 certificates (standard library only).

Managed hosts have no guaranteed ``cryptography`` package, and the ``ssl`` module only decodes certificates
through private functions, so this reads the few fields hive.swarm needs itself: serial number, issuer and
subject names, validity. It does not verify anything (signatures, chains): it only reports what the file says.

Every swarm node keeps its certificate at ``<DockerRootDir>/swarm/certificates/swarm-node.crt`` (PEM; during a
root CA rotation the file may also hold an intermediate after the leaf). swarmkit issues it with the subject
CN = node ID, OU = ``swarm-manager`` or ``swarm-worker``, O = swarm (cluster) ID, and renews it by itself
(``node_cert_expiry``, 90 days by default).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from datetime import datetime, timezone
from typing import Any, NamedTuple, Optional

from ansible_collections.hive.swarm.plugins.module_utils._swarm.addresses import engine_is_local
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import CertificateError

NODE_CERT_RELATIVE = os.path.join("swarm", "certificates", "swarm-node.crt")
MAX_CERT_FILE = 1 << 20  # a certificate bundle is a few kilobytes

# DER tags (universal class)
_INTEGER = 0x02
_OID = 0x06
_SEQUENCE = 0x30
_SET = 0x31
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18
_VERSION = 0xA0  # [0] EXPLICIT in TBSCertificate
_STRING_TAGS = {0x0C: "utf-8", 0x13: "ascii", 0x14: "latin-1", 0x16: "ascii", 0x1A: "ascii", 0x1E: "utf-16-be"}

# Attribute types of a Name (X.520) -> short keys in the returned dicts
NAME_ATTRIBUTES = {
    "2.5.4.3": "cn",
    "2.5.4.5": "serial_number",
    "2.5.4.6": "c",
    "2.5.4.7": "l",
    "2.5.4.8": "st",
    "2.5.4.10": "o",
    "2.5.4.11": "ou",
}
SWARM_ROLES = {"swarm-manager": "manager", "swarm-worker": "worker"}

_PEM_RE = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


class Tlv(NamedTuple):
    """One DER element: its tag, and where its content starts and ends in the buffer."""

    tag: int
    start: int
    end: int


class Certificate(NamedTuple):
    serial: int
    issuer: dict[str, str]
    subject: dict[str, str]
    not_before: datetime
    not_after: datetime


def read_tlv(data: bytes, pos: int, end: Optional[int] = None) -> Tlv:
    """The element at ``pos`` (definite lengths only, as DER requires); it must end by ``end``."""
    limit = len(data) if end is None else end
    if pos + 2 > limit:
        raise CertificateError("Not a DER certificate: truncated element.")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise CertificateError("Not a DER certificate: multi-byte tags are not used in certificates.")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > limit:
            raise CertificateError("Not a DER certificate: bad length.")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > limit:
        raise CertificateError("Not a DER certificate: an element runs past its end.")
    return Tlv(tag, pos, pos + length)


def children(data: bytes, parent: Tlv) -> list[Tlv]:
    """The elements inside a constructed element."""
    out = []
    pos = parent.start
    while pos < parent.end:
        item = read_tlv(data, pos, parent.end)
        out.append(item)
        pos = item.end
    return out


def _expect(item: Tlv, tag: int, what: str) -> Tlv:
    if item.tag != tag:
        raise CertificateError(f"Not an X.509 certificate: {what} has tag 0x{item.tag:02x}, expected 0x{tag:02x}.")
    return item


def decode_oid(content: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's content octets."""
    if not content:
        raise CertificateError("Not an X.509 certificate: empty object identifier.")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(arc) for arc in head + arcs[1:])


def decode_time(tag: int, content: bytes) -> datetime:
    """UTCTime (YYMMDDHHMMSSZ; years 50-99 are 19xx) or GeneralizedTime (YYYYMMDDHHMMSS[.f]Z), as aware UTC."""
    text = content.decode("ascii", "replace")
    match = None
    if tag == _UTC_TIME:
        match = re.fullmatch(r"(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z", text)
    elif tag == _GENERALIZED_TIME:
        match = re.fullmatch(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z", text)
    if not match:
        raise CertificateError(f"Not an X.509 certificate: unexpected time {text!r}.")
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if tag == _UTC_TIME:
        year += 1900 if year >= 50 else 2000
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError as err:
        raise CertificateError(f"Not an X.509 certificate: invalid time {text!r} ({err}).") from None


def decode_name(data: bytes, name: Tlv) -> dict[str, str]:
    """A Name (SEQUENCE OF SET OF {type, value}) as ``{cn, o, ou, ...}``; unknown types are left out, repeated
    types are joined with ','."""
    out: dict[str, str] = {}
    for rdn in children(data, _expect(name, _SEQUENCE, "a name")):
        for attribute in children(data, _expect(rdn, _SET, "a relative distinguished name")):
            parts = children(data, _expect(attribute, _SEQUENCE, "a name attribute"))
            if len(parts) != 2:
                raise CertificateError("Not an X.509 certificate: a name attribute is not a type and a value.")
            kind, value = parts
            key = NAME_ATTRIBUTES.get(decode_oid(data[_expect(kind, _OID, "an attribute type").start:kind.end]))
            encoding = _STRING_TAGS.get(value.tag)
            if key is None or encoding is None:
                continue
            text = data[value.start:value.end].decode(encoding, "replace")
            out[key] = f"{out[key]},{text}" if key in out else text
    return out


def parse_certificate(der: bytes) -> Certificate:
    """The fields of one DER X.509 certificate."""
    whole = _expect(read_tlv(der, 0), _SEQUENCE, "the certificate")
    parts = children(der, whole)
    if len(parts) != 3:
        raise CertificateError("Not an X.509 certificate: expected certificate, algorithm and signature.")
    tbs = children(der, _expect(parts[0], _SEQUENCE, "the signed part"))
    if tbs and tbs[0].tag == _VERSION:
        tbs = tbs[1:]
    if len(tbs) < 6:
        raise CertificateError("Not an X.509 certificate: the signed part is too short.")
    serial_tlv, _algorithm, issuer, validity, subject = tbs[:5]
    serial = int.from_bytes(der[_expect(serial_tlv, _INTEGER, "the serial number").start:serial_tlv.end], "big",
                            signed=True)
    times = children(der, _expect(validity, _SEQUENCE, "the validity"))
    if len(times) != 2:
        raise CertificateError("Not an X.509 certificate: the validity is not two times.")
    not_before, not_after = (decode_time(t.tag, der[t.start:t.end]) for t in times)
    return Certificate(serial=serial, issuer=decode_name(der, issuer), subject=decode_name(der, subject),
                       not_before=not_before, not_after=not_after)


def pem_certificates(text: str) -> list[bytes]:
    """The DER bytes of every CERTIFICATE block of a PEM text, in file order."""
    out = []
    for block in _PEM_RE.findall(text):
        try:
            out.append(base64.b64decode("".join(block.split()), validate=True))
        except (binascii.Error, ValueError) as err:
            raise CertificateError(f"Not a PEM certificate: bad base64 ({err}).") from None
    return out


def load_certificate(data: bytes) -> Certificate:
    """The first certificate of PEM or DER bytes (a swarm node's file holds the leaf first)."""
    if data[:1] == bytes([_SEQUENCE]):
        return parse_certificate(data)
    blocks = pem_certificates(data.decode("ascii", "replace"))
    if not blocks:
        raise CertificateError("No certificate in the file (no PEM CERTIFICATE block, not DER).")
    return parse_certificate(blocks[0])


def read_certificate_file(path: str) -> Certificate:
    """Read and parse the certificate at ``path``: CertificateError (with the reason) when it cannot be."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CERT_FILE)
    except FileNotFoundError:
        raise CertificateError(f"{path} does not exist.") from None
    except OSError as err:
        raise CertificateError(f"{path} cannot be read: {err.strerror or err}.") from None
    try:
        return load_certificate(data)
    except CertificateError as err:
        raise CertificateError(f"{path}: {err.message}") from None


def node_certificate_path(docker_root_dir: str) -> str:
    """Where a swarm node keeps its own certificate."""
    return os.path.join(docker_root_dir, NODE_CERT_RELATIVE)


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z ('2026-05-01T10:00:00Z')."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def certificate_view(cert: Certificate, path: str, now: datetime) -> dict[str, Any]:
    """The certificate as swarm_node_info returns it (public data only: no key is read)."""
    remaining = (cert.not_after - now).total_seconds() / 86400
    return {
        "path": path,
        "not_before": iso_utc(cert.not_before),
        "not_after": iso_utc(cert.not_after),
        "expires_in_days": round(remaining, 2),
        "expired": remaining <= 0,
        "serial": format(cert.serial, "x"),
        "subject": dict(cert.subject),
        "issuer": dict(cert.issuer),
        "node_id": cert.subject.get("cn"),
        "role": SWARM_ROLES.get(cert.subject.get("ou", "")),
        "cluster_id": cert.subject.get("o"),
    }


def node_certificate(info: dict[str, Any], docker_host: str,
                     now: Optional[datetime] = None) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """(this node's certificate view, None) or (None, why it is not available). ``info`` is the Engine's GET /info;
    the file is read on the host the module runs on, so only for an Engine behind a local socket."""
    if not engine_is_local(docker_host):
        return None, (f"The Engine at {docker_host} is not local: its certificate file is on its own host (run the "
                      "module there with the default docker_host).")
    state = (info.get("Swarm") or {}).get("LocalNodeState") or "inactive"
    if state == "inactive":
        return None, "This node is not part of a swarm: it has no swarm certificate."
    root = info.get("DockerRootDir") or ""
    if not root:
        return None, "The Engine did not report its DockerRootDir."
    path = node_certificate_path(root)
    try:
        cert = read_certificate_file(path)
    except CertificateError as err:
        return None, err.message
    return certificate_view(cert, path, now or datetime.now(timezone.utc)), None

# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Join tokens: format check and the root CA digest they carry.

swarmkit (ca/config.go) formats a join token as

    v1: SWMTKN-1-<digest>-<secret>
    v2: SWMTKN-2-<0|1 FIPS>-<digest>-<secret>       (only for clusters that mandate FIPS)

``digest`` is the SHA-256 of the root CA certificate bundle exactly as the cluster serves it
(the PEM bytes), written in base 36 (0-9a-z) and left-padded with '0' to 50 characters;
``secret`` is 16 random bytes in base 36 padded to 25 characters. A joining node downloads the
CA bundle from the manager and refuses it unless its SHA-256 equals the digest ("remote CA does
not match fingerprint"). So a manager can tell whether a token belongs to its cluster by
comparing the token's digest with the SHA-256 of its ``TLSInfo.TrustRoot`` (GET /info on a
manager, GET /swarm), and a node by the same check against its own root CA file.

Tokens are secrets: nothing here puts a token (or its secret part) in a message.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple, Union

from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter

DIGEST_LEN = 50
SECRET_LEN = 25
_BASE36 = set("0123456789abcdefghijklmnopqrstuvwxyz")


class JoinToken(NamedTuple):
    version: int
    ca_digest: str  # hex SHA-256 of the root CA bundle (64 lower-case hex digits)
    fips: bool


def parse_join_token(token: str) -> JoinToken:
    """Validate the format and return the parts that are not secret. InvalidParameter if malformed."""
    text = (token or "").strip()
    parts = text.split("-")
    bad = InvalidParameter(
        "The join token is malformed.",
        hint="A join token looks like SWMTKN-1-<50 base36 characters>-<25 base36 characters>; "
        "take it from swarm_node_info (join_tokens: true) on a manager.",
    )
    if len(parts) < 4 or parts[0] != "SWMTKN":
        raise bad
    if parts[1] == "1" and len(parts) == 4:
        version, fips = 1, False
    elif parts[1] == "2" and len(parts) == 5 and parts[2] in ("0", "1"):
        version, fips = 2, parts[2] == "1"
    else:
        raise bad
    digest, secret = parts[-2].lower(), parts[-1].lower()
    if len(digest) != DIGEST_LEN or len(secret) != SECRET_LEN:
        raise bad
    if not set(digest) <= _BASE36 or not set(secret) <= _BASE36:
        raise bad
    value = int(digest, 36)
    if value >= 1 << 256:
        raise bad
    return JoinToken(version=version, ca_digest=f"{value:064x}", fips=fips)


def ca_digest(pem: Union[str, bytes]) -> str:
    """Hex SHA-256 of a root CA bundle, exactly as swarmkit computes it (over the PEM bytes)."""
    data = pem.encode("utf-8") if isinstance(pem, str) else pem
    return hashlib.sha256(data).hexdigest()


def digest_base36(hex_digest: str) -> str:
    """The token form of a hex digest (base 36, 0-padded to 50 characters)."""
    value = int(hex_digest, 16)
    chars = ""
    while value:
        value, rem = divmod(value, 36)
        chars = "0123456789abcdefghijklmnopqrstuvwxyz"[rem] + chars
    return chars.rjust(DIGEST_LEN, "0")


def token_matches_ca(token: str, pem: Union[str, bytes]) -> bool:
    """True when ``token`` was issued by the cluster whose root CA bundle is ``pem``."""
    return parse_join_token(token).ca_digest == ca_digest(pem)

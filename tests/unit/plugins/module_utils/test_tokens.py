"""tokens.py: join token format and the root CA digest (swarmkit ca/config.go)."""

from __future__ import annotations

import hashlib

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import tokens
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter

# Verified on dockerd 20.10.24 here: the digest part of a real worker token, and the SHA-256 of
# that swarm's /info Cluster.TLSInfo.TrustRoot (= sha256 of swarm-root-ca.crt on its nodes).
REAL_DIGEST36 = "0opvxjdfltp142f7r4bjh06axuxkqo1igwl8cyaz0niwsb84hn"
REAL_DIGEST_HEX = "1b8caafb55c0852ffddeaf026884e3378fbe468bf0db3cad7fda36723e1323bb"
SECRET = "8xdni60jsnwsf1r565v2v5lrx"
PEM = "-----BEGIN CERTIFICATE-----\nMIIBazCCARCgAwIBAgIU\n-----END CERTIFICATE-----\n"


def test_real_token_digest_decodes_to_the_trust_root_sha256():
    parsed = tokens.parse_join_token(f"SWMTKN-1-{REAL_DIGEST36}-{SECRET}")
    assert parsed == tokens.JoinToken(version=1, ca_digest=REAL_DIGEST_HEX, fips=False)
    assert tokens.digest_base36(REAL_DIGEST_HEX) == REAL_DIGEST36


def test_v2_fips_token():
    parsed = tokens.parse_join_token(f"SWMTKN-2-1-{REAL_DIGEST36}-{SECRET}")
    assert parsed.version == 2 and parsed.fips and parsed.ca_digest == REAL_DIGEST_HEX
    assert not tokens.parse_join_token(f"SWMTKN-2-0-{REAL_DIGEST36}-{SECRET}").fips


def test_digest_is_left_padded_to_50():
    small = "0" * 60 + "00ff"
    assert tokens.digest_base36(small) == "0" * 48 + "73"
    assert tokens.parse_join_token(f"SWMTKN-1-{'0' * 48}73-{SECRET}").ca_digest == small


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "SWMTKN-1-abc",
        f"SWMKEY-1-{REAL_DIGEST36}-{SECRET}",
        f"SWMTKN-3-{REAL_DIGEST36}-{SECRET}",
        f"SWMTKN-2-{REAL_DIGEST36}-{SECRET}",
        f"SWMTKN-2-7-{REAL_DIGEST36}-{SECRET}",
        f"SWMTKN-1-{REAL_DIGEST36[:-1]}-{SECRET}",
        f"SWMTKN-1-{REAL_DIGEST36}-{SECRET}x",
        f"SWMTKN-1-{REAL_DIGEST36[:-1]}_-{SECRET}",
        f"SWMTKN-1-{'z' * 50}-{SECRET}",  # > 2^256
        f"SWMTKN-1-{REAL_DIGEST36}-{SECRET}-extra",
    ],
)
def test_malformed_tokens_are_rejected_without_echoing_them(bad):
    with pytest.raises(InvalidParameter) as exc:
        tokens.parse_join_token(bad)
    assert "malformed" in str(exc.value)
    if bad:
        assert bad not in str(exc.value)
    assert SECRET not in str(exc.value)


def test_uppercase_and_whitespace_are_tolerated():
    assert tokens.parse_join_token(f"  SWMTKN-1-{REAL_DIGEST36.upper()}-{SECRET}\n").ca_digest == REAL_DIGEST_HEX


def test_ca_digest_is_sha256_of_the_exact_pem_bytes():
    assert tokens.ca_digest(PEM) == hashlib.sha256(PEM.encode()).hexdigest()
    assert tokens.ca_digest(PEM.encode()) == tokens.ca_digest(PEM)
    assert tokens.ca_digest(PEM.rstrip("\n")) != tokens.ca_digest(PEM)


def test_token_matches_ca():
    token = f"SWMTKN-1-{tokens.digest_base36(tokens.ca_digest(PEM))}-{SECRET}"
    assert tokens.token_matches_ca(token, PEM)
    assert not tokens.token_matches_ca(token, PEM.replace("MIIB", "MIIC"))

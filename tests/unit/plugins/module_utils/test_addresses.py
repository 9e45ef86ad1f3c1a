"""addresses.py: address syntax and locality checks."""

from __future__ import annotations

import socket

import pytest
from ansible_collections.hive.swarm.plugins.module_utils._swarm import addresses as a
from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter

LO = socket.if_nameindex()[0][1]  # an interface that exists here (usually lo)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("10.0.0.1", ("10.0.0.1", None)), ("10.0.0.1:2377", ("10.0.0.1", 2377)), ("eth0", ("eth0", None)),
     ("eth0:4567", ("eth0", 4567)), ("[fe80::1]:2377", ("fe80::1", 2377)), ("::1", ("::1", None)),
     ("[::1]", ("::1", None)), (" 10.0.0.1 ", ("10.0.0.1", None))],
)
def test_split_host_port(value, expected):
    assert a.split_host_port(value, "x") == expected


@pytest.mark.parametrize("bad", ["", "10.0.0.1:0", "10.0.0.1:70000", "10.0.0.1:abc", "[::1", "[::1]x"])
def test_split_host_port_rejects(bad):
    with pytest.raises(InvalidParameter):
        a.split_host_port(bad, "advertise_addr")


def test_local_ip_check():
    assert a.is_local_ip(a.parse_ip("127.0.0.1"))
    assert not a.is_local_ip(a.parse_ip("203.0.113.77"))  # TEST-NET-3, never assigned here


def test_validate_node_addr_local():
    a.validate_node_addr("127.0.0.1:2377", "advertise_addr", local=True, allow_unspecified=False)
    a.validate_node_addr(LO, "advertise_addr", local=True, allow_unspecified=False)
    a.validate_node_addr("0.0.0.0:2377", "listen_addr", local=True, allow_unspecified=True)
    a.validate_node_addr(None, "advertise_addr", local=True, allow_unspecified=False)
    with pytest.raises(InvalidParameter, match=r"203\.0\.113\.77 is not an address of this host") as exc:
        a.validate_node_addr("203.0.113.77", "advertise_addr", local=True, allow_unspecified=False)
    assert "assigned to one of this host's interfaces" in str(exc.value)
    with pytest.raises(InvalidParameter, match="no interface 'nosuch0'"):
        a.validate_node_addr("nosuch0:2377", "advertise_addr", local=True, allow_unspecified=False)
    with pytest.raises(InvalidParameter, match="unspecified address cannot be advertised"):
        a.validate_node_addr("0.0.0.0", "advertise_addr", local=True, allow_unspecified=False)
    with pytest.raises(InvalidParameter, match="expected an IP address or an interface name"):
        a.validate_node_addr("my host", "advertise_addr", local=False, allow_unspecified=False)


def test_validate_node_addr_remote_engine_checks_syntax_only():
    a.validate_node_addr("203.0.113.77", "advertise_addr", local=False, allow_unspecified=False)
    a.validate_node_addr("nosuch0", "advertise_addr", local=False, allow_unspecified=False)


@pytest.mark.parametrize(
    ("value", "normal"),
    [("10.0.0.1", "10.0.0.1:2377"), ("10.0.0.1:3000", "10.0.0.1:3000"), ("mgr1.example", "mgr1.example:2377"),
     ("fe80::1", "[fe80::1]:2377"), ("[fe80::1]:4000", "[fe80::1]:4000")],
)
def test_validate_remote_addr(value, normal):
    assert a.validate_remote_addr(value) == normal


@pytest.mark.parametrize("bad", ["", "-bad", "a b", "10.0.0.1:99999"])
def test_validate_remote_addr_rejects(bad):
    with pytest.raises(InvalidParameter):
        a.validate_remote_addr(bad)


def test_engine_is_local():
    assert a.engine_is_local("unix:///run/docker.sock")
    assert a.engine_is_local("/var/run/docker.sock")
    assert not a.engine_is_local("tcp://10.0.0.1:2376")


FIB_TRIE = """Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 198.18.48.0/24 2 0 2
           |-- 198.18.48.0
              /24 link UNICAST
           |-- 198.18.48.11
              /32 host LOCAL
           |-- 198.18.48.21
              /32 host LOCAL
        |-- 198.18.48.255
           /32 link BROADCAST
Local:
  +-- 0.0.0.0/0 3 0 5
           |-- 198.18.48.11
              /32 host LOCAL
"""


def test_local_ipv4_addresses_reads_secondary_addresses(tmp_path):
    path = tmp_path / "fib_trie"
    path.write_text(FIB_TRIE)
    assert a.local_ipv4_addresses(str(path)) == ["198.18.48.11", "198.18.48.21"]
    assert a.local_ipv4_addresses(str(tmp_path / "missing")) == []


UDP4 = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
 9519: 00000000:12B5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5127099 2 0000 0
  101: 0B3012C6:1F0A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5127100 2 0000 0
  102: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 5127101 2 0000 0
"""
UDP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue
12676: 00000000000000000000000000000000:1F0A 00000000000000000000000000000000:0000 07 00000000:00000000
"""


def test_udp_ports_in_use_reads_wildcard_sockets_from_both_tables(tmp_path):
    udp4, udp6 = tmp_path / "udp", tmp_path / "udp6"
    udp4.write_text(UDP4)
    udp6.write_text(UDP6)
    # 4789 on 0.0.0.0 (the kernel's VXLAN socket), 7946 on :: (an engine's gossip); 7946 on one IPv4 address only
    # does not hold the port for every address, 53 is not a swarm port
    assert a.udp_ports_in_use(tables=(str(udp4), str(udp6))) == [4789, 7946]
    assert a.udp_ports_in_use(tables=(str(udp4),)) == [4789]
    assert a.udp_ports_in_use(ports=(7946,), tables=(str(udp4),)) == []


def test_udp_ports_in_use_without_readable_tables(tmp_path):
    broken = tmp_path / "udp"
    broken.write_text("header only\nnot a socket line\n")
    assert a.udp_ports_in_use(tables=(str(tmp_path / "missing"), str(broken))) == []

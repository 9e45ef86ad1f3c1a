# Copyright (c) 2026 hive.swarm contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of swarm addresses before they reach the Engine.

The Engine silently accepts an advertise address on join that is not this host's (the node then
advertises an address nobody can reach), so we check: the value must be an IP address or an
interface name, optionally with a port, and - when the engine is local (unix socket) - the IP
must be assigned to this host and the interface must exist here.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import socket
import struct
from typing import Any, Optional, Union

from ansible_collections.hive.swarm.plugins.module_utils._swarm.errors import InvalidParameter

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
_IFACE_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,15}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$")


def split_host_port(value: str, option: str) -> tuple[str, Optional[int]]:
    """'10.0.0.1:2377' -> ('10.0.0.1', 2377); '[fe80::1]:2377' / 'eth0' / '::1' handled."""
    text = (value or "").strip()
    if not text:
        raise InvalidParameter(f"{option} is empty.")
    host, port_text = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InvalidParameter(f"{option} {value!r}: missing ']'.")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise InvalidParameter(f"{option} {value!r}: expected ':<port>' after ']'.")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidParameter(f"{option} {value!r}: the port must be a number from 1 to 65535.")
        port = int(port_text)
    return host, port


def parse_ip(host: str) -> Optional[IPAddress]:
    try:
        return ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None


def is_local_ip(ip: IPAddress) -> bool:
    """True if ``ip`` is assigned to this host (binding to it works)."""
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((str(ip), 0))
        return True
    except OSError as err:
        if err.errno in (errno.EADDRNOTAVAIL, errno.EINVAL):
            return False
        raise
    finally:
        sock.close()


def local_interfaces() -> set[str]:
    return {entry[1] for entry in socket.if_nameindex()}


def validate_node_addr(value: Optional[str], option: str, local: bool, allow_unspecified: bool) -> None:
    """An advertise/listen/data-path address: IP or interface name, with optional port.

    ``local``: the engine runs on this host, so IPs and interfaces are checked against it.
    ``allow_unspecified``: 0.0.0.0 / :: is fine (listen), not for advertise/data path.
    """
    if value is None:
        return
    host, _port = split_host_port(value, option)
    ip = parse_ip(host)
    if ip is not None:
        if ip.is_unspecified:
            if not allow_unspecified:
                raise InvalidParameter(f"{option} {value!r}: an unspecified address cannot be advertised.")
            return
        if local and not is_local_ip(ip):
            raise InvalidParameter(
                f"{option} {value!r}: {ip} is not an address of this host.",
                hint="Use an IP address assigned to one of this host's interfaces, or an interface name.",
            )
        return
    if not _IFACE_RE.match(host):
        raise InvalidParameter(f"{option} {value!r}: expected an IP address or an interface name.")
    if local and host not in local_interfaces():
        raise InvalidParameter(
            f"{option} {value!r}: this host has no interface {host!r}.",
            hint=f"Interfaces here: {', '.join(sorted(local_interfaces()))}.",
        )


def validate_remote_addr(value: str, option: str = "remote_addrs") -> str:
    """A manager address to join: host or IP, optional port (default 2377). Returns it normalised."""
    host, port = split_host_port(value, option)
    if parse_ip(host) is None and not _HOST_RE.match(host):
        raise InvalidParameter(f"{option}: {value!r} is not a host name or IP address.")
    ip = parse_ip(host)
    shown = f"[{host}]" if ip is not None and ip.version == 6 else host
    return f"{shown}:{port or 2377}"


_SIOCGIFADDR = 0x8915


def interface_ipv4(name: str) -> Optional[str]:
    """The (primary) IPv4 address of interface ``name`` on this host, None when it has none (Linux)."""
    import fcntl  # pylint: disable=import-outside-toplevel  # POSIX only; imported where it is used

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(sock.fileno(), _SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def default_route_interface(route_table: str = "/proc/net/route") -> Optional[str]:
    """The interface of the IPv4 default route (lowest metric), None when there is none or no such table."""
    try:
        with open(route_table, encoding="ascii") as handle:
            lines = handle.read().splitlines()[1:]
    except OSError:
        return None
    best: Optional[tuple[int, str]] = None
    for line in lines:
        fields = line.split()
        if len(fields) < 8 or fields[1] != "00000000" or fields[7] != "00000000":
            continue
        if not int(fields[3], 16) & 1:  # RTF_UP
            continue
        metric = int(fields[6])
        if best is None or metric < best[0]:
            best = (metric, fields[0])
    return best[1] if best else None


def local_ipv4_addresses(fib_trie: str = "/proc/net/fib_trie") -> list[str]:
    """Every IPv4 address of this host (secondary ones too, which SIOCGIFADDR does not show), loopback aside:
    the ``/32 host LOCAL`` entries of the kernel's local routing table. [] when the table cannot be read."""
    try:
        with open(fib_trie, encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    out: list[str] = []
    last = ""
    for line in lines:
        text = line.strip()
        if text.startswith(("|--", "+--")):
            last = text[3:].split()[0]
        elif text.startswith("/32 host LOCAL") and last and not last.startswith("127."):
            out.append(last)
    return list(dict.fromkeys(out))


# The swarm's UDP ports (gossip, VXLAN data path) that host_ipv4_addresses reports as held on every address.
SWARM_UDP_PORTS = (7946, 4789)
UDP_TABLES = ("/proc/net/udp", "/proc/net/udp6")


def udp_ports_in_use(ports: tuple[int, ...] = SWARM_UDP_PORTS, tables: tuple[str, ...] = UDP_TABLES) -> list[int]:
    """Those of ``ports`` a UDP socket on this host holds on every address (bound to 0.0.0.0 or ::), from the
    kernel's socket tables - kernel sockets included, such as the VXLAN socket a swarm engine leaves behind.
    Nothing else can bind such a port, so nothing can answer a probe of it. A table that cannot be read
    counts as empty."""
    wanted = set(ports)
    held = set()
    for table in tables:
        try:
            with open(table, encoding="ascii") as handle:
                lines = handle.read().splitlines()[1:]
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 2 or ":" not in fields[1]:
                continue
            addr, _colon, port_hex = fields[1].rpartition(":")
            try:
                port = int(port_hex, 16)
            except ValueError:
                continue
            if port in wanted and addr.strip("0") == "":
                held.add(port)
    return sorted(held)


def host_ipv4_addresses(route_table: str = "/proc/net/route", fib_trie: str = "/proc/net/fib_trie") -> dict[str, Any]:
    """This host's interfaces with their IPv4 address, the IPv4 address of the default route's interface,
    every IPv4 address of the host (``addresses``) and the swarm UDP ports already held on every address
    (``udp_in_use``)."""
    interfaces = {}
    for _index, name in socket.if_nameindex():
        addr = interface_ipv4(name)
        if addr:
            interfaces[name] = addr
    default = default_route_interface(route_table)
    return {"interfaces": interfaces, "default_ipv4": interfaces.get(default) if default else None,
            "addresses": local_ipv4_addresses(fib_trie), "udp_in_use": udp_ports_in_use()}


def engine_is_local(docker_host: str) -> bool:
    """True when the module runs on the engine's host (unix socket)."""
    return docker_host.startswith("unix://") or docker_host.startswith("/")

"""IP autodetection methods of calico/node (first-found, can-reach, interface, skip-interface, cidr).

The choice is pure (``choose``) over a list of interfaces; ``local_interfaces`` and
``route_source`` are the small I/O pieces (``ip -j addr``, a UDP connect).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import subprocess
from dataclasses import dataclass

DEFAULT_EXCLUDES = (
    r"^docker.*", r"^cbr.*", r"^dummy.*", r"^podman.*", r"^virbr.*", r"^lxcbr.*", r"^veth.*", r"^lo",
    r"^br-.*", r"^cali.*", r"^tunl.*", r"^flannel.*", r"^kube-ipvs.*", r"^cni.*", r"^vxlan\.calico.*",
    r"^vxlan-v6\.calico.*", r"^wireguard\.cali.*", r"^wg-v6\.cali.*", r"^nodelocaldns.*",
)


class AutodetectError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Interface:
    name: str
    addresses: tuple[str, ...]  # "10.0.0.5/24" style, in kernel order


def local_interfaces() -> list[Interface]:
    """Interfaces of the current network namespace with their addresses."""
    out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, text=True, check=True).stdout
    result = []
    for link in json.loads(out or "[]"):
        addrs = tuple(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", ())
                      if a.get("family") in ("inet", "inet6"))
        result.append(Interface(link["ifname"], addrs))
    return result


def route_source(dest: str) -> str:
    """The source address the kernel picks to reach ``dest`` (no packet is sent)."""
    infos = socket.getaddrinfo(dest, 80, type=socket.SOCK_DGRAM)
    if not infos:
        raise AutodetectError(f"cannot resolve {dest}")
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect(addr)
        return str(sock.getsockname()[0])


def _usable(addr: str, version: int) -> bool:
    """Go's IsGlobalUnicast: not loopback, link-local, multicast or unspecified."""
    ip = ipaddress.ip_interface(addr).ip
    return ip.version == version and not (
        ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified)


def _first(interfaces: list[Interface], version: int, include: list[str] | None,
           exclude: list[str]) -> str | None:
    for iface in interfaces:
        if include is not None and not any(re.match(p, iface.name) for p in include):
            continue
        if any(re.match(p, iface.name) for p in exclude):
            continue
        for addr in iface.addresses:
            if _usable(addr, version):
                return addr
    return None


def with_prefix(ip: str, interfaces: list[Interface]) -> str:
    """``ip`` with the prefix length of the local interface that has it (else /32 or /128)."""
    target = ipaddress.ip_address(ip)
    for iface in interfaces:
        for addr in iface.addresses:
            if ipaddress.ip_interface(addr).ip == target:
                return addr
    return f"{ip}/{target.max_prefixlen}"


def choose(method: str, version: int, interfaces: list[Interface],
           reach: object = None) -> str:
    """Apply an autodetection method; returns ``address/prefix``. ``reach``: can-reach resolver."""
    method = (method or "first-found").strip()
    if method == "first-found":
        found = _first(interfaces, version, None, list(DEFAULT_EXCLUDES))
    elif method.startswith("interface="):
        found = _first(interfaces, version, method.split("=", 1)[1].split(","), [])
    elif method.startswith("skip-interface="):
        extra = method.split("=", 1)[1].split(",")
        found = _first(interfaces, version, None, [*DEFAULT_EXCLUDES, *extra])
    elif method.startswith("cidr="):
        nets = [ipaddress.ip_network(c.strip(), strict=False) for c in method.split("=", 1)[1].split(",")]
        found = None
        for iface in interfaces:
            for addr in iface.addresses:
                ip = ipaddress.ip_interface(addr).ip
                if found is None and any(ip.version == n.version and ip in n for n in nets):
                    found = addr
    elif method.startswith("can-reach="):
        dest = method.split("=", 1)[1]
        resolver = reach if callable(reach) else route_source
        try:
            src = resolver(dest)
        except OSError as exc:
            raise AutodetectError(f"can-reach={dest}: {exc}") from exc
        found = with_prefix(src, interfaces) if ipaddress.ip_address(src).version == version else None
    else:
        raise AutodetectError(f"Invalid IP autodetection method: {method}")
    if found is None:
        raise AutodetectError(f"Failed to autodetect an IPv{version} address using method {method}")
    return found

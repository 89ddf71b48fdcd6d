"""Pure text side of the IPSets driver: member canonical forms and ``ipset save`` parsing.

Members are compared with what ``ipset save`` prints, so desired members are put in the same
canonical form first (``10.0.0.1/32`` in a hash:net set is shown as ``10.0.0.1``, IPv6 in
compressed lower case, host bits cleared). No I/O here.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

SET_TYPES = ("hash:ip", "hash:net", "hash:ip,port")
MAX_NAME_LEN = 31
DEFAULT_MAX_SIZE = 1048576

_V4_ADDR = re.compile(r"^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")
_PORT_RE = re.compile(r"^(tcp|udp|sctp):(\d+)$")


class MemberError(ValueError):
    pass


def _addr(text: str, version: int) -> str:
    if version == 4 and _V4_ADDR.match(text):
        return text
    try:
        ip = ipaddress.ip_address(text)
    except ValueError as exc:
        raise MemberError(f"bad IP address {text!r}") from exc
    if ip.version != version:
        raise MemberError(f"{text!r} is not an IPv{version} address")
    return str(ip)


def _net(text: str, version: int) -> str:
    if "/" not in text:
        return _addr(text, version)
    addr, _, plen = text.partition("/")
    full = 32 if version == 4 else 128
    if plen == str(full):
        return _addr(addr, version)
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise MemberError(f"bad CIDR {text!r}") from exc
    if net.version != version:
        raise MemberError(f"{text!r} is not an IPv{version} CIDR")
    if net.prefixlen == full:
        return str(net.network_address)
    if net.prefixlen == 0:
        raise MemberError(f"{text!r}: ipset hash:net cannot hold a /0")
    return str(net)


def canonical_member(set_type: str, version: int, member: str) -> str:
    """``member`` as ``ipset save`` would print it; raises MemberError for invalid input."""
    if set_type == "hash:net":
        return _net(member.strip(), version)
    if set_type == "hash:ip":
        return _addr(member.strip(), version)
    if set_type == "hash:ip,port":
        ip, sep, port = member.strip().partition(",")
        m = _PORT_RE.match(port.lower())
        if not sep or not m:
            raise MemberError(f"bad ip,port member {member!r} (want e.g. 10.0.0.1,tcp:8080)")
        return f"{_addr(ip, version)},{m.group(1)}:{int(m.group(2))}"
    raise MemberError(f"unsupported ipset type {set_type!r}")


@dataclass(slots=True)
class SavedSet:
    name: str
    set_type: str
    family: str
    max_size: int
    members: set[str] = field(default_factory=set)


def parse_ipset_save(text: str, prefixes: tuple[str, ...]) -> dict[str, SavedSet]:
    """Sets whose names start with one of ``prefixes``, from ``ipset save`` output."""
    sets: dict[str, SavedSet] = {}
    for line in text.splitlines():
        if line.startswith("add "):
            parts = line.split(" ", 3)
            s = sets.get(parts[1])
            if s is not None:
                s.members.add(parts[2])
        elif line.startswith("create "):
            parts = line.split()
            name = parts[1]
            if not name.startswith(prefixes):
                continue
            opts = dict(zip(parts[3::2], parts[4::2], strict=False))
            sets[name] = SavedSet(name, parts[2], opts.get("family", ""),
                                  int(opts.get("maxelem", DEFAULT_MAX_SIZE)))
    return sets

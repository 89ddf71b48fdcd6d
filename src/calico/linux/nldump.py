"""Minimal rtnetlink dumps of links and addresses, decoding only the fields the interface monitor uses.

Why: pyroute2 decodes every attribute of every link and address into nested objects; at start of
day with hundreds of interfaces that is ~0.1 s of Felix's single-threaded start-up. The monitor
needs only (index, name, flags, operstate) per link and (index, address) per address, so this
module asks the kernel for the same dumps over a plain netlink socket and reads just those.
Decoding (``parse_*``) is pure; ``dump_links``/``dump_addrs`` do the socket I/O.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from dataclasses import dataclass

NETLINK_ROUTE = 0
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR = 16, 18, 20, 22
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
IFLA_IFNAME, IFLA_OPERSTATE = 3, 16
IFA_ADDRESS, IFA_LOCAL = 1, 2
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000

_NLMSGHDR = struct.Struct("=IHHII")
_RTATTR = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")


class NetlinkDumpError(OSError):
    """The kernel answered a dump with an error."""


@dataclass(frozen=True, slots=True)
class Link:
    index: int
    name: str
    flags: int
    operstate: str | None


@dataclass(frozen=True, slots=True)
class Addr:
    index: int
    address: str


def _attrs(buf: bytes, start: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while start + 4 <= end:
        length, kind = _RTATTR.unpack_from(buf, start)
        if length < 4:
            break
        out[kind & 0x3FFF] = buf[start + 4:start + length]
        start += (length + 3) & ~3
    return out


def _messages(buf: bytes) -> list[tuple[int, int, int]]:
    """(type, payload start, message end) of each netlink message in one datagram."""
    out = []
    off = 0
    while off + _NLMSGHDR.size <= len(buf):
        length, kind, _flags, _seq, _pid = _NLMSGHDR.unpack_from(buf, off)
        if length < _NLMSGHDR.size:
            break
        out.append((kind, off + _NLMSGHDR.size, off + length))
        off += (length + 3) & ~3
    return out


def parse_link(buf: bytes, start: int, end: int) -> Link:
    """One RTM_NEWLINK payload (ifinfomsg + attributes)."""
    _family, _type, index, flags, _change = _IFINFO.unpack_from(buf, start)
    attrs = _attrs(buf, start + _IFINFO.size, end)
    name = attrs.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode("utf-8", "replace")
    op = attrs.get(IFLA_OPERSTATE)
    operstate = None if not op else (OPERSTATES[op[0]] if op[0] < len(OPERSTATES) else "UNKNOWN")
    return Link(index, name, flags, operstate)


def parse_addr(buf: bytes, start: int, end: int) -> Addr | None:
    """One RTM_NEWADDR payload; IFA_ADDRESS, else IFA_LOCAL (as pyroute2's ``address or local``)."""
    family, _plen, _flags, _scope, index = _IFADDR.unpack_from(buf, start)
    attrs = _attrs(buf, start + _IFADDR.size, end)
    raw = attrs.get(IFA_ADDRESS) or attrs.get(IFA_LOCAL)
    if not raw or family not in (socket.AF_INET, socket.AF_INET6):
        return None
    return Addr(index, socket.inet_ntop(family, raw))


def _open(netns: str | None) -> socket.socket:
    """A NETLINK_ROUTE socket, created inside ``netns`` (name under /run/netns, or a path) when
    given: a throwaway thread enters the namespace, so the process's own namespace never changes."""
    if not netns:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE)
    import ctypes  # only for namespaced use (tests); setns is not in Python 3.11's os module

    path = netns if netns.startswith("/") else os.path.join(NETNS_DIR, netns)
    result: list[socket.socket | BaseException] = []

    def enter() -> None:
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({path}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_ROUTE))
        except BaseException as exc:  # handed to the caller below
            result.append(exc)

    t = threading.Thread(target=enter, name="nldump-setns")
    t.start()
    t.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _dump(netns: str | None, msg_type: int, body: bytes, want: int) -> list[tuple[bytes, int, int]]:
    with _open(netns) as sock:
        sock.settimeout(10.0)  # the kernel answers at once; a hang surfaces as OSError (monitor retries)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((0, 0))
        seq = 1
        sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, 0)
                  + body)
        out: list[tuple[bytes, int, int]] = []
        while True:
            buf = sock.recv(1 << 18)
            for kind, start, end in _messages(buf):
                if kind == NLMSG_DONE:
                    return out
                if kind == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", buf, start)
                    if code:
                        raise NetlinkDumpError(-code, f"netlink dump failed: {os.strerror(-code)}")
                    continue
                if kind == want:
                    out.append((buf, start, end))


def dump_links(netns: str | None = None) -> list[Link]:
    return [parse_link(*m) for m in _dump(netns, RTM_GETLINK, _IFINFO.pack(0, 0, 0, 0, 0), RTM_NEWLINK)]


def dump_addrs(netns: str | None = None) -> list[Addr]:
    addrs = (parse_addr(*m) for m in _dump(netns, RTM_GETADDR, _IFADDR.pack(0, 0, 0, 0, 0), RTM_NEWADDR))
    return [a for a in addrs if a is not None]

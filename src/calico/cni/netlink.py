"""Just enough rtnetlink to carry out the dataplane's ``ip``-style command lines in-process.

Why: every ``ip`` process the plugin starts (exec, dynamic linking, and ``ip -n``'s namespace
switch with a sysfs remount) is several milliseconds of the pod's start-up, and the plugin's whole
kernel job is a handful of messages. The commands stay written the way ``ip -batch`` reads them
(see ``dataplane.container_batch``): they are the plan, the log and the error message, and this
module executes that small subset of the syntax over a NETLINK_ROUTE socket:

    link add NAME address MAC mtu N type veth peer name PEER address MAC mtu N netns ANY
    link set NAME up          link del NAME
    addr add CIDR dev NAME [nodad]
    route add CIDR|default [via GATEWAY] dev NAME [scope link]

Failures read as ``ip`` prints them (``RTNETLINK answers: File exists``).
"""

from __future__ import annotations

import _socket
import functools
import os
import struct
from typing import Any

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
RTM_NEWLINK, RTM_DELLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 20, 24
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_F_NODAD = 1, 2, 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY = 1, 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RTN_UNICAST = 254, 3, 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
IFF_UP = 0x1
CLONE_NEWNET = 0x40000000


class CommandError(Exception):
    """A command line this module does not understand (a programming error, not a kernel answer)."""


def _attr(kind: int, data: bytes) -> bytes:
    size = 4 + len(data)
    return struct.pack("=HH", size, kind) + data + b"\0" * (-size % 4)


def _ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    return struct.pack("=BxHiII", 0, 0, index, flags, change)


def _family_and_bytes(ip: str) -> tuple[int, bytes]:
    family = _socket.AF_INET6 if ":" in ip else _socket.AF_INET
    return family, _socket.inet_pton(family, ip)


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


class Rtnl:
    """One NETLINK_ROUTE socket, bound to the network namespace current when it was opened."""

    def __init__(self) -> None:
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(self, msg_type: int, flags: int, payload: bytes) -> None:
        """Send one request and wait for its acknowledgement; a kernel error raises OSError."""
        self.seq += 1
        self.sock.send(struct.pack("=LHHLL", 16 + len(payload), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK,
                                   self.seq, 0) + payload)
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, seq, _ = struct.unpack_from("=LHHLL", data, offset)
                if seq == self.seq and kind == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", data, offset + 16)[0]
                    if err:
                        raise OSError(err, f"RTNETLINK answers: {os.strerror(err)}")
                    return
                offset += max(length + (-length % 4), 16)

    # ------------------------------------------------------------------ the commands
    def run(self, line: str, peer_netns_fd: int = -1) -> None:
        """Carry out one command line (syntax in the module docstring)."""
        words = line.split()
        head = words[:2]
        if head == ["link", "add"]:
            self._veth(words, peer_netns_fd)
        elif head == ["link", "set"] and words[3:] == ["up"]:
            self.request(RTM_NEWLINK, 0, _ifinfo(_index(words[2]), IFF_UP, IFF_UP))
        elif head == ["link", "del"]:
            self.request(RTM_DELLINK, 0, _ifinfo() + _attr(IFLA_IFNAME, words[2].encode() + b"\0"))
        elif head == ["addr", "add"]:
            self._addr(words)
        elif head == ["route", "add"]:
            self._route(words)
        else:
            raise CommandError(f"unsupported command {line!r}")

    def _veth(self, words: list[str], peer_netns_fd: int) -> None:
        opts = _options(words[3:words.index("peer")])
        peer = _options(words[words.index("peer") + 1:])
        if opts.get("type") != "veth" or "name" not in peer:
            raise CommandError(f"unsupported link: {' '.join(words)!r}")

        def link_attrs(name: str, o: dict[str, str]) -> bytes:
            out = _attr(IFLA_IFNAME, name.encode() + b"\0")
            if "address" in o:
                out += _attr(IFLA_ADDRESS, _mac(o["address"]))
            if "mtu" in o:
                out += _attr(IFLA_MTU, struct.pack("=I", int(o["mtu"])))
            return out

        peer_body = _ifinfo() + link_attrs(peer["name"], peer)
        if "netns" in peer:
            if peer_netns_fd < 0:
                raise CommandError("a peer namespace was named but no namespace file was given")
            peer_body += _attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd))
        info = _attr(IFLA_INFO_KIND, b"veth") + _attr(IFLA_INFO_DATA, _attr(VETH_INFO_PEER, peer_body))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     _ifinfo() + link_attrs(words[2], opts) + _attr(IFLA_LINKINFO, info))

    def _addr(self, words: list[str]) -> None:
        ip, _, plen = words[2].partition("/")
        family, raw = _family_and_bytes(ip)
        prefix = int(plen) if plen else len(raw) * 8
        flags = IFA_F_NODAD if "nodad" in words[3:] else 0
        body = struct.pack("=BBBBI", family, prefix, flags, RT_SCOPE_UNIVERSE, _index(_options(words[3:])["dev"]))
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body + _attr(IFA_LOCAL, raw) + _attr(IFA_ADDRESS, raw))

    def _route(self, words: list[str]) -> None:
        opts = _options(words[3:])
        gateway = opts.get("via", "")
        attrs = b""
        if words[2] == "default":
            family = _family_and_bytes(gateway)[0] if gateway else _socket.AF_INET
            prefix = 0
        else:
            ip, _, plen = words[2].partition("/")
            family, raw = _family_and_bytes(ip)
            prefix = int(plen) if plen else len(raw) * 8
            attrs += _attr(RTA_DST, raw)
        if gateway:
            attrs += _attr(RTA_GATEWAY, _family_and_bytes(gateway)[1])
        attrs += _attr(RTA_OIF, struct.pack("=I", _index(opts["dev"])))
        scope = RT_SCOPE_LINK if opts.get("scope") == "link" else RT_SCOPE_UNIVERSE
        body = struct.pack("=BBBBBBBBI", family, prefix, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0)
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body + attrs)


def _options(words: list[str]) -> dict[str, str]:
    """``key value`` pairs; a lone trailing flag such as ``nodad`` maps to ''."""
    out = {}
    i = 0
    while i < len(words):
        if words[i] == "nodad":
            out["nodad"] = ""
            i += 1
            continue
        out[words[i]] = words[i + 1] if i + 1 < len(words) else ""
        i += 2
    return out


def _index(name: str) -> int:
    try:
        return _socket.if_nametoindex(name)
    except OSError:
        raise OSError(19, f'Cannot find device "{name}"') from None


def run_lines(lines: list[str], peer_netns_fd: int = -1) -> tuple[int, str]:
    """Run commands in order on a fresh socket: (0, '') or (failed line number, error text), as ``ip -batch``."""
    with Rtnl() as nl:
        for number, line in enumerate(lines, 1):
            try:
                nl.run(line, peer_netns_fd)
            except OSError as exc:
                return number, exc.strerror or str(exc)
    return 0, ""


def setns(fd: int) -> None:
    """Move this (single-threaded) process into the network namespace open at ``fd``."""
    setter = getattr(os, "setns", None)  # Python 3.12+
    if setter is not None:
        setter(fd, CLONE_NEWNET)
        return
    import ctypes

    if _libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def preload() -> None:
    """Import and load what ``setns`` needs now, on the calling thread.

    A thread that would do it itself takes turns with the main thread's imports for the
    interpreter lock, and reaches the kernel late.
    """
    if not hasattr(os, "setns"):
        _libc()


@functools.cache
def _libc() -> Any:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)

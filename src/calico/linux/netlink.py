"""The project's one rtnetlink module: message encoding/decoding (pure) and a small socket layer.

Why not pyroute2: its import alone is ~70 ms and it decodes every attribute of every message into
nested objects, all on Felix's single-threaded start-up path and the CNI plugin's per-pod path.
Calico needs a handful of messages, so this module builds and reads exactly those:

* dumps: links (index, name, flags, operstate), addresses, routes of one table, neighbours;
* route replace/delete (protocol, table, scope, type, onlink), neighbour replace/delete;
* a multicast subscription socket for link/address events (non-blocking, for ``loop.add_reader``);
* the CNI plugin's ``ip``-style command lines (:meth:`Rtnl.run`, :func:`run_lines`):

      link add NAME address MAC mtu N type veth peer name PEER address MAC mtu N netns ANY
      link set NAME up          link del NAME
      addr add CIDR dev NAME [nodad]
      route add CIDR|default [via GATEWAY] dev NAME [scope link]

* entering a network namespace (:func:`setns` for a single-threaded process, ``netns=`` on
  :class:`Rtnl` / :func:`subscribe` to open a socket inside one without moving the process).

Kernel errors raise :class:`NetlinkError` (an OSError) reading as ``ip`` prints them
(``RTNETLINK answers: File exists``). Imports are kept to ``_socket``/``struct``/``os`` because the
CNI plugin's start-up time counts every module.
"""

from __future__ import annotations

import _socket
import os
import struct

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the CNI plugin counts every module)
if TYPE_CHECKING:
    import ctypes
    from collections.abc import Iterator

NETLINK_ROUTE = 0
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x100, 0x200, 0x400, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR, RTM_DELADDR, RTM_GETADDR = 20, 21, 22
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTM_NEWNEIGH, RTM_DELNEIGH, RTM_GETNEIGH = 28, 29, 30
RTMGRP_LINK, RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_OPERSTATE, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 16, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_F_NODAD = 1, 2, 0x02
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_TABLE = 1, 4, 5, 15
NDA_DST, NDA_LLADDR = 1, 2
RT_TABLE_UNSPEC, RT_TABLE_MAIN = 0, 254
RTPROT_BOOT = 3
RTN_UNICAST = 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK = 0, 253
RTNH_F_ONLINK, RTM_F_CLONED = 0x4, 0x200
NUD_PERMANENT = 0x80
IFF_UP = 0x1
OPERSTATES = ("UNKNOWN", "NOTPRESENT", "DOWN", "LOWERLAYERDOWN", "TESTING", "DORMANT", "UP")
NETNS_DIR = "/run/netns"
CLONE_NEWNET = 0x40000000
AF_INET, AF_INET6 = _socket.AF_INET, _socket.AF_INET6

_NLMSGHDR = struct.Struct("=IHHII")
_RTATTR = struct.Struct("=HH")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_U32 = struct.Struct("=I")


class NetlinkError(OSError):
    """The kernel refused a request; ``code`` is the errno (as pyroute2's NetlinkError)."""

    @property
    def code(self) -> int:
        return self.errno or 0


class CommandError(Exception):
    """A command line this module does not understand (a programming error, not a kernel answer)."""


# --------------------------------------------------------------------------- records (decoded)
class Link:
    """One interface: what the monitor and the route table use."""

    __slots__ = ("flags", "index", "name", "operstate")

    def __init__(self, index: int, name: str, flags: int, operstate: str | None) -> None:
        self.index, self.name, self.flags, self.operstate = index, name, flags, operstate

    @property
    def up(self) -> bool:
        """Oper-up as Felix means it: admin up and carrier (UNKNOWN for devices without one)."""
        return bool(self.flags & IFF_UP) and self.operstate in ("UP", "UNKNOWN")

    def _key(self) -> tuple[object, ...]:
        return (self.index, self.name, self.flags, self.operstate)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Link) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Link(index={self.index}, name={self.name!r}, flags={self.flags:#x}, operstate={self.operstate!r})"


class Addr:
    __slots__ = ("address", "index", "prefixlen")

    def __init__(self, index: int, address: str, prefixlen: int = 0) -> None:
        self.index, self.address, self.prefixlen = index, address, prefixlen

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Addr) and (self.index, self.address) == (other.index, other.address)

    def __hash__(self) -> int:
        return hash((self.index, self.address))

    def __repr__(self) -> str:
        return f"Addr(index={self.index}, address={self.address!r}, prefixlen={self.prefixlen})"


class Route:
    """One kernel route as the route table compares them; ``dst`` is a CIDR (``0.0.0.0/0`` for default)."""

    __slots__ = ("dst", "family", "flags", "gateway", "oif", "protocol", "scope", "table", "type")

    def __init__(self, family: int, dst: str, table: int, protocol: int, scope: int, type: int, flags: int,
                 oif: int | None, gateway: str | None) -> None:
        self.family, self.dst, self.table, self.protocol = family, dst, table, protocol
        self.scope, self.type, self.flags, self.oif, self.gateway = scope, type, flags, oif, gateway

    def __repr__(self) -> str:
        return (f"Route({self.dst} table {self.table} proto {self.protocol} scope {self.scope} type {self.type} "
                f"oif {self.oif} via {self.gateway} flags {self.flags:#x})")


class Neigh:
    __slots__ = ("dst", "family", "ifindex", "lladdr", "state")

    def __init__(self, family: int, ifindex: int, dst: str | None, lladdr: str | None, state: int) -> None:
        self.family, self.ifindex, self.dst, self.lladdr, self.state = family, ifindex, dst, lladdr, state

    def __repr__(self) -> str:
        return f"Neigh({self.dst} lladdr {self.lladdr} ifindex {self.ifindex} state {self.state:#x})"


# --------------------------------------------------------------------------- encoding (pure)
def attr(kind: int, data: bytes) -> bytes:
    size = 4 + len(data)
    return _RTATTR.pack(size, kind) + data + b"\0" * (-size % 4)


def message(msg_type: int, flags: int, seq: int, payload: bytes) -> bytes:
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(payload), msg_type, flags, seq, 0) + payload


def ifinfo(index: int = 0, flags: int = 0, change: int = 0, family: int = 0) -> bytes:
    return _IFINFO.pack(family, 0, index, flags, change)


def ip_bytes(ip: str) -> tuple[int, bytes]:
    family = AF_INET6 if ":" in ip else AF_INET
    return family, _socket.inet_pton(family, ip)


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def route_body(dst: str, *, table: int = RT_TABLE_MAIN, protocol: int = 0, scope: int = RT_SCOPE_UNIVERSE,
               route_type: int = RTN_UNICAST, oif: int | None = None, gateway: str | None = None,
               onlink: bool = False) -> bytes:
    """rtmsg + attributes for ``dst`` (a CIDR, or 'default' with a gateway naming the family)."""
    attrs = b""
    if dst == "default":
        family = ip_bytes(gateway)[0] if gateway else AF_INET
        plen = 0
    else:
        ip, _, plen_text = dst.partition("/")
        family, raw = ip_bytes(ip)
        plen = int(plen_text) if plen_text else len(raw) * 8
        if plen:
            attrs += attr(RTA_DST, raw)
    attrs += attr(RTA_TABLE, _U32.pack(table))
    if oif is not None:
        attrs += attr(RTA_OIF, _U32.pack(oif))
    if gateway:
        attrs += attr(RTA_GATEWAY, ip_bytes(gateway)[1])
    return _RTMSG.pack(family, plen, 0, 0, table if table < 256 else RT_TABLE_UNSPEC, protocol, scope,
                       route_type, RTNH_F_ONLINK if onlink else 0) + attrs


def neigh_body(ip: str, ifindex: int, *, lladdr: str | None = None, state: int = NUD_PERMANENT) -> bytes:
    family, raw = ip_bytes(ip)
    body = _NDMSG.pack(family, ifindex, state, 0, 0) + attr(NDA_DST, raw)
    if lladdr:
        body += attr(NDA_LLADDR, mac_bytes(lladdr))
    return body


# --------------------------------------------------------------------------- decoding (pure)
def messages(buf: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(type, seq, payload start, message end) of each netlink message in one datagram."""
    off = 0
    while off + _NLMSGHDR.size <= len(buf):
        length, kind, _flags, seq, _pid = _NLMSGHDR.unpack_from(buf, off)
        if length < _NLMSGHDR.size:
            break
        yield kind, seq, off + _NLMSGHDR.size, off + length
        off += (length + 3) & ~3


def attrs(buf: bytes, start: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while start + 4 <= end:
        length, kind = _RTATTR.unpack_from(buf, start)
        if length < 4:
            break
        out[kind & 0x3FFF] = buf[start + 4:start + length]
        start += (length + 3) & ~3
    return out


def error_code(buf: bytes, start: int) -> int:
    """The errno of an NLMSG_ERROR payload (0 = an acknowledgement)."""
    code: int = -struct.unpack_from("=i", buf, start)[0]
    return code


def _ip(family: int, raw: bytes | None) -> str | None:
    return _socket.inet_ntop(family, raw) if raw else None


def _mac(raw: bytes | None) -> str | None:
    return ":".join(f"{b:02x}" for b in raw) if raw else None


def parse_link(buf: bytes, start: int, end: int) -> Link:
    """One RTM_NEWLINK/RTM_DELLINK payload (ifinfomsg + attributes)."""
    _family, _type, index, flags, _change = _IFINFO.unpack_from(buf, start)
    a = attrs(buf, start + _IFINFO.size, end)
    name = a.get(IFLA_IFNAME, b"").split(b"\0", 1)[0].decode("utf-8", "replace")
    op = a.get(IFLA_OPERSTATE)
    operstate = None if not op else (OPERSTATES[op[0]] if op[0] < len(OPERSTATES) else "UNKNOWN")
    return Link(index, name, flags, operstate)


def parse_addr(buf: bytes, start: int, end: int) -> Addr | None:
    """One RTM_NEWADDR/RTM_DELADDR payload; IFA_ADDRESS, else IFA_LOCAL (as pyroute2's ``address or local``)."""
    family, plen, _flags, _scope, index = _IFADDR.unpack_from(buf, start)
    a = attrs(buf, start + _IFADDR.size, end)
    raw = a.get(IFA_ADDRESS) or a.get(IFA_LOCAL)
    if not raw or family not in (AF_INET, AF_INET6):
        return None
    return Addr(index, _socket.inet_ntop(family, raw), plen)


def parse_route(buf: bytes, start: int, end: int) -> Route:
    family, plen, _src_len, _tos, table, proto, scope, rtype, flags = _RTMSG.unpack_from(buf, start)
    a = attrs(buf, start + _RTMSG.size, end)
    if RTA_TABLE in a:
        table = _U32.unpack(a[RTA_TABLE][:4])[0]
    raw = a.get(RTA_DST)
    dst = f"{_socket.inet_ntop(family, raw)}/{plen}" if raw else ("0.0.0.0/0" if family == AF_INET else "::/0")
    oif = _U32.unpack(a[RTA_OIF][:4])[0] if RTA_OIF in a else None
    return Route(family, dst, table, proto, scope, rtype, flags, oif, _ip(family, a.get(RTA_GATEWAY)))


def parse_neigh(buf: bytes, start: int, end: int) -> Neigh:
    family, ifindex, state, _flags, _type = _NDMSG.unpack_from(buf, start)
    a = attrs(buf, start + _NDMSG.size, end)
    dst = a.get(NDA_DST)
    return Neigh(family, ifindex, _ip(family, dst) if dst and len(dst) in (4, 16) else None,
                 _mac(a.get(NDA_LLADDR)), state)


# --------------------------------------------------------------------------- sockets
def setns(fd: int) -> None:
    """Move the calling thread (the process, if single-threaded) into the network namespace open at ``fd``."""
    setter = getattr(os, "setns", None)  # Python 3.12+
    if setter is not None:
        setter(fd, CLONE_NEWNET)
        return
    import ctypes

    if _libc().setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def preload() -> None:
    """Load what :func:`setns` needs now, on the calling thread: a thread that would do it itself
    takes turns with the main thread's imports for the interpreter lock, and reaches the kernel late."""
    if not hasattr(os, "setns"):
        _libc()


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        import ctypes

        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def open_socket(netns: str | None = None, groups: int = 0) -> _socket.socket:
    """A bound NETLINK_ROUTE socket, created inside ``netns`` (a name under /run/netns, or a path)
    when given: a throwaway thread enters the namespace, so the process's own never changes (a
    socket stays in the namespace it was created in)."""
    if not netns:
        return _bound(groups)
    import threading

    path = netns if netns.startswith("/") else os.path.join(NETNS_DIR, netns)
    result: list[_socket.socket | BaseException] = []

    def enter() -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                setns(fd)
            finally:
                os.close(fd)
            result.append(_bound(groups))
        except BaseException as exc:  # handed to the caller below
            result.append(exc)

    t = threading.Thread(target=enter, name="netlink-setns")
    t.start()
    t.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def _bound(groups: int) -> _socket.socket:
    sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, NETLINK_ROUTE)
    try:
        if groups:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 4 << 20)
        sock.bind((0, groups))
    except BaseException:
        sock.close()
        raise
    return sock


def subscribe(netns: str | None = None,
              groups: int = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR) -> _socket.socket:
    """A non-blocking socket receiving link/address events (read it from ``loop.add_reader``).
    A burst the kernel could not queue surfaces as OSError(ENOBUFS) from ``recv``: re-dump then."""
    sock = open_socket(netns, groups)
    sock.setblocking(False)
    return sock


class Rtnl:
    """One NETLINK_ROUTE request socket (in ``netns`` if given, else the current namespace)."""

    def __init__(self, netns: str | None = None) -> None:
        self.sock = open_socket(netns)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Rtnl:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------
    def request(self, msg_type: int, flags: int, payload: bytes) -> None:
        """Send one request and wait for its acknowledgement; a kernel error raises NetlinkError."""
        self.seq += 1
        seq = self.seq
        self.sock.send(message(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, payload))
        while True:
            data = self.sock.recv(65536)
            for kind, mseq, start, _end in messages(data):
                if mseq == seq and kind == NLMSG_ERROR:
                    err = error_code(data, start)
                    if err:
                        raise NetlinkError(err, f"RTNETLINK answers: {os.strerror(err)}")
                    return

    def dump(self, msg_type: int, body: bytes) -> Iterator[tuple[bytes, int, int, int]]:
        """(datagram, type, payload start, end) of every message answering a dump request."""
        self.seq += 1
        seq = self.seq
        self.sock.send(message(msg_type, NLM_F_REQUEST | NLM_F_DUMP, seq, body))
        while True:
            data = self.sock.recv(1 << 20)
            for kind, mseq, start, end in messages(data):
                if mseq != seq:
                    continue
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    err = error_code(data, start)
                    if err:
                        raise NetlinkError(err, f"netlink dump failed: {os.strerror(err)}")
                    continue
                yield data, kind, start, end

    # --- dumps ---------------------------------------------------------------------------------
    def links(self) -> list[Link]:
        return [parse_link(d, s, e) for d, k, s, e in self.dump(RTM_GETLINK, ifinfo()) if k == RTM_NEWLINK]

    def addrs(self, family: int = 0) -> list[Addr]:
        out = (parse_addr(d, s, e) for d, k, s, e in self.dump(RTM_GETADDR, _IFADDR.pack(family, 0, 0, 0, 0))
               if k == RTM_NEWADDR)
        return [a for a in out if a is not None]

    def routes(self, family: int, table: int | None = None) -> list[Route]:
        """Routes of one family (cloned/cached entries left out), of ``table`` if given."""
        body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
        out = []
        for d, k, s, e in self.dump(RTM_GETROUTE, body):
            if k != RTM_NEWROUTE:
                continue
            r = parse_route(d, s, e)
            if r.flags & RTM_F_CLONED or (table is not None and r.table != table):
                continue
            out.append(r)
        return out

    def neighbours(self, family: int, ifindex: int = 0) -> list[Neigh]:
        body = _NDMSG.pack(family, ifindex, 0, 0, 0)
        out = [parse_neigh(d, s, e) for d, k, s, e in self.dump(RTM_GETNEIGH, body) if k == RTM_NEWNEIGH]
        return [n for n in out if not ifindex or n.ifindex == ifindex]

    def get_link(self, name: str) -> Link | None:
        """The interface called ``name`` in this socket's namespace, or None."""
        self.seq += 1
        seq = self.seq
        self.sock.send(message(RTM_GETLINK, NLM_F_REQUEST, seq,
                               ifinfo() + attr(IFLA_IFNAME, name.encode() + b"\0")))
        while True:
            data = self.sock.recv(65536)
            for kind, mseq, start, end in messages(data):
                if mseq != seq:
                    continue
                if kind == NLMSG_ERROR:
                    err = error_code(data, start)
                    if err in (19, 2):  # ENODEV / ENOENT
                        return None
                    raise NetlinkError(err, f"RTNETLINK answers: {os.strerror(err)}")
                if kind == RTM_NEWLINK:
                    return parse_link(data, start, end)

    # --- routes and neighbours -------------------------------------------------------------------
    def route_replace(self, dst: str, **kw: object) -> None:
        """``ip route replace``: keyword arguments as :func:`route_body`."""
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, route_body(dst, **kw))  # type: ignore[arg-type]

    def route_del(self, dst: str, **kw: object) -> None:
        self.request(RTM_DELROUTE, 0, route_body(dst, **kw))  # type: ignore[arg-type]

    def neigh_replace(self, ip: str, ifindex: int, lladdr: str, state: int = NUD_PERMANENT) -> None:
        self.request(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, neigh_body(ip, ifindex, lladdr=lladdr, state=state))

    def neigh_del(self, ip: str, ifindex: int) -> None:
        self.request(RTM_DELNEIGH, 0, neigh_body(ip, ifindex, state=0))

    # --- the CNI plugin's command lines ----------------------------------------------------------
    def run(self, line: str, peer_netns_fd: int = -1) -> None:
        """Carry out one command line (syntax in the module docstring)."""
        words = line.split()
        head = words[:2]
        if head == ["link", "add"]:
            self._veth(words, peer_netns_fd)
        elif head == ["link", "set"] and words[3:] == ["up"]:
            self.request(RTM_NEWLINK, 0, ifinfo(_index(words[2]), IFF_UP, IFF_UP))
        elif head == ["link", "del"]:
            self.request(RTM_DELLINK, 0, ifinfo() + attr(IFLA_IFNAME, words[2].encode() + b"\0"))
        elif head == ["addr", "add"]:
            self._addr(words)
        elif head == ["route", "add"]:
            opts = _options(words[3:])
            gateway = opts.get("via") or None
            self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, route_body(
                words[2], protocol=RTPROT_BOOT, oif=_index(opts["dev"]), gateway=gateway,
                scope=RT_SCOPE_LINK if opts.get("scope") == "link" else RT_SCOPE_UNIVERSE))
        else:
            raise CommandError(f"unsupported command {line!r}")

    def _veth(self, words: list[str], peer_netns_fd: int) -> None:
        opts = _options(words[3:words.index("peer")])
        peer = _options(words[words.index("peer") + 1:])
        if opts.get("type") != "veth" or "name" not in peer:
            raise CommandError(f"unsupported link: {' '.join(words)!r}")

        def link_attrs(name: str, o: dict[str, str]) -> bytes:
            out = attr(IFLA_IFNAME, name.encode() + b"\0")
            if "address" in o:
                out += attr(IFLA_ADDRESS, mac_bytes(o["address"]))
            if "mtu" in o:
                out += attr(IFLA_MTU, _U32.pack(int(o["mtu"])))
            return out

        peer_body = ifinfo() + link_attrs(peer["name"], peer)
        if "netns" in peer:
            if peer_netns_fd < 0:
                raise CommandError("a peer namespace was named but no namespace file was given")
            peer_body += attr(IFLA_NET_NS_FD, _U32.pack(peer_netns_fd))
        info = attr(IFLA_INFO_KIND, b"veth") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_body))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     ifinfo() + link_attrs(words[2], opts) + attr(IFLA_LINKINFO, info))

    def _addr(self, words: list[str]) -> None:
        ip, _, plen = words[2].partition("/")
        family, raw = ip_bytes(ip)
        prefix = int(plen) if plen else len(raw) * 8
        flags = IFA_F_NODAD if "nodad" in words[3:] else 0
        body = _IFADDR.pack(family, prefix, flags, RT_SCOPE_UNIVERSE, _index(_options(words[3:])["dev"]))
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body + attr(IFA_LOCAL, raw) + attr(IFA_ADDRESS, raw))


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


def dump_links(netns: str | None = None) -> list[Link]:
    with Rtnl(netns) as nl:
        return nl.links()


def dump_addrs(netns: str | None = None) -> list[Addr]:
    with Rtnl(netns) as nl:
        return nl.addrs()

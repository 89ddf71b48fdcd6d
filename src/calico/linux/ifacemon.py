"""Interface monitor: netlink link/address events -> small immutable events, after an initial dump.

The monitor subscribes before it dumps, so nothing is missed between the two; it emits only
changes (an interface appearing, going up/down, disappearing, its addresses changing), then an
``InSync`` event once the initial dump is delivered, and re-dumps every ``resync_interval``
seconds (Felix: ``InterfaceRefreshInterval`` 90 s) so a lost netlink message is repaired.
Both the events and the dumps go through :mod:`calico.linux.netlink` (a non-blocking socket read
from ``loop.add_reader``), decoding only the few fields used. Endpoints whose interface
appears before or after their datastore record both converge because
the dataplane reacts to these events.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from calico.linux import netlink

log = logging.getLogger(__name__)

RTMGRP_LINK = netlink.RTMGRP_LINK
RTMGRP_IPV4_IFADDR = netlink.RTMGRP_IPV4_IFADDR
RTMGRP_IPV6_IFADDR = netlink.RTMGRP_IPV6_IFADDR
IFF_UP = netlink.IFF_UP


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """``present`` False means the interface was removed (index is then its last index)."""

    name: str
    index: int
    up: bool
    present: bool = True


@dataclass(frozen=True, slots=True)
class AddrEvent:
    name: str
    index: int
    addrs: frozenset[str]


@dataclass(frozen=True, slots=True)
class InSync:
    pass


IfaceEvent = LinkEvent | AddrEvent | InSync


def link_is_up(flags: int, operstate: str | None) -> bool:
    """Oper-up as Felix means it: admin up and carrier (UNKNOWN for devices without one)."""
    return bool(flags & IFF_UP) and operstate in ("UP", "UNKNOWN")


class IfaceMonitor:
    def __init__(self, netns: str | None = None, *, prefixes: Iterable[str] | None = None,
                 exclude: Iterable[str] = ("kube-ipvs0",), resync_interval: float = 90.0) -> None:
        self.netns = netns
        self.prefixes = tuple(prefixes) if prefixes is not None else None
        self.exclude = [re.compile(p if p.startswith("^") else f"^{p}$") for p in exclude]
        self.resync_interval = resync_interval
        self._links: dict[int, tuple[str, bool]] = {}
        self._addrs: dict[int, set[str]] = {}
        self._emit: Callable[[IfaceEvent], None] = lambda ev: None

    def wanted(self, name: str) -> bool:
        if any(p.match(name) for p in self.exclude):
            return False
        return self.prefixes is None or name.startswith(self.prefixes)

    async def run(self, emit: Callable[[IfaceEvent], None]) -> None:
        """Run until cancelled, calling ``emit`` (must not block) for each change. A failed netlink
        socket (e.g. ENOBUFS after an event burst) is reopened and followed by a full re-dump."""
        self._emit = emit
        while True:
            try:
                await self._run_once()
            except (OSError, RuntimeError) as exc:
                log.warning("Interface monitor socket failed (%s); reopening and resyncing", exc)
                await asyncio.sleep(0.5)

    async def _run_once(self) -> None:
        loop = asyncio.get_running_loop()
        sock = netlink.subscribe(self.netns, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
        failed: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            try:
                while True:
                    try:
                        data = sock.recv(1 << 20)
                    except BlockingIOError:
                        return
                    self.handle_datagram(data)
            except OSError as exc:  # ENOBUFS after a burst: reopen and re-dump
                if not failed.done():
                    failed.set_exception(exc)
                loop.remove_reader(sock.fileno())

        try:
            loop.add_reader(sock.fileno(), readable)
            await self._dump()  # subscribed first, so nothing between the two is lost
            self._emit(InSync())
            while True:
                done, _ = await asyncio.wait({failed}, timeout=self.resync_interval)
                if done:
                    failed.result()  # re-raise the socket error
                    return
                await self._dump()
        finally:
            loop.remove_reader(sock.fileno())
            sock.close()

    def handle_datagram(self, data: bytes) -> None:
        """Fold one datagram of link/address events into the state, emitting what changed."""
        for kind, _seq, start, end in netlink.messages(data):
            try:
                self._handle(kind, data, start, end)
            except Exception:  # one bad message must not stop the monitor
                log.exception("Failed to handle netlink message of type %d", kind)

    async def _dump(self) -> None:
        # A few ms of blocking I/O (the kernel answers from memory), so it runs inline.
        with netlink.Rtnl(self.netns) as nl:
            links = nl.links()
            addrs = nl.addrs()
        seen = set()
        for link in links:
            seen.add(link.index)
            self._apply_link(link.index, link.name, link.flags, link.operstate)
        for index in list(self._links):
            if index not in seen:
                self._on_link_removed(index)
        by_index: dict[int, set[str]] = {}
        for a in addrs:
            by_index.setdefault(a.index, set()).add(a.address)
        for index in set(self._addrs) | set(by_index):
            self._set_addrs(index, by_index.get(index, set()))

    def _handle(self, kind: int, data: bytes, start: int, end: int) -> None:
        if kind == netlink.RTM_NEWLINK:
            link = netlink.parse_link(data, start, end)
            self._apply_link(link.index, link.name, link.flags, link.operstate)
        elif kind == netlink.RTM_DELLINK:
            self._on_link_removed(netlink.parse_link(data, start, end).index)
        elif kind in (netlink.RTM_NEWADDR, netlink.RTM_DELADDR):
            addr = netlink.parse_addr(data, start, end)
            if addr is None:
                return
            current = set(self._addrs.get(addr.index, set()))
            if kind == netlink.RTM_NEWADDR:
                current.add(addr.address)
            else:
                current.discard(addr.address)
            self._set_addrs(addr.index, current)

    def _apply_link(self, index: int, name: str, flags: int, operstate: str | None) -> None:
        up = link_is_up(flags, operstate)
        old = self._links.get(index)
        if old is not None and old[0] != name:
            self._on_link_removed(index)  # renamed: the old name is gone
            old = None
        self._links[index] = (name, up)
        if (old is None or old[1] != up) and self.wanted(name):
            self._emit(LinkEvent(name, index, up, True))

    def _on_link_removed(self, index: int) -> None:
        old = self._links.pop(index, None)
        self._addrs.pop(index, None)
        if old is not None and self.wanted(old[0]):
            self._emit(LinkEvent(old[0], index, False, False))

    def _set_addrs(self, index: int, addrs: set[str]) -> None:
        if self._addrs.get(index, set()) == addrs:
            return
        if addrs:
            self._addrs[index] = addrs
        else:
            self._addrs.pop(index, None)
        link = self._links.get(index)
        if link is not None and self.wanted(link[0]):
            self._emit(AddrEvent(link[0], index, frozenset(addrs)))

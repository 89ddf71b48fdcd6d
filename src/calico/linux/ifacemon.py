"""Interface monitor: netlink link/address events -> small immutable events, after an initial dump.

The monitor subscribes before it dumps, so nothing is missed between the two; it emits only
changes (an interface appearing, going up/down, disappearing, its addresses changing), then an
``InSync`` event once the initial dump is delivered, and re-dumps every ``resync_interval``
seconds (Felix: ``InterfaceRefreshInterval`` 90 s) so a lost netlink message is repaired.
Endpoints whose interface appears before or after their datastore record both converge because
the dataplane reacts to these events.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pyroute2 import AsyncIPRoute

from calico.linux import nldump

log = logging.getLogger(__name__)

RTMGRP_LINK = 0x1
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
IFF_UP = 0x1


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
        async with self._open() as events:
            await events.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)
            await self._dump()
            self._emit(InSync())
            reader = asyncio.create_task(self._read(events))
            try:
                while True:
                    done, _ = await asyncio.wait({reader}, timeout=self.resync_interval)
                    if done:
                        reader.result()  # re-raise the socket error
                        return
                    await self._dump()
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

    def _open(self) -> AsyncIPRoute:
        return AsyncIPRoute(netns=self.netns) if self.netns else AsyncIPRoute()

    async def _read(self, events: AsyncIPRoute) -> None:
        while True:
            async for msg in events.get():
                try:
                    self._handle(msg)
                except Exception:  # one bad message must not stop the monitor
                    log.exception("Failed to handle netlink message %s", msg.get("event"))

    async def _dump(self) -> None:
        # A plain netlink socket decoding only the fields used (nldump): pyroute2 decodes every
        # attribute of every link, ~0.1 s of start-up with hundreds of interfaces. The dump is a
        # few ms of blocking I/O (the kernel answers from memory), so it runs inline.
        links = nldump.dump_links(self.netns)
        addrs = nldump.dump_addrs(self.netns)
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

    def _handle(self, msg: Any) -> None:
        event = msg.get("event")
        if event == "RTM_NEWLINK":
            self._on_link(msg)
        elif event == "RTM_DELLINK":
            self._on_link_removed(msg["index"])
        elif event in ("RTM_NEWADDR", "RTM_DELADDR"):
            addr = msg.get("address") or msg.get("local")
            if not addr:
                return
            current = set(self._addrs.get(msg["index"], set()))
            if event == "RTM_NEWADDR":
                current.add(addr)
            else:
                current.discard(addr)
            self._set_addrs(msg["index"], current)

    def _on_link(self, msg: Any) -> None:
        self._apply_link(msg["index"], msg.get("ifname"), msg["flags"], msg.get("operstate"))

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

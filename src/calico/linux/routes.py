"""RouteTable: per-interface desired routes + static neighbour entries, applied by netlink deltas.

Workload routes are ``<ip>/32 dev <cali…> scope link proto 3`` (``DeviceRouteProtocol``); routes
not tied to a workload interface (blackholes, VXLAN/IPIP cluster routes) use proto 80 (felix.md
§1.4/§1.6). Ownership follows Felix's main-table policy: a kernel route is ours if its protocol
is the exclusive one (80), or it goes via a workload interface (``RemoveExternalRoutes``), or via
a Calico tunnel device; anything else (eth0 routes, kernel-added subnet routes) is never touched.

Routes for interfaces that are missing or not oper-up are kept pending and written when the
interface comes up (:meth:`RouteTable.on_iface_update`, fed by the interface monitor). Unknown
routes on workload interfaces get a grace period (the CNI plugin adds its route before Felix
hears about the endpoint). The kernel is dumped at the first apply and on :meth:`refresh`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger(__name__)

NO_INTERFACE = "*NoOIF*"
MAIN_TABLE = 254
PROTO_KERNEL = 2
PROTO_BOOT = 3
PROTO_CALICO = 80
SCOPE_UNIVERSE = 0
SCOPE_LINK = 253
RTNH_F_ONLINK = 4
NUD_PERMANENT = 0x80
IFF_UP = 0x1
ROUTE_TYPES = {"unicast": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8}
TUNNEL_DEVICES = ("vxlan.calico", "vxlan-v6.calico", "wireguard.cali", "wg-v6.cali")


class RouteError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Target:
    """One desired route: ``cidr`` via the interface it is set for."""

    cidr: str
    gateway: str | None = None
    onlink: bool = False
    route_type: str = "unicast"
    mac: str | None = None  # static neighbour entry <ip> lladdr <mac> nud permanent (host routes)
    protocol: int | None = None  # default: device proto for interface routes, 80 otherwise


@dataclass(frozen=True, slots=True)
class KernelRoute:
    ifindex: int | None
    gateway: str | None
    onlink: bool
    route_type: int
    protocol: int
    scope: int


@dataclass(slots=True)
class Link:
    name: str
    index: int
    up: bool


@dataclass(slots=True)
class RouteStats:
    resyncs: int = 0
    routes_written: int = 0
    routes_deleted: int = 0
    neighbours_written: int = 0
    errors: int = 0
    num_routes: int = 0
    last_resync_seconds: float = 0.0


@dataclass(slots=True)
class _Desired:
    iface: str
    target: Target
    dirty: bool = True


def _norm_cidr(cidr: str) -> str:
    return str(ipaddress.ip_network(cidr, strict=False))


class RouteTable:
    """Routes of one IP family in one routing table (main by default)."""

    def __init__(self, ip_version: int = 4, *, netns: str | None = None,
                 iface_prefixes: Iterable[str] = ("cali",), table: int = MAIN_TABLE,
                 device_route_protocol: int = PROTO_BOOT, remove_external_routes: bool = True,
                 static_arp: bool = True, grace_period: float = 10.0,
                 on_route_removed: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ip_version = ip_version
        self.family = socket.AF_INET if ip_version == 4 else socket.AF_INET6
        self.netns = netns
        self.iface_prefixes = tuple(iface_prefixes)
        self.table = table
        self.device_proto = device_route_protocol
        self.exclusive_protos = {PROTO_CALICO} if device_route_protocol == PROTO_BOOT else {
            device_route_protocol}
        self.remove_external_routes = remove_external_routes
        self.static_arp = static_arp and ip_version == 4
        self.grace_period = grace_period
        self.on_route_removed = on_route_removed
        self._clock = clock
        self.stats = RouteStats()
        self._ipr: IPRoute | None = None
        self._by_iface: dict[str, dict[str, Target]] = {}
        self._desired: dict[str, _Desired] = {}  # cidr -> winner
        self._dp: dict[str, KernelRoute] = {}  # owned kernel routes by cidr
        self._dp_neigh: dict[tuple[int, str], str] = {}  # (ifindex, ip) -> mac, permanent, ours
        self._links: dict[str, Link] = {}
        self._first_seen: dict[str, float] = {}
        self._needs_resync = True

    # --- desired state (no I/O) ---------------------------------------------------------
    def set_routes(self, iface: str, targets: Iterable[Target]) -> None:
        """Replace the full set of desired routes via ``iface`` (NO_INTERFACE for blackholes)."""
        new = {_norm_cidr(t.cidr): t for t in targets}
        old = self._by_iface.get(iface, {})
        if new:
            self._by_iface[iface] = new
        else:
            self._by_iface.pop(iface, None)
        for cidr in set(old) | set(new):
            if old.get(cidr) != new.get(cidr):
                self._recompute(cidr)

    def routes_for(self, iface: str) -> dict[str, Target]:
        return dict(self._by_iface.get(iface, {}))

    def on_iface_update(self, name: str, index: int | None, up: bool) -> None:
        """Interface monitor event (index None = removed): reprogram its routes when it is up."""
        old = self._links.get(name)
        if index is None:
            self._links.pop(name, None)
        else:
            self._links[name] = Link(name, index, up)
        if old is not None and (index is None or not up or old.index != index):
            # The kernel drops routes via a downed or removed device; forget what we wrote.
            self._dp = {c: kr for c, kr in self._dp.items() if kr.ifindex != old.index}
            self._dp_neigh = {k: v for k, v in self._dp_neigh.items() if k[0] != old.index}
        for cidr in self._by_iface.get(name, {}):
            d = self._desired.get(cidr)
            if d is not None and d.iface == name:
                d.dirty = True

    def refresh(self) -> None:
        self._needs_resync = True

    # --- apply ------------------------------------------------------------------------------
    def apply(self) -> bool:
        """Write routes/neighbours that differ; delete owned routes nobody wants."""
        ipr = self._conn()
        changed = False
        if self._needs_resync:
            self._resync(ipr)
        for cidr, d in list(self._desired.items()):
            if d.dirty:
                changed |= self._program(ipr, cidr, d)
        changed |= self._delete_unwanted(ipr)
        self.stats.num_routes = len(self._dp)
        return changed

    async def apply_async(self) -> bool:
        return await asyncio.to_thread(self.apply)

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    # --- internals --------------------------------------------------------------------------
    def _conn(self) -> IPRoute:
        if self._ipr is None:
            self._ipr = IPRoute(netns=self.netns) if self.netns else IPRoute()
        return self._ipr

    def _recompute(self, cidr: str) -> None:
        claims = sorted((iface, t[cidr]) for iface, t in self._by_iface.items() if cidr in t)
        if not claims:
            self._desired.pop(cidr, None)
            return
        if len(claims) > 1:
            log.warning("Route %s wanted via several interfaces %s; using %s", cidr,
                        [c[0] for c in claims], claims[0][0])
        iface, target = claims[0]
        self._desired[cidr] = _Desired(iface, target)

    def _is_workload_iface(self, name: str) -> bool:
        return bool(self.iface_prefixes) and name.startswith(self.iface_prefixes)

    def _name_of(self, index: int | None) -> str | None:
        if index is None:
            return None
        for link in self._links.values():
            if link.index == index:
                return link.name
        return None

    def _is_ours(self, name: str | None, protocol: int, dst: str) -> bool:
        if protocol in self.exclusive_protos:
            return True
        if name is None or protocol == PROTO_KERNEL:
            return False
        if self.ip_version == 6 and ipaddress.ip_network(dst).is_link_local:
            return False
        if self._is_workload_iface(name):
            return self.remove_external_routes or protocol in (PROTO_BOOT, PROTO_CALICO, self.device_proto)
        return name in TUNNEL_DEVICES

    def _resync(self, ipr: IPRoute) -> None:
        start = time.monotonic()
        self._links = {}
        for msg in ipr.get_links():
            name = msg.get("ifname")
            self._links[name] = Link(name, msg["index"], _link_up(msg))
        dp: dict[str, KernelRoute] = {}
        for msg in ipr.get_routes(family=self.family, table=self.table):
            dst = msg.get("dst") or ("0.0.0.0" if self.ip_version == 4 else "::")
            cidr = _norm_cidr(f"{dst}/{msg['dst_len']}")
            oif = msg.get("oif")
            if not self._is_ours(self._name_of(oif), msg["proto"], cidr):
                continue
            dp[cidr] = KernelRoute(oif, msg.get("gateway"), bool(msg["flags"] & RTNH_F_ONLINK), msg["type"],
                                   msg["proto"], msg["scope"])
        self._dp = dp
        self._dp_neigh = {}
        if self.static_arp:
            for msg in ipr.get_neighbours(family=self.family):
                name = self._name_of(msg["ifindex"])
                if msg["state"] & NUD_PERMANENT and name and self._is_workload_iface(name):
                    self._dp_neigh[(msg["ifindex"], msg.get("dst"))] = (msg.get("lladdr") or "").lower()
        for d in self._desired.values():
            d.dirty = True
        self._needs_resync = False
        self.stats.resyncs += 1
        self.stats.last_resync_seconds = time.monotonic() - start
        log.info("Route table resync (IPv%d, table %d): %d owned routes in the kernel, %d desired",
                 self.ip_version, self.table, len(dp), len(self._desired))

    def _link(self, ipr: IPRoute, name: str) -> Link | None:
        link = self._links.get(name)
        if link is None:
            msgs = ipr.get_links(ifname=name) if _exists(ipr, name) else []
            if not msgs:
                return None
            link = Link(name, msgs[0]["index"], _link_up(msgs[0]))
            self._links[name] = link
        return link

    def _want(self, d: _Desired, index: int | None) -> KernelRoute:
        t = d.target
        rtype = ROUTE_TYPES[t.route_type]
        proto = t.protocol if t.protocol is not None else (
            self.device_proto if d.iface != NO_INTERFACE and not t.gateway and rtype == 1
            and self._is_workload_iface(d.iface) else PROTO_CALICO)
        scope = SCOPE_LINK if (index is not None and not t.gateway and rtype == 1) else SCOPE_UNIVERSE
        return KernelRoute(index, t.gateway, t.onlink, rtype, proto, scope)

    def _program(self, ipr: IPRoute, cidr: str, d: _Desired) -> bool:
        index: int | None = None
        if d.iface != NO_INTERFACE:
            link = self._link(ipr, d.iface)
            if link is None or not link.up:
                return False  # stays dirty until the interface comes up
            index = link.index
        want = self._want(d, index)
        changed = False
        try:
            if self._dp.get(cidr) != want:
                kw: dict[str, Any] = dict(dst=cidr, table=self.table, proto=want.protocol,
                                          scope=want.scope, type=want.route_type, family=self.family)
                if index is not None:
                    kw["oif"] = index
                if want.gateway:
                    kw["gateway"] = want.gateway
                if want.onlink:
                    kw["flags"] = RTNH_F_ONLINK
                ipr.route("replace", **kw)
                self._dp[cidr] = want
                self.stats.routes_written += 1
                changed = True
            if self.static_arp and d.target.mac and index is not None:
                ip = cidr.split("/")[0]
                mac = d.target.mac.lower()
                if self._dp_neigh.get((index, ip)) != mac:
                    ipr.neigh("replace", dst=ip, lladdr=mac, ifindex=index, state=NUD_PERMANENT,
                              family=self.family)
                    self._dp_neigh[(index, ip)] = mac
                    self.stats.neighbours_written += 1
                    changed = True
        except NetlinkError as exc:
            self.stats.errors += 1
            log.warning("Failed to program route %s via %s: %s (will retry)", cidr, d.iface, exc)
            if exc.code in (19,):  # ENODEV: interface vanished
                self._links.pop(d.iface, None)
            return changed
        d.dirty = False
        return changed

    def _delete_unwanted(self, ipr: IPRoute) -> bool:
        changed = False
        now = self._clock()
        for cidr, kr in list(self._dp.items()):
            d = self._desired.get(cidr)
            if d is not None:
                self._first_seen.pop(cidr, None)
                if d.iface == NO_INTERFACE or (self._links.get(d.iface) and
                                               self._links[d.iface].index == kr.ifindex):
                    continue
                if d.dirty:
                    continue  # will be replaced when its interface is up
            name = self._name_of(kr.ifindex)
            if d is None and name and self._is_workload_iface(name) and self.grace_period > 0:
                first = self._first_seen.setdefault(cidr, now)
                if now - first < self.grace_period:
                    continue
            try:
                kw: dict[str, Any] = dict(dst=cidr, table=self.table, family=self.family)
                if kr.ifindex is not None:
                    kw["oif"] = kr.ifindex
                ipr.route("del", **kw)
            except NetlinkError as exc:
                if exc.code != 3:  # ESRCH: already gone
                    self.stats.errors += 1
                    log.warning("Failed to delete route %s: %s", cidr, exc)
                    continue
            self._dp.pop(cidr, None)
            self._first_seen.pop(cidr, None)
            self.stats.routes_deleted += 1
            changed = True
            log.info("Deleted route %s (dev %s)", cidr, name or "-")
            if self.on_route_removed and name and self._is_workload_iface(name):
                self.on_route_removed(cidr.split("/")[0])
        wanted_neigh = {
            (self._links[d.iface].index, cidr.split("/")[0])
            for cidr, d in self._desired.items()
            if d.target.mac and d.iface in self._links}
        for key in list(self._dp_neigh):
            if key in wanted_neigh:
                continue
            try:
                ipr.neigh("del", dst=key[1], ifindex=key[0], family=self.family)
            except NetlinkError as exc:
                if exc.code not in (2, 3, 19):
                    log.warning("Failed to delete neighbour %s on %d: %s", key[1], key[0], exc)
                    continue
            self._dp_neigh.pop(key, None)
            changed = True
        return changed


def _link_up(msg: Any) -> bool:
    return bool(msg["flags"] & IFF_UP) and msg.get("operstate") in ("UP", "UNKNOWN")


def _exists(ipr: IPRoute, name: str) -> bool:
    try:
        return bool(ipr.link_lookup(ifname=name))
    except NetlinkError:
        return False

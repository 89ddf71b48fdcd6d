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

Kernel I/O is :mod:`calico.linux.netlink` (dumps, single changes, link lookups) and one
``ip -batch`` for big deltas; no pyroute2 (its import alone was ~70 ms of Felix's start-up).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from calico.linux import cmd, netlink
from calico.linux.netlink import NetlinkError

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
                 on_route_removed: Callable[[str], None] | None = None, batch_threshold: int = 16,
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
        self.batch_threshold = batch_threshold
        self._clock = clock
        self.stats = RouteStats()
        self._ipr: netlink.Rtnl | None = None
        self._by_iface: dict[str, dict[str, Target]] = {}
        self._desired: dict[str, _Desired] = {}  # cidr -> winner
        self._dp: dict[str, KernelRoute] = {}  # owned kernel routes by cidr
        self._dp_neigh: dict[tuple[int, str], str] = {}  # (ifindex, ip) -> mac, permanent, ours
        self._links: dict[str, Link] = {}
        self._first_seen: dict[str, float] = {}
        self._iface_events: deque[tuple[str, int | None, bool]] = deque()
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
        """Interface monitor event (index None = removed). Thread-safe and non-blocking: the event
        is queued and folded in at the start of the next apply (which may run in a worker thread)."""
        self._iface_events.append((name, index, up))

    def _process_iface_events(self) -> None:
        while self._iface_events:
            name, index, up = self._iface_events.popleft()
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
        if self._needs_resync:
            self._iface_events.clear()  # the dump sees the current state of every interface
            self._resync()
        self._process_iface_events()
        ops: list[_Op] = []
        for cidr, d in list(self._desired.items()):
            if d.dirty:
                self._plan_program(cidr, d, ops)
        self._plan_deletions(ops)
        if not ops:
            return False
        failed = self._execute(ops)
        for i, op in enumerate(ops):
            if i in failed:
                self.stats.errors += 1
                if op.desired is not None:
                    op.desired.dirty = True
                continue
            op.commit()
        if failed:
            log.warning("%d of %d route/neighbour updates failed; will retry", len(failed), len(ops))
        self.stats.num_routes = len(self._dp)
        return len(failed) < len(ops)

    async def apply_async(self) -> bool:
        return await asyncio.to_thread(self.apply)

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    # --- internals --------------------------------------------------------------------------
    def _conn(self) -> netlink.Rtnl:
        if self._ipr is None:
            self._ipr = netlink.Rtnl(self.netns)
        return self._ipr

    def _recompute(self, cidr: str) -> None:
        claims = sorted((iface, t[cidr]) for iface, t in self._by_iface.items() if cidr in t)
        if not claims:
            if self._desired.pop(cidr, None) is not None:
                self._first_seen[cidr] = float("-inf")  # was ours: no CNI grace period, delete now
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

    def _resync(self) -> None:
        """Dump links, routes of our table and permanent neighbours over netlink."""
        start = time.monotonic()
        nl = self._conn()
        try:
            links = nl.links()
            routes = nl.routes(self.family, self.table)
            neighbours = nl.neighbours(self.family) if self.static_arp else []
        except OSError:
            self.close()  # a fresh socket next time
            raise
        self._links = {lk.name: Link(lk.name, lk.index, lk.up) for lk in links}
        name_of = {lk.index: lk.name for lk in links}
        dp: dict[str, KernelRoute] = {}
        for r in routes:
            cidr = _norm_cidr(r.dst)
            name = name_of.get(r.oif) if r.oif is not None else None
            if not self._is_ours(name, r.protocol, cidr):
                continue
            dp[cidr] = KernelRoute(r.oif if name else None, r.gateway, bool(r.flags & RTNH_F_ONLINK), r.type,
                                   r.protocol, r.scope)
        self._dp = dp
        self._dp_neigh = {}
        for n in neighbours:
            name = name_of.get(n.ifindex)
            if (n.state & NUD_PERMANENT and name and self._is_workload_iface(name) and n.lladdr
                    and n.dst):
                self._dp_neigh[(n.ifindex, n.dst)] = n.lladdr.lower()
        for d in self._desired.values():
            d.dirty = True
        self._needs_resync = False
        self.stats.resyncs += 1
        self.stats.last_resync_seconds = time.monotonic() - start
        log.info("Route table resync (IPv%d, table %d): %d owned routes in the kernel, %d desired",
                 self.ip_version, self.table, len(dp), len(self._desired))

    def _link(self, name: str) -> Link | None:
        link = self._links.get(name)
        if link is None:
            found = self._conn().get_link(name)
            if found is None:
                return None
            link = Link(name, found.index, found.up)
            self._links[name] = link
        return link

    def _want(self, d: _Desired, index: int | None) -> KernelRoute:
        t = d.target
        rtype = ROUTE_TYPES[t.route_type]
        proto = t.protocol if t.protocol is not None else (
            self.device_proto if d.iface != NO_INTERFACE and not t.gateway and rtype == 1
            and self._is_workload_iface(d.iface) else PROTO_CALICO)
        # IPv6 has no route scopes: the kernel always reports universe.
        scope = SCOPE_LINK if (self.ip_version == 4 and index is not None and not t.gateway and rtype == 1) \
            else SCOPE_UNIVERSE
        return KernelRoute(index, t.gateway, t.onlink, rtype, proto, scope)

    def _plan_program(self, cidr: str, d: _Desired, ops: list[_Op]) -> None:
        index: int | None = None
        if d.iface != NO_INTERFACE:
            link = self._link(d.iface)
            if link is None or not link.up:
                return  # stays dirty until the interface comes up
            index = link.index
        want = self._want(d, index)
        d.dirty = False
        if self._dp.get(cidr) != want:
            ops.append(_Op("route-replace", cidr, want, d.iface, d, commit=self._committer_route(cidr, want)))
        if self.static_arp and d.target.mac and index is not None:
            ip, mac = cidr.split("/")[0], d.target.mac.lower()
            if self._dp_neigh.get((index, ip)) != mac:
                ops.append(_Op("neigh-replace", ip, want, d.iface, d, mac=mac,
                               commit=self._committer_neigh((index, ip), mac)))

    def _committer_route(self, cidr: str, kr: KernelRoute | None) -> Callable[[], None]:
        def commit() -> None:
            if kr is None:
                self._dp.pop(cidr, None)
                self._first_seen.pop(cidr, None)
                self.stats.routes_deleted += 1
            else:
                self._dp[cidr] = kr
                self.stats.routes_written += 1
        return commit

    def _committer_neigh(self, key: tuple[int, str], mac: str | None) -> Callable[[], None]:
        def commit() -> None:
            if mac is None:
                self._dp_neigh.pop(key, None)
            else:
                self._dp_neigh[key] = mac
                self.stats.neighbours_written += 1
        return commit

    def _plan_deletions(self, ops: list[_Op]) -> None:
        now = self._clock()
        for cidr, kr in list(self._dp.items()):
            d = self._desired.get(cidr)
            if d is not None:
                self._first_seen.pop(cidr, None)
                link = self._links.get(d.iface)
                if d.iface == NO_INTERFACE or (link is not None and link.index == kr.ifindex) or d.dirty:
                    continue  # correct device (replace fixes details) or replaced once it is up
            name = self._name_of(kr.ifindex)
            if d is None and name and self._is_workload_iface(name) and self.grace_period > 0:
                first = self._first_seen.setdefault(cidr, now)
                if now - first < self.grace_period:
                    continue
            if kr.ifindex is not None and name is None:
                self._dp.pop(cidr, None)  # its device is gone, and the route with it
                continue
            ops.append(_Op("route-del", cidr, kr, name, None, commit=self._route_deleted(cidr, name)))
        wanted = {(self._links[d.iface].index, cidr.split("/")[0])
                  for cidr, d in self._desired.items() if d.target.mac and d.iface in self._links}
        for key in list(self._dp_neigh):
            if key not in wanted and self._name_of(key[0]) is None:
                self._dp_neigh.pop(key, None)
            elif key not in wanted:
                ops.append(_Op("neigh-del", key[1], None, self._name_of(key[0]), None, index=key[0],
                               commit=self._committer_neigh(key, None)))

    def _route_deleted(self, cidr: str, name: str | None) -> Callable[[], None]:
        base = self._committer_route(cidr, None)

        def commit() -> None:
            base()
            log.info("Deleted route %s (dev %s)", cidr, name or "-")
            if self.on_route_removed and name and self._is_workload_iface(name):
                self.on_route_removed(cidr.split("/")[0])
        return commit

    def _execute(self, ops: list[_Op]) -> set[int]:
        """Run ops: netlink one by one for small deltas, one ``ip -batch`` for big ones.
        Returns the indices of ops that failed."""
        if len(ops) >= self.batch_threshold:
            return self._execute_batch(ops)
        failed: set[int] = set()
        ipr = self._conn()
        for i, op in enumerate(ops):
            try:
                op.netlink(ipr, self.table, self.family)
            except NetlinkError as exc:
                if op.kind.endswith("-del") and exc.code in (2, 3, 19):
                    continue  # already gone
                failed.add(i)
                log.warning("%s %s (dev %s) failed: %s", op.kind, op.dst, op.iface, exc)
                if exc.code == 19 and op.iface:  # ENODEV: the interface vanished
                    self._links.pop(op.iface, None)
        return failed

    def _execute_batch(self, ops: list[_Op]) -> set[int]:
        lines = [op.batch_line(self.table) for op in ops]
        res = cmd.run(["ip", f"-{self.ip_version}", "-force", "-batch", "-"], input="\n".join(lines) + "\n",
                      netns=self.netns, check=False)
        if res.returncode == 0:
            return set()
        failed: set[int] = set()
        errors = res.stderr.splitlines()
        for n, line in enumerate(errors):
            m = _BATCH_FAIL.search(line)
            if not m:
                continue
            i = int(m.group(1)) - 1
            why = errors[n - 1] if n else ""
            if ops[i].kind.endswith("-del") and ("No such" in why or "Cannot find" in why):
                continue
            failed.add(i)
            log.warning("%s failed: %s", lines[i], why)
        if not failed and not any(_BATCH_FAIL.search(ln) for ln in errors):
            log.warning("ip -batch failed without line numbers: %s", res.stderr.strip())
            self._needs_resync = True
        return failed


_BATCH_FAIL = re.compile(r"Command failed -:(\d+)")


@dataclass(slots=True)
class _Op:
    """One pending kernel change, runnable through netlink or as an ``ip -batch`` line."""

    kind: str  # route-replace | route-del | neigh-replace | neigh-del
    dst: str  # CIDR for routes, IP for neighbours
    route: KernelRoute | None
    iface: str | None
    desired: _Desired | None
    commit: Callable[[], None]
    mac: str | None = None
    index: int | None = None

    def netlink(self, nl: netlink.Rtnl, table: int, family: int) -> None:
        kr = self.route
        if self.kind == "route-replace":
            assert kr is not None
            nl.route_replace(self.dst, table=table, protocol=kr.protocol, scope=kr.scope, route_type=kr.route_type,
                             oif=kr.ifindex, gateway=kr.gateway, onlink=kr.onlink)
        elif self.kind == "route-del":
            assert kr is not None
            nl.route_del(self.dst, table=table, scope=kr.scope, route_type=kr.route_type, oif=kr.ifindex)
        elif self.kind == "neigh-replace":
            assert kr is not None and kr.ifindex is not None and self.mac
            nl.neigh_replace(self.dst, kr.ifindex, self.mac)
        else:
            assert self.index is not None
            nl.neigh_del(self.dst, self.index)

    def batch_line(self, table: int) -> str:
        kr = self.route
        if self.kind.startswith("route"):
            assert kr is not None
            verb = "replace" if self.kind == "route-replace" else "del"
            parts = ["route", verb, _TYPE_NAMES[kr.route_type], self.dst]
            if kr.gateway:
                parts += ["via", kr.gateway]
            if self.iface and self.iface != NO_INTERFACE:
                parts += ["dev", self.iface]
            if kr.onlink and verb == "replace":
                parts.append("onlink")
            parts += ["scope", str(kr.scope), "table", str(table)]
            if verb == "replace":
                parts += ["proto", str(kr.protocol)]
            return " ".join(parts)
        if self.kind == "neigh-replace":
            return f"neigh replace {self.dst} lladdr {self.mac} dev {self.iface} nud permanent"
        return f"neigh del {self.dst} dev {self.iface}"


_TYPE_NAMES = {v: k for k, v in ROUTE_TYPES.items()}


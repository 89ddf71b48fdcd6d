"""EndpointManager: local workload endpoints -> interfaces, routes, neighbours, chains, dispatch.

Per endpoint (felix.md §1.3-§1.5, §2.4-§2.5):

* filter ``cali-tw-<iface>`` / ``cali-fw-<iface>`` (ingress policy; anti-spoofing + egress policy),
  written as soon as the record arrives (iptables matches names, so no interface is needed);
* one ``<ip>/32 dev <iface> scope link proto <DeviceRouteProtocol>`` route per address plus a
  permanent neighbour entry for the workload MAC, when the endpoint is admin-up; the RouteTable
  holds them back until the interface is oper-up;
* the host-side sysctls (proxy_arp, forwarding, rp_filter, ...) once the interface is oper-up,
  re-applied whenever it comes up again;
* the workload dispatch chains, rebuilt when the set of interface names changes; unknown
  ``cali+`` interfaces fall through to the "Unknown interface" drop.

Two endpoints claiming one interface name: the lower ID wins, the other waits (shadowed).
Status per endpoint: ``up`` = admin-up and interface oper-up and sysctls written, else ``down``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from calico.felix import messages as m
from calico.felix.dataplane.context import DataplaneContext
from calico.felix.dataplane.owned import OwnedChains
from calico.linux.routes import Target
from calico.linux.sysctl import SysctlError

log = logging.getLogger(__name__)

StatusCallback = Callable[[m.WorkloadEndpointID, str | None], None]


class EndpointManager:
    def __init__(self, ctx: DataplaneContext, *, rp_filter: str | None = None,
                 on_status: StatusCallback | None = None) -> None:
        self.ctx = ctx
        self.rp_filter = rp_filter
        self.on_status = on_status or (lambda _id, _s: None)
        self.endpoints: dict[m.WorkloadEndpointID, m.WorkloadEndpointInfo] = {}
        self._owner: dict[str, m.WorkloadEndpointID] = {}  # iface -> winning endpoint
        self._programmed: dict[str, m.WorkloadEndpointInfo] = {}  # iface -> info rendered
        self._dirty_ifaces: set[str] = set()
        self._dispatch_dirty = True
        self._sysctl_pending: set[str] = set()
        self._sysctl_done: set[str] = set()
        self._status: dict[m.WorkloadEndpointID, str] = {}
        self._chains = OwnedChains(ctx)

    # --- messages (no I/O) -------------------------------------------------------------------
    def on_update(self, msg: object) -> None:
        if isinstance(msg, m.WorkloadEndpointUpdate):
            old = self.endpoints.get(msg.id)
            self.endpoints[msg.id] = msg.endpoint
            if old is not None and old.name != msg.endpoint.name:
                self._dirty_ifaces.add(old.name)
            self._dirty_ifaces.add(msg.endpoint.name)
        elif isinstance(msg, m.WorkloadEndpointRemove):
            old = self.endpoints.pop(msg.id, None)
            if old is not None:
                self._dirty_ifaces.add(old.name)
            self._set_status(msg.id, None)

    def on_link(self, name: str, up: bool, present: bool) -> None:
        if not self.ctx.is_workload_iface(name):
            return
        if up and present:
            self._sysctl_pending.add(name)
        else:
            self._sysctl_pending.discard(name)
            self._sysctl_done.discard(name)
        owner = self._owner.get(name)
        if owner is not None:
            self._update_status(owner)

    # --- deferred work: desired chains and routes (no I/O) -----------------------------------
    def complete_deferred_work(self) -> None:
        if not self._dirty_ifaces and not self._dispatch_dirty:
            return
        r = self.ctx.renderer
        for iface in sorted(self._dirty_ifaces):
            claims = sorted(eid for eid, ep in self.endpoints.items() if ep.name == iface)
            if len(claims) > 1:
                log.warning("Interface %s claimed by several endpoints %s; %s wins", iface, claims, claims[0])
            winner = claims[0] if claims else None
            had = iface in self._owner
            if winner is None:
                self._owner.pop(iface, None)
                self._programmed.pop(iface, None)
                self._chains.clear(("wep", iface))
                for rt in self.ctx.routes.values():
                    rt.set_routes(iface, [])
                if had:
                    self._dispatch_dirty = True
                    log.info("Removed endpoint chains and routes of %s", iface)
                continue
            ep = self.endpoints[winner]
            self._owner[iface] = winner
            if not had:
                self._dispatch_dirty = True
            if self._programmed.get(iface) != ep:
                for v in self.ctx.versions:
                    self._chains.set(("wep", iface), "filter", v, r.workload_endpoint_chains(iface, ep, v))
                self._programmed[iface] = ep
                self._set_routes(iface, ep)
                if self.ctx.link_up(iface):
                    self._sysctl_pending.add(iface)  # allowSpoofedSourcePrefixes may change rp_filter
            self._update_status(winner)
        self._dirty_ifaces.clear()
        if self._dispatch_dirty:
            ifaces = sorted(self._owner)
            for v in self.ctx.versions:
                self._chains.set("dispatch", "filter", v, r.workload_dispatch_chains(ifaces, v))
            self._dispatch_dirty = False

    def _set_routes(self, iface: str, ep: m.WorkloadEndpointInfo) -> None:
        active = ep.state == "active"
        for v, rt in self.ctx.routes.items():
            nets = ep.ipv4_nets if v == 4 else ep.ipv6_nets
            mac = ep.mac or None
            rt.set_routes(iface, [Target(n, mac=mac if v == 4 else None) for n in nets] if active else [])

    # --- kernel work (called by the Dataplane in the routes/interfaces phase) -----------------
    def apply_sysctls(self) -> None:
        for iface in sorted(self._sysctl_pending):
            owner = self._owner.get(iface)
            if not self.ctx.link_up(iface) or owner is None:
                continue  # only interfaces of known endpoints are configured
            spoof = bool(owner and self.endpoints[owner].allow_spoofed_source_prefixes)
            try:
                for v in self.ctx.versions:
                    self.ctx.sysctls.configure_workload_iface(iface, v, rp_filter=self.rp_filter,
                                                              allow_spoofing=spoof)
            except SysctlError as exc:
                log.warning("Sysctls for %s failed (will retry): %s", iface, exc)
                continue
            self._sysctl_pending.discard(iface)
            self._sysctl_done.add(iface)
            log.info("Configured interface %s", iface)
            self._update_status(owner)

    @property
    def sysctls_pending(self) -> bool:
        return any(self.ctx.link_up(i) and i in self._owner for i in self._sysctl_pending)

    # --- status --------------------------------------------------------------------------------
    def _update_status(self, eid: m.WorkloadEndpointID) -> None:
        ep = self.endpoints.get(eid)
        if ep is None:
            return
        up = ep.state == "active" and self.ctx.link_up(ep.name) and ep.name in self._sysctl_done
        self._set_status(eid, "up" if up else "down")

    def _set_status(self, eid: m.WorkloadEndpointID, status: str | None) -> None:
        if self._status.get(eid) == status:
            return
        if status is None:
            self._status.pop(eid, None)
        else:
            self._status[eid] = status
        self.on_status(eid, status)

    def statuses(self) -> dict[m.WorkloadEndpointID, str]:
        return dict(self._status)

    @property
    def num_endpoints(self) -> int:
        return len(self.endpoints)

"""HostEndpointManager: HostEndpoints -> ``cali-th-/fh-/thfw-/fhfw-`` chains and host dispatch.

A HostEndpoint names its interface (``interfaceName``), all interfaces (``*``), or none, in which
case it applies to the interfaces holding one of its ``expectedIPs`` (felix.md §4.6). Failsafe
ports come first in its filter chains (rendered by the rule renderer from the Failsafe*HostPorts
config), so SSH, BGP, etcd and the API server stay reachable whatever policy says. Status: ``up``
when every resolved interface is oper-up, ``down`` otherwise, ``error`` when nothing resolves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from calico.felix import messages as m
from calico.felix.dataplane.context import DataplaneContext
from calico.felix.dataplane.owned import OwnedChains

log = logging.getLogger(__name__)

TABLES = ("filter", "mangle", "raw", "nat")


class HostEndpointManager:
    def __init__(self, ctx: DataplaneContext,
                 on_status: Callable[[m.HostEndpointID, str | None], None] | None = None) -> None:
        self.ctx = ctx
        self.on_status = on_status or (lambda _i, _s: None)
        self.heps: dict[m.HostEndpointID, m.HostEndpointInfo] = {}
        self._resolved: dict[str, m.HostEndpointInfo] = {}  # iface (or "*") -> endpoint
        self._iface_ids: dict[m.HostEndpointID, tuple[str, ...]] = {}
        self._status: dict[m.HostEndpointID, str] = {}
        self._chains = OwnedChains(ctx)
        self._dirty = True

    def on_update(self, msg: object) -> None:
        if isinstance(msg, m.HostEndpointUpdate):
            self.heps[msg.id] = msg.endpoint
            self._dirty = True
        elif isinstance(msg, m.HostEndpointRemove):
            self.heps.pop(msg.id, None)
            self._dirty = True

    def on_iface_change(self) -> None:
        """Links or addresses changed: resolution by expected IPs and status may differ."""
        if self.heps:
            self._dirty = True

    def _resolve(self) -> tuple[dict[str, m.HostEndpointInfo], dict[m.HostEndpointID, tuple[str, ...]]]:
        resolved: dict[str, tuple[m.HostEndpointID, m.HostEndpointInfo]] = {}
        ifaces: dict[m.HostEndpointID, tuple[str, ...]] = {}
        for hid in sorted(self.heps):
            hep = self.heps[hid]
            if hep.name:
                names = [hep.name]
            else:
                want = set(hep.expected_ipv4_addrs) | set(hep.expected_ipv6_addrs)
                names = sorted(n for n, addrs in self.ctx.addrs.items() if want & set(addrs))
            mine = []
            for n in names:
                if n in resolved:
                    log.warning("Interface %s matched by host endpoints %s and %s; first wins",
                                n, resolved[n][0].endpoint_id, hid.endpoint_id)
                    continue
                resolved[n] = (hid, hep)
                mine.append(n)
            ifaces[hid] = tuple(mine)
        return {k: v[1] for k, v in resolved.items()}, ifaces

    def complete_deferred_work(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        resolved, ifaces = self._resolve()
        r = self.ctx.renderer
        for iface in set(self._resolved) - set(resolved):
            self._chains.clear(("hep", iface))
        for iface, hep in resolved.items():
            if self._resolved.get(iface) == hep:
                continue
            chain_iface = "any-interface-at-all" if iface == "*" else iface
            for v in self.ctx.versions:
                by_table = r.host_endpoint_chains(chain_iface, hep, v)
                for table in TABLES:
                    self._chains.set(("hep", iface), table, v, by_table.get(table, []))
        if resolved != self._resolved or not self._chains.names():
            for v in self.ctx.versions:
                by_table = r.host_dispatch_chains(resolved, v)
                for table in TABLES:
                    self._chains.set("dispatch", table, v, by_table.get(table, []))
        self._resolved = resolved
        self._iface_ids = ifaces
        for hid in list(self._status):
            if hid not in self.heps:
                self._set_status(hid, None)
        for hid, names in ifaces.items():
            if not names:
                status = "error"
            elif all(n == "*" or self.ctx.link_up(n) for n in names):
                status = "up"
            else:
                status = "down"
            self._set_status(hid, status)

    def _set_status(self, hid: m.HostEndpointID, status: str | None) -> None:
        if self._status.get(hid) == status:
            return
        if status is None:
            self._status.pop(hid, None)
        else:
            self._status[hid] = status
        self.on_status(hid, status)

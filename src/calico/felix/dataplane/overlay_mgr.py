"""Overlay managers: VXLAN (``vxlan.calico``) and IPIP (``tunl0``) devices and cluster routes.

VXLANManager (felix.md §4.6): this node's VTEP (from its VXLANTunnelEndpointUpdate) gives the
device's MAC, tunnel address and parent IP; every other VTEP gets a permanent ARP entry and an FDB
entry on the device; every remote IPAM block in a VXLAN pool is routed ``via <remote VTEP IP> dev
vxlan.calico onlink`` (only once that node's VTEP is known); local blocks get a blackhole route so
unallocated addresses are not routed back out; CrossSubnet pools route same-subnet blocks via the
node IP without encapsulation.

IPIPManager: remote blocks in IPIP pools are routed ``via <node IP> dev tunl0 onlink``. This
kernel may have no ipip support: the manager then logs once why IPIP pools cannot work and keeps
everything else running.
"""

from __future__ import annotations

import ipaddress
import logging

from calico.felix import messages as m
from calico.felix.dataplane.context import DataplaneContext
from calico.linux.ipip import IPIP_DEVICE, IPIPDevice, IPIPError, IPIPUnsupportedError
from calico.linux.routes import NO_INTERFACE, Target
from calico.linux.vxlan import VTEP, VXLAN_DEVICE, VXLANFDB, VXLANConfig, VXLANDevice, VXLANError

log = logging.getLogger(__name__)

NO_ENCAP_KEY = "*same-subnet*"


class _RouteState:
    """Routes, pools and host IPs shared by both overlay managers (fed the same messages)."""

    def __init__(self) -> None:
        self.routes: dict[str, m.RouteUpdate] = {}
        self.pools: dict[str, m.IPAMPool] = {}

    def on_update(self, msg: object) -> bool:
        if isinstance(msg, m.RouteUpdate):
            self.routes[msg.dst] = msg
        elif isinstance(msg, m.RouteRemove):
            self.routes.pop(msg.dst, None)
        elif isinstance(msg, m.IPAMPoolUpdate):
            self.pools[msg.id] = msg.pool
        elif isinstance(msg, m.IPAMPoolRemove):
            self.pools.pop(msg.id, None)
        else:
            return False
        return True

    def mode_for(self, dst: str, kind: str) -> str:
        """The encapsulation mode (Always/CrossSubnet/Never) of the pool containing ``dst``."""
        net = ipaddress.ip_network(dst, strict=False)
        best: tuple[int, str] = (-1, "Never")
        for p in self.pools.values():
            pnet = ipaddress.ip_network(p.cidr, strict=False)
            if pnet.version == net.version and net.subnet_of(pnet) and pnet.prefixlen > best[0]:  # type: ignore[arg-type]
                best = (pnet.prefixlen, p.vxlan_mode if kind == "vxlan" else p.ipip_mode)
        return best[1]

    def encap_enabled(self, kind: str) -> bool:
        attr = "vxlan_mode" if kind == "vxlan" else "ipip_mode"
        return any(getattr(p, attr, "Never") not in ("Never", "") and not p.disabled for p in self.pools.values())


class VXLANManager:
    def __init__(self, ctx: DataplaneContext, hostname: str, *, forced: bool = False, vni: int = 4096,
                 port: int = 4789, mtu: int = 0) -> None:
        self.ctx = ctx
        self.hostname = hostname
        self.forced = forced
        self.vni, self.port, self.mtu = vni, port, mtu
        self.state = _RouteState()
        self.vteps: dict[str, m.VXLANTunnelEndpointUpdate] = {}
        self.fdb = VXLANFDB(VXLAN_DEVICE, netns=ctx.netns)
        self._device_cfg: VXLANConfig | None = None
        self._device_ok = False
        self._dirty = True

    @property
    def enabled(self) -> bool:
        return self.forced or self.state.encap_enabled("vxlan")

    def on_update(self, msg: object) -> None:
        if self.state.on_update(msg):
            self._dirty = True
        elif isinstance(msg, m.VXLANTunnelEndpointUpdate):
            self.vteps[msg.node] = msg
            self._dirty = True
        elif isinstance(msg, m.VXLANTunnelEndpointRemove):
            self.vteps.pop(msg.node, None)
            self._dirty = True

    def on_iface_change(self) -> None:
        if self.enabled and not self._device_ok:
            self._dirty = True

    def _parent_iface(self, ip: str) -> str | None:
        for name, addrs in self.ctx.addrs.items():
            if ip in addrs:
                return name
        return None

    def complete_deferred_work(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        rt = self.ctx.routes.get(4)
        if rt is None:
            return
        mine = self.vteps.get(self.hostname)
        enc: list[Target] = []
        blackholes: list[Target] = []
        direct: list[Target] = []
        if self.enabled:
            for dst, r in self.state.routes.items():
                if ":" in dst or r.ip_pool_type != m.IPPoolType.VXLAN:
                    continue
                if m.RouteType.REMOTE_WORKLOAD in r.types and r.dst_node != self.hostname:
                    if r.same_subnet and r.dst_node_ip and self.state.mode_for(dst, "vxlan") == "CrossSubnet":
                        direct.append(Target(dst, gateway=r.dst_node_ip))
                        continue
                    vtep = self.vteps.get(r.dst_node)
                    if vtep is not None and vtep.ipv4_addr:
                        enc.append(Target(dst, gateway=vtep.ipv4_addr, onlink=True))
                elif m.RouteType.LOCAL_WORKLOAD in r.types and ipaddress.ip_network(dst).prefixlen < 32:
                    blackholes.append(Target(dst, route_type="blackhole"))
            remote = [VTEP(v.node, v.parent_device_ip, v.ipv4_addr, v.mac)
                      for n, v in self.vteps.items() if n != self.hostname and v.mac and v.ipv4_addr]
            self.fdb.set_vteps(remote)
        else:
            self.fdb.set_vteps([])
        rt.set_routes(VXLAN_DEVICE, enc)
        rt.set_routes(NO_INTERFACE, blackholes)
        parent = self._parent_iface(mine.parent_device_ip) if mine else None
        rt.set_routes(parent or NO_ENCAP_KEY, direct if parent else [])
        if self.enabled and mine is not None:
            cfg = VXLANConfig(VXLAN_DEVICE, self.vni, self.port, parent, mine.parent_device_ip or None,
                              mine.mac or None, self.mtu or None, mine.ipv4_addr or None)
            if cfg != self._device_cfg:
                self._device_cfg = cfg
                self._device_ok = False
        else:
            self._device_cfg = None

    def apply_kernel(self) -> None:
        """Device then FDB/ARP (the RouteTable writes the routes right after)."""
        if self._device_cfg is not None and not self._device_ok:
            try:
                VXLANDevice(self._device_cfg, netns=self.ctx.netns).ensure()
                self._device_ok = True
                self.fdb.refresh()
                log.info("VXLAN device %s configured (VTEP %s, parent %s)", VXLAN_DEVICE,
                         self._device_cfg.address, self._device_cfg.parent)
                rt = self.ctx.routes.get(4)
                if rt is not None:
                    rt.refresh()
            except (VXLANError, OSError) as exc:
                log.warning("VXLAN device not ready (will retry): %s", exc)
                return
        if self._device_ok:
            self.fdb.apply()

    def refresh(self) -> None:
        self.fdb.refresh()
        self._device_ok = False if self._device_cfg is not None else self._device_ok


class IPIPManager:
    def __init__(self, ctx: DataplaneContext, hostname: str, *, forced: bool = False, address: str = "",
                 mtu: int = 0) -> None:
        self.ctx = ctx
        self.hostname = hostname
        self.forced = forced
        self.address = address
        self.mtu = mtu
        self.state = _RouteState()
        self.unsupported: str | None = None
        self._device_ok = False
        self._dirty = True

    @property
    def enabled(self) -> bool:
        return self.forced or self.state.encap_enabled("ipip")

    def on_update(self, msg: object) -> None:
        if self.state.on_update(msg):
            self._dirty = True

    def complete_deferred_work(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        rt = self.ctx.routes.get(4)
        if rt is None:
            return
        targets: list[Target] = []
        if self.enabled and self.unsupported is None:
            for dst, r in self.state.routes.items():
                if (":" in dst or r.ip_pool_type != m.IPPoolType.IPIP or r.dst_node == self.hostname
                        or m.RouteType.REMOTE_WORKLOAD not in r.types or not r.dst_node_ip):
                    continue
                if r.same_subnet and self.state.mode_for(dst, "ipip") == "CrossSubnet":
                    continue  # CrossSubnet: BIRD / the no-encap path routes it
                targets.append(Target(dst, gateway=r.dst_node_ip, onlink=True))
        rt.set_routes(IPIP_DEVICE, targets)

    def apply_kernel(self) -> None:
        if not self.enabled or self._device_ok or self.unsupported is not None:
            return
        try:
            IPIPDevice(netns=self.ctx.netns, address=self.address or None, mtu=self.mtu or None).ensure()
            self._device_ok = True
            log.info("IPIP device %s configured", IPIP_DEVICE)
        except IPIPUnsupportedError as exc:
            self.unsupported = str(exc)
            self._dirty = True
            log.error("IPIP pools are configured but cannot work on this host: %s", exc)
        except (IPIPError, OSError) as exc:
            log.warning("IPIP device not ready (will retry): %s", exc)

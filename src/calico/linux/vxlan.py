"""VXLAN: the ``vxlan.calico`` device and the FDB/ARP entries for remote VTEPs (felix.md §4.6).

``VXLANDevice.ensure()`` creates the device (VNI 4096, UDP 4789, learning off, the node's VTEP MAC,
source = parent interface IP) or recreates it when VNI/port/parent/source differ, sets MTU and the
tunnel address, and brings it up. ``VXLANFDB`` keeps, per remote VTEP, a permanent neighbour entry
(VTEP IP -> VTEP MAC) and an FDB entry (VTEP MAC -> remote node IP) on the device, deleting entries
for VTEPs that went away. Routes to remote blocks go through RouteTable with the device as
interface (``Target(block, gateway=<VTEP IP>, onlink=True)``).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger(__name__)

VXLAN_DEVICE = "vxlan.calico"
VXLAN_DEVICE_V6 = "vxlan-v6.calico"
DEFAULT_VNI = 4096
DEFAULT_PORT = 4789
NUD_PERMANENT = 0x80
NTF_SELF = 0x2


class VXLANError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class VXLANConfig:
    name: str = VXLAN_DEVICE
    vni: int = DEFAULT_VNI
    port: int = DEFAULT_PORT
    parent: str | None = None  # interface carrying the encapsulated traffic
    local_ip: str | None = None  # VTEP source address (the parent's IP)
    mac: str | None = None
    mtu: int | None = None
    address: str | None = None  # tunnel address (IPv4VXLANTunnelAddr), programmed as /32


@dataclass(frozen=True, slots=True)
class VTEP:
    """A remote node's tunnel endpoint."""

    node: str
    node_ip: str  # the remote parent IP (outer destination)
    vtep_ip: str  # the remote tunnel address (route gateway)
    mac: str


def _ipr(netns: str | None) -> IPRoute:
    # pyroute2 (~70 ms to import) only once a tunnel is in use: never on a plain start's path.
    from pyroute2 import IPRoute

    return IPRoute(netns=netns) if netns else IPRoute()


def _netlink_error() -> type[NetlinkError]:
    from pyroute2.netlink.exceptions import NetlinkError

    return NetlinkError  # type: ignore[no-any-return]


class VXLANDevice:
    def __init__(self, config: VXLANConfig, *, netns: str | None = None) -> None:
        self.config = config
        self.netns = netns

    def ensure(self) -> bool:
        """Make the device match the config; returns True if anything changed."""
        c = self.config
        with _ipr(self.netns) as ipr:
            parent_idx = None
            if c.parent:
                found = ipr.link_lookup(ifname=c.parent)
                if not found:
                    raise VXLANError(f"VXLAN parent interface {c.parent!r} does not exist")
                parent_idx = found[0]
            changed = False
            existing = ipr.link_lookup(ifname=c.name)
            if existing and not self._matches(ipr.get_links(existing[0])[0], parent_idx):
                log.info("VXLAN device %s has the wrong parameters; recreating it", c.name)
                ipr.link("del", index=existing[0])
                existing = []
            if not existing:
                kw: dict[str, Any] = dict(ifname=c.name, kind="vxlan", vxlan_id=c.vni, vxlan_port=c.port,
                                          vxlan_learning=0)
                if c.local_ip:
                    kw["vxlan_local" if ipaddress.ip_address(c.local_ip).version == 4 else "vxlan_local6"] = \
                        c.local_ip
                if parent_idx is not None:
                    kw["vxlan_link"] = parent_idx
                if c.mac:
                    kw["address"] = c.mac
                if c.mtu:
                    kw["mtu"] = c.mtu
                try:
                    ipr.link("add", **kw)
                except _netlink_error() as exc:
                    raise VXLANError(f"could not create VXLAN device {c.name}: {exc}") from exc
                changed = True
                log.info("Created VXLAN device %s (VNI %d, port %d)", c.name, c.vni, c.port)
            index = ipr.link_lookup(ifname=c.name)[0]
            link = ipr.get_links(index)[0]
            updates: dict[str, Any] = {}
            if c.mac and (link.get("address") or "").lower() != c.mac.lower():
                updates["address"] = c.mac
            if c.mtu and link.get("mtu") != c.mtu:
                updates["mtu"] = c.mtu
            if not link["flags"] & 1:
                updates["state"] = "up"
            if updates:
                ipr.link("set", index=index, **updates)
                changed = True
            changed |= self._ensure_address(ipr, index)
            return changed

    def _matches(self, link: Any, parent_idx: int | None) -> bool:
        info = link.get("IFLA_LINKINFO")
        if info is None or info.get("IFLA_INFO_KIND") != "vxlan":
            return False
        data = info.get("IFLA_INFO_DATA")
        attrs = dict(data["attrs"]) if data is not None else {}
        c = self.config
        local = attrs.get("IFLA_VXLAN_LOCAL") or attrs.get("IFLA_VXLAN_LOCAL6")
        return (attrs.get("IFLA_VXLAN_ID") == c.vni and attrs.get("IFLA_VXLAN_PORT") == c.port
                and (c.local_ip is None or local == c.local_ip)
                and (parent_idx is None or attrs.get("IFLA_VXLAN_LINK") == parent_idx))

    def _ensure_address(self, ipr: IPRoute, index: int) -> bool:
        c = self.config
        want = {c.address} if c.address else set()
        changed = False
        for msg in ipr.get_addr(index=index):
            addr = msg.get("address")
            if ipaddress.ip_address(addr).is_link_local:
                continue
            if addr not in want:
                ipr.addr("del", index=index, address=addr, prefixlen=msg["prefixlen"])
                changed = True
            else:
                want.discard(addr)
        for addr in want:
            plen = 32 if ipaddress.ip_address(addr).version == 4 else 128
            ipr.addr("add", index=index, address=addr, prefixlen=plen)
            changed = True
        return changed

    def remove(self) -> bool:
        with _ipr(self.netns) as ipr:
            found = ipr.link_lookup(ifname=self.config.name)
            if found:
                ipr.link("del", index=found[0])
                return True
        return False


class VXLANFDB:
    """Neighbour (ARP/NDP) and FDB entries for remote VTEPs on the VXLAN device."""

    def __init__(self, iface: str = VXLAN_DEVICE, *, netns: str | None = None, ip_version: int = 4) -> None:
        self.iface = iface
        self.netns = netns
        self.family = socket.AF_INET if ip_version == 4 else socket.AF_INET6
        self._vteps: dict[str, VTEP] = {}
        self._dp_arp: dict[str, str] = {}  # vtep ip -> mac
        self._dp_fdb: dict[str, str] = {}  # mac -> node ip
        self._needs_resync = True
        self._dirty = True

    def set_vteps(self, vteps: Iterable[VTEP]) -> None:
        self._vteps = {v.node: v for v in vteps}
        self._dirty = True

    def refresh(self) -> None:
        self._needs_resync = True

    def apply(self) -> bool:
        if not self._dirty and not self._needs_resync:
            return False
        with _ipr(self.netns) as ipr:
            found = ipr.link_lookup(ifname=self.iface)
            if not found:
                return False  # device not there yet; stays dirty
            index = found[0]
            if self._needs_resync:
                self._resync(ipr, index)
            want_arp = {v.vtep_ip: v.mac.lower() for v in self._vteps.values()}
            want_fdb = {v.mac.lower(): v.node_ip for v in self._vteps.values()}
            changed = False
            for ip in [ip for ip in self._dp_arp if want_arp.get(ip) != self._dp_arp[ip]]:
                _quiet(ipr.neigh, "del", dst=ip, ifindex=index, family=self.family)
                del self._dp_arp[ip]
                changed = True
            for mac in [m for m in self._dp_fdb if want_fdb.get(m) != self._dp_fdb[m]]:
                _quiet(ipr.fdb, "del", ifindex=index, lladdr=mac, dst=self._dp_fdb[mac], flags=NTF_SELF)
                del self._dp_fdb[mac]
                changed = True
            for mac, node_ip in want_fdb.items():
                if mac not in self._dp_fdb:
                    ipr.fdb("replace", ifindex=index, lladdr=mac, dst=node_ip, flags=NTF_SELF,
                            state=NUD_PERMANENT)
                    self._dp_fdb[mac] = node_ip
                    changed = True
            for ip, mac in want_arp.items():
                if ip not in self._dp_arp:
                    ipr.neigh("replace", dst=ip, lladdr=mac, ifindex=index, state=NUD_PERMANENT,
                              family=self.family)
                    self._dp_arp[ip] = mac
                    changed = True
            self._dirty = False
            return changed

    def _resync(self, ipr: IPRoute, index: int) -> None:
        self._dp_arp = {}
        for msg in ipr.get_neighbours(family=self.family, ifindex=index):
            if msg["state"] & NUD_PERMANENT and msg.get("lladdr"):
                self._dp_arp[msg.get("dst")] = msg.get("lladdr").lower()
        self._dp_fdb = {}
        for msg in ipr.get_neighbours(family=socket.AF_BRIDGE, ifindex=index):
            if msg.get("dst") and msg.get("lladdr"):
                self._dp_fdb[msg.get("lladdr").lower()] = msg.get("dst")
        self._needs_resync = False


def _quiet(fn: Any, *args: Any, **kw: Any) -> None:
    try:
        fn(*args, **kw)
    except _netlink_error() as exc:
        if exc.code not in (2, 3, 19):  # already gone
            raise

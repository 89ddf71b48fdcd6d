"""CNI results: typed values, parsed from a delegate's output and printed in any spec version. Pure."""

from __future__ import annotations

import ipaddress

from calico.cni.errors import DECODE_FAILURE, CNIError
from calico.cni.versions import at_least
from calico.common.record import field, record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@record
class Interface:
    name: str
    mac: str = ""
    mtu: int = 0
    sandbox: str = ""


@record
class IPConfig:
    address: str  # CIDR form, e.g. "10.0.0.5/32"
    gateway: str = ""
    interface: int | None = None

    @property
    def version(self) -> int:
        return ipaddress.ip_interface(self.address).version


@record
class Route:
    dst: str
    gw: str = ""


@record
class Result:
    interfaces: tuple[Interface, ...] = ()
    ips: tuple[IPConfig, ...] = ()
    routes: tuple[Route, ...] = ()
    dns: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, cni_version: str) -> dict[str, Any]:
        """The result in ``cni_version``'s format (0.1/0.2 legacy ip4/ip6, 0.3/0.4 with ``version``)."""
        if not at_least(cni_version, "0.3.0"):
            return self._legacy(cni_version)
        out: dict[str, Any] = {"cniVersion": cni_version}
        if self.interfaces:
            out["interfaces"] = [_iface(i, cni_version) for i in self.interfaces]
        ips = []
        for ip in self.ips:
            entry: dict[str, Any] = {}
            if not at_least(cni_version, "1.0.0"):
                entry["version"] = str(ip.version)
            entry["address"] = ip.address
            if ip.gateway:
                entry["gateway"] = ip.gateway
            if ip.interface is not None:
                entry["interface"] = ip.interface
            ips.append(entry)
        if ips:
            out["ips"] = ips
        if self.routes:
            out["routes"] = [_route(r) for r in self.routes]
        out["dns"] = dict(self.dns)
        return out

    def _legacy(self, cni_version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": cni_version}
        for version in (4, 6):
            ips = [ip for ip in self.ips if ip.version == version]
            if not ips:
                continue
            entry: dict[str, Any] = {"ip": ips[0].address}
            if ips[0].gateway:
                entry["gateway"] = ips[0].gateway
            routes = [_route(r) for r in self.routes if ipaddress.ip_network(r.dst, strict=False).version == version]
            if routes:
                entry["routes"] = routes
            out[f"ip{version}"] = entry
        out["dns"] = dict(self.dns)
        return out


def _iface(iface: Interface, cni_version: str) -> dict[str, Any]:
    out: dict[str, Any] = {"name": iface.name}
    if iface.mac:
        out["mac"] = iface.mac
    if iface.mtu and at_least(cni_version, "1.1.0"):
        out["mtu"] = iface.mtu
    if iface.sandbox:
        out["sandbox"] = iface.sandbox
    return out


def _route(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"dst": route.dst}
    if route.gw:
        out["gw"] = route.gw
    return out


def parse_result(doc: dict[str, Any]) -> Result:
    """Any version's result (a delegate's output or a ``prevResult``) as a Result."""
    try:
        if "ips" in doc or "interfaces" in doc or ("ip4" not in doc and "ip6" not in doc):
            return Result(
                interfaces=tuple(Interface(name=str(i["name"]), mac=str(i.get("mac", "")),
                                           mtu=int(i.get("mtu", 0) or 0), sandbox=str(i.get("sandbox", "")))
                                 for i in doc.get("interfaces") or ()),
                ips=tuple(IPConfig(address=_cidr(ip["address"]), gateway=str(ip.get("gateway", "") or ""),
                                   interface=ip.get("interface"))
                          for ip in doc.get("ips") or ()),
                routes=tuple(Route(dst=str(r["dst"]), gw=str(r.get("gw", "") or "")) for r in doc.get("routes") or ()),
                dns=dict(doc.get("dns") or {}),
            )
        ips: list[IPConfig] = []
        routes: list[Route] = []
        for key in ("ip4", "ip6"):
            entry = doc.get(key)
            if entry:
                ips.append(IPConfig(address=_cidr(entry["ip"]), gateway=str(entry.get("gateway", "") or "")))
                routes.extend(Route(dst=str(r["dst"]), gw=str(r.get("gw", "") or ""))
                              for r in entry.get("routes") or ())
        return Result(ips=tuple(ips), routes=tuple(routes), dns=dict(doc.get("dns") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise CNIError(DECODE_FAILURE, "failed to parse result", f"{type(exc).__name__}: {exc}") from None


def _cidr(text: object) -> str:
    return str(ipaddress.ip_interface(str(text)))


def host_address(ip: IPConfig) -> IPConfig:
    """The same address as a /32 (/128), with no gateway: how Calico puts it on the interface."""
    iface = ipaddress.ip_interface(ip.address)
    return replace(ip, address=f"{iface.ip}/{iface.max_prefixlen}", gateway="")

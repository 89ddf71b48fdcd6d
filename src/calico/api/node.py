"""Node: a Calico host's BGP addresses, tunnel addresses and orchestrator references."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from calico.api.checks import MAC_RE, Errs
from calico.api.meta import CalicoModel, Resource
from calico.api.values import ASNumber, parse_cidr_or_ip, parse_ip

IP_TYPES = ("CalicoNodeIP", "InternalIP", "ExternalIP")


class NodeBGPSpec(CalicoModel):
    as_number: ASNumber | None = Field(None, alias="asNumber")
    ipv4_address: str = Field("", alias="ipv4Address")
    ipv6_address: str = Field("", alias="ipv6Address")
    ipv4_ipip_tunnel_addr: str = Field("", alias="ipv4IPIPTunnelAddr")
    route_reflector_cluster_id: str = Field("", alias="routeReflectorClusterID")
    KEEP = frozenset({"as_number"})


class OrchRef(CalicoModel):
    node_name: str = Field("", alias="nodeName")
    orchestrator: str = ""
    ALWAYS = frozenset({"orchestrator"})


class NodeWireguardSpec(CalicoModel):
    interface_ipv4_address: str = Field("", alias="interfaceIPv4Address")
    interface_ipv6_address: str = Field("", alias="interfaceIPv6Address")


class NodeAddress(CalicoModel):
    address: str = ""
    type: str = ""
    ALWAYS = frozenset({"address"})


class NodeInterface(CalicoModel):
    name: str = ""
    addresses: list[str] | None = None


class NodeSpec(CalicoModel):
    bgp: NodeBGPSpec | None = Field(None, alias="bgp")
    ipv4_vxlan_tunnel_addr: str = Field("", alias="ipv4VXLANTunnelAddr")
    vxlan_tunnel_mac_addr: str = Field("", alias="vxlanTunnelMACAddr")
    ipv6_vxlan_tunnel_addr: str = Field("", alias="ipv6VXLANTunnelAddr")
    vxlan_tunnel_mac_addr_v6: str = Field("", alias="vxlanTunnelMACAddrV6")
    orch_refs: list[OrchRef] | None = Field(None, alias="orchRefs")
    wireguard: NodeWireguardSpec | None = None
    addresses: list[NodeAddress] | None = None
    interfaces: list[NodeInterface] | None = None


class NodeStatus(CalicoModel):
    """Reported by calico-node/Felix; kept as given (unknown keys tolerated)."""

    model_config = ConfigDict(extra="allow")
    wireguard_public_key: str = Field("", alias="wireguardPublicKey")
    wireguard_public_key_v6: str = Field("", alias="wireguardPublicKeyV6")
    pod_cidrs: list[str] | None = Field(None, alias="podCIDRs")

    def to_json(self) -> dict[str, Any]:
        out = super().to_json()
        out.update(self.model_extra or {})
        return out


def _check_ip(errs: Errs, field: str, value: str, version: int) -> None:
    if value:
        addr = parse_ip(value)
        if addr is None or addr.version != version:
            errs.tag(field, value, f"ipv{version}")


def _check_cidr(errs: Errs, field: str, value: str, version: int) -> None:
    if value:
        try:
            ok = parse_cidr_or_ip(value)[0].version == version
        except ValueError:
            ok = False
        if not ok:
            errs.tag(field, value, f"cidrv{version}")


class Node(Resource):
    KIND = "Node"
    spec: NodeSpec = Field(default_factory=lambda: NodeSpec.model_validate({}))
    status: NodeStatus = Field(default_factory=lambda: NodeStatus.model_validate({}))
    ALWAYS = frozenset({"metadata", "spec", "status"})

    def field_checks(self, errs: Errs) -> None:
        s = self.spec
        if s.bgp is not None:
            b = s.bgp
            _check_cidr(errs, "IPv4Address", b.ipv4_address, 4)
            _check_cidr(errs, "IPv6Address", b.ipv6_address, 6)
            _check_ip(errs, "IPv4IPIPTunnelAddr", b.ipv4_ipip_tunnel_addr, 4)
            _check_ip(errs, "RouteReflectorClusterID", b.route_reflector_cluster_id, 4)
        _check_ip(errs, "IPv4VXLANTunnelAddr", s.ipv4_vxlan_tunnel_addr, 4)
        _check_ip(errs, "IPv6VXLANTunnelAddr", s.ipv6_vxlan_tunnel_addr, 6)
        for field, mac in (("VXLANTunnelMACAddr", s.vxlan_tunnel_mac_addr),
                           ("VXLANTunnelMACAddrV6", s.vxlan_tunnel_mac_addr_v6)):
            if mac and not MAC_RE.match(mac):
                errs.tag(field, mac, "mac")
        if s.wireguard is not None:
            _check_ip(errs, "InterfaceIPv4Address", s.wireguard.interface_ipv4_address, 4)
            _check_ip(errs, "InterfaceIPv6Address", s.wireguard.interface_ipv6_address, 6)
        for a in s.addresses or []:
            if a.type and a.type not in IP_TYPES:
                errs.tag("Type", a.type, "ipType")
        if s.bgp is not None and not s.bgp.to_json():
            errs.add("BGP", s.bgp.to_json(), "Spec.BGP should not be empty")

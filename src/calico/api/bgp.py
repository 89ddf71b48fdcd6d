"""BGPPeer, BGPConfiguration and BGPFilter (libcalico validateBGPPeerSpec, bgpconfig client checks)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from calico.api.checks import IGNORED_INTERFACE_RE, Errs, check_selector, name_ok
from calico.api.errors import FieldError
from calico.api.meta import CalicoModel, Resource
from calico.api.values import ASNumber, normalize_duration, parse_cidr_or_ip, parse_ip

GoDuration = Annotated[str, AfterValidator(normalize_duration)]

_IPV4_PORT = re.compile(r"^(\d+).(\d+).(\d+).(\d+):(\d+)$")
_IPV6_PORT = re.compile(r"^\[[0-9a-fA-F:.]+\]:(\d+)$")
_STD_COMMUNITY = re.compile(r"^(\d+):(\d+)$")
_LARGE_COMMUNITY = re.compile(r"^(\d+):(\d+):(\d+)$")
_BGP_FILTER_IFACE = re.compile(r"^[a-zA-Z0-9_.*-]{1,15}$")


def split_peer_ip(text: str) -> tuple[str, int] | None:
    """processIPPort: ``IP``, ``IPv4:port`` or ``[IPv6]:port`` -> (ip, port or 0); None if invalid."""
    if not text:
        return None
    ip_str, port = text, 0
    if _IPV4_PORT.match(text) or _IPV6_PORT.match(text):
        host, _, port_str = text.rpartition(":")
        ip_str = host[1:-1] if host.startswith("[") else host
        try:
            port = int(port_str)
        except ValueError:
            return None
        if not 1 <= port <= 65535:
            return None
    if parse_ip(ip_str) is None:
        return None
    return ip_str, port


class SecretKeySelector(CalicoModel):
    name: str = ""
    key: str = ""
    optional: bool | None = None
    KEEP = frozenset({"name", "key"})


class BGPPassword(CalicoModel):
    secret_key_ref: SecretKeySelector | None = Field(None, alias="secretKeyRef")


class BGPPeerSpec(CalicoModel):
    node: str = ""
    node_selector: str = Field("", alias="nodeSelector")
    peer_ip: str = Field("", alias="peerIP")
    as_number: ASNumber = Field(ASNumber(0), alias="asNumber")
    peer_selector: str = Field("", alias="peerSelector")
    keep_original_next_hop: bool = Field(False, alias="keepOriginalNextHop")
    password: BGPPassword | None = None
    source_address: str = Field("", alias="sourceAddress")
    max_restart_time: GoDuration | None = Field(None, alias="maxRestartTime")
    num_allowed_local_as_numbers: int | None = Field(None, alias="numAllowedLocalASNumbers")
    ttl_security: int | None = Field(None, alias="ttlSecurity")
    reachable_by: str = Field("", alias="reachableBy")
    filters: list[str] | None = None
    local_workload_selector: str = Field("", alias="localWorkloadSelector")
    next_hop_mode: str | None = Field(None, alias="nextHopMode")
    local_as_number: ASNumber | None = Field(None, alias="localASNumber")
    reverse_peering: str | None = Field(None, alias="reversePeering")
    keepalive_time: GoDuration | None = Field(None, alias="keepaliveTime")

    KEEP = frozenset({"num_allowed_local_as_numbers", "ttl_security", "local_as_number"})


class BGPPeer(Resource):
    KIND = "BGPPeer"
    spec: BGPPeerSpec = Field(default_factory=lambda: BGPPeerSpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        s = self.spec
        if s.node and not name_ok(s.node):
            errs.tag("Node", s.node, "name")
        if s.peer_ip and split_peer_ip(s.peer_ip) is None:
            errs.tag("PeerIP", s.peer_ip, "IP:port")
        check_selector(errs, "NodeSelector", s.node_selector)
        check_selector(errs, "PeerSelector", s.peer_selector)
        check_selector(errs, "LocalWorkloadSelector", s.local_workload_selector)
        for field, text in (("NodeSelector", s.node_selector), ("PeerSelector", s.peer_selector)):
            if "global()" in text:
                errs.add(field, text, "global() can only be used in an EntityRule namespaceSelector")
        if s.source_address and s.source_address not in ("UseNodeIP", "None"):
            errs.tag("SourceAddress", s.source_address, "sourceAddress")
        if s.reachable_by and parse_ip(s.reachable_by) is None:
            errs.tag("ReachableBy", s.reachable_by, "reachableBy")
        if s.ttl_security is not None and not 0 <= s.ttl_security <= 255:
            errs.tag("TTLSecurity", s.ttl_security, "lte")
        for i, f in enumerate(s.filters or []):
            if not name_ok(f):
                errs.tag(f"Filters[{i}]", f, "name")
        if s.next_hop_mode is not None and s.next_hop_mode not in ("Auto", "Self", "Keep"):
            errs.tag("NextHopMode", s.next_hop_mode, "oneof")
        # validateBGPPeerSpec
        if s.node and s.node_selector:
            errs.add("Node", s.node, "Node field must be empty when NodeSelector is specified")
        if s.peer_ip and s.peer_selector:
            errs.add("PeerIP", s.peer_ip, "PeerIP field must be empty when PeerSelector is specified")
        if s.as_number and s.peer_selector:
            errs.add("ASNumber", int(s.as_number), "ASNumber field must be empty when PeerSelector is specified")
        if not s.as_number and s.local_workload_selector:
            errs.add("ASNumber", int(s.as_number),
                     "ASNumber field must NOT be empty when LocalWorkloadSelector is specified")
        if s.peer_ip and s.local_workload_selector:
            errs.add("PeerIP", s.peer_ip, "PeerIP field must be empty when LocalWorkloadSelector is specified")
        if s.peer_selector and s.local_workload_selector:
            errs.add("PeerSelector", s.peer_ip,
                     "PeerSelector field must be empty when LocalWorkloadSelector is specified")
        msg = _reachable_by_problem(s.reachable_by, s.peer_ip)
        if msg:
            errs.add("ReachableBy", s.reachable_by, msg)
        if s.keep_original_next_hop and s.next_hop_mode is not None:
            errs.add("KeepOriginalNextHop", s.peer_ip,
                     "The KeepOriginalNextHop field is deprecated. It must not be set to true when NextHopMode "
                     "is configured.")


def _reachable_by_problem(reachable_by: str, peer_ip: str) -> str | None:
    if not reachable_by:
        return None
    if not peer_ip:
        return "ReachablyBy field must be empty when PeerIP is empty"
    gw = parse_ip(reachable_by)
    if gw is None:
        return "ReachableBy is invalid address"
    peer = split_peer_ip(peer_ip)
    if peer is None:
        return "PeerIP is invalid address"
    peer_addr = parse_ip(peer[0])
    if peer_addr is None:
        return "PeerIP is invalid IP address"
    if gw.version != peer_addr.version:
        return "ReachableBy and PeerIP address family mismatched"
    return None


# --- BGPConfiguration -----------------------------------------------------------------------

class ServiceIPBlock(CalicoModel):
    cidr: str = ""


class Community(CalicoModel):
    name: str = ""
    value: str = ""


class PrefixAdvertisement(CalicoModel):
    cidr: str = ""
    communities: list[str] | None = None


class BGPConfigurationSpec(CalicoModel):
    log_severity_screen: str = Field("", alias="logSeverityScreen")
    node_to_node_mesh_enabled: bool | None = Field(None, alias="nodeToNodeMeshEnabled")
    as_number: ASNumber | None = Field(None, alias="asNumber")
    service_load_balancer_ips: list[ServiceIPBlock] | None = Field(None, alias="serviceLoadBalancerIPs")
    service_external_ips: list[ServiceIPBlock] | None = Field(None, alias="serviceExternalIPs")
    service_cluster_ips: list[ServiceIPBlock] | None = Field(None, alias="serviceClusterIPs")
    communities: list[Community] | None = None
    prefix_advertisements: list[PrefixAdvertisement] | None = Field(None, alias="prefixAdvertisements")
    listen_port: int = Field(0, alias="listenPort")
    node_mesh_password: BGPPassword | None = Field(None, alias="nodeMeshPassword")
    node_mesh_max_restart_time: GoDuration | None = Field(None, alias="nodeMeshMaxRestartTime")
    bind_mode: str | None = Field(None, alias="bindMode")
    ignored_interfaces: list[str] | None = Field(None, alias="ignoredInterfaces")
    local_workload_peering_ipv4: str = Field("", alias="localWorkloadPeeringIPV4")
    local_workload_peering_ipv6: str = Field("", alias="localWorkloadPeeringIPV6")
    program_cluster_routes: str | None = Field(None, alias="programClusterRoutes")

    KEEP = frozenset({"node_to_node_mesh_enabled", "as_number", "bind_mode"})


_NON_DEFAULT_ONLY = (
    ("node_to_node_mesh_enabled", "NodeToNodeMeshEnabled", "nodeToNodeMeshEnabled"),
    ("as_number", "ASNumber", "ASNumber"),
    ("service_external_ips", "ServiceExternalIPs", "ServiceExternalIPs"),
    ("service_cluster_ips", "ServiceClusterIPs", "ServiceClusterIPs"),
    ("service_load_balancer_ips", "ServiceLoadBalancerIPs", "ServiceLoadBalancerIPs"),
    ("node_mesh_password", "NodeMeshPassword", "NodeMeshPassword"),
    ("node_mesh_max_restart_time", "NodeMeshMaxRestartTime", "NodeMeshMaxRestartTime"),
)


class BGPConfiguration(Resource):
    KIND = "BGPConfiguration"
    spec: BGPConfigurationSpec = Field(default_factory=lambda: BGPConfigurationSpec.model_validate({}))

    def client_checks(self) -> list[FieldError]:
        if self.metadata.name == "default":
            return []
        out = []
        for attr, go_name, text in _NON_DEFAULT_ONLY:
            if getattr(self.spec, attr) is not None:
                out.append(FieldError(f"BGPConfiguration.Spec.{go_name}",
                                      reason=f"Cannot set {text} on a non default BGP Configuration."))
        return out

    def field_checks(self, errs: Errs) -> None:
        s = self.spec
        if s.log_severity_screen and s.log_severity_screen not in LOG_LEVELS:
            errs.tag("LogSeverityScreen", s.log_severity_screen, "logLevel")
        for blocks in (s.service_load_balancer_ips, s.service_external_ips, s.service_cluster_ips):
            for b in blocks or []:
                if b.cidr and not _strict(b.cidr):
                    errs.tag("CIDR", b.cidr, "net")
        if s.listen_port and not 0 < s.listen_port <= 65535:
            errs.tag("ListenPort", s.listen_port, "lte")
        if s.bind_mode is not None and s.bind_mode not in ("None", "NodeIP"):
            errs.tag("BindMode", s.bind_mode, "oneof")
        for i, iface in enumerate(s.ignored_interfaces or []):
            if iface == "*" or not IGNORED_INTERFACE_RE.match(iface):
                errs.tag(f"IgnoredInterfaces[{i}]", iface, "ignoredInterface")
        for field, ip, version in (("LocalWorkloadPeeringIPV4", s.local_workload_peering_ipv4, 4),
                                   ("LocalWorkloadPeeringIPV6", s.local_workload_peering_ipv6, 6)):
            if ip:
                addr = parse_ip(ip)
                if addr is None or addr.version != version:
                    errs.tag(field, ip, f"ipv{version}")
        # validateBGPConfigurationSpec
        communities = s.communities or []
        for c in communities:
            if not _valid_community(errs, c.value, "Spec.Communities[].Value"):
                errs.add("Spec.Communities[].Value", c.value, "invalid community value or format used.")
        if not s.prefix_advertisements and communities:
            errs.add("Spec.Communities[]", [c.to_json() for c in communities],
                     "communities are defined but not used in Spec.PrefixAdvertisement[].")
        names = {c.name for c in communities}
        for pa in s.prefix_advertisements or []:
            try:
                parse_cidr_or_ip(pa.cidr)
            except ValueError:
                errs.add("Spec.PrefixAdvertisement[].CIDR", pa.cidr, "invalid CIDR value.")
            for v in pa.communities or []:
                if not _valid_community(errs, v, "Spec.PrefixAdvertisement[].Communities[]") and v not in names:
                    errs.add("Spec.PrefixAdvertisement[].Communities[]", v, "community used is invalid or not defined.")
        mesh_off = s.node_to_node_mesh_enabled is False
        if s.node_mesh_password is not None and mesh_off:
            errs.add("Spec.NodeMeshPassword", s.to_json(),
                     "spec.NodeMeshPassword cannot be set if spec.NodeToNodeMesh is disabled")
        if s.node_mesh_max_restart_time is not None and mesh_off:
            errs.add("Spec.NodeMeshMaxRestartTime", s.to_json(),
                     "spec.NodeMeshMaxRestartTime cannot be set if spec.NodeToNodeMesh is disabled")


LOG_LEVELS = ("Trace", "Debug", "Info", "Warning", "Error", "Fatal")


def _strict(text: str) -> bool:
    try:
        addr, net = parse_cidr_or_ip(text)
    except ValueError:
        return False
    return addr == net.network_address


def _valid_community(errs: Errs, value: str, field: str) -> bool:
    if _STD_COMMUNITY.match(value):
        bits = 16
    elif _LARGE_COMMUNITY.match(value):
        bits = 32
    else:
        return False
    for part in re.findall(r"\d+", value):
        if int(part) >= 1 << bits:
            errs.add(field, value, f"invalid community value, expected {bits} bit value")
    return True


# --- BGPFilter -----------------------------------------------------------------------------

class BGPFilterPrefixLength(CalicoModel):
    min: int | None = None
    max: int | None = None
    KEEP = frozenset({"min", "max"})


class BGPFilterRule(CalicoModel):
    cidr: str = ""
    prefix_length: BGPFilterPrefixLength | None = Field(None, alias="prefixLength")
    source: str = ""
    interface: str = ""
    match_operator: str = Field("", alias="matchOperator")
    action: str = ""
    ALWAYS = frozenset({"action"})

    def check(self, errs: Errs, version: int) -> None:
        if self.cidr:
            try:
                addr, net = parse_cidr_or_ip(self.cidr)
                ok = net.version == version and addr == net.network_address
            except ValueError:
                ok = False
            if not ok:
                errs.tag("CIDR", self.cidr, f"netv{version}")
        if self.match_operator and self.match_operator not in ("Equal", "NotEqual", "In", "NotIn"):
            errs.tag("MatchOperator", self.match_operator, "matchOperator")
        if self.action not in ("Accept", "Reject"):
            errs.tag("Action", self.action, "filterAction")
        if self.source and self.source != "RemotePeers":
            errs.tag("Source", self.source, "oneof")
        if self.interface and not (self.interface == "*" or _BGP_FILTER_IFACE.match(self.interface)):
            errs.tag("Interface", self.interface, "bgpFilterInterface")
        top = 32 if version == 4 else 128
        if self.prefix_length is not None:
            for name, v in (("Min", self.prefix_length.min), ("Max", self.prefix_length.max)):
                if v is not None and not 0 <= v <= top:
                    errs.tag(name, v, f"bgpFilterPrefixLengthV{version}")
        if self.cidr and not self.match_operator:
            errs.add("CIDR", self.cidr, "MatchOperator cannot be empty when CIDR is not")
        if not self.cidr and self.match_operator:
            errs.add("MatchOperator", self.match_operator, "CIDR cannot be empty when MatchOperator is not")
        if not self.cidr and self.prefix_length is not None:
            errs.add("PrefixLength", self.prefix_length.to_json(), "CIDR cannot be empty when PrefixLength is not")


class BGPFilterSpec(CalicoModel):
    export_v4: list[BGPFilterRule] | None = Field(None, alias="exportV4")
    import_v4: list[BGPFilterRule] | None = Field(None, alias="importV4")
    export_v6: list[BGPFilterRule] | None = Field(None, alias="exportV6")
    import_v6: list[BGPFilterRule] | None = Field(None, alias="importV6")


class BGPFilter(Resource):
    KIND = "BGPFilter"
    spec: BGPFilterSpec = Field(default_factory=lambda: BGPFilterSpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        s = self.spec
        for rules, version in ((s.export_v4, 4), (s.import_v4, 4), (s.export_v6, 6), (s.import_v6, 6)):
            for r in rules or []:
                r.check(errs, version)

"""FelixConfiguration: one declarative table of Calico's fields (JSON name, type, allowed values).

Every field is a Go pointer or omitempty value, so unset fields stay absent (``None``) and Felix
falls back to its own defaults; the model only checks what the API validator checks.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, create_model

from calico.api.checks import IFACE_FILTER_RE, INTERFACE_RE, Errs, is_dns1123_subdomain
from calico.api.meta import CalicoModel, Resource
from calico.api.values import Port, normalize_duration, parse_cidr_or_ip, parse_ip

GoDuration = Annotated[str, AfterValidator(normalize_duration)]

LOG_LEVELS = ("Trace", "Debug", "Info", "Warning", "Error", "Fatal")


class ProtoPort(CalicoModel):
    protocol: str = ""
    port: int = 0
    net: str = ""
    ALWAYS = frozenset({"protocol", "port"})


class RouteTableRange(CalicoModel):
    min: int = 0
    max: int = 0
    ALWAYS = frozenset({"min", "max"})


class HealthTimeoutOverride(CalicoModel):
    name: str = ""
    timeout: GoDuration = "0s"
    ALWAYS = frozenset({"name", "timeout"})


_TYPES: dict[str, Any] = {
    "bool": bool, "int": int, "str": str, "dur": GoDuration, "ports": list[Port], "port": Port,
    "protoports": list[ProtoPort], "strs": list[str], "rtr": RouteTableRange, "rtrs": list[RouteTableRange],
    "map": dict[str, str], "hto": list[HealthTimeoutOverride], "any": Any,
}

# (json name, type, allowed values or None).  Order follows Calico's FelixConfigurationSpec.
FIELDS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("useInternalDataplaneDriver", "bool", None),
    ("dataplaneDriver", "str", None),
    ("dataplaneWatchdogTimeout", "dur", None),
    ("ipv6Support", "bool", None),
    ("routeRefreshInterval", "dur", None),
    ("interfaceRefreshInterval", "dur", None),
    ("iptablesRefreshInterval", "dur", None),
    ("iptablesPostWriteCheckInterval", "dur", None),
    ("iptablesLockFilePath", "str", None),
    ("iptablesLockTimeout", "dur", None),
    ("iptablesLockProbeInterval", "dur", None),
    ("featureDetectOverride", "str", None),
    ("featureGates", "str", None),
    ("ipsetsRefreshInterval", "dur", None),
    ("maxIpsetSize", "int", None),
    ("iptablesBackend", "str", ("Legacy", "NFT", "Auto")),
    ("xdpRefreshInterval", "dur", None),
    ("netlinkTimeout", "dur", None),
    ("metadataAddr", "str", None),
    ("metadataPort", "int", None),
    ("openstackRegion", "str", None),
    ("interfacePrefix", "str", None),
    ("interfaceExclude", "str", None),
    ("chainInsertMode", "str", ("Insert", "Append")),
    ("defaultEndpointToHostAction", "str", ("Drop", "Accept", "Return")),
    ("iptablesFilterAllowAction", "str", ("Accept", "Return")),
    ("iptablesMangleAllowAction", "str", ("Accept", "Return")),
    ("iptablesFilterDenyAction", "str", ("Drop", "Reject")),
    ("logPrefix", "str", None),
    ("logActionRateLimit", "str", None),
    ("logActionRateLimitBurst", "int", None),
    ("logFilePath", "str", None),
    ("logSeverityFile", "str", LOG_LEVELS),
    ("logSeverityScreen", "str", LOG_LEVELS),
    ("logSeveritySys", "str", LOG_LEVELS),
    ("logDebugFilenameRegex", "str", None),
    ("ipipEnabled", "bool", None),
    ("ipipMTU", "int", None),
    ("vxlanEnabled", "bool", None),
    ("vxlanMTU", "int", None),
    ("vxlanMTUV6", "int", None),
    ("vxlanPort", "int", None),
    ("vxlanVNI", "int", None),
    ("allowVXLANPacketsFromWorkloads", "bool", None),
    ("allowIPIPPacketsFromWorkloads", "bool", None),
    ("reportingInterval", "dur", None),
    ("reportingTTL", "dur", None),
    ("endpointReportingEnabled", "bool", None),
    ("endpointReportingDelay", "dur", None),
    ("endpointStatusPathPrefix", "str", None),
    ("iptablesMarkMask", "int", None),
    ("disableConntrackInvalidCheck", "bool", None),
    ("healthEnabled", "bool", None),
    ("healthHost", "str", None),
    ("healthPort", "int", None),
    ("healthTimeoutOverrides", "hto", None),
    ("prometheusMetricsEnabled", "bool", None),
    ("prometheusMetricsHost", "str", None),
    ("prometheusMetricsPort", "int", None),
    ("prometheusGoMetricsEnabled", "bool", None),
    ("prometheusProcessMetricsEnabled", "bool", None),
    ("prometheusWireGuardMetricsEnabled", "bool", None),
    ("failsafeInboundHostPorts", "protoports", None),
    ("failsafeOutboundHostPorts", "protoports", None),
    ("kubeNodePortRanges", "ports", None),
    ("policySyncPathPrefix", "str", None),
    ("usageReportingEnabled", "bool", None),
    ("usageReportingInitialDelay", "dur", None),
    ("usageReportingInterval", "dur", None),
    ("natPortRange", "port", None),
    ("natOutgoingAddress", "str", None),
    ("natOutgoingExclusions", "str", ("IPPoolsOnly", "IPPoolsAndHostIPs")),
    ("deviceRouteSourceAddress", "str", None),
    ("deviceRouteSourceAddressIPv6", "str", None),
    ("deviceRouteProtocol", "int", None),
    ("removeExternalRoutes", "bool", None),
    ("programClusterRoutes", "str", ("Enabled", "Disabled")),
    ("ipForwarding", "str", ("Enabled", "Disabled")),
    ("externalNodesList", "strs", None),
    ("nfNetlinkBufSize", "str", None),
    ("statsDumpFilePath", "str", None),
    ("debugMemoryProfilePath", "str", None),
    ("debugDisableLogDropping", "bool", None),
    ("debugSimulateCalcGraphHangAfter", "dur", None),
    ("debugSimulateDataplaneHangAfter", "dur", None),
    ("debugSimulateDataplaneApplyDelay", "dur", None),
    ("debugHost", "str", None),
    ("debugPort", "int", None),
    ("iptablesNATOutgoingInterfaceFilter", "str", None),
    ("sidecarAccelerationEnabled", "bool", None),
    ("xdpEnabled", "bool", None),
    ("genericXDPEnabled", "bool", None),
    ("nftablesMode", "str", ("Disabled", "Enabled", "Auto")),
    ("nftablesRefreshInterval", "dur", None),
    ("nftablesFilterAllowAction", "str", ("Accept", "Return")),
    ("nftablesMangleAllowAction", "str", ("Accept", "Return")),
    ("nftablesFilterDenyAction", "str", ("Drop", "Reject")),
    ("nftablesMarkMask", "int", None),
    ("bpfEnabled", "bool", None),
    ("bpfDisableUnprivileged", "bool", None),
    ("bpfLogLevel", "str", ("Off", "Info", "Debug")),
    ("bpfLogFilters", "map", None),
    ("bpfCTLBLogFilter", "str", None),
    ("bpfDataIfacePattern", "str", None),
    ("bpfL3IfacePattern", "str", None),
    ("bpfConnectTimeLoadBalancingEnabled", "bool", None),
    ("bpfConnectTimeLoadBalancing", "str", ("TCP", "Enabled", "Disabled")),
    ("bpfHostNetworkedNATWithoutCTLB", "str", ("Enabled", "Disabled")),
    ("bpfExternalServiceMode", "str", ("Tunnel", "DSR")),
    ("bpfDSROptoutCIDRs", "strs", None),
    ("bpfExtToServiceConnmark", "int", None),
    ("bpfKubeProxyIptablesCleanupEnabled", "bool", None),
    ("bpfKubeProxyMinSyncPeriod", "dur", None),
    ("bpfKubeProxyHealthzPort", "int", None),
    ("bpfKubeProxyEndpointSlicesEnabled", "bool", None),
    ("bpfPSNATPorts", "port", None),
    ("bpfMapSizeNATFrontend", "int", None),
    ("bpfMapSizeNATBackend", "int", None),
    ("bpfMapSizeNATAffinity", "int", None),
    ("bpfMapSizeRoute", "int", None),
    ("bpfMapSizeConntrack", "int", None),
    ("bpfMapSizeIPSets", "int", None),
    ("bpfMapSizeIfState", "int", None),
    ("bpfHostConntrackBypass", "bool", None),
    ("bpfEnforceRPF", "str", ("Disabled", "Strict", "Loose")),
    ("bpfPolicyDebugEnabled", "bool", None),
    ("bpfForceTrackPacketsFromIfaces", "strs", None),
    ("bpfDisableGROForIfaces", "str", None),
    ("bpfExcludeCIDRsFromNAT", "strs", None),
    ("bpfRedirectToPeer", "str", ("Disabled", "Enabled", "L2Only")),
    ("bpfAttachType", "str", ("TCX", "TC")),
    ("bpfExportBufferSizeMB", "int", None),
    ("bpfConntrackLogLevel", "str", ("Off", "Debug")),
    ("bpfConntrackMode", "str", ("Auto", "Userspace", "BPFProgram")),
    ("bpfConntrackTimeouts", "any", None),
    ("bpfProfiling", "str", ("Enabled", "Disabled")),
    ("bpfMaglevMaxEndpointsPerService", "int", None),
    ("bpfMaglevMaxServices", "int", None),
    ("routeSource", "str", ("WorkloadIPs", "CalicoIPAM")),
    ("routeTableRange", "rtr", None),
    ("routeTableRanges", "rtrs", None),
    ("routeSyncDisabled", "bool", None),
    ("wireguardEnabled", "bool", None),
    ("wireguardEnabledV6", "bool", None),
    ("wireguardListeningPort", "int", None),
    ("wireguardListeningPortV6", "int", None),
    ("wireguardRoutingRulePriority", "int", None),
    ("wireguardInterfaceName", "str", None),
    ("wireguardInterfaceNameV6", "str", None),
    ("wireguardMTU", "int", None),
    ("wireguardMTUV6", "int", None),
    ("wireguardHostEncryptionEnabled", "bool", None),
    ("wireguardKeepAlive", "dur", None),
    ("wireguardThreadingEnabled", "bool", None),
    ("awsSrcDstCheck", "str", ("DoNothing", "Enable", "Disable")),
    ("serviceLoopPrevention", "str", ("Drop", "Reject", "Disabled")),
    ("workloadSourceSpoofing", "str", ("Disabled", "Any")),
    ("mtuIfacePattern", "str", None),
    ("floatingIPs", "str", ("Enabled", "Disabled")),
    ("windowsManageFirewallRules", "str", ("Enabled", "Disabled")),
    ("goGCThreshold", "int", None),
    ("goMemoryLimitMB", "int", None),
    ("goMaxProcs", "int", None),
    ("flowLogsFlushInterval", "dur", None),
    ("flowLogsCollectorDebugTrace", "bool", None),
    ("flowLogsGoldmaneServer", "str", None),
    ("flowLogsLocalReporter", "str", ("Enabled", "Disabled")),
    ("flowLogsPolicyEvaluationMode", "str", ("None", "Continuous")),
    ("requireMTUFile", "bool", None),
    ("cgroupV2Path", "str", None),
    ("ipsecMode", "str", None),
    ("egressIPSupport", "str", None),
)


def _snake(name: str) -> str:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


ATTR_BY_JSON: dict[str, str] = {j: _snake(j) for j, _, _ in FIELDS}
JSON_BY_ATTR: dict[str, str] = {v: k for k, v in ATTR_BY_JSON.items()}

_field_defs: dict[str, Any] = {
    ATTR_BY_JSON[j]: (_TYPES[t] | None, Field(None, alias=j)) for j, t, _ in FIELDS}
FelixConfigurationSpec: type[CalicoModel] = create_model(
    "FelixConfigurationSpec", __base__=CalicoModel, **_field_defs)
# every field is a Go pointer (or absent when empty): keep explicit zero values like `false`
FelixConfigurationSpec.KEEP = frozenset(ATTR_BY_JSON.values())


class FelixConfiguration(Resource):
    KIND = "FelixConfiguration"
    spec: FelixConfigurationSpec = Field(default_factory=lambda: FelixConfigurationSpec.model_validate({}))  # type: ignore[valid-type]

    def value(self, json_name: str) -> Any:
        """A field by its JSON name (None when unset)."""
        return getattr(self.spec, ATTR_BY_JSON[json_name])

    def field_checks(self, errs: Errs) -> None:
        spec = self.spec
        for json_name, _typ, allowed in FIELDS:
            v = getattr(spec, ATTR_BY_JSON[json_name])
            if v is None or allowed is None:
                continue
            if v not in allowed:
                errs.tag(json_name[:1].upper() + json_name[1:], v, "oneof")
        _port_checks(errs, spec)
        _address_checks(errs, spec)
        _range_checks(errs, spec)


def _port_checks(errs: Errs, spec: Any) -> None:
    ranges = spec.kube_node_port_ranges
    if ranges is not None:
        if len(ranges) > 7:
            errs.add("KubeNodePortRanges", [p.to_json() for p in ranges], "node port ranges list is too long (max 7)")
        for p in ranges:
            if p.name:
                errs.add("KubeNodePortRanges", [q.to_json() for q in ranges],
                         "node port ranges should not contain named ports")
    for attr in ("failsafe_inbound_host_ports", "failsafe_outbound_host_ports"):
        for pp in getattr(spec, attr) or []:
            if pp.protocol not in ("TCP", "UDP", "SCTP"):
                errs.add("ProtoPort.Protocol", pp.protocol, "protocol must be 'TCP' or 'UDP' or 'SCTP'.")
            if pp.net:
                try:
                    parse_cidr_or_ip(pp.net)
                except ValueError:
                    errs.tag("Net", pp.net, "omitempty,cidr")
            if not 0 <= pp.port <= 65535:
                errs.tag("Port", pp.port, "lte")
    for attr, go, hi in (("wireguard_listening_port", "WireguardListeningPort", 65535),
                         ("wireguard_listening_port_v6", "WireguardListeningPortV6", 65535),
                         ("wireguard_routing_rule_priority", "WireguardRoutingRulePriority", 32765)):
        v = getattr(spec, attr)
        if v is not None and not 0 < v <= hi:
            errs.tag(go, v, "gt" if v <= 0 else "lte")
    for attr, go in (("wireguard_interface_name", "WireguardInterfaceName"),
                     ("wireguard_interface_name_v6", "WireguardInterfaceNameV6")):
        v = getattr(spec, attr)
        if v and not INTERFACE_RE.match(v):
            errs.tag(go, v, "interface")
    f = spec.iptables_nat_outgoing_interface_filter
    if f and not IFACE_FILTER_RE.match(f):
        errs.tag("IptablesNATOutgoingInterfaceFilter", f, "ifaceFilter")


def _address_checks(errs: Errs, spec: Any) -> None:
    for cidr in spec.external_nodes_list or []:
        try:
            version = parse_cidr_or_ip(cidr)[0].version
        except ValueError:
            errs.add("ExternalNodesCIDRList", cidr, "has invalid CIDR(s)")
            continue
        if version != 4:
            errs.add("ExternalNodesCIDRList", cidr, "has invalid IPv6 CIDR")
    region = spec.openstack_region
    if region:
        if len(region) > 63 - len("openstack-region-"):
            errs.add("OpenstackRegion", region, "is too long")
        elif "." in region or is_dns1123_subdomain(region):
            errs.add("OpenstackRegion", region, "must be a valid DNS label")
    for attr, go, version in (("nat_outgoing_address", "NATOutgoingAddress", 4),
                              ("device_route_source_address", "DeviceRouteSourceAddress", 4),
                              ("device_route_source_address_i_pv6", "DeviceRouteSourceAddressIPv6", 6)):
        v = getattr(spec, attr, None)
        if v:
            addr = parse_ip(v)
            if addr is None or addr.version != version:
                errs.add(go, v, f"is not a valid IPv{version} address")


def _range_checks(errs: Errs, spec: Any) -> None:
    if spec.route_table_range is not None and spec.route_table_ranges is not None:
        errs.add("RouteTableRange", spec.route_table_range.to_json(),
                 "cannot be set when `RouteTableRanges` is also set")
    r = spec.route_table_range
    if r is not None and not (r.min >= 1 and r.max >= r.min and r.max <= 250):
        errs.add("RouteTableRange", r.to_json(), "must be a range of route table indices within 1..250")
    total = 0
    for rr in spec.route_table_ranges or []:
        if rr.min > rr.max:
            errs.add("RouteTableRange", rr.to_json(), "min value cannot be greater than max value")
        if rr.min <= 0:
            errs.add("RouteTableRange", rr.to_json(), "cannot target indices < 1")
        if rr.max > 0xFFFFFFFF:
            errs.add("RouteTableRange", rr.to_json(), "max index too high")
        total += max(0, rr.max - rr.min + 1)
    if total > 0xFFFF:
        errs.add("RouteTableRanges", [rr.to_json() for rr in spec.route_table_ranges or []], "targets too many tables")

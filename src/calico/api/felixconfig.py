"""FelixConfiguration: one declarative table of Calico's fields (JSON name, type, Go validate tag).

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
    ALWAYS = frozenset({"protocol", "port", "net"})


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

# (json name, type, Go validate tag or None).  Order follows Calico's FelixConfigurationSpec; the
# checks are the API validator's (etcd mode has no CRD schema, so untagged enums are not checked).
FIELDS: tuple[tuple[str, str, str | None], ...] = (
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
    ("featureDetectOverride", "str", "keyValueList"),
    ("featureGates", "str", "keyValueList"),
    ("ipsetsRefreshInterval", "dur", None),
    ("maxIpsetSize", "int", None),
    ("iptablesBackend", "str", "iptablesBackend"),
    ("xdpRefreshInterval", "dur", None),
    ("netlinkTimeout", "dur", None),
    ("metadataAddr", "str", None),
    ("metadataPort", "int", None),
    ("openstackRegion", "str", None),
    ("interfacePrefix", "str", None),
    ("interfaceExclude", "str", None),
    ("chainInsertMode", "str", None),
    ("defaultEndpointToHostAction", "str", "dropAcceptReturn"),
    ("iptablesFilterAllowAction", "str", "acceptReturn"),
    ("iptablesMangleAllowAction", "str", "acceptReturn"),
    ("iptablesFilterDenyAction", "str", "dropReject"),
    ("logPrefix", "str", None),
    ("logActionRateLimit", "str", None),
    ("logActionRateLimitBurst", "int", None),
    ("logFilePath", "str", None),
    ("logSeverityFile", "str", "logLevel"),
    ("logSeverityScreen", "str", "logLevel"),
    ("logSeveritySys", "str", "logLevel"),
    ("logDebugFilenameRegex", "str", "regexp"),
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
    ("prometheusMetricsHost", "str", "prometheusHost"),
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
    ("natOutgoingExclusions", "str", "oneof=IPPoolsOnly IPPoolsAndHostIPs"),
    ("deviceRouteSourceAddress", "str", None),
    ("deviceRouteSourceAddressIPv6", "str", None),
    ("deviceRouteProtocol", "int", None),
    ("removeExternalRoutes", "bool", None),
    ("programClusterRoutes", "str", "oneof=Enabled Disabled"),
    ("ipForwarding", "str", None),
    ("externalNodesList", "strs", None),
    ("nfNetlinkBufSize", "str", None),
    ("statsDumpFilePath", "str", None),
    ("debugMemoryProfilePath", "str", None),
    ("debugDisableLogDropping", "bool", None),
    ("debugSimulateCalcGraphHangAfter", "dur", None),
    ("debugSimulateDataplaneHangAfter", "dur", None),
    ("debugSimulateDataplaneApplyDelay", "dur", None),
    ("debugHost", "str", None),
    ("debugPort", "int", "gte=0,lte=65535"),
    ("iptablesNATOutgoingInterfaceFilter", "str", "ifaceFilter"),
    ("sidecarAccelerationEnabled", "bool", None),
    ("xdpEnabled", "bool", None),
    ("genericXDPEnabled", "bool", None),
    ("nftablesMode", "str", None),
    ("nftablesRefreshInterval", "dur", None),
    ("nftablesFilterAllowAction", "str", "acceptReturn"),
    ("nftablesMangleAllowAction", "str", "acceptReturn"),
    ("nftablesFilterDenyAction", "str", "dropReject"),
    ("nftablesMarkMask", "int", None),
    ("bpfEnabled", "bool", None),
    ("bpfDisableUnprivileged", "bool", None),
    ("bpfLogLevel", "str", "bpfLogLevel"),
    ("bpfConntrackLogLevel", "str", "oneof=Off Debug"),
    ("bpfConntrackMode", "str", "oneof=Auto Userspace BPFProgram"),
    ("bpfConntrackTimeouts", "any", None),
    ("bpfLogFilters", "map", "bpfLogFilters"),
    ("bpfCTLBLogFilter", "str", None),
    ("bpfDataIfacePattern", "str", "regexp"),
    ("bpfL3IfacePattern", "str", "regexp"),
    ("bpfConnectTimeLoadBalancingEnabled", "bool", None),
    ("bpfConnectTimeLoadBalancing", "str", "oneof=TCP Enabled Disabled"),
    ("bpfHostNetworkedNATWithoutCTLB", "str", "oneof=Enabled Disabled"),
    ("bpfExternalServiceMode", "str", "bpfServiceMode"),
    ("bpfDSROptoutCIDRs", "strs", "cidrs"),
    ("bpfExtToServiceConnmark", "int", "gte=0,lte=4294967295"),
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
    ("bpfMapSizeConntrackCleanupQueue", "int", None),
    ("bpfMapSizeIPSets", "int", None),
    ("bpfMapSizeIfState", "int", None),
    ("bpfMapSizePerCPUConntrack", "int", None),
    ("bpfHostConntrackBypass", "bool", None),
    ("bpfEnforceRPF", "str", None),
    ("bpfPolicyDebugEnabled", "bool", None),
    ("bpfForceTrackPacketsFromIfaces", "strs", "ifaceFilterSlice"),
    ("bpfDisableGROForIfaces", "str", "regexp"),
    ("bpfExcludeCIDRsFromNAT", "strs", "cidrs"),
    ("bpfRedirectToPeer", "str", None),
    ("bpfAttachType", "str", None),
    ("bpfExportBufferSizeMB", "int", None),
    ("bpfProfiling", "str", None),
    ("bpfMaglevMaxEndpointsPerService", "int", None),
    ("bpfMaglevMaxServices", "int", None),
    ("routeSource", "str", "routeSource"),
    ("routeTableRanges", "rtrs", None),
    ("routeTableRange", "rtr", None),
    ("routeSyncDisabled", "bool", None),
    ("wireguardEnabled", "bool", None),
    ("wireguardEnabledV6", "bool", None),
    ("wireguardThreadingEnabled", "bool", None),
    ("wireguardListeningPort", "int", "gt=0,lte=65535"),
    ("wireguardListeningPortV6", "int", "gt=0,lte=65535"),
    ("wireguardRoutingRulePriority", "int", "gt=0,lt=32766"),
    ("wireguardInterfaceName", "str", "interface"),
    ("wireguardInterfaceNameV6", "str", "interface"),
    ("wireguardMTU", "int", None),
    ("wireguardMTUV6", "int", None),
    ("wireguardHostEncryptionEnabled", "bool", None),
    ("wireguardKeepAlive", "dur", None),
    ("awsSrcDstCheck", "str", "oneof=DoNothing Enable Disable"),
    ("serviceLoopPrevention", "str", "oneof=Drop Reject Disabled"),
    ("workloadSourceSpoofing", "str", "oneof=Disabled Any"),
    ("mtuIfacePattern", "str", "regexp"),
    ("floatingIPs", "str", "oneof=Enabled Disabled"),
    ("windowsManageFirewallRules", "str", "oneof=Enabled Disabled"),
    ("goGCThreshold", "int", "gte=-1"),
    ("goMemoryLimitMB", "int", "gte=-1"),
    ("goMaxProcs", "int", "gte=-1"),
    ("flowLogsFlushInterval", "dur", None),
    ("flowLogsCollectorDebugTrace", "bool", None),
    ("flowLogsGoldmaneServer", "str", None),
    ("flowLogsLocalReporter", "str", None),
    ("flowLogsPolicyEvaluationMode", "str", None),
    ("requireMTUFile", "bool", None),
    ("cgroupV2Path", "str", None),
)

_PROM_HOST = re.compile(r"^[a-zA-Z0-9:._+-]{1,64}$")
_KV_ITEM = re.compile(r"^\s*(\w+)=(.*)$")
_ENUMS = {"logLevel": LOG_LEVELS, "dropAcceptReturn": ("Drop", "Accept", "Return"),
          "acceptReturn": ("Accept", "Return"), "dropReject": ("Drop", "Reject"),
          "iptablesBackend": ("Legacy", "NFT", "Auto"), "bpfLogLevel": ("Debug", "Info", "Off"),
          "bpfServiceMode": ("Tunnel", "DSR")}


def _regexp_ok(v: str) -> bool:
    try:
        re.compile(v)
    except re.error:
        return False
    return True


def _cidr_ok(v: str) -> bool:
    try:
        parse_cidr_or_ip(v)
    except ValueError:
        return False
    return True


def _bounds_ok(tag: str, v: int) -> bool:
    for part in tag.split(","):
        op, _, num = part.partition("=")
        n = int(num)
        if (op == "gt" and not v > n) or (op == "gte" and not v >= n) or (op == "lt" and not v < n) \
                or (op == "lte" and not v <= n):
            return False
    return True


def tag_ok(tag: str, v: Any) -> bool:
    """Does value ``v`` pass Go validate tag ``tag`` (as registered in libcalico's validator)?"""
    if tag in _ENUMS:
        return v in _ENUMS[tag]
    if tag.startswith("oneof="):
        return v in tag[len("oneof="):].split()
    if tag in ("regexp", "routeSource"):
        return _regexp_ok(v)
    if tag == "keyValueList":
        return not v.strip() or all(not item or _KV_ITEM.match(item) for item in v.split(","))
    if tag == "prometheusHost":
        return bool(_PROM_HOST.match(v))
    if tag == "ifaceFilter":
        return bool(IFACE_FILTER_RE.match(v))
    if tag == "interface":
        return bool(INTERFACE_RE.match(v))
    if tag == "ifaceFilterSlice":
        return all(IFACE_FILTER_RE.match(x) for x in v)
    if tag == "cidrs":
        return all(_cidr_ok(x) for x in v)
    if tag == "bpfLogFilters":
        return all(INTERFACE_RE.match(k) for k in v)
    return _bounds_ok(tag, v)


def _tag_name(tag: str, v: Any) -> str:
    """The single tag go-playground names in its error (the first failing one of a list)."""
    if "," in tag and not tag.startswith("oneof="):
        for part in tag.split(","):
            if not _bounds_ok(part, v):
                return part.partition("=")[0]
    return tag.partition("=")[0]


def _snake(name: str) -> str:
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


ATTR_BY_JSON: dict[str, str] = {j: _snake(j) for j, _, _ in FIELDS}
GO_NAME: dict[str, str] = {"externalNodesList": "ExternalNodesCIDRList",
                           "wireguardKeepAlive": "WireguardPersistentKeepAlive"}
JSON_BY_ATTR: dict[str, str] = {v: k for k, v in ATTR_BY_JSON.items()}


def go_field_name(json_name: str) -> str:
    """The Go struct field name Calico's validator reports (``bpfLogLevel`` -> ``BPFLogLevel``)."""
    if json_name in GO_NAME:
        return GO_NAME[json_name]
    for prefix in ("bpf", "nat", "aws", "mtu"):
        if json_name.startswith(prefix):
            return prefix.upper() + json_name[len(prefix):]
    return json_name[:1].upper() + json_name[1:]

_field_defs: dict[str, Any] = {
    ATTR_BY_JSON[j]: (_TYPES[t] | None, Field(None, alias=j)) for j, t, _ in FIELDS}
# bpfLogLevel has no omitempty in Calico's struct: it is always stored (as "" when unset)
_field_defs["bpf_log_level"] = (str, Field("", alias="bpfLogLevel"))
FelixConfigurationSpec: type[CalicoModel] = create_model(
    "FelixConfigurationSpec", __base__=CalicoModel, **_field_defs)
# every field is a Go pointer (or absent when empty): keep explicit zero values like `false`
FelixConfigurationSpec.KEEP = frozenset(ATTR_BY_JSON.values())
FelixConfigurationSpec.ALWAYS = frozenset({"bpf_log_level"})


class FelixConfiguration(Resource):
    KIND = "FelixConfiguration"
    spec: FelixConfigurationSpec = Field(default_factory=lambda: FelixConfigurationSpec.model_validate({}))  # type: ignore[valid-type]

    def value(self, json_name: str) -> Any:
        """A field by its JSON name (None when unset)."""
        return getattr(self.spec, ATTR_BY_JSON[json_name])

    def field_checks(self, errs: Errs) -> None:
        spec = self.spec
        for json_name, _typ, tag in FIELDS:
            v = getattr(spec, ATTR_BY_JSON[json_name])
            if v is None or v == "" or tag is None:
                continue
            if not tag_ok(tag, v):
                errs.tag(go_field_name(json_name), v, _tag_name(tag, v))
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

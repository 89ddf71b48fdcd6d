"""HostEndpoint, WorkloadEndpoint (derived names, forced labels), network sets, FelixConfiguration."""

from __future__ import annotations

from typing import Any

import pytest

from calico.api import WorkloadEndpoint, parse_resource, workload_endpoint_name
from calico.api.errors import InsufficientIdentifiers
from tests.unit.api.helpers import assert_fails, doc, failures, tag


def wep(name: str = "", ns: str = "default", **spec: Any) -> dict[str, Any]:
    base = {"orchestrator": "k8s", "node": "rack1-host1", "pod": "frontend-5gs43", "endpoint": "eth0",
            "interfaceName": "cali0ef24ba"}
    d = doc("WorkloadEndpoint", {**base, **spec}, name=name, namespace=ns)
    if not name:
        del d["metadata"]["name"]
    return d


def test_wep_name_computed_and_labels_forced() -> None:
    w = parse_resource(wep(ipNetworks=["10.0.0.1/32"]))
    d = w.to_dict()
    assert d["metadata"]["name"] == "rack1--host1-k8s-frontend--5gs43-eth0"
    assert d["metadata"]["labels"] == {"projectcalico.org/namespace": "default",
                                       "projectcalico.org/orchestrator": "k8s"}
    assert w.key_id() == "WorkloadEndpoint(default/rack1--host1-k8s-frontend--5gs43-eth0)"
    assert w.identity() == ("WorkloadEndpoint", "default", "rack1--host1-k8s-frontend--5gs43-eth0")


def test_wep_name_must_match() -> None:
    assert_fails(wep(name="wrong"), "Name",
                 "the WorkloadEndpoint name does not match the primary identifiers assigned in the Spec: "
                 "expected name rack1--host1-k8s-frontend--5gs43-eth0")


def test_wep_name_variants() -> None:
    assert workload_endpoint_name("n", "cni", container_id="abc-1", endpoint="eth0") == "n-cni-abc--1-eth0"
    assert workload_endpoint_name("n", "libnetwork", endpoint="ep") == "n-libnetwork-libnetwork-ep"
    assert workload_endpoint_name("n", "openstack", workload="vm1", endpoint="tap1") == "n-openstack-vm1-tap1"
    with pytest.raises(InsufficientIdentifiers, match="missing 'pod'"):
        workload_endpoint_name("n", "k8s", endpoint="eth0")
    with pytest.raises(ValueError, match="cannot start or end with a '-'"):
        workload_endpoint_name("n-", "k8s", pod="p", endpoint="eth0")


def test_wep_missing_identifiers_reported() -> None:
    assert failures(wep(node="")) == [("Metadata.Name", "insufficient identifiers, missing 'node'")]


def test_wep_networks_single_address() -> None:
    assert_fails(wep(ipNetworks=["10.0.0.0/24"]), "IPNetworks", "IP network contains multiple addresses")
    assert_fails(wep(ipNetworks=["x"]), "IPNetworks[0]",
                 tag("IPNetworks[0]", "net"))
    parse_resource(wep(ipNetworks=["10.0.0.1/32", "fd00::1/128", "10.0.0.2"]))


def test_wep_nats() -> None:
    ok = wep(ipNetworks=["10.0.0.1/32"], ipNATs=[{"internalIP": "10.0.0.1", "externalIP": "172.16.0.1"}])
    assert parse_resource(ok).to_dict()["spec"]["ipNATs"] == [
        {"internalIP": "10.0.0.1", "externalIP": "172.16.0.1", "source": ""}]
    assert_fails(wep(ipNetworks=["10.0.0.1/32"], ipNATs=[{"internalIP": "10.0.0.9", "externalIP": "172.16.0.1"}]),
                 "IPNATs", "NAT is not in the endpoint networks")
    assert_fails(wep(ipNetworks=["10.0.0.1/32"], ipNATs=[{"internalIP": "10.0.0.1", "externalIP": "fd00::1"}]),
                 "ExternalIP", "mismatched IP versions")


def test_wep_interface_mac_gateway_ports() -> None:
    assert_fails(wep(interfaceName="a" * 16), "InterfaceName",
                 tag("InterfaceName", "interface"))
    assert_fails(wep(interfaceName=""), "InterfaceName",
                 tag("InterfaceName", "interface"))
    assert_fails(wep(mac="nope"), "MAC", tag("MAC", "mac"))
    parse_resource(wep(mac="ca:fe:1d:52:bb:e9"))
    assert_fails(wep(ipv4Gateway="fd00::1"), "IPv4Gateway",
                 tag("IPv4Gateway", "ipv4"))
    assert_fails(wep(ports=[{"port": 80, "protocol": "TCP"}]), "WorkloadEndpointPort.Name",
                 "WorkloadEndpointPort name must not be empty if no HostPort is specified")
    assert_fails(wep(ports=[{"name": "dns", "port": 53, "protocol": "ICMP"}]), "WorkloadEndpointPort.Protocol",
                 "WorkloadEndpointPort protocol does not support ports.")
    parse_resource(wep(ports=[{"port": 80, "protocol": "TCP", "hostPort": 8080, "hostIP": "0.0.0.0"}]))
    assert_fails(wep(containerID="-bad"), "ContainerID",
                 tag("ContainerID", "containerID"))


def test_host_endpoint() -> None:
    h = parse_resource(doc("HostEndpoint", {"node": "n1", "interfaceName": "eth0", "expectedIPs": ["10.0.0.1"],
                                            "ports": [{"name": "http", "port": 80, "protocol": "tcp"}]},
                           name="n1.eth0", labels={"role": "edge"}))
    assert h.to_dict()["spec"]["ports"] == [{"name": "http", "protocol": "TCP", "port": 80}]
    assert_fails(doc("HostEndpoint", {"node": "n1"}), "InterfaceName",
                 "no interface or expected IPs have been specified")
    assert_fails(doc("HostEndpoint", {"interfaceName": "eth0"}), "InterfaceName", "no node has been specified")
    parse_resource(doc("HostEndpoint", {"node": "n1", "interfaceName": "*"}))
    assert_fails(doc("HostEndpoint", {"node": "n1", "expectedIPs": ["10.0.0.300"]}), "ExpectedIPs[0]",
                 tag("ExpectedIPs[0]", "ip"))
    assert_fails(doc("HostEndpoint", {"node": "n1", "interfaceName": "eth0", "ports": [{"port": 80}]}), "Name",
                 tag("Name", "portName"))
    assert_fails(doc("HostEndpoint", {"node": "n1", "interfaceName": "eth0",
                                      "ports": [{"name": "p", "port": 80, "protocol": "ICMP"}]}),
                 "EndpointPort.Protocol", "EndpointPort protocol does not support ports.")


def test_network_sets() -> None:
    s = parse_resource(doc("NetworkSet", {"nets": ["10.0.0.1/8", "fd00::/64"]}, namespace="n"))
    assert s.to_dict()["spec"] == {"nets": ["10.0.0.1/8", "fd00::/64"]}
    assert_fails(doc("GlobalNetworkSet", {"nets": ["x"]}), "Nets[0]",
                 tag("Nets[0]", "cidr"))
    assert_fails(doc("NetworkSet", {}, namespace="n", labels={"projectcalico.org/namespace": "n"}),
                 "Metadata.Labels (label)", "projectcalico.org/namespace is not a valid label name")


def test_cluster_information_and_kcc() -> None:
    ci = parse_resource(doc("ClusterInformation", {"clusterGUID": "abc123", "calicoVersion": "v3.30.0",
                                                   "datastoreReady": False}, name="default"))
    assert ci.to_dict()["spec"] == {"clusterGUID": "abc123", "calicoVersion": "v3.30.0", "datastoreReady": False}
    kcc = parse_resource(doc("KubeControllersConfiguration", {"controllers": {"node": {"syncLabels": "Enabled"}}},
                             name="default"))
    assert kcc.to_dict()["spec"] == {"controllers": {"node": {"syncLabels": "Enabled"}}}


def test_felix_configuration() -> None:
    f = parse_resource(doc("FelixConfiguration", {"reportingInterval": "0s", "ipipEnabled": False,
                                                  "logSeverityScreen": "Info", "vxlanVNI": 4096,
                                                  "failsafeInboundHostPorts": [{"protocol": "TCP", "port": 22}],
                                                  "routeRefreshInterval": "90s"}, name="default"))
    assert f.to_dict()["spec"] == {"routeRefreshInterval": "1m30s", "logSeverityScreen": "Info",
                                   "ipipEnabled": False, "vxlanVNI": 4096, "reportingInterval": "0s",
                                   "failsafeInboundHostPorts": [{"protocol": "TCP", "port": 22, "net": ""}],
                                   "bpfLogLevel": ""}
    assert f.value("ipipEnabled") is False  # type: ignore[attr-defined]


@pytest.mark.parametrize(("spec", "field", "reason"), [
    ({"logSeverityScreen": "info"}, "LogSeverityScreen", tag("LogSeverityScreen", "logLevel")),
    ({"defaultEndpointToHostAction": "Allow"}, "DefaultEndpointToHostAction",
     tag("DefaultEndpointToHostAction", "dropAcceptReturn")),
    ({"iptablesBackend": "nft"}, "IptablesBackend", tag("IptablesBackend", "iptablesBackend")),
    ({"kubeNodePortRanges": ["http"]}, "KubeNodePortRanges", "node port ranges should not contain named ports"),
    ({"kubeNodePortRanges": [1, 2, 3, 4, 5, 6, 7, 8]}, "KubeNodePortRanges",
     "node port ranges list is too long (max 7)"),
    ({"externalNodesList": ["fd00::/64"]}, "ExternalNodesCIDRList", "has invalid IPv6 CIDR"),
    ({"externalNodesList": ["x"]}, "ExternalNodesCIDRList", "has invalid CIDR(s)"),
    ({"natOutgoingAddress": "fd00::1"}, "NATOutgoingAddress", "is not a valid IPv4 address"),
    ({"deviceRouteSourceAddressIPv6": "10.0.0.1"}, "DeviceRouteSourceAddressIPv6", "is not a valid IPv6 address"),
    ({"openstackRegion": "Bad_Region"}, "OpenstackRegion", "must be a valid DNS label"),
    ({"openstackRegion": "a" * 50}, "OpenstackRegion", "is too long"),
    ({"routeTableRange": {"min": 0, "max": 10}}, "RouteTableRange",
     "must be a range of route table indices within 1..250"),
    ({"routeTableRange": {"min": 1, "max": 10}, "routeTableRanges": [{"min": 1, "max": 10}]}, "RouteTableRange",
     "cannot be set when `RouteTableRanges` is also set"),
    ({"routeTableRanges": [{"min": 5, "max": 1}]}, "RouteTableRange", "min value cannot be greater than max value"),
    ({"failsafeInboundHostPorts": [{"protocol": "ICMP", "port": 1}]}, "ProtoPort.Protocol",
     "protocol must be 'TCP' or 'UDP' or 'SCTP'."),
    ({"wireguardListeningPort": 0}, "WireguardListeningPort", tag("WireguardListeningPort", "gt")),
    ({"wireguardRoutingRulePriority": 32766}, "WireguardRoutingRulePriority",
     tag("WireguardRoutingRulePriority", "lt")),
    ({"goGCThreshold": -2}, "GoGCThreshold", tag("GoGCThreshold", "gte")),
    ({"featureDetectOverride": "a=b,c"}, "FeatureDetectOverride", tag("FeatureDetectOverride", "keyValueList")),
    ({"prometheusMetricsHost": "a b"}, "PrometheusMetricsHost", tag("PrometheusMetricsHost", "prometheusHost")),
    ({"bpfLogLevel": "Trace"}, "BPFLogLevel", tag("BPFLogLevel", "bpfLogLevel")),
    ({"bpfDataIfacePattern": "("}, "BPFDataIfacePattern", tag("BPFDataIfacePattern", "regexp")),
    ({"bpfExcludeCIDRsFromNAT": ["x"]}, "BPFExcludeCIDRsFromNAT", tag("BPFExcludeCIDRsFromNAT", "cidrs")),
    ({"serviceLoopPrevention": "drop"}, "ServiceLoopPrevention", tag("ServiceLoopPrevention", "oneof")),
    ({"wireguardInterfaceName": "a" * 16}, "WireguardInterfaceName", tag("WireguardInterfaceName", "interface")),
])
def test_felix_configuration_rules(spec: dict[str, Any], field: str, reason: str) -> None:
    assert_fails(doc("FelixConfiguration", spec, name="default"), field, reason)


def test_felix_bad_duration_and_unknown_field() -> None:
    errs = failures(doc("FelixConfiguration", {"reportingInterval": "30"}, name="default"))
    assert errs == [("FelixConfiguration.Spec.ReportingInterval", 'time: missing unit in duration "30"')]
    errs = failures(doc("FelixConfiguration", {"noSuchSetting": 1}, name="default"))
    assert errs == [("FelixConfiguration.Spec.noSuchSetting", 'json: unknown field "noSuchSetting"')]


def test_wep_model_type() -> None:
    assert isinstance(parse_resource(wep()), WorkloadEndpoint)

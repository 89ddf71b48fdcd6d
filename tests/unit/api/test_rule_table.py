"""One row per remaining Calico rule: the document, the field Calico names and its reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.api.helpers import assert_fails, doc, tag

WEP_BASE = {"orchestrator": "k8s", "node": "n1", "pod": "p", "endpoint": "eth0", "interfaceName": "cali1"}


def wep(**spec: Any) -> dict[str, Any]:
    d = doc("WorkloadEndpoint", {**WEP_BASE, **spec}, namespace="default")
    del d["metadata"]["name"]
    return d


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("np egress http", doc("NetworkPolicy", {"egress": [{"action": "Allow", "http": {"methods": ["GET"]}}]},
                           namespace="n"), "HTTP", "not allowed in egress rule"),
    ("not selector syntax", doc("GlobalNetworkPolicy", {"ingress": [{"action": "Allow",
                                                                     "source": {"notSelector": "a ="}}]}),
     "NotSelector", 'error parsing selector "a =" at position 2: expected =='),
    ("sa selector syntax", doc("GlobalNetworkPolicy", {"ingress": [{"action": "Allow", "source": {
        "serviceAccounts": {"selector": "("}}}]}), "Selector",
     'error parsing selector "(" at position 1: unexpected end of selector'),
    ("gnp namespace selector syntax", doc("GlobalNetworkPolicy", {"namespaceSelector": "x in {"}),
     "NamespaceSelector", 'error parsing selector "x in {" at position 6: expected }'),
    ("policy tier name", doc("GlobalNetworkPolicy", {"tier": "Bad_Tier"}), "Tier", tag("Tier", "name")),
    ("adminnetworkpolicy order", doc("Tier", {"order": 1}, name="adminnetworkpolicy"), "TierSpec.Order",
     "adminnetworkpolicy tier order must be 1000"),
    ("baselineadminnetworkpolicy order", doc("Tier", {}, name="baselineadminnetworkpolicy"), "TierSpec.Order",
     "baselineadminnetworkpolicy tier order must be 1e+07"),
    ("wep orchestrator", wep(orchestrator="K8S", workload="w"), "Orchestrator", tag("Orchestrator", "name")),
    ("wep profiles", wep(profiles=["Bad Profile"]), "Profiles[0]", tag("Profiles[0]", "name")),
    ("wep ipv6 gateway", wep(ipv6Gateway="10.0.0.1"), "IPv6Gateway", tag("IPv6Gateway", "ipv6")),
    ("wep nat bad ip", wep(ipNetworks=["10.0.0.1/32"], ipNATs=[{"internalIP": "x", "externalIP": "1.1.1.1"}]),
     "InternalIP", "invalid IP address"),
    ("wep port protocol", wep(ports=[{"name": "a", "port": 1, "protocol": "GRE"}]),
     "WorkloadEndpointPort.Protocol", "WorkloadEndpointPort protocol does not support ports."),
    ("wep port zero", wep(ports=[{"name": "a", "port": 0, "protocol": "TCP"}]), "Port", tag("Port", "gt")),
    ("wep port name", wep(ports=[{"name": "Bad--Name", "port": 1, "protocol": "TCP"}]), "Name",
     tag("Name", "portName")),
    ("hep node name", doc("HostEndpoint", {"node": "Bad_Node", "interfaceName": "eth0"}), "Node",
     tag("Node", "name")),
    ("hep interface", doc("HostEndpoint", {"node": "n", "interfaceName": "bad iface"}), "InterfaceName",
     tag("InterfaceName", "interface")),
    ("hep profiles", doc("HostEndpoint", {"node": "n", "interfaceName": "e", "profiles": ["X"]}), "Profiles[0]",
     tag("Profiles[0]", "name")),
    ("peer next hop mode", doc("BGPPeer", {"nextHopMode": "Other"}), "NextHopMode", tag("NextHopMode", "oneof")),
    ("peer keep next hop", doc("BGPPeer", {"keepOriginalNextHop": True, "nextHopMode": "Self", "peerIP": "1.1.1.1"}),
     "KeepOriginalNextHop",
     "The KeepOriginalNextHop field is deprecated. It must not be set to true when NextHopMode is configured."),
    ("peer ttl", doc("BGPPeer", {"ttlSecurity": 300}), "TTLSecurity", tag("TTLSecurity", "lte")),
    ("peer selector global", doc("BGPPeer", {"peerSelector": "global()"}), "PeerSelector",
     "global() can only be used in an EntityRule namespaceSelector"),
    ("bgp service cidr", doc("BGPConfiguration", {"serviceClusterIPs": [{"cidr": "10.96.0.1/12"}]}, name="default"),
     "CIDR", tag("CIDR", "net")),
    ("bgp peering ip", doc("BGPConfiguration", {"localWorkloadPeeringIPV4": "fd00::1"}, name="default"),
     "LocalWorkloadPeeringIPV4", tag("LocalWorkloadPeeringIPV4", "ipv4")),
    ("bgp filter source", doc("BGPFilter", {"exportV4": [{"action": "Accept", "source": "Peers"}]}), "Source",
     tag("Source", "oneof")),
    ("bgp filter iface", doc("BGPFilter", {"exportV4": [{"action": "Accept", "interface": "x" * 16}]}),
     "Interface", tag("Interface", "bgpFilterInterface")),
    ("node ipv6 vxlan", doc("Node", {"ipv6VXLANTunnelAddr": "10.0.0.1"}), "IPv6VXLANTunnelAddr",
     tag("IPv6VXLANTunnelAddr", "ipv6")),
    ("node ipip tunnel", doc("Node", {"bgp": {"ipv4IPIPTunnelAddr": "10.0.0.1/32"}}), "IPv4IPIPTunnelAddr",
     tag("IPv4IPIPTunnelAddr", "ipv4")),
    ("node wireguard", doc("Node", {"wireguard": {"interfaceIPv6Address": "1.2.3.4"}}), "InterfaceIPv6Address",
     tag("InterfaceIPv6Address", "ipv6")),
    ("cluster guid", doc("ClusterInformation", {"clusterGUID": "not hex!"}, name="default"), "ClusterGUID",
     tag("ClusterGUID", "hexadecimal")),
    ("pool namespace selector with tunnel", doc("IPPool", {"cidr": "10.0.0.0/16", "namespaceSelector": "a == 'b'"}),
     "IPPool.Spec.NamespaceSelector", "namespaceSelector cannot be used with allowedUses Tunnel"),
    ("pool cidr net tag", doc("IPPool", {"cidr": "10.0.0.1/16"}), "IPPool.Spec.CIDR",
     "IPPool CIDR is not strictly masked"),
    ("label key too long", doc("GlobalNetworkSet", {}, labels={"k" * 64: "v"}), "Metadata.Labels (label)",
     "name part must be no more than 63 characters"),
    ("label prefix", doc("GlobalNetworkSet", {}, labels={"Bad_Prefix/k": "v"}), "Metadata.Labels (label)",
     "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
     "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
     "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"),
]


@pytest.mark.parametrize(("label", "document", "field", "reason"), CASES, ids=[c[0] for c in CASES])
def test_rule(label: str, document: dict[str, Any], field: str, reason: str) -> None:
    assert_fails(document, field, reason)

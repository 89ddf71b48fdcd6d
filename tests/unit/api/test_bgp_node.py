"""BGPPeer, BGPConfiguration, BGPFilter and Node rules."""

from __future__ import annotations

from typing import Any

import pytest

from calico.api import parse_resource
from tests.unit.api.helpers import assert_fails, doc, failures, tag


def peer(**spec: Any) -> dict[str, Any]:
    return doc("BGPPeer", spec, name="peer1")


@pytest.mark.parametrize("ip", ["10.0.0.1", "10.0.0.1:1790", "[fd00::1]:179", "fd00::1"])
def test_peer_ip_forms(ip: str) -> None:
    assert parse_resource(peer(peerIP=ip, asNumber=65000)).to_dict()["spec"]["peerIP"] == ip


@pytest.mark.parametrize("ip", ["10.0.0.300", "10.0.0.1:0", "fd00::1:179x", "[fd00::1]:70000", "host"])
def test_bad_peer_ip(ip: str) -> None:
    assert_fails(peer(peerIP=ip), "PeerIP", tag("PeerIP", "IP:port"))


def test_as_number_forms() -> None:
    assert parse_resource(peer(peerIP="10.0.0.1", asNumber="1.10")).to_dict()["spec"]["asNumber"] == 65546
    assert parse_resource(peer(peerIP="10.0.0.1", asNumber=4294967295)).to_dict()["spec"]["asNumber"] == 4294967295
    errs = failures(peer(peerIP="10.0.0.1", asNumber=4294967296))
    assert errs[0][0] == "BGPPeer.Spec.ASNumber" and "invalid AS number" in errs[0][1]


def test_peer_exclusivity() -> None:
    assert_fails(peer(node="n1", nodeSelector="all()"), "Node",
                 "Node field must be empty when NodeSelector is specified")
    assert_fails(peer(peerIP="10.0.0.1", peerSelector="all()"), "PeerIP",
                 "PeerIP field must be empty when PeerSelector is specified")
    assert_fails(peer(asNumber=64512, peerSelector="all()"), "ASNumber",
                 "ASNumber field must be empty when PeerSelector is specified")
    assert_fails(peer(localWorkloadSelector="a == 'b'"), "ASNumber",
                 "ASNumber field must NOT be empty when LocalWorkloadSelector is specified")
    assert_fails(peer(peerIP="10.0.0.1", asNumber=1, localWorkloadSelector="a == 'b'"), "PeerIP",
                 "PeerIP field must be empty when LocalWorkloadSelector is specified")
    assert_fails(peer(peerSelector="all()", localWorkloadSelector="a == 'b'"), "PeerSelector",
                 "PeerSelector field must be empty when LocalWorkloadSelector is specified")
    parse_resource(peer(peerSelector="route-reflector == 'true'", nodeSelector="all()"))


def test_reachable_by() -> None:
    assert_fails(peer(reachableBy="10.0.0.1"), "ReachableBy", "ReachablyBy field must be empty when PeerIP is empty")
    assert_fails(peer(peerIP="10.0.0.1", reachableBy="fd00::1"), "ReachableBy",
                 "ReachableBy and PeerIP address family mismatched")
    assert_fails(peer(peerIP="10.0.0.1", reachableBy="x"), "ReachableBy",
                 tag("ReachableBy", "reachableBy"))
    parse_resource(peer(peerIP="10.0.0.1:179", reachableBy="10.0.0.254"))


def test_peer_misc_fields() -> None:
    p = parse_resource(peer(peerIP="10.0.0.1", asNumber=1, node="n1", keepOriginalNextHop=True,
                            password={"secretKeyRef": {"name": "s", "key": "k"}}, maxRestartTime="2m",
                            numAllowedLocalASNumbers=0, ttlSecurity=1, filters=["f1"]))
    spec = p.to_dict()["spec"]
    assert spec["maxRestartTime"] == "2m0s"
    assert spec["numAllowedLocalASNumbers"] == 0
    assert spec["password"] == {"secretKeyRef": {"name": "s", "key": "k"}}
    assert_fails(peer(sourceAddress="Other"), "SourceAddress",
                 tag("SourceAddress", "sourceAddress"))
    assert_fails(peer(filters=["Bad"]), "Filters[0]", tag("Filters[0]", "name"))
    assert_fails(peer(node="Bad_Node"), "Node", tag("Node", "name"))
    errs = failures(peer(maxRestartTime="soon"))
    assert errs[0][0] == "BGPPeer.Spec.MaxRestartTime" and "time: invalid duration" in errs[0][1]


def test_bgp_configuration_default_only_fields() -> None:
    d = doc("BGPConfiguration", {"nodeToNodeMeshEnabled": False, "asNumber": 64512}, name="node.n1")
    assert failures(d) == [
        ("BGPConfiguration.Spec.NodeToNodeMeshEnabled",
         "Cannot set nodeToNodeMeshEnabled on a non default BGP Configuration."),
        ("BGPConfiguration.Spec.ASNumber", "Cannot set ASNumber on a non default BGP Configuration.")]
    for field, value in (("serviceClusterIPs", [{"cidr": "10.96.0.0/12"}]),
                         ("serviceExternalIPs", [{"cidr": "1.2.3.0/24"}]),
                         ("serviceLoadBalancerIPs", [{"cidr": "1.2.4.0/24"}]),
                         ("nodeMeshMaxRestartTime", "10s")):
        assert failures(doc("BGPConfiguration", {field: value}, name="node.n1"))[0][1].startswith("Cannot set ")
    c = parse_resource(doc("BGPConfiguration", {"nodeToNodeMeshEnabled": False, "asNumber": "64512",
                                                "logSeverityScreen": "Info"}, name="default"))
    assert c.to_dict()["spec"] == {"logSeverityScreen": "Info", "nodeToNodeMeshEnabled": False, "asNumber": 64512}


def test_bgp_configuration_checks() -> None:
    base = {"name": "default"}
    assert_fails(doc("BGPConfiguration", {"logSeverityScreen": "info"}, **base), "LogSeverityScreen",
                 tag("LogSeverityScreen", "logLevel"))
    assert_fails(doc("BGPConfiguration", {"communities": [{"name": "c", "value": "1:2"}]}, **base),
                 "Spec.Communities[]", "communities are defined but not used in Spec.PrefixAdvertisement[].")
    assert_fails(doc("BGPConfiguration", {"communities": [{"name": "c", "value": "x"}],
                                          "prefixAdvertisements": [{"cidr": "10.0.0.0/8", "communities": ["c"]}]},
                     **base), "Spec.Communities[].Value", "invalid community value or format used.")
    assert_fails(doc("BGPConfiguration", {"prefixAdvertisements": [{"cidr": "10.0.0.0/8", "communities": ["nope"]}]},
                     **base), "Spec.PrefixAdvertisement[].Communities[]", "community used is invalid or not defined.")
    assert_fails(doc("BGPConfiguration", {"prefixAdvertisements": [{"cidr": "x", "communities": ["1:1"]}]}, **base),
                 "Spec.PrefixAdvertisement[].CIDR", "invalid CIDR value.")
    assert_fails(doc("BGPConfiguration", {"prefixAdvertisements": [{"cidr": "10.0.0.0/8",
                                                                    "communities": ["70000:1"]}]}, **base),
                 "Spec.PrefixAdvertisement[].Communities[]", "invalid community value, expected 16 bit value")
    assert_fails(doc("BGPConfiguration", {"nodeToNodeMeshEnabled": False, "nodeMeshMaxRestartTime": "5s"}, **base),
                 "Spec.NodeMeshMaxRestartTime",
                 "spec.NodeMeshMaxRestartTime cannot be set if spec.NodeToNodeMesh is disabled")
    assert_fails(doc("BGPConfiguration", {"nodeToNodeMeshEnabled": False,
                                          "nodeMeshPassword": {"secretKeyRef": {"name": "a", "key": "b"}}}, **base),
                 "Spec.NodeMeshPassword", "spec.NodeMeshPassword cannot be set if spec.NodeToNodeMesh is disabled")
    assert_fails(doc("BGPConfiguration", {"listenPort": 70000}, **base), "ListenPort",
                 tag("ListenPort", "lte"))
    assert_fails(doc("BGPConfiguration", {"ignoredInterfaces": ["*"]}, **base), "IgnoredInterfaces[0]",
                 tag("IgnoredInterfaces[0]", "ignoredInterface"))
    assert_fails(doc("BGPConfiguration", {"bindMode": "All"}, **base), "BindMode",
                 tag("BindMode", "oneof"))


def test_bgp_filter() -> None:
    f = parse_resource(doc("BGPFilter", {"exportV4": [{"action": "Accept", "cidr": "10.0.0.0/8",
                                                       "matchOperator": "In"}]}))
    assert f.to_dict()["spec"] == {"exportV4": [{"cidr": "10.0.0.0/8", "matchOperator": "In", "action": "Accept"}]}
    assert_fails(doc("BGPFilter", {"importV4": [{"action": "Accept", "cidr": "10.0.0.0/8"}]}), "CIDR",
                 "MatchOperator cannot be empty when CIDR is not")
    assert_fails(doc("BGPFilter", {"importV4": [{"action": "Accept", "matchOperator": "In"}]}), "MatchOperator",
                 "CIDR cannot be empty when MatchOperator is not")
    assert_fails(doc("BGPFilter", {"importV6": [{"action": "Reject", "prefixLength": {"min": 1}}]}),
                 "PrefixLength", "CIDR cannot be empty when PrefixLength is not")
    assert_fails(doc("BGPFilter", {"importV4": [{"action": "Drop"}]}), "Action",
                 tag("Action", "filterAction"))
    assert_fails(doc("BGPFilter", {"exportV4": [{"action": "Accept", "cidr": "fd00::/8", "matchOperator": "In"}]}),
                 "CIDR", tag("CIDR", "netv4"))
    assert_fails(doc("BGPFilter", {"exportV6": [{"action": "Accept", "cidr": "fd00::/8", "matchOperator": "In",
                                                 "prefixLength": {"max": 129}}]}),
                 "Max", tag("Max", "bgpFilterPrefixLengthV6"))


def test_node() -> None:
    n = parse_resource(doc("Node", {"bgp": {"ipv4Address": "10.0.0.5/24", "asNumber": 64513},
                                    "orchRefs": [{"orchestrator": "k8s", "nodeName": "n1"}]}, name="n1"))
    assert n.to_dict() == {"kind": "Node", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "n1"},
                           "spec": {"bgp": {"asNumber": 64513, "ipv4Address": "10.0.0.5/24"},
                                    "orchRefs": [{"nodeName": "n1", "orchestrator": "k8s"}]},
                           "status": {}}
    assert_fails(doc("Node", {"bgp": {}}, name="n1"), "BGP", "Spec.BGP should not be empty")
    assert_fails(doc("Node", {"bgp": {"ipv4Address": "fd00::1/64"}}, name="n1"), "IPv4Address",
                 tag("IPv4Address", "cidrv4"))
    assert_fails(doc("Node", {"bgp": {"ipv4Address": "10.0.0.1/24", "routeReflectorClusterID": "x"}}, name="n1"),
                 "RouteReflectorClusterID",
                 tag("RouteReflectorClusterID", "ipv4"))
    assert_fails(doc("Node", {"vxlanTunnelMACAddr": "zz"}, name="n1"), "VXLANTunnelMACAddr",
                 tag("VXLANTunnelMACAddr", "mac"))
    assert_fails(doc("Node", {"addresses": [{"address": "10.0.0.1", "type": "Public"}]}, name="n1"), "Type",
                 tag("Type", "ipType"))


def test_node_status_kept() -> None:
    d = doc("Node", {}, name="n1")
    d["status"] = {"wireguardPublicKey": "abc", "podCIDRs": ["10.0.0.0/24"], "bgp": {"numberEstablishedV4": 1}}
    out = parse_resource(d).to_dict()["status"]
    assert out == {"wireguardPublicKey": "abc", "podCIDRs": ["10.0.0.0/24"], "bgp": {"numberEstablishedV4": 1}}

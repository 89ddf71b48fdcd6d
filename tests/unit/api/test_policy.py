"""Rules, policies, profiles and tiers: defaults and every policy rule Calico checks."""

from __future__ import annotations

from typing import Any

import pytest

from calico.api import parse_resource
from tests.unit.api.helpers import assert_fails, doc, failures, tag

PORTS = "rules that specify ports must set protocol to TCP or UDP or SCTP"
ICMP = "rules that specify ICMP fields must set protocol to ICMP"
GLOBAL = "global() can only be used in an EntityRule namespaceSelector"


def gnp(spec: dict[str, Any], name: str = "p", **meta: Any) -> dict[str, Any]:
    return doc("GlobalNetworkPolicy", spec, name=name, **meta)


def rule(**r: Any) -> dict[str, Any]:
    return gnp({"ingress": [{"action": "Allow", **r}]})


def test_rule_rendering_always_has_source_and_destination() -> None:
    p = parse_resource(rule(protocol="tcp", destination={"ports": [80, "443", "8000:8080", "http"]}))
    assert p.to_dict()["spec"]["ingress"] == [
        {"action": "Allow", "protocol": "TCP", "source": {},
         "destination": {"ports": [80, 443, "8000:8080", "http"]}}]


def test_order_rendered_like_go_float() -> None:
    assert parse_resource(gnp({"order": 100})).to_dict()["spec"]["order"] == 100
    assert parse_resource(gnp({"order": 10.5})).to_dict()["spec"]["order"] == 10.5
    assert parse_resource(gnp({"order": 0})).to_dict()["spec"]["order"] == 0


@pytest.mark.parametrize(("ingress", "egress", "types"), [
    (None, None, ["Ingress"]),
    ([{"action": "Allow"}], None, ["Ingress"]),
    (None, [{"action": "Allow"}], ["Egress"]),
    ([{"action": "Allow"}], [{"action": "Deny"}], ["Ingress", "Egress"]),
])
def test_types_defaulting(ingress: Any, egress: Any, types: list[str]) -> None:
    spec: dict[str, Any] = {}
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    assert parse_resource(gnp(spec)).to_dict()["spec"]["types"] == types


def test_explicit_types_kept() -> None:
    assert parse_resource(gnp({"types": ["Egress"]})).to_dict()["spec"]["types"] == ["Egress"]


def test_tier_defaults_and_label() -> None:
    d = parse_resource(doc("NetworkPolicy", {}, namespace="ns1")).to_dict()
    assert d["spec"]["tier"] == "default"
    assert d["metadata"]["labels"] == {"projectcalico.org/tier": "default"}
    d = parse_resource(gnp({"tier": "security"}, name="security.p")).to_dict()
    assert d["metadata"]["labels"]["projectcalico.org/tier"] == "security"


def test_duplicate_types() -> None:
    assert_fails(gnp({"types": ["Ingress", "Ingress"]}), "GlobalNetworkPolicySpec.Types",
                 "'Ingress' type specified more than once")
    assert_fails(doc("NetworkPolicy", {"types": ["Egress", "Egress"]}, namespace="n"),
                 "NetworkPolicySpec.Types", "'Egress' type specified more than once")


def test_bad_type_value() -> None:
    assert_fails(gnp({"types": ["ingress"]}), "Types[0]",
                 tag("Types[0]", "policyType"))


def test_action_must_be_exact() -> None:
    assert_fails(rule(action="allow"), "Action", tag("Action", "action"))


def test_ports_need_tcp_udp_sctp() -> None:
    assert_fails(rule(destination={"ports": [80]}), "Destination.Ports", PORTS)
    assert_fails(rule(protocol="ICMP", source={"notPorts": [80]}), "Source.NotPorts", PORTS)
    assert_fails(rule(protocol="UDPLite", source={"ports": [80]}), "Source.Ports", PORTS)
    assert_fails(rule(protocol=1, destination={"notPorts": [80]}), "Destination.NotPorts", PORTS)
    for proto in ("TCP", "udp", "SCTP", 6, 17, 132):
        parse_resource(rule(protocol=proto, destination={"ports": [80]}))


def test_port_zero_and_range_errors() -> None:
    assert_fails(rule(protocol="TCP", destination={"ports": [0]}), "Port",
                 "port range invalid, port number must be between 1 and 65535")
    errs = failures(rule(protocol="TCP", destination={"ports": ["9:1"]}))
    assert errs[0][0] == "GlobalNetworkPolicy.Spec.Ingress[0].Destination.Ports[0]"
    assert "minimum port number (9) is greater than maximum port number (1)" in errs[0][1]


def test_protocol_values() -> None:
    assert_fails(rule(protocol=0), "Protocol", "protocol number invalid")
    assert_fails(rule(protocol="GRE"), "Protocol", "protocol name invalid")
    assert_fails(rule(notProtocol="foo"), "Protocol", "protocol name invalid")
    assert parse_resource(rule(protocol=47)).to_dict()["spec"]["ingress"][0]["protocol"] == 47


def test_icmp_needs_icmp_protocol() -> None:
    assert_fails(rule(icmp={"type": 8}), "ICMP", ICMP)
    assert_fails(rule(protocol="TCP", icmp={"type": 8}), "ICMP", ICMP)
    parse_resource(rule(protocol="ICMP", icmp={"type": 8, "code": 0}))
    parse_resource(rule(protocol="ICMPv6", notICMP={"type": 128}))


def test_icmp_type_code_ranges() -> None:
    assert_fails(rule(protocol="ICMP", icmp={"type": 255}), "Type",
                 tag("Type", "lte"))
    assert_fails(rule(protocol="ICMP", icmp={"type": 3, "code": 256}), "Code",
                 tag("Code", "lte"))
    assert_fails(rule(protocol="ICMP", icmp={"type": -1}), "Type",
                 tag("Type", "gte"))


def test_icmp_code_requires_type() -> None:
    assert_fails(rule(protocol="ICMP", icmp={"code": 3}), "Code", "ICMP code specified without an ICMP type")


def test_icmp_zero_values_kept() -> None:
    r = parse_resource(rule(protocol="ICMP", icmp={"type": 0, "code": 0})).to_dict()["spec"]["ingress"][0]
    assert r["icmp"] == {"type": 0, "code": 0}


def test_ip_version_rules() -> None:
    assert_fails(rule(ipVersion=5), "IPVersion", tag("IPVersion", "ipVersion"))
    assert_fails(rule(protocol="ICMP", ipVersion=6), "IPVersion", "must set ipversion to '4' with protocol icmp")
    assert_fails(rule(protocol="ICMPv6", ipVersion=4), "IPVersion", "must set ipversion to '6' with protocol icmpv6")
    assert_fails(rule(ipVersion=6, source={"nets": ["10.0.0.0/8"]}), "Source.Nets",
                 "rule IP version doesn't match CIDR version")


def test_mixed_families() -> None:
    assert_fails(rule(source={"nets": ["10.0.0.0/8", "fd00::/8"]}), "Source.Nets",
                 "rule contains both IPv4 and IPv6 CIDRs")
    assert_fails(rule(source={"nets": ["10.0.0.0/8"]}, destination={"notNets": ["fd00::/8"]}),
                 "Destination.NotNets", "rule contains both IPv4 and IPv6 CIDRs")


def test_nets_must_be_masked() -> None:
    assert_fails(rule(source={"nets": ["10.0.0.1/8"]}), "Nets[0]",
                 tag("Nets[0]", "net"))
    assert_fails(rule(destination={"notNets": ["bogus"]}), "NotNets[0]",
                 tag("NotNets[0]", "net"))
    parse_resource(rule(source={"nets": ["10.0.0.1"]}, destination={"notNets": ["10.1.0.0/16"]}))


def test_selectors_validated() -> None:
    errs = failures(rule(source={"selector": "a == 'b"}))
    assert errs[0][0] == "Selector" and "unterminated string" in errs[0][1]
    errs = failures(gnp({"selector": "has("}))
    assert errs[0][0] == "Selector"


def test_global_selector_placement() -> None:
    assert_fails(rule(source={"selector": "global()"}), "Selector field", GLOBAL)
    assert_fails(rule(source={"namespaceSelector": "global() && a == 'b'"}), "NamespaceSelector field",
                 "global() cannot be combined with other selectors")
    parse_resource(rule(source={"namespaceSelector": "global()"}))
    assert_fails(gnp({"selector": "global()"}), "GlobalNetworkPolicySpec.Selector", GLOBAL)
    assert_fails(gnp({"namespaceSelector": "global()"}), "GlobalNetworkPolicySpec.NamespaceSelector", GLOBAL)
    assert_fails(gnp({"serviceAccountSelector": "global()"}), "GlobalNetworkPolicySpec.ServiceAccountSelector",
                 GLOBAL)
    assert_fails(doc("NetworkPolicy", {"selector": "global()"}, namespace="n"), "NetworkPolicySpec.Selector",
                 GLOBAL)
    assert_fails(doc("NetworkPolicy", {"serviceAccountSelector": "global()"}, namespace="n"),
                 "NetworkPolicySpec.ServiceAccountSelector", GLOBAL)


def test_services_rules() -> None:
    svc = {"name": "web", "namespace": "default"}
    assert_fails(rule(source={"services": {"namespace": "d"}}), "Services field", "must specify a service name")
    assert_fails(rule(source={"services": svc, "selector": "a == 'b'"}), "Services field",
                 "cannot specify Selector/NotSelector and Services on the same rule")
    assert_fails(rule(source={"services": svc, "namespaceSelector": "a == 'b'"}), "Services field",
                 "cannot specify NamespaceSelector and Services on the same rule")
    assert_fails(rule(source={"services": svc, "nets": ["10.0.0.0/8"]}), "Services field",
                 "cannot specify Nets/NotNets and Services on the same rule")
    assert_fails(rule(source={"services": svc, "serviceAccounts": {"names": ["a"]}}), "Services field",
                 "cannot specify ServiceAccounts and Services on the same rule")
    assert_fails(gnp({"egress": [{"action": "Allow", "protocol": "TCP",
                                  "destination": {"services": svc, "ports": [80]}}]}),
                 "Destination.Ports", "cannot specify ports with a service selector")
    assert_fails(gnp({"ingress": [{"action": "Allow", "destination": {"services": svc}}]}), "Services",
                 "not allowed in ingress rule destination")
    assert_fails(gnp({"egress": [{"action": "Allow", "source": {"services": svc}}]}), "Services",
                 "not allowed in egress rule source")
    assert_fails(gnp({"ingress": [{"action": "Allow", "source": {"services": {"name": "web"}}}]}), "Namespace",
                 "must specify a namespace")
    parse_resource(doc("NetworkPolicy", {"ingress": [{"action": "Allow", "source": {"services": {"name": "w"}}}]},
                       namespace="n"))


def test_http_rules() -> None:
    http = {"methods": ["GET"], "paths": [{"exact": "/a"}]}
    assert_fails(rule(action="Deny", http=http), "HTTP", "only valid for Allow rules")
    assert_fails(rule(protocol="UDP", http=http), "Protocol",
                 "rules that specify HTTP fields must set protocol to TCP or empty")
    assert_fails(rule(http={"methods": ["GET", "GET"]}), "Methods", "Invalid methods (duplicates): [GET GET]")
    assert_fails(rule(http={"paths": [{"exact": "/a", "prefix": "/b"}]}), "Paths",
                 "Invalid path match. Both 'exact' and 'prefix' are set")
    assert_fails(gnp({"egress": [{"action": "Allow", "http": http}]}), "HTTP", "not allowed in egress rules")


def test_gnp_do_not_track_pre_dnat_rules() -> None:
    assert_fails(gnp({"doNotTrack": True, "preDNAT": True, "applyOnForward": True}), "PolicySpec.PreDNAT",
                 "PreDNAT and DoNotTrack cannot both be true, for a given PolicySpec")
    assert_fails(gnp({"doNotTrack": True}), "PolicySpec.ApplyOnForward",
                 "ApplyOnForward must be true if either PreDNAT or DoNotTrack is true, for a given PolicySpec")
    assert_fails(gnp({"preDNAT": True, "applyOnForward": True, "egress": [{"action": "Allow"}]}),
                 "PolicySpec.Egress", "PreDNAT PolicySpec cannot have any Egress rules")
    assert_fails(gnp({"preDNAT": True, "applyOnForward": True, "types": ["Egress"]}), "PolicySpec.Types",
                 "PreDNAT PolicySpec cannot have 'egress' Type")
    p = parse_resource(gnp({"preDNAT": True, "applyOnForward": True, "ingress": [{"action": "Deny"}]}))
    assert p.to_dict()["spec"]["preDNAT"] is True


def test_policy_names() -> None:
    parse_resource(gnp({}, name="a.b"))
    reason = "name must consist of lower case alphanumeric characters or '-' (regex: [a-z0-9]([-a-z0-9]*[a-z0-9])?)"
    assert_fails(gnp({}, name="a.b.c"), "Metadata.Name", reason)
    assert_fails(doc("NetworkPolicy", {}, name="a.b.c", namespace="n"), "Metadata.Name", reason)
    parse_resource(doc("NetworkPolicy", {}, name="knp.default.a.b.c", namespace="n"))


def test_performance_hints() -> None:
    parse_resource(gnp({"performanceHints": ["AssumeNeededOnEveryNode"]}))
    assert_fails(gnp({"performanceHints": ["Fast"]}), "PerformanceHints[0]",
                 tag("PerformanceHints[0]", "oneof"))


def test_rule_metadata_annotations_checked() -> None:
    errs = failures(rule(metadata={"annotations": {"bad key!": "v"}}))
    assert errs[0][0] == "Metadata.Annotations (key)"


def test_profile() -> None:
    p = parse_resource(doc("Profile", {"ingress": [{"action": "Allow"}], "labelsToApply": {"a": ""}}, name="kns.x"))
    assert p.to_dict()["spec"] == {"ingress": [{"action": "Allow", "source": {}, "destination": {}}],
                                   "labelsToApply": {"a": ""}}
    assert_fails(doc("Profile", {"labelsToApply": {"bad key!": ""}}), "LabelsToApply",
                 tag("LabelsToApply", "labels"))


def test_tier() -> None:
    t = parse_resource(doc("Tier", {"order": 100}, name="security"))
    assert t.to_dict()["spec"] == {"order": 100, "defaultAction": "Deny"}
    reason = "name must consist of lower case alphanumeric characters or '-' (regex: [a-z0-9]([-a-z0-9]*[a-z0-9])?)"
    assert_fails(doc("Tier", {}, name="a.b"), "Metadata.Name", reason)
    assert_fails(doc("Tier", {"order": 5}, name="default"), "TierSpec.Order", "default tier order must be 1e+06")
    parse_resource(doc("Tier", {"order": 1000000}, name="default"))
    assert_fails(doc("Tier", {"order": 1, "defaultAction": "Allow"}, name="t"), "DefaultAction",
                 tag("DefaultAction", "oneof"))
    assert_fails(doc("Tier", {}, name="a" * 64), "Metadata.Name", "name is too long by 1 bytes")


def test_label_checks() -> None:
    errs = failures(gnp({}, labels={"bad key!": "v"}))
    assert errs[0][0] == "Metadata.Labels (label)" and errs[0][1].startswith("name part must consist of")
    errs = failures(gnp({}, labels={"k": "bad value!"}))
    assert errs[0][0] == "Metadata.Labels (value)"
    errs = failures(gnp({}, labels={"k": "v" * 64}))
    assert ("Metadata.Labels (value)", "must be no more than 63 characters") in errs
    parse_resource(gnp({}, labels={"example.com/role": "db_1.x"}))


def test_annotation_size_limit() -> None:
    errs = failures(gnp({}, annotations={"k": "v" * (256 * 1024)}))
    assert errs == [("Metadata.Annotations (key)", "total size of annotations is too large by 1 bytes")]

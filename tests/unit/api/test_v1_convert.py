"""Calico 2.x (v1) documents converted exactly as calicoctl convert does."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from calico.api import (
    CalicoValidationError,
    ConversionError,
    UnknownKindError,
    parse_document,
    render_conversion,
    v1_to_v3_documents,
)
from calico.api.errors import InsufficientIdentifiers
from calico.api.v1 import (
    cidr_to_name,
    convert_name,
    convert_name_no_dots,
    convert_node_name,
    ip_to_name,
    normalize_name,
)

SEED = """\
apiVersion: v1
kind: ipPool
metadata:
  cidr: 172.16.100.0/24
spec:
  ipip:
    enabled: false
  nat-outgoing: false
---
apiVersion: v1
kind: profile
metadata:
  name: calico-net
  tags:
  - calico-net
spec:
  ingress:
  - action: allow
  egress:
  - action: allow
---
apiVersion: v1
kind: bgpPeer
metadata:
  peerIP: 10.100.0.1
  scope: node
  node: host1
spec:
  asNumber: 65000
"""


def convert_text(text: str) -> list[dict[str, object]]:
    return [d for doc in yaml.safe_load_all(text) for d in v1_to_v3_documents(doc)]


def test_seed_documents_convert_exactly() -> None:
    resources = [r for doc in yaml.safe_load_all(SEED) for r in parse_document(doc)]
    assert [r.to_dict() for r in resources] == [
        {"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "172-16-100-0-24"},
         "spec": {"cidr": "172.16.100.0/24", "vxlanMode": "Never", "ipipMode": "Never", "blockSize": 26,
                  "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"], "assignmentMode": "Automatic"}},
        {"kind": "Profile", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "calico-net"},
         "spec": {"ingress": [{"action": "Allow", "source": {}, "destination": {}}],
                  "egress": [{"action": "Allow", "source": {}, "destination": {}}],
                  "labelsToApply": {"calico-net": ""}}},
        {"kind": "BGPPeer", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "host1.10-100-0-1"},
         "spec": {"node": "host1", "peerIP": "10.100.0.1", "asNumber": 65000}},
    ]


def test_seed_rendered_as_calicoctl_prints_it() -> None:
    resources = [r for doc in yaml.safe_load_all(SEED) for r in parse_document(doc)]
    out = render_conversion(resources)
    assert out["apiVersion"] == "v1" and out["kind"] == "List" and out["metadata"] == {}
    assert [i["metadata"] for i in out["items"]] == [
        {"name": "172-16-100-0-24", "creationTimestamp": None},
        {"name": "calico-net", "creationTimestamp": None},
        {"name": "host1.10-100-0-1", "creationTimestamp": None}]
    single = render_conversion(resources[:1])
    assert single["kind"] == "IPPool"


def test_name_helpers() -> None:
    assert normalize_name("My_Host/One..two--") == "my-host.one.two"
    assert convert_name("abc") == "abc"
    h = hashlib.sha1(b"Foo_Bar").hexdigest()[:8]
    assert convert_name("Foo_Bar") == f"foo-bar-{h}"
    assert convert_name_no_dots("a.b") == "a-b-" + hashlib.sha1(b"a.b").hexdigest()[:8]
    assert convert_node_name("Node2") == "node2"
    assert ip_to_name("192.20.30.40") == "192-20-30-40"
    assert ip_to_name("aa:bb::ff") == "00aa-00bb-0000-0000-0000-0000-0000-00ff"
    assert cidr_to_name("10.1.0.0/16") == "10-1-0-0-16"
    assert cidr_to_name("2001::/120") == "2001---120"


def test_ip_pool_modes() -> None:
    out = convert_text("""
apiVersion: v1
kind: ipPool
metadata: {cidr: 10.1.0.1/16}
spec: {ipip: {enabled: true, mode: cross-subnet}, nat-outgoing: true, disabled: true}
---
apiVersion: v1
kind: ipPool
metadata: {cidr: "2001::/120"}
spec: {ipip: {enabled: true}}
""")
    assert out[0]["metadata"] == {"name": "10-1-0-0-16"}
    spec0 = out[0]["spec"]
    assert isinstance(spec0, dict)
    assert (spec0["cidr"], spec0["ipipMode"], spec0["natOutgoing"], spec0["disabled"]) == (
        "10.1.0.0/16", "CrossSubnet", True, True)
    spec1 = out[1]["spec"]
    assert isinstance(spec1, dict)
    assert (out[1]["metadata"], spec1["ipipMode"], spec1["blockSize"]) == ({"name": "2001---120"}, "Always", 122)


def test_global_bgp_peer_and_errors() -> None:
    out = convert_text("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 'aa:bb::ff', scope: global}\n"
                       "spec: {asNumber: 63400}\n")
    assert out[0]["metadata"] == {"name": "00aa-00bb-0000-0000-0000-0000-0000-00ff"}
    assert out[0]["spec"] == {"peerIP": "aa:bb::ff", "asNumber": 63400}
    with pytest.raises(InsufficientIdentifiers, match="missing 'scope'"):
        convert_text("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.1}\n")
    with pytest.raises(ConversionError, match="With Global scope having a Node is invalid"):
        convert_text("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.1, scope: global, node: a}\n")
    with pytest.raises(ConversionError, match="With Node scope a Node must be defined"):
        convert_text("apiVersion: v1\nkind: bgpPeer\nmetadata: {peerIP: 10.0.0.1, scope: node}\n")


def test_node_conversion() -> None:
    out = convert_text("""
apiVersion: v1
kind: node
metadata: {name: Node2}
spec:
  bgp: {asNumber: 64512, ipv4Address: 10.244.0.1/24, ipv6Address: "aa::ff"}
  orchRefs: [{nodeName: k1, orchestrator: k8s}]
""")
    assert out[0] == {"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": "node2"},
                      "spec": {"bgp": {"asNumber": 64512, "ipv4Address": "10.244.0.1/24",
                                       "ipv6Address": "aa::ff/128"},
                               "orchRefs": [{"nodeName": "k1", "orchestrator": "k8s"}]},
                      "status": {}}


def test_profile_rules_tags_and_names() -> None:
    out = convert_text("""
apiVersion: v1
kind: profile
metadata:
  name: profile1
  labels: {profile: profile1}
  tags: [atag, btag]
spec:
  ingress:
  - action: deny
    protocol: udp
    source: {tag: ctag, net: 172.20.0.0/16}
  - action: allow
    source: {selector: "profile == 'profile1'"}
  egress:
  - action: allow
""")
    spec = out[0]["spec"]
    assert isinstance(spec, dict)
    assert spec["ingress"][0] == {"action": "Deny", "protocol": "UDP",
                                  "source": {"nets": ["172.20.0.0/16"], "selector": "ctag == ''"}, "destination": {}}
    assert spec["labelsToApply"] == {"profile": "profile1", "atag": "", "btag": ""}
    assert convert_text("apiVersion: v1\nkind: profile\nmetadata: {name: k8s_ns.default}\n")[0]["metadata"] == {
        "name": "kns.default"}
    with pytest.raises(ConversionError, match="Tag: 'a' and Label 'a == b' have the same value"):
        convert_text("apiVersion: v1\nkind: profile\nmetadata: {name: p, labels: {a: b}, tags: [a]}\n")


def test_rule_conversion_details() -> None:
    out = convert_text("""
apiVersion: v1
kind: profile
metadata: {name: p}
spec:
  ingress:
  - action: pass
    ipVersion: 4
    protocol: icmp
    icmp: {type: 8, code: 0}
    source:
      tag: tag1
      net: 192.168.0.129/25
      nets: [30.0.0.3/24, 40.0.0.4/24]
      notNet: 20.0.0.2/24
      selector: "has(calico/k8s_ns) || bake == 'cake'"
    destination: {notTag: t2, ports: [80]}
  - {}
""")
    spec = out[0]["spec"]
    assert isinstance(spec, dict)
    r = spec["ingress"][0]
    assert r["action"] == "Pass" and r["protocol"] == "ICMP" and r["icmp"] == {"type": 8, "code": 0}
    assert r["source"] == {"nets": ["30.0.0.0/24", "40.0.0.0/24", "192.168.0.128/25"],
                           "selector": "(has(projectcalico.org/namespace) || bake == 'cake') && tag1 == ''",
                           "notNets": ["20.0.0.0/24"]}
    assert r["destination"] == {"ports": [80], "notSelector": "t2 == ''"}
    assert spec["ingress"][1]["action"] == "Allow"


def test_policy_conversion_v3_27_naming() -> None:
    out = convert_text("""
apiVersion: v1
kind: policy
metadata: {name: allow-tcp-6379, annotations: {owner: team-a}}
spec:
  order: 1234
  selector: role == 'database' && calico/k8s_ns == 'prod'
  types: [ingress, egress]
  ingress:
  - action: allow
    protocol: tcp
    source: {selector: "role == 'frontend'"}
    destination: {ports: [6379]}
  egress:
  - action: allow
  doNotTrack: true
""")
    d = out[0]
    assert d["kind"] == "GlobalNetworkPolicy"
    assert d["metadata"] == {"name": "allow-tcp-6379", "annotations": {"owner": "team-a"}}
    spec = d["spec"]
    assert isinstance(spec, dict)
    assert spec["order"] == 1234 and spec["types"] == ["Ingress", "Egress"]
    assert spec["selector"] == "role == 'database' && projectcalico.org/namespace == 'prod'"
    assert spec["doNotTrack"] is True and spec["applyOnForward"] is True
    assert "tier" not in spec
    dotted = convert_text("apiVersion: v1\nkind: policy\nmetadata: {name: a.b}\nspec: {egress: [{action: allow}]}\n")
    assert dotted[0]["metadata"] == {"name": convert_name_no_dots("a.b")}
    assert dotted[0]["spec"]["types"] == ["Egress"]  # type: ignore[index]


def test_host_endpoint_conversion() -> None:
    out = convert_text("""
apiVersion: v1
kind: hostEndpoint
metadata: {name: eth0, node: MyHost, labels: {type: production}}
spec: {interfaceName: eth0, expectedIPs: ["fd00::1", 192.168.0.1], profiles: [k8s_ns.x],
       ports: [{name: http, protocol: tcp, port: 80}]}
""")
    assert out[0]["metadata"] == {"name": "myhost.eth0", "labels": {"type": "production"}}
    assert out[0]["spec"] == {"node": "myhost", "interfaceName": "eth0", "expectedIPs": ["192.168.0.1", "fd00::1"],
                              "profiles": ["kns.x"], "ports": [{"name": "http", "protocol": "TCP", "port": 80}]}


def test_workload_endpoint_conversion() -> None:
    out = convert_text("""
apiVersion: v1
kind: workloadEndpoint
metadata:
  name: eth0
  workload: default.frontend-5gs43
  orchestrator: k8s
  node: rack1-host1
  labels: {app: frontend, calico/k8s_ns: default}
spec:
  interfaceName: cali0ef24ba
  mac: ca:fe:1d:52:bb:e9
  ipNetworks: [192.168.0.0/32]
  profiles: [profile1]
""")
    assert out[0]["metadata"] == {"name": "rack1--host1-k8s-frontend--5gs43-eth0", "namespace": "default",
                                  "labels": {"app": "frontend", "projectcalico.org/namespace": "default"}}
    assert out[0]["spec"] == {"orchestrator": "k8s", "node": "rack1-host1", "pod": "frontend-5gs43",
                              "endpoint": "eth0", "ipNetworks": ["192.168.0.0/32"], "profiles": ["profile1"],
                              "interfaceName": "cali0ef24ba", "mac": "ca:fe:1d:52:bb:e9"}
    res = parse_document(yaml.safe_load("""
apiVersion: v1
kind: workloadEndpoint
metadata: {name: ep1, workload: Vm_1, orchestrator: openstack, node: h1}
spec: {interfaceName: tap1, ipNetworks: [10.0.0.5/32]}
"""))
    assert res[0].metadata.namespace == "default"
    assert res[0].metadata.name == "h1-openstack-" + convert_name("Vm_1").replace("-", "--") + "-ep1"
    with pytest.raises(ConversionError, match="malformed k8s workload ID 'nodot'"):
        convert_text("apiVersion: v1\nkind: workloadEndpoint\nmetadata: {name: e, workload: nodot, "
                     "orchestrator: k8s, node: n}\n")


def test_lists_and_arrays() -> None:
    out = convert_text("""
apiVersion: v1
kind: ipPoolList
items:
- metadata: {cidr: 10.0.0.0/16}
- metadata: {cidr: 10.1.0.0/16}
""")
    assert [o["metadata"] for o in out] == [{"name": "10-0-0-0-16"}, {"name": "10-1-0-0-16"}]
    out = convert_text("- {apiVersion: v1, kind: ipPool, metadata: {cidr: 10.2.0.0/16}}\n")
    assert out[0]["metadata"] == {"name": "10-2-0-0-16"}


def test_unsupported_kinds() -> None:
    with pytest.raises(ConversionError, match="conversion for the resource type 'tier' is not supported"):
        convert_text("apiVersion: v1\nkind: tier\nmetadata: {name: t}\n")
    with pytest.raises(UnknownKindError, match=r"Unknown resource type \(thing\) and/or version \(v1\)"):
        convert_text("apiVersion: v1\nkind: thing\n")


def test_converted_result_is_validated_by_parse_document() -> None:
    with pytest.raises(CalicoValidationError):
        parse_document(yaml.safe_load("apiVersion: v1\nkind: ipPool\nmetadata: {cidr: 169.254.0.0/16}\n"))
    # v1_to_v3_documents itself never validates (calicoctl convert --ignore-validation)
    assert convert_text("apiVersion: v1\nkind: ipPool\nmetadata: {cidr: 169.254.0.0/16}\n")[0]["metadata"] == {
        "name": "169-254-0-0-16"}


def test_convert_manifest_validates_with_struct_validator_wording() -> None:
    from calico.api import convert_manifest

    docs = list(yaml.safe_load_all("apiVersion: v1\nkind: ipPool\nmetadata: {cidr: 169.254.0.0/16}\n"))
    with pytest.raises(CalicoValidationError) as info:
        convert_manifest(docs)
    assert str(info.value) == ("error with field IPpool.CIDR = '169.254.0.0/16' "
                               "(IP pool range overlaps with IPv4 Link Local range 169.254.0.0/16)")
    out = convert_manifest(docs, validate=False)
    assert out["metadata"] == {"name": "169-254-0-0-16", "creationTimestamp": None}
    assert convert_manifest(list(yaml.safe_load_all(SEED)))["kind"] == "List"

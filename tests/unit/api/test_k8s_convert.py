"""Kubernetes NetworkPolicy conversion (calicoctl convert's knp.default.* policies)."""

from __future__ import annotations

import yaml

from calico.api import parse_resource, v1_to_v3_documents
from calico.api.k8s import simplify_ports
from calico.api.values import Port

NP = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web, tier: fe}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - podSelector: {matchExpressions: [{key: role, operator: In, values: [a, b]}]}
      namespaceSelector: {}
    - ipBlock: {cidr: 10.0.0.5/8, except: [10.1.0.0/16]}
    ports:
    - {port: 80}
    - {port: 81}
    - {port: 82, protocol: TCP}
    - {port: dns, protocol: UDP}
  egress:
  - to: [{namespaceSelector: {matchLabels: {team: x}}}]
"""


def test_k8s_network_policy_converted() -> None:
    out = v1_to_v3_documents(yaml.safe_load(NP))
    assert len(out) == 1
    d = out[0]
    assert d["metadata"] == {"name": "knp.default.allow-web", "namespace": "prod"}
    spec = d["spec"]
    assert spec["order"] == 1000
    assert spec["selector"] == "projectcalico.org/orchestrator == 'k8s' && app == 'web' && tier == 'fe'"
    assert spec["types"] == ["Ingress", "Egress"]
    assert spec["ingress"] == [
        {"action": "Allow", "protocol": "TCP",
         "source": {"selector": "projectcalico.org/orchestrator == 'k8s' && role in { 'a', 'b' }",
                    "namespaceSelector": "all()"},
         "destination": {"ports": ["80:82"]}},
        {"action": "Allow", "protocol": "TCP", "source": {"nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"]},
         "destination": {"ports": ["80:82"]}},
        {"action": "Allow", "protocol": "UDP",
         "source": {"selector": "projectcalico.org/orchestrator == 'k8s' && role in { 'a', 'b' }",
                    "namespaceSelector": "all()"},
         "destination": {"ports": ["dns"]}},
        {"action": "Allow", "protocol": "UDP", "source": {"nets": ["10.0.0.0/8"], "notNets": ["10.1.0.0/16"]},
         "destination": {"ports": ["dns"]}},
    ]
    assert spec["egress"] == [{"action": "Allow", "destination": {
        "selector": "projectcalico.org/orchestrator == 'k8s'", "namespaceSelector": "team == 'x'"}}]
    parse_resource(d)  # the result is a valid v3 NetworkPolicy


def test_k8s_policy_defaults_to_ingress_and_allow_all_rule() -> None:
    out = v1_to_v3_documents({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                              "metadata": {"name": "a"}, "spec": {"podSelector": {}, "ingress": [{}]}})
    assert out[0]["metadata"]["namespace"] == "default"
    assert out[0]["spec"]["types"] == ["Ingress"]
    assert out[0]["spec"]["ingress"] == [{"action": "Allow", "source": {}, "destination": {}}]


def test_simplify_ports() -> None:
    ports = [Port(80, 80), Port(81, 81), Port(9090, 9090), Port(name="foo"), Port(82, 82)]
    assert [p.to_json() for p in simplify_ports(ports)] == ["foo", "80:82", 9090]

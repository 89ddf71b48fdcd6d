"""Builders for datastore key/values and a model dataplane that applies calc-graph messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from calico.datastore.keys import block_key, resource_key
from calico.felix import messages as m

KV = tuple[str, str | None]


def kv(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None,
       labels: dict[str, str] | None = None) -> KV:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels is not None:
        meta["labels"] = labels
    doc = {"kind": kind, "apiVersion": "projectcalico.org/v3", "metadata": meta, "spec": spec}
    return resource_key(kind, name, namespace), json.dumps(doc)


def delete(k: KV) -> KV:
    return k[0], None


def wep(name: str, node: str, ip: str, labels: dict[str, str], ns: str = "default",
        profiles: tuple[str, ...] = (), ports: list[dict[str, Any]] | None = None, iface: str | None = None,
        resource_name: str | None = None) -> KV:
    spec: dict[str, Any] = {"node": node, "orchestrator": "k8s", "pod": name, "endpoint": "eth0",
                            "interfaceName": iface or f"cali{name}"[:15], "ipNetworks": [ip],
                            "profiles": list(profiles)}
    if ports:
        spec["ports"] = ports
    return kv("WorkloadEndpoint", resource_name or f"{node}-k8s-{name}-eth0", spec, ns, labels)


def gnp(name: str, selector: str, ingress: list[dict[str, Any]] | None = None,
        egress: list[dict[str, Any]] | None = None, order: float | None = None, tier: str = "default",
        **extra: Any) -> KV:
    spec: dict[str, Any] = {"tier": tier, "selector": selector, "ingress": ingress or [], "egress": egress or [],
                            **extra}
    if order is not None:
        spec["order"] = order
    if "types" not in spec:
        spec["types"] = [t for t, r in (("Ingress", ingress), ("Egress", egress)) if r is not None] or ["Ingress"]
    return kv("GlobalNetworkPolicy", name, spec)


def np(name: str, ns: str, selector: str, ingress: list[dict[str, Any]] | None = None,
       egress: list[dict[str, Any]] | None = None, order: float | None = None, tier: str = "default") -> KV:
    spec: dict[str, Any] = {"tier": tier, "selector": selector, "ingress": ingress or [], "egress": egress or []}
    spec["types"] = [t for t, r in (("Ingress", ingress), ("Egress", egress)) if r is not None] or ["Ingress"]
    if order is not None:
        spec["order"] = order
    return kv("NetworkPolicy", name, spec, ns)


def block(cidr: str, host: str | None) -> KV:
    return block_key(cidr), json.dumps({"cidr": cidr, "affinity": f"host:{host}" if host else None,
                                        "allocations": [], "unallocated": [], "attributes": []})


@dataclass
class Dataplane:
    """Applies messages the way a dataplane would, checking the ordering contract as it goes."""

    ipsets: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    policies: dict[m.PolicyID, m.ParsedPolicy] = field(default_factory=dict)
    profiles: dict[m.ProfileID, m.ParsedProfile] = field(default_factory=dict)
    weps: dict[m.WorkloadEndpointID, m.WorkloadEndpointInfo] = field(default_factory=dict)
    heps: dict[m.HostEndpointID, m.HostEndpointInfo] = field(default_factory=dict)
    routes: dict[str, m.RouteUpdate] = field(default_factory=dict)
    vteps: dict[str, m.VXLANTunnelEndpointUpdate] = field(default_factory=dict)
    hosts: dict[str, m.HostMetadataUpdate] = field(default_factory=dict)
    pools: dict[str, m.IPAMPool] = field(default_factory=dict)
    config: m.ConfigUpdate | None = None
    in_sync: bool = False

    def apply(self, msgs: list[m.Message]) -> None:
        for msg in msgs:
            self._apply(msg)
            self._check_refs()

    def _check_refs(self) -> None:
        for pol in [*self.policies.values(), *self.profiles.values()]:
            for rule in (*pol.inbound_rules, *pol.outbound_rules):
                missing = rule.ip_set_ids() - set(self.ipsets)
                assert not missing, f"rule references IP sets not yet sent: {missing}"

    def _apply(self, msg: m.Message) -> None:
        if isinstance(msg, m.IPSetUpdate):
            self.ipsets[msg.id] = (msg.type, msg.members)
        elif isinstance(msg, m.IPSetDeltaUpdate):
            t, members = self.ipsets[msg.id]
            assert not (msg.added & members) and msg.removed <= members
            self.ipsets[msg.id] = (t, (members - msg.removed) | msg.added)
        elif isinstance(msg, m.IPSetRemove):
            del self.ipsets[msg.id]
        elif isinstance(msg, m.ActivePolicyUpdate):
            self.policies[msg.id] = msg.policy
        elif isinstance(msg, m.ActivePolicyRemove):
            del self.policies[msg.id]
        elif isinstance(msg, m.ActiveProfileUpdate):
            self.profiles[msg.id] = msg.profile
        elif isinstance(msg, m.ActiveProfileRemove):
            del self.profiles[msg.id]
        elif isinstance(msg, m.WorkloadEndpointUpdate):
            for tier in msg.endpoint.tiers:
                for pid in (*tier.ingress_policies, *tier.egress_policies):
                    assert pid in self.policies, f"endpoint references unknown policy {pid}"
            for prof in msg.endpoint.profile_ids:
                assert m.ProfileID(prof) in self.profiles
            self.weps[msg.id] = msg.endpoint
        elif isinstance(msg, m.WorkloadEndpointRemove):
            del self.weps[msg.id]
        elif isinstance(msg, m.HostEndpointUpdate):
            self.heps[msg.id] = msg.endpoint
        elif isinstance(msg, m.HostEndpointRemove):
            del self.heps[msg.id]
        elif isinstance(msg, m.RouteUpdate):
            self.routes[msg.dst] = msg
        elif isinstance(msg, m.RouteRemove):
            del self.routes[msg.dst]
        elif isinstance(msg, m.VXLANTunnelEndpointUpdate):
            self.vteps[msg.node] = msg
        elif isinstance(msg, m.VXLANTunnelEndpointRemove):
            del self.vteps[msg.node]
        elif isinstance(msg, m.HostMetadataUpdate):
            self.hosts[msg.hostname] = msg
        elif isinstance(msg, m.HostMetadataRemove):
            del self.hosts[msg.hostname]
        elif isinstance(msg, m.IPAMPoolUpdate):
            self.pools[msg.id] = msg.pool
        elif isinstance(msg, m.IPAMPoolRemove):
            del self.pools[msg.id]
        elif isinstance(msg, m.ConfigUpdate):
            self.config = msg
        elif isinstance(msg, m.InSync):
            self.in_sync = True

    def ipset_members(self, set_id: str) -> frozenset[str]:
        return self.ipsets[set_id][1]

    def snapshot(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "in_sync"}

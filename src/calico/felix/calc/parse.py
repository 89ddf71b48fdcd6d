"""Lean, fast parsing of the v3 resources Felix consumes into internal records.

Felix must digest thousands of objects at start-up, so this reads the JSON dicts directly
instead of building full pydantic models; anything malformed raises ``InvalidResource`` and the
calc graph treats the object as deleted (Felix's ValidationFilter does the same).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from calico.selector import NAMESPACE_LABEL, SERVICE_ACCOUNT_LABEL, Selector, SelectorError, parse_selector

ORCHESTRATOR_LABEL = "projectcalico.org/orchestrator"


class InvalidResource(ValueError):
    """A datastore value Felix cannot use."""


def _dict(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidResource(f"{what}: expected an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidResource(f"{what}: expected a list")
    return value


def _labels(value: Any, what: str) -> dict[str, str]:
    d = _dict(value, what)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in d.items()):
        raise InvalidResource(f"{what}: labels must map strings to strings")
    return dict(d)


_HOST_V4 = re.compile(r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:/32)?$")


def parse_cidr(text: Any, what: str) -> str:
    """A CIDR or bare IP as a normalised network string (``10.0.0.1`` -> ``10.0.0.1/32``)."""
    if not isinstance(text, str):
        raise InvalidResource(f"{what}: expected a CIDR string")
    if _HOST_V4.match(text):  # fast path for the common case: workload /32s
        return text if text.endswith("/32") else text + "/32"
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError as exc:
        raise InvalidResource(f"{what}: invalid CIDR {text!r}") from exc


def parse_ip(text: Any, what: str) -> str:
    if not isinstance(text, str):
        raise InvalidResource(f"{what}: expected an IP string")
    try:
        return str(ipaddress.ip_address(text.split("/")[0]))
    except ValueError as exc:
        raise InvalidResource(f"{what}: invalid IP {text!r}") from exc


def selector(text: Any, what: str) -> Selector:
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InvalidResource(f"{what}: expected a selector string")
    try:
        return parse_selector(text)
    except SelectorError as exc:
        raise InvalidResource(f"{what}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class EndpointPort:
    name: str
    protocol: str  # lower case
    port: int


def _ports(value: Any, what: str) -> tuple[EndpointPort, ...]:
    out = []
    for i, p in enumerate(_list(value, what)):
        p = _dict(p, f"{what}[{i}]")
        port = p.get("port")
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidResource(f"{what}[{i}].port: invalid port {port!r}")
        out.append(EndpointPort(str(p.get("name") or ""), str(p.get("protocol") or "TCP").lower(), port))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What the label/IP-set side needs of any labelled thing (WEP, HEP, network set)."""

    labels: dict[str, str]
    profile_ids: tuple[str, ...]
    nets: tuple[str, ...]  # CIDRs contributed to selector sets
    ports: tuple[EndpointPort, ...]
    node: str = ""


@dataclass(frozen=True, slots=True)
class WorkloadEndpoint:
    ep: Endpoint
    orchestrator: str
    workload: str
    endpoint: str
    namespace: str
    interface_name: str
    mac: str
    ipv4_nets: tuple[str, ...]
    ipv6_nets: tuple[str, ...]
    ipv4_nat: tuple[tuple[str, str], ...]  # (ext, int)
    ipv6_nat: tuple[tuple[str, str], ...]
    allow_spoofed: tuple[str, ...]


def parse_workload_endpoint(doc: dict[str, Any], namespace: str, name: str) -> WorkloadEndpoint:
    meta = _dict(doc.get("metadata"), "metadata")
    spec = _dict(doc.get("spec"), "spec")
    node = spec.get("node")
    if not isinstance(node, str) or not node:
        raise InvalidResource("spec.node: required")
    iface = spec.get("interfaceName")
    if not isinstance(iface, str) or not iface or len(iface) > 15:
        raise InvalidResource("spec.interfaceName: required, at most 15 characters")
    orch = str(spec.get("orchestrator") or "")
    labels = _labels(meta.get("labels"), "metadata.labels")
    labels.setdefault(NAMESPACE_LABEL, namespace)
    if orch:
        labels.setdefault(ORCHESTRATOR_LABEL, orch)
    sa = spec.get("serviceAccountName")
    if isinstance(sa, str) and sa:
        labels.setdefault(SERVICE_ACCOUNT_LABEL, sa)
    nets = tuple(parse_cidr(n, "spec.ipNetworks") for n in _list(spec.get("ipNetworks"), "spec.ipNetworks"))
    nats: list[tuple[str, str]] = []
    for i, n in enumerate(_list(spec.get("ipNATs"), "spec.ipNATs")):
        n = _dict(n, f"spec.ipNATs[{i}]")
        nats.append((parse_ip(n.get("externalIP"), "externalIP"), parse_ip(n.get("internalIP"), "internalIP")))
    spoof = tuple(parse_cidr(c, "spec.allowSpoofedSourcePrefixes")
                  for c in _list(spec.get("allowSpoofedSourcePrefixes"), "spec.allowSpoofedSourcePrefixes"))
    profiles = tuple(str(p) for p in _list(spec.get("profiles"), "spec.profiles"))
    workload = str(spec.get("workload") or spec.get("pod") or spec.get("containerID") or name)
    return WorkloadEndpoint(
        ep=Endpoint(labels, profiles, nets, _ports(spec.get("ports"), "spec.ports"), node),
        orchestrator=orch, workload=workload, endpoint=str(spec.get("endpoint") or ""), namespace=namespace,
        interface_name=iface, mac=str(spec.get("mac") or ""),
        ipv4_nets=tuple(n for n in nets if ":" not in n), ipv6_nets=tuple(n for n in nets if ":" in n),
        ipv4_nat=tuple(x for x in nats if ":" not in x[0]), ipv6_nat=tuple(x for x in nats if ":" in x[0]),
        allow_spoofed=spoof,
    )


@dataclass(frozen=True, slots=True)
class HostEndpoint:
    ep: Endpoint
    name: str
    interface_name: str
    expected_ipv4: tuple[str, ...]
    expected_ipv6: tuple[str, ...]


def parse_host_endpoint(doc: dict[str, Any], name: str) -> HostEndpoint:
    meta = _dict(doc.get("metadata"), "metadata")
    spec = _dict(doc.get("spec"), "spec")
    node = spec.get("node")
    if not isinstance(node, str) or not node:
        raise InvalidResource("spec.node: no node has been specified")
    iface = str(spec.get("interfaceName") or "")
    ips = tuple(parse_ip(i, "spec.expectedIPs") for i in _list(spec.get("expectedIPs"), "spec.expectedIPs"))
    if not iface and not ips:
        raise InvalidResource("spec: no interface or expected IPs have been specified")
    nets = tuple(str(ipaddress.ip_network(i)) for i in ips)
    profiles = tuple(str(p) for p in _list(spec.get("profiles"), "spec.profiles"))
    return HostEndpoint(
        ep=Endpoint(_labels(meta.get("labels"), "metadata.labels"), profiles, nets,
                    _ports(spec.get("ports"), "spec.ports"), node),
        name=name, interface_name=iface,
        expected_ipv4=tuple(i for i in ips if ":" not in i), expected_ipv6=tuple(i for i in ips if ":" in i),
    )


def parse_network_set(doc: dict[str, Any], namespace: str | None) -> Endpoint:
    meta = _dict(doc.get("metadata"), "metadata")
    spec = _dict(doc.get("spec"), "spec")
    labels = _labels(meta.get("labels"), "metadata.labels")
    if namespace:
        labels[NAMESPACE_LABEL] = namespace
    nets = tuple(parse_cidr(n, "spec.nets") for n in _list(spec.get("nets"), "spec.nets"))
    return Endpoint(labels, (), nets, ())


@dataclass(frozen=True, slots=True)
class Profile:
    labels: dict[str, str]
    ingress: tuple[dict[str, Any], ...]
    egress: tuple[dict[str, Any], ...]


def parse_profile(doc: dict[str, Any]) -> Profile:
    spec = _dict(doc.get("spec"), "spec")
    return Profile(_labels(spec.get("labelsToApply"), "spec.labelsToApply"),
                   tuple(_dict(r, "spec.ingress[]") for r in _list(spec.get("ingress"), "spec.ingress")),
                   tuple(_dict(r, "spec.egress[]") for r in _list(spec.get("egress"), "spec.egress")))


@dataclass(frozen=True, slots=True)
class Policy:
    tier: str
    name: str
    namespace: str
    order: float | None
    selector: Selector
    ingress: tuple[dict[str, Any], ...] | None  # None: the policy has no Ingress type
    egress: tuple[dict[str, Any], ...] | None
    untracked: bool
    pre_dnat: bool
    apply_on_forward: bool
    assume_needed: bool = False  # performanceHints: AssumeNeededOnEveryNode


def _order(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidResource(f"{what}: expected a number")
    return float(value)


def parse_policy(doc: dict[str, Any], namespace: str, name: str) -> Policy:
    from calico.selector import policy_selector

    spec = _dict(doc.get("spec"), "spec")
    ingress = tuple(_dict(r, "spec.ingress[]") for r in _list(spec.get("ingress"), "spec.ingress"))
    egress = tuple(_dict(r, "spec.egress[]") for r in _list(spec.get("egress"), "spec.egress"))
    types = [str(t).lower() for t in _list(spec.get("types"), "spec.types")]
    if not types:
        types = ["egress"] if egress and not ingress else (["ingress", "egress"] if egress else ["ingress"])
    try:
        sel = policy_selector(str(spec.get("selector") or ""), namespace,
                              "" if namespace else str(spec.get("namespaceSelector") or ""),
                              str(spec.get("serviceAccountSelector") or ""))
    except SelectorError as exc:
        raise InvalidResource(f"spec.selector: {exc}") from exc
    return Policy(
        tier=str(spec.get("tier") or "default"), name=name, namespace=namespace,
        order=_order(spec.get("order"), "spec.order"), selector=sel,
        ingress=ingress if "ingress" in types else None, egress=egress if "egress" in types else None,
        untracked=bool(spec.get("doNotTrack")), pre_dnat=bool(spec.get("preDNAT")),
        apply_on_forward=bool(spec.get("applyOnForward")),
        assume_needed="AssumeNeededOnEveryNode" in _list(spec.get("performanceHints"), "spec.performanceHints"),
    )


@dataclass(frozen=True, slots=True)
class Tier:
    order: float | None
    default_action: str


BUILTIN_TIERS = {
    "default": Tier(1_000_000.0, "Deny"),
    "adminnetworkpolicy": Tier(1_000.0, "Pass"),
    "baselineadminnetworkpolicy": Tier(10_000_000.0, "Pass"),
}


def parse_tier(doc: dict[str, Any], name: str) -> Tier:
    spec = _dict(doc.get("spec"), "spec")
    order = _order(spec.get("order"), "spec.order")
    builtin = BUILTIN_TIERS.get(name)
    if builtin is not None and order is None:
        order = builtin.order
    action = str(spec.get("defaultAction") or (builtin.default_action if builtin else "Deny"))
    if action not in ("Deny", "Pass"):
        raise InvalidResource(f"spec.defaultAction: invalid {action!r}")
    return Tier(order, action)


@dataclass(frozen=True, slots=True)
class Pool:
    cidr: str
    masquerade: bool
    ipip_mode: str
    vxlan_mode: str
    disabled: bool


def parse_pool(doc: dict[str, Any]) -> Pool:
    spec = _dict(doc.get("spec"), "spec")
    cidr = parse_cidr(spec.get("cidr"), "spec.cidr")
    return Pool(cidr, bool(spec.get("natOutgoing")), str(spec.get("ipipMode") or "Never"),
                str(spec.get("vxlanMode") or "Never"), bool(spec.get("disabled")))


@dataclass(frozen=True, slots=True)
class NodeInfo:
    ipv4: str  # bare IP or ""
    ipv4_subnet: str  # CIDR or ""
    ipv6: str
    vxlan_addr: str
    vxlan_mac: str
    ipip_addr: str


def parse_node(doc: dict[str, Any]) -> NodeInfo:
    spec = _dict(doc.get("spec"), "spec")
    bgp = _dict(spec.get("bgp"), "spec.bgp")
    ipv4 = subnet = ipv6 = ""
    if bgp.get("ipv4Address"):
        iface = ipaddress.ip_interface(str(bgp["ipv4Address"]))
        ipv4, subnet = str(iface.ip), str(iface.network)
    if bgp.get("ipv6Address"):
        ipv6 = str(ipaddress.ip_interface(str(bgp["ipv6Address"])).ip)
    for i, a in enumerate(_list(spec.get("addresses"), "spec.addresses")):
        addr = str(_dict(a, f"spec.addresses[{i}]").get("address") or "")
        if not addr:
            continue
        ip = ipaddress.ip_interface(addr).ip
        if ip.version == 4 and not ipv4:
            ipv4 = str(ip)
        elif ip.version == 6 and not ipv6:
            ipv6 = str(ip)
    vx = spec.get("ipv4VXLANTunnelAddr")
    return NodeInfo(ipv4, subnet, ipv6, parse_ip(vx, "spec.ipv4VXLANTunnelAddr") if vx else "",
                    str(spec.get("vxlanTunnelMACAddr") or ""),
                    str(bgp.get("ipv4IPIPTunnelAddr") or "").split("/")[0])


@dataclass(frozen=True, slots=True)
class Block:
    cidr: str
    affinity_host: str  # "" when the block has no host affinity


def parse_block(value: dict[str, Any], cidr: str) -> Block:
    aff = value.get("affinity")
    host = ""
    if isinstance(aff, str) and aff.startswith("host:"):
        host = aff[len("host:"):]
    return Block(parse_cidr(value.get("cidr") or cidr, "cidr"), host)

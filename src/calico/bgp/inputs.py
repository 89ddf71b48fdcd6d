"""Calico's stored JSON (v3 resources, IPAM affinity keys) -> the BGP agent's typed inputs.

Pure. Reads the documents directly rather than through calico.api so that the agent tolerates
fields it does not use; every field it does use is checked here, and a bad resource raises
:class:`InputError` naming the field, which the agent logs before skipping that resource.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from calico.bgp.model import (
    BGPConfigSpec,
    Community,
    FilterRule,
    FilterSpec,
    NodeInfo,
    PeerSpec,
    PoolInfo,
    PrefixAdvertisement,
    SecretRef,
)
from calico.selector import SelectorError, parse_selector

MAX_AS = 4294967295


class InputError(ValueError):
    """A stored resource is unusable; the message names the resource and field."""


def parse_asn(value: Any, where: str) -> int:
    """ASNumber: an integer 0..4294967295 or asdot ``a.b``."""
    if isinstance(value, bool):
        raise InputError(f"{where}: {value!r} is not an AS number")
    if isinstance(value, int):
        asn = value
    elif isinstance(value, str) and re.fullmatch(r"\d+", value):
        asn = int(value)
    elif isinstance(value, str) and re.fullmatch(r"\d+\.\d+", value):
        hi, lo = (int(p) for p in value.split("."))
        if hi > 65535 or lo > 65535:
            raise InputError(f"{where}: {value!r} is out of range for an asdot AS number")
        asn = hi * 65536 + lo
    else:
        raise InputError(f"{where}: {value!r} is not an AS number")
    if not 0 <= asn <= MAX_AS:
        raise InputError(f"{where}: AS number {asn} is out of range (0-{MAX_AS})")
    return asn


def parse_duration(value: Any, where: str) -> int:
    """Go duration (``90s``, ``2m``, ``1m30s``, ``500ms``) -> whole seconds (at least 1)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(1, int(value))
    text = str(value).strip()
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InputError(f"{where}: {value!r} is not a duration (e.g. 120s, 2m)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return max(1, round(sum(float(n) * scale[u] for n, u in parts)))


def parse_peer_ip(value: str, where: str) -> tuple[str, int | None]:
    """``IP``, ``IPv4:port`` or ``[IPv6]:port``."""
    text = value.strip()
    port: str | None = None
    if text.startswith("["):
        m = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?", text)
        if not m:
            raise InputError(f"{where}: {value!r} is not a valid IP address")
        text, port = m.group(1), m.group(2)
    elif text.count(":") == 1:
        text, port = text.split(":")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError as exc:
        raise InputError(f"{where}: {value!r} is not a valid IP address") from exc
    port_num = None
    if port is not None:
        port_num = int(port)
        if not 1 <= port_num <= 65535:
            raise InputError(f"{where}: port {port_num} is out of range (1-65535)")
    return str(ip), port_num


def _selector(value: Any, where: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        parse_selector(str(value))
    except SelectorError as exc:
        raise InputError(f"{where}: invalid selector {value!r}: {exc}") from exc
    return str(value)


def _secret(value: Any) -> SecretRef | None:
    ref = (value or {}).get("secretKeyRef") if isinstance(value, Mapping) else None
    if not ref:
        return None
    return SecretRef(str(ref.get("name", "")), str(ref.get("key", "")))


def _name(doc: Mapping[str, Any]) -> str:
    return str((doc.get("metadata") or {}).get("name", ""))


def _spec(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = doc.get("spec") or {}
    return spec if isinstance(spec, Mapping) else {}


def node_info(doc: Mapping[str, Any]) -> NodeInfo:
    name = _name(doc)
    bgp = _spec(doc).get("bgp") or {}
    where = f"Node({name})"
    asn = None
    if bgp.get("asNumber") not in (None, ""):
        asn = parse_asn(bgp["asNumber"], f"{where}: spec.bgp.asNumber")
    for key in ("ipv4Address", "ipv6Address"):
        if bgp.get(key):
            try:
                ipaddress.ip_interface(bgp[key])
            except ValueError as exc:
                raise InputError(f"{where}: spec.bgp.{key}: {bgp[key]!r} is not an IP address") from exc
    labels = (doc.get("metadata") or {}).get("labels") or {}
    return NodeInfo(
        name=name, ipv4=bgp.get("ipv4Address") or None, ipv6=bgp.get("ipv6Address") or None, asn=asn,
        rr_cluster_id=bgp.get("routeReflectorClusterID") or None,
        labels={str(k): str(v) for k, v in labels.items()},
    )


def peer_spec(doc: Mapping[str, Any]) -> PeerSpec:
    name = _name(doc)
    spec = _spec(doc)
    where = f"BGPPeer({name})"
    peer_ip = port = None
    if spec.get("peerIP"):
        peer_ip, port = parse_peer_ip(str(spec["peerIP"]), f"{where}: spec.peerIP")
    asn = parse_asn(spec["asNumber"], f"{where}: spec.asNumber") if spec.get("asNumber") not in (None, "") \
        else None
    peer_sel = _selector(spec.get("peerSelector"), f"{where}: spec.peerSelector")
    if peer_ip is None and peer_sel is None and not spec.get("localWorkloadSelector"):
        raise InputError(f"{where}: spec.peerIP: either peerIP or peerSelector must be set")
    if peer_ip is not None and asn is None:
        raise InputError(f"{where}: spec.asNumber: required with peerIP")
    restart = parse_duration(spec["maxRestartTime"], f"{where}: spec.maxRestartTime") \
        if spec.get("maxRestartTime") else None
    keepalive = parse_duration(spec["keepaliveTime"], f"{where}: spec.keepaliveTime") \
        if spec.get("keepaliveTime") else None
    local_as = parse_asn(spec["localASNumber"], f"{where}: spec.localASNumber") \
        if spec.get("localASNumber") not in (None, "") else None
    reachable = spec.get("reachableBy") or None
    if reachable:
        try:
            ipaddress.ip_address(reachable)
        except ValueError as exc:
            raise InputError(f"{where}: spec.reachableBy: {reachable!r} is not a valid IP address") from exc
    return PeerSpec(
        name=name, node=spec.get("node") or None,
        node_selector=_selector(spec.get("nodeSelector"), f"{where}: spec.nodeSelector"),
        peer_ip=peer_ip, peer_port=port, as_number=asn, peer_selector=peer_sel,
        keep_original_next_hop=bool(spec.get("keepOriginalNextHop")),
        next_hop_mode=spec.get("nextHopMode") or None,
        password=_secret(spec.get("password")),
        source_address=str(spec.get("sourceAddress") or "UseNodeIP"),
        max_restart_time=restart,
        num_allowed_local_as=int(spec["numAllowedLocalASNumbers"])
        if spec.get("numAllowedLocalASNumbers") is not None else None,
        ttl_security=int(spec["ttlSecurity"]) if spec.get("ttlSecurity") else None,
        reachable_by=reachable,
        filters=tuple(str(f) for f in spec.get("filters") or ()),
        local_as_number=local_as, keepalive_time=keepalive,
        reverse_peering=str(spec.get("reversePeering") or "Auto"),
    )


def _cidrs(items: Any, where: str) -> tuple[str, ...]:
    out = []
    for i, item in enumerate(items or ()):
        cidr = item.get("cidr") if isinstance(item, Mapping) else item
        try:
            out.append(str(ipaddress.ip_network(str(cidr), strict=False)))
        except ValueError as exc:
            raise InputError(f"{where}[{i}].cidr: {cidr!r} is not a CIDR") from exc
    return tuple(out)


def bgp_config_spec(doc: Mapping[str, Any]) -> BGPConfigSpec:
    name = _name(doc)
    spec = _spec(doc)
    where = f"BGPConfiguration({name})"
    mesh = spec.get("nodeToNodeMeshEnabled")
    adverts = tuple(
        PrefixAdvertisement(str(ipaddress.ip_network(a["cidr"], strict=False)),
                            tuple(str(c) for c in a.get("communities") or ()))
        for a in spec.get("prefixAdvertisements") or ())
    return BGPConfigSpec(
        name=name,
        node_to_node_mesh=None if mesh is None else bool(mesh),
        asn=parse_asn(spec["asNumber"], f"{where}: spec.asNumber") if spec.get("asNumber") not in (None, "")
        else None,
        log_severity=spec.get("logSeverityScreen") or None,
        listen_port=int(spec["listenPort"]) if spec.get("listenPort") else None,
        bind_mode=spec.get("bindMode") or None,
        ignored_interfaces=tuple(str(i) for i in spec.get("ignoredInterfaces") or ()),
        service_cluster_ips=_cidrs(spec.get("serviceClusterIPs"), f"{where}: spec.serviceClusterIPs"),
        service_external_ips=_cidrs(spec.get("serviceExternalIPs"), f"{where}: spec.serviceExternalIPs"),
        service_lb_ips=_cidrs(spec.get("serviceLoadBalancerIPs"), f"{where}: spec.serviceLoadBalancerIPs"),
        communities=tuple(Community(str(c["name"]), str(c["value"])) for c in spec.get("communities") or ()),
        prefix_advertisements=adverts,
        node_mesh_password=_secret(spec.get("nodeMeshPassword")),
        node_mesh_max_restart_time=parse_duration(spec["nodeMeshMaxRestartTime"],
                                                  f"{where}: spec.nodeMeshMaxRestartTime")
        if spec.get("nodeMeshMaxRestartTime") else None,
    )


def pool_info(doc: Mapping[str, Any]) -> PoolInfo:
    spec = _spec(doc)
    cidr = str(spec.get("cidr", ""))
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise InputError(f"IPPool({_name(doc)}): spec.cidr: {cidr!r} is not a CIDR") from exc
    return PoolInfo(
        cidr=str(net), disabled=bool(spec.get("disabled")),
        disable_bgp_export=bool(spec.get("disableBGPExport")),
        ipip_mode=str(spec.get("ipipMode") or "Never"), vxlan_mode=str(spec.get("vxlanMode") or "Never"),
    )


def _rule(item: Mapping[str, Any]) -> FilterRule:
    plen = item.get("prefixLength") or {}
    return FilterRule(
        action=str(item.get("action", "Reject")), cidr=item.get("cidr") or None,
        match_operator=item.get("matchOperator") or None,
        prefix_min=plen.get("min"), prefix_max=plen.get("max"),
        source=item.get("source") or None, interface=item.get("interface") or None,
    )


def filter_spec(doc: Mapping[str, Any]) -> FilterSpec:
    spec = _spec(doc)

    def rules(key: str) -> tuple[FilterRule, ...]:
        return tuple(_rule(r) for r in spec.get(key) or ())

    return FilterSpec(_name(doc), rules("exportV4"), rules("importV4"), rules("exportV6"), rules("importV6"))


def affinity_state(value: str) -> str | None:
    """State of an affinity value; None if it is marked deleted (legacy empty value = confirmed)."""
    if not value.strip():
        return "confirmed"
    try:
        doc = json.loads(value)
    except ValueError:
        return "confirmed"
    if not isinstance(doc, Mapping):
        return "confirmed"
    if doc.get("deleted"):
        return None
    return str(doc.get("state") or "confirmed")


__all__ = ["InputError", "affinity_state", "bgp_config_spec", "filter_spec", "node_info", "parse_asn",
           "parse_duration", "parse_peer_ip", "peer_spec", "pool_info"]

"""Kubernetes ``networking.k8s.io/v1`` NetworkPolicy -> Calico NetworkPolicy (``knp.default.<name>``).

Follows libcalico-go's K8sNetworkPolicyToCalico, which ``calicoctl convert`` uses: order 1000,
the pod selector AND-ed with ``projectcalico.org/orchestrator == 'k8s'``, one rule per protocol
and peer, ports merged into ranges, ``ipBlock`` to nets/notNets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from calico.api.errors import ConversionError
from calico.api.values import Port, parse_cidr

K8S_API_VERSION = "networking.k8s.io/v1"
NAME_PREFIX = "knp.default."


def k8s_selector(sel: Mapping[str, Any] | None, pod: bool) -> str:
    """k8sSelectorToCalico: matchLabels (sorted) then matchExpressions."""
    parts = ["projectcalico.org/orchestrator == 'k8s'"] if pod else []
    if sel is None:
        return " && ".join(parts)
    labels = sel.get("matchLabels") or {}
    exprs = sel.get("matchExpressions") or []
    if not pod and not labels and not exprs:
        return "all()"
    for k in sorted(labels):
        parts.append(f"{k} == '{labels[k]}'")
    for e in exprs:
        key, op, values = e.get("key", ""), e.get("operator", ""), "', '".join(e.get("values") or [])
        if op == "In":
            parts.append(f"{key} in {{ '{values}' }}")
        elif op == "NotIn":
            parts.append(f"{key} not in {{ '{values}' }}")
        elif op == "Exists":
            parts.append(f"has({key})")
        elif op == "DoesNotExist":
            parts.append(f"! has({key})")
    return " && ".join(parts)


def simplify_ports(ports: list[Port]) -> list[Port]:
    """SimplifyPorts: numeric ports merged into the fewest ranges; named ports first, as given."""
    if len(ports) <= 1:
        return ports
    numeric = sorted(n for p in ports if not p.name for n in range(p.min_port, p.max_port + 1))
    if len(numeric) <= 1:
        return ports
    out = [p for p in ports if p.name]
    while numeric:
        first = last = numeric.pop(0)
        while numeric and numeric[0] <= last + 1:
            last = numeric.pop(0)
        out.append(Port(first, last))
    return out


def _port(p: Mapping[str, Any]) -> tuple[str | None, list[Port] | None]:
    proto = str(p.get("protocol") or "TCP")
    if p.get("port") is None:
        return proto, None
    text = str(p["port"])
    if p.get("endPort") is not None:
        text = f"{text}:{p['endPort']}"
    try:
        return proto, [Port.parse(text)]
    except ValueError as exc:
        raise ConversionError(f"k8s rule couldn't be converted: failed to parse k8s port: invalid port "
                              f"{text}: {exc}") from None


def _peer(peer: Mapping[str, Any] | None) -> dict[str, Any]:
    if peer is None:
        return {}
    block = peer.get("ipBlock")
    if block:
        try:
            nets = [str(parse_cidr(block["cidr"])[1])]
            not_nets = [str(parse_cidr(c)[1]) for c in block.get("except") or []]
        except (KeyError, ValueError):
            return {}
        out: dict[str, Any] = {"nets": nets}
        if not_nets:
            out["notNets"] = not_nets
        return out
    out = {"selector": k8s_selector(peer.get("podSelector"), pod=True)}
    ns = k8s_selector(peer.get("namespaceSelector"), pod=False)
    if ns:
        out["namespaceSelector"] = ns
    return out


def _rules(peers: list[Any] | None, ports: list[Any] | None, ingress: bool) -> list[dict[str, Any]]:
    by_proto: dict[str, list[Port] | None] = {}
    for p in ports or [None]:
        if p is None:
            by_proto = {"": None}
            break
        proto, plist = _port(p)
        key = proto or ""
        if plist is None:
            by_proto[key] = None
        elif key not in by_proto or by_proto[key]:
            by_proto[key] = [*(by_proto.get(key) or []), *plist]
    rules = []
    for proto in sorted(by_proto):
        plist = by_proto[proto]
        ports_json = [p.to_json() for p in simplify_ports(plist)] if plist else None
        for peer in peers or [None]:
            ent = _peer(peer)
            rule: dict[str, Any] = {"action": "Allow"}
            if proto:
                rule["protocol"] = proto
            if ingress:
                rule["source"] = ent
                rule["destination"] = {"ports": ports_json} if ports_json else {}
            else:
                rule["destination"] = {**({"ports": ports_json} if ports_json else {}), **ent}
            rules.append(rule)
    return rules


def k8s_network_policy_to_calico(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One Kubernetes NetworkPolicy document -> the Calico NetworkPolicy calicoctl convert prints."""
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    ingress = [r for rule in spec.get("ingress") or [] for r in _rules(rule.get("from"), rule.get("ports"), True)]
    egress = [r for rule in spec.get("egress") or [] for r in _rules(rule.get("to"), rule.get("ports"), False)]
    kinds = spec.get("policyTypes") or []
    types = [t for t in ("Ingress", "Egress") if t in kinds] or ["Ingress"]
    out: dict[str, Any] = {"order": 1000, "selector": k8s_selector(spec.get("podSelector") or {}, pod=True)}
    if ingress:
        out["ingress"] = ingress
    if egress:
        out["egress"] = egress
    out["types"] = types
    return {"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
            "metadata": {"name": NAME_PREFIX + str(meta.get("name", "")),
                         "namespace": str(meta.get("namespace") or "default")},
            "spec": out}

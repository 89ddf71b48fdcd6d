"""Calico v3 rules -> ParsedRule, with selectors, named ports and net lists turned into IP sets
(Felix's RuleScanner).  Each parsed rule comes with the definitions of the sets it uses."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from calico.felix.calc.parse import InvalidResource, parse_cidr
from calico.felix.messages import (
    IPSET_HASH_IP_PORT,
    IPSET_HASH_NET,
    ParsedRule,
    PortRange,
    named_port_set_id,
    net_set_id,
)
from calico.selector import Selector, SelectorError, entity_rule_selector, parse_selector

_PROTOCOLS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "icmpv6": "icmpv6", "sctp": "sctp", "udplite": "udplite"}
_NAMED_PORT = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
_ACTIONS = {"Allow": "allow", "Deny": "deny", "Log": "log", "Pass": "pass"}


@dataclass(frozen=True, slots=True)
class IPSetDef:
    """How to compute an IP set's members: by selector (optionally a named port) or from nets."""

    type: str
    selector: Selector | None = None
    protocol: str = ""
    port_name: str = ""
    nets: tuple[str, ...] = ()


def _protocol(value: Any, what: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        raise InvalidResource(f"{what}: invalid protocol")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        n = int(value)
        if not 1 <= n <= 255:
            raise InvalidResource(f"{what}: protocol number invalid")
        return str(n)
    name = _PROTOCOLS.get(str(value).lower())
    if name is None:
        raise InvalidResource(f"{what}: protocol name invalid")
    return name


def _ports(values: Sequence[Any], what: str) -> tuple[list[PortRange], list[str]]:
    numeric: list[PortRange] = []
    named: list[str] = []
    for v in values:
        if isinstance(v, bool):
            raise InvalidResource(f"{what}: invalid port")
        if isinstance(v, int):
            first = last = v
        elif isinstance(v, str) and re.fullmatch(r"\d+", v):
            first = last = int(v)
        elif isinstance(v, str) and re.fullmatch(r"\d+:\d+", v):
            a, b = v.split(":")
            first, last = int(a), int(b)
        elif isinstance(v, str) and _NAMED_PORT.match(v):
            named.append(v)
            continue
        else:
            raise InvalidResource(f"{what}: invalid port {v!r}")
        if not (0 <= first <= last <= 65535):
            raise InvalidResource(f"{what}: invalid port range {v!r}")
        numeric.append(PortRange(first, last))
    return numeric, named


def _nets(values: Any, what: str) -> tuple[str, ...]:
    if values is None:
        return ()
    if not isinstance(values, list):
        raise InvalidResource(f"{what}: expected a list")
    return tuple(parse_cidr(v, what) for v in values)


def _icmp(value: Any, what: str) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    if not isinstance(value, dict):
        raise InvalidResource(f"{what}: expected an object")
    t, c = value.get("type"), value.get("code")
    if t is not None and not isinstance(t, int):
        raise InvalidResource(f"{what}.type: expected a number")
    if c is not None and (not isinstance(c, int) or t is None):
        raise InvalidResource(f"{what}.code: requires a type")
    return t, c


class RuleParser:
    """Parses the rules of one policy/profile, collecting the IP sets they need."""

    def __init__(self, policy_namespace: str = "") -> None:
        self.namespace = policy_namespace
        self.ipsets: dict[str, IPSetDef] = {}

    def parse(self, rules: Sequence[dict[str, Any]], direction: str) -> tuple[ParsedRule, ...]:
        return tuple(self._rule(r, f"spec.{direction}[{i}]") for i, r in enumerate(rules))

    def _selector_set(self, sel: Selector) -> str:
        set_id = sel.unique_id()
        self.ipsets.setdefault(set_id, IPSetDef(IPSET_HASH_NET, selector=sel))
        return set_id

    def _net_set(self, nets: tuple[str, ...]) -> None:
        if len(nets) > 1:
            self.ipsets.setdefault(net_set_id(nets), IPSetDef(IPSET_HASH_NET, nets=tuple(sorted(set(nets)))))

    def _entity(self, e: Any, what: str, protocol: str) -> dict[str, Any]:
        if e is None:
            e = {}
        if not isinstance(e, dict):
            raise InvalidResource(f"{what}: expected an object")
        sa = e.get("serviceAccounts") or {}
        if not isinstance(sa, dict):
            raise InvalidResource(f"{what}.serviceAccounts: expected an object")
        try:
            pos = entity_rule_selector(
                selector=str(e.get("selector") or ""), namespace_selector=str(e.get("namespaceSelector") or ""),
                not_selector=str(e.get("notSelector") or ""),
                service_account_names=[str(n) for n in sa.get("names") or ()],
                service_account_selector=str(sa.get("selector") or ""), policy_namespace=self.namespace)
            neg = parse_selector(str(e["notSelector"])) if e.get("notSelector") else None
        except SelectorError as exc:
            raise InvalidResource(f"{what}: {exc}") from exc
        ports, named = _ports(e.get("ports") or [], f"{what}.ports")
        not_ports, not_named = _ports(e.get("notPorts") or [], f"{what}.notPorts")
        if (ports or named or not_ports or not_named) and protocol not in ("tcp", "udp", "sctp", "6", "17", "132"):
            raise InvalidResource(f"{what}: rules that specify ports must set protocol to TCP or UDP or SCTP")
        proto = {"6": "tcp", "17": "udp", "132": "sctp"}.get(protocol, protocol)
        port_sel = pos if pos is not None else parse_selector("")
        nets = _nets(e.get("nets"), f"{what}.nets")
        not_nets = _nets(e.get("notNets"), f"{what}.notNets")
        self._net_set(nets)
        self._net_set(not_nets)

        def named_sets(names: list[str]) -> tuple[str, ...]:
            ids = []
            for n in names:
                set_id = named_port_set_id(port_sel.canonical(), proto, n)
                self.ipsets.setdefault(set_id, IPSetDef(IPSET_HASH_IP_PORT, selector=port_sel, protocol=proto,
                                                        port_name=n))
                ids.append(set_id)
            return tuple(ids)

        sets = [self._selector_set(pos)] if pos is not None else []
        if e.get("services"):
            # Kubernetes Service matches need the service index, which this Felix lacks: match
            # nothing rather than everything (an Allow must not widen into allow-all).
            sets.append(self._selector_set(parse_selector("!all()")))
        return {
            "net": nets, "not_net": not_nets, "ports": tuple(ports), "not_ports": tuple(not_ports),
            "named": named_sets(named), "not_named": named_sets(not_named),
            "sets": tuple(sets),
            "not_sets": (self._selector_set(neg),) if neg is not None else (),
        }

    def _rule(self, r: dict[str, Any], what: str) -> ParsedRule:
        action = _ACTIONS.get(str(r.get("action")))
        if action is None:
            raise InvalidResource(f"{what}.action: must be Allow, Deny, Log or Pass")
        protocol = _protocol(r.get("protocol"), f"{what}.protocol")
        ip_version = r.get("ipVersion") or 0
        if ip_version not in (0, 4, 6):
            raise InvalidResource(f"{what}.ipVersion: must be 4 or 6")
        if protocol in ("icmp", "1"):
            ip_version = 4
        elif protocol in ("icmpv6", "58"):
            ip_version = 6
        icmp_type, icmp_code = _icmp(r.get("icmp"), f"{what}.icmp")
        not_icmp_type, not_icmp_code = _icmp(r.get("notICMP"), f"{what}.notICMP")
        src = self._entity(r.get("source"), f"{what}.source", protocol)
        dst = self._entity(r.get("destination"), f"{what}.destination", protocol)
        return ParsedRule(
            action=action, ip_version=ip_version, protocol=protocol,
            not_protocol=_protocol(r.get("notProtocol"), f"{what}.notProtocol"),
            src_net=src["net"], src_ports=src["ports"], src_named_port_ip_set_ids=src["named"],
            src_ip_set_ids=src["sets"],
            dst_net=dst["net"], dst_ports=dst["ports"], dst_named_port_ip_set_ids=dst["named"],
            dst_ip_set_ids=dst["sets"],
            icmp_type=icmp_type, icmp_code=icmp_code,
            not_src_net=src["not_net"], not_src_ports=src["not_ports"],
            not_src_named_port_ip_set_ids=src["not_named"], not_src_ip_set_ids=src["not_sets"],
            not_dst_net=dst["not_net"], not_dst_ports=dst["not_ports"],
            not_dst_named_port_ip_set_ids=dst["not_named"], not_dst_ip_set_ids=dst["not_sets"],
            not_icmp_type=not_icmp_type, not_icmp_code=not_icmp_code,
        )


DENY_ALL = (ParsedRule(action="deny"),)
ALLOW_ALL = (ParsedRule(action="allow"),)

"""Print a :class:`BirdConfig` as BIRD 2 configuration text.

Every choice is made here in Python (which statements a peer gets, how a BGPFilter rule reads in
BIRD's filter language); the jinja2 template only lays out the lists it is given, so it holds
no decisions. StrictUndefined makes a missing value an error instead of an empty string.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from functools import lru_cache

import jinja2

from calico.bgp.model import BirdConfig, FamilyPlan, FilterRule, FilterSpec, Peering

MAX_SYMBOL = 64


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("calico.bgp", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )


def _q(text: str) -> str:
    """A BIRD string literal (BIRD has no escapes: quotes and newlines cannot be represented)."""
    if '"' in text or "\n" in text:
        raise ValueError(f"cannot put {text!r} in a BIRD string: it contains a quote or newline")
    return '"' + text + '"'


def filter_function_name(filter_name: str, direction: str, version: int) -> str:
    """``bgp_<name>_<dir>FilterV<n>``, hashed to fit BIRD's 64-character symbol limit."""
    safe = "".join(c if c.isalnum() else "_" for c in filter_name)
    suffix = f"_{direction}FilterV{version}"
    name = f"bgp_{safe}{suffix}"
    if len(name) <= MAX_SYMBOL:
        return name
    digest = hashlib.sha256(filter_name.encode()).hexdigest()[:10]
    keep = MAX_SYMBOL - len("bgp_") - len(suffix) - len(digest) - 1
    return f"bgp_{safe[:keep]}_{digest}{suffix}"


def _prefix_pattern(rule: FilterRule) -> str:
    net = ipaddress.ip_network(rule.cidr or "", strict=False)
    if rule.prefix_min is None and rule.prefix_max is None:
        return str(net)
    lo = rule.prefix_min if rule.prefix_min is not None else net.prefixlen
    hi = rule.prefix_max if rule.prefix_max is not None else net.max_prefixlen
    return f"[ {net}{{{lo},{hi}}} ]"


def filter_rule_statement(rule: FilterRule) -> str:
    """One BGPFilter rule as a BIRD statement (first match ends the filter)."""
    conds: list[str] = []
    if rule.cidr:
        op = rule.match_operator or "In"
        if op == "Equal":
            conds.append(f"net = {ipaddress.ip_network(rule.cidr, strict=False)}")
        elif op == "NotEqual":
            conds.append(f"net != {ipaddress.ip_network(rule.cidr, strict=False)}")
        elif op == "NotIn":
            conds.append(f"net !~ {_prefix_pattern(rule)}")
        else:
            conds.append(f"net ~ {_prefix_pattern(rule)}")
    if rule.source == "RemotePeers":
        conds.append("source = RTS_BGP")
    if rule.interface:
        conds.append(f"defined(ifname) && ifname ~ {_q(rule.interface)}")
    action = "accept" if rule.action.lower() == "accept" else "reject"
    if not conds:
        return f"{action};"
    cond = " && ".join(f"({c})" for c in conds)
    return f"if ({cond}) then {{ {action}; }}"


@dataclass(frozen=True, slots=True)
class _Function:
    name: str
    statements: list[str]


def _filter_functions(spec: FilterSpec, version: int) -> list[_Function]:
    rules = {
        ("import", 4): spec.import_v4, ("export", 4): spec.export_v4,
        ("import", 6): spec.import_v6, ("export", 6): spec.export_v6,
    }
    return [
        _Function(filter_function_name(spec.name, d, version),
                  [filter_rule_statement(r) for r in rules[(d, version)]])
        for d in ("import", "export")
    ]


def _peer_statements(peer: Peering, config: BirdConfig) -> list[str]:
    """Protocol-level options of one peer, in a stable order."""
    local = "local"
    if peer.source_address:
        local += f" {peer.source_address}"
    if config.listen_port:
        local += f" port {config.listen_port}"
    local += f" as {peer.local_asn}"
    neighbor = f"neighbor {peer.ip}"
    if peer.port is not None:
        neighbor += f" port {peer.port}"
    out = [f"{local};", f"{neighbor} as {peer.asn};"]
    if config.listen_address:
        out.append("strict bind yes;")
    if peer.ttl_security is not None:
        out += ["ttl security on;", f"multihop {peer.ttl_security};"]
    if peer.passive:
        out.append("passive on;")
    if peer.rr_client:
        out += ["rr client;", f"rr cluster id {peer.rr_cluster_id};"]
    if peer.password:
        out.append(f"password {_q(peer.password)};")
    if peer.allow_local_as is not None:
        out.append(f"allow local as {peer.allow_local_as};")
    if peer.restart_time is not None:
        out.append(f"graceful restart time {peer.restart_time};")
    if peer.keepalive_time:  # BGPPeer.keepaliveTime: hold defaults to three keepalives
        keepalive: int | None = peer.keepalive_time
        hold: int | None = peer.keepalive_time * 3
    else:
        keepalive, hold = config.tuning.keepalive_time, config.tuning.hold_time
    if hold:
        out.append(f"hold time {hold};")
    if keepalive:
        out.append(f"keepalive time {keepalive};")
    return out


def _channel_statements(peer: Peering) -> list[str]:
    v = peer.version
    imports = [f"{filter_function_name(f, 'import', v)}();" for f in peer.filters]
    exports = [f"{filter_function_name(f, 'export', v)}();" for f in peer.filters]
    internal = "true" if peer.internal else "false"
    out = ["gateway recursive;", "add paths on;"]
    if peer.next_hop:
        out.append(f"next hop {peer.next_hop};")
    out.append("import filter { " + " ".join([*imports, "accept;"]) + " };")
    out.append("export filter { " + " ".join([*exports, f"calico_export_to_bgp_peers_v{v}({internal});",
                                               "reject;"]) + " };")
    return out


@dataclass(frozen=True, slots=True)
class _PeerView:
    name: str
    comment: str
    statements: list[str]
    channel: str
    channel_statements: list[str]


def _community_statements(plan: FamilyPlan) -> list[str]:
    out = []
    for rule in plan.communities:
        adds = [f"bgp_community.add(({a},{b}));" for a, b in rule.standard]
        adds += [f"bgp_large_community.add(({a},{b},{c}));" for a, b, c in rule.large]
        if adds:
            out.append(f"if (net ~ {rule.cidr}) then {{ {' '.join(adds)} }}")
    return out


def _export_statements(plan: FamilyPlan) -> list[str]:
    """Calico's export-to-peers function body (bgp.md 2.6), order matters."""
    out = [f"if (net ~ {c}) then reject;" for c in plan.no_export_pools]
    out.append('if (internal_peer && defined(ifname) && (ifname ~ "*.cali" || ifname ~ "*.calico" '
               '|| ifname = "tunl0")) then reject;')
    out.append('if (defined(ifname) && ifname ~ "bpf*.cali") then reject;')
    out.append(f"calico_add_communities_v{plan.version}();")
    out.append(f"calico_aggr_v{plan.version}();")
    out += [f"if (net = {c}) then accept;" for c in plan.static_cidrs]
    out += [f"if (net ~ {c}) then accept;" for c in plan.export_pools]
    return out


def _aggr_statements(plan: FamilyPlan) -> list[str]:
    out = []
    for block in plan.aggregate_blocks:
        out += [f"if (net = {block}) then accept;", f"if (net ~ {block}) then reject;"]
    return out


def _kernel_statements(plan: FamilyPlan) -> list[str]:
    out = ["if (source = RTS_DEVICE) then reject;"]
    out += [f"if (net ~ {c}) then reject;" for c in plan.reject_cidrs]
    out += [f"if (net ~ {c}) then reject;" for c in plan.kernel_reject_pools]
    out.append("accept;")
    return out


def _static_routes(plan: FamilyPlan) -> list[str]:
    routes = [f"route {c} blackhole;" for c in (*plan.blackholes, *plan.static_cidrs)]
    max_len = 32 if plan.version == 4 else 128
    routes += [f"route {p.ip}/{max_len} via {p.reachable_by};" for p in plan.peers if p.reachable_by]
    return routes


def _family_view(plan: FamilyPlan, config: BirdConfig) -> dict[str, object]:
    functions: list[_Function] = []
    for spec in plan.filters:
        functions += _filter_functions(spec, plan.version)
    peers = [
        _PeerView(
            name=p.name,
            comment=f"{p.kind.value} peer {p.ip} AS {p.asn}",
            statements=_peer_statements(p, config),
            channel=f"ipv{p.version}",
            channel_statements=_channel_statements(p),
        )
        for p in plan.peers
    ]
    return {
        "v": plan.version,
        "channel": f"ipv{plan.version}",
        "static_routes": _static_routes(plan),
        "aggr": _aggr_statements(plan),
        "communities": _community_statements(plan),
        "export": _export_statements(plan),
        "kernel": _kernel_statements(plan),
        "functions": functions,
        "peers": peers,
    }


def _global_statements(config: BirdConfig) -> list[str]:
    t = config.tuning
    out = [f"local as {config.asn};", "multihop;", "graceful restart;",
           f"connect delay time {t.connect_delay_time};", f"connect retry time {t.connect_retry_time};",
           f"error wait time {t.error_wait_min},{t.error_wait_max};"]
    return out


def render(config: BirdConfig) -> str:
    """The complete BIRD 2 configuration for one node (IPv4 and IPv6 in one daemon)."""
    interfaces = [f"-{_q(i)}," for i in config.ignored_interfaces]
    interfaces += ['-"cali*",', '-"kube-ipvs*",', '"*"']
    debug = {"all": "debug all;", "none": "debug off;", "states": "debug { states };"}[config.debug]
    header = []
    if config.tuning.graceful_restart_wait is not None:
        header.append(f"graceful restart wait {config.tuning.graceful_restart_wait};")
    return _env().get_template("bird.cfg.j2").render(
        node_name=config.node_name,
        router_id=config.router_id,
        header_statements=header,
        debug=debug,
        scan_time=config.tuning.kernel_scan_time,
        interfaces=" ".join(interfaces),
        template_statements=_global_statements(config),
        families=[_family_view(config.v4, config), _family_view(config.v6, config)],
    )


__all__ = ["filter_function_name", "filter_rule_statement", "render"]

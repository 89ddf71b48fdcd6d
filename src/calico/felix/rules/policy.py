"""Rendering of parsed Calico rules into iptables rules for policy and profile chains.

Text follows Go Felix's renderer (``--jump``/``--goto``, ``--jump MARK --set-mark``, match order
protocol, nets, sets, ports) so rule hashes equal those of a host programmed by Go Felix.

Allow/Pass set a mark bit and RETURN (the endpoint chain decides the final verdict); Deny drops;
Log logs and continues.  OR-alternatives (several port splits, ports plus named ports) become one
rule per alternative with the same action, which is equivalent for a first-match chain.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Sequence

from calico.felix.messages import ParsedRule, PortRange, net_set_id
from calico.felix.rules.config import RenderConfig
from calico.felix.rules.model import Chain, Rule
from calico.felix.rules.names import ipset_name, sanitize_comment

MULTIPORT_SLOTS = 15
PORT_PROTOCOLS = frozenset({"tcp", "udp", "sctp", "udplite"})
_PROTO_ALIASES = {
    "6": "tcp", "17": "udp", "132": "sctp", "136": "udplite", "1": "icmp", "58": "icmpv6",
    "ipv6-icmp": "icmpv6", "icmp6": "icmpv6",
}
_CATCH_ALL = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}


def normalize_protocol(protocol: str) -> str:
    """Lower-case protocol name with well-known numbers mapped to names (``6`` -> ``tcp``)."""
    p = protocol.strip().lower()
    return _PROTO_ALIASES.get(p, p)


def _iptables_proto(proto: str) -> str:
    return "ipv6-icmp" if proto == "icmpv6" else proto


def _proto_family(proto: str) -> int:
    """4 or 6 for a family-specific protocol, else 0."""
    return {"icmp": 4, "icmpv6": 6}.get(proto, 0)


def deny_word(action: str) -> str:
    """How Go Felix names the deny action in comments: ``Drop`` / ``Reject``."""
    return action.capitalize()


def mark_set(bits: int) -> str:
    return f"--jump MARK --set-mark {bits:#x}/{bits:#x}"


def mark_clear(bits: int) -> str:
    return f"--jump MARK --set-mark 0/{bits:#x}"


def match_mark_set(bits: int) -> str:
    return f"-m mark --mark {bits:#x}/{bits:#x}"


def match_mark_clear(bits: int) -> str:
    return f"-m mark --mark 0/{bits:#x}"


def match_mark_not_clear(bits: int) -> str:
    """True when any of ``bits`` is set (Go Felix's ``MarkNotClear``)."""
    return f"-m mark ! --mark 0/{bits:#x}"


def split_ports(ports: Sequence[PortRange]) -> list[str]:
    """Split ports into multiport lists of at most 15 slots (a range takes two)."""
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for pr in ports:
        cost = 1 if pr.first == pr.last else 2
        if used + cost > MULTIPORT_SLOTS:
            chunks.append(",".join(current))
            current, used = [], 0
        current.append(pr.render())
        used += cost
    if current:
        chunks.append(",".join(current))
    return chunks


def _nets_for(nets: Sequence[str], ip_version: int) -> list[str]:
    out = []
    for n in nets:
        net = ipaddress.ip_network(n, strict=False)
        if net.version == ip_version:
            out.append(str(net))
    return out


def _net_match(flag: str, nets: Sequence[str], family_nets: list[str], ip_version: int, negate: bool,
               direction: str) -> str:
    bang = "! " if negate else ""
    if len(family_nets) == 1:
        return f"{bang}{flag} {family_nets[0]}"
    return f"-m set {bang}--match-set {ipset_name(net_set_id(nets), ip_version)} {direction}"


class _Skip(Exception):
    """The rule cannot match in this IP family: render nothing."""


_PROTO_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "sctp": 132, "udplite": 136}


def _proto_number(proto: str) -> str:
    """Protocol as a number string when Calico knows its name (for comparing ``6`` with ``tcp``)."""
    return str(_PROTO_NUMBERS.get(proto, proto))


def _protocol_matches(rule: ParsedRule, ip_version: int) -> list[str]:
    """``-p``/``! -p``.  iptables allows one ``-p`` per rule, so a protocol plus a notProtocol is
    folded: the same protocol never matches (rule skipped), a different one is implied by ``-p``."""
    parts: list[str] = []
    proto = normalize_protocol(rule.protocol) if rule.protocol else ""
    if proto:
        fam = _proto_family(proto)
        if fam and fam != ip_version:
            raise _Skip
        parts.append(f"-p {_iptables_proto(proto)}")
    if rule.not_protocol:
        not_proto = normalize_protocol(rule.not_protocol)
        if proto:
            if _proto_number(proto) == _proto_number(not_proto):
                raise _Skip  # protocol X and not protocol X: matches nothing
            return parts  # -p X already excludes every other protocol
        fam = _proto_family(not_proto)
        if not fam or fam == ip_version:  # negating the other family's ICMP is always true
            parts.append(f"! -p {_iptables_proto(not_proto)}")
    return parts


def _net_matches(rule: ParsedRule, ip_version: int, cfg: RenderConfig) -> tuple[list[str], list[Rule]]:
    """CIDR matches of the final rule, plus the match-block rules that must run before it.

    iptables allows one ``--source`` and one ``--destination`` per rule (negated or not).  A list
    of two or more CIDRs is an IP set (created by the calc graph), so only a single positive CIDR
    and a single negated CIDR on the same side collide; then, as Go Felix does, the negated CIDR
    becomes a match block: Scratch0 starts set, ``--source B`` clears it, and the final rule
    requires it (felix.md §2.7)."""
    every = (*rule.src_net, *rule.dst_net, *rule.not_src_net, *rule.not_dst_net)
    if every and not _nets_for(every, ip_version):
        raise _Skip  # a rule whose CIDRs are all of the other family is that family's rule
    parts: list[str] = []
    negated: list[str] = []
    block: list[Rule] = []
    for flag, direction, pos, neg in (("--source", "src", rule.src_net, rule.not_src_net),
                                      ("--destination", "dst", rule.dst_net, rule.not_dst_net)):
        pos_fam = _nets_for(pos, ip_version) if pos else []
        if pos and not pos_fam:
            raise _Skip  # positive match on nets of the other family only: never matches here
        if pos_fam:
            parts.append(_net_match(flag, pos, pos_fam, ip_version, False, direction))
        neg_fam = _nets_for(neg, ip_version) if neg else []
        if not neg_fam:
            continue
        if any(ipaddress.ip_network(n) == _CATCH_ALL[ip_version] for n in neg_fam):
            raise _Skip
        if len(neg_fam) == 1 and len(pos_fam) == 1:
            block.append(Rule(f"{flag} {neg_fam[0]}", mark_clear(cfg.mark_scratch0)))
        else:
            negated.append(_net_match(flag, neg, neg_fam, ip_version, True, direction))
    if block:
        init = Rule("", f"--jump MARK --set-mark {cfg.mark_scratch0:#x}/{cfg.mark_scratch0 | cfg.mark_scratch1:#x}")
        block.insert(0, init)
    return parts + negated, block


def _set_matches(rule: ParsedRule, ip_version: int) -> list[str]:
    parts: list[str] = []
    for ids, direction, bang in ((rule.src_ip_set_ids, "src", ""), (rule.dst_ip_set_ids, "dst", ""),
                                 (rule.not_src_ip_set_ids, "src", "! "), (rule.not_dst_ip_set_ids, "dst", "! ")):
        parts.extend(f"-m set {bang}--match-set {ipset_name(i, ip_version)} {direction}" for i in ids)
    for ids, direction in ((rule.not_src_named_port_ip_set_ids, "src,src"),
                           (rule.not_dst_named_port_ip_set_ids, "dst,dst")):
        parts.extend(f"-m set ! --match-set {ipset_name(i, ip_version)} {direction}" for i in ids)
    return parts


def _port_alternatives(ports: Sequence[PortRange], named: Sequence[str], flag: str, direction: str,
                       ip_version: int) -> list[str]:
    """OR-alternatives for one side: each multiport split and each named-port set."""
    alts = [f"-m multiport --{flag}-ports {chunk}" for chunk in split_ports(ports)]
    alts += [f"-m set --match-set {ipset_name(i, ip_version)} {direction},{direction}" for i in named]
    return alts


def _icmp_matches(rule: ParsedRule, ip_version: int) -> list[str]:
    parts: list[str] = []
    mod, opt = ("icmp", "--icmp-type") if ip_version == 4 else ("icmp6", "--icmpv6-type")
    for typ, code, bang in ((rule.icmp_type, rule.icmp_code, ""), (rule.not_icmp_type, rule.not_icmp_code, "! ")):
        if typ is None:
            continue
        value = f"{typ}/{code}" if code is not None else str(typ)
        parts.append(f"-m {mod} {bang}{opt} {value}")
    return parts


def rule_blocks(rule: ParsedRule, ip_version: int, cfg: RenderConfig | None = None) -> tuple[list[Rule], list[str]]:
    """(match-block rules to run first, final match strings: one per OR-alternative).  Both empty
    when the rule cannot match in this family."""
    cfg = cfg or RenderConfig()
    if rule.ip_version and rule.ip_version != ip_version:
        return [], []
    try:
        proto = _protocol_matches(rule, ip_version)
        nets, block = _net_matches(rule, ip_version, cfg)
        sets = _set_matches(rule, ip_version)
    except _Skip:
        return [], []
    has_ports = bool(rule.src_ports or rule.dst_ports or rule.not_src_ports or rule.not_dst_ports)
    if has_ports and normalize_protocol(rule.protocol) not in PORT_PROTOCOLS:
        return [], []  # validation forbids ports without TCP/UDP/SCTP; never render an invalid rule
    src_alts = _port_alternatives(rule.src_ports, rule.src_named_port_ip_set_ids, "source", "src", ip_version)
    dst_alts = _port_alternatives(rule.dst_ports, rule.dst_named_port_ip_set_ids, "destination", "dst", ip_version)
    negated = [f"-m multiport ! --source-ports {c}" for c in split_ports(rule.not_src_ports)]
    negated += [f"-m multiport ! --destination-ports {c}" for c in split_ports(rule.not_dst_ports)]
    icmp = _icmp_matches(rule, ip_version)
    block_done = [match_mark_set(cfg.mark_scratch0)] if block else []
    out = []
    for src, dst in itertools.product(src_alts or [""], dst_alts or [""]):
        parts = [*proto, *nets, *sets, src, dst, *negated, *icmp, *block_done]
        out.append(" ".join(p for p in parts if p))
    return block, out


def rule_matches(rule: ParsedRule, ip_version: int) -> list[str]:
    """The match strings for a rule, one per OR-alternative; empty if it cannot match in this family.
    (Rules that need a match block also need ``rule_blocks``' leading rules.)"""
    return rule_blocks(rule, ip_version)[1]


def rule_to_iptables(rule: ParsedRule, ip_version: int, cfg: RenderConfig, *, deny_action: str) -> list[Rule]:
    """Render one Calico rule (all its OR-alternatives) with its action."""
    block, matches = rule_blocks(rule, ip_version, cfg)
    if not matches:
        return []
    action = rule.action.lower()
    if action in ("allow", "pass", "next-tier"):
        bit = cfg.mark_accept if action == "allow" else cfg.mark_pass
        return [*block, *(Rule(m, mark_set(bit)) for m in matches), Rule(match_mark_set(bit), "--jump RETURN")]
    if action == "deny":
        return [*block, *(Rule(m, f"--jump {deny_action}") for m in matches)]
    if action == "log":
        prefix = (rule.log_prefix or cfg.log_prefix)[:27].replace('"', "")
        limit = (f"-m limit --limit {cfg.log_rate_limit} --limit-burst {cfg.log_rate_limit_burst}"
                 if cfg.log_rate_limit else "")
        target = f'--jump LOG --log-prefix "{prefix}: " --log-level 5'
        return [*block, *(Rule(f"{m} {limit}".strip(), target) for m in matches)]
    raise ValueError(f"unknown rule action {rule.action!r}")


def strip_trailing_returns(rules: list[Rule]) -> list[Rule]:
    """Drop RETURN rules at the end of a chain: falling off the end returns anyway."""
    while rules and rules[-1].action == "--jump RETURN":
        rules.pop()
    return rules


def with_first_comment(rules: list[Rule], comment: str) -> list[Rule]:
    if rules:
        first = rules[0]
        text = sanitize_comment(f"{comment}; {first.comment}" if first.comment else comment)
        rules[0] = Rule(first.match, first.action, text)
    return rules


def rules_chain(name: str, rules: Sequence[ParsedRule], ip_version: int, cfg: RenderConfig, *, comment: str,
                deny_action: str) -> Chain:
    """A policy or profile chain: each rule rendered in order, trailing RETURNs stripped."""
    out: list[Rule] = []
    for r in rules:
        out.extend(rule_to_iptables(r, ip_version, cfg, deny_action=deny_action))
    return Chain(name, tuple(with_first_comment(strip_trailing_returns(out), comment)))

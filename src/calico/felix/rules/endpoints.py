"""Per-endpoint chains (felix.md §2.5): conntrack first, then tiers of policies, then profiles.

Endpoint chains only jump to the shared policy-group (``cali-gi-``/``cali-go-``, groups.py),
``cali-pi-``/``cali-po-`` and ``cali-pri-``/``cali-pro-`` chains: a tier costs an endpoint a
constant number of rules, so the rule count grows with endpoints + policies, never their product.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from calico.felix.messages import PolicyID, TierInfo
from calico.felix.rules.config import RenderConfig
from calico.felix.rules.groups import group_chain
from calico.felix.rules.model import Chain, Rule
from calico.felix.rules.names import chain_name, sanitize_comment
from calico.felix.rules.policy import deny_word, mark_clear, mark_set, match_mark_clear, match_mark_set

POLICY_IN = "cali-pi-"
POLICY_OUT = "cali-po-"
PROFILE_IN = "cali-pri-"
PROFILE_OUT = "cali-pro-"


def policy_chain_name(prefix: str, policy: PolicyID) -> str:
    return chain_name(prefix, policy.chain_suffix())


def profile_chain_name(prefix: str, profile: str) -> str:
    return chain_name(prefix, profile)


@dataclass(frozen=True, slots=True)
class ChainKind:
    """How an endpoint chain is rendered: which optional blocks it has."""

    conntrack: bool = True
    failsafe: str = ""  # chain to jump to first (cali-failsafe-in/out) or ""
    end_of_tier_drop: bool = True
    profiles: bool = True
    final_drop: bool = True
    untracked: bool = False  # Accept -> NOTRACK after each policy
    allow_if_no_tiers: bool = False  # forward chains: accept when no policy applies


WORKLOAD = ChainKind()
HOST = ChainKind()
FORWARD = ChainKind(profiles=False, final_drop=False, allow_if_no_tiers=True)
PRE_DNAT = ChainKind(conntrack=False, end_of_tier_drop=False, profiles=False, final_drop=False)
UNTRACKED = ChainKind(conntrack=False, end_of_tier_drop=False, profiles=False, final_drop=False, untracked=True)


def _c(text: str) -> str:
    return sanitize_comment(text)


def conntrack_rules(cfg: RenderConfig, deny: str) -> list[Rule]:
    rules: list[Rule] = []
    if cfg.filter_allow_action != "ACCEPT":
        rules.append(Rule("-m conntrack --ctstate RELATED,ESTABLISHED", mark_set(cfg.mark_accept)))
    rules.append(Rule("-m conntrack --ctstate RELATED,ESTABLISHED", f"--jump {cfg.filter_allow_action}"))
    if not cfg.disable_conntrack_invalid_check:
        rules.append(Rule("-m conntrack --ctstate INVALID", f"--jump {deny}"))
    return rules


def anti_spoof_rules(cfg: RenderConfig, allowed: Sequence[str], deny: str) -> list[Rule]:
    """Drop packets from a workload whose source is not one of its own addresses (or an allowed
    spoofed prefix).  One allowed prefix: ``! -s``; several: scratch-mark block."""
    nets = [str(ipaddress.ip_network(a, strict=False)) for a in allowed]
    if any(ipaddress.ip_network(n).prefixlen == 0 for n in nets):
        return []
    comment = _c("Drop packets from unknown source address")
    if not nets:
        return [Rule("", f"--jump {deny}", comment)]
    if len(nets) == 1:
        return [Rule(f"! --source {nets[0]}", f"--jump {deny}", comment)]
    s0 = cfg.mark_scratch0
    rules = [Rule("", mark_set(s0))]
    rules += [Rule(f"--source {n}", mark_clear(s0)) for n in nets]
    rules.append(Rule(match_mark_set(s0), f"--jump {deny}", comment))
    return rules


def tier_rules(cfg: RenderConfig, tiers: Sequence[TierInfo], ingress: bool, kind: ChainKind,
               deny: str, groups: dict[str, Chain] | None = None) -> tuple[list[Rule], bool]:
    """Rules for the tiers of one direction; also whether any tier had a policy.

    With ``groups`` (a dict to fill), a tier whose policy list has at least
    ``cfg.policy_group_min_size`` policies jumps once to a shared group chain, which is added
    to ``groups``; without it every policy jump is inline."""
    rules: list[Rule] = []
    prefix = POLICY_IN if ingress else POLICY_OUT
    any_policy = False
    for tier in tiers:
        policies = tier.ingress_policies if ingress else tier.egress_policies
        if not policies:
            continue
        any_policy = True
        rules.append(Rule("", mark_clear(cfg.mark_pass), _c(f"Start of tier {tier.name}")))
        targets = [policy_chain_name(prefix, pol) for pol in policies]
        if groups is not None and 0 < cfg.policy_group_min_size <= len(policies):
            group = group_chain(cfg, tier.name, ingress, policies)
            groups[group.name] = group
            targets = [group.name]
        for target in targets:
            rules.append(Rule(match_mark_clear(cfg.mark_pass), f"--jump {target}"))
            if kind.untracked:
                rules.append(Rule(match_mark_set(cfg.mark_accept), "--jump NOTRACK"))
            rules.append(Rule(match_mark_set(cfg.mark_accept), "--jump RETURN", _c("Return if policy accepted")))
        if kind.end_of_tier_drop and tier.default_action.lower() != "pass":
            rules.append(Rule(match_mark_clear(cfg.mark_pass), f"--jump {deny}",
                              _c(f"End of tier {tier.name}. {deny_word(deny)} if no policies passed packet")))
    return rules, any_policy


def endpoint_rules(cfg: RenderConfig, *, ip_version: int, admin_up: bool, tiers: Sequence[TierInfo], ingress: bool,
                   profile_ids: Sequence[str], kind: ChainKind, deny: str,
                   anti_spoof: Sequence[str] | None = None, drop_encap: bool = False,
                   groups: dict[str, Chain] | None = None) -> list[Rule]:
    """The body of one endpoint chain.  ``ingress`` selects inbound policies (to-endpoint chains
    for workloads, from-endpoint chains for hosts).  Policy-group chains the body jumps to are
    added to ``groups`` when given (see ``tier_rules``)."""
    if not admin_up:
        return [Rule("", f"--jump {deny}", _c("Endpoint admin disabled"))]
    rules: list[Rule] = []
    if anti_spoof is not None:
        rules += anti_spoof_rules(cfg, anti_spoof, deny)
    if kind.conntrack:
        rules += conntrack_rules(cfg, deny)
    if kind.failsafe:
        rules.append(Rule("", f"--jump {kind.failsafe}"))
    rules.append(Rule("", mark_clear(cfg.mark_accept | cfg.mark_pass)))
    if drop_encap:
        if not cfg.allow_vxlan_packets_from_workloads:
            rules.append(Rule(f"-p 17 -m multiport --destination-ports {cfg.vxlan_port}", f"--jump {deny}",
                              _c(f"{deny_word(deny)} VXLAN encapped packets originating in workloads")))
        if not cfg.allow_ipip_packets_from_workloads and ip_version == 4:
            rules.append(Rule("-p 4", f"--jump {deny}",
                              _c(f"{deny_word(deny)} IPinIP encapped packets originating in workloads")))
    body, any_policy = tier_rules(cfg, tiers, ingress, kind, deny, groups)
    rules += body
    if kind.allow_if_no_tiers and not any_policy:
        rules.append(Rule("", mark_set(cfg.mark_accept), _c("Allow forwarded traffic by default")))
        rules.append(Rule("", "--jump RETURN", _c("Return for accepted forward traffic")))
    if kind.profiles:
        prefix = PROFILE_IN if ingress else PROFILE_OUT
        for profile in profile_ids:
            rules.append(Rule("", f"--jump {profile_chain_name(prefix, profile)}"))
            rules.append(Rule(match_mark_set(cfg.mark_accept), "--jump RETURN", _c("Return if profile accepted")))
    if kind.final_drop:
        rules.append(Rule("", f"--jump {deny}", _c(f"{deny_word(deny)} if no profiles matched")))
    return rules

"""Ordering of the policies that apply to an endpoint into tiers (felix.md §4.3)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Protocol

from calico.felix.calc.parse import BUILTIN_TIERS, Policy, Tier
from calico.felix.messages import PolicyID, TierInfo


class _Entry(Protocol):
    @property
    def policy(self) -> Policy: ...

    @property
    def id(self) -> PolicyID: ...


def _wanted(policy: Policy, kind: str) -> bool:
    if kind == "untracked":
        return policy.untracked
    if kind == "pre_dnat":
        return policy.pre_dnat
    if policy.untracked or policy.pre_dnat:
        return False
    return policy.apply_on_forward if kind == "forward" else True


def tier_sort_key(name: str, tiers: Mapping[str, Tier]) -> tuple[float, str]:
    tier = tiers.get(name) or BUILTIN_TIERS.get(name)
    order = tier.order if tier is not None else None
    return (math.inf if order is None else order, name)


def policy_sort_key(policy: Policy) -> tuple[float, str, str]:
    return (math.inf if policy.order is None else policy.order, policy.name, policy.namespace)


def build_tiers(entries: Iterable[_Entry], tiers: Mapping[str, Tier], *, kind: str) -> tuple[TierInfo, ...]:
    """TierInfos for one endpoint: ``kind`` is ``normal`` (tracked policy), ``forward``
    (applyOnForward), ``untracked`` (doNotTrack) or ``pre_dnat``; pre-DNAT tiers carry only
    ingress policies.  Tiers without a policy in either direction are left out."""
    by_tier: dict[str, list[_Entry]] = {}
    for e in entries:
        if _wanted(e.policy, kind):
            by_tier.setdefault(e.policy.tier, []).append(e)
    out = []
    for name in sorted(by_tier, key=lambda n: tier_sort_key(n, tiers)):
        members = sorted(by_tier[name], key=lambda e: policy_sort_key(e.policy))
        ingress = tuple(e.id for e in members if e.policy.ingress is not None)
        egress = () if kind == "pre_dnat" else tuple(e.id for e in members if e.policy.egress is not None)
        if not ingress and not egress:
            continue
        tier = tiers.get(name) or BUILTIN_TIERS.get(name)
        out.append(TierInfo(name, ingress, egress, tier.default_action if tier is not None else "Deny"))
    return tuple(out)

"""Policy-group chains ``cali-gi-<uid>`` / ``cali-go-<uid>`` (felix.md §2.6).

The ordered list of policies one tier applies to an endpoint in one direction is rendered once
as a group chain; every endpoint with exactly that list jumps to it once, so the endpoint chains
cost O(tiers) rules instead of O(policies) and the total grows with endpoints + policies.
Go Felix groups runs of policies with the same selector; the calc graph here hands the renderer
only the per-tier policy list, so the whole list is the group (endpoints sharing label sets share
it).  Lists shorter than ``RenderConfig.policy_group_min_size`` (default 2) stay inline: a group of
one costs an extra chain and saves nothing.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from calico.felix.messages import PolicyID
from calico.felix.rules.config import RenderConfig
from calico.felix.rules.model import Chain, Rule
from calico.felix.rules.names import MAX_CHAIN_NAME, chain_name
from calico.felix.rules.policy import match_mark_clear, match_mark_not_clear

GROUP_IN = "cali-gi-"
GROUP_OUT = "cali-go-"
POLICY_IN = "cali-pi-"
POLICY_OUT = "cali-po-"
UID_LENGTH = MAX_CHAIN_NAME - len(GROUP_IN)  # 20
RETURN_STRIDE = 5  # a "Return on verdict" rule every 5 jumps, as Go Felix does


def group_uid(tier: str, ingress: bool, policies: Sequence[PolicyID]) -> str:
    """Stable id of (tier, direction, ordered policies): base64url(SHA3-224)[:20], hashed the way
    Go Felix's ``PolicyGroup.UniqueID`` hashes its fields (newline-terminated; no selector here)."""
    h = hashlib.sha3_224()
    for field in (tier, "", "inbound" if ingress else "outbound", str(len(policies)),
                  *(p.chain_suffix() for p in policies)):
        h.update(field.encode() + b"\n")
    return base64.urlsafe_b64encode(h.digest()).decode().rstrip("=")[:UID_LENGTH]


def group_chain_name(tier: str, ingress: bool, policies: Sequence[PolicyID]) -> str:
    return (GROUP_IN if ingress else GROUP_OUT) + group_uid(tier, ingress, policies)


def group_chain(cfg: RenderConfig, tier: str, ingress: bool, policies: Sequence[PolicyID]) -> Chain:
    """Jumps to each policy chain in order, skipping the rest once one set Accept or Pass.

    The first jump of each block of five is unguarded (nothing can be set yet: the endpoint
    chain only enters with both bits clear, and the block starts after a verdict check)."""
    prefix = POLICY_IN if ingress else POLICY_OUT
    verdict = cfg.mark_accept | cfg.mark_pass
    rules: list[Rule] = []
    for i, pol in enumerate(policies):
        if i and i % RETURN_STRIDE == 0:
            rules.append(Rule(match_mark_not_clear(verdict), "--jump RETURN", "Return on verdict"))
        match = "" if i % RETURN_STRIDE == 0 else match_mark_clear(verdict)
        rules.append(Rule(match, f"--jump {chain_name(prefix, pol.chain_suffix())}"))
    return Chain(group_chain_name(tier, ingress, policies), tuple(rules))

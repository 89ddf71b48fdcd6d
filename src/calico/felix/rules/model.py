"""The iptables model shared by the pure rule renderer and the Table driver.

A Rule is the text of its matches plus an action, never a dict. The driver adds the
``cali:<hash>`` comment when it writes the chain, so hashes depend only on chain name and rules.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """One iptables rule: ``match`` is iptables match text (may be empty), ``action`` e.g.
    ``-j ACCEPT`` / ``-g cali-po-xyz`` / ``-j MARK --set-xmark 0x10000/0x10000``; ``comment``
    is an optional human comment rendered after the hash comment."""

    match: str
    action: str
    comment: str = ""

    def render(self) -> str:
        parts = [p for p in (self.match, f'-m comment --comment "{self.comment}"' if self.comment else "",
                             self.action) if p]
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Chain:
    name: str  # <= 28 chars
    rules: tuple[Rule, ...]

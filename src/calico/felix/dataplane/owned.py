"""OwnedChains: remembers which chains a manager wrote under a key, so a re-render removes the
chains that disappeared (a dispatch child, a per-endpoint chain of a renamed interface).

Chains may be shared between keys (policy-group chains used by many endpoints): a chain is
removed from the kernel only when no key references it any more.
"""

from __future__ import annotations

import builtins
from collections.abc import Hashable, Iterable

from calico.felix.dataplane.context import DataplaneContext
from calico.felix.rules.model import Chain


class OwnedChains:
    def __init__(self, ctx: DataplaneContext) -> None:
        self.ctx = ctx
        self._names: dict[tuple[Hashable, str, int], builtins.set[str]] = {}
        self._refs: dict[tuple[str, int, str], int] = {}  # (table, ip version, chain) -> owners

    def set(self, key: Hashable, table: str, ip_version: int, chains: Iterable[Chain]) -> None:
        chains = list(chains)
        new = {c.name for c in chains}
        old = self._names.get((key, table, ip_version), builtins.set())
        t = self.ctx.table(table, ip_version)
        t.update_chains(chains)
        for name in new - old:
            self._refs[(table, ip_version, name)] = self._refs.get((table, ip_version, name), 0) + 1
        t.remove_chains(self._release(table, ip_version, old - new))
        if new:
            self._names[(key, table, ip_version)] = new
        else:
            self._names.pop((key, table, ip_version), None)

    def clear(self, key: Hashable) -> None:
        for k in [k for k in self._names if k[0] == key]:
            self.ctx.table(k[1], k[2]).remove_chains(self._release(k[1], k[2], self._names.pop(k)))

    def _release(self, table: str, ip_version: int, names: builtins.set[str]) -> builtins.set[str]:
        """Drop one reference to each chain; return the chains nobody references any more."""
        gone: builtins.set[str] = builtins.set()
        for name in names:
            ref = (table, ip_version, name)
            count = self._refs.get(ref, 0) - 1
            if count <= 0:
                self._refs.pop(ref, None)
                gone.add(name)
            else:
                self._refs[ref] = count
        return gone

    def names(self) -> builtins.set[str]:
        out: builtins.set[str] = builtins.set()
        for v in self._names.values():
            out |= v
        return out

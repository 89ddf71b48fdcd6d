"""OwnedChains: remembers which chains a manager wrote under a key, so a re-render removes the
chains that disappeared (a dispatch child, a per-endpoint chain of a renamed interface)."""

from __future__ import annotations

from collections.abc import Hashable, Iterable

from calico.felix.dataplane.context import DataplaneContext
from calico.felix.rules.model import Chain


class OwnedChains:
    def __init__(self, ctx: DataplaneContext) -> None:
        self.ctx = ctx
        self._names: dict[tuple[Hashable, str, int], set[str]] = {}

    def set(self, key: Hashable, table: str, ip_version: int, chains: Iterable[Chain]) -> None:
        chains = list(chains)
        new = {c.name for c in chains}
        old = self._names.get((key, table, ip_version), set())
        t = self.ctx.table(table, ip_version)
        t.update_chains(chains)
        t.remove_chains(old - new)
        if new:
            self._names[(key, table, ip_version)] = new
        else:
            self._names.pop((key, table, ip_version), None)

    def clear(self, key: Hashable) -> None:
        for k in [k for k in self._names if k[0] == key]:
            self.ctx.table(k[1], k[2]).remove_chains(self._names.pop(k))

    def names(self) -> set[str]:
        out: set[str] = set()
        for v in self._names.values():
            out |= v
        return out

"""Desired-vs-sent bookkeeping that turns the calc graph's current state into coalesced messages.

Each category keeps what the dataplane was last told and which keys changed since; a flush
compares only the changed keys, so there is at most one message per key per flush and the
result depends only on the state, never on the order of the updates that led to it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from calico.felix.messages import IPSetDeltaUpdate, IPSetRemove, IPSetUpdate

K = TypeVar("K")
V = TypeVar("V")


def _sort_key(key: Any) -> Any:
    return key


class Category(Generic[K, V]):
    """A keyed part of the output (policies, endpoints, routes...)."""

    def __init__(self) -> None:
        self.desired: dict[K, V] = {}
        self.sent: dict[K, V] = {}
        self.dirty: set[K] = set()

    def set(self, key: K, value: V | None) -> None:
        if value is None:
            if self.desired.pop(key, None) is not None or key in self.sent:
                self.dirty.add(key)
        else:
            self.desired[key] = value
            self.dirty.add(key)

    def replace_all(self, values: dict[K, V]) -> None:
        """Make ``values`` the whole desired content (for categories recomputed wholesale)."""
        for key in set(self.desired) - set(values):
            self.set(key, None)
        for key, value in values.items():
            if self.desired.get(key) != value:
                self.set(key, value)

    def diff(self) -> tuple[list[tuple[K, V]], list[K]]:
        """(updates, removes) since the last diff, sorted by key; marks them sent."""
        updates: list[tuple[K, V]] = []
        removes: list[K] = []
        for key in sorted(self.dirty, key=_sort_key):
            cur = self.desired.get(key)
            old = self.sent.get(key)
            if cur is None:
                if old is not None:
                    removes.append(key)
                    del self.sent[key]
            elif cur != old:
                updates.append((key, cur))
                self.sent[key] = cur
        self.dirty.clear()
        return updates, removes


class IPSetOutput:
    """Refcounted members of every active IP set, flushed as full updates, deltas or removes."""

    def __init__(self) -> None:
        self.types: dict[str, str] = {}
        self.members: dict[str, Counter[str]] = {}
        self.sent: dict[str, tuple[str, frozenset[str]]] = {}
        self.dirty: set[str] = set()

    def create(self, set_id: str, set_type: str) -> None:
        self.types[set_id] = set_type
        self.members[set_id] = Counter()
        self.dirty.add(set_id)

    def delete(self, set_id: str) -> None:
        self.types.pop(set_id, None)
        self.members.pop(set_id, None)
        self.dirty.add(set_id)

    def add(self, set_id: str, member: str) -> None:
        c = self.members[set_id]
        c[member] += 1
        if c[member] == 1:
            self.dirty.add(set_id)

    def remove(self, set_id: str, member: str) -> None:
        c = self.members[set_id]
        c[member] -= 1
        if c[member] <= 0:
            del c[member]
            self.dirty.add(set_id)

    def replace(self, set_id: str, set_type: str, members: set[str]) -> None:
        """Set a set's exact contents (fixed sets computed wholesale)."""
        if self.types.get(set_id) == set_type and set(self.members[set_id]) == members:
            return
        self.types[set_id] = set_type
        self.members[set_id] = Counter(dict.fromkeys(members, 1))
        self.dirty.add(set_id)

    def diff(self) -> tuple[list[IPSetUpdate], list[IPSetDeltaUpdate], list[IPSetRemove]]:
        updates: list[IPSetUpdate] = []
        deltas: list[IPSetDeltaUpdate] = []
        removes: list[IPSetRemove] = []
        for set_id in sorted(self.dirty):
            old = self.sent.get(set_id)
            if set_id not in self.types:
                if old is not None:
                    removes.append(IPSetRemove(set_id))
                    del self.sent[set_id]
                continue
            cur = (self.types[set_id], frozenset(self.members[set_id]))
            if old is None or old[0] != cur[0]:
                updates.append(IPSetUpdate(set_id, cur[0], cur[1]))
            elif old[1] != cur[1]:
                deltas.append(IPSetDeltaUpdate(set_id, cur[1] - old[1], old[1] - cur[1]))
            else:
                continue
            self.sent[set_id] = cur
        self.dirty.clear()
        return updates, deltas, removes


def diff_messages(cat: Category[K, V], update: Callable[[K, V], Any], remove: Callable[[K], Any]
                  ) -> tuple[list[Any], list[Any]]:
    ups, rms = cat.diff()
    return [update(k, v) for k, v in ups], [remove(k) for k in rms]

"""DeltaTracker: desired state vs what the kernel holds, and the pending difference.

Every driver keeps one. Callers change the *desired* side at will (cheap, no I/O); the driver
records what it read back or wrote on the *dataplane* side; the pending updates/deletions are
always exactly the difference, so an apply touches only what differs. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def _eq(a: object, b: object) -> bool:
    return a == b


class DeltaTracker(Generic[K, V]):
    """Tracks desired and dataplane maps; pending = keys whose values differ.

    ``pending_updates``: key -> desired value, for keys missing from the dataplane or holding a
    different value there. ``pending_deletions``: keys present in the dataplane but not desired.
    """

    __slots__ = ("_dataplane", "_desired", "_equal", "_pending_deletions", "_pending_updates")

    def __init__(self, equal: Callable[[V, V], bool] | None = None) -> None:
        self._desired: dict[K, V] = {}
        self._dataplane: dict[K, V] = {}
        self._pending_updates: dict[K, V] = {}
        self._pending_deletions: set[K] = set()
        self._equal: Callable[[V, V], bool] = equal or _eq

    # --- desired side -------------------------------------------------------------------
    def set_desired(self, key: K, value: V) -> None:
        self._desired[key] = value
        self._pending_deletions.discard(key)
        if key in self._dataplane and self._equal(self._dataplane[key], value):
            self._pending_updates.pop(key, None)
        else:
            self._pending_updates[key] = value

    def delete_desired(self, key: K) -> None:
        if self._desired.pop(key, _MISSING) is _MISSING:
            return
        self._pending_updates.pop(key, None)
        if key in self._dataplane:
            self._pending_deletions.add(key)

    def replace_all_desired(self, desired: Mapping[K, V]) -> None:
        for key in list(self._desired):
            if key not in desired:
                self.delete_desired(key)
        for key, value in desired.items():
            self.set_desired(key, value)

    def get_desired(self, key: K) -> V | None:
        return self._desired.get(key)

    def desired_items(self) -> Iterator[tuple[K, V]]:
        return iter(list(self._desired.items()))

    def is_desired(self, key: K) -> bool:
        return key in self._desired

    # --- dataplane side -----------------------------------------------------------------
    def set_dataplane(self, key: K, value: V) -> None:
        """Record that the kernel now holds ``value`` for ``key`` (after a write or read)."""
        self._dataplane[key] = value
        self._recalc(key)

    def delete_dataplane(self, key: K) -> None:
        self._dataplane.pop(key, None)
        self._recalc(key)

    def replace_all_dataplane(self, actual: Mapping[K, V]) -> None:
        """After a full read-back: the kernel holds exactly ``actual``."""
        self._dataplane = dict(actual)
        self._pending_updates.clear()
        self._pending_deletions.clear()
        for key, value in self._desired.items():
            if key not in self._dataplane or not self._equal(self._dataplane[key], value):
                self._pending_updates[key] = value
        for key in self._dataplane:
            if key not in self._desired:
                self._pending_deletions.add(key)

    def get_dataplane(self, key: K) -> V | None:
        return self._dataplane.get(key)

    def dataplane_items(self) -> Iterator[tuple[K, V]]:
        return iter(list(self._dataplane.items()))

    # --- pending ------------------------------------------------------------------------
    def pending_updates(self) -> list[tuple[K, V]]:
        return list(self._pending_updates.items())

    def pending_deletions(self) -> list[K]:
        return list(self._pending_deletions)

    def mark_dirty(self, keys: Iterable[K]) -> None:
        """Force a rewrite of desired keys (e.g. their interface just came up)."""
        for key in keys:
            if key in self._desired:
                self._pending_updates[key] = self._desired[key]

    @property
    def in_sync(self) -> bool:
        return not self._pending_updates and not self._pending_deletions

    def __len__(self) -> int:
        return len(self._desired)

    def _recalc(self, key: K) -> None:
        in_dp = key in self._dataplane
        if key in self._desired:
            self._pending_deletions.discard(key)
            if in_dp and self._equal(self._dataplane[key], self._desired[key]):
                self._pending_updates.pop(key, None)
            else:
                self._pending_updates[key] = self._desired[key]
        else:
            self._pending_updates.pop(key, None)
            if in_dp:
                self._pending_deletions.add(key)
            else:
                self._pending_deletions.discard(key)


_MISSING = object()

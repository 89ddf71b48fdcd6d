"""Selector <-> labelled item index that keeps the set of matches current as either side changes.

Both directions are narrowed by an index: selectors whose top-level conjunct requires a label
(``k == v``, ``k in {...}``, ``has(k)``) are filed under that label, and items under each of
their ``(key, value)`` pairs, so adding an item or a selector evaluates only plausible
candidates instead of every pair (felix.md §4.2: avoid O(endpoints x selectors) at start of day).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Generic, TypeVar

from calico.selector import And, Eq, Has, In, Selector

ItemID = TypeVar("ItemID", bound=Hashable)
SelID = TypeVar("SelID", bound=Hashable)

# A restriction is a tuple of alternatives (label, value-or-None); an item that matches the
# selector has at least one of them (value None = key present with any value).
Restriction = tuple[tuple[str, str | None], ...]


def restriction_of(selector: Selector) -> Restriction | None:
    """A necessary condition on labels for ``selector`` to match, or None if there is none."""
    return _restriction(selector.root)


def _restriction(node: object) -> Restriction | None:
    if isinstance(node, Eq):
        return ((node.label, node.value),)
    if isinstance(node, In):
        return tuple((node.label, v) for v in node.values) or None
    if isinstance(node, Has):
        return ((node.label, None),)
    if isinstance(node, And):
        best: Restriction | None = None
        for op in node.operands:
            r = _restriction(op)
            # prefer exact-value restrictions with few alternatives over has()
            if r is not None and (best is None or _score(r) < _score(best)):
                best = r
        return best
    return None


def _score(r: Restriction) -> tuple[int, int]:
    return (1 if any(v is None for _, v in r) else 0, len(r))


def _add(index: dict[object, set[object]], key: object, member: object) -> None:
    index.setdefault(key, set()).add(member)


def _discard(index: dict[object, set[object]], key: object, member: object) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(member)
        if not members:
            del index[key]


class LabelIndex(Generic[ItemID, SelID]):
    """Keeps ``matches`` between items (id -> labels) and selectors (id -> Selector)."""

    def __init__(self) -> None:
        self._labels: dict[ItemID, Mapping[str, str]] = {}
        self._selectors: dict[SelID, Selector] = {}
        self._restrictions: dict[SelID, Restriction | None] = {}
        self._items_by_kv: dict[object, set[object]] = {}
        self._items_by_k: dict[object, set[object]] = {}
        self._sels_by_kv: dict[object, set[object]] = {}
        self._sels_by_k: dict[object, set[object]] = {}
        self._unrestricted: set[SelID] = set()
        self._item_matches: dict[ItemID, set[SelID]] = {}
        self._sel_matches: dict[SelID, set[ItemID]] = {}

    # -- queries ---------------------------------------------------------------------------

    def item_matches(self, item_id: ItemID) -> frozenset[SelID]:
        return frozenset(self._item_matches.get(item_id, ()))

    def selector_matches(self, sel_id: SelID) -> frozenset[ItemID]:
        return frozenset(self._sel_matches.get(sel_id, ()))

    def labels_of(self, item_id: ItemID) -> Mapping[str, str] | None:
        return self._labels.get(item_id)

    def has_selector(self, sel_id: SelID) -> bool:
        return sel_id in self._selectors

    # -- items -----------------------------------------------------------------------------

    def update_item(self, item_id: ItemID, labels: Mapping[str, str]) -> tuple[set[SelID], set[SelID]]:
        """Add or relabel an item; returns (selectors newly matching, selectors no longer matching)."""
        old = self._labels.get(item_id)
        if old is not None:
            if old == labels:
                return set(), set()
            self._unindex_item(item_id, old)
        self._labels[item_id] = labels
        for k, v in labels.items():
            _add(self._items_by_kv, (k, v), item_id)
            _add(self._items_by_k, k, item_id)
        before = self._item_matches.get(item_id, set())
        after: set[SelID] = set()
        for sel_id in self._candidate_selectors(labels):
            if self._selectors[sel_id].evaluate(labels):
                after.add(sel_id)
        self._set_item_matches(item_id, before, after)
        return after - before, before - after

    def remove_item(self, item_id: ItemID) -> set[SelID]:
        """Forget an item; returns the selectors it matched."""
        old = self._labels.pop(item_id, None)
        if old is None:
            return set()
        self._unindex_item(item_id, old)
        before = self._item_matches.pop(item_id, set())
        for sel_id in before:
            self._sel_matches[sel_id].discard(item_id)
        return before

    def _unindex_item(self, item_id: ItemID, labels: Mapping[str, str]) -> None:
        for k, v in labels.items():
            _discard(self._items_by_kv, (k, v), item_id)
            _discard(self._items_by_k, k, item_id)

    def _candidate_selectors(self, labels: Mapping[str, str]) -> set[SelID]:
        cands: set[SelID] = set(self._unrestricted)
        for k, v in labels.items():
            cands.update(self._sels_by_kv.get((k, v), ()))  # type: ignore[arg-type]
            cands.update(self._sels_by_k.get(k, ()))  # type: ignore[arg-type]
        return cands

    def _set_item_matches(self, item_id: ItemID, before: set[SelID], after: set[SelID]) -> None:
        for sel_id in before - after:
            self._sel_matches[sel_id].discard(item_id)
        for sel_id in after - before:
            self._sel_matches.setdefault(sel_id, set()).add(item_id)
        if after:
            self._item_matches[item_id] = after
        else:
            self._item_matches.pop(item_id, None)

    # -- selectors -------------------------------------------------------------------------

    def update_selector(self, sel_id: SelID, selector: Selector) -> tuple[set[ItemID], set[ItemID]]:
        """Add or replace a selector; returns (items newly matching, items no longer matching)."""
        old = self._selectors.get(sel_id)
        if old is not None and old == selector:
            return set(), set()
        before = set(self._sel_matches.get(sel_id, set()))
        if old is not None:
            self._unindex_selector(sel_id)
        self._selectors[sel_id] = selector
        restriction = restriction_of(selector)
        self._restrictions[sel_id] = restriction
        if restriction is None:
            self._unrestricted.add(sel_id)
        else:
            for k, v in restriction:
                if v is None:
                    _add(self._sels_by_k, k, sel_id)
                else:
                    _add(self._sels_by_kv, (k, v), sel_id)
        after = {i for i in self._candidate_items(restriction) if selector.evaluate(self._labels[i])}
        for item_id in before - after:
            self._item_matches[item_id].discard(sel_id)
            if not self._item_matches[item_id]:
                del self._item_matches[item_id]
        for item_id in after - before:
            self._item_matches.setdefault(item_id, set()).add(sel_id)
        if after:
            self._sel_matches[sel_id] = after
        else:
            self._sel_matches.pop(sel_id, None)
        return after - before, before - after

    def remove_selector(self, sel_id: SelID) -> set[ItemID]:
        """Forget a selector; returns the items it matched."""
        if sel_id not in self._selectors:
            return set()
        self._unindex_selector(sel_id)
        del self._selectors[sel_id]
        del self._restrictions[sel_id]
        before = self._sel_matches.pop(sel_id, set())
        for item_id in before:
            self._item_matches[item_id].discard(sel_id)
            if not self._item_matches[item_id]:
                del self._item_matches[item_id]
        return before

    def _unindex_selector(self, sel_id: SelID) -> None:
        restriction = self._restrictions.get(sel_id)
        if restriction is None:
            self._unrestricted.discard(sel_id)
            return
        for k, v in restriction:
            if v is None:
                _discard(self._sels_by_k, k, sel_id)
            else:
                _discard(self._sels_by_kv, (k, v), sel_id)

    def _candidate_items(self, restriction: Restriction | None) -> Iterable[ItemID]:
        if restriction is None:
            return list(self._labels)
        cands: set[ItemID] = set()
        for k, v in restriction:
            if v is None:
                cands.update(self._items_by_k.get(k, ()))  # type: ignore[arg-type]
            else:
                cands.update(self._items_by_kv.get((k, v), ()))  # type: ignore[arg-type]
        return cands

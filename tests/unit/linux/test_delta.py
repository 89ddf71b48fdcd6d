"""DeltaTracker: pending updates/deletions are exactly the desired/dataplane difference."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from calico.linux.delta import DeltaTracker


def test_new_key_is_pending_until_written() -> None:
    t: DeltaTracker[str, int] = DeltaTracker()
    t.set_desired("a", 1)
    assert t.pending_updates() == [("a", 1)]
    t.set_dataplane("a", 1)
    assert t.in_sync


def test_read_back_finds_stale_and_changed() -> None:
    t: DeltaTracker[str, int] = DeltaTracker()
    t.set_desired("a", 1)
    t.set_desired("b", 2)
    t.replace_all_dataplane({"a": 1, "b": 3, "c": 4})
    assert t.pending_updates() == [("b", 2)]
    assert t.pending_deletions() == ["c"]
    t.delete_dataplane("c")
    t.set_dataplane("b", 2)
    assert t.in_sync


def test_delete_desired_of_written_key_is_pending_deletion() -> None:
    t: DeltaTracker[str, int] = DeltaTracker()
    t.set_desired("a", 1)
    t.set_dataplane("a", 1)
    t.delete_desired("a")
    assert t.pending_deletions() == ["a"]
    t.set_desired("a", 1)
    assert t.in_sync


@given(st.dictionaries(st.text(max_size=2), st.integers(0, 3)),
       st.dictionaries(st.text(max_size=2), st.integers(0, 3)))
def test_pending_is_exact_difference(desired: dict[str, int], actual: dict[str, int]) -> None:
    t: DeltaTracker[str, int] = DeltaTracker()
    t.replace_all_dataplane(actual)
    t.replace_all_desired(desired)
    assert dict(t.pending_updates()) == {k: v for k, v in desired.items() if actual.get(k) != v}
    assert set(t.pending_deletions()) == set(actual) - set(desired)
    for k, v in t.pending_updates():
        t.set_dataplane(k, v)
    for k in t.pending_deletions():
        t.delete_dataplane(k)
    assert t.in_sync

"""Pure parts of the syncer and the etcd adapter: resync diffs, event application, key ranges."""

from __future__ import annotations

from typing import Any, cast

from calico.datastore.base import Datastore, EventType, WatchEvent
from calico.datastore.etcd import prefix_range_end
from calico.datastore.syncer import Syncer, Update, _distinct_prefixes


def syncer() -> Syncer:
    return Syncer(cast(Datastore, cast(Any, None)), ["/calico/resources/v3/"])


def test_prefix_range_end() -> None:
    assert prefix_range_end(b"/calico/") == b"/calico0"
    assert prefix_range_end(b"a\xff") == b"b"
    assert prefix_range_end(b"\xff\xff") == b"\0"


def test_distinct_prefixes_drop_nested_and_duplicates() -> None:
    assert _distinct_prefixes(["/calico/ipam/v2/", "/calico/", "/calico/ipam/v2/", "/other/"]) == [
        "/calico/", "/other/"]


def test_resync_diff_sends_only_changes_and_deletions() -> None:
    s = syncer()
    first = s._diff({"/a": ("1", 5), "/b": ("2", 6), "/c": ("3", 7)}, 7)
    assert first == [Update("/a", "1", 5), Update("/b", "2", 6), Update("/c", "3", 7)]
    again = s._diff({"/a": ("1", 5), "/b": ("20", 9), "/d": ("4", 10)}, 11)
    assert again == [Update("/b", "20", 9), Update("/d", "4", 10), Update("/c", None, 11)]
    assert s.known == {"/a": 5, "/b": 9, "/d": 10}
    assert s.revision == 11


def test_apply_events_tracks_known_keys() -> None:
    s = syncer()
    s._diff({"/a": ("1", 5)}, 5)
    out = s._apply([
        WatchEvent(EventType.PUT, "/b", "2", 6),
        WatchEvent(EventType.DELETE, "/a", None, 7),
        WatchEvent(EventType.DELETE, "/never-sent", None, 8),
    ])
    assert out == [Update("/b", "2", 6), Update("/a", None, 7)]
    assert s.known == {"/b": 6}
    assert s.revision == 8

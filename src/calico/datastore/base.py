"""The datastore's errors and records; the ``Datastore`` protocol itself is in ``protocol.py``.

Keys and values are text (Calico's etcd keys and compact JSON values). Revisions are etcd
revisions: a key's ``mod_revision`` is the ``resourceVersion`` users see.
"""

from __future__ import annotations

from calico.common.record import record

TYPE_CHECKING = False

if TYPE_CHECKING:
    from calico.datastore.protocol import Datastore


class DatastoreError(Exception):
    """Base of every datastore failure."""


class AlreadyExists(DatastoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class NotFound(DatastoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key does not exist: {key}")
        self.key = key


class Conflict(DatastoreError):
    """A compare-and-swap lost: the key's revision is not the one expected."""

    def __init__(self, key: str, expected: int, actual: int) -> None:
        super().__init__(f"update conflict on {key}: expected revision {expected}, found {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


class Unavailable(DatastoreError):
    """The datastore could not be reached (after trying every endpoint)."""


class Compacted(DatastoreError):
    """A watch asked for history etcd has compacted: the caller must resync (list, then watch)."""

    def __init__(self, requested: int, compact_revision: int) -> None:
        super().__init__(f"revision {requested} compacted (compact revision {compact_revision}); resync needed")
        self.requested = requested
        self.compact_revision = compact_revision


@record
class KeyValue:
    key: str
    value: str
    mod_revision: int
    create_revision: int


class EventType:
    """Kinds of watch event; compared by identity (``ev.type is EventType.PUT``).

    Plain string constants rather than an ``enum.Enum``: this module is imported by every
    short-lived process (CNI plugin, calicoctl), and ``enum`` costs more to import than the rest
    of the module."""

    PUT = "put"
    DELETE = "delete"


@record
class WatchEvent:
    type: str  # EventType.PUT or EventType.DELETE
    key: str
    value: str | None  # None for DELETE
    mod_revision: int


def __getattr__(name: str) -> object:
    # ``Datastore`` (a typing.Protocol) lives in its own module so that short-lived processes
    # importing the errors and records here do not import ``typing``.
    if name == "Datastore":
        from calico.datastore.protocol import Datastore

        return Datastore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["AlreadyExists", "Compacted", "Conflict", "Datastore", "DatastoreError", "EventType", "KeyValue",
           "NotFound", "Unavailable", "WatchEvent"]

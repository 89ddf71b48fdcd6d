"""The Datastore protocol: the only shape of storage the rest of Calico sees.

Keys and values are text (Calico's etcd keys and compact JSON values). Revisions are etcd
revisions: a key's ``mod_revision`` is the ``resourceVersion`` users see. Import it as
``calico.datastore.base.Datastore``.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Protocol

from calico.datastore.base import KeyValue, WatchEvent

if TYPE_CHECKING:
    from calico.datastore.txn import Cmp, Delete, Get, Put, TxnResult


class Datastore(Protocol):
    """Async key/value store with revisions, compare-and-swap writes and watches."""

    async def get(self, key: str) -> KeyValue | None: ...

    async def list(self, prefix: str, revision: int | None = None) -> tuple[builtins.list[KeyValue], int]:
        """Every key under ``prefix`` (sorted) and the store revision the listing reflects.

        With ``revision``, the listing as it was at that revision (a consistent multi-prefix snapshot).
        """
        ...

    async def create(self, key: str, value: str, ttl: int | None = None) -> int:
        """Write only if the key is absent; returns the new mod_revision. Raises AlreadyExists."""
        ...

    async def update(self, key: str, value: str, revision: int) -> int:
        """Write only if the key's mod_revision equals ``revision``. Raises Conflict / NotFound."""
        ...

    async def put(self, key: str, value: str) -> int:
        """Unconditional write; returns the new mod_revision."""
        ...

    async def delete(self, key: str, revision: int | None = None) -> KeyValue:
        """Delete (only if at ``revision`` when given); returns the deleted pair. Raises NotFound/Conflict."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under prefix; returns how many were deleted."""
        ...

    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[builtins.list[WatchEvent]]:
        """Batches of events under ``prefix`` from ``start_revision`` on, in revision order.

        Raises Compacted (from the iterator) when that revision is no longer available.
        """
        ...

    async def txn(self, compares: Sequence[Cmp], success: Sequence[Put | Delete | Get],
                  failure: Sequence[Get] = ()) -> TxnResult:
        """If every compare holds run ``success`` else ``failure``, atomically, in one round trip."""
        ...

    async def revision(self) -> int:
        """The store's current revision."""
        ...

    async def compact(self, revision: int) -> None: ...

    async def close(self) -> None: ...

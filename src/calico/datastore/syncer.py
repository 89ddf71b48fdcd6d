"""List + watch of datastore prefixes, with resync: the feed Felix and the BGP agent consume.

The syncer lists every prefix at one revision, reports IN_SYNC, then watches each prefix from that
revision + 1. When a watch is compacted or lost it lists again (RESYNC) and reports only what
changed since what it already sent (including deletions of keys that vanished meanwhile), so a
consumer's picture always converges to the datastore's. It retries with back-off while the
datastore is unreachable and never stops on its own; cancel the consuming task to stop it.

Order is kept within a prefix (one watch each); updates of different prefixes may interleave in any
order. Work is done only when the consumer pulls: nothing is listed or watched before the first item is
asked for, and while the consumer is paused at most one batch per prefix is read ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from calico.datastore.base import Compacted, Datastore, DatastoreError, EventType, Unavailable, WatchEvent

log = logging.getLogger(__name__)


class SyncStatus(enum.Enum):
    WAIT_FOR_DATASTORE = "wait-for-datastore"
    RESYNC = "resync"
    IN_SYNC = "in-sync"


@dataclass(frozen=True, slots=True)
class Update:
    """A key's new value (None: deleted) at ``revision`` (its mod_revision, or the list revision)."""

    key: str
    value: str | None
    revision: int


SyncItem = SyncStatus | Update


def _distinct_prefixes(prefixes: Iterable[str]) -> list[str]:
    """Drop duplicates and prefixes nested in another (their keys would arrive twice)."""
    out: list[str] = []
    for p in sorted(set(prefixes)):
        if not any(p.startswith(q) for q in out):
            out.append(p)
    return out


class Syncer:
    """``async for item in Syncer(ds, prefixes)`` yields SyncStatus and Update items, forever.

    ``batches()`` yields the same items grouped as they arrive (one list per watch response or
    per resync), which saves a consumer a wake-up per key.
    """

    def __init__(
        self,
        ds: Datastore,
        prefixes: Iterable[str],
        *,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        self._ds = ds
        self.prefixes = _distinct_prefixes(prefixes)
        if not self.prefixes:
            raise ValueError("Syncer needs at least one prefix")
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._sent: dict[str, int] = {}  # key -> mod_revision of what the consumer has been given
        self.status: SyncStatus | None = None
        self.revision = 0  # revision the consumer's picture reflects (list revision, then events)
        self.resyncs = 0

    @property
    def known(self) -> dict[str, int]:
        """Keys the consumer currently holds, with their mod_revisions (a copy)."""
        return dict(self._sent)

    async def __aiter__(self) -> AsyncIterator[SyncItem]:
        async for batch in self.batches():
            for item in batch:
                yield item

    async def batches(self) -> AsyncIterator[list[SyncItem]]:
        yield self._transition(SyncStatus.WAIT_FOR_DATASTORE)
        backoff = self._min_backoff
        first = True
        while True:
            try:
                snapshot, rev = await self._list_all()
            except asyncio.CancelledError:
                raise
            except Compacted:
                log.info("syncer: revision compacted between listings; listing again")
                continue
            except Exception as exc:
                self._log_failure("list", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if not first:
                self.resyncs += 1
            first = False
            items = [*self._transition(SyncStatus.RESYNC), *self._diff(snapshot, rev)]
            if items:
                yield items
            yield self._transition(SyncStatus.IN_SYNC)  # never empty: the status was not IN_SYNC
            loop = asyncio.get_running_loop()
            watch_started = loop.time()
            healthy = False
            pause: float | None = None
            try:
                async for events in self._watch_all(rev + 1):
                    healthy = True
                    updates = self._apply(events)
                    if updates:
                        yield updates
            except asyncio.CancelledError:
                raise
            except Compacted as exc:
                log.info("syncer: watch history compacted (%s); resyncing from a fresh list", exc)
                backoff = self._min_backoff
            except Exception as exc:
                # A watch that worked for a while starts the back-off afresh; one that fails at once
                # again and again backs off, so a persistent error cannot spin list+watch.
                if healthy or loop.time() - watch_started > 10:
                    backoff = self._min_backoff
                pause = backoff
                backoff = min(backoff * 2, self._max_backoff)
                self._log_failure("watch", exc, pause)
            # Tell the consumer at once that its picture may be stale.
            items = self._transition(SyncStatus.RESYNC)
            if items:
                yield items
            if pause is not None:
                await asyncio.sleep(pause)

    # ------------------------------------------------------------------ internals

    def _transition(self, status: SyncStatus) -> list[SyncItem]:
        """The status item to emit, or nothing when the consumer already has that status."""
        if status == self.status:
            return []
        log.info("syncer %s: %s", ",".join(self.prefixes), status.value)
        self.status = status
        return [status]

    def _log_failure(self, what: str, exc: BaseException, retry_in: float) -> None:
        when = f"; retrying in {retry_in:.1f}s"
        if isinstance(exc, Unavailable):
            log.warning("syncer: datastore unavailable during %s: %s%s", what, exc, when)
        elif isinstance(exc, DatastoreError):
            log.error("syncer: datastore error during %s: %s%s", what, exc, when)
        else:
            log.exception("syncer: unexpected error during %s%s", what, when)

    async def _list_all(self) -> tuple[dict[str, tuple[str, int]], int]:
        """Every prefix listed at one revision (the first listing's), so the snapshot is consistent."""
        snapshot: dict[str, tuple[str, int]] = {}
        rev = 0
        for prefix in self.prefixes:
            if rev:
                kvs, _ = await self._ds.list(prefix, revision=rev)
            else:
                kvs, rev = await self._ds.list(prefix)
            for kv in kvs:
                snapshot[kv.key] = (kv.value, kv.mod_revision)
        return snapshot, rev

    def _diff(self, snapshot: dict[str, tuple[str, int]], rev: int) -> list[SyncItem]:
        out: list[SyncItem] = []
        sent = self._sent
        for key, (value, mod_rev) in snapshot.items():
            if sent.get(key) != mod_rev:
                out.append(Update(key, value, mod_rev))
        gone = [key for key in sent if key not in snapshot]
        for key in gone:
            out.append(Update(key, None, rev))
        self._sent = {key: mod_rev for key, (_, mod_rev) in snapshot.items()}
        self.revision = rev
        return out

    def _apply(self, events: list[WatchEvent]) -> list[SyncItem]:
        out: list[SyncItem] = []
        sent = self._sent
        for ev in events:
            if ev.type is EventType.PUT:
                sent[ev.key] = ev.mod_revision
                out.append(Update(ev.key, ev.value, ev.mod_revision))
            elif sent.pop(ev.key, None) is not None:
                out.append(Update(ev.key, None, ev.mod_revision))
            self.revision = ev.mod_revision
        return out

    async def _watch_all(self, start: int) -> AsyncIterator[list[WatchEvent]]:
        """One watch per prefix, merged as batches arrive (order is kept within each prefix)."""
        gens = {prefix: self._ds.watch(prefix, start) for prefix in self.prefixes}
        if len(gens) == 1:
            (gen,) = gens.values()
            try:
                async for batch in gen:
                    yield batch
            finally:
                await _aclose(gen)
            return
        pending: dict[asyncio.Future[list[WatchEvent]], AsyncIterator[list[WatchEvent]]] = {
            asyncio.ensure_future(anext(gen)): gen for gen in gens.values()
        }
        try:
            while True:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                ready = [(fut, pending.pop(fut)) for fut in done]
                errors = [exc for fut, _ in ready if (exc := fut.exception()) is not None]
                if errors:
                    error = errors[0]
                    if isinstance(error, StopAsyncIteration):
                        error = Unavailable("watch stream ended")
                    raise error
                for fut, gen in ready:
                    yield fut.result()
                    pending[asyncio.ensure_future(anext(gen))] = gen
        finally:
            for fut in pending:
                fut.cancel()
            for fut in pending:
                with contextlib.suppress(BaseException):
                    await fut
            for gen in gens.values():
                await _aclose(gen)


async def _aclose(gen: AsyncIterator[object]) -> None:
    aclose = getattr(gen, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()

"""Multi-key compare-and-swap transactions for IPAM, on top of the datastore.

IPAM writes a block, its handle record and (when claiming) the affinity key together. etcd can
do that in one transaction (one round trip, all or nothing), which is why a failed or
interrupted allocation can never leave a block and its handle disagreeing. The Datastore
protocol has no multi-key transaction, so this module speaks to the etcd adapter's raw
transaction entry point when it is there, and otherwise falls back to one CAS per key (still
safe against lost updates, but not atomic across keys and more round trips).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from calico.datastore.base import AlreadyExists, Conflict, Datastore, KeyValue, NotFound


@dataclass(frozen=True, slots=True)
class Cmp:
    """Compare a key's (or a key range's) mod revision: ``op`` is ``==`` or ``<``."""

    key: str
    op: Literal["==", "<"]
    mod_revision: int
    range_end: str | None = None


@dataclass(frozen=True, slots=True)
class Put:
    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Delete:
    key: str


@dataclass(frozen=True, slots=True)
class Get:
    key: str
    range_end: str | None = None


@dataclass(frozen=True, slots=True)
class TxnResult:
    succeeded: bool
    revision: int  # the store revision after (or at) the transaction
    reads: tuple[tuple[KeyValue, ...], ...]  # one tuple per Get of the branch that ran
    key_revisions: dict[str, int] = field(default_factory=dict)  # fallback only: each write's own revision

    def revision_of(self, key: str) -> int:
        """The mod revision ``key`` has after the transaction (one etcd txn: all the same)."""
        return self.key_revisions.get(key, self.revision)


def prefix_end(prefix: str) -> str:
    """etcd's range end for every key starting with ``prefix`` (ASCII keys)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class TxnStore:
    """The datastore plus ``txn``; counts round trips so the benchmark can report them."""

    def __init__(self, ds: Datastore) -> None:
        self.ds = ds
        self._raw = getattr(ds, "_txn", None)
        self.round_trips = 0

    @property
    def atomic(self) -> bool:
        return self._raw is not None

    async def txn(self, compares: Sequence[Cmp], success: Sequence[Put | Delete | Get],
                  failure: Sequence[Get] = ()) -> TxnResult:
        if self._raw is not None:
            return await self._etcd_txn(compares, success, failure)
        return await self._fallback_txn(compares, success, failure)

    async def read(self, gets: Sequence[Get]) -> TxnResult:
        """Several keys and prefixes read at one revision, in one round trip."""
        return await self.txn((), gets)

    # ------------------------------------------------------------------ etcd
    async def _etcd_txn(self, compares: Sequence[Cmp], success: Sequence[Put | Delete | Get],
                        failure: Sequence[Get]) -> TxnResult:
        from aetcd import rpc

        def cmp(c: Cmp) -> Any:
            result = rpc.Compare.EQUAL if c.op == "==" else rpc.Compare.LESS
            msg = rpc.Compare(key=c.key.encode(), result=result, target=rpc.Compare.MOD,
                              mod_revision=c.mod_revision)
            if c.range_end is not None:
                msg.range_end = c.range_end.encode()
            return msg

        def op(o: Put | Delete | Get) -> Any:
            if isinstance(o, Put):
                return rpc.RequestOp(request_put=rpc.PutRequest(key=o.key.encode(), value=o.value.encode()))
            if isinstance(o, Delete):
                return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=o.key.encode()))
            req = rpc.RangeRequest(key=o.key.encode())
            if o.range_end is not None:
                req.range_end = o.range_end.encode()
            return rpc.RequestOp(request_range=req)

        req = rpc.TxnRequest(compare=[cmp(c) for c in compares], success=[op(o) for o in success],
                             failure=[op(o) for o in failure])
        self.round_trips += 1
        assert self._raw is not None
        resp = await self._raw("ipam transaction", req)
        reads: list[tuple[KeyValue, ...]] = []
        for r in resp.responses:
            if r.WhichOneof("response") == "response_range":
                reads.append(tuple(KeyValue(kv.key.decode(), kv.value.decode(), int(kv.mod_revision),
                                            int(kv.create_revision)) for kv in r.response_range.kvs))
        return TxnResult(bool(resp.succeeded), int(resp.header.revision), tuple(reads))

    # ------------------------------------------------------------------ any Datastore
    async def _current(self, c: Cmp) -> bool:
        if c.range_end is not None:
            prefix = c.key
            kvs, _ = await self.ds.list(prefix)
            self.round_trips += 1
            return all(kv.mod_revision < c.mod_revision for kv in kvs)
        kv = await self.ds.get(c.key)
        self.round_trips += 1
        rev = kv.mod_revision if kv else 0
        return rev == c.mod_revision if c.op == "==" else rev < c.mod_revision

    async def _gets(self, gets: Sequence[Get]) -> list[tuple[KeyValue, ...]]:
        out: list[tuple[KeyValue, ...]] = []
        for g in gets:
            self.round_trips += 1
            if g.range_end is not None:
                kvs, _ = await self.ds.list(g.key)
                out.append(tuple(kvs))
            else:
                kv = await self.ds.get(g.key)
                out.append((kv,) if kv else ())
        return out

    async def _fallback_txn(self, compares: Sequence[Cmp], success: Sequence[Put | Delete | Get],
                            failure: Sequence[Get]) -> TxnResult:
        """Emulation: check, then write each key with its own CAS (lost races report failure)."""
        expected = {c.key: c.mod_revision for c in compares if c.op == "==" and c.range_end is None}
        for c in compares:  # check everything first, so a lost race rarely leaves a partial write
            if not await self._current(c):
                return TxnResult(False, await self.ds.revision(), tuple(await self._gets(failure)))
        rev = 0
        revs: dict[str, int] = {}
        reads: list[tuple[KeyValue, ...]] = []
        try:
            for o in success:
                self.round_trips += 1
                if isinstance(o, Get):
                    reads.extend(await self._gets([o]))
                    continue
                exp = expected.get(o.key)
                if isinstance(o, Put):
                    if exp is None:
                        rev = await self.ds.put(o.key, o.value)
                    elif exp == 0:
                        rev = await self.ds.create(o.key, o.value)
                    else:
                        rev = await self.ds.update(o.key, o.value, exp)
                    revs[o.key] = rev
                elif exp != 0:  # deleting a key expected absent is a no-op, as in etcd
                    try:
                        await self.ds.delete(o.key, exp)
                    except NotFound:
                        if exp is not None:
                            raise
                    rev = await self.ds.revision()
        except (Conflict, AlreadyExists, NotFound):
            return TxnResult(False, await self.ds.revision(), tuple(await self._gets(failure)))
        return TxnResult(True, rev or await self.ds.revision(), tuple(reads), revs)

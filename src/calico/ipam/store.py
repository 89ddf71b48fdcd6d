"""IPAM's view of the datastore: multi-key transactions (calico.datastore.txn) with a round-trip count.

IPAM writes a block, its handle record and (when claiming) the affinity key in one etcd
transaction, which is why a failed or interrupted allocation can never leave a block and its
handle disagreeing.
"""

from __future__ import annotations

from collections.abc import Sequence

from calico.datastore.txn import Cmp, Delete, Get, Put, TxnResult, prefix_end

TYPE_CHECKING = False
if TYPE_CHECKING:
    from calico.datastore.base import Datastore

__all__ = ["Cmp", "Delete", "Get", "Put", "TxnResult", "TxnStore", "prefix_end"]


class TxnStore:
    """The datastore's transactions, counting round trips so the benchmark can report them."""

    def __init__(self, ds: Datastore) -> None:
        self.ds = ds
        self.round_trips = 0

    async def txn(self, compares: Sequence[Cmp], success: Sequence[Put | Delete | Get],
                  failure: Sequence[Get] = ()) -> TxnResult:
        self.round_trips += 1
        return await self.ds.txn(compares, success, failure)

    async def read(self, gets: Sequence[Get]) -> TxnResult:
        """Several keys and prefixes read at one revision, in one round trip."""
        return await self.txn((), gets)

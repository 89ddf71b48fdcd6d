"""Multi-key transactions as plain values: compare mod revisions, then put/delete/get atomically.

IPAM writes a block, its handle record and (when claiming) the affinity key together in one
transaction, so a failed or interrupted allocation can never leave them disagreeing.
"""

from __future__ import annotations

from calico.common.record import field, record
from calico.datastore.base import KeyValue

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal


@record
class Cmp:
    """Compare a key's (or a key range's) mod revision: ``op`` is ``==`` or ``<``."""

    key: str
    op: Literal["==", "<"]
    mod_revision: int
    range_end: str | None = None


@record
class Put:
    key: str
    value: str


@record
class Delete:
    key: str


@record
class Get:
    key: str
    range_end: str | None = None


@record
class TxnResult:
    succeeded: bool
    revision: int  # the store revision after (or at) the transaction
    reads: tuple[tuple[KeyValue, ...], ...]  # one tuple per Get of the branch that ran
    key_revisions: dict[str, int] = field(default_factory=dict)

    def revision_of(self, key: str) -> int:
        """The mod revision ``key`` has after the transaction (one etcd txn: all the same)."""
        return self.key_revisions.get(key, self.revision)


def prefix_end(prefix: str) -> str:
    """etcd's range end for every key starting with ``prefix`` (ASCII keys)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)

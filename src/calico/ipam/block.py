"""Pure model of one IPAM allocation block, stored exactly as Calico stores it.

A block is a block-aligned CIDR inside a pool. Every address in it has an *ordinal* (its
offset from the block's first address); an ordinal is either in ``allocations`` (pointing at
an entry of ``attributes``, which holds the handle and the owner's attributes) or in
``unallocated`` - never both, never neither. Blocks are immutable values: every operation
returns a new block, so a compare-and-swap retry simply starts again from the re-read value.

No I/O here: the allocator (allocator.py) reads, calls these functions and writes back.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator, Mapping

from calico.common import jsonlite as json
from calico.common.record import field, record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

HOST_AFFINITY_PREFIX = "host:"


class BlockError(Exception):
    """A block operation that cannot be done (the allocator turns it into a user-facing error)."""


class OrdinalInUse(BlockError):
    pass


class AffinityMismatch(BlockError):
    pass


@record
class Attribute:
    """Who owns an allocation: the handle id and free-form attributes (node, namespace, pod...)."""

    handle_id: str | None
    secondary: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"handle_id": self.handle_id, "secondary": dict(self.secondary) if self.secondary else None}

    def same_as(self, other: Attribute) -> bool:
        return self.handle_id == other.handle_id and dict(self.secondary) == dict(other.secondary)


@record
class Block:
    """One allocation block (Calico's AllocationBlock)."""

    cidr: IPNetwork
    affinity: str | None
    allocations: tuple[int | None, ...]
    unallocated: tuple[int, ...]
    attributes: tuple[Attribute, ...]
    sequence_number: int = 0
    seq_for_allocation: Mapping[str, int] = field(default_factory=dict)
    deleted: bool = False

    # ----------------------------------------------------------------- construction
    @classmethod
    def new(cls, cidr: str | IPNetwork, affinity: str | None, sequence_number: int = 0) -> Block:
        net = ipaddress.ip_network(cidr) if isinstance(cidr, str) else cidr
        size = net.num_addresses
        return cls(cidr=net, affinity=affinity, allocations=(None,) * size,
                   unallocated=tuple(range(size)), attributes=(), sequence_number=sequence_number)

    # ----------------------------------------------------------------- queries
    @property
    def size(self) -> int:
        return len(self.allocations)

    @property
    def host(self) -> str | None:
        """The host this block is affine to, or None (no affinity, or a non-host affinity)."""
        if self.affinity and self.affinity.startswith(HOST_AFFINITY_PREFIX):
            return self.affinity[len(HOST_AFFINITY_PREFIX):]
        return None

    def in_use(self) -> int:
        return sum(1 for a in self.allocations if a is not None)

    def free(self) -> int:
        return len(self.unallocated)

    def is_empty(self) -> bool:
        return len(self.unallocated) == self.size

    def ordinal(self, ip: str | IPAddress) -> int:
        addr = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
        if addr not in self.cidr:
            raise BlockError(f"IP {addr} not in block {self.cidr}")
        return int(addr) - int(self.cidr.network_address)

    def ip(self, ordinal: int) -> IPAddress:
        return self.cidr.network_address + ordinal

    def attribute_of(self, ordinal: int) -> Attribute | None:
        idx = self.allocations[ordinal]
        if idx is None or idx >= len(self.attributes):
            return None
        return self.attributes[idx]

    def is_allocated(self, ordinal: int) -> bool:
        return self.allocations[ordinal] is not None

    def ordinals_for_handle(self, handle_id: str) -> list[int]:
        idxs = {i for i, a in enumerate(self.attributes) if a.handle_id == handle_id}
        return [o for o, a in enumerate(self.allocations) if a is not None and a in idxs]

    def allocated(self) -> Iterator[tuple[int, Attribute | None]]:
        for o, idx in enumerate(self.allocations):
            if idx is not None:
                yield o, (self.attributes[idx] if idx < len(self.attributes) else None)

    def handle_counts(self) -> dict[str, int]:
        """How many addresses each handle holds here (what the handle records should say)."""
        counts: dict[str, int] = {}
        for _, attr in self.allocated():
            if attr is not None and attr.handle_id is not None:
                counts[attr.handle_id] = counts.get(attr.handle_id, 0) + 1
        return counts

    def sequence_for(self, ordinal: int) -> int:
        return self.seq_for_allocation.get(str(ordinal), 0)

    # ----------------------------------------------------------------- changes
    def _attr_index(self, attr: Attribute) -> tuple[int, tuple[Attribute, ...]]:
        for i, existing in enumerate(self.attributes):
            if existing.same_as(attr):
                return i, self.attributes
        return len(self.attributes), (*self.attributes, attr)

    def auto_assign(self, num: int, attr: Attribute, *, host: str | None = None,
                    skip: Callable[[int], bool] | None = None) -> tuple[Block, list[int]]:
        """Take up to ``num`` free ordinals, first-free order, skipping ``skip(ordinal)`` (reserved).

        With ``host`` the block must be affine to that host (affine allocation); without it any
        block will do (borrowing). Returns the new block and the ordinals taken (maybe fewer).
        """
        if host is not None and self.host != host:
            raise AffinityMismatch(f"block {self.cidr} is not affine to host {host}")
        if num <= 0:
            return self, []
        taken: list[int] = []
        for o in self.unallocated:
            if len(taken) == num:
                break
            if skip is not None and skip(o):
                continue
            taken.append(o)
        if not taken:
            return self, []
        return self._assign(taken, attr), taken

    def assign(self, ordinal: int, attr: Attribute) -> Block:
        """Assign one specific ordinal (a static address)."""
        if not 0 <= ordinal < self.size:
            raise BlockError(f"ordinal {ordinal} outside block {self.cidr}")
        if self.allocations[ordinal] is not None:
            raise OrdinalInUse(f"Address already assigned in block: {self.ip(ordinal)}")
        return self._assign([ordinal], attr)

    def _assign(self, ordinals: list[int], attr: Attribute) -> Block:
        idx, attrs = self._attr_index(attr)
        allocs = list(self.allocations)
        chosen = set(ordinals)
        seqs = dict(self.seq_for_allocation)
        for o in ordinals:
            allocs[o] = idx
            seqs[str(o)] = self.sequence_number
        unalloc = tuple(o for o in self.unallocated if o not in chosen)
        return replace(self, allocations=tuple(allocs), unallocated=unalloc, attributes=attrs,
                       seq_for_allocation=seqs)

    def release(self, ordinals: Iterable[int],
                handle_id: str | None = None) -> tuple[Block, list[int], list[int]]:
        """Free ordinals. Returns (block, released, not-allocated).

        With ``handle_id`` only ordinals owned by that handle are released; others count as
        not allocated (so a stale release never frees someone else's address).
        """
        released: list[int] = []
        missing: list[int] = []
        allocs = list(self.allocations)
        seqs = dict(self.seq_for_allocation)
        seen: set[int] = set()
        for o in ordinals:
            if o in seen:
                continue
            seen.add(o)
            idx = allocs[o]
            if idx is None:
                missing.append(o)
                continue
            if handle_id is not None and self.attributes[idx].handle_id != handle_id:
                missing.append(o)
                continue
            allocs[o] = None
            seqs.pop(str(o), None)
            released.append(o)
        if not released:
            return self, [], missing
        # Drop attributes nobody references any more and re-index the survivors.
        used = sorted({a for a in allocs if a is not None})
        remap = {old: new for new, old in enumerate(used)}
        new_allocs = tuple(None if a is None else remap[a] for a in allocs)
        new_attrs = tuple(self.attributes[old] for old in used)
        block = replace(self, allocations=new_allocs, unallocated=(*self.unallocated, *released),
                        attributes=new_attrs, seq_for_allocation=seqs)
        return block, released, missing

    def with_affinity(self, affinity: str | None) -> Block:
        return replace(self, affinity=affinity)

    def bumped(self) -> Block:
        """The block as written: Calico increments sequenceNumber on every write."""
        return replace(self, sequence_number=self.sequence_number + 1)

    # ----------------------------------------------------------------- (de)serialisation
    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "cidr": str(self.cidr),
            "affinity": self.affinity,
            "allocations": list(self.allocations),
            "unallocated": list(self.unallocated),
            "attributes": [a.to_json() for a in self.attributes],
            "sequenceNumber": self.sequence_number,
            "sequenceNumberForAllocation": dict(self.seq_for_allocation),
            "deleted": self.deleted,
        }
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Block:
        doc = json.loads(text)
        net = ipaddress.ip_network(doc["cidr"], strict=False)
        affinity = doc.get("affinity")
        if affinity is None and doc.get("hostAffinity"):
            affinity = HOST_AFFINITY_PREFIX + doc["hostAffinity"]
        size = net.num_addresses
        allocs = doc.get("allocations") or [None] * size
        attrs = tuple(Attribute(a.get("handle_id"), dict(a.get("secondary") or {}))
                      for a in (doc.get("attributes") or []))
        unalloc = doc.get("unallocated")
        if unalloc is None:
            unalloc = [o for o, a in enumerate(allocs) if a is None]
        seqs = {str(k): int(v) for k, v in (doc.get("sequenceNumberForAllocation") or {}).items()}
        return cls(cidr=net, affinity=affinity, allocations=tuple(allocs), unallocated=tuple(unalloc),
                   attributes=attrs, sequence_number=int(doc.get("sequenceNumber") or 0),
                   seq_for_allocation=seqs, deleted=bool(doc.get("deleted", False)))

    def check(self) -> list[str]:
        """Internal consistency problems (empty list when sound): every ordinal accounted once."""
        problems: list[str] = []
        free = list(self.unallocated)
        if len(set(free)) != len(free):
            problems.append(f"block {self.cidr}: duplicate ordinals in unallocated")
        for o in free:
            if not 0 <= o < self.size:
                problems.append(f"block {self.cidr}: ordinal {o} out of range")
            elif self.allocations[o] is not None:
                problems.append(f"block {self.cidr}: ordinal {o} both allocated and free")
        accounted = set(free) | {o for o, a in enumerate(self.allocations) if a is not None}
        if len(accounted) != self.size:
            missing = self.size - len(accounted)
            problems.append(f"block {self.cidr}: {missing} ordinals neither free nor allocated")
        for o, a in enumerate(self.allocations):
            if a is not None and not 0 <= a < len(self.attributes):
                problems.append(f"block {self.cidr}: ordinal {o} points at missing attribute {a}")
        return problems


# --------------------------------------------------------------------------- pool/block geometry
def block_size_default(version: int) -> int:
    return 26 if version == 4 else 122


def validate_block_size(version: int, size: int) -> None:
    if version == 4 and not 20 <= size <= 32:
        raise ValueError("IPv4 block size must be between 20 and 32")
    if version == 6 and not 116 <= size <= 128:
        raise ValueError("IPv6 block size must be between 116 and 128")


def block_cidr_for(ip: IPAddress, block_size: int) -> IPNetwork:
    """The block-aligned CIDR of ``block_size`` containing ``ip``."""
    return ipaddress.ip_network(f"{ip}/{block_size}", strict=False)


def fnv32(text: str) -> int:
    """FNV-1 32-bit hash (what Calico seeds a host's block order with)."""
    h = 0x811C9DC5
    for byte in text.encode():
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= byte
    return h


def _mix(h: int) -> int:
    """Spread FNV's output: names differing only in the last character (node-1, node-2) would
    otherwise start next to each other and collide on every claim (Calico seeds a PRNG instead)."""
    z = (h + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return z ^ (z >> 31)


def pool_blocks(pool: IPNetwork, block_size: int, host: str) -> Iterator[IPNetwork]:
    """Every block of a pool, starting at a host-seeded offset and wrapping round.

    The same host tends to get the same blocks; different hosts start in different places,
    which spreads claims out and reduces contention.
    """
    if block_size < pool.prefixlen:
        return
    count = 1 << (block_size - pool.prefixlen)
    step = 1 << (pool.max_prefixlen - block_size)
    start = _mix(fnv32(host)) % count
    base = int(pool.network_address)
    cls = type(pool)
    for i in range(count):
        n = (start + i) % count
        yield cls((base + n * step, block_size))

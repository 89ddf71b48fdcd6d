"""Pure utilisation and borrowing views over pools and blocks (what `calicoctl ipam show` prints)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from calico.ipam.block import Block, IPNetwork
from calico.ipam.model import Pool


@dataclass
class BlockUse:
    cidr: IPNetwork
    capacity: int
    in_use: int


@dataclass
class PoolUse:
    name: str
    cidr: IPNetwork | None  # None: blocks that belong to no pool ("orphaned allocation blocks")
    capacity: int
    blocks: list[BlockUse] = field(default_factory=list)

    @property
    def in_use(self) -> int:
        return sum(b.in_use for b in self.blocks)


def utilization(pools: list[Pool], blocks: list[Block]) -> list[PoolUse]:
    """One entry per pool (in the order given) plus a last one for orphaned blocks, as Calico."""
    usage = [PoolUse(p.name, p.cidr, p.cidr.num_addresses) for p in pools]
    orphaned = PoolUse("orphaned allocation blocks", None, 0)
    for b in sorted(blocks, key=lambda b: (b.cidr.version, int(b.cidr.network_address))):
        use = BlockUse(b.cidr, b.size, b.size - b.free())
        for pu in usage:
            if pu.cidr is not None and pu.cidr.version == b.cidr.version and b.cidr.subnet_of(pu.cidr):  # type: ignore[arg-type]
                pu.blocks.append(use)
                break
        else:
            orphaned.blocks.append(use)
    return [*usage, orphaned]


@dataclass(frozen=True)
class Borrowed:
    ip: str
    borrowing_node: str
    block: str
    block_owner: str
    type: str
    allocated_to: str


def borrowed(blocks: list[Block]) -> tuple[list[Borrowed], int]:
    """Allocations whose node attribute differs from the block's host, and how many lack a node."""
    out: list[Borrowed] = []
    unclassified = 0
    for b in sorted(blocks, key=lambda b: (b.cidr.version, int(b.cidr.network_address))):
        owner = ""
        if b.affinity is not None:
            parts = b.affinity.split(":")
            owner = parts[1] if len(parts) == 2 else parts[0]
        for o, attr in b.allocated():
            sec = dict(attr.secondary) if attr else {}
            node = sec.get("node")
            if node is None:
                unclassified += 1
                continue
            if node == owner:
                continue
            kind, to = "", ""
            if "pod" in sec:
                kind, to = "pod", f"{sec.get('namespace', '')}/{sec['pod']}"
            elif "type" in sec:
                kind = sec["type"]
            out.append(Borrowed(str(b.ip(o)), node, str(b.cidr), owner, kind, to))
    return out, unclassified


def ip_sort_key(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr)

"""IPAMClient: host-affine blocks, claims, borrowing, static addresses, release, handles.

Every change is one compare-and-swap transaction that writes a block together with the handle
records it affects (and, when a block is claimed, the host's affinity key): so a block and its
handles never disagree, and a lost race simply re-reads and tries again. The common case -
an affine block with room, pools already known - costs one etcd round trip.

Caches (blocks, handles, the pool/config snapshot) only save reads: each write compares the
revisions the cache was built from, so a stale cache makes a write fail, never go wrong.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import time
from collections.abc import Iterable, Mapping, Sequence

from calico.common.record import field, mutable_record
from calico.datastore import keys
from calico.ipam.block import (
    HOST_AFFINITY_PREFIX,
    AffinityMismatch,
    Attribute,
    Block,
    IPAddress,
    IPNetwork,
    OrdinalInUse,
    block_cidr_for,
    pool_blocks,
)
from calico.ipam.errors import (
    AddressInUse,
    AddressNotInPool,
    AddressReserved,
    BlockLimitReached,
    BlockNotEmpty,
    HandleNotFound,
    InvalidAddress,
    NoFreeAddresses,
    NoPools,
    NotAssigned,
    PoolNotFound,
    StrictAffinityViolation,
    TooManyConflicts,
)
from calico.ipam.model import (
    AFFINITY_CONFIRMED,
    USE_WORKLOAD,
    Handle,
    IPAMConfig,
    Pool,
    fully_reserved,
    reserved_by,
)
from calico.ipam.store import Cmp, Delete, Get, Put, TxnStore, prefix_end

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from calico.datastore.base import Datastore
    from calico.ipam.env import Env


class _LazyLogger:
    """``logging.getLogger(__name__)``, resolved on first use.

    The CNI plugin imports this module on every pod start-up and rarely logs from it; importing
    ``logging`` up front would cost it several milliseconds each time.
    """

    def __getattr__(self, name: str) -> Any:
        import logging

        return getattr(logging.getLogger(__name__), name)


log = _LazyLogger()

MAX_ATTEMPTS = 100  # CAS retries per block write, as Calico
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


class _EnvChanged(Exception):
    """The pool/config snapshot a write relied on is stale: start the step again."""


@mutable_record
class AssignResult:
    """Addresses handed out, each with its block's prefix length (as calico-ipam returns them)."""

    ipv4: list[IPInterface] = field(default_factory=list)
    ipv6: list[IPInterface] = field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        return [str(i.ip) for i in (*self.ipv4, *self.ipv6)]


def _parse_ip(ip: str | IPAddress) -> IPAddress:
    if not isinstance(ip, str):
        return ip
    try:
        return ipaddress.ip_address(ip.split("/")[0].strip())
    except ValueError:
        raise InvalidAddress(ip) from None


class IPAMClient:
    """Calico IPAM over a Datastore. One instance may serve many hosts and concurrent tasks."""

    def __init__(self, ds: Datastore) -> None:
        self.ds = ds
        self.store = TxnStore(ds)
        self._env: Env | None = None
        self._blocks: dict[str, tuple[Block, int]] = {}
        self._handles: dict[str, tuple[Handle | None, int]] = {}
        self.last_revision = 0  # revision of the last successful write (tests order events by it)
        self.conflicts = 0  # compare-and-swap writes that lost a race (and were retried)

    # ================================================================== snapshot and caches
    async def _env_for(self, host: str) -> Env:
        from calico.ipam.env import load_env  # here: releasing by handle (a CNI DEL) needs no pools

        if self._env is None or host not in self._env.hosts:
            hosts = sorted({*(self._env.hosts if self._env else ()), host})
            self._env = await load_env(self.store, hosts)
        return self._env

    def invalidate(self) -> None:
        """Forget every cached value (the next call reads afresh)."""
        self._env = None
        self._blocks.clear()
        self._handles.clear()

    async def _refresh_affinities(self, host: str) -> None:
        env = await self._env_for(host)
        prefix = keys.affinity_prefix(host)
        res = await self.store.read([Get(prefix, prefix_end(prefix))])
        view = env.hosts[host]
        view.affinities = {}
        for kv in res.reads[0]:
            parsed = keys.parse_affinity_key(kv.key)
            if parsed is not None:
                view.affinities[parsed[1]] = kv.mod_revision

    async def _refresh_host_and_blocks(self, host: str, version: int) -> dict[str, tuple[Block, int]]:
        """The host's affinity keys and every block of the version, in one read (before a claim)."""
        env = await self._env_for(host)
        aff = keys.affinity_prefix(host)
        blocks = keys.block_prefix(version)
        res = await self.store.read([Get(aff, prefix_end(aff)), Get(blocks, prefix_end(blocks))])
        env.hosts[host].affinities = {p[1]: kv.mod_revision for kv in res.reads[0]
                                      if (p := keys.parse_affinity_key(kv.key)) is not None}
        out: dict[str, tuple[Block, int]] = {}
        for kv in res.reads[1]:
            cidr = keys.parse_block_key(kv.key)
            if cidr is not None:
                out[cidr] = (Block.from_json(kv.value), kv.mod_revision)
        self._blocks.update(out)
        return out

    async def _block(self, cidr: str) -> tuple[Block, int] | None:
        if cidr not in self._blocks:
            kv = await self._read_one(keys.block_key(cidr))
            if kv is None:
                return None
            self._blocks[cidr] = (Block.from_json(kv[0]), kv[1])
        return self._blocks[cidr]

    async def _load_blocks(self, cidrs: Iterable[str]) -> None:
        missing = [c for c in cidrs if c not in self._blocks]
        if not missing:
            return
        res = await self.store.read([Get(keys.block_key(c)) for c in missing])
        for cidr, kvs in zip(missing, res.reads, strict=True):
            if kvs:
                self._blocks[cidr] = (Block.from_json(kvs[0].value), kvs[0].mod_revision)

    async def _read_one(self, key: str) -> tuple[str, int] | None:
        res = await self.store.read([Get(key)])
        return (res.reads[0][0].value, res.reads[0][0].mod_revision) if res.reads[0] else None

    async def _load_handles(self, handle_ids: Iterable[str]) -> None:
        missing = [h for h in handle_ids if h not in self._handles]
        if not missing:
            return
        res = await self.store.read([Get(keys.handle_key(h)) for h in missing])
        for h, kvs in zip(missing, res.reads, strict=True):
            self._handles[h] = (Handle.from_json(h, kvs[0].value), kvs[0].mod_revision) if kvs else (None, 0)

    async def list_blocks(self, version: int | None = None) -> dict[str, tuple[Block, int]]:
        """Every block (of one IP version, or all), read at one revision; refreshes the cache."""
        prefix = keys.block_prefix(version) if version else keys.IPAM_ROOT + "assignment/"
        res = await self.store.read([Get(prefix, prefix_end(prefix))])
        out: dict[str, tuple[Block, int]] = {}
        for kv in res.reads[0]:
            cidr = keys.parse_block_key(kv.key)
            if cidr is None:
                continue
            out[cidr] = (Block.from_json(kv.value), kv.mod_revision)
        self._blocks.update(out)
        return out

    # ================================================================== the one write path
    async def _commit(self, cidr: str, rev: int, new: Block | None, handle_deltas: Mapping[str, int],
                      guards: Sequence[Cmp] = (), extra: Sequence[Put | Delete] = ()) -> bool:
        """Write (or delete) a block and adjust its handles in one transaction.

        ``rev`` is the block's expected mod revision (0: must not exist). On failure the caches
        are refreshed from the values the transaction read, and False is returned.
        """
        bkey = keys.block_key(cidr)
        cmps = [Cmp(bkey, "==", rev), *guards]
        ops: list[Put | Delete] = [Put(bkey, new.to_json()) if new is not None else Delete(bkey)]
        new_handles: dict[str, Handle | None] = {}
        for hid, delta in handle_deltas.items():
            if delta == 0:
                continue
            cur, hrev = self._handles.get(hid, (None, 0))
            updated = (cur or Handle(hid)).add(cidr, delta)
            cmps.append(Cmp(keys.handle_key(hid), "==", hrev))
            if updated.empty():
                ops.append(Delete(keys.handle_key(hid)))
                new_handles[hid] = None
            else:
                ops.append(Put(keys.handle_key(hid), updated.to_json()))
                new_handles[hid] = updated
        ops.extend(extra)
        failure = [Get(bkey), *(Get(keys.handle_key(h)) for h in new_handles)]
        res = await self.store.txn(cmps, ops, failure)
        if res.succeeded:
            self.last_revision = res.revision
            if new is None:
                self._blocks.pop(cidr, None)
            else:
                self._blocks[cidr] = (new, res.revision_of(bkey))
            for hid, h in new_handles.items():
                self._handles[hid] = (h, res.revision_of(keys.handle_key(hid)) if h is not None else 0)
            if len(self._handles) > 50000:
                self._handles.clear()
            return True
        self.conflicts += 1
        block_kvs = res.reads[0]
        if block_kvs:
            self._blocks[cidr] = (Block.from_json(block_kvs[0].value), block_kvs[0].mod_revision)
        else:
            self._blocks.pop(cidr, None)
        changed = (block_kvs[0].mod_revision if block_kvs else 0) != rev
        for hid, kvs in zip(new_handles, res.reads[1:], strict=True):
            now = (Handle.from_json(hid, kvs[0].value), kvs[0].mod_revision) if kvs else (None, 0)
            changed = changed or now[1] != self._handles.get(hid, (None, 0))[1]
            self._handles[hid] = now
        if not changed:  # neither block nor handle moved: a guard failed, the snapshot is stale
            self._env = None
        return False

    async def _guards(self, pool: Pool, host: str) -> list[Cmp]:
        env = await self._env_for(host)
        current = env.pools.get(pool.name)
        if current is None or current != pool:
            raise _EnvChanged()
        return env.guards(pool, host)

    # ================================================================== auto-assign
    async def auto_assign(self, num_v4: int = 0, num_v6: int = 0, handle: str | None = None,
                          attrs: Mapping[str, str] | None = None, host: str | None = None,
                          pools: Sequence[str] | None = None, *, use: str = USE_WORKLOAD,
                          max_blocks_per_host: int = 0) -> AssignResult:
        """Assign ``num_v4`` IPv4 and ``num_v6`` IPv6 addresses to ``handle`` on ``host``.

        All or nothing: if the request cannot be met in full, whatever this call took is
        released again and NoFreeAddresses (or the specific error) is raised.
        """
        host = host or os.uname().nodename
        attr = Attribute(handle, dict(attrs or {}))
        result = AssignResult()
        try:
            if num_v4:
                result.ipv4 = await self._assign_version(4, num_v4, attr, host, pools, use,
                                                         max_blocks_per_host)
            if num_v6:
                result.ipv6 = await self._assign_version(6, num_v6, attr, host, pools, use,
                                                         max_blocks_per_host)
        except BaseException:
            if result.ipv4:
                await self._undo(result.ipv4, handle)
            raise
        return result

    async def _undo(self, addrs: Sequence[IPInterface], handle: str | None) -> None:
        try:
            await self.release_ips([str(a.ip) for a in addrs], handle=handle)
        except Exception:  # keep the original error; log what could not be rolled back
            log.exception("could not release %s after a failed allocation", [str(a.ip) for a in addrs])

    def _select_pools(self, env: Env, version: int, host: str, requested: Sequence[str] | None,
                      use: str) -> list[Pool]:
        if requested:
            chosen: list[Pool] = []
            for ref in requested:
                p = env.find_pool(ref)
                if p is None or p.disabled:
                    raise PoolNotFound(ref)
                if p.version == version:
                    chosen.append(p)
            if not chosen:
                raise NoPools(f"none of the requested pools {list(requested)} is an IPv{version} pool")
            return chosen
        chosen = env.pools_for(version, host, use)
        if not chosen:
            raise NoPools(f"no configured Calico pools for node {host}: no enabled IPv{version} pool "
                          f"with allowedUses {use} selects this node")
        return chosen

    async def _assign_version(self, version: int, num: int, attr: Attribute, host: str,
                              requested: Sequence[str] | None, use: str, max_blocks: int) -> list[IPInterface]:
        got: list[IPInterface] = []
        try:
            for _ in range(MAX_ATTEMPTS):
                try:
                    await self._assign_steps(version, num, attr, host, requested, use, max_blocks, got)
                    return got
                except _EnvChanged:
                    self._env = None
            raise TooManyConflicts(f"IPAM snapshot kept changing while assigning IPv{version} addresses")
        except BaseException:
            if got:
                await self._undo(got, attr.handle_id)
            raise

    async def _assign_steps(self, version: int, num: int, attr: Attribute, host: str,
                            requested: Sequence[str] | None, use: str, max_blocks: int,
                            got: list[IPInterface]) -> None:
        env = await self._env_for(host)
        pools = self._select_pools(env, version, host, requested, use)
        eligible = env.pools_for(version, host, None)  # any use: a tunnel block is not "unneeded"
        # 1. blocks already affine to this host (those not cached are read in one round trip).
        await self._load_blocks(c for c in env.hosts[host].affinities if _net(c).version == version)
        for cidr in sorted(env.hosts[host].affinities, key=_cidr_sort_key):
            if _net(cidr).version != version:
                continue
            if not any(_subnet_of(cidr, p.cidr) for p in eligible):
                await self._release_if_unneeded(cidr, host)
                continue
            pool = next((p for p in pools if _subnet_of(cidr, p.cidr)), None)
            if pool is None:
                continue
            cached = self._blocks.get(cidr)
            if cached is not None and not cached[0].free():
                continue  # full (the CAS would catch a stale view; a full block needs no write)
            got += await self._assign_from_block(cidr, num - len(got), attr, host, pool, host)
            if len(got) >= num:
                return
        # 2. claim new blocks.
        cfg = env.config
        existing: dict[str, tuple[Block, int]] | None = None
        while len(got) < num and cfg.auto_allocate_blocks:
            existing = await self._refresh_host_and_blocks(host, version)
            env = await self._env_for(host)
            owned = [c for c in env.hosts[host].affinities if _net(c).version == version]
            limit = max_blocks or cfg.block_limit
            if len(owned) >= limit:
                # A block claimed by another client for this host may have room: try those first.
                more = await self._fill_affine(owned, version, num - len(got), attr, host, pools)
                got += more
                if len(got) >= num:
                    return
                raise BlockLimitReached(host, limit)
            claimed = await self._claim_and_assign(version, num - len(got), attr, host, pools, existing)
            if claimed is None:
                break
            got += claimed
            existing = None
        # 3. borrow from other hosts' blocks (using the listing the claim attempt just read).
        if len(got) < num and not cfg.strict_affinity:
            if existing is None:
                existing = await self.list_blocks(version)
            got += await self._borrow(version, num - len(got), attr, host, pools, existing)
        if len(got) < num:
            detail = "strict affinity is enabled, so no addresses were borrowed" if cfg.strict_affinity else ""
            raise NoFreeAddresses(version, num, len(got), [str(p.cidr) for p in pools], detail)

    async def _release_if_unneeded(self, cidr: str, host: str) -> None:
        """An affine block no pool lets this host use any more: give it back once it is empty."""
        cached = await self._block(cidr)
        if cached is not None and cached[0].host == host and not cached[0].is_empty():
            return
        try:
            await self.release_affinity(cidr, host, require_empty=True)
            log.info("released empty block %s of host %s: no enabled pool selects it for this host", cidr, host)
        except BlockNotEmpty:
            pass

    async def _fill_affine(self, owned: list[str], version: int, want: int, attr: Attribute, host: str,
                           pools: list[Pool]) -> list[IPInterface]:
        out: list[IPInterface] = []
        for cidr in sorted(owned, key=_cidr_sort_key):
            net = ipaddress.ip_network(cidr)
            pool = next((p for p in pools if net.subnet_of(p.cidr)), None)  # type: ignore[arg-type]
            if pool is None:
                continue
            self._blocks.pop(cidr, None)
            out += await self._assign_from_block(cidr, want - len(out), attr, host, pool, host)
            if len(out) >= want:
                break
        return out

    def _skip(self, env: Env, block: Block) -> object:
        if not env.reservations:
            return None
        return lambda o: reserved_by(env.reservations, block.ip(o)) is not None

    async def _assign_from_block(self, cidr: str, want: int, attr: Attribute, host: str, pool: Pool,
                                 affinity_host: str | None) -> list[IPInterface]:
        """Take up to ``want`` addresses from one existing block (affine check when given)."""
        for _ in range(MAX_ATTEMPTS):
            if want <= 0:
                return []
            cached = await self._block(cidr)
            if cached is None:
                return []
            block, rev = cached
            env = await self._env_for(host)
            skip = self._skip(env, block)
            try:
                new, ords = block.auto_assign(want, attr, host=affinity_host, skip=skip)  # type: ignore[arg-type]
            except AffinityMismatch:
                return []
            if not ords:
                return []
            deltas = {attr.handle_id: len(ords)} if attr.handle_id else {}
            if await self._commit(cidr, rev, new.bumped(), deltas, await self._guards(pool, host)):
                return [ipaddress.ip_interface(f"{block.ip(o)}/{block.cidr.prefixlen}") for o in ords]
        raise TooManyConflicts(f"too many conflicting writes on block {cidr}")

    async def _claim_and_assign(self, version: int, want: int, attr: Attribute, host: str,
                                pools: list[Pool], existing: dict[str, tuple[Block, int]]
                                ) -> list[IPInterface] | None:
        """Claim a free block for ``host`` and allocate from it, in one transaction.

        None when no pool has a block left to claim.
        """
        nets = [b.cidr for b, _ in existing.values()]
        env = await self._env_for(host)
        for pool in pools:
            for sub in pool_blocks(pool.cidr, pool.block_size, host):
                key = str(sub)
                if key in existing:
                    blk, _ = existing[key]
                    if blk.host == host and blk.free():  # ours already (claimed by another client)
                        got = await self._assign_from_block(key, want, attr, host, pool, host)
                        if got:
                            return got
                    continue
                if any(n.overlaps(sub) for n in nets):
                    continue
                if fully_reserved(env.reservations, sub):
                    continue
                block = Block.new(sub, HOST_AFFINITY_PREFIX + host, time.time_ns())
                new, ords = block.auto_assign(want, attr, host=host, skip=self._skip(env, block))  # type: ignore[arg-type]
                if not ords:
                    continue
                deltas = {attr.handle_id: len(ords)} if attr.handle_id else {}
                aff = Put(keys.affinity_key(host, key), AFFINITY_CONFIRMED)
                if await self._commit(key, 0, new.bumped(), deltas, await self._guards(pool, host), [aff]):
                    env.hosts[host].affinities[key] = self.last_revision
                    log.info("host %s claimed block %s from pool %s", host, key, pool.name)
                    return [ipaddress.ip_interface(f"{block.ip(o)}/{sub.prefixlen}") for o in ords]
                if key in self._blocks:  # someone else claimed it first: move on
                    nets.append(self._blocks[key][0].cidr)
        return None

    async def _borrow(self, version: int, want: int, attr: Attribute, host: str, pools: list[Pool],
                      existing: dict[str, tuple[Block, int]]) -> list[IPInterface]:
        out: list[IPInterface] = []
        for pool in pools:
            for sub in pool_blocks(pool.cidr, pool.block_size, host):
                entry = existing.get(str(sub))
                if entry is None or entry[0].host == host or not entry[0].free():
                    continue
                out += await self._assign_from_block(str(sub), want - len(out), attr, host, pool, None)
                if len(out) >= want:
                    return out
        return out

    # ================================================================== static addresses
    async def assign_ip(self, ip: str | IPAddress, handle: str | None, attrs: Mapping[str, str] | None,
                        host: str | None = None) -> IPInterface:
        """Assign exactly ``ip`` (a static address); its block is claimed for ``host`` if unclaimed."""
        host = host or os.uname().nodename
        addr = _parse_ip(ip)
        attr = Attribute(handle, dict(attrs or {}))
        for _ in range(MAX_ATTEMPTS):
            env = await self._env_for(host)
            pool = env.pool_containing(addr)
            if pool is None:
                raise AddressNotInPool(str(addr))
            if pool.disabled:
                raise AddressNotInPool(str(addr), f"pool {pool.name} is disabled")
            owner = reserved_by(env.reservations, addr)
            if owner is not None:
                raise AddressReserved(str(addr), owner)
            cidr = str(block_cidr_for(addr, pool.block_size))
            cached = await self._block(cidr)
            extra: list[Put | Delete] = []
            if cached is None:
                block, rev = Block.new(cidr, HOST_AFFINITY_PREFIX + host, time.time_ns()), 0
                extra.append(Put(keys.affinity_key(host, cidr), AFFINITY_CONFIRMED))
            else:
                block, rev = cached
                if env.config.strict_affinity and block.host != host:
                    raise StrictAffinityViolation(str(addr), cidr, block.host)
            try:
                new = block.assign(block.ordinal(addr), attr)
            except OrdinalInUse:
                owner_attr = block.attribute_of(block.ordinal(addr))
                raise AddressInUse(str(addr), owner_attr.handle_id if owner_attr else None) from None
            deltas = {handle: 1} if handle else {}
            try:
                guards = await self._guards(pool, host)
            except _EnvChanged:
                self._env = None
                continue
            if await self._commit(cidr, rev, new.bumped(), deltas, guards, extra):
                if extra:
                    env.hosts[host].affinities[cidr] = self.last_revision
                return ipaddress.ip_interface(f"{addr}/{addr.max_prefixlen}")
        raise TooManyConflicts(f"too many conflicting writes assigning {addr}")

    # ================================================================== release
    async def _block_for_ip(self, addr: IPAddress) -> str | None:
        env = self._env or await self._env_for(os.uname().nodename)
        pool = env.pool_containing(addr)
        if pool is not None:
            cidr = str(block_cidr_for(addr, pool.block_size))
            if await self._block(cidr) is not None:
                return cidr
        for cidr, (b, _) in (await self.list_blocks(addr.version)).items():
            if addr in b.cidr:
                return cidr
        return None

    async def release_ips(self, ips: Iterable[str | IPAddress], handle: str | None = None) -> list[str]:
        """Release addresses; returns those that were not assigned (harmless, just reported).

        With ``handle`` an address is only released if that handle owns it.
        """
        by_block: dict[str, list[IPAddress]] = {}
        unassigned: list[str] = []
        for ip in ips:
            addr = _parse_ip(ip)
            cidr = await self._block_for_ip(addr)
            if cidr is None:
                unassigned.append(str(addr))
            else:
                by_block.setdefault(cidr, []).append(addr)
        for cidr, addrs in by_block.items():
            unassigned += (await self._release_in_block(cidr, addrs, handle))[1]
        return unassigned

    async def _release_in_block(self, cidr: str, addrs: list[IPAddress] | None,
                                handle: str | None) -> tuple[list[str], list[str]]:
        """Free addresses of one block (``addrs`` None: every address of ``handle`` there).

        Returns (released, not assigned). Retries on conflict from the freshly read block.
        """
        for _ in range(MAX_ATTEMPTS):
            cached = await self._block(cidr)
            if cached is None:
                return [], [str(a) for a in addrs or []]
            block, rev = cached
            if addrs is None:
                assert handle is not None
                ordinals = block.ordinals_for_handle(handle)
            else:
                ordinals = [block.ordinal(a) for a in addrs]
            owners = {o: block.attribute_of(o) for o in ordinals}
            new, released, missing = block.release(ordinals, handle_id=handle)
            if not released:
                return [], [str(block.ip(o)) for o in missing]
            deltas: dict[str, int] = {}
            for o in released:
                a = owners[o]
                if a is not None and a.handle_id:
                    deltas[a.handle_id] = deltas.get(a.handle_id, 0) - 1
            await self._load_handles(deltas)
            final = None if new.is_empty() and new.affinity is None else new.bumped()
            if await self._commit(cidr, rev, final, deltas):
                return [str(block.ip(o)) for o in released], [str(block.ip(o)) for o in missing]
        raise TooManyConflicts(f"too many conflicting writes on block {cidr}")

    async def release_by_handle(self, handle: str) -> list[str]:
        """Release every address of ``handle``; returns them. HandleNotFound if there is no handle.

        Uses the cached handle record when there is one: each block write compares the handle's
        revision, so a stale record fails the write, is re-read, and its other blocks are visited.
        """
        await self._load_handles([handle])
        if self._handles[handle][0] is None:  # maybe created elsewhere since we cached it: look again
            self._handles.pop(handle, None)
            await self._load_handles([handle])
            if self._handles[handle][0] is None:
                raise HandleNotFound(handle)
        released: list[str] = []
        visited: set[str] = set()
        while True:
            record, hrev = self._handles.get(handle, (None, 0))
            todo = [c for c in (record.block if record else ()) if c not in visited]
            if not todo:
                break
            for cidr in todo:
                visited.add(cidr)
                released += (await self._release_in_block(cidr, None, handle))[0]
        if record is not None:  # counts left for blocks that no longer hold its addresses: drop them
            res = await self.store.txn([Cmp(keys.handle_key(handle), "==", hrev)], [Delete(keys.handle_key(handle))])
            if res.succeeded:
                self._handles[handle] = (None, 0)
        return released

    # ================================================================== queries
    async def get_assignment_attributes(self, ip: str | IPAddress) -> tuple[str | None, dict[str, str]]:
        """(handle id, attributes) of an assigned address; NotAssigned otherwise. Always reads afresh."""
        addr = _parse_ip(ip)
        cidr = await self._block_for_ip(addr)
        if cidr is None:
            raise NotAssigned(str(addr))
        self._blocks.pop(cidr, None)  # answer from the datastore, not the cache
        cached = await self._block(cidr)
        if cached is None:
            raise NotAssigned(str(addr))
        attr = cached[0].attribute_of(cached[0].ordinal(addr))
        if attr is None:
            raise NotAssigned(str(addr))
        return attr.handle_id, dict(attr.secondary)

    async def ips_by_handle(self, handle: str) -> list[str]:
        kv = await self._read_one(keys.handle_key(handle))
        if kv is None:
            raise HandleNotFound(handle)
        out: list[str] = []
        for cidr in Handle.from_json(handle, kv[0]).block:
            self._blocks.pop(cidr, None)
            cached = await self._block(cidr)
            if cached:
                out += [str(cached[0].ip(o)) for o in cached[0].ordinals_for_handle(handle)]
        return out

    # ================================================================== affinities
    async def claim_affinity(self, cidr: str, host: str) -> tuple[list[str], list[str]]:
        """Claim every block of ``cidr`` (inside an enabled pool) for ``host``: (claimed, failed)."""
        net = ipaddress.ip_network(cidr, strict=False)
        env = await self._env_for(host)
        pool = next((p for p in env.pools.values() if p.version == net.version
                     and net.subnet_of(p.cidr) and not p.disabled), None)  # type: ignore[arg-type]
        if pool is None:
            raise AddressNotInPool(str(net))
        subs: Iterable[IPNetwork] = (net.subnets(new_prefix=pool.block_size) if net.prefixlen <= pool.block_size
                                     else [block_cidr_for(net.network_address, pool.block_size)])
        claimed: list[str] = []
        failed: list[str] = []
        for sub in subs:
            key = str(sub)
            self._blocks.pop(key, None)
            cached = await self._block(key)
            if cached is not None:
                (claimed if cached[0].host == host else failed).append(key)
                continue
            block = Block.new(sub, HOST_AFFINITY_PREFIX + host, time.time_ns())
            aff = Put(keys.affinity_key(host, key), AFFINITY_CONFIRMED)
            if await self._commit(key, 0, block, {}, env.guards(pool, host), [aff]):
                claimed.append(key)
            else:
                failed.append(key)
        return claimed, failed

    async def release_affinity(self, cidr: str, host: str, require_empty: bool = False) -> None:
        """Drop ``host``'s affinity for block ``cidr``: an empty block is deleted, a used one orphaned."""
        akey = keys.affinity_key(host, cidr)
        for _ in range(MAX_ATTEMPTS):
            self._blocks.pop(cidr, None)
            cached = await self._block(cidr)
            if cached is None or cached[0].host != host:
                await self.store.txn((), [Delete(akey)])  # stale affinity: the block is not ours
                self._forget_affinity(host, cidr)
                return
            block, rev = cached
            if not block.is_empty() and require_empty:
                raise BlockNotEmpty(cidr)
            new = None if block.is_empty() else block.with_affinity(None).bumped()
            if await self._commit(cidr, rev, new, {}, (), [Delete(akey)]):
                self._forget_affinity(host, cidr)
                log.info("released affinity of host %s for block %s", host, cidr)
                return
        raise TooManyConflicts(f"too many conflicting writes releasing block {cidr}")

    def _forget_affinity(self, host: str, cidr: str) -> None:
        if self._env is not None and host in self._env.hosts:
            self._env.hosts[host].affinities.pop(cidr, None)

    async def release_host_affinities(self, host: str, require_empty: bool = False) -> list[str]:
        """Release every block affinity of ``host`` (node removal); returns the blocks released."""
        await self._refresh_affinities(host)
        env = await self._env_for(host)
        done = []
        for cidr in sorted(env.hosts[host].affinities):
            await self.release_affinity(cidr, host, require_empty)
            done.append(cidr)
        return done

    async def release_pool_affinities(self, pool_cidr: str) -> int:
        """Release all affinities of blocks inside a pool (pool deletion); returns how many."""
        net = ipaddress.ip_network(pool_cidr, strict=False)
        prefix = keys.affinity_prefix()
        res = await self.store.read([Get(prefix, prefix_end(prefix))])
        n = 0
        for kv in res.reads[0]:
            parsed = keys.parse_affinity_key(kv.key)
            if parsed and ipaddress.ip_network(parsed[1]).subnet_of(net):  # type: ignore[arg-type]
                await self.release_affinity(parsed[1], parsed[0])
                n += 1
        return n

    # ================================================================== configuration
    async def get_config(self) -> IPAMConfig:
        kv = await self._read_one(keys.IPAM_CONFIG_KEY)
        return IPAMConfig.from_json(kv[0] if kv else None)

    async def set_config(self, config: IPAMConfig) -> None:
        await self.ds.put(keys.IPAM_CONFIG_KEY, config.to_json())
        self._env = None


@functools.lru_cache(maxsize=65536)
def _net(cidr: str) -> IPNetwork:
    """Parsed block CIDRs (parsing dominates the CPU cost of a warm allocation otherwise)."""
    return ipaddress.ip_network(cidr)


@functools.lru_cache(maxsize=65536)
def _subnet_of(cidr: str, pool: IPNetwork) -> bool:
    net = _net(cidr)
    return net.version == pool.version and net.subnet_of(pool)  # type: ignore[arg-type]


def _cidr_sort_key(cidr: str) -> tuple[int, int]:
    net = _net(cidr)
    return net.version, int(net.network_address)

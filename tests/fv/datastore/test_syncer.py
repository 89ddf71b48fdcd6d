"""The Syncer against a real etcd: initial sync, live updates, compaction and connection loss."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import pytest

from calico.datastore.config import DatastoreConfig
from calico.datastore.etcd import EtcdDatastore
from calico.datastore.syncer import Syncer, SyncItem, SyncStatus, Update
from tests.fv.datastore.proxy import TcpProxy
from tests.support.etcd import EtcdServer

pytestmark = pytest.mark.needs_etcd

RES = "/calico/resources/v3/projectcalico.org/"
IPAM = "/calico/ipam/v2/"


class Consumer:
    """Pulls items from a syncer on demand and keeps the picture a real consumer would build."""

    def __init__(self, syncer: Syncer) -> None:
        self.it: AsyncIterator[SyncItem] = syncer.__aiter__()
        self.state: dict[str, str] = {}
        self.statuses: list[SyncStatus] = []
        self.updates: list[Update] = []

    async def pull(self) -> SyncItem:
        item = await asyncio.wait_for(anext(self.it), 20)
        if isinstance(item, SyncStatus):
            self.statuses.append(item)
        else:
            self.updates.append(item)
            if item.value is None:
                self.state.pop(item.key, None)
            else:
                self.state[item.key] = item.value
        return item

    async def until(self, cond: Callable[[], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline, f"timed out; statuses={self.statuses} state={self.state}"
            await self.pull()

    async def until_in_sync(self) -> None:
        await self.pull()
        await self.until(lambda: self.statuses[-1] is SyncStatus.IN_SYNC)

    async def close(self) -> None:
        await self.it.aclose()  # type: ignore[attr-defined]


async def fresh_state(ds: EtcdDatastore, prefixes: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in prefixes:
        kvs, _ = await ds.list(p)
        out.update((kv.key, kv.value) for kv in kvs)
    return out


def test_initial_sync_and_live_updates_across_prefixes(etcd: EtcdServer) -> None:
    etcd.etcdctl("put", RES + "ippools/p1", "pool")
    etcd.etcdctl("put", IPAM + "assignment/ipv4/block/10.0.0.0-26", "block")
    etcd.etcdctl("put", "/calico/felix/v2/outside", "not watched")
    prefixes = [RES, IPAM]

    async def main() -> None:
        async with EtcdDatastore(DatastoreConfig(endpoints=[etcd.url])) as ds:
            c = Consumer(Syncer(ds, prefixes))
            await c.until_in_sync()
            assert c.statuses == [SyncStatus.WAIT_FOR_DATASTORE, SyncStatus.RESYNC, SyncStatus.IN_SYNC]
            assert c.state == {RES + "ippools/p1": "pool", IPAM + "assignment/ipv4/block/10.0.0.0-26": "block"}

            await ds.put(RES + "ippools/p2", "pool2")
            await ds.put("/calico/felix/v2/outside", "still not watched")
            await ds.delete(IPAM + "assignment/ipv4/block/10.0.0.0-26")
            await ds.put(IPAM + "handle/h1", "handle")
            expected = await fresh_state(ds, prefixes)
            # each prefix has its own watch: order holds within a prefix, not across prefixes
            await c.until(lambda: c.state == expected)
            assert c.statuses[-1] is SyncStatus.IN_SYNC
            deletes = [u for u in c.updates if u.value is None]
            assert [d.key for d in deletes] == [IPAM + "assignment/ipv4/block/10.0.0.0-26"]
            await c.close()

    asyncio.run(main())


def test_compaction_forces_resync_to_exact_state(etcd: EtcdServer) -> None:
    prefixes = [RES]
    for i in range(10):
        etcd.etcdctl("put", RES + f"networksets/ns/k{i}", f"v{i}")

    async def main() -> None:
        async with EtcdDatastore(DatastoreConfig(endpoints=[etcd.url])) as ds:
            syncer = Syncer(ds, prefixes)
            c = Consumer(syncer)
            await c.until_in_sync()
            sent_before = len(c.updates)
            # The consumer stops pulling: the syncer has not opened its watch yet.
            for i in (1, 2, 3):
                await ds.put(RES + f"networksets/ns/k{i}", f"changed{i}")
            for i in (4, 5, 6):
                await ds.delete(RES + f"networksets/ns/k{i}")
            for i in (1, 2):
                await ds.create(RES + f"networksets/ns/new{i}", f"new{i}")
            await ds.put(RES + "networksets/ns/transient", "x")
            await ds.delete(RES + "networksets/ns/transient")
            rev = await ds.revision()
            etcd.etcdctl("compact", str(rev))

            await c.until(lambda: c.statuses.count(SyncStatus.IN_SYNC) == 2)
            assert SyncStatus.RESYNC in c.statuses[3:]
            assert syncer.resyncs == 1
            assert c.state == await fresh_state(ds, prefixes)
            resent = {u.key: u.value for u in c.updates[sent_before:]}
            assert resent == {
                RES + "networksets/ns/k1": "changed1", RES + "networksets/ns/k2": "changed2",
                RES + "networksets/ns/k3": "changed3",
                RES + "networksets/ns/k4": None, RES + "networksets/ns/k5": None, RES + "networksets/ns/k6": None,
                RES + "networksets/ns/new1": "new1", RES + "networksets/ns/new2": "new2",
            }
            # and it watches again afterwards
            last = await ds.put(RES + "networksets/ns/after", "a")
            await c.until(lambda: bool(c.updates) and c.updates[-1].revision == last)
            await c.close()

    asyncio.run(main())


def test_waits_for_datastore_and_resyncs_after_connection_loss(
    etcd: EtcdServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="calico.datastore.syncer")
    prefixes = [RES]
    etcd.etcdctl("put", RES + "tiers/t0", "t0")

    async def main() -> None:
        proxy = TcpProxy("127.0.0.1", etcd.port)
        await proxy.start()
        await proxy.cut()  # the datastore is unreachable when the agent starts
        direct = EtcdDatastore(DatastoreConfig(endpoints=[etcd.url]))
        via_proxy = EtcdDatastore(DatastoreConfig(endpoints=[proxy.url], timeout=1.0))
        try:
            c = Consumer(Syncer(via_proxy, prefixes, max_backoff=0.3))
            await c.pull()
            assert c.statuses == [SyncStatus.WAIT_FOR_DATASTORE]
            pull = asyncio.create_task(c.pull())
            await asyncio.sleep(1.5)  # let it fail and back off for a while
            assert not pull.done()
            await proxy.start()
            await pull
            await c.until(lambda: c.statuses[-1] is SyncStatus.IN_SYNC)
            assert c.state == {RES + "tiers/t0": "t0"}

            rev = await direct.put(RES + "tiers/t1", "t1")
            await c.until(lambda: bool(c.updates) and c.updates[-1].revision == rev)

            await proxy.cut()  # lose the watch
            await c.until(lambda: c.statuses[-1] is SyncStatus.RESYNC)
            await direct.delete(RES + "tiers/t0")
            await direct.put(RES + "tiers/t2", "t2")
            await proxy.start()
            await c.until(lambda: c.statuses[-1] is SyncStatus.IN_SYNC)
            assert c.state == await fresh_state(direct, prefixes)
            await c.close()
        finally:
            await proxy.cut()
            await direct.close()
            await via_proxy.close()

    asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records]
    assert any("datastore unavailable during list" in m and "retrying in" in m for m in messages)
    assert any("datastore unavailable during watch" in m for m in messages)


def test_syncer_fails_over_to_the_next_endpoint(etcd: EtcdServer) -> None:
    prefixes = [RES]

    async def main() -> None:
        proxy = await TcpProxy("127.0.0.1", etcd.port).start()
        ds = EtcdDatastore(DatastoreConfig(endpoints=[proxy.url, etcd.unix_url]))
        try:
            c = Consumer(Syncer(ds, prefixes, max_backoff=0.3))
            await c.until_in_sync()
            first = await ds.put(RES + "tiers/before", "x")
            await c.until(lambda: bool(c.updates) and c.updates[-1].revision == first)  # watch is open
            assert ds.endpoint == proxy.url
            await proxy.cut()  # the first endpoint dies while in use
            t0 = time.monotonic()
            rev = await ds.put(RES + "tiers/fo", "x")
            assert time.monotonic() - t0 < 2
            assert ds.endpoint == etcd.unix_url
            await c.until(lambda: c.updates[-1].revision == rev and c.statuses[-1] is SyncStatus.IN_SYNC)
            assert SyncStatus.RESYNC in c.statuses[3:]
            assert c.state == await fresh_state(ds, prefixes)
            await c.close()
        finally:
            await proxy.cut()
            await ds.close()

    asyncio.run(main())

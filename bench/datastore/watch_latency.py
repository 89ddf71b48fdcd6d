"""Watch benchmark: put -> event delivery through calico's Syncer vs a raw aetcd watch, same run.

Starts its own etcd (temp dir, loopback), then per round and per consumer:
  * ping-pong latency: put one key, wait until the consumer has it, repeat ``--count`` times;
  * burst: ``--burst`` puts issued 100 at a time, time until the consumer has seen the last one.
The two consumers alternate round by round so both see the same machine conditions. Prints p50/p99
latencies, burst events/s and the Syncer/raw ratios, then stops etcd. Bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.etcd import EtcdServer

from calico.datastore.config import DatastoreConfig
from calico.datastore.etcd import EtcdDatastore
from calico.datastore.syncer import Syncer, SyncStatus, Update

PREFIX = "/calico/resources/v3/projectcalico.org/networksets/bench/"
TIME_LIMIT = 120.0  # seconds for the whole run; every wait below is bounded by it


class Arrivals:
    """Keys a consumer has received, and a way to wait for one."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}

    def got(self, key: str) -> None:
        now = time.perf_counter()
        self.seen[key] = now
        fut = self._waiters.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(now)

    async def wait(self, key: str) -> float:
        if key in self.seen:
            return self.seen[key]
        fut = asyncio.get_running_loop().create_future()
        self._waiters[key] = fut
        return await asyncio.wait_for(fut, 30)


Consumer = Callable[[Arrivals, asyncio.Event], Awaitable[None]]


def raw_aetcd(url: str) -> Consumer:
    async def run(arrivals: Arrivals, ready: asyncio.Event) -> None:
        import aetcd

        host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
        async with aetcd.Client(host=host, port=int(port)) as client:
            watch = await client.watch_prefix(PREFIX.encode())
            ready.set()
            async for event in watch:
                arrivals.got(event.kv.key.decode())

    return run


def syncer(url: str) -> Consumer:
    async def run(arrivals: Arrivals, ready: asyncio.Event) -> None:
        async with EtcdDatastore(DatastoreConfig(endpoints=[url])) as ds:
            async for batch in Syncer(ds, [PREFIX]).batches():
                for item in batch:
                    if isinstance(item, Update):
                        arrivals.got(item.key)
                    elif item is SyncStatus.IN_SYNC:
                        ready.set()

    return run


async def measure(writer: EtcdDatastore, consumer: Consumer, tag: str, count: int, burst: int) -> tuple[
        list[float], float]:
    arrivals = Arrivals()
    ready = asyncio.Event()
    task = asyncio.create_task(consumer(arrivals, ready))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        await asyncio.sleep(0.05)  # the watch is registered once the consumer reports ready
        latencies: list[float] = []
        for i in range(count):
            key = f"{PREFIX}{tag}-pp-{i}"
            t0 = time.perf_counter()
            await writer.put(key, "x")
            latencies.append((await arrivals.wait(key)) - t0)
        t0 = time.perf_counter()
        keys = [f"{PREFIX}{tag}-b-{i}" for i in range(burst)]
        for start in range(0, burst, 100):
            await asyncio.gather(*(writer.put(k, "y") for k in keys[start:start + 100]))
        await asyncio.gather(*(arrivals.wait(k) for k in keys))
        burst_s = max(arrivals.seen[k] for k in keys) - t0
        return latencies, burst / burst_s
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        await writer.delete_prefix(PREFIX)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench(server: EtcdServer, rounds: int, count: int, burst: int) -> None:
    consumers = {"raw aetcd watch": raw_aetcd(server.url), "calico Syncer": syncer(server.url)}
    lat: dict[str, list[float]] = {name: [] for name in consumers}
    rate: dict[str, list[float]] = {name: [] for name in consumers}
    deadline = time.monotonic() + TIME_LIMIT
    async with EtcdDatastore(DatastoreConfig(endpoints=[server.url])) as writer:
        for r in range(rounds):
            order = list(consumers) if r % 2 == 0 else list(reversed(consumers))
            for name in order:
                if time.monotonic() > deadline:
                    break
                tag = f"r{r}-{'raw' if 'raw' in name else 'syn'}"
                values, per_s = await measure(writer, consumers[name], tag, count, burst)
                lat[name].extend(values)
                rate[name].append(per_s)
    print(f"watch delivery: {rounds} rounds x {count} ping-pong puts + {burst}-put burst per consumer")
    print(f"{'consumer':<18} {'p50 ms':>8} {'p99 ms':>8} {'burst ev/s':>11}")
    for name in consumers:
        print(f"{name:<18} {pct(lat[name], 0.5) * 1e3:>8.3f} {pct(lat[name], 0.99) * 1e3:>8.3f} "
              f"{statistics.median(rate[name]):>11.0f}")
    raw, syn = "raw aetcd watch", "calico Syncer"
    print(f"ratio Syncer/raw: p50 {pct(lat[syn], 0.5) / pct(lat[raw], 0.5):.2f}x, "
          f"p99 {pct(lat[syn], 0.99) / pct(lat[raw], 0.99):.2f}x, "
          f"burst throughput {statistics.median(rate[syn]) / statistics.median(rate[raw]):.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--count", type=int, default=300, help="ping-pong puts per consumer per round")
    ap.add_argument("--burst", type=int, default=2000, help="burst puts per consumer per round")
    args = ap.parse_args()
    server = EtcdServer().start()
    try:
        asyncio.run(bench(server, max(1, args.rounds), max(1, min(args.count, 5000)),
                          max(100, min(args.burst, 20000))))
    finally:
        server.remove()


if __name__ == "__main__":
    main()

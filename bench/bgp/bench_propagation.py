"""Route propagation: a new block on host A -> the route in host B's kernel, beside BIRD's own time.

    .venv/bin/python bench/bgp/bench_propagation.py [--runs 20] [--sizes 3,10]

For each mesh size it builds host namespaces on one bridge, each running calico-node (real BIRD,
Felix disabled) against a private etcd, then measures side by side, ``--runs`` times each:

  * calico: t0 just before IPAM ``assign_ip`` of an address in a fresh /26 for host A (the
    workload needs a new block) -> the block's route appears in host B's kernel (``ip monitor
    route`` in B's namespace, timestamped on arrival). Covers IPAM writes, the etcd watch, the
    agent's compute/render, ``bird -p`` check, atomic write, ``configure``, BGP, B's kernel.
  * bird: t0 just before ``ip route add blackhole <fresh /26>`` in host A's kernel -> the route in
    host B's kernel (BIRD learns it over netlink and exports it: BIRD's own propagation time).

Prints p50/p99 of both and their ratio/difference. Everything is bounded (runs, timeouts) and
every namespace and process is removed at the end, even on failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fv.bgp.support import Bridge, CalicoHost  # noqa: E402
from tests.support.etcd import EtcdServer  # noqa: E402
from tests.support.netns import Netns  # noqa: E402

POOL = {"cidr": "172.16.0.0/12", "blockSize": 26, "ipipMode": "Never", "vxlanMode": "Never",
        "nodeSelector": "all()"}
TIMEOUT = 10.0


class RouteMonitor:
    """``ip monitor route`` in a namespace; lines timestamped with time.monotonic() on arrival."""

    def __init__(self, ns: Netns) -> None:
        self.proc = subprocess.Popen(ns.popen_argv(["ip", "monitor", "route"]), stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line))

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()

    def wait_for(self, prefix: str, timeout: float = TIMEOUT) -> float:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{prefix} did not reach the kernel within {timeout}s")
            try:
                stamp, line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line.split(" ")[0:1] != ["Deleted"] and prefix in line:
                return stamp

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=5)


async def _put_pool(url: str) -> None:
    from calico.datastore.config import connect, load_config
    from calico.datastore.keys import resource_key

    ds = await connect(load_config(env={"ETCD_ENDPOINTS": url}))
    doc = {"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
           "metadata": {"name": "bench", "uid": str(uuid.uuid4()), "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": POOL}
    await ds.put(resource_key("IPPool", "bench"), json.dumps(doc))
    await ds.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[idx]


def measure(size: int, runs: int, etcd: EtcdServer, base: Path) -> dict[str, list[float]]:
    from calico.datastore.config import connect, load_config
    from calico.ipam.allocator import IPAMClient

    etcd.wipe()
    asyncio.run(_put_pool(etcd.url))
    namespaces: list[Netns] = []
    hosts: list[CalicoHost] = []
    monitor: RouteMonitor | None = None
    work = base / f"mesh{size}"
    work.mkdir()
    try:
        fab_ns = Netns(f"bfab{size}")
        namespaces.append(fab_ns)
        fabric = Bridge(fab_ns)
        for i in range(size):
            ns = Netns(f"b{size}h{i}")
            namespaces.append(ns)
            ip = f"10.10.0.{10 + i}/24"
            fabric.plug(ns, ip)
            hosts.append(CalicoHost(ns, f"bench{i}", ip, etcd.unix_url, work))
        for h in hosts:
            h.start()
        for h in hosts:
            h.wait_started(timeout=60)
        a, b = hosts[0], hosts[-1]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b.birdc("show protocols").count("Established") == size - 1:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"mesh of {size} did not establish")
        monitor = RouteMonitor(b.ns)
        results: dict[str, list[float]] = {"calico": [], "bird": [], "ipam": []}

        async def calico_runs() -> None:
            ds = await connect(load_config(env={"ETCD_ENDPOINTS": etcd.url}))
            client = IPAMClient(ds)
            try:
                for run in range(runs):
                    prefix = f"172.16.{run}.0/26"
                    assert monitor is not None
                    monitor.drain()
                    t0 = time.monotonic()
                    await client.assign_ip(f"172.16.{run}.1", f"bench-{run}", {"node": a.name}, a.name)
                    t_ipam = time.monotonic()
                    stamp = await asyncio.to_thread(monitor.wait_for, prefix)
                    results["calico"].append((stamp - t0) * 1000)
                    results["ipam"].append((t_ipam - t0) * 1000)
            finally:
                await ds.close()

        asyncio.run(calico_runs())
        for run in range(runs):
            prefix = f"172.17.{run}.0/26"
            monitor.drain()
            t0 = time.monotonic()
            a.ns.run("ip", "route", "add", "blackhole", prefix)
            stamp = monitor.wait_for(prefix)
            results["bird"].append((stamp - t0) * 1000)
        return results
    finally:
        if monitor is not None:
            monitor.stop()
        for h in hosts:
            h.stop()
        for ns in reversed(namespaces):
            ns.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--sizes", default="3,10")
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("bird") is None:
        sys.exit("needs root and BIRD 2")
    runs = max(1, min(args.runs, 200))
    base = Path(__import__("tempfile").mkdtemp(prefix="calico-bench-bgp-"))
    etcd = EtcdServer().start()
    rows = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            res = measure(size, runs, etcd, base)
            c50, c99 = pct(res["calico"], 0.5), pct(res["calico"], 0.99)
            b50, b99 = pct(res["bird"], 0.5), pct(res["bird"], 0.99)
            rows.append((size, c50, c99, b50, b99, statistics.median(res["ipam"])))
    finally:
        etcd.remove()
        shutil.rmtree(base, ignore_errors=True)
    print(f"runs per cell: {runs}; times in ms (time.monotonic, route seen by `ip monitor route` on host B)")
    print(f"{'hosts':>5} | {'calico p50':>10} | {'calico p99':>10} | {'BIRD p50':>8} | {'BIRD p99':>8} | "
          f"{'ratio p50':>9} | {'diff p50':>8} | {'IPAM part p50':>13}")
    for size, c50, c99, b50, b99, ipam in rows:
        print(f"{size:>5} | {c50:>10.1f} | {c99:>10.1f} | {b50:>8.1f} | {b99:>8.1f} | {c50 / b50:>9.1f} | "
              f"{c50 - b50:>8.1f} | {ipam:>13.1f}")


if __name__ == "__main__":
    main()

"""IPAM allocation rate beside the raw etcd transaction rate, measured side by side in one run.

    .venv/bin/python bench/ipam/bench_ipam.py [--count N]

Starts a private etcd, then measures, for 1 client and for 4 concurrent client processes:
  * raw: one compare-and-swap etcd transaction per operation (EtcdDatastore.update), the floor
    any allocator built on etcd transactions pays;
  * ipam: IPAMClient.auto_assign(1 IPv4) per operation, each process posing as its own host.
Prints ops/s, the ratio ipam/raw, and etcd round trips per allocation in the common case
(an affine block with room, pools already read).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

POOL_KEY = "/calico/resources/v3/projectcalico.org/ippools/bench"
POOL = {"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "bench"},
        "spec": {"cidr": "10.128.0.0/12", "blockSize": 26, "nodeSelector": "all()",
                 "ipipMode": "Never", "vxlanMode": "Never"}}


async def worker(mode: str, host: str, count: int) -> dict[str, float]:
    from calico.datastore.config import connect, load_config
    from calico.ipam.allocator import IPAMClient

    ds = await connect(load_config())
    try:
        if mode == "raw":
            key = f"/calico/bench/raw/{host}"
            rev = await ds.put(key, "0")
            start = time.perf_counter()
            for i in range(count):
                rev = await ds.update(key, str(i), rev)
            return {"secs": time.perf_counter() - start, "trips": float(count)}
        client = IPAMClient(ds)
        await client.auto_assign(1, 0, f"bench.{host}.warm", {"node": host}, host)  # read pools, claim a block
        client.store.round_trips = 0
        common_trips, common = 0, 0
        start = time.perf_counter()
        for i in range(count):
            before = client.store.round_trips
            await client.auto_assign(1, 0, f"bench.{host}.{i}", {"node": host}, host)
            if (i + 1) % 64:  # not the allocation that has to claim a new /26 block
                common_trips += client.store.round_trips - before
                common += 1
        secs = time.perf_counter() - start
        cold_alloc = cold_release = 0
        for i in range(20):  # a fresh client per call, like one CNI plugin process per ADD / DEL
            cold = IPAMClient(ds)
            await cold.auto_assign(1, 0, f"bench.{host}.cold{i}", {"node": host}, host)
            cold_alloc += cold.store.round_trips
            cold = IPAMClient(ds)
            await cold.release_by_handle(f"bench.{host}.cold{i}")
            cold_release += cold.store.round_trips
        return {"secs": secs, "trips": client.store.round_trips / count,
                "common_trips": common_trips / max(common, 1), "conflicts": float(client.conflicts),
                "cold_alloc": cold_alloc / 20, "cold_release": cold_release / 20}
    finally:
        await ds.close()


def run_procs(mode: str, n: int, count: int, env: dict[str, str]) -> tuple[float, list[dict[str, float]]]:
    """n processes at once; returns total ops/s (wall clock over all) and each process's numbers."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, __file__, "--worker", mode, f"{mode}-{n}-host-{i}", str(count)],
                              env=env, stdout=subprocess.PIPE, text=True) for i in range(n)]
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        if p.returncode != 0:
            raise SystemExit(f"worker failed ({p.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - start
    busiest = max(r["secs"] for r in results)
    return n * count / min(wall, busiest) if busiest else 0.0, results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--worker", nargs=3, metavar=("MODE", "HOST", "COUNT"))
    args = ap.parse_args()
    if args.worker:
        mode, host, count = args.worker
        print(json.dumps(asyncio.run(worker(mode, host, int(count)))))
        return

    from tests.support.etcd import EtcdServer

    server = EtcdServer().start()
    try:
        env = {**os.environ, "ETCD_ENDPOINTS": server.url, "PYTHONPATH": str(ROOT)}
        server.etcdctl("put", POOL_KEY, json.dumps(POOL))
        # Lift the default cap of 20 blocks per host so a long run measures allocation, not the cap.
        server.etcdctl("put", "/calico/ipam/v2/config", '{"auto_allocate_blocks":true,"maxBlocksPerHost":1000}')
        rows = []
        for n in (1, 4):
            raw, _ = run_procs("raw", n, args.count, env)
            ipam, res = run_procs("ipam", n, args.count, env)
            rows.append((n, raw, ipam, res))
        print(f"etcd {subprocess.run(['etcd', '--version'], capture_output=True, text=True).stdout.split()[2]}, "
              f"{os.cpu_count()} CPUs, {args.count} operations per client")
        print(f"{'clients':>8} {'raw txn/s':>10} {'allocs/s':>9} {'ratio':>6} {'trips/alloc':>12} "
              f"{'common case':>12} {'conflicts':>9} {'cold alloc':>10} {'cold release':>12}")
        for n, raw, ipam, res in rows:
            trips = sum(r["trips"] for r in res) / len(res)
            common = sum(r["common_trips"] for r in res) / len(res)
            conflicts = int(sum(r["conflicts"] for r in res))
            cold_a = sum(r["cold_alloc"] for r in res) / len(res)
            cold_r = sum(r["cold_release"] for r in res) / len(res)
            print(f"{n:>8} {raw:>10.0f} {ipam:>9.0f} {ipam / raw:>6.2f} {trips:>12.3f} {common:>12.3f} "
                  f"{conflicts:>9} {cold_a:>10.2f} {cold_r:>12.2f}")
    finally:
        server.remove()


if __name__ == "__main__":
    main()

"""One simulated host for the concurrency test: allocate and release, print every event.

Usage: python -m tests.fv.ipam.ipam_worker HOST COUNT WINDOW SEED
Prints one JSON line per event: {"op": "a"|"r", "ip": ..., "handle": ..., "rev": etcd revision}.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys

from calico.datastore.config import connect, load_config
from calico.ipam.allocator import IPAMClient


async def main(host: str, count: int, window: int, seed: int) -> None:
    rng = random.Random(seed)
    ds = await connect(load_config())
    client = IPAMClient(ds)
    live: list[tuple[str, str]] = []
    out = sys.stdout
    try:
        for i in range(count):
            handle = f"test-net.{host}-{i}"
            res = await client.auto_assign(1, 0, handle, {"node": host, "namespace": "load", "pod": f"p{i}"}, host)
            ip = res.addresses[0]
            out.write(json.dumps({"op": "a", "ip": ip, "handle": handle, "rev": client.last_revision}) + "\n")
            live.append((ip, handle))
            if len(live) > window:
                ip, handle = live.pop(rng.randrange(len(live)))
                released = await client.release_by_handle(handle)
                assert released == [ip], (released, ip)
                out.write(json.dumps({"op": "r", "ip": ip, "handle": handle, "rev": client.last_revision}) + "\n")
        for ip, handle in live:
            released = await client.release_by_handle(handle)
            assert released == [ip], (released, ip)
            out.write(json.dumps({"op": "r", "ip": ip, "handle": handle, "rev": client.last_revision}) + "\n")
        out.write(json.dumps({"op": "done", "round_trips": client.store.round_trips,
                              "conflicts": client.conflicts}) + "\n")
    finally:
        await ds.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))

"""Interface monitor sees workload interfaces appear, change state and disappear."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from calico.linux.ifacemon import AddrEvent, IfaceEvent, IfaceMonitor, InSync, LinkEvent
from tests.support.netns import Netns, veth


async def _next(q: asyncio.Queue[IfaceEvent], pred: Callable[[IfaceEvent], bool], timeout: float = 5) -> IfaceEvent:
    async def loop() -> IfaceEvent:
        while True:
            ev = await q.get()
            if pred(ev):
                return ev
    return await asyncio.wait_for(loop(), timeout)


def test_veth_appears_goes_up_gets_address_and_disappears(netns_factory: Callable[[str], Netns]) -> None:
    host, wl = netns_factory("mhost"), netns_factory("mwl")
    veth(host, "caliearly", wl, "eth0")  # exists before the monitor starts
    host.run("ip", "link", "add", "eth9", "type", "veth", "peer", "name", "eth10")  # not a workload iface

    async def scenario() -> None:
        q: asyncio.Queue[IfaceEvent] = asyncio.Queue()
        mon = IfaceMonitor(host.name, prefixes=("cali",), resync_interval=0.5)
        task = asyncio.create_task(mon.run(q.put_nowait))
        try:
            first = await _next(q, lambda e: isinstance(e, LinkEvent))
            assert first == LinkEvent("caliearly", first.index, True, True)  # type: ignore[union-attr]
            await _next(q, lambda e: isinstance(e, InSync))
            await asyncio.to_thread(veth, host, "calilate", wl, "eth1")
            up = await _next(q, lambda e: isinstance(e, LinkEvent) and e.name == "calilate" and e.up)
            await asyncio.to_thread(host.run, "ip", "addr", "add", "10.9.9.9/32", "dev", "calilate")
            addr = await _next(q, lambda e: isinstance(e, AddrEvent) and e.name == "calilate")
            assert isinstance(addr, AddrEvent) and "10.9.9.9" in addr.addrs
            await asyncio.to_thread(wl.run, "ip", "link", "set", "eth1", "down")
            await _next(q, lambda e: isinstance(e, LinkEvent) and e.name == "calilate" and not e.up)
            await asyncio.to_thread(host.run, "ip", "link", "del", "calilate")
            gone = await _next(q, lambda e: isinstance(e, LinkEvent) and e.name == "calilate" and not e.present)
            assert isinstance(up, LinkEvent) and isinstance(gone, LinkEvent) and gone.index == up.index
            # A periodic re-dump emits nothing new for unchanged interfaces.
            await asyncio.sleep(0.7)
            rest = [q.get_nowait() for _ in range(q.qsize())]
            assert not [e for e in rest if isinstance(e, LinkEvent) and e.name != "calilate"]
            assert not [e for e in rest if isinstance(e, LinkEvent) and e.name.startswith("eth")]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())

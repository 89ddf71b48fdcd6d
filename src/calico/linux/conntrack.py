"""Delete conntrack flows of an IP that left this host or moved interface (felix.md §1.4).

Stale flows would otherwise keep matching ESTABLISHED rules for a workload that no longer owns
the address. ``conntrack -D`` exits 1 when nothing matched, which is not an error here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

from calico.linux import cmd

log = logging.getLogger(__name__)

_DIRECTIONS = ("--orig-src", "--orig-dst", "--reply-src", "--reply-dst")


class ConntrackError(Exception):
    pass


class Conntrack:
    def __init__(self, netns: str | None = None, retries: int = 3) -> None:
        self.netns = netns
        self.retries = retries
        self.deletions = 0
        self.errors = 0

    def remove_flows_for_ip(self, ip: str) -> None:
        """Delete every flow with ``ip`` as original or reply source or destination."""
        addr = ipaddress.ip_address(ip)
        family = "ipv4" if addr.version == 4 else "ipv6"
        for direction in _DIRECTIONS:
            argv = ["conntrack", "-D", "-f", family, direction, str(addr)]
            for attempt in range(1, self.retries + 1):
                res = cmd.run(argv, netns=self.netns, check=False)
                if res.returncode == 0 or "flow entries have been deleted" in res.stderr:
                    self.deletions += 1
                    break
                if attempt == self.retries:
                    self.errors += 1
                    raise ConntrackError(f"conntrack {direction} {addr} failed: {res.stderr.strip()}")
        log.info("Removed conntrack flows for %s", addr)

    async def remove_flows_for_ip_async(self, ip: str) -> None:
        await asyncio.to_thread(self.remove_flows_for_ip, ip)

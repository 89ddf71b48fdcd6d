"""IPIP: the ``tunl0`` device (felix.md §4.6), with a clear error where the kernel has no ipip.

``tunl0`` appears when the ipip module loads; Felix then sets its MTU and tunnel address and brings
it up. On kernels built without IPIP (this project's CI machine) creating the device fails with
EOPNOTSUPP; :func:`ipip_support` reports that as a reason string and :meth:`IPIPDevice.ensure`
raises :class:`IPIPUnsupportedError`, so the daemon can log it and keep running without IPIP.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger(__name__)

IPIP_DEVICE = "tunl0"


class IPIPError(Exception):
    pass


class IPIPUnsupportedError(IPIPError):
    """The kernel cannot create ipip devices."""


def _ipr(netns: str | None) -> IPRoute:
    # pyroute2 (~70 ms to import) only once a tunnel is in use: never on a plain start's path.
    from pyroute2 import IPRoute

    return IPRoute(netns=netns) if netns else IPRoute()


def _netlink_error() -> type[NetlinkError]:
    from pyroute2.netlink.exceptions import NetlinkError

    return NetlinkError  # type: ignore[no-any-return]


def _unsupported(exc: NetlinkError) -> IPIPUnsupportedError:
    return IPIPUnsupportedError(
        f"IPIP is not supported by this kernel: creating an ipip device failed with "
        f"{os.strerror(exc.code) if exc.code else exc} (errno {exc.code}); "
        "use VXLAN (vxlanMode) for encapsulation instead")


def ipip_support(netns: str | None = None) -> str | None:
    """None if ipip devices work here, else the reason they do not."""
    with _ipr(netns) as ipr:
        if ipr.link_lookup(ifname=IPIP_DEVICE):
            return None
        probe = f"calipip{os.getpid() % 10000}"
        try:
            ipr.link("add", ifname=probe, kind="ipip")
        except _netlink_error() as exc:
            return str(_unsupported(exc))
        ipr.link("del", index=ipr.link_lookup(ifname=probe)[0])
        return None


class IPIPDevice:
    def __init__(self, *, netns: str | None = None, address: str | None = None, mtu: int | None = None) -> None:
        self.netns = netns
        self.address = address
        self.mtu = mtu

    def ensure(self) -> bool:
        """Create (if needed) and configure tunl0; raises IPIPUnsupportedError without kernel support."""
        with _ipr(self.netns) as ipr:
            changed = False
            found = ipr.link_lookup(ifname=IPIP_DEVICE)
            if not found:
                try:
                    ipr.link("add", ifname=IPIP_DEVICE, kind="ipip")
                except _netlink_error() as exc:
                    if exc.code in (95, 93, 22):  # EOPNOTSUPP / EPROTONOSUPPORT / EINVAL
                        raise _unsupported(exc) from exc
                    raise IPIPError(f"could not create {IPIP_DEVICE}: {exc}") from exc
                found = ipr.link_lookup(ifname=IPIP_DEVICE)
                changed = True
            index = found[0]
            link = ipr.get_links(index)[0]
            updates: dict[str, Any] = {}
            if self.mtu and link.get("mtu") != self.mtu:
                updates["mtu"] = self.mtu
            if not link["flags"] & 1:
                updates["state"] = "up"
            if updates:
                ipr.link("set", index=index, **updates)
                changed = True
            have = {m.get("address") for m in ipr.get_addr(index=index)}
            for addr in have - {self.address}:
                ipr.addr("del", index=index, address=addr, prefixlen=32)
                changed = True
            if self.address and self.address not in have:
                ipaddress.IPv4Address(self.address)
                ipr.addr("add", index=index, address=self.address, prefixlen=32)
                changed = True
            return changed

"""calico-ipam: addresses for one attachment from Calico IPAM, keyed by ``<network>.<containerID>``.

Used both by the ``calico-ipam`` executable and in-process by ``calico`` (which saves a second
interpreter start per pod when the configured IPAM is calico-ipam).
"""

from __future__ import annotations

import ipaddress
import time

from calico.cni.errors import CALICO_FAILURE, INVALID_ENV, CNIError
from calico.cni.logs import get_logger
from calico.cni.result import IPConfig, Result, Route

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Any

    from calico.cni.names import WepIds
    from calico.cni.netconf import NetConf
    from calico.datastore.base import Datastore

log = get_logger(__name__)


def handle_id(network: str, container_id: str) -> str:
    return f"{network}.{container_id}"


def legacy_handle_id(ids: WepIds) -> str:
    """Handles written by old plugins: the bare container id (k8s: ``<namespace>.<pod>``)."""
    return f"{ids.namespace}.{ids.pod}" if ids.pod else ids.container_id


def go_timestamp() -> str:
    """Go's time.String() form, which Calico stores in the allocation attributes."""
    secs, nanos = divmod(time.time_ns(), 1_000_000_000)  # time, not datetime: cheaper to import
    return time.strftime("%Y-%m-%d %H:%M:%S.", time.gmtime(secs)) + f"{nanos // 1000 * 1000:09d} +0000 UTC"


def attributes(ids: WepIds) -> dict[str, str]:
    attrs = {"node": ids.node, "timestamp": go_timestamp()}
    if ids.pod:
        attrs["namespace"] = ids.namespace
        attrs["pod"] = ids.pod
    return attrs


def requested_ips(text: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """``IP=`` from CNI_ARGS: one address or a comma-separated list (an optional /len is ignored)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(ipaddress.ip_interface(part).ip)
        except ValueError:
            raise CNIError(INVALID_ENV, "invalid IP in CNI_ARGS",
                           f"IP={text!r}: {part!r} is not an IP address") from None
    return out


def _as_cidr(item: Any) -> str:
    """An assigned address as CIDR text, keeping the block prefix IPAM gave (a bare IP means /32, /128)."""
    if isinstance(item, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return str(item)
    if isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return f"{item}/{item.max_prefixlen}"
    if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return f"{item.network_address}/{item.prefixlen}"
    return str(ipaddress.ip_interface(str(item)))


def _assigned(res: Any) -> list[str]:
    """Flatten IPAMClient.auto_assign's answer (v4 list and v6 list, in some container) to CIDRs."""
    if isinstance(res, tuple | list) and len(res) == 2 and all(isinstance(x, list | tuple) for x in res):
        items = [*res[0], *res[1]]
    elif hasattr(res, "ipv4") or hasattr(res, "ipv6"):
        items = [*getattr(res, "ipv4", ()), *getattr(res, "ipv6", ())]
    elif hasattr(res, "v4") or hasattr(res, "v6"):
        items = [*getattr(res, "v4", ()), *getattr(res, "v6", ())]
    elif hasattr(res, "ips"):
        items = list(res.ips)
    else:
        items = list(res)
    return [_as_cidr(i) for i in items]


async def ipam_add(ds: Datastore, conf: NetConf, ids: WepIds, ip_arg: str) -> Result:
    """Assign the addresses (fixed ones from ``IP=``, else auto-assigned); nothing kept on failure."""
    from calico.ipam.allocator import IPAMClient
    from calico.ipam.errors import IPAMError

    client = IPAMClient(ds)
    handle = handle_id(conf.name, ids.container_id)
    attrs = attributes(ids)
    cidrs: list[str] = []
    try:
        if ip_arg:
            for ip in requested_ips(ip_arg):
                await client.assign_ip(str(ip), handle, attrs, ids.node)
                cidrs.append(f"{ip}/{ip.max_prefixlen}")
        else:
            num4 = 1 if conf.ipam.assign_ipv4 else 0
            num6 = 1 if conf.ipam.assign_ipv6 else 0
            # One call per family: each family's pool list restricts only that family.
            if num4:
                res = await client.auto_assign(num4, 0, handle, attrs, ids.node,
                                               pools=list(conf.ipam.ipv4_pools) or None)
                cidrs += _assigned(res)
            if num6:
                res = await client.auto_assign(0, num6, handle, attrs, ids.node,
                                               pools=list(conf.ipam.ipv6_pools) or None)
                cidrs += _assigned(res)
            got4 = sum(1 for c in cidrs if ":" not in c)
            got6 = len(cidrs) - got4
            if got4 < num4 or got6 < num6:
                raise CNIError(CALICO_FAILURE, "failed to request IPs",
                               f"requested {num4} IPv4 and {num6} IPv6 address(es), got {got4} and {got6}")
    except BaseException as exc:
        await _release_quietly(client, handle)
        if isinstance(exc, IPAMError):
            raise CNIError(CALICO_FAILURE, "failed to request IPs", str(exc)) from None
        raise
    log.info("assigned %s to handle %s on node %s", ", ".join(cidrs), handle, ids.node)
    return Result(ips=tuple(IPConfig(address=c) for c in cidrs), routes=tuple(Route(dst=c) for c in cidrs))


async def _release_quietly(client: Any, handle: str) -> None:
    try:
        await client.release_by_handle(handle)
    except Exception as exc:  # the handle may never have been written
        log.debug("release of %s after a failed ADD: %s", handle, exc)


def handles(conf: NetConf, ids: WepIds) -> tuple[str, str]:
    """The handles DEL releases: this network's, then the legacy one."""
    return handle_id(conf.name, ids.container_id), legacy_handle_id(ids)


async def ipam_del(ds: Datastore, conf: NetConf, ids: WepIds, absent: Collection[str] = ()) -> None:
    """Release by handle (and by the legacy handle); releasing nothing is not an error.

    ``absent``: handles a read made moments ago did not find (skipped: each costs round trips).
    """
    from calico.ipam.allocator import IPAMClient
    from calico.ipam.errors import HandleNotFound, IPAMError

    client = IPAMClient(ds)
    for handle in handles(conf, ids):
        if handle in absent:
            log.debug("no allocation under handle %s", handle)
            continue
        try:
            await client.release_by_handle(handle)
            log.info("released addresses of handle %s", handle)
        except HandleNotFound:
            log.debug("no allocation under handle %s", handle)
        except IPAMError as exc:
            raise CNIError(CALICO_FAILURE, "failed to release IPs", f"handle {handle}: {exc}") from None


async def ipam_gc(ds: Datastore, conf: NetConf, valid: set[str]) -> list[str]:
    """Release every ``<network>.<containerID>`` handle whose container is not in ``valid``."""
    from calico.datastore.keys import HANDLE_PREFIX
    from calico.ipam.allocator import IPAMClient

    client = IPAMClient(ds)
    prefix = HANDLE_PREFIX + conf.name + "."
    kvs, _ = await ds.list(prefix)
    released = []
    for kv in kvs:
        handle = kv.key[len(HANDLE_PREFIX):]
        if handle[len(conf.name) + 1:] in valid:
            continue
        try:
            await client.release_by_handle(handle)
            released.append(handle)
        except Exception as exc:  # GC continues past errors
            log.warning("GC: could not release %s: %s", handle, exc)
    return released

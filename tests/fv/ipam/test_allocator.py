"""IPAMClient against a real etcd: affinity, claims, borrowing, exhaustion, static IPs, IPv6, handles."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from calico.datastore.config import connect, load_config
from calico.ipam.allocator import IPAMClient
from calico.ipam.errors import (
    AddressInUse,
    AddressNotInPool,
    AddressReserved,
    BlockLimitReached,
    HandleNotFound,
    InvalidAddress,
    NoFreeAddresses,
    NoPools,
    NotAssigned,
    PoolNotFound,
)
from calico.ipam.model import IPAMConfig
from tests.fv.ipam.conftest import get_json, keys_under, put_json, put_pool, run
from tests.support.etcd import EtcdServer

pytestmark = pytest.mark.needs_etcd

BLOCKS = "/calico/ipam/v2/assignment/"
HANDLES = "/calico/ipam/v2/handle/"
HOSTS = "/calico/ipam/v2/host/"


def with_client(fn: Callable[[IPAMClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        ds = await connect(load_config())
        try:
            return await fn(IPAMClient(ds))
        finally:
            await ds.close()

    return run(main())


def test_affine_block_first_then_claims_new_block(etcd: EtcdServer) -> None:
    put_pool(etcd, "pool1", "10.10.0.0/24", blockSize=29)

    async def go(c: IPAMClient) -> Any:
        first = await c.auto_assign(5, 0, "net.a", {"node": "h1", "pod": "a", "namespace": "default"}, "h1")
        c.store.round_trips = 0
        second = await c.auto_assign(4, 0, "net.b", {"node": "h1"}, "h1")  # 3 left in block 1, then a new one
        return first, second, c.store.round_trips

    first, second, _ = with_client(go)
    blocks = keys_under(etcd, BLOCKS)
    assert len(blocks) == 2, blocks
    b1 = first.ipv4[0].network
    assert all(i.network == b1 and i.network.prefixlen == 29 for i in first.ipv4)
    assert [i.network == b1 for i in second.ipv4] == [True, True, True, False]
    assert len(keys_under(etcd, HOSTS + "h1/ipv4/block/")) == 2
    assert get_json(etcd, HANDLES + "net.b")["block"] == {str(b1): 3, str(second.ipv4[3].network): 1}
    block = get_json(etcd, BLOCKS + f"ipv4/block/{str(b1).replace('/', '-')}")
    assert block["affinity"] == "host:h1" and block["unallocated"] == []
    assert block["attributes"][0] == {"handle_id": "net.a",
                                      "secondary": {"node": "h1", "pod": "a", "namespace": "default"}}
    assert get_json(etcd, HANDLES + "net.a") == {"block": {str(b1): 5}, "deleted": False}
    assert get_json(etcd, HOSTS + f"h1/ipv4/block/{str(b1).replace('/', '-')}") == {"state": "confirmed",
                                                                                      "deleted": False}


def test_common_case_is_one_round_trip(etcd: EtcdServer) -> None:
    put_pool(etcd, "pool1", "10.11.0.0/24")

    async def go(c: IPAMClient) -> list[int]:
        await c.auto_assign(1, 0, "net.warm", {"node": "h1"}, "h1")
        trips = []
        for i in range(5):
            c.store.round_trips = 0
            await c.auto_assign(1, 0, f"net.c{i}", {"node": "h1"}, "h1")
            trips.append(c.store.round_trips)
        return trips

    assert with_client(go) == [1, 1, 1, 1, 1]


def test_borrowing_and_strict_affinity(etcd: EtcdServer) -> None:
    put_pool(etcd, "tiny", "10.12.0.0/29", blockSize=30)  # two blocks of four

    async def go(c: IPAMClient) -> Any:
        a = await c.auto_assign(1, 0, "net.h1", {"node": "h1"}, "h1")
        b = await c.auto_assign(1, 0, "net.h2", {"node": "h2"}, "h2")
        assert a.ipv4[0].network != b.ipv4[0].network
        mine = await c.auto_assign(3, 0, "net.h1b", {"node": "h1"}, "h1")  # fills h1's block
        borrowed = await c.auto_assign(2, 0, "net.h1c", {"node": "h1", "pod": "p", "namespace": "ns"}, "h1")
        assert all(i.network == b.ipv4[0].network for i in borrowed.ipv4)
        await c.set_config(IPAMConfig(strict_affinity=True, auto_allocate_blocks=True))
        with pytest.raises(NoFreeAddresses, match="strict affinity"):
            await c.auto_assign(1, 0, "net.h1d", {"node": "h1"}, "h1")
        return mine, borrowed

    with_client(go)
    assert keys_under(etcd, HANDLES) == [HANDLES + h for h in ("net.h1", "net.h1b", "net.h1c", "net.h2")]


def test_exhaustion_is_a_clear_error_and_leaves_nothing(etcd: EtcdServer) -> None:
    put_pool(etcd, "small", "10.13.0.0/28", blockSize=30)

    async def go(c: IPAMClient) -> None:
        await c.auto_assign(10, 0, "net.keep", {"node": "h1"}, "h1")
        with pytest.raises(NoFreeAddresses, match="no more free addresses in the matching pools"):
            await c.auto_assign(7, 0, "net.big", {"node": "h2"}, "h2")  # only 6 left
        after = [get_json(etcd, k) for k in keys_under(etcd, BLOCKS)]
        owners = [b["attributes"][a]["handle_id"] for b in after for a in b["allocations"] if a is not None]
        assert owners == ["net.keep"] * 10  # the failed request kept nothing
        assert get_json(etcd, HANDLES + "net.big") is None
        got = await c.auto_assign(6, 0, "net.rest", {"node": "h2"}, "h2")  # exactly what is left still works
        assert len(got.ipv4) == 6

    with_client(go)


def test_static_addresses(etcd: EtcdServer) -> None:
    put_pool(etcd, "docker", "172.16.100.0/24")
    put_pool(etcd, "off", "172.16.200.0/24", disabled=True)
    put_json(etcd, "/calico/resources/v3/projectcalico.org/ipreservations/res1",
             {"kind": "IPReservation", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "res1"},
              "spec": {"reservedCIDRs": ["172.16.100.128/25"]}})

    async def go(c: IPAMClient) -> None:
        got = await c.assign_ip("172.16.100.1", "calico-net.ep1", {"node": "h1"}, "h1")
        assert str(got) == "172.16.100.1/32"
        with pytest.raises(AddressInUse, match="Address already assigned in block"):
            await c.assign_ip("172.16.100.1", "calico-net.ep2", {"node": "h1"}, "h1")
        with pytest.raises(AddressNotInPool, match=r"172\.16\.99\.1 is not in a configured pool"):
            await c.assign_ip("172.16.99.1", "h", {}, "h1")
        with pytest.raises(AddressNotInPool, match="disabled"):
            await c.assign_ip("172.16.200.1", "h", {}, "h1")
        with pytest.raises(AddressReserved, match="IPReservation\\(res1\\)"):
            await c.assign_ip("172.16.100.200", "h", {}, "h1")
        with pytest.raises(InvalidAddress):
            await c.assign_ip("172.16.100.300", "h", {}, "h1")
        assert await c.get_assignment_attributes("172.16.100.1") == ("calico-net.ep1", {"node": "h1"})
        # auto-assign skips both the static address and the reservation
        auto = await c.auto_assign(127, 0, "net.all", {"node": "h1"}, "h1", pools=["172.16.100.0/24"])
        ips = {str(i.ip) for i in auto.ipv4}
        assert "172.16.100.1" not in ips and all(int(i.ip.packed[-1]) < 128 for i in auto.ipv4)
        with pytest.raises(NoFreeAddresses):
            await c.auto_assign(1, 0, "net.more", {"node": "h1"}, "h1", pools=["docker"])

    with_client(go)


def test_ipv6_and_dual_stack(etcd: EtcdServer) -> None:
    put_pool(etcd, "v4", "10.14.0.0/24")
    put_pool(etcd, "v6", "fd00:14::/120", blockSize=124)

    async def go(c: IPAMClient) -> None:
        res = await c.auto_assign(1, 2, "net.ds", {"node": "h1"}, "h1")
        assert len(res.ipv4) == 1 and len(res.ipv6) == 2
        assert all(i.version == 6 and i.network.prefixlen == 124 for i in res.ipv6)
        handle = get_json(etcd, HANDLES + "net.ds")
        assert sorted(handle["block"].values()) == [1, 2]
        released = await c.release_by_handle("net.ds")
        assert sorted(released) == sorted(res.addresses)
        assert get_json(etcd, HANDLES + "net.ds") is None

    with_client(go)


def test_release_by_handle_release_ips_and_reference_counts(etcd: EtcdServer) -> None:
    put_pool(etcd, "p", "10.15.0.0/24", blockSize=28)

    async def go(c: IPAMClient) -> None:
        a = await c.auto_assign(20, 0, "net.x", {"node": "h1"}, "h1")  # spans two blocks
        counts = get_json(etcd, HANDLES + "net.x")["block"]
        assert sorted(counts.values()) == [4, 16]
        first = str(a.ipv4[0].ip)
        assert await c.release_ips([first, "10.15.0.250", "10.99.0.1"]) == ["10.15.0.250", "10.99.0.1"]
        assert sum(get_json(etcd, HANDLES + "net.x")["block"].values()) == 19
        with pytest.raises(NotAssigned):
            await c.get_assignment_attributes(first)
        assert len(await c.release_by_handle("net.x")) == 19
        assert get_json(etcd, HANDLES + "net.x") is None
        with pytest.raises(HandleNotFound, match=r"IPAMHandle\(net\.x\)"):
            await c.release_by_handle("net.x")
        # the host keeps its (now empty) affine blocks, as Calico does
        assert len(keys_under(etcd, BLOCKS)) == 2

    with_client(go)


def test_pool_selection_errors_and_node_selector(etcd: EtcdServer) -> None:
    put_pool(etcd, "rack1", "10.16.1.0/24", nodeSelector="rack == 'r1'")
    put_pool(etcd, "gone", "10.16.2.0/24", disabled=True)
    put_json(etcd, "/calico/resources/v3/projectcalico.org/nodes/h1",
             {"kind": "Node", "apiVersion": "projectcalico.org/v3",
              "metadata": {"name": "h1", "labels": {"rack": "r1"}}, "spec": {}})

    async def go(c: IPAMClient) -> None:
        got = await c.auto_assign(1, 0, "net.h1", {"node": "h1"}, "h1")
        assert str(got.ipv4[0].ip).startswith("10.16.1.")
        with pytest.raises(NoPools, match="no configured Calico pools for node h2"):
            await c.auto_assign(1, 0, "net.h2", {"node": "h2"}, "h2")
        with pytest.raises(PoolNotFound, match=r"the given pool \(10.16.2.0/24\) does not exist, or is not enabled"):
            await c.auto_assign(1, 0, "net.x", {}, "h1", pools=["10.16.2.0/24"])
        with pytest.raises(PoolNotFound, match="nosuchpool"):
            await c.auto_assign(1, 0, "net.x", {}, "h1", pools=["nosuchpool"])
        with pytest.raises(NoPools):
            await c.auto_assign(0, 1, "net.x", {}, "h1")

    with_client(go)


def test_cached_snapshot_never_allocates_from_a_disabled_pool(etcd: EtcdServer) -> None:
    put_pool(etcd, "p", "10.17.0.0/24")

    async def go(c: IPAMClient) -> None:
        await c.auto_assign(1, 0, "net.1", {"node": "h1"}, "h1")  # the client now caches the pool
        put_pool(etcd, "p", "10.17.0.0/24", disabled=True)  # changed behind the client's back
        with pytest.raises(NoPools):
            await c.auto_assign(1, 0, "net.2", {"node": "h1"}, "h1")
        assert get_json(etcd, HANDLES + "net.2") is None

    with_client(go)


def test_max_blocks_per_host(etcd: EtcdServer) -> None:
    put_pool(etcd, "p", "10.18.0.0/24", blockSize=30)

    async def go(c: IPAMClient) -> None:
        await c.set_config(IPAMConfig(strict_affinity=True, auto_allocate_blocks=True, max_blocks_per_host=2))
        await c.auto_assign(8, 0, "net.a", {"node": "h1"}, "h1")
        with pytest.raises(BlockLimitReached, match="cannot allocate new block due to per host block limit"):
            await c.auto_assign(1, 0, "net.b", {"node": "h1"}, "h1")
        assert get_json(etcd, HANDLES + "net.b") is None

    with_client(go)
    assert len(keys_under(etcd, HOSTS + "h1/")) == 2


def test_affinity_claim_and_release(etcd: EtcdServer) -> None:
    put_pool(etcd, "p", "10.19.0.0/24", blockSize=26)

    async def go(c: IPAMClient) -> None:
        claimed, failed = await c.claim_affinity("10.19.0.0/25", "h1")
        assert claimed == ["10.19.0.0/26", "10.19.0.64/26"] and failed == []
        _, failed2 = await c.claim_affinity("10.19.0.0/26", "h2")
        assert failed2 == ["10.19.0.0/26"]
        await c.assign_ip("10.19.0.70", "net.s", {"node": "h1"}, "h1")
        released = await c.release_host_affinities("h1")
        assert released == ["10.19.0.0/26", "10.19.0.64/26"]
        # the empty block is gone; the used one stays, orphaned, until its last address goes
        assert keys_under(etcd, BLOCKS) == [BLOCKS + "ipv4/block/10.19.0.64-26"]
        assert get_json(etcd, BLOCKS + "ipv4/block/10.19.0.64-26")["affinity"] is None
        assert keys_under(etcd, HOSTS) == []
        await c.release_ips(["10.19.0.70"])
        assert keys_under(etcd, BLOCKS) == []

    with_client(go)


def test_block_json_is_readable_as_calico_writes_it(etcd: EtcdServer) -> None:
    """A block written by Calico itself (legacy fields, null secondary) is used and kept intact."""
    put_pool(etcd, "p", "10.20.0.0/24", blockSize=30)
    calico_block = {"cidr": "10.20.0.0/30", "affinity": "host:h1", "strictAffinity": False,
                    "allocations": [0, None, None, None], "unallocated": [1, 2, 3],
                    "attributes": [{"handle_id": "k8s-pod-network.abc", "secondary": None}],
                    "deleted": False, "sequenceNumber": 5, "sequenceNumberForAllocation": {"0": 4}}
    put_json(etcd, BLOCKS + "ipv4/block/10.20.0.0-30", calico_block)
    put_json(etcd, HOSTS + "h1/ipv4/block/10.20.0.0-30", {"state": "confirmed", "deleted": False})
    put_json(etcd, HANDLES + "k8s-pod-network.abc", {"block": {"10.20.0.0/30": 1}, "deleted": False})

    async def go(c: IPAMClient) -> None:
        got = await c.auto_assign(1, 0, "net.new", {"node": "h1"}, "h1")
        assert str(got.ipv4[0]) == "10.20.0.1/30"

    with_client(go)
    block = get_json(etcd, BLOCKS + "ipv4/block/10.20.0.0-30")
    assert block["allocations"] == [0, 1, None, None] and block["sequenceNumber"] == 6
    assert json.dumps(block["attributes"][0]) == '{"handle_id": "k8s-pod-network.abc", "secondary": null}'


def test_empty_affine_blocks_are_given_back_when_no_pool_selects_them(etcd: EtcdServer) -> None:
    put_pool(etcd, "old", "10.21.0.0/24", blockSize=28)

    async def go(c: IPAMClient) -> None:
        a = await c.auto_assign(16, 0, "net.a", {"node": "h1"}, "h1")  # all of a first block
        await c.auto_assign(2, 0, "net.b", {"node": "h1"}, "h1")  # a second block, left in use
        await c.release_by_handle("net.a")
        assert len(keys_under(etcd, HOSTS + "h1/")) == 2
        put_pool(etcd, "old", "10.21.0.0/24", blockSize=28, disabled=True)
        put_pool(etcd, "new", "10.22.0.0/24", blockSize=28)
        got = await c.auto_assign(1, 0, "net.c", {"node": "h1"}, "h1")
        assert str(got.ipv4[0].ip).startswith("10.22.0.")
        first_block = str(a.ipv4[0].network)
        assert not any(first_block.replace("/", "-") in k for k in keys_under(etcd, "/calico/ipam/v2/"))

    with_client(go)
    # the block still holding net.b's addresses keeps its affinity; the new one is claimed
    assert len(keys_under(etcd, HOSTS + "h1/")) == 2


def test_failed_dual_stack_request_keeps_nothing(etcd: EtcdServer) -> None:
    put_pool(etcd, "v4", "10.24.0.0/24")
    put_pool(etcd, "v6", "fd00:24::/126", blockSize=126)  # four IPv6 addresses in all

    async def go(c: IPAMClient) -> None:
        with pytest.raises(NoFreeAddresses, match="IPv6"):
            await c.auto_assign(2, 5, "net.ds", {"node": "h1"}, "h1")
        blocks = [get_json(etcd, k) for k in keys_under(etcd, BLOCKS)]
        assert all(a is None for b in blocks for a in b["allocations"])  # the IPv4 pair was given back
        assert keys_under(etcd, HANDLES) == []
        ok = await c.auto_assign(2, 4, "net.ds", {"node": "h1"}, "h1")
        assert len(ok.addresses) == 6

    with_client(go)

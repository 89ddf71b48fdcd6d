"""Pure block math: ordinals, first-free order, attributes, JSON shape, and properties."""

from __future__ import annotations

import ipaddress
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calico.ipam.block import (
    AffinityMismatch,
    Attribute,
    Block,
    OrdinalInUse,
    block_cidr_for,
    fnv32,
    pool_blocks,
    validate_block_size,
)


def attr(handle: str, **sec: str) -> Attribute:
    return Attribute(handle, sec)


def test_new_block_is_all_free_and_first_free_order() -> None:
    b = Block.new("10.0.5.0/29", "host:node1")
    assert b.size == 8 and b.free() == 8 and b.is_empty()
    b2, got = b.auto_assign(3, attr("net.c1", node="node1"), host="node1")
    assert got == [0, 1, 2]
    assert [str(b2.ip(o)) for o in got] == ["10.0.5.0", "10.0.5.1", "10.0.5.2"]
    assert b2.in_use() == 3 and b2.free() == 5
    assert b.free() == 8  # immutable: the original is untouched


def test_release_appends_to_end_and_reindexes_attributes() -> None:
    b = Block.new("10.0.5.0/29", "host:n")
    b, _ = b.auto_assign(2, attr("h1"), host="n")
    b, _ = b.auto_assign(2, attr("h2"), host="n")
    assert b.allocations[:4] == (0, 0, 1, 1)
    b, released, missing = b.release([0, 1, 7])
    assert released == [0, 1] and missing == [7]
    assert b.attributes == (attr("h2"),)
    assert b.allocations[:4] == (None, None, 0, 0)
    assert b.unallocated == (4, 5, 6, 7, 0, 1)
    assert b.check() == []


def test_release_with_handle_leaves_other_owners_alone() -> None:
    b = Block.new("10.0.5.0/30", "host:n")
    b, _ = b.auto_assign(1, attr("h1"), host="n")
    b, _ = b.auto_assign(1, attr("h2"), host="n")
    b2, released, missing = b.release([0, 1], handle_id="h2")
    assert released == [1] and missing == [0]
    assert b2.ordinals_for_handle("h1") == [0]


def test_affinity_check_and_borrowing() -> None:
    b = Block.new("10.0.5.0/30", "host:other")
    with pytest.raises(AffinityMismatch):
        b.auto_assign(1, attr("h"), host="me")
    _b2, got = b.auto_assign(1, attr("h", node="me"))  # borrowing: no affinity check
    assert got == [0]


def test_skip_reserved_ordinals() -> None:
    b = Block.new("10.0.5.0/29", None)
    b, got = b.auto_assign(8, attr("h"), skip=lambda o: o in (0, 7))
    assert got == [1, 2, 3, 4, 5, 6]
    assert b.unallocated == (0, 7)


def test_static_assign_conflict() -> None:
    b = Block.new("10.0.5.0/29", None)
    b = b.assign(b.ordinal("10.0.5.3"), attr("h"))
    with pytest.raises(OrdinalInUse, match="Address already assigned in block"):
        b.assign(3, attr("h2"))


def test_json_shape_matches_calico() -> None:
    b = Block.new("10.0.5.0/30", "host:node1", sequence_number=7)
    owner = attr("k8s-pod-network.abc", node="node1", pod="p", namespace="default")
    b, _ = b.auto_assign(1, owner, host="node1")
    b = b.bumped()
    doc = json.loads(b.to_json())
    assert list(doc) == ["cidr", "affinity", "allocations", "unallocated", "attributes", "sequenceNumber",
                         "sequenceNumberForAllocation", "deleted"]
    assert doc["cidr"] == "10.0.5.0/30" and doc["affinity"] == "host:node1"
    assert doc["allocations"] == [0, None, None, None]
    assert doc["unallocated"] == [1, 2, 3]
    assert doc["attributes"] == [{"handle_id": "k8s-pod-network.abc",
                                  "secondary": {"node": "node1", "pod": "p", "namespace": "default"}}]
    assert doc["sequenceNumber"] == 8 and doc["sequenceNumberForAllocation"] == {"0": 7}
    assert Block.from_json(b.to_json()) == b


def test_legacy_host_affinity_is_read() -> None:
    text = json.dumps({"cidr": "10.1.0.0/31", "affinity": None, "hostAffinity": "old",
                       "allocations": [None, None], "unallocated": [0, 1], "attributes": []})
    assert Block.from_json(text).host == "old"


def test_ipv6_block() -> None:
    b = Block.new("fd00::/122", "host:n")
    assert b.size == 64
    b, got = b.auto_assign(2, attr("h"), host="n")
    assert [str(b.ip(o)) for o in got] == ["fd00::", "fd00::1"]
    assert b.ordinal("fd00::3f") == 63


def test_geometry() -> None:
    validate_block_size(4, 26)
    validate_block_size(6, 122)
    with pytest.raises(ValueError, match="IPv4 block size must be between 20 and 32"):
        validate_block_size(4, 19)
    with pytest.raises(ValueError, match="IPv6 block size must be between 116 and 128"):
        validate_block_size(6, 115)
    assert str(block_cidr_for(ipaddress.ip_address("10.0.5.77"), 26)) == "10.0.5.64/26"
    blocks = list(pool_blocks(ipaddress.ip_network("10.0.0.0/24"), 26, "node1"))
    assert sorted(str(b) for b in blocks) == ["10.0.0.0/26", "10.0.0.128/26", "10.0.0.192/26", "10.0.0.64/26"]
    assert blocks == list(pool_blocks(ipaddress.ip_network("10.0.0.0/24"), 26, "node1"))  # stable per host
    assert fnv32("") == 0x811C9DC5


# ------------------------------------------------------------------ properties
ops = st.lists(
    st.one_of(
        st.tuples(st.just("auto"), st.integers(0, 5), st.sampled_from(["h1", "h2", "h3"])),
        st.tuples(st.just("release"), st.lists(st.integers(0, 15), max_size=5), st.none()),
        st.tuples(st.just("release_handle"), st.sampled_from(["h1", "h2", "h3"]), st.none()),
        st.tuples(st.just("static"), st.integers(0, 15), st.sampled_from(["h1", "h4"])),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_never_hands_out_an_address_twice_and_accounts_every_address(seq: list[tuple]) -> None:  # type: ignore[type-arg]
    b = Block.new("10.9.0.0/28", "host:n")
    owner: dict[int, str] = {}  # the model: ordinal -> handle
    for op, a, h in seq:
        if op == "auto":
            b, got = b.auto_assign(a, attr(h), host="n")
            for o in got:
                assert o not in owner, f"ordinal {o} handed out twice"
                owner[o] = h
            assert len(got) == min(a, 16 - len(owner) + len(got))
        elif op == "static":
            if a in owner:
                with pytest.raises(OrdinalInUse):
                    b.assign(a, attr(h))
            else:
                b = b.assign(a, attr(h))
                owner[a] = h
        elif op == "release":
            b, released, missing = b.release(a)
            for o in released:
                assert owner.pop(o, None) is not None
            assert all(o not in owner for o in missing)
        else:
            b, released, _ = b.release(b.ordinals_for_handle(a), handle_id=a)
            assert set(released) == {o for o, hh in owner.items() if hh == a}
            for o in released:
                del owner[o]
        assert b.check() == []
        assert b.in_use() + b.free() == b.size
        assert {o: (at.handle_id if at else None) for o, at in b.allocated()} == owner
        expected = {hh: sum(1 for v in owner.values() if v == hh) for hh in set(owner.values())}
        assert b.handle_counts() == expected
    assert Block.from_json(b.to_json()) == b

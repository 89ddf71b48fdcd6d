"""ipset member canonical forms and `ipset save` parsing (pure)."""

from __future__ import annotations

import pytest

from calico.linux.ipset_text import MemberError, canonical_member, parse_ipset_save


@pytest.mark.parametrize(("set_type", "version", "member", "expected"), [
    ("hash:net", 4, "10.0.0.1/32", "10.0.0.1"),
    ("hash:net", 4, "10.0.0.5/24", "10.0.0.0/24"),
    ("hash:net", 4, "10.0.0.1", "10.0.0.1"),
    ("hash:net", 6, "FD00::1/128", "fd00::1"),
    ("hash:net", 6, "fd00:0::/64", "fd00::/64"),
    ("hash:ip", 4, "192.168.1.1", "192.168.1.1"),
    ("hash:ip,port", 4, "10.0.0.1,TCP:080", "10.0.0.1,tcp:80"),
])
def test_canonical(set_type: str, version: int, member: str, expected: str) -> None:
    assert canonical_member(set_type, version, member) == expected


@pytest.mark.parametrize(("set_type", "version", "member"), [
    ("hash:net", 4, "fd00::1"), ("hash:ip", 4, "10.0.0.300"), ("hash:ip,port", 4, "10.0.0.1"),
    ("hash:net", 4, "0.0.0.0/0"), ("bitmap:port", 4, "1"),
])
def test_invalid(set_type: str, version: int, member: str) -> None:
    with pytest.raises(MemberError):
        canonical_member(set_type, version, member)


def test_parse_save_keeps_only_prefixed_sets() -> None:
    text = ("create cali40a hash:net family inet hashsize 1024 maxelem 100 bucketsize 12 initval 0x1\n"
            "add cali40a 10.0.0.1\nadd cali40a 10.1.0.0/16\n"
            "create other hash:ip family inet hashsize 1024 maxelem 65536\nadd other 1.2.3.4\n")
    sets = parse_ipset_save(text, ("cali4",))
    assert list(sets) == ["cali40a"]
    assert sets["cali40a"].members == {"10.0.0.1", "10.1.0.0/16"}
    assert sets["cali40a"].max_size == 100 and sets["cali40a"].set_type == "hash:net"

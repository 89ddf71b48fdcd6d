"""``@record`` behaves like ``@dataclass(frozen=True)`` for what the plugin relies on; rtnetlink encoding."""

from __future__ import annotations

import pytest

from calico.cni.request import valid_container_id
from calico.common.record import FrozenRecordError, field, record, replace
from calico.linux.netlink import _options
from calico.linux.netlink import attr as _attr


@record
class Point:
    x: int
    y: int = 0
    tags: dict[str, str] = field(default_factory=dict)

    def total(self) -> int:
        return self.x + self.y


def test_constructor_defaults_and_factories() -> None:
    a, b = Point(1), Point(x=1)
    assert a == b and a.y == 0 and a.tags == {} and a.tags is not b.tags
    assert Point(1, 2).total() == 3
    with pytest.raises(TypeError, match="missing required argument: 'x'"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values"):
        Point(1, x=2)  # type: ignore[misc]


def test_equality_hash_repr_and_frozen() -> None:
    p = Point(1, 2, {"a": "b"})
    assert repr(p) == "Point(x=1, y=2, tags={'a': 'b'})"
    assert p != Point(1, 3) and p != (1, 2)  # type: ignore[comparison-overlap]

    @record
    class Pair:
        a: str
        b: tuple[int, ...] = ()

    assert hash(Pair("x", (1,))) == hash(Pair("x", (1,)))
    assert len({Pair("x"), Pair("x"), Pair("y")}) == 2
    with pytest.raises(FrozenRecordError):
        p.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y


def test_replace() -> None:
    p = Point(1, 2)
    q = replace(p, y=7)
    assert (q.x, q.y) == (1, 7) and p.y == 2
    with pytest.raises(TypeError):
        replace(p, nope=1)


def test_container_id_rule() -> None:
    assert valid_container_id("4f1d-2e3c_5b.6a") and valid_container_id("A")
    for bad in ("", "-a", ".a", "a b", "a/b", "a:b", "é"):
        assert not valid_container_id(bad)


def test_rtnetlink_attribute_encoding() -> None:
    # struct rtattr {u16 len; u16 type} + payload, padded to 4 bytes; len excludes the padding.
    assert _attr(3, b"eth0\0") == b"\x09\x00\x03\x00eth0\0\0\0\0"
    assert _attr(4, b"\xdc\x05\0\0") == b"\x08\x00\x04\x00\xdc\x05\0\0"
    assert _options(["dev", "eth0", "nodad"]) == {"dev": "eth0", "nodad": ""}
    assert _options(["via", "169.254.1.1", "dev", "eth0"]) == {"via": "169.254.1.1", "dev": "eth0"}

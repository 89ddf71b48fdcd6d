"""Decoding of rtnetlink link/address dump messages (pure: bytes built here)."""

from __future__ import annotations

import socket
import struct

from calico.linux.nldump import Addr, Link, _messages, parse_addr, parse_link


def _attr(kind: int, data: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(data), kind) + data
    return raw + b"\0" * (-len(raw) % 4)


def _msg(kind: int, payload: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(payload), kind, 2, 1, 0) + payload


def test_link_and_address_messages_decode_only_used_fields() -> None:
    link = struct.pack("=BxHiII", 0, 1, 7, 0x1043, 0) + _attr(3, b"cali1234\0") + _attr(16, bytes([6])) \
        + _attr(4, struct.pack("=I", 1500))  # IFLA_MTU: ignored
    v4 = struct.pack("=BBBBI", socket.AF_INET, 32, 0, 0, 7) + _attr(2, socket.inet_aton("10.0.0.1"))
    v6 = struct.pack("=BBBBI", socket.AF_INET6, 128, 0, 0, 7) \
        + _attr(1, socket.inet_pton(socket.AF_INET6, "fd00::1")) + _attr(2, b"\0" * 16)
    buf = _msg(16, link) + _msg(20, v4) + _msg(20, v6) + _msg(3, b"\0\0\0\0")
    msgs = _messages(buf)
    assert [m[0] for m in msgs] == [16, 20, 20, 3]
    assert parse_link(buf, *msgs[0][1:]) == Link(7, "cali1234", 0x1043, "UP")
    assert parse_addr(buf, *msgs[1][1:]) == Addr(7, "10.0.0.1")  # IFA_LOCAL when no IFA_ADDRESS
    assert parse_addr(buf, *msgs[2][1:]) == Addr(7, "fd00::1")  # IFA_ADDRESS first


def test_link_without_operstate_or_name() -> None:
    buf = _msg(16, struct.pack("=BxHiII", 0, 1, 3, 0, 0))
    (_, start, end), = _messages(buf)
    assert parse_link(buf, start, end) == Link(3, "", 0, None)

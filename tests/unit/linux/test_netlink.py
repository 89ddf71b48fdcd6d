"""rtnetlink message encoding and decoding (pure: bytes built and read here, no socket)."""

from __future__ import annotations

import socket
import struct

import pytest

from calico.linux import netlink as nl


def _msg(kind: int, payload: bytes, seq: int = 7) -> bytes:
    return bytes(nl.message(kind, 0, seq, payload))


def _link_payload(index: int, name: str, flags: int, operstate: int | None) -> bytes:
    body: bytes = nl.ifinfo(index, flags) + nl.attr(nl.IFLA_IFNAME, name.encode() + b"\0")
    if operstate is not None:
        body += nl.attr(nl.IFLA_OPERSTATE, bytes([operstate]))
    return body


def test_attr_is_padded_to_four_bytes() -> None:
    a = nl.attr(nl.IFLA_IFNAME, b"eth0\0")
    assert len(a) == 12 and struct.unpack_from("=HH", a) == (9, nl.IFLA_IFNAME)
    assert nl.attrs(a, 0, len(a)) == {nl.IFLA_IFNAME: b"eth0\0"}


def test_messages_split_a_datagram_and_stop_at_a_truncated_header() -> None:
    buf = _msg(nl.RTM_NEWLINK, _link_payload(1, "lo", 0x9, 0), seq=1) + _msg(nl.NLMSG_DONE, b"\0" * 4, seq=2)
    found = list(nl.messages(buf + b"\0" * 5))
    assert [(k, s) for k, s, _, _ in found] == [(nl.RTM_NEWLINK, 1), (nl.NLMSG_DONE, 2)]


def test_parse_link_reads_index_name_flags_and_operstate() -> None:
    buf = _msg(nl.RTM_NEWLINK, _link_payload(42, "cali1234", nl.IFF_UP, 6))
    (_, _, start, end), = nl.messages(buf)
    link = nl.parse_link(buf, start, end)
    assert link == nl.Link(42, "cali1234", nl.IFF_UP, "UP") and link.up
    down = _msg(nl.RTM_NEWLINK, _link_payload(3, "eth1", nl.IFF_UP, 2))
    (_, _, s2, e2), = nl.messages(down)
    assert not nl.parse_link(down, s2, e2).up  # admin up, no carrier
    unknown = _msg(nl.RTM_NEWLINK, _link_payload(4, "tun", nl.IFF_UP, None))
    (_, _, s3, e3), = nl.messages(unknown)
    assert nl.parse_link(unknown, s3, e3).operstate is None


@pytest.mark.parametrize(("family", "ip"), [(socket.AF_INET, "10.1.2.3"), (socket.AF_INET6, "fd00::5")])
def test_parse_addr_prefers_address_then_local(family: int, ip: str) -> None:
    raw = socket.inet_pton(family, ip)
    body = struct.pack("=BBBBI", family, 32, 0, 0, 9) + nl.attr(nl.IFA_LOCAL, raw)
    buf = _msg(nl.RTM_NEWADDR, body)
    (_, _, start, end), = nl.messages(buf)
    assert nl.parse_addr(buf, start, end) == nl.Addr(9, ip)


def test_route_body_encodes_calico_workload_route() -> None:
    body = nl.route_body("10.65.0.3/32", table=254, protocol=3, scope=nl.RT_SCOPE_LINK, oif=17)
    family, plen, _src, _tos, table, proto, scope, rtype, flags = struct.unpack_from("=BBBBBBBBI", body)
    assert (family, plen, table, proto, scope, rtype, flags) == (socket.AF_INET, 32, 254, 3, 253, 1, 0)
    a = nl.attrs(body, 12, len(body))
    assert a[nl.RTA_DST] == socket.inet_aton("10.65.0.3")
    assert struct.unpack("=I", a[nl.RTA_OIF])[0] == 17 and struct.unpack("=I", a[nl.RTA_TABLE])[0] == 254
    assert nl.RTA_GATEWAY not in a


def test_route_body_blackhole_onlink_gateway_and_big_table() -> None:
    body = nl.route_body("10.65.0.0/26", table=1000, protocol=80, route_type=6)
    assert struct.unpack_from("=BBBBBBBBI", body)[4] == nl.RT_TABLE_UNSPEC  # >255: only in RTA_TABLE
    assert struct.unpack("=I", nl.attrs(body, 12, len(body))[nl.RTA_TABLE])[0] == 1000
    via = nl.route_body("10.66.0.0/26", gateway="172.16.0.2", oif=3, onlink=True, protocol=80)
    assert struct.unpack_from("=BBBBBBBBI", via)[8] == nl.RTNH_F_ONLINK
    assert nl.attrs(via, 12, len(via))[nl.RTA_GATEWAY] == socket.inet_aton("172.16.0.2")
    default = nl.route_body("default", gateway="fe80::1", oif=2)
    assert struct.unpack_from("=BB", default) == (socket.AF_INET6, 0)
    assert nl.RTA_DST not in nl.attrs(default, 12, len(default))


def test_parse_route_round_trips_what_route_body_wrote() -> None:
    body = nl.route_body("fd00:1::/64", table=254, protocol=80, oif=5, gateway="fd00::9")
    buf = _msg(nl.RTM_NEWROUTE, body)
    (_, _, start, end), = nl.messages(buf)
    r = nl.parse_route(buf, start, end)
    assert (r.family, r.dst, r.table, r.protocol, r.oif, r.gateway, r.type) == (
        socket.AF_INET6, "fd00:1::/64", 254, 80, 5, "fd00::9", 1)
    default = _msg(nl.RTM_NEWROUTE, nl.route_body("default", gateway="10.0.0.1"))
    (_, _, s2, e2), = nl.messages(default)
    assert nl.parse_route(default, s2, e2).dst == "0.0.0.0/0"


def test_neigh_body_and_parse_neigh() -> None:
    body = nl.neigh_body("10.65.0.3", 17, lladdr="EE:EE:EE:EE:EE:EE")
    family, ifindex, state, _flags, _type = struct.unpack_from("=BxxxiHBB", body)
    assert (family, ifindex, state) == (socket.AF_INET, 17, nl.NUD_PERMANENT)
    buf = _msg(nl.RTM_NEWNEIGH, body)
    (_, _, start, end), = nl.messages(buf)
    n = nl.parse_neigh(buf, start, end)
    assert (n.dst, n.lladdr, n.ifindex, n.state) == ("10.65.0.3", "ee:ee:ee:ee:ee:ee", 17, nl.NUD_PERMANENT)
    bare = nl.neigh_body("10.65.0.3", 17, state=0)
    assert nl.NDA_LLADDR not in nl.attrs(bare, 12, len(bare))


def test_error_code_of_an_error_message() -> None:
    buf = _msg(nl.NLMSG_ERROR, struct.pack("=i", -17) + b"\0" * 16)
    (_, _, start, _end), = nl.messages(buf)
    assert nl.error_code(buf, start) == 17
    err = nl.NetlinkError(17, "RTNETLINK answers: File exists")
    assert err.code == 17 and isinstance(err, OSError)


def test_cni_command_lines_that_are_not_supported_are_refused_before_any_io() -> None:
    rt = nl.Rtnl.__new__(nl.Rtnl)  # no socket: the command is rejected while parsing
    with pytest.raises(nl.CommandError):
        rt.run("link set eth0 mtu 1400")
    with pytest.raises(nl.CommandError):
        rt.run("link add a type bridge peer name b")


"""IfaceMonitor folds raw rtnetlink datagrams into link/address events (pure: no socket)."""

from __future__ import annotations

import socket
import struct

from calico.linux import netlink as nl
from calico.linux.ifacemon import AddrEvent, IfaceEvent, IfaceMonitor, LinkEvent


def link_msg(kind: int, index: int, name: str, up: bool) -> bytes:
    body = nl.ifinfo(index, nl.IFF_UP if up else 0) + nl.attr(nl.IFLA_IFNAME, name.encode() + b"\0")
    body += nl.attr(nl.IFLA_OPERSTATE, bytes([6 if up else 2]))
    return bytes(nl.message(kind, 0, 0, body))


def addr_msg(kind: int, index: int, ip: str) -> bytes:
    body = struct.pack("=BBBBI", socket.AF_INET, 32, 0, 0, index) + nl.attr(nl.IFA_LOCAL, socket.inet_aton(ip))
    return bytes(nl.message(kind, 0, 0, body))


def test_link_and_address_events_from_one_datagram() -> None:
    events: list[IfaceEvent] = []
    mon = IfaceMonitor(prefixes=("cali",))
    mon._emit = events.append
    mon.handle_datagram(link_msg(nl.RTM_NEWLINK, 7, "cali1", True) + link_msg(nl.RTM_NEWLINK, 8, "eth1", True)
                        + addr_msg(nl.RTM_NEWADDR, 7, "10.0.0.7"))
    assert events == [LinkEvent("cali1", 7, True, True), AddrEvent("cali1", 7, frozenset({"10.0.0.7"}))]
    events.clear()
    mon.handle_datagram(link_msg(nl.RTM_NEWLINK, 7, "cali1", True))  # unchanged: nothing
    mon.handle_datagram(link_msg(nl.RTM_NEWLINK, 7, "cali1", False))
    mon.handle_datagram(addr_msg(nl.RTM_DELADDR, 7, "10.0.0.7"))
    mon.handle_datagram(link_msg(nl.RTM_DELLINK, 7, "cali1", False))
    assert events == [LinkEvent("cali1", 7, False, True), AddrEvent("cali1", 7, frozenset()),
                      LinkEvent("cali1", 7, False, False)]


def test_rename_is_a_removal_then_a_new_interface_and_garbage_is_skipped() -> None:
    events: list[IfaceEvent] = []
    mon = IfaceMonitor(prefixes=("cali",))
    mon._emit = events.append
    mon.handle_datagram(link_msg(nl.RTM_NEWLINK, 9, "calitmp", True))
    mon.handle_datagram(b"\x03\x00")  # a truncated header: ignored
    mon.handle_datagram(link_msg(nl.RTM_NEWLINK, 9, "cali9", True))
    assert events == [LinkEvent("calitmp", 9, True, True), LinkEvent("calitmp", 9, False, False),
                      LinkEvent("cali9", 9, True, True)]

"""calico.linux.netlink against a real kernel, inside a namespace the test created: dumps agree
with ``ip``, route and neighbour changes land exactly as ``ip`` would write them, the event socket
sees links and addresses come and go, and the module stays cheap to import (CNI start-up)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from calico.linux import netlink as nl
from tests.support.netns import Netns, veth
from tests.support.procs import wait_until


def ip_json(ns: Netns, *args: str) -> list[dict[str, Any]]:
    out = ns.run("ip", "-j", *args).stdout.strip()
    return json.loads(out) if out else []


@pytest.fixture
def host(netns_factory: Callable[[str], Netns]) -> Netns:
    host, wl = netns_factory("nlh"), netns_factory("nlw")
    veth(host, "calinl1", wl, "eth0")
    host.run("ip", "link", "add", "eth5", "type", "veth", "peer", "name", "eth6")  # no dummy module here
    host.run("ip", "addr", "add", "192.168.7.1/24", "dev", "eth5")
    host.run("ip", "link", "set", "eth5", "up")
    host.run("ip", "link", "set", "eth6", "up")
    return host


def test_dumps_match_ip(host: Netns) -> None:
    with nl.Rtnl(host.name) as rt:
        links = {lk.name: lk for lk in rt.links()}
        addrs = rt.addrs()
        routes = rt.routes(socket.AF_INET, 254)
    want = {d["ifname"]: d for d in ip_json(host, "link", "show")}
    assert set(links) == set(want)
    for name, d in want.items():
        assert links[name].index == d["ifindex"]
        assert links[name].up == ("UP" in d["flags"] and d["operstate"] in ("UP", "UNKNOWN"))
    assert nl.Addr(links["eth5"].index, "192.168.7.1") in addrs
    assert [(r.dst, r.protocol, r.scope, r.oif) for r in routes] == [
        ("192.168.7.0/24", 2, 253, links["eth5"].index)]
    with nl.Rtnl(host.name) as rt:
        assert rt.get_link("calinl1") == links["calinl1"]
        assert rt.get_link("nosuch0") is None


def test_route_and_neighbour_changes(host: Netns) -> None:
    with nl.Rtnl(host.name) as rt:
        idx = rt.get_link("calinl1")
        eth5 = rt.get_link("eth5")
        assert idx is not None and eth5 is not None
        rt.route_replace("10.65.0.2/32", protocol=3, scope=nl.RT_SCOPE_LINK, oif=idx.index)
        rt.route_replace("10.66.0.0/26", protocol=80, route_type=6)  # blackhole
        rt.route_replace("10.67.0.0/26", protocol=80, gateway="192.168.7.9", oif=eth5.index, onlink=True)
        rt.route_replace("10.68.0.0/26", table=1000, protocol=80, route_type=6)
        rt.neigh_replace("10.65.0.2", idx.index, "ee:ee:ee:ee:ee:01")
        shown = host.run("ip", "route", "show", "table", "main").stdout
        assert "10.65.0.2 dev calinl1 scope link" in shown  # ip leaves out "proto boot"
        assert "blackhole 10.66.0.0/26 proto 80" in shown
        assert "10.67.0.0/26 via 192.168.7.9 dev eth5 proto 80 onlink" in shown
        assert "blackhole 10.68.0.0/26 proto 80" in host.run("ip", "route", "show", "table", "1000").stdout
        neigh = host.run("ip", "neigh", "show", "dev", "calinl1").stdout
        assert "10.65.0.2 lladdr ee:ee:ee:ee:ee:01 PERMANENT" in neigh
        got = {r.dst: r for r in rt.routes(socket.AF_INET, 254)}
        assert got["10.67.0.0/26"].gateway == "192.168.7.9" and got["10.67.0.0/26"].flags & nl.RTNH_F_ONLINK
        assert got["10.66.0.0/26"].type == 6 and got["10.66.0.0/26"].oif is None
        assert (got["10.65.0.2/32"].protocol, got["10.65.0.2/32"].scope) == (3, nl.RT_SCOPE_LINK)
        perm = [n for n in rt.neighbours(socket.AF_INET) if n.state & nl.NUD_PERMANENT]
        assert [(n.dst, n.lladdr, n.ifindex) for n in perm] == [("10.65.0.2", "ee:ee:ee:ee:ee:01", idx.index)]
        # Replace is idempotent; delete by the same key; deleting twice reports ESRCH as pyroute2 did.
        rt.route_replace("10.65.0.2/32", protocol=3, scope=nl.RT_SCOPE_LINK, oif=idx.index)
        rt.route_del("10.65.0.2/32", scope=nl.RT_SCOPE_LINK, oif=idx.index)
        with pytest.raises(nl.NetlinkError) as info:
            rt.route_del("10.65.0.2/32", scope=nl.RT_SCOPE_LINK, oif=idx.index)
        assert info.value.code == 3
        rt.neigh_del("10.65.0.2", idx.index)
        assert "10.65.0.2" not in host.run("ip", "route", "show").stdout
        assert "PERMANENT" not in host.run("ip", "neigh", "show", "dev", "calinl1").stdout


def test_subscription_sees_links_and_addresses(host: Netns) -> None:
    sock = nl.subscribe(host.name)
    seen: list[tuple[int, str]] = []
    try:
        host.run("ip", "link", "add", "calisub", "type", "veth", "peer", "name", "calisub2")
        host.run("ip", "addr", "add", "10.9.9.9/32", "dev", "calisub")
        host.run("ip", "link", "del", "calisub")

        def drained() -> bool:
            try:
                data = sock.recv(1 << 16)
            except BlockingIOError:
                return False
            for kind, _seq, start, end in nl.messages(data):
                if kind in (nl.RTM_NEWLINK, nl.RTM_DELLINK):
                    seen.append((kind, nl.parse_link(data, start, end).name))
                elif kind == nl.RTM_NEWADDR:
                    a = nl.parse_addr(data, start, end)
                    seen.append((kind, a.address if a else ""))
            return (nl.RTM_DELLINK, "calisub") in seen

        wait_until(drained, timeout=5, interval=0.01, what="netlink events")
    finally:
        sock.close()
    assert (nl.RTM_NEWLINK, "calisub") in seen and (nl.RTM_NEWADDR, "10.9.9.9") in seen


def test_module_imports_stay_minimal() -> None:
    """The CNI plugin imports this module on every pod: no typing, dataclasses, ctypes or pyroute2."""
    code = ("import sys; before = set(sys.modules); import calico.linux.netlink; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert not {"typing", "dataclasses", "ctypes", "pyroute2", "socket", "threading"} & set(out), out


def test_felix_start_path_does_not_import_pyroute2() -> None:
    code = ("import sys, calico.felix.daemon, calico.felix.dataplane.driver, calico.linux.ifacemon; "
            "print('pyroute2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"

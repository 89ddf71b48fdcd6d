"""RouteTable + Sysctls + Conntrack against a host namespace with a real workload veth."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calico.linux.conntrack import Conntrack
from calico.linux.routes import NO_INTERFACE, RouteTable, Target
from calico.linux.sysctl import Sysctls
from tests.support.netns import Netns, veth
from tests.support.procs import wait_until

WL_IP = "10.65.0.2"
WL_MAC = "ee:ee:ee:ee:ee:01"


def routes(ns: Netns) -> str:
    return ns.run("ip", "-d", "route", "show", "table", "main").stdout


@pytest.fixture
def topo(netns_factory: Callable[[str], Netns]) -> tuple[Netns, Netns]:
    """host <-eth0-> router, and a workload wired to the host by caliwl1 as the CNI plugin does."""
    host, router, wl = netns_factory("host"), netns_factory("rtr"), netns_factory("wl")
    veth(host, "eth0", router, "eth0")
    host.run("ip", "addr", "add", "192.168.100.1/24", "dev", "eth0")
    router.run("ip", "addr", "add", "192.168.100.254/24", "dev", "eth0")
    host.run("ip", "route", "add", "default", "via", "192.168.100.254")
    veth(host, "caliwl1", wl, "eth0")
    wl.run("ip", "addr", "add", f"{WL_IP}/32", "dev", "eth0")
    wl.run("ip", "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
    wl.run("ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
    return host, wl


def test_workload_route_neighbour_and_sysctls_give_connectivity(topo: tuple[Netns, Netns]) -> None:
    host, wl = topo
    Sysctls(host.name).configure_workload_iface("caliwl1")
    assert Sysctls(host.name).read("net/ipv4/conf/caliwl1/proxy_arp") == "1"
    assert Sysctls(host.name).read("net/ipv4/neigh/caliwl1/proxy_delay") == "0"
    wl_mac = wl.run("cat", "/sys/class/net/eth0/address").stdout.strip()
    rt = RouteTable(4, netns=host.name)
    try:
        rt.set_routes("caliwl1", [Target(f"{WL_IP}/32", mac=wl_mac)])
        assert rt.apply() is True
        assert f"unicast {WL_IP} dev caliwl1 proto boot scope link" in routes(host)
        neigh = host.run("ip", "neigh", "show", "dev", "caliwl1").stdout
        assert f"{WL_IP} lladdr {wl_mac} PERMANENT" in neigh
        host.run("ping", "-c", "1", "-W", "2", WL_IP)  # host -> workload, workload replies via proxy ARP
        wl.run("ping", "-c", "1", "-W", "2", "192.168.100.1")
        assert rt.apply() is False
    finally:
        rt.close()


@pytest.mark.parametrize("batch_threshold", [1, 100], ids=["ip-batch", "netlink"])
def test_deleted_route_repaired_foreign_untouched_stale_removed(topo: tuple[Netns, Netns],
                                                               batch_threshold: int) -> None:
    host, _ = topo
    host.run("ip", "route", "add", "10.99.0.0/24", "via", "192.168.100.254")  # foreign, proto boot
    host.run("ip", "route", "add", "blackhole", "10.98.0.0/24")  # foreign blackhole (proto boot)
    host.run("ip", "route", "add", "blackhole", "10.97.0.0/26", "proto", "80")  # stale Calico route
    host.run("ip", "route", "add", "10.65.0.9/32", "dev", "caliwl1")  # stale workload route
    rt = RouteTable(4, netns=host.name, grace_period=0, batch_threshold=batch_threshold)
    try:
        rt.set_routes("caliwl1", [Target(f"{WL_IP}/32", mac="ee:ee:ee:ee:ee:02")])
        rt.set_routes(NO_INTERFACE, [Target("10.65.0.0/26", route_type="blackhole")])
        rt.apply()
        table = routes(host)
        assert f"unicast {WL_IP} dev caliwl1 proto boot scope link" in table
        assert "blackhole 10.65.0.0/26 proto 80" in table
        assert "unicast 10.99.0.0/24 via 192.168.100.254" in table and "blackhole 10.98.0.0/24" in table
        assert "10.97.0.0/26" not in table and "10.65.0.9" not in table
        host.run("ip", "route", "del", f"{WL_IP}/32")
        rt.refresh()
        assert rt.apply() is True
        assert f"unicast {WL_IP} dev caliwl1 proto boot scope link" in routes(host)
        rt.set_routes("caliwl1", [])
        rt.apply()
        assert WL_IP not in routes(host) and "10.99.0.0/24" in routes(host)
        assert WL_IP not in host.run("ip", "neigh", "show", "dev", "caliwl1").stdout
    finally:
        rt.close()


def test_grace_period_protects_cni_route(topo: tuple[Netns, Netns]) -> None:
    host, _ = topo
    now = [0.0]
    host.run("ip", "route", "add", f"{WL_IP}/32", "dev", "caliwl1")  # the CNI plugin's route
    rt = RouteTable(4, netns=host.name, grace_period=10, clock=lambda: now[0])
    try:
        rt.apply()
        assert WL_IP in routes(host)
        now[0] = 11.0
        rt.apply()
        assert WL_IP not in routes(host)
    finally:
        rt.close()


def test_interface_appearing_later_gets_its_route(topo: tuple[Netns, Netns],
                                                  netns_factory: Callable[[str], Netns]) -> None:
    host, _ = topo
    rt = RouteTable(4, netns=host.name)
    try:
        rt.set_routes("calilate", [Target("10.65.0.3/32")])
        assert rt.apply() is False
        wl2 = netns_factory("wl2")
        veth(host, "calilate", wl2, "eth0")
        idx = int(host.run("cat", "/sys/class/net/calilate/ifindex").stdout)
        rt.on_iface_update("calilate", idx, True)
        assert rt.apply() is True
        assert "unicast 10.65.0.3 dev calilate proto boot scope link" in routes(host)
        host.run("ip", "link", "del", "calilate")
        rt.on_iface_update("calilate", None, False)
        veth(host, "calilate", wl2, "eth1")  # recreated with a new index
        rt.on_iface_update("calilate", int(host.run("cat", "/sys/class/net/calilate/ifindex").stdout), True)
        rt.apply()
        assert "unicast 10.65.0.3 dev calilate proto boot scope link" in routes(host)
    finally:
        rt.close()


def test_conntrack_flows_removed_for_ip(topo: tuple[Netns, Netns]) -> None:
    host, _ = topo
    Sysctls(host.name).configure_workload_iface("caliwl1")
    rt = RouteTable(4, netns=host.name)
    try:
        rt.set_routes("caliwl1", [Target(f"{WL_IP}/32")])
        rt.apply()
    finally:
        rt.close()
    host.run("iptables", "-A", "OUTPUT", "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT")  # track
    host.run("ping", "-c", "1", "-W", "2", WL_IP)
    wait_until(lambda: WL_IP in host.run("conntrack", "-L", check=False).stdout, what="a tracked flow")
    Conntrack(host.name).remove_flows_for_ip(WL_IP)
    assert WL_IP not in host.run("conntrack", "-L", check=False).stdout


def test_global_sysctls_only_in_the_given_namespace(ns: Netns) -> None:
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        root_before = f.read()
    Sysctls(ns.name).configure_global()
    assert Sysctls(ns.name).read("net/ipv4/ip_forward") == "1"
    assert Sysctls(ns.name).read("net/ipv6/conf/all/forwarding") == "1"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read() == root_before


def test_ipv6_workload_route_leaves_link_local_alone(topo: tuple[Netns, Netns]) -> None:
    host, wl = topo
    wl.run("ip", "-6", "addr", "add", "fd00:65::2/128", "dev", "eth0", "nodad")
    rt = RouteTable(6, netns=host.name, grace_period=0)
    try:
        rt.set_routes("caliwl1", [Target("fd00:65::2/128")])
        assert rt.apply() is True
        table = host.run("ip", "-6", "-d", "route", "show").stdout
        assert "unicast fd00:65::2 dev caliwl1 proto boot" in table
        assert "fe80::/64 dev caliwl1 proto kernel" in table  # the kernel's own route stays
        rt.refresh()
        assert rt.apply() is False
    finally:
        rt.close()

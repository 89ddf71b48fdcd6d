"""VXLAN between two host namespaces (device, FDB, ARP, routes, real ping) and the IPIP path."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calico.linux.ipip import IPIPDevice, IPIPUnsupportedError, ipip_support
from calico.linux.routes import RouteTable, Target
from calico.linux.vxlan import VTEP, VXLANFDB, VXLANConfig, VXLANDevice
from tests.support.netns import Netns, veth

HOSTS = {
    "a": dict(ip="192.168.200.1", vtep="10.244.1.0", mac="66:aa:00:00:00:01", block="10.244.1.0/26"),
    "b": dict(ip="192.168.200.2", vtep="10.244.2.0", mac="66:bb:00:00:00:02", block="10.244.2.0/26"),
}


def program(ns: Netns, me: str, other: str) -> tuple[VXLANDevice, RouteTable]:
    mine, theirs = HOSTS[me], HOSTS[other]
    dev = VXLANDevice(VXLANConfig(parent="eth0", local_ip=mine["ip"], mac=mine["mac"], mtu=1450,
                                  address=mine["vtep"]), netns=ns.name)
    assert dev.ensure() is True
    fdb = VXLANFDB(netns=ns.name)
    fdb.set_vteps([VTEP(other, theirs["ip"], theirs["vtep"], theirs["mac"])])
    assert fdb.apply() is True
    rt = RouteTable(4, netns=ns.name)
    rt.set_routes("vxlan.calico", [Target(theirs["block"], gateway=theirs["vtep"], onlink=True)])
    rt.apply()
    return dev, rt


def test_vxlan_between_two_hosts(netns_factory: Callable[[str], Netns]) -> None:
    a, b = netns_factory("vxa"), netns_factory("vxb")
    veth(a, "eth0", b, "eth0")
    for ns, h, other in ((a, "a", "b"), (b, "b", "a")):
        ns.run("ip", "addr", "add", f"{HOSTS[h]['ip']}/24", "dev", "eth0")
        ns.run("ip", "route", "add", "default", "via", HOSTS[other]["ip"])
    dev_a, rt_a = program(a, "a", "b")
    _, rt_b = program(b, "b", "a")
    try:
        details = a.run("ip", "-d", "link", "show", "vxlan.calico").stdout
        assert "vxlan id 4096" in details and "dstport 4789" in details and "nolearning" in details
        assert "66:aa:00:00:00:01" in details and "mtu 1450" in details
        assert "66:bb:00:00:00:02 dst 192.168.200.2" in a.run("bridge", "fdb", "show", "dev",
                                                              "vxlan.calico").stdout
        assert "10.244.2.0 lladdr 66:bb:00:00:00:02 PERMANENT" in a.run(
            "ip", "neigh", "show", "dev", "vxlan.calico").stdout
        assert "10.244.2.0/26 via 10.244.2.0 dev vxlan.calico proto 80 onlink" in a.run(
            "ip", "route").stdout
        a.run("ping", "-c", "1", "-W", "2", "-I", "10.244.1.0", "10.244.2.0")  # through the tunnel
        assert dev_a.ensure() is False  # idempotent
        # A device with the wrong VNI is recreated.
        a.run("ip", "link", "del", "vxlan.calico")
        a.run("ip", "link", "add", "vxlan.calico", "type", "vxlan", "id", "99", "dstport", "4789", "dev", "eth0")
        assert dev_a.ensure() is True
        assert "vxlan id 4096" in a.run("ip", "-d", "link", "show", "vxlan.calico").stdout
        # A VTEP going away removes its FDB and ARP entries.
        fdb = VXLANFDB(netns=a.name)
        fdb.set_vteps([])
        fdb.apply()
        assert "66:bb" not in a.run("bridge", "fdb", "show", "dev", "vxlan.calico").stdout
        assert "10.244.2.0" not in a.run("ip", "neigh", "show", "dev", "vxlan.calico").stdout
    finally:
        rt_a.close()
        rt_b.close()


def test_ipip_unsupported_kernel_gives_clear_error(ns: Netns) -> None:
    reason = ipip_support(ns.name)
    if reason is None:
        pytest.skip("this kernel supports IPIP; the unsupported-kernel path cannot be exercised")
    assert "IPIP is not supported by this kernel" in reason
    with pytest.raises(IPIPUnsupportedError, match="IPIP is not supported by this kernel"):
        IPIPDevice(netns=ns.name, address="10.244.3.0").ensure()


def test_ipip_tunl0_configured(ns: Netns) -> None:
    reason = ipip_support(ns.name)
    if reason is not None:
        pytest.skip(reason)
    dev = IPIPDevice(netns=ns.name, address="10.244.3.0", mtu=1480)
    dev.ensure()
    out = ns.run("ip", "addr", "show", "tunl0").stdout
    assert "10.244.3.0/32" in out and "mtu 1480" in out

"""Pure parts of the dataplane and CHECK: the commands planned and what counts as missing."""

from __future__ import annotations

from calico.cni.dataplane import Observed, Plan, container_batch, host_batch, ip_in, random_mac
from calico.cni.plugin import check_missing

PLAN = Plan(netns="/run/netns/c1", ifname="eth0", host_ifname="calia", mtu=1440,
            addresses=("10.0.0.5/32", "fd00::5/128"), container_mac="02:00:00:00:00:01")


def test_container_commands() -> None:
    lines = container_batch(PLAN, 4242)
    assert lines[0].startswith("link add eth0 address 02:00:00:00:00:01 mtu 1440 type veth peer name calia")
    assert "address ee:ee:ee:ee:ee:ee" in lines[0] and lines[0].endswith("netns 4242")
    assert "route add 169.254.1.1/32 dev eth0 scope link" in lines
    assert "route add default via 169.254.1.1 dev eth0" in lines
    assert "route add default via fe80::ecee:eeff:feee:eeee dev eth0" in lines


def test_host_commands() -> None:
    assert host_batch(PLAN) == ["link set calia up", "route add 10.0.0.5/32 dev calia scope link",
                                "route add fd00::5/128 dev calia scope link"]


def test_netns_addressing() -> None:
    assert ip_in("/run/netns/abc") == ["ip", "-n", "abc"]
    assert ip_in("/proc/123/ns/net") == ["nsenter", "--net=/proc/123/ns/net", "ip"]


def test_mac_is_local_unicast() -> None:
    first = int(random_mac().split(":")[0], 16)
    assert first & 0x02 and not first & 0x01


def test_check_missing() -> None:
    good = Observed(True, frozenset({"10.0.0.5/32"}),
                    frozenset({("169.254.1.1", ""), ("default", "169.254.1.1")}))
    assert check_missing(good, "eth0", ["10.0.0.5/32"]) == []
    bare = Observed(True, frozenset(), frozenset())
    assert check_missing(bare, "eth0", ["10.0.0.5/32"]) == [
        "address 10.0.0.5/32 is missing from eth0", "route 169.254.1.1 dev eth0 scope link is missing",
        "default route via 169.254.1.1 is missing"]
    assert check_missing(Observed(False, frozenset(), frozenset()), "eth0", []) == ["interface eth0 is missing"]

"""CNI functional fixtures: a host namespace the plugin runs in, container namespaces, a pool."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fv.cni.support import put_pool
from tests.support.etcd import EtcdServer
from tests.support.netns import Netns

POOL_CIDR = "10.65.0.0/24"


@pytest.fixture
def host(netns_factory: Callable[[str], Netns]) -> Netns:
    """The 'host' namespace: the plugin runs here as a runtime on that host would run it."""
    ns = netns_factory("cnihost")
    make_host(ns, "192.0.2.1/24", "192.0.2.254")
    return ns


def make_host(ns: Netns, uplink_cidr: str, gateway: str) -> None:
    """An uplink with a default route (proxy ARP answers for 169.254.1.1 only when the host has a
    route to it through another interface) and IP forwarding on (Felix's global setting, by hand)."""
    ns.run("ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink-peer")
    ns.run("ip", "link", "set", "uplink-peer", "up")
    ns.run("ip", "link", "set", "uplink", "up")
    ns.run("ip", "addr", "add", uplink_cidr, "dev", "uplink")
    ns.run("ip", "route", "add", "default", "via", gateway, "dev", "uplink", "onlink")
    ns.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")


@pytest.fixture
def container(netns_factory: Callable[[str], Netns]) -> Callable[[str], Netns]:
    return lambda name: netns_factory(f"cnic-{name}")


@pytest.fixture
def pool(etcd: EtcdServer) -> str:
    put_pool(etcd, "pool1", POOL_CIDR)
    return POOL_CIDR


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path

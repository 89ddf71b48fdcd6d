"""calico-node start-up logic that needs no I/O: autodetection choices and default pools."""

from __future__ import annotations

import pytest

from calico.node.autodetect import AutodetectError, Interface, choose
from calico.node.startup import StartupError, default_pool_docs, resolve_address

IFACES = [
    Interface("lo", ("127.0.0.1/8", "::1/128")),
    Interface("docker0", ("172.17.0.1/16",)),
    Interface("eth0", ("10.0.0.5/24", "fe80::1/64", "fd00::5/64")),
    Interface("eth1", ("192.168.7.5/24",)),
]


def test_first_found_skips_default_exclusions() -> None:
    assert choose("first-found", 4, IFACES) == "10.0.0.5/24"
    assert choose("", 6, IFACES) == "fd00::5/64"


def test_interface_skip_interface_cidr_can_reach() -> None:
    assert choose("interface=eth1", 4, IFACES) == "192.168.7.5/24"
    assert choose("interface=docker.*", 4, IFACES) == "172.17.0.1/16"
    assert choose("skip-interface=eth0", 4, IFACES) == "192.168.7.5/24"
    assert choose("cidr=192.168.0.0/16", 4, IFACES) == "192.168.7.5/24"
    assert choose("can-reach=8.8.8.8", 4, IFACES, reach=lambda d: "192.168.7.5") == "192.168.7.5/24"


def test_bad_and_failed_methods() -> None:
    with pytest.raises(AutodetectError, match="Invalid IP autodetection method: bogus"):
        choose("bogus", 4, IFACES)
    with pytest.raises(AutodetectError, match="Failed to autodetect an IPv4 address"):
        choose("interface=nothing", 4, IFACES)


def test_resolve_address_rules() -> None:
    ifs = lambda: IFACES  # noqa: E731
    assert resolve_address("10.0.0.5", None, 4, None, ifs) == "10.0.0.5/24"  # prefix from interface
    assert resolve_address("10.9.9.9", None, 4, None, ifs) == "10.9.9.9/32"
    assert resolve_address(None, None, 4, "10.1.1.1/24", ifs) == "10.1.1.1/24"  # keep stored
    assert resolve_address("autodetect", "interface=eth1", 4, "10.1.1.1/24", ifs) == "192.168.7.5/24"
    assert resolve_address(None, None, 6, None, ifs) is None  # IPv6 only when asked
    assert resolve_address("autodetect", None, 6, None, ifs) == "fd00::5/64"
    with pytest.raises(StartupError, match=r"Invalid IPv4 address specified: 10\.0\.0"):
        resolve_address("10.0.0", None, 4, None, ifs)


def test_default_pools() -> None:
    docs = default_pool_docs({}, ["10.0.0.5/24"], False, False, ipv6_supported=True)
    v4, v6 = docs
    assert v4["metadata"]["name"] == "default-ipv4-ippool"
    assert v4["spec"] == {"cidr": "192.168.0.0/16", "vxlanMode": "Never", "ipipMode": "Never", "natOutgoing": True,
                          "blockSize": 26, "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"],
                          "assignmentMode": "Automatic"}
    assert v6["spec"]["cidr"].startswith("fd") and v6["spec"]["cidr"].endswith("/48")
    assert v6["spec"]["blockSize"] == 122 and v6["spec"]["natOutgoing"] is False


def test_default_pool_avoids_host_subnet_and_honours_env() -> None:
    docs = default_pool_docs({}, ["192.168.1.5/24"], False, True, ipv6_supported=True)
    assert [d["spec"]["cidr"] for d in docs] == ["172.16.0.0/16"]
    env = {"CALICO_IPV4POOL_CIDR": "10.244.0.0/16", "CALICO_IPV4POOL_BLOCK_SIZE": "24",
           "CALICO_IPV4POOL_VXLAN": "always", "CALICO_IPV4POOL_NAT_OUTGOING": "false", "CALICO_IPV6POOL_CIDR": "none"}
    (doc,) = default_pool_docs(env, [], False, False, ipv6_supported=True)
    assert (doc["spec"]["cidr"], doc["spec"]["blockSize"], doc["spec"]["vxlanMode"], doc["spec"]["natOutgoing"]) == \
        ("10.244.0.0/16", 24, "Always", False)
    assert default_pool_docs({}, [], True, True, ipv6_supported=True) == []


def test_default_pool_errors() -> None:
    with pytest.raises(StartupError, match="NO_DEFAULT_POOLS"):
        default_pool_docs({"NO_DEFAULT_POOLS": "true", "CALICO_IPV4POOL_CIDR": "10.0.0.0/16"}, [], False, False, True)
    with pytest.raises(StartupError, match="CALICO_IPV4POOL_BLOCK_SIZE"):
        default_pool_docs({"CALICO_IPV4POOL_BLOCK_SIZE": "8"}, [], False, True, True)
    with pytest.raises(StartupError, match="CALICO_IPV4POOL_CIDR"):
        default_pool_docs({"CALICO_IPV4POOL_CIDR": "banana"}, [], False, True, True)
    with pytest.raises(StartupError, match="CALICO_IPV4POOL_IPIP"):
        default_pool_docs({"CALICO_IPV4POOL_IPIP": "sometimes"}, [], False, True, True)

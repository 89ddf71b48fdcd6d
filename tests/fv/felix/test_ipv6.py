"""IPv6 with real packets (Felix's default: Ipv6Support=true).

Host A carries dual-stack workloads w1-w3 wired as Calico's CNI plugin does (``/128`` on eth0,
default route via the host veth's link-local ``fe80::ecee:eeff:feee:eeee``); host B carries w5. The
uplinks and the fabric also get IPv6: the remote /128s are routed between the hosts by hand (as BGP
would) and natOutgoing can be seen from outside. Every test leaves no policy behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fv.felix.conftest import Cluster, default_profile, pool
from tests.fv.felix.support import (
    Checker,
    Checker6,
    add_ipv6,
    connect6,
    policy,
    start_servers6,
    wep_doc6,
)
from tests.support.procs import wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]

POOL6 = "fd00:65::/64"
FABRIC6, HOST6, HOST6_B = "fd00:100::254", "fd00:100::1", "fd00:100::2"
WORKLOADS = {"w1": ("10.65.0.1", "fd00:65::1", {}), "w2": ("10.65.0.2", "fd00:65::2", {}),
             "w3": ("10.65.0.3", "fd00:65::3", {"role": "client"})}


def pool6(c: Cluster, nat: bool) -> None:
    c.store.apply({"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "pool-v6"},
                   "spec": {"cidr": POOL6, "ipipMode": "Never", "vxlanMode": "Never", "natOutgoing": nat}})


def v6_workload(c: Cluster, host: Any, name: str, ip4: str, ip6: str, **labels: str) -> Any:
    w: Any = c.add_workload(host, name, ip4, ports=(), configure=False, labels=labels)
    add_ipv6(w, ip6)
    start_servers6(c.servers, w.ns, (8055, 8056))
    c.store.apply(wep_doc6(w, ip6))
    w.ip6 = ip6
    return w


@pytest.fixture(scope="module")
def cluster(cluster_factory: Any) -> Cluster:
    c: Cluster = cluster_factory()
    default_profile(c.store)
    pool(c.store)
    pool6(c, nat=True)
    h = c.add_host("felix-6a", 1)
    h.run("ip", "-6", "addr", "add", f"{HOST6}/64", "dev", "eth0", "nodad")
    c.fabric.run("ip", "-6", "addr", "add", f"{FABRIC6}/64", "dev", "br0", "nodad")
    start_servers6(c.servers, c.fabric, (8057,))
    for name, (ip4, ip6, labels) in WORKLOADS.items():
        v6_workload(c, h, name, ip4, ip6, **labels)
    b = c.add_host("felix-6b", 2)
    b.run("ip", "-6", "addr", "add", f"{HOST6_B}/64", "dev", "eth0", "nodad")
    v6_workload(c, b, "w5", "10.65.1.5", "fd00:65::5")
    wl: Any
    for wl in c.workloads:
        other, via = (b, HOST6) if wl.host is h else (h, HOST6_B)
        other.run("ip", "-6", "route", "add", f"{wl.ip6}/128", "via", via, "proto", "static")
        other.run("ip", "route", "add", f"{wl.ip}/32", "via", wl.host.ip, "proto", "static")
    h.wait_felix_in_sync()
    b.wait_felix_in_sync()
    return c


@pytest.fixture
def pols(cluster: Cluster) -> Iterator[Any]:
    made: list[tuple[str, str]] = []

    def apply(doc: dict[str, Any]) -> None:
        cluster.store.apply(doc)
        made.append((doc["kind"], doc["metadata"]["name"]))

    yield apply
    for kind, name in reversed(made):
        cluster.store.delete(kind, name)


def w(cluster: Cluster, name: str) -> Any:
    return next(x for x in cluster.workloads if x.name == name)


def test_v6_workload_to_workload_same_host(cluster: Cluster) -> None:
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    cc = Checker6()
    cc.some(w1, w2.ip6)
    cc.some(w2, w1.ip6, 8056, "udp")
    cc.some(w1, w2.ip6, proto="icmp")
    cc.some(w1, w2)  # IPv4 beside it
    cc.check(timeout=15)


def test_v6_cross_host(cluster: Cluster) -> None:
    w1, w2, w5 = w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w5")
    cc = Checker6()
    cc.some(w1, w5.ip6)
    cc.some(w5, w2.ip6, 8056, "udp")
    cc.some(w5, w1.ip6, proto="icmp")
    cc.check(timeout=15)
    assert connect6(w5.ns, w1.ip6, 8055) == w5.ip6, "no NAT between pool addresses"


def test_v6_icmp_blocked_by_policy_neighbour_discovery_still_works(cluster: Cluster, pols: Any) -> None:
    """Calico's ip6tables test: a policy dropping ICMPv6 must not break neighbour discovery
    (accepted before workload policy), so TCP still flows after the neighbour caches are flushed."""
    h, w1, w2 = cluster.hosts[0], w(cluster, "w1"), w(cluster, "w2")
    pols(policy("no-icmpv6", {"selector": "name in {'w1', 'w2'}", "types": ["Ingress", "Egress"],
                              "ingress": [{"action": "Deny", "protocol": "ICMPv6"}, {"action": "Allow"}],
                              "egress": [{"action": "Deny", "protocol": "ICMPv6"}, {"action": "Allow"}]}))
    cc = Checker6()
    cc.none(w1, w2.ip6, proto="icmp")
    cc.check()
    for wl in (w1, w2):
        wl.run("ip", "-6", "neigh", "flush", "dev", "eth0")
        h.run("ip", "-6", "neigh", "flush", "dev", wl.iface)
    cc.some(w1, w2.ip6)
    cc.none(w1, w2.ip6, proto="icmp")
    cc.check()


def test_v6_spoofed_source_dropped(cluster: Cluster) -> None:
    """A workload sending from an IPv6 address that is not its own is dropped (cali-fw- anti-spoofing)."""
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    w1.run("ip", "-6", "addr", "add", "fd00:65::99/128", "dev", "eth0", "nodad")
    try:
        wait_until(lambda: connect6(w1.ns, w2.ip6, 8055) == w1.ip6, timeout=10, what="w1 -> w2 from its own address")
        assert connect6(w1.ns, w2.ip6, 8055, source="fd00:65::99") is None
    finally:
        w1.run("ip", "-6", "addr", "del", "fd00:65::99/128", "dev", "eth0")


def test_v6_kernel_state(cluster: Cluster) -> None:
    """/128 route with Calico's protocol, per-endpoint ip6tables chains, ICMPv6 neighbour discovery
    allowed from workloads, proxy_ndp/forwarding on the host veth, no static v6 neighbour (Calico
    adds static ARP entries for IPv4 only)."""
    h, w1 = cluster.hosts[0], w(cluster, "w1")
    route = h.run("ip", "-d", "-6", "route", "show", f"{w1.ip6}/128").stdout
    assert f"dev {w1.iface}" in route and "proto boot" in route, route
    save6 = h.run("ip6tables-save", "-t", "filter").stdout
    assert f":cali-tw-{w1.iface}" in save6 and f":cali-fw-{w1.iface}" in save6
    nd = [line for line in save6.splitlines() if line.startswith("-A cali-wl-to-host") and "icmpv6-type" in line]
    assert {line.split("--icmpv6-type ")[1].split()[0] for line in nd} == {"130", "131", "132", "133", "135", "136"}
    for key, want in (("proxy_ndp", "1"), ("forwarding", "1"), ("accept_ra", "0")):
        assert h.run("cat", f"/proc/sys/net/ipv6/conf/{w1.iface}/{key}").stdout.strip() == want, key
    assert h.run("cat", "/proc/sys/net/ipv6/conf/all/forwarding").stdout.strip() == "1"
    assert "PERMANENT" not in h.run("ip", "-6", "neigh", "show", w1.ip6).stdout
    assert "PERMANENT" in h.run("ip", "neigh", "show", w1.ip).stdout  # the IPv4 static ARP entry
    sets = h.run("ipset", "list", "-n").stdout.split()
    assert any(s.startswith("cali60") for s in sets), sets


def test_v6_policy_denies_one_port(cluster: Cluster, pols: Any) -> None:
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    pols(policy("deny-8055-v6", {"selector": "name == 'w2'", "types": ["Ingress"], "ingress": [
        {"action": "Deny", "protocol": "TCP", "destination": {"ports": [8055]}},
        {"action": "Allow"}]}))
    cc = Checker6()
    cc.none(w1, w2.ip6, 8055)
    cc.some(w1, w2.ip6, 8056)
    cc.some(w1, w2.ip6, proto="icmp")
    cc.check()
    save6 = cluster.hosts[0].run("ip6tables-save", "-t", "filter").stdout
    assert "--dport 8055" in save6 or "--dports 8055" in save6, "the rule is in ip6tables"


def test_v6_selector_allow_uses_cali60_ipset(cluster: Cluster, pols: Any) -> None:
    h, w1, w2, w3 = cluster.hosts[0], w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w3")
    pols(policy("from-clients", {"selector": "name == 'w2'", "types": ["Ingress"], "ingress": [
        {"action": "Allow", "source": {"selector": "role == 'client'"}}]}))
    cc = Checker6()
    cc.some(w3, w2.ip6)
    cc.none(w1, w2.ip6)
    cc.some(w3, w2)  # the same set's IPv4 twin
    cc.none(w1, w2)
    cc.check()
    save6 = h.run("ip6tables-save", "-t", "filter").stdout
    v6sets = {tok for line in save6.splitlines() if "--match-set" in line
              for tok in line.split() if tok.startswith("cali60s:")}
    assert v6sets, "selector rule matches a cali60 set in ip6tables"
    name = sorted(v6sets)[0]
    listing = h.run("ipset", "list", name).stdout
    assert "family inet6" in listing and "hash:net" in listing, listing
    assert w3.ip6 in listing and w1.ip6 not in listing, listing


def test_v6_cidr_rule(cluster: Cluster, pols: Any) -> None:
    w1, w2, w3 = w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w3")
    pols(policy("from-w1-net", {"selector": "name == 'w2'", "types": ["Ingress"], "ingress": [
        {"action": "Allow", "source": {"nets": [f"{w1.ip6}/128"]}}]}))
    cc = Checker6()
    cc.some(w1, w2.ip6)
    cc.none(w3, w2.ip6)
    cc.none(w1, w2)  # an IPv6-only rule renders nothing into IPv4: default deny there
    cc.check()


def test_v6_nat_outgoing(cluster: Cluster) -> None:
    """A workload in a natOutgoing v6 pool reaches the fabric from the host's address (MASQUERADE
    in ip6tables nat); without natOutgoing the fabric has no route back."""
    h, w1 = cluster.hosts[0], w(cluster, "w1")
    seen = wait_until(lambda: connect6(w1.ns, FABRIC6, 8057), timeout=15, what="v6 connection to the fabric")
    assert seen == HOST6, f"fabric saw {seen}, expected the host's address (masquerade)"
    nat6 = h.run("ip6tables-save", "-t", "nat").stdout
    assert any(line.startswith("-A cali-nat-outgoing") and "MASQUERADE" in line for line in nat6.splitlines())
    pool6(cluster, nat=False)
    try:
        wait_until(lambda: connect6(w1.ns, FABRIC6, 8057) is None, timeout=15, what="masquerade removed")
    finally:
        pool6(cluster, nat=True)


def test_v6_endpoint_deletion_removes_route(cluster: Cluster) -> None:
    c = cluster
    h = c.hosts[0]
    w4 = v6_workload(c, h, "w4", "10.65.0.4", "fd00:65::4")
    wait_until(lambda: f"dev {w4.iface}" in h.run("ip", "-6", "route", "show", "fd00:65::4/128").stdout,
               timeout=15, what="w4 /128 route")
    cc = Checker6()
    cc.some(w(c, "w1"), w4.ip6)
    cc.check()
    w4.remove(c.store)
    wait_until(lambda: h.run("ip", "-6", "route", "show", "fd00:65::4/128").stdout.strip() == "",
               timeout=15, what="w4 /128 route removed")
    wait_until(lambda: f"cali-tw-{w4.iface}" not in h.run("ip6tables-save", "-t", "filter").stdout,
               timeout=15, what="w4 ip6tables chains removed")


def test_host_without_ipv6_runs_ipv4_only(cluster: Cluster) -> None:
    """IPv6 disabled in the host's kernel namespace: Felix warns and programs IPv4 only."""
    c = cluster
    h = c.add_host("felix-6n", 3, start=False)
    h.run("sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
    h.start_felix()
    x1 = c.add_workload(h, "x1", "10.65.2.1")
    x2 = c.add_workload(h, "x2", "10.65.2.2")
    h.wait_felix_in_sync()
    assert "IPv6 is not usable on this host" in h.log_text() and "running IPv4 only" in h.log_text()
    cc = Checker()
    cc.some(x1, x2)
    cc.check(timeout=15)
    assert "cali-" not in h.run("ip6tables-save", "-t", "filter").stdout
    assert not any(s.startswith("cali60") for s in h.run("ipset", "list", "-n").stdout.split())

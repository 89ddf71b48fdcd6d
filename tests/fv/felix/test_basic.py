"""First end to end: one host, two workloads, an allow-all profile -> ping and TCP pass."""

from __future__ import annotations

import pytest

from tests.fv.felix.conftest import default_profile, pool
from tests.fv.felix.support import Checker

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]


@pytest.fixture(scope="module")
def one_host(cluster_factory):  # type: ignore[no-untyped-def]
    c = cluster_factory()
    default_profile(c.store)
    pool(c.store)
    c.add_host("felix-a", 1)
    return c


def test_two_workloads_one_host_allow_all(one_host) -> None:  # type: ignore[no-untyped-def]
    c = one_host
    h = c.hosts[0]
    w1 = c.add_workload(h, "w1", "10.65.0.1")
    w2 = c.add_workload(h, "w2", "10.65.0.2")
    h.wait_felix_in_sync()
    cc = Checker()
    cc.some(w1, w2, proto="icmp")
    cc.some(w2, w1, proto="icmp")
    cc.some(w1, w2)
    cc.some(w2, w1, 8056, "udp")
    cc.check()


def test_routes_chains_and_status(one_host) -> None:  # type: ignore[no-untyped-def]
    """The /32 routes carry proto boot + scope link, the endpoint chains exist, status is 'up'."""
    import json

    from tests.support.procs import wait_until

    c = one_host
    h = c.hosts[0]
    w1 = c.workloads[0]
    routes = h.run("ip", "-d", "route", "show", "10.65.0.1").stdout
    assert f"dev {w1.iface}" in routes and "proto boot" in routes and "scope link" in routes, routes
    neigh = h.run("ip", "neigh", "show", "10.65.0.1").stdout
    assert w1.mac in neigh and "PERMANENT" in neigh, neigh
    save = h.iptables_save("filter")
    assert f":cali-tw-{w1.iface}" in save and f":cali-fw-{w1.iface}" in save
    assert "-A FORWARD -m comment --comment \"cali:" in save
    key = (f"/calico/felix/v2/no-region/host/{h.name}/workload/felixfv/default%2fw1/endpoint/eth0")
    wait_until(lambda: json.loads(c.store.get(key) or "{}") == {"status": "up"}, timeout=10,
               what="endpoint status record 'up'")
    status = wait_until(lambda: c.store.get(f"/calico/felix/v2/no-region/host/{h.name}/status"), timeout=10)
    doc = json.loads(status)
    assert set(doc) == {"time", "uptime", "first_update"}
    assert h.run("cat", f"/proc/sys/net/ipv4/conf/{w1.iface}/proxy_arp").stdout.strip() == "1"


def test_ipv6_support_programs_ip6tables_too(one_host) -> None:  # type: ignore[no-untyped-def]
    """With Ipv6Support=true the same chains go into ip6tables and IPv4 keeps working."""
    from tests.fv.felix.support import Checker

    c = one_host
    h6 = c.add_host("felix-6", 6, FELIX_IPV6SUPPORT="true")
    x1 = c.add_workload(h6, "x1", "10.65.6.1")
    x2 = c.add_workload(h6, "x2", "10.65.6.2")
    h6.wait_felix_in_sync()
    cc = Checker()
    cc.some(x1, x2)
    cc.check()
    save6 = h6.run("ip6tables-save", "-t", "filter").stdout
    assert f":cali-tw-{x1.iface}" in save6 and "cali-to-wl-dispatch" in save6
    assert h6.run("cat", f"/proc/sys/net/ipv6/conf/{x1.iface}/accept_ra").stdout.strip() == "0"

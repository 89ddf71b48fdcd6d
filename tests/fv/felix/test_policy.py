"""Policy enforcement with real packets on one shared two-host topology (Calico FV scenarios).

Host A carries w1, w2, w3 (namespace default) and w4 (namespace other); host B carries w5. The
remote /32s are routed between the hosts by hand, as BGP would. Every test leaves no policy behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fv.felix.conftest import Cluster, default_profile, pool
from tests.fv.felix.support import Checker, policy, profile
from tests.support.procs import wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]


@pytest.fixture(scope="module")
def cluster(cluster_factory: Any) -> Cluster:
    c: Cluster = cluster_factory()
    default_profile(c.store)
    pool(c.store)
    a = c.add_host("felix-a", 1)
    b = c.add_host("felix-b", 2)
    c.add_workload(a, "w1", "10.65.0.1")
    c.add_workload(a, "w2", "10.65.0.2")
    c.add_workload(a, "w3", "10.65.0.3")
    c.add_workload(a, "w4", "10.65.0.4", namespace="other")
    c.add_workload(b, "w5", "10.65.1.5")
    for w in c.workloads:
        other = b if w.host is a else a
        other.run("ip", "route", "add", f"{w.ip}/32", "via", w.host.ip, "proto", "static")
    a.wait_felix_in_sync()
    b.wait_felix_in_sync()
    return c


@pytest.fixture
def pols(cluster: Cluster) -> Iterator[Any]:
    """apply(doc) records what a test created; everything is deleted afterwards."""
    made: list[tuple[str, str, str | None]] = []

    def apply(doc: dict[str, Any]) -> None:
        cluster.store.apply(doc)
        made.append((doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace")))

    yield apply
    for kind, name, ns in reversed(made):
        cluster.store.delete(kind, name, ns)


def w(cluster: Cluster, name: str) -> Any:
    return next(x for x in cluster.workloads if x.name == name)


def test_allow_all_profile_same_host_and_cross_host(cluster: Cluster) -> None:
    w1, w2, w5 = w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w5")
    cc = Checker()
    cc.some(w1, w2)
    cc.some(w1, w5)
    cc.some(w5, w1)
    cc.some(w5, w2, proto="icmp")
    cc.some(w1, w5, 8056, "udp")
    cc.check(timeout=15)


def test_default_deny_once_a_policy_applies(cluster: Cluster, pols: Any) -> None:
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    pols(policy("deny-w2", {"selector": "name == 'w2'", "types": ["Ingress"]}))
    cc = Checker()
    cc.none(w1, w2)
    cc.none(w1, w2, proto="icmp")
    cc.some(w2, w1)  # egress of w2 still open: the policy only has Ingress
    cc.check()


def test_selector_and_port(cluster: Cluster, pols: Any) -> None:
    w1, w2, w3, w5 = (w(cluster, n) for n in ("w1", "w2", "w3", "w5"))
    pols(policy("w2-from-w1-and-w5", {
        "selector": "name == 'w2'", "types": ["Ingress"],
        "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "name in {'w1', 'w5'}"},
                     "destination": {"ports": [8055]}}]}))
    cc = Checker()
    cc.some(w1, w2, 8055)
    cc.some(w5, w2, 8055)  # a remote member of the selector's ipset
    cc.none(w3, w2, 8055)
    cc.none(w1, w2, 8056)
    cc.none(w1, w2, 8055, "udp")
    cc.check()


def test_named_port(cluster: Cluster, pols: Any) -> None:
    w1, w3 = w(cluster, "w1"), w(cluster, "w3")
    doc = w3.wep_doc()
    doc["spec"]["ports"] = [{"name": "http", "protocol": "TCP", "port": 8056}]
    cluster.store.apply(doc)
    try:
        pols(policy("w3-http", {"selector": "name == 'w3'", "types": ["Ingress"],
                                "ingress": [{"action": "Allow", "protocol": "TCP",
                                             "destination": {"ports": ["http"]}}]}))
        cc = Checker()
        cc.some(w1, w3, 8056)
        cc.none(w1, w3, 8055)
        cc.check()
    finally:
        w3.configure(cluster.store)


def test_namespace_scoping(cluster: Cluster, pols: Any) -> None:
    w1, w2, w4 = w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w4")
    pols(policy("same-ns-only", {"selector": "name == 'w2'", "types": ["Ingress"],
                                 "ingress": [{"action": "Allow", "source": {"selector": "all()"}}]},
                namespace="default"))
    cc = Checker()
    cc.some(w1, w2)
    cc.none(w4, w2)  # a namespaced policy's selectors stay in its namespace
    cc.check()
    pols(policy("same-ns-only", {"selector": "name == 'w2'", "types": ["Ingress"],
                                 "ingress": [{"action": "Allow", "source": {"namespaceSelector": "all()"}}]},
                namespace="default"))
    cc.some(w1, w2)
    cc.some(w4, w2)  # namespaceSelector all() opens it to every namespace
    cc.check()


def test_cidr_and_not_nets(cluster: Cluster, pols: Any) -> None:
    w1, w2, w3 = w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w3")
    pols(policy("cidr", {"selector": "name == 'w2'", "types": ["Ingress"],
                         "ingress": [{"action": "Allow", "source": {"nets": ["10.65.0.0/31"]}}]}))
    cc = Checker()
    cc.some(w1, w2)
    cc.none(w3, w2)
    cc.check()
    pols(policy("cidr", {"selector": "name == 'w2'", "types": ["Ingress"],
                         "ingress": [{"action": "Allow", "source": {"notNets": ["10.65.0.1/32", "10.65.0.9/32"]}}]}))
    cc.none(w1, w2)
    cc.some(w3, w2)
    cc.check()


def test_icmp_type(cluster: Cluster, pols: Any) -> None:
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    pols(policy("icmp-echo-only", {"selector": "name == 'w2'", "types": ["Ingress"],
                                   "ingress": [{"action": "Allow", "protocol": "ICMP", "icmp": {"type": 8}}]}))
    cc = Checker()
    cc.some(w1, w2, proto="icmp")
    cc.none(w1, w2)
    cc.check()
    pols(policy("icmp-echo-only", {"selector": "name == 'w2'", "types": ["Ingress"],
                                   "ingress": [{"action": "Deny", "protocol": "ICMP", "icmp": {"type": 8}},
                                               {"action": "Allow"}]}))
    cc.none(w1, w2, proto="icmp")
    cc.some(w1, w2)
    cc.check()


def test_egress_policy(cluster: Cluster, pols: Any) -> None:
    w1, w2, w3 = w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w3")
    pols(policy("w1-egress", {"selector": "name == 'w1'", "types": ["Egress"],
                              "egress": [{"action": "Allow", "destination": {"selector": "name == 'w2'"}}]}))
    cc = Checker()
    cc.some(w1, w2)
    cc.none(w1, w3)
    cc.some(w3, w1)  # ingress to w1 untouched (replies of its own flows are conntrack-established)
    cc.check()


def test_tier_order_and_pass(cluster: Cluster, pols: Any) -> None:
    w1, w2, w3 = w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w3")
    pols({"apiVersion": "projectcalico.org/v3", "kind": "Tier", "metadata": {"name": "security"},
          "spec": {"order": 100}})
    pols(policy("security.gate", {"tier": "security", "order": 1, "selector": "name == 'w2'", "types": ["Ingress"],
                                  "ingress": [{"action": "Pass", "source": {"selector": "name == 'w1'"}},
                                              {"action": "Deny"}]}))
    pols(policy("allow-w2", {"order": 10, "selector": "name == 'w2'", "types": ["Ingress"],
                             "ingress": [{"action": "Allow"}]}))
    cc = Checker()
    cc.some(w1, w2)  # passed by tier security, allowed by tier default
    cc.none(w3, w2)  # denied in the first tier: the later allow never runs
    cc.check()
    # A Pass that reaches the end of all tiers leaves the decision to the profiles (allow-all).
    pols(policy("allow-w2", {"order": 10, "selector": "name == 'w2'", "types": ["Ingress"],
                             "ingress": [{"action": "Pass"}]}))
    cc.some(w1, w2)
    cc.none(w3, w2)
    cc.check()


def test_profiles_only(cluster: Cluster, pols: Any) -> None:
    w1, w2, w3 = w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w3")
    pols(profile("restricted", {"ingress": [{"action": "Allow", "source": {"selector": "name == 'w1'"}}],
                                "egress": [{"action": "Allow"}]}))
    doc = w2.wep_doc()
    doc["spec"]["profiles"] = ["restricted"]
    cluster.store.apply(doc)
    try:
        cc = Checker()
        cc.some(w1, w2)
        cc.none(w3, w2)
        cc.some(w2, w3)
        cc.check()
    finally:
        w2.configure(cluster.store)
    cc = Checker()
    cc.some(w3, w2)
    cc.check()


def test_v1_tag_profile(cluster: Cluster, pols: Any) -> None:
    """The seeds' v1 profile calico-net with tag calico-net: members talk, non-members cannot."""
    from calico.api import v1_to_v3_documents

    v1 = {"apiVersion": "v1", "kind": "profile",
          "metadata": {"name": "calico-net", "tags": ["calico-net"]},
          "spec": {"ingress": [{"action": "allow", "source": {"tag": "calico-net"}}],
                   "egress": [{"action": "allow"}]}}
    (v3,) = v1_to_v3_documents(v1)
    pols(v3)
    members = [w(cluster, "w1"), w(cluster, "w2"), w(cluster, "w5")]
    for m in members:
        doc = m.wep_doc()
        doc["spec"]["profiles"] = ["calico-net"]
        cluster.store.apply(doc)
    try:
        cc = Checker()
        cc.some(members[0], members[1])
        cc.some(members[2], members[0])
        cc.none(w(cluster, "w3"), members[1])
        cc.check(timeout=15)
    finally:
        for m in members:
            m.configure(cluster.store)


def test_policy_update_applies_to_existing_endpoint(cluster: Cluster, pols: Any) -> None:
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    spec: dict[str, Any] = {"selector": "name == 'w2'", "types": ["Ingress"], "ingress": [{"action": "Deny"}]}
    pols(policy("flip", spec))
    cc = Checker()
    cc.none(w1, w2)
    cc.check()
    pols(policy("flip", {**spec, "ingress": [{"action": "Allow"}]}))
    cc.some(w1, w2)
    cc.check()


def test_anti_spoofing(cluster: Cluster) -> None:
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    w1.run("ip", "addr", "add", "10.65.0.99/32", "dev", "eth0")
    try:
        ok = w1.run("ping", "-c", "1", "-W", "1", "-I", w1.ip, w2.ip, check=False)
        assert ok.returncode == 0, ok.stdout
        spoofed = w1.run("ping", "-c", "2", "-W", "1", "-I", "10.65.0.99", w2.ip, check=False)
        assert spoofed.returncode != 0, "a spoofed source address got through"
    finally:
        w1.run("ip", "addr", "del", "10.65.0.99/32", "dev", "eth0")


def test_workload_to_host_dropped_by_default(cluster: Cluster) -> None:
    """DefaultEndpointToHostAction defaults to DROP: a workload cannot reach its own host."""
    w1 = w(cluster, "w1")
    a = cluster.hosts[0]
    assert w1.run("ping", "-c", "1", "-W", "1", a.ip, check=False).returncode != 0
    # ... while the host can still reach its workloads (not policed, felix.md §2.3)
    assert a.run("ping", "-c", "1", "-W", "2", w1.ip, check=False).returncode == 0


def test_endpoint_deletion_removes_routes_and_chains(cluster: Cluster) -> None:
    a = cluster.hosts[0]
    extra = cluster.add_workload(a, "w9", "10.65.0.9", ports=())
    wait_until(lambda: f"dev {extra.iface}" in a.run("ip", "route", "show", extra.ip).stdout, timeout=10,
               what="route of the new endpoint")
    wait_until(lambda: f":cali-tw-{extra.iface}" in a.iptables_save(), timeout=10, what="endpoint chains")
    extra.remove(cluster.store)
    wait_until(lambda: f"cali-tw-{extra.iface}" not in a.iptables_save(), timeout=10,
               what="endpoint chains removed")
    wait_until(lambda: extra.ip not in a.run("ip", "route", "show").stdout, timeout=15, what="route removed")
    cc = Checker()
    cc.none(w(cluster, "w1"), extra, proto="icmp")
    cc.check()


def test_port_ranges_not_ports_and_udp(cluster: Cluster, pols: Any) -> None:
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    pols(policy("ranges", {"selector": "name == 'w2'", "types": ["Ingress"],
                           "ingress": [{"action": "Allow", "protocol": "TCP",
                                        "destination": {"ports": ["8050:8059"], "notPorts": [8056]}},
                                       {"action": "Allow", "protocol": "UDP", "destination": {"ports": [8056]}}]}))
    cc = Checker()
    cc.some(w1, w2, 8055)  # in the range
    cc.none(w1, w2, 8056)  # in the range but excluded by notPorts
    cc.some(w1, w2, 8056, "udp")
    cc.none(w1, w2, 8055, "udp")
    cc.check()


def test_log_action_then_allow(cluster: Cluster, pols: Any) -> None:
    w1, w2 = w(cluster, "w1"), w(cluster, "w2")
    a = cluster.hosts[0]
    pols(policy("logged", {"selector": "name == 'w2'", "types": ["Ingress"],
                           "ingress": [{"action": "Log"}, {"action": "Allow"}]}))
    wait_until(lambda: "LOG --log-prefix" in a.iptables_save() and "calico-packet" in a.iptables_save(),
               timeout=10, what="LOG rule")
    cc = Checker()
    cc.some(w1, w2)  # Log continues to the next rule
    cc.check()

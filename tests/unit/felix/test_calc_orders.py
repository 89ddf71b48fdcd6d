"""History-freedom: the same final datastore state gives the same dataplane state whatever the
order of updates, flushes in between, or objects added and removed on the way (calc_graph_fv's
state expanders, felix.md §6.1)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calico.felix.calc.graph import CalcGraph
from tests.unit.felix.calc_helpers import KV, Dataplane, block, delete, gnp, kv, np, wep

HOST = "host1"

OBJECTS: list[KV] = [
    wep("a", HOST, "10.0.0.1/32", {"app": "a", "tier": "fe"}, ns="ns1", profiles=("kns.ns1",),
        ports=[{"name": "http", "protocol": "TCP", "port": 80}]),
    wep("b", HOST, "10.0.0.2/32", {"app": "b"}, ns="ns2", profiles=("kns.ns2", "missing")),
    wep("c", "host2", "10.0.1.1/32", {"app": "b", "tier": "be"}, ns="ns1", profiles=("kns.ns1",),
        ports=[{"name": "http", "protocol": "TCP", "port": 8080}]),
    wep("d", "host2", "10.0.1.2/32", {"app": "a"}, ns="ns2"),
    kv("HostEndpoint", "h1", {"node": HOST, "interfaceName": "eth0", "expectedIPs": ["192.168.1.1"]},
       labels={"app": "a"}),
    kv("Profile", "kns.ns1", {"labelsToApply": {"pcns.team": "red"}, "ingress": [{"action": "Allow"}],
                              "egress": [{"action": "Allow"}]}),
    kv("Profile", "kns.ns2", {"labelsToApply": {"pcns.team": "blue", "app": "from-profile"},
                              "ingress": [{"action": "Allow", "source": {"selector": "tier == 'be'"}}]}),
    kv("GlobalNetworkSet", "gns", {"nets": ["172.16.0.0/12"]}, labels={"tier": "be"}),
    kv("NetworkSet", "ns", {"nets": ["10.9.0.0/16"]}, namespace="ns1", labels={"app": "b"}),
    kv("Tier", "t1", {"order": 10, "defaultAction": "Pass"}),
    gnp("g1", "app == 'a'", ingress=[{"action": "Allow", "protocol": "TCP",
                                      "source": {"selector": "app == 'b'"}, "destination": {"ports": ["http", 22]}}],
        egress=[{"action": "Pass"}], tier="t1", order=1),
    gnp("g2", "has(app)", ingress=[{"action": "Deny", "source": {"namespaceSelector": "team == 'blue'",
                                                                "selector": "all()"}}]),
    np("n1", "ns1", "all()", ingress=[{"action": "Allow", "source": {"selector": "app == 'b'"}}],
       egress=[{"action": "Allow", "destination": {"nets": ["10.0.0.0/8", "fd00::/8"]}}], order=5),
    kv("IPPool", "pool", {"cidr": "10.0.0.0/16", "natOutgoing": True, "vxlanMode": "Always"}),
    kv("Node", HOST, {"bgp": {"ipv4Address": "192.168.1.1/24"}, "ipv4VXLANTunnelAddr": "10.0.0.200",
                      "vxlanTunnelMACAddr": "66:00:00:00:00:01"}),
    kv("Node", "host2", {"bgp": {"ipv4Address": "192.168.1.2/24"}}),
    block("10.0.0.0/26", HOST), block("10.0.1.0/26", "host2"),
    wep("borrower", "host2", "10.0.0.9/32", {"app": "b"}, ns="ns1"),
    kv("FelixConfiguration", "default", {"logSeverityScreen": "Info"}),
]
# Alternative values the same keys pass through before settling
DETOURS: list[KV] = [
    wep("a", HOST, "10.0.0.7/32", {"app": "b"}, ns="ns1"),
    wep("c", HOST, "10.0.1.1/32", {"app": "a"}, ns="ns1", resource_name="host2-k8s-c-eth0"),
    wep("b", "host2", "10.0.0.2/32", {"app": "a"}, ns="ns2", resource_name="host1-k8s-b-eth0"),
    gnp("g1", "all()", ingress=[{"action": "Deny"}], tier="default"),
    kv("Profile", "kns.ns2", {"labelsToApply": {"app": "b"}}),
    kv("Tier", "t1", {"order": 2_000_000}),
    block("10.0.1.0/26", HOST),
    kv("Node", "host2", {"bgp": {"ipv4Address": "192.168.9.2/24"}, "ipv4VXLANTunnelAddr": "10.0.1.200",
                         "vxlanTunnelMACAddr": "66:00:00:00:00:02"}),
]


def final_state(updates: list[KV], flush_points: set[int]) -> tuple[Dataplane, CalcGraph]:
    g = CalcGraph(HOST)
    d = Dataplane()
    for i, (k, v) in enumerate(updates):
        g.on_update(k, v)
        if i in flush_points:
            d.apply(g.flush())
    g.on_in_sync()
    d.apply(g.flush())
    return d, g


REFERENCE, _ = final_state(OBJECTS, set())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=st.permutations(list(range(len(OBJECTS)))),
       detours=st.lists(st.sampled_from(range(len(DETOURS))), max_size=4),
       flushes=st.sets(st.integers(0, len(OBJECTS) + 8)))
def test_same_state_whatever_the_order(order: list[int], detours: list[int], flushes: set[int]) -> None:
    updates = [DETOURS[i] for i in detours] + [OBJECTS[i] for i in order]
    d, _ = final_state(updates, flushes)
    assert d.snapshot() == REFERENCE.snapshot()


@settings(max_examples=30, deadline=None)
@given(order=st.permutations(list(range(len(OBJECTS)))))
def test_single_flush_is_identical_for_any_order(order: list[int]) -> None:
    g = CalcGraph(HOST)
    for i in order:
        g.on_update(*OBJECTS[i])
    g.on_in_sync()
    ref = CalcGraph(HOST)
    for kv_ in OBJECTS:
        ref.on_update(*kv_)
    ref.on_in_sync()
    assert g.flush() == ref.flush()


@settings(max_examples=40, deadline=None)
@given(add=st.permutations(list(range(len(OBJECTS)))), remove=st.permutations(list(range(len(OBJECTS)))),
       flushes=st.sets(st.integers(0, 2 * len(OBJECTS))))
def test_add_then_remove_everything_leaves_nothing(add: list[int], remove: list[int], flushes: set[int]) -> None:
    updates = [OBJECTS[i] for i in add] + [delete(OBJECTS[i]) for i in remove]
    d, g = final_state(updates, flushes)
    assert d.weps == {} and d.heps == {} and d.policies == {} and d.profiles == {}
    assert d.routes == {} and d.vteps == {} and d.hosts == {} and d.pools == {}
    assert {k: v for k, v in d.ipsets.items()} == {k: ("hash:net", frozenset()) for k in d.ipsets}
    assert len(d.ipsets) == 4  # only the fixed sets remain, empty
    stats = g.stats()
    assert all(v == 0 for v in stats.values()), stats
    # internal indexes are empty too
    assert not g._items and not g._profile_members and not g._ipset_refs and not g._local_profile_refs

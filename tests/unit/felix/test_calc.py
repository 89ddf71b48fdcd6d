"""The calc graph: datastore objects in, what the dataplane is told out (felix.md §4)."""

from __future__ import annotations

import logging

import pytest

from calico.felix import messages as m
from calico.felix.calc.graph import CalcGraph
from calico.selector import parse_selector
from tests.unit.felix.calc_helpers import KV, Dataplane, block, delete, gnp, kv, np, wep

HOST = "host1"


def run(*kvs: KV, graph: CalcGraph | None = None, dp: Dataplane | None = None) -> tuple[CalcGraph, Dataplane]:
    g = graph or CalcGraph(HOST)
    d = dp or Dataplane()
    for k, v in kvs:
        g.on_update(k, v)
    g.on_in_sync()
    d.apply(g.flush())
    return g, d


def sel_id(text: str) -> str:
    return parse_selector(text).unique_id()


def only_wep(d: Dataplane) -> m.WorkloadEndpointInfo:
    assert len(d.weps) == 1
    return next(iter(d.weps.values()))


ALLOW_FROM_B = [{"action": "Allow", "source": {"selector": "role == 'b'"}}]


def test_selector_ipset_tracks_endpoints_and_labels() -> None:
    local = wep("a", HOST, "10.0.0.1/32", {"role": "a"})
    remote_b = wep("b", "host2", "10.0.1.1", {"role": "b"})
    g, d = run(local, remote_b, gnp("pol", "role == 'a'", ingress=ALLOW_FROM_B))
    sid = sel_id("role == 'b'")
    assert d.ipset_members(sid) == {"10.0.1.1/32"}
    # a second matching endpoint joins; relabelling the first removes it
    run(wep("c", "host3", "10.0.2.1/32", {"role": "b"}), graph=g, dp=d)
    assert d.ipset_members(sid) == {"10.0.1.1/32", "10.0.2.1/32"}
    run(wep("b", "host2", "10.0.1.1/32", {"role": "x"}), graph=g, dp=d)
    assert d.ipset_members(sid) == {"10.0.2.1/32"}
    # the policy stops applying here: its IP set goes too
    run(wep("a", HOST, "10.0.0.1/32", {"role": "z"}), graph=g, dp=d)
    assert d.policies == {} and sid not in d.ipsets
    assert only_wep(d).tiers == ()


def test_network_sets_and_profile_label_inheritance() -> None:
    prof = kv("Profile", "kns.ns1", {"labelsToApply": {"pcns.env": "prod", "role": "from-profile"},
                                     "ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]})
    e1 = wep("a", HOST, "10.0.0.1/32", {"app": "x"}, ns="ns1", profiles=("kns.ns1",))
    e2 = wep("b", "host2", "10.0.0.2/32", {"role": "own"}, ns="ns1", profiles=("kns.ns1",))
    netset = kv("GlobalNetworkSet", "ext", {"nets": ["192.168.0.0/16", "172.16.0.1"]}, labels={"role": "ext"})
    pol = gnp("p", "all()", ingress=[{"action": "Allow", "source": {"selector": "role == 'from-profile'"}},
                                     {"action": "Allow", "source": {"selector": "role == 'ext'"}}])
    g, d = run(prof, e1, e2, netset, pol)
    # the endpoint's own label wins over the profile's
    assert d.ipset_members(sel_id("role == 'from-profile'")) == {"10.0.0.1/32"}
    assert d.ipset_members(sel_id("role == 'ext'")) == {"192.168.0.0/16", "172.16.0.1/32"}
    # changing the profile's labels moves members
    run(kv("Profile", "kns.ns1", {"labelsToApply": {"role": "other"}}), graph=g, dp=d)
    assert d.ipset_members(sel_id("role == 'from-profile'")) == frozenset()


def test_v1_tag_profiles() -> None:
    """A v1 profile's tags became labelsToApply {tag: ""}: members can select each other by tag."""
    prof = kv("Profile", "calico-net", {"labelsToApply": {"calico-net": ""},
                                        "ingress": [{"action": "Allow", "source": {"selector": "calico-net == ''"}}],
                                        "egress": [{"action": "Allow"}]})
    _, d = run(prof, wep("a", HOST, "10.0.0.1/32", {}, profiles=("calico-net",)),
               wep("b", "host2", "10.0.0.2/32", {}, profiles=("calico-net",)),
               wep("c", "host2", "10.0.0.3/32", {}))
    assert d.ipset_members(sel_id("calico-net == ''")) == {"10.0.0.1/32", "10.0.0.2/32"}
    assert only_wep(d).profile_ids == ("calico-net",)


def test_policy_ordering_tiers_and_pass() -> None:
    e = wep("a", HOST, "10.0.0.1/32", {"app": "a"})
    g, d = run(
        e,
        kv("Tier", "security", {"order": 100, "defaultAction": "Pass"}),
        kv("Tier", "late", {"order": 2_000_000}),
        gnp("z-first", "all()", ingress=[], order=1),
        gnp("b", "all()", ingress=[]),  # no order: last, then by name
        gnp("a", "all()", ingress=[]),
        gnp("mid", "all()", ingress=[], order=5),
        gnp("sec", "all()", ingress=[{"action": "Pass"}], tier="security"),
        gnp("eg", "all()", egress=[{"action": "Allow"}], tier="late"),
        np("nsp", "default", "app == 'a'", ingress=[], order=5),
    )
    tiers = only_wep(d).tiers
    assert [t.name for t in tiers] == ["security", "default", "late"]
    assert tiers[0] == m.TierInfo("security", (m.PolicyID("security", "sec"),), (), "Pass")
    assert [p.name for p in tiers[1].ingress_policies] == ["z-first", "mid", "nsp", "a", "b"]
    assert tiers[1].default_action == "Deny" and tiers[1].egress_policies == ()
    assert tiers[2].egress_policies == (m.PolicyID("late", "eg"),) and tiers[2].ingress_policies == ()
    assert d.policies[m.PolicyID("security", "sec")].inbound_rules[0].action == "pass"
    # re-ordering a tier re-sorts the endpoint's tiers
    run(kv("Tier", "security", {"order": 3_000_000}), graph=g, dp=d)
    assert [t.name for t in only_wep(d).tiers] == ["default", "late", "security"]


def test_namespace_scoping() -> None:
    a1 = wep("a1", HOST, "10.0.0.1/32", {"app": "a"}, ns="ns1")
    a2 = wep("a2", HOST, "10.0.0.2/32", {"app": "a"}, ns="ns2")
    b1 = wep("b1", "host2", "10.0.1.1/32", {"app": "b"}, ns="ns1")
    b2 = wep("b2", "host2", "10.0.1.2/32", {"app": "b"}, ns="ns2")
    pol = np("p", "ns1", "app == 'a'", ingress=[{"action": "Allow", "source": {"selector": "app == 'b'"}}])
    kns2 = kv("Profile", "kns.ns2", {"labelsToApply": {"pcns.team": "blue"}})
    b3 = wep("b3", "host2", "10.0.1.3/32", {"app": "b"}, ns="ns2", profiles=("kns.ns2",))
    blue_b = {"selector": "app == 'b'", "namespaceSelector": "team == 'blue'"}
    g_nssel = gnp("g", "app == 'a'", ingress=[{"action": "Allow", "source": blue_b},
                                              {"action": "Deny", "source": {"namespaceSelector": "global()"}}],
                  namespaceSelector="projectcalico.org/name == 'ns1'")
    g, d = run(a1, a2, b1, b2, pol, kns2, b3, g_nssel)
    # the NetworkPolicy applies only to ns1's endpoint and its rule selector only sees ns1
    by_name = {i.name: i for i in d.weps.values()}
    assert [p.name for t in by_name["calia1"].tiers for p in t.ingress_policies] == ["p"]
    assert by_name["calia2"].tiers == ()
    np_rule = d.policies[m.PolicyID("default", "p", "ns1")].inbound_rules[0]
    assert d.ipset_members(np_rule.src_ip_set_ids[0]) == {"10.0.1.1/32"}
    # the GNP's namespaceSelector matches namespace labels (pcns.) which no endpoint here has...
    assert m.PolicyID("default", "g") not in d.policies
    # ...until the namespace profile carries them
    run(kv("Profile", "kns.ns1", {"labelsToApply": {"pcns.projectcalico.org/name": "ns1"}}),
        wep("a1", HOST, "10.0.0.1/32", {"app": "a"}, ns="ns1", profiles=("kns.ns1",)), graph=g, dp=d)
    gp = d.policies[m.PolicyID("default", "g")]
    assert d.ipset_members(gp.inbound_rules[0].src_ip_set_ids[0]) == {"10.0.1.3/32"}
    assert gp.inbound_rules[1].src_ip_set_ids == (sel_id("!has(projectcalico.org/namespace)"),)


def test_named_ports_and_nets() -> None:
    ports = [{"name": "http", "protocol": "TCP", "port": 8080}, {"name": "dns", "protocol": "UDP", "port": 53}]
    e = wep("a", HOST, "10.0.0.1/32", {"app": "web"}, ports=ports)
    e2 = wep("b", "host2", "10.0.0.2/32", {"app": "web"}, ports=[{"name": "http", "protocol": "TCP", "port": 80}])
    pol = gnp("p", "app == 'web'", ingress=[
        {"action": "Allow", "protocol": "TCP", "destination": {"selector": "app == 'web'", "ports": ["http", 443]}},
        {"action": "Allow", "protocol": "UDP", "destination": {"ports": ["http"]}},
        {"action": "Deny", "source": {"nets": ["10.1.0.0/16", "10.2.0.0/16"], "notNets": ["10.1.2.0/24"]}},
    ])
    _, d = run(e, e2, pol)
    r0, r1, r2 = d.policies[m.PolicyID("default", "p")].inbound_rules
    assert r0.dst_ports == (m.PortRange(443, 443),)
    assert d.ipset_members(r0.dst_named_port_ip_set_ids[0]) == {"10.0.0.1,tcp:8080", "10.0.0.2,tcp:80"}
    assert d.ipsets[r0.dst_named_port_ip_set_ids[0]][0] == m.IPSET_HASH_IP_PORT
    assert d.ipset_members(r1.dst_named_port_ip_set_ids[0]) == frozenset()  # "http" is TCP only
    assert r2.src_net == ("10.1.0.0/16", "10.2.0.0/16") and r2.not_src_net == ("10.1.2.0/24",)
    assert d.ipset_members(m.net_set_id(r2.src_net)) == {"10.1.0.0/16", "10.2.0.0/16"}


def test_profiles_fail_closed_and_default_allow() -> None:
    _, d = run(wep("a", HOST, "10.0.0.1/32", {}, profiles=("missing", "projectcalico-default-allow")))
    assert d.profiles[m.ProfileID("missing")].inbound_rules == (m.ParsedRule("deny"),)
    assert d.profiles[m.ProfileID("projectcalico-default-allow")].outbound_rules == (m.ParsedRule("allow"),)


def test_only_local_endpoints_are_sent_and_invalid_values_ignored(caplog: pytest.LogCaptureFixture) -> None:
    remote = wep("r", "host2", "10.0.0.9/32", {})
    bad_key, _ = wep("bad", HOST, "10.0.0.8/32", {})
    with caplog.at_level(logging.WARNING):
        g, d = run(remote, (bad_key, '{"spec": {"node": "host1", "ipNetworks": ["nonsense"]}}'),
                   ("/calico/resources/v3/projectcalico.org/globalnetworkpolicies/x", "not json"),
                   ("/calico/felix/v2/whatever", "1"))
    assert d.weps == {} and d.in_sync
    assert "Invalid value" in caplog.text
    # the same key with a good value later works; a bad update of a good object deletes it
    run(wep("bad", HOST, "10.0.0.8/32", {}), graph=g, dp=d)
    assert len(d.weps) == 1
    run((bad_key, '{"spec": {"node": "host1", "interfaceName": ""}}'), graph=g, dp=d)
    assert d.weps == {}


def test_host_endpoints_and_policy_kinds() -> None:
    hep = kv("HostEndpoint", "h1", {"node": HOST, "interfaceName": "eth0", "expectedIPs": ["192.168.1.1"],
                                    "profiles": ["projectcalico-default-allow"]}, labels={"hep": "yes"})
    pols = [gnp("normal", "hep == 'yes'", ingress=[], egress=[]),
            gnp("fwd", "hep == 'yes'", ingress=[], applyOnForward=True),
            gnp("unt", "hep == 'yes'", ingress=[], doNotTrack=True, applyOnForward=True),
            gnp("pre", "hep == 'yes'", ingress=[], preDNAT=True, applyOnForward=True)]
    _, d = run(hep, *pols, wep("a", HOST, "10.0.0.1/32", {}))
    info = d.heps[m.HostEndpointID("h1")]
    assert info.name == "eth0" and info.expected_ipv4_addrs == ("192.168.1.1",)
    assert [p.name for p in info.tiers[0].ingress_policies] == ["fwd", "normal"]
    assert [p.name for p in info.tiers[0].egress_policies] == ["normal"]
    assert [p.name for p in info.forward_tiers[0].ingress_policies] == ["fwd"]
    assert [p.name for p in info.untracked_tiers[0].ingress_policies] == ["unt"]
    assert [p.name for p in info.pre_dnat_tiers[0].ingress_policies] == ["pre"]
    assert d.policies[m.PolicyID("default", "unt")].untracked
    assert only_wep(d).tiers == ()


def test_routes_pools_hosts_vteps_and_config() -> None:
    g, d = run(
        kv("IPPool", "p1", {"cidr": "10.0.0.0/16", "natOutgoing": True, "vxlanMode": "Always"}),
        kv("IPPool", "p2", {"cidr": "10.1.0.0/16", "ipipMode": "CrossSubnet"}),
        kv("Node", HOST, {"bgp": {"ipv4Address": "192.168.1.1/24"}, "ipv4VXLANTunnelAddr": "10.0.0.64",
                          "vxlanTunnelMACAddr": "66:00:00:00:00:01"}),
        kv("Node", "host2", {"bgp": {"ipv4Address": "192.168.2.2/24"}, "ipv4VXLANTunnelAddr": "10.0.1.64",
                             "vxlanTunnelMACAddr": "66:00:00:00:00:02"}),
        block("10.0.0.0/26", HOST), block("10.0.1.0/26", "host2"), block("10.1.0.0/26", "host2"),
        block("10.0.2.0/26", None),
        kv("FelixConfiguration", "default", {"defaultEndpointToHostAction": "Accept", "ipipEnabled": False,
                                             "iptablesRefreshInterval": "1m30s", "logSeverityScreen": "Info"}),
        kv("FelixConfiguration", f"node.{HOST}", {"logSeverityScreen": "Debug"}),
        kv("FelixConfiguration", "node.other", {"logSeverityScreen": "Error"}),
    )
    assert d.pools["10.0.0.0-16"] == m.IPAMPool("10.0.0.0/16", True, "Never", "Always")
    remote = d.routes["10.0.1.0/26"]
    assert remote.types == m.RouteType.REMOTE_WORKLOAD and remote.dst_node == "host2"
    assert remote.dst_node_ip == "192.168.2.2" and remote.ip_pool_type == m.IPPoolType.VXLAN
    assert remote.nat_outgoing and not remote.same_subnet
    assert d.routes["10.1.0.0/26"].ip_pool_type == m.IPPoolType.IPIP
    assert d.routes["10.0.0.0/26"].types == m.RouteType.LOCAL_WORKLOAD
    assert "10.0.2.0/26" not in d.routes
    assert d.routes["10.0.0.0/16"].types == m.RouteType.CIDR_INFO
    assert d.vteps["host2"] == m.VXLANTunnelEndpointUpdate("host2", "66:00:00:00:00:02", "10.0.1.64", "192.168.2.2")
    assert d.hosts["host2"].ipv4_addr == "192.168.2.2"
    assert d.ipset_members(m.MASQ_POOLS_SET_ID) == {"10.0.0.0/16"}
    assert d.ipset_members(m.ALL_POOLS_SET_ID) == {"10.0.0.0/16", "10.1.0.0/16"}
    assert d.ipset_members(m.ALL_VXLAN_SET_ID) == {"192.168.1.1/32", "192.168.2.2/32"}
    assert d.config is not None
    assert dict(d.config.config) == {"DefaultEndpointToHostAction": "Accept", "IpInIpEnabled": "false",
                                     "IptablesRefreshInterval": "90", "LogSeverityScreen": "Debug"}
    # IPAM borrowing: a workload whose IP is in another node's block gets its own /32 route
    run(wep("x", "host2", "10.0.0.5/32", {}), wep("y", HOST, "10.0.1.7/32", {}), graph=g, dp=d)
    assert d.routes["10.0.0.5/32"].types == m.RouteType.REMOTE_WORKLOAD
    assert d.routes["10.0.0.5/32"].dst_node_ip == "192.168.2.2"
    assert d.routes["10.0.1.7/32"].local_workload
    assert "10.0.0.1/32" not in d.routes
    run(block("10.0.0.0/26", "host2"), graph=g, dp=d)  # the block moves: no longer borrowed
    assert "10.0.0.5/32" not in d.routes and "10.0.1.7/32" in d.routes
    # a VTEP disappears before the routes that use it are re-added
    g.on_update(*delete(kv("Node", "host2", {})))
    msgs = g.flush()
    kinds = [type(x).__name__ for x in msgs]
    assert kinds.index("VXLANTunnelEndpointRemove") > kinds.index("RouteRemove")
    d.apply(msgs)
    assert d.routes["10.0.1.0/26"].dst_node_ip == ""


def test_flush_order_adds_sets_before_users_and_removes_after() -> None:
    g = CalcGraph(HOST)
    for k, v in (wep("a", HOST, "10.0.0.1/32", {"x": "1"}), gnp("p", "all()", ingress=ALLOW_FROM_B)):
        g.on_update(k, v)
    g.on_in_sync()
    msgs = g.flush()
    kinds = [type(x).__name__ for x in msgs]
    assert kinds[0] == "ConfigUpdate" and kinds[-1] == "InSync"
    assert kinds.index("IPSetUpdate") < kinds.index("ActivePolicyUpdate") < kinds.index("WorkloadEndpointUpdate")
    g.on_update(*delete(gnp("p", "all()")))
    kinds = [type(x).__name__ for x in g.flush()]
    assert kinds == ["WorkloadEndpointUpdate", "ActivePolicyRemove", "IPSetRemove"]
    assert g.flush() == []


def test_service_rules_fail_closed_and_assume_needed_policies() -> None:
    pol = gnp("svc", "all()", ingress=[{"action": "Allow", "source": {"services": {"name": "s", "namespace": "x"}}}])
    hinted = gnp("everywhere", "nothing == 'here'", ingress=[], performanceHints=["AssumeNeededOnEveryNode"])
    _, d = run(wep("a", HOST, "10.0.0.1/32", {}), pol, hinted)
    rule = d.policies[m.PolicyID("default", "svc")].inbound_rules[0]
    assert [d.ipset_members(s) for s in rule.src_ip_set_ids] == [frozenset()]  # matches nothing
    assert m.PolicyID("default", "everywhere") in d.policies
    assert [p.name for t in only_wep(d).tiers for p in t.ingress_policies] == ["svc"]


def test_builtin_tier_defaults() -> None:
    _, d = run(wep("a", HOST, "10.0.0.1/32", {}),
               gnp("base", "all()", ingress=[], tier="baselineadminnetworkpolicy"),
               gnp("adm", "all()", ingress=[], tier="adminnetworkpolicy"), gnp("d", "all()", ingress=[]))
    assert [(t.name, t.default_action) for t in only_wep(d).tiers] == [
        ("adminnetworkpolicy", "Pass"), ("default", "Deny"), ("baselineadminnetworkpolicy", "Pass")]

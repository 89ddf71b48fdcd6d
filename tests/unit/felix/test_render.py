"""The pure rule renderer: exact rules for representative inputs (felix.md §2)."""

from __future__ import annotations

from dataclasses import replace

from calico.felix.messages import (
    HostEndpointInfo,
    NatInfo,
    ParsedPolicy,
    ParsedProfile,
    ParsedRule,
    PolicyID,
    PortRange,
    ProfileID,
    TierInfo,
    WorkloadEndpointInfo,
    net_set_id,
)
from calico.felix.rules.config import ProtoPort, RenderConfig
from calico.felix.rules.groups import group_chain_name
from calico.felix.rules.model import Chain
from calico.felix.rules.names import chain_name, ipset_name, sanitize_comment
from calico.felix.rules.render import RuleRenderer, count_rules, policy_table

R = RuleRenderer(RenderConfig())
P1 = PolicyID("default", "p1")


def lines(chain: Chain) -> list[str]:
    return [r.render() for r in chain.rules]


def by_name(chains: list[Chain]) -> dict[str, Chain]:
    return {c.name: c for c in chains}


def test_chain_names_are_length_limited() -> None:
    assert chain_name("cali-tw-", "cali12345678901") == "cali-tw-cali12345678901"
    long = chain_name("cali-pi-", "np/some-namespace/a-very-long-policy-name")
    assert len(long) == 28 and long.startswith("cali-pi-_")
    assert long == chain_name("cali-pi-", "np/some-namespace/a-very-long-policy-name")  # stable
    assert long != chain_name("cali-pi-", "np/some-namespace/a-very-long-policy-namf")
    assert R.policy_chain_names(P1) == ("cali-pi-gnp/p1", "cali-po-gnp/p1")
    assert R.policy_chain_names(PolicyID("default", "p", "ns")) == ("cali-pi-np/ns/p", "cali-po-np/ns/p")
    assert R.profile_chain_names(ProfileID("kns.default")) == ("cali-pri-kns.default", "cali-pro-kns.default")


def test_ipset_names() -> None:
    assert ipset_name("all-ipam-pools", 4) == "cali40all-ipam-pools"
    assert ipset_name("masq-ipam-pools", 6) == "cali60masq-ipam-pools"
    name = ipset_name("s:qMt7iLlGDhvLnCjM0l9nzxbAbCdEfGhIjK", 4)
    assert name == "cali40s:qMt7iLlGDhvLnCjM0l9nzxb" and len(name) == 31
    assert sanitize_comment('Policy "x" <y>') == "Policy _x_ _y_"


def test_allow_rule_sets_accept_mark_and_returns() -> None:
    pol = ParsedPolicy(inbound_rules=(ParsedRule("allow", protocol="tcp", src_ip_set_ids=("s:abc",),
                                                 dst_ports=(PortRange(80, 80), PortRange(8000, 8080))),))
    pi, po = R.policy_chains(P1, pol, 4)
    assert lines(pi) == [
        '-p tcp -m set --match-set cali40s:abc src -m multiport --destination-ports 80,8000:8080 '
        '-m comment --comment "Policy p1 ingress" --jump MARK --set-mark 0x10000/0x10000',
        # the trailing "-m mark --mark 0x10000/0x10000 --jump RETURN" is a no-op at the end: stripped
    ]
    assert po.rules == ()


def test_rule_actions() -> None:
    rules = (ParsedRule("deny", protocol="icmp", icmp_type=8, icmp_code=0),
             ParsedRule("log"),
             ParsedRule("pass", protocol="udp", not_dst_ports=(PortRange(53, 53),)),
             ParsedRule("allow", not_src_net=("10.1.0.0/16",)))
    pi, _ = R.policy_chains(P1, ParsedPolicy(inbound_rules=rules), 4)
    assert lines(pi) == [
        '-p icmp -m icmp --icmp-type 8/0 -m comment --comment "Policy p1 ingress" --jump DROP',
        '--jump LOG --log-prefix "calico-packet: " --log-level 5',
        "-p udp -m multiport ! --destination-ports 53 --jump MARK --set-mark 0x20000/0x20000",
        "-m mark --mark 0x20000/0x20000 --jump RETURN",
        "! --source 10.1.0.0/16 --jump MARK --set-mark 0x10000/0x10000",
    ]
    reject = RuleRenderer(RenderConfig(filter_deny_action="REJECT"))
    assert reject.policy_chains(P1, ParsedPolicy(inbound_rules=rules[:1]), 4)[0].rules[0].action == "--jump REJECT"
    # untracked policies live in raw, where only DROP is possible
    untracked = ParsedPolicy(inbound_rules=rules[:1], untracked=True)
    assert policy_table(untracked) == "raw"
    assert reject.policy_chains(P1, untracked, 4)[0].rules[0].action == "--jump DROP"


def test_ip_version_filtering() -> None:
    rules = (ParsedRule("allow", protocol="icmp", ip_version=4),
             ParsedRule("allow", protocol="icmpv6", icmp_type=128),
             ParsedRule("allow", src_net=("10.0.0.0/8",)),
             ParsedRule("deny", not_dst_net=("fd00::/8",)),
             ParsedRule("deny", not_src_net=("0.0.0.0/0",)))
    v4 = lines(R.policy_chains(P1, ParsedPolicy(inbound_rules=rules), 4)[0])
    v6 = lines(R.policy_chains(P1, ParsedPolicy(inbound_rules=rules), 6)[0])
    assert v4 == ['-p icmp -m comment --comment "Policy p1 ingress" --jump MARK --set-mark 0x10000/0x10000',
                  "-m mark --mark 0x10000/0x10000 --jump RETURN",
                  "--source 10.0.0.0/8 --jump MARK --set-mark 0x10000/0x10000"]
    # ICMPv6 type 128; the v4 CIDR rule cannot match; the negated v6 CIDR applies
    assert v6[0].startswith("-p ipv6-icmp -m icmp6 --icmpv6-type 128")
    assert "! --destination fd00::/8 --jump DROP" in v6
    assert not any("10.0.0.0" in x for x in v6)


def test_multiple_nets_use_a_net_set_and_ports_split() -> None:
    nets = ("10.0.0.0/8", "192.168.0.0/16", "fd00::/8")
    ports = tuple(PortRange(p, p) for p in range(1000, 1020))  # 20 slots -> 2 multiport rules
    rule = ParsedRule("allow", protocol="tcp", src_net=nets, dst_ports=ports, dst_named_port_ip_set_ids=("n:x",))
    assert net_set_id(nets) in rule.ip_set_ids()
    pi = R.policy_chains(P1, ParsedPolicy(inbound_rules=(rule,)), 4)[0]
    texts = lines(pi)
    netset = ipset_name(net_set_id(nets), 4)
    assert all(f"-m set --match-set {netset} src" in t for t in texts[:3])
    assert "--destination-ports 1000,1001,1002,1003,1004,1005,1006,1007,1008,1009,1010,1011,1012,1013,1014 " in texts[0]
    assert "--destination-ports 1015,1016,1017,1018,1019 " in texts[1]
    assert "-m set --match-set cali40n:x dst,dst" in texts[2]
    # only one v6 net: plain --source
    v6 = lines(R.policy_chains(P1, ParsedPolicy(inbound_rules=(rule,)), 6)[0])
    assert v6[0].startswith("-p tcp --source fd00::/8 ")


def test_positive_and_negated_matches_on_one_side() -> None:
    """iptables takes one --source/--destination and one -p per rule: a single CIDR plus a single
    negated CIDR becomes Go Felix's match block; lists of several CIDRs are IP sets; protocol plus
    notProtocol folds."""
    rules = (ParsedRule("allow", src_net=("10.65.0.40/29",), not_src_net=("10.65.0.43/32",)),
             ParsedRule("deny", src_net=("10.0.0.0/8", "10.9.0.0/16"), not_src_net=("10.0.0.1/32",),
                        dst_net=("10.3.0.0/16",), not_dst_net=("10.3.1.0/24", "10.3.2.0/24")),
             ParsedRule("allow", protocol="tcp", not_protocol="udp"),
             ParsedRule("allow", protocol="6", not_protocol="tcp"),
             ParsedRule("deny", protocol="icmp", icmp_type=8, not_icmp_type=8, not_icmp_code=1))
    pi = lines(R.policy_chains(P1, ParsedPolicy(inbound_rules=rules), 4)[0])
    srcset = ipset_name(net_set_id(("10.0.0.0/8", "10.9.0.0/16")), 4)
    dstset = ipset_name(net_set_id(("10.3.1.0/24", "10.3.2.0/24")), 4)
    assert pi == [
        '-m comment --comment "Policy p1 ingress" --jump MARK --set-mark 0x40000/0xc0000',
        "--source 10.65.0.43/32 --jump MARK --set-mark 0/0x40000",
        "--source 10.65.0.40/29 -m mark --mark 0x40000/0x40000 --jump MARK --set-mark 0x10000/0x10000",
        "-m mark --mark 0x10000/0x10000 --jump RETURN",
        f"-m set --match-set {srcset} src --destination 10.3.0.0/16 ! --source 10.0.0.1/32 "
        f"-m set ! --match-set {dstset} dst --jump DROP",
        "-p tcp --jump MARK --set-mark 0x10000/0x10000",
        "-m mark --mark 0x10000/0x10000 --jump RETURN",
        # protocol 6 and not tcp: never matches, nothing rendered
        "-p icmp -m icmp --icmp-type 8 -m icmp ! --icmp-type 8/1 --jump DROP",
    ]


def test_workload_endpoint_chain_template() -> None:
    ep = WorkloadEndpointInfo(
        state="active", name="cali1", profile_ids=("prof1",), ipv4_nets=("10.0.0.1/32",),
        tiers=(TierInfo("t1", ingress_policies=(PolicyID("t1", "a"),), default_action="Pass"),
               TierInfo("default", ingress_policies=(P1, PolicyID("default", "p2", "ns")),
                        egress_policies=(P1,))))
    inline = RuleRenderer(RenderConfig(policy_group_min_size=0))  # every policy jump in the endpoint chain
    chains = by_name(inline.workload_endpoint_chains("cali1", ep, 4))
    assert set(chains) == {"cali-tw-cali1", "cali-fw-cali1"}
    assert lines(chains["cali-tw-cali1"]) == [
        "-m conntrack --ctstate RELATED,ESTABLISHED --jump ACCEPT",
        "-m conntrack --ctstate INVALID --jump DROP",
        "--jump MARK --set-mark 0/0x30000",
        '-m comment --comment "Start of tier t1" --jump MARK --set-mark 0/0x20000',
        "-m mark --mark 0/0x20000 --jump cali-pi-gnp/a",
        '-m mark --mark 0x10000/0x10000 -m comment --comment "Return if policy accepted" --jump RETURN',
        # t1's default action is Pass: no end-of-tier drop
        '-m comment --comment "Start of tier default" --jump MARK --set-mark 0/0x20000',
        "-m mark --mark 0/0x20000 --jump cali-pi-gnp/p1",
        '-m mark --mark 0x10000/0x10000 -m comment --comment "Return if policy accepted" --jump RETURN',
        "-m mark --mark 0/0x20000 --jump cali-pi-np/ns/p2",
        '-m mark --mark 0x10000/0x10000 -m comment --comment "Return if policy accepted" --jump RETURN',
        '-m mark --mark 0/0x20000 -m comment --comment "End of tier default. Drop if no policies passed packet"'
        ' --jump DROP',
        "--jump cali-pri-prof1",
        '-m mark --mark 0x10000/0x10000 -m comment --comment "Return if profile accepted" --jump RETURN',
        '-m comment --comment "Drop if no profiles matched" --jump DROP',
    ]
    fw = lines(chains["cali-fw-cali1"])
    assert fw[0] == '! --source 10.0.0.1/32 -m comment --comment "Drop packets from unknown source address" --jump DROP'
    assert '-p 17 -m multiport --destination-ports 4789 -m comment --comment ' \
           '"Drop VXLAN encapped packets originating in workloads" --jump DROP' in fw
    assert "-m mark --mark 0/0x20000 --jump cali-po-gnp/p1" in fw
    assert "--jump cali-pro-prof1" in fw


def test_policy_groups_are_shared_chains() -> None:
    """A tier's policy list (>= 2 policies) becomes one cali-gi-/cali-go- chain that every endpoint
    with the same list jumps to once; Accept/Pass stop the group (Go's "Return on verdict")."""
    pols = tuple(PolicyID("default", f"p{i}") for i in range(7))
    tiers = (TierInfo("t1", ingress_policies=(PolicyID("t1", "a"),), default_action="Pass"),
             TierInfo("default", ingress_policies=pols, egress_policies=pols[:2]))
    one = WorkloadEndpointInfo("active", "cali1", ipv4_nets=("10.0.0.1/32",), profile_ids=("prof1",), tiers=tiers)
    two = WorkloadEndpointInfo("active", "cali2", ipv4_nets=("10.0.0.2/32",), tiers=tiers)
    c1, c2 = by_name(R.workload_endpoint_chains("cali1", one, 4)), by_name(R.workload_endpoint_chains("cali2", two, 4))
    gi = group_chain_name("default", True, pols)
    go = group_chain_name("default", False, pols[:2])
    assert gi.startswith("cali-gi-") and go.startswith("cali-go-") and len(gi) == len(go) == 28
    assert set(c1) == {"cali-tw-cali1", "cali-fw-cali1", gi, go}
    assert c1[gi] == c2[gi] and c1[go] == c2[go]  # shared: identical name and rules
    assert lines(c1[gi]) == [
        "--jump cali-pi-gnp/p0",
        "-m mark --mark 0/0x30000 --jump cali-pi-gnp/p1",
        "-m mark --mark 0/0x30000 --jump cali-pi-gnp/p2",
        "-m mark --mark 0/0x30000 --jump cali-pi-gnp/p3",
        "-m mark --mark 0/0x30000 --jump cali-pi-gnp/p4",
        '-m mark ! --mark 0/0x30000 -m comment --comment "Return on verdict" --jump RETURN',
        "--jump cali-pi-gnp/p5",
        "-m mark --mark 0/0x30000 --jump cali-pi-gnp/p6",
    ]
    assert lines(c1[go]) == ["--jump cali-po-gnp/p0", "-m mark --mark 0/0x30000 --jump cali-po-gnp/p1"]
    assert lines(c1["cali-tw-cali1"])[3:] == [
        '-m comment --comment "Start of tier t1" --jump MARK --set-mark 0/0x20000',
        "-m mark --mark 0/0x20000 --jump cali-pi-gnp/a",  # t1 has one policy: inline, no group
        '-m mark --mark 0x10000/0x10000 -m comment --comment "Return if policy accepted" --jump RETURN',
        '-m comment --comment "Start of tier default" --jump MARK --set-mark 0/0x20000',
        f"-m mark --mark 0/0x20000 --jump {gi}",
        '-m mark --mark 0x10000/0x10000 -m comment --comment "Return if policy accepted" --jump RETURN',
        '-m mark --mark 0/0x20000 -m comment --comment "End of tier default. Drop if no policies passed packet"'
        ' --jump DROP',
        "--jump cali-pri-prof1",
        '-m mark --mark 0x10000/0x10000 -m comment --comment "Return if profile accepted" --jump RETURN',
        '-m comment --comment "Drop if no profiles matched" --jump DROP',
    ]
    # the id depends on tier, direction and the ordered list
    assert group_chain_name("default", True, pols[::-1]) != gi
    assert group_chain_name("other", True, pols) != gi
    assert group_chain_name("default", True, pols) == gi  # stable
    # lists shorter than policy_group_min_size stay inline
    small = RuleRenderer(RenderConfig(policy_group_min_size=8))
    assert set(by_name(small.workload_endpoint_chains("cali1", one, 4))) == {"cali-tw-cali1", "cali-fw-cali1"}


def test_host_endpoint_groups_per_table() -> None:
    pols = (PolicyID("default", "h1"), PolicyID("default", "h2"))
    hep = HostEndpointInfo("eth0", tiers=(TierInfo("default", pols, pols),),
                           forward_tiers=(TierInfo("default", pols, pols),),
                           untracked_tiers=(TierInfo("default", pols),))
    chains = R.host_endpoint_chains("eth0", hep, 4)
    gi, go = group_chain_name("default", True, pols), group_chain_name("default", False, pols)
    flt = [c.name for c in chains["filter"]]
    assert flt.count(gi) == 1 and flt.count(go) == 1  # normal and forward chains share, listed once
    assert [c.name for c in chains["raw"]].count(gi) == 1
    raw_fh = lines(by_name(chains["raw"])["cali-fh-eth0"])
    assert f"-m mark --mark 0/0x20000 --jump {gi}" in raw_fh
    assert "-m mark --mark 0x10000/0x10000 --jump NOTRACK" in raw_fh


def test_admin_down_and_spoofing_options() -> None:
    down = WorkloadEndpointInfo(state="inactive", name="cali2", ipv4_nets=("10.0.0.2/32",))
    for chain in R.workload_endpoint_chains("cali2", down, 4):
        assert lines(chain) == ['-m comment --comment "Endpoint admin disabled" --jump DROP']
    two = WorkloadEndpointInfo(state="active", name="cali3", ipv4_nets=("10.0.0.3/32",),
                               allow_spoofed_source_prefixes=("192.168.0.0/24",))
    fw = lines(by_name(R.workload_endpoint_chains("cali3", two, 4))["cali-fw-cali3"])
    assert fw[:4] == ["--jump MARK --set-mark 0x40000/0x40000",
                      "--source 10.0.0.3/32 --jump MARK --set-mark 0/0x40000",
                      "--source 192.168.0.0/24 --jump MARK --set-mark 0/0x40000",
                      '-m mark --mark 0x40000/0x40000 -m comment --comment "Drop packets from unknown source address"'
                      ' --jump DROP']
    # no IPv6 address: every IPv6 packet from it is spoofed
    assert lines(by_name(R.workload_endpoint_chains("cali3", two, 6))["cali-fw-cali3"])[0] == \
        '-m comment --comment "Drop packets from unknown source address" --jump DROP'


def test_workload_dispatch_is_fail_closed_and_binned() -> None:
    chains = by_name(R.workload_dispatch_chains(["cali1a", "cali1b", "cali2x", "tap0"], 4))
    assert lines(chains["cali-from-wl-dispatch"]) == [
        "--in-interface c+ --goto cali-from-wl-dispatch-c",
        "--in-interface tap0 --goto cali-fw-tap0",
        '-m comment --comment "Unknown interface" --jump DROP',
    ]
    assert lines(chains["cali-from-wl-dispatch-c"])[-1] == '-m comment --comment "Unknown interface" --jump DROP'
    assert "--out-interface cali2x --goto cali-tw-cali2x" in lines(chains["cali-to-wl-dispatch-c"])
    empty = by_name(R.workload_dispatch_chains([], 4))
    assert lines(empty["cali-to-wl-dispatch"]) == ['-m comment --comment "Unknown interface" --jump DROP']


def test_static_chains_and_hooks() -> None:
    c = '-m comment --comment "Accept established workload traffic before dispatch"'
    cfg = RenderConfig(ipip_enabled=True, vxlan_enabled=True, default_endpoint_to_host_action="ACCEPT",
                       failsafe_inbound=(ProtoPort.parse("tcp:22"), ProtoPort.parse("udp:10.0.0.0/8:68")))
    r = RuleRenderer(cfg)
    static = r.static_chains(4)
    flt = by_name(static["filter"])
    inp = lines(flt["cali-INPUT"])
    assert inp[0].startswith("-p 4 -m set --match-set cali40all-hosts-net src -m addrtype --dst-type LOCAL")
    assert "--in-interface cali+ --goto cali-wl-to-host" in inp
    assert lines(flt["cali-wl-to-host"]) == [
        "--jump cali-from-wl-dispatch", '-m comment --comment "Configured DefaultEndpointToHostAction" --jump ACCEPT']
    assert lines(flt["cali-failsafe-in"]) == [
        "-p tcp -m multiport --destination-ports 22 --jump ACCEPT",
        "-p udp -m multiport --destination-ports 68 --source 10.0.0.0/8 --jump ACCEPT"]
    assert "--out-interface cali+ --jump RETURN" in lines(flt["cali-OUTPUT"])
    raw = by_name(static["raw"])
    assert "-p udp -m udp --dport 4789 --jump NOTRACK" in lines(raw["cali-PREROUTING"])
    # raw failsafe-in also lets replies to outbound failsafe flows through
    assert "-p udp -m multiport --source-ports 53 --jump ACCEPT" in lines(raw["cali-failsafe-in"])
    assert r.kernel_hooks(4)["filter"]["FORWARD"][0].render() == "--jump cali-FORWARD"
    # without host endpoints raw and mangle hooks do no work: only VXLAN's NOTRACK keeps raw
    assert set(r.kernel_hooks(4, host_endpoints=False)) == {"raw", "nat", "filter"}
    assert set(R.kernel_hooks(4, host_endpoints=False)) == {"nat", "filter"}
    assert set(R.kernel_hooks(4)) == {"raw", "mangle", "nat", "filter"}
    assert "POSTROUTING" not in r.kernel_hooks(4)["nat"]
    assert [x.render() for x in r.kernel_appends(4)["filter"]["FORWARD"]] == [
        '-m mark --mark 0x10000/0x10000 -m comment --comment "Policy explicitly accepted packet." --jump ACCEPT',
        "--jump MARK --set-mark 0x10000/0x10000"]
    nat = by_name(static["nat"])
    assert ("--out-interface vxlan.calico -m addrtype ! --src-type LOCAL --limit-iface-out "
            "-m addrtype --src-type LOCAL --jump MASQUERADE") in lines(nat["cali-POSTROUTING"])
    # default: Drop, and no IPv6 ICMP exceptions in v4
    default = by_name(R.static_chains(6)["filter"])
    # established workload traffic is accepted before the dispatch trees; workload packets leave
    # raw at once
    assert lines(default["cali-FORWARD"])[:2] == [
        f"--in-interface cali+ -m conntrack --ctstate RELATED,ESTABLISHED {c} --jump ACCEPT",
        f"--out-interface cali+ -m conntrack --ctstate RELATED,ESTABLISHED {c} --jump ACCEPT"]
    assert lines(by_name(R.static_chains(4)["raw"])["cali-PREROUTING"]) == [
        "--in-interface cali+ --jump RETURN", "--jump MARK --set-mark 0/0xf0000", "--jump cali-from-host-endpoint",
        "-m mark --mark 0x10000/0x10000 --jump ACCEPT"]
    strict = RuleRenderer(RenderConfig(conntrack_fast_path=False)).static_chains(4)["filter"]
    assert "conntrack" not in " ".join(lines(by_name(strict)["cali-FORWARD"]))
    assert lines(default["cali-wl-to-host"])[-1] == \
        '-m comment --comment "Configured DefaultEndpointToHostAction" --jump DROP'
    assert lines(default["cali-wl-to-host"])[0] == "-p 58 -m icmp6 --icmpv6-type 130 --jump ACCEPT"


def test_nat_outgoing_and_floating_ips() -> None:
    assert R.nat_outgoing_rules(False, 4) == []
    assert [x.render() for x in R.nat_outgoing_rules(True, 4)] == [
        "-m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst --jump MASQUERADE"]
    snat = RuleRenderer(RenderConfig(nat_outgoing_address="1.2.3.4", nat_port_range="1024:65535"))
    texts = [x.render() for x in snat.nat_outgoing_rules(True, 4)]
    assert texts[0].endswith("--jump SNAT --to-source 1.2.3.4:1024-65535") and texts[0].startswith("-p tcp ")
    assert texts[-1].endswith("--jump SNAT --to-source 1.2.3.4")
    dnat, snat_chain = R.floating_ip_chains([NatInfo("172.16.0.1", "10.0.0.1")], 4)
    assert lines(dnat) == ["--destination 172.16.0.1/32 --jump DNAT --to-destination 10.0.0.1"]
    assert lines(snat_chain) == ["--source 10.0.0.1/32 --destination 10.0.0.1/32 --jump SNAT --to-source 172.16.0.1"]


def test_host_endpoints() -> None:
    hep = HostEndpointInfo("eth0", tiers=(TierInfo("default", ingress_policies=(P1,)),),
                           untracked_tiers=(TierInfo("default", ingress_policies=(PolicyID("default", "u"),)),))
    chains = R.host_endpoint_chains("eth0", hep, 4)
    flt = by_name(chains["filter"])
    assert "--jump cali-failsafe-in" in lines(flt["cali-fh-eth0"])
    assert "--jump cali-failsafe-out" in lines(flt["cali-th-eth0"])
    # forward chains with no applyOnForward policy allow by default
    assert lines(flt["cali-fhfw-eth0"])[-2:] == [
        '-m comment --comment "Allow forwarded traffic by default" --jump MARK --set-mark 0x10000/0x10000',
        '-m comment --comment "Return for accepted forward traffic" --jump RETURN']
    raw = by_name(chains["raw"])
    assert "-m mark --mark 0x10000/0x10000 --jump NOTRACK" in lines(raw["cali-fh-eth0"])
    assert chains["mangle"] == []
    dispatch = R.host_dispatch_chains({"eth0": hep, "*": HostEndpointInfo("*")}, 4)
    fhe = by_name(dispatch["filter"])["cali-from-host-endpoint"]
    assert lines(fhe) == ["--in-interface eth0 --goto cali-fh-eth0",
                          f"--goto {chain_name('cali-fh-', 'any-interface-at-all')}"]
    assert lines(by_name(dispatch["raw"])["cali-from-host-endpoint"]) == ["--in-interface eth0 --goto cali-fh-eth0"]
    no_hep = R.host_dispatch_chains({}, 4)
    assert all(c.rules == () for c in no_hep["filter"])


def test_rule_count_grows_additively() -> None:
    """Policy bodies are rendered once; each endpoint only adds its own jumps."""
    rules = tuple(ParsedRule("allow", protocol="tcp", dst_ports=(PortRange(p, p),)) for p in range(1, 11))

    def total(n_endpoints: int, n_policies: int) -> int:
        chains: list[Chain] = []
        for i in range(n_policies):
            chains += R.policy_chains(PolicyID("default", f"p{i}"), ParsedPolicy(inbound_rules=rules), 4)
        for i in range(n_endpoints):
            ep = WorkloadEndpointInfo("active", f"cali{i}", ipv4_nets=(f"10.0.0.{i}/32",), profile_ids=("x",),
                                      tiers=(TierInfo("default", (PolicyID("default", f"p{i % n_policies}"),)),))
            chains += R.workload_endpoint_chains(f"cali{i}", ep, 4)
        chains += R.workload_dispatch_chains([f"cali{i}" for i in range(n_endpoints)], 4)
        return count_rules(chains)

    base = total(50, 50)
    more_eps = total(100, 50) - base
    more_pols = total(50, 100) - base
    assert total(100, 100) - base == more_eps + more_pols  # no cross term
    assert ParsedProfile() == ParsedProfile()


def _shared_policy_rules(cfg: RenderConfig, n_endpoints: int, n_policies: int, label_sets: int = 10) -> int:
    """Total rules (each shared chain counted once, as the kernel holds it once) for endpoints in
    ``label_sets`` groups, group k selected by the policies j with j % label_sets == k."""
    r = RuleRenderer(cfg)
    body = ParsedPolicy(inbound_rules=(ParsedRule("allow", protocol="tcp", dst_ports=(PortRange(80, 80),)),),
                        outbound_rules=(ParsedRule("allow"),))
    chains: dict[str, Chain] = {}

    def add(cs: list[Chain]) -> None:
        for c in cs:
            assert chains.setdefault(c.name, c) == c, f"shared chain {c.name} rendered differently"

    for j in range(n_policies):
        add(r.policy_chains(PolicyID("default", f"p{j}"), body, 4))
    for i in range(n_endpoints):
        pols = tuple(PolicyID("default", f"p{j}") for j in range(i % label_sets, n_policies, label_sets))
        ep = WorkloadEndpointInfo("active", f"cali{i:05x}", ipv4_nets=(f"10.0.{i // 250}.{i % 250}/32",),
                                  profile_ids=("kns.default",), tiers=(TierInfo("default", pols, pols),))
        add(r.workload_endpoint_chains(ep.name, ep, 4))
    add(r.workload_dispatch_chains([f"cali{i:05x}" for i in range(n_endpoints)], 4))
    return count_rules(chains.values())


def test_rule_count_is_endpoints_plus_policies_with_groups() -> None:
    """E endpoints sharing P policies: O(E + P) rules with policy groups, O(E * P) without."""
    grouped = RenderConfig()
    small, large = _shared_policy_rules(grouped, 100, 200), _shared_policy_rules(grouped, 250, 1000)
    # per endpoint: 10 (cali-tw) + 13 (cali-fw) + 2 (dispatch); per policy: 2 (cali-pi/po bodies)
    # + 2 (jumps in the in/out groups) + a "Return on verdict" per 5 jumps; plus dispatch bins:
    # 100 x 25 + 200 x 2 + 20 groups x (20 + 3) + 2 x (7 bins + 1 + 7 ends)
    # 250 x 25 + 1000 x 2 + 20 groups x (100 + 19) + 2 x (16 bins + 1 + 16 ends)
    assert (small, large) == (3390, 10696)
    assert large <= 30 * 250 + 5 * 1000 + 100
    e_more = _shared_policy_rules(grouped, 500, 1000) - large
    p_more = _shared_policy_rules(grouped, 250, 2000) - large
    assert _shared_policy_rules(grouped, 500, 2000) - large == e_more + p_more  # no cross term
    inline = RenderConfig(policy_group_min_size=0)
    assert _shared_policy_rules(inline, 250, 1000) > 100_000  # ~2 jumps per policy per endpoint per direction


def test_rule_text_hashes_match_go_felix() -> None:
    """The rule text is Go Felix's, so the cali:<hash> comments equal those Go Felix writes (hashes
    copied from iptables-save of real Calico nodes): a takeover from Go Felix rewrites nothing here."""
    from calico.linux.iptables_text import append_hashes, chain_hashes, insert_hashes

    hooks = R.kernel_hooks(4)["filter"]
    assert [insert_hashes(k, hooks[k])[0] for k in ("INPUT", "FORWARD", "OUTPUT")] == [
        "Cz_u1IQiXIMmKD4c", "wUHhoiAYhphO9Mso", "tVnHkvAo15HuiPy0"]
    assert insert_hashes("PREROUTING", R.kernel_hooks(4)["raw"]["PREROUTING"]) == ("6gwbT8clXdHdC1b1",)
    assert append_hashes("FORWARD", R.kernel_appends(4)["filter"]["FORWARD"]) == (
        "S93hcgKJrXEqnTfs", "mp77cMpurHhyjLrM")
    assert append_hashes("POSTROUTING", R.kernel_appends(4)["nat"]["POSTROUTING"]) == ("0i8pjzKKPyA34aQD",)
    # cali-FORWARD as Go Felix writes it (without this port's conntrack fast path, see below)
    flt = by_name(RuleRenderer(RenderConfig(conntrack_fast_path=False)).static_chains(4)["filter"])
    assert chain_hashes(flt["cali-FORWARD"]) == (
        "vjrMJCRpqwy5oRoX", "A_sPAO0mcxbT9mOV", "8ZoYfO5HKXWbB3pk", "jdEuaPBe14V2hutn", "12bc6HljsMKsmfr-")
    assert chain_hashes(flt["cali-INPUT"]) == (
        "FewJpBykm9iJ-YNH", "hder3ARWznqqv8Va", "xgOu2uJft6H9oDGF", "_-d-qojMfHM6NwBo", "LqmE76MP94lZTGhA")
    vxlan = by_name(RuleRenderer(RenderConfig(vxlan_enabled=True)).static_chains(4)["filter"])
    assert chain_hashes(vxlan["cali-INPUT"])[:2] == ("J76FwxInZIsk7uKY", "EDCNTTxYfggApx8C")
    ep = WorkloadEndpointInfo("active", "cali92d634f8f03", ipv4_nets=("10.64.1.4/32",), profile_ids=("kns.alpha",))
    tw = by_name(R.workload_endpoint_chains(ep.name, ep, 4))["cali-tw-cali92d634f8f03"]
    assert chain_hashes(tw)[:2] == ("FUgB7G5ObIh96acF", "WQJ64LtbzEP_A0C0")
    allow = ParsedRule("allow", protocol="tcp", dst_net=("10.0.0.0/8",), dst_ports=(PortRange(80, 80),))
    body = R.policy_chains(PolicyID("default", "x"), ParsedPolicy(outbound_rules=(allow,)), 4)[1]
    assert chain_hashes(Chain("cali-po-_w6rJoXTmbxiadSPZU3_", (replace(body.rules[0], comment=""),))) == (
        "VlgumrRWE9pluqPq",)

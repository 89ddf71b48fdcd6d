"""Everything the renderer produces is accepted by iptables-restore (nft backend), loaded for real
into a throwaway network namespace (never the root namespace)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable

import pytest

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
)
from calico.felix.rules.config import RenderConfig
from calico.felix.rules.model import Chain
from calico.felix.rules.render import RuleRenderer, policy_table
from tests.support.netns import Netns

pytestmark = [pytest.mark.needs_root,
              pytest.mark.skipif(shutil.which("iptables-restore") is None, reason="iptables-restore missing")]

P = PolicyID("default", "p1")
PN = PolicyID("tier2", "a-rather-long-policy-name-for-hashing", "some-namespace")
PU = PolicyID("default", "untracked")
PU2 = PolicyID("default", "untracked2")
PD = PolicyID("default", "prednat")
RULES = (
    ParsedRule("allow", protocol="tcp", src_net=("10.0.0.0/8", "fd00::/8"),
               dst_ports=(PortRange(80, 80), PortRange(1000, 2000)), dst_named_port_ip_set_ids=("n:abc",),
               src_ip_set_ids=("s:xyz",), not_dst_net=("10.1.0.0/16", "fd00:1::/64")),
    ParsedRule("allow", protocol="tcp", src_net=("10.0.0.0/8", "10.2.0.0/16", "fd00::/8", "fd01::/16"),
               not_src_ports=tuple(PortRange(p, p) for p in range(100, 120))),
    ParsedRule("deny", protocol="icmp", icmp_type=8, icmp_code=0),
    ParsedRule("deny", protocol="icmpv6", not_icmp_type=128),
    ParsedRule("log"), ParsedRule("log", log_prefix="custom"),
    ParsedRule("pass", protocol="udp", not_dst_ports=(PortRange(53, 53),), not_src_ip_set_ids=("s:xyz",)),
    ParsedRule("allow", not_protocol="udp", not_dst_named_port_ip_set_ids=("n:abc",)),
    ParsedRule("allow", protocol="sctp", src_ports=(PortRange(5000, 5001),)),
    ParsedRule("deny", protocol="132"),
    # positive + negated on the same side (iptables allows one --source/--destination per rule)
    ParsedRule("allow", src_net=("10.65.0.40/29",), not_src_net=("10.65.0.43/32",)),
    ParsedRule("deny", protocol="tcp", src_net=("10.0.0.0/8", "fd00::/8"), not_src_net=("10.1.0.0/16", "fd00:1::/64"),
               dst_net=("10.2.0.0/16",), not_dst_net=("10.2.3.0/24",), dst_ports=(PortRange(80, 80),)),
    ParsedRule("log", src_net=("10.0.0.0/8", "10.9.0.0/16"), not_src_net=("10.0.0.1/32",),
               dst_net=("10.3.0.0/16",), not_dst_net=("10.3.1.0/24", "10.3.2.0/24")),
    ParsedRule("pass", src_ip_set_ids=("s:xyz",), not_src_ip_set_ids=("s:uvw",), dst_ip_set_ids=("s:xyz",),
               not_dst_ip_set_ids=("s:uvw",)),
    ParsedRule("allow", protocol="tcp", src_ports=(PortRange(1000, 2000),), not_src_ports=(PortRange(1500, 1500),),
               dst_ports=(PortRange(80, 90),), not_dst_ports=(PortRange(85, 85),),
               dst_named_port_ip_set_ids=("n:abc",), not_dst_named_port_ip_set_ids=("n:def",)),
    ParsedRule("allow", protocol="tcp", not_protocol="udp"),
    ParsedRule("allow", protocol="6", not_protocol="tcp"),
    ParsedRule("deny", protocol="icmp", icmp_type=8, not_icmp_type=8, not_icmp_code=1),
    ParsedRule("deny", protocol="icmpv6", icmp_type=128, not_icmp_type=129),
)
POLICY = ParsedPolicy(inbound_rules=RULES, outbound_rules=RULES)


def render_all(r: RuleRenderer, v: int) -> str:
    tables: dict[str, list[Chain]] = {t: [] for t in ("raw", "mangle", "nat", "filter")}
    for t, chs in r.static_chains(v).items():
        tables[t] += chs
    heps = {
        "eth0": HostEndpointInfo("eth0", profile_ids=("prof",), tiers=(TierInfo("default", (P,), (P,)),),
                                 untracked_tiers=(TierInfo("default", (PU, PU2), (PU,)),),
                                 pre_dnat_tiers=(TierInfo("default", (PD,)),),
                                 forward_tiers=(TierInfo("default", (P,), (P,), "Pass"),)),
        "*": HostEndpointInfo("*", tiers=(TierInfo("default", (P,)),)),
    }
    ifaces = ["cali1234", "cali1299", "cali55", "tap0", "cali0123456789a"]
    for t, chs in r.dynamic_chains(v, workload_ifaces=ifaces, host_endpoints=heps, masq_pools_present=True,
                                   nats=[NatInfo("1.2.3.4", "10.0.0.1"), NatInfo("fd10::1", "fd00::1")]).items():
        tables[t] += chs
    for pid, pol in ((P, POLICY), (PN, POLICY), (PU, ParsedPolicy(RULES, RULES, untracked=True)),
                     (PU2, ParsedPolicy(RULES, RULES, untracked=True)),
                     (PD, ParsedPolicy(RULES, pre_dnat=True))):
        tables[policy_table(pol)] += r.policy_chains(pid, pol, v)
    tables["filter"] += r.profile_chains(ProfileID("prof"), ParsedProfile(RULES, RULES), v)
    wep = WorkloadEndpointInfo("active", "x", ipv4_nets=("10.0.0.1/32",), ipv6_nets=("fd00::1/128",),
                               profile_ids=("prof",), allow_spoofed_source_prefixes=("10.9.0.0/16",),
                               tiers=(TierInfo("tier2", (PN,), (PN,), "Pass"), TierInfo("default", (P, PN), (P, PN))))
    for n in ifaces:
        tables["filter"] += r.workload_endpoint_chains(n, wep, v)
    for name, hep in heps.items():
        for t, chs in r.host_endpoint_chains("any-interface-at-all" if name == "*" else name, hep, v).items():
            tables[t] += chs
    out = []
    for t, listed in tables.items():
        # shared policy-group chains come back once per endpoint using them: the kernel holds one
        unique: dict[str, Chain] = {}
        for c in listed:
            assert unique.setdefault(c.name, c) == c, f"shared chain {c.name} rendered differently"
        chains = list(unique.values())
        assert any(n.startswith("cali-gi-") for n in unique) == (t in ("filter", "raw"))
        names = [c.name for c in chains]
        assert len(names) == len(set(names)), f"duplicate chains in {t}"
        assert all(len(n) <= 28 for n in names)
        out.append(f"*{t}")
        out += [f":{c.name} - [0:0]" for c in chains]
        out += [f"-A {c.name} {rule.render()}" for c in chains for rule in c.rules]
        for kc, rules in r.kernel_hooks(v).get(t, {}).items():
            out += [f"-I {kc} {rule.render()}" for rule in rules]
        for kc, rules in r.kernel_appends(v).get(t, {}).items():
            out += [f"-A {kc} {rule.render()}" for rule in rules]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("cfg", [
    RenderConfig(ipip_enabled=True, vxlan_enabled=True, log_rate_limit="10/second"),
    RenderConfig(filter_deny_action="REJECT", filter_allow_action="RETURN", mangle_allow_action="RETURN",
                 default_endpoint_to_host_action="ACCEPT", nat_outgoing_address="192.168.0.1",
                 nat_port_range="1024:65535", masq_random_fully=True, workload_iface_prefixes=("cali", "tap"),
                 disable_conntrack_invalid_check=True),
], ids=["defaults+encap", "alternatives"])
def test_iptables_restore_accepts_everything(netns_factory: Callable[[str], Netns], cfg: RenderConfig) -> None:
    ns = netns_factory("felrender")
    r = RuleRenderer(cfg)
    for v, cmd, family in ((4, "iptables-restore", "inet"), (6, "ip6tables-restore", "inet6")):
        text = render_all(r, v)
        for name in sorted(set(re.findall(r"--match-set (\S+)", text))):
            kind = "hash:ip,port" if name[6:8] == "n:" else "hash:net"
            ns.run("ipset", "create", name, kind, "family", family)
        test = ns.run(cmd, "--test", input=text, check=False)
        assert test.returncode == 0, f"{cmd} --test rejected IPv{v} rules: {test.stderr}"
        load = ns.run(cmd, "--noflush", input=text, check=False)
        assert load.returncode == 0, f"{cmd} failed to load IPv{v} rules: {load.stderr}"
        saved = ns.run(cmd.replace("-restore", "-save"), "-t", "filter").stdout
        assert "cali-from-wl-dispatch" in saved and "Unknown interface" in saved

"""Dataplane managers: messages in -> desired kernel state out, with no kernel I/O (no apply)."""

from __future__ import annotations

from calico.felix import config
from calico.felix import messages as m
from calico.felix.dataplane.driver import Dataplane
from calico.linux import ifacemon
from calico.linux.routes import NO_INTERFACE


def make() -> Dataplane:
    return Dataplane(config.load({"NODENAME": "h1"}, config_file="/nonexistent"))


def work(dp: Dataplane) -> None:
    dp._update_static()
    for mgr in dp.managers:
        mgr.complete_deferred_work()


WID = m.WorkloadEndpointID("k8s", "default/pod1", "eth0")
EP = m.WorkloadEndpointInfo(state="active", name="cali12345", mac="aa:bb:cc:dd:ee:ff", profile_ids=("p1",),
                            ipv4_nets=("10.0.0.1/32",),
                            tiers=(m.TierInfo("default", ingress_policies=(m.PolicyID("default", "pol"),)),))


def test_endpoint_chains_routes_and_dispatch() -> None:
    dp = make()
    dp.on_update(m.WorkloadEndpointUpdate(WID, EP))
    work(dp)
    filt = dp.ctx.table("filter", 4)
    assert {"cali-tw-cali12345", "cali-fw-cali12345", "cali-to-wl-dispatch"} <= filt.desired_chain_names()
    dispatch = filt.get_chain("cali-to-wl-dispatch")
    assert dispatch is not None and any("cali-tw-cali12345" in r.action for r in dispatch.rules)
    assert dispatch.rules[-1].comment == "Unknown interface"
    routes = dp.ctx.routes[4].routes_for("cali12345")
    assert routes["10.0.0.1/32"].mac == "aa:bb:cc:dd:ee:ff"
    dp.on_update(m.WorkloadEndpointRemove(WID))
    work(dp)
    assert "cali-tw-cali12345" not in filt.desired_chain_names()
    assert dp.ctx.routes[4].routes_for("cali12345") == {}


def test_admin_down_endpoint_has_no_routes() -> None:
    dp = make()
    dp.on_update(m.WorkloadEndpointUpdate(WID, m.WorkloadEndpointInfo(state="inactive", name="cali12345",
                                                                       ipv4_nets=("10.0.0.1/32",))))
    work(dp)
    assert dp.ctx.routes[4].routes_for("cali12345") == {}


def test_status_up_needs_oper_up_and_sysctls() -> None:
    seen: list[tuple[str, object, str | None]] = []
    dp = Dataplane(config.load({"NODENAME": "h1"}, config_file="/nonexistent"),
                   status_sink=lambda k, i, s: seen.append((k, i, s)))
    dp.on_update(m.WorkloadEndpointUpdate(WID, EP))
    work(dp)
    assert seen[-1] == ("workload", WID, "down")
    dp.on_iface_event(ifacemon.LinkEvent("cali12345", 7, True))
    assert dp.needs_apply  # sysctls pending for an up interface
    dp.endpoint_mgr._sysctl_pending.discard("cali12345")  # as if written
    dp.endpoint_mgr._sysctl_done.add("cali12345")
    dp.endpoint_mgr._update_status(WID)
    assert seen[-1] == ("workload", WID, "up")


def test_policies_and_profiles_go_to_their_tables() -> None:
    dp = make()
    pid = m.PolicyID("default", "pol")
    dp.on_update(m.ActivePolicyUpdate(pid, m.ParsedPolicy(inbound_rules=(m.ParsedRule("allow"),))))
    dp.on_update(m.ActivePolicyUpdate(m.PolicyID("default", "raw"), m.ParsedPolicy(untracked=True)))
    dp.on_update(m.ActiveProfileUpdate(m.ProfileID("p1"), m.ParsedProfile()))
    work(dp)
    assert "cali-pi-gnp/pol" in dp.ctx.table("filter", 4).desired_chain_names()
    assert "cali-pi-gnp/raw" in dp.ctx.table("raw", 4).desired_chain_names()
    assert "cali-pri-p1" in dp.ctx.table("filter", 4).desired_chain_names()
    dp.on_update(m.ActivePolicyRemove(pid))
    work(dp)
    assert "cali-pi-gnp/pol" not in dp.ctx.table("filter", 4).desired_chain_names()


def test_ipsets_per_family() -> None:
    dp = make()
    dp.on_update(m.IPSetUpdate("s:abc", m.IPSET_HASH_NET, frozenset({"10.0.0.1/32", "fd00::1/128"})))
    dp.on_update(m.IPSetDeltaUpdate("s:abc", frozenset({"10.0.0.2/32"}), frozenset({"10.0.0.1/32"})))
    assert dp.ctx.ipsets[4].members("cali40s:abc") == {"10.0.0.2"}  # canonical form of a /32
    dp.on_update(m.IPSetRemove("s:abc"))
    assert "cali40s:abc" not in dp.ctx.ipsets[4].desired_names()


def test_host_endpoint_resolved_by_expected_ip() -> None:
    dp = make()
    dp.on_iface_event(ifacemon.LinkEvent("eth0", 2, True))
    dp.on_iface_event(ifacemon.AddrEvent("eth0", 2, frozenset({"192.168.0.5"})))
    dp.on_update(m.HostEndpointUpdate(m.HostEndpointID("hep1"),
                                      m.HostEndpointInfo(name="", expected_ipv4_addrs=("192.168.0.5",))))
    work(dp)
    assert {"cali-th-eth0", "cali-fh-eth0"} <= dp.ctx.table("filter", 4).desired_chain_names()
    fhe = dp.ctx.table("filter", 4).get_chain("cali-from-host-endpoint")
    assert fhe is not None and any("cali-fh-eth0" in r.action for r in fhe.rules)


def test_masquerade_only_with_a_nat_pool() -> None:
    dp = make()
    work(dp)
    assert dp.ctx.table("nat", 4).get_chain("cali-nat-outgoing").rules == ()  # type: ignore[union-attr]
    dp.on_update(m.IPAMPoolUpdate("10.0.0.0-16", m.IPAMPool("10.0.0.0/16", masquerade=True)))
    work(dp)
    rules = dp.ctx.table("nat", 4).get_chain("cali-nat-outgoing").rules  # type: ignore[union-attr]
    assert any("MASQUERADE" in r.action for r in rules)


def test_vxlan_routes_wait_for_the_vtep() -> None:
    dp = make()
    dp.on_update(m.IPAMPoolUpdate("10.1.0.0-16", m.IPAMPool("10.1.0.0/16", vxlan_mode="Always")))
    dp.on_update(m.RouteUpdate(m.RouteType.REMOTE_WORKLOAD, "10.1.2.0/26", m.IPPoolType.VXLAN, dst_node="h2",
                               dst_node_ip="192.168.0.2", same_subnet=True))
    dp.on_update(m.RouteUpdate(m.RouteType.LOCAL_WORKLOAD, "10.1.1.0/26", m.IPPoolType.VXLAN, dst_node="h1",
                               local_workload=True))
    work(dp)
    assert dp.ctx.routes[4].routes_for("vxlan.calico") == {}
    assert "10.1.1.0/26" in dp.ctx.routes[4].routes_for(NO_INTERFACE)  # local block: blackhole
    dp.on_update(m.VXLANTunnelEndpointUpdate("h2", "66:00:00:00:00:02", "10.1.2.0", "192.168.0.2"))
    work(dp)
    t = dp.ctx.routes[4].routes_for("vxlan.calico")["10.1.2.0/26"]
    assert t.gateway == "10.1.2.0" and t.onlink  # Always: encapsulated even on the same subnet
    assert dp.vxlan_mgr.enabled
    assert any("4789" in r.match for r in dp.ctx.table("raw", 4).get_chain("cali-PREROUTING").rules)  # type: ignore

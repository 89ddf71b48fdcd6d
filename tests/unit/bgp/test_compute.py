"""Who peers with whom: Calico's confd rules over pure inputs."""

from __future__ import annotations

import pytest

from calico.bgp.compute import ComputeError, compute
from calico.bgp.model import (
    BGPConfigSpec,
    BlockInfo,
    ClusterState,
    Community,
    FilterSpec,
    NodeInfo,
    PeerKind,
    PeerSpec,
    PoolInfo,
    PrefixAdvertisement,
    SecretRef,
)


def nodes(*specs: NodeInfo) -> dict[str, NodeInfo]:
    return {n.name: n for n in specs}


N1 = NodeInfo("n1", "10.0.0.1/24", labels={"rack": "a"})
N2 = NodeInfo("n2", "10.0.0.2/24", labels={"rack": "a"})
N3 = NodeInfo("n3", "10.0.0.3/24", labels={"rack": "b"})


def names(state: ClusterState, version: int = 4) -> list[str]:
    cfg = compute(state)
    plan = cfg.v4 if version == 4 else cfg.v6
    return [p.name for p in plan.peers]


def test_default_mesh_peers_every_other_node_with_passive_by_ip_order() -> None:
    state = ClusterState("n2", nodes(N1, N2, N3))
    cfg = compute(state)
    assert [p.name for p in cfg.v4.peers] == ["Mesh_10_0_0_1", "Mesh_10_0_0_3"]
    by_ip = {p.ip: p for p in cfg.v4.peers}
    assert by_ip["10.0.0.3"].passive and not by_ip["10.0.0.1"].passive
    assert all(p.asn == 64512 and p.local_asn == 64512 and p.internal for p in cfg.v4.peers)
    assert all(p.source_address == "10.0.0.2" for p in cfg.v4.peers)
    assert cfg.router_id == "10.0.0.2" and cfg.asn == 64512
    assert cfg.v6.peers == ()


def test_mesh_disabled_leaves_no_peers() -> None:
    state = ClusterState("n1", nodes(N1, N2), configs={"default": BGPConfigSpec("default", node_to_node_mesh=False)})
    assert names(state) == []


def test_global_as_and_node_as() -> None:
    state = ClusterState("n1", nodes(N1, NodeInfo("n2", "10.0.0.2/24", asn=65002)),
                         configs={"default": BGPConfigSpec("default", asn=65000)})
    cfg = compute(state)
    assert cfg.asn == 65000
    assert cfg.v4.peers[0].asn == 65002 and not cfg.v4.peers[0].internal


def test_route_reflector_leaves_mesh_and_clients_marked() -> None:
    rr = NodeInfo("rr", "10.0.0.9/24", rr_cluster_id="244.0.0.1", labels={"route-reflector": "true"})
    peer = PeerSpec("to-rr", node_selector="all()", peer_selector="has(route-reflector)")
    mesh_off = {"default": BGPConfigSpec("default", node_to_node_mesh=False)}
    state = ClusterState("rr", nodes(N1, N2, N3, rr), peers=(peer,), configs=mesh_off)
    cfg = compute(state)
    assert [p.name for p in cfg.v4.peers] == ["Node_10_0_0_1", "Node_10_0_0_2", "Node_10_0_0_3"]
    assert all(p.rr_client and p.rr_cluster_id == "244.0.0.1" for p in cfg.v4.peers)
    assert cfg.is_route_reflector
    client = compute(ClusterState("n1", nodes(N1, N2, N3, rr), peers=(peer,), configs=mesh_off))
    assert [(p.name, p.rr_client) for p in client.v4.peers] == [("Node_10_0_0_9", False)]


def test_rr_node_not_meshed_by_others_even_with_mesh_on() -> None:
    rr = NodeInfo("rr", "10.0.0.9/24", rr_cluster_id="244.0.0.1")
    assert names(ClusterState("n1", nodes(N1, N2, rr))) == ["Mesh_10_0_0_2"]
    assert names(ClusterState("rr", nodes(N1, N2, rr))) == []


def test_rrs_with_same_cluster_id_are_not_clients() -> None:
    rr1 = NodeInfo("rr1", "10.0.0.8/24", rr_cluster_id="244.0.0.1", labels={"rr": ""})
    rr2 = NodeInfo("rr2", "10.0.0.9/24", rr_cluster_id="244.0.0.1", labels={"rr": ""})
    peer = PeerSpec("rr-mesh", node_selector="has(rr)", peer_selector="has(rr)")
    cfg = compute(ClusterState("rr1", nodes(rr1, rr2), peers=(peer,)))
    assert [(p.name, p.rr_client) for p in cfg.v4.peers] == [("Node_10_0_0_9", False)]


def test_global_peer_wins_over_node_specific_for_same_ip() -> None:
    g = PeerSpec("g", peer_ip="10.1.1.1", as_number=65000)
    n = PeerSpec("n", node="n1", peer_ip="10.1.1.1", as_number=65000)
    other = PeerSpec("other", node="n2", peer_ip="10.1.1.2", as_number=65000)
    state = ClusterState("n1", nodes(N1, N2), peers=(n, g, other),
                         configs={"default": BGPConfigSpec("default", node_to_node_mesh=False)})
    cfg = compute(state)
    assert [(p.name, p.kind) for p in cfg.v4.peers] == [("Global_10_1_1_1", PeerKind.GLOBAL)]


def test_node_specific_peer_by_node_name_and_selector() -> None:
    by_name = PeerSpec("leaf", node="n1", peer_ip="10.100.0.1", as_number=65000)
    by_sel = PeerSpec("rack-b", node_selector="rack == 'b'", peer_ip="10.100.0.2", as_number=65000)
    state = ClusterState("n3", nodes(N1, N3), peers=(by_name, by_sel),
                         configs={"default": BGPConfigSpec("default", node_to_node_mesh=False)})
    assert names(state) == ["Node_10_100_0_2"]
    state1 = ClusterState("n1", nodes(N1, N3), peers=(by_name, by_sel),
                          configs={"default": BGPConfigSpec("default", node_to_node_mesh=False)})
    cfg = compute(state1)
    peer = cfg.v4.peers[0]
    assert peer.name == "Node_10_100_0_1" and peer.asn == 65000 and not peer.internal and not peer.passive


def test_peer_ip_of_a_calico_node_gets_a_reverse_peering() -> None:
    p = PeerSpec("n1-to-n2", node="n1", peer_ip="10.0.0.2", as_number=64512)
    mesh_off = {"default": BGPConfigSpec("default", node_to_node_mesh=False)}
    assert names(ClusterState("n1", nodes(N1, N2), peers=(p,), configs=mesh_off)) == ["Node_10_0_0_2"]
    assert names(ClusterState("n2", nodes(N1, N2), peers=(p,), configs=mesh_off)) == ["Node_10_0_0_1"]
    manual = PeerSpec("m", node="n1", peer_ip="10.0.0.2", as_number=64512, reverse_peering="Manual")
    assert names(ClusterState("n2", nodes(N1, N2), peers=(manual,), configs=mesh_off)) == []


def test_peer_options_password_next_hop_restart_allow_local_as() -> None:
    p = PeerSpec("leaf", peer_ip="10.100.0.1", as_number=65000, password=SecretRef("bgp", "pw"),
                 keep_original_next_hop=True, max_restart_time=30, num_allowed_local_as=1, ttl_security=2,
                 keepalive_time=10)
    ibgp = PeerSpec("ib", peer_ip="10.100.0.2", as_number=64512, keep_original_next_hop=True)
    state = ClusterState("n1", nodes(N1), peers=(p, ibgp), secrets={("bgp", "pw"): "s3cret"})
    by_name = {x.name: x for x in compute(state).v4.peers}
    leaf = by_name["Global_10_100_0_1"]
    assert (leaf.password, leaf.next_hop, leaf.restart_time, leaf.allow_local_as, leaf.ttl_security,
            leaf.keepalive_time) == ("s3cret", "keep", 30, 1, 2, 10)
    assert by_name["Global_10_100_0_2"].next_hop is None  # keepOriginalNextHop is eBGP-only


def test_missing_secret_means_no_password() -> None:
    p = PeerSpec("leaf", peer_ip="10.100.0.1", as_number=65000, password=SecretRef("bgp", "pw"))
    assert compute(ClusterState("n1", nodes(N1), peers=(p,))).v4.peers[0].password is None


def test_mesh_password_and_restart_time() -> None:
    cfg = BGPConfigSpec("default", node_mesh_password=SecretRef("mesh", "pw"), node_mesh_max_restart_time=60)
    state = ClusterState("n1", nodes(N1, N2), configs={"default": cfg}, secrets={("mesh", "pw"): "m"})
    peer = compute(state).v4.peers[0]
    assert (peer.password, peer.restart_time) == ("m", 60)


def test_blocks_pools_and_services() -> None:
    state = ClusterState(
        "n1", nodes(N1),
        blocks=(BlockInfo("192.168.0.64/26"), BlockInfo("192.168.0.0/26", "pending"), BlockInfo("192.168.9.9/32"),
                BlockInfo("fd00:1::/122")),
        pools=(PoolInfo("192.168.0.0/16"), PoolInfo("10.50.0.0/16", disable_bgp_export=True),
               PoolInfo("10.60.0.0/16", vxlan_mode="Always"), PoolInfo("10.70.0.0/16", disabled=True),
               PoolInfo("fd00:1::/48")),
        configs={"default": BGPConfigSpec("default", service_cluster_ips=("10.96.0.0/12",),
                                          service_external_ips=("1.2.3.4/32", "fd99::/64"))},
    )
    cfg = compute(state)
    assert cfg.v4.blackholes == ("192.168.0.0/26", "192.168.0.64/26")
    assert cfg.v4.aggregate_blocks == ("192.168.0.64/26",)
    assert cfg.v4.export_pools == ("192.168.0.0/16", "10.60.0.0/16")
    assert cfg.v4.no_export_pools == ("10.50.0.0/16",)
    assert cfg.v4.kernel_reject_pools == ("10.60.0.0/16",)
    assert cfg.v4.static_cidrs == ("10.96.0.0/12",)  # single IPs are per-service, not static
    assert cfg.v6.blackholes == ("fd00:1::/122",) and cfg.v6.static_cidrs == ("fd99::/64",)


def test_advertise_cluster_ips_env_overrides() -> None:
    state = ClusterState("n1", nodes(N1), advertise_cluster_ips_env="10.100.0.0/16",
                         configs={"default": BGPConfigSpec("default", service_cluster_ips=("10.96.0.0/12",))})
    assert compute(state).v4.static_cidrs == ("10.100.0.0/16",)


def test_communities_named_and_literal_node_overrides_global() -> None:
    glob = BGPConfigSpec("default", communities=(Community("c1", "65001:100"),),
                         prefix_advertisements=(PrefixAdvertisement("192.168.0.0/16", ("c1", "1:2:3")),))
    state = ClusterState("n1", nodes(N1), configs={"default": glob})
    rule = compute(state).v4.communities[0]
    assert rule.standard == ((65001, 100),) and rule.large == ((1, 2, 3),)
    node = BGPConfigSpec("node.n1", prefix_advertisements=(PrefixAdvertisement("10.0.0.0/8", ("9:9",)),))
    state = ClusterState("n1", nodes(N1), configs={"default": glob, "node.n1": node})
    assert [r.cidr for r in compute(state).v4.communities] == ["10.0.0.0/8"]


def test_listen_port_node_specific_wins_and_names_carry_port() -> None:
    configs = {"default": BGPConfigSpec("default", listen_port=1790),
               "node.n2": BGPConfigSpec("node.n2", listen_port=1791)}
    state = ClusterState("n1", nodes(N1, N2, N3), configs=configs)
    cfg = compute(state)
    assert cfg.listen_port == 1790
    assert [p.name for p in cfg.v4.peers] == ["Mesh_10_0_0_2_port_1791", "Mesh_10_0_0_3_port_1790"]


def test_router_id_options() -> None:
    v6only = NodeInfo("v6", None, "fd00::1/64")
    with pytest.raises(ComputeError, match="CALICO_ROUTER_ID"):
        compute(ClusterState("v6", nodes(v6only)))
    rid = compute(ClusterState("v6", nodes(v6only), router_id_env="hash")).router_id
    assert rid == compute(ClusterState("v6", nodes(v6only), router_id_env="hash")).router_id
    assert compute(ClusterState("n1", nodes(N1), router_id_env="1.1.1.1")).router_id == "1.1.1.1"


def test_unknown_node_is_an_error() -> None:
    with pytest.raises(ComputeError, match="no Node resource"):
        compute(ClusterState("nope", nodes(N1)))


def test_ipv6_mesh() -> None:
    a = NodeInfo("a", "10.0.0.1/24", "fd00::1/64")
    b = NodeInfo("b", "10.0.0.2/24", "fd00::2/64")
    cfg = compute(ClusterState("a", nodes(a, b)))
    assert [p.name for p in cfg.v6.peers] == ["Mesh_fd00__2"]
    assert cfg.v6.peers[0].source_address == "fd00::1"


def test_filters_attached_only_when_defined() -> None:
    p = PeerSpec("leaf", peer_ip="10.100.0.1", as_number=65000, filters=("f1", "missing"))
    state = ClusterState("n1", nodes(N1), peers=(p,), filters={"f1": FilterSpec("f1")})
    cfg = compute(state)
    assert cfg.v4.peers[0].filters == ("f1",)
    assert [f.name for f in cfg.v4.filters] == ["f1"]


def test_bad_selector_matches_nothing() -> None:
    p = PeerSpec("bad", node_selector="this is not (", peer_ip="10.100.0.1", as_number=65000)
    assert names(ClusterState("n1", nodes(N1), peers=(p,))) == []

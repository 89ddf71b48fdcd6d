"""Rendered BIRD 2 text: what it says, and that BIRD itself parses it (``bird -p -c``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

from calico.bgp.compute import compute
from calico.bgp.model import (
    BGPConfigSpec,
    BlockInfo,
    ClusterState,
    Community,
    FilterRule,
    FilterSpec,
    NodeInfo,
    PeerSpec,
    PoolInfo,
    PrefixAdvertisement,
    SecretRef,
    Tuning,
)
from calico.bgp.render import _env, filter_function_name, filter_rule_statement, render

needs_bird = pytest.mark.skipif(shutil.which("bird") is None, reason="BIRD 2 (bird2) not installed")


def bird_parses(text: str, tmp_path: Path) -> None:
    cfg = tmp_path / "bird.cfg"
    cfg.write_text(text)
    res = subprocess.run(["bird", "-p", "-c", str(cfg)], capture_output=True, text=True, timeout=20)
    assert res.returncode == 0, f"bird rejected the config: {res.stderr}\n{text}"


N1 = NodeInfo("n1", "10.0.0.1/24", "fd00::1/64", labels={"rr": "yes"})
N2 = NodeInfo("n2", "10.0.0.2/24", "fd00::2/64", asn=65002)
N3 = NodeInfo("n3", "10.0.0.3/24")

FULL = ClusterState(
    "n1", {"n1": N1, "n2": N2, "n3": N3},
    peers=(
        PeerSpec("leaf", peer_ip="10.100.0.1", as_number=65000, password=SecretRef("s", "k"),
                 keep_original_next_hop=True, num_allowed_local_as=1, max_restart_time=30, filters=("f1",)),
        PeerSpec("ttl", node="n1", peer_ip="10.100.0.2", peer_port=1790, as_number=65000, ttl_security=1,
                 reachable_by="10.0.0.254", next_hop_mode="Self", keepalive_time=5),
        PeerSpec("v6leaf", node="n1", peer_ip="fd00::ff", as_number=65000, filters=("f1",)),
    ),
    configs={"default": BGPConfigSpec(
        "default", listen_port=179, bind_mode="NodeIP", ignored_interfaces=("eth9*",),
        communities=(Community("c1", "65001:100"),),
        prefix_advertisements=(PrefixAdvertisement("192.168.0.0/16", ("c1", "1:2:3")),),
        service_cluster_ips=("10.96.0.0/12",), service_external_ips=("fd99::/64",))},
    pools=(PoolInfo("192.168.0.0/16"), PoolInfo("10.50.0.0/16", disable_bgp_export=True),
           PoolInfo("10.60.0.0/16", vxlan_mode="Always"), PoolInfo("fd10::/48")),
    blocks=(BlockInfo("192.168.1.0/26"), BlockInfo("192.168.1.64/26", "pending"), BlockInfo("fd10::/122")),
    filters={"f1": FilterSpec(
        "f1",
        export_v4=(FilterRule("Reject", "192.168.0.0/16", "In", 30, 32), FilterRule("Accept", "10.0.0.0/8", "Equal")),
        import_v4=(FilterRule("Accept", source="RemotePeers", interface="eth*"),
                   FilterRule("Reject", "172.16.0.0/12", "NotIn")),
        import_v6=(FilterRule("Reject", "fd00::/8", "NotEqual"),),
    )},
    secrets={("s", "k"): "pa ss"},
    tuning=Tuning(hold_time=3, keepalive_time=1, connect_retry_time=1, graceful_restart_wait=30),
)


@needs_bird
def test_full_feature_config_parses(tmp_path: Path) -> None:
    text = render(compute(FULL))
    bird_parses(text, tmp_path)
    assert "protocol bgp Global_10_100_0_1 from bgp_template" in text
    assert "protocol bgp Node_10_100_0_2_port_1790 from bgp_template" in text
    assert "protocol bgp Node_fd00__ff from bgp_template" in text
    assert "protocol bgp Mesh_10_0_0_2 from bgp_template" in text
    assert 'password "pa ss";' in text
    assert "allow local as 1;" in text and "graceful restart time 30;" in text
    assert "next hop keep;" in text and "next hop self;" in text
    assert "ttl security on;" in text and "multihop 1;" in text
    assert "route 10.100.0.2/32 via 10.0.0.254;" in text
    assert "strict bind yes;" in text
    assert "\ngraceful restart wait 30;\n" in text
    assert 'interface -"eth9*", -"cali*", -"kube-ipvs*", "*";' in text
    assert "bgp_community.add((65001,100));" in text and "bgp_large_community.add((1,2,3));" in text
    assert "route 192.168.1.0/26 blackhole;" in text and "route 192.168.1.64/26 blackhole;" in text
    assert "if (net = 192.168.1.0/26) then accept;" in text
    assert "192.168.1.64/26) then accept" not in text  # pending block: no aggregation rule


@needs_bird
@pytest.mark.parametrize("state", [
    ClusterState("n3", {"n3": N3}),
    ClusterState("n1", {"n1": N1, "n2": N2, "n3": N3}),
    ClusterState("v6", {"v6": NodeInfo("v6", None, "fd00::9/64")}, router_id_env="hash",
                 blocks=(BlockInfo("fd10::40/122"),), pools=(PoolInfo("fd10::/48"),)),
    ClusterState("rr", {"rr": NodeInfo("rr", "10.0.0.9/24", rr_cluster_id="244.0.0.1", labels={"rr": ""}),
                        "n3": N3},
                 peers=(PeerSpec("p", node_selector="all()", peer_selector="has(rr)"),),
                 configs={"default": BGPConfigSpec("default", node_to_node_mesh=False, log_severity="Debug")}),
], ids=["lonely", "mesh", "ipv6-only", "route-reflector"])
def test_variants_parse(state: ClusterState, tmp_path: Path) -> None:
    text = render(compute(state))
    bird_parses(text, tmp_path)


def test_rr_client_statements() -> None:
    state = ClusterState("rr", {"rr": NodeInfo("rr", "10.0.0.9/24", rr_cluster_id="244.0.0.1", labels={"rr": ""}),
                                "n3": N3},
                         peers=(PeerSpec("p", node_selector="all()", peer_selector="has(rr)"),),
                         configs={"default": BGPConfigSpec("default", node_to_node_mesh=False)})
    text = render(compute(state))
    assert "rr client;" in text and "rr cluster id 244.0.0.1;" in text


def test_export_keeps_own_block_but_not_its_slash32s() -> None:
    text = render(compute(ClusterState("n1", {"n1": N1}, blocks=(BlockInfo("192.168.1.0/26"),),
                                       pools=(PoolInfo("192.168.0.0/16"),))))
    aggr = text.index("if (net = 192.168.1.0/26) then accept;")
    suppress = text.index("if (net ~ 192.168.1.0/26) then reject;")
    pool = text.index("if (net ~ 192.168.0.0/16) then accept;")
    assert aggr < suppress < pool  # borrowed /32s outside own blocks still leave via the pool rule


def test_filter_rule_statements() -> None:
    assert filter_rule_statement(FilterRule("Accept", "10.0.0.0/8", "In", 16, 24)) == \
        "if ((net ~ [ 10.0.0.0/8{16,24} ])) then { accept; }"
    assert filter_rule_statement(FilterRule("Reject", "10.0.0.0/8", "NotEqual")) == \
        "if ((net != 10.0.0.0/8)) then { reject; }"
    assert filter_rule_statement(FilterRule("Reject")) == "reject;"


def test_filter_function_names_fit_bird_symbol_limit() -> None:
    assert filter_function_name("f1", "import", 4) == "bgp_f1_importFilterV4"
    long = filter_function_name("x" * 200, "export", 6)
    assert len(long) <= 64 and long.endswith("_exportFilterV6")
    assert long != filter_function_name("x" * 199, "export", 6)


def test_template_is_strict() -> None:
    with pytest.raises(jinja2.UndefinedError):
        _env().get_template("bird.cfg.j2").render()

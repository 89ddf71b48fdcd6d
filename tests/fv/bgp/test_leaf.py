"""Seed 002 (scenario c) and failures (d: a peer goes away and comes back; e: BIRD restarts).

A leaf router namespace runs real FRR (zebra + bgpd, AS 65000, router address 10.100.0.1 on
its loopback); two host namespaces run calico-node started with ``calicoctl node run`` in their
own AS (65100, 65101), peering eBGP with the leaf through node-specific BGPPeers applied from
the seed's v1 YAML with ``calicoctl apply``. Workloads are networked by the real ``calico`` CNI
plugin and policed by Felix (the seed's ``calico-net`` profile allows all); nothing is faked.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fv.bgp.support import (
    CalicoHost,
    FrrRouter,
    cni_add,
    felix_in_sync,
    host_sysctls,
    ping,
    stop_detached,
    workdir,
)
from tests.support.etcd import EtcdServer
from tests.support.netns import Netns, veth
from tests.support.procs import wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root, pytest.mark.needs_bird, pytest.mark.needs_frr,
              pytest.mark.slow]

SEED_YAML = """\
- apiVersion: v1
  kind: ipPool
  metadata:
    cidr: 172.16.100.0/24
  spec:
    ipip:
      enabled: false
    nat-outgoing: false
- apiVersion: v1
  kind: profile
  metadata:
    name: calico-net
    tags:
    - calico-net
  spec:
    ingress:
    - action: allow
    egress:
    - action: allow
- apiVersion: v1
  kind: bgpPeer
  metadata:
    peerIP: 10.100.0.1
    scope: node
    node: host1
  spec:
    asNumber: 65000
- apiVersion: v1
  kind: bgpPeer
  metadata:
    peerIP: 10.100.0.1
    scope: node
    node: host2
  spec:
    asNumber: 65000
"""

FRR_CONF = """\
frr defaults traditional
hostname leaf
log file {dir}/frr.log
!
router bgp 65000
 bgp router-id 10.100.0.1
 no bgp ebgp-requires-policy
 timers bgp 1 3
{neighbors}
 address-family ipv4 unicast
{activate}
 exit-address-family
!
"""

HOSTS = (("host1", "10.100.1.2", "10.100.1.1", "65100"), ("host2", "10.100.2.2", "10.100.2.1", "65101"))


@dataclass
class Leaf:
    etcd: EtcdServer
    frr: FrrRouter
    leaf: Netns
    hosts: dict[str, CalicoHost]
    w1: Netns
    w2: Netns
    w2_ip: str
    h2_block: str


def _frr_config(d: Path) -> str:
    neighbors, activate = [], []
    for _, ip, _, asn in HOSTS:
        neighbors += [f" neighbor {ip} remote-as {asn}", f" neighbor {ip} update-source 10.100.0.1",
                      f" neighbor {ip} ebgp-multihop 5", f" neighbor {ip} timers connect 1"]
        activate.append(f"  neighbor {ip} activate")
    return FRR_CONF.format(dir=d / "frr", neighbors="\n".join(neighbors), activate="\n".join(activate))


@pytest.fixture(scope="module")
def leaf(etcd_server: EtcdServer) -> Iterator[Leaf]:
    etcd_server.wipe()
    namespaces: list[Netns] = []
    hosts: dict[str, CalicoHost] = {}
    frr: FrrRouter | None = None

    def ns(name: str) -> Netns:
        n = Netns(name)
        namespaces.append(n)
        return n

    with workdir() as wd:
        try:
            leaf_ns = ns("leaf")
            leaf_ns.run("ip", "addr", "add", "10.100.0.1/32", "dev", "lo")
            host_sysctls(leaf_ns)
            for i, (name, ip, gw, _asn) in enumerate(HOSTS, start=1):
                h_ns = ns(f"l{name}")
                veth(leaf_ns, f"eth{i}", h_ns, "eth0")
                leaf_ns.run("ip", "addr", "add", f"{gw}/24", "dev", f"eth{i}")
                h_ns.run("ip", "addr", "add", f"{ip}/24", "dev", "eth0")
                h_ns.run("ip", "route", "add", "default", "via", gw)
                host_sysctls(h_ns)
                hosts[name] = CalicoHost(h_ns, name, f"{ip}/24", etcd_server.unix_url, wd,
                                         env={"CALICO_DISABLE_FELIX": "false"})
            frr = FrrRouter(leaf_ns, wd, _frr_config(wd))
            frr.start()
            # The seed's v1 YAML, through calicoctl.
            seed = wd / "seed.yaml"
            seed.write_text(SEED_YAML)
            res = hosts["host1"].calicoctl("apply", "-f", str(seed))
            assert res.returncode == 0, res.stderr
            # AS per compute server: no node-to-node mesh (calicoctl 1.x: config set nodeToNodeMesh off).
            mesh_off = wd / "mesh-off.yaml"
            mesh_off.write_text("apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\n"
                                "metadata: {name: default}\nspec: {nodeToNodeMeshEnabled: false}\n")
            res = hosts["host1"].calicoctl("apply", "-f", str(mesh_off))
            assert res.returncode == 0, res.stderr
            for name, ip, _, asn in HOSTS:
                h = hosts[name]
                res = h.calicoctl("node", "run", "--name", name, "--ip", f"{ip}/24", "--as", asn,
                                  "--log-dir", str(h.dir / "log"), "--backend", "bird")
                assert res.returncode == 0, res.stdout + res.stderr
                assert f"log at {h.dir / 'log' / 'calico-node.log'}" in res.stdout
                h.log_path = h.dir / "log" / "calico-node.log"
            for h in hosts.values():
                h.wait_started()
                wait_until(lambda h=h: felix_in_sync(h), timeout=60, what=f"Felix on {h.name} in sync")
            w1, w2 = ns("lw1"), ns("lw2")
            assert cni_add(hosts["host1"], w1, "seed-w1", ip="172.16.100.1")[0] == "172.16.100.1"
            w2_ip, _ = cni_add(hosts["host2"], w2, "seed-w2")
            last = int(w2_ip.rsplit(".", 1)[1])
            yield Leaf(etcd_server, frr, leaf_ns, hosts, w1, w2, w2_ip, f"172.16.100.{last - last % 64}/26")
        finally:
            for h in hosts.values():
                stop_detached(h.dir / "run" / "calico-node.pid")
            if frr is not None:
                frr.stop()
            for n in reversed(namespaces):
                n.delete()


def _leaf_route(leaf: Leaf, prefix: str) -> list[dict]:
    return list(leaf.frr.bgp_json().get("routes", {}).get(prefix, []))


def _leaf_has(leaf: Leaf, prefix: str, path: str, nexthop: str) -> bool:
    for r in _leaf_route(leaf, prefix):
        hops = [h.get("ip") for h in r.get("nexthops", [])]
        if r.get("valid") and r.get("path") == path and nexthop in hops:
            return True
    return False


def test_c_leaf_learns_block_with_host_as_path_and_no_slash32s(leaf: Leaf) -> None:
    wait_until(lambda: _leaf_has(leaf, "172.16.100.0/26", "65100", "10.100.1.2"), timeout=30,
               what="leaf to learn 172.16.100.0/26 from host1 (AS 65100)")
    wait_until(lambda: _leaf_has(leaf, leaf.h2_block, "65101", "10.100.2.2"), timeout=30,
               what=f"leaf to learn {leaf.h2_block} from host2 (AS 65101)")
    text = leaf.frr.vtysh("show ip bgp")
    assert "172.16.100.0/26" in text and "65100 i" in text
    routes = leaf.frr.bgp_json().get("routes", {})
    assert not [p for p in routes if p.endswith("/32")], routes.keys()


def test_c_workload_reachable_from_leaf_and_other_host(leaf: Leaf) -> None:
    wait_until(lambda: ping(leaf.leaf, "172.16.100.1"), timeout=20, what="leaf to ping 172.16.100.1")
    wait_until(lambda: ping(leaf.w2, "172.16.100.1"), timeout=20, what="host2's workload to ping 172.16.100.1")
    # host2 reaches it through the leaf on the BGP route (AS path 65000 65100), not only its default.
    route = wait_until(lambda: leaf.hosts["host2"].route_to("172.16.100.0/26"), timeout=20,
                       what="host2 to install 172.16.100.0/26 learned from the leaf")
    assert route["protocol"] == "bird" and route["gateway"] == "10.100.2.1"
    assert "65000 65100" in leaf.hosts["host2"].birdc("show route 172.16.100.0/26 all")


def test_c_node_status_shows_node_specific_peer(leaf: Leaf) -> None:
    h1 = leaf.hosts["host1"]
    res = h1.calicoctl("node", "status")
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("Calico process is running.\n\nIPv4 BGP status\n")
    assert re.search(r"\| 10\.100\.0\.1 +\| node specific +\| up +\| \d\d:\d\d:\d\d +\| Established +\|", res.stdout), \
        res.stdout
    assert "No IPv6 peers found." in res.stdout
    again = h1.calicoctl("node", "run", "--name", "host1", "--log-dir", str(h1.dir / "log"))
    assert again.returncode != 0 and "calico-node is already running on this host" in again.stderr


def test_d_peer_goes_away_and_comes_back(leaf: Leaf) -> None:
    h1 = leaf.hosts["host1"]
    wait_until(lambda: h1.route_to(leaf.h2_block), timeout=20, what="host1 to have host2's block")
    rules = [["-s", "10.100.2.2", "-p", "tcp", "--dport", "179"], ["-s", "10.100.2.2", "-p", "tcp", "--sport", "179"]]
    for r in rules:
        leaf.leaf.run("iptables", "-I", "INPUT", *r, "-j", "DROP")
    try:
        # Hold timer (3 s) expires: the leaf drops host2's block and withdraws it from host1.
        wait_until(lambda: h1.route_to(leaf.h2_block) is None, timeout=20,
                   what="host1 to lose host2's block after host2 went away")
        assert not _leaf_route(leaf, leaf.h2_block)
    finally:
        for r in rules:
            leaf.leaf.run("iptables", "-D", "INPUT", *r, "-j", "DROP", check=False)
    wait_until(lambda: h1.route_to(leaf.h2_block), timeout=30, what="host1 to get host2's block back")
    wait_until(lambda: ping(leaf.w1, leaf.w2_ip), timeout=20, what="workload ping after the peer came back")


def test_d_bgppeer_deleted_and_reapplied(leaf: Leaf) -> None:
    h1, h2 = leaf.hosts["host1"], leaf.hosts["host2"]
    wait_until(lambda: h1.route_to(leaf.h2_block), timeout=20, what="host1 to have host2's block")
    res = h2.calicoctl("delete", "bgppeer", "host2.10-100-0-1")
    assert res.returncode == 0, res.stderr
    wait_until(lambda: "Node_10_100_0_1" not in h2.bird_config.read_text(), timeout=10,
               what="host2's agent to drop the peer")
    wait_until(lambda: h1.route_to(leaf.h2_block) is None, timeout=20, what="withdrawal reaching host1")
    seed = h2.dir / "peer.yaml"
    seed.write_text("apiVersion: v1\nkind: bgpPeer\nmetadata:\n  peerIP: 10.100.0.1\n  scope: node\n"
                    "  node: host2\nspec:\n  asNumber: 65000\n")
    res = h2.calicoctl("apply", "-f", str(seed))
    assert res.returncode == 0, res.stderr
    wait_until(lambda: h1.route_to(leaf.h2_block), timeout=30, what="host1 to relearn host2's block")


def test_communities_service_ips_and_bgpfilter(leaf: Leaf) -> None:
    h1 = leaf.hosts["host1"]
    cfg = h1.dir / "bgpconfig.yaml"
    cfg.write_text(
        "apiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: default}\nspec:\n"
        "  nodeToNodeMeshEnabled: false\n"
        "  serviceClusterIPs: [{cidr: 10.96.0.0/16}]\n"
        "  communities: [{name: rack-a, value: '65100:42'}]\n"
        "  prefixAdvertisements: [{cidr: 172.16.100.0/24, communities: [rack-a, '65100:7:7']}]\n")
    res = h1.calicoctl("apply", "-f", str(cfg))
    assert res.returncode == 0, res.stderr

    def tagged() -> bool:
        text = leaf.frr.vtysh("show ip bgp 172.16.100.0/26")
        return "65100:42" in text and "65100:7:7" in text

    wait_until(tagged, timeout=20, what="leaf to see host1's block with its communities")
    wait_until(lambda: len(_leaf_route(leaf, "10.96.0.0/16")) == 2, timeout=20,
               what="leaf to learn the service range from both hosts")
    # Advertised, but kept out of the kernel (kube-proxy's job), both the own range and the peers'.
    assert h1.route_to("10.96.0.0/16") is None
    # A BGPFilter on host2's peering stops the export of its block.
    flt = h1.dir / "filter.yaml"
    flt.write_text(
        "apiVersion: projectcalico.org/v3\nkind: BGPFilter\nmetadata: {name: no-blocks}\nspec:\n"
        "  exportV4: [{action: Reject, cidr: 172.16.100.0/24, matchOperator: In}]\n"
        "---\napiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {name: host2.10-100-0-1}\nspec:\n"
        "  node: host2\n  peerIP: 10.100.0.1\n  asNumber: 65000\n  filters: [no-blocks]\n")
    res = h1.calicoctl("apply", "-f", str(flt))
    assert res.returncode == 0, res.stderr
    wait_until(lambda: not _leaf_route(leaf, leaf.h2_block), timeout=20,
               what="leaf to lose host2's block once the filter rejects it")
    assert _leaf_route(leaf, "172.16.100.0/26")  # host1 unaffected
    res = h1.calicoctl("delete", "bgpfilter", "no-blocks")
    assert res.returncode == 0, res.stderr
    wait_until(lambda: _leaf_route(leaf, leaf.h2_block), timeout=20, what="host2's block back at the leaf")


def test_e_bird_restart_keeps_forwarding(leaf: Leaf) -> None:
    h1 = leaf.hosts["host1"]
    wait_until(lambda: ping(leaf.w2, "172.16.100.1"), timeout=20, what="baseline ping")
    old_pid = h1.bird_pid()
    pinger = subprocess.Popen(leaf.w2.popen_argv(["ping", "-c", "60", "-i", "0.1", "-W", "1", "172.16.100.1"]),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(0.3)  # let a few pings through before the crash (not a wait for state)
        subprocess.run(["kill", "-9", str(old_pid)], check=True)
        lost_at_leaf = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if not _leaf_route(leaf, "172.16.100.0/26"):
                lost_at_leaf = True
            if h1.route_to(leaf.h2_block) is None:
                pytest.fail("host1's kernel dropped host2's block while BIRD restarted")
            try:
                new_pid = h1.bird_pid()
            except (OSError, ValueError):
                new_pid = old_pid
            if new_pid != old_pid and re.search(r"Node_10_100_0_1\s+BGP\s+\S+\s+up", h1.birdc("show protocols")):
                break
            time.sleep(0.1)
        else:
            pytest.fail("BIRD was not restarted and re-established within 30s:\n" + h1.log()[-3000:])
        assert not lost_at_leaf, "the leaf dropped host1's block during the graceful restart"
        out, _ = pinger.communicate(timeout=30)
    finally:
        if pinger.poll() is None:
            pinger.kill()
            pinger.wait()
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out
    assert int(m.group(2)) >= int(m.group(1)) - 1, f"forwarding stopped during BIRD's restart:\n{out}"
    assert "Restarting bird" in h1.log()

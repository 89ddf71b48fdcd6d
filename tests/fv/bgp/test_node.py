"""calico-node start-up against real etcd in a host namespace, and the calicoctl node verbs."""

from __future__ import annotations

import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fv.bgp.support import CALICO_NODE, CalicoHost, workdir
from tests.support.etcd import EtcdServer
from tests.support.netns import Netns, veth
from tests.support.procs import wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]


@pytest.fixture
def host(etcd_server: EtcdServer) -> Iterator[CalicoHost]:
    etcd_server.wipe()
    ns = Netns("nodeh")
    try:
        peer = Netns("nodep")
        try:
            veth(ns, "eth0", peer, "eth0")
            ns.run("ip", "addr", "add", "10.20.0.5/24", "dev", "eth0")
            peer.run("ip", "addr", "add", "10.20.0.1/24", "dev", "eth0")
            ns.run("ip", "route", "add", "default", "via", "10.20.0.1")
            with workdir() as wd:
                h = CalicoHost(ns, "node-a", "", etcd_server.unix_url, wd)
                h.env.pop("IP")
                h.env.pop("NO_DEFAULT_POOLS")
                yield h
        finally:
            peer.delete()
    finally:
        ns.delete()


def _startup(h: CalicoHost, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**h.env, **env}
    return h.ns.run("env", *[f"{k}={v}" for k, v in full.items()], CALICO_NODE, "-startup",
                    check=False, timeout=60)


def _get(etcd: EtcdServer, key: str) -> dict:
    out = etcd.etcdctl("get", key, "--print-value-only").stdout.strip()
    return json.loads(out) if out else {}


def test_startup_writes_node_pools_and_cluster_defaults(host: CalicoHost, etcd_server: EtcdServer) -> None:
    res = _startup(host, IP_AUTODETECTION_METHOD="can-reach=10.20.0.1", AS="65123",
                   CALICO_IPV4POOL_CIDR="10.244.0.0/16", CALICO_IPV6POOL_CIDR="none")
    assert res.returncode == 0, res.stdout + res.stderr
    node = _get(etcd_server, "/calico/resources/v3/projectcalico.org/nodes/node-a")
    assert node["spec"]["bgp"] == {"ipv4Address": "10.20.0.5/24", "asNumber": 65123}
    pool = _get(etcd_server, "/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool")
    assert pool["spec"]["cidr"] == "10.244.0.0/16" and pool["spec"]["blockSize"] == 26
    assert not _get(etcd_server, "/calico/resources/v3/projectcalico.org/ippools/default-ipv6-ippool")
    info = _get(etcd_server, "/calico/resources/v3/projectcalico.org/clusterinformations/default")
    assert info["spec"]["datastoreReady"] is True and len(info["spec"]["clusterGUID"]) == 32
    assert info["spec"]["calicoVersion"].startswith("v")
    felix = _get(etcd_server, "/calico/resources/v3/projectcalico.org/felixconfigurations/node.node-a")
    assert felix["spec"] == {"defaultEndpointToHostAction": "Return"}
    assert (host.dir / "lib" / "nodename").read_text() == "node-a"
    # A restart keeps the stored address when IP is unset and does not duplicate anything.
    res = _startup(host, CALICO_IPV6POOL_CIDR="none")
    assert res.returncode == 0, res.stdout + res.stderr
    assert _get(etcd_server, "/calico/resources/v3/projectcalico.org/nodes/node-a")["spec"]["bgp"]["asNumber"] == 65123


@pytest.mark.parametrize(("env", "message"), [
    ({"AS": "99999999999"}, "AS number 99999999999 is out of range"),
    ({"IP": "10.20.0"}, "Invalid IPv4 address specified: 10.20.0"),
    ({"IP_AUTODETECTION_METHOD": "interface=nope"}, "Failed to autodetect an IPv4 address"),
    ({"NO_DEFAULT_POOLS": "true", "CALICO_IPV4POOL_CIDR": "10.9.0.0/16"}, "NO_DEFAULT_POOLS"),
])
def test_startup_bad_input_fails_clearly_and_writes_nothing(host: CalicoHost, etcd_server: EtcdServer,
                                                            env: dict[str, str], message: str) -> None:
    res = _startup(host, **env)
    assert res.returncode != 0
    assert message in res.stdout + res.stderr
    if "NO_DEFAULT_POOLS" not in env:
        assert not _get(etcd_server, "/calico/resources/v3/projectcalico.org/nodes/node-a")


def test_startup_rejects_an_address_another_node_uses(host: CalicoHost, etcd_server: EtcdServer) -> None:
    assert _startup(host, IP="10.20.0.5/24").returncode == 0
    res = _startup(host, NODENAME="node-b", IP="10.20.0.5/24")
    assert res.returncode != 0
    assert "Calico node 'node-a' is already using the IPv4 address 10.20.0.5." in res.stdout + res.stderr


def test_calicoctl_node_run_bad_flags_and_dryrun(host: CalicoHost) -> None:
    res = host.calicoctl("node", "run", "--as", "4294967296")
    assert res.returncode != 0 and "out of range" in res.stderr
    res = host.calicoctl("node", "run", "--ip", "300.1.1.1")
    assert res.returncode != 0 and "--ip" in res.stderr and "not a valid IPv4 address" in res.stderr
    res = host.calicoctl("node", "run", "--backend", "gobgp")
    assert res.returncode != 0 and "gobgp" in res.stderr
    res = host.calicoctl("node", "run", "--name", "x1", "--ip", "10.20.0.5", "--dryrun")
    assert res.returncode == 0 and "NODENAME=x1" in res.stdout and "calico-node" in res.stdout
    assert not (host.dir / "run" / "calico-node.pid").exists()


def test_node_status_without_calico_node(host: CalicoHost) -> None:
    res = host.calicoctl("node", "status")
    assert res.returncode == 1
    assert "Calico process is not running." in res.stderr


def test_checksystem_and_diags(host: CalicoHost, tmp_path: Path) -> None:
    res = host.calicoctl("node", "checksystem")
    assert "Checking kernel version" in res.stdout
    assert "System meets minimum system requirements to run Calico!" in res.stdout, res.stdout + res.stderr
    (host.dir / "log").mkdir(parents=True, exist_ok=True)
    (host.dir / "log" / "calico-node.log").write_text("hello\n")
    res = host.calicoctl("node", "diags", "--log-dir", str(host.dir / "log"), "--output-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    (tarball,) = tmp_path.glob("diags-*.tar.gz")
    assert f"Diags saved to {tarball}" in res.stdout
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "diagnostics/ip_route" in names and "diagnostics/iptables-save" in names
    assert "diagnostics/logs/calico-node.log" in names


def test_backend_vxlan_runs_no_bgp_and_sigterm_stops_cleanly(host: CalicoHost) -> None:
    host.env.update({"CALICO_NETWORKING_BACKEND": "vxlan", "IP": "10.20.0.5/24", "CALICO_IPV6POOL_CIDR": "none"})
    host.start()
    try:
        wait_until(lambda: "Calico node started successfully" in host.log(), timeout=30, what="calico-node start")
        assert "bgp-agent" not in host.log() and not (host.dir / "run" / "bird.ctl").exists()
        assert (host.dir / "run" / "calico-node.pid").exists()
        assert host.proc is not None
        host.proc.terminate()
        assert host.proc.wait(timeout=15) == 0
        assert not (host.dir / "run" / "calico-node.pid").exists()
    finally:
        host.stop()


@pytest.mark.parametrize(("spec", "field"), [
    ("{peerIP: 10.0.0.1, asNumber: 99999999999}", "ASNumber"),
    ("{peerIP: 10.0.0, asNumber: 65000}", "PeerIP"),
    ("{peerIP: 10.0.0.1, asNumber: 65000, nodeSelector: 'a ==='}", "NodeSelector"),
])
def test_bad_bgppeer_rejected_by_calicoctl(host: CalicoHost, etcd_server: EtcdServer, spec: str, field: str) -> None:
    doc = host.dir / "peer.yaml"
    doc.write_text(f"apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata: {{name: p1}}\nspec: {spec}\n")
    res = host.calicoctl("apply", "-f", str(doc))
    assert res.returncode == 1 and field in res.stderr, res.stderr
    assert not etcd_server.etcdctl("get", "--prefix", "/calico/resources/v3/projectcalico.org/bgppeers",
                                   "--keys-only").stdout.strip()

"""podman (CNI backend, private config and storage) running busybox on a network whose plugin is `calico`.

Two hosts are namespaces joined by a veth 'fabric', each running a real Felix. Routing between them
is what BGP would normally provide: here a static route for the pool on each host (set by hand).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fv.cni.felix_support import running_felix
from tests.fv.cni.podman_support import (
    IMAGE,
    Podman,
    busybox_tarball,
    existing_system_paths,
    missing_tools,
    remove_new_system_paths,
)
from tests.fv.cni.support import BIN, HANDLE_PREFIX, WEP_PREFIX, call, get_json, keys_under, netns_path, routes
from tests.support.etcd import EtcdServer
from tests.support.netns import Netns, veth
from tests.support.procs import wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root, pytest.mark.needs_podman, pytest.mark.slow]

POOL = "10.65.0.0/24"


def _host(ns: Netns, addr: str, peer: str) -> None:
    ns.run("ip", "addr", "add", f"{addr}/24", "dev", "fabric")
    ns.run("ip", "route", "add", "default", "via", peer, "dev", "fabric")
    ns.run("ip", "route", "add", POOL, "via", peer, "dev", "fabric", "proto", "static")  # what BGP would do
    ns.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1")  # Felix's global setting


@pytest.fixture
def two_hosts(netns_factory: Callable[[str], Netns]) -> tuple[Netns, Netns]:
    h1, h2 = netns_factory("pod-h1"), netns_factory("pod-h2")
    veth(h1, "fabric", h2, "fabric")
    _host(h1, "192.168.77.1", "192.168.77.2")
    _host(h2, "192.168.77.2", "192.168.77.1")
    return h1, h2


@pytest.fixture
def felixes(etcd: EtcdServer, two_hosts: tuple[Netns, Netns], tmp_path: Path) -> Iterator[None]:
    with running_felix(etcd, two_hosts[0], "node1", "192.168.77.1/24", tmp_path), \
            running_felix(etcd, two_hosts[1], "node2", "192.168.77.2/24", tmp_path):
        yield


@pytest.fixture
def podman(tmp_path: Path, two_hosts: tuple[Netns, Netns], etcd: EtcdServer) -> Iterator[Podman]:
    missing = missing_tools()
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make setup installs podman, runc, busybox-static)")
    from calico.cni.install import install

    before = existing_system_paths()

    bin_dir = tmp_path / "cni-bin"
    install(str(bin_dir), str(BIN / "python"))
    # A short path: conmon's attach socket lives under it and unix socket paths are limited to 108 bytes.
    short = Path(tempfile.mkdtemp(prefix="cnipod-", dir="/tmp"))
    pm = Podman(short / "podman", two_hosts[0], bin_dir)
    pm.add_network("calico-net", {"nodename": "node1", "nodename_file_optional": True,
                                  "etcd_endpoints": etcd.unix_url, "log_file_path": str(tmp_path / "cni.log"),
                                  "ipam": {"type": "calico-ipam"}})
    pm("import", str(busybox_tarball(tmp_path)), IMAGE)
    try:
        yield pm
    finally:
        pm.cleanup()
        shutil.rmtree(short, ignore_errors=True)
        remove_new_system_paths(before)


def test_podman_container_networked_by_calico(podman: Podman, felixes: None, two_hosts: tuple[Netns, Netns],
                                              etcd: EtcdServer, netns_factory: Callable[[str], Netns],
                                              tmp_path: Path) -> None:
    from tests.fv.cni.support import put_pool

    put_pool(etcd, "pool1", POOL)
    h1, h2 = two_hosts
    # A workload on the other host, networked by the plugin called directly there.
    w2 = netns_factory("pod-w2")
    conf2 = {"cniVersion": "1.0.0", "name": "calico-net", "type": "calico", "nodename": "node2",
             "nodename_file_optional": True, "etcd_endpoints": etcd.unix_url,
             "log_file_path": str(tmp_path / "cni2.log"), "ipam": {"type": "calico-ipam"}}
    res = call(h2, "ADD", conf2, container_id="remote1", netns=netns_path(w2))
    assert res.rc == 0, res.out
    w2_ip = res.out["ips"][0]["address"].split("/")[0]

    # podman run: the container gets a pool address and reaches the workload on host 2.
    # (Felix programs the new endpoint within a moment: retry the ping for up to 15 s, in the container.)
    out = podman.run("--rm", "--network", "calico-net", IMAGE, "sh", "-c",
                     f"ip -o -4 addr show eth0; i=0; until ping -c 1 -W 1 {w2_ip}; do "
                     "i=$((i+1)); [ $i -ge 15 ] && exit 1; done")
    assert "/32" in out.stdout and "10.65.0." in out.stdout and "1 packets received" in out.stdout
    # --rm released the address and removed the endpoint.
    assert keys_under(etcd, HANDLE_PREFIX) == [HANDLE_PREFIX + "calico-net.remote1"]
    assert [k for k in keys_under(etcd, WEP_PREFIX) if "node1" in k] == []

    # --ip pins the address; the remote workload reaches it (the other direction).
    podman.run("-d", "--name", "pinned", "--network", "calico-net", "--ip", "10.65.0.60", IMAGE, "sleep", "600")
    cid = podman("inspect", "--format", "{{.Id}}", "pinned").stdout.strip()
    wep = get_json(etcd, WEP_PREFIX + f"default/node1-cni-{cid}-eth0")
    assert wep["spec"]["ipNetworks"] == ["10.65.0.60/32"]
    assert wep["spec"]["interfaceName"] == "cali" + cid[:11]
    assert any(r["dst"] == "10.65.0.60" and r["dev"] == "cali" + cid[:11] for r in routes(h1))
    wait_until(lambda: w2.run("ping", "-c", "1", "-W", "1", "10.65.0.60", check=False).returncode == 0,
               timeout=15, what="the remote workload to reach the pinned container")

    # podman rm releases it: handle, endpoint, host route and veth are gone.
    podman("rm", "--force", "--time", "0", "pinned")
    wait_until(lambda: HANDLE_PREFIX + f"calico-net.{cid}" not in keys_under(etcd, HANDLE_PREFIX),
               timeout=10, what="podman rm to release the pinned address")
    assert get_json(etcd, WEP_PREFIX + f"default/node1-cni-{cid}-eth0") is None
    assert not any(r["dst"] == "10.65.0.60" for r in routes(h1))
    links = json.loads(h1.run("ip", "-j", "link", "show").stdout)
    assert not any(link["ifname"].startswith("cali") for link in links)

"""The start-up-time shortcuts keep the plugin's visible behaviour: in-process rtnetlink instead of
``ip``, kernel work overlapping the datastore writes, the small logger, the ``posix_spawn`` helper.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from calico.cni.spawn import run
from tests.fv.cni.support import HANDLE_PREFIX, WEP_PREFIX, call, keys_under, links, netconf, netns_path
from tests.support.etcd import EtcdServer
from tests.support.netns import Netns

CID = "fa57a7hc0ffee"


@pytest.mark.needs_etcd
@pytest.mark.needs_root
def test_routes_and_link_as_ip_would_make_them(etcd: EtcdServer, pool: str, host: Netns,
                                               container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("nl")
    res = call(host, "ADD", netconf(etcd, tmp, mtu=1400), container_id=CID, netns=netns_path(c))
    assert res.rc == 0, res.out
    ip = res.out["ips"][0]["address"].split("/")[0]
    host_if = "cali" + CID[:11]
    host_routes = json.loads(host.run("ip", "-j", "-d", "route", "show", "dev", host_if).stdout)
    assert [(r["dst"], r["scope"], r["protocol"], r["type"]) for r in host_routes] == [(ip, "link", "boot", "unicast")]
    inner = {(r["dst"], r.get("gateway", ""), r.get("scope", "global"), r["protocol"])
             for r in json.loads(c.run("ip", "-j", "-d", "route", "show", "dev", "eth0").stdout)}
    assert inner == {("169.254.1.1", "", "link", "boot"), ("default", "169.254.1.1", "global", "boot")}
    eth0, cali = links(c)["eth0"], links(host)[host_if]
    assert eth0["mtu"] == cali["mtu"] == 1400 and "UP" in eth0["flags"] and "UP" in cali["flags"]
    assert eth0["link_index"] == cali["ifindex"] and cali["link_index"] == eth0["ifindex"]  # one veth pair
    assert call(host, "DEL", netconf(etcd, tmp), container_id=CID, netns=netns_path(c)).rc == 0
    assert "eth0" not in links(c) and host_if not in links(host)


@pytest.mark.needs_etcd
@pytest.mark.needs_root
def test_kernel_failure_after_the_endpoint_write_removes_the_endpoint(
        etcd: EtcdServer, pool: str, host: Netns, container: Callable[[str], Netns], tmp: Path) -> None:
    """The host route clashes (another interface holds it): the endpoint written meanwhile goes again."""
    host.run("ip", "route", "add", "10.65.0.99/32", "dev", "uplink")
    c = container("clash")
    res = call(host, "ADD", netconf(etcd, tmp), container_id=CID, netns=netns_path(c), args="IP=10.65.0.99")
    assert res.rc != 0 and res.out["code"] == 100 and res.out["msg"] == "failed to set up the host interface"
    assert "route (10.65.0.99/32) already exists for an interface other than 'cali" in res.out["details"]
    assert keys_under(etcd, WEP_PREFIX) == [] and keys_under(etcd, HANDLE_PREFIX) == []
    assert "eth0" not in links(c) and not any(n.startswith("cali") for n in links(host))


@pytest.mark.needs_etcd
@pytest.mark.needs_root
def test_log_file_has_plugin_and_ipam_lines(etcd: EtcdServer, pool: str, host: Netns,
                                            container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("log")
    res = call(host, "ADD", netconf(etcd, tmp), container_id=CID, netns=netns_path(c))
    assert res.rc == 0, res.out
    lines = (tmp / "cni.log").read_text().splitlines()
    ours = [line for line in lines if f"calico.cni.plugin calico ADD {CID}: Calico CNI using IPs" in line]
    assert len(ours) == 1 and " [INFO] " in ours[0]
    # IPAM logs through the logging package, imported only when it has something to say: the
    # first ADD claims the block, and that line reaches the same file in the same shape.
    assert any(f"calico.ipam.allocator calico ADD {CID}: host node1 claimed block" in line for line in lines)


def test_spawn_helper_feeds_stdin_and_collects_both_outputs() -> None:
    big = "x" * 300_000  # more than a pipe holds: both directions must be drained as they go
    done = run(["sh", "-c", "cat; echo oops >&2; exit 3"], big)
    assert done.returncode == 3 and done.stdout == big and done.stderr == "oops\n"
    with pytest.raises(TimeoutError):
        run(["sleep", "5"], timeout=0.2)
    with pytest.raises(FileNotFoundError):
        run(["/nonexistent/tool"])

"""The `calico` plugin called directly with the CNI environment: ADD/CHECK/DEL and every failure case.

Real etcd, real kernel: the plugin runs inside a test 'host' namespace; containers are namespaces.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fv.cni.support import (
    HANDLE_PREFIX,
    PROFILE_PREFIX,
    WEP_PREFIX,
    call,
    get_json,
    keys_under,
    links,
    netconf,
    netns_path,
    put_pool,
    routes,
)
from tests.support.etcd import EtcdServer
from tests.support.netns import Netns

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]

CID = "4f1d2e3c5b6a7980aabbccdd"


def _add(host: Netns, conf: dict, c: Netns, cid: str = CID, **kw: str):  # type: ignore[no-untyped-def]
    return call(host, "ADD", conf, container_id=cid, netns=netns_path(c), **kw)


def test_add_check_del_roundtrip(etcd: EtcdServer, pool: str, host: Netns,
                                 container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("a")
    conf = netconf(etcd, tmp)
    res = _add(host, conf, c, args="IgnoreUnknown=1;K8S_POD_NAME=web")
    assert res.rc == 0, res.out
    out = res.out
    assert out["cniVersion"] == "1.0.0"
    host_if = "cali" + CID[:11]
    assert [i["name"] for i in out["interfaces"]] == [host_if, "eth0"]
    assert out["interfaces"][1]["sandbox"] == netns_path(c)
    addr = out["ips"][0]["address"]
    assert addr.endswith("/32") and out["ips"][0]["interface"] == 1 and "gateway" not in out["ips"][0]
    ip = addr.split("/")[0]
    assert ipaddress.ip_address(ip) in ipaddress.ip_network(pool)

    # Container side: the /32, a link route to 169.254.1.1 and the default route via it.
    eth0 = links(c)["eth0"]
    assert [f"{a['local']}/{a['prefixlen']}" for a in eth0["addr_info"] if a["family"] == "inet"] == [addr]
    assert eth0["address"] == out["interfaces"][1]["mac"]
    rts = {(r["dst"], r.get("gateway", "")) for r in routes(c)}
    assert ("169.254.1.1", "") in rts and ("default", "169.254.1.1") in rts
    # Host side: cali veth with the fixed MAC, proxy ARP on, a /32 route to the workload.
    cali = links(host)[host_if]
    assert cali["address"] == "ee:ee:ee:ee:ee:ee" and "UP" in cali["flags"]
    assert host.run("cat", f"/proc/sys/net/ipv4/conf/{host_if}/proxy_arp").stdout.strip() == "1"
    assert any(r["dst"] == ip and r["dev"] == host_if for r in routes(host))

    # The WorkloadEndpoint Felix reads, named and shaped as Calico's.
    wep = get_json(etcd, WEP_PREFIX + f"default/node1-cni-{CID}-eth0")
    assert wep["kind"] == "WorkloadEndpoint" and wep["metadata"]["namespace"] == "default"
    assert wep["metadata"]["labels"] == {"projectcalico.org/namespace": "default",
                                         "projectcalico.org/orchestrator": "cni"}
    spec = wep["spec"]
    assert spec == {"orchestrator": "cni", "node": "node1", "containerID": CID, "endpoint": "eth0",
                    "ipNetworks": [addr], "profiles": ["net1"], "interfaceName": host_if,
                    "mac": out["interfaces"][1]["mac"]}
    profile = get_json(etcd, PROFILE_PREFIX + "net1")
    assert profile["spec"]["labelsToApply"] == {"net1": ""}
    assert profile["spec"]["ingress"][0]["source"] == {"selector": "has(net1)"}
    handle = get_json(etcd, HANDLE_PREFIX + f"net1.{CID}")
    assert handle is not None

    check_conf = dict(conf, prevResult=out)
    assert call(host, "CHECK", check_conf, container_id=CID, netns=netns_path(c)).rc == 0

    # DEL removes everything; a second DEL (no prevResult) still succeeds.
    res = call(host, "DEL", check_conf, container_id=CID, netns=netns_path(c))
    assert (res.rc, res.out) == (0, None), res.out
    assert "eth0" not in links(c) and host_if not in links(host)
    assert not any(r["dst"] == ip for r in routes(host))
    assert keys_under(etcd, WEP_PREFIX) == [] and keys_under(etcd, HANDLE_PREFIX) == []
    assert call(host, "DEL", conf, container_id=CID, netns=netns_path(c)).rc == 0


def test_del_is_idempotent_without_netns_or_prior_add(etcd: EtcdServer, pool: str, host: Netns,
                                                      container: Callable[[str], Netns], tmp: Path) -> None:
    conf = netconf(etcd, tmp)
    # Never added, no CNI_NETNS at all.
    assert call(host, "DEL", conf, container_id="never-added").rc == 0
    # Added, then the namespace disappears before DEL.
    c = container("gone")
    assert _add(host, conf, c).rc == 0
    c.delete()
    res = call(host, "DEL", conf, container_id=CID, netns=netns_path(c))
    assert res.rc == 0, res.out
    assert keys_under(etcd, WEP_PREFIX) == [] and keys_under(etcd, HANDLE_PREFIX) == []


def test_ip_arg_pins_the_address(etcd: EtcdServer, pool: str, host: Netns,
                                 container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("pin")
    res = _add(host, netconf(etcd, tmp), c, args="IgnoreUnknown=1;IP=10.65.0.77")
    assert res.rc == 0, res.out
    assert res.out["ips"][0]["address"] == "10.65.0.77/32"
    assert "10.65.0.77" in json.dumps(links(c)["eth0"])
    # The same address for a second container is refused, and that container keeps nothing.
    c2 = container("pin2")
    res = _add(host, netconf(etcd, tmp), c2, cid="second", args="IP=10.65.0.77")
    assert res.rc != 0 and res.out["code"] == 100
    assert "10.65.0.77" in res.out["details"]
    assert "eth0" not in links(c2)
    assert keys_under(etcd, HANDLE_PREFIX) == [HANDLE_PREFIX + f"net1.{CID}"]


def test_two_containers_on_one_host_can_ping(etcd: EtcdServer, pool: str, host: Netns,
                                             container: Callable[[str], Netns], tmp: Path) -> None:
    """Host-side routes and proxy ARP come from the plugin itself (no Felix policy in this test)."""
    a, b = container("pa"), container("pb")
    conf = netconf(etcd, tmp)
    ra = _add(host, conf, a, cid="ctr-a")
    rb = _add(host, conf, b, cid="ctr-b")
    assert ra.rc == 0 and rb.rc == 0
    ip_b = rb.out["ips"][0]["address"].split("/")[0]
    a.run("ping", "-c", "1", "-W", "2", ip_b)


@pytest.mark.parametrize("stdin, code, words", [
    (b"", 6, "no network configuration"),
    (b"{not json", 6, "invalid JSON"),
    (b"[1, 2]", 6, "JSON object"),
])
def test_malformed_stdin(host: Netns, container: Callable[[str], Netns], stdin: bytes, code: int,
                         words: str) -> None:
    c = container("bad")
    res = call(host, "ADD", stdin, container_id=CID, netns=netns_path(c))
    assert res.rc != 0 and res.out["code"] == code and words in res.out["details"]
    assert "eth0" not in links(c)


def test_unsupported_version(etcd: EtcdServer, host: Netns, container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("ver")
    res = call(host, "ADD", netconf(etcd, tmp, cniVersion="9.9.9"), container_id=CID, netns=netns_path(c))
    assert res.rc != 0 and res.out["code"] == 1 and res.out["cniVersion"] == "9.9.9"
    assert '"9.9.9"' in res.out["details"] and "1.0.0" in res.out["details"]


def test_missing_netns_env(etcd: EtcdServer, pool: str, host: Netns, tmp: Path) -> None:
    res = call(host, "ADD", netconf(etcd, tmp), container_id=CID)
    assert res.rc != 0 and res.out["code"] == 4 and "CNI_NETNS" in res.out["msg"]


def test_nonexistent_netns_leaks_nothing(etcd: EtcdServer, pool: str, host: Netns, tmp: Path) -> None:
    res = call(host, "ADD", netconf(etcd, tmp), container_id=CID, netns="/run/netns/no-such-ns")
    assert res.rc != 0 and res.out["code"] == 3 and "/run/netns/no-such-ns" in res.out["msg"]
    assert keys_under(etcd, "/calico/ipam/") == [] and keys_under(etcd, WEP_PREFIX) == []


def test_unreachable_datastore(host: Netns, container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("noetcd")
    conf = {"cniVersion": "1.0.0", "name": "net1", "type": "calico", "nodename": "node1",
            "nodename_file_optional": True, "etcd_endpoints": f"unix://{tmp}/no-etcd.sock",
            "log_file_path": str(tmp / "cni.log"), "ipam": {"type": "calico-ipam"}}
    res = call(host, "ADD", conf, container_id=CID, netns=netns_path(c))
    assert res.rc != 0 and res.out["code"] == 11
    assert "no-etcd.sock" in res.out["details"]
    assert "eth0" not in links(c)


def test_exhausted_pool_leaks_nothing(etcd: EtcdServer, host: Netns, container: Callable[[str], Netns],
                                      tmp: Path) -> None:
    put_pool(etcd, "tiny", "10.66.0.0/31", block_size=31)
    conf = netconf(etcd, tmp)
    cs = [container(f"ex{i}") for i in range(3)]
    assert _add(host, conf, cs[0], cid="ex0").rc == 0
    assert _add(host, conf, cs[1], cid="ex1").rc == 0
    res = _add(host, conf, cs[2], cid="ex2")
    assert res.rc != 0 and res.out["code"] == 100 and res.out["msg"] == "failed to request IPs"
    assert "eth0" not in links(cs[2])
    assert HANDLE_PREFIX + "net1.ex2" not in keys_under(etcd, HANDLE_PREFIX)
    assert not any(k.endswith("-ex2-eth0") for k in keys_under(etcd, WEP_PREFIX))


def test_existing_interface_fails_and_releases(etcd: EtcdServer, pool: str, host: Netns,
                                               container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("busy")
    c.run("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer")
    res = _add(host, netconf(etcd, tmp), c)
    assert res.rc != 0 and res.out["code"] == 100 and "File exists" in res.out["details"]
    assert "eth0" in links(c)  # the container's own interface is left alone
    assert keys_under(etcd, HANDLE_PREFIX) == [] and keys_under(etcd, WEP_PREFIX) == []
    assert not any(name.startswith("cali") for name in links(host))


def test_check_reports_what_is_missing(etcd: EtcdServer, pool: str, host: Netns,
                                       container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("chk")
    conf = netconf(etcd, tmp)
    res = _add(host, conf, c)
    assert res.rc == 0
    c.run("ip", "route", "del", "default")
    chk = call(host, "CHECK", dict(conf, prevResult=res.out), container_id=CID, netns=netns_path(c))
    assert chk.rc != 0 and "default route via 169.254.1.1 is missing" in chk.out["details"]
    c.run("ip", "link", "del", "eth0")
    chk = call(host, "CHECK", dict(conf, prevResult=res.out), container_id=CID, netns=netns_path(c))
    assert chk.rc != 0 and "interface eth0 is missing" in chk.out["details"]


def test_host_local_ipam(etcd: EtcdServer, host: Netns, container: Callable[[str], Netns], tmp: Path) -> None:
    plugin_dir = Path("/usr/lib/cni")
    if not (plugin_dir / "host-local").exists():
        pytest.skip("host-local missing: make setup installs containernetworking-plugins")
    c = container("hl")
    conf = netconf(etcd, tmp, ipam={"type": "host-local", "subnet": "10.67.0.0/24",
                                    "dataDir": str(tmp / "host-local")})
    res = _add(host, conf, c)
    assert res.rc == 0, res.out
    addr = res.out["ips"][0]["address"]
    assert addr.startswith("10.67.0.") and addr.endswith("/32") and "gateway" not in res.out["ips"][0]
    assert addr in json.dumps(get_json(etcd, WEP_PREFIX + f"default/node1-cni-{CID}-eth0"))
    assert call(host, "DEL", conf, container_id=CID, netns=netns_path(c)).rc == 0
    assert not list((tmp / "host-local" / "net1").glob("10.67.*"))


def test_second_network_adds_profile(etcd: EtcdServer, pool: str, host: Netns,
                                     container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("two")
    first = _add(host, netconf(etcd, tmp, name="net1"), c)
    second = _add(host, netconf(etcd, tmp, name="net2"), c)
    assert first.rc == 0 and second.rc == 0, second.out
    assert second.out["ips"][0]["address"] == first.out["ips"][0]["address"]
    wep = get_json(etcd, WEP_PREFIX + f"default/node1-cni-{CID}-eth0")
    assert wep["spec"]["profiles"] == ["net1", "net2"]


def test_k8s_identifiers(etcd: EtcdServer, pool: str, host: Netns, container: Callable[[str], Netns],
                         tmp: Path) -> None:
    c = container("k8s")
    res = _add(host, netconf(etcd, tmp, node="rack1-host1"), c,
               args="IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=frontend-5gs43")
    assert res.rc == 0, res.out
    wep = get_json(etcd, WEP_PREFIX + "prod/rack1--host1-k8s-frontend--5gs43-eth0")
    assert wep["spec"]["pod"] == "frontend-5gs43" and wep["spec"]["orchestrator"] == "k8s"
    assert wep["metadata"]["labels"]["projectcalico.org/namespace"] == "prod"
    blocks = keys_under(etcd, "/calico/ipam/v2/assignment/")
    block = get_json(etcd, blocks[0])
    assert {"namespace": "prod", "pod": "frontend-5gs43", "node": "rack1-host1"}.items() <= \
        block["attributes"][0]["secondary"].items()


def test_status_and_gc(etcd: EtcdServer, pool: str, host: Netns, container: Callable[[str], Netns],
                       tmp: Path) -> None:
    conf = netconf(etcd, tmp, cniVersion="1.1.0")
    keep, drop = container("keep"), container("drop")
    assert _add(host, conf, keep, cid="keep1").rc == 0
    assert _add(host, conf, drop, cid="drop1").rc == 0
    assert call(host, "STATUS", conf, ifname="").rc == 0
    gc = dict(conf, **{"cni.dev/valid-attachments": [{"containerID": "keep1", "ifname": "eth0"}]})
    res = call(host, "GC", gc, ifname="")
    assert res.rc == 0, res.out
    assert keys_under(etcd, HANDLE_PREFIX) == [HANDLE_PREFIX + "net1.keep1"]
    assert [k.rsplit("/", 1)[1] for k in keys_under(etcd, WEP_PREFIX)] == ["node1-cni-keep1-eth0"]
    # STATUS against an unreachable datastore: code 50.
    bad = dict(conf, etcd_endpoints=f"unix://{tmp}/none.sock")
    res = call(host, "STATUS", bad, ifname="")
    assert res.rc != 0 and res.out["code"] == 50
    # STATUS is a 1.1 command.
    res = call(host, "STATUS", netconf(etcd, tmp), ifname="")
    assert res.rc != 0 and res.out["code"] == 1


def test_version_command(host: Netns) -> None:
    res = call(host, "VERSION", b'{"cniVersion": "1.0.0"}', ifname="")
    assert res.rc == 0
    assert res.out == {"cniVersion": "1.0.0",
                       "supportedVersions": ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]}


def test_calico_ipam_on_its_own(etcd: EtcdServer, pool: str, tmp: Path) -> None:
    conf = netconf(etcd, tmp)
    res = call(None, "ADD", conf, container_id="ipamonly", netns="/dev/null", plugin="calico-ipam")
    assert res.rc == 0, res.out
    addr = res.out["ips"][0]["address"]
    assert addr.endswith("/26") and res.out["routes"] == [{"dst": addr}] and "interfaces" not in res.out
    assert keys_under(etcd, HANDLE_PREFIX) == [HANDLE_PREFIX + "net1.ipamonly"]
    res = call(None, "ADD", conf, container_id="ipamfixed", netns="/dev/null", plugin="calico-ipam",
               args="IP=10.65.0.200")
    assert res.rc == 0 and res.out["ips"][0]["address"] == "10.65.0.200/32"
    for cid in ("ipamonly", "ipamfixed", "ipamonly"):
        assert call(None, "DEL", conf, container_id=cid, plugin="calico-ipam").rc == 0
    assert keys_under(etcd, HANDLE_PREFIX) == []


def test_grpc_datastore_adapter_path(etcd: EtcdServer, pool: str, host: Netns,
                                     container: Callable[[str], Netns], tmp: Path) -> None:
    """The shared gRPC adapter (used for https/TLS/auth endpoints) serves ADD/DEL just the same."""
    c = container("grpc")
    conf = netconf(etcd, tmp)
    env = {"CALICO_CNI_ETCD_CLIENT": "grpc"}
    res = call(host, "ADD", conf, container_id=CID, netns=netns_path(c), extra_env=env)
    assert res.rc == 0, res.out
    assert get_json(etcd, WEP_PREFIX + f"default/node1-cni-{CID}-eth0")["spec"]["ipNetworks"] == \
        [res.out["ips"][0]["address"]]
    assert call(host, "DEL", conf, container_id=CID, netns=netns_path(c), extra_env=env).rc == 0
    assert keys_under(etcd, HANDLE_PREFIX) == [] and "eth0" not in links(c)


def test_dual_stack(etcd: EtcdServer, pool: str, host: Netns, container: Callable[[str], Netns], tmp: Path) -> None:
    put_pool(etcd, "pool6", "fd00:65::/120", block_size=122)
    c = container("v6")
    conf = netconf(etcd, tmp, ipam={"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": "true"})
    res = _add(host, conf, c)
    assert res.rc == 0, res.out
    addrs = [ip["address"] for ip in res.out["ips"]]
    assert addrs[0].endswith("/32") and addrs[1].startswith("fd00:65::") and addrs[1].endswith("/128")
    v6 = [f"{a['local']}/{a['prefixlen']}" for a in links(c)["eth0"]["addr_info"] if a["family"] == "inet6"]
    assert addrs[1] in v6
    assert any(r["dst"] == "default" and r.get("gateway") == "fe80::ecee:eeff:feee:eeee" for r in routes(c, "-6"))
    host_if = "cali" + CID[:11]
    assert any(r["dst"] == addrs[1].split("/")[0] and r["dev"] == host_if for r in routes(host, "-6"))
    assert call(host, "CHECK", dict(conf, prevResult=res.out), container_id=CID, netns=netns_path(c)).rc == 0
    assert call(host, "DEL", conf, container_id=CID, netns=netns_path(c)).rc == 0
    assert keys_under(etcd, HANDLE_PREFIX) == []


def test_endpoint_write_failure_undoes_everything(etcd: EtcdServer, pool: str, host: Netns,
                                                  container: Callable[[str], Netns], tmp: Path) -> None:
    """A foreign endpoint already holds the name: ADD fails after networking and must undo it."""
    key = WEP_PREFIX + f"default/node1-cni-{CID}-eth0"
    etcd.etcdctl("put", key, json.dumps({"kind": "WorkloadEndpoint", "apiVersion": "projectcalico.org/v3",
                                         "metadata": {"name": f"node1-cni-{CID}-eth0", "namespace": "default"},
                                         "spec": {"containerID": "someone-else", "node": "node1"}}))
    c = container("wepfail")
    res = _add(host, netconf(etcd, tmp), c)
    assert res.rc != 0 and res.out["msg"] == "error writing WorkloadEndpoint"
    assert "resource already exists" in res.out["details"]
    assert "eth0" not in links(c) and not any(n.startswith("cali") for n in links(host))
    assert keys_under(etcd, HANDLE_PREFIX) == []
    assert get_json(etcd, key)["spec"]["containerID"] == "someone-else"  # left alone


def test_concurrent_adds_get_distinct_addresses(etcd: EtcdServer, pool: str, host: Netns,
                                                container: Callable[[str], Netns], tmp: Path) -> None:
    """Runtimes ADD different containers in parallel; IPAM's compare-and-swap keeps them apart."""
    from concurrent.futures import ThreadPoolExecutor

    conf = netconf(etcd, tmp)
    cs = [container(f"par{i}") for i in range(6)]
    with ThreadPoolExecutor(len(cs)) as pool_:
        results = list(pool_.map(lambda ic: _add(host, conf, ic[1], cid=f"par{ic[0]}"), enumerate(cs)))
    assert all(r.rc == 0 for r in results), [r.out for r in results if r.rc]
    addrs = {r.out["ips"][0]["address"] for r in results}
    assert len(addrs) == len(cs)
    assert len(keys_under(etcd, HANDLE_PREFIX)) == len(cs)


def test_netns_given_as_proc_path(etcd: EtcdServer, pool: str, host: Netns,
                                  container: Callable[[str], Netns], tmp: Path) -> None:
    """Docker-style runtimes pass /proc/<pid>/ns/net rather than a /run/netns name."""
    import subprocess

    c = container("procns")
    sleeper = subprocess.Popen(c.popen_argv(["sleep", "60"]), start_new_session=True)
    try:
        path = f"/proc/{sleeper.pid}/ns/net"
        from tests.support.procs import wait_until

        wait_until(lambda: os.stat(path).st_ino == os.stat(f"/run/netns/{c.name}").st_ino, timeout=5,
                   what="the sleeper to enter the container namespace")
        conf = netconf(etcd, tmp)
        res = call(host, "ADD", conf, container_id=CID, netns=path)
        assert res.rc == 0, res.out
        assert f'"{res.out["ips"][0]["address"].split("/")[0]}"' in json.dumps(links(c)["eth0"])
        assert call(host, "DEL", conf, container_id=CID, netns=path).rc == 0
        assert "eth0" not in links(c)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_del_with_unreachable_datastore_still_removes_the_interface(
        etcd: EtcdServer, pool: str, host: Netns, container: Callable[[str], Netns], tmp: Path) -> None:
    c = container("delnoetcd")
    conf = netconf(etcd, tmp)
    assert _add(host, conf, c).rc == 0
    bad = dict(conf, etcd_endpoints=f"unix://{tmp}/gone.sock")
    res = call(host, "DEL", bad, container_id=CID, netns=netns_path(c))
    assert res.rc != 0 and res.out["code"] == 11  # the runtime retries; the address is still held
    assert "eth0" not in links(c)
    assert call(host, "DEL", conf, container_id=CID, netns=netns_path(c)).rc == 0
    assert keys_under(etcd, HANDLE_PREFIX) == []

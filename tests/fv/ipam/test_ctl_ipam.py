"""calicoctl ipam against a real etcd: exact output formats, exit codes, and stored records."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from calico.datastore.config import connect, load_config
from calico.ipam.allocator import IPAMClient
from tests.fv.ipam.conftest import get_json, keys_under, put_json, put_pool, run
from tests.support.etcd import EtcdServer

pytestmark = pytest.mark.needs_etcd

ROOT = Path(__file__).resolve().parents[3]
CALICOCTL = str(ROOT / ".venv/bin/calicoctl")
RES = "/calico/resources/v3/projectcalico.org/"


def ctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CALICOCTL, *args], capture_output=True, text=True, timeout=60)


def allocate(*calls: tuple[Any, ...]) -> list[list[str]]:
    async def main() -> list[list[str]]:
        ds = await connect(load_config())
        try:
            c = IPAMClient(ds)
            out = []
            for num, handle, attrs, host in calls:
                out.append((await c.auto_assign(num, 0, handle, attrs, host)).addresses)
            return out
        finally:
            await ds.close()

    return run(main())


def test_show_pools_blocks_ip_and_configuration(etcd: EtcdServer) -> None:
    put_pool(etcd, "default-ipv4-ippool", "10.40.0.0/24", blockSize=26)
    [ips] = allocate((5, "net.c1", {"node": "h1", "namespace": "default", "pod": "nginx"}, "h1"))
    res = ctl("ipam", "show")
    assert res.returncode == 0, res.stderr
    assert res.stdout == (
        "+----------+--------------+-----------+------------+-----------+\n"
        "| GROUPING |     CIDR     | IPS TOTAL | IPS IN USE | IPS FREE  |\n"
        "+----------+--------------+-----------+------------+-----------+\n"
        "| IP Pool  | 10.40.0.0/24 |       256 | 5 (2%)     | 251 (98%) |\n"
        "+----------+--------------+-----------+------------+-----------+\n")
    blocks = ctl("ipam", "show", "--show-blocks").stdout.splitlines()
    block = ips[0].rsplit(".", 1)[0] + f".{int(ips[0].rsplit('.', 1)[1]) // 64 * 64}/26"
    assert f"| Block    | {block:<12} |        64 | 5 (8%)     | 59 (92%)  |" in blocks
    shown = ctl("ipam", "show", f"--ip={ips[0]}")
    assert shown.stdout == (f"IP {ips[0]} is in use\nAttributes:\n  namespace: default\n  node: h1\n"
                            "  pod: nginx\n")
    assert ctl("ipam", "show", "--ip=10.40.0.250").stdout == "10.40.0.250 is not assigned\n"
    assert ctl("ipam", "show", "--show-configuration").stdout == (
        "+--------------------+-------+\n"
        "|      PROPERTY      | VALUE |\n"
        "+--------------------+-------+\n"
        "| StrictAffinity     | false |\n"
        "| AutoAllocateBlocks | true  |\n"
        "| MaxBlocksPerHost   |     0 |\n"
        "+--------------------+-------+\n")
    bad = ctl("ipam", "show", "--ip=10.40.0.1", "--show-blocks")
    assert bad.returncode == 1 and "Invalid option" in bad.stderr


def test_show_borrowed(etcd: EtcdServer) -> None:
    put_pool(etcd, "p", "10.41.0.0/29", blockSize=30)
    allocate((1, "net.a", {"node": "h1"}, "h1"), (1, "net.b", {"node": "h2"}, "h2"),
             (3, "net.a2", {"node": "h1"}, "h1"))
    [borrowed] = allocate((1, "net.pod", {"node": "h1", "namespace": "ns1", "pod": "web"}, "h1"))
    out = ctl("ipam", "show", "--show-borrowed").stdout.splitlines()
    assert [c.strip() for c in out[1].strip("|").split("|")] == [
        "IP", "BORROWING-NODE", "BLOCK", "BLOCK OWNER", "TYPE", "ALLOCATED-TO"]
    rows = [line for line in out if f" {borrowed[0]} " in line]
    assert len(rows) == 1, out
    last = int(borrowed[0].rsplit(".", 1)[1])
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells == [borrowed[0], "h1", f"10.41.0.{last // 4 * 4}/30", "h2", "pod", "ns1/web"]


def test_configure(etcd: EtcdServer) -> None:
    res = ctl("ipam", "configure", "--strictaffinity=true", "--max-blocks-per-host=4")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "Successfully set StrictAffinity to: true\nSuccessfully set MaxBlocksPerHost to: 4\n"
    assert get_json(etcd, "/calico/ipam/v2/config") == {"strict_affinity": True, "auto_allocate_blocks": True,
                                                        "maxBlocksPerHost": 4}
    assert ctl("ipam", "configure", "--strictaffinity=false").stdout == "Successfully set StrictAffinity to: false\n"
    assert get_json(etcd, "/calico/ipam/v2/config") == {"auto_allocate_blocks": True, "maxBlocksPerHost": 4}
    bad = ctl("ipam", "configure", "--strictaffinity=maybe")
    assert (bad.returncode, bad.stderr) == (1, "invalid value. Use true or false to set strictaffinity\n")
    none = ctl("ipam", "configure")
    assert (none.returncode, none.stderr) == (1, "at least one configuration option must be specified\n")
    assert get_json(etcd, "/calico/ipam/v2/config") == {"auto_allocate_blocks": True, "maxBlocksPerHost": 4}


def test_release_ip(etcd: EtcdServer) -> None:
    put_pool(etcd, "p", "10.42.0.0/24")
    [ips] = allocate((2, "net.r", {"node": "h1"}, "h1"))
    res = ctl("ipam", "release", f"--ip={ips[0]}")
    assert (res.returncode, res.stdout) == (0, f"Successfully released IP address {ips[0]}\n")
    again = ctl("ipam", "release", f"--ip={ips[0]}")
    assert (again.returncode, again.stderr) == (1, f"IP address {ips[0]} is not assigned\n")
    bad = ctl("ipam", "release", "--ip=10.42.0.999")
    assert bad.returncode == 1 and "Invalid IP address" in bad.stderr
    assert sum(get_json(etcd, "/calico/ipam/v2/handle/net.r")["block"].values()) == 1


def wep(name: str, ip: str) -> dict[str, Any]:
    return {"kind": "WorkloadEndpoint", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"node": "h1", "orchestrator": "cni", "endpoint": "eth0", "ipNetworks": [f"{ip}/32"]}}


def test_check_finds_planted_leaks_and_release_from_report_cleans_them(etcd: EtcdServer, tmp_path: Path) -> None:
    put_pool(etcd, "p", "10.43.0.0/24")
    put_json(etcd, RES + "clusterinformations/default",
             {"kind": "ClusterInformation", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default"},
              "spec": {"clusterGUID": "abc123", "datastoreReady": False, "clusterType": "bgp,etcd"}})
    gone = {"node": "h1", "pod": "gone", "namespace": "default"}
    [used], [leaked], [orphan] = allocate((1, "net.used", {"node": "h1"}, "h1"), (1, "net.leaked", gone, "h1"),
                                          (1, "net.orphan", {"node": "h1"}, "h1"))
    put_json(etcd, RES + "workloadendpoints/default/h1-cni-used-eth0", wep("h1-cni-used-eth0", used))
    put_json(etcd, RES + "workloadendpoints/default/h1-cni-orphan-eth0", wep("h1-cni-orphan-eth0", orphan))
    etcd.etcdctl("del", "/calico/ipam/v2/handle/net.leaked")  # the leak planted by hand
    put_json(etcd, "/calico/ipam/v2/handle/net.stale", {"block": {"10.43.0.0/26": 1}, "deleted": False})

    report = tmp_path / "report.json"
    res = ctl("ipam", "check", "--show-problem-ips", "-o", str(report))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert "Found 1 IPAM blocks." in lines
    assert "IPAM blocks record 3 allocations." in lines
    assert "Found 2 workload IPs." in lines
    assert f"  {leaked} leaked; attrs Main:net.leaked Extra:namespace=default,node=h1,pod=gone" in lines
    assert "Found 1 IPs that are allocated in IPAM but not actually in use." in lines
    assert "Found 1 handles with no matching IPs (and 2 handles with matches)." in lines
    assert "  net.leaked is in use in a block but doesn't exist." in lines
    assert "Found 1 handles mentioned in blocks with no matching handle resource." in lines
    assert lines[-1] == "Check complete; found 3 problems."
    doc = json.loads(report.read_text())
    assert doc["clusterGUID"] == "abc123" and doc["datastoreLocked"] is True
    assert doc["allocations"][leaked][0]["inUse"] is False and doc["allocations"][leaked][0]["handle"] == "net.leaked"
    assert doc["allocations"][used][0]["owners"] == ["Workload(default/h1-cni-used-eth0)"]
    assert [h["ID"] for h in doc["leakedHandles"]] == ["net.stale"]

    rel = ctl("ipam", "release", f"--from-report={report}")
    assert rel.returncode == 0, rel.stderr
    assert rel.stdout.splitlines() == [
        "Releasing 1 old IPs...", "Released 1 IPs successfully", "Deleting 1 handles...",
        "Key: '.' = Deleted OK; 'x' = skip, handle missing/changed.", ".",
        "Released 1 handles; 0 skipped; 0 errors.", "You may now unlock the data store."]
    assert keys_under(etcd, "/calico/ipam/v2/handle/") == ["/calico/ipam/v2/handle/net.orphan",
                                                           "/calico/ipam/v2/handle/net.used"]
    again = ctl("ipam", "check")
    assert again.stdout.splitlines()[-1] == "Check complete; found 0 problems."


def test_release_from_report_refuses_unlocked_datastore(etcd: EtcdServer, tmp_path: Path) -> None:
    put_pool(etcd, "p", "10.44.0.0/24")
    put_json(etcd, RES + "clusterinformations/default",
             {"kind": "ClusterInformation", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default"},
              "spec": {"clusterGUID": "g1", "datastoreReady": True}})
    allocate((1, "net.x", {"node": "h1"}, "h1"))
    report = tmp_path / "r.json"
    assert ctl("ipam", "check", "-o", str(report)).returncode == 0
    res = ctl("ipam", "release", f"--from-report={report}")
    assert (res.returncode, res.stderr) == (
        1, "data store is not locked. Either lock the data store, or re-run with --force\n")
    assert len(keys_under(etcd, "/calico/ipam/v2/handle/")) == 1  # nothing released
    forced = ctl("ipam", "release", f"--from-report={report}", "--force")
    assert forced.returncode == 0 and "Released 1 IPs successfully" in forced.stdout

"""CNI plugin latency: ADD and DEL of the real `calico` plugin (real etcd, real kernel) over N
sequential containers, side by side with a shell script doing the same kernel operations with `ip`.

Run as root from the repository root:  .venv/bin/python bench/cni/bench_cni.py [--count 100]
Prints p50/p99 of each, the ratios, and the plugin's interpreter start-up and import time.
Everything runs inside namespaces this script creates; nothing touches the root namespace.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.etcd import EtcdServer  # noqa: E402
from tests.support.netns import Netns  # noqa: E402

HERE = Path(__file__).resolve().parent
POOL = {"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "bench-pool", "uid": "u", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"cidr": "10.200.0.0/16", "blockSize": 26, "ipipMode": "Never", "vxlanMode": "Never",
                 "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]}}


def timed(argv: list[str], env: dict[str, str] | None = None, stdin: bytes = b"") -> tuple[float, bytes]:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, input=stdin, capture_output=True, check=False)
    elapsed = (time.perf_counter() - start) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[-1]} failed: {proc.stdout.decode()} {proc.stderr.decode()[-500:]}")
    return elapsed, proc.stdout


def pct(xs: list[float], p: float) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def median_ms(argv: list[str], runs: int = 20) -> float:
    return statistics.median(timed(argv)[0] for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="containers (default 100)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    from calico.cni.install import install

    work = Path(tempfile.mkdtemp(prefix="cnibench-"))
    install(str(work / "bin"))
    plugin = str(work / "bin" / "calico")
    etcd = EtcdServer().start()
    host = Netns("bench-host")
    containers: list[Netns] = []
    try:
        etcd.etcdctl("put", "/calico/resources/v3/projectcalico.org/ippools/bench-pool", json.dumps(POOL))
        conf = json.dumps({"cniVersion": "1.0.0", "name": "bench-net", "type": "calico", "nodename": "bench-node",
                           "nodename_file_optional": True, "etcd_endpoints": etcd.unix_url, "mtu": 1500,
                           "log_file_path": str(work / "cni.log"), "ipam": {"type": "calico-ipam"}}).encode()
        enter = ["nsenter", f"--net=/run/netns/{host.name}"]
        base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin:/usr/sbin:/sbin"), "CNI_IFNAME": "eth0",
                    "CNI_PATH": str(work / "bin")}
        add_ms, del_ms, sh_add_ms, sh_del_ms = [], [], [], []
        deadline = time.monotonic() + 900  # bounded in time as well as count
        for i in range(args.count):
            if time.monotonic() > deadline:
                print(f"stopped after {i} containers (time bound)")
                break
            c = Netns(f"bench-c{i}")
            containers.append(c)
            cid = f"bench{i:04d}ctr"
            env = dict(base_env, CNI_CONTAINERID=cid, CNI_NETNS=f"/run/netns/{c.name}")
            ms, out = timed([*enter, plugin], dict(env, CNI_COMMAND="ADD"), conf)
            add_ms.append(ms)
            ip = json.loads(out)["ips"][0]["address"].split("/")[0]
            mac = json.loads(out)["interfaces"][1]["mac"]
            del_ms.append(timed([*enter, plugin], dict(env, CNI_COMMAND="DEL"), conf)[0])
            sh_add_ms.append(timed([*enter, str(HERE / "ip_add.sh"), c.name, "eth0", f"calish{i:04d}", ip,
                                    "1500", mac, host.name])[0])
            sh_del_ms.append(timed([*enter, str(HERE / "ip_del.sh"), c.name, "eth0"])[0])
            c.delete()
        py = sys.executable
        bare = median_ms([py, "-IS", "-c", "pass"])
        version = median_ms([plugin, "-v"])  # interpreter + calico.cni.main, prints the version
        imports = median_ms([py, "-IS", "-c", f"import sys; sys.path[1:1] = {sys.path[1:]!r}; "
                             "import calico.cni.plugin, calico.cni.store, calico.cni.ipam, calico.cni.logs, "
                             "calico.datastore.etcd_http, calico.ipam.allocator"])
        n = len(add_ms)
        print(f"containers: {n} (sequential; etcd {etcd.unix_url}; host netns {host.name})")
        print(f"{'':22s}{'p50 ms':>10s}{'p99 ms':>10s}")
        for name, xs in (("calico ADD", add_ms), ("ip script ADD", sh_add_ms), ("calico DEL", del_ms),
                         ("ip script DEL", sh_del_ms)):
            print(f"{name:22s}{pct(xs, 50):10.1f}{pct(xs, 99):10.1f}")
        print(f"ratio ADD p50 {pct(add_ms, 50) / pct(sh_add_ms, 50):.1f}x   p99 "
              f"{pct(add_ms, 99) / pct(sh_add_ms, 99):.1f}x   (goal <= 3x)")
        print(f"ratio DEL p50 {pct(del_ms, 50) / pct(sh_del_ms, 50):.1f}x   p99 "
              f"{pct(del_ms, 99) / pct(sh_del_ms, 99):.1f}x")
        print(f"interpreter start (python -IS -c pass): {bare:.1f} ms; plugin start, entry module only: "
              f"{version:.1f} ms; start + every module an ADD imports: {imports:.1f} ms "
              f"(imports {imports - bare:.1f} ms)")
    finally:
        for c in containers:
            c.delete()
        host.delete()
        etcd.remove()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CNI plugin latency: ADD and DEL of the real `calico` plugin (real etcd, real kernel) over N
sequential containers, side by side with a shell script doing the same kernel operations with `ip`.

Run as root from the repository root:  .venv/bin/python bench/cni/bench_cni.py [--count 100]
Prints p50/p99 of each, the ratios, and the plugin's interpreter start-up and import time.
``--baseline-src DIR`` also runs an older tree's plugin interleaved in the same run (a before/after
comparison under the same load), e.g. ``git archive <rev> src | tar -x -C /tmp/before`` then
``--baseline-src /tmp/before/src``.
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


def baseline_plugin(bin_dir: Path, src: str, python: str) -> str:
    """An installed-style ``calico`` script that imports the plugin from another source tree."""
    from calico.cni.install import site_paths

    extra = [src] + [p for p in site_paths(python) or [] if not p.endswith("/src")]
    path = bin_dir / "calico-before"
    path.write_text(f"#!{python} -IS\nimport sys\nsys.path[1:1] = {extra!r}\n"
                    "from calico.cni.main import main\nmain()\n")
    path.chmod(0o755)
    return str(path)


def import_ms(plugin: str, enter: list[str], env: dict[str, str], conf: bytes) -> float:
    """Sum of ``-X importtime`` self times over every module one real ADD (then DEL) imports."""
    head = Path(plugin).read_text().splitlines()[0][2:].split()
    proc = subprocess.run([*enter, head[0], "-X", "importtime", *head[1:], plugin], env=dict(env, CNI_COMMAND="ADD"),
                          input=conf, capture_output=True, check=False)
    subprocess.run([*enter, plugin], env=dict(env, CNI_COMMAND="DEL"), input=conf, capture_output=True, check=False)
    total = 0
    for line in proc.stderr.decode().splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            total += int(line.split(":", 1)[1].split("|")[0])
    return total / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100, help="containers (default 100)")
    parser.add_argument("--baseline-src", help="also time the plugin from this source tree (before/after)")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter the installed plugin runs with (default: this one)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    from calico.cni.install import install

    work = Path(tempfile.mkdtemp(prefix="cnibench-"))
    install(str(work / "bin"), args.python)
    plugin = str(work / "bin" / "calico")
    before = baseline_plugin(work / "bin", args.baseline_src, args.python) if args.baseline_src else ""
    load_start = os.getloadavg()
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
        add_ms, del_ms, sh_add_ms, sh_del_ms, old_add_ms, old_del_ms = [], [], [], [], [], []
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
            if before:
                old_add_ms.append(timed([*enter, before], dict(env, CNI_COMMAND="ADD"), conf)[0])
                old_del_ms.append(timed([*enter, before], dict(env, CNI_COMMAND="DEL"), conf)[0])
            sh_add_ms.append(timed([*enter, str(HERE / "ip_add.sh"), c.name, "eth0", f"calish{i:04d}", ip,
                                    "1500", mac, host.name])[0])
            sh_del_ms.append(timed([*enter, str(HERE / "ip_del.sh"), c.name, "eth0"])[0])
            c.delete()
        load_end = os.getloadavg()
        py = args.python
        bare = median_ms([py, "-IS", "-c", "pass"])
        version = median_ms([plugin, "-v"])  # interpreter + calico.cni.main, prints the version
        c = Netns("bench-imp")
        containers.append(c)
        env = dict(base_env, CNI_CONTAINERID="benchimport", CNI_NETNS=f"/run/netns/{c.name}")
        imports = statistics.median(import_ms(plugin, enter, env, conf) for _ in range(5))
        old_imports = statistics.median(import_ms(before, enter, env, conf) for _ in range(5)) if before else 0.0
        n = len(add_ms)
        print(f"containers: {n} (sequential; etcd {etcd.unix_url}; host netns {host.name}; plugin runs {py})")
        print(f"load average (1/5/15 min) at start {' '.join(f'{x:.2f}' for x in load_start)}, "
              f"at end {' '.join(f'{x:.2f}' for x in load_end)}")
        print(f"{'':22s}{'p50 ms':>10s}{'p99 ms':>10s}")
        rows = [("calico ADD", add_ms), ("ip script ADD", sh_add_ms), ("calico DEL", del_ms),
                ("ip script DEL", sh_del_ms)]
        if before:
            rows += [("calico ADD (before)", old_add_ms), ("calico DEL (before)", old_del_ms)]
        for name, xs in rows:
            print(f"{name:22s}{pct(xs, 50):10.1f}{pct(xs, 99):10.1f}")
        print(f"ratio ADD p50 {pct(add_ms, 50) / pct(sh_add_ms, 50):.1f}x   p99 "
              f"{pct(add_ms, 99) / pct(sh_add_ms, 99):.1f}x   (goal <= 3x)")
        print(f"ratio DEL p50 {pct(del_ms, 50) / pct(sh_del_ms, 50):.1f}x   p99 "
              f"{pct(del_ms, 99) / pct(sh_del_ms, 99):.1f}x")
        if before:
            print(f"before: ratio ADD p50 {pct(old_add_ms, 50) / pct(sh_add_ms, 50):.1f}x, "
                  f"DEL p50 {pct(old_del_ms, 50) / pct(sh_del_ms, 50):.1f}x; "
                  f"imports of one ADD {old_imports:.1f} ms")
        print(f"interpreter start (python -IS -c pass): {bare:.1f} ms; plugin start, entry module only: "
              f"{version:.1f} ms; imports of one ADD (sum of -X importtime self times, median of 5): "
              f"{imports:.1f} ms")
    finally:
        for c in containers:
            c.delete()
        host.delete()
        etcd.remove()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

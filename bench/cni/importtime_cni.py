"""Where the plugin's import time goes: ``-X importtime`` of one real ADD and one real DEL.

Run as root from the repository root:  .venv/bin/python bench/cni/importtime_cni.py [--top 25] [--runs 5]
Sets up a real etcd, a host namespace and a container namespace (as ``bench_cni.py`` does), then
prints, per command, the median of ``--runs`` sums of self times and the modules costing most.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "cni"))

from bench_cni import POOL  # noqa: E402
from tests.support.etcd import EtcdServer  # noqa: E402
from tests.support.netns import Netns  # noqa: E402


def importtime(plugin: str, enter: list[str], env: dict[str, str], conf: bytes) -> dict[str, int]:
    """Self time in µs per module for one run of the installed plugin."""
    head = Path(plugin).read_text().splitlines()[0][2:].split()
    proc = subprocess.run([*enter, head[0], "-X", "importtime", *head[1:], plugin], env=env, input=conf,
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{env['CNI_COMMAND']} failed: {proc.stdout.decode()}")
    out: dict[str, int] = {}
    for line in proc.stderr.decode().splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, _, name = line.split(":", 1)[1].split("|")
            out[name.strip()] = int(self_us)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from calico.cni.install import install

    work = Path(tempfile.mkdtemp(prefix="cniimp-"))
    install(str(work / "bin"), sys.executable)
    plugin = str(work / "bin" / "calico")
    etcd = EtcdServer().start()
    host = Netns("imp-host")
    cont = Netns("imp-c")
    try:
        etcd.etcdctl("put", "/calico/resources/v3/projectcalico.org/ippools/bench-pool", json.dumps(POOL))
        conf = json.dumps({"cniVersion": "1.0.0", "name": "bench-net", "type": "calico", "nodename": "bench-node",
                           "nodename_file_optional": True, "etcd_endpoints": etcd.unix_url, "mtu": 1500,
                           "log_file_path": str(work / "cni.log"), "ipam": {"type": "calico-ipam"}}).encode()
        enter = ["nsenter", f"--net=/run/netns/{host.name}"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin:/usr/sbin:/sbin"), "CNI_IFNAME": "eth0",
               "CNI_PATH": str(work / "bin"), "CNI_CONTAINERID": "impctr", "CNI_NETNS": f"/run/netns/{cont.name}"}
        runs: dict[str, list[dict[str, int]]] = {"ADD": [], "DEL": []}
        for _ in range(args.runs):
            for cmd in ("ADD", "DEL"):
                runs[cmd].append(importtime(plugin, enter, dict(env, CNI_COMMAND=cmd), conf))
        for cmd, samples in runs.items():
            names = set().union(*samples)
            med = {n: statistics.median(s.get(n, 0) for s in samples) for n in names}
            sums = [sum(s.values()) / 1000 for s in samples]
            print(f"{cmd}: {len(names)} modules, sum of self times {statistics.median(sums):.1f} ms "
                  f"(median of {args.runs}: {', '.join(f'{x:.1f}' for x in sums)})")
            for name, us in sorted(med.items(), key=lambda kv: -kv[1])[:args.top]:
                print(f"  {us / 1000:6.2f} ms  {name}")
    finally:
        cont.delete()
        host.delete()
        etcd.remove()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

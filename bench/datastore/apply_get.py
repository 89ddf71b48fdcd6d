"""Datastore benchmark: calicoctl apply / get -o yaml of 1,000 mixed resources vs raw etcd, same run.

Starts its own etcd (temp dir, loopback), prints wall times and ratios, stops etcd. Bounded: one pass
of each operation per round, `--rounds` rounds (default 3), medians reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.etcd import EtcdServer

CALICOCTL = str(Path(sys.executable).with_name("calicoctl"))


def mixed_resources(n: int = 1000) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    v3 = "projectcalico.org/v3"
    for i in range(n):
        k = i % 20
        if k == 0:
            docs.append({"apiVersion": v3, "kind": "IPPool", "metadata": {"name": f"pool-{i}"},
                         "spec": {"cidr": f"10.{i // 256}.{i % 256}.0/24", "natOutgoing": True}})
        elif k < 9:
            docs.append({"apiVersion": v3, "kind": "GlobalNetworkPolicy", "metadata": {"name": f"gnp-{i}"},
                         "spec": {"order": i, "selector": f"app == 'a{i % 50}'",
                                  "ingress": [{"action": "Allow", "protocol": "TCP",
                                               "source": {"selector": f"role == 'r{i % 30}'"},
                                               "destination": {"ports": [80, "8000:8080"]}}],
                                  "egress": [{"action": "Allow"}]}})
        elif k < 13:
            docs.append({"apiVersion": v3, "kind": "NetworkPolicy",
                         "metadata": {"name": f"np-{i}", "namespace": f"ns{i % 5}"},
                         "spec": {"selector": "all()", "ingress": [{"action": "Deny", "protocol": "UDP",
                                                                    "destination": {"ports": [53]}}]}})
        elif k < 16:
            docs.append({"apiVersion": v3, "kind": "Profile", "metadata": {"name": f"prof-{i}"},
                         "spec": {"labelsToApply": {"team": f"t{i % 7}"},
                                  "ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}})
        elif k < 18:
            docs.append({"apiVersion": v3, "kind": "HostEndpoint",
                         "metadata": {"name": f"hep-{i}", "labels": {"host": f"h{i % 10}"}},
                         "spec": {"node": f"node{i % 10}", "interfaceName": "eth0",
                                  "expectedIPs": [f"192.168.{i // 256}.{i % 256}"]}})
        else:
            docs.append({"apiVersion": v3, "kind": "GlobalNetworkSet",
                         "metadata": {"name": f"gns-{i}", "labels": {"set": f"s{i % 3}"}},
                         "spec": {"nets": [f"198.51.{i % 256}.0/24"]}})
    return docs


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    etcd = EtcdServer().start()
    try:
        env = dict(os.environ, DATASTORE_TYPE="etcdv3", ETCD_ENDPOINTS=etcd.url)
        docs = mixed_resources(args.count)
        path = Path(tempfile.mkdtemp()) / "resources.yaml"
        import yaml

        path.write_text(yaml.safe_dump_all(docs))
        # The raw side writes the same stored keys and values, one put each, in one process.
        from calico.api import parse_resource
        from calico.datastore import keys
        from calico.datastore.resources import encode

        stored = []
        for d in docs:
            r = parse_resource(d)
            kind, ns, name = r.identity()
            stored.append((keys.resource_key(kind, name, ns), encode(r.to_dict())))

        async def raw_put() -> None:
            import aetcd

            async with aetcd.Client(host="127.0.0.1", port=etcd.port) as c:
                for k, v in stored:
                    await c.put(k.encode(), v.encode())

        async def raw_get() -> int:
            import aetcd

            async with aetcd.Client(host="127.0.0.1", port=etcd.port) as c:
                rng = await c.get_prefix(b"/calico/resources/v3/")
                return len([json.loads(kv.value) for kv in rng])

        raw_get_yaml = (
            "import asyncio, json, yaml, aetcd\n"
            "async def m():\n"
            f"    async with aetcd.Client(host='127.0.0.1', port={etcd.port}) as c:\n"
            "        r = await c.get_prefix(b'/calico/resources/v3/projectcalico.org/globalnetworkpolicies/')\n"
            "        print(yaml.dump([json.loads(kv.value) for kv in r], Dumper=yaml.CSafeDumper))\n"
            "asyncio.run(m())\n")
        results: dict[str, list[float]] = {k: [] for k in ("apply", "raw_put", "get", "raw_get", "etcdctl_get",
                                                           "raw_get_yaml", "startup")}
        for _ in range(args.rounds):
            etcd.wipe()
            results["apply"].append(timed(lambda: subprocess.run(
                [CALICOCTL, "apply", "-f", str(path)], env=env, check=True, capture_output=True)))
            results["get"].append(timed(lambda: subprocess.run(
                [CALICOCTL, "get", "globalnetworkpolicies", "-o", "yaml"], env=env, check=True,
                capture_output=True)))
            etcd.wipe()
            results["raw_put"].append(timed(lambda: asyncio.run(raw_put())))
            results["raw_get"].append(timed(lambda: asyncio.run(raw_get())))
            results["etcdctl_get"].append(timed(lambda: subprocess.run(
                ["etcdctl", "--endpoints", etcd.url, "get", "--prefix",
                 "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/"],
                env={"ETCDCTL_API": "3", "PATH": os.environ["PATH"]}, check=True, capture_output=True)))
            etcd.wipe()
            asyncio.run(raw_put())
            results["raw_get_yaml"].append(timed(lambda: subprocess.run(
                [sys.executable, "-c", raw_get_yaml], check=True, capture_output=True)))
            results["startup"].append(timed(lambda: subprocess.run(
                [CALICOCTL, "version", "--client"], check=True, capture_output=True)))
        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"resources: {args.count} mixed (IPPool, GNP, NP, Profile, HEP, GNS); rounds: {args.rounds}")
        print(f"calicoctl apply -f (1 file)      {med['apply']:.3f} s")
        print(f"raw aetcd put of same keys       {med['raw_put']:.3f} s   ratio {med['apply'] / med['raw_put']:.2f}x")
        print(f"calicoctl get gnp -o yaml        {med['get']:.3f} s")
        print(f"etcdctl get --prefix (gnp)       {med['etcdctl_get']:.3f} s   "
              f"ratio {med['get'] / med['etcdctl_get']:.2f}x")
        print(f"python raw client + yaml dump    {med['raw_get_yaml']:.3f} s   "
              f"ratio {med['get'] / med['raw_get_yaml']:.2f}x")
        print(f"raw aetcd get_prefix (all, in-process) {med['raw_get']:.3f} s")
        print(f"calicoctl start-up floor (version --client) {med['startup']:.3f} s")
        return 0
    finally:
        etcd.remove()


if __name__ == "__main__":
    sys.exit(main())

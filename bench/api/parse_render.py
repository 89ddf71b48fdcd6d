"""Cost of Calico's API layer relative to plain JSON decoding, measured side by side.

For each resource shape: json.loads of the stored value (the floor any reader pays), then
Resource.from_stored (decode + defaults, the datastore read path), parse_resource (decode +
defaults + full validation, the write path) and to_stored_json (render).  Prints per-object
times and ratios to json.loads; asserts nothing.

    .venv/bin/python bench/api/parse_render.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from calico.api import parse_resource
from calico.api.meta import Resource


def _wep(i: int) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
            "metadata": {"namespace": "default", "labels": {"app": "web", "tier": "frontend"}},
            "spec": {"orchestrator": "k8s", "node": "node-1", "pod": f"web-{i}", "endpoint": "eth0",
                     "interfaceName": f"cali{i:011d}", "ipNetworks": [f"10.0.{i // 250}.{i % 250 + 1}/32"],
                     "profiles": ["kns.default", "ksa.default.default"], "mac": "ca:fe:00:00:00:01"}}


def _gnp(i: int) -> dict[str, Any]:
    rules = [{"action": "Allow", "protocol": "TCP", "source": {"selector": f"role == 'r{j}'",
                                                               "nets": ["10.0.0.0/8"]},
              "destination": {"ports": [80, "8000:8080"]}} for j in range(10)]
    return {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
            "metadata": {"name": f"policy-{i}"},
            "spec": {"order": 100, "selector": "app == 'web'", "ingress": rules, "egress": rules[:2]}}


def _pool(i: int) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": f"pool-{i}"},
            "spec": {"cidr": f"10.{i % 250}.0.0/16", "natOutgoing": True}}


def _per_item(fn: Callable[[Any], Any], items: list[Any], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for it in items:
            fn(it)
        best = min(best, (time.perf_counter() - start) / len(items))
    return best


def main() -> None:
    print(f"{'shape':<22}{'json.loads':>12}{'from_stored':>14}{'parse+validate':>16}{'render':>12}")
    for label, make, n in (("WorkloadEndpoint", _wep, 2000), ("GNP (12 rules)", _gnp, 300),
                           ("IPPool", _pool, 2000)):
        resources = [parse_resource(make(i)) for i in range(n)]
        stored = [r.to_stored_json() for r in resources]
        docs = [r.to_dict() for r in resources]
        t_json = _per_item(json.loads, stored)
        t_read = _per_item(Resource.from_stored, stored)
        t_parse = _per_item(parse_resource, docs)
        t_render = _per_item(lambda r: r.to_stored_json(), resources)
        print(f"{label:<22}{t_json * 1e6:>10.1f}us{t_read * 1e6:>12.1f}us{t_parse * 1e6:>14.1f}us"
              f"{t_render * 1e6:>10.1f}us")
        print(f"{'  ratio to json.loads':<22}{1.0:>12.1f}{t_read / t_json:>14.1f}{t_parse / t_json:>16.1f}"
              f"{t_render / t_json:>12.1f}")


if __name__ == "__main__":
    main()

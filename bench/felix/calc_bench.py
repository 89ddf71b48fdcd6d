"""Felix's pure layers at scale: calc graph start-up and incremental latency, rule rendering.

Run: .venv/bin/python bench/felix/calc_bench.py
Prints ratios measured side by side in one run (the baseline is decoding the same JSON values),
and the total iptables rule count of the local state with policy-group chains (the default) beside
the same state with every policy jump inline, for 10 and 50 distinct endpoint label sets.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.unit.felix.calc_helpers import KV, kv, np, wep

from calico.felix import messages as m
from calico.felix.calc.graph import CalcGraph
from calico.felix.rules.model import Chain
from calico.felix.rules.render import RenderConfig, RuleRenderer, count_rules

N_LOCAL, N_REMOTE, N_POLICIES, N_NS = 250, 9750, 1000, 10


def dataset(label_sets: int = 50) -> list[KV]:
    """Endpoints carry one of ``label_sets`` app labels (``label_sets`` a multiple of N_NS, so the
    namespace follows the app); policy i selects app i % label_sets in its namespace."""
    kvs: list[KV] = []
    for i in range(N_LOCAL + N_REMOTE):
        node = "host1" if i < N_LOCAL else f"host{2 + i % 40}"
        ip = f"10.{i // 62500}.{(i // 250) % 250}.{i % 250 + 1}/32"
        kvs.append(wep(f"w{i}", node, ip, {"app": f"app{i % label_sets}", "role": f"r{i % 100}"},
                       ns=f"ns{i % N_NS}", profiles=(f"kns.ns{i % N_NS}",)))
    for i in range(N_NS):
        kvs.append(kv("Profile", f"kns.ns{i}", {"labelsToApply": {"pcns.name": f"ns{i}"},
                                                "ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}))
    for i in range(N_POLICIES):
        kvs.append(np(f"p{i}", f"ns{i % N_NS}", f"app == 'app{i % label_sets}'", order=i,
                      ingress=[{"action": "Allow", "protocol": "TCP", "source": {"selector": f"role == 'r{i % 100}'"},
                                "destination": {"ports": [80 + i % 50]}}],
                      egress=[{"action": "Allow", "destination": {"nets": ["10.0.0.0/8", "192.168.0.0/16"]}}]))
    return kvs


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def render_all(r: RuleRenderer, msgs: list[m.Message]) -> list[Chain]:
    """Every policy, profile, endpoint and dispatch chain of the messages; a policy-group chain
    shared by several endpoints is listed once, as the kernel holds it once."""
    chains: list[Chain] = []
    ifaces = []
    for msg in msgs:
        if isinstance(msg, m.ActivePolicyUpdate):
            chains += r.policy_chains(msg.id, msg.policy, 4)
        elif isinstance(msg, m.ActiveProfileUpdate):
            chains += r.profile_chains(msg.id, msg.profile, 4)
        elif isinstance(msg, m.WorkloadEndpointUpdate):
            chains += r.workload_endpoint_chains(msg.endpoint.name, msg.endpoint, 4)
            ifaces.append(msg.endpoint.name)
    chains += r.workload_dispatch_chains(ifaces, 4)
    return list({c.name: c for c in chains}.values())


def local_state(label_sets: int) -> list[m.Message]:
    g = CalcGraph("host1")
    for k, v in dataset(label_sets):
        g.on_update(k, v)
    g.on_in_sync()
    return g.flush()


def rule_counts() -> None:
    """Total rules with policy groups vs inline jumps: groups make it grow with endpoints +
    policies instead of endpoints x policies-per-endpoint."""
    for label_sets in (10, 50):
        msgs = local_state(label_sets)
        n_eps = sum(isinstance(x, m.WorkloadEndpointUpdate) for x in msgs)
        n_pols = sum(isinstance(x, m.ActivePolicyUpdate) for x in msgs)
        grouped = render_all(RuleRenderer(RenderConfig()), msgs)
        inline = render_all(RuleRenderer(RenderConfig(policy_group_min_size=0)), msgs)
        n_groups = sum(c.name.startswith(("cali-gi-", "cali-go-")) for c in grouped)
        g, i = count_rules(grouped), count_rules(inline)
        print(f"rules, {n_eps} endpoints in {label_sets} label sets, {n_pols} policies: "
              f"{g} with {n_groups} policy-group chains vs {i} inline ({i / g:.1f}x fewer)")


def main() -> None:
    kvs = dataset()
    members = 0
    t0 = time.perf_counter()
    for _, v in kvs:
        json.loads(v or "{}")
    t_json = time.perf_counter() - t0

    t0 = time.perf_counter()
    g = CalcGraph("host1")
    for k, v in kvs:
        g.on_update(k, v)
    g.on_in_sync()
    msgs = g.flush()
    t_calc = time.perf_counter() - t0
    members = sum(len(x.members) for x in msgs if isinstance(x, m.IPSetUpdate))

    r = RuleRenderer(RenderConfig())
    t0 = time.perf_counter()
    chains = render_all(r, msgs)
    text = "\n".join(f"-A {c.name} {rule.render()}" for c in chains for rule in c.rules)
    t_render = time.perf_counter() - t0

    adds = []
    for j in range(50):
        s = time.perf_counter()
        g.on_update(*wep(f"n{j}", "host1", f"10.200.0.{j + 1}/32", {"app": f"app{j}", "role": f"r{j}"},
                         ns=f"ns{j % N_NS}", profiles=(f"kns.ns{j % N_NS}",)))
        g.flush()
        adds.append(time.perf_counter() - s)
    changes = []
    for j in range(50):
        s = time.perf_counter()
        g.on_update(*np(f"p{j}", f"ns{j % N_NS}", f"app == 'app{j % 50}'", order=j,
                        ingress=[{"action": "Deny", "source": {"selector": f"role == 'r{(j + 7) % 100}'"}}]))
        g.flush()
        changes.append(time.perf_counter() - s)

    print(f"dataset: {N_LOCAL} local + {N_REMOTE} remote endpoints, {N_POLICIES} policies, "
          f"{members} IP set members, {len(msgs)} messages")
    print(f"calc cold start: {t_calc:.3f} s  (JSON decode alone {t_json:.3f} s, ratio {t_calc / t_json:.1f}x)")
    print(f"render: {t_render:.3f} s for {len(chains)} chains / {count_rules(chains)} rules "
          f"({len(text) / 1e6:.1f} MB of rule text)")
    print(f"endpoint add -> messages: p50 {statistics.median(adds) * 1e3:.2f} ms, "
          f"p99 {percentile(adds, 99) * 1e3:.2f} ms")
    print(f"policy change -> messages: p50 {statistics.median(changes) * 1e3:.2f} ms, "
          f"p99 {percentile(changes, 99) * 1e3:.2f} ms")
    rule_counts()


if __name__ == "__main__":
    main()

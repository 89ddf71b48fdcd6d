"""Linux driver micro-benchmark: our drivers vs one raw restore of the same final state.

Run as root: ``.venv/bin/python bench/felix/drivers_bench.py [--chains 1000] [--rules 10]
[--members 10000] [--routes 250] [--repeat 7]``. Every measurement runs in a fresh network
namespace created here and deleted afterwards; medians of ``--repeat`` runs; ratios are
driver / raw measured side by side in the same run, so they are comparable across machines.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from calico.felix.rules.model import Chain, Rule
from calico.linux.ipsets import IPSetMetadata, IPSets
from calico.linux.iptables import Table
from calico.linux.iptables_text import chain_hashes, rule_spec
from calico.linux.routes import RouteTable, Target

PREFIX = f"drvbench{os.getpid() % 10000}-"


def sh(*argv: str, input: str | None = None) -> None:
    subprocess.run(argv, input=input, text=True, check=True, capture_output=True)


class Ns:
    counter = 0

    def __enter__(self) -> str:
        Ns.counter += 1
        self.name = f"{PREFIX}{Ns.counter}"
        sh("ip", "netns", "add", self.name)
        return self.name

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)


def in_ns(ns: str, *argv: str, input: str | None = None) -> None:
    sh("nsenter", f"--net=/run/netns/{ns}", "--", *argv, input=input)


# --- workload shapes ------------------------------------------------------------------------
def policy_chains(n_chains: int, n_rules: int) -> list[Chain]:
    """Calico-shaped: per-policy chains with port/set matches and MARK actions + a dispatch chain."""
    chains = []
    for c in range(n_chains):
        rules = tuple(
            Rule(f"-p tcp -m set --match-set cali40s:set{c % 50} src -m multiport --destination-ports {1000 + r}",
                 "-j MARK --set-xmark 0x10000/0x10000", f"Policy pol{c} rule {r}")
            for r in range(n_rules))
        chains.append(Chain(f"cali-pi-pol{c}", rules))
    dispatch = tuple(Rule(f"-m mark --mark 0x0/0x30000 -i cali{c:011x}", f"-j cali-pi-pol{c}")
                     for c in range(n_chains))
    chains.append(Chain("cali-from-wl-dispatch", dispatch))
    return chains


def raw_restore_text(chains: list[Chain]) -> str:
    lines = ["*filter"] + [f":{c.name} - -" for c in chains]
    for c in chains:
        for rule, h in zip(c.rules, chain_hashes(c), strict=True):
            lines.append(f"-A {c.name} {rule_spec(rule, h)}")
    lines.append("-I FORWARD 1 -j cali-from-wl-dispatch")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def ipset_shape(n_members: int, n_sets: int = 50) -> dict[str, list[str]]:
    per = max(1, n_members // n_sets)
    return {f"cali40s:set{s}": [f"10.{s}.{i // 250}.{i % 250 + 1}" for i in range(per)] for s in range(n_sets)}


def raw_ipset_text(sets: dict[str, list[str]]) -> str:
    lines = []
    for name, members in sets.items():
        lines.append(f"create {name} hash:net family inet maxelem 1048576")
        lines.extend(f"add {name} {m}" for m in members)
    return "\n".join(lines) + "\n"


# --- measurements ---------------------------------------------------------------------------
def timed_pair(setup: Callable[[str], object], driver: Callable[[str, object], None],
               raw: Callable[[str, object], None], repeat: int) -> tuple[float, float]:
    """Median seconds of driver and raw, run alternately (each in a fresh namespace) so that load
    from other processes on this shared machine hits both sides alike."""
    samples: dict[str, list[float]] = {"driver": [], "raw": []}
    for i in range(repeat):
        order = [("driver", driver), ("raw", raw)]
        if i % 2:
            order.reverse()
        for label, action in order:
            with Ns() as ns:
                ctx = setup(ns)
                start = time.perf_counter()
                action(ns, ctx)
                samples[label].append(time.perf_counter() - start)
    return statistics.median(samples["driver"]), statistics.median(samples["raw"])


def bench(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    chains = policy_chains(args.chains, args.rules)
    n_rules = sum(len(c.rules) for c in chains)
    restore_text = raw_restore_text(chains)
    sets = ipset_shape(args.members)
    ipset_text = raw_ipset_text(sets)
    rows: list[tuple[str, float, float]] = []

    def sets_in(ns: str) -> None:
        in_ns(ns, "ipset", "restore", input=ipset_text)

    # 1. iptables cold start: Table (read-back + one restore) vs raw iptables-restore.
    def table_cold(ns: str, _: object) -> None:
        t = Table("filter", netns=ns)
        t.update_chains(chains)
        t.set_rule_inserts("FORWARD", [Rule("", "-j cali-from-wl-dispatch")])
        t.apply()

    drv, raw = timed_pair(sets_in, table_cold,
                          lambda ns, _: in_ns(ns, "iptables-restore", "--noflush", input=restore_text),
                          args.repeat)
    rows.append((f"iptables cold start: {len(chains)} chains, {n_rules} rules", drv, raw))

    # 2. iptables: one chain changed with the table loaded.
    def loaded_table(ns: str) -> Table:
        sets_in(ns)
        t = Table("filter", netns=ns)
        t.update_chains(chains)
        t.set_rule_inserts("FORWARD", [Rule("", "-j cali-from-wl-dispatch")])
        t.apply()
        return t

    changed = Chain(chains[0].name, (*chains[0].rules[1:], Rule("-p udp", "-j RETURN")))
    one_chain_text = raw_restore_text([changed]).replace("-I FORWARD 1 -j cali-from-wl-dispatch\n", "")

    def table_one(ns: str, t: object) -> None:
        assert isinstance(t, Table)
        t.update_chain(changed)
        t.apply()

    drv, raw = timed_pair(loaded_table, table_one,
                          lambda ns, _: in_ns(ns, "iptables-restore", "--noflush", input=one_chain_text),
                          args.repeat)
    rows.append((f"iptables: rewrite 1 of {len(chains)} chains", drv, raw))

    # 2b. A new endpoint: two new per-endpoint chains and the dispatch chain rewritten with one more entry.
    dispatch = chains[-1]
    new_ep = [Chain("cali-tw-calinew00000001", (Rule("-m conntrack --ctstate RELATED,ESTABLISHED", "-j ACCEPT"),
                                                Rule("", "-j cali-pi-pol0"))),
              Chain("cali-fw-calinew00000001", (Rule("-m conntrack --ctstate RELATED,ESTABLISHED", "-j ACCEPT"),
                                                Rule("", "-j cali-pi-pol1"))),
              Chain(dispatch.name, (*dispatch.rules, Rule("-i calinew00000001", "-g cali-fw-calinew00000001")))]
    new_ep_text = raw_restore_text(new_ep).replace("-I FORWARD 1 -j cali-from-wl-dispatch\n", "")

    def table_new_ep(ns: str, t: object) -> None:
        assert isinstance(t, Table)
        t.update_chains(new_ep)
        t.apply()

    drv, raw = timed_pair(loaded_table, table_new_ep,
                          lambda ns, _: in_ns(ns, "iptables-restore", "--noflush", input=new_ep_text),
                          args.repeat)
    rows.append((f"iptables: new endpoint (2 chains + {len(dispatch.rules) + 1}-rule dispatch rewrite)", drv, raw))

    # 3. ipsets cold start.
    def ipsets_cold(ns: str, _: object) -> None:
        s = IPSets(4, netns=ns)
        for name, members in sets.items():
            s.add_or_replace_ipset(IPSetMetadata(name, "hash:net"), members)
        s.apply_updates()

    drv, raw = timed_pair(lambda ns: None, ipsets_cold,
                          lambda ns, _: in_ns(ns, "ipset", "restore", input=ipset_text), args.repeat)
    rows.append((f"ipset cold start: {len(sets)} sets, {sum(map(len, sets.values()))} members", drv, raw))

    # 4. ipsets: add one member with everything loaded.
    def loaded_sets(ns: str) -> IPSets:
        s = IPSets(4, netns=ns)
        for name, members in sets.items():
            s.add_or_replace_ipset(IPSetMetadata(name, "hash:net"), members)
        s.apply_updates()
        return s

    def sets_one(ns: str, s: object) -> None:
        assert isinstance(s, IPSets)
        s.add_members("cali40s:set0", ["10.250.0.1"])
        s.apply_updates()

    drv, raw = timed_pair(loaded_sets, sets_one,
                          lambda ns, _: in_ns(ns, "ipset", "restore", input="add cali40s:set0 10.250.0.1\n"),
                          args.repeat)
    rows.append(("ipset: add 1 member", drv, raw))

    # 5. Combined cold start (what Felix does at start of day) vs the two raw restores.
    def combined(ns: str, _: object) -> None:
        ipsets_cold(ns, None)
        table_cold(ns, None)

    def combined_raw(ns: str, _: object) -> None:
        in_ns(ns, "ipset", "restore", input=ipset_text)
        in_ns(ns, "iptables-restore", "--noflush", input=restore_text)

    drv, raw = timed_pair(lambda ns: None, combined, combined_raw, args.repeat)
    rows.append(("cold start: ipsets + iptables together", drv, raw))

    # 6. Routes: RouteTable (netlink) vs `ip -batch`.
    def with_veths(ns: str) -> None:
        batch = []
        for i in range(args.routes):
            batch.append(f"link add cali{i:011x} type veth peer name p{i}")
            batch.append(f"link set cali{i:011x} up")
            batch.append(f"link set p{i} up")
        in_ns(ns, "ip", "-batch", "-", input="\n".join(batch) + "\n")

    def routes_drv(ns: str, _: object) -> None:
        rt = RouteTable(4, netns=ns)
        for i in range(args.routes):
            rt.set_routes(f"cali{i:011x}", [Target(f"10.65.{i // 250}.{i % 250 + 1}/32")])
        rt.apply()
        rt.close()

    route_batch = "\n".join(f"route add 10.65.{i // 250}.{i % 250 + 1}/32 dev cali{i:011x} scope link"
                            for i in range(args.routes)) + "\n"
    drv, raw = timed_pair(with_veths, routes_drv,
                          lambda ns, _: in_ns(ns, "ip", "-batch", "-", input=route_batch), args.repeat)
    rows.append((f"routes: {args.routes} workload routes (netlink vs ip -batch)", drv, raw))
    return rows


def main() -> int:
    if os.geteuid() != 0:
        print("run as root (creates network namespaces)", file=sys.stderr)
        return 1
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--chains", type=int, default=1000)
    p.add_argument("--rules", type=int, default=10)
    p.add_argument("--members", type=int, default=10000)
    p.add_argument("--routes", type=int, default=250)
    p.add_argument("--repeat", type=int, default=7)
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    rows = bench(args)
    print("| operation | driver (s) | raw (s) | driver / raw |")
    print("|---|---|---|---|")
    for name, drv, raw in rows:
        print(f"| {name} | {drv:.4f} | {raw:.4f} | {drv / raw:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

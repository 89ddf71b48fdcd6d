"""Selector benchmark: parse (cold vs cached) and evaluate (tree walk, compiled, hand-written).

Pure CPU, no I/O.  Builds N realistic policy selectors and M endpoint label maps, then in one run
measures, side by side:

* parsing every selector uncached vs through ``parse_selector``'s cache (what Felix sees on
  repeated updates);
* evaluating every selector against every endpoint by walking the tree, with the compiled
  predicate ``Selector.evaluate`` uses, and with a hand-written Python lambda for the same
  expression (the fastest plain-Python baseline).

Bounded: ``--rounds`` rounds (default 3), medians reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from calico.selector import parse_selector
from calico.selector.compile import compile_predicate
from calico.selector.parser import _parse_uncached


def make_selectors(n: int) -> list[tuple[str, str]]:
    """(selector text, equivalent Python expression over ``L``) pairs."""
    out: list[tuple[str, str]] = []
    for i in range(n):
        app, role, ns = f"a{i % 50}", f"r{i % 7}", f"ns{i % 13}"
        kind = i % 4
        if kind == 0:
            sel = f"app == '{app}' && projectcalico.org/namespace == '{ns}'"
            py = f"L.get('app') == '{app}' and L.get('projectcalico.org/namespace') == '{ns}'"
        elif kind == 1:
            sel = f"(role in {{'{role}', 'x', 'y'}} || has(debug)) && !has(quarantine)"
            py = f"(L.get('role') in ('{role}', 'x', 'y') or 'debug' in L) and 'quarantine' not in L"
        elif kind == 2:
            sel = f"tier != 'db' && app starts with 'a{i % 5}' && pcns.env == 'prod'"
            py = f"L.get('tier') != 'db' and L.get('app', '\\0').startswith('a{i % 5}') and L.get('pcns.env') == 'prod'"
        else:
            sel = f"has(app) && version not in {{'v1', 'v2'}} && app contains '{i % 10}'"
            py = f"'app' in L and L.get('version') not in ('v1', 'v2') and '{i % 10}' in L.get('app', '')"
        out.append((sel, py))
    return out


def make_endpoints(m: int) -> list[dict[str, str]]:
    eps = []
    for j in range(m):
        labels = {
            "app": f"a{j % 60}",
            "role": f"r{j % 9}",
            "projectcalico.org/namespace": f"ns{j % 13}",
            "pcns.env": "prod" if j % 3 else "dev",
            "version": f"v{j % 4}",
        }
        if j % 11 == 0:
            labels["debug"] = ""
        if j % 17 == 0:
            labels["quarantine"] = "yes"
        eps.append(labels)
    return eps


def timed(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--selectors", type=int, default=400)
    ap.add_argument("--endpoints", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    pairs = make_selectors(args.selectors)
    texts = [t for t, _ in pairs]
    eps = make_endpoints(args.endpoints)

    cold = timed(lambda: [_parse_uncached(t) for t in texts], args.rounds)
    for t in texts:
        parse_selector(t)
    warm = timed(lambda: [parse_selector(t) for t in texts], args.rounds)

    sels = [parse_selector(t) for t in texts]
    lambdas = [eval(f"lambda L: {py}") for _, py in pairs]  # baseline only; trusted local text
    for sel, fn in zip(sels, lambdas, strict=True):
        for ep in eps:
            assert sel.evaluate(ep) == bool(fn(ep)), (sel.canonical(), ep)

    roots = [s.root for s in sels]
    walk = timed(lambda: [r.evaluate(ep) for r in roots for ep in eps], args.rounds)
    compiled = timed(lambda: [s.evaluate(ep) for s in sels for ep in eps], args.rounds)
    native = timed(lambda: [fn(ep) for fn in lambdas for ep in eps], args.rounds)
    build = timed(lambda: [compile_predicate(r) for r in roots], args.rounds)

    n_eval = len(sels) * len(eps)
    print(f"selectors={len(texts)} endpoints={len(eps)} rounds={args.rounds} (medians)")
    print(f"parse uncached : {cold * 1e6 / len(texts):8.1f} us/selector")
    print(f"parse cached   : {warm * 1e6 / len(texts):8.2f} us/selector   ratio uncached/cached = {cold / warm:.0f}x")
    print(f"compile        : {build * 1e6 / len(roots):8.1f} us/selector (once, on first evaluate)")
    print(f"eval tree walk : {walk * 1e9 / n_eval:8.0f} ns/eval")
    print(f"eval compiled  : {compiled * 1e9 / n_eval:8.0f} ns/eval   ratio walk/compiled = {walk / compiled:.1f}x")
    print(f"eval hand-coded: {native * 1e9 / n_eval:8.0f} ns/eval   ratio compiled/hand = {compiled / native:.2f}x")


if __name__ == "__main__":
    main()

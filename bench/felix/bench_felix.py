#!/usr/bin/env python3
"""Felix benchmark, all side by side in one run (issue 4):

(a) cold start with E local endpoints, P policies and M ipset members: Felix start -> fully
    programmed, beside one raw ``ipset restore`` + ``iptables-restore`` of the same final state
    (dumped with ipset save / iptables-save, replayed into a fresh namespace); total rule count at
    two sizes (E/2, P/2 and E, P) to show it grows with E + P, not E x P;
(b) one new endpoint with that state present: datastore write -> packets flow to it (routes,
    sysctls, chains and dispatch in place), p50/p99 over N additions;
(c) a policy change -> enforced (a prober sees new connections flip), p50/p99;
(d) the data path through that policy (10k-member ipset in the path) vs the same topology with no
    iptables rules at all and with only a conntrack ESTABLISHED accept: TCP throughput (iperf3,
    default offloads and sender TSO/GSO off), round-trip latency (sockperf and Python ping-pong,
    client and server on one core), new connections per second; states alternate round by round
    (``--d-states``, ``--d-rounds``), ratios are printed against both baselines.

Every process is started here and stopped by PID; every namespace is ``bfx-*`` and deleted at the
end. Usage (root, from the repo root): .venv/bin/python bench/felix/bench_felix.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.fv.felix.support import Store, veth_name  # noqa: E402
from tests.support.etcd import EtcdServer  # noqa: E402
from tests.support.procs import stop_process, wait_until  # noqa: E402

PY = sys.executable
PINGPONG = str(Path(__file__).with_name("pingpong.py"))
NS = "bfx-"
HOST = NS + "host"
UP = NS + "up"
SRC_IP, DST_IP = "10.70.0.1", "10.70.0.2"
PROBE = r"""
import socket, sys, time
ip, port, want, deadline = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "ok", float(sys.argv[4])
print("ready", flush=True)
end = time.time() + deadline
while time.time() < end:
    s = socket.socket(); s.settimeout(0.004)
    try:
        s.connect((ip, port)); ok = True
    except OSError:
        ok = False
    s.close()
    if ok == want:
        print(repr(time.time()), flush=True); sys.exit(0)
    if not ok:
        time.sleep(0.001)
print("timeout", flush=True); sys.exit(1)
"""
LISTEN = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(512)
while True:
    c, _ = s.accept(); c.close()
"""


def sh(*argv: str, check: bool = True, input: str | None = None, timeout: float = 120) -> str:
    r = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout


def nx(ns: str, *argv: str, **kw: Any) -> str:
    return sh("ip", "netns", "exec", ns, *argv, **kw)


def popen(ns: str, argv: list[str], **kw: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], text=True, start_new_session=True, **kw)


def pct(vals: list[float], p: float) -> float:
    s = sorted(vals)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


class Bench:
    def __init__(self, quick: bool) -> None:
        self.quick = quick
        self.E, self.P, self.M = (50, 200, 2000) if quick else (250, 1000, 10000)
        self.N_ADD = 10 if quick else 50
        self.N_POL = 10 if quick else 50
        self.tmp = Path(tempfile.mkdtemp(prefix="bfx-"))
        self.etcd = EtcdServer().start()
        self.store = Store(self.etcd.unix_url)
        self.procs: list[subprocess.Popen[Any]] = []
        self.felix: subprocess.Popen[Any] | None = None
        self.felix_log = self.tmp / "felix.log"
        self.results: dict[str, Any] = {}
        self.namespaces: list[str] = []
        self.parts = "abcd"
        self.samples: list[tuple[str, float, float, float]] = []
        self.keep_log = ""
        self.a_rounds = 3
        self.d_rounds = 0  # (d): 0 = default (7, or 2 with --quick)
        self.d_states = self.D_STATES
        self.d_nice = -20
        self.alt_src = ""
        self.felix_env: dict[str, str] = {}  # extra FELIX_* settings (--ipv6-support)

    # --- topology -------------------------------------------------------------------------------
    def netns(self, name: str) -> str:
        sh("ip", "netns", "add", name)
        self.namespaces.append(name)
        nx(name, "ip", "link", "set", "lo", "up")
        return name

    def build_host(self) -> None:
        self.netns(HOST)
        self.netns(UP)
        sh("ip", "link", "add", "bfxa", "type", "veth", "peer", "name", "bfxb")
        sh("ip", "link", "set", "bfxa", "netns", HOST)
        sh("ip", "link", "set", "bfxb", "netns", UP)
        nx(HOST, "ip", "link", "set", "bfxa", "name", "eth0")
        nx(HOST, "ip", "addr", "add", "10.200.0.1/24", "dev", "eth0")
        nx(HOST, "ip", "link", "set", "eth0", "up")
        nx(HOST, "ip", "route", "add", "default", "via", "10.200.0.2")
        nx(UP, "ip", "addr", "add", "10.200.0.2/24", "dev", "bfxb")
        nx(UP, "ip", "link", "set", "bfxb", "up")

    def workload(self, name: str, ip: str) -> tuple[str, str]:
        """A real workload namespace wired as the CNI plugin does; returns (netns, host iface)."""
        ns = self.netns(NS + name)
        iface = veth_name("cali", name)
        sh("ip", "link", "add", "bfxtmp", "type", "veth", "peer", "name", iface, "netns", HOST)
        sh("ip", "link", "set", "bfxtmp", "netns", ns)
        nx(ns, "ip", "link", "set", "bfxtmp", "name", "eth0")
        nx(HOST, "ip", "link", "set", iface, "address", "ee:ee:ee:ee:ee:ee")
        nx(HOST, "ip", "link", "set", iface, "up")
        nx(ns, "ip", "link", "set", "eth0", "up")
        nx(ns, "ip", "addr", "add", f"{ip}/32", "dev", "eth0")
        nx(ns, "ip", "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
        nx(ns, "ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
        return ns, iface

    def fake_ifaces(self, names: list[str]) -> None:
        """Host-side interfaces of endpoints with no traffic: veth pairs inside the host (oper-up)."""
        lines = []
        for i, name in enumerate(names):
            lines.append(f"link add {name} type veth peer name bfxp{i}")
            lines.append(f"link set {name} up")
            lines.append(f"link set bfxp{i} up")
        nx(HOST, "ip", "-batch", "-", input="\n".join(lines) + "\n")

    # --- datastore content -----------------------------------------------------------------------
    def wep(self, name: str, ip: str, iface: str, labels: dict[str, str]) -> dict[str, Any]:
        from calico.api import workload_endpoint_name

        return {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
                "metadata": {"name": workload_endpoint_name("bfx-host", "bench", name, "eth0"),
                             "namespace": "default", "labels": labels},
                "spec": {"orchestrator": "bench", "workload": name, "node": "bfx-host", "endpoint": "eth0",
                         "ipNetworks": [f"{ip}/32"], "profiles": ["default"], "interfaceName": iface}}

    def endpoint_ip(self, n: int) -> str:
        return f"10.71.{n // 250}.{n % 250 + 1}"

    def write_state(self, e: int, p: int, m: int) -> None:
        s = self.store
        s.wipe()
        s.apply({"apiVersion": "projectcalico.org/v3", "kind": "Profile", "metadata": {"name": "default"},
                 "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}})
        s.apply({"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "bench"},
                 "spec": {"cidr": "10.64.0.0/10", "ipipMode": "Never", "vxlanMode": "Never"}})
        s.apply({"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": "bfx-host"},
                 "spec": {"bgp": {"ipv4Address": "10.200.0.1/24"}}})
        nets = [f"172.{16 + i // 65536}.{(i // 256) % 256}.{i % 256}/32" for i in range(m)]
        s.apply({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkSet", "metadata": {
            "name": "db-nets", "labels": {"role": "db"}}, "spec": {"nets": nets}})
        s.apply(self.wep("src", SRC_IP, veth_name("cali", "src"), {"bench": "src", "role": "db"}))
        s.apply(self.wep("dst", DST_IP, veth_name("cali", "dst"), {"bench": "e0"}))
        for n in range(1, e - 1):
            s.apply(self.wep(f"e{n}", self.endpoint_ip(n), veth_name("cali", f"e{n}"), {"bench": f"e{n}"}))
        for i in range(p):
            s.apply({"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
                     "metadata": {"name": f"p{i}"},
                     "spec": {"order": i, "selector": f"bench == 'e{i % (e - 1)}'",
                              "ingress": [{"action": "Allow", "protocol": "TCP", "source": {"selector": "role == 'db'"},
                                           "destination": {"ports": [5201, "5300:5310", 8000 + i % 1000]}}],
                              "egress": [{"action": "Allow"}]}})

    # --- felix -------------------------------------------------------------------------------------
    def start_felix(self, src: str = "") -> float:
        """Start calico-felix in the host namespace; ``src`` runs another source tree instead
        (PYTHONPATH), for before/after comparisons of (a)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FELIX_", "ETCD_"))}
        env.update({"FELIX_FELIXHOSTNAME": "bfx-host", "ETCD_ENDPOINTS": self.etcd.unix_url,
                    "FELIX_LOGFILEPATH": "none", "FELIX_CONFIGFILE": str(self.tmp / "felix.cfg"),
                    "FELIX_REPORTINGINTERVALSECS": "0", "PYTHONUNBUFFERED": "1",
                    "FELIX_PROMETHEUSMETRICSENABLED": "true",
                    "FELIX_ENDPOINTSTATUSPATHPREFIX": str(self.tmp / "run-calico")})
        if src:
            env["PYTHONPATH"] = src
        env.update(self.felix_env)
        t0 = time.time()
        with open(self.felix_log, "w") as log:
            self.felix = popen(HOST, [PY, "-m", "calico.felix.daemon"], env=env, stdout=log,
                               stderr=subprocess.STDOUT)
        return t0

    def stop_felix(self) -> None:
        if self.felix is not None:
            stop_process(self.felix, timeout=10)
            self.felix = None

    def felix_in_sync(self) -> tuple[float, float] | None:
        text = self.felix_log.read_text(errors="replace")
        m = re.search(r"Dataplane in sync \(first apply ([\d.]+)s, ([\d.]+)s after start\)", text)
        if self.felix is not None and self.felix.poll() is not None:
            raise RuntimeError("felix exited:\n" + text[-3000:])
        return (float(m.group(1)), float(m.group(2))) if m else None

    def flush_kernel(self, ns: str) -> None:
        for table in ("raw", "mangle", "nat", "filter"):
            nx(ns, "iptables", "-t", table, "-F")
            nx(ns, "iptables", "-t", table, "-X")
            nx(ns, "ip6tables", "-t", table, "-F")  # Felix programs IPv6 too (Ipv6Support defaults to true)
            nx(ns, "ip6tables", "-t", table, "-X")
        nx(ns, "ipset", "destroy", check=False)

    def rule_count(self) -> int:
        dump = "".join(nx(HOST, "iptables-save", "-t", t) for t in ("raw", "mangle", "nat", "filter"))
        return sum(1 for line in dump.splitlines() if line.startswith("-A "))

    # --- (a) ---------------------------------------------------------------------------------------
    LOG_STAMPS = (("started", "Felix starting"), ("datastore_in_sync", "Datastore sync status: in-sync"),
                  ("dataplane_start", "In sync with the datastore and interfaces"),
                  ("programmed", "First dataplane apply complete"))

    def log_times(self) -> dict[str, float]:
        """Wall-clock time of Felix's start-up milestones, from its log's millisecond stamps."""
        out: dict[str, float] = {}
        for line in self.felix_log.read_text(errors="replace").splitlines():
            m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) ", line)
            if not m:
                continue
            for key, text in self.LOG_STAMPS:
                if key not in out and text in line:
                    out[key] = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1e3
        return out

    def cold_start(self, e: int, p: int, m: int, rounds: int = 1, alt_src: str = "") -> dict[str, Any]:
        """Felix from ``exec`` to fully programmed, ``rounds`` times on a flushed kernel (rules, sets
        and the workload routes); with ``alt_src``, rounds of that source tree alternate with the
        current one (the last run is always the current tree, left running for (b)-(d))."""
        self.stop_felix()
        self.flush_kernel(HOST)
        self.write_state(e, p, m)
        order = [w for _ in range(rounds) for w in (("alt", "current") if alt_src else ("current",))]
        runs: dict[str, list[dict[str, float]]] = {"current": [], "alt": []}
        for which in order:
            self.stop_felix()
            self.flush_kernel(HOST)
            nx(HOST, "ip", "route", "flush", "root", "10.64.0.0/10", "proto", "boot")  # the workload routes only
            t0 = self.start_felix(alt_src if which == "alt" else "")
            sync = wait_until(self.felix_in_sync, timeout=600, interval=0.01, what="felix cold start")
            stamps = self.log_times()
            run = {"first_apply_s": sync[0], "load_avg_1m": os.getloadavg()[0]}
            run.update({f"exec_to_{k}_s": v - t0 for k, v in stamps.items()})
            run["in_sync_to_programmed_s"] = stamps["programmed"] - stamps["datastore_in_sync"]
            runs[which].append(run)
            print(f"  (a) {which} E={e} P={p}: {json.dumps({k: round(v, 3) for k, v in run.items()})}", flush=True)

        def med(rs: list[dict[str, float]]) -> dict[str, float]:
            return {k: statistics.median(r[k] for r in rs) for k in rs[0]} if rs else {}

        return {"endpoints": e, "policies": p, "members": m, "rounds": rounds, **med(runs["current"]),
                "exec_to_programmed_s": med(runs["current"])["exec_to_programmed_s"],
                "rules": self.rule_count(), "alt": med(runs["alt"]), "runs": runs}

    def raw_restore(self) -> dict[str, float]:
        ipsets = nx(HOST, "ipset", "save")
        tables = {t: nx(HOST, "iptables-save", "-t", t) for t in ("raw", "mangle", "nat", "filter")}
        # The same final state includes Felix's IPv6 tables (Ipv6Support defaults to true).
        tables6 = {t: nx(HOST, "ip6tables-save", "-t", t) for t in ("raw", "mangle", "nat", "filter")}
        has6 = any(line.startswith("-A ") for t in tables6.values() for line in t.splitlines())
        fresh = self.netns(NS + "fresh")
        times = []
        for _ in range(3):
            self.flush_kernel(fresh)
            t0 = time.perf_counter()
            nx(fresh, "ipset", "restore", input=ipsets)
            nx(fresh, "iptables-restore", input="".join(tables.values()))
            if has6:
                nx(fresh, "ip6tables-restore", input="".join(tables6.values()))
            times.append(time.perf_counter() - t0)
        self.flush_kernel(fresh)
        return {"raw_restore_s": statistics.median(times), "ipset_lines": ipsets.count("\n"),
                "iptables_lines": sum(t.count("\n") for t in tables.values()),
                "ip6tables_lines": sum(t.count("\n") for t in tables6.values()) if has6 else 0}

    # --- probes ------------------------------------------------------------------------------------
    def probe(self, src_ns: str, ip: str, port: int, want_ok: bool) -> subprocess.Popen[str]:
        p = popen(src_ns, [PY, "-c", PROBE, ip, str(port), "ok" if want_ok else "fail", "20"],
                  stdout=subprocess.PIPE)
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
        return p

    def probe_result(self, p: subprocess.Popen[str]) -> float:
        out, _ = p.communicate(timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"probe failed: {out}")
        return float(out.strip().splitlines()[-1])

    # --- (b) ---------------------------------------------------------------------------------------
    def endpoint_adds(self, src_ns: str) -> dict[str, float]:
        lat = []
        for k in range(self.N_ADD):
            name, ip = f"add{k}", f"10.72.0.{k + 1}"
            ns, iface = self.workload(name, ip)
            srv = popen(ns, [PY, "-c", LISTEN, "9100"])
            try:
                wait_until(lambda ns=ns: "9100" in nx(ns, "ss", "-ltn"), timeout=5)
                pr = self.probe(src_ns, ip, 9100, True)
                t0 = time.time()
                self.store.apply(self.wep(name, ip, iface, {"bench": name}))
                t_written = time.time()
                lat.append(self.probe_result(pr) - t0)
                self.samples.append((iface, t0, t_written, t0 + lat[-1]))
            finally:
                stop_process(srv)
        return {"n": len(lat), "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
                "max_ms": max(lat) * 1e3, "raw_restore_floor_ms": self.raw_chain_write_ms(), **self.felix_metrics()}

    def felix_metrics(self) -> dict[str, float]:
        """Felix's own view (Prometheus summaries): mean calc-graph batch time and apply time."""
        get = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9091/metrics').read().decode())"
        text = nx(HOST, PY, "-c", get)
        vals = {}
        for line in text.splitlines():
            if line.startswith(("felix_calc_graph_update_time_seconds_", "felix_int_dataplane_apply_time_seconds_")):
                name, v = line.split()
                vals[name] = float(v)
        out = {}
        for base in ("felix_calc_graph_update_time_seconds", "felix_int_dataplane_apply_time_seconds"):
            n = vals.get(base + "_count", 0)
            out[base + "_mean_ms"] = vals.get(base + "_sum", 0) / n * 1e3 if n else 0.0
        return out

    def raw_chain_write_ms(self) -> float:
        """The floor under (b): one bare ``iptables-restore --noflush`` that adds two 12-rule chains
        and rewrites a 20-rule chain in the same populated filter table (median of 10)."""
        times = []
        for k in range(10):
            lines = ["*filter", f":cali-bx-a{k} - -", f":cali-bx-b{k} - -", ":cali-bx-disp - -"]
            lines += [f"-A cali-bx-a{k} -m mark --mark 0x10000/0x10000 -j RETURN"] * 12
            lines += [f"-A cali-bx-b{k} -m mark --mark 0x10000/0x10000 -j RETURN"] * 12
            lines += [f"-A cali-bx-disp -i calibx{j} -g cali-bx-a{k}" for j in range(20)]
            t0 = time.perf_counter()
            nx(HOST, "iptables-restore", "--noflush", input="\n".join([*lines, "COMMIT"]) + "\n")
            times.append(time.perf_counter() - t0)
        names = ["cali-bx-disp"] + [f"cali-bx-{x}{k}" for k in range(10) for x in "ab"]
        cleanup = ["*filter", *(f":{n} - -" for n in names), *(f"-X {n}" for n in names)]
        nx(HOST, "iptables-restore", "--noflush", input="\n".join([*cleanup, "COMMIT"]) + "\n")
        return statistics.median(times) * 1e3

    # --- (c) ---------------------------------------------------------------------------------------
    def policy_changes(self, src_ns: str, dst_ns: str) -> dict[str, float]:
        srv = popen(dst_ns, [PY, "-c", LISTEN, "9200"])
        lat_allow, lat_deny = [], []
        pol = {"apiVersion": "projectcalico.org/v3", "kind": "GlobalNetworkPolicy",
               "metadata": {"name": "flip"},
               "spec": {"order": 0, "selector": "bench == 'e0'", "types": ["Ingress"],
                        "ingress": [{"action": "Deny", "protocol": "TCP", "destination": {"ports": [9200]}}]}}
        try:
            wait_until(lambda: "9200" in nx(dst_ns, "ss", "-ltn"), timeout=5)
            for k in range(self.N_POL):
                deny = k % 2 == 0
                pol["spec"]["ingress"][0]["action"] = "Deny" if deny else "Allow"
                pr = self.probe(src_ns, DST_IP, 9200, not deny)
                t0 = time.time()
                self.store.apply(pol)
                t_written = time.time()
                (lat_deny if deny else lat_allow).append(self.probe_result(pr) - t0)
                self.samples.append(("policy", t0, t_written, t0 + (lat_deny if deny else lat_allow)[-1]))
        finally:
            stop_process(srv)
            self.store.delete("GlobalNetworkPolicy", "flip")
        both = lat_allow + lat_deny
        return {"n": len(both), "p50_ms": pct(both, 50) * 1e3, "p99_ms": pct(both, 99) * 1e3,
                "allow_p50_ms": pct(lat_allow, 50) * 1e3, "deny_p50_ms": pct(lat_deny, 50) * 1e3}

    # --- (d) ---------------------------------------------------------------------------------------
    # The states (d) alternates between, each loaded into a flushed host namespace:
    #   no_rules      no iptables table, chain or rule at all (so no conntrack either);
    #   ct_only       one ``FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT``: the floor
    #                 of Calico's design (policy accepts established flows by conntrack);
    #   felix         Felix's live state replayed exactly (its ipsets, chains and only the base chains
    #                 it created: no host endpoint, so no raw/mangle hooks; nat at POSTROUTING only);
    #   felix_hep     the same plus the raw/mangle hooks Felix adds while a host endpoint exists;
    #   felix_before  felix_hep plus the nat PREROUTING/OUTPUT hooks: this port's layout before hooks
    #                 followed host endpoints (always hooked, as Go Felix does);
    #   go_layout     felix_before without the conntrack fast path at the top of cali-FORWARD (Go
    #                 Felix's order of evaluation);
    #   old_replay    Felix's state replayed as the earlier bench did (iptables-save text with every
    #                 builtin chain declared, so every base chain of every table exists, empty).
    D_STATES = ("no_rules", "ct_only", "felix", "felix_before")
    D_ALL_STATES = (*D_STATES, "felix_hep", "go_layout", "old_replay")
    HEP_HOOKS = {"raw": ("-A PREROUTING -j cali-PREROUTING", "-A OUTPUT -j cali-OUTPUT"),
                 "mangle": ("-A PREROUTING -j cali-PREROUTING",)}
    NAT_HOOKS = {"nat": ("-A PREROUTING -j cali-PREROUTING", "-A OUTPUT -j cali-OUTPUT")}

    @staticmethod
    def used_base_chains_only(dump: str) -> str:
        """iptables-save text without the declarations of builtin chains that hold no rule:
        ``iptables-save`` prints ``:PREROUTING ACCEPT`` whether or not the (nft) base chain exists,
        and replaying that line creates it, hooking every packet through an empty chain."""
        sections: dict[str, str] = {}
        table = ""
        for line in dump.splitlines(keepends=True):
            if line.startswith("*"):
                table = line[1:].strip()
            sections[table] = sections.get(table, "") + line
        out = []
        for line in dump.splitlines(keepends=True):
            if line.startswith("*"):
                table = line[1:].strip()
            m = re.match(r":([A-Z]+) (ACCEPT|DROP) ", line)
            if m and f"\n-A {m.group(1)} " not in sections.get(table, ""):
                continue
            out.append(line)
        return "".join(out)

    def d_state_text(self, tables: str, state: str) -> str:
        """iptables-restore input for one of the rule-carrying (d) states."""
        if state == "old_replay":
            return tables
        felix = self.used_base_chains_only(tables)
        if state == "felix":
            return felix
        add = dict(self.HEP_HOOKS)
        if state in ("felix_before", "go_layout"):
            add.update(self.NAT_HOOKS)
        out, table, present = [], "", ""
        for line in felix.splitlines(keepends=True):
            if line.startswith("*"):
                table, present = line[1:].strip(), ""
            if line.startswith("COMMIT"):
                for hook in add.get(table, ()):
                    kchain, target = hook.split()[1], hook.split()[-1]
                    if not re.search(rf"^-A {kchain} .*-j {target}$", present, re.M):  # not hooked yet
                        out.append(hook + "\n")
            if state == "go_layout" and "Accept established workload traffic before dispatch" in line:
                continue
            present += line
            out.append(line)
        return "".join(out)

    def set_d_state(self, state: str, ipsets: str, tables: str) -> None:
        self.flush_kernel(HOST)
        # a set is released by the deleted rules a moment later (ipset: "in use by a kernel component")
        wait_until(lambda: not nx(HOST, "ipset", "destroy", check=False) and not nx(HOST, "ipset", "list", "-n"),
                   timeout=10, interval=0.05, what="ipsets destroyed")
        if state == "ct_only":
            nx(HOST, "iptables", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
               "-j", "ACCEPT")
        elif state != "no_rules":
            nx(HOST, "ipset", "restore", input=ipsets)
            nx(HOST, "iptables-restore", input=self.d_state_text(tables, state))

    def pin(self, cpu: int) -> list[str]:
        """Command prefix for a (d) measurement process: pinned to ``cpu`` as the reference did
        (baselines.md Part B), and at nice -20 (``--d-nice``) so the other work on this shared
        2-core machine takes fewer of its round trips; every run is bounded (seconds)."""
        return [*(["nice", "-n", str(self.d_nice)] if self.d_nice else []), "taskset", "-c", str(cpu)]

    def sockperf_rr(self, src_ns: str, dst_ns: str) -> dict[str, float]:
        """sockperf TCP ping-pong, 64 B, full RTT; client and server on the same core (cross-core
        wake-ups cost tens of us here and would hide the path)."""
        if not shutil.which("sockperf"):
            return {}
        srv = popen(dst_ns, [*self.pin(0), "timeout", "60", "sockperf", "sr", "--tcp", "-i", DST_IP,
                             "-p", "5303"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: "5303" in nx(dst_ns, "ss", "-ltn"), timeout=5)
            r = subprocess.run(["ip", "netns", "exec", src_ns, *self.pin(0), "timeout", "30", "sockperf",
                                "pp", "--tcp", "-i", DST_IP, "-p", "5303", "-m", "64",
                                "-t", "1" if self.quick else "2", "--full-rtt"],
                               capture_output=True, text=True, timeout=40)
        finally:
            stop_process(srv)
        text = r.stdout + r.stderr
        avg = re.search(r"avg-rtt=([\d.]+)", text)
        p50 = re.search(r"percentile 50\.000 =\s+([\d.]+)", text)
        p99 = re.search(r"percentile 99\.000 =\s+([\d.]+)", text)
        if not (avg and p50 and p99):
            raise RuntimeError(f"sockperf gave no result: {text[-600:]}")
        return {"sockperf_avg_us": float(avg.group(1)), "sockperf_p50_us": float(p50.group(1)),
                "sockperf_p99_us": float(p99.group(1))}

    def iperf_once(self, src_ns: str, dst_ns: str, tso: bool) -> float:
        """One iperf3 TCP run (client CPU 0, server CPU 1, 1 s omitted); ``tso=False`` turns the
        sender's TSO/GSO off so every 1500-byte packet walks the path (per-packet cost shows)."""
        if not tso:
            nx(src_ns, "ethtool", "-K", "eth0", "tso", "off", "gso", "off")
        srv = popen(dst_ns, [*self.pin(1), "timeout", "60", "iperf3", "-s", "-1", "-p", "5201"],
                    stdout=subprocess.DEVNULL)
        try:
            wait_until(lambda: "5201" in nx(dst_ns, "ss", "-ltn"), timeout=5)
            j = json.loads(nx(src_ns, *self.pin(0), "timeout", "60", "iperf3", "-J", "-c", DST_IP,
                              "-p", "5201", "-t", "2" if self.quick else "3", "-O", "1", check=False))
            if "error" in j:
                raise RuntimeError(f"iperf3: {j['error']}")
            return float(j["end"]["sum_received"]["bits_per_second"]) / 1e9
        finally:
            stop_process(srv)
            if not tso:
                nx(src_ns, "ethtool", "-K", "eth0", "tso", "on", "gso", "on")

    def datapath_once(self, src_ns: str, dst_ns: str) -> dict[str, float]:
        """One round of: iperf3 TCP throughput (default offloads, and sender TSO/GSO off), sockperf
        and Python TCP ping-pong RTT, new connections per second."""
        out: dict[str, float] = {}
        if shutil.which("iperf3"):
            out["tcp_gbps"] = self.iperf_once(src_ns, dst_ns, tso=True)
            if shutil.which("ethtool"):
                out["tcp_gbps_no_tso"] = self.iperf_once(src_ns, dst_ns, tso=False)
        out.update(self.sockperf_rr(src_ns, dst_ns))
        srv = popen(dst_ns, [*self.pin(0), PY, PINGPONG, "rr-server", DST_IP, "5301"])
        try:
            wait_until(lambda: "5301" in nx(dst_ns, "ss", "-ltn"), timeout=5)
            rr = json.loads(nx(src_ns, *self.pin(0), PY, PINGPONG, "rr-client", DST_IP, "5301",
                               "3000" if self.quick else "10000", "64"))
            out["rtt_p50_us"], out["rtt_mean_us"] = rr["p50_us"], rr["mean_us"]
        finally:
            stop_process(srv)
        n = 500 if self.quick else 2000
        srv = popen(dst_ns, [*self.pin(0), PY, PINGPONG, "crr-server", DST_IP, "5302", str(n + 10)])
        try:
            wait_until(lambda: "5302" in nx(dst_ns, "ss", "-ltn"), timeout=5)
            crr = json.loads(nx(src_ns, *self.pin(0), PY, PINGPONG, "crr-client", DST_IP, "5302", str(n)))
            out["new_conn_per_s"] = crr["conn_per_s"]
        finally:
            stop_process(srv)
        return out

    def datapath(self, src_ns: str, dst_ns: str) -> dict[str, Any]:
        """Alternate the states round by round (each round measures every state back to back, in
        forward then reverse order) so load changes on this shared machine hit all alike; report
        medians per state and ratios against no rules and against conntrack-only, both from the
        medians and as the median of per-round (paired) ratios."""
        self.stop_felix()
        # the host's default route (proxy ARP for 169.254.1.1 needs it; a ``route flush proto boot``
        # removes it) and the workloads' routes as Felix programs them, in case they were removed
        nx(HOST, "ip", "route", "replace", "default", "via", "10.200.0.2")
        for name, ip in (("src", SRC_IP), ("dst", DST_IP)):
            nx(HOST, "ip", "route", "replace", f"{ip}/32", "dev", veth_name("cali", name), "scope", "link",
               "proto", "boot")
        ipsets = nx(HOST, "ipset", "save")
        tables = "".join(nx(HOST, "iptables-save", "-t", t) for t in ("raw", "mangle", "nat", "filter"))
        rules = sum(1 for line in tables.splitlines() if line.startswith("-A "))
        hooked = [line.split()[1] + "@" + t for t, text in
                  ((t, nx(HOST, "iptables-save", "-t", t)) for t in ("raw", "mangle", "nat", "filter"))
                  for line in text.splitlines() if re.match(r"-A [A-Z]+ ", line)]
        states = self.d_states
        per: dict[str, list[dict[str, float]]] = {s: [] for s in states}
        loads = [os.getloadavg()]
        for r in range(self.d_rounds or (2 if self.quick else 7)):
            for state in states if r % 2 == 0 else tuple(reversed(states)):
                self.set_d_state(state, ipsets, tables)
                res = self.datapath_once(src_ns, dst_ns)
                print(f"  (d) round {r} {state}: {json.dumps({k: round(v, 2) for k, v in res.items()})}", flush=True)
                per[state].append(res)
            loads.append(os.getloadavg())
        self.flush_kernel(HOST)
        keys = list(per[states[0]][0])
        med = {s: {k: statistics.median(x[k] for x in runs) for k in keys} for s, runs in per.items()}

        def ratios(base: str) -> dict[str, dict[str, float]]:
            return {s: {k: med[s][k] / med[base][k] for k in keys} for s in states if s != base}

        def paired(base: str) -> dict[str, dict[str, float]]:
            return {s: {k: statistics.median(a[k] / b[k] for a, b in zip(per[s], per[base], strict=True))
                        for k in keys} for s in states if s != base}

        out: dict[str, Any] = {"medians": med, "rules_in_path_table": rules, "kernel_chain_rules": hooked,
                               "rounds": len(per[states[0]]), "load_avg": loads, "runs": per}
        for base in ("no_rules", "ct_only"):
            if base in states:
                out[f"ratios_vs_{base}"] = ratios(base)
                out[f"paired_ratios_vs_{base}"] = paired(base)
        self.print_d_table(out, keys)
        return out

    @staticmethod
    def print_d_table(out: dict[str, Any], keys: list[str]) -> None:
        med = out["medians"]
        print("(d) medians per state, then xNR = x no_rules, xCT = x ct_only (paired per-round ratio in brackets):")
        for s, vals in med.items():
            cells = []
            for k in keys:
                cell = f"{k}={vals[k]:.2f}"
                for base in ("no_rules", "ct_only"):
                    if s != base and f"ratios_vs_{base}" in out:
                        cell += (f" x{'NR' if base == 'no_rules' else 'CT'} {out[f'ratios_vs_{base}'][s][k]:.3f}"
                                 f"[{out[f'paired_ratios_vs_{base}'][s][k]:.3f}]")
                cells.append(cell)
            print(f"  {s:16} " + "; ".join(cells), flush=True)
        print(f"  load averages (start, after each round): {[round(x[0], 2) for x in out['load_avg']]}", flush=True)

    # --- run ---------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.build_host()
        src_ns, _ = self.workload("src", SRC_IP)
        dst_ns, _ = self.workload("dst", DST_IP)
        names = [veth_name("cali", f"e{n}") for n in range(1, self.E - 1)]
        self.fake_ifaces(names)
        # Python start-up as an installed package has it: byte-compiled (this environment may set
        # PYTHONDONTWRITEBYTECODE, so stale bytecode would otherwise be recompiled at every start).
        sh(PY, "-m", "compileall", "-q", str(REPO / "src"), *([self.alt_src] if self.alt_src else []), check=False)
        half = self.cold_start(self.E // 2, self.P // 2, self.M) if "a" in self.parts else {"rules": 1}
        print(f"(a) half size: {half}", flush=True)
        rounds = self.a_rounds if "a" in self.parts else 1
        full = self.cold_start(self.E, self.P, self.M, rounds=rounds, alt_src=self.alt_src if "a" in self.parts else "")
        print(f"(a) full size: {full}", flush=True)
        raw = self.raw_restore()
        print(f"(a) raw restore of the same state: {raw}", flush=True)
        self.results["cold_start"] = {"half": half, "full": full, **raw,
                                      "ratio_felix_vs_raw": full["first_apply_s"] / raw["raw_restore_s"],
                                      "ratio_in_sync_vs_raw": full["in_sync_to_programmed_s"] / raw["raw_restore_s"],
                                      "ratio_exec_vs_raw": full["exec_to_programmed_s"] / raw["raw_restore_s"],
                                      "rules_ratio_full_vs_half": full["rules"] / half["rules"]}
        if full["alt"]:
            alt = full["alt"]
            self.results["cold_start"]["alt_ratios"] = {
                "ratio_felix_vs_raw": alt["first_apply_s"] / raw["raw_restore_s"],
                "ratio_in_sync_vs_raw": alt["in_sync_to_programmed_s"] / raw["raw_restore_s"],
                "ratio_exec_vs_raw": alt["exec_to_programmed_s"] / raw["raw_restore_s"]}
        if "b" in self.parts:
            self.results["endpoint_add"] = self.endpoint_adds(src_ns)
            print(f"(b) endpoint add: {self.results['endpoint_add']}", flush=True)
        if "c" in self.parts:
            self.results["policy_change"] = self.policy_changes(src_ns, dst_ns)
            print(f"(c) policy change: {self.results['policy_change']}", flush=True)
        if self.keep_log:
            shutil.copy(self.felix_log, self.keep_log)
            Path(self.keep_log + ".samples").write_text(json.dumps(self.samples))
        if "d" in self.parts:
            self.results["datapath"] = self.datapath(src_ns, dst_ns)
        return self.results

    def cleanup(self) -> None:
        self.stop_felix()
        for p in self.procs:
            stop_process(p)
        try:
            self.store.close()
        except Exception:
            pass
        self.etcd.remove()
        for ns in reversed(self.namespaces):
            sh("ip", "netns", "delete", ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--json", default="", help="write the results here")
    ap.add_argument("--parts", default="abcd", help="which parts to run (a is always set up)")
    ap.add_argument("--keep-log", default="", help="copy Felix's log here at the end")
    ap.add_argument("--a-rounds", type=int, default=3, help="(a): cold starts at full size (median)")
    ap.add_argument("--compare-src", default="", help="(a): also start Felix from this source tree "
                    "(a 'src' directory, e.g. an older checkout), alternating, for before/after")
    ap.add_argument("--d-rounds", type=int, default=0, help="(d): alternating rounds per state (default 7)")
    ap.add_argument("--d-nice", type=int, default=-20, help="(d): nice value of the measurement processes (0: none)")
    ap.add_argument("--d-states", default=",".join(Bench.D_STATES),
                    help=f"(d): states to alternate, from {','.join(Bench.D_ALL_STATES)}")
    ap.add_argument("--ipv6-support", choices=("default", "true", "false"), default="default",
                    help="Felix's Ipv6Support for every run (also --compare-src's, whose default may differ); "
                    "true programs every policy for IPv6 too, and the raw restore then includes ip6tables")
    args = ap.parse_args()
    b = Bench(args.quick)
    b.parts = args.parts
    b.keep_log = args.keep_log
    b.d_rounds = args.d_rounds
    b.d_states = tuple(x for x in args.d_states.split(",") if x)
    b.d_nice = args.d_nice
    if bad := [x for x in b.d_states if x not in Bench.D_ALL_STATES]:
        ap.error(f"--d-states: unknown state(s) {', '.join(bad)} (choose from {', '.join(Bench.D_ALL_STATES)})")
    b.a_rounds = max(1, args.a_rounds)
    b.alt_src = os.path.abspath(args.compare_src) if args.compare_src else ""
    if args.ipv6_support != "default":
        b.felix_env["FELIX_IPV6SUPPORT"] = args.ipv6_support
    try:
        res = b.run()
    finally:
        b.cleanup()
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

"""Resilience: drift repair, restart under traffic, datastore outage, config restarts, fail-closed
exit on iptables failure, health and metrics endpoints."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fv.felix.conftest import Cluster, default_profile, pool
from tests.fv.felix.support import ECHO_SERVER, FLOW_CLIENT, PY, Checker, policy
from tests.support.etcd import EtcdServer
from tests.support.procs import stop_process, wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]


@pytest.fixture(scope="module")
def cluster(cluster_factory: Any) -> Cluster:
    c: Cluster = cluster_factory()
    default_profile(c.store)
    pool(c.store)
    a = c.add_host("felix-r", 1, FELIX_HEALTHENABLED="true", FELIX_PROMETHEUSMETRICSENABLED="true")
    c.add_workload(a, "r1", "10.65.0.11")
    c.add_workload(a, "r2", "10.65.0.12")
    a.wait_felix_in_sync()
    return c


def test_drift_repair(cluster: Cluster) -> None:
    a = cluster.hosts[0]
    r1, r2 = cluster.workloads[0], cluster.workloads[1]
    cluster.store.apply(policy("sel", {"selector": "name == 'r2'", "types": ["Ingress"],
                                       "ingress": [{"action": "Allow", "source": {"selector": "name == 'r1'"}}]}))
    try:
        def selector_set() -> str:
            names = a.run("ipset", "list", "-n").stdout.split()
            sets = [n for n in names if n.startswith("cali40s:")]
            return sets[0] if sets and r1.ip in a.run("ipset", "list", sets[0]).stdout else ""

        ipset = wait_until(selector_set, timeout=10, what="selector ipset with r1")
        # Break three things at once: a route, a cali- chain, an ipset member, and a kernel hook.
        a.run("ip", "route", "del", f"{r1.ip}/32")
        a.run("iptables", "-F", f"cali-tw-{r2.iface}")
        a.run("ipset", "del", ipset, r1.ip)
        a.run("iptables", "-D", "FORWARD", "1")
        assert "cali-FORWARD" not in a.run("iptables", "-S", "FORWARD").stdout
        wait_until(lambda: f"dev {r1.iface}" in a.run("ip", "route", "show", r1.ip).stdout, timeout=10,
                   what="route repaired")
        wait_until(lambda: len(a.run("iptables", "-S", f"cali-tw-{r2.iface}").stdout.splitlines()) > 3,
                   timeout=10, what="chain repaired")
        wait_until(lambda: r1.ip in a.run("ipset", "list", ipset).stdout, timeout=10, what="ipset member repaired")
        wait_until(lambda: "cali-FORWARD" in a.run("iptables", "-S", "FORWARD").stdout, timeout=10,
                   what="FORWARD hook repaired")
        cc = Checker()
        cc.some(r1, r2)
        cc.some(r2, r1, proto="icmp")
        cc.check()
    finally:
        cluster.store.delete("GlobalNetworkPolicy", "sel")


def test_foreign_rules_untouched(cluster: Cluster) -> None:
    """A refresh never touches what Felix does not own."""
    a = cluster.hosts[0]
    a.run("iptables", "-A", "FORWARD", "-s", "192.0.2.1/32", "-j", "DROP")
    a.run("ip", "route", "add", "192.0.2.0/24", "dev", "eth0", "proto", "static")
    try:
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline:
            assert "192.0.2.1/32" in a.run("iptables", "-S", "FORWARD").stdout
            assert "192.0.2.0/24" in a.run("ip", "route", "show").stdout
            time.sleep(0.5)
    finally:
        a.run("iptables", "-D", "FORWARD", "-s", "192.0.2.1/32", "-j", "DROP", check=False)
        a.run("ip", "route", "del", "192.0.2.0/24", check=False)


def test_health_and_metrics(cluster: Cluster) -> None:
    a = cluster.hosts[0]
    get = ("import sys, urllib.request, urllib.error\n"
           "try:\n r = urllib.request.urlopen(sys.argv[1], timeout=3); print(r.status); print(r.read().decode())\n"
           "except urllib.error.HTTPError as e:\n print(e.code)")
    out = wait_until(lambda: a.run(PY, "-c", get, "http://127.0.0.1:9099/readiness", check=False).stdout,
                     timeout=10, what="readiness answer")
    assert out.splitlines()[0] == "200", out
    assert a.run(PY, "-c", get, "http://127.0.0.1:9099/liveness").stdout.splitlines()[0] == "200"
    metrics = a.run(PY, "-c", get, "http://127.0.0.1:9091/metrics").stdout
    for name in ("felix_iptables_restore_calls", "felix_ipset_calls", "felix_int_dataplane_apply_time_seconds",
                 "felix_resync_state 3.0", "felix_active_local_endpoints 2.0", "felix_active_local_policies",
                 "felix_iptables_restore_errors"):
        assert name in metrics, name


def test_restart_keeps_established_flow(cluster: Cluster) -> None:
    a = cluster.hosts[0]
    r1, r2 = cluster.workloads[0], cluster.workloads[1]
    srv = subprocess.Popen(r2.ns.popen_argv([PY, "-c", ECHO_SERVER, "9000"]), start_new_session=True)
    client = None
    try:
        wait_until(lambda: "9000" in r2.run("ss", "-ltn").stdout, timeout=5, what="echo server")
        client = subprocess.Popen(r1.ns.popen_argv([PY, "-c", FLOW_CLIENT, r2.ip, "9000", "12", "1.0"]),
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "connected"
        a.stop_felix()
        a.start_felix()
        a.wait_felix_in_sync()
        out, _ = client.communicate(timeout=30)
        assert client.returncode == 0, f"the flow broke across the restart: {out}"
        assert int(out.split()[-1]) > 100
    finally:
        if client is not None:
            stop_process(client)
        stop_process(srv)
    log = a.log_text().split("===== felix start")[-1]
    assert "0 to rewrite" in log, "restart rewrote chains that were already correct"


def test_config_change_restarts_felix(cluster: Cluster) -> None:
    """defaultEndpointToHostAction needs a restart: Felix exits 129, and comes back with it."""
    a = cluster.hosts[0]
    r1 = cluster.workloads[0]
    assert r1.run("ping", "-c", "1", "-W", "1", a.ip, check=False).returncode != 0
    fc = {"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
          "metadata": {"name": f"node.{a.name}"}, "spec": {"defaultEndpointToHostAction": "Accept"}}
    cluster.store.apply(fc)
    try:
        assert a.proc is not None
        assert a.proc.wait(timeout=20) == 129
        assert "restart-required configuration changed: DefaultEndpointToHostAction" in a.log_text()
        a.start_felix()
        a.wait_felix_in_sync()
        wait_until(lambda: r1.run("ping", "-c", "1", "-W", "1", a.ip, check=False).returncode == 0, timeout=10,
                   what="workload -> host allowed after restart")
    finally:
        cluster.store.delete("FelixConfiguration", f"node.{a.name}")
        if a.proc is not None:
            a.proc.wait(timeout=20)
        a.start_felix()
        a.wait_felix_in_sync()


def test_iptables_restore_failing_exits_non_zero(cluster: Cluster, tmp_path: Path) -> None:
    a = cluster.hosts[0]
    fake = tmp_path / "iptables-restore"
    fake.write_text("#!/bin/sh\necho 'simulated failure' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    a.stop_felix()
    # A change is needed so that Felix has to write: a new policy.
    cluster.store.apply(policy("force-write", {"selector": "name == 'r2'", "ingress": [{"action": "Allow"}],
                                               "egress": [{"action": "Allow"}]}))
    try:
        a.start_felix(PATH=f"{tmp_path}:{os.environ.get('PATH', '')}")
        assert a.proc is not None
        assert a.proc.wait(timeout=60) == 1
        assert "iptables could not be programmed" in a.log_text()
        # Fail closed: what was programmed stays (the dispatch drop for unknown interfaces included).
        assert "Unknown interface" in a.iptables_save()
    finally:
        cluster.store.delete("GlobalNetworkPolicy", "force-write")
        a.start_felix()
        a.wait_felix_in_sync()


@pytest.fixture
def own_etcd() -> Any:
    server = EtcdServer().start()
    try:
        yield server
    finally:
        server.remove()


def test_etcd_outage_keeps_dataplane_then_converges(cluster_factory: Any, own_etcd: EtcdServer) -> None:
    from tests.fv.felix.conftest import Cluster as _C

    c = _C(own_etcd.unix_url, Path(own_etcd.workdir), prefix="e-")
    try:
        default_profile(c.store)
        pool(c.store)
        h = c.add_host("felix-e", 3)
        e1 = c.add_workload(h, "e1", "10.65.0.21")
        e2 = c.add_workload(h, "e2", "10.65.0.22")
        h.wait_felix_in_sync()
        cc = Checker()
        cc.some(e1, e2)
        cc.check()
        own_etcd.stop()
        # Datastore gone: Felix keeps running and the dataplane stays as it is.
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            assert h.felix_alive(), h.log_text()[-3000:]
            cc.some(e1, e2)
            cc.check(timeout=2)
        own_etcd.start()
        c.store.apply(policy("deny-e2", {"selector": "name == 'e2'", "types": ["Ingress"]}))
        cc.none(e1, e2)
        cc.check(timeout=30)
        status = json.loads(wait_until(lambda: c.store.get(f"/calico/felix/v2/no-region/host/{h.name}/status"),
                                       timeout=15))
        assert "uptime" in status
    finally:
        c.close()

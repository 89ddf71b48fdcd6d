"""Fixtures: one shared topology per module (fabric + hosts running Felix), cleaned up by PID/name."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fv.felix.support import Host, Servers, Store, Workload, dump_on_failure, profile, workdir
from tests.support.netns import Netns

FABRIC_NET = "10.100.0"
POOL = "10.65.0.0/16"


class Cluster:
    """A fabric namespace (bridge, 10.100.0.254) and hosts hanging off it, plus the datastore."""

    def __init__(self, etcd_endpoints: str, tmp: Path, prefix: str = "") -> None:
        self.prefix = prefix
        if os.geteuid() != 0:
            pytest.skip("needs root for network namespaces")
        self.etcd_endpoints = etcd_endpoints
        self.tmp = tmp
        self.namespaces: list[Netns] = []
        self.hosts: list[Host] = []
        self.workloads: list[Workload] = []
        self.servers = Servers()
        self.store = Store(etcd_endpoints)
        self.fabric = self.netns("fabric")
        self.fabric.run("ip", "link", "add", "br0", "type", "bridge")
        self.fabric.run("ip", "addr", "add", f"{FABRIC_NET}.254/24", "dev", "br0")
        self.fabric.run("ip", "link", "set", "br0", "up")

    def netns(self, name: str) -> Netns:
        ns = Netns(self.prefix + name)
        self.namespaces.append(ns)
        return ns

    def add_host(self, name: str, index: int, *, start: bool = True, **env: str) -> Host:
        ip = f"{FABRIC_NET}.{index}"
        host = Host(self.netns, name, self.etcd_endpoints, ip, self.tmp, env)
        tmp_a, tmp_b = f"u{os.getpid() % 10000}{index}a", f"u{os.getpid() % 10000}{index}b"
        from tests.support.netns import sh
        sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        sh("ip", "link", "set", tmp_a, "netns", host.ns.name)
        sh("ip", "link", "set", tmp_b, "netns", self.fabric.name)
        host.run("ip", "link", "set", tmp_a, "name", "eth0")
        host.run("ip", "addr", "add", f"{ip}/24", "dev", "eth0")
        host.run("ip", "link", "set", "eth0", "up")
        host.run("ip", "route", "add", "default", "via", f"{FABRIC_NET}.254")
        self.fabric.run("ip", "link", "set", tmp_b, "master", "br0")
        self.fabric.run("ip", "link", "set", tmp_b, "up")
        self.store.apply({"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": name},
                          "spec": {"bgp": {"ipv4Address": f"{ip}/24"}}})
        self.hosts.append(host)
        if start:
            host.start_felix()
        return host

    def add_workload(self, host: Host, name: str, ip: str, *, ports: tuple[int, ...] = (8055, 8056),
                     configure: bool = True, **kw: object) -> Workload:
        w = Workload(self.netns, host, name, ip, **kw)  # type: ignore[arg-type]
        self.workloads.append(w)
        if ports:
            self.servers.start(w.ns, ports)
        if configure:
            w.configure(self.store)
        return w

    def close(self) -> None:
        self.servers.stop()
        for h in self.hosts:
            h.stop_felix()
        try:
            self.store.close()
        except Exception:
            pass
        for ns in reversed(self.namespaces):
            ns.delete()


@pytest.fixture(scope="module")
def cluster_factory(etcd_server: object, request: pytest.FixtureRequest) -> Iterator[object]:
    """Builds Clusters against the session etcd (wiped first); all torn down at module end."""
    made: list[Cluster] = []
    tmp = workdir()

    def make() -> Cluster:
        c = Cluster(etcd_server.unix_url, tmp)  # type: ignore[attr-defined]
        c.store.wipe()
        made.append(c)
        return c

    try:
        yield make
    finally:
        failed = getattr(request.node, "felix_failed", False)
        for c in made:
            if failed:
                print(dump_on_failure(c.hosts))
            c.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: object) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()  # type: ignore[attr-defined]
    if rep.failed:
        item.module.felix_failed = True  # type: ignore[union-attr]
        cl = getattr(item, "funcargs", {}).get("cluster") or getattr(item, "funcargs", {}).get("one_host")
        hosts = getattr(cl, "hosts", None)
        if hosts:
            rep.sections.append(("felix logs", dump_on_failure(hosts)))


def default_profile(store: Store, name: str = "default") -> None:
    store.apply(profile(name, {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}))


def pool(store: Store, cidr: str = POOL, **spec: object) -> None:
    store.apply({"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
                 "metadata": {"name": "pool-" + cidr.replace("/", "-").replace(".", "-")},
                 "spec": {"cidr": cidr, "ipipMode": "Never", "vxlanMode": "Never", "natOutgoing": False, **spec}})

"""Felix functional-test harness: hosts (namespaces running a real calico-felix), workloads wired
to them exactly as the CNI plugin does, a datastore client, and a connectivity checker."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tests.support.netns import Netns, sh
from tests.support.procs import stop_process, wait_until

PY = sys.executable
REPO = Path(__file__).resolve().parents[3]


# --------------------------------------------------------------------------------------------
# Datastore access from tests: one connection on a background event loop.


class Store:
    """Writes Calico resources (api models through ResourceClient) and reads raw keys."""

    def __init__(self, endpoints: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.endpoints = endpoints
        self.ds: Any = None
        self.client: Any = None
        self._run(self._connect())

    async def _connect(self) -> None:
        from calico.datastore.config import config_from_env
        from calico.datastore.etcd import EtcdDatastore
        from calico.datastore.resources import ResourceClient

        self.ds = EtcdDatastore(config_from_env({"ETCD_ENDPOINTS": self.endpoints}))
        self.client = ResourceClient(self.ds)

    def _run(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def apply(self, doc: dict[str, Any]) -> Any:
        from calico.api import parse_resource

        return self._run(self.client.apply(parse_resource(doc)))

    def delete(self, kind: str, name: str, namespace: str | None = None) -> None:
        from calico.datastore.resources import ResourceNotFound

        try:
            self._run(self.client.delete(kind, name, namespace))
        except ResourceNotFound:
            pass

    def get(self, key: str) -> str | None:
        kv = self._run(self.ds.get(key))
        return None if kv is None else kv.value

    def list(self, prefix: str) -> dict[str, str]:
        kvs, _ = self._run(self.ds.list(prefix))
        return {kv.key: kv.value for kv in kvs}

    def put(self, key: str, value: str) -> None:
        self._run(self.ds.put(key, value))

    def wipe(self) -> None:
        self._run(self.ds.delete_prefix("/calico/"))

    def close(self) -> None:
        try:
            self._run(self.ds.close(), timeout=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


# --------------------------------------------------------------------------------------------
# Hosts


FAST_ENV = {
    "FELIX_IPTABLESREFRESHINTERVAL": "3",
    "FELIX_IPSETSREFRESHINTERVAL": "3",
    "FELIX_ROUTEREFRESHINTERVAL": "3",
    "FELIX_REPORTINGINTERVALSECS": "2",
    "FELIX_ENDPOINTREPORTINGENABLED": "true",
    "FELIX_ENDPOINTREPORTINGDELAYSECS": "0.2",
    "FELIX_LOGSEVERITYSCREEN": "INFO",
}


class Host:
    """A network namespace standing in for a Calico host, running calico-felix inside it."""

    def __init__(self, netns_factory: Callable[[str], Netns], name: str, etcd_endpoints: str, ip: str,
                 workdir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.ns = netns_factory(name)
        self.etcd_endpoints = etcd_endpoints
        self.ip = ip  # uplink address (bare)
        self.workdir = workdir
        self.env_extra = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"felix-{name}.log"
        self.starts = 0

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return self.ns.run(*argv, check=check, timeout=timeout)

    def felix_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FELIX_", "ETCD_"))}
        env.update(FAST_ENV)
        env.update({"FELIX_FELIXHOSTNAME": self.name, "ETCD_ENDPOINTS": self.etcd_endpoints,
                    "FELIX_LOGFILEPATH": "none", "FELIX_CONFIGFILE": str(self.workdir / f"{self.name}.cfg"),
                    "FELIX_ENDPOINTSTATUSPATHPREFIX": str(self.workdir / f"{self.name}-status"),
                    "PYTHONUNBUFFERED": "1"})
        env.update(self.env_extra)
        return env

    def start_felix(self, **extra_env: str) -> None:
        assert self.proc is None or self.proc.poll() is not None
        env = self.felix_env()
        env.update(extra_env)
        with open(self.log_path, "ab") as logf:
            logf.write(f"\n===== felix start #{self.starts} =====\n".encode())
            logf.flush()
            self.starts += 1
            self.proc = subprocess.Popen(self.ns.popen_argv([PY, "-m", "calico.felix.daemon"]), env=env,
                                         stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)

    def stop_felix(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)

    def felix_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def wait_felix_in_sync(self, timeout: float = 30) -> None:
        start_mark = f"===== felix start #{self.starts - 1} ====="

        def ready() -> bool:
            if not self.felix_alive():
                raise AssertionError(f"felix on {self.name} exited:\n{self.log_text()[-4000:]}")
            return "Dataplane in sync" in self.log_text().split(start_mark)[-1]

        wait_until(ready, timeout=timeout, interval=0.1, what=f"felix on {self.name} in sync")

    def iptables_save(self, table: str = "filter") -> str:
        return self.run("iptables-save", "-t", table).stdout

    def routes(self) -> str:
        return self.run("ip", "route", "show").stdout


# --------------------------------------------------------------------------------------------
# Workloads


def veth_name(prefix: str, workload: str) -> str:
    return prefix + hashlib.sha1(workload.encode()).hexdigest()[:11]


class Workload:
    """A namespace wired to a host by veth exactly as the CNI plugin does it."""

    def __init__(self, netns_factory: Callable[[str], Netns], host: Host, name: str, ip: str, *,
                 labels: dict[str, str] | None = None, profiles: Iterable[str] = ("default",),
                 namespace: str = "default", ports: list[dict[str, Any]] | None = None,
                 mac: str | None = None, create_iface: bool = True) -> None:
        self.host = host
        self.name = name
        self.ip = ip
        self.namespace = namespace
        self.labels = dict(labels or {})
        self.profiles = list(profiles)
        self.ports = ports or []
        self.iface = veth_name("cali", f"{host.name}.{name}")
        self.ns = netns_factory(f"w-{name}")
        self.mac = mac
        if create_iface:
            self.create_iface()

    def create_iface(self) -> None:
        tmp = f"tmp{os.getpid() % 1000}{self.name}"[:15]
        sh("ip", "link", "add", tmp, "type", "veth", "peer", "name", self.iface, "netns", self.host.ns.name)
        sh("ip", "link", "set", tmp, "netns", self.ns.name)
        self.ns.run("ip", "link", "set", tmp, "name", "eth0")
        self.host.run("ip", "link", "set", self.iface, "address", "ee:ee:ee:ee:ee:ee")
        self.host.run("ip", "link", "set", self.iface, "up")
        self.ns.run("ip", "link", "set", "eth0", "up")
        self.ns.run("ip", "addr", "add", f"{self.ip}/32", "dev", "eth0")
        self.ns.run("ip", "route", "add", "169.254.1.1", "dev", "eth0", "scope", "link")
        self.ns.run("ip", "route", "add", "default", "via", "169.254.1.1", "dev", "eth0")
        self.mac = self.ns.run("cat", "/sys/class/net/eth0/address").stdout.strip()

    @property
    def wep_name(self) -> str:
        from calico.api import workload_endpoint_name

        return workload_endpoint_name(self.host.name, "felixfv", self.name, "eth0")

    def wep_doc(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "orchestrator": "felixfv", "workload": self.name, "node": self.host.name, "endpoint": "eth0",
            "ipNetworks": [f"{self.ip}/32"], "profiles": self.profiles, "interfaceName": self.iface}
        if self.mac:
            spec["mac"] = self.mac
        if self.ports:
            spec["ports"] = self.ports
        return {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
                "metadata": {"name": self.wep_name, "namespace": self.namespace,
                             "labels": {"name": self.name, **self.labels}},
                "spec": spec}

    def configure(self, store: Store) -> None:
        store.apply(self.wep_doc())

    def remove(self, store: Store) -> None:
        store.delete("WorkloadEndpoint", self.wep_name, self.namespace)

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return self.ns.run(*argv, check=check, timeout=timeout)


# --------------------------------------------------------------------------------------------
# Connectivity: tiny servers and clients run with `ip netns exec ... python -c`.

SERVER = r"""
import socket, sys, threading
port = int(sys.argv[1])
def tcp():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64)
    while True:
        c, a = s.accept()
        try:
            c.settimeout(2); d = c.recv(64); c.sendall(b"ok:" + a[0].encode())
        except OSError: pass
        c.close()
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", port))
    while True:
        d, a = u.recvfrom(64); u.sendto(b"ok:" + a[0].encode(), a)
threading.Thread(target=tcp, daemon=True).start()
udp()
"""

CLIENT = r"""
import socket, sys
proto, ip, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
try:
    if proto == "tcp":
        s = socket.create_connection((ip, port), timeout=timeout); s.settimeout(timeout)
        s.sendall(b"hi"); d = s.recv(64)
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(timeout)
        s.sendto(b"hi", (ip, port)); d, _ = s.recvfrom(64)
    print(d.decode()); sys.exit(0 if d.startswith(b"ok") else 1)
except OSError as e:
    print("fail", e); sys.exit(1)
"""


class Servers:
    """TCP+UDP echo servers on the given ports inside namespaces (stopped by PID)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, ns: Netns, ports: Iterable[int]) -> None:
        for port in ports:
            self.procs.append(subprocess.Popen(ns.popen_argv([PY, "-c", SERVER, str(port)]),
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                               start_new_session=True))

    def stop(self) -> None:
        for p in self.procs:
            stop_process(p)
        self.procs.clear()


def can_connect(src: Netns, ip: str, port: int, proto: str = "tcp", timeout: float = 0.5) -> bool:
    res = src.run(PY, "-c", CLIENT, proto, ip, str(port), str(timeout), check=False, timeout=timeout + 10)
    return res.returncode == 0


def can_ping(src: Netns, ip: str, timeout: float = 1.0) -> bool:
    res = src.run("ping", "-c", "1", "-W", str(max(1, int(timeout))), ip, check=False, timeout=timeout + 5)
    return res.returncode == 0


class Checker:
    """Felix FV's connectivity checker: expectations, then verify all with retries until a deadline."""

    def __init__(self) -> None:
        self.expect: list[tuple[str, Netns, str, int, str, bool]] = []

    def some(self, src: Any, dst: Any, port: int = 8055, proto: str = "tcp") -> None:
        self._add(src, dst, port, proto, True)

    def none(self, src: Any, dst: Any, port: int = 8055, proto: str = "tcp") -> None:
        self._add(src, dst, port, proto, False)

    def _add(self, src: Any, dst: Any, port: int, proto: str, ok: bool) -> None:
        ns = src.ns if hasattr(src, "ns") else src
        ip = dst.ip if hasattr(dst, "ip") else str(dst)
        name = f"{getattr(src, 'name', ns)}->{getattr(dst, 'name', ip)}:{proto}/{port}"
        self.expect.append((name, ns, ip, port, proto, ok))

    def _one(self, e: tuple[str, Netns, str, int, str, bool]) -> bool:
        _, ns, ip, port, proto, _ok = e
        if proto == "icmp":
            return can_ping(ns, ip)
        return can_connect(ns, ip, port, proto)

    def check(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            results = [(e, self._one(e)) for e in self.expect]
            wrong = [e[0] for e, got in results if got != e[5]]
            if not wrong:
                self.expect.clear()
                return
            if time.monotonic() > deadline:
                exp = ", ".join(f"{e[0]}={'pass' if e[5] else 'drop'}" for e, _ in results)
                self.expect.clear()
                raise AssertionError(f"connectivity wrong for {wrong} (expected: {exp})")
            time.sleep(0.2)


def policy(name: str, spec: dict[str, Any], namespace: str | None = None, kind: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "projectcalico.org/v3",
            "kind": kind or ("NetworkPolicy" if namespace else "GlobalNetworkPolicy"),
            "metadata": meta, "spec": spec}


def profile(name: str, spec: dict[str, Any] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": "Profile",
            "metadata": {"name": name}, "spec": {**(spec or {}), **({"labelsToApply": labels} if labels else {})}}


ALLOW_ALL = {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]}


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="felix-fv-"))


def dump_on_failure(hosts: Iterable[Host]) -> str:
    out = []
    for h in hosts:
        out.append(f"--- felix log {h.name} (tail) ---\n{h.log_text()[-6000:]}")
    return "\n".join(out)


def json_value(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# --------------------------------------------------------------------------------------------
# A long-lived flow: the client sends a byte every 20 ms on one TCP connection and counts echoes;
# it exits non-zero as soon as one echo takes longer than the allowed gap.

ECHO_SERVER = r"""
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
def serve(c):
    while True:
        d = c.recv(64)
        if not d: return
        c.sendall(d)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
"""

FLOW_CLIENT = r"""
import socket, sys, time
ip, port, seconds, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s = socket.create_connection((ip, port), timeout=5); s.settimeout(gap)
n, end = 0, time.monotonic() + seconds
print("connected", flush=True)
while time.monotonic() < end:
    s.sendall(b"x")
    if s.recv(1) != b"x": print("bad echo", flush=True); sys.exit(2)
    n += 1
    time.sleep(0.02)
print("echoes", n, flush=True)
"""


# --------------------------------------------------------------------------------------------
# IPv6: workloads get a /128 wired as Calico's CNI plugin does it, and v6-capable servers/clients.

# Link-local address of every host-side cali veth: the CNI plugin forces the MAC ee:ee:ee:ee:ee:ee,
# so the EUI-64 link-local is fixed and the workload's default route points at it.
HOST_LINK_LOCAL6 = "fe80::ecee:eeff:feee:eeee"


def add_ipv6(w: Workload, ip6: str) -> None:
    """Wire an IPv6 address into a workload as Calico's CNI plugin does: IPv6 enabled in the
    container, ``<ip6>/128`` on eth0 (no DAD), a link route to the host veth's link-local address
    and the default route via it. The host side is left to Felix (proxy_ndp, forwarding)."""
    for key in ("all", "default", "lo", "eth0"):
        w.ns.run("sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=0")
    w.ns.run("sysctl", "-q", "-w", "net.ipv6.conf.eth0.accept_dad=0")
    w.host.run("sysctl", "-q", "-w", f"net.ipv6.conf.{w.iface}.disable_ipv6=0")
    w.ns.run("ip", "-6", "addr", "add", f"{ip6}/128", "dev", "eth0", "nodad")
    w.ns.run("ip", "-6", "route", "add", f"{HOST_LINK_LOCAL6}/128", "dev", "eth0")
    w.ns.run("ip", "-6", "route", "add", "default", "via", HOST_LINK_LOCAL6, "dev", "eth0")


def wep_doc6(w: Workload, ip6: str, *, v4: bool = True) -> dict[str, Any]:
    """The workload's WorkloadEndpoint with its /128 in ipNetworks (and its /32 unless ``v4=False``)."""
    doc = w.wep_doc()
    nets = list(doc["spec"]["ipNetworks"]) if v4 else []
    doc["spec"]["ipNetworks"] = [*nets, f"{ip6}/128"]
    return doc


SERVER6 = r"""
import socket, sys, threading
port = int(sys.argv[1])
def sock(kind):
    s = socket.socket(socket.AF_INET6, kind); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); s.bind(("::", port)); return s
def tcp():
    s = sock(socket.SOCK_STREAM); s.listen(64)
    while True:
        c, a = s.accept()
        try:
            c.settimeout(2); c.recv(64); c.sendall(b"ok:" + a[0].encode())
        except OSError: pass
        c.close()
def udp():
    u = sock(socket.SOCK_DGRAM)
    while True:
        d, a = u.recvfrom(64); u.sendto(b"ok:" + a[0].encode(), a)
threading.Thread(target=tcp, daemon=True).start()
udp()
"""

CLIENT6 = r"""
import socket, sys
proto, ip, port, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
src = sys.argv[5] if len(sys.argv) > 5 else ""
fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
try:
    s = socket.socket(fam, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM); s.settimeout(timeout)
    if src:
        s.bind((src, 0))
    if proto == "tcp":
        s.connect((ip, port)); s.sendall(b"hi"); d = s.recv(64)
    else:
        s.sendto(b"hi", (ip, port)); d, _ = s.recvfrom(64)
    print(d.decode()); sys.exit(0 if d.startswith(b"ok") else 1)
except OSError as e:
    print("fail", e); sys.exit(1)
"""


def start_servers6(servers: Servers, ns: Netns, ports: Iterable[int]) -> None:
    """Dual-stack (``::``, v4-mapped too) TCP+UDP echo servers; stopped with ``servers.stop()``."""
    for port in ports:
        servers.procs.append(subprocess.Popen(ns.popen_argv([PY, "-c", SERVER6, str(port)]),
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                              start_new_session=True))


def connect6(src: Netns, ip: str, port: int, proto: str = "tcp", timeout: float = 0.5,
             source: str = "") -> str | None:
    """Connect over IPv4 or IPv6 (by the address), from ``source`` if given; the source address
    the server saw, or None."""
    res = src.run(PY, "-c", CLIENT6, proto, ip, str(port), str(timeout), source, check=False, timeout=timeout + 10)
    out = res.stdout.strip()
    return out[3:] if res.returncode == 0 and out.startswith("ok:") else None


class Checker6(Checker):
    """The connectivity checker with a client that speaks IPv6 for TCP, UDP and ICMPv6."""

    def _one(self, e: tuple[str, Netns, str, int, str, bool]) -> bool:
        _, ns, ip, port, proto, _ok = e
        if proto == "icmp":
            return can_ping(ns, ip)
        return connect6(ns, ip, port, proto) is not None

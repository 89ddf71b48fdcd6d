"""Topologies for the BGP functional tests: host namespaces running calico-node (real BIRD, and
Felix when enabled), router namespaces (a bridge, or an FRR leaf), workloads networked by the real
``calico`` CNI plugin.

Every process is started here and stopped by PID; every namespace comes from ``Netns`` (run
prefix) and is deleted by the caller's fixture.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.netns import Netns, veth
from tests.support.procs import stop_process, wait_until

VENV_BIN = Path(sys.executable).parent
CALICO_NODE = str(VENV_BIN / "calico-node")
CALICOCTL = str(VENV_BIN / "calicoctl")
FRR_DIR = Path("/usr/lib/frr")

# Short timers so failures are detected in seconds, not minutes (env knobs of the BGP agent).
FAST_BGP_ENV = {
    "CALICO_BGP_HOLD_TIME": "3",
    "CALICO_BGP_KEEPALIVE_TIME": "1",
    "CALICO_BGP_CONNECT_RETRY_TIME": "1",
    "CALICO_BGP_CONNECT_DELAY_TIME": "1",
    "CALICO_BGP_ERROR_WAIT_TIME": "1,2",
}


async def _with_ds(endpoint: str, fn: Callable[[Any], Any]) -> Any:
    from calico.datastore.config import connect, load_config

    ds = await connect(load_config(env={"ETCD_ENDPOINTS": endpoint}))
    try:
        return await fn(ds)
    finally:
        await ds.close()


def with_ds(endpoint: str, fn: Callable[[Any], Any]) -> Any:
    return asyncio.run(_with_ds(endpoint, fn))


def put_resource(endpoint: str, kind: str, name: str, spec: dict[str, Any],
                 labels: dict[str, str] | None = None) -> None:
    """Write a v3 resource's JSON as Calico stores it (no validation layer in the way)."""
    import uuid

    from calico.datastore.keys import resource_key

    meta: dict[str, Any] = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": "2026-01-01T00:00:00Z"}
    if labels:
        meta["labels"] = labels
    doc = {"kind": kind, "apiVersion": "projectcalico.org/v3", "metadata": meta, "spec": spec}

    async def go(ds: Any) -> None:
        await ds.put(resource_key(kind, name), json.dumps(doc, separators=(",", ":")))

    with_ds(endpoint, go)


def patch_node(endpoint: str, name: str, fn: Callable[[dict[str, Any]], None]) -> None:
    from calico.datastore.keys import resource_key

    async def go(ds: Any) -> None:
        kv = await ds.get(resource_key("Node", name))
        doc = json.loads(kv.value)
        fn(doc)
        await ds.update(kv.key, json.dumps(doc, separators=(",", ":")), kv.mod_revision)

    with_ds(endpoint, go)


class CalicoHost:
    """A host namespace running calico-node with its own directories."""

    def __init__(self, ns: Netns, name: str, ip: str, etcd_endpoint: str, workdir: Path,
                 env: dict[str, str] | None = None) -> None:
        self.ns = ns
        self.name = name
        self.ip = ip  # "10.10.0.11/24"
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "ETCD_ENDPOINTS": etcd_endpoint,
            "NODENAME": name,
            "IP": ip,
            "CALICO_RUN_DIR": str(self.dir / "run"),
            "CALICO_LIB_DIR": str(self.dir / "lib"),
            "CALICO_LOG_DIR": str(self.dir / "log"),
            "CALICO_BIRD_CONFIG_DIR": str(self.dir / "bird"),
            "CALICO_SECRETS_DIR": str(self.dir / "secrets"),
            "CALICO_DISABLE_FELIX": "true",
            "NO_DEFAULT_POOLS": "true",
            **FAST_BGP_ENV,
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "calico-node.log"

    @property
    def bare_ip(self) -> str:
        return self.ip.split("/")[0]

    @property
    def bird_socket(self) -> str:
        return str(self.dir / "run" / "bird.ctl")

    @property
    def bird_config(self) -> Path:
        return self.dir / "bird" / "bird.cfg"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.ns.popen_argv([CALICO_NODE]), env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_started(self, timeout: float = 30) -> None:
        def started() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"calico-node on {self.name} exited:\n{self.log()[-3000:]}")
            return "Calico node started successfully" in self.log() and os.path.exists(self.bird_socket)

        wait_until(started, timeout=timeout, what=f"calico-node on {self.name}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.proc = None

    def bird_pid(self) -> int:
        return int((self.dir / "run" / "bird.pid").read_text().strip())

    def birdc(self, *cmd: str) -> str:
        return subprocess.run(["birdc", "-s", self.bird_socket, *cmd], capture_output=True, text=True,
                              timeout=10).stdout

    def routes(self, version: int = 4) -> list[dict[str, Any]]:
        out = self.ns.run("ip", "-j", f"-{version}", "route", "show").stdout
        return list(json.loads(out or "[]"))

    def route_to(self, dst: str) -> dict[str, Any] | None:
        for r in self.routes(6 if ":" in dst else 4):
            if r.get("dst") == dst:
                return r
        return None

    def calicoctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return self.ns.run("env", *[f"{k}={v}" for k, v in self.env.items()], CALICOCTL, *args,
                           check=check, timeout=60)


def ping6(ns: Netns, dst: str, timeout: int = 2) -> bool:
    return ns.run("ping", "-6", "-c", "1", "-W", str(timeout), dst, check=False, timeout=30).returncode == 0


def host_sysctls(ns: Netns) -> None:
    ns.run("sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")


def ping(ns: Netns, dst: str, count: int = 1, timeout: int = 2) -> bool:
    res = ns.run("ping", "-c", str(count), "-W", str(timeout), "-i", "0.2", dst, check=False, timeout=30)
    return res.returncode == 0


class Bridge:
    """A router namespace with one L2 segment (a bridge) that every host plugs into."""

    def __init__(self, ns: Netns, gateway: str = "10.10.0.1/24") -> None:
        self.ns = ns
        self.gateway = gateway
        ns.run("ip", "link", "add", "br0", "type", "bridge")
        ns.run("ip", "addr", "add", gateway, "dev", "br0")
        ns.run("ip", "link", "set", "br0", "up")
        host_sysctls(ns)
        self.ports = 0

    def plug(self, host_ns: Netns, host_ip: str, host_ip6: str | None = None) -> None:
        self.ports += 1
        port = f"p{self.ports}"
        veth(self.ns, port, host_ns, "eth0")
        self.ns.run("ip", "link", "set", port, "master", "br0")
        host_ns.run("ip", "addr", "add", host_ip, "dev", "eth0")
        if host_ip6:
            host_ns.run("ip", "-6", "addr", "add", host_ip6, "dev", "eth0", "nodad")
        host_ns.run("ip", "route", "add", "default", "via", self.gateway.split("/")[0])
        host_sysctls(host_ns)


class FrrRouter:
    """FRR zebra + bgpd in a namespace, run as user frr without systemd (bgp.md 6.4)."""

    def __init__(self, ns: Netns, workdir: Path, config: str) -> None:
        self.ns = ns
        self.dir = workdir / "frr"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "zebra.conf").write_text("hostname leaf\n")
        (self.dir / "frr.conf").write_text(config)
        shutil.chown(self.dir, "frr", "frr")
        for f in self.dir.iterdir():
            shutil.chown(f, "frr", "frr")
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _common(self, daemon: str) -> list[str]:
        return ["-i", str(self.dir / f"{daemon}.pid"), "-z", str(self.dir / "zserv.api"),
                "--vty_socket", str(self.dir), "-A", "127.0.0.1", "-P", "0"]

    def start_daemon(self, daemon: str) -> None:
        conf = "zebra.conf" if daemon == "zebra" else "frr.conf"
        argv = [str(FRR_DIR / daemon), "-f", str(self.dir / conf), *self._common(daemon)]
        with open(self.dir / f"{daemon}.log", "ab") as log:
            self.procs[daemon] = subprocess.Popen(self.ns.popen_argv(argv), stdout=log,
                                                  stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> None:
        self.start_daemon("zebra")
        wait_until(lambda: (self.dir / "zserv.api").exists(), timeout=15, what="zebra socket")
        self.start_daemon("bgpd")
        wait_until(lambda: (self.dir / "bgpd.vty").exists(), timeout=15, what="bgpd vty")

    def vtysh(self, *cmds: str) -> str:
        argv = ["vtysh", "--vty_socket", str(self.dir)]
        for c in cmds:
            argv += ["-c", c]
        return self.ns.run(*argv, check=False, timeout=20).stdout

    def bgp_json(self) -> dict[str, Any]:
        return dict(json.loads(self.vtysh("show ip bgp json") or "{}"))

    def stop_daemon(self, daemon: str) -> None:
        proc = self.procs.pop(daemon, None)
        if proc is not None:
            stop_process(proc, timeout=10)

    def stop(self) -> None:
        for daemon in ("bgpd", "zebra"):
            self.stop_daemon(daemon)


@contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="calico-fv-bgp-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_detached(pidfile: Path, marker: str = "calico-node", timeout: float = 15) -> None:
    """Stop a detached process (not our child) by the PID in its pidfile, after checking its cmdline."""
    import signal
    import time

    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return
    if marker not in cmdline:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)


def cni_add(host: CalicoHost, container: Netns, container_id: str, *, ip: str | None = None,
            ipv6: bool = False, network: str = "calico-net") -> tuple[str, str | None]:
    """Network a container namespace through the real ``calico`` CNI plugin run in the host's
    namespace (IPAM from calico-ipam, WorkloadEndpoint written, veth + host /32 route); Felix then
    programs its policy. Returns the (IPv4, IPv6) addresses."""
    conf = {
        "cniVersion": "1.0.0", "name": network, "type": "calico", "nodename": host.name,
        "nodename_file_optional": True, "etcd_endpoints": host.env["ETCD_ENDPOINTS"],
        "log_file_path": str(host.dir / "cni.log"), "log_level": "info",
        "ipam": {"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": "true" if ipv6 else "false"},
    }
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": "ADD",
           "CNI_CONTAINERID": container_id, "CNI_NETNS": f"/run/netns/{container.name}",
           "CNI_IFNAME": "eth0", "CNI_PATH": "/usr/lib/cni"}
    if ip:
        env["CNI_ARGS"] = f"IP={ip}"
    proc = subprocess.run(host.ns.popen_argv([str(VENV_BIN / "calico")]), input=json.dumps(conf), env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"CNI ADD failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    ips = [a["address"].split("/")[0] for a in json.loads(proc.stdout)["ips"]]
    v4 = next(a for a in ips if ":" not in a)
    v6 = next((a for a in ips if ":" in a), None)
    return v4, v6


def felix_in_sync(host: CalicoHost) -> bool:
    return "Dataplane in sync" in host.log()

"""Helpers for the CNI functional tests: call the real plugin executables with the spec's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.etcd import EtcdServer
from tests.support.netns import Netns

BIN = Path(sys.executable).parent
POOL_PREFIX = "/calico/resources/v3/projectcalico.org/ippools/"
WEP_PREFIX = "/calico/resources/v3/projectcalico.org/workloadendpoints/"
PROFILE_PREFIX = "/calico/resources/v3/projectcalico.org/profiles/"
HANDLE_PREFIX = "/calico/ipam/v2/handle/"


@dataclass
class Call:
    rc: int
    out: Any  # parsed stdout JSON (None when empty)
    stderr: str


def netconf(etcd: EtcdServer, tmp: Path, name: str = "net1", node: str = "node1", **extra: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "cniVersion": "1.0.0", "name": name, "type": "calico", "nodename": node,
        "nodename_file_optional": True, "etcd_endpoints": etcd.unix_url,
        "log_file_path": str(tmp / "cni.log"), "log_level": "info",
        "ipam": {"type": "calico-ipam"},
    }
    conf.update(extra)
    return conf


def call(host: Netns | None, command: str, conf: dict[str, Any] | bytes | str, *, container_id: str = "",
         netns: str = "", ifname: str = "eth0", args: str = "", plugin: str = "calico",
         cni_path: str = "/usr/lib/cni", extra_env: dict[str, str] | None = None) -> Call:
    """Run a plugin binary as a runtime would (inside ``host``'s network namespace)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin:/usr/sbin:/sbin"), "CNI_COMMAND": command,
           "CNI_PATH": cni_path}
    if container_id:
        env["CNI_CONTAINERID"] = container_id
    if netns:
        env["CNI_NETNS"] = netns
    if ifname:
        env["CNI_IFNAME"] = ifname
    if args:
        env["CNI_ARGS"] = args
    env.update(extra_env or {})
    data = conf if isinstance(conf, bytes | str) else json.dumps(conf)
    argv = [str(BIN / plugin)]
    if host is not None:
        argv = ["nsenter", f"--net=/run/netns/{host.name}", *argv]
    proc = subprocess.run(argv, input=data.encode() if isinstance(data, str) else data, env=env,
                          capture_output=True, timeout=60, check=False)
    text = proc.stdout.decode().strip()
    return Call(proc.returncode, json.loads(text) if text else None, proc.stderr.decode())


def put_pool(etcd: EtcdServer, name: str, cidr: str, block_size: int = 26) -> None:
    doc = {"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
           "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"cidr": cidr, "blockSize": block_size, "ipipMode": "Never", "vxlanMode": "Never",
                    "natOutgoing": False, "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]}}
    etcd.etcdctl("put", POOL_PREFIX + name, json.dumps(doc, separators=(",", ":")))


def get_json(etcd: EtcdServer, key: str) -> Any:
    out = etcd.etcdctl("get", key, "--print-value-only").stdout.strip()
    return json.loads(out) if out else None


def keys_under(etcd: EtcdServer, prefix: str) -> list[str]:
    return sorted(k for k in etcd.etcdctl("get", prefix, "--prefix", "--keys-only").stdout.split() if k)


def links(ns: Netns) -> dict[str, dict[str, Any]]:
    return {link["ifname"]: link for link in json.loads(ns.run("ip", "-j", "addr", "show").stdout)}


def routes(ns: Netns, family: str = "-4") -> list[dict[str, Any]]:
    return list(json.loads(ns.run("ip", "-j", family, "route", "show").stdout))


def netns_path(ns: Netns) -> str:
    return f"/run/netns/{ns.name}"

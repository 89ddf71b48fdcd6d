"""IPAM functional fixtures: a real etcd, pools written as Calico's IPPool JSON."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from tests.support.etcd import EtcdServer

T = TypeVar("T")

POOL_PREFIX = "/calico/resources/v3/projectcalico.org/ippools/"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def pool_doc(name: str, cidr: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"cidr": cidr, "ipipMode": "Never", "vxlanMode": "Never", "natOutgoing": False,
                            "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"]}
    body.update(spec)
    return {"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
            "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": body}


def put_pool(etcd: EtcdServer, name: str, cidr: str, **spec: Any) -> None:
    etcd.etcdctl("put", POOL_PREFIX + name, json.dumps(pool_doc(name, cidr, **spec), separators=(",", ":")))


def put_json(etcd: EtcdServer, key: str, doc: Any) -> None:
    etcd.etcdctl("put", key, json.dumps(doc, separators=(",", ":")))


def get_json(etcd: EtcdServer, key: str) -> Any:
    out = etcd.etcdctl("get", key, "--print-value-only").stdout.strip()
    return json.loads(out) if out else None


def keys_under(etcd: EtcdServer, prefix: str) -> list[str]:
    out = etcd.etcdctl("get", prefix, "--prefix", "--keys-only").stdout.split()
    return sorted(k for k in out if k)


@pytest.fixture
def etcd_ipam(etcd: EtcdServer) -> EtcdServer:
    return etcd

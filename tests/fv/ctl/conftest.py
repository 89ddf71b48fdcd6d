from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.etcd import EtcdServer

CALICOCTL = str(Path(sys.executable).with_name("calicoctl"))
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Result:
    rc: int
    out: str
    err: str


class Ctl:
    """Runs the real calicoctl executable against the test etcd."""

    def __init__(self, etcd: EtcdServer) -> None:
        self.etcd = etcd
        self.env = dict(os.environ, DATASTORE_TYPE="etcdv3", ETCD_ENDPOINTS=etcd.url)

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        p = subprocess.run([CALICOCTL, *args], input=input, capture_output=True, text=True,
                           env=env or self.env, timeout=60)
        return Result(p.returncode, p.stdout, p.stderr)

    def ok(self, *args: str, input: str | None = None) -> str:
        r = self(*args, input=input)
        assert r.rc == 0, f"calicoctl {' '.join(args)} failed: {r.err}{r.out}"
        return r.out

    def stored(self, prefix: str = "/calico/resources/v3/") -> dict[str, dict[str, object]]:
        out = self.etcd.etcdctl("get", "--prefix", prefix, "-w", "json").stdout
        data = json.loads(out)
        import base64

        return {base64.b64decode(kv["key"]).decode(): json.loads(base64.b64decode(kv["value"]))
                for kv in data.get("kvs", [])}


@pytest.fixture
def ctl(etcd: EtcdServer) -> Ctl:
    return Ctl(etcd)

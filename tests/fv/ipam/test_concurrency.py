"""Four processes, each a different host, contend for a small pool's blocks at the same time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fv.ipam.conftest import get_json, keys_under, put_pool
from tests.support.etcd import EtcdServer
from tests.support.procs import stop_process

pytestmark = [pytest.mark.needs_etcd, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
HOSTS = ("host-a", "host-b", "host-c", "host-d")
PER_HOST = 500
WINDOW = 60  # live addresses per host: up to 4 x 61 of 256, so two hosts must borrow


def test_four_hosts_allocate_and_release_concurrently(etcd: EtcdServer) -> None:
    put_pool(etcd, "small", "10.30.0.0/24", blockSize=25)  # two blocks for four hosts
    env = {**os.environ, "ETCD_ENDPOINTS": etcd.url, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-m", "tests.fv.ipam.ipam_worker", h, str(PER_HOST), str(WINDOW),
                               str(i)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True) for i, h in enumerate(HOSTS)]
    try:
        outputs = [p.communicate(timeout=150) for p in procs]
    finally:
        for p in procs:
            stop_process(p)
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]

    events = [json.loads(line) for out, _ in outputs for line in out.splitlines()]
    allocs = [e for e in events if e["op"] == "a"]
    assert len(allocs) == PER_HOST * len(HOSTS)
    # Zero duplicates: ordered by the etcd revision of each write, every address alternates
    # allocate -> release(same handle) -> allocate ..., across all four processes.
    by_ip: dict[str, list[dict[str, object]]] = {}
    for e in events:
        if e["op"] in ("a", "r"):
            by_ip.setdefault(e["ip"], []).append(e)
    for ip, evs in by_ip.items():
        evs.sort(key=lambda e: e["rev"])  # type: ignore[arg-type, return-value]
        for n, e in enumerate(evs):
            assert e["op"] == ("a" if n % 2 == 0 else "r"), f"{ip} handed out twice: {evs}"
            if e["op"] == "r":
                assert e["handle"] == evs[n - 1]["handle"]
        assert evs[-1]["op"] == "r"
    assert len(by_ip) > 64  # blocks were shared out among the hosts
    done = [e for e in events if e["op"] == "done"]
    print("round trips per host:", [e["round_trips"] for e in done], "CAS conflicts:", [e["conflicts"] for e in done])

    # Zero leaks: every block empty, every handle gone, and ipam check agrees.
    blocks = [get_json(etcd, k) for k in keys_under(etcd, "/calico/ipam/v2/assignment/")]
    assert blocks and all(all(a is None for a in b["allocations"]) for b in blocks)
    assert all(len(b["unallocated"]) == len(b["allocations"]) for b in blocks)
    assert keys_under(etcd, "/calico/ipam/v2/handle/") == []
    check = subprocess.run([str(ROOT / ".venv/bin/calicoctl"), "ipam", "check"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().endswith("Check complete; found 0 problems."), check.stdout

"""Endpoint status files (EndpointStatusPathPrefix): what the CNI plugin waits for.

Felix writes ``<prefix>/endpoint-status/<orchestrator> <ns%2Fworkload> <endpoint>`` holding the
endpoint's JSON status once its dataplane is programmed and up, and removes it when the endpoint
goes; after a restart, stale files are removed and valid ones left untouched (Calico's
``pod_setup_wait_test``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fv.felix.conftest import Cluster, default_profile, pool
from tests.support.procs import wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]


@pytest.fixture(scope="module")
def cluster(cluster_factory: Any) -> Cluster:
    c: Cluster = cluster_factory()
    default_profile(c.store)
    pool(c.store)
    c.add_host("felix-sf", 1)
    return c


def status_dir(c: Cluster) -> Path:
    return Path(c.hosts[0].felix_env()["FELIX_ENDPOINTSTATUSPATHPREFIX"]) / "endpoint-status"


def filename(name: str) -> str:
    return f"felixfv default%2F{name} eth0"


def test_file_written_once_programmed_and_removed_with_endpoint(cluster: Cluster) -> None:
    c = cluster
    h = c.hosts[0]
    w1 = c.add_workload(h, "w1", "10.65.0.1", ports=())
    path = status_dir(c) / filename("w1")
    wait_until(path.exists, timeout=15, what="status file of w1")
    # Written only after the apply that programmed the endpoint: its chains and route are in.
    assert f":cali-tw-{w1.iface}" in h.iptables_save("filter")
    assert f"dev {w1.iface}" in h.run("ip", "route", "show", "10.65.0.1").stdout
    doc = json.loads(path.read_text())
    assert doc == {"ifaceName": w1.iface, "mac": w1.mac, "ipv4Nets": ["10.65.0.1/32"]}
    assert oct(os.stat(path).st_mode & 0o777) == "0o644"
    w1.remove(c.store)
    wait_until(lambda: not path.exists(), timeout=15, what="status file of w1 removed")


def test_no_file_while_interface_is_missing(cluster: Cluster) -> None:
    """An endpoint whose interface does not exist yet is down: no file until the CNI creates it."""
    c = cluster
    h = c.hosts[0]
    w2 = c.add_workload(h, "w2", "10.65.0.2", ports=(), create_iface=False)
    marker = c.add_workload(h, "w3", "10.65.0.3", ports=())  # a later endpoint, to know Felix caught up
    wait_until((status_dir(c) / filename("w3")).exists, timeout=15, what="status file of w3")
    assert not (status_dir(c) / filename("w2")).exists()
    w2.create_iface()
    wait_until((status_dir(c) / filename("w2")).exists, timeout=15, what="status file of w2 once up")
    w2.remove(c.store)
    marker.remove(c.store)
    wait_until(lambda: not any(status_dir(c).iterdir()), timeout=15, what="status files removed")


def test_restart_removes_stale_files_and_keeps_valid_ones(cluster: Cluster) -> None:
    c = cluster
    h = c.hosts[0]
    w4 = c.add_workload(h, "w4", "10.65.0.4", ports=())
    valid = status_dir(c) / filename("w4")
    wait_until(valid.exists, timeout=15, what="status file of w4")
    h.stop_felix()
    stale = status_dir(c) / "felixfv default%2Fgone eth0"
    stale.write_text("{}")
    before = os.stat(valid).st_mtime_ns
    h.start_felix()
    h.wait_felix_in_sync()
    wait_until(lambda: not stale.exists(), timeout=15, what="stale status file removed")
    assert valid.exists() and os.stat(valid).st_mtime_ns == before, "valid file rewritten or removed"
    w4.remove(c.store)
    wait_until(lambda: not valid.exists(), timeout=15, what="status file of w4 removed")


def test_none_disables_status_files(cluster: Cluster) -> None:
    c = cluster
    h = c.add_host("felix-sn", 2, FELIX_ENDPOINTSTATUSPATHPREFIX="none")
    x1 = c.add_workload(h, "x1", "10.65.2.1", ports=())
    h.wait_felix_in_sync()
    wait_until(lambda: f":cali-tw-{x1.iface}" in h.iptables_save("filter"), timeout=15, what="x1 programmed")
    assert "endpoint status files" not in h.log_text()
    assert not Path("none").exists()

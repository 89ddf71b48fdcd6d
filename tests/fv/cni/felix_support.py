"""Run a real calico-felix inside a test host namespace (stopped by PID afterwards)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.etcd import EtcdServer
from tests.support.netns import Netns
from tests.support.procs import stop_process, wait_until

FELIX = Path(__file__).resolve().parents[3] / "src" / "calico" / "felix" / "daemon.py"


def felix_available() -> bool:
    return FELIX.exists()


def _env(etcd: EtcdServer, node: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FELIX_", "ETCD_"))}
    env.update({"FELIX_FELIXHOSTNAME": node, "ETCD_ENDPOINTS": etcd.unix_url, "FELIX_LOGFILEPATH": "none",
                "FELIX_LOGSEVERITYSCREEN": "INFO", "FELIX_CONFIGFILE": str(tmp / f"felix-{node}.cfg"),
                "FELIX_ENDPOINTSTATUSPATHPREFIX": str(tmp / f"status-{node}"),
                "FELIX_IPTABLESREFRESHINTERVAL": "3", "FELIX_ROUTEREFRESHINTERVAL": "3", "PYTHONUNBUFFERED": "1"})
    return env


@contextmanager
def running_felix(etcd: EtcdServer, host: Netns, node: str, host_ip: str, tmp: Path) -> Iterator[Path]:
    """Felix for ``node`` in ``host``'s namespace, in sync with the datastore; yields its log path."""
    if not felix_available():
        pytest.skip("calico-felix (src/calico/felix/daemon.py) is not available yet")
    etcd.etcdctl("put", f"/calico/resources/v3/projectcalico.org/nodes/{node}", json.dumps(
        {"kind": "Node", "apiVersion": "projectcalico.org/v3", "metadata": {"name": node},
         "spec": {"bgp": {"ipv4Address": host_ip}}}))
    log_path = tmp / f"felix-{node}.log"
    with open(log_path, "wb") as logf:
        proc = subprocess.Popen(host.popen_argv([sys.executable, "-m", "calico.felix.daemon"]),
                                env=_env(etcd, node, tmp), stdout=logf, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        def in_sync() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"felix on {node} exited: {log_path.read_text()[-3000:]}")
            return "Dataplane in sync" in log_path.read_text(errors="replace")

        wait_until(in_sync, timeout=60, interval=0.2, what=f"felix on {node} in sync")
        yield log_path
    finally:
        stop_process(proc, timeout=10)

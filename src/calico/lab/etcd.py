"""A real etcd server for the lab, the demo and the tests: loopback port plus a unix socket
reachable from every network namespace."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from calico.lab.procs import stop_process, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class EtcdServer:
    """etcd listening on ``http://127.0.0.1:<port>`` and ``unix://<dir>/etcd.sock:0``."""

    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="calico-etcd-")))
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        return self.workdir / "etcd.sock:0"

    @property
    def unix_url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def endpoints(self) -> str:
        """What ETCD_ENDPOINTS should be for code running in any namespace."""
        return self.unix_url

    def start(self) -> EtcdServer:
        peer = free_port()
        with open(self.workdir / "etcd.log", "wb") as log:  # the child keeps its own copy of the fd
            self.proc = subprocess.Popen(
                [
                    "etcd", "--name", "test", "--data-dir", str(self.workdir / "data"),
                    "--listen-client-urls", f"{self.url},unix://etcd.sock:0",
                    "--advertise-client-urls", self.url,
                    "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                    "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                    "--initial-cluster", f"test=http://127.0.0.1:{peer}",
                    "--log-level", "error", "--logger", "zap",
                ],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_until(self._healthy, timeout=20, what="etcd to start")
        return self

    def _healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"etcd exited: {(self.workdir / 'etcd.log').read_text()[-2000:]}")
        return self.etcdctl("endpoint", "health", check=False).returncode == 0

    def etcdctl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["etcdctl", "--endpoints", self.url, *args],
            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
            capture_output=True, text=True, check=check, input=input, timeout=30,
        )

    def wipe(self) -> None:
        self.etcdctl("del", "--prefix", "/calico")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

"""EtcdDatastore over TLS (client certificates) with username/password auth, on a private etcd."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from calico.common.record import replace
from calico.datastore.base import Unavailable
from calico.datastore.config import DatastoreConfig
from calico.datastore.etcd import AuthenticationFailed, EtcdDatastore
from tests.support.etcd import free_port
from tests.support.procs import stop_process, wait_until

pytestmark = pytest.mark.needs_etcd

PASSWORD = "calico-test-pw"


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_pki(d: Path) -> None:
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, ext in (("server", ["-extfile", "server.ext"]), ("client", [])):
        cn = "localhost" if name == "server" else "root"
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *ext, cwd=d)


@dataclass
class TlsEtcd:
    dir: Path
    url: str

    def config(self, **kw: object) -> DatastoreConfig:
        base = DatastoreConfig(
            endpoints=[self.url], ca_cert_file=str(self.dir / "ca.pem"),
            cert_file=str(self.dir / "client.pem"), key_file=str(self.dir / "client.key"),
            username="root", password=PASSWORD,
        )
        return replace(base, **kw)  # type: ignore[arg-type]

    def etcdctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["etcdctl", "--endpoints", self.url, "--cacert", str(self.dir / "ca.pem"),
             "--cert", str(self.dir / "client.pem"), "--key", str(self.dir / "client.key"), *args],
            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30,
        )


@pytest.fixture(scope="module")
def tls_etcd() -> Iterator[TlsEtcd]:
    if not shutil.which("etcd") or not shutil.which("openssl"):
        pytest.skip("needs etcd and openssl")
    d = Path(tempfile.mkdtemp(prefix="calico-etcd-tls-"))
    proc = None
    try:
        make_pki(d)
        port, peer = free_port(), free_port()
        url = f"https://127.0.0.1:{port}"
        with open(d / "etcd.log", "wb") as log:
            proc = subprocess.Popen(
                ["etcd", "--name", "tls", "--data-dir", str(d / "data"),
                 "--listen-client-urls", url, "--advertise-client-urls", url,
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-cluster", f"tls=http://127.0.0.1:{peer}",
                 "--cert-file", str(d / "server.pem"), "--key-file", str(d / "server.key"),
                 "--trusted-ca-file", str(d / "ca.pem"), "--client-cert-auth",
                 "--log-level", "error", "--logger", "zap"],
                cwd=d, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        server = TlsEtcd(d, url)
        wait_until(lambda: server.etcdctl("endpoint", "health").returncode == 0, timeout=20,
                   what="TLS etcd to start")
        for args in (("user", "add", "root", f"--new-user-password={PASSWORD}"), ("auth", "enable")):
            res = server.etcdctl(*args)
            assert res.returncode == 0, res.stderr
        yield server
    finally:
        if proc is not None:
            stop_process(proc)
        shutil.rmtree(d, ignore_errors=True)


def test_tls_with_client_cert_and_password(tls_etcd: TlsEtcd) -> None:
    async def main() -> tuple[str | None, list[str]]:
        async with EtcdDatastore(tls_etcd.config()) as ds:
            start = await ds.revision() + 1
            await ds.create("/calico/resources/v3/projectcalico.org/ippools/tls", "secure")
            kv = await ds.get("/calico/resources/v3/projectcalico.org/ippools/tls")
            seen: list[str] = []
            async for batch in ds.watch("/calico/", start):
                seen.extend(e.key for e in batch)
                break
            return (kv.value if kv else None), seen

    value, seen = asyncio.run(main())
    assert value == "secure"
    assert seen == ["/calico/resources/v3/projectcalico.org/ippools/tls"]


def test_inline_pem_material(tls_etcd: TlsEtcd) -> None:
    d = tls_etcd.dir
    cfg = tls_etcd.config(ca_cert_file="", cert_file="", key_file="",
                          ca_cert=(d / "ca.pem").read_text(), cert=(d / "client.pem").read_text(),
                          key=(d / "client.key").read_text())

    async def main() -> int:
        async with EtcdDatastore(cfg) as ds:
            return await ds.revision()

    assert asyncio.run(main()) > 0


def test_wrong_password_is_a_clear_error(tls_etcd: TlsEtcd) -> None:
    async def main() -> None:
        async with EtcdDatastore(tls_etcd.config(password="wrong")) as ds:
            await ds.get("/calico/x")

    with pytest.raises(AuthenticationFailed, match="authentication failed for user 'root'"):
        asyncio.run(main())


def test_untrusted_server_is_unavailable(tls_etcd: TlsEtcd) -> None:
    async def main() -> None:
        async with EtcdDatastore(tls_etcd.config(ca_cert_file=""), timeout=1.0) as ds:
            await ds.get("/calico/x")

    with pytest.raises(Unavailable, match=tls_etcd.url):
        asyncio.run(main())

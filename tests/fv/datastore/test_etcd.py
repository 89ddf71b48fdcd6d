"""EtcdDatastore against a real etcd: CAS semantics, listing, endpoints, deadlines and watches."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from calico.datastore.base import (
    AlreadyExists,
    Compacted,
    Conflict,
    EventType,
    NotFound,
    Unavailable,
    WatchEvent,
)
from calico.datastore.config import ConfigError, DatastoreConfig, connect
from calico.datastore.etcd import EtcdDatastore
from tests.support.etcd import EtcdServer, free_port
from tests.support.procs import wait_until

pytestmark = pytest.mark.needs_etcd

T = TypeVar("T")
ROOT = "/calico/resources/v3/projectcalico.org/"
REPO = Path(__file__).resolve().parents[3]


def with_ds(endpoints: list[str], body: Callable[[EtcdDatastore], Awaitable[T]], **kw: float) -> T:
    async def main() -> T:
        async with EtcdDatastore(DatastoreConfig(endpoints=endpoints), **kw) as ds:
            return await body(ds)

    return asyncio.run(main())


def test_create_update_delete_cas(etcd: EtcdServer) -> None:
    key = ROOT + "ippools/pool1"

    async def body(ds: EtcdDatastore) -> None:
        rev = await ds.create(key, '{"a":1}')
        with pytest.raises(AlreadyExists):
            await ds.create(key, '{"a":2}')
        kv = await ds.get(key)
        assert kv is not None and kv.value == '{"a":1}' and kv.mod_revision == rev == kv.create_revision

        rev2 = await ds.update(key, '{"a":3}', rev)
        assert rev2 > rev
        with pytest.raises(Conflict) as conflict:
            await ds.update(key, '{"a":4}', rev)  # stale
        assert (conflict.value.expected, conflict.value.actual) == (rev, rev2)
        with pytest.raises(NotFound):
            await ds.update(ROOT + "ippools/missing", "{}", rev)

        old = await ds.get(key, revision=rev)  # WithRev
        assert old is not None and old.value == '{"a":1}'

        with pytest.raises(Conflict):
            await ds.delete(key, revision=rev)
        deleted = await ds.delete(key, revision=rev2)
        assert (deleted.key, deleted.value, deleted.mod_revision) == (key, '{"a":3}', rev2)
        with pytest.raises(NotFound):
            await ds.delete(key)
        with pytest.raises(NotFound):
            await ds.delete(key, revision=rev2)
        assert await ds.get(key) is None

    with_ds([etcd.url], body)


def test_values_interoperate_with_etcdctl(etcd: EtcdServer) -> None:
    key = ROOT + "nodes/n1"
    etcd.etcdctl("put", key, '{"kind":"Node"}')

    async def body(ds: EtcdDatastore) -> None:
        kv = await ds.get(key)
        assert kv is not None and json.loads(kv.value) == {"kind": "Node"}
        await ds.put(ROOT + "nodes/n2", '{"kind":"Node","é":"ü"}')

    with_ds([etcd.url], body)
    out = etcd.etcdctl("get", ROOT + "nodes/n2", "--print-value-only").stdout.strip()
    assert json.loads(out) == {"kind": "Node", "é": "ü"}


def test_list_is_sorted_with_header_revision(etcd: EtcdServer) -> None:
    names = ["b", "a", "c/x", "c", "a0"]
    for n in names:
        etcd.etcdctl("put", ROOT + "hostendpoints/" + n, "{}")
    etcd.etcdctl("put", ROOT + "hostendpointsX", "not under the prefix")

    async def body(ds: EtcdDatastore) -> tuple[list[str], int]:
        kvs, rev = await ds.list(ROOT + "hostendpoints/")
        return [kv.key for kv in kvs], rev

    keys, rev = with_ds([etcd.url], body)
    assert keys == [ROOT + "hostendpoints/" + n for n in sorted(names)]
    header = json.loads(etcd.etcdctl("get", "/calico", "-w", "json").stdout)["header"]["revision"]
    assert rev == int(header)


def test_list_pages_are_one_consistent_read(etcd: EtcdServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from calico.datastore import etcd as etcd_mod

    monkeypatch.setattr(etcd_mod, "LIST_PAGE_SIZE", 7)
    lines = "".join(f"put {ROOT}ipreservations/r{i:03d} v{i}\n" for i in range(50))
    etcd.etcdctl("txn", input=f"\n{lines}\n\n")

    async def body(ds: EtcdDatastore) -> tuple[list[str], int, int]:
        kvs, rev = await ds.list(ROOT + "ipreservations/")
        await ds.put(ROOT + "ipreservations/r000", "changed")
        return [kv.value for kv in kvs], rev, await ds.revision()

    values, rev, after = with_ds([etcd.url], body)
    assert values == [f"v{i}" for i in range(50)]
    assert after == rev + 1


def test_delete_prefix_counts(etcd: EtcdServer) -> None:
    for i in range(3):
        etcd.etcdctl("put", f"/calico/ipam/v2/handle/h{i}", "{}")
    etcd.etcdctl("put", "/calico/ipam/v2/handlez", "{}")
    assert with_ds([etcd.url], lambda ds: ds.delete_prefix("/calico/ipam/v2/handle/")) == 3
    assert etcd.etcdctl("get", "/calico/ipam/v2/handlez", "--print-value-only").stdout.strip() == "{}"


def test_create_with_ttl_expires(etcd: EtcdServer) -> None:
    key = "/calico/felix/v2/ttl-test"
    key2 = "/calico/felix/v2/ttl-put"

    async def body(ds: EtcdDatastore) -> None:
        await ds.create(key, "alive", ttl=1)
        await ds.put(key2, "status", ttl=1)

    with_ds([etcd.url], body)
    assert etcd.etcdctl("get", key, "--print-value-only").stdout.strip() == "alive"
    assert etcd.etcdctl("get", key2, "--print-value-only").stdout.strip() == "status"
    wait_until(lambda: etcd.etcdctl("get", "--prefix", "/calico/felix/v2/ttl-", "--keys-only").stdout.strip() == "",
               timeout=10, what="the leased keys to expire")


def test_unix_socket_endpoint(etcd: EtcdServer) -> None:
    assert etcd.unix_url.startswith("unix:///")
    key = ROOT + "profiles/unix"

    async def body(ds: EtcdDatastore) -> str | None:
        await ds.create(key, "via-socket")
        kv = await ds.get(key)
        return kv.value if kv else None

    assert with_ds([etcd.unix_url], body) == "via-socket"


def test_relative_unix_socket_endpoint(etcd: EtcdServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``unix://etcd.sock:0`` (etcd's own listener spelling) is relative to the working directory."""
    monkeypatch.chdir(etcd.workdir)
    assert isinstance(with_ds(["unix://etcd.sock:0"], lambda ds: ds.revision()), int)


def test_failover_when_first_endpoint_is_dead(etcd: EtcdServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()

    async def body(ds: EtcdDatastore) -> list[str]:
        await ds.put(ROOT + "profiles/fo", "1")
        kvs, _ = await ds.list(ROOT + "profiles/")
        await ds.put(ROOT + "profiles/fo", "2")  # sticks to the endpoint that works
        return [kv.value for kv in kvs]

    assert with_ds([dead, etcd.url], body) == ["1"]
    assert time.monotonic() - start < 3


def test_dead_endpoint_is_unavailable_within_deadline() -> None:
    dead = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
    start = time.monotonic()
    with pytest.raises(Unavailable) as exc:
        asyncio.run(connect(DatastoreConfig(endpoints=dead)))
    elapsed = time.monotonic() - start
    assert elapsed < 8
    message = str(exc.value)
    assert dead[0] in message and dead[1] in message
    assert "Traceback" not in message


def test_short_timeout_is_honoured() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(Unavailable):
        with_ds([dead], lambda ds: ds.get("/calico/x"), timeout=1.0)
    assert time.monotonic() - start < 3


WRITER = """
import asyncio, sys
from calico.datastore.config import DatastoreConfig
from calico.datastore.etcd import EtcdDatastore

async def main(url, n):
    async with EtcdDatastore(DatastoreConfig(endpoints=[url])) as ds:
        for i in range(n):
            await ds.put(f"/calico/resources/v3/projectcalico.org/networksets/ns1/k{i:04d}", str(i))
        await ds.delete(f"/calico/resources/v3/projectcalico.org/networksets/ns1/k0000")

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_watch_sees_another_process_writes_in_order(etcd: EtcdServer) -> None:
    n = 200
    prefix = ROOT + "networksets/"

    async def body(ds: EtcdDatastore) -> list[WatchEvent]:
        start = await ds.revision() + 1
        events: list[WatchEvent] = []

        async def consume() -> None:
            async for batch in ds.watch(prefix, start):
                events.extend(batch)
                if len(events) >= n + 1:
                    return

        task = asyncio.create_task(consume())
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WRITER, etcd.url, str(n), cwd=str(REPO))
        assert await asyncio.wait_for(proc.wait(), 60) == 0
        await asyncio.wait_for(task, 30)
        return events

    events = with_ds([etcd.unix_url], body)
    assert [e.key for e in events[:n]] == [f"{prefix}ns1/k{i:04d}" for i in range(n)]
    assert [e.value for e in events[:n]] == [str(i) for i in range(n)]
    revs = [e.mod_revision for e in events]
    assert revs == sorted(revs) and len(set(revs)) == len(revs)
    assert (events[-1].type, events[-1].key, events[-1].value) == (EventType.DELETE, f"{prefix}ns1/k0000", None)


def test_watch_from_compacted_revision_raises_promptly(etcd: EtcdServer) -> None:
    async def body(ds: EtcdDatastore) -> float:
        first = await ds.put("/calico/felix/v2/c", "1")
        await ds.put("/calico/felix/v2/c", "2")
        last = await ds.put("/calico/felix/v2/c", "3")
        await ds.compact(last)
        start = time.monotonic()
        with pytest.raises(Compacted) as exc:
            async for _ in ds.watch("/calico/felix/v2/", first):
                pass
        assert exc.value.compact_revision == last
        return time.monotonic() - start

    assert with_ds([etcd.url], body) < 2


@pytest.fixture
def hung_endpoint() -> Iterator[str]:
    """A loopback port whose TCP handshake completes but which never speaks HTTP/2."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def test_hung_endpoint_times_out_then_fails_over(etcd: EtcdServer, hung_endpoint: str) -> None:
    async def body(ds: EtcdDatastore) -> tuple[float, float, list[WatchEvent]]:
        t0 = time.monotonic()
        rev = await ds.create(ROOT + "profiles/hung", "1")  # not idempotent: retried only as unsent
        first = time.monotonic() - t0
        t0 = time.monotonic()
        await ds.get(ROOT + "profiles/hung")
        second = time.monotonic() - t0
        async for batch in ds.watch(ROOT + "profiles/", rev):
            return first, second, batch
        raise AssertionError("watch ended")

    first, second, batch = with_ds([hung_endpoint, etcd.url], body)
    assert first < 4 and second < 0.5
    assert [e.value for e in batch] == ["1"]


def test_hung_endpoint_alone_is_unavailable(hung_endpoint: str) -> None:
    start = time.monotonic()
    with pytest.raises(Unavailable, match=hung_endpoint):
        with_ds([hung_endpoint], lambda ds: ds.put("/calico/x", "y"), timeout=2.0)
    assert time.monotonic() - start < 4


def test_unreadable_certificate_file_is_a_config_error(tmp_path: Path) -> None:
    cfg = DatastoreConfig(endpoints=["https://127.0.0.1:2379"], ca_cert_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match=r"could not read etcd CA certificate file .*missing\.pem: No such file"):
        asyncio.run(connect(cfg))

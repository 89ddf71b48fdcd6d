"""The Datastore protocol on etcd v3, over gRPC with aetcd's generated etcd stubs.

aetcd's ``Client`` only builds insecure host:port channels and has no per-call deadline policy,
so this adapter owns its channels (http, https with TLS, unix sockets; several endpoints with
failover) and speaks the KV/Watch/Lease stubs directly. Every unary call shares one deadline
(``DatastoreConfig.timeout``) across all endpoints: an unreachable etcd gives ``Unavailable``
naming the endpoints, never a hang or a gRPC traceback.

grpc and aetcd are imported here only; light CLIs import ``calico.datastore.config`` alone.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # no C-core noise on stderr for a refused endpoint

import grpc
from aetcd import rpc
from grpc import aio

from calico.datastore.base import (
    AlreadyExists,
    Compacted,
    Conflict,
    DatastoreError,
    EventType,
    KeyValue,
    NotFound,
    Unavailable,
    WatchEvent,
)
from calico.datastore.config import ConfigError, DatastoreConfig, Endpoint
from calico.datastore.txn import Cmp, Delete, Get, Put, TxnResult

log = logging.getLogger(__name__)

T = TypeVar("T")

LIST_PAGE_SIZE = 5000
_MAX_MESSAGE = 256 * 1024 * 1024
_CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.max_receive_message_length", _MAX_MESSAGE),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # Reconnect quickly after etcd restarts (the defaults back off to two minutes).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # Notice a silently dead peer under a long-lived watch (etcd allows pings every 5 s).
    ("grpc.keepalive_time_ms", 30000),
    ("grpc.keepalive_timeout_ms", 10000),
    ("grpc.http2.max_pings_without_data", 0),
)
_RETRY_CODES = frozenset({grpc.StatusCode.UNAVAILABLE})


class AuthenticationFailed(DatastoreError):
    """etcd refused the configured username/password (or auth is not enabled)."""


class _AttemptTimeout(Exception):
    """One endpoint did not answer within its share of the call's deadline."""


def prefix_range_end(prefix: bytes) -> bytes:
    """etcd's range end for 'every key starting with prefix'."""
    end = bytearray(prefix)
    while end:
        if end[-1] < 0xFF:
            end[-1] += 1
            return bytes(end)
        end.pop()
    return b"\0"


@dataclass
class _Conn:
    """One endpoint's channel, stubs and auth token (created on first use)."""

    endpoint: Endpoint
    channel: aio.Channel
    kv: Any
    watch: Any
    lease: Any
    maintenance: Any
    auth: Any
    metadata: tuple[tuple[str, str], ...] | None = None
    token_ok: bool = field(default=False)


class EtcdDatastore:
    """etcd v3 implementation of ``calico.datastore.base.Datastore``."""

    def __init__(self, config: DatastoreConfig | None = None, *, timeout: float | None = None) -> None:
        self.config = config if config is not None else DatastoreConfig()
        self.timeout = float(timeout if timeout is not None else self.config.timeout)
        self._endpoints = self.config.parsed_endpoints()
        if not self._endpoints:
            raise ConfigError("no etcd endpoints configured")
        self._conns: dict[int, _Conn] = {}
        self._current = 0
        self._credentials: grpc.ChannelCredentials | None = None
        self._closed = False

    # ------------------------------------------------------------------ connection handling

    @property
    def endpoint_urls(self) -> list[str]:
        return [e.url for e in self._endpoints]

    def _channel_credentials(self) -> grpc.ChannelCredentials:
        if self._credentials is None:
            cfg = self.config
            ca = _pem(cfg.ca_cert, cfg.ca_cert_file, "CA certificate")
            cert = _pem(cfg.cert, cfg.cert_file, "client certificate")
            key = _pem(cfg.key, cfg.key_file, "client key")
            if bool(cert) != bool(key):
                raise ConfigError("etcd TLS needs both a client certificate and a client key (or neither)")
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=ca, private_key=key, certificate_chain=cert
            )
        return self._credentials

    def _conn(self, index: int) -> _Conn:
        conn = self._conns.get(index)
        if conn is None:
            endpoint = self._endpoints[index]
            if endpoint.tls:
                channel = aio.secure_channel(endpoint.target, self._channel_credentials(), _CHANNEL_OPTIONS)
            else:
                channel = aio.insecure_channel(endpoint.target, _CHANNEL_OPTIONS)
            conn = _Conn(
                endpoint=endpoint,
                channel=channel,
                kv=rpc.KVStub(channel),
                watch=rpc.WatchStub(channel),
                lease=rpc.LeaseStub(channel),
                maintenance=rpc.MaintenanceStub(channel),
                auth=rpc.AuthStub(channel),
            )
            self._conns[index] = conn
        return conn

    async def _authenticate(self, conn: _Conn, timeout: float) -> None:
        if not self.config.username or conn.metadata is not None:
            return
        try:
            resp = await conn.auth.Authenticate(
                rpc.AuthenticateRequest(name=self.config.username, password=self.config.password),
                timeout=timeout,
            )
        except aio.AioRpcError as exc:
            if exc.code() in _RETRY_CODES or exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise
            raise AuthenticationFailed(
                f"etcd authentication failed for user '{self.config.username}' at "
                f"{conn.endpoint.url}: {exc.details()}"
            ) from None
        conn.metadata = (("token", resp.token),)

    async def _call(self, what: str, fn: Callable[[_Conn, float], Awaitable[T]], *, idempotent: bool) -> T:
        """Run ``fn`` against the current endpoint, failing over to the others, within the deadline."""
        if self._closed:
            raise DatastoreError("datastore client is closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        n = len(self._endpoints)
        backoff = 0.05
        last = "no endpoint tried"
        while True:
            start = self._current
            for i in range(n):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                index = (start + i) % n
                conn = self._conn(index)
                share = max(remaining / (n - i), min(remaining, 0.5))
                reauthed = False
                while True:
                    try:
                        await self._authenticate(conn, share)
                        result = await fn(conn, share)
                    except aio.AioRpcError as exc:
                        code = exc.code()
                        if (code == grpc.StatusCode.UNAUTHENTICATED and self.config.username
                                and not reauthed):
                            conn.metadata = None  # token expired or from a restarted member
                            reauthed = True
                            continue
                        if code in _RETRY_CODES or (
                            code == grpc.StatusCode.DEADLINE_EXCEEDED
                            and (idempotent or not _was_ready(conn))
                        ):
                            last = f"{conn.endpoint.url}: {_short(exc)}"
                            log.debug("etcd %s failed on %s: %s", what, conn.endpoint.url, _short(exc))
                            break
                        raise _translate(exc, what) from None
                    except _AttemptTimeout:
                        last = f"{conn.endpoint.url}: no answer within {share:.1f}s"
                        break
                    if index != self._current:
                        log.info("etcd: using endpoint %s", conn.endpoint.url)
                        self._current = index
                    return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Unavailable(
                    f"etcd unavailable at {', '.join(self.endpoint_urls)}: could not {what} "
                    f"within {self.timeout:g}s ({last})"
                )
            await asyncio.sleep(min(backoff, remaining))
            backoff = min(backoff * 2, 1.0)

    async def close(self) -> None:
        self._closed = True
        conns, self._conns = self._conns, {}
        for conn in conns.values():
            await conn.channel.close()

    async def __aenter__(self) -> EtcdDatastore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ reads

    async def get(self, key: str, revision: int | None = None) -> KeyValue | None:
        """The key's current value (or at ``revision``, like etcd's WithRev), None if absent."""
        req = rpc.RangeRequest(key=key.encode(), revision=revision or 0)

        async def op(conn: _Conn, timeout: float) -> Any:
            return await conn.kv.Range(req, timeout=timeout, metadata=conn.metadata)

        resp = await self._call(f"get {key}", op, idempotent=True)
        return _kv(resp.kvs[0]) if resp.kvs else None

    async def list(self, prefix: str, revision: int | None = None) -> tuple[builtins.list[KeyValue], int]:
        """Every key under prefix, sorted, as of one revision (pages pinned to the first's revision)."""
        key = prefix.encode()
        end = prefix_range_end(key)
        for _ in range(5):  # a compaction between pages restarts the listing
            try:
                return await self._list_pages(prefix, key, end, revision or 0)
            except Compacted:
                if revision:
                    raise
                log.info("etcd: revision compacted while listing %s; listing again", prefix)
        return await self._list_pages(prefix, key, end, 0)

    async def _list_pages(self, prefix: str, key: bytes, end: bytes, rev: int) -> tuple[builtins.list[KeyValue], int]:
        out: builtins.list[KeyValue] = []
        start = key
        while True:
            req = rpc.RangeRequest(key=start, range_end=end, limit=LIST_PAGE_SIZE, revision=rev)

            async def op(conn: _Conn, timeout: float, req: Any = req) -> Any:
                return await conn.kv.Range(req, timeout=timeout, metadata=conn.metadata)

            resp = await self._call(f"list {prefix}", op, idempotent=True)
            if rev == 0:
                rev = resp.header.revision
            out.extend(_kv(kv) for kv in resp.kvs)
            if not resp.more or not resp.kvs:
                return out, rev
            start = resp.kvs[-1].key + b"\0"

    async def revision(self, what: str = "read the revision") -> int:
        req = rpc.RangeRequest(key=b"\0", count_only=True)

        async def op(conn: _Conn, timeout: float) -> Any:
            return await conn.kv.Range(req, timeout=timeout, metadata=conn.metadata)

        resp = await self._call(what, op, idempotent=True)
        return int(resp.header.revision)

    async def check(self) -> None:
        """Reach etcd (and authenticate) now: Unavailable / AuthenticationFailed if it cannot."""
        await self.revision("connect")

    @property
    def endpoint(self) -> str:
        """The endpoint currently in use (calls fail over from it in order)."""
        return self._endpoints[self._current].url

    # ------------------------------------------------------------------ writes

    async def _txn(self, what: str, req: Any) -> Any:
        async def op(conn: _Conn, timeout: float) -> Any:
            return await conn.kv.Txn(req, timeout=timeout, metadata=conn.metadata)

        return await self._call(what, op, idempotent=False)

    async def txn(self, compares: Sequence[Cmp], success: Sequence[Put | Delete | Get],
                  failure: Sequence[Get] = ()) -> TxnResult:
        """One etcd transaction: compare mod revisions, then the success or failure branch."""

        def cmp(c: Cmp) -> Any:
            result = rpc.Compare.EQUAL if c.op == "==" else rpc.Compare.LESS
            msg = rpc.Compare(key=c.key.encode(), result=result, target=rpc.Compare.MOD,
                              mod_revision=c.mod_revision)
            if c.range_end is not None:
                msg.range_end = c.range_end.encode()
            return msg

        def op(o: Put | Delete | Get) -> Any:
            if isinstance(o, Put):
                return rpc.RequestOp(request_put=rpc.PutRequest(key=o.key.encode(), value=o.value.encode()))
            if isinstance(o, Delete):
                return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=o.key.encode()))
            req = rpc.RangeRequest(key=o.key.encode())
            if o.range_end is not None:
                req.range_end = o.range_end.encode()
            return rpc.RequestOp(request_range=req)

        req = rpc.TxnRequest(compare=[cmp(c) for c in compares], success=[op(o) for o in success],
                             failure=[op(o) for o in failure])
        resp = await self._txn("transaction", req)
        reads: list[tuple[KeyValue, ...]] = []
        for r in resp.responses:
            if r.WhichOneof("response") == "response_range":
                reads.append(tuple(KeyValue(kv.key.decode(), kv.value.decode(), int(kv.mod_revision),
                                            int(kv.create_revision)) for kv in r.response_range.kvs))
        return TxnResult(bool(resp.succeeded), int(resp.header.revision), tuple(reads))

    async def create(self, key: str, value: str, ttl: int | None = None) -> int:
        """Write only if absent (txn If(version==0) Then(put) Else(get)); returns the mod_revision."""
        k = key.encode()
        lease_id = await self._grant_lease(ttl) if ttl else 0
        req = rpc.TxnRequest(
            compare=[rpc.Compare(key=k, result=rpc.Compare.EQUAL, target=rpc.Compare.VERSION, version=0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value.encode(), lease=lease_id))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._txn(f"create {key}", req)
        if not resp.succeeded:
            if lease_id:
                await self._revoke_lease(lease_id)
            raise AlreadyExists(key)
        return int(resp.header.revision)

    async def update(self, key: str, value: str, revision: int) -> int:
        """Write only if mod_revision == revision; Conflict (with the actual revision) or NotFound."""
        k = key.encode()
        req = rpc.TxnRequest(
            compare=[rpc.Compare(key=k, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD,
                                 mod_revision=revision)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value.encode()))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._txn(f"update {key}", req)
        if not resp.succeeded:
            kvs = resp.responses[0].response_range.kvs
            if not kvs:
                raise NotFound(key)
            raise Conflict(key, revision, int(kvs[0].mod_revision))
        return int(resp.header.revision)

    async def put(self, key: str, value: str, ttl: int | None = None) -> int:
        """Unconditional write (with a fresh ``ttl``-second lease when given, e.g. status keys)."""
        lease_id = await self._grant_lease(ttl) if ttl else 0
        req = rpc.PutRequest(key=key.encode(), value=value.encode(), lease=lease_id)

        async def op(conn: _Conn, timeout: float) -> Any:
            return await conn.kv.Put(req, timeout=timeout, metadata=conn.metadata)

        resp = await self._call(f"put {key}", op, idempotent=True)
        return int(resp.header.revision)

    async def delete(self, key: str, revision: int | None = None) -> KeyValue:
        """Delete (only at ``revision`` when given); returns the deleted pair."""
        k = key.encode()
        delete_op = rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k, prev_kv=True))
        if revision is None:
            req = rpc.TxnRequest(success=[delete_op])
        else:
            req = rpc.TxnRequest(
                compare=[rpc.Compare(key=k, result=rpc.Compare.EQUAL, target=rpc.Compare.MOD,
                                     mod_revision=revision)],
                success=[delete_op],
                failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
            )
        resp = await self._txn(f"delete {key}", req)
        if not resp.succeeded:
            kvs = resp.responses[0].response_range.kvs
            if not kvs:
                raise NotFound(key)
            raise Conflict(key, revision or 0, int(kvs[0].mod_revision))
        prev = resp.responses[0].response_delete_range.prev_kvs
        if not prev:
            raise NotFound(key)
        return _kv(prev[0])

    async def delete_prefix(self, prefix: str) -> int:
        if not prefix:
            raise ValueError("delete_prefix needs a non-empty prefix")
        k = prefix.encode()
        req = rpc.DeleteRangeRequest(key=k, range_end=prefix_range_end(k))

        async def op(conn: _Conn, timeout: float) -> Any:
            return await conn.kv.DeleteRange(req, timeout=timeout, metadata=conn.metadata)

        resp = await self._call(f"delete prefix {prefix}", op, idempotent=True)
        return int(resp.deleted)

    async def compact(self, revision: int) -> None:
        req = rpc.CompactionRequest(revision=revision, physical=False)

        async def op(conn: _Conn, timeout: float) -> Any:
            return await conn.kv.Compact(req, timeout=timeout, metadata=conn.metadata)

        await self._call(f"compact to {revision}", op, idempotent=True)

    async def _grant_lease(self, ttl: int) -> int:
        req = rpc.LeaseGrantRequest(TTL=int(ttl))

        async def op(conn: _Conn, timeout: float) -> Any:
            return await conn.lease.LeaseGrant(req, timeout=timeout, metadata=conn.metadata)

        resp = await self._call(f"grant a {ttl}s lease", op, idempotent=True)
        if resp.error:
            raise DatastoreError(f"etcd refused a {ttl}s lease: {resp.error}")
        return int(resp.ID)

    async def _revoke_lease(self, lease_id: int) -> None:
        req = rpc.LeaseRevokeRequest(ID=lease_id)

        async def op(conn: _Conn, timeout: float) -> Any:
            return await conn.lease.LeaseRevoke(req, timeout=timeout, metadata=conn.metadata)

        try:
            await self._call("revoke a lease", op, idempotent=True)
        except DatastoreError as exc:  # it expires by itself anyway
            log.debug("could not revoke lease %x: %s", lease_id, exc)

    # ------------------------------------------------------------------ watch

    async def watch(self, prefix: str, start_revision: int) -> AsyncIterator[builtins.list[WatchEvent]]:
        """Batches of events under ``prefix`` from ``start_revision`` on, in revision order.

        Raises Compacted as soon as etcd reports the start revision compacted, and Unavailable when
        the stream is lost (the caller re-lists and watches again).
        """
        key = prefix.encode()
        create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=key, range_end=prefix_range_end(key), start_revision=start_revision,
        ))

        async def open_stream(conn: _Conn, timeout: float) -> tuple[Any, Any]:
            call = conn.watch.Watch(metadata=conn.metadata)
            try:
                await asyncio.wait_for(call.write(create), timeout)
                first = await asyncio.wait_for(call.read(), timeout)
            except TimeoutError:
                call.cancel()
                raise _AttemptTimeout from None
            except BaseException:
                call.cancel()
                raise
            if first is aio.EOF:
                call.cancel()
                raise DatastoreError(f"etcd closed the watch on {prefix} before creating it")
            return call, first

        call, resp = await self._call(f"watch {prefix}", open_stream, idempotent=True)
        try:
            while True:
                if resp.compact_revision:
                    raise Compacted(start_revision, int(resp.compact_revision))
                if resp.canceled:
                    raise DatastoreError(f"etcd cancelled the watch on {prefix}: {resp.cancel_reason}")
                if resp.events:
                    yield [_event(ev) for ev in resp.events]
                try:
                    resp = await call.read()
                except aio.AioRpcError as exc:
                    raise Unavailable(f"etcd watch on {prefix} lost: {_short(exc)}") from None
                if resp is aio.EOF:
                    raise Unavailable(f"etcd closed the watch stream on {prefix}")
        finally:
            call.cancel()


def _kv(kv: Any) -> KeyValue:
    return KeyValue(
        key=kv.key.decode(),
        value=kv.value.decode(),
        mod_revision=int(kv.mod_revision),
        create_revision=int(kv.create_revision),
    )


def _event(ev: Any) -> WatchEvent:
    kv = ev.kv
    if ev.type == rpc.Event.DELETE:
        return WatchEvent(EventType.DELETE, kv.key.decode(), None, int(kv.mod_revision))
    return WatchEvent(EventType.PUT, kv.key.decode(), kv.value.decode(), int(kv.mod_revision))


def _pem(inline: str, path: str, what: str) -> bytes | None:
    if inline:
        return inline.encode()
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"could not read etcd {what} file {path}: {exc.strerror}") from None


def _was_ready(conn: _Conn) -> bool:
    """True when the channel was connected (so a timed-out write may have been applied)."""
    return bool(conn.channel.get_state(try_to_connect=False) == grpc.ChannelConnectivity.READY)


def _short(exc: aio.AioRpcError) -> str:
    details = " ".join((exc.details() or "").split())
    return f"{exc.code().name}: {details}" if details else exc.code().name


def _translate(exc: aio.AioRpcError, what: str) -> DatastoreError:
    code = exc.code()
    details = exc.details() or ""
    if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in details:
        return Compacted(0, 0)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Unavailable(f"etcd unavailable: {what} timed out ({details})")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return DatastoreError(f"etcd refused to {what}: permission denied ({details})")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return AuthenticationFailed(f"etcd refused to {what}: {details}")
    return DatastoreError(f"etcd failed to {what}: {_short(exc)}")

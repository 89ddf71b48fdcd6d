"""A small etcd v3 client over etcd's JSON gateway (``/v3/kv/*``), for the short-lived plugin.

Why: importing gRPC, protobuf and aetcd costs more than all of the plugin's kernel work, and the
plugin's run time is part of every pod's start-up. This client needs only ``_socket``, ``json`` and
``binascii``: one keep-alive HTTP/1.1 connection (TCP or unix socket, no TLS, no auth) serving the
Datastore protocol's unary calls. Watches are not offered (a plugin never watches). Anything it
cannot serve (https, client certificates, credentials) goes to the shared gRPC adapter instead.
"""

from __future__ import annotations

import _socket
import binascii  # base64's codec without the base64 module (start-up time)
import builtins
from collections.abc import Sequence

from calico.common import jsonlite as json
from calico.datastore.base import AlreadyExists, Conflict, KeyValue, NotFound, Unavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from calico.datastore.txn import Cmp, Delete, Get, Put, TxnResult


def _b64(text: str) -> str:
    return binascii.b2a_base64(text.encode(), newline=False).decode()


def _unb64(text: str | None) -> str:
    return binascii.a2b_base64(text or "").decode()


def _prefix_end(prefix: str) -> str:
    raw = bytearray(prefix.encode())
    while raw:
        if raw[-1] < 0xFF:
            raw[-1] += 1
            return binascii.b2a_base64(bytes(raw), newline=False).decode()
        raw.pop()
    return binascii.b2a_base64(b"\0", newline=False).decode()


def _kv(doc: dict[str, Any]) -> KeyValue:
    return KeyValue(key=_unb64(doc.get("key")), value=_unb64(doc.get("value")),
                    mod_revision=int(doc.get("mod_revision", 0)), create_revision=int(doc.get("create_revision", 0)))


def _tcp_connect(host: str, port: int, timeout: float) -> _socket.socket:
    """``socket.create_connection`` with ``_socket`` (the socket module's import costs start-up time)."""
    error: OSError | None = None
    for family, kind, proto, _, addr in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(addr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError(f"getaddrinfo returned nothing for {host}")


class GatewayError(Exception):
    """etcd answered with an error status."""


class EtcdJsonDatastore:
    """The Datastore protocol (minus watch/compact) over etcd's JSON gateway, synchronous inside."""

    def __init__(self, endpoints: list[str], timeout: float = 5.0) -> None:
        self.endpoints = endpoints
        self.timeout = timeout
        self._sock: _socket.socket | None = None
        self._buf = b""
        self._host = "localhost"

    @staticmethod
    def supports(url: str) -> bool:
        return url.startswith(("http://", "unix://")) or "://" not in url

    # -------------------------------------------------------------- transport
    def _connect(self) -> _socket.socket:
        errors = []
        for url in self.endpoints:
            try:
                if url.startswith("unix://"):
                    # _socket: the socket module's enum set-up is a noticeable part of a plugin's start-up
                    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
                    sock.settimeout(self.timeout)
                    sock.connect(url[len("unix://"):])
                    self._host = "localhost"
                else:
                    hostport = url.split("://", 1)[-1].split("/", 1)[0]
                    host, _, port = hostport.rpartition(":")
                    if not host:
                        host, port = hostport, "2379"
                    sock = _tcp_connect(host.strip("[]"), int(port), self.timeout)
                    self._host = hostport
                return sock
            except OSError as exc:
                errors.append(f"{url}: {exc}")
        raise Unavailable(f"no etcd endpoint answered ({'; '.join(errors)})")

    def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body).encode()
        for attempt in (1, 2):  # a kept-alive connection may have been closed by the server
            if self._sock is None:
                self._sock = self._connect()
                self._buf = b""
            try:
                self._sock.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: {self._host}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                status, data = self._response()
                break
            except OSError as exc:
                self.close_now()
                if attempt == 2:
                    raise Unavailable(f"etcd request {path} failed: {exc}") from None
        doc = json.loads(data) if data else {}
        if status != 200:
            raise GatewayError(f"etcd {path}: HTTP {status}: {doc.get('error') or doc.get('message') or data!r}")
        return dict(doc)

    def _read_until(self, marker: bytes) -> bytes:
        assert self._sock is not None
        while marker not in self._buf:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise OSError("connection closed by etcd")
            self._buf += chunk
        head, _, self._buf = self._buf.partition(marker)
        return head

    def _read_exact(self, n: int) -> bytes:
        assert self._sock is not None
        while len(self._buf) < n:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise OSError("connection closed by etcd")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _response(self) -> tuple[int, bytes]:
        head = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._read_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    self._read_until(b"\r\n")
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        else:
            body = self._read_exact(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close_now()
        return status, body

    def close_now(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -------------------------------------------------------------- Datastore protocol
    async def get(self, key: str) -> KeyValue | None:
        kvs = self._call("/v3/kv/range", {"key": _b64(key)}).get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    async def list(self, prefix: str, revision: int | None = None) -> tuple[list[KeyValue], int]:
        req = {"key": _b64(prefix), "range_end": _prefix_end(prefix)}
        if revision:
            req["revision"] = str(revision)
        doc = self._call("/v3/kv/range", req)
        kvs = sorted((_kv(d) for d in doc.get("kvs") or []), key=lambda kv: kv.key)
        return kvs, int(doc["header"]["revision"])

    async def create(self, key: str, value: str, ttl: int | None = None) -> int:
        if ttl is not None:
            raise NotImplementedError("TTL writes are not offered by the plugin's etcd client")
        doc = self._json_txn([{"key": _b64(key), "target": "VERSION", "result": "EQUAL", "version": "0"}],
                        [{"request_put": {"key": _b64(key), "value": _b64(value)}}], [])
        if not doc.get("succeeded"):
            raise AlreadyExists(key)
        return int(doc["header"]["revision"])

    async def update(self, key: str, value: str, revision: int) -> int:
        doc = self._json_txn([{"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}],
                        [{"request_put": {"key": _b64(key), "value": _b64(value)}}],
                        [{"request_range": {"key": _b64(key)}}])
        if doc.get("succeeded"):
            return int(doc["header"]["revision"])
        kvs = ((doc.get("responses") or [{}])[0].get("response_range") or {}).get("kvs") or []
        if not kvs:
            raise NotFound(key)
        raise Conflict(key, revision, int(kvs[0].get("mod_revision", 0)))

    async def put(self, key: str, value: str) -> int:
        return int(self._call("/v3/kv/put", {"key": _b64(key), "value": _b64(value)})["header"]["revision"])

    async def delete(self, key: str, revision: int | None = None) -> KeyValue:
        compares: builtins.list[dict[str, Any]] = [] if revision is None else [
            {"key": _b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": str(revision)}]
        doc = self._json_txn(compares, [{"request_delete_range": {"key": _b64(key), "prev_kv": True}}],
                        [{"request_range": {"key": _b64(key)}}])
        resp = (doc.get("responses") or [{}])[0]
        if doc.get("succeeded"):
            prev = (resp.get("response_delete_range") or {}).get("prev_kvs") or []
            if not prev:
                raise NotFound(key)
            return _kv(prev[0])
        kvs = (resp.get("response_range") or {}).get("kvs") or []
        if not kvs:
            raise NotFound(key)
        raise Conflict(key, revision or 0, int(kvs[0].get("mod_revision", 0)))

    async def delete_prefix(self, prefix: str) -> int:
        doc = self._call("/v3/kv/deleterange", {"key": _b64(prefix), "range_end": _prefix_end(prefix)})
        return int(doc.get("deleted", 0))

    async def revision(self) -> int:
        return int(self._call("/v3/kv/range", {"key": _b64("\0"), "keys_only": True})["header"]["revision"])

    async def compact(self, revision: int) -> None:
        raise NotImplementedError("the plugin's etcd client does not compact")

    def watch(self, prefix: str, start_revision: int) -> Any:
        raise NotImplementedError("the plugin's etcd client does not watch")

    async def close(self) -> None:
        self.close_now()

    async def txn(self, compares: Sequence[Cmp], success: Sequence[Put | Delete | Get],
                  failure: Sequence[Get] = ()) -> TxnResult:
        """One etcd transaction (atomic, one round trip): compare mod revisions, then a branch."""
        from calico.datastore.txn import Delete, Put, TxnResult

        def cmp(c: Cmp) -> dict[str, Any]:
            out = {"key": _b64(c.key), "target": "MOD", "result": "EQUAL" if c.op == "==" else "LESS",
                   "mod_revision": str(c.mod_revision)}
            if c.range_end is not None:
                out["range_end"] = _b64(c.range_end)
            return out

        def op(o: Put | Delete | Get) -> dict[str, Any]:
            if isinstance(o, Put):
                return {"request_put": {"key": _b64(o.key), "value": _b64(o.value)}}
            if isinstance(o, Delete):
                return {"request_delete_range": {"key": _b64(o.key)}}
            req = {"key": _b64(o.key)}
            if o.range_end is not None:
                req["range_end"] = _b64(o.range_end)
            return {"request_range": req}

        doc = self._json_txn([cmp(c) for c in compares], [op(o) for o in success], [op(o) for o in failure])
        reads = tuple(tuple(_kv(kv) for kv in (r["response_range"].get("kvs") or []))
                      for r in doc.get("responses") or [] if "response_range" in r)
        return TxnResult(bool(doc.get("succeeded")), int(doc["header"]["revision"]), reads)

    def _json_txn(self, compare: builtins.list[dict[str, Any]], success: builtins.list[dict[str, Any]],
                  failure: builtins.list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("/v3/kv/txn", {"compare": compare, "success": success, "failure": failure})

"""Health aggregation and the liveness/readiness HTTP endpoints (Felix: port 9099).

Components register with a timeout and report ``live``/``ready`` periodically; a component that
stops reporting for longer than its timeout counts as not live and not ready. ``GET /liveness``
and ``GET /readiness`` answer 200 with a JSON detail when all components are good, 503 otherwise
(Calico's semantics; calico-node's -felix-live/-felix-ready probes read only the status code).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class _Component:
    timeout: float
    live: bool = True
    ready: bool = False
    last: float = 0.0
    detail: str = ""


class HealthAggregator:
    def __init__(self) -> None:
        self._components: dict[str, _Component] = {}

    def register(self, name: str, timeout: float, *, live: bool = True, ready: bool = False) -> None:
        self._components[name] = _Component(timeout, live, ready, time.monotonic())

    def report(self, name: str, *, live: bool = True, ready: bool = True, detail: str = "") -> None:
        c = self._components.setdefault(name, _Component(90.0))
        c.live, c.ready, c.last, c.detail = live, ready, time.monotonic(), detail

    def summary(self) -> dict[str, dict[str, object]]:
        now = time.monotonic()
        out: dict[str, dict[str, object]] = {}
        for name, c in self._components.items():
            fresh = now - c.last <= c.timeout
            out[name] = {"live": c.live and fresh, "ready": c.ready and fresh, "timeout": c.timeout,
                         "detail": c.detail if fresh else f"no report for {now - c.last:.0f}s"}
        return out

    def live(self) -> bool:
        return all(v["live"] for v in self.summary().values())

    def ready(self) -> bool:
        s = self.summary()
        return bool(s) and all(v["ready"] for v in s.values())


async def serve(agg: HealthAggregator, host: str, port: int) -> None:
    """Serve /liveness and /readiness until cancelled."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request.decode(errors="replace").split()
            path = parts[1] if len(parts) > 1 else "/"
            if path.startswith("/liveness"):
                good = agg.live()
            elif path.startswith("/readiness"):
                good = agg.ready()
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            body = json.dumps(agg.summary(), indent=1).encode()
            status = b"200 OK" if good else b"503 Service Unavailable"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        except (TimeoutError, ConnectionError):
            pass
        finally:
            try:
                await writer.drain()
                writer.close()
            except ConnectionError:
                pass

    host = "127.0.0.1" if host == "localhost" else (host or "0.0.0.0")
    server = await asyncio.start_server(handle, host, port, reuse_address=True)
    log.info("Health endpoints on http://%s:%d/liveness and /readiness", host, port)
    async with server:
        await server.serve_forever()

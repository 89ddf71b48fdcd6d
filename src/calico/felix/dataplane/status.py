"""StatusManager: Felix heartbeat and endpoint status records in the datastore (felix.md §4.7).

Keys (etcd v3, region ``no-region``), values as Calico writes them:

* ``/calico/felix/v2/no-region/host/<host>/status`` (lease of ``ReportingTTLSecs``) and
  ``.../last_reported_status`` (no TTL): ``{"time": <RFC3339>, "uptime": <s>, "first_update": bool}``;
* ``.../host/<host>/workload/<orchestrator>/<workload>/endpoint/<endpoint>``: ``{"status": "up"}``
  (``down``/``error``), only with ``EndpointReportingEnabled``; ``/`` in a name is escaped ``%2f``;
* ``.../host/<host>/endpoint/<hostendpoint>`` for host endpoints.

Endpoint statuses are collected from the dataplane (no I/O there) and written by
:meth:`StatusManager.run`, rate-limited by ``EndpointReportingDelaySecs``; records of endpoints
this host no longer has are deleted, including stale ones left by a previous run. A datastore
outage only delays the writes.

With ``EndpointStatusPathPrefix`` set, workload statuses also go to endpoint status files
(:mod:`calico.felix.dataplane.status_files`): a file appears only once the apply during which the
endpoint came up has completed (its routes, sysctls and policy chains are in), and goes as soon as
the endpoint is down or removed. :meth:`StatusManager.attach` hands over the dataplane whose
apply counter and endpoints this uses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from calico.datastore.base import NotFound
from calico.felix import messages as m
from calico.felix.dataplane import status_files

log = logging.getLogger(__name__)

REGION = "no-region"


def _esc(name: str) -> str:
    return name.replace("/", "%2f")


def host_prefix(hostname: str) -> str:
    return f"/calico/felix/v2/{REGION}/host/{hostname}/"


def status_key(hostname: str, kind: str, ident: object) -> str:
    if kind == "workload" and isinstance(ident, m.WorkloadEndpointID):
        wl = f"{ident.namespace}/{ident.workload}" if ident.namespace else ident.workload
        return (f"{host_prefix(hostname)}workload/{_esc(ident.orchestrator)}/{_esc(wl)}/endpoint/"
                f"{_esc(ident.endpoint)}")
    if kind == "host" and isinstance(ident, m.HostEndpointID):
        return f"{host_prefix(hostname)}endpoint/{_esc(ident.endpoint_id)}"
    raise ValueError(f"no status key for {kind} {ident!r}")


class StatusManager:
    def __init__(self, ds: Any, hostname: str, *, interval: float = 30.0, ttl: float = 90.0,
                 endpoint_reporting: bool = False, endpoint_delay: float = 1.0,
                 status_path_prefix: str = "") -> None:
        self.ds = ds
        self.hostname = hostname
        self.interval = interval
        self.ttl = ttl
        self.endpoint_reporting = endpoint_reporting
        self.endpoint_delay = endpoint_delay
        self.started = time.monotonic()
        self._first = True
        self._pending: dict[str, str | None] = {}
        self._written: dict[str, str] = {}
        self._cleaned = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.write_errors = 0
        # Endpoint status files: statuses waiting for their apply to finish, then the up set.
        self.files = status_files.StatusDir(status_path_prefix) if status_files.enabled(status_path_prefix) else None
        self._dp: Any = None
        self._file_lock = threading.Lock()
        self._file_pending: dict[m.WorkloadEndpointID, tuple[str | None, int]] = {}
        self._files_up: set[m.WorkloadEndpointID] = set()
        self._files_wake = asyncio.Event()
        self.file_errors = 0

    def attach(self, dataplane: Any) -> None:
        """The dataplane whose ``stats.applies`` and ``endpoint_mgr.endpoints`` the status files use."""
        self._dp = dataplane

    def on_status(self, kind: str, ident: object, status: str | None) -> None:
        """Dataplane callback (no I/O): remember the newest status of an endpoint."""
        if self.files is not None and kind == "workload" and isinstance(ident, m.WorkloadEndpointID):
            applies = self._dp.stats.applies if self._dp is not None else 0
            with self._file_lock:
                self._file_pending[ident] = (status, applies)
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._files_wake.set)
        if not self.endpoint_reporting:
            return
        self._pending[status_key(self.hostname, kind, ident)] = status
        # Called from the dataplane's apply thread: wake the event loop thread-safely.
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.files is None:
            await self._report_loop()
            return
        log.info("Writing endpoint status files to %s", self.files.path)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._report_loop(), name="status-report")
            tg.create_task(self._files_loop(), name="status-files")

    async def _report_loop(self) -> None:
        next_beat = 0.0
        while True:
            now = time.monotonic()
            if self.interval > 0 and now >= next_beat:
                ok = await self._heartbeat()
                next_beat = now + (self.interval if ok else min(self.interval, 2.0))
            if self.endpoint_reporting and (self._pending or not self._cleaned):
                await self._write_endpoints()
            timeout = max(0.05, next_beat - time.monotonic()) if self.interval > 0 else None
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
                await asyncio.sleep(self.endpoint_delay)  # rate limit: batch what arrives meanwhile
            except TimeoutError:
                pass

    async def _heartbeat(self) -> bool:
        doc = {"time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
               "uptime": round(time.monotonic() - self.started, 3), "first_update": self._first}
        value = json.dumps(doc)
        try:
            await self.ds.put(host_prefix(self.hostname) + "status", value, ttl=int(self.ttl))
            await self.ds.put(host_prefix(self.hostname) + "last_reported_status", value)
        except Exception as exc:
            self.write_errors += 1
            log.warning("Could not write Felix status report (datastore unavailable?): %s", exc)
            return False
        self._first = False
        return True

    async def _write_endpoints(self) -> None:
        try:
            if not self._cleaned:
                await self._cleanup_stale()
            for key, status in list(self._pending.items()):
                if status is None:
                    if key in self._written:
                        await self._delete(key)
                        self._written.pop(key, None)
                elif self._written.get(key) != status:
                    await self.ds.put(key, json.dumps({"status": status}))
                    self._written[key] = status
                if self._pending.get(key, "") == status:  # a newer status may have come in meanwhile
                    del self._pending[key]
        except Exception as exc:
            self.write_errors += 1
            log.warning("Could not write endpoint status (will retry): %s", exc)

    async def _cleanup_stale(self) -> None:
        prefix = host_prefix(self.hostname)
        kvs, _ = await self.ds.list(prefix)
        for kv in kvs:
            key = kv.key
            if ("/workload/" in key or "/endpoint/" in key) and key not in self._pending:
                await self._delete(key)
                log.info("Removed stale endpoint status %s", key)
        self._cleaned = True

    async def _delete(self, key: str) -> None:
        try:
            await self.ds.delete(key)
        except NotFound:
            pass

    async def remove_all_endpoint_statuses(self) -> None:
        for key in list(self._written):
            await self._delete(key)
        self._written.clear()

    # --- endpoint status files ------------------------------------------------------------------
    def _take_ready(self, applies: int) -> tuple[set[m.WorkloadEndpointID], bool]:
        """Move statuses whose apply has completed into the up set. Returns (changed endpoints,
        whether some "up" is still waiting for its apply)."""
        changed: set[m.WorkloadEndpointID] = set()
        waiting = False
        with self._file_lock:
            for eid, (status, mark) in list(self._file_pending.items()):
                if status == "up" and applies <= mark:
                    waiting = True  # reported during an apply that has not finished yet
                    continue
                del self._file_pending[eid]
                if status == "up":
                    self._files_up.add(eid)
                else:
                    self._files_up.discard(eid)
                changed.add(eid)
        return changed, waiting

    def desired_files(self) -> dict[str, str]:
        endpoints = self._dp.endpoint_mgr.endpoints if self._dp is not None else {}
        return {status_files.status_filename(eid): status_files.status_content(endpoints[eid])
                for eid in self._files_up if eid in endpoints}

    async def _files_loop(self) -> None:
        """Write/remove files as statuses come in (after their apply); re-read the directory
        every RESYNC_INTERVAL and after an error (retried with backoff 0.05 s, 0.5 s, 5 s)."""
        assert self.files is not None
        next_full = 0.0  # monotonic time of the next full resync (0 = at the first chance)
        backoff = 0.05
        while True:
            self._files_wake.clear()  # before reading: a status arriving meanwhile wakes the wait
            dp = self._dp
            applies = dp.stats.applies if dp is not None else 0
            delay = 0.05  # before the first apply: poll for it (nothing is written before)
            waiting = False
            if applies > 0:
                changed, waiting = self._take_ready(applies)
                now = time.monotonic()
                full = now >= next_full
                if changed or full:
                    try:
                        n = self.files.sync(self.desired_files(), full=full)
                    except OSError as exc:
                        self.file_errors += 1
                        log.warning("Could not update endpoint status files in %s (retry in %.2fs): %s",
                                    self.files.path, backoff, exc)
                        next_full = now + backoff  # the retry re-reads the directory
                        backoff = min(5.0, backoff * 10)
                    else:
                        backoff = 0.05
                        if full:
                            next_full = now + status_files.RESYNC_INTERVAL
                        if n:
                            log.info("Endpoint status files updated (%d changes, %d endpoints up)", n,
                                     len(self._files_up))
                delay = max(0.0, next_full - time.monotonic())
            if waiting:
                delay = min(delay, 0.02)  # poll the apply counter until that apply finishes
            try:
                await asyncio.wait_for(self._files_wake.wait(), delay)
            except TimeoutError:
                pass

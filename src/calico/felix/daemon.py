"""``calico-felix``: the per-host agent. Wiring only (felix.md §0.5, §4.5):

    Syncer (list+watch etcd) -> CalcGraph (pure) -> messages -> dataplane loop (throttled applies)
    interface monitor -> dataplane loop;  periodic refresh timers -> drift repair
    StatusManager (heartbeat, endpoint status);  health server (9099);  Prometheus (9091)

All run as tasks of one asyncio TaskGroup. The kernel is not touched before the datastore and the
interface monitor are both in sync, so a restart keeps established flows; the first apply reads
the kernel back and changes only what differs. A datastore outage leaves the dataplane as it is.

Start-up is CPU-bound on one thread (imports, interface dump, calc graph, then the apply waiting
on iptables-restore), so the cyclic GC is paused until the first apply (then collect + freeze), and
Prometheus (a heavy import) is served from the end of the first apply; health is served at once.
What can run on the other core does: the kernel read-backs of the first apply (iptables-save,
ipset save) start as soon as the boot configuration is loaded (``calico.linux.readahead``), and
the first ``ipset restore`` runs while the policies and endpoints are still being rendered
(``Dataplane.start_ipsets``; iptables still waits for it).

Exit codes: 0 on SIGTERM/SIGINT; 129 when a restart-required parameter changed in the datastore
(the supervisor restarts Felix, which then reads the new value); 1 when iptables could not be
programmed (fail closed rather than run half-applied) or on a fatal configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any

from calico.common import health as health_mod
from calico.common import log as log_mod
from calico.common import metrics
from calico.felix import config as config_mod
from calico.felix import messages as m
from calico.felix.config import CONFIG_CHANGED_EXIT_CODE, FelixConfig

log = logging.getLogger("calico.felix.daemon")

_IPSET_MESSAGES = (m.IPSetUpdate, m.IPSetDeltaUpdate, m.IPSetRemove)
SYNC_PREFIXES = ("/calico/resources/v3/projectcalico.org/", "/calico/ipam/v2/assignment/")
_RESYNC_STATE = {"wait-for-datastore": 1, "resync": 2, "in-sync": 3}


class FelixExit(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Bucket:
    """Leaky-bucket apply throttle (Felix: 10 tokens, +1 per 100 ms)."""

    def __init__(self, size: int, interval: float) -> None:
        self.size, self.interval = max(1, size), max(0.0, interval)
        self.tokens = float(self.size)
        self.last = time.monotonic()

    def wait_time(self) -> float:
        now = time.monotonic()
        if self.interval > 0:
            self.tokens = min(self.size, self.tokens + (now - self.last) / self.interval)
        else:
            self.tokens = self.size
        self.last = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) * self.interval

    def take(self) -> None:
        self.tokens -= 1


class Felix:
    def __init__(self, boot: FelixConfig, *, env: Mapping[str, str], config_file: str | None,
                 readahead: Any = None) -> None:
        self.boot = boot
        self.readahead = readahead  # calico.linux.readahead.ReadAhead started by main(), or None
        self.env = dict(env)
        self.config_file = config_file
        self.hostname = boot.hostname
        self.cfg: FelixConfig | None = None  # effective config, known at the first in-sync
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.health = health_mod.HealthAggregator()
        self.dataplane: Any = None
        self.status: Any = None
        self.ds: Any = None
        self.calc: Any = None
        self.started = time.monotonic()
        self._health_started = False
        self._metrics_started = False
        self._cfg_ready = asyncio.Event()
        self._resync_state = 1

    # --- entry ---------------------------------------------------------------------------------
    async def run(self) -> int:
        from calico.datastore.config import load_config
        from calico.datastore.etcd import EtcdDatastore

        self.ds = EtcdDatastore(load_config())
        self.health.register("FelixStartup", 3600, ready=False)
        self.health.register("CalculationGraph", 30)
        self.health.register("InternalDataplaneMainLoop", self.boot["DataplaneWatchdogTimeout"])
        metrics.register_source(self._metric_samples)
        exits: list[FelixExit] = []
        try:
            async with asyncio.TaskGroup() as tg:
                self._maybe_start_servers(self.boot, tg)
                tg.create_task(self._calc_task(), name="calc")
                tg.create_task(self._dataplane_task(tg), name="dataplane")
                tg.create_task(self._iface_task(), name="ifacemon")
                tg.create_task(self._status_task(), name="status")
        except* FelixExit as eg:
            exits.extend(e for e in eg.exceptions if isinstance(e, FelixExit))
        finally:
            if self.dataplane is not None:
                self.dataplane.close()
            if self.readahead is not None:
                self.readahead.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ds.close(), 2)
        if exits:
            exc = exits[0]
            log.log(logging.INFO if exc.code in (0, CONFIG_CHANGED_EXIT_CODE) else logging.ERROR,
                    "Felix exiting (code %d): %s", exc.code, exc.reason)
            return exc.code
        return 0

    def _maybe_start_servers(self, cfg: FelixConfig, tg: asyncio.TaskGroup) -> None:
        if cfg["HealthEnabled"] and not self._health_started:
            self._health_started = True
            tg.create_task(health_mod.serve(self.health, cfg["HealthHost"], cfg["HealthPort"]), name="health")

    def _maybe_start_metrics(self, cfg: FelixConfig) -> None:
        """Serve Prometheus metrics (values recorded since start are kept). Called once the first
        apply is done (before readiness turns good): importing prometheus_client then adds nothing
        to the time to programmed, and during the apply it would compete with rendering."""
        if cfg["PrometheusMetricsEnabled"] and not self._metrics_started:
            self._metrics_started = True
            try:
                metrics.serve(cfg["PrometheusMetricsHost"], cfg["PrometheusMetricsPort"])
            except OSError as exc:
                log.error("Cannot serve Prometheus metrics on port %d: %s", cfg["PrometheusMetricsPort"], exc)

    # --- datastore -> calc graph -----------------------------------------------------------------
    async def _calc_task(self) -> None:
        from calico.datastore.syncer import SyncStatus, Update
        from calico.felix.calc.graph import CalcGraph

        calc = CalcGraph(self.hostname)
        self.calc = calc
        syncer = Syncer_factory(self.ds, SYNC_PREFIXES)
        last_resyncs = 0
        async for batch in syncer.batches():
            start = time.monotonic()
            for item in batch:
                if isinstance(item, Update):
                    calc.on_update(item.key, item.value)
                elif isinstance(item, SyncStatus):
                    self._resync_state = _RESYNC_STATE.get(item.value, 1)
                    metrics.RESYNC_STATE.set(self._resync_state)
                    log.info("Datastore sync status: %s", item.value)
                    if item is SyncStatus.IN_SYNC:
                        calc.on_in_sync()
            if syncer.resyncs != last_resyncs:
                metrics.RESYNCS_STARTED.inc(syncer.resyncs - last_resyncs)
                last_resyncs = syncer.resyncs
            msgs = calc.flush()
            metrics.CALC_UPDATE_TIME.observe(time.monotonic() - start)
            self.health.report("CalculationGraph", ready=True)
            if msgs:
                metrics.CALC_OUTPUT_EVENTS.inc(len(msgs))
                self.queue.put_nowait(("calc", msgs))

    # --- interface monitor -------------------------------------------------------------------------
    async def _iface_task(self) -> None:
        from calico.linux.ifacemon import IfaceMonitor

        mon = IfaceMonitor(prefixes=None, exclude=self.boot["InterfaceExclude"],
                           resync_interval=self.boot["InterfaceRefreshInterval"])
        await mon.run(lambda ev: self.queue.put_nowait(("iface", ev)))

    # --- status reporting --------------------------------------------------------------------------
    async def _status_task(self) -> None:
        await self._cfg_ready.wait()
        assert self.status is not None
        await self.status.run()

    # --- dataplane loop ------------------------------------------------------------------------------
    async def _dataplane_task(self, tg: asyncio.TaskGroup) -> None:
        from calico.felix.dataplane.driver import Dataplane
        from calico.felix.dataplane.status import StatusManager

        pending: list[Any] = []
        iface_events: list[Any] = []
        iface_synced = False
        datastore_synced = False
        last_config: m.ConfigUpdate = m.ConfigUpdate()
        # Phase 1: collect until both the datastore and the interface monitor are in sync.
        while not (datastore_synced and iface_synced):
            items = [await self.queue.get()]
            while not self.queue.empty():  # the start-of-day dump comes as ~1 event per interface
                items.append(self.queue.get_nowait())
            for kind, payload in items:
                if kind == "calc":
                    for msg in payload:
                        if isinstance(msg, m.ConfigUpdate):
                            last_config = msg
                        elif isinstance(msg, m.InSync):
                            datastore_synced = True
                        else:
                            pending.append(msg)
                elif kind == "iface":
                    if type(payload).__name__ == "InSync":
                        iface_synced = True
                    else:
                        iface_events.append(payload)
            self.health.report("InternalDataplaneMainLoop", ready=False, detail="waiting for in-sync")
        from calico.felix.dataplane.ipv6 import check_ipv6

        cfg = check_ipv6(self._effective_config(last_config))  # IPv4 only (warning) if no usable IPv6
        self.cfg = cfg
        log.info("In sync with the datastore and interfaces; starting the dataplane (host %s)", self.hostname)
        self._maybe_start_servers(cfg, tg)
        self.status = StatusManager(self.ds, self.hostname, interval=cfg["ReportingIntervalSecs"],
                                    ttl=cfg["ReportingTTLSecs"], endpoint_reporting=cfg["EndpointReportingEnabled"],
                                    endpoint_delay=cfg["EndpointReportingDelaySecs"],
                                    status_path_prefix=cfg["EndpointStatusPathPrefix"])
        self._cfg_ready.set()
        dp = Dataplane(cfg, status_sink=self.status.on_status, readahead=self.readahead)
        self.readahead = None  # the dataplane owns (and closes) it now
        self.dataplane = dp
        self.status.attach(dp)  # endpoint status files need its apply counter and endpoints
        for ev in iface_events:
            dp.on_iface_event(ev)
        # IP sets first, written at once in a worker thread (ipset restore on the other core) while
        # the rest renders; only the IP sets manager reads IP set messages, so their relative order
        # is all that matters. The first apply waits for them before touching iptables.
        ipset_msgs = [msg for msg in pending if isinstance(msg, _IPSET_MESSAGES)]
        for msg in ipset_msgs:
            dp.on_update(msg)
        if ipset_msgs:
            dp.start_ipsets()
        by_type: dict[str, int] = {}
        for msg in pending:
            if not isinstance(msg, _IPSET_MESSAGES):  # those went in above
                dp.on_update(msg)
            name = type(msg).__name__
            by_type[name] = by_type.get(name, 0) + 1
        for name, n in by_type.items():
            metrics.MESSAGES.labels(name).inc(n)
        await self._loop(dp, cfg)

    def _effective_config(self, update: m.ConfigUpdate) -> FelixConfig:
        try:
            return config_mod.load(self.env, config_file=self.config_file, host_config=update.host_config,
                                   global_config=update.global_config)
        except config_mod.ConfigError as exc:
            raise FelixExit(1, f"bad configuration: {exc}") from None

    async def _loop(self, dp: Any, cfg: FelixConfig) -> None:
        bucket = _Bucket(cfg["DataplaneApplyBurst"], cfg["DataplaneApplyInterval"])
        intervals = {"iptables": cfg["IptablesRefreshInterval"], "ipsets": cfg["IpsetsRefreshInterval"],
                     "routes": cfg["RouteRefreshInterval"]}
        refreshers = {"iptables": dp.refresh_iptables, "ipsets": dp.refresh_ipsets, "routes": dp.refresh_routes}
        now = time.monotonic()
        due = {k: now + v for k, v in intervals.items() if v > 0}
        dirty = True
        retry_at: float | None = None
        failures = 0
        max_failures = max(1, cfg["IptablesMaxFailures"])
        first = True
        while True:
            # Wait for work: a message, a refresh timer, a retry, or the watchdog tick.
            if not dirty:
                wake = min([*due.values(), retry_at or float("inf"), time.monotonic() + 10.0])
                with contextlib.suppress(TimeoutError):
                    item = await asyncio.wait_for(self.queue.get(), max(0.0, wake - time.monotonic()))
                    dirty = self._handle(dp, cfg, item)
            # Coalesce everything already queued.
            batch = 0
            while not self.queue.empty():
                dirty = self._handle(dp, cfg, self.queue.get_nowait()) or dirty
                batch += 1
            if batch:
                metrics.MSG_BATCH_SIZE.observe(batch)
            now = time.monotonic()
            for name, when in list(due.items()):
                if now >= when:
                    refreshers[name]()
                    due[name] = now + intervals[name]
                    dirty = True
            if retry_at is not None and now >= retry_at:
                retry_at = None
                dirty = True
            self.health.report("InternalDataplaneMainLoop", ready=dp.in_sync)
            if not dirty:
                continue
            wait = bucket.wait_time()
            if wait > 0:
                await asyncio.sleep(wait)
                continue  # pick up what arrived meanwhile, then apply
            bucket.take()
            dirty = False
            start = time.monotonic()
            try:
                await asyncio.get_running_loop().run_in_executor(None, dp.apply)
            except Exception as exc:
                metrics.DATAPLANE_FAILURES.inc()
                self._maybe_start_metrics(cfg)  # failures are worth scraping too
                failures += 1
                from calico.linux.iptables import IptablesError
                if isinstance(exc, IptablesError) and failures >= max_failures:
                    raise FelixExit(1, f"iptables could not be programmed ({failures} failed applies): {exc}") \
                        from None
                log.error("Dataplane apply failed (attempt %d; will retry): %s", failures, exc,
                          exc_info=not isinstance(exc, IptablesError))
                retry_at = time.monotonic() + min(10.0, 0.5 * failures)
                continue
            failures = 0
            elapsed = time.monotonic() - start
            if first:
                first = False
                self._maybe_start_metrics(cfg)
                metrics.INITIAL_RESYNC_TIME.set(time.monotonic() - self.started)
                self.health.report("FelixStartup", ready=True)
                log.info("Dataplane in sync (first apply %.3fs, %.3fs after start)", elapsed,
                         time.monotonic() - self.started)
                end_startup_gc()
            else:
                metrics.APPLY_TIME.observe(elapsed)
            self.health.report("InternalDataplaneMainLoop", ready=True)
            if dp.needs_apply:
                dirty = True

    def _handle(self, dp: Any, cfg: FelixConfig, item: tuple[str, Any]) -> bool:
        """Feed one queue item to the dataplane; True if an apply is needed."""
        kind, payload = item
        if kind == "iface":
            return bool(dp.on_iface_event(payload))
        for msg in payload:
            if isinstance(msg, m.ConfigUpdate):
                new = self._effective_config(msg)
                changed = config_mod.restart_needed(cfg, new)
                if changed:
                    raise FelixExit(CONFIG_CHANGED_EXIT_CODE,
                                    f"restart-required configuration changed: {', '.join(changed)}")
                continue
            if isinstance(msg, m.InSync):
                continue
            metrics.MESSAGES.labels(type(msg).__name__).inc()
            dp.on_update(msg)
        return True

    # --- metrics read at scrape time ------------------------------------------------------------
    def _metric_samples(self) -> dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], float]]]:
        dp = self.dataplane
        out: dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], float]]] = {}
        if dp is None:
            return out
        tabs = list(dp.ctx.tables.values())

        def per_table(attr: str) -> dict[tuple[tuple[str, str], ...], float]:
            return {(("ip_version", str(t.ip_version)), ("table", t.name)): float(getattr(t.stats, attr))
                    for t in tabs}

        total = sum
        out["felix_iptables_restore_calls"] = ("counter", "iptables-restore runs.",
                                               {(): float(total(t.stats.restore_calls for t in tabs))})
        out["felix_iptables_restore_errors"] = ("counter", "Failed iptables-restore runs.",
                                                {(): float(total(t.stats.restore_errors for t in tabs))})
        out["felix_iptables_save_calls"] = ("counter", "iptables-save runs.",
                                            {(): float(total(t.stats.save_calls for t in tabs))})
        out["felix_iptables_save_errors"] = ("counter", "Failed iptables-save runs.",
                                             {(): float(total(t.stats.save_errors for t in tabs))})
        out["felix_iptables_lines_executed"] = ("counter", "iptables-restore lines.", per_table("lines_executed"))
        out["felix_iptables_chains"] = ("gauge", "Calico chains programmed.", per_table("chains"))
        out["felix_iptables_rules"] = ("gauge", "Calico rules programmed.", per_table("rules"))
        sets = list(dp.ctx.ipsets.values())
        out["felix_ipset_calls"] = ("counter", "ipset restore runs.", {(): float(total(s.stats.calls for s in sets))})
        out["felix_ipset_errors"] = ("counter", "ipset failures.", {(): float(total(s.stats.errors for s in sets))})
        out["felix_ipset_lines_executed"] = ("counter", "ipset restore lines.",
                                             {(): float(total(s.stats.lines_executed for s in sets))})
        out["felix_ipsets_calico"] = ("gauge", "Calico IP sets.",
                                      {(("ip_version", str(s.ip_version)),): float(s.stats.sets) for s in sets})
        counts = dp.counts()
        out["felix_active_local_endpoints"] = ("gauge", "Local endpoints.", {(): float(counts["endpoints"])})
        out["felix_active_local_policies"] = ("gauge", "Active local policies.", {(): float(counts["policies"])})
        out["felix_active_local_profiles"] = ("gauge", "Active local profiles.", {(): float(counts["profiles"])})
        out["felix_active_local_ipsets"] = ("gauge", "Active IP sets.", {(): float(counts["ipsets"])})
        rts = list(dp.ctx.routes.values())
        out["felix_route_table_num_routes"] = ("gauge", "Routes owned.", {(): float(total(r.stats.num_routes
                                                                                         for r in rts))})
        out["felix_int_dataplane_applies"] = ("counter", "Successful applies.", {(): float(dp.stats.applies)})
        return out


_startup_gc_timer: asyncio.TimerHandle | None = None


def begin_startup_gc(loop: asyncio.AbstractEventLoop | None = None, limit: float = 120.0) -> None:
    """Pause the cyclic GC for start-up. Building the start-of-day state allocates over 10^5
    long-lived objects, and every full collection triggered meanwhile rescans all of them
    (measured: ~0.3 s of a 1.5 s cold start). Collection resumes after the first apply, or
    after ``limit`` seconds if the datastore never syncs (garbage cannot pile up forever)."""
    global _startup_gc_timer
    gc.disable()
    if loop is not None and _startup_gc_timer is None:
        _startup_gc_timer = loop.call_later(limit, end_startup_gc, False)


def end_startup_gc(freeze: bool = True) -> None:
    """Resume the GC. After the first apply (as Go Felix forces a GC at that point): collect
    once, then freeze the long-lived start-of-day heap so later collections do not rescan it (no
    pauses of tens of ms in the latency of later updates)."""
    global _startup_gc_timer
    if _startup_gc_timer is not None:
        _startup_gc_timer.cancel()
        _startup_gc_timer = None
    if freeze:
        gc.collect()
        gc.freeze()
    gc.enable()


def Syncer_factory(ds: Any, prefixes: tuple[str, ...]) -> Any:
    from calico.datastore.syncer import Syncer

    return Syncer(ds, prefixes)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="calico-felix", description="Calico's per-host agent")
    p.add_argument("-c", "--config-file", default=None,
                   help=f"Felix config file (default FELIX_CONFIGFILE or {config_mod.DEFAULT_CONFIG_FILE})")
    p.add_argument("--print-config-table", action="store_true", help="print the parameter table and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    gc.disable()  # until _amain takes over (begin_startup_gc); imports allocate heavily too
    args = parse_args(argv)
    if args.print_config_table:
        print(config_mod.table_markdown())
        return
    env = dict(os.environ)
    try:
        boot = config_mod.load(env, config_file=args.config_file)
    except config_mod.ConfigError as exc:
        print(f"calico-felix: {exc}", file=sys.stderr)
        sys.exit(1)
    warnings = log_mod.setup(screen_level=boot["LogSeverityScreen"], file_path=boot["LogFilePath"],
                             file_level=boot["LogSeverityFile"], fmt=boot["LogFormat"])
    for w in warnings:
        log.warning("%s", w)
    log.info("Felix starting: host %s, pid %d", boot.hostname, os.getpid())
    readahead = start_kernel_reads(boot)
    code = asyncio.run(_amain(boot, env, args.config_file, readahead))
    logging.shutdown()
    sys.exit(code)


def start_kernel_reads(boot: FelixConfig) -> Any:
    """Start the first apply's kernel read-backs now: they need no datastore, and run on the other
    core while this one imports, connects and computes (None if they cannot be started)."""
    from calico.linux.readahead import start_of_day

    try:
        return start_of_day((4, 6) if boot["Ipv6Support"] else (4,), boot["IptablesBackend"])
    except OSError as exc:
        log.warning("Could not start the start-of-day kernel reads early (%s); reading at the first apply", exc)
        return None


async def _amain(boot: FelixConfig, env: Mapping[str, str], config_file: str | None,
                 readahead: Any = None) -> int:
    felix = Felix(boot, env=env, config_file=config_file, readahead=readahead)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    begin_startup_gc(loop)
    stopping = False

    def stop(signame: str) -> None:
        nonlocal stopping
        if not stopping and task is not None:
            stopping = True
            log.info("Received %s; stopping (the dataplane is left as it is)", signame)
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        return await felix.run()
    except asyncio.CancelledError:
        return 0


if __name__ == "__main__":
    main()

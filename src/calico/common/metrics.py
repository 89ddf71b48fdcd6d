"""Prometheus metrics for the daemons (Felix: port 9091), named as Calico names them.

Event counters/summaries are updated where things happen; driver counters (iptables-restore calls,
ipset calls, ...) live in the drivers' stats and are read at scrape time by :class:`StatsCollector`,
so the drivers stay free of Prometheus.

The event metrics below are plain in-process values: ``prometheus_client`` (with ``http.server``,
``email`` and ``urllib``, ~60 ms of imports) is loaded only by :func:`serve`, so a daemon that
serves no metrics never pays for it and one that does can start serving after its start-up work.
The exported text is what ``prometheus_client``'s own Counter/Gauge/Summary produce
(``_total``/``_created`` for counters, ``_count``/``_sum``/``_created`` for summaries).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger(__name__)

Labels = tuple[str, ...]
SourceData = dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], float]]]


class _Metric:
    """One metric family: values per label tuple, recorded without any Prometheus import."""

    kind = ""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] | list[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labelnames = tuple(labelnames)
        self._lock = threading.Lock()
        self._created: dict[Labels, float] = {}
        if not self.labelnames:
            self._created[()] = time.time()
        _ALL.append(self)

    def labels(self, *values: str) -> _Child:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name}: expected labels {self.labelnames}, got {values}")
        key = tuple(str(v) for v in values)
        if key not in self._created:
            with self._lock:
                self._created.setdefault(key, time.time())
        return _Child(self, key)

    def _check_unlabelled(self) -> None:
        if self.labelnames:
            raise ValueError(f"{self.name} has labels {self.labelnames}; use .labels(...)")

    def samples(self) -> list[tuple[str, Labels, float]]:
        raise NotImplementedError


class _Child:
    __slots__ = ("key", "metric")

    def __init__(self, metric: _Metric, key: Labels) -> None:
        self.metric, self.key = metric, key

    def inc(self, amount: float = 1.0) -> None:
        self.metric._inc(self.key, amount)  # type: ignore[attr-defined]

    def set(self, value: float) -> None:
        self.metric._set(self.key, value)  # type: ignore[attr-defined]

    def observe(self, value: float) -> None:
        self.metric._observe(self.key, value)  # type: ignore[attr-defined]


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self._values: dict[Labels, float] = {(): 0.0} if not self.labelnames else {}

    def inc(self, amount: float = 1.0) -> None:
        self._check_unlabelled()
        self._inc((), amount)

    def _inc(self, key: Labels, amount: float) -> None:
        if amount < 0:
            raise ValueError("counters can only increase")
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(tuple(labels), 0.0)


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self._values: dict[Labels, float] = {(): 0.0} if not self.labelnames else {}

    def set(self, value: float) -> None:
        self._check_unlabelled()
        self._set((), value)

    def inc(self, amount: float = 1.0) -> None:
        self._check_unlabelled()
        self._inc((), amount)

    def _set(self, key: Labels, value: float) -> None:
        self._values[key] = float(value)

    def _inc(self, key: Labels, amount: float) -> None:
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self._values.get(tuple(labels), 0.0)


class Summary(_Metric):
    """Count and sum of observations (no quantiles, like prometheus_client's Summary)."""

    kind = "summary"

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(name, documentation, labelnames)
        self._values: dict[Labels, tuple[int, float]] = {(): (0, 0.0)} if not self.labelnames else {}

    def observe(self, value: float) -> None:
        self._check_unlabelled()
        self._observe((), value)

    def _observe(self, key: Labels, value: float) -> None:
        with self._lock:
            count, total = self._values.get(key, (0, 0.0))
            self._values[key] = (count + 1, total + value)

    def value(self, *labels: str) -> tuple[int, float]:
        return self._values.get(tuple(labels), (0, 0.0))


_ALL: list[_Metric] = []

APPLY_TIME = Summary("felix_int_dataplane_apply_time_seconds", "Time to apply a dataplane update.")
INITIAL_RESYNC_TIME = Gauge("felix_int_dataplane_initial_resync_time_seconds",
                            "Time from start to the first complete dataplane apply.")
DATAPLANE_FAILURES = Counter("felix_int_dataplane_failures", "Failed dataplane applies.")
MSG_BATCH_SIZE = Summary("felix_int_dataplane_msg_batch_size", "Calc-graph messages per dataplane batch.")
MESSAGES = Counter("felix_int_dataplane_messages", "Dataplane messages by type.", ["type"])
RESYNC_STATE = Gauge("felix_resync_state", "Datastore sync state: 1 wait-for-datastore, 2 resync, 3 in-sync.")
RESYNCS_STARTED = Counter("felix_resyncs_started", "Datastore resyncs started.")
CALC_UPDATE_TIME = Summary("felix_calc_graph_update_time_seconds", "Time to process a batch of datastore updates.")
CALC_OUTPUT_EVENTS = Counter("felix_calc_graph_output_events", "Messages emitted by the calc graph.")

_sources: list[Callable[[], SourceData]] = []
_registered = False


def _event_families() -> Iterator[Any]:
    """The metrics above as prometheus_client families (imported here, at scrape time)."""
    from prometheus_client.metrics_core import Metric

    for m in _ALL:
        with m._lock:
            values = dict(m._values)  # type: ignore[attr-defined]
            created = dict(m._created)
        fam = Metric(m.name, m.documentation, m.kind)
        for key, value in values.items():
            labels = dict(zip(m.labelnames, key, strict=True))
            if m.kind == "summary":
                count, total = value
                fam.add_sample(m.name + "_count", labels, float(count))
                fam.add_sample(m.name + "_sum", labels, total)
            elif m.kind == "counter":
                fam.add_sample(m.name + "_total", labels, value)
            else:
                fam.add_sample(m.name, labels, value)
            if m.kind != "gauge" and key in created:
                fam.add_sample(m.name + "_created", labels, created[key])
        yield fam


def _source_families(source: Callable[[], SourceData]) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily, UnknownMetricFamily

    try:
        data = source()
    except Exception:  # a scrape must never fail the daemon
        log.exception("metrics source failed")
        return
    for name, (kind, help_text, samples) in data.items():
        label_names = [k for k, _ in next(iter(samples))] if samples else []
        # Counters are exported untyped so they keep Calico's exact names (no _total suffix).
        fam: Any = (UnknownMetricFamily if kind == "counter" else GaugeMetricFamily)(
            name, help_text, labels=label_names)
        for labels, value in samples.items():
            fam.add_metric([v for _, v in labels], value)
        yield fam


class StatsCollector:
    """Reads counters and gauges from a callable returning {name: (kind, help, labels->value)}."""

    def __init__(self, source: Callable[[], SourceData]):
        self.source = source

    def collect(self) -> Iterator[Any]:
        yield from _source_families(self.source)


class _EventCollector:
    def collect(self) -> Iterator[Any]:
        yield from _event_families()


def register_source(source: Callable[[], SourceData]) -> StatsCollector:
    """Export ``source``'s values at every scrape (from when :func:`serve` runs)."""
    collector = StatsCollector(source)
    _sources.append(source)
    if _registered:
        from prometheus_client import REGISTRY

        REGISTRY.register(collector)
    return collector


def _register_all() -> None:
    global _registered
    if _registered:
        return
    from prometheus_client import REGISTRY

    REGISTRY.register(_EventCollector())
    for source in _sources:
        REGISTRY.register(StatsCollector(source))
    _registered = True


def serve(host: str, port: int) -> None:
    """Start the /metrics HTTP server in a background thread."""
    from prometheus_client import start_http_server

    _register_all()
    start_http_server(port, addr=host or "0.0.0.0")
    log.info("Prometheus metrics on http://%s:%d/metrics", host or "0.0.0.0", port)

"""Prometheus metrics for the daemons (Felix: port 9091), named as Calico names them.

Event counters/summaries are updated where things happen; driver counters (iptables-restore calls,
ipset calls, ...) live in the drivers' stats and are read at scrape time by :class:`StatsCollector`,
so the drivers stay free of Prometheus.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Summary, start_http_server
from prometheus_client.core import GaugeMetricFamily, UnknownMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

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


class StatsCollector(Collector):
    """Reads counters and gauges from a callable returning {name: (kind, help, labels->value)}."""

    def __init__(self, source: Callable[[], dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], float]]]]):
        self.source = source

    def collect(self) -> Iterator[Any]:
        try:
            data = self.source()
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


def register_source(source: Callable[[], dict[str, tuple[str, str, dict[tuple[tuple[str, str], ...], float]]]]) \
        -> StatsCollector:
    collector = StatsCollector(source)
    REGISTRY.register(collector)
    return collector


def serve(host: str, port: int) -> None:
    """Start the /metrics HTTP server in a background thread."""
    start_http_server(port, addr=host or "0.0.0.0")
    log.info("Prometheus metrics on http://%s:%d/metrics", host or "0.0.0.0", port)

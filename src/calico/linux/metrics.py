"""Prometheus view of the drivers' plain counters, under Felix's metric names (felix.md §4.7).

Drivers only bump integers in their ``stats``; this collector reads them at scrape time, so the
drivers stay free of a metrics dependency and the numbers are never stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from calico.linux.ipsets import IPSets
from calico.linux.iptables import Table
from calico.linux.routes import RouteTable


class DriverCollector(Collector):
    def __init__(self, tables: Iterable[Table] = (), ipsets: Iterable[IPSets] = (),
                 route_tables: Iterable[RouteTable] = ()) -> None:
        self.tables = list(tables)
        self.ipsets = list(ipsets)
        self.route_tables = list(route_tables)

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        labels = ["ip_version", "table"]
        restore = CounterMetricFamily("felix_iptables_restore_calls", "iptables-restore invocations", labels=labels)
        restore_err = CounterMetricFamily("felix_iptables_restore_errors", "failed iptables-restore runs",
                                          labels=labels)
        save = CounterMetricFamily("felix_iptables_save_calls", "iptables-save invocations", labels=labels)
        save_err = CounterMetricFamily("felix_iptables_save_errors", "failed iptables-save runs", labels=labels)
        lines = CounterMetricFamily("felix_iptables_lines_executed", "iptables-restore lines executed",
                                    labels=labels)
        chains = GaugeMetricFamily("felix_iptables_chains", "Calico chains programmed", labels=labels)
        rules = GaugeMetricFamily("felix_iptables_rules", "Calico rules programmed", labels=labels)
        apply_s = GaugeMetricFamily("felix_iptables_last_apply_seconds", "duration of the last apply",
                                    labels=labels)
        for t in self.tables:
            lv = [str(t.ip_version), t.name]
            restore.add_metric(lv, t.stats.restore_calls)
            restore_err.add_metric(lv, t.stats.restore_errors)
            save.add_metric(lv, t.stats.save_calls)
            save_err.add_metric(lv, t.stats.save_errors)
            lines.add_metric(lv, t.stats.lines_executed)
            chains.add_metric(lv, t.stats.chains)
            rules.add_metric(lv, t.stats.rules)
            apply_s.add_metric(lv, t.stats.last_apply_seconds)
        yield from (restore, restore_err, save, save_err, lines, chains, rules, apply_s)

        calls = CounterMetricFamily("felix_ipset_calls", "ipset restore/save invocations", labels=["ip_version"])
        errors = CounterMetricFamily("felix_ipset_errors", "failed ipset invocations", labels=["ip_version"])
        ipset_lines = CounterMetricFamily("felix_ipset_lines_executed", "ipset restore lines",
                                          labels=["ip_version"])
        sets = GaugeMetricFamily("felix_ipsets_calico", "Calico IP sets programmed", labels=["ip_version"])
        for s in self.ipsets:
            lv = [str(s.ip_version)]
            calls.add_metric(lv, s.stats.calls + s.stats.save_calls)
            errors.add_metric(lv, s.stats.errors)
            ipset_lines.add_metric(lv, s.stats.lines_executed)
            sets.add_metric(lv, s.stats.sets)
        yield from (calls, errors, ipset_lines, sets)

        num_routes = GaugeMetricFamily("felix_route_table_num_routes", "routes owned", labels=["ip_version"])
        resync = GaugeMetricFamily("felix_route_table_resync_seconds", "last full resync duration",
                                   labels=["ip_version"])
        for r in self.route_tables:
            lv = [str(r.ip_version)]
            num_routes.add_metric(lv, r.stats.num_routes)
            resync.add_metric(lv, r.stats.last_resync_seconds)
        yield from (num_routes, resync)

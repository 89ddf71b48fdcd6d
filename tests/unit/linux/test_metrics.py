"""The metrics collector exports driver counters under Felix's names (no kernel needed)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from calico.linux.ipsets import IPSets
from calico.linux.iptables import Table
from calico.linux.metrics import DriverCollector


def test_collector_exports_counters() -> None:
    t = Table("filter", 4)
    t.stats.restore_calls = 7
    t.stats.restore_errors = 1
    s = IPSets(4)
    s.stats.calls = 3
    reg = CollectorRegistry()
    reg.register(DriverCollector([t], [s]))
    text = generate_latest(reg).decode()
    assert 'felix_iptables_restore_calls_total{ip_version="4",table="filter"} 7.0' in text
    assert 'felix_iptables_restore_errors_total{ip_version="4",table="filter"} 1.0' in text
    assert 'felix_ipset_calls_total{ip_version="4"} 3.0' in text

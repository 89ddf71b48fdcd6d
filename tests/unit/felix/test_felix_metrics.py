"""Felix's Prometheus metrics: recorded without prometheus_client, exported in its exact format."""

from __future__ import annotations

import re
import subprocess
import sys

from prometheus_client import CollectorRegistry, generate_latest

from calico.common import metrics


def _export(*collectors: object) -> str:
    reg = CollectorRegistry()
    for c in collectors:
        reg.register(c)  # type: ignore[arg-type]
    return generate_latest(reg).decode()


def test_event_metrics_export_like_prometheus_client() -> None:
    c = metrics.Counter("t_msgs", "Messages by type.", ["type"])
    s = metrics.Summary("t_apply_seconds", "Apply time.")
    g = metrics.Gauge("t_state", "State.")
    c.labels("IPSetUpdate").inc()
    c.labels("IPSetUpdate").inc(2)
    s.observe(0.25)
    s.observe(0.5)
    g.set(3)
    try:
        text = _export(metrics._EventCollector())
    finally:
        for m in (c, s, g):
            metrics._ALL.remove(m)
    assert '# TYPE t_msgs_total counter\nt_msgs_total{type="IPSetUpdate"} 3.0' in text
    assert re.search(r't_msgs_created\{type="IPSetUpdate"\} \d', text)
    assert "t_apply_seconds_count 2.0\nt_apply_seconds_sum 0.75" in text
    assert "# TYPE t_state gauge\nt_state 3.0" in text
    assert "t_state_created" not in text


def test_felix_metric_names_and_sources() -> None:
    collector = metrics.StatsCollector(lambda: {
        "felix_iptables_restore_calls": ("counter", "iptables-restore runs.", {(): 4.0}),
        "felix_iptables_rules": ("gauge", "rules", {(("ip_version", "4"), ("table", "filter")): 7.0})})
    text = _export(metrics._EventCollector(), collector)
    for name in ("felix_int_dataplane_apply_time_seconds_count", "felix_resync_state",
                 "felix_int_dataplane_failures_total", "felix_calc_graph_update_time_seconds_sum"):
        assert name in text, name
    assert "felix_iptables_restore_calls 4.0" in text  # untyped: Calico's name, no _total
    assert 'felix_iptables_rules{ip_version="4",table="filter"} 7.0' in text


def test_labels_are_checked() -> None:
    try:
        metrics.MESSAGES.inc()
    except ValueError as exc:
        assert "labels" in str(exc)
    else:
        raise AssertionError("an unlabelled inc of a labelled counter must fail")


def test_recording_does_not_import_prometheus_client() -> None:
    code = ("import sys; from calico.common import metrics as m; m.MESSAGES.labels('X').inc(); "
            "m.APPLY_TIME.observe(1.0); print('prometheus_client' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_startup_gc_pause_and_freeze() -> None:
    import gc

    from calico.felix import daemon

    was_enabled = gc.isenabled()
    try:
        daemon.begin_startup_gc()
        assert not gc.isenabled()
        daemon.end_startup_gc()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        (gc.enable if was_enabled else gc.disable)()

"""Former known gaps, now fixed and kept as regression tests (new gaps: add a strict xfail naming the
cause, so a fix shows up as XPASS and the marker can go)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fv.felix.conftest import Cluster, default_profile, pool
from tests.fv.felix.support import Checker, policy

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]


def test_nets_with_not_nets(cluster_factory: Any) -> None:
    """nets + notNets on one side used to render '--source A ! --source B', which iptables-restore
    rejects (Felix then failed closed and exited 1); it is now a Calico match block."""
    c: Cluster = cluster_factory()
    default_profile(c.store)
    pool(c.store)
    h = c.add_host("felix-g", 31)
    g1 = c.add_workload(h, "g1", "10.65.0.41")
    g2 = c.add_workload(h, "g2", "10.65.0.42")
    g3 = c.add_workload(h, "g3", "10.65.0.43")
    h.wait_felix_in_sync()
    c.store.apply(policy("nets-not-nets", {"selector": "name == 'g2'", "types": ["Ingress"],
                                           "ingress": [{"action": "Allow", "source": {
                                               "nets": ["10.65.0.40/29"], "notNets": ["10.65.0.43/32"]}}]}))
    cc = Checker()
    cc.some(g1, g2)
    cc.none(g3, g2)
    cc.check(timeout=8)
    assert h.felix_alive()

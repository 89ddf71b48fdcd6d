"""Two networks, two profiles: containers networked by the plugin are isolated by a real Felix
(running in the test's host namespace) unless a policy allows the traffic.

The plugin creates each network's profile (ingress only from members, `has(<network>)`);
Felix turns the WorkloadEndpoints and profiles into iptables rules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fv.cni.felix_support import running_felix
from tests.fv.cni.support import call, netconf, netns_path
from tests.support.etcd import EtcdServer
from tests.support.netns import Netns
from tests.support.procs import wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root, pytest.mark.slow]

GNP_KEY = "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/default.allow-netb-to-neta"


@pytest.fixture
def felix(etcd: EtcdServer, host: Netns, tmp: Path) -> Iterator[Path]:
    with running_felix(etcd, host, "node1", "192.0.2.1/24", tmp) as log_path:
        yield log_path


def _pings(src: Netns, ip: str) -> bool:
    return src.run("ping", "-c", "1", "-W", "1", ip, check=False).returncode == 0


def test_networks_isolated_unless_policy_allows(etcd: EtcdServer, pool: str, host: Netns, felix: Path,
                                                container: Callable[[str], Netns], tmp: Path) -> None:
    made = {}
    for name, net in (("a1", "neta"), ("a2", "neta"), ("b1", "netb")):
        c = container(name)
        res = call(host, "ADD", netconf(etcd, tmp, name=net), container_id=f"ctr-{name}", netns=netns_path(c))
        assert res.rc == 0, res.out
        made[name] = (c, res.out["ips"][0]["address"].split("/")[0])
    (a1, ip_a1), (a2, ip_a2), (b1, ip_b1) = made["a1"], made["a2"], made["b1"]

    # Same network: allowed by the network's profile (Felix needs a moment to program it).
    wait_until(lambda: _pings(a1, ip_a2), timeout=30, what=f"a1 -> a2 ({ip_a2}) on neta")
    assert _pings(a2, ip_a1)
    # Different networks: each profile admits only its own members.
    assert not _pings(b1, ip_a1)
    assert not _pings(a1, ip_b1)

    # A policy lets netb reach neta; anything else falls through (Pass) to the profiles.
    etcd.etcdctl("put", GNP_KEY, json.dumps({
        "kind": "GlobalNetworkPolicy", "apiVersion": "projectcalico.org/v3",
        "metadata": {"name": "default.allow-netb-to-neta", "uid": "u1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"tier": "default", "order": 10, "selector": "has(neta)", "types": ["Ingress"],
                 "ingress": [{"action": "Allow", "source": {"selector": "has(netb)"}, "destination": {}},
                             {"action": "Pass", "source": {}, "destination": {}}]}}))
    wait_until(lambda: _pings(b1, ip_a1), timeout=30, what="b1 -> a1 once the policy allows it")
    assert _pings(a1, ip_a2)  # same-network traffic still allowed by the profile
    assert not _pings(a1, ip_b1)  # the policy opened one direction only

"""Kernel-chain hooks follow host endpoints (real Felix, real packets).

Without a host endpoint Felix hooks neither raw nor mangle (with iptables-nft it does not even
create their base chains), so forwarded workload packets skip two tables; the first HostEndpoint
brings the hooks (and failsafe / host-endpoint policy) back, deleting the last one removes them
again, leaving other owners' rules alone. nat is hooked at POSTROUTING only, and only while
something masquerades (a natOutgoing pool, a tunnel device); never at PREROUTING/OUTPUT (no
floating IPs).
"""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from tests.fv.felix.conftest import Cluster, default_profile, pool
from tests.fv.felix.support import Checker, Host, Servers, policy
from tests.support.procs import wait_until

pytestmark = [pytest.mark.needs_etcd, pytest.mark.needs_root]

HOOKS = (("raw", "PREROUTING", "cali-PREROUTING"), ("raw", "OUTPUT", "cali-OUTPUT"),
         ("mangle", "PREROUTING", "cali-PREROUTING"))
FOREIGN = "-A PREROUTING -s 192.0.2.77/32 -j ACCEPT"
NAT_POST = ("nat", "POSTROUTING")


@pytest.fixture(scope="module")
def cluster(cluster_factory: Any) -> Cluster:
    c: Cluster = cluster_factory()
    default_profile(c.store)
    pool(c.store)
    a = c.add_host("hooks-a", 1)
    c.add_workload(a, "w1", "10.65.0.1")
    c.add_workload(a, "w2", "10.65.0.2")
    a.wait_felix_in_sync()
    return c


def hooked(host: Host) -> set[tuple[str, str]]:
    """(table, kernel chain) holding a jump to Calico's chain, from iptables-save."""
    out = set()
    for table, kchain, target in HOOKS:
        if re.search(rf"^-A {kchain} .*-j {target}$", host.iptables_save(table), re.M):
            out.add((table, kchain))
    return out


def base_chains(host: Host) -> set[tuple[str, str]] | None:
    """(table, chain) of the nftables base chains in raw/mangle/nat (None without the nft tool)."""
    if shutil.which("nft") is None:
        return None
    text = host.run("nft", "list", "ruleset").stdout
    found: set[tuple[str, str]] = set()
    table = chain = ""
    for line in text.splitlines():
        if m := re.match(r"table (\w+) (\w+)", line):
            table = m.group(2) if m.group(1) == "ip" else ""
        elif (m := re.match(r"\s*chain (\S+) \{", line)) and table in ("raw", "mangle", "nat"):
            chain = m.group(1)
        elif "hook" in line and table in ("raw", "mangle", "nat"):
            found.add((table, chain))
    return found


def test_hooks_follow_host_endpoints(cluster: Cluster) -> None:
    h = cluster.hosts[0]
    w1, w2 = cluster.workloads
    # no host endpoint, no natOutgoing pool: no raw/mangle/nat hooks, not even empty base chains
    assert hooked(h) == set()
    assert base_chains(h) in (None, set())
    assert "cali-PREROUTING" in h.iptables_save("raw")  # Calico's chains are still there, unhooked
    nat = h.iptables_save("nat")
    assert not re.search(r"^-A (PREROUTING|OUTPUT|POSTROUTING) ", nat, re.M) and ":cali-PREROUTING" in nat
    # a natOutgoing pool: nat POSTROUTING is hooked (masquerade), PREROUTING/OUTPUT still not
    pool(cluster.store, natOutgoing=True)
    wait_until(lambda: re.search(r"^-A POSTROUTING .*-j cali-POSTROUTING$", h.iptables_save("nat"), re.M),
               timeout=10, what="nat POSTROUTING hook")
    assert base_chains(h) in (None, {NAT_POST})
    assert not re.search(r"^-A (PREROUTING|OUTPUT) ", h.iptables_save("nat"), re.M)
    cluster.store.apply(policy("deny-8056", {"selector": "name == 'w2'", "types": ["Ingress"], "ingress": [
        {"action": "Deny", "protocol": "TCP", "destination": {"ports": [8056]}}, {"action": "Allow"}]}))
    servers = Servers()
    servers.start(h.ns, [22, 8055])
    hep = {"apiVersion": "projectcalico.org/v3", "kind": "HostEndpoint", "metadata": {"name": "hooks-a-eth0"},
           "spec": {"node": h.name, "interfaceName": "eth0", "expectedIPs": [h.ip]}}
    try:
        cc = Checker()
        cc.some(w1, w2)
        cc.none(w1, w2, 8056)
        cc.some(cluster.fabric, h, 8055)
        cc.check()
        assert hooked(h) == set()

        # a host endpoint: hooks appear, failsafe ports stay open, host-endpoint policy denies
        cluster.store.apply(hep)
        wait_until(lambda: hooked(h) == {(t, c) for t, c, _ in HOOKS}, timeout=10, what="raw/mangle hooks")
        cc.none(cluster.fabric, h, 8055)  # no policy for the host endpoint: denied...
        cc.some(cluster.fabric, h, 22)  # ...except failsafe
        cc.some(w1, w2)
        cc.none(w1, w2, 8056)
        cc.check()
        if base_chains(h) is not None:
            assert base_chains(h) == {("raw", "PREROUTING"), ("raw", "OUTPUT"), ("mangle", "PREROUTING"), NAT_POST}

        # someone else's rule in raw PREROUTING must survive the removal (and keep its chain)
        h.run("iptables", "-t", "raw", "-A", "PREROUTING", "-s", "192.0.2.77/32", "-j", "ACCEPT")
        cluster.store.delete("HostEndpoint", "hooks-a-eth0")
        wait_until(lambda: hooked(h) == set(), timeout=10, what="raw/mangle hooks removed")
        wait_until(lambda: base_chains(h) in (None, {("raw", "PREROUTING"), NAT_POST}), timeout=10,
                   what="emptied base chains deleted")
        assert FOREIGN in h.iptables_save("raw")
        cc.some(cluster.fabric, h, 8055)
        cc.some(w1, w2)
        cc.none(w1, w2, 8056)
        cc.check()
        # natOutgoing off again: the hook goes, and with it the (now empty) nat base chain
        pool(cluster.store, natOutgoing=False)
        wait_until(lambda: "cali-POSTROUTING" not in "".join(
            line for line in h.iptables_save("nat").splitlines() if line.startswith("-A POSTROUTING")),
            timeout=10, what="nat POSTROUTING hook removed")
        wait_until(lambda: base_chains(h) in (None, {("raw", "PREROUTING")}), timeout=10,
                   what="empty nat base chain deleted")
        cc.some(w1, w2)
        cc.check()
    finally:
        pool(cluster.store, natOutgoing=False)
        h.run("iptables", "-t", "raw", "-D", "PREROUTING", "-s", "192.0.2.77/32", "-j", "ACCEPT", check=False)
        cluster.store.delete("HostEndpoint", "hooks-a-eth0")
        cluster.store.delete("GlobalNetworkPolicy", "deny-8056")
        servers.stop()

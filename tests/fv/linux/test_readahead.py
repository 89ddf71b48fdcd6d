"""Start-of-day kernel reads started early (calico.linux.readahead) in a test namespace: each
output is the command's real output, used once by the first read of its driver only."""

from __future__ import annotations

import pytest

from calico.felix.rules.model import Chain, Rule
from calico.linux.ipsets import IPSetMetadata, IPSets
from calico.linux.iptables import Table
from calico.linux.readahead import ReadAhead, start_of_day
from tests.support.netns import Netns


def test_output_taken_once_and_failures_not_used(ns: Netns) -> None:
    ns.run("ipset", "create", "cali40s:early", "hash:net")
    ahead = ReadAhead()
    ahead.start(["ipset", "save"], ns.name)
    ahead.start(["ipset", "list", "no-such-set"], ns.name)  # fails: the caller runs it itself
    ahead.start(["iptables-nft-save", "-t", "nat"], ns.name)  # never taken: reaped by close()
    assert ahead.take(["ipset", "save"], ns.name) == ns.run("ipset", "save").stdout
    assert ahead.take(["ipset", "save"], ns.name) is None  # at most once
    assert ahead.take(["ipset", "save"]) is None  # another namespace is another read
    assert ahead.take(["ipset", "list", "no-such-set"], ns.name) is None
    assert ahead.pending == 1
    ahead.close()
    assert ahead.pending == 0


def test_drivers_use_the_early_read_for_their_first_read_only(ns: Netns) -> None:
    ahead = start_of_day((4,), "nft", ns.name)
    ahead.wait(10)
    ns.run("iptables", "-N", "cali-late")  # after the read: the first apply does not see it ...
    table = Table("filter", 4, netns=ns.name, backend="nft", readahead=ahead)
    table.update_chain(Chain("cali-INPUT", (Rule("-p tcp --dport 22", "-j ACCEPT"),)))
    table.apply()
    assert "cali-late" in ns.run("iptables-nft-save", "-t", "filter").stdout  # ... so leaves it alone
    table.refresh()  # ... and a later read is a real one, which finds the stale chain and deletes it
    table.apply()
    assert "cali-late" not in ns.run("iptables-nft-save", "-t", "filter").stdout
    sets = IPSets(4, netns=ns.name, readahead=ahead)
    sets.add_or_replace_ipset(IPSetMetadata("cali40s:x", "hash:net"), ["10.0.0.1/32"])
    assert sets.apply_updates() is True
    assert "add cali40s:x 10.0.0.1" in ns.run("ipset", "save").stdout
    assert sets.stats.save_calls == 1
    ahead.close()


def test_a_read_too_old_is_not_used(ns: Netns, monkeypatch: pytest.MonkeyPatch) -> None:
    """Felix may wait long for the datastore: by then the kernel may have changed, so an early
    read older than MAX_AGE is dropped and the driver reads afresh."""
    from calico.linux import readahead

    ahead = ReadAhead()
    ahead.start(["ipset", "save"], ns.name)
    ahead.wait(10)
    monkeypatch.setattr(readahead, "MAX_AGE", 0.0)
    assert ahead.take(["ipset", "save"], ns.name) is None
    ahead.close()

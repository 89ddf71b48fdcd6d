"""Table driver against real iptables (nft backend) inside a test namespace."""

from __future__ import annotations

import re

import pytest

from calico.felix.rules.model import Chain, Rule
from calico.linux.iptables import IptablesError, Table
from tests.support.netns import Netns
from tests.support.procs import wait_until


def save(ns: Netns, table: str = "filter", counters: bool = False, backend: str = "nft") -> str:
    argv = [f"iptables-{backend}-save", "-t", table] + (["-c"] if counters else [])
    return ns.run(*argv).stdout


def chain_lines(text: str, chain: str) -> list[str]:
    return [line for line in text.splitlines() if line.split(" ", 2)[1:2] == [chain] or
            re.match(rf"^\[\d+:\d+\] -A {re.escape(chain)} ", line)]


def desired(table: Table) -> None:
    table.update_chains([
        Chain("cali-INPUT", (Rule("-p tcp --dport 22", "-j ACCEPT", "ssh"), Rule("", "-j cali-wl"))),
        Chain("cali-wl", (Rule("-s 10.0.0.1/32", "-j DROP"), Rule("-p icmp", "-j RETURN"))),
        Chain("cali-OUTPUT", (Rule("-o lo -p icmp", "-j RETURN"),)),
    ])
    table.set_rule_inserts("INPUT", [Rule("", "-j cali-INPUT")])
    table.set_rule_inserts("OUTPUT", [Rule("", "-j cali-OUTPUT")])
    table.set_rule_appends("FORWARD", [Rule("-m mark --mark 0x10000/0x10000", "-j ACCEPT")])


def test_round_trip_and_restart_writes_nothing(ns: Netns) -> None:
    ns.run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9999", "-j", "ACCEPT")  # a user rule
    t = Table("filter", netns=ns.name)
    desired(t)
    assert t.apply() is True
    text = save(ns)
    assert ":cali-INPUT - " in text and ":cali-wl - " in text
    inp = chain_lines(text, "INPUT")
    assert "-j cali-INPUT" in inp[0] and "cali:" in inp[0]  # inserted at the top
    assert "--dport 9999" in inp[1]
    assert "0x10000/0x10000" in chain_lines(text, "FORWARD")[-1]
    assert t.stats.restore_calls == 1 and t.apply() is False and t.stats.restore_calls == 1

    # A "restarted" Felix with the same desired state reads back and writes nothing.
    t2 = Table("filter", netns=ns.name)
    desired(t2)
    assert t2.apply() is False
    assert t2.stats.restore_calls == 0 and t2.stats.save_calls == 1
    assert save(ns) == text or save(ns).split("\n", 1)[1] == text.split("\n", 1)[1]


def test_only_changed_chains_rewritten_counters_survive(ns: Netns) -> None:
    t = Table("filter", netns=ns.name)
    desired(t)
    t.apply()
    ns.run("ping", "-c", "3", "-i", "0.01", "-W", "1", "127.0.0.1")
    before = chain_lines(save(ns, counters=True), "cali-OUTPUT")
    assert not before[0].startswith("[0:0]"), before
    t.update_chain(Chain("cali-wl", (Rule("-s 10.0.0.2/32", "-j DROP"),)))
    assert t.apply() is True
    after_text = save(ns, counters=True)
    assert chain_lines(after_text, "cali-OUTPUT") == before  # untouched: same counters
    assert "10.0.0.2/32" in " ".join(chain_lines(after_text, "cali-wl"))
    assert "10.0.0.1/32" not in after_text


@pytest.mark.parametrize("backend", ["nft", "legacy"])
def test_drift_repair_after_flush_and_deleted_jump(ns: Netns, backend: str) -> None:
    t = Table("filter", netns=ns.name, backend=backend)
    desired(t)
    t.apply()
    good = save(ns, backend=backend)
    ns.run(f"iptables-{backend}", "-F", "cali-wl")
    ns.run(f"iptables-{backend}", "-D", "INPUT", "1")
    ns.run(f"iptables-{backend}", "-D", "FORWARD", "1")
    assert t.apply() is False  # no read-back on a plain apply
    t.refresh()
    assert t.apply() is True
    assert [ln for ln in save(ns, backend=backend).splitlines() if not ln.startswith("#")] == \
        [ln for ln in good.splitlines() if not ln.startswith("#")]
    again = Table("filter", netns=ns.name, backend=backend)
    desired(again)
    assert again.apply() is False


def test_stale_chains_removed_foreign_kept(ns: Netns) -> None:
    previous = Table("filter", netns=ns.name)
    previous.update_chains([Chain("cali-old", (Rule("-s 10.9.9.9/32", "-j DROP"),)),
                            Chain("cali-INPUT", (Rule("", "-j cali-old"),))])
    previous.set_rule_inserts("INPUT", [Rule("", "-j cali-INPUT")])
    previous.set_rule_inserts("OUTPUT", [Rule("-o lo", "-j RETURN")])
    previous.apply()
    ns.run("iptables", "-N", "my-chain")
    ns.run("iptables", "-A", "my-chain", "-s", "192.0.2.1", "-j", "DROP")
    ns.run("iptables", "-A", "INPUT", "-j", "my-chain")

    t = Table("filter", netns=ns.name)
    t.update_chain(Chain("cali-INPUT", (Rule("-p udp", "-j RETURN"),)))
    t.set_rule_inserts("INPUT", [Rule("", "-j cali-INPUT")])
    assert t.apply() is True
    text = save(ns)
    assert "cali-old" not in text
    assert ":my-chain" in text and "-A my-chain -s 192.0.2.1/32 -j DROP" in text
    assert "-A INPUT -j my-chain" in text
    assert not [ln for ln in chain_lines(text, "OUTPUT") if "cali:" in ln]  # stale insert gone
    assert "-p udp" in " ".join(chain_lines(text, "cali-INPUT"))


def test_append_mode_places_hooks_after_user_rules(ns: Netns) -> None:
    ns.run("iptables", "-A", "INPUT", "-p", "tcp", "--dport", "9999", "-j", "ACCEPT")
    t = Table("filter", netns=ns.name, insert_mode="append")
    desired(t)
    t.apply()
    inp = chain_lines(save(ns), "INPUT")
    assert "--dport 9999" in inp[0] and "-j cali-INPUT" in inp[1]
    t2 = Table("filter", netns=ns.name, insert_mode="append")
    desired(t2)
    assert t2.apply() is False


def test_persistent_failure_raises_clear_error(ns: Netns) -> None:
    t = Table("filter", netns=ns.name, max_retries=3)
    t.update_chain(Chain("cali-bad", (Rule("", "-j cali-does-not-exist"),)))
    with pytest.raises(IptablesError, match=r"filter \(IPv4\) could not be programmed after 3 attempts"):
        t.apply()
    assert t.stats.restore_errors == 3
    assert ":cali-bad" not in save(ns)  # the transaction is all-or-nothing


def test_ipv6_nat_table(ns: Netns) -> None:
    t = Table("nat", 6, netns=ns.name)
    t.update_chain(Chain("cali-POSTROUTING", (Rule("-s fd00::/64 ! -d fd00::/64", "-j MASQUERADE"),)))
    t.set_rule_appends("POSTROUTING", [Rule("", "-j cali-POSTROUTING")])
    assert t.apply() is True
    text = ns.run("ip6tables-save", "-t", "nat").stdout
    assert "-A cali-POSTROUTING -s fd00::/64 ! -d fd00::/64" in text
    assert "-j cali-POSTROUTING" in chain_lines(text, "POSTROUTING")[-1]


def test_chain_still_referenced_is_not_deleted(ns: Netns) -> None:
    t = Table("filter", netns=ns.name)
    t.update_chains([Chain("cali-a", (Rule("", "-j cali-b"),)), Chain("cali-b", (Rule("", "-j RETURN"),))])
    t.apply()
    t.remove_chain("cali-b")  # the caller forgot cali-a still jumps there
    t.apply()
    assert ":cali-b" in save(ns)
    t.update_chain(Chain("cali-a", (Rule("", "-j RETURN"),)))
    t.apply()
    assert ":cali-b" not in save(ns)


def test_hook_moves_to_a_new_chain_in_one_transaction(ns: Netns) -> None:
    t = Table("filter", netns=ns.name)
    t.update_chain(Chain("cali-INPUT", (Rule("-p udp", "-j RETURN"),)))
    t.set_rule_inserts("INPUT", [Rule("", "--jump cali-INPUT")])
    t.apply()
    t.remove_chain("cali-INPUT")
    t.update_chain(Chain("cali-INPUT2", (Rule("-p tcp", "-j RETURN"),)))
    t.set_rule_inserts("INPUT", [Rule("", "--jump cali-INPUT2")])
    assert t.apply() is True
    assert t.stats.restore_calls == 2
    text = save(ns)
    assert ":cali-INPUT " not in text and ":cali-INPUT2 " in text
    assert "-j cali-INPUT2" in chain_lines(text, "INPUT")[0]
    assert 'cali:Cz_u1IQiXIMmKD4c' not in text


def test_post_write_check_repairs_clobbering(ns: Netns) -> None:
    t = Table("filter", netns=ns.name, post_write_check_interval=0.05)
    desired(t)
    t.apply()
    assert t.next_check_due is not None
    ns.run("iptables", "-F", "cali-wl")  # someone clobbers us right after our write
    wait_until(lambda: t.apply() and True, timeout=5, what="the post-write check to repair cali-wl")
    assert "10.0.0.1/32" in " ".join(chain_lines(save(ns), "cali-wl"))

"""IPSets driver against real ipset inside a test namespace."""

from __future__ import annotations

from calico.linux.ipsets import IPSetMetadata, IPSets
from tests.support.netns import Netns


def members(ns: Netns, name: str) -> set[str]:
    out = ns.run("ipset", "save", name).stdout
    return {line.split()[2] for line in out.splitlines() if line.startswith("add ")}


def header(ns: Netns, name: str) -> str:
    return next(ln for ln in ns.run("ipset", "save", name).stdout.splitlines() if ln.startswith("create"))


def set_names(ns: Netns) -> set[str]:
    return set(ns.run("ipset", "list", "-n").stdout.split())


def test_create_and_member_deltas(ns: Netns) -> None:
    s = IPSets(4, netns=ns.name)
    s.add_or_replace_ipset(IPSetMetadata("cali40s:web", "hash:net"), ["10.0.0.1/32", "10.1.0.0/16"])
    s.add_or_replace_ipset(IPSetMetadata("cali40n:ports", "hash:ip,port"), ["10.0.0.1,tcp:80"])
    assert s.apply_updates() is True
    assert members(ns, "cali40s:web") == {"10.0.0.1", "10.1.0.0/16"}
    assert members(ns, "cali40n:ports") == {"10.0.0.1,tcp:80"}
    calls = s.stats.calls
    s.add_members("cali40s:web", ["10.0.0.2"])
    s.remove_members("cali40s:web", ["10.1.0.0/16"])
    assert s.apply_updates() is True
    assert s.stats.calls == calls + 1  # one ipset restore per apply
    assert members(ns, "cali40s:web") == {"10.0.0.1", "10.0.0.2"}
    assert s.apply_updates() is False


def test_swap_resync_keeps_iptables_reference(ns: Netns) -> None:
    s = IPSets(4, netns=ns.name)
    s.add_or_replace_ipset(IPSetMetadata("cali40s:a", "hash:net", max_size=1000), ["10.0.0.1", "10.0.0.2"])
    s.apply_updates()
    ns.run("iptables", "-A", "INPUT", "-m", "set", "--match-set", "cali40s:a", "src", "-j", "DROP")
    s.add_or_replace_ipset(IPSetMetadata("cali40s:a", "hash:net", max_size=2000), ["10.0.0.3"])
    assert s.apply_updates() is True
    assert "maxelem 2000" in header(ns, "cali40s:a")
    assert members(ns, "cali40s:a") == {"10.0.0.3"}
    assert set_names(ns) == {"cali40s:a"}  # temp set destroyed
    assert "--match-set cali40s:a src" in ns.run("iptables-save", "-t", "filter").stdout


def test_stale_sets_removed_foreign_kept(ns: Netns) -> None:
    ns.run("ipset", "restore", input="create cali40old hash:ip family inet\nadd cali40old 10.0.0.9\n"
                                     "create user-set hash:ip family inet\nadd user-set 10.0.0.8\n"
                                     "create cali60old hash:ip family inet6\n")
    s = IPSets(4, netns=ns.name)
    s.add_or_replace_ipset(IPSetMetadata("cali40new", "hash:ip"), ["10.0.0.1"])
    s.apply_updates()
    assert s.pending_deletions == ["cali40old"]
    assert s.apply_deletions() is True
    assert set_names(ns) == {"cali40new", "user-set", "cali60old"}  # v6 sets belong to the v6 driver
    assert members(ns, "user-set") == {"10.0.0.8"}


def test_member_drift_repaired_on_refresh(ns: Netns) -> None:
    s = IPSets(4, netns=ns.name)
    s.add_or_replace_ipset(IPSetMetadata("cali40s:x", "hash:ip"), [f"10.0.0.{i}" for i in range(1, 6)])
    s.apply_updates()
    ns.run("ipset", "del", "cali40s:x", "10.0.0.3")
    ns.run("ipset", "add", "cali40s:x", "10.0.0.99")
    s.refresh()
    assert s.apply_updates() is True
    assert members(ns, "cali40s:x") == {f"10.0.0.{i}" for i in range(1, 6)}
    ns.run("ipset", "destroy", "cali40s:x")
    s.refresh()
    s.apply_updates()
    assert members(ns, "cali40s:x") == {f"10.0.0.{i}" for i in range(1, 6)}


def test_set_in_use_is_deleted_only_after_iptables_lets_go(ns: Netns) -> None:
    s = IPSets(4, netns=ns.name)
    s.add_or_replace_ipset(IPSetMetadata("cali40s:used", "hash:ip"), ["10.0.0.1"])
    s.apply_updates()
    ns.run("iptables", "-A", "INPUT", "-m", "set", "--match-set", "cali40s:used", "src", "-j", "DROP")
    s.remove_ipset("cali40s:used")
    s.apply_updates()
    s.apply_deletions()
    assert "cali40s:used" in set_names(ns)  # still referenced: kept, retried later
    assert s.pending_deletions == ["cali40s:used"]
    ns.run("iptables", "-F", "INPUT")
    s.apply_deletions()
    assert "cali40s:used" not in set_names(ns)


def test_ipv6_sets(ns: Netns) -> None:
    s = IPSets(6, netns=ns.name)
    s.add_or_replace_ipset(IPSetMetadata("cali60s:v6", "hash:net"), ["fd00::1/128", "fd00:1::/64"])
    s.apply_updates()
    assert members(ns, "cali60s:v6") == {"fd00::1", "fd00:1::/64"}
    assert "family inet6" in header(ns, "cali60s:v6")


def test_type_change_recreates_set_once_unreferenced(ns: Netns) -> None:
    s = IPSets(4, netns=ns.name)
    s.add_or_replace_ipset(IPSetMetadata("cali40s:t", "hash:ip"), ["10.0.0.1"])
    s.add_or_replace_ipset(IPSetMetadata("cali40s:other", "hash:ip"), ["10.0.0.2"])
    s.apply_updates()
    ns.run("iptables", "-A", "INPUT", "-m", "set", "--match-set", "cali40s:t", "src", "-j", "DROP")
    s.add_or_replace_ipset(IPSetMetadata("cali40s:t", "hash:net"), ["10.1.0.0/16"])
    s.add_members("cali40s:other", ["10.0.0.3"])
    s.apply_updates()  # the referenced set cannot change type yet; the other set still updates
    assert "hash:ip " in header(ns, "cali40s:t")
    assert members(ns, "cali40s:other") == {"10.0.0.2", "10.0.0.3"}
    ns.run("iptables", "-F", "INPUT")
    s.apply_updates()
    assert "hash:net" in header(ns, "cali40s:t") and members(ns, "cali40s:t") == {"10.1.0.0/16"}

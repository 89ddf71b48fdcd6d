"""Kernel-chain hooks follow host endpoints: raw and mangle are hooked only while one exists."""

from __future__ import annotations

from calico.felix import config
from calico.felix import messages as m
from calico.felix.dataplane.driver import Dataplane

HID = m.HostEndpointID("eth0-hep")
HEP = m.HostEndpointInfo(name="eth0")


def make(**extra: str) -> Dataplane:
    return Dataplane(config.load({"NODENAME": "h1", **extra}, config_file="/nonexistent"))


def hooks(dp: Dataplane) -> dict[tuple[str, str], list[str]]:
    """(table, kernel chain) -> rendered insert rules, as the Table drivers hold them."""
    out = {}
    for (table, _v), t in dp.ctx.tables.items():
        for kchain, (rules, _hashes) in t._inserts.items():
            out[(table, kchain)] = [r.render() for r in rules]
    return out


def test_no_host_endpoint_no_raw_or_mangle_hooks() -> None:
    dp = make()
    dp._update_static()
    h = hooks(dp)
    assert set(h) == {("filter", "INPUT"), ("filter", "FORWARD"), ("filter", "OUTPUT")}
    nat = dp.ctx.table("nat", 4)
    assert nat._appends.get("POSTROUTING", ((), ()))[0] == ()  # nothing masquerades: nat not hooked
    assert {"cali-PREROUTING", "cali-OUTPUT", "cali-fip-dnat"} <= nat.desired_chain_names()  # unhooked
    assert h[("filter", "FORWARD")] == ["--jump cali-FORWARD"]
    # the static chains themselves are still written (names stay as Calico's)
    assert "cali-PREROUTING" in dp.ctx.table("raw", 4).desired_chain_names()
    assert "cali-PREROUTING" in dp.ctx.table("mangle", 4).desired_chain_names()
    assert not dp._prune_hooks  # nothing to delete at start-up


def test_first_host_endpoint_adds_hooks_last_one_removes_them() -> None:
    dp = make()
    dp._update_static()
    dp.on_update(m.HostEndpointUpdate(HID, HEP))
    dp._update_static()
    h = hooks(dp)
    assert h[("raw", "PREROUTING")] == ["--jump cali-PREROUTING"]
    assert h[("raw", "OUTPUT")] == ["--jump cali-OUTPUT"]
    assert h[("mangle", "PREROUTING")] == ["--jump cali-PREROUTING"]
    dp.on_update(m.HostEndpointRemove(HID))
    dp._update_static()
    h = hooks(dp)
    gone = {("raw", "PREROUTING"), ("raw", "OUTPUT"), ("mangle", "PREROUTING")}
    assert not gone & set(h)
    assert dp._prune_hooks == {(t, c, v) for t, c in gone for v in dp.ctx.versions}


def test_vxlan_keeps_raw_hooks_without_host_endpoints() -> None:
    dp = make(FELIX_VXLANENABLED="true")
    dp._update_static()
    h = hooks(dp)
    assert ("raw", "PREROUTING") in h and ("mangle", "PREROUTING") not in h


def test_nat_postrouting_hooked_only_while_something_masquerades() -> None:
    dp = make()
    dp._update_static()
    nat4, nat6 = dp.ctx.table("nat", 4), dp.ctx.table("nat", 6)
    dp.on_update(m.IPAMPoolUpdate("10.65.0.0-16", m.IPAMPool(cidr="10.65.0.0/16", masquerade=True)))
    dp._update_static()
    assert [r.render() for r in nat4._appends["POSTROUTING"][0]] == ["--jump cali-POSTROUTING"]
    assert nat6._appends.get("POSTROUTING", ((), ()))[0] == ()  # an IPv4 pool: IPv6 nat stays unhooked
    dp.on_update(m.IPAMPoolRemove("10.65.0.0-16"))
    dp._update_static()
    assert nat4._appends.get("POSTROUTING", ((), ()))[0] == ()
    assert ("nat", "POSTROUTING", 4) in dp._prune_hooks


def test_vxlan_hooks_nat_postrouting_for_its_masquerade() -> None:
    dp = make(FELIX_VXLANENABLED="true")
    dp._update_static()
    assert [r.render() for r in dp.ctx.table("nat", 4)._appends["POSTROUTING"][0]] == ["--jump cali-POSTROUTING"]

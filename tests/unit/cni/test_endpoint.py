from __future__ import annotations

from calico.cni.endpoint import add_profile, build_profile, build_wep
from calico.cni.names import identifiers


def test_wep_document() -> None:
    ids = identifiers("node1", "abc", "eth0", "", "")
    wep = build_wep(ids, ip_networks=["10.0.0.5/32"], profiles=["net1"], interface_name="caliabc",
                    mac="02:00:00:00:00:01", labels={"app": "web"}, uid="u", created="2026-01-01T00:00:00Z")
    assert wep["metadata"] == {"name": "node1-cni-abc-eth0", "namespace": "default", "uid": "u",
                               "creationTimestamp": "2026-01-01T00:00:00Z",
                               "labels": {"app": "web", "projectcalico.org/namespace": "default",
                                          "projectcalico.org/orchestrator": "cni"}}
    assert wep["spec"]["interfaceName"] == "caliabc" and "workload" not in wep["spec"]
    assert add_profile(wep, "net2") and not add_profile(wep, "net2")
    assert wep["spec"]["profiles"] == ["net1", "net2"]


def test_profile_documents() -> None:
    cni = build_profile("net1", "cni", uid="u", created="t")
    assert cni["spec"]["ingress"] == [{"action": "Allow", "source": {"selector": "has(net1)"}, "destination": {}}]
    assert cni["spec"]["labelsToApply"] == {"net1": ""}
    assert build_profile("net1", "k8s", uid="u", created="t")["spec"]["ingress"][0]["source"] == {}


def test_documents_parse_with_the_api_models() -> None:
    """The stored JSON must read back through calico.api (when that package provides parse_resource)."""
    import pytest

    api = pytest.importorskip("calico.api")
    parse = getattr(api, "parse_resource", None)
    if parse is None:
        pytest.skip("calico.api.parse_resource not available yet")
    ids = identifiers("node1", "abc", "eth0", "", "")
    wep = build_wep(ids, ip_networks=["10.0.0.5/32"], profiles=["net1"], interface_name="caliabc",
                    mac="02:00:00:00:00:01", labels={}, uid="u", created="2026-01-01T00:00:00Z")
    assert parse(wep).to_dict()["spec"]["interfaceName"] == "caliabc"
    assert parse(build_profile("net1", "cni", uid="u", created="2026-01-01T00:00:00Z")).to_dict()["spec"][
        "labelsToApply"] == {"net1": ""}

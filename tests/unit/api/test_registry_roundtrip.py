"""Document entry points (lists, arrays, unknown kinds) and to_dict -> parse_resource stability."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calico.api import (
    KINDS,
    MODELS,
    IPPool,
    UnknownKindError,
    list_document,
    parse_document,
    parse_resource,
)
from calico.api.meta import Resource
from tests.unit.api.helpers import doc


def test_models_cover_every_kind() -> None:
    assert set(MODELS) == {k.kind for k in KINDS}
    for kind, model in MODELS.items():
        assert kind == model.KIND
        assert issubclass(model, Resource)


def test_kind_list_and_plain_list_and_array() -> None:
    pools = [doc("IPPool", {"cidr": f"10.{i}.0.0/16"}, name=f"p{i}") for i in range(2)]
    typed = {"apiVersion": "projectcalico.org/v3", "kind": "IPPoolList", "items": pools}
    assert [r.metadata.name for r in parse_document(typed)] == ["p0", "p1"]
    plain = {"apiVersion": "v1", "kind": "List", "items": pools}
    assert [r.metadata.name for r in parse_document(plain)] == ["p0", "p1"]
    assert [r.metadata.name for r in parse_document(pools)] == ["p0", "p1"]
    assert parse_document(None) == []


def test_kind_list_items_may_omit_kind() -> None:
    typed = {"apiVersion": "projectcalico.org/v3", "kind": "IPPoolList",
             "items": [{"metadata": {"name": "a"}, "spec": {"cidr": "10.0.0.0/8"}}]}
    assert isinstance(parse_document(typed)[0], IPPool)


def test_unknown_list_kind() -> None:
    with pytest.raises(UnknownKindError, match=r"Unknown resource type \(FooList\)"):
        parse_document({"apiVersion": "projectcalico.org/v3", "kind": "FooList", "items": []})


def test_list_document_shape() -> None:
    p = parse_resource(doc("IPPool", {"cidr": "10.0.0.0/16"}))
    out = list_document("IPPool", [p], 17)
    assert out["kind"] == "IPPoolList" and out["apiVersion"] == "projectcalico.org/v3"
    assert out["metadata"] == {"resourceVersion": "17"} and out["items"] == [p.to_dict()]
    assert list_document("IPPool", [], None)["metadata"] == {}


def test_key_ids() -> None:
    assert parse_resource(doc("IPPool", {"cidr": "10.0.0.0/16"}, name="a")).key_id() == "IPPool(a)"
    np = parse_resource(doc("NetworkPolicy", {}, name="a", namespace="ns"))
    assert np.key_id() == "NetworkPolicy(ns/a)"
    assert np.identity() == ("NetworkPolicy", "ns", "a")


def test_stored_json_round_trip_every_kind() -> None:
    samples = [
        doc("IPPool", {"cidr": "10.0.0.0/16", "natOutgoing": True}),
        doc("IPReservation", {"reservedCIDRs": ["10.0.0.1"]}),
        doc("BGPPeer", {"peerIP": "10.0.0.1", "asNumber": 65001, "node": "n1"}),
        doc("BGPConfiguration", {"asNumber": 64512, "nodeToNodeMeshEnabled": True}, name="default"),
        doc("BGPFilter", {"exportV4": [{"action": "Reject"}]}),
        doc("Node", {"bgp": {"ipv4Address": "10.0.0.1/24"}}),
        doc("Profile", {"labelsToApply": {"a": "b"}}),
        doc("NetworkPolicy", {"ingress": [{"action": "Allow"}]}, namespace="n"),
        doc("GlobalNetworkPolicy", {"egress": [{"action": "Deny", "protocol": "TCP",
                                                "destination": {"ports": ["1:2"]}}]}),
        doc("Tier", {"order": 10}),
        doc("HostEndpoint", {"node": "n1", "interfaceName": "eth0"}),
        {**doc("WorkloadEndpoint", {"orchestrator": "cni", "node": "n", "containerID": "c1", "endpoint": "eth0",
                                    "interfaceName": "cali1"}, namespace="default"),
         "metadata": {"namespace": "default"}},
        doc("NetworkSet", {"nets": ["10.0.0.0/8"]}, namespace="n"),
        doc("GlobalNetworkSet", {"nets": ["10.0.0.0/8"]}),
        doc("FelixConfiguration", {"bpfEnabled": False}, name="default"),
        doc("ClusterInformation", {"clusterGUID": "abc"}, name="default"),
        doc("KubeControllersConfiguration", {"healthChecks": "Enabled"}, name="default"),
    ]
    assert {s["kind"] for s in samples} == {k.kind for k in KINDS}
    for s in samples:
        r = parse_resource(s)
        again = type(r).from_stored(r.to_stored_json(), 5)
        assert again.to_dict() == {**r.to_dict(), "metadata": {**r.to_dict()["metadata"], "resourceVersion": "5"}}
        assert parse_resource(again.to_dict()).to_dict() == again.to_dict()


def test_import_of_calico_api_is_light() -> None:
    code = "import sys, calico.api; print(any(m.startswith('pydantic') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


_label = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
_ports = st.one_of(st.integers(1, 65535), st.tuples(st.integers(1, 1000), st.integers(1000, 65535)).map(
    lambda t: f"{t[0]}:{t[1]}"), _label)


@st.composite
def _nets(draw: Any) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        plen = draw(st.integers(8, 32))
        addr = draw(st.integers(0, 2**32 - 1))
        out.append(str(ipaddress.ip_network((addr, plen), strict=False)))
    return out


@st.composite
def _rule(draw: Any) -> dict[str, Any]:
    r: dict[str, Any] = {"action": draw(st.sampled_from(["Allow", "Deny", "Log", "Pass"]))}
    if draw(st.booleans()):
        r["protocol"] = draw(st.sampled_from(["TCP", "UDP", "SCTP", 6, 17]))
        r["destination"] = {"ports": draw(st.lists(_ports, min_size=1, max_size=3))}
    if draw(st.booleans()):
        r.setdefault("source", {})["nets"] = draw(_nets())
    if draw(st.booleans()):
        r.setdefault("source", {})["selector"] = f"{draw(_label)} == '{draw(_label)}'"
    return r


@st.composite
def _policy(draw: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": f"has({draw(_label)})"}
    if draw(st.booleans()):
        spec["order"] = draw(st.one_of(st.integers(0, 10**6), st.floats(0, 1000, allow_nan=False)))
    spec["ingress"] = draw(st.lists(_rule(), max_size=3))
    spec["egress"] = draw(st.lists(_rule(), max_size=3))
    labels = draw(st.dictionaries(_label, _label, max_size=3))
    return doc("GlobalNetworkPolicy", spec, name=draw(_label), labels=labels)


@settings(max_examples=60, deadline=None)
@given(_policy())
def test_policy_round_trip_is_stable(d: dict[str, Any]) -> None:
    r = parse_resource(d)
    once = r.to_dict()
    assert parse_resource(once).to_dict() == once
    assert json.loads(r.to_stored_json())["spec"] == once["spec"]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 26), st.booleans(), st.sampled_from(["Never", "Always",
                                                                                         "CrossSubnet"]))
def test_pool_round_trip_is_stable(addr: int, plen: int, nat: bool, ipip: str) -> None:
    cidr = str(ipaddress.ip_network((addr, plen), strict=False))
    d = doc("IPPool", {"cidr": cidr, "natOutgoing": nat, "ipipMode": ipip})
    try:
        r = parse_resource(d)
    except ValueError:
        assert ipaddress.ip_network(cidr).overlaps(ipaddress.ip_network("169.254.0.0/16"))
        return
    once = r.to_dict()
    assert parse_resource(once).to_dict() == once


def test_from_stored_ignores_unknown_fields_like_go() -> None:
    text = json.dumps({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                       "metadata": {"name": "p", "futureMeta": 1},
                       "spec": {"cidr": "10.0.0.0/16", "futureField": {"x": 1}}, "status": {"conditions": []}})
    p = Resource.from_stored(text, 3)
    assert p.to_dict()["spec"]["cidr"] == "10.0.0.0/16"
    assert "futureField" not in p.to_dict()["spec"]
    with pytest.raises(ValueError, match="unknown field"):
        parse_resource(json.loads(text))


@st.composite
def _wep(draw: Any) -> dict[str, Any]:
    node = draw(st.from_regex(r"[a-z]([a-z0-9-]{0,6}[a-z0-9])?", fullmatch=True))
    pod = draw(st.from_regex(r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True))
    ip = str(ipaddress.ip_address(draw(st.integers(1, 2**32 - 2))))
    spec: dict[str, Any] = {"orchestrator": "k8s", "node": node, "pod": pod, "endpoint": "eth0",
                            "interfaceName": "cali" + draw(st.from_regex(r"[0-9a-f]{11}", fullmatch=True)),
                            "ipNetworks": [f"{ip}/32"], "profiles": [f"kns.{draw(_label)}"]}
    if draw(st.booleans()):
        spec["ports"] = [{"name": "http", "protocol": "TCP", "port": draw(st.integers(1, 65535))}]
    return {"apiVersion": "projectcalico.org/v3", "kind": "WorkloadEndpoint",
            "metadata": {"namespace": draw(_label), "labels": draw(st.dictionaries(_label, _label, max_size=3))},
            "spec": spec}


@settings(max_examples=60, deadline=None)
@given(_wep())
def test_wep_stored_round_trip(d: dict[str, Any]) -> None:
    r = parse_resource(d)
    assert r.metadata.name.endswith("-eth0") and "--" not in r.spec.node  # type: ignore[attr-defined]
    again = Resource.from_stored(r.to_stored_json(), 9)
    assert again.to_dict() == {**r.to_dict(), "metadata": {**r.to_dict()["metadata"], "resourceVersion": "9"}}
    assert again.metadata.labels is not None
    assert again.metadata.labels["projectcalico.org/namespace"] == d["metadata"]["namespace"]

from __future__ import annotations

import pytest

from calico.cni.names import host_veth_name, identifiers, join_segments, split_name


def test_cni_name_doubles_dashes() -> None:
    ids = identifiers("my-node", "abc", "eth0", "", "")
    assert ids.orchestrator == "cni" and ids.namespace == "default"
    assert ids.wep_name() == "my--node-cni-abc-eth0"


def test_k8s_name_from_pod_args() -> None:
    ids = identifiers("rack1-host1", "c0ffee", "eth0", "frontend-5gs43", "prod")
    assert ids.wep_name() == "rack1--host1-k8s-frontend--5gs43-eth0"
    assert ids.namespace == "prod"


def test_segments_round_trip() -> None:
    segs = ["a-b", "cni", "x--y", "eth0"]
    assert split_name(join_segments(segs)) == segs


@pytest.mark.parametrize("bad", ["-lead", "trail-", ""])
def test_bad_segments_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        join_segments(["node", "cni", bad, "eth0"])


def test_veth_names() -> None:
    cni = identifiers("n", "0123456789abcdef", "eth0", "", "")
    assert host_veth_name(cni) == "cali0123456789a"
    k8s = identifiers("n", "x", "eth0", "nginx", "default")
    # sha1("default.nginx")[:11], Calico's k8s scheme
    import hashlib

    assert host_veth_name(k8s) == "cali" + hashlib.sha1(b"default.nginx").hexdigest()[:11]
    assert len(host_veth_name(k8s)) == 15


@pytest.mark.parametrize("node, cid, ifname, pod, ns", [
    ("my-node", "abc", "eth0", "", ""),
    ("rack1-host1", "c0ffee-1", "eth0", "frontend-5gs43", "prod"),
    ("n", "4f1d2e3c5b6a", "net-1", "", ""),
])
def test_names_agree_with_the_api_package(node: str, cid: str, ifname: str, pod: str, ns: str) -> None:
    endpoint = pytest.importorskip("calico.api.endpoint")
    ids = identifiers(node, cid, ifname, pod, ns)
    assert ids.wep_name() == endpoint.workload_endpoint_name(node, ids.orchestrator, endpoint=ifname, pod=pod,
                                                             container_id=cid)

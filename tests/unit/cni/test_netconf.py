from __future__ import annotations

import json

import pytest

from calico.cni.errors import CNIError
from calico.cni.netconf import parse_netconf
from calico.cni.request import parse_cni_args, parse_request


def _conf(**kw: object) -> bytes:
    doc = {"cniVersion": "1.0.0", "name": "net1", "type": "calico", "ipam": {"type": "calico-ipam"}}
    doc.update(kw)
    return json.dumps(doc).encode()


def test_calico_fields() -> None:
    conf = parse_netconf(_conf(etcd_endpoints="http://10.0.0.1:2379", nodename="n1", mtu=1440,
                               ipam={"type": "calico-ipam", "assign_ipv4": "true", "assign_ipv6": "true",
                                     "ipv4_pools": ["10.0.0.0/24", "pool-b"]},
                               policy={"type": "k8s"}, log_level="debug"))
    assert conf.nodename == "n1" and conf.mtu == 1440 and conf.policy_type == "k8s"
    assert conf.ipam.assign_ipv6 and conf.ipam.ipv4_pools == ("10.0.0.0/24", "pool-b")
    assert conf.datastore_spec() == {"etcdEndpoints": "http://10.0.0.1:2379"}


def test_legacy_etcd_authority() -> None:
    conf = parse_netconf(_conf(etcd_authority="127.0.0.1:2379", etcd_scheme="https"))
    assert conf.datastore_spec()["etcdEndpoints"] == "https://127.0.0.1:2379"


def test_empty_version_means_0_2_0() -> None:
    assert parse_netconf(b'{"name": "n"}').cni_version == "0.2.0"


@pytest.mark.parametrize("doc, code, words", [
    (b"", 6, "no network configuration"),
    (b"{", 6, "invalid JSON"),
    (b"3", 6, "JSON object"),
    (_conf(mtu="big"), 7, "'mtu'"),
    (_conf(ipam={"type": "calico-ipam", "assign_ipv4": "maybe"}), 7, "ipam.assign_ipv4"),
    (_conf(ipam={"type": "calico-ipam", "ipv4_pools": "10.0.0.0/24"}), 7, "ipam.ipv4_pools"),
    (_conf(nodename_file_optional="yes"), 7, "nodename_file_optional"),
])
def test_bad_config_names_the_field(doc: bytes, code: int, words: str) -> None:
    with pytest.raises(CNIError) as err:
        parse_netconf(doc)
    assert err.value.code == code and words in err.value.details


def test_labels_from_args() -> None:
    conf = parse_netconf(_conf(args={"cni": {"labels": [{"key": "app", "value": "web"}]}}))
    assert conf.labels == (("app", "web"),)


def test_request_requirements() -> None:
    base = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0"}
    assert parse_request(base).container_id == "c1"
    with pytest.raises(CNIError) as err:
        parse_request({k: v for k, v in base.items() if k != "CNI_NETNS"})
    assert err.value.code == 4 and "CNI_NETNS" in err.value.msg
    # DEL may omit the netns.
    assert parse_request(dict(base, CNI_COMMAND="DEL", CNI_NETNS="")).netns == ""
    for bad in ({"CNI_CONTAINERID": "-bad"}, {"CNI_IFNAME": "a/b"}, {"CNI_IFNAME": "x" * 16},
                {"CNI_COMMAND": "FROB"}):
        with pytest.raises(CNIError) as err:
            parse_request(dict(base, **bad))
        assert err.value.code == 4


def test_cni_args() -> None:
    assert parse_cni_args("IgnoreUnknown=1;IP=10.0.0.5;K8S_POD_NAME=a") == (
        ("IgnoreUnknown", "1"), ("IP", "10.0.0.5"), ("K8S_POD_NAME", "a"))
    with pytest.raises(CNIError):
        parse_cni_args("novalue")


def test_nodename_rules(tmp_path: object) -> None:
    from pathlib import Path

    from calico.cni.plugin import nodename

    base = Path(str(tmp_path))
    missing = parse_netconf(_conf(nodename_file=str(base / "nodename")))
    with pytest.raises(CNIError) as err:
        nodename(missing)
    assert "check that the calico/node container is running" in err.value.details
    (base / "nodename").write_text("node-from-file\n")
    assert nodename(missing) == "node-from-file"
    assert nodename(parse_netconf(_conf(nodename_file=str(base / "nodename"), nodename="explicit"))) == "explicit"

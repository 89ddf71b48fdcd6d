"""Datastore JSON -> typed inputs, with errors that name the resource and field."""

from __future__ import annotations

import pytest

from calico.bgp.inputs import (
    InputError,
    affinity_state,
    bgp_config_spec,
    node_info,
    parse_asn,
    parse_duration,
    parse_peer_ip,
    peer_spec,
)


def test_as_numbers() -> None:
    assert parse_asn(65000, "x") == 65000
    assert parse_asn("1.10", "x") == 65546
    assert parse_asn("4294967295", "x") == 4294967295
    with pytest.raises(InputError, match=r"spec.asNumber: AS number 4294967296 is out of range"):
        parse_asn(4294967296, "BGPPeer(p): spec.asNumber")
    with pytest.raises(InputError, match="is not an AS number"):
        parse_asn("abc", "x")


def test_peer_ip_forms() -> None:
    assert parse_peer_ip("10.0.0.1", "x") == ("10.0.0.1", None)
    assert parse_peer_ip("10.0.0.1:1790", "x") == ("10.0.0.1", 1790)
    assert parse_peer_ip("[fd00::1]:1790", "x") == ("fd00::1", 1790)
    assert parse_peer_ip("fd00::1", "x") == ("fd00::1", None)
    with pytest.raises(InputError, match="is not a valid IP address"):
        parse_peer_ip("10.0.0", "x")


def test_durations() -> None:
    assert parse_duration("120s", "x") == 120
    assert parse_duration("1m30s", "x") == 90
    with pytest.raises(InputError, match="not a duration"):
        parse_duration("soon", "x")


def test_bad_peers_name_the_field() -> None:
    with pytest.raises(InputError, match=r"BGPPeer\(p\): spec.peerIP: 'nope' is not a valid IP address"):
        peer_spec({"metadata": {"name": "p"}, "spec": {"peerIP": "nope", "asNumber": 1}})
    with pytest.raises(InputError, match=r"BGPPeer\(p\): spec.nodeSelector: invalid selector"):
        peer_spec({"metadata": {"name": "p"}, "spec": {"peerIP": "10.0.0.1", "asNumber": 1, "nodeSelector": "a ==="}})
    with pytest.raises(InputError, match=r"spec\.asNumber"):
        peer_spec({"metadata": {"name": "p"}, "spec": {"peerIP": "10.0.0.1", "asNumber": 99999999999}})


def test_peer_and_node_and_config() -> None:
    p = peer_spec({"metadata": {"name": "p"}, "spec": {
        "node": "n1", "peerIP": "10.100.0.1", "asNumber": 65000, "keepOriginalNextHop": True,
        "password": {"secretKeyRef": {"name": "bgp", "key": "pw"}}, "maxRestartTime": "30s",
        "numAllowedLocalASNumbers": 1, "filters": ["f"]}})
    assert (p.node, p.peer_ip, p.as_number, p.max_restart_time, p.password and p.password.key) == \
        ("n1", "10.100.0.1", 65000, 30, "pw")
    n = node_info({"metadata": {"name": "n1", "labels": {"a": "b"}},
                   "spec": {"bgp": {"ipv4Address": "10.0.0.1/24", "asNumber": 65100,
                                    "routeReflectorClusterID": "244.0.0.1"}}})
    assert (n.ipv4, n.asn, n.rr_cluster_id, dict(n.labels)) == ("10.0.0.1/24", 65100, "244.0.0.1", {"a": "b"})
    c = bgp_config_spec({"metadata": {"name": "default"}, "spec": {
        "nodeToNodeMeshEnabled": False, "asNumber": 63400, "serviceClusterIPs": [{"cidr": "10.96.0.0/12"}]}})
    assert (c.node_to_node_mesh, c.asn, c.service_cluster_ips) == (False, 63400, ("10.96.0.0/12",))


def test_affinity_values() -> None:
    assert affinity_state('{"state":"confirmed","deleted":false}') == "confirmed"
    assert affinity_state("") == "confirmed"
    assert affinity_state('{"state":"pending"}') == "pending"
    assert affinity_state('{"state":"confirmed","deleted":true}') is None

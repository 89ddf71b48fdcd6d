"""IPPool/IPReservation: defaults visible in output, stored JSON shape and every pool rule."""

from __future__ import annotations

import json

from calico.api import IPPool, parse_resource
from calico.api.pool import check_pool_overlap, check_pool_update
from tests.unit.api.helpers import assert_fails, doc, failures, tag


def pool(cidr: str, name: str = "p", **spec: object) -> IPPool:
    p = parse_resource(doc("IPPool", {"cidr": cidr, **spec}, name=name))
    assert isinstance(p, IPPool)
    return p


def test_v4_defaults_visible() -> None:
    spec = pool("10.0.0.0/16").to_dict()["spec"]
    assert spec == {"cidr": "10.0.0.0/16", "vxlanMode": "Never", "ipipMode": "Never", "blockSize": 26,
                    "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"], "assignmentMode": "Automatic"}


def test_v6_default_block_size() -> None:
    assert pool("fd00::/64").to_dict()["spec"]["blockSize"] == 122


def test_stored_json_matches_calico_example() -> None:
    p = parse_resource({"kind": "IPPool", "apiVersion": "projectcalico.org/v3",
                        "metadata": {"name": "default-ipv4-ippool", "uid": "u1",
                                     "creationTimestamp": "2024-05-01T10:00:00Z", "resourceVersion": "7"},
                        "spec": {"cidr": "192.168.0.0/16", "ipipMode": "Always", "natOutgoing": True}})
    assert p.to_stored_json() == (
        '{"kind":"IPPool","apiVersion":"projectcalico.org/v3","metadata":{"name":"default-ipv4-ippool",'
        '"uid":"u1","creationTimestamp":"2024-05-01T10:00:00Z"},"spec":{"cidr":"192.168.0.0/16",'
        '"vxlanMode":"Never","ipipMode":"Always","natOutgoing":true,"blockSize":26,"nodeSelector":"all()",'
        '"allowedUses":["Workload","Tunnel"],"assignmentMode":"Automatic"}}')
    assert p.to_dict()["metadata"]["resourceVersion"] == "7"


def test_from_stored_applies_defaults_and_revision() -> None:
    text = json.dumps({"kind": "IPPool", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "old"},
                       "spec": {"cidr": "10.0.0.0/8"}})
    p = IPPool.from_stored(text, 42)
    assert p.metadata.resource_version == "42"
    assert p.to_dict()["spec"]["blockSize"] == 26
    assert p.to_dict()["spec"]["ipipMode"] == "Never"


def test_ipv6_cidr_normalised() -> None:
    assert pool("FD00:0:0::/64").spec.cidr == "fd00::/64"


def test_cidr_required() -> None:
    assert failures(doc("IPPool", {})) == [("IPPool.Spec.CIDR", "IPPool CIDR must be specified")]


def test_cidr_invalid() -> None:
    assert failures(doc("IPPool", {"cidr": "10.0.0.300/8"})) == [
        ("IPPool.Spec.CIDR", "IPPool CIDR must be a valid subnet")]


def test_bare_ip_is_not_a_subnet() -> None:
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0"}), "IPPool.Spec.CIDR", "IPPool CIDR must be a valid subnet")


def test_not_strictly_masked() -> None:
    err = assert_fails(doc("IPPool", {"cidr": "10.0.0.1/16"}), "IPPool.Spec.CIDR",
                       "IPPool CIDR is not strictly masked")
    assert str(err) == "error with field IPPool.Spec.CIDR = '10.0.0.0/16' (IPPool CIDR is not strictly masked)"


def test_v4_block_size_range() -> None:
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/8", "blockSize": 19}), "IPPool.Spec.BlockSize",
                 "IPv4 block size must be between 20 and 32")
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/8", "blockSize": 33}), "IPPool.Spec.BlockSize",
                 "IPv4 block size must be between 20 and 32")


def test_v6_block_size_range() -> None:
    assert_fails(doc("IPPool", {"cidr": "fd00::/64", "blockSize": 115}), "IPPool.Spec.BlockSize",
                 "IPv6 block size must be between 116 and 128")


def test_pool_smaller_than_block() -> None:
    reason = ("IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the "
              "block size.")
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/28"}), "IPPool.Spec.CIDR", reason)
    pool("10.0.0.0/28", disabled=True)  # allowed when disabled
    pool("10.0.0.0/28", blockSize=28)


def test_ipip_and_vxlan_exclusive() -> None:
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "ipipMode": "Always", "vxlanMode": "CrossSubnet"}),
                 "IPPool.Spec.VXLANMode", "Cannot enable both VXLAN and IPIP on the same IPPool")


def test_ipv6_ipip_rejected_vxlan_allowed() -> None:
    assert_fails(doc("IPPool", {"cidr": "fd00::/64", "ipipMode": "CrossSubnet"}), "IPPool.Spec.IPIPMode",
                 "IPIP is not supported on an IPv6 IP pool")
    pool("fd00::/64", vxlanMode="Always")


def test_link_local_overlap() -> None:
    assert_fails(doc("IPPool", {"cidr": "169.254.0.0/20"}), "IPPool.Spec.CIDR",
                 "IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16")
    assert_fails(doc("IPPool", {"cidr": "fe80::/64"}), "IPPool.Spec.CIDR",
                 "IPPool CIDR overlaps with IPv6 Link Local range fe80::/10")
    assert_fails(doc("IPPool", {"cidr": "128.0.0.0/1", "blockSize": 26}), "IPPool.Spec.CIDR",
                 "IPPool CIDR overlaps with IPv4 Link Local range 169.254.0.0/16")


def test_bad_mode_values() -> None:
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "ipipMode": "always"}), "IPIPMode",
                 tag("IPIPMode", "ipIpMode"))
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "vxlanMode": "sometimes"}), "VXLANMode",
                 tag("VXLANMode", "vxlanMode"))
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "assignmentMode": "Auto"}), "AssignmentMode",
                 tag("AssignmentMode", "assignmentMode"))


def test_node_selector_checked() -> None:
    errs = failures(doc("IPPool", {"cidr": "10.0.0.0/16", "nodeSelector": "a =="}))
    assert errs[0][0] == "NodeSelector" and "expected" in errs[0][1]
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "nodeSelector": "global()"}),
                 "IPPool.Spec.NodeSelector", "global() can only be used in an EntityRule namespaceSelector")


def test_v1_leftovers_rejected() -> None:
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "ipip": {"enabled": True}}), "IPIP",
                 tag("IPIP", "mustBeNil"))
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "nat-outgoing": True}), "NATOutgoingV1",
                 tag("NATOutgoingV1", "mustBeFalse"))


def test_allowed_uses_rules() -> None:
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "allowedUses": ["Bogus"]}), "IPpool.AllowedUses",
                 "unknown use: Bogus")
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "allowedUses": ["LoadBalancer", "Workload"]}),
                 "IPpool.AllowedUses", "LoadBalancer cannot be used at the same time as: Workload")
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "allowedUses": ["LoadBalancer"], "vxlanMode": "Always"}),
                 "IPpool.IPIPMode",
                 "Neither IPIPMode nor VXLANMode can be enabled on AllowedUses LoadBalancer IP pool")
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "allowedUses": ["LoadBalancer"], "disableBGPExport": True}),
                 "IPpool.DisableBGPExport",
                 "IP Pool with AllowedUse LoadBalancer must have DisableBGPExport set to true")
    assert_fails(doc("IPPool", {"cidr": "10.0.0.0/16", "allowedUses": ["LoadBalancer"], "nodeSelector": "a == 'b'"}),
                 "IPpool.NodeSelector", "IP Pool with AllowedUse LoadBalancer must have node selector set to all()")
    pool("10.0.0.0/16", allowedUses=["LoadBalancer"])


def test_name_rules() -> None:
    errs = failures(doc("IPPool", {"cidr": "10.0.0.0/16"}, name="Bad_Name"))
    assert errs[0][0] == "Metadata.Name"
    assert errs[0][1].startswith("name must consist of lower case alphanumeric characters, '-' or '.'")
    errs = failures(doc("IPPool", {"cidr": "10.0.0.0/16"}, name="a" * 254))
    assert ("Metadata.Name", "name is too long by 1 bytes") in errs


def test_overlap_check() -> None:
    a = pool("10.0.0.0/8", name="pool1")
    b = pool("10.1.0.0/16", name="pool2")
    err = check_pool_overlap(b, [a])
    assert err is not None
    assert str(err) == ("error with field IPPool.Spec.CIDR = '10.1.0.0/16' "
                        "(IPPool(pool2) CIDR overlaps with IPPool(pool1) CIDR 10.0.0.0/8)")
    assert check_pool_overlap(b, [pool("11.0.0.0/8", name="other"), b]) is None
    assert check_pool_overlap(pool("fd00::/64"), [a]) is None


def test_update_immutables() -> None:
    old = pool("10.0.0.0/16")
    new = pool("10.1.0.0/16")
    err = check_pool_update(old, new)
    assert err is not None and ("IPPool.Spec.CIDR", "IPPool CIDR cannot be modified") in [
        (e.field, e.reason) for e in err.errors]
    err = check_pool_update(old, pool("10.0.0.0/16", blockSize=28))
    assert err is not None and err.errors[0].reason == "IPPool BlockSize cannot be modified"
    assert check_pool_update(old, pool("10.0.0.0/16", natOutgoing=True)) is None
    lb = pool("10.0.0.0/16", allowedUses=["LoadBalancer"])
    err = check_pool_update(lb, old)
    assert err is not None and err.errors[0].field == "IPPool.Spec.AllowedUses"


def test_ip_reservation() -> None:
    r = parse_resource(doc("IPReservation", {"reservedCIDRs": ["10.0.0.1", "10.0.1.7/24"]}))
    assert r.to_dict()["spec"] == {"reservedCIDRs": ["10.0.0.1", "10.0.1.7/24"]}
    assert_fails(doc("IPReservation", {"reservedCIDRs": ["nope"]}), "ReservedCIDRs",
                 tag("ReservedCIDRs", "cidr"))

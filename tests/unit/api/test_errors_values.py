"""Error formatting (libcalico's exact strings) and the numorstring/duration value types."""

from __future__ import annotations

import pytest

from calico.api import CalicoValidationError, FieldError, UnknownKindError, parse_resource
from calico.api.errors import InsufficientIdentifiers
from calico.api.values import (
    ASNumber,
    Port,
    Protocol,
    format_go_duration,
    parse_as_number,
    parse_go_duration,
)
from tests.unit.api.helpers import doc


def test_single_error_format() -> None:
    err = CalicoValidationError([FieldError("IPPool.Spec.CIDR", "10.1.0.0/16", "boom")])
    assert str(err) == "error with field IPPool.Spec.CIDR = '10.1.0.0/16' (boom)"


def test_several_errors_format_matches_libcalico() -> None:
    err = CalicoValidationError([FieldError("A", 1, "r1"), FieldError("B", True, "r2")])
    assert str(err) == "error with the following fields:\n-  A = '1' (r1)\n-  B = 'true' (r2)\n"


def test_error_without_value_omits_it() -> None:
    err = CalicoValidationError([FieldError("IPPool.Spec.CIDR", reason="IPPool CIDR must be specified")])
    assert str(err) == "error with field IPPool.Spec.CIDR (IPPool CIDR must be specified)"


def test_go_value_rendering_of_lists_and_none() -> None:
    assert str(FieldError("F", [80, "a:b"], "r")) == "F = '[80 a:b]' (r)"
    assert str(FieldError("F", None, "r")) == "F = '<nil>' (r)"


def test_empty_error_list() -> None:
    assert str(CalicoValidationError([])) == "unknown validation error"


def test_unknown_kind_message() -> None:
    with pytest.raises(UnknownKindError) as info:
        parse_resource({"apiVersion": "projectcalico.org/v3", "kind": "Nope", "metadata": {"name": "a"}})
    assert str(info.value) == "Unknown resource type (Nope) and/or version (projectcalico.org/v3)"
    with pytest.raises(UnknownKindError) as info:
        parse_resource({"apiVersion": "projectcalico.org/v2", "kind": "IPPool"})
    assert str(info.value) == "Unknown resource type (IPPool) and/or version (projectcalico.org/v2)"


def test_unknown_field_is_rejected_with_its_name() -> None:
    with pytest.raises(CalicoValidationError) as info:
        parse_resource(doc("IPPool", {"cidr": "10.0.0.0/16", "foo": 1}))
    assert str(info.value) == "error with field IPPool.Spec.foo = '1' (json: unknown field \"foo\")"


def test_unknown_top_level_and_metadata_fields() -> None:
    with pytest.raises(CalicoValidationError) as info:
        parse_resource({**doc("IPPool", {"cidr": "10.0.0.0/16"}), "extra": {}})
    assert 'json: unknown field "extra"' in str(info.value)
    d = doc("IPPool", {"cidr": "10.0.0.0/16"})
    d["metadata"]["bogus"] = "x"
    with pytest.raises(CalicoValidationError) as info:
        parse_resource(d)
    assert info.value.errors[0].field == "IPPool.Metadata.bogus"


def test_wrong_type_names_the_field() -> None:
    with pytest.raises(CalicoValidationError) as info:
        parse_resource(doc("IPPool", {"cidr": "10.0.0.0/16", "natOutgoing": {"a": 1}}))
    assert info.value.errors[0].field == "IPPool.Spec.NATOutgoing"


def test_nested_wrong_type_path_has_index() -> None:
    with pytest.raises(CalicoValidationError) as info:
        parse_resource(doc("GlobalNetworkPolicy", {"ingress": [{"action": "Allow", "source": {"nets": 5}}]}))
    assert info.value.errors[0].field == "GlobalNetworkPolicy.Spec.Ingress[0].Source.Nets"


def test_insufficient_identifiers_message() -> None:
    assert str(InsufficientIdentifiers("scope")) == "insufficient identifiers, missing 'scope'"


@pytest.mark.parametrize(("raw", "json"), [(80, 80), ("80", 80), ("1:2", "1:2"), ("http", "http"),
                                           ("a-b_c.d", "a-b_c.d")])
def test_port_forms(raw: object, json: object) -> None:
    assert Port.parse(raw).to_json() == json


@pytest.mark.parametrize("raw", ["5:1", "70000", "a b", "1:70000", True, 70000, -1])
def test_bad_ports_rejected(raw: object) -> None:
    with pytest.raises(ValueError):
        Port.parse(raw)


def test_port_range_reason() -> None:
    with pytest.raises(ValueError, match=r"minimum port number \(5\) is greater than maximum port number \(1\)"):
        Port.parse("5:1")


def test_protocols_canonical_and_numbers() -> None:
    assert Protocol.parse("tcp").to_json() == "TCP"
    assert Protocol.parse("icmpv6").to_json() == "ICMPv6"
    assert Protocol.parse("udplite").to_json() == "UDPLite"
    assert Protocol.parse(6).supports_ports()
    assert not Protocol.parse("UDPLite").supports_ports()
    assert Protocol.parse(0).problem() == "protocol number invalid"
    assert Protocol.parse("bogus").problem() == "protocol name invalid"
    assert Protocol.parse(132).problem() is None


def test_as_numbers() -> None:
    assert ASNumber.parse(65000) == 65000
    assert ASNumber.parse("1.10") == 65546
    assert ASNumber.parse("4294967295") == 4294967295
    assert parse_as_number("0.1") == 1
    for bad in ("4294967296", "1.70000", "x", -1, 4294967296):
        with pytest.raises(ValueError):
            ASNumber.parse(bad)


@pytest.mark.parametrize(("text", "out"), [("90s", "1m30s"), ("0", "0s"), ("500ms", "500ms"),
                                           ("1h", "1h0m0s"), ("1.5s", "1.5s"), ("2m", "2m0s"),
                                           ("10us", "10µs"), ("-3s", "-3s")])
def test_go_durations(text: str, out: str) -> None:
    assert format_go_duration(parse_go_duration(text)) == out


@pytest.mark.parametrize("text", ["", "5", "abc", "1x", "s"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="time: "):
        parse_go_duration(text)

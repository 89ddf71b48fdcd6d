from __future__ import annotations

from calico.cni.result import Interface, IPConfig, Result, Route, host_address, parse_result

RES = Result(interfaces=(Interface("cali1"), Interface("eth0", mac="aa:bb:cc:dd:ee:ff", mtu=1440, sandbox="/n")),
             ips=(IPConfig("10.0.0.5/32", interface=1), IPConfig("fd00::5/128", interface=1)),
             routes=(Route("10.0.0.5/26"),))


def test_1_0_0_shape() -> None:
    out = RES.to_dict("1.0.0")
    assert out["ips"][0] == {"address": "10.0.0.5/32", "interface": 1}
    assert "mtu" not in out["interfaces"][1]  # 1.1 field
    assert RES.to_dict("1.1.0")["interfaces"][1]["mtu"] == 1440


def test_0_3_1_has_version_field() -> None:
    assert RES.to_dict("0.3.1")["ips"][1] == {"version": "6", "address": "fd00::5/128", "interface": 1}


def test_legacy_0_2_0() -> None:
    out = RES.to_dict("0.2.0")
    assert out["ip4"] == {"ip": "10.0.0.5/32", "routes": [{"dst": "10.0.0.5/26"}]}
    assert out["ip6"] == {"ip": "fd00::5/128"}


def test_parse_round_trip_and_host_address() -> None:
    parsed = parse_result(RES.to_dict("1.0.0"))
    assert parsed.ips == RES.ips
    hl = parse_result({"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.7/24", "gateway": "10.1.0.1"}]})
    assert host_address(hl.ips[0]) == IPConfig("10.1.0.7/32")
    old = parse_result({"ip4": {"ip": "10.2.0.3/16", "routes": [{"dst": "0.0.0.0/0"}]}})
    assert old.ips[0].address == "10.2.0.3/16" and old.routes[0].dst == "0.0.0.0/0"

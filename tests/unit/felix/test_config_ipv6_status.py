"""IPv6 default and fallback, config overrides, and endpoint status file naming/content/sync."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calico.felix import config
from calico.felix import messages as m
from calico.felix.dataplane import ipv6, status_files


def load(**env: str) -> config.FelixConfig:
    return config.load({"NODENAME": "h1", **env}, config_file="/nonexistent")


def test_ipv6_on_by_default_as_calico() -> None:
    assert load()["Ipv6Support"] is True
    assert load(FELIX_IPV6SUPPORT="false")["Ipv6Support"] is False
    assert config.load({"NODENAME": "h"}, config_file="/nonexistent",
                       global_config={"ipv6Support": "false"})["Ipv6Support"] is False


def test_with_values_overrides_value_but_not_what_was_configured() -> None:
    cfg = load()
    off = config.with_values(cfg, Ipv6Support=False)
    assert off["Ipv6Support"] is False and cfg["Ipv6Support"] is True
    assert config.restart_needed(cfg, off) == []  # a forced fallback is no config change
    with pytest.raises(KeyError, match="NoSuchParam"):
        config.with_values(cfg, NoSuchParam=1)


def test_ipv6_unusable_reasons(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert "has no IPv6" in (ipv6.ipv6_unusable_reason(proc_ipv6=str(missing)) or "")
    (tmp_path / "conf" / "all").mkdir(parents=True)
    (tmp_path / "conf" / "all" / "disable_ipv6").write_text("1\n")
    assert "disable_ipv6=1" in (ipv6.ipv6_unusable_reason(proc_ipv6=str(tmp_path)) or "")


def test_ip6tables_binary_follows_backend() -> None:
    assert ipv6.ip6tables_save_cmd("auto") == "ip6tables-save"
    assert ipv6.ip6tables_save_cmd("nft") == "ip6tables-nft-save"
    assert ipv6.ip6tables_save_cmd("legacy") == "ip6tables-legacy-save"


def test_ipv6_off_by_config_is_ipv4_only() -> None:
    assert ipv6.dataplane_versions(False) == (4,)
    cfg = load(FELIX_IPV6SUPPORT="false")
    assert ipv6.check_ipv6(cfg) is cfg


def test_status_filename_is_calicos() -> None:
    eid = m.WorkloadEndpointID("k8s", "nginx-1", "eth0", namespace="default")
    assert status_files.status_filename(eid) == "k8s default%2Fnginx-1 eth0"
    odd = m.WorkloadEndpointID("cni", "a b/c?", "e:1")
    assert status_files.status_filename(odd) == "cni a%20b%2Fc%3F e:1"
    assert status_files.filename_for("k8s", "kube-system/coredns-x", "eth0") == "k8s kube-system%2Fcoredns-x eth0"


def test_status_content_omits_empty_fields() -> None:
    ep = m.WorkloadEndpointInfo("active", "cali1", mac="ee:ee:ee:ee:ee:01", ipv4_nets=("10.0.0.1/32",),
                                ipv6_nets=("fd00::1/128",))
    assert status_files.status_content(ep) == (
        '{"ifaceName":"cali1","mac":"ee:ee:ee:ee:ee:01","ipv4Nets":["10.0.0.1/32"],"ipv6Nets":["fd00::1/128"]}')
    assert json.loads(status_files.status_content(m.WorkloadEndpointInfo("active", "cali2"))) == {"ifaceName": "cali2"}


def test_enabled() -> None:
    assert status_files.enabled("/var/run/calico")
    assert not status_files.enabled("") and not status_files.enabled("none") and not status_files.enabled("None")


def test_status_dir_sync(tmp_path: Path) -> None:
    d = status_files.StatusDir(str(tmp_path))
    sdir = tmp_path / "endpoint-status"
    assert d.sync({"a": "1"}, full=True) == 1
    assert (sdir / "a").read_text() == "1"
    (sdir / "stale").write_text("x")
    assert d.sync({"a": "1", "b": "2"}, full=False) == 1  # incremental: the directory is not re-read
    assert (sdir / "stale").exists()
    assert d.sync({"a": "1", "b": "2"}, full=True) == 1  # full: stale removed, valid files untouched
    assert sorted(p.name for p in sdir.iterdir()) == ["a", "b"]
    (sdir / "a").unlink()  # removed behind Felix's back: the next full sync restores it
    assert d.sync({"a": "1", "b": "2"}, full=True) == 1 and (sdir / "a").exists()
    assert d.sync({}, full=False) == 2 and not any(sdir.iterdir())


def test_unrunnable_ip6tables_means_ipv4_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if ipv6.ipv6_unusable_reason() is not None:
        pytest.skip("this machine has no usable IPv6 to begin with")
    monkeypatch.setenv("PATH", str(tmp_path))  # no ip6tables-save to be found
    assert "ip6tables-save cannot run" in (ipv6.ipv6_unusable_reason() or "")
    assert ipv6.dataplane_versions(True) == (4,)
    assert ipv6.check_ipv6(load())["Ipv6Support"] is False

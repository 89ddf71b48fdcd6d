"""Felix configuration layering and parsing (pure: env and files are passed in)."""

from __future__ import annotations

from pathlib import Path

import pytest

from calico.felix import config


def test_defaults_match_calico() -> None:
    cfg = config.load({"NODENAME": "n1"}, config_file="/nonexistent")
    assert cfg.hostname == "n1"
    assert cfg["InterfacePrefix"] == ("cali",)
    assert cfg["DefaultEndpointToHostAction"] == "DROP"
    assert cfg["IptablesRefreshInterval"] == 180
    assert cfg["HealthPort"] == 9099 and cfg["PrometheusMetricsPort"] == 9091
    assert "tcp:22" in cfg["FailsafeInboundHostPorts"] and "udp:53" in cfg["FailsafeOutboundHostPorts"]
    assert cfg["IptablesMarkMask"] == 0xFFFF0000


def test_precedence_env_file_host_global(tmp_path: Path) -> None:
    f = tmp_path / "felix.cfg"
    f.write_text("[global]\nInterfacePrefix = tap\nLogSeverityScreen = debug\nHealthPort = 9100\n")
    env = {"FELIX_logseverityscreen": "warning", "FELIX_FELIXHOSTNAME": "h"}
    cfg = config.load(env, config_file=str(f), host_config={"HealthPort": "9200", "MaxIpsetSize": "10"},
                      global_config={"MaxIpsetSize": "20", "ChainInsertMode": "Append"})
    assert cfg["LogSeverityScreen"] == "WARNING" and cfg.sources["LogSeverityScreen"] == "environment"
    assert cfg["InterfacePrefix"] == ("tap",)
    assert cfg["HealthPort"] == 9100  # file beats datastore
    assert cfg["MaxIpsetSize"] == 10  # node.<host> beats default
    assert cfg["ChainInsertMode"] == "append"


def test_config_file_path_from_env(tmp_path: Path) -> None:
    f = tmp_path / "x.cfg"
    f.write_text("[global]\nDeviceRouteProtocol = 80\n")
    assert config.load({"FELIX_CONFIGFILE": str(f)})["DeviceRouteProtocol"] == 80


@pytest.mark.parametrize(("text", "secs"), [("90", 90.0), ("90s", 90.0), ("1m30s", 90.0), ("500ms", 0.5)])
def test_durations(text: str, secs: float) -> None:
    assert config.parse_seconds(text) == secs


def test_bad_value_names_parameter_and_source() -> None:
    with pytest.raises(config.ConfigError, match=r"invalid DefaultEndpointToHostAction='Maybe' from environment"):
        config.load({"FELIX_DEFAULTENDPOINTTOHOSTACTION": "Maybe"}, config_file="/nonexistent")
    with pytest.raises(config.ConfigError, match="FelixConfiguration default"):
        config.load({}, config_file="/nonexistent", global_config={"IptablesRefreshInterval": "soon"})


def test_restart_needed_only_for_restart_parameters() -> None:
    a = config.load({"NODENAME": "n"}, config_file="/nonexistent")
    b = config.load({"NODENAME": "n"}, config_file="/nonexistent",
                    global_config={"IptablesRefreshInterval": "10", "ReportingIntervalSecs": "5"})
    assert config.restart_needed(a, b) == []
    c = config.load({"NODENAME": "n"}, config_file="/nonexistent",
                    host_config={"DefaultEndpointToHostAction": "Accept"})
    assert config.restart_needed(a, c) == ["DefaultEndpointToHostAction"]


def test_aliases_of_datastore_names() -> None:
    cfg = config.load({}, config_file="/nonexistent", global_config={"ReportingInterval": "7"})
    assert cfg["ReportingIntervalSecs"] == 7

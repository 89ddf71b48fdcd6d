"""Felix configuration: one declarative parameter table and the layering of its sources.

Precedence, highest first (felix.md §4.1): environment ``FELIX_<PARAM>`` (case-insensitive) >
config file (``/etc/calico/felix.cfg``, ini ``[global]`` section; path from ``--config-file`` or
``FELIX_CONFIGFILE``) > FelixConfiguration ``node.<host>`` > FelixConfiguration ``default`` >
the parameter's default.  The result is a frozen :class:`FelixConfig`.

Parameters marked ``restart`` cannot change under a running dataplane: when the datastore changes
one, the daemon exits with :data:`CONFIG_CHANGED_EXIT_CODE` (129, as Go Felix) and its supervisor
starts it again with the new value.  Every other parameter is applied live or only read at start.
"""

from __future__ import annotations

import configparser
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_CONFIG_FILE = "/etc/calico/felix.cfg"
CONFIG_CHANGED_EXIT_CODE = 129


class ConfigError(ValueError):
    """A parameter has a value that cannot be parsed; the message names parameter and source."""


# --------------------------------------------------------------------------------------------
# Value parsers (config-file syntax: the same strings env, file and datastore use)

_TRUE = {"true", "1", "yes", "y", "t", "on", "enabled", "enable"}
_FALSE = {"false", "0", "no", "n", "f", "off", "disabled", "disable", ""}
_DUR = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


def parse_seconds(text: str) -> float:
    """``90``, ``90s``, ``1m30s``, ``500ms`` -> seconds."""
    t = text.strip()
    try:
        return float(t)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DUR.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(t) or not t:
        raise ValueError(f"{text!r} is not a duration (seconds, or Go syntax like 90s / 1m30s)")
    return total


def parse_int(text: str) -> int:
    return int(text.strip(), 0)


def parse_str(text: str) -> str:
    return text.strip()


def parse_list(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def parse_protoports(text: str) -> tuple[str, ...]:
    """``tcp:22,udp:68`` (``none`` = empty); each item validated as proto:[net:]port."""
    if text.strip().lower() == "none":
        return ()
    items = parse_list(text)
    for item in items:
        parts = item.split(":")
        if len(parts) == 1:
            int(parts[0])
        elif parts[0].lower() not in ("tcp", "udp", "sctp") or not parts[-1].isdigit():
            raise ValueError(f"{item!r} is not protocol:[net:]port")
    return items


def _upper_choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        val = text.strip().upper()
        if val not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return val
    return parse


def _lower_choice(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        val = text.strip().lower()
        if val not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return val
    return parse


# --------------------------------------------------------------------------------------------
# The parameter table


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    parse: Callable[[str], Any]
    default: str
    restart: bool = False
    doc: str = ""
    aliases: tuple[str, ...] = ()


_FAILSAFE_IN = "tcp:22,udp:68,tcp:179,tcp:2379,tcp:2380,tcp:5473,tcp:6443,tcp:6666,tcp:6667"
_FAILSAFE_OUT = "udp:53,udp:67,tcp:179,tcp:2379,tcp:2380,tcp:5473,tcp:6443,tcp:6666,tcp:6667"

PARAMS: tuple[Param, ...] = (
    Param("FelixHostname", parse_str, "", True, "node name; default NODENAME env, else the host name",
          ("Hostname", "NodeName")),
    Param("DatastoreType", _lower_choice("etcdv3"), "etcdv3", True, "only etcdv3 is implemented"),
    Param("LogSeverityScreen", _upper_choice("DEBUG", "INFO", "WARNING", "ERROR", "FATAL", "NONE"), "INFO",
          False, "log level on stderr"),
    Param("LogSeverityFile", _upper_choice("DEBUG", "INFO", "WARNING", "ERROR", "FATAL", "NONE"), "INFO",
          False, "log level in LogFilePath"),
    Param("LogFilePath", parse_str, "/var/log/calico/felix.log", True, "log file; 'none' disables"),
    Param("LogFormat", _lower_choice("text", "json"), "text", True, "structured log format"),
    Param("InterfacePrefix", parse_list, "cali", True, "workload interface prefixes (comma list)"),
    Param("InterfaceExclude", parse_list, "kube-ipvs0", True, "interfaces (regexes) the monitor ignores"),
    Param("InterfaceRefreshInterval", parse_seconds, "90", False, "full interface re-dump period"),
    Param("ChainInsertMode", _lower_choice("insert", "append"), "insert", True,
          "insert hooks at the top of kernel chains or append them"),
    Param("DefaultEndpointToHostAction", _upper_choice("DROP", "RETURN", "ACCEPT"), "DROP", True,
          "what happens to workload -> host traffic after egress policy"),
    Param("IptablesFilterAllowAction", _upper_choice("ACCEPT", "RETURN"), "ACCEPT", True),
    Param("IptablesMangleAllowAction", _upper_choice("ACCEPT", "RETURN"), "ACCEPT", True),
    Param("IptablesFilterDenyAction", _upper_choice("DROP", "REJECT"), "DROP", True),
    Param("IptablesMarkMask", parse_int, "0xffff0000", True, "mark bits Calico may use"),
    Param("IptablesBackend", _lower_choice("auto", "nft", "legacy"), "auto", True),
    Param("IptablesRefreshInterval", parse_seconds, "180", False, "iptables read-back period (drift repair)"),
    Param("IptablesLockTimeout", parse_seconds, "10", False, "xtables lock wait (s)"),
    Param("IpsetsRefreshInterval", parse_seconds, "90", False, "ipset read-back period (drift repair)"),
    Param("RouteRefreshInterval", parse_seconds, "90", False, "route table read-back period (drift repair)"),
    Param("MaxIpsetSize", parse_int, "1048576", True, "maxelem of every ipset"),
    Param("DeviceRouteProtocol", parse_int, "3", True, "protocol number of workload routes"),
    Param("RemoveExternalRoutes", parse_bool, "true", True, "remove unknown routes on workload interfaces"),
    Param("IPForwarding", _lower_choice("enabled", "disabled"), "enabled", True, "set ip_forward at start"),
    Param("Ipv6Support", parse_bool, "true", True,
          "program IPv6 too (ip6tables, cali60 IP sets, /128 routes); falls back to IPv4 only, with a "
          "warning, when the kernel has no usable IPv6"),
    Param("DisableConntrackInvalidCheck", parse_bool, "false", True),
    Param("FailsafeInboundHostPorts", parse_protoports, _FAILSAFE_IN, True),
    Param("FailsafeOutboundHostPorts", parse_protoports, _FAILSAFE_OUT, True),
    Param("NATOutgoingAddress", parse_str, "", True, "SNAT to this address instead of MASQUERADE"),
    Param("NATPortRange", parse_str, "", True, "restrict masquerade source ports (a:b)"),
    Param("IptablesNATOutgoingInterfaceFilter", parse_str, "", True),
    Param("LogPrefix", parse_str, "calico-packet", True, "prefix of Log rule output"),
    Param("LogActionRateLimit", parse_str, "", True),
    Param("LogActionRateLimitBurst", parse_int, "5", True),
    Param("VXLANEnabled", parse_bool, "false", False, "force VXLAN on (otherwise: any pool with vxlanMode)"),
    Param("VXLANPort", parse_int, "4789", True),
    Param("VXLANVNI", parse_int, "4096", True),
    Param("VXLANMTU", parse_int, "0", True, "0 = auto (parent MTU - 50)"),
    Param("IpInIpEnabled", parse_bool, "false", False, "force IPIP on (otherwise: any pool with ipipMode)"),
    Param("IpInIpMtu", parse_int, "0", True),
    Param("IpInIpTunnelAddr", parse_str, "", True),
    Param("AllowVXLANPacketsFromWorkloads", parse_bool, "false", True),
    Param("AllowIPIPPacketsFromWorkloads", parse_bool, "false", True),
    Param("ReportingIntervalSecs", parse_seconds, "30", False, "Felix heartbeat period (0 = off)",
          ("ReportingInterval",)),
    Param("ReportingTTLSecs", parse_seconds, "90", False, "TTL of the heartbeat record", ("ReportingTTL",)),
    Param("EndpointReportingEnabled", parse_bool, "false", False, "write per-endpoint status records"),
    Param("EndpointReportingDelaySecs", parse_seconds, "1", False, "", ("EndpointReportingDelay",)),
    Param("EndpointStatusPathPrefix", parse_str, "/var/run/calico", True,
          "Felix writes one JSON file per programmed local workload endpoint under "
          "`<prefix>/endpoint-status/` (read by the CNI plugin); empty or 'none' disables"),
    Param("HealthEnabled", parse_bool, "false", True),
    Param("HealthHost", parse_str, "localhost", True),
    Param("HealthPort", parse_int, "9099", True),
    Param("DataplaneWatchdogTimeout", parse_seconds, "90", True),
    Param("PrometheusMetricsEnabled", parse_bool, "false", True),
    Param("PrometheusMetricsHost", parse_str, "", True),
    Param("PrometheusMetricsPort", parse_int, "9091", True),
    Param("DataplaneApplyBurst", parse_int, "10", True, "apply throttle: bucket size"),
    Param("DataplaneApplyInterval", parse_seconds, "0.1", True, "apply throttle: one token per interval"),
    Param("IptablesMaxFailures", parse_int, "3", True,
          "consecutive failed applies (each with the driver's own retries) before Felix exits non-zero"),
)

BY_KEY: dict[str, Param] = {}
for _p in PARAMS:
    for _n in (_p.name, *_p.aliases):
        BY_KEY[_n.lower()] = _p


def lookup(name: str) -> Param | None:
    return BY_KEY.get(name.lower())


# --------------------------------------------------------------------------------------------
# Loading


@dataclass(frozen=True)
class FelixConfig:
    """Effective configuration: parsed values by canonical name, plus where each came from."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def restart_values(self) -> dict[str, str]:
        """Raw values of every restart-required parameter (compared on config updates)."""
        return {p.name: self.raw.get(p.name, p.default) for p in PARAMS if p.restart}

    @property
    def hostname(self) -> str:
        return str(self.values["FelixHostname"])


def read_config_file(path: str) -> dict[str, str]:
    """The ``[global]`` section of Felix's ini file; a missing file is empty (like Felix)."""
    if not path or not os.path.exists(path):
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read(path)
    except configparser.Error as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    return dict(parser["global"]) if parser.has_section("global") else {}


def env_params(env: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in env.items():
        if key.upper().startswith("FELIX_"):
            out[key[6:]] = value
    return out


def config_file_path(env: Mapping[str, str], cli_path: str | None = None) -> str:
    if cli_path:
        return cli_path
    for key, value in env.items():
        if key.upper() == "FELIX_CONFIGFILE":
            return value
    return DEFAULT_CONFIG_FILE


def _default_hostname(env: Mapping[str, str]) -> str:
    return env.get("NODENAME") or env.get("HOSTNAME_OVERRIDE") or socket.gethostname()


def load(env: Mapping[str, str] | None = None, *, config_file: str | None = None,
         host_config: Mapping[str, str] | None = None,
         global_config: Mapping[str, str] | None = None) -> FelixConfig:
    """Merge all sources; raise ConfigError naming the parameter, the source and the reason."""
    environ = dict(os.environ if env is None else env)
    path = config_file_path(environ, config_file)
    layers: list[tuple[str, Mapping[str, str]]] = [
        ("environment", env_params(environ)),
        (f"config file {path}", read_config_file(path)),
        ("FelixConfiguration node.<host>", host_config or {}),
        ("FelixConfiguration default", global_config or {}),
    ]
    raw: dict[str, str] = {}
    sources: dict[str, str] = {}
    for source, layer in layers:
        for key, value in layer.items():
            param = lookup(key)
            if param is None or param.name in raw:
                continue
            raw[param.name] = str(value)
            sources[param.name] = source
    values: dict[str, Any] = {}
    for p in PARAMS:
        text = raw.get(p.name, p.default)
        try:
            values[p.name] = p.parse(text)
        except ValueError as exc:
            raise ConfigError(f"invalid {p.name}={text!r} from {sources.get(p.name, 'default')}: {exc}") from None
    if not values["FelixHostname"]:
        values["FelixHostname"] = _default_hostname(environ)
        raw["FelixHostname"] = values["FelixHostname"]
        sources["FelixHostname"] = "NODENAME or host name"
    return FelixConfig(MappingProxyType(values), MappingProxyType(sources), MappingProxyType(raw))


def with_values(cfg: FelixConfig, **values: Any) -> FelixConfig:
    """A copy with some parsed values overridden (e.g. ``Ipv6Support`` forced off on a host
    without IPv6). Raw values and sources stay as configured, so :func:`restart_needed` still
    compares what the user set and an override never looks like a configuration change."""
    unknown = [k for k in values if k not in cfg.values]
    if unknown:
        raise KeyError(f"unknown Felix parameter(s) {', '.join(unknown)}")
    merged = {**cfg.values, **values}
    return FelixConfig(MappingProxyType(merged), cfg.sources, cfg.raw)


def restart_needed(old: FelixConfig, new: FelixConfig) -> list[str]:
    """Names of restart-required parameters whose value changed."""
    a, b = old.restart_values(), new.restart_values()
    return sorted(k for k in a if a[k] != b[k] and k != "FelixHostname")


def table_markdown() -> str:
    """The parameter table as Markdown (docs/felix-configuration.md is generated from it)."""
    lines = ["| Parameter | Default | Restart | Meaning |", "|---|---|---|---|"]
    for p in PARAMS:
        default = f"`{p.default}`" if p.default else "(empty)"
        lines.append(f"| `{p.name}` | {default} | {'yes' if p.restart else 'no'} | {p.doc} |")
    return "\n".join(lines)

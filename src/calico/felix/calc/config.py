"""FelixConfiguration resources -> Felix parameter strings (what ConfigUpdate carries)."""

from __future__ import annotations

import re
from typing import Any

# v3 field names whose Felix parameter name is not just the field with its first letter upper-cased
_NAMES = {
    "ipipEnabled": "IpInIpEnabled", "ipipMTU": "IpInIpMtu", "vxlanEnabled": "VXLANEnabled",
    "vxlanPort": "VXLANPort", "vxlanVNI": "VXLANVNI", "vxlanMTU": "VXLANMTU", "vxlanMTUV6": "VXLANMTUV6",
    "natPortRange": "NATPortRange", "natOutgoingAddress": "NATOutgoingAddress",
    "natOutgoingExclusions": "NATOutgoingExclusions", "bpfEnabled": "BPFEnabled",
    "xdpEnabled": "XDPEnabled", "ipv6Support": "Ipv6Support", "mtuIfacePattern": "MTUIfacePattern",
    "iptablesNATOutgoingInterfaceFilter": "IptablesNATOutgoingInterfaceFilter",
    "wireguardMTU": "WireguardMTU", "wireguardMTUV6": "WireguardMTUV6",
    "ipForwarding": "IPForwarding", "healthHost": "HealthHost", "healthPort": "HealthPort",
    "deviceRouteSourceAddressIPv6": "DeviceRouteSourceAddressIPv6",
    "awsSrcDstCheck": "AWSSrcDstCheck", "nftablesMode": "NFTablesMode",
}

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}

# Fields that are Go durations in the v3 API but plain seconds in Felix's config
_SECONDS_FIELDS = re.compile(r".*(Interval|Timeout|TTL|Time|Delay)$")


def param_name(field: str) -> str:
    return _NAMES.get(field, field[:1].upper() + field[1:])


def duration_seconds(text: str) -> float | None:
    """Seconds in a Go duration string (``1m30s``), or None if it is not one."""
    if text in ("0", ""):
        return 0.0
    if not _DURATION.match(text):
        return None
    return sum(float(n) * _UNIT[u] for n, u in _PART.findall(text))


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def value_string(field: str, value: Any) -> str:
    """One value in Felix's config-file syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _format_number(value)
    if isinstance(value, str):
        if _SECONDS_FIELDS.match(field):
            secs = duration_seconds(value)
            if secs is not None:
                return _format_number(secs)
        return value
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict) and "port" in item:  # failsafe ProtoPort
                proto = str(item.get("protocol") or "tcp").lower()
                net = item.get("net")
                parts.append(f"{proto}:{net}:{item['port']}" if net else f"{proto}:{item['port']}")
            else:
                parts.append(value_string(field, item))
        return ",".join(parts)
    if isinstance(value, dict):
        return ",".join(f"{k}={value_string(field, v)}" for k, v in sorted(value.items()))
    return str(value)


def felix_params(spec: dict[str, Any]) -> dict[str, str]:
    """A FelixConfiguration spec as {Felix parameter name: string value}."""
    return {param_name(k): value_string(k, v) for k, v in spec.items() if v is not None}

"""Calico's scalar value types: numorstring Port/Protocol/ASNumber, Go durations, IP parsing.

They parse leniently (any JSON form Calico's decoder accepts) and keep enough of the input to
report problems later with Calico's messages; ``to_json()`` renders them as Calico stores them.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_DIGITS = re.compile(r"^[0-9]+$")
_PORT_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")
_RANGE = re.compile(r"^([0-9]+):([0-9]+)$")


def _schema(cls: Any) -> core_schema.CoreSchema:
    return core_schema.no_info_plain_validator_function(
        cls.parse,
        serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.to_json()),
    )


def _bad(message: str) -> PydanticCustomError:
    return PydanticCustomError("calico", "{reason}", {"reason": message})


class Port:
    """numorstring.Port: a single port, a ``min:max`` range or a named port."""

    __slots__ = ("max_port", "min_port", "name")

    def __init__(self, min_port: int = 0, max_port: int = 0, name: str = "") -> None:
        self.min_port = min_port
        self.max_port = max_port
        self.name = name

    @classmethod
    def parse(cls, value: Any) -> Port:
        if isinstance(value, Port):
            return value
        if isinstance(value, bool):
            raise _bad(f"json: cannot unmarshal bool into Go value of type numorstring.Port ({value})")
        if isinstance(value, int):
            if not 0 <= value <= 65535:
                raise _bad(f"json: cannot unmarshal number {value} into Go value of type uint16")
            return cls(value, value)
        if isinstance(value, str):
            if _DIGITS.match(value):
                n = int(value)
                if n > 65535:
                    raise _bad(f"invalid port format ({value})")
                return cls(n, n)
            m = _RANGE.match(value)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if lo > 65535 or hi > 65535:
                    raise _bad(f"invalid port range ({value})")
                if lo > hi:
                    raise _bad(f"minimum port number ({lo}) is greater than maximum port number ({hi}) "
                               "in port range")
                return cls(lo, hi)
            if _PORT_NAME.match(value):
                return cls(name=value)
            raise _bad(f"invalid port format ({value})")
        raise _bad(f"invalid port format ({value!r})")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _schema(cls)

    def to_json(self) -> int | str:
        if self.name:
            return self.name
        if self.min_port == self.max_port:
            return self.min_port
        return f"{self.min_port}:{self.max_port}"

    def problems(self) -> list[tuple[Any, str]]:
        """Calico's validatePort: (offending value, reason) pairs."""
        out: list[tuple[Any, str]] = []
        if self.min_port > self.max_port:
            out.append((self.max_port, "port range invalid"))
        if self.name:
            if self.min_port or self.max_port:
                out.append((self.name, "named port invalid, if name is specified, min and max should be 0"))
        elif self.min_port < 1:
            out.append((self.min_port, "port range invalid, port number must be between 1 and 65535"))
        elif self.max_port < 1:
            out.append((self.max_port, "port range invalid, port number must be between 1 and 65535"))
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Port) and (self.min_port, self.max_port, self.name) == (
            other.min_port, other.max_port, other.name)

    def __hash__(self) -> int:
        return hash((self.min_port, self.max_port, self.name))

    def __repr__(self) -> str:
        return f"Port({self.to_json()!r})"

    def __str__(self) -> str:
        return str(self.to_json())


PROTOCOL_NAMES = ("TCP", "UDP", "ICMP", "ICMPv6", "SCTP", "UDPLite")
_PROTO_CANON = {p.lower(): p for p in PROTOCOL_NAMES}
PROTOCOL_NUMBERS = {"TCP": 6, "UDP": 17, "ICMP": 1, "ICMPv6": 58, "SCTP": 132, "UDPLite": 136}


class Protocol:
    """numorstring.Protocol: a name (TCP, UDP, ...) or a number 1-255."""

    __slots__ = ("value",)

    def __init__(self, value: int | str) -> None:
        self.value = value

    @classmethod
    def parse(cls, value: Any) -> Protocol:
        if isinstance(value, Protocol):
            return value
        if isinstance(value, bool):
            raise _bad(f"json: cannot unmarshal bool into Go value of type numorstring.Protocol ({value})")
        if isinstance(value, int):
            if not 0 <= value <= 255:
                raise _bad(f"json: cannot unmarshal number {value} into Go value of type uint8")
            return cls(value)
        if isinstance(value, str):
            return cls(_PROTO_CANON.get(value.lower(), value))
        raise _bad(f"invalid protocol ({value!r})")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _schema(cls)

    def number(self) -> int | None:
        if isinstance(self.value, int):
            return self.value
        if _DIGITS.match(self.value):
            return int(self.value)
        return PROTOCOL_NUMBERS.get(self.value)

    def is_numeric(self) -> bool:
        return isinstance(self.value, int) or bool(_DIGITS.match(self.value))

    def supports_ports(self) -> bool:
        if self.is_numeric():
            return self.number() in (6, 17, 132)
        return self.value in ("TCP", "UDP", "SCTP")

    def problem(self) -> str | None:
        """Calico's validateProtocol."""
        if self.is_numeric():
            n = self.number()
            if n == 0 or n is None or n > 255:
                return "protocol number invalid"
            return None
        if self.value not in PROTOCOL_NAMES:
            return "protocol name invalid"
        return None

    def to_json(self) -> int | str:
        return self.value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.value == other
        return isinstance(other, Protocol) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Protocol({self.value!r})"

    def __str__(self) -> str:
        return str(self.value)


class ASNumber(int):
    """numorstring.ASNumber: 0-4294967295, written as a number, a digit string or asdot ``a.b``."""

    @classmethod
    def parse(cls, value: Any) -> ASNumber:
        if isinstance(value, bool):
            raise _bad(f"json: cannot unmarshal bool into Go value of type numorstring.ASNumber ({value})")
        if isinstance(value, int):
            n = int(value)
        elif isinstance(value, str):
            n = parse_as_number(value)
        else:
            raise _bad(f"invalid AS number format ({value!r})")
        if not 0 <= n <= 0xFFFFFFFF:
            raise _bad(f"invalid AS number format ({value})")
        return cls(n)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return _schema(cls)

    def to_json(self) -> int:
        return int(self)


def parse_as_number(text: str) -> int:
    """``"65000"`` or asdot ``"1.10"`` -> int; raises on anything else."""
    if _DIGITS.match(text):
        n = int(text)
    else:
        m = re.match(r"^([0-9]+)\.([0-9]+)$", text)
        if not m or int(m.group(1)) > 0xFFFF or int(m.group(2)) > 0xFFFF:
            raise _bad(f"invalid AS number format ({text})")
        n = (int(m.group(1)) << 16) + int(m.group(2))
    if n > 0xFFFFFFFF:
        raise _bad(f"invalid AS number format ({text})")
    return n


# --- Go durations ------------------------------------------------------------------------------

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}
_DUR_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, returning nanoseconds; ValueError with Go's message on failure."""
    orig = text
    sign = 1
    if text[:1] in "+-" and text:
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _DUR_PART.match(text, pos)
        if not m or m.group(1) in ("", "."):
            if m is None and re.match(r"[0-9.]+$", text[pos:]):
                raise ValueError(f'time: missing unit in duration "{orig}"')
            if m is None and re.match(r"[0-9.]+", text[pos:]):
                unit = re.sub(r"^[0-9.]+", "", text[pos:])
                raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
            raise ValueError(f'time: invalid duration "{orig}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * round(total)


def format_go_duration(ns: int) -> str:
    """Go's Duration.String(): ``1m30s``, ``500ms``, ``0s``."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if u >= size:
                text = _frac(u, size) + unit
                break
    else:
        h, rem = divmod(u, 3_600_000_000_000)
        m, rem = divmod(rem, 60_000_000_000)
        text = _frac(rem, 1_000_000_000) + "s"
        if h or m:
            text = f"{m}m" + text
        if h:
            text = f"{h}h" + text
    return ("-" if neg else "") + text


def _frac(value: int, size: int) -> str:
    whole, part = divmod(value, size)
    if not part:
        return str(whole)
    digits = len(str(size)) - 1
    return f"{whole}." + f"{part:0{digits}d}".rstrip("0")


def normalize_duration(text: Any) -> str:
    if not isinstance(text, str):
        raise ValueError(f"json: cannot unmarshal {type(text).__name__} into Go value of type string (duration)")
    return format_go_duration(parse_go_duration(text))


# --- IP helpers ----------------------------------------------------------------------------------

def parse_cidr_or_ip(text: str) -> tuple[IPAddress, IPNetwork]:
    """cnet.ParseCIDROrIP: returns (address as written, its network masked); ValueError if invalid."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"invalid CIDR address: {text}")
    try:
        if "/" in text:
            iface = ipaddress.ip_interface(text)
            plen = text.partition("/")[2]
            if not _DIGITS.match(plen):
                raise ValueError(text)
            return iface.ip, iface.network
        addr = ipaddress.ip_address(text)
        return addr, ipaddress.ip_network(addr)
    except ValueError:
        raise ValueError(f"invalid CIDR address: {text}") from None


def parse_cidr(text: str) -> tuple[IPAddress, IPNetwork]:
    """cnet.ParseCIDR: a CIDR with a prefix length is required."""
    if not isinstance(text, str) or "/" not in text:
        raise ValueError(f"invalid CIDR address: {text}")
    return parse_cidr_or_ip(text)


def parse_ip(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_strict_net(text: str) -> bool:
    """A CIDR whose address equals its network address (or a bare IP)."""
    try:
        addr, net = parse_cidr_or_ip(text)
    except ValueError:
        return False
    return addr == net.network_address

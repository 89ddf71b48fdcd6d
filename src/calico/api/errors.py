"""Errors of the API layer, printed exactly as libcalico-go prints them.

calicoctl users (and scripts) see these strings verbatim, so ``str()`` follows
libcalico's ``ErrorValidation.Error()``: one field ->
``error with field <Name> = '<value>' (<reason>)``; several -> a header line and one
``-  <field>`` line each (two spaces after the dash, trailing newline), as Go prints them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_MISSING: Any = object()


def go_value(value: Any) -> str:
    """Render a value the way Go's ``%v`` would for the types our models hold."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        inner = " ".join(f"{go_value(k)}:{go_value(v)}" for k, v in sorted(value.items(), key=lambda i: str(i[0])))
        return "map[" + inner + "]"
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return go_value(to_json())
    return str(value)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One failed field: a Go-ish path (``IPPool.Spec.CIDR``), the offending value and why."""

    field: str
    value: Any = _MISSING  # _MISSING -> printed without "= '<value>'" (Go's nil Value)
    reason: str = ""

    def __str__(self) -> str:
        text = self.field if self.value is _MISSING else f"{self.field} = '{go_value(self.value)}'"
        if self.reason:
            text = f"{text} ({self.reason})"
        return text


class CalicoValidationError(ValueError):
    """A resource failed validation (libcalico ErrorValidation)."""

    def __init__(self, errors: Iterable[FieldError]) -> None:
        self.errors: list[FieldError] = list(errors)
        super().__init__(self._message())

    @classmethod
    def single(cls, field: str, value: Any = _MISSING, reason: str = "") -> CalicoValidationError:
        return cls([FieldError(field, value, reason)])

    def _message(self) -> str:
        if not self.errors:
            return "unknown validation error"
        if len(self.errors) == 1:
            return f"error with field {self.errors[0]}"
        return "error with the following fields:\n" + "".join(f"-  {e}\n" for e in self.errors)

    def __str__(self) -> str:
        return self._message()


class UnknownKindError(ValueError):
    """A document's kind/apiVersion pair is not one we know (calicoctl's wording)."""

    def __init__(self, kind: str, api_version: str) -> None:
        self.kind = kind
        self.api_version = api_version
        super().__init__(f"Unknown resource type ({kind}) and/or version ({api_version})")


class ConversionError(ValueError):
    """A v1 document could not be converted to v3 (calicoctl convert's wording)."""


class InsufficientIdentifiers(ValueError):
    """libcalico ErrorInsufficientIdentifiers."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"insufficient identifiers, missing '{name}'")


def pydantic_to_calico(exc: Any, kind: str) -> CalicoValidationError:
    """Translate a pydantic ``ValidationError`` into our error type with Go-ish field paths."""
    errors: list[FieldError] = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err.get("loc", ())]
        etype = err.get("type", "")
        if etype == "extra_forbidden" and loc:
            errors.append(FieldError(_go_path(kind, loc[:-1]) + "." + loc[-1], err.get("input"),
                                     f'json: unknown field "{loc[-1]}"'))
            continue
        field = _go_path(kind, loc)
        msg = str(err.get("msg", "invalid value"))
        ctx = err.get("ctx") or {}
        if "reason" in ctx:
            reason = str(ctx["reason"])
        elif "error" in ctx:
            reason = str(ctx["error"])
        else:
            reason = msg
        if etype == "missing":
            errors.append(FieldError(field, "", "field is required"))
        else:
            errors.append(FieldError(field, err.get("input"), reason))
    return CalicoValidationError(errors)


def _go_path(kind: str, loc: list[str]) -> str:
    """``['spec', 'ingress', '0', 'source', 'ports']`` -> ``Kind.Spec.Ingress[0].Source.Ports``."""
    parts = [kind]
    for p in loc:
        if p.isdigit():
            parts[-1] += f"[{p}]"
        elif p in {"function-after", "function-before", "function-plain"} or p.startswith("function-"):
            continue
        else:
            parts.append(_go_name(p))
    return ".".join(parts)


_SPECIAL = {
    "cidr": "CIDR", "ipipMode": "IPIPMode", "vxlanMode": "VXLANMode", "natOutgoing": "NATOutgoing",
    "disableBGPExport": "DisableBGPExport", "peerIP": "PeerIP", "asNumber": "ASNumber",
    "ipNetworks": "IPNetworks", "ipNATs": "IPNATs", "mac": "MAC", "icmp": "ICMP", "notICMP": "NotICMP",
    "ipVersion": "IPVersion", "http": "HTTP", "containerID": "ContainerID", "expectedIPs": "ExpectedIPs",
    "bgp": "BGP", "uid": "UID", "ipv4Gateway": "IPv4Gateway", "ipv6Gateway": "IPv6Gateway",
}


def _go_name(json_name: str) -> str:
    if json_name in _SPECIAL:
        return _SPECIAL[json_name]
    return json_name[:1].upper() + json_name[1:]

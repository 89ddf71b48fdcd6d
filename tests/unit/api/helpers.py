"""Small builders shared by the API unit tests."""

from __future__ import annotations

from typing import Any

import pytest

from calico.api import CalicoValidationError, parse_resource


def doc(kind: str, spec: dict[str, Any] | None = None, name: str = "x", **meta: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"apiVersion": "projectcalico.org/v3", "kind": kind,
                         "metadata": {"name": name, **meta}}
    if spec is not None:
        d["spec"] = spec
    return d


def failures(d: dict[str, Any]) -> list[tuple[str, str]]:
    """(field, reason) of every error parse_resource reports for the document."""
    with pytest.raises(CalicoValidationError) as info:
        parse_resource(d)
    return [(e.field, e.reason) for e in info.value.errors]


def assert_fails(d: dict[str, Any], field: str, reason: str) -> CalicoValidationError:
    with pytest.raises(CalicoValidationError) as info:
        parse_resource(d)
    got = [(e.field, e.reason) for e in info.value.errors]
    assert (field, reason) in got, got
    return info.value


def tag(field: str, name: str) -> str:
    """The reason text of a go-playground tag failure."""
    return f"Reason: failed to validate Field: {field} because of Tag: {name} "

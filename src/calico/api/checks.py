"""Field checks shared by every kind, with libcalico-go's wording and field names.

Each check appends ``FieldError``s to an ``Errs`` collector rather than raising, because
Calico reports every failed field of a resource at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from calico.api.errors import FieldError

NAME_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
NAME_SUBDOMAIN_FMT = NAME_LABEL_FMT + "(\\." + NAME_LABEL_FMT + ")*"
NAME_RE = re.compile("^" + NAME_SUBDOMAIN_FMT + "$")
TIER_NAME_RE = re.compile("^" + NAME_LABEL_FMT + "$")
NP_NAME_RE = re.compile(
    "^((" + NAME_LABEL_FMT + ")(\\." + NAME_LABEL_FMT + ")?|((?:knp|ossg)\\.default\\.(" + NAME_SUBDOMAIN_FMT + ")))$")
GNP_NAME_RE = re.compile("^(" + NAME_LABEL_FMT + "\\.)?" + NAME_LABEL_FMT + "$")
CONTAINER_ID_RE = re.compile("^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
INTERFACE_RE = re.compile("^[a-zA-Z0-9_.-]{1,15}$")
IGNORED_INTERFACE_RE = re.compile("^[a-zA-Z0-9_.*-]{1,15}$")
IFACE_FILTER_RE = re.compile("^[a-zA-Z0-9:._+-]{1,15}$")
MAC_RE = re.compile(
    r"^(?:[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){7}"
    r"|[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){19}"
    r"|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){2}|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){3}"
    r"|[0-9A-Fa-f]{4}(?:\.[0-9A-Fa-f]{4}){9})$")

DNS1123_SUBDOMAIN_MAX = 253
DNS1123_LABEL_MAX = 63
ANNOTATION_LIMIT = 256 * 1024

_QN_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QN_NAME_RE = re.compile("^" + _QN_NAME_FMT + "$")
_LABEL_VALUE_RE = re.compile("^(" + _QN_NAME_FMT + ")?$")
_QN_ERR = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
           "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
           "is '" + _QN_NAME_FMT + "')")
_DNS1123_SUBDOMAIN_ERR = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
                          "'-' or '.', and must start and end with an alphanumeric character (e.g. "
                          "'example.com', regex used for validation is '" + NAME_SUBDOMAIN_FMT + "')")


class Errs:
    """Collects FieldErrors in the order Calico's validator reports them."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def add(self, field: str, value: Any, reason: str) -> None:
        self.items.append(FieldError(field, value, reason))

    def tag(self, field: str, value: Any, tag: str) -> None:
        """A go-playground tag failure, worded as libcalico's extractReason does."""
        short = field.rsplit(".", 1)[-1]
        self.add(field, value, f"Reason: failed to validate Field: {short} because of Tag: {tag} ")

    def extend(self, other: list[FieldError]) -> None:
        self.items.extend(other)

    def __bool__(self) -> bool:
        return bool(self.items)


# --- Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation) --------------------------

def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not NAME_RE.match(value):
        errs.append(_DNS1123_SUBDOMAIN_ERR)
    return errs


def is_qualified_name(value: str) -> list[str]:
    """IsQualifiedName: ``[prefix/]name`` as label and annotation keys."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a qualified name " + _QN_ERR + " with an optional DNS subdomain prefix and '/' "
                "(e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > DNS1123_LABEL_MAX:
        errs.append(f"name part must be no more than {DNS1123_LABEL_MAX} characters")
    if name and not _QN_NAME_RE.match(name):
        errs.append("name part " + _QN_ERR)
    return errs


def is_valid_label_value(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _LABEL_VALUE_RE.match(value):
        errs.append("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                    "'my_value',  or '12345', regex used for validation is '(" + _QN_NAME_FMT + ")?')")
    return errs


def check_meta_name(errs: Errs, name: str) -> None:
    """validateObjectMeta's name rules (DNS-1123 subdomain)."""
    if len(name) > DNS1123_SUBDOMAIN_MAX:
        errs.add("Metadata.Name", name, f"name is too long by {len(name) - DNS1123_SUBDOMAIN_MAX} bytes")
    if not NAME_RE.match(name):
        errs.add("Metadata.Name", name,
                 f"name must consist of lower case alphanumeric characters, '-' or '.' (regex: {NAME_SUBDOMAIN_FMT})")


def check_policy_name(errs: Errs, name: str, pattern: re.Pattern[str]) -> None:
    if len(name) > DNS1123_SUBDOMAIN_MAX:
        errs.add("Metadata.Name", name, f"name is too long by {len(name) - DNS1123_SUBDOMAIN_MAX} bytes")
    if not pattern.match(name):
        errs.add("Metadata.Name", name,
                 f"name must consist of lower case alphanumeric characters or '-' (regex: {NAME_LABEL_FMT})")


def check_labels(errs: Errs, labels: Mapping[str, str] | None, field: str = "Metadata.Labels") -> None:
    for k, v in (labels or {}).items():
        for msg in is_qualified_name(k):
            errs.add(f"{field} (label)", k, msg)
        if not isinstance(v, str):
            errs.add(f"{field} (value)", v, "label value must be a string")
            continue
        for msg in is_valid_label_value(v):
            errs.add(f"{field} (value)", v, msg)


def check_annotations(errs: Errs, annotations: Mapping[str, str] | None,
                      field: str = "Metadata.Annotations") -> None:
    total = 0
    for k, v in (annotations or {}).items():
        for msg in is_qualified_name(k.lower()):
            errs.add(f"{field} (key)", k, msg)
        total += len(k) + len(v if isinstance(v, str) else str(v))
    if total > ANNOTATION_LIMIT:
        errs.add(f"{field} (key)", dict(annotations or {}),
                 f"total size of annotations is too large by {total - ANNOTATION_LIMIT} bytes")


# --- selectors -----------------------------------------------------------------------------------

def selector_problem(text: str, allow_global: bool = False) -> str | None:
    """The parse error of a selector, or None.  Uses calico.selector when it is installed."""
    try:
        from calico.selector import SelectorError, validate_selector
    except ImportError:  # pragma: no cover - selector package missing
        return None
    try:
        validate_selector(text, allow_global=allow_global)
    except SelectorError as exc:
        return str(exc)
    return None


def check_selector(errs: Errs, field: str, text: str | None) -> None:
    """A field with go tag ``selector``: any valid selector (global() parses; callers forbid it)."""
    if not text:
        return
    problem = selector_problem(text, allow_global=True)
    if problem:
        errs.add(field, text, problem)


def name_ok(value: str) -> bool:
    return bool(NAME_RE.match(value))

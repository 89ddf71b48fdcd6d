"""Model base classes: Calico's JSON shape (camelCase, Go ``omitempty``), ObjectMeta, Resource.

Serialisation mirrors Go's encoding/json: fields come out in struct order; ``None`` and, for
fields tagged ``omitempty``, zero values ("", 0, false, [], {}) are left out; fields that are Go
pointers (``KEEP``) keep their zero values.  Nested non-pointer structs are always printed,
which is why rules show ``source: {}`` as calicoctl does.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from calico.api.checks import Errs, check_annotations, check_labels, check_meta_name
from calico.api.errors import CalicoValidationError, FieldError, pydantic_to_calico
from calico.api.kinds import API_VERSION, BY_KIND


def to_json_value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)  # Go prints float64 1234 as 1234
    if isinstance(value, CalicoModel):
        return value.to_json()
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return to_json()
    return value


class CalicoModel(BaseModel):
    """Strict camelCase model: unknown fields are rejected like calicoctl's strict decoder."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel,
                              arbitrary_types_allowed=True, validate_default=False)

    # python field names whose zero values are printed (Go pointers / fields without omitempty)
    KEEP: ClassVar[frozenset[str]] = frozenset()
    # python field names that are always printed even when None/empty (Go non-omitempty)
    ALWAYS: ClassVar[frozenset[str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            key = info.alias or name
            if name in self.ALWAYS:
                out[key] = to_json_value(value)
                continue
            if value is None:
                continue
            if isinstance(value, CalicoModel):
                out[key] = value.to_json()
                continue
            if name not in self.KEEP and _is_zero(value):
                continue
            out[key] = to_json_value(value)
        return out


def _drop(data: Any, loc: list[Any]) -> None:
    """Delete the key at pydantic error location ``loc`` from nested dicts/lists."""
    for part in loc[:-1]:
        data = data[part]
    if isinstance(data, dict):
        data.pop(loc[-1], None)


def _is_zero(value: Any) -> bool:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value == 0
    if isinstance(value, (str, list, dict, tuple)):
        return len(value) == 0
    return False


class OwnerReference(CalicoModel):
    api_version: str = Field("", alias="apiVersion")
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = Field(None, alias="blockOwnerDeletion")
    KEEP = frozenset({"api_version", "kind", "name", "uid"})


class ObjectMeta(CalicoModel):
    """Kubernetes ObjectMeta, as far as Calico uses it (other fields parse and round-trip)."""

    name: str = ""
    generate_name: str = Field("", alias="generateName")
    namespace: str = ""
    self_link: str = Field("", alias="selfLink")
    uid: str = ""
    resource_version: str = Field("", alias="resourceVersion")
    generation: int = 0
    creation_timestamp: str | None = Field(None, alias="creationTimestamp")
    deletion_timestamp: str | None = Field(None, alias="deletionTimestamp")
    deletion_grace_period_seconds: int | None = Field(None, alias="deletionGracePeriodSeconds")
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = Field(None, alias="ownerReferences")
    finalizers: list[str] | None = None
    managed_fields: list[dict[str, Any]] | None = Field(None, alias="managedFields")


class Resource(CalicoModel):
    """Base of every v3 kind: ``kind``/``apiVersion`` are class data, ``metadata`` and ``spec`` fields."""

    KIND: ClassVar[str] = ""
    metadata: ObjectMeta = Field(default_factory=lambda: ObjectMeta.model_validate({}))
    ALWAYS = frozenset({"metadata", "spec"})

    # -- identity -----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def api_version(self) -> str:
        return API_VERSION

    @classmethod
    def namespaced(cls) -> bool:
        return BY_KIND[cls.KIND].namespaced

    def identity(self) -> tuple[str, str, str]:
        return (self.KIND, self.metadata.namespace, self.metadata.name)

    def key_id(self) -> str:
        """``IPPool(name)`` / ``NetworkPolicy(ns/name)``: how libcalico names a resource in errors."""
        if self.namespaced():
            return f"{self.KIND}({self.metadata.namespace}/{self.metadata.name})"
        return f"{self.KIND}({self.metadata.name})"

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Calico's JSON object (kind, apiVersion, metadata, spec[, status])."""
        return {"kind": self.KIND, "apiVersion": API_VERSION, **self.to_json()}

    def to_stored_json(self) -> str:
        """The compact JSON Calico keeps in etcd (no resourceVersion)."""
        d = self.to_dict()
        d["metadata"].pop("resourceVersion", None)
        d["metadata"].pop("selfLink", None)
        return json.dumps(d, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_stored(cls, json_text: str | bytes, resource_version: str | int | None = None) -> Resource:
        """Read an object back from the datastore: defaults applied, no validation (as libcalico)."""
        from calico.api.registry import load_resource

        doc = json.loads(json_text)
        res = load_resource(doc, validate=False, ignore_unknown=True)
        if resource_version is not None:
            res.metadata.resource_version = str(resource_version)
        return res

    def copy_deep(self) -> Resource:
        return self.model_copy(deep=True)

    # -- defaults and validation (overridden per kind) ----------------------------------------
    def apply_defaults(self) -> None:
        """Fill in the defaults Calico applies on write and on read."""

    def client_checks(self) -> list[FieldError]:
        """libcalico clientv3 checks (first layer; reported alone when any fails)."""
        return []

    def field_checks(self, errs: Errs) -> None:
        """Struct/field validation of the spec (second layer)."""

    def meta_checks(self, errs: Errs) -> None:
        check_meta_name(errs, self.metadata.name)
        check_annotations(errs, self.metadata.annotations)
        check_labels(errs, self.metadata.labels)

    def struct_only_checks(self, errs: Errs) -> None:
        """Struct-validator rules that the client layer normally reports first (own wording)."""

    def validation_errors(self, struct_only: bool = False) -> list[FieldError]:
        """Every Calico rule the resource breaks.

        ``struct_only`` runs only libcalico's struct validator (``validator.Validate``), as
        ``calicoctl convert`` does; otherwise the client-side checks come first and, when any
        fails, are reported alone (as clientv3 does).
        """
        if not struct_only:
            first = self.client_checks()
            if first:
                return first
        errs = Errs()
        self.meta_checks(errs)
        self.field_checks(errs)
        if struct_only:
            self.struct_only_checks(errs)
        return errs.items

    def validate_calico(self, struct_only: bool = False) -> None:
        """Raise CalicoValidationError when the resource breaks a Calico rule."""
        errors = self.validation_errors(struct_only)
        if errors:
            raise CalicoValidationError(errors)

    @classmethod
    def from_body(cls, body: Mapping[str, Any], ignore_unknown: bool = False) -> Resource:
        """Build from a document without kind/apiVersion; pydantic errors become Calico errors.

        ``ignore_unknown`` drops fields we do not model instead of rejecting them, as Go's
        (non-strict) decoder does when Calico reads its own datastore: objects written by a newer
        Calico still load.
        """
        data: Any = dict(body)
        for _attempt in range(50):
            try:
                return cls.model_validate(data)
            except ValidationError as exc:
                unknown = [e["loc"] for e in exc.errors() if e.get("type") == "extra_forbidden"]
                if not ignore_unknown or not unknown or len(unknown) != len(exc.errors()):
                    raise pydantic_to_calico(exc, cls.KIND) from None
                data = copy.deepcopy(data) if _attempt == 0 else data
                for loc in unknown:
                    _drop(data, list(loc))
        raise CalicoValidationError([FieldError(cls.KIND, reason="too many unknown fields")])

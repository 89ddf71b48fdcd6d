"""Kind -> model table and the document entry points (v3 objects, lists, arrays, v1 documents)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from calico.api.errors import CalicoValidationError, FieldError, UnknownKindError
from calico.api.kinds import API_VERSION, KINDS
from calico.api.meta import Resource

# kind -> "module:Class" (modules imported on first use, to keep `import calico.api` cheap)
_LOCATIONS: dict[str, str] = {
    "IPPool": "pool:IPPool",
    "IPReservation": "pool:IPReservation",
    "BGPPeer": "bgp:BGPPeer",
    "BGPConfiguration": "bgp:BGPConfiguration",
    "BGPFilter": "bgp:BGPFilter",
    "Node": "node:Node",
    "Profile": "policy:Profile",
    "NetworkPolicy": "policy:NetworkPolicy",
    "GlobalNetworkPolicy": "policy:GlobalNetworkPolicy",
    "Tier": "policy:Tier",
    "HostEndpoint": "endpoint:HostEndpoint",
    "WorkloadEndpoint": "endpoint:WorkloadEndpoint",
    "NetworkSet": "misc:NetworkSet",
    "GlobalNetworkSet": "misc:GlobalNetworkSet",
    "FelixConfiguration": "felixconfig:FelixConfiguration",
    "ClusterInformation": "misc:ClusterInformation",
    "KubeControllersConfiguration": "misc:KubeControllersConfiguration",
}


class _Models(dict[str, type[Resource]]):
    """``MODELS[kind]`` -> model class, importing the defining module lazily."""

    def __missing__(self, kind: str) -> type[Resource]:
        loc = _LOCATIONS.get(kind)
        if loc is None:
            raise KeyError(kind)
        module, _, cls = loc.partition(":")
        model: type[Resource] = getattr(importlib.import_module(f"calico.api.{module}"), cls)
        self[kind] = model
        return model

    def __contains__(self, kind: object) -> bool:
        return kind in _LOCATIONS

    def keys(self) -> Any:
        return list(_LOCATIONS)

    def __iter__(self) -> Any:
        return iter(list(_LOCATIONS))

    def __len__(self) -> int:
        return len(_LOCATIONS)

    def items(self) -> Any:
        return [(k, self[k]) for k in _LOCATIONS]

    def values(self) -> Any:
        return [self[k] for k in _LOCATIONS]

    def get(self, kind: str, default: Any = None) -> Any:
        return self[kind] if kind in _LOCATIONS else default


MODELS: dict[str, type[Resource]] = _Models()
assert {k.kind for k in KINDS} == set(_LOCATIONS), "kinds.py and the model table disagree"


def model_for(kind: str, api_version: str = API_VERSION) -> type[Resource]:
    if api_version != API_VERSION or kind not in _LOCATIONS:
        raise UnknownKindError(kind, api_version)
    return MODELS[kind]


def load_resource(doc: Mapping[str, Any], validate: bool = True, defaults: bool = True,
                  ignore_unknown: bool = False) -> Resource:
    """Build a v3 resource from a dict; apply Calico's defaults; optionally validate.

    ``ignore_unknown`` is for reading the datastore (Go decodes stored objects non-strictly).
    """
    if not isinstance(doc, Mapping):
        raise CalicoValidationError([FieldError("", doc, "expected an object")])
    kind = doc.get("kind", "")
    api_version = doc.get("apiVersion", "")
    model = model_for(str(kind), str(api_version))
    body = {k: v for k, v in doc.items() if k not in ("kind", "apiVersion")}
    if body.get("metadata") is None:
        body.pop("metadata", None)
    if body.get("spec") is None:
        body.pop("spec", None)
    res = model.from_body(body, ignore_unknown=ignore_unknown)
    if defaults:
        res.apply_defaults()
    if validate:
        res.validate_calico()
    return res


def parse_resource(doc: Mapping[str, Any]) -> Resource:
    """Parse and validate one ``projectcalico.org/v3`` document (defaults applied)."""
    return load_resource(doc, validate=True)


def parse_document(doc: Any, validate: bool = True) -> list[Resource]:
    """Parse one YAML/JSON document: a v3 object, a ``<Kind>List``/``List``, an array, or v1 objects."""
    if doc is None:
        return []
    if isinstance(doc, list):
        out: list[Resource] = []
        for item in doc:
            out.extend(parse_document(item, validate))
        return out
    if not isinstance(doc, Mapping):
        raise UnknownKindError("", "")
    kind = str(doc.get("kind", ""))
    api_version = str(doc.get("apiVersion", ""))
    if api_version == "v1" and kind != "List":
        from calico.api.v1 import convert_v1_document

        results = convert_v1_document(doc)
        if validate:
            for r in results:
                r.validate_calico()
        return results
    if kind.endswith("List") and ("items" in doc or kind == "List"):
        item_kind = kind[: -len("List")]
        if kind != "List" and (api_version != API_VERSION or item_kind not in _LOCATIONS):
            raise UnknownKindError(kind, api_version)
        items = []
        for item in doc.get("items") or []:
            if kind != "List" and isinstance(item, Mapping):
                item = {"kind": item_kind, "apiVersion": api_version, **item}
            items.extend(parse_document(item, validate))
        return items
    return [load_resource(doc, validate)]


def list_document(kind: str, items: Iterable[Resource], resource_version: str | int | None = None
                  ) -> dict[str, Any]:
    """The ``<Kind>List`` object calicoctl prints for a listing."""
    meta: dict[str, Any] = {}
    if resource_version not in (None, ""):
        meta["resourceVersion"] = str(resource_version)
    return {"kind": f"{kind}List", "apiVersion": API_VERSION, "metadata": meta,
            "items": [i.to_dict() for i in items]}

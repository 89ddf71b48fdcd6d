"""Calico's ``projectcalico.org/v3`` API: pydantic models, defaults, validation, v1 conversion.

Names are exported lazily: ``import calico.api`` stays cheap (the CNI plugin imports it on
every pod start-up), and pydantic plus the models load on first use.

    >>> from calico.api import parse_resource
    >>> pool = parse_resource({"apiVersion": "projectcalico.org/v3", "kind": "IPPool",
    ...                        "metadata": {"name": "p"}, "spec": {"cidr": "10.0.0.0/16"}})
    >>> pool.to_dict()["spec"]["blockSize"]
    26
"""

from __future__ import annotations

import importlib

from calico.api.kinds import API_GROUP, API_VERSION, BY_KIND, KINDS, KindInfo, lookup_kind

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from calico.api.bgp import BGPConfiguration, BGPFilter, BGPPeer
    from calico.api.endpoint import EndpointPort, HostEndpoint, WorkloadEndpoint, workload_endpoint_name
    from calico.api.errors import (
        CalicoValidationError,
        ConversionError,
        FieldError,
        InsufficientIdentifiers,
        UnknownKindError,
    )
    from calico.api.felixconfig import FelixConfiguration
    from calico.api.meta import ObjectMeta, Resource
    from calico.api.misc import ClusterInformation, GlobalNetworkSet, KubeControllersConfiguration, NetworkSet
    from calico.api.node import Node
    from calico.api.policy import (
        EntityRule,
        GlobalNetworkPolicy,
        ICMPFields,
        NetworkPolicy,
        Profile,
        Rule,
        ServiceAccountMatch,
        Tier,
    )
    from calico.api.pool import IPPool, IPReservation, check_pool_overlap, check_pool_update
    from calico.api.registry import MODELS, list_document, load_resource, parse_document, parse_resource
    from calico.api.v1 import convert_manifest, render_conversion, v1_to_v3_documents
    from calico.api.values import ASNumber, Port, Protocol

_EXPORTS: dict[str, str] = {
    "CalicoValidationError": "errors", "FieldError": "errors", "UnknownKindError": "errors",
    "ConversionError": "errors", "InsufficientIdentifiers": "errors",
    "Resource": "meta", "ObjectMeta": "meta",
    "MODELS": "registry", "parse_resource": "registry", "parse_document": "registry",
    "list_document": "registry", "load_resource": "registry",
    "IPPool": "pool", "IPReservation": "pool", "check_pool_overlap": "pool", "check_pool_update": "pool",
    "BGPPeer": "bgp", "BGPConfiguration": "bgp", "BGPFilter": "bgp",
    "Node": "node",
    "Profile": "policy", "NetworkPolicy": "policy", "GlobalNetworkPolicy": "policy", "Tier": "policy",
    "Rule": "policy", "EntityRule": "policy", "ICMPFields": "policy", "ServiceAccountMatch": "policy",
    "HostEndpoint": "endpoint", "WorkloadEndpoint": "endpoint", "EndpointPort": "endpoint",
    "workload_endpoint_name": "endpoint",
    "NetworkSet": "misc", "GlobalNetworkSet": "misc", "ClusterInformation": "misc",
    "KubeControllersConfiguration": "misc",
    "FelixConfiguration": "felixconfig",
    "v1_to_v3_documents": "v1", "render_conversion": "v1", "convert_manifest": "v1",
    "Port": "values", "Protocol": "values", "ASNumber": "values",
}

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "BY_KIND",
    "KINDS",
    "MODELS",
    "ASNumber",
    "BGPConfiguration",
    "BGPFilter",
    "BGPPeer",
    "CalicoValidationError",
    "ClusterInformation",
    "ConversionError",
    "EndpointPort",
    "EntityRule",
    "FelixConfiguration",
    "FieldError",
    "GlobalNetworkPolicy",
    "GlobalNetworkSet",
    "HostEndpoint",
    "ICMPFields",
    "IPPool",
    "IPReservation",
    "InsufficientIdentifiers",
    "KindInfo",
    "KubeControllersConfiguration",
    "NetworkPolicy",
    "NetworkSet",
    "Node",
    "ObjectMeta",
    "Port",
    "Profile",
    "Protocol",
    "Resource",
    "Rule",
    "ServiceAccountMatch",
    "Tier",
    "UnknownKindError",
    "WorkloadEndpoint",
    "check_pool_overlap",
    "check_pool_update",
    "convert_manifest",
    "list_document",
    "load_resource",
    "lookup_kind",
    "parse_document",
    "parse_resource",
    "render_conversion",
    "v1_to_v3_documents",
    "workload_endpoint_name",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'calico.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"calico.api.{module}"), name)
    globals()[name] = value
    return value

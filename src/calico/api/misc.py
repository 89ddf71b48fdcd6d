"""NetworkSet, GlobalNetworkSet, ClusterInformation and KubeControllersConfiguration."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from calico.api.checks import Errs
from calico.api.meta import CalicoModel, Resource
from calico.api.values import parse_cidr_or_ip

NAMESPACE_LABEL = "projectcalico.org/namespace"


class NetworkSetSpec(CalicoModel):
    nets: list[str] | None = None


def _check_nets(errs: Errs, nets: list[str] | None) -> None:
    for i, n in enumerate(nets or []):
        try:
            parse_cidr_or_ip(n)
        except ValueError:
            errs.tag(f"Nets[{i}]", n, "cidr")


def _no_namespace_label(errs: Errs, labels: dict[str, str] | None) -> None:
    if NAMESPACE_LABEL in (labels or {}):
        errs.add("Metadata.Labels (label)", NAMESPACE_LABEL,
                 "projectcalico.org/namespace is not a valid label name")


class NetworkSet(Resource):
    KIND = "NetworkSet"
    spec: NetworkSetSpec = Field(default_factory=lambda: NetworkSetSpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        _check_nets(errs, self.spec.nets)
        _no_namespace_label(errs, self.metadata.labels)


class GlobalNetworkSet(Resource):
    KIND = "GlobalNetworkSet"
    spec: NetworkSetSpec = Field(default_factory=lambda: NetworkSetSpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        _check_nets(errs, self.spec.nets)
        _no_namespace_label(errs, self.metadata.labels)


class ClusterInformationSpec(CalicoModel):
    cluster_guid: str = Field("", alias="clusterGUID")
    cluster_type: str = Field("", alias="clusterType")
    calico_version: str = Field("", alias="calicoVersion")
    datastore_ready: bool | None = Field(None, alias="datastoreReady")
    variant: str = ""
    KEEP = frozenset({"datastore_ready"})


class ClusterInformation(Resource):
    KIND = "ClusterInformation"
    spec: ClusterInformationSpec = Field(default_factory=lambda: ClusterInformationSpec.model_validate({}))

    def field_checks(self, errs: Errs) -> None:
        guid = self.spec.cluster_guid
        if guid and not re.match(r"^[0-9a-fA-F-]+$", guid):
            errs.tag("ClusterGUID", guid, "hexadecimal")


class KubeControllersConfiguration(Resource):
    """Controller toggles; not used by the networking agents, so the spec is kept as given."""

    KIND = "KubeControllersConfiguration"
    spec: dict[str, Any] = Field(default_factory=dict)
    status: dict[str, Any] | None = None

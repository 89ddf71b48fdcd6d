"""The WorkloadEndpoint and Profile documents the plugin writes, in Calico's v3 JSON shape. Pure.

Built as plain dicts (the stored form, calico-api.md §4.1/§1.12) so the plugin need not import the
pydantic models on its hot path; tests check them against ``calico.api``.
"""

from __future__ import annotations

from calico.cni.names import ORCH_CNI, ORCH_K8S, WepIds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

API_VERSION = "projectcalico.org/v3"
LABEL_NAMESPACE = "projectcalico.org/namespace"
LABEL_ORCHESTRATOR = "projectcalico.org/orchestrator"


def build_wep(ids: WepIds, *, ip_networks: list[str], profiles: list[str], interface_name: str, mac: str,
              labels: dict[str, str], uid: str, created: str) -> dict[str, Any]:
    """The WorkloadEndpoint for one attachment; the namespace/orchestrator labels are forced as Calico does."""
    all_labels = dict(labels)
    all_labels[LABEL_NAMESPACE] = ids.namespace
    all_labels[LABEL_ORCHESTRATOR] = ids.orchestrator
    spec: dict[str, Any] = {"orchestrator": ids.orchestrator}
    if ids.orchestrator not in (ORCH_CNI, ORCH_K8S) and ids.workload:
        spec["workload"] = ids.workload
    spec["node"] = ids.node
    spec["containerID"] = ids.container_id
    if ids.orchestrator == ORCH_K8S:
        spec["pod"] = ids.pod
    spec["endpoint"] = ids.endpoint
    spec["ipNetworks"] = list(ip_networks)
    spec["profiles"] = list(profiles)
    spec["interfaceName"] = interface_name
    if mac:
        spec["mac"] = mac
    return {
        "kind": "WorkloadEndpoint",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": ids.wep_name(),
            "namespace": ids.namespace,
            "uid": uid,
            "creationTimestamp": created,
            "labels": all_labels,
        },
        "spec": spec,
    }


def build_profile(network: str, orchestrator: str, *, uid: str, created: str) -> dict[str, Any]:
    """The profile Calico creates for a network: members may talk to each other (k8s: anyone may)."""
    if orchestrator == ORCH_K8S:
        ingress: dict[str, Any] = {"action": "Allow", "source": {}, "destination": {}}
    else:
        ingress = {"action": "Allow", "source": {"selector": f"has({network})"}, "destination": {}}
    return {
        "kind": "Profile",
        "apiVersion": API_VERSION,
        "metadata": {"name": network, "uid": uid, "creationTimestamp": created},
        "spec": {
            "ingress": [ingress],
            "egress": [{"action": "Allow", "source": {}, "destination": {}}],
            "labelsToApply": {network: ""},
        },
    }


def add_profile(wep: dict[str, Any], network: str) -> bool:
    """Add ``network`` to an existing endpoint's profiles; False when it is already there."""
    profiles: list[str] = wep.setdefault("spec", {}).setdefault("profiles", [])
    if network in profiles:
        return False
    profiles.append(network)
    return True

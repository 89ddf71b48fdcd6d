"""Workload endpoint names and host-side interface names, exactly as Calico derives them. Pure."""

from __future__ import annotations

from calico.common.record import record

ORCH_K8S = "k8s"
ORCH_CNI = "cni"
DEFAULT_NAMESPACE = "default"


@record
class WepIds:
    """Who a workload endpoint belongs to (Calico's WEPIdentifiers)."""

    node: str
    orchestrator: str
    endpoint: str  # CNI_IFNAME
    container_id: str
    namespace: str = DEFAULT_NAMESPACE
    pod: str = ""
    workload: str = ""

    def wep_name(self) -> str:
        if self.orchestrator == ORCH_K8S:
            segments = [self.node, ORCH_K8S, self.pod, self.endpoint]
        elif self.orchestrator == ORCH_CNI:
            segments = [self.node, ORCH_CNI, self.container_id, self.endpoint]
        elif self.orchestrator == "libnetwork":
            segments = [self.node, "libnetwork", "libnetwork", self.endpoint]
        else:
            segments = [self.node, self.orchestrator, self.workload, self.endpoint]
        return join_segments(segments)


def identifiers(node: str, container_id: str, ifname: str, pod: str, pod_namespace: str) -> WepIds:
    """k8s when both K8S_POD_NAME and K8S_POD_NAMESPACE are given, else the plain ``cni`` orchestrator."""
    if pod and pod_namespace:
        return WepIds(node=node, orchestrator=ORCH_K8S, endpoint=ifname, container_id=container_id,
                      namespace=pod_namespace, pod=pod, workload=pod)
    return WepIds(node=node, orchestrator=ORCH_CNI, endpoint=ifname, container_id=container_id,
                  workload=container_id)


def escape_segment(segment: str) -> str:
    if segment.startswith("-") or segment.endswith("-"):
        raise ValueError(f"name segment {segment!r} must not start or end with '-'")
    return segment.replace("-", "--")


def join_segments(segments: list[str]) -> str:
    """Each segment's own '-' doubled, then joined with single '-' (so the name parses back)."""
    for seg in segments:
        if not seg:
            raise ValueError(f"empty segment in workload endpoint name {segments!r}")
    return "-".join(escape_segment(s) for s in segments)


def split_name(name: str) -> list[str]:
    """Inverse of join_segments: split on single '-', un-double '--'."""
    out: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(name):
        if name[i] == "-":
            if i + 1 < len(name) and name[i + 1] == "-":
                cur.append("-")
                i += 2
                continue
            out.append("".join(cur))
            cur = []
        else:
            cur.append(name[i])
        i += 1
    out.append("".join(cur))
    return out


def host_veth_name(ids: WepIds, prefix: str = "cali") -> str:
    """cni: prefix + first 11 chars of the container id; k8s: prefix + sha1("<ns>.<pod>")[:11]."""
    if ids.orchestrator == ORCH_K8S:
        import hashlib

        digest = hashlib.sha1(f"{ids.namespace}.{ids.pod}".encode()).hexdigest()
        return (prefix + digest)[:15]
    return (prefix + ids.container_id[:11])[:15]

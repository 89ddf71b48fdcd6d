"""How `calicoctl get` prints resources: tabwriter tables (ps, wide, custom-columns), YAML, JSON.

Works on the stored-JSON dict form of a resource (``Resource.to_dict()``) so it needs no model class.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import yaml

Doc = dict[str, Any]
Getter = Callable[[Doc], str]

NETS_MAX = 80


def _spec(d: Doc) -> Doc:
    return d.get("spec") or {}


def _meta(d: Doc) -> Doc:
    return d.get("metadata") or {}


def _join(values: Sequence[Any] | None, truncate: bool = False) -> str:
    text = ",".join(str(v) for v in (values or []))
    if truncate and len(text) > NETS_MAX:
        text = text[: NETS_MAX - 3] + "..."
    return text


def _bool(v: Any) -> str:
    return "true" if v else "false"


def _map(m: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((m or {}).items()))


def _bgp_peer_node(d: Doc) -> str:
    s = _spec(d)
    if s.get("node"):
        return str(s["node"])
    if s.get("nodeSelector"):
        return str(s["nodeSelector"])
    return "(global)"


def _node_asn(default_asn: str) -> Getter:
    def get(d: Doc) -> str:
        bgp = _spec(d).get("bgp")
        if not bgp:
            return ""
        asn = bgp.get("asNumber")
        return str(asn) if asn is not None else f"({default_asn})"
    return get


def _dash(v: Any) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return _bool(v)
    return str(v)


def _order(d: Doc) -> str:
    o = _spec(d).get("order")
    if o is None:
        return ""
    return f"{o:g}" if isinstance(o, float) else str(o)


def _wep_workload(d: Doc) -> str:
    s = _spec(d)
    return str(s.get("pod") or s.get("workload") or "")


def _nats(d: Doc) -> str:
    return ",".join(f"{n.get('internalIP')}:{n.get('externalIP')}" for n in _spec(d).get("ipNATs") or [])


def columns_for(kind: str, default_asn: str = "64512") -> dict[str, Getter]:
    """Every column name a kind knows (for custom-columns), with its getter."""
    name: Getter = lambda d: str(_meta(d).get("name", ""))  # noqa: E731
    ns: Getter = lambda d: str(_meta(d).get("namespace", ""))  # noqa: E731
    s = _spec
    table: dict[str, dict[str, Getter]] = {
        "IPPool": {
            "NAME": name, "CIDR": lambda d: str(s(d).get("cidr", "")),
            "SELECTOR": lambda d: str(s(d).get("nodeSelector", "")),
            "NAT": lambda d: _bool(s(d).get("natOutgoing")),
            "IPIPMODE": lambda d: str(s(d).get("ipipMode", "")),
            "VXLANMODE": lambda d: str(s(d).get("vxlanMode", "")),
            "DISABLED": lambda d: _bool(s(d).get("disabled")),
            "DISABLEBGPEXPORT": lambda d: _bool(s(d).get("disableBGPExport")),
            "ASSIGNMENTMODE": lambda d: str(s(d).get("assignmentMode", "")),
        },
        "IPReservation": {"NAME": name, "CIDRS": lambda d: _join(s(d).get("reservedCIDRs"), True)},
        "BGPPeer": {
            "NAME": name, "PEERIP": lambda d: str(s(d).get("peerIP", "")), "NODE": _bgp_peer_node,
            "ASN": lambda d: str(s(d).get("asNumber", "") or ""),
        },
        "BGPConfiguration": {
            "NAME": name, "LOGSEVERITY": lambda d: _dash(s(d).get("logSeverityScreen")),
            "MESHENABLED": lambda d: _dash(s(d).get("nodeToNodeMeshEnabled")),
            "ASNUMBER": lambda d: _dash(s(d).get("asNumber")),
        },
        "BGPFilter": {
            "NAME": name,
            "NUMEXPORTV4": lambda d: str(len(s(d).get("exportV4") or [])),
            "NUMIMPORTV4": lambda d: str(len(s(d).get("importV4") or [])),
            "NUMEXPORTV6": lambda d: str(len(s(d).get("exportV6") or [])),
            "NUMIMPORTV6": lambda d: str(len(s(d).get("importV6") or [])),
        },
        "Node": {
            "NAME": name, "ASN": _node_asn(default_asn),
            "IPV4": lambda d: str((s(d).get("bgp") or {}).get("ipv4Address", "")),
            "IPV6": lambda d: str((s(d).get("bgp") or {}).get("ipv6Address", "")),
        },
        "Profile": {"NAME": name, "LABELS": lambda d: _map(s(d).get("labelsToApply"))},
        "NetworkPolicy": {
            "NAME": name, "NAMESPACE": ns, "TIER": lambda d: str(s(d).get("tier") or "default"),
            "ORDER": _order, "SELECTOR": lambda d: str(s(d).get("selector", "")),
        },
        "GlobalNetworkPolicy": {
            "NAME": name, "TIER": lambda d: str(s(d).get("tier") or "default"),
            "ORDER": _order, "SELECTOR": lambda d: str(s(d).get("selector", "")),
        },
        "Tier": {"NAME": name, "ORDER": _order},
        "HostEndpoint": {
            "NAME": name, "NODE": lambda d: str(s(d).get("node", "")),
            "INTERFACE": lambda d: str(s(d).get("interfaceName", "")),
            "IPS": lambda d: _join(s(d).get("expectedIPs")),
            "PROFILES": lambda d: _join(s(d).get("profiles")),
        },
        "WorkloadEndpoint": {
            "NAME": name, "NAMESPACE": ns, "WORKLOAD": _wep_workload,
            "NODE": lambda d: str(s(d).get("node", "")),
            "NETWORKS": lambda d: _join(s(d).get("ipNetworks"), True),
            "INTERFACE": lambda d: str(s(d).get("interfaceName", "")),
            "PROFILES": lambda d: _join(s(d).get("profiles")),
            "NATS": _nats, "ORCHESTRATOR": lambda d: str(s(d).get("orchestrator", "")),
        },
        "NetworkSet": {"NAME": name, "NAMESPACE": ns, "NETS": lambda d: _join(s(d).get("nets"), True)},
        "GlobalNetworkSet": {"NAME": name, "NETS": lambda d: _join(s(d).get("nets"), True)},
        "FelixConfiguration": {"NAME": name},
        "KubeControllersConfiguration": {"NAME": name},
        "ClusterInformation": {
            "NAME": name, "CLUSTERGUID": lambda d: str(s(d).get("clusterGUID", "")),
            "CLUSTERTYPE": lambda d: str(s(d).get("clusterType", "")),
            "CALICOVERSION": lambda d: str(s(d).get("calicoVersion", "")),
            "DATASTOREREADY": lambda d: _dash(s(d).get("datastoreReady")),
        },
    }
    return table.get(kind, {"NAME": name})


DEFAULT_COLUMNS: dict[str, tuple[list[str], list[str]]] = {
    "IPPool": (["NAME", "CIDR", "SELECTOR"],
               ["NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE", "DISABLED", "DISABLEBGPEXPORT", "SELECTOR",
                "ASSIGNMENTMODE"]),
    "IPReservation": (["NAME"], ["NAME", "CIDRS"]),
    "BGPPeer": (["NAME", "PEERIP", "NODE", "ASN"], ["NAME", "PEERIP", "NODE", "ASN"]),
    "BGPConfiguration": (["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"],
                         ["NAME", "LOGSEVERITY", "MESHENABLED", "ASNUMBER"]),
    "BGPFilter": (["NAME", "NUMEXPORTV4", "NUMIMPORTV4", "NUMEXPORTV6", "NUMIMPORTV6"],
                  ["NAME", "NUMEXPORTV4", "NUMIMPORTV4", "NUMEXPORTV6", "NUMIMPORTV6"]),
    "Node": (["NAME"], ["NAME", "ASN", "IPV4", "IPV6"]),
    "Profile": (["NAME"], ["NAME", "LABELS"]),
    "NetworkPolicy": (["NAME", "TIER"], ["NAME", "TIER", "ORDER", "SELECTOR"]),
    "GlobalNetworkPolicy": (["NAME", "TIER"], ["NAME", "TIER", "ORDER", "SELECTOR"]),
    "Tier": (["NAME", "ORDER"], ["NAME", "ORDER"]),
    "HostEndpoint": (["NAME", "NODE"], ["NAME", "NODE", "INTERFACE", "IPS", "PROFILES"]),
    "WorkloadEndpoint": (["WORKLOAD", "NODE", "NETWORKS", "INTERFACE"],
                         ["NAME", "WORKLOAD", "NODE", "NETWORKS", "INTERFACE", "PROFILES", "NATS"]),
    "NetworkSet": (["NAME"], ["NAME", "NETS"]),
    "GlobalNetworkSet": (["NAME"], ["NAME", "NETS"]),
    "ClusterInformation": (["NAME", "CLUSTERGUID", "CLUSTERTYPE", "CALICOVERSION", "DATASTOREREADY"],
                           ["NAME", "CLUSTERGUID", "CLUSTERTYPE", "CALICOVERSION", "DATASTOREREADY"]),
}


class OutputError(ValueError):
    pass


def tabwriter(rows: list[list[str]], minwidth: int = 5, padding: int = 3) -> str:
    """Go text/tabwriter with every cell tab-terminated: each column padded to max width + padding."""
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [0] * ncols
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    widths = [max(w + padding, minwidth) for w in widths]
    out = []
    for r in rows:
        out.append("".join(cell.ljust(widths[i]) for i, cell in enumerate(r)))
    return "\n".join(out) + "\n"


def table(kind: str, docs: list[Doc], fmt: str, with_namespace: bool, default_asn: str = "64512") -> str:
    """ps / wide / custom-columns=... output, followed by the empty line calicoctl prints."""
    getters = columns_for(kind, default_asn)
    if fmt.startswith("custom-columns"):
        spec = fmt.partition("=")[2]
        heads = [h.strip().upper() for h in spec.split(",") if h.strip()]
        if not heads:
            raise OutputError("need to specify at least one column")
        for h in heads:
            if h not in getters:
                raise OutputError(f"Unknown heading {h}, valid values are: {', '.join(getters)}")
    else:
        default, wide = DEFAULT_COLUMNS.get(kind, (["NAME"], ["NAME"]))
        heads = list(wide if fmt == "wide" else default)
        if with_namespace and "NAMESPACE" in getters and "NAMESPACE" not in heads:
            heads.insert(0, "NAMESPACE")
    if kind == "Tier":
        docs = sorted(docs, key=lambda d: (_spec(d).get("order") is None, _spec(d).get("order") or 0))
    rows = [heads] + [[getters[h](d) for h in heads] for d in docs]
    return tabwriter(rows) + "\n"


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml (~5x faster for big listings); empty strings print as "" like Go's YAML."""


_STR_TAG = "tag:yaml.org,2002:str"


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    """Strings that would read back as another type ("12", "true", timestamps) get Go's double quotes."""
    ambiguous = data == "" or dumper.resolve(yaml.ScalarNode, data, (True, False)) != _STR_TAG  # type: ignore[no-untyped-call]
    return dumper.represent_scalar(_STR_TAG, data, style='"' if ambiguous else None)


_Dumper.add_representer(str, _str)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, default_flow_style=False, sort_keys=True, allow_unicode=True)


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"

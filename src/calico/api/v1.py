"""Calico 2.x (``apiVersion: v1``) documents and their conversion to v3, as ``calicoctl convert`` does.

The mapping follows libcalico-go's upgrade converters (v1 API -> v1 backend model -> v3 API),
with v3.0-v3.27 policy naming (GlobalNetworkPolicy named ``convertNameNoDots(name)``, no tier).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from calico.api.errors import ConversionError, InsufficientIdentifiers, UnknownKindError
from calico.api.meta import Resource
from calico.api.values import PROTOCOL_NAMES, parse_cidr_or_ip, parse_ip

V1_KINDS = ("ipPool", "profile", "bgpPeer", "node", "policy", "hostEndpoint", "workloadEndpoint")
_PROTO_V3 = {p.lower(): p for p in PROTOCOL_NAMES}

# --- names -----------------------------------------------------------------------------------

_NON_NAME = re.compile(r"[^-.a-z0-9]+")
_DOT_DASH = re.compile(r"[.-]*[.][.-]*")
_TRIM = re.compile(r"^[.-]*(.*?)[.-]*$")


def normalize_name(name: str) -> str:
    """libcalico normalizeName: lowercase, ``/``->``.``, others->``-``, collapse, trim."""
    name = name.lower().replace("/", ".")
    name = _NON_NAME.sub("-", name)
    name = _DOT_DASH.sub(".", name)
    m = _TRIM.match(name)
    return m.group(1) if m else name


def _qualified(orig: str, final: str) -> str:
    if orig == final:
        return orig
    return f"{final}-{hashlib.sha1(orig.encode()).hexdigest()[:8]}"


def convert_name(name: str) -> str:
    return _qualified(name, normalize_name(name))


def convert_name_no_dots(name: str) -> str:
    return _qualified(name, normalize_name(name).replace(".", "-"))


def convert_node_name(name: str) -> str:
    return normalize_name(name)


def ip_to_name(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return str(addr).replace(".", "-")
    return "-".join(f"{addr.packed[i]:02x}{addr.packed[i + 1]:02x}" for i in range(0, 16, 2))


def cidr_to_name(cidr: str) -> str:
    return re.sub(r"[.:/]", "-", cidr)


def convert_profile_name(name: str) -> str:
    if name.startswith("k8s_ns."):
        return convert_name("kns." + name[len("k8s_ns."):])
    return convert_name(name)


def convert_selector(sel: str) -> str:
    return sel.replace("calico/k8s_ns", "projectcalico.org/namespace")


# --- rules -----------------------------------------------------------------------------------

def _masked(text: str) -> str:
    try:
        return str(parse_cidr_or_ip(text)[1])
    except ValueError:
        raise ConversionError(f"invalid CIDR address: {text}") from None


def _protocol(p: Any) -> Any:
    if isinstance(p, str):
        return _PROTO_V3.get(p.lower(), p)
    return p


def _action(a: str) -> str:
    if not a:
        return "Allow"
    if a.lower() in ("pass", "next-tier"):
        return "Pass"
    for act in ("Allow", "Deny", "Log", "Pass"):
        if a.lower() == act.lower():
            return act
    return a


def _merge_tag(sel: str, tag: str) -> str:
    if tag:
        return f"({sel}) && {tag} == ''" if sel else f"{tag} == ''"
    return sel


def _entity(e: Mapping[str, Any] | None) -> dict[str, Any]:
    e = e or {}
    out: dict[str, Any] = {}
    nets = [_masked(n) for n in (e.get("nets") or [])]
    if e.get("net"):
        nets.append(_masked(e["net"]))
    not_nets = [_masked(n) for n in (e.get("notNets") or [])]
    if e.get("notNet"):
        not_nets.append(_masked(e["notNet"]))
    sel = _merge_tag(convert_selector(e.get("selector") or ""), e.get("tag") or "")
    not_sel = _merge_tag(convert_selector(e.get("notSelector") or ""), e.get("notTag") or "")
    if nets:
        out["nets"] = nets
    if sel:
        out["selector"] = sel
    if e.get("ports"):
        out["ports"] = list(e["ports"])
    if not_nets:
        out["notNets"] = not_nets
    if not_sel:
        out["notSelector"] = not_sel
    if e.get("notPorts"):
        out["notPorts"] = list(e["notPorts"])
    return out


def convert_rule(r: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"action": _action(str(r.get("action") or ""))}
    if r.get("ipVersion") is not None:
        out["ipVersion"] = r["ipVersion"]
    if r.get("protocol") is not None:
        out["protocol"] = _protocol(r["protocol"])
    if r.get("icmp"):
        out["icmp"] = dict(r["icmp"])
    if r.get("notProtocol") is not None:
        out["notProtocol"] = _protocol(r["notProtocol"])
    if r.get("notICMP"):
        out["notICMP"] = dict(r["notICMP"])
    out["source"] = _entity(r.get("source"))
    out["destination"] = _entity(r.get("destination"))
    return out


def _rules(rules: Any) -> list[dict[str, Any]] | None:
    if not rules:
        return None
    return [convert_rule(r) for r in rules]


# --- per kind --------------------------------------------------------------------------------

def _v3(kind: str, metadata: dict[str, Any], spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "projectcalico.org/v3", "kind": kind, "metadata": metadata, "spec": spec, **extra}


def _ip_pool(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    cidr_text = meta.get("cidr")
    if not cidr_text:
        raise InsufficientIdentifiers("cidr")
    try:
        net = ipaddress.ip_network(str(cidr_text), strict=False)
    except ValueError:
        raise ConversionError(f"invalid CIDR address: {cidr_text}") from None
    cidr = str(net)
    ipip = spec.get("ipip")
    mode = "Never"
    if ipip and ipip.get("enabled"):
        mode = "CrossSubnet" if str(ipip.get("mode") or "").lower() == "cross-subnet" else "Always"
    out = {"cidr": cidr, "vxlanMode": "Never", "ipipMode": mode, "natOutgoing": bool(spec.get("nat-outgoing")),
           "disabled": bool(spec.get("disabled")), "blockSize": 26 if net.version == 4 else 122,
           "nodeSelector": "all()", "allowedUses": ["Workload", "Tunnel"], "assignmentMode": "Automatic"}
    return _v3("IPPool", {"name": cidr_to_name(cidr)}, out)


def _profile(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    name = meta.get("name")
    if not name:
        raise InsufficientIdentifiers("name")
    v3name = convert_profile_name(str(name))
    labels = dict(meta.get("labels") or {})
    for tag in meta.get("tags") or []:
        if tag in labels:
            raise ConversionError(
                f"Tag: '{tag}' and Label '{tag} == {labels[tag]}' have the same value for Profile: {v3name}. "
                "Change the Label key before proceeding")
        labels[tag] = ""
    out: dict[str, Any] = {}
    if (ing := _rules(spec.get("ingress"))) is not None:
        out["ingress"] = ing
    if (eg := _rules(spec.get("egress"))) is not None:
        out["egress"] = eg
    if labels:
        out["labelsToApply"] = labels
    return _v3("Profile", {"name": v3name}, out)


def _bgp_peer(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    peer_ip = meta.get("peerIP")
    if not peer_ip:
        raise ConversionError(f"no PeerIP is set, invalid BGPPeer: {dict(meta)}")
    if parse_ip(str(peer_ip)) is None:
        raise ConversionError(f"invalid IP address: {peer_ip}")
    scope, node = meta.get("scope"), meta.get("node") or ""
    ip = str(ipaddress.ip_address(str(peer_ip)))
    out: dict[str, Any] = {"peerIP": ip}
    if scope == "global":
        if node:
            raise ConversionError(f"With Global scope having a Node is invalid: {dict(meta)}")
        name = ip_to_name(ip)
    elif scope == "node":
        if not node:
            raise ConversionError(f"With Node scope a Node must be defined: {dict(meta)}")
        n = convert_node_name(str(node))
        out = {"node": n, **out}
        name = f"{n}.{ip_to_name(ip)}"
    else:
        raise InsufficientIdentifiers("scope")
    if spec.get("asNumber") is not None:
        out["asNumber"] = spec["asNumber"]
    return _v3("BGPPeer", {"name": name}, out)


def _node_addr(text: str) -> str:
    addr, net = parse_cidr_or_ip(text)
    return f"{addr}/{net.prefixlen}"


def _node(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    name = meta.get("name")
    if not name:
        raise InsufficientIdentifiers("name")
    out: dict[str, Any] = {}
    bgp = spec.get("bgp")
    if bgp:
        if not bgp.get("ipv4Address") and not bgp.get("ipv6Address"):
            raise ConversionError(f"Invalid NodeBGPSpec, missing address: {dict(bgp)}")
        b: dict[str, Any] = {}
        if bgp.get("asNumber") is not None:
            b["asNumber"] = bgp["asNumber"]
        if bgp.get("ipv4Address"):
            b["ipv4Address"] = _node_addr(str(bgp["ipv4Address"]))
        if bgp.get("ipv6Address"):
            b["ipv6Address"] = _node_addr(str(bgp["ipv6Address"]))
        out["bgp"] = b
    refs = [{"nodeName": r.get("nodeName", ""), "orchestrator": r.get("orchestrator", "")}
            for r in spec.get("orchRefs") or []]
    if refs:
        out["orchRefs"] = refs
    return _v3("Node", {"name": convert_node_name(str(name))}, out, status={})


def _policy(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    name = meta.get("name")
    if not name:
        raise InsufficientIdentifiers("name")
    ingress, egress = spec.get("ingress") or [], spec.get("egress") or []
    types = spec.get("types") or []
    if not types:
        v3types = ["Ingress"] if not egress else (["Egress"] if not ingress else ["Ingress", "Egress"])
    else:
        v3types = []
        for t in types:
            if str(t).lower() not in ("ingress", "egress"):
                raise ConversionError(f"invalid policy type: '{t}'")
            v3types.append(str(t).capitalize())
    dnt, pre_dnat = bool(spec.get("doNotTrack")), bool(spec.get("preDNAT"))
    out: dict[str, Any] = {}
    if spec.get("order") is not None:
        out["order"] = spec["order"]
    if (ing := _rules(ingress)) is not None:
        out["ingress"] = ing
    if (eg := _rules(egress)) is not None:
        out["egress"] = eg
    if spec.get("selector"):
        out["selector"] = convert_selector(str(spec["selector"]))
    out["types"] = v3types
    if dnt:
        out["doNotTrack"] = True
    if pre_dnat:
        out["preDNAT"] = True
    if dnt or pre_dnat:
        out["applyOnForward"] = True
    metadata: dict[str, Any] = {"name": convert_name_no_dots(str(name))}
    if meta.get("annotations"):
        metadata["annotations"] = dict(meta["annotations"])
    return _v3("GlobalNetworkPolicy", metadata, out)


def _ports(ports: Any, v3_protocol: bool) -> list[dict[str, Any]] | None:
    if not ports:
        return None
    return [{"name": p.get("name", ""), "protocol": _protocol(p.get("protocol")) if v3_protocol else p.get("protocol"),
             "port": p.get("port", 0)} for p in ports]


def _host_endpoint(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    name, node = meta.get("name"), meta.get("node")
    if not node:
        raise InsufficientIdentifiers("node")
    if not name:
        raise InsufficientIdentifiers("name")
    node_name = convert_node_name(str(node))
    ips = [str(ipaddress.ip_address(i)) for i in spec.get("expectedIPs") or []]
    ips = [i for i in ips if ":" not in i] + [i for i in ips if ":" in i]
    out: dict[str, Any] = {"node": node_name}
    if spec.get("interfaceName"):
        out["interfaceName"] = spec["interfaceName"]
    if ips:
        out["expectedIPs"] = ips
    if spec.get("profiles"):
        out["profiles"] = [convert_profile_name(p) for p in spec["profiles"]]
    if (ports := _ports(spec.get("ports"), True)) is not None:
        out["ports"] = ports
    metadata: dict[str, Any] = {"name": convert_name(f"{node_name}.{name}")}
    if meta.get("labels"):
        metadata["labels"] = dict(meta["labels"])
    return _v3("HostEndpoint", metadata, out)


def _workload_endpoint(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    from calico.api.endpoint import workload_endpoint_name

    orch, workload_id = str(meta.get("orchestrator") or ""), str(meta.get("workload") or "")
    namespace, pod, container, workload = "default", "", "", ""
    if orch == "k8s":
        if "." not in workload_id:
            raise ConversionError(f"malformed k8s workload ID '{workload_id}': workload was not added through the "
                                  "Calico CNI plugin and cannot be converted")
        namespace, pod = workload_id.split(".", 1)
        container = str(meta.get("activeInstanceID") or "")
    elif orch == "cni":
        container = workload_id
    elif orch == "libnetwork":
        workload = "libnetwork"
    else:
        workload = convert_name(workload_id)
    labels = dict(meta.get("labels") or {})
    if "calico/k8s_ns" in labels:
        labels["projectcalico.org/namespace"] = labels.pop("calico/k8s_ns")
    nets = [_masked(n) for n in spec.get("ipNetworks") or []]
    nets = [n for n in nets if ":" not in n] + [n for n in nets if ":" in n]
    nats = [{"internalIP": str(ipaddress.ip_address(n["internalIP"])),
             "externalIP": str(ipaddress.ip_address(n["externalIP"]))} for n in spec.get("ipNATs") or []]
    nats = [n for n in nats if ":" not in n["internalIP"]] + [n for n in nats if ":" in n["internalIP"]]
    s: dict[str, Any] = {"orchestrator": convert_name(orch), "workload": workload,
                         "node": convert_node_name(str(meta.get("node") or "")), "pod": pod,
                         "containerID": container, "endpoint": convert_name(str(meta.get("name") or ""))}
    s = {k: v for k, v in s.items() if v}
    if nets:
        s["ipNetworks"] = nets
    if nats:
        s["ipNATs"] = nats
    for key in ("ipv4Gateway", "ipv6Gateway"):
        if spec.get(key):
            s[key] = str(ipaddress.ip_address(spec[key]))
    if spec.get("profiles"):
        s["profiles"] = [convert_profile_name(p) for p in spec["profiles"]]
    s["interfaceName"] = spec.get("interfaceName", "")
    if spec.get("mac"):
        s["mac"] = str(spec["mac"]).lower()
    if (ports := _ports(spec.get("ports"), False)) is not None:
        s["ports"] = ports
    name = workload_endpoint_name(s.get("node", ""), s.get("orchestrator", ""), workload, s.get("endpoint", ""),
                                  pod, container)
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return _v3("WorkloadEndpoint", metadata, s)


_CONVERTERS = {"ipPool": _ip_pool, "profile": _profile, "bgpPeer": _bgp_peer, "node": _node,
               "policy": _policy, "hostEndpoint": _host_endpoint, "workloadEndpoint": _workload_endpoint}


def convert_v1_dict(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One v1 object -> the v3 document calicoctl convert produces (not yet validated)."""
    kind = str(doc.get("kind", ""))
    if kind == "tier":
        raise ConversionError(f"conversion for the resource type '{kind}' is not supported")
    conv = _CONVERTERS.get(kind)
    if conv is None:
        raise UnknownKindError(kind, str(doc.get("apiVersion", "")))
    meta = doc.get("metadata") or {}
    spec = doc.get("spec") or {}
    if not isinstance(meta, Mapping) or not isinstance(spec, Mapping):
        raise ConversionError(f"malformed {kind} document")
    return conv(meta, spec)


def _expand_v1(doc: Any) -> list[Mapping[str, Any]]:
    if doc is None:
        return []
    if isinstance(doc, list):
        return [d for item in doc for d in _expand_v1(item)]
    if not isinstance(doc, Mapping):
        raise UnknownKindError("", "")
    kind = str(doc.get("kind", ""))
    if kind.endswith("List") and "items" in doc:
        item_kind = kind[: -len("List")]
        out: list[Mapping[str, Any]] = []
        for item in doc.get("items") or []:
            if isinstance(item, Mapping) and item_kind and "kind" not in item:
                item = {"apiVersion": doc.get("apiVersion", "v1"), "kind": item_kind, **item}
            out.extend(_expand_v1(item))
        return out
    return [doc]


def v1_to_v3_documents(doc: Any) -> list[dict[str, Any]]:
    """A v1 document (object, ``<kind>List``, ``List`` or array) -> v3 dicts, in input order.

    Kubernetes ``networking.k8s.io/v1`` NetworkPolicies are converted too, as calicoctl convert does.
    """
    from calico.api.k8s import K8S_API_VERSION, k8s_network_policy_to_calico

    out = []
    for d in _expand_v1(doc):
        api_version, kind = str(d.get("apiVersion", "")), str(d.get("kind", ""))
        if api_version == K8S_API_VERSION and kind == "NetworkPolicy":
            out.append(k8s_network_policy_to_calico(d))
        elif api_version == "v1":
            out.append(convert_v1_dict(d))
        else:
            raise UnknownKindError(kind, api_version)
    return out


def convert_v1_document(doc: Any) -> list[Resource]:
    """v1 document -> v3 Resource objects exactly as converted (no v3.28+ tier defaults; not validated)."""
    from calico.api.registry import load_resource

    return [load_resource(d, validate=False, defaults=False) for d in v1_to_v3_documents(doc)]


def render_conversion(resources: list[dict[str, Any]] | list[Resource]) -> dict[str, Any]:
    """What calicoctl convert prints: one result as itself, several as a v1 ``List``.

    Metadata carries ``creationTimestamp: null`` as Go prints a zero metav1.Time.
    """
    docs = []
    for r in resources:
        d = r.to_dict() if isinstance(r, Resource) else dict(r)
        meta = dict(d.get("metadata") or {})
        for k in ("uid", "resourceVersion"):
            meta.pop(k, None)
        meta["creationTimestamp"] = None
        d["metadata"] = meta
        docs.append(d)
    if len(docs) == 1:
        return docs[0]
    return {"apiVersion": "v1", "kind": "List", "items": docs, "metadata": {}}


def convert_manifest(docs: list[Any], validate: bool = True) -> dict[str, Any]:
    """``calicoctl convert``: parsed YAML/JSON documents (v1) -> the object it prints.

    Raises UnknownKindError/ConversionError for unconvertible input and, unless ``validate`` is
    false (``--ignore-validation``), CalicoValidationError for the first converted resource that
    fails Calico's validation.
    """
    resources = [r for d in docs for r in convert_v1_document(d)]
    if validate:
        for r in resources:
            r.validate_calico(struct_only=True)
    return render_conversion(resources)

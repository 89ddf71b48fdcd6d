"""calico-node start-up: node name, addresses, AS, the Node record and cluster defaults.

Order as in Calico (calico-api.md section 6): name -> read own Node -> addresses and AS -> write
Node -> default IP pools -> ClusterInformation / FelixConfiguration defaults -> nodename file.
Every failure raises :class:`StartupError` with the message calico/node would print.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from calico.bgp.inputs import InputError, parse_asn
from calico.datastore.base import AlreadyExists, Datastore
from calico.datastore.keys import kind_prefix, resource_key
from calico.node import autodetect
from calico.node.paths import NodePaths

log = logging.getLogger("calico.node.startup")

API_VERSION = "projectcalico.org/v3"
DEFAULT_V4_POOL = "192.168.0.0/16"


class StartupError(Exception):
    """Fatal start-up problem; calico-node exits non-zero with this message."""


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    name: str
    ipv4: str | None
    ipv6: str | None
    asn: int | None
    backend: str


def calico_version() -> str:
    try:
        from importlib.metadata import version

        return "v" + version("calico-py")
    except Exception:
        return "v3.30.0"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": API_VERSION,
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": _now()},
            "spec": spec}


def _dump(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"))


def determine_node_name(env: Mapping[str, str], paths: NodePaths) -> str:
    """NODENAME -> nodename file -> HOSTNAME -> OS hostname (lower-cased, trimmed)."""
    if env.get("NODENAME", "").strip():
        return env["NODENAME"].strip()
    try:
        stored = paths.nodename_file.read_text().strip()
        if stored:
            return stored
    except OSError:
        pass
    if env.get("HOSTNAME", "").strip():
        return env["HOSTNAME"].strip().lower()
    return socket.gethostname().strip().lower()


def backend_of(env: Mapping[str, str]) -> str:
    if env.get("CALICO_NETWORKING", "").lower() == "false":
        return "none"
    backend = (env.get("CALICO_NETWORKING_BACKEND") or "bird").lower()
    if backend not in ("bird", "none", "vxlan"):
        raise StartupError(f"Invalid CALICO_NETWORKING_BACKEND {backend!r}: must be bird, vxlan or none")
    return backend


def resolve_address(value: str | None, method: str | None, version: int, stored: str | None,
                    interfaces: Callable[[], list[autodetect.Interface]]) -> str | None:
    """Calico's IP / IP6 rules: explicit, autodetect, none, or keep what the Node has."""
    raw = (value or "").strip()
    if raw.lower() == "none":
        return stored if version == 4 else None
    if raw and raw.lower() != "autodetect":
        try:
            iface = ipaddress.ip_interface(raw)
        except ValueError as exc:
            raise StartupError(f"Invalid IPv{version} address specified: {raw}") from exc
        if iface.version != version:
            raise StartupError(f"Invalid IPv{version} address specified: {raw}")
        if "/" in raw:
            return raw
        return autodetect.with_prefix(str(iface.ip), interfaces())
    if version == 6 and raw.lower() != "autodetect":
        return stored  # IPv6 detection only when asked for
    if not raw and stored:
        return stored
    try:
        return autodetect.choose(method or "first-found", version, interfaces())
    except autodetect.AutodetectError as exc:
        raise StartupError(f"Failed to autodetect an IPv{version} address: {exc}") from exc


async def _get_json(ds: Datastore, key: str) -> tuple[dict[str, Any] | None, int]:
    kv = await ds.get(key)
    if kv is None:
        return None, 0
    return json.loads(kv.value), kv.mod_revision


async def configure_node(ds: Datastore, env: Mapping[str, str], name: str,
                         interfaces: Callable[[], list[autodetect.Interface]] = autodetect.local_interfaces,
                         ) -> NodeIdentity:
    """Create or update this node's Node resource; returns what was written."""
    backend = backend_of(env)
    key = resource_key("Node", name)
    doc, revision = await _get_json(ds, key)
    spec: dict[str, Any] = dict((doc or {}).get("spec") or {})
    bgp: dict[str, Any] = dict(spec.get("bgp") or {})
    ipv4 = ipv6 = None
    if backend != "none":
        ipv4 = resolve_address(env.get("IP"), env.get("IP_AUTODETECTION_METHOD"), 4,
                               bgp.get("ipv4Address"), interfaces)
        ipv6 = resolve_address(env.get("IP6"), env.get("IP6_AUTODETECTION_METHOD"), 6,
                               bgp.get("ipv6Address"), interfaces)
        if ipv4 is None and ipv6 is None:
            raise StartupError("No IPv4 or IPv6 address configured or detected for this node")
        await _check_conflicts(ds, name, ipv4, ipv6, env)
        for field_name, value in (("ipv4Address", ipv4), ("ipv6Address", ipv6)):
            if value:
                bgp[field_name] = value
            else:
                bgp.pop(field_name, None)
    asn: int | None = None
    if env.get("AS", "").strip():
        try:
            asn = parse_asn(env["AS"].strip(), "AS")
        except InputError as exc:
            raise StartupError(f"Invalid AS number specified: {exc}") from exc
        bgp["asNumber"] = asn
    elif bgp.get("asNumber") is not None:
        asn = parse_asn(bgp["asNumber"], "Node spec.bgp.asNumber")
    if bgp:
        spec["bgp"] = bgp
    else:
        spec.pop("bgp", None)
    addresses = [{"address": a, "type": "CalicoNodeIP"} for a in (ipv4, ipv6) if a]
    if addresses:
        spec["addresses"] = addresses
    if env.get("CALICO_K8S_NODE_REF"):
        spec["orchRefs"] = [{"orchestrator": "k8s", "nodeName": env["CALICO_K8S_NODE_REF"]}]
    if doc is None:
        await ds.create(key, _dump(_new_doc("Node", name, spec)))
        log.info("Created Node %s (IPv4 %s, IPv6 %s, AS %s)", name, ipv4, ipv6, asn or "default")
    elif spec != doc.get("spec"):
        doc["spec"] = spec
        await ds.update(key, _dump(doc), revision)
        log.info("Updated Node %s (IPv4 %s, IPv6 %s, AS %s)", name, ipv4, ipv6, asn or "default")
    return NodeIdentity(name, ipv4, ipv6, asn, backend)


async def _check_conflicts(ds: Datastore, name: str, ipv4: str | None, ipv6: str | None,
                           env: Mapping[str, str]) -> None:
    if env.get("DISABLE_NODE_IP_CHECK", "").lower() == "true":
        return
    kvs, _ = await ds.list(kind_prefix("Node"))
    for kv in kvs:
        other = json.loads(kv.value)
        other_name = other.get("metadata", {}).get("name")
        if other_name == name:
            continue
        obgp = (other.get("spec") or {}).get("bgp") or {}
        for version, mine, theirs in ((4, ipv4, obgp.get("ipv4Address")), (6, ipv6, obgp.get("ipv6Address"))):
            if mine and theirs and ipaddress.ip_interface(mine).ip == ipaddress.ip_interface(theirs).ip:
                raise StartupError(
                    f"Calico node '{other_name}' is already using the IPv{version} address "
                    f"{ipaddress.ip_interface(mine).ip}.")


def _truthy(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() not in ("false", "0", "no", "n", "f")


def _encap(value: str | None, what: str) -> str:
    v = (value or "").strip().lower()
    if v in ("", "off", "never"):
        return "Never"
    if v == "always":
        return "Always"
    if v in ("crosssubnet", "cross-subnet"):
        return "CrossSubnet"
    raise StartupError(f"Invalid value for {what}: {value!r} (Never, Always or CrossSubnet)")


def _pick_v4_default(local: list[str]) -> str:
    def clashes(cidr: str) -> bool:
        net = ipaddress.ip_network(cidr)
        return any(ipaddress.ip_interface(a).ip in net for a in local if ":" not in a)

    if not clashes(DEFAULT_V4_POOL):
        return DEFAULT_V4_POOL
    for i in range(16, 32):
        cidr = f"172.{i}.0.0/16"
        if not clashes(cidr):
            return cidr
    raise StartupError("Failed to find a non-conflicting default IPv4 pool")


def default_pool_docs(env: Mapping[str, str], local_addresses: list[str], have_v4: bool, have_v6: bool,
                      ipv6_supported: bool) -> list[dict[str, Any]]:
    """The default pools calico/node would create (pure)."""
    no_default = _truthy(env.get("NO_DEFAULT_POOLS"), False)
    v4_cidr = env.get("CALICO_IPV4POOL_CIDR", "").strip()
    v6_cidr = env.get("CALICO_IPV6POOL_CIDR", "").strip()
    if no_default:
        if (v4_cidr and v4_cidr != "none") or (v6_cidr and v6_cidr != "none"):
            raise StartupError("Invalid configuration: NO_DEFAULT_POOLS is true but a pool CIDR is set")
        return []
    docs = []
    if not have_v4 and v4_cidr.lower() != "none":
        cidr = v4_cidr or _pick_v4_default(local_addresses)
        docs.append(_pool_doc("default-ipv4-ippool", cidr, 4, env))
    if not have_v6 and v6_cidr.lower() != "none" and (v6_cidr or ipv6_supported):
        cidr = v6_cidr or _random_ula()
        docs.append(_pool_doc("default-ipv6-ippool", cidr, 6, env))
    return docs


def _random_ula() -> str:
    raw = bytes([0xFD]) + uuid.uuid4().bytes[:5]
    return str(ipaddress.IPv6Network((int.from_bytes(raw + bytes(10), "big"), 48)))


def _pool_doc(name: str, cidr: str, version: int, env: Mapping[str, str]) -> dict[str, Any]:
    var = f"CALICO_IPV{version}POOL"
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise StartupError(f"Invalid CIDR specified in {var}_CIDR: {cidr}") from exc
    if net.version != version:
        raise StartupError(f"Invalid CIDR specified in {var}_CIDR: {cidr} is not IPv{version}")
    size_text = env.get(f"{var}_BLOCK_SIZE", "").strip()
    size = int(size_text) if size_text.isdigit() else (26 if version == 4 else 122)
    lo, hi = (20, 32) if version == 4 else (116, 128)
    if (size_text and not size_text.isdigit()) or not lo <= size <= hi or size < net.prefixlen:
        raise StartupError(f"Invalid {var}_BLOCK_SIZE {size_text!r}: must be between {lo} and {hi}")
    spec: dict[str, Any] = {
        "cidr": str(net),
        "vxlanMode": _encap(env.get(f"{var}_VXLAN"), f"{var}_VXLAN"),
        "ipipMode": _encap(env.get(f"{var}_IPIP"), f"{var}_IPIP") if version == 4 else "Never",
        "natOutgoing": _truthy(env.get(f"{var}_NAT_OUTGOING"), version == 4),
        "blockSize": size,
        "nodeSelector": env.get(f"{var}_NODE_SELECTOR") or "all()",
        "allowedUses": ["Workload", "Tunnel"],
        "assignmentMode": "Automatic",
    }
    if _truthy(env.get(f"{var}_DISABLE_BGP_EXPORT"), False):
        spec["disableBGPExport"] = True
    return _new_doc("IPPool", name, spec)


async def ensure_default_pools(ds: Datastore, env: Mapping[str, str], local_addresses: list[str]) -> None:
    kvs, _ = await ds.list(kind_prefix("IPPool"))
    versions = set()
    for kv in kvs:
        cidr = (json.loads(kv.value).get("spec") or {}).get("cidr")
        if cidr:
            versions.add(ipaddress.ip_network(cidr, strict=False).version)
    ipv6_ok = Path("/proc/net/if_inet6").exists()
    for doc in default_pool_docs(env, local_addresses, 4 in versions, 6 in versions, ipv6_ok):
        try:
            await ds.create(resource_key("IPPool", doc["metadata"]["name"]), _dump(doc))
            log.info("Created default IP pool %s (%s)", doc["metadata"]["name"], doc["spec"]["cidr"])
        except AlreadyExists:
            pass


async def ensure_cluster_defaults(ds: Datastore, env: Mapping[str, str], node: str) -> None:
    """ClusterInformation ``default`` and the default FelixConfigurations, created if missing."""
    cluster_type = env.get("CLUSTER_TYPE", "")
    key = resource_key("ClusterInformation", "default")
    doc, revision = await _get_json(ds, key)
    wanted = {"calicoVersion": calico_version(), "datastoreReady": True}
    if cluster_type:
        wanted["clusterType"] = cluster_type
    if doc is None:
        try:
            await ds.create(key, _dump(_new_doc("ClusterInformation", "default",
                                                {"clusterGUID": uuid.uuid4().hex, **wanted})))
        except AlreadyExists:
            pass
    else:
        spec = dict(doc.get("spec") or {})
        merged = {"clusterGUID": spec.get("clusterGUID") or uuid.uuid4().hex, **spec,
                  "calicoVersion": wanted["calicoVersion"]}
        if "datastoreReady" not in spec:
            merged["datastoreReady"] = True
        if cluster_type:
            merged["clusterType"] = cluster_type
        if merged != spec:
            doc["spec"] = merged
            await ds.update(key, _dump(doc), revision)
    defaults: tuple[tuple[str, dict[str, Any]], ...] = (
        ("default", {"reportingInterval": "0s", "logSeverityScreen": "Info"}),
        (f"node.{node}", {"defaultEndpointToHostAction": "Return"}))
    for name, felix_spec in defaults:
        try:
            await ds.create(resource_key("FelixConfiguration", name),
                            _dump(_new_doc("FelixConfiguration", name, felix_spec)))
        except AlreadyExists:
            pass


def write_nodename(paths: NodePaths, name: str) -> None:
    paths.nodename_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = paths.nodename_file.with_suffix(".tmp")
    tmp.write_text(name)
    os.replace(tmp, paths.nodename_file)


async def run_startup(ds: Datastore, env: Mapping[str, str], paths: NodePaths) -> NodeIdentity:
    name = determine_node_name(env, paths)
    log.info("Starting calico-node for node %s", name)
    cache: list[list[autodetect.Interface]] = []

    def interfaces() -> list[autodetect.Interface]:
        if not cache:
            cache.append(autodetect.local_interfaces())
        return cache[0]

    identity = await configure_node(ds, env, name, interfaces)
    local = [a for i in interfaces() for a in i.addresses]
    await ensure_default_pools(ds, env, local)
    await ensure_cluster_defaults(ds, env, name)
    write_nodename(paths, name)
    return identity

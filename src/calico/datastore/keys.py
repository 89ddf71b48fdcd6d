"""Pure mapping between resources / IPAM objects and Calico's etcd v3 keys."""

from __future__ import annotations

import ipaddress

from calico.api.kinds import BY_KIND, BY_PLURAL, KindInfo

RESOURCE_ROOT = "/calico/resources/v3/projectcalico.org/"
IPAM_ROOT = "/calico/ipam/v2/"
IPAM_CONFIG_KEY = IPAM_ROOT + "config"
FELIX_STATUS_ROOT = "/calico/felix/v2/"


def kind_prefix(kind: str, namespace: str | None = None) -> str:
    """Prefix listing every resource of a kind (optionally one namespace of a namespaced kind)."""
    info = BY_KIND[kind]
    prefix = f"{RESOURCE_ROOT}{info.plural}/"
    if info.namespaced and namespace:
        prefix += f"{namespace}/"
    return prefix


def resource_key(kind: str, name: str, namespace: str | None = None) -> str:
    info = BY_KIND[kind]
    if info.namespaced:
        if not namespace:
            raise ValueError(f"{kind} is namespaced: a namespace is required")
        return f"{RESOURCE_ROOT}{info.plural}/{namespace}/{name}"
    return f"{RESOURCE_ROOT}{info.plural}/{name}"


def parse_resource_key(key: str) -> tuple[KindInfo, str | None, str] | None:
    """(kind info, namespace, name) for a resource key, or None if it is not one."""
    if not key.startswith(RESOURCE_ROOT):
        return None
    parts = key[len(RESOURCE_ROOT):].split("/")
    info = BY_PLURAL.get(parts[0])
    if info is None:
        return None
    if info.namespaced and len(parts) == 3:
        return info, parts[1], parts[2]
    if not info.namespaced and len(parts) == 2:
        return info, None, parts[1]
    return None


def _cidr_segment(cidr: str) -> str:
    return cidr.replace("/", "-")


def _family(cidr: str) -> str:
    return f"ipv{ipaddress.ip_network(cidr, strict=False).version}"


def block_key(cidr: str) -> str:
    return f"{IPAM_ROOT}assignment/{_family(cidr)}/block/{_cidr_segment(cidr)}"


def block_prefix(version: int) -> str:
    return f"{IPAM_ROOT}assignment/ipv{version}/block/"


def parse_block_key(key: str) -> str | None:
    """The block CIDR a block key names, or None."""
    if "/block/" not in key or not key.startswith(IPAM_ROOT + "assignment/"):
        return None
    seg = key.rsplit("/", 1)[1]
    addr, _, length = seg.rpartition("-")
    return f"{addr}/{length}"


def affinity_key(host: str, cidr: str) -> str:
    return f"{IPAM_ROOT}host/{host}/{_family(cidr)}/block/{_cidr_segment(cidr)}"


def affinity_prefix(host: str | None = None, version: int | None = None) -> str:
    if host is None:
        return f"{IPAM_ROOT}host/"
    if version is None:
        return f"{IPAM_ROOT}host/{host}/"
    return f"{IPAM_ROOT}host/{host}/ipv{version}/block/"


def parse_affinity_key(key: str) -> tuple[str, str] | None:
    """(host, block CIDR) for an affinity key, or None."""
    prefix = IPAM_ROOT + "host/"
    if not key.startswith(prefix):
        return None
    parts = key[len(prefix):].split("/")
    if len(parts) != 4 or parts[2] != "block":
        return None
    addr, _, length = parts[3].rpartition("-")
    return parts[0], f"{addr}/{length}"


def handle_key(handle_id: str) -> str:
    return f"{IPAM_ROOT}handle/{handle_id}"


HANDLE_PREFIX = IPAM_ROOT + "handle/"

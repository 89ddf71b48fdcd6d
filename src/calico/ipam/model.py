"""The stored shapes IPAM reads and writes besides blocks: pools, reservations, config, handles.

A small private parser of the few IPPool / IPReservation / Node fields IPAM needs, so IPAM does
not depend on the full API models. JSON layouts follow Calico's etcd v3 layout (calico-api.md
§1.16, §4.1, §4.2).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from calico.common import jsonlite as json
from calico.common.record import field, record
from calico.ipam.block import IPAddress, IPNetwork, block_size_default

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

USE_WORKLOAD = "Workload"
USE_TUNNEL = "Tunnel"
USE_LOADBALANCER = "LoadBalancer"
DEFAULT_MAX_BLOCKS = 20  # Calico's safety cap when maxBlocksPerHost is 0


@record
class Pool:
    name: str
    cidr: IPNetwork
    block_size: int
    disabled: bool = False
    node_selector: str = "all()"
    allowed_uses: tuple[str, ...] = (USE_WORKLOAD, USE_TUNNEL)
    assignment_mode: str = "Automatic"
    nat_outgoing: bool = False
    ipip_mode: str = "Never"
    vxlan_mode: str = "Never"

    @property
    def version(self) -> int:
        return self.cidr.version

    @classmethod
    def from_resource(cls, doc: Mapping[str, Any]) -> Pool:
        spec = doc.get("spec") or {}
        net = ipaddress.ip_network(spec["cidr"], strict=False)
        return cls(
            name=(doc.get("metadata") or {}).get("name", str(net)),
            cidr=net,
            block_size=int(spec.get("blockSize") or block_size_default(net.version)),
            disabled=bool(spec.get("disabled", False)),
            node_selector=spec.get("nodeSelector") or "all()",
            allowed_uses=tuple(spec.get("allowedUses") or (USE_WORKLOAD, USE_TUNNEL)),
            assignment_mode=spec.get("assignmentMode") or "Automatic",
            nat_outgoing=bool(spec.get("natOutgoing", False)),
            ipip_mode=spec.get("ipipMode") or "Never",
            vxlan_mode=spec.get("vxlanMode") or "Never",
        )


@record
class Reservation:
    name: str
    nets: tuple[IPNetwork, ...]

    @classmethod
    def from_resource(cls, doc: Mapping[str, Any]) -> Reservation:
        spec = doc.get("spec") or {}
        nets = tuple(ipaddress.ip_network(c, strict=False) for c in spec.get("reservedCIDRs") or [])
        return cls(name=(doc.get("metadata") or {}).get("name", ""), nets=nets)


def reserved_by(reservations: tuple[Reservation, ...], ip: IPAddress) -> str | None:
    for r in reservations:
        for net in r.nets:
            if net.version == ip.version and ip in net:
                return r.name
    return None


def fully_reserved(reservations: tuple[Reservation, ...], block: IPNetwork) -> bool:
    return any(net.version == block.version and block.subnet_of(net)  # type: ignore[arg-type]
               for r in reservations for net in r.nets)


@record
class IPAMConfig:
    """IPAMConfiguration `default`, stored at /calico/ipam/v2/config."""

    strict_affinity: bool = False
    auto_allocate_blocks: bool = True
    max_blocks_per_host: int = 0

    @classmethod
    def from_json(cls, text: str | None) -> IPAMConfig:
        if not text:
            return cls()
        doc = json.loads(text)
        return cls(strict_affinity=bool(doc.get("strict_affinity", False)),
                   auto_allocate_blocks=bool(doc.get("auto_allocate_blocks", False)),
                   max_blocks_per_host=int(doc.get("maxBlocksPerHost") or 0))

    def to_json(self) -> str:
        doc: dict[str, Any] = {}
        if self.strict_affinity:
            doc["strict_affinity"] = True
        if self.auto_allocate_blocks:
            doc["auto_allocate_blocks"] = True
        if self.max_blocks_per_host:
            doc["maxBlocksPerHost"] = self.max_blocks_per_host
        return json.dumps(doc, separators=(",", ":"))

    @property
    def block_limit(self) -> int:
        return self.max_blocks_per_host or DEFAULT_MAX_BLOCKS


@record
class Handle:
    """IPAMHandle: how many addresses an owner holds in each block (a reference count)."""

    handle_id: str
    block: Mapping[str, int] = field(default_factory=dict)
    deleted: bool = False

    @classmethod
    def from_json(cls, handle_id: str, text: str) -> Handle:
        doc = json.loads(text) if text else {}
        return cls(handle_id, {str(k): int(v) for k, v in (doc.get("block") or {}).items()},
                   bool(doc.get("deleted", False)))

    def to_json(self) -> str:
        return json.dumps({"block": dict(self.block), "deleted": self.deleted}, separators=(",", ":"))

    def add(self, cidr: str, n: int) -> Handle:
        counts = dict(self.block)
        counts[cidr] = counts.get(cidr, 0) + n
        if counts[cidr] <= 0:
            del counts[cidr]
        return Handle(self.handle_id, counts, self.deleted)

    def empty(self) -> bool:
        return not self.block


AFFINITY_CONFIRMED = json.dumps({"state": "confirmed", "deleted": False}, separators=(",", ":"))


def affinity_state(text: str) -> str:
    """The state of an affinity value ('' legacy values count as confirmed)."""
    if not text:
        return "confirmed"
    try:
        return str(json.loads(text).get("state") or "confirmed")
    except (ValueError, AttributeError):
        return "confirmed"


def selector_matches(selector: str, labels: Mapping[str, str]) -> bool:
    """Evaluate a pool nodeSelector against a node's labels (``all()`` needs no parser)."""
    text = selector.strip()
    if text in ("", "all()"):
        return True
    from calico.selector import parse_selector

    return bool(parse_selector(text).evaluate(dict(labels)))


def node_labels(doc: Mapping[str, Any] | None, name: str) -> dict[str, str]:
    """Labels a nodeSelector sees: the Node's labels plus projectcalico.org/name."""
    labels = dict(((doc or {}).get("metadata") or {}).get("labels") or {})
    labels.setdefault("projectcalico.org/name", name)
    return labels

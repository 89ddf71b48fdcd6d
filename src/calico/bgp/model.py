"""Typed values the BGP agent computes with: inputs read from the datastore and the peering plan.

Pure: frozen dataclasses only. ``inputs.py`` builds the input values from Calico's JSON,
``compute.py`` turns them into a :class:`BirdConfig`, ``render.py`` prints that as BIRD 2 text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_AS = 64512
DEFAULT_PORT = 179


class PeerKind(StrEnum):
    """The protocol-name prefix; ``calicoctl node status`` derives PEER TYPE from it."""

    MESH = "Mesh"
    GLOBAL = "Global"
    NODE = "Node"


PEER_TYPE_TEXT = {
    PeerKind.MESH: "node-to-node mesh",
    PeerKind.GLOBAL: "global",
    PeerKind.NODE: "node specific",
}


# ---------------------------------------------------------------------------------------------
# Inputs (what the datastore says)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """The BGP-relevant part of a Node resource."""

    name: str
    ipv4: str | None = None  # "10.0.0.1/24" (host address with subnet length) or bare IP
    ipv6: str | None = None
    asn: int | None = None
    rr_cluster_id: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SecretRef:
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class PeerSpec:
    """A BGPPeer resource (already validated field by field)."""

    name: str
    node: str | None = None
    node_selector: str | None = None
    peer_ip: str | None = None  # bare IP
    peer_port: int | None = None
    as_number: int | None = None
    peer_selector: str | None = None
    keep_original_next_hop: bool = False
    next_hop_mode: str | None = None  # Auto | Self | Keep
    password: SecretRef | None = None
    source_address: str = "UseNodeIP"  # UseNodeIP | None
    max_restart_time: int | None = None  # seconds
    num_allowed_local_as: int | None = None
    ttl_security: int | None = None
    reachable_by: str | None = None
    filters: tuple[str, ...] = ()
    local_as_number: int | None = None
    keepalive_time: int | None = None
    reverse_peering: str = "Auto"  # Auto | Manual

    @property
    def is_global(self) -> bool:
        return not self.node and not self.node_selector


@dataclass(frozen=True, slots=True)
class Community:
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class PrefixAdvertisement:
    cidr: str
    communities: tuple[str, ...]  # names or literal values


@dataclass(frozen=True, slots=True)
class BGPConfigSpec:
    """A BGPConfiguration resource (``default`` or ``node.<name>``); None means unset."""

    name: str
    node_to_node_mesh: bool | None = None
    asn: int | None = None
    log_severity: str | None = None
    listen_port: int | None = None
    bind_mode: str | None = None
    ignored_interfaces: tuple[str, ...] = ()
    service_cluster_ips: tuple[str, ...] = ()
    service_external_ips: tuple[str, ...] = ()
    service_lb_ips: tuple[str, ...] = ()
    communities: tuple[Community, ...] = ()
    prefix_advertisements: tuple[PrefixAdvertisement, ...] = ()
    node_mesh_password: SecretRef | None = None
    node_mesh_max_restart_time: int | None = None


@dataclass(frozen=True, slots=True)
class PoolInfo:
    cidr: str
    disabled: bool = False
    disable_bgp_export: bool = False
    ipip_mode: str = "Never"
    vxlan_mode: str = "Never"


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A block affine to this node (from its affinity key)."""

    cidr: str
    state: str = "confirmed"  # confirmed | pending | pendingDeletion


@dataclass(frozen=True, slots=True)
class FilterRule:
    action: str  # Accept | Reject
    cidr: str | None = None
    match_operator: str | None = None  # Equal | NotEqual | In | NotIn
    prefix_min: int | None = None
    prefix_max: int | None = None
    source: str | None = None  # RemotePeers
    interface: str | None = None


@dataclass(frozen=True, slots=True)
class FilterSpec:
    name: str
    export_v4: tuple[FilterRule, ...] = ()
    import_v4: tuple[FilterRule, ...] = ()
    export_v6: tuple[FilterRule, ...] = ()
    import_v6: tuple[FilterRule, ...] = ()


@dataclass(frozen=True, slots=True)
class Tuning:
    """Timer knobs (env ``CALICO_BGP_*``); None keeps BIRD's/Calico's default."""

    hold_time: int | None = None
    keepalive_time: int | None = None
    connect_delay_time: int = 2
    connect_retry_time: int = 5
    error_wait_min: int = 5
    error_wait_max: int = 30
    kernel_scan_time: int = 2
    graceful_restart_wait: int | None = None  # BIRD's recovery wait after a -R start (default 240 s)


@dataclass(frozen=True, slots=True)
class ClusterState:
    """Everything one node's BGP configuration depends on."""

    node_name: str
    nodes: Mapping[str, NodeInfo]
    peers: tuple[PeerSpec, ...] = ()
    configs: Mapping[str, BGPConfigSpec] = field(default_factory=dict)
    pools: tuple[PoolInfo, ...] = ()
    blocks: tuple[BlockInfo, ...] = ()
    filters: Mapping[str, FilterSpec] = field(default_factory=dict)
    secrets: Mapping[tuple[str, str], str] = field(default_factory=dict)
    router_id_env: str | None = None  # CALICO_ROUTER_ID
    advertise_cluster_ips_env: str | None = None  # CALICO_ADVERTISE_CLUSTER_IPS
    tuning: Tuning = field(default_factory=Tuning)


# ---------------------------------------------------------------------------------------------
# Outputs (the plan the renderer prints)


@dataclass(frozen=True, slots=True)
class Peering:
    """One BIRD ``protocol bgp``."""

    kind: PeerKind
    version: int
    ip: str
    port: int | None
    asn: int
    local_asn: int
    source_address: str | None
    passive: bool = False
    rr_client: bool = False
    rr_cluster_id: str | None = None
    password: str | None = None
    next_hop: str | None = None  # "self" | "keep" | None
    allow_local_as: int | None = None
    restart_time: int | None = None
    keepalive_time: int | None = None
    ttl_security: int | None = None
    filters: tuple[str, ...] = ()  # BGPFilter names, in order
    reachable_by: str | None = None

    @property
    def name(self) -> str:
        name = f"{self.kind.value}_{self.ip.replace('.', '_').replace(':', '_')}"
        if self.port is not None and self.port != DEFAULT_PORT:
            name += f"_port_{self.port}"
        return name

    @property
    def internal(self) -> bool:
        return self.asn == self.local_asn


@dataclass(frozen=True, slots=True)
class CommunityRule:
    cidr: str
    standard: tuple[tuple[int, int], ...]
    large: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True, slots=True)
class FamilyPlan:
    """Everything for one address family."""

    version: int
    node_ip: str | None
    blackholes: tuple[str, ...]  # affine blocks
    aggregate_blocks: tuple[str, ...]  # confirmed blocks: export exact, suppress more-specifics
    static_cidrs: tuple[str, ...]  # service ranges: blackhole + export
    reject_cidrs: tuple[str, ...]  # service ranges: never install from peers
    no_export_pools: tuple[str, ...]
    export_pools: tuple[str, ...]
    kernel_reject_pools: tuple[str, ...]  # encapsulated pools: Felix programs those routes
    communities: tuple[CommunityRule, ...]
    peers: tuple[Peering, ...]
    filters: tuple[FilterSpec, ...]  # filters referenced by this family's peers


@dataclass(frozen=True, slots=True)
class BirdConfig:
    node_name: str
    router_id: str
    asn: int
    is_route_reflector: bool
    listen_address: str | None
    listen_port: int | None
    debug: str  # "all" | "states" | "none"
    ignored_interfaces: tuple[str, ...]
    tuning: Tuning
    v4: FamilyPlan
    v6: FamilyPlan
    warnings: tuple[str, ...] = ()

"""The calc graph -> dataplane contract, modelled on Felix's protobuf messages (felixbackend.proto).

Every message is a frozen, slotted dataclass holding only tuples, frozensets and scalars, so the
calc graph can hand the same object to several managers and tests can compare flushes by ``==``.
The calc graph (``calico.felix.calc``) produces them; the dataplane managers consume them; the
rule renderer (``calico.felix.rules.render``) turns the policy/endpoint parts into iptables chains.

Conventions shared by producer and consumers:

* IP set IDs are family-neutral; an ``IPSetUpdate`` may carry IPv4 and IPv6 members and each
  family's ipset manager keeps only its own (``members_for_version``).  Kernel names come from
  ``RuleRenderer.ipset_name(set_id, ip_version)``.
* ``hash:net`` members are CIDRs (``10.0.0.1/32``); ``hash:ip,port`` members are
  ``<ip>,<proto>:<port>`` (``10.0.0.5,tcp:8080``) exactly as ``ipset restore`` wants them.
* The fixed sets ``all-ipam-pools``, ``masq-ipam-pools``, ``all-hosts-net`` and ``all-vxlan-net``
  are produced by the calc graph too (always present after the first flush, maybe empty), so the
  static chains that reference them are always valid.
"""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# ---------------------------------------------------------------------------------------------
# IP set IDs (shared by the calc graph, which fills the sets, and the renderer, which names them)

IPSET_HASH_NET = "hash:net"
IPSET_HASH_IP = "hash:ip"
IPSET_HASH_IP_PORT = "hash:ip,port"

ALL_POOLS_SET_ID = "all-ipam-pools"
MASQ_POOLS_SET_ID = "masq-ipam-pools"
ALL_HOSTS_SET_ID = "all-hosts-net"
ALL_VXLAN_SET_ID = "all-vxlan-net"
FIXED_SET_IDS = (ALL_POOLS_SET_ID, MASQ_POOLS_SET_ID, ALL_HOSTS_SET_ID, ALL_VXLAN_SET_ID)


def _b64hash(text: str) -> str:
    digest = hashlib.sha224(text.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def selector_set_id(canonical_selector: str) -> str:
    """ID of the hash:net set holding the IPs of everything a (canonical) selector matches."""
    return "s:" + _b64hash("s:" + canonical_selector)


def named_port_set_id(canonical_selector: str, protocol: str, port_name: str) -> str:
    """ID of the hash:ip,port set for a named port on the endpoints a selector matches."""
    return "n:" + _b64hash(f"n:{canonical_selector},{protocol.lower()}:{port_name}")


def net_set_id(nets: Iterable[str]) -> str:
    """ID of the hash:net set for a rule's list of CIDRs (order and duplicates do not matter).

    The calc graph creates such a set for every rule nets/notNets list with two or more CIDRs;
    the renderer uses ``-s``/``-d`` for a list with a single CIDR of its family.
    """
    return "c:" + _b64hash("c:" + ",".join(sorted(set(nets))))


def members_for_version(members: Iterable[str], ip_version: int) -> frozenset[str]:
    """The members of a family-neutral set that belong in the ``ip_version`` kernel set."""
    if ip_version == 6:
        return frozenset(m for m in members if ":" in m.split(",", 1)[0])
    return frozenset(m for m in members if ":" not in m.split(",", 1)[0])


# ---------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True, slots=True)
class PortRange:
    """Inclusive port range; a single port has ``first == last``."""

    first: int
    last: int

    def render(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}:{self.last}"


@dataclass(frozen=True, slots=True)
class ParsedRule:
    """One Calico rule with selectors, named ports and multi-CIDR lists already replaced by IP set
    IDs (Felix's ``proto.Rule``).  ``action`` is ``allow``/``deny``/``pass``/``log`` (lower case).
    ``protocol`` is a lower-case name (``tcp``, ``udp``, ``icmp``, ``icmpv6``, ``sctp``,
    ``udplite``) or a number as a string; ``ip_version`` 0 means both families."""

    action: str
    ip_version: int = 0
    protocol: str = ""
    not_protocol: str = ""
    src_net: tuple[str, ...] = ()
    src_ports: tuple[PortRange, ...] = ()
    src_named_port_ip_set_ids: tuple[str, ...] = ()
    src_ip_set_ids: tuple[str, ...] = ()
    dst_net: tuple[str, ...] = ()
    dst_ports: tuple[PortRange, ...] = ()
    dst_named_port_ip_set_ids: tuple[str, ...] = ()
    dst_ip_set_ids: tuple[str, ...] = ()
    icmp_type: int | None = None
    icmp_code: int | None = None
    not_src_net: tuple[str, ...] = ()
    not_src_ports: tuple[PortRange, ...] = ()
    not_src_named_port_ip_set_ids: tuple[str, ...] = ()
    not_src_ip_set_ids: tuple[str, ...] = ()
    not_dst_net: tuple[str, ...] = ()
    not_dst_ports: tuple[PortRange, ...] = ()
    not_dst_named_port_ip_set_ids: tuple[str, ...] = ()
    not_dst_ip_set_ids: tuple[str, ...] = ()
    not_icmp_type: int | None = None
    not_icmp_code: int | None = None
    rule_id: str = ""
    log_prefix: str = ""  # overrides RenderConfig.log_prefix for a ``log`` rule when set

    def ip_set_ids(self) -> frozenset[str]:
        """Every IP set this rule references (including net sets), for refcounting."""
        ids: set[str] = set()
        for group in (self.src_named_port_ip_set_ids, self.src_ip_set_ids, self.dst_named_port_ip_set_ids,
                      self.dst_ip_set_ids, self.not_src_named_port_ip_set_ids, self.not_src_ip_set_ids,
                      self.not_dst_named_port_ip_set_ids, self.not_dst_ip_set_ids):
            ids.update(group)
        for nets in (self.src_net, self.dst_net, self.not_src_net, self.not_dst_net):
            if len(nets) > 1:
                ids.add(net_set_id(nets))
        return frozenset(ids)


# ---------------------------------------------------------------------------------------------
# Config and sync


@dataclass(frozen=True, slots=True)
class ConfigUpdate:
    """Felix parameters from the datastore, as strings keyed by Felix parameter name
    (``InterfacePrefix``, ``DefaultEndpointToHostAction``, ...).  ``config`` is the merge
    (per-node over global); the daemon layers env and config file on top.  Values use Felix's
    config-file syntax: booleans ``true``/``false``, durations in seconds (``90``), lists
    comma-joined, failsafe ports ``tcp:22,udp:68`` (``proto:net:port`` when a net is set)."""

    config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    global_config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    host_config: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class InSync:
    """The datastore snapshot has been fully processed; sent once, with the first flush after it."""


# ---------------------------------------------------------------------------------------------
# IP sets


@dataclass(frozen=True, slots=True)
class IPSetUpdate:
    """Full contents of a set (create or replace)."""

    id: str
    type: str  # IPSET_HASH_NET | IPSET_HASH_IP | IPSET_HASH_IP_PORT
    members: frozenset[str]


@dataclass(frozen=True, slots=True)
class IPSetDeltaUpdate:
    """Incremental change to a set previously sent in an IPSetUpdate."""

    id: str
    added: frozenset[str]
    removed: frozenset[str]


@dataclass(frozen=True, slots=True)
class IPSetRemove:
    id: str


# ---------------------------------------------------------------------------------------------
# Policies and profiles


@dataclass(frozen=True, slots=True, order=True)
class PolicyID:
    """A policy's identity.  ``namespace`` empty = GlobalNetworkPolicy."""

    tier: str
    name: str
    namespace: str = ""

    @property
    def kind_short(self) -> str:
        return "np" if self.namespace else "gnp"

    def chain_suffix(self) -> str:
        """``np/<ns>/<name>`` or ``gnp/<name>`` as in Felix's chain names."""
        if self.namespace:
            return f"np/{self.namespace}/{self.name}"
        return f"gnp/{self.name}"

    def display(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True, slots=True)
class ParsedPolicy:
    inbound_rules: tuple[ParsedRule, ...] = ()
    outbound_rules: tuple[ParsedRule, ...] = ()
    untracked: bool = False
    pre_dnat: bool = False
    apply_on_forward: bool = False
    original_selector: str = ""


@dataclass(frozen=True, slots=True)
class ActivePolicyUpdate:
    id: PolicyID
    policy: ParsedPolicy


@dataclass(frozen=True, slots=True)
class ActivePolicyRemove:
    id: PolicyID


@dataclass(frozen=True, slots=True, order=True)
class ProfileID:
    name: str


@dataclass(frozen=True, slots=True)
class ParsedProfile:
    inbound_rules: tuple[ParsedRule, ...] = ()
    outbound_rules: tuple[ParsedRule, ...] = ()


@dataclass(frozen=True, slots=True)
class ActiveProfileUpdate:
    id: ProfileID
    profile: ParsedProfile


@dataclass(frozen=True, slots=True)
class ActiveProfileRemove:
    id: ProfileID


# ---------------------------------------------------------------------------------------------
# Endpoints


@dataclass(frozen=True, slots=True)
class TierInfo:
    """Ordered policies of one tier that apply to an endpoint."""

    name: str
    ingress_policies: tuple[PolicyID, ...] = ()
    egress_policies: tuple[PolicyID, ...] = ()
    default_action: str = "Deny"  # "Deny" | "Pass"


@dataclass(frozen=True, slots=True)
class NatInfo:
    ext_ip: str
    int_ip: str


@dataclass(frozen=True, slots=True, order=True)
class WorkloadEndpointID:
    orchestrator: str
    workload: str
    endpoint: str
    namespace: str = ""


@dataclass(frozen=True, slots=True)
class WorkloadEndpointInfo:
    """``name`` is the host-side interface; nets are /32 and /128 CIDRs; ``state`` is ``active``
    (admin up) or ``inactive``."""

    state: str
    name: str
    mac: str = ""
    profile_ids: tuple[str, ...] = ()
    ipv4_nets: tuple[str, ...] = ()
    ipv6_nets: tuple[str, ...] = ()
    tiers: tuple[TierInfo, ...] = ()
    ipv4_nat: tuple[NatInfo, ...] = ()
    ipv6_nat: tuple[NatInfo, ...] = ()
    allow_spoofed_source_prefixes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkloadEndpointUpdate:
    id: WorkloadEndpointID
    endpoint: WorkloadEndpointInfo


@dataclass(frozen=True, slots=True)
class WorkloadEndpointRemove:
    id: WorkloadEndpointID


@dataclass(frozen=True, slots=True, order=True)
class HostEndpointID:
    endpoint_id: str  # the HostEndpoint resource name


@dataclass(frozen=True, slots=True)
class HostEndpointInfo:
    """``name`` is the interface (``*`` = all interfaces, empty = resolve by expected IPs)."""

    name: str
    expected_ipv4_addrs: tuple[str, ...] = ()
    expected_ipv6_addrs: tuple[str, ...] = ()
    profile_ids: tuple[str, ...] = ()
    tiers: tuple[TierInfo, ...] = ()
    untracked_tiers: tuple[TierInfo, ...] = ()
    pre_dnat_tiers: tuple[TierInfo, ...] = ()
    forward_tiers: tuple[TierInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class HostEndpointUpdate:
    id: HostEndpointID
    endpoint: HostEndpointInfo


@dataclass(frozen=True, slots=True)
class HostEndpointRemove:
    id: HostEndpointID


# ---------------------------------------------------------------------------------------------
# Hosts, pools, routes, VXLAN


@dataclass(frozen=True, slots=True)
class HostMetadataUpdate:
    """A Calico node's addresses (from the Node resource; bare IPs, no prefix length)."""

    hostname: str
    ipv4_addr: str = ""
    ipv6_addr: str = ""
    ipv4_subnet: str = ""  # the node's interface subnet (from bgp.ipv4Address), for same-subnet checks


@dataclass(frozen=True, slots=True)
class HostMetadataRemove:
    hostname: str


@dataclass(frozen=True, slots=True)
class IPAMPool:
    cidr: str
    masquerade: bool = False
    ipip_mode: str = "Never"  # Never | Always | CrossSubnet
    vxlan_mode: str = "Never"
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class IPAMPoolUpdate:
    id: str  # the CIDR with "/" replaced by "-", as Felix does
    pool: IPAMPool


@dataclass(frozen=True, slots=True)
class IPAMPoolRemove:
    id: str


class RouteType(enum.Flag):
    """What a route's destination is (bit flags as in Felix's proto.RouteType)."""

    NONE = 0
    CIDR_INFO = enum.auto()  # the CIDR is (within) an IP pool; carries pool info only
    REMOTE_WORKLOAD = enum.auto()  # an IPAM block affine to another node
    REMOTE_HOST = enum.auto()  # another node's IP
    LOCAL_WORKLOAD = enum.auto()  # an IPAM block affine to this node, or a local workload /32
    LOCAL_HOST = enum.auto()  # this node's IP
    REMOTE_TUNNEL = enum.auto()  # another node's tunnel address
    LOCAL_TUNNEL = enum.auto()  # this node's tunnel address


class IPPoolType(enum.Enum):
    NONE = "none"
    NO_ENCAP = "no-encap"
    VXLAN = "vxlan"
    IPIP = "ipip"


@dataclass(frozen=True, slots=True)
class TunnelType:
    ipip: bool = False
    vxlan: bool = False


@dataclass(frozen=True, slots=True)
class RouteUpdate:
    """Longest-prefix routing info for ``dst``.  For a remote block: ``dst_node``/``dst_node_ip``
    say where to send it; ``ip_pool_type`` says whether to encapsulate; ``same_subnet`` is true
    when the remote node shares this node's subnet (CrossSubnet modes skip encapsulation)."""

    types: RouteType
    dst: str
    ip_pool_type: IPPoolType = IPPoolType.NONE
    dst_node: str = ""
    dst_node_ip: str = ""
    nat_outgoing: bool = False
    local_workload: bool = False
    same_subnet: bool = False
    tunnel: TunnelType = TunnelType()


@dataclass(frozen=True, slots=True)
class RouteRemove:
    dst: str


@dataclass(frozen=True, slots=True)
class VXLANTunnelEndpointUpdate:
    """A node's VTEP: ``ipv4_addr`` is its vxlan.calico address, ``parent_device_ip`` its node IP."""

    node: str
    mac: str
    ipv4_addr: str
    parent_device_ip: str


@dataclass(frozen=True, slots=True)
class VXLANTunnelEndpointRemove:
    node: str


Message = (
    ConfigUpdate | InSync | IPSetUpdate | IPSetDeltaUpdate | IPSetRemove | ActivePolicyUpdate
    | ActivePolicyRemove | ActiveProfileUpdate | ActiveProfileRemove | WorkloadEndpointUpdate
    | WorkloadEndpointRemove | HostEndpointUpdate | HostEndpointRemove | HostMetadataUpdate
    | HostMetadataRemove | IPAMPoolUpdate | IPAMPoolRemove | RouteUpdate | RouteRemove
    | VXLANTunnelEndpointUpdate | VXLANTunnelEndpointRemove
)
"""Every message the calc graph emits."""

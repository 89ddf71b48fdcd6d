"""Who this node peers with, and what it advertises: Calico's confd peering rules, pure.

Follows the reference (bgp.md section 3): node-to-node mesh minus route reflectors, global
BGPPeers before node-specific ones (first peering per address and port wins), peerSelector
peerings with automatic reverse peerings, route-reflector client marking by cluster ID, and the
passive side chosen by comparing IP strings.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable, Mapping

from calico.bgp.model import (
    DEFAULT_AS,
    DEFAULT_PORT,
    BGPConfigSpec,
    BirdConfig,
    BlockInfo,
    ClusterState,
    CommunityRule,
    FamilyPlan,
    FilterSpec,
    NodeInfo,
    Peering,
    PeerKind,
    PeerSpec,
    PoolInfo,
)
from calico.selector import SelectorError, parse_selector


class ComputeError(Exception):
    """The node cannot get a BGP configuration (e.g. no router id can be chosen)."""


Matcher = Callable[[str, Mapping[str, str]], bool]


def selector_matcher() -> Matcher:
    """A selector evaluator that caches parsed selectors; bad selectors match nothing."""
    cache: dict[str, object] = {}

    def match(text: str, labels: Mapping[str, str]) -> bool:
        sel = cache.get(text)
        if sel is None:
            try:
                sel = parse_selector(text)
            except SelectorError:
                sel = False
            cache[text] = sel
        if sel is False:
            return False
        return bool(sel.evaluate(dict(labels)))  # type: ignore[attr-defined]

    return match


def node_ip(node: NodeInfo, version: int) -> str | None:
    """The node's bare BGP address of a family, or None."""
    raw = node.ipv4 if version == 4 else node.ipv6
    if not raw:
        return None
    try:
        return str(ipaddress.ip_interface(raw).ip)
    except ValueError:
        return None


def _global(state: ClusterState) -> BGPConfigSpec:
    return state.configs.get("default") or BGPConfigSpec(name="default")


def _node_cfg(state: ClusterState, node: str) -> BGPConfigSpec | None:
    return state.configs.get(f"node.{node}")


def effective_as(state: ClusterState, node: NodeInfo) -> int:
    if node.asn is not None:
        return node.asn
    return _global(state).asn or DEFAULT_AS


def listen_port(state: ClusterState, node_name: str) -> int | None:
    """Node-specific listenPort wins over the global one; None when neither is set."""
    node_cfg = _node_cfg(state, node_name)
    if node_cfg is not None and node_cfg.listen_port:
        return node_cfg.listen_port
    return _global(state).listen_port or None


def router_id(state: ClusterState, me: NodeInfo) -> str:
    env = (state.router_id_env or "").strip()
    if env == "hash":
        digest = hashlib.sha256(me.name.encode()).digest()
        return str(ipaddress.IPv4Address(digest[:4]))
    if env:
        try:
            return str(ipaddress.IPv4Address(env))
        except ValueError as exc:
            raise ComputeError(f"CALICO_ROUTER_ID {env!r} is not an IPv4 address or 'hash'") from exc
    ip4 = node_ip(me, 4)
    if ip4 is None:
        raise ComputeError(
            f"node {me.name} has no IPv4 address: set CALICO_ROUTER_ID (an IPv4 value or 'hash')")
    return ip4


def _passive(my_ip: str | None, peer_ip: str) -> bool:
    """Only the side with the greater IP string connects (avoids GR races)."""
    return my_ip is not None and peer_ip > my_ip


class _PeerSet:
    """Keeps the first peering per (ip, port): global before node-specific, as confd does."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, int], Peering] = {}

    def add(self, peering: Peering) -> None:
        key = (peering.ip, peering.port or DEFAULT_PORT)
        self.items.setdefault(key, peering)


def _selects_me(spec: PeerSpec, me: NodeInfo, match: Matcher) -> bool:
    if spec.is_global:
        return True
    if spec.node:
        return spec.node == me.name
    return bool(spec.node_selector) and match(spec.node_selector or "", me.labels)


def _local_nodes_of(spec: PeerSpec, state: ClusterState, match: Matcher) -> list[NodeInfo]:
    """Nodes on which the BGPPeer applies (the 'local' side)."""
    return [n for n in _sorted_nodes(state) if _selects_me(spec, n, match)]


def _sorted_nodes(state: ClusterState) -> list[NodeInfo]:
    return [state.nodes[k] for k in sorted(state.nodes)]


def _node_by_ip(state: ClusterState, ip: str, version: int) -> NodeInfo | None:
    for node in _sorted_nodes(state):
        if node_ip(node, version) == ip:
            return node
    return None


class _Planner:
    """Builds one family's peerings for ``me``."""

    def __init__(self, state: ClusterState, me: NodeInfo, version: int, match: Matcher) -> None:
        self.state = state
        self.me = me
        self.version = version
        self.match = match
        self.my_ip = node_ip(me, version)
        self.my_as = effective_as(state, me)
        self.glob = _global(state)

    def peering(self, kind: PeerKind, ip: str, port: int | None, asn: int, spec: PeerSpec | None,
                remote: NodeInfo | None) -> Peering:
        local_as = spec.local_as_number if spec and spec.local_as_number else self.my_as
        internal = asn == local_as
        rr_client = False
        cluster_id = self.me.rr_cluster_id
        if cluster_id and internal:
            remote_cluster = remote.rr_cluster_id if remote else None
            rr_client = remote_cluster != cluster_id
        next_hop: str | None = None
        password: str | None = None
        restart: int | None = None
        if spec is None:  # mesh
            if self.glob.node_mesh_password:
                ref = self.glob.node_mesh_password
                password = self.state.secrets.get((ref.name, ref.key))
            restart = self.glob.node_mesh_max_restart_time
        else:
            mode = (spec.next_hop_mode or "").lower()
            if mode == "self":
                next_hop = "self"
            elif mode == "keep" or (spec.keep_original_next_hop and not internal):
                next_hop = "keep"
            if spec.password:
                password = self.state.secrets.get((spec.password.name, spec.password.key))
            restart = spec.max_restart_time
        use_source = spec is None or spec.source_address != "None"
        return Peering(
            kind=kind, version=self.version, ip=ip, port=port, asn=asn, local_asn=local_as,
            source_address=self.my_ip if use_source else None,
            passive=remote is not None and _passive(self.my_ip, ip),
            rr_client=rr_client, rr_cluster_id=cluster_id if rr_client else None,
            password=password, next_hop=next_hop,
            allow_local_as=spec.num_allowed_local_as if spec else None,
            restart_time=restart,
            keepalive_time=spec.keepalive_time if spec else None,
            ttl_security=spec.ttl_security if spec else None,
            filters=tuple(f for f in (spec.filters if spec else ()) if f in self.state.filters),
            reachable_by=spec.reachable_by if spec else None,
        )

    def mesh(self, out: _PeerSet) -> None:
        enabled = self.glob.node_to_node_mesh is not False
        if not enabled or self.me.rr_cluster_id or self.my_ip is None:
            return
        for node in _sorted_nodes(self.state):
            ip = node_ip(node, self.version)
            if node.name == self.me.name or node.rr_cluster_id or ip is None:
                continue
            port = listen_port(self.state, node.name)
            out.add(self.peering(PeerKind.MESH, ip, port, effective_as(self.state, node), None, node))

    def explicit(self, out: _PeerSet, global_pass: bool) -> None:
        if self.my_ip is None:
            return
        kind = PeerKind.GLOBAL if global_pass else PeerKind.NODE
        for spec in sorted(self.state.peers, key=lambda p: p.name):
            if spec.is_global != global_pass:
                continue
            if _selects_me(spec, self.me, self.match):
                for ip, port, asn, remote in self._remotes(spec):
                    out.add(self.peering(kind, ip, port, asn, spec, remote))
            if spec.reverse_peering != "Manual":
                for ip, port, asn, remote in self._reverse_remotes(spec):
                    out.add(self.peering(kind, ip, port, asn, spec, remote))

    def _remotes(self, spec: PeerSpec) -> Iterable[tuple[str, int | None, int, NodeInfo | None]]:
        if spec.peer_ip:
            if ipaddress.ip_address(spec.peer_ip).version != self.version or spec.as_number is None:
                return
            if spec.peer_ip == self.my_ip:
                return
            remote = _node_by_ip(self.state, spec.peer_ip, self.version)
            port = spec.peer_port
            if port is None and remote is not None:
                port = listen_port(self.state, remote.name)
            yield spec.peer_ip, port, spec.as_number, remote
        elif spec.peer_selector:
            for node in _sorted_nodes(self.state):
                ip = node_ip(node, self.version)
                if node.name == self.me.name or ip is None:
                    continue
                if self.match(spec.peer_selector, node.labels):
                    yield ip, listen_port(self.state, node.name), effective_as(self.state, node), node

    def _reverse_remotes(self, spec: PeerSpec) -> Iterable[tuple[str, int | None, int, NodeInfo | None]]:
        """Mirror peerings: I am the remote side of a BGPPeer that applies to other nodes."""
        if spec.peer_selector:
            if not self.match(spec.peer_selector, self.me.labels):
                return
        elif spec.peer_ip:
            if spec.peer_ip != self.my_ip or spec.as_number != self.my_as:
                return
            if spec.peer_port is not None and spec.peer_port != (
                    listen_port(self.state, self.me.name) or DEFAULT_PORT):
                return
        else:
            return
        for node in _local_nodes_of(spec, self.state, self.match):
            ip = node_ip(node, self.version)
            if node.name == self.me.name or ip is None:
                continue
            yield ip, listen_port(self.state, node.name), effective_as(self.state, node), node


def _service_cidrs(state: ClusterState, version: int) -> tuple[str, ...]:
    glob = _global(state)
    cluster = glob.service_cluster_ips
    if state.advertise_cluster_ips_env:
        cluster = tuple(c.strip() for c in state.advertise_cluster_ips_env.split(",") if c.strip())
    out: list[str] = []
    for cidr in (*cluster, *glob.service_external_ips, *glob.service_lb_ips):
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == version and net.prefixlen < net.max_prefixlen and str(net) not in out:
            out.append(str(net))
    return tuple(out)


def _community_value(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(":"))


def _communities(state: ClusterState, version: int) -> tuple[CommunityRule, ...]:
    glob = _global(state)
    node_cfg = _node_cfg(state, state.node_name)
    adverts = glob.prefix_advertisements
    if node_cfg is not None and node_cfg.prefix_advertisements:
        adverts = node_cfg.prefix_advertisements
    named = {c.name: c.value for c in glob.communities}
    if node_cfg is not None:
        named.update({c.name: c.value for c in node_cfg.communities})
    rules: list[CommunityRule] = []
    for adv in adverts:
        net = ipaddress.ip_network(adv.cidr, strict=False)
        if net.version != version:
            continue
        std: list[tuple[int, int]] = []
        large: list[tuple[int, int, int]] = []
        for ref in adv.communities:
            parts = _community_value(named.get(ref, ref))
            if len(parts) == 2:
                std.append((parts[0], parts[1]))
            elif len(parts) == 3:
                large.append((parts[0], parts[1], parts[2]))
        rules.append(CommunityRule(str(net), tuple(std), tuple(large)))
    return tuple(rules)


def _pools(pools: Iterable[PoolInfo], version: int) -> list[PoolInfo]:
    return [p for p in pools if ipaddress.ip_network(p.cidr, strict=False).version == version]


def _family(state: ClusterState, me: NodeInfo, version: int, match: Matcher) -> FamilyPlan:
    planner = _Planner(state, me, version, match)
    peers = _PeerSet()
    planner.mesh(peers)
    planner.explicit(peers, global_pass=True)
    planner.explicit(peers, global_pass=False)
    blocks = [b for b in state.blocks if ipaddress.ip_network(b.cidr, strict=False).version == version]
    pools = _pools(state.pools, version)
    services = _service_cidrs(state, version)
    peer_list = tuple(peers.items.values()) if planner.my_ip else ()
    used_filters: list[FilterSpec] = []
    for peering in peer_list:
        for fname in peering.filters:
            spec = state.filters[fname]
            if spec not in used_filters:
                used_filters.append(spec)
    return FamilyPlan(
        version=version,
        node_ip=planner.my_ip,
        blackholes=tuple(b.cidr for b in _real_blocks(blocks)),
        aggregate_blocks=tuple(b.cidr for b in _real_blocks(blocks) if b.state in ("", "confirmed")),
        static_cidrs=services,
        reject_cidrs=services,
        no_export_pools=tuple(p.cidr for p in pools if p.disable_bgp_export),
        export_pools=tuple(p.cidr for p in pools if not p.disabled and not p.disable_bgp_export),
        kernel_reject_pools=tuple(
            p.cidr for p in pools if p.vxlan_mode != "Never" or p.ipip_mode != "Never"),
        communities=_communities(state, version),
        peers=peer_list,
        filters=tuple(used_filters),
    )


def _real_blocks(blocks: Iterable[BlockInfo]) -> list[BlockInfo]:
    """Affine blocks worth a blackhole: not /32 (/128), not being deleted."""
    out = []
    for block in sorted(blocks, key=lambda b: ipaddress.ip_network(b.cidr, strict=False)):
        net = ipaddress.ip_network(block.cidr, strict=False)
        if net.prefixlen < net.max_prefixlen:
            out.append(block)
    return out


_DEBUG = {"debug": "all", "none": "none"}


def compute(state: ClusterState, match: Matcher | None = None) -> BirdConfig:
    """The whole BIRD plan for ``state.node_name``. Raises ComputeError if the node is unknown."""
    me = state.nodes.get(state.node_name)
    if me is None:
        raise ComputeError(f"node {state.node_name} has no Node resource yet")
    matcher = match or selector_matcher()
    glob = _global(state)
    node_cfg = _node_cfg(state, me.name)
    severity = (node_cfg.log_severity if node_cfg and node_cfg.log_severity else glob.log_severity) or "Info"
    bind_node_ip = (node_cfg.bind_mode if node_cfg and node_cfg.bind_mode else glob.bind_mode) == "NodeIP"
    ignored = tuple(dict.fromkeys((*glob.ignored_interfaces,
                                   *(node_cfg.ignored_interfaces if node_cfg else ()))))
    v4 = _family(state, me, 4, matcher)
    v6 = _family(state, me, 6, matcher)
    return BirdConfig(
        node_name=me.name,
        router_id=router_id(state, me),
        asn=effective_as(state, me),
        is_route_reflector=bool(me.rr_cluster_id),
        listen_address=(v4.node_ip or v6.node_ip) if bind_node_ip else None,
        listen_port=listen_port(state, me.name),
        debug=_DEBUG.get(severity.lower(), "states"),
        ignored_interfaces=ignored,
        tuning=state.tuning,
        v4=v4,
        v6=v6,
    )


__all__ = ["ComputeError", "PoolInfo", "compute", "effective_as", "node_ip", "selector_matcher"]

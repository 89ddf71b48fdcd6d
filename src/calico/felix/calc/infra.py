"""Cluster plumbing derived from pools, nodes and IPAM blocks: routes (Felix's L3RouteResolver),
VXLAN tunnel endpoints, host metadata, IP pools and the fixed IP sets.  Recomputed wholesale:
these inputs are small (nodes, pools, blocks), unlike endpoints and policies."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from calico.felix.calc.parse import Block, NodeInfo, Pool
from calico.felix.messages import (
    ALL_HOSTS_SET_ID,
    ALL_POOLS_SET_ID,
    ALL_VXLAN_SET_ID,
    MASQ_POOLS_SET_ID,
    HostMetadataUpdate,
    IPAMPool,
    IPPoolType,
    RouteType,
    RouteUpdate,
    TunnelType,
    VXLANTunnelEndpointUpdate,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def pool_id(cidr: str) -> str:
    return cidr.replace("/", "-")


def pool_type(pool: Pool | None) -> IPPoolType:
    if pool is None:
        return IPPoolType.NONE
    if pool.vxlan_mode != "Never":
        return IPPoolType.VXLAN
    if pool.ipip_mode != "Never":
        return IPPoolType.IPIP
    return IPPoolType.NO_ENCAP


def _containing_pool(net: Network, pools: list[tuple[Network, Pool]]) -> Pool | None:
    best: tuple[Network, Pool] | None = None
    for pnet, pool in pools:
        if pnet.version == net.version and net.subnet_of(pnet) and (  # type: ignore[arg-type]
                best is None or pnet.prefixlen > best[0].prefixlen):
            best = (pnet, pool)
    return None if best is None else best[1]


def _same_subnet(my: NodeInfo | None, other_ip: str) -> bool:
    if my is None or not my.ipv4_subnet or not other_ip or ":" in other_ip:
        return False
    return ipaddress.ip_address(other_ip) in ipaddress.ip_network(my.ipv4_subnet)


def block_owner(net: str, blocks: Mapping[str, Block], plens: Iterable[int]) -> str:
    """The affine host of the block holding a workload address ("" if none)."""
    ip = net.split("/", 1)[0]
    for plen in plens:
        try:
            cidr = str(ipaddress.ip_network(f"{ip}/{plen}", strict=False))
        except ValueError:
            continue
        block = blocks.get(cidr)
        if block is not None:
            return block.affinity_host
    return ""


def compute_routes(hostname: str, pools: Mapping[str, Pool], nodes: Mapping[str, NodeInfo],
                   blocks: Mapping[str, Block], borrowed: Iterable[tuple[str, str]] = ()) -> dict[str, RouteUpdate]:
    """RouteUpdates keyed by destination: pools (CIDR info), IPAM blocks with host affinity
    (local/remote workload), workload /32s borrowed from another node's block, node IPs
    (local/remote host) and tunnel addresses."""
    pool_list = [(ipaddress.ip_network(p.cidr), p) for p in pools.values()]
    me = nodes.get(hostname)
    routes: dict[str, RouteUpdate] = {}

    def put(r: RouteUpdate) -> None:
        old = routes.get(r.dst)
        if old is not None:
            # keep the most specific information, merge the type flags
            base = r if (r.types & ~RouteType.CIDR_INFO) else old
            r = RouteUpdate(types=old.types | r.types, dst=r.dst, ip_pool_type=base.ip_pool_type,
                            dst_node=base.dst_node or old.dst_node, dst_node_ip=base.dst_node_ip or old.dst_node_ip,
                            nat_outgoing=old.nat_outgoing or r.nat_outgoing, local_workload=base.local_workload,
                            same_subnet=base.same_subnet, tunnel=base.tunnel)
        routes[r.dst] = r

    for pnet, pool in pool_list:
        put(RouteUpdate(RouteType.CIDR_INFO, str(pnet), pool_type(pool), nat_outgoing=pool.masquerade))
    for block in blocks.values():
        if not block.affinity_host:
            continue
        net = ipaddress.ip_network(block.cidr)
        bpool = _containing_pool(net, pool_list)
        node = nodes.get(block.affinity_host)
        node_ip = "" if node is None else (node.ipv4 if net.version == 4 else node.ipv6)
        local = block.affinity_host == hostname
        put(RouteUpdate(RouteType.LOCAL_WORKLOAD if local else RouteType.REMOTE_WORKLOAD, str(net),
                        pool_type(bpool), dst_node=block.affinity_host, dst_node_ip=node_ip,
                        nat_outgoing=bool(bpool and bpool.masquerade), local_workload=local,
                        same_subnet=not local and _same_subnet(me, node_ip)))
    for dst, owner in borrowed:
        net = ipaddress.ip_network(dst)
        bpool = _containing_pool(net, pool_list)
        node = nodes.get(owner)
        node_ip = "" if node is None else (node.ipv4 if net.version == 4 else node.ipv6)
        local = owner == hostname
        put(RouteUpdate(RouteType.LOCAL_WORKLOAD if local else RouteType.REMOTE_WORKLOAD, dst, pool_type(bpool),
                        dst_node=owner, dst_node_ip=node_ip, nat_outgoing=bool(bpool and bpool.masquerade),
                        local_workload=local, same_subnet=not local and _same_subnet(me, node_ip)))
    for name, node in nodes.items():
        local = name == hostname
        for ip in (node.ipv4, node.ipv6):
            if ip:
                plen = 128 if ":" in ip else 32
                put(RouteUpdate(RouteType.LOCAL_HOST if local else RouteType.REMOTE_HOST, f"{ip}/{plen}",
                                dst_node=name, dst_node_ip=ip, same_subnet=not local and _same_subnet(me, ip)))
        for addr, tunnel in ((node.vxlan_addr, TunnelType(vxlan=True)), (node.ipip_addr, TunnelType(ipip=True))):
            if addr:
                put(RouteUpdate(RouteType.LOCAL_TUNNEL if local else RouteType.REMOTE_TUNNEL, f"{addr}/32",
                                dst_node=name, dst_node_ip=node.ipv4, tunnel=tunnel,
                                same_subnet=not local and _same_subnet(me, node.ipv4)))
    return routes


def compute_vteps(nodes: Mapping[str, NodeInfo]) -> dict[str, VXLANTunnelEndpointUpdate]:
    """VTEPs of every node (this one included) with a VXLAN address, MAC and node IP."""
    return {name: VXLANTunnelEndpointUpdate(name, n.vxlan_mac, n.vxlan_addr, n.ipv4)
            for name, n in nodes.items() if n.vxlan_addr and n.vxlan_mac and n.ipv4}


def compute_hosts(nodes: Mapping[str, NodeInfo]) -> dict[str, HostMetadataUpdate]:
    return {name: HostMetadataUpdate(name, n.ipv4, n.ipv6, n.ipv4_subnet)
            for name, n in nodes.items() if n.ipv4 or n.ipv6}


def compute_pools(pools: Mapping[str, Pool]) -> dict[str, IPAMPool]:
    return {pool_id(p.cidr): IPAMPool(p.cidr, p.masquerade, p.ipip_mode, p.vxlan_mode, p.disabled)
            for p in pools.values()}


def compute_fixed_sets(pools: Mapping[str, Pool], nodes: Mapping[str, NodeInfo]) -> dict[str, set[str]]:
    """Members of all-ipam-pools, masq-ipam-pools, all-hosts-net and all-vxlan-net."""
    def host_net(ip: str) -> str:
        return f"{ip}/128" if ":" in ip else f"{ip}/32"

    return {
        ALL_POOLS_SET_ID: {p.cidr for p in pools.values()},
        MASQ_POOLS_SET_ID: {p.cidr for p in pools.values() if p.masquerade},
        ALL_HOSTS_SET_ID: {host_net(ip) for n in nodes.values() for ip in (n.ipv4, n.ipv6) if ip},
        ALL_VXLAN_SET_ID: {host_net(n.ipv4) for n in nodes.values() if n.vxlan_addr and n.ipv4},
    }

"""What an allocation depends on besides blocks: pools, reservations, IPAM config, node labels.

Read in one round trip and cached by the allocator. Every write that relied on the snapshot
carries *guards* (compare clauses on the pool key, the reservations range, the config key and,
when a nodeSelector needs it, the node key), so a stale snapshot can never cause a wrong
allocation: the write fails and the snapshot is read again.
"""

from __future__ import annotations

import ipaddress

from calico.common import jsonlite as json
from calico.common.record import field, mutable_record, replace
from calico.datastore import keys
from calico.datastore.base import KeyValue
from calico.ipam.model import IPAMConfig, Pool, Reservation, node_labels, selector_matches
from calico.ipam.store import Cmp, Get, TxnStore, prefix_end

POOL_PREFIX = keys.RESOURCE_ROOT + "ippools/"
RESERVATION_PREFIX = keys.RESOURCE_ROOT + "ipreservations/"
NODE_PREFIX = keys.RESOURCE_ROOT + "nodes/"


def pool_key(name: str) -> str:
    return POOL_PREFIX + name


def node_key(name: str) -> str:
    return NODE_PREFIX + name


@mutable_record
class HostView:
    """One host's labels and affinities as of the snapshot."""

    labels: dict[str, str]
    node_rev: int
    affinities: dict[str, int] = field(default_factory=dict)  # block cidr -> affinity key revision


@mutable_record
class Env:
    revision: int
    pools: dict[str, Pool]
    pool_revs: dict[str, int]
    reservations: tuple[Reservation, ...]
    config: IPAMConfig
    config_rev: int
    hosts: dict[str, HostView] = field(default_factory=dict)

    def guards(self, pool: Pool, host: str) -> list[Cmp]:
        """Compare clauses that hold while this snapshot is still true for ``pool`` on ``host``."""
        out = [
            Cmp(pool_key(pool.name), "==", self.pool_revs[pool.name]),
            Cmp(RESERVATION_PREFIX, "<", self.revision + 1, prefix_end(RESERVATION_PREFIX)),
            Cmp(keys.IPAM_CONFIG_KEY, "==", self.config_rev),
        ]
        if pool.node_selector.strip() not in ("", "all()") and host in self.hosts:
            out.append(Cmp(node_key(host), "==", self.hosts[host].node_rev))
        return out

    def pools_for(self, version: int, host: str, use: str | None) -> list[Pool]:
        """Enabled automatic pools of this version (and use, unless None) that select the host."""
        labels = self.hosts[host].labels if host in self.hosts else {"projectcalico.org/name": host}
        out = []
        for p in sorted(self.pools.values(), key=lambda p: (p.cidr.version, int(p.cidr.network_address))):
            if p.version != version or p.disabled or (use is not None and use not in p.allowed_uses):
                continue
            if use is not None and p.assignment_mode != "Automatic":
                continue
            if selector_matches(p.node_selector, labels):
                out.append(p)
        return out

    def find_pool(self, ref: str) -> Pool | None:
        """A pool by name or by CIDR (how CNI's ipv4_pools and Docker's PoolID name them)."""
        if ref in self.pools:
            return self.pools[ref]
        for p in self.pools.values():
            if str(p.cidr) == ref or ref.replace("-", "/", 1) == str(p.cidr):
                return p
        try:
            net = ipaddress.ip_network(ref, strict=False)
        except ValueError:
            return None
        for p in self.pools.values():
            if p.cidr == net:
                return p
        return None

    def pool_containing(self, ip: object) -> Pool | None:
        for p in self.pools.values():
            if ip in p.cidr:
                return p
        return None


def _parse_pools(kvs: tuple[KeyValue, ...]) -> tuple[dict[str, Pool], dict[str, int]]:
    pools: dict[str, Pool] = {}
    revs: dict[str, int] = {}
    for kv in kvs:
        name = kv.key[len(POOL_PREFIX):]
        try:
            pool = Pool.from_resource(json.loads(kv.value))
        except (ValueError, KeyError, TypeError):
            continue  # an unreadable pool is not one IPAM can allocate from
        pools[name] = replace(pool, name=name)
        revs[name] = kv.mod_revision
    return pools, revs


async def load_env(store: TxnStore, hosts: list[str]) -> Env:
    """Pools, reservations, config, and each host's node labels and affinities: one round trip."""
    gets = [
        Get(POOL_PREFIX, prefix_end(POOL_PREFIX)),
        Get(RESERVATION_PREFIX, prefix_end(RESERVATION_PREFIX)),
        Get(keys.IPAM_CONFIG_KEY),
    ]
    for h in hosts:
        gets.append(Get(node_key(h)))
        aff = keys.affinity_prefix(h)
        gets.append(Get(aff, prefix_end(aff)))
    res = await store.read(gets)
    pools, pool_revs = _parse_pools(res.reads[0])
    reservations = []
    for kv in res.reads[1]:
        try:
            reservations.append(Reservation.from_resource(json.loads(kv.value)))
        except (ValueError, KeyError, TypeError):
            continue
    cfg_kv = res.reads[2][0] if res.reads[2] else None
    env = Env(revision=res.revision, pools=pools, pool_revs=pool_revs, reservations=tuple(reservations),
              config=IPAMConfig.from_json(cfg_kv.value if cfg_kv else None),
              config_rev=cfg_kv.mod_revision if cfg_kv else 0)
    for i, h in enumerate(hosts):
        node_kvs = res.reads[3 + 2 * i]
        node_doc = json.loads(node_kvs[0].value) if node_kvs else None
        view = HostView(labels=node_labels(node_doc, h), node_rev=node_kvs[0].mod_revision if node_kvs else 0)
        for kv in res.reads[4 + 2 * i]:
            parsed = keys.parse_affinity_key(kv.key)
            if parsed is not None:
                view.affinities[parsed[1]] = kv.mod_revision
        env.hosts[h] = view
    return env

"""The calculation graph: datastore key/values in, coalesced dataplane messages out.

Pure and synchronous (felix.md §4).  ``on_update`` files each object and updates two label
indexes: local endpoints x policy selectors (which policies are active here, per endpoint) and
all labelled things cluster-wide x the selectors of active rules (IP set members).  Outputs are
kept as desired state and diffed against what was sent, so ``flush`` returns at most one
message per object, in the dependency order of felix.md §4.4, and the same final state gives
the same messages whatever order the updates came in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from calico.datastore.keys import parse_block_key, parse_resource_key
from calico.felix.calc import infra
from calico.felix.calc.config import felix_params
from calico.felix.calc.labelindex import LabelIndex
from calico.felix.calc.output import Category, IPSetOutput
from calico.felix.calc.parse import (
    Block,
    Endpoint,
    HostEndpoint,
    InvalidResource,
    NodeInfo,
    Policy,
    Pool,
    Profile,
    Tier,
    WorkloadEndpoint,
    parse_block,
    parse_host_endpoint,
    parse_network_set,
    parse_node,
    parse_policy,
    parse_pool,
    parse_profile,
    parse_tier,
    parse_workload_endpoint,
)
from calico.felix.calc.policysort import build_tiers
from calico.felix.calc.rules import ALLOW_ALL, DENY_ALL, IPSetDef, RuleParser
from calico.felix.messages import (
    FIXED_SET_IDS,
    IPSET_HASH_NET,
    ActivePolicyRemove,
    ActivePolicyUpdate,
    ActiveProfileRemove,
    ActiveProfileUpdate,
    ConfigUpdate,
    HostEndpointID,
    HostEndpointInfo,
    HostEndpointRemove,
    HostEndpointUpdate,
    HostMetadataRemove,
    HostMetadataUpdate,
    InSync,
    IPAMPool,
    IPAMPoolRemove,
    IPAMPoolUpdate,
    Message,
    NatInfo,
    ParsedPolicy,
    ParsedProfile,
    PolicyID,
    ProfileID,
    RouteRemove,
    RouteUpdate,
    VXLANTunnelEndpointRemove,
    VXLANTunnelEndpointUpdate,
    WorkloadEndpointID,
    WorkloadEndpointInfo,
    WorkloadEndpointRemove,
    WorkloadEndpointUpdate,
)

log = logging.getLogger(__name__)

DEFAULT_ALLOW_PROFILE = "projectcalico-default-allow"

# Item keys: ("wep", ns, name) | ("hep", name) | ("netset", ns, name) | ("gnetset", name)
ItemKey = tuple[str, ...]
PolicyKey = tuple[str, str]  # (namespace or "", name)


@dataclass(frozen=True, slots=True)
class _PolicyEntry:
    policy: Policy
    id: PolicyID
    parsed: ParsedPolicy
    ipsets: Mapping[str, IPSetDef]


@dataclass(frozen=True, slots=True)
class _ProfileEntry:
    profile: Profile
    parsed: ParsedProfile
    ipsets: Mapping[str, IPSetDef]


class CalcGraph:
    """Felix's calculation graph for one host.  Not thread-safe; call from one task."""

    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        # inputs
        self._policies: dict[PolicyKey, _PolicyEntry] = {}
        self._profiles: dict[str, _ProfileEntry] = {}
        self._tiers: dict[str, Tier] = {}
        self._items: dict[ItemKey, Endpoint] = {}
        self._weps: dict[ItemKey, WorkloadEndpoint] = {}
        self._heps: dict[ItemKey, HostEndpoint] = {}
        self._pools: dict[str, Pool] = {}
        self._nodes: dict[str, NodeInfo] = {}
        self._blocks: dict[str, Block] = {}
        self._felix_configs: dict[str, dict[str, str]] = {}
        self._block_plens: list[int] = []
        self._borrowed_stale = False
        self._borrowed: dict[ItemKey, tuple[tuple[str, str], ...]] = {}  # (workload /32, its node)
        # indexes
        self._profile_members: dict[str, set[ItemKey]] = {}
        self._ipset_index: LabelIndex[ItemKey, str] = LabelIndex()
        self._local_index: LabelIndex[ItemKey, PolicyKey] = LabelIndex()
        self._local_profile_refs: dict[str, int] = {}
        self._local_profiles: dict[ItemKey, tuple[str, ...]] = {}  # every local endpoint's profiles
        # active rules
        self._active_policies: dict[PolicyKey, _PolicyEntry] = {}
        self._active_profiles: dict[str, tuple[ParsedProfile, frozenset[str]]] = {}
        self._ipset_refs: dict[str, int] = {}
        self._ipset_defs: dict[str, IPSetDef] = {}
        # outputs
        self._ipsets = IPSetOutput()
        self._out_policies: Category[PolicyID, ParsedPolicy] = Category()
        self._out_profiles: Category[ProfileID, ParsedProfile] = Category()
        self._out_weps: Category[WorkloadEndpointID, WorkloadEndpointInfo] = Category()
        self._out_heps: Category[HostEndpointID, HostEndpointInfo] = Category()
        self._out_routes: Category[str, RouteUpdate] = Category()
        self._out_vteps: Category[str, VXLANTunnelEndpointUpdate] = Category()
        self._out_hosts: Category[str, HostMetadataUpdate] = Category()
        self._out_pools: Category[str, IPAMPool] = Category()
        self._dirty_local: set[ItemKey] = set()
        self._local_ids: dict[ItemKey, WorkloadEndpointID | HostEndpointID] = {}
        self._infra_dirty = True
        self._config_dirty = True
        self._config_sent: ConfigUpdate | None = None
        self._in_sync = False
        self._in_sync_sent = False
        for set_id in FIXED_SET_IDS:
            self._ipsets.create(set_id, IPSET_HASH_NET)

    # ---------------------------------------------------------------------------------------
    # input

    def on_update(self, key: str, value: str | None) -> None:
        """Apply one datastore key/value (value None = deleted).  Invalid values are logged and
        treated as deletions; unknown keys are ignored."""
        doc: Any = None
        if value is not None:
            try:
                doc = json.loads(value)
            except ValueError:
                log.warning("Ignoring unparseable JSON at %s", key)
            if not isinstance(doc, dict):
                doc = None
        try:
            self._dispatch(key, doc)
        except (InvalidResource, ValueError, KeyError, TypeError) as exc:
            if doc is None:
                raise
            log.warning("Invalid value at %s (%s); treating it as deleted", key, exc)
            self._dispatch(key, None)

    def on_updates(self, updates: list[tuple[str, str | None]]) -> None:
        for key, value in updates:
            self.on_update(key, value)

    def on_in_sync(self) -> None:
        """The datastore snapshot is complete: the next flush carries InSync (and the config)."""
        self._in_sync = True

    def _dispatch(self, key: str, doc: dict[str, Any] | None) -> None:
        parsed = parse_resource_key(key)
        if parsed is None:
            cidr = parse_block_key(key)
            if cidr is not None:
                self._set_block(cidr, None if doc is None else parse_block(doc, cidr))
            return
        info, namespace, name = parsed
        kind = info.kind
        ns = namespace or ""
        if kind == "WorkloadEndpoint":
            self._set_wep(("wep", ns, name), None if doc is None else parse_workload_endpoint(doc, ns, name))
        elif kind == "HostEndpoint":
            self._set_hep(("hep", name), None if doc is None else parse_host_endpoint(doc, name))
        elif kind in ("NetworkPolicy", "GlobalNetworkPolicy"):
            self._set_policy((ns, name), None if doc is None else parse_policy(doc, ns, name))
        elif kind == "Profile":
            self._set_profile(name, None if doc is None else parse_profile(doc))
        elif kind == "Tier":
            self._set_tier(name, None if doc is None else parse_tier(doc, name))
        elif kind == "NetworkSet":
            self._set_item(("netset", ns, name), None if doc is None else parse_network_set(doc, ns))
        elif kind == "GlobalNetworkSet":
            self._set_item(("gnetset", name), None if doc is None else parse_network_set(doc, None))
        elif kind == "IPPool":
            self._set_infra(self._pools, name, None if doc is None else parse_pool(doc))
        elif kind == "Node":
            self._set_infra(self._nodes, name, None if doc is None else parse_node(doc))
        elif kind == "FelixConfiguration":
            self._set_felix_config(name, doc)

    # ---------------------------------------------------------------------------------------
    # labelled items (all endpoints and network sets) and IP set membership

    def _effective_labels(self, ep: Endpoint) -> Mapping[str, str]:
        if not ep.profile_ids:
            return ep.labels
        labels: dict[str, str] = {}
        for pid in reversed(ep.profile_ids):  # earlier profiles win over later ones
            prof = self._profiles.get(pid)
            if prof is not None:
                labels.update(prof.profile.labels)
        labels.update(ep.labels)  # the endpoint's own labels win
        return labels

    def _set_item(self, key: ItemKey, ep: Endpoint | None, local: bool = False) -> None:
        old = self._items.get(key)
        if old is not None:
            for pid in old.profile_ids:
                members = self._profile_members.get(pid)
                if members is not None:
                    members.discard(key)
                    if not members:
                        del self._profile_members[pid]
            for set_id in self._ipset_index.item_matches(key):
                self._contribute(set_id, old, remove=True)
        if ep is None:
            self._items.pop(key, None)
            self._ipset_index.remove_item(key)
        else:
            self._items[key] = ep
            for pid in ep.profile_ids:
                self._profile_members.setdefault(pid, set()).add(key)
            self._ipset_index.update_item(key, self._effective_labels(ep))
            for set_id in self._ipset_index.item_matches(key):
                self._contribute(set_id, ep, remove=False)
        self._update_local(key, ep if local else None)

    def _contribute(self, set_id: str, ep: Endpoint, *, remove: bool) -> None:
        d = self._ipset_defs[set_id]
        op = self._ipsets.remove if remove else self._ipsets.add
        if not d.port_name:
            for net in ep.nets:
                op(set_id, net)
            return
        for port in ep.ports:
            if port.name == d.port_name and port.protocol == d.protocol:
                for net in ep.nets:
                    ip, _, plen = net.partition("/")
                    if plen in ("32", "128"):
                        op(set_id, f"{ip},{d.protocol}:{port.port}")

    def _ref_ipsets(self, defs: Mapping[str, IPSetDef]) -> None:
        for set_id, d in defs.items():
            self._ipset_refs[set_id] = self._ipset_refs.get(set_id, 0) + 1
            if self._ipset_refs[set_id] > 1:
                continue
            self._ipset_defs[set_id] = d
            self._ipsets.create(set_id, d.type)
            if d.selector is None:
                for net in d.nets:
                    self._ipsets.add(set_id, net)
                continue
            added, _ = self._ipset_index.update_selector(set_id, d.selector)
            for key in added:
                self._contribute(set_id, self._items[key], remove=False)

    def _unref_ipsets(self, set_ids: Mapping[str, IPSetDef] | frozenset[str]) -> None:
        for set_id in set_ids:
            self._ipset_refs[set_id] -= 1
            if self._ipset_refs[set_id] > 0:
                continue
            del self._ipset_refs[set_id]
            self._ipset_index.remove_selector(set_id)
            del self._ipset_defs[set_id]
            self._ipsets.delete(set_id)

    # ---------------------------------------------------------------------------------------
    # endpoints

    def _set_wep(self, key: ItemKey, wep: WorkloadEndpoint | None) -> None:
        if wep is None:
            self._weps.pop(key, None)
        else:
            self._weps[key] = wep
        self._update_borrowed(key, wep)
        self._set_item(key, None if wep is None else wep.ep, local=wep is not None and wep.ep.node == self.hostname)

    def _set_hep(self, key: ItemKey, hep: HostEndpoint | None) -> None:
        if hep is None:
            self._heps.pop(key, None)
        else:
            self._heps[key] = hep
        self._set_item(key, None if hep is None else hep.ep, local=hep is not None and hep.ep.node == self.hostname)

    def _update_local(self, key: ItemKey, ep: Endpoint | None) -> None:
        """Keep the local-endpoint index, profile refcounts and policy activity in step."""
        was_local = key in self._local_profiles
        if not was_local and ep is None:
            return
        self._dirty_local.add(key)
        old_profiles = self._local_profiles.get(key, ())
        if ep is None:
            changed = self._local_index.remove_item(key)
            self._local_profiles.pop(key, None)
            new_profiles: tuple[str, ...] = ()
        else:
            added, removed = self._local_index.update_item(key, self._effective_labels(ep))
            changed = added | removed
            new_profiles = ep.profile_ids
            self._local_profiles[key] = new_profiles
        for pkey in changed:
            self._refresh_policy(pkey)
        if old_profiles != new_profiles:
            for pid in new_profiles:
                self._ref_profile(pid, +1)
            for pid in old_profiles:
                self._ref_profile(pid, -1)

    # ---------------------------------------------------------------------------------------
    # policies, profiles, tiers

    def _set_policy(self, key: PolicyKey, policy: Policy | None) -> None:
        old = self._policies.get(key)
        affected = set(self._local_index.selector_matches(key))
        if policy is None:
            self._policies.pop(key, None)
            self._local_index.remove_selector(key)
        else:
            parser = RuleParser(policy.namespace)
            parsed = ParsedPolicy(
                inbound_rules=parser.parse(policy.ingress or (), "ingress"),
                outbound_rules=parser.parse(policy.egress or (), "egress"),
                untracked=policy.untracked, pre_dnat=policy.pre_dnat, apply_on_forward=policy.apply_on_forward,
                original_selector=policy.selector.canonical())
            entry = _PolicyEntry(policy, PolicyID(policy.tier, policy.name, policy.namespace), parsed,
                                 MappingProxyType(parser.ipsets))
            self._policies[key] = entry
            self._local_index.update_selector(key, policy.selector)
            affected |= self._local_index.selector_matches(key)
        if old is not None or policy is not None:
            self._dirty_local |= affected
            self._refresh_policy(key)

    def _refresh_policy(self, key: PolicyKey) -> None:
        """Make the policy active iff it matches a local endpoint; keep its output current."""
        entry = self._policies.get(key)
        want = entry is not None and (entry.policy.assume_needed or bool(self._local_index.selector_matches(key)))
        have = self._active_policies.get(key)
        if want:
            assert entry is not None
            if have is entry:
                return
            self._ref_ipsets(entry.ipsets)
            if have is not None:
                self._unref_ipsets(have.ipsets)
                if have.id != entry.id:
                    self._out_policies.set(have.id, None)
            self._active_policies[key] = entry
            self._out_policies.set(entry.id, entry.parsed)
        elif have is not None:
            del self._active_policies[key]
            self._unref_ipsets(have.ipsets)
            self._out_policies.set(have.id, None)

    def _set_profile(self, name: str, profile: Profile | None) -> None:
        old = self._profiles.get(name)
        if profile is None:
            self._profiles.pop(name, None)
        else:
            parser = RuleParser()
            parsed = ParsedProfile(parser.parse(profile.ingress, "ingress"), parser.parse(profile.egress, "egress"))
            self._profiles[name] = _ProfileEntry(profile, parsed, MappingProxyType(parser.ipsets))
        old_labels = old.profile.labels if old is not None else {}
        new_labels = profile.labels if profile is not None else {}
        if old_labels != new_labels:
            for key in sorted(self._profile_members.get(name, ())):
                ep = self._items[key]
                added, removed = self._ipset_index.update_item(key, self._effective_labels(ep))
                for set_id in removed:
                    self._contribute(set_id, ep, remove=True)
                for set_id in added:
                    self._contribute(set_id, ep, remove=False)
                if key in self._local_profiles:
                    self._update_local(key, ep)
        self._refresh_profile(name)

    def _ref_profile(self, name: str, delta: int) -> None:
        self._local_profile_refs[name] = self._local_profile_refs.get(name, 0) + delta
        if self._local_profile_refs[name] <= 0:
            del self._local_profile_refs[name]
        self._refresh_profile(name)

    def _refresh_profile(self, name: str) -> None:
        want = name in self._local_profile_refs
        have = self._active_profiles.get(name)
        if not want:
            if have is not None:
                del self._active_profiles[name]
                self._unref_ipsets(have[1])
                self._out_profiles.set(ProfileID(name), None)
            return
        entry = self._profiles.get(name)
        if entry is not None:
            parsed, defs = entry.parsed, entry.ipsets
        elif name == DEFAULT_ALLOW_PROFILE:
            parsed, defs = ParsedProfile(ALLOW_ALL, ALLOW_ALL), MappingProxyType({})
        else:
            parsed, defs = ParsedProfile(DENY_ALL, DENY_ALL), MappingProxyType({})  # fail closed
        if have is not None and have[0] == parsed and have[1] == frozenset(defs):
            return
        self._ref_ipsets(defs)
        if have is not None:
            self._unref_ipsets(have[1])
        self._active_profiles[name] = (parsed, frozenset(defs))
        self._out_profiles.set(ProfileID(name), parsed)

    def _set_tier(self, name: str, tier: Tier | None) -> None:
        if tier is None:
            self._tiers.pop(name, None)
        else:
            self._tiers[name] = tier
        self._dirty_local.update(self._local_profiles)

    # ---------------------------------------------------------------------------------------
    # infrastructure and config

    def _set_infra(self, table: dict[str, Any], name: str, value: Any) -> None:
        if value is None:
            table.pop(name, None)
        else:
            table[name] = value
        self._infra_dirty = True

    def _set_block(self, cidr: str, block: Block | None) -> None:
        old = self._blocks.get(cidr)
        self._set_infra(self._blocks, cidr, block)
        if (old.affinity_host if old else None) != (block.affinity_host if block else None):
            self._borrowed_stale = True  # recomputed for every workload once, at the next flush

    def _recompute_borrowed(self) -> None:
        self._block_plens = sorted({int(c.rsplit("/", 1)[1]) for c in self._blocks}, reverse=True)
        self._borrowed_stale = False
        for key in set(self._borrowed) - set(self._weps):
            del self._borrowed[key]
            self._infra_dirty = True
        for key, wep in self._weps.items():
            self._update_borrowed(key, wep)

    def _update_borrowed(self, key: ItemKey, wep: WorkloadEndpoint | None) -> None:
        """Track workload IPs that sit in a block affine to another node (IPAM borrowing): they
        need their own /32 route to the workload's node (felix.md §4.2 L3RouteResolver)."""
        if self._borrowed_stale:
            return
        borrowed: tuple[tuple[str, str], ...] = ()
        if wep is not None and self._blocks:
            borrowed = tuple((net, wep.ep.node) for net in wep.ep.nets
                             if infra.block_owner(net, self._blocks, self._block_plens) not in ("", wep.ep.node))
        if self._borrowed.get(key, ()) != borrowed:
            if borrowed:
                self._borrowed[key] = borrowed
            else:
                self._borrowed.pop(key, None)
            self._infra_dirty = True

    def _set_felix_config(self, name: str, doc: dict[str, Any] | None) -> None:
        if name != "default" and name != f"node.{self.hostname}":
            return
        if doc is None:
            self._felix_configs.pop(name, None)
        else:
            spec = doc.get("spec") or {}
            if not isinstance(spec, dict):
                raise InvalidResource("spec: expected an object")
            self._felix_configs[name] = felix_params(spec)
        self._config_dirty = True

    # ---------------------------------------------------------------------------------------
    # output

    def _endpoint_output(self, key: ItemKey) -> None:
        old_id = self._local_ids.pop(key, None)
        is_local = key in self._local_profiles
        new_id: WorkloadEndpointID | HostEndpointID | None = None
        if is_local and key[0] == "wep":
            wep = self._weps[key]
            new_id = WorkloadEndpointID(wep.orchestrator, wep.workload, wep.endpoint, wep.namespace)
            tiers = build_tiers(self._matched(key), self._tiers, kind="normal")
            self._out_weps.set(new_id, WorkloadEndpointInfo(
                state="active", name=wep.interface_name, mac=wep.mac, profile_ids=wep.ep.profile_ids,
                ipv4_nets=wep.ipv4_nets, ipv6_nets=wep.ipv6_nets, tiers=tiers,
                ipv4_nat=tuple(NatInfo(e, i) for e, i in wep.ipv4_nat),
                ipv6_nat=tuple(NatInfo(e, i) for e, i in wep.ipv6_nat),
                allow_spoofed_source_prefixes=wep.allow_spoofed))
        elif is_local and key[0] == "hep":
            hep = self._heps[key]
            new_id = HostEndpointID(hep.name)
            matched = self._matched(key)
            self._out_heps.set(new_id, HostEndpointInfo(
                name=hep.interface_name, expected_ipv4_addrs=hep.expected_ipv4,
                expected_ipv6_addrs=hep.expected_ipv6, profile_ids=hep.ep.profile_ids,
                tiers=build_tiers(matched, self._tiers, kind="normal"),
                untracked_tiers=build_tiers(matched, self._tiers, kind="untracked"),
                pre_dnat_tiers=build_tiers(matched, self._tiers, kind="pre_dnat"),
                forward_tiers=build_tiers(matched, self._tiers, kind="forward")))
        if new_id is not None:
            self._local_ids[key] = new_id
        if old_id is not None and old_id != new_id:
            if isinstance(old_id, WorkloadEndpointID):
                self._out_weps.set(old_id, None)
            else:
                self._out_heps.set(old_id, None)

    def _matched(self, key: ItemKey) -> list[_PolicyEntry]:
        return [self._policies[p] for p in self._local_index.item_matches(key) if p in self._policies]

    def _recompute_infra(self) -> None:
        borrowed = [b for entries in self._borrowed.values() for b in entries]
        self._out_routes.replace_all(infra.compute_routes(self.hostname, self._pools, self._nodes, self._blocks,
                                                          borrowed))
        self._out_vteps.replace_all(infra.compute_vteps(self._nodes))
        self._out_hosts.replace_all(infra.compute_hosts(self._nodes))
        self._out_pools.replace_all(infra.compute_pools(self._pools))
        for set_id, members in infra.compute_fixed_sets(self._pools, self._nodes).items():
            self._ipsets.replace(set_id, IPSET_HASH_NET, members)
        self._infra_dirty = False

    def _config_update(self) -> ConfigUpdate:
        glob = self._felix_configs.get("default", {})
        host = self._felix_configs.get(f"node.{self.hostname}", {})
        return ConfigUpdate(MappingProxyType({**glob, **host}), MappingProxyType(dict(glob)),
                            MappingProxyType(dict(host)))

    def flush(self) -> list[Message]:
        """Messages for everything that changed since the last flush, dependency-ordered."""
        out: list[Message] = []
        if self._in_sync and (self._config_dirty or self._config_sent is None):
            cfg = self._config_update()
            if cfg != self._config_sent:
                out.append(cfg)
                self._config_sent = cfg
            self._config_dirty = False
        for key in sorted(self._dirty_local):
            self._endpoint_output(key)
        self._dirty_local.clear()
        if self._borrowed_stale:
            self._recompute_borrowed()
        if self._infra_dirty:
            self._recompute_infra()
        set_updates, set_deltas, set_removes = self._ipsets.diff()
        pol_up, pol_rm = self._out_policies.diff()
        prof_up, prof_rm = self._out_profiles.diff()
        wep_up, wep_rm = self._out_weps.diff()
        hep_up, hep_rm = self._out_heps.diff()
        route_up, route_rm = self._out_routes.diff()
        vtep_up, vtep_rm = self._out_vteps.diff()
        host_up, host_rm = self._out_hosts.diff()
        pool_up, pool_rm = self._out_pools.diff()
        out += set_updates
        out += set_deltas
        out += [ActivePolicyUpdate(k, v) for k, v in pol_up]
        out += [ActiveProfileUpdate(k, v) for k, v in prof_up]
        out += [WorkloadEndpointUpdate(k, v) for k, v in wep_up]
        out += [HostEndpointUpdate(k, v) for k, v in hep_up]
        out += [WorkloadEndpointRemove(k) for k in wep_rm]
        out += [HostEndpointRemove(k) for k in hep_rm]
        out += [ActiveProfileRemove(k) for k in prof_rm]
        out += [ActivePolicyRemove(k) for k in pol_rm]
        out += set_removes
        out += [RouteRemove(k) for k in route_rm]
        out += [VXLANTunnelEndpointRemove(k) for k in vtep_rm]
        out += [v for _, v in vtep_up]
        out += [v for _, v in route_up]
        out += [v for _, v in host_up]
        out += [HostMetadataRemove(k) for k in host_rm]
        out += [IPAMPoolUpdate(k, v) for k, v in pool_up]
        out += [IPAMPoolRemove(k) for k in pool_rm]
        if self._in_sync and not self._in_sync_sent:
            out.append(InSync())
            self._in_sync_sent = True
        return out

    # ---------------------------------------------------------------------------------------
    # introspection (metrics, tests)

    def stats(self) -> dict[str, int]:
        return {
            "active_local_endpoints": len(self._local_profiles),
            "active_local_policies": len(self._active_policies),
            "active_local_profiles": len(self._active_profiles),
            "active_ipsets": len(self._ipset_refs),
            "cluster_policies": len(self._policies),
            "cluster_profiles": len(self._profiles),
            "cluster_workload_endpoints": len(self._weps),
            "cluster_host_endpoints": len(self._heps),
            "cluster_hosts": len(self._nodes),
        }

"""Pure IPAM consistency check (`calicoctl ipam check`): leaks, orphan handles, bad affinities.

Given what the datastore holds (blocks, handles, affinity keys, pools) and what is actually using
addresses (workload endpoints, node tunnel addresses), produce Calico's progress lines and its
machine-readable report. No I/O: the CLI reads, this decides, the CLI prints and writes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from calico.ipam.block import Block
from calico.ipam.model import Pool


@dataclass
class Allocation:
    ip: str
    handle: str = ""
    sequence_number: int | None = None
    pod: str = ""
    namespace: str = ""
    node: str = ""
    type: str = ""
    creation_timestamp: str = ""
    in_use: bool = False
    borrowed: bool = False
    owners: list[str] = field(default_factory=list)
    attrs: str = ""

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"ip": self.ip}
        if self.handle:
            doc["handle"] = self.handle
        if self.sequence_number is not None:
            doc["sequenceNumber"] = self.sequence_number
        for key, value in (("pod", self.pod), ("namespace", self.namespace), ("node", self.node),
                           ("type", self.type), ("creationTimestamp", self.creation_timestamp)):
            if value:
                doc[key] = value
        doc["inUse"] = self.in_use
        if self.borrowed:
            doc["borrowed"] = True
        doc["owners"] = list(self.owners) if self.owners else None
        return doc


@dataclass
class CheckInput:
    blocks: list[Block]
    handles: Mapping[str, int]  # handle id -> mod revision
    affinities: list[tuple[str, str]]  # (host, block cidr) of every affinity key
    pools: list[Pool]
    in_use: Mapping[str, list[str]]  # ip -> friendly names of what uses it
    node_ips: int = 0
    workload_ips: int = 0
    show_all_ips: bool = False
    show_problem_ips: bool = False


@dataclass
class CheckResult:
    lines: list[str]
    problems: int
    allocations: dict[str, list[Allocation]]
    leaked_handles: list[tuple[str, int]]
    missing_handles: list[str]
    bad_affinities: list[str]


def _attr_string(handle: str | None, secondary: Mapping[str, str]) -> str:
    extra = ",".join(f"{k}={secondary[k]}" for k in sorted(secondary))
    return f"Main:{handle or '<none>'} Extra:{extra}"


def run_check(inp: CheckInput) -> CheckResult:
    out: list[str] = ["Checking IPAM for inconsistencies...", ""]
    allocations: dict[str, list[Allocation]] = {}
    by_node: dict[str, list[Allocation]] = {}
    handles_in_use: set[str] = set()

    blocks = sorted(inp.blocks, key=lambda b: (b.cidr.version, int(b.cidr.network_address)))
    out.append("Loading all IPAM blocks...")
    out.append(f"Found {len(blocks)} IPAM blocks.")
    n_allocs = 0
    for b in blocks:
        out.append(f" IPAM block {b.cidr} affinity={b.affinity or '<none>'}:")
        host = b.host or ""
        for o, attr in b.allocated():
            n_allocs += 1
            ip = str(b.ip(o))
            sec = dict(attr.secondary) if attr else {}
            a = Allocation(ip=ip, sequence_number=b.sequence_for(o), node=sec.get("node") or host,
                           pod=sec.get("pod", ""), namespace=sec.get("namespace", ""), type=sec.get("type", ""),
                           creation_timestamp=sec.get("timestamp", ""),
                           attrs=_attr_string(attr.handle_id if attr else None, sec) if attr else "<missing>")
            if attr and attr.handle_id:
                a.handle = attr.handle_id
                handles_in_use.add(attr.handle_id)
            a.borrowed = a.node != host
            allocations.setdefault(ip, []).append(a)
            by_node.setdefault(a.node, []).append(a)
            if inp.show_all_ips:
                out.append(f"  {ip} allocated; attrs {a.attrs}")
    out.append(f"IPAM blocks record {n_allocs} allocations.")
    out.append("")

    active = [p for p in inp.pools if not p.disabled]
    out.append("Loading all IPAM pools...")
    out.extend(f"  {p.cidr}" for p in active)
    out.append(f"Found {len(active)} active IP pools.")
    out.append("")

    out.append("Loading all nodes.")
    out.append(f"Found {inp.node_ips} node tunnel IPs.")
    out.append("")
    out.append("Loading all workload endpoints.")
    out.append(f"Found {inp.workload_ips} workload IPs.")
    out.append(f"Workloads and nodes are using {len(inp.in_use)} IPs.")
    out.append("")
    for ip, owners in inp.in_use.items():
        for a in allocations.get(ip, []):
            a.in_use = True
            a.owners.extend(owners)
        if inp.show_all_ips:
            out.extend(f"  {ip} belongs to {o}" for o in owners)

    out.append("Loading all handles")
    out.append("Looking for top (up to 20) nodes by allocations...")
    nodes = sorted(by_node, key=lambda n: -len(by_node[n]))
    out.extend(f"  {n} has {len(by_node[n])} allocations" for n in nodes[:20])
    if nodes:
        out.append(f"Node with most allocations has {len(by_node[nodes[0]])}; "
                   f"median is {len(by_node[nodes[len(nodes) // 2]])}")
    out.append("")

    problems = 0
    out.append("Scanning for IPs that are allocated but not actually in use...")
    leaked_ips = sorted((ip for ip in allocations if ip not in inp.in_use), key=_ip_key)
    for ip in leaked_ips:
        if inp.show_problem_ips or inp.show_all_ips:
            out.extend(f"  {ip} leaked; attrs {a.attrs}" for a in allocations[ip])
    problems += len(leaked_ips)
    out.append(f"Found {len(leaked_ips)} IPs that are allocated in IPAM but not actually in use.")

    out.append("Scanning for IPs that are in use by a workload or node but not allocated in IPAM...")
    not_in_pool, not_allocated = [], []
    for ip, owners in sorted(inp.in_use.items(), key=lambda kv: _ip_key(kv[0])):
        if (inp.show_problem_ips or inp.show_all_ips) and len(owners) > 1:
            out.append(f"  {ip} has multiple owners.")
        if ip in allocations:
            continue
        addr = ipaddress.ip_address(ip)
        if not any(addr.version == p.cidr.version and addr in p.cidr for p in active):
            if inp.show_problem_ips or inp.show_all_ips:
                out.extend(f"  {ip} in use by {o} is not in any active IP pool." for o in owners)
            not_in_pool.append(ip)
            continue
        if inp.show_problem_ips or inp.show_all_ips:
            out.extend(f"  {ip} in use by {o} and in active IPAM pool but has no IPAM allocation." for o in owners)
        not_allocated.append(ip)
    problems += len(not_in_pool) + len(not_allocated)
    out.append(f"Found {len(not_in_pool)} in-use IPs that are not in active IP pools.")
    out.append(f"Found {len(not_allocated)} in-use IPs that are in active IP pools but have no "
               "corresponding IPAM allocation.")
    out.append("")

    out.append("Scanning for IPAM handles with no matching IPs...")
    leaked_handles = [(h, rev) for h, rev in sorted(inp.handles.items()) if h not in handles_in_use]
    if inp.show_all_ips:
        out.extend(f"  {h} doesn't have any active IPs." for h, _ in leaked_handles)
    problems += len(leaked_handles)
    out.append(f"Found {len(leaked_handles)} handles with no matching IPs (and "
               f"{len(inp.handles) - len(leaked_handles)} handles with matches).")

    out.append("Scanning for IPs with missing handle...")
    missing = sorted(h for h in handles_in_use if h not in inp.handles)
    if inp.show_problem_ips or inp.show_all_ips:
        out.extend(f"  {h} is in use in a block but doesn't exist." for h in missing)
    problems += len(missing)
    out.append(f"Found {len(missing)} handles mentioned in blocks with no matching handle resource.")

    out.append("Scanning for IPAM blocks with bad affinity...")
    bad = bad_affinities(blocks, inp.affinities)
    if inp.show_problem_ips or inp.show_all_ips:
        out.extend(f"  {line}" for line in bad)
    problems += len(bad)
    out.append(f"Found {len(bad)} blocks whose affinity does not match their host affinity record.")

    out.append(f"Check complete; found {problems} problems.")
    return CheckResult(out, problems, allocations, leaked_handles, missing, bad)


def bad_affinities(blocks: list[Block], affinities: list[tuple[str, str]]) -> list[str]:
    """Blocks claiming a host without that host's affinity key, and affinity keys without a block."""
    by_cidr = {str(b.cidr): b for b in blocks}
    keyed = {(h, c) for h, c in affinities}
    bad = []
    for b in blocks:
        if b.host is not None and (b.host, str(b.cidr)) not in keyed:
            bad.append(f"block {b.cidr} is affine to {b.host} but that host has no affinity record for it")
    for host, cidr in sorted(keyed):
        blk = by_cidr.get(cidr)
        if blk is None:
            bad.append(f"host {host} has an affinity record for block {cidr}, which does not exist")
        elif blk.host != host:
            bad.append(f"host {host} has an affinity record for block {cidr}, which is affine to "
                       f"{blk.affinity or 'no host'}")
    return bad


def _ip_key(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr)


def report(result: CheckResult, *, version: str, cluster_guid: str, datastore_locked: bool,
           cluster_info_revision: str, cluster_type: str) -> dict[str, Any]:
    """Calico's ipam check report (the file `ipam release --from-report` reads)."""
    doc: dict[str, Any] = {
        "version": version,
        "clusterGUID": cluster_guid,
        "datastoreLocked": datastore_locked,
        "clusterInformationRevision": cluster_info_revision,
        "clusterType": cluster_type,
        "allocations": {ip: [a.to_json() for a in allocs] for ip, allocs in sorted(result.allocations.items())},
    }
    if result.leaked_handles:
        doc["leakedHandles"] = [{"ID": h, "UID": None, "Revision": str(rev)} for h, rev in result.leaked_handles]
    return doc

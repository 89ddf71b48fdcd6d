"""Pure views: utilisation, borrowed addresses, the consistency check, the table renderer."""

from __future__ import annotations

import ast
import ipaddress
from pathlib import Path

from calico.ctl.ipam import render_table
from calico.ipam.block import Attribute, Block
from calico.ipam.check import CheckInput, report, run_check
from calico.ipam.model import IPAMConfig, Pool
from calico.ipam.usage import borrowed, utilization

SRC = Path(__file__).resolve().parents[3] / "src" / "calico" / "ipam"


def pool(name: str, cidr: str, size: int = 26) -> Pool:
    return Pool(name=name, cidr=ipaddress.ip_network(cidr), block_size=size)


def block(cidr: str, host: str | None, *owners: tuple[str, dict[str, str]]) -> Block:
    b = Block.new(cidr, f"host:{host}" if host else None)
    for handle, sec in owners:
        b, _ = b.auto_assign(1, Attribute(handle, sec))
    return b


def test_utilization_groups_blocks_under_pools_and_orphans() -> None:
    b1 = block("10.0.0.0/26", "h1", ("a", {"node": "h1"}), ("b", {"node": "h1"}))
    orphan = block("192.168.0.0/30", None, ("c", {"node": "h2"}))
    use = utilization([pool("p", "10.0.0.0/24")], [orphan, b1])
    assert [(u.name, u.capacity, u.in_use) for u in use] == [("p", 256, 2), ("orphaned allocation blocks", 0, 1)]


def test_borrowed_lists_foreign_allocations() -> None:
    b = block("10.0.0.0/30", "h2", ("x", {"node": "h1", "pod": "web", "namespace": "ns"}),
              ("y", {"node": "h2"}), ("z", {"node": "h3", "type": "vxlanTunnelAddress"}), ("old", {}))
    rows, unclassified = borrowed([b])
    assert [(r.ip, r.borrowing_node, r.block_owner, r.type, r.allocated_to) for r in rows] == [
        ("10.0.0.0", "h1", "h2", "pod", "ns/web"), ("10.0.0.2", "h3", "h2", "vxlanTunnelAddress", "")]
    assert unclassified == 1


def test_check_counts_every_kind_of_problem() -> None:
    b = block("10.0.0.0/30", "h1", ("used", {"node": "h1"}), ("leak", {"node": "h1"}))
    stray = block("10.0.1.0/30", "h9")
    res = run_check(CheckInput(blocks=[b, stray], handles={"used": 5, "stale": 7},
                               affinities=[("h1", "10.0.0.0/30"), ("h2", "10.0.9.0/30")],
                               pools=[pool("p", "10.0.0.0/16")],
                               in_use={"10.0.0.0": ["Workload(ns/a)"], "10.0.0.3": ["Workload(ns/b)"],
                                       "172.16.0.1": ["Node(n1)"]}))
    lines = res.lines
    assert "Found 1 IPs that are allocated in IPAM but not actually in use." in lines
    assert "Found 1 in-use IPs that are not in active IP pools." in lines
    assert "Found 1 in-use IPs that are in active IP pools but have no corresponding IPAM allocation." in lines
    assert "Found 1 handles with no matching IPs (and 1 handles with matches)." in lines
    assert "Found 1 handles mentioned in blocks with no matching handle resource." in lines
    assert "Found 2 blocks whose affinity does not match their host affinity record." in lines
    assert lines[-1] == "Check complete; found 7 problems."
    doc = report(res, version="v3.30.0", cluster_guid="g", datastore_locked=True, cluster_info_revision="9",
                 cluster_type="")
    assert doc["allocations"]["10.0.0.1"] == [{"ip": "10.0.0.1", "handle": "leak", "sequenceNumber": 0,
                                               "node": "h1", "inUse": False, "owners": None}]
    assert doc["leakedHandles"] == [{"ID": "stale", "UID": None, "Revision": "7"}]


def test_render_table_matches_tablewriter() -> None:
    text = render_table(["grouping", "cidr", "ips total"], [["IP Pool", "192.168.0.0/16", "65536"]])
    assert text == ("+----------+----------------+-----------+\n"
                    "| GROUPING |      CIDR      | IPS TOTAL |\n"
                    "+----------+----------------+-----------+\n"
                    "| IP Pool  | 192.168.0.0/16 |     65536 |\n"
                    "+----------+----------------+-----------+")
    assert render_table(["IP"], []) == "+----+\n| IP |\n+----+\n+----+"


def test_config_json_is_calicos() -> None:
    assert IPAMConfig().to_json() == '{"auto_allocate_blocks":true}'
    cfg = IPAMConfig.from_json('{"strict_affinity":true,"maxBlocksPerHost":3}')
    assert (cfg.strict_affinity, cfg.auto_allocate_blocks, cfg.max_blocks_per_host) == (True, False, 3)
    assert IPAMConfig.from_json(None).block_limit == 20


def test_pure_modules_import_no_io() -> None:
    banned = {"asyncio", "subprocess", "os", "time", "random", "pyroute2", "socket"}
    for name in ("block.py", "usage.py", "check.py"):
        tree = ast.parse((SRC / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                mods = {(node.module or "").split(".")[0]}
            else:
                continue
            assert not mods & banned, f"{name} imports {mods & banned}"

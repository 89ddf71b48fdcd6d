"""calicoctl ipam: show, check, release, configure - Calico's commands and output formats.

Thin adapter: parse options, read through the datastore / IPAMClient, let the pure modules
(calico.ipam.usage, calico.ipam.check) decide, print in calicoctl's formats (bordered tables in
the olekukonko/tablewriter style calicoctl v3.30 uses).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from calico.datastore.base import Datastore

T = TypeVar("T")

RESOURCES = "/calico/resources/v3/projectcalico.org/"
CLUSTER_INFO_KEY = RESOURCES + "clusterinformations/default"
_DECIMAL = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})*|\d+)(?:\.\d+)?$")
_PERCENT = re.compile(r"^-?\d+\.?\d*%$")
MAX_CELL = 30


# ---------------------------------------------------------------------------------------- helpers
def fail(message: str) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(1)


def client_version() -> str:
    try:
        from importlib.metadata import version

        return "v" + version("calico-py")
    except Exception:
        return "v3.30.0"


def _wrap(cell: str) -> list[str]:
    """tablewriter's auto-wrap: cells wider than 30 characters break at spaces."""
    if len(cell) <= MAX_CELL or " " not in cell:
        return [cell]
    lines: list[str] = []
    cur = ""
    for word in cell.split(" "):
        if cur and len(cur) + 1 + len(word) > MAX_CELL:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}" if cur else word
    lines.append(cur)
    return lines


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A bordered table as calicoctl prints it: centred upper-case header, numbers right-aligned."""
    head = [h.upper() for h in header]
    wrapped = [[_wrap(str(c)) for c in row] for row in rows]
    widths = [len(h) for h in head]
    for row in wrapped:
        for i, lines in enumerate(row):
            widths[i] = max(widths[i], *(len(line) for line in lines))
    sep = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def centre(text: str, width: int) -> str:
        gap = width - len(text)
        left = gap // 2
        return " " * left + text + " " * (gap - left)

    out = [sep, "| " + " | ".join(centre(h, w) for h, w in zip(head, widths, strict=True)) + " |", sep]
    for row in wrapped:
        height = max(len(lines) for lines in row)
        for n in range(height):
            cells = []
            for lines, w in zip(row, widths, strict=True):
                text = lines[n] if n < len(lines) else ""
                numeric = _DECIMAL.match(text.strip()) or _PERCENT.match(text.strip())
                cells.append(text.rjust(w) if numeric else text.ljust(w))
            out.append("| " + " | ".join(cells) + " |")
    out.append(sep)
    return "\n".join(out)


def _g5(n: float) -> str:
    return f"{n:.5g}"


def _pct(n: float, total: float) -> str:
    return f"{_g5(n)} ({100 * n / total:.0f}%)" if total else f"{_g5(n)} (0%)"


def run_with_datastore(config: str | None, allow_mismatch: bool,
                       fn: Callable[[Datastore], Awaitable[T]]) -> T:
    """Connect as the other ctl commands do, check the cluster version, run ``fn``, close."""
    from calico.datastore.base import DatastoreError
    from calico.datastore.config import ConfigError, connect, load_config
    from calico.ipam.errors import IPAMError

    async def main() -> T:
        ds = await connect(load_config(config))
        try:
            if not allow_mismatch:
                await _check_version(ds)
            return await fn(ds)
        finally:
            await ds.close()

    try:
        return asyncio.run(main())
    except (ConfigError, DatastoreError, IPAMError) as exc:
        fail(str(exc))


async def _check_version(ds: Datastore) -> None:
    from calico.ctl.common import check_version

    try:
        await check_version(ds)
    except click.ClickException as exc:
        fail(exc.format_message())


def _allow(ctx: click.Context, flag: bool) -> bool:
    root = ctx.find_root().obj or {}
    return flag or bool(root.get("allow_version_mismatch"))


def _validate_ip(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.ip_interface(text.strip()).ip)
    except ValueError:
        fail(f"Invalid IP address specified: {text!r} is not an IPv4 or IPv6 address.")


config_option = click.option("-c", "--config", "config", default=None, metavar="<CONFIG>",
                             help="Path to the file containing connection configuration in YAML or JSON format. "
                                  "[default: /etc/calico/calicoctl.cfg]")
mismatch_option = click.option("--allow-version-mismatch", "allow_mismatch", is_flag=True,
                               help="Allow client and cluster versions mismatch.")


@click.group(name="ipam", context_settings={"help_option_names": ["-h", "--help"]})
def ipam() -> None:
    """IP address management: show, check, release, configure."""


# ---------------------------------------------------------------------------------------- show
@ipam.command()
@click.option("--ip", "ip", default=None, metavar="<IP>", help="Report whether this specific IP address is in use.")
@click.option("--show-blocks", is_flag=True, help="Show detailed information for IP blocks as well as pools.")
@click.option("--show-borrowed", is_flag=True, help='Show detailed information for "borrowed" IP addresses.')
@click.option("--show-configuration", is_flag=True, help="Show current Calico IPAM configuration.")
@config_option
@mismatch_option
@click.pass_context
def show(ctx: click.Context, ip: str | None, show_blocks: bool, show_borrowed: bool, show_configuration: bool,
         config: str | None, allow_mismatch: bool) -> None:
    """Print information about a given IP address, or about overall IP usage."""
    if sum([ip is not None, show_blocks, show_borrowed, show_configuration]) > 1:
        fail(f"Invalid option: 'calicoctl {' '.join(sys.argv[1:])}'. "
             "Use flag '--help' to read about a specific subcommand.")
    addr = _validate_ip(ip) if ip is not None else None

    async def go(ds: Datastore) -> str:
        from calico.ipam.allocator import IPAMClient

        client = IPAMClient(ds)
        if addr is not None:
            return await _show_ip(client, addr)
        if show_configuration:
            cfg = await client.get_config()
            rows = [["StrictAffinity", str(cfg.strict_affinity).lower()],
                    ["AutoAllocateBlocks", str(cfg.auto_allocate_blocks).lower()],
                    ["MaxBlocksPerHost", str(cfg.max_blocks_per_host)]]
            return render_table(["PROPERTY", "VALUE"], rows)
        blocks = [b for b, _ in (await client.list_blocks()).values()]
        if show_borrowed:
            from calico.ipam.usage import borrowed

            details, unclassified = borrowed(blocks)
            text = render_table(["IP", "BORROWING-NODE", "BLOCK", "BLOCK OWNER", "TYPE", "ALLOCATED-TO"],
                                [[d.ip, d.borrowing_node, d.block, d.block_owner, d.type, d.allocated_to]
                                 for d in details])
            if unclassified:
                text += (f"\n\nNote: found {unclassified} IP allocations without an explicit node association. "
                         "Unable to determine if they are borrowed.")
            return text
        return await _show_usage(client, blocks, show_blocks)

    click.echo(run_with_datastore(config, _allow(ctx, allow_mismatch), go))


async def _show_ip(client: Any, addr: str) -> str:
    from calico.ipam.errors import NotAssigned

    try:
        _, attrs = await client.get_assignment_attributes(addr)
    except NotAssigned:
        return f"{addr} is not assigned"
    lines = [f"IP {addr} is in use"]
    if attrs:
        lines.append("Attributes:")
        lines.extend(f"  {k}: {attrs[k]}" for k in sorted(attrs))
    else:
        lines.append("No attributes defined")
    return "\n".join(lines)


async def _show_usage(client: Any, blocks: list[Any], show_blocks: bool) -> str:
    from calico.ipam.env import load_env
    from calico.ipam.usage import utilization

    env = await load_env(client.store, [])
    pools = [env.pools[name] for name in sorted(env.pools)]
    rows: list[list[str]] = []
    for pu in utilization(pools, blocks):
        if pu.cidr is not None:
            rows.append(["IP Pool", str(pu.cidr), _g5(pu.capacity), _pct(pu.in_use, pu.capacity),
                         _pct(pu.capacity - pu.in_use, pu.capacity)])
        if show_blocks:
            rows.extend(["Block", str(b.cidr), _g5(b.capacity), _pct(b.in_use, b.capacity),
                         _pct(b.capacity - b.in_use, b.capacity)] for b in pu.blocks)
    return render_table(["GROUPING", "CIDR", "IPS TOTAL", "IPS IN USE", "IPS FREE"], rows)


# ---------------------------------------------------------------------------------------- check
async def _in_use_ips(ds: Datastore) -> tuple[dict[str, list[str]], int, int]:
    """Addresses really in use: workload endpoints' ipNetworks and nodes' tunnel addresses."""
    import ipaddress

    in_use: dict[str, list[str]] = {}

    def record(text: str, owner: str) -> bool:
        try:
            ip = str(ipaddress.ip_interface(text).ip)
        except ValueError:
            return False
        in_use.setdefault(ip, []).append(owner)
        return True

    nodes, _ = await ds.list(RESOURCES + "nodes/")
    node_ips = 0
    for kv in nodes:
        doc = json.loads(kv.value)
        name = (doc.get("metadata") or {}).get("name", kv.key.rsplit("/", 1)[-1])
        spec = doc.get("spec") or {}
        for addr in (spec.get("ipv4VXLANTunnelAddr"), spec.get("ipv6VXLANTunnelAddr"),
                     (spec.get("wireguard") or {}).get("interfaceIPv4Address"),
                     (spec.get("wireguard") or {}).get("interfaceIPv6Address"),
                     (spec.get("bgp") or {}).get("ipv4IPIPTunnelAddr")):
            if addr and record(addr, f"Node({name})"):
                node_ips += 1
    weps, _ = await ds.list(RESOURCES + "workloadendpoints/")
    wep_ips = 0
    for kv in weps:
        doc = json.loads(kv.value)
        meta = doc.get("metadata") or {}
        for net in (doc.get("spec") or {}).get("ipNetworks") or []:
            if record(net, f"Workload({meta.get('namespace', '')}/{meta.get('name', '')})"):
                wep_ips += 1
    return in_use, node_ips, wep_ips


async def _cluster_info(ds: Datastore) -> tuple[str, str, bool, str]:
    """(clusterGUID, revision, datastore locked, clusterType) of ClusterInformation default."""
    kv = await ds.get(CLUSTER_INFO_KEY)
    if kv is None:
        return "", "", False, ""
    spec = json.loads(kv.value).get("spec") or {}
    ready = spec.get("datastoreReady")
    return str(spec.get("clusterGUID") or ""), str(kv.mod_revision), ready is False, str(spec.get("clusterType") or "")


@ipam.command()
@click.option("--show-all-ips", is_flag=True, help="Print all IPs that are checked.")
@click.option("--show-problem-ips", is_flag=True, help="Print all IPs that are leaked or not allocated properly.")
@click.option("-o", "--output", "output", default=None, metavar="<FILE>", help="Path to output report file.")
@click.option("--kubeconfig", default=None, hidden=True)
@config_option
@mismatch_option
@click.pass_context
def check(ctx: click.Context, show_all_ips: bool, show_problem_ips: bool, output: str | None,
          kubeconfig: str | None, config: str | None, allow_mismatch: bool) -> None:
    """Check the integrity of the IPAM data structures against workloads and nodes."""

    async def go(ds: Datastore) -> tuple[list[str], dict[str, Any]]:
        from calico.datastore import keys
        from calico.ipam.allocator import IPAMClient
        from calico.ipam.check import CheckInput, report, run_check
        from calico.ipam.env import load_env

        client = IPAMClient(ds)
        guid, rev, locked, ctype = await _cluster_info(ds)
        blocks = [b for b, _ in (await client.list_blocks()).values()]
        env = await load_env(client.store, [])
        handle_kvs, _ = await ds.list(keys.HANDLE_PREFIX)
        aff_kvs, _ = await ds.list(keys.affinity_prefix())
        affinities = [p for p in (keys.parse_affinity_key(kv.key) for kv in aff_kvs) if p is not None]
        in_use, node_ips, wep_ips = await _in_use_ips(ds)
        result = run_check(CheckInput(
            blocks=blocks, handles={kv.key[len(keys.HANDLE_PREFIX):]: kv.mod_revision for kv in handle_kvs},
            affinities=affinities, pools=[env.pools[n] for n in sorted(env.pools)], in_use=in_use,
            node_ips=node_ips, workload_ips=wep_ips, show_all_ips=show_all_ips,
            show_problem_ips=show_problem_ips or show_all_ips))
        doc = report(result, version=client_version(), cluster_guid=guid, datastore_locked=locked,
                     cluster_info_revision=rev, cluster_type=ctype)
        return result.lines, doc

    lines, doc = run_with_datastore(config, _allow(ctx, allow_mismatch), go)
    click.echo("\n".join(lines))
    if output:
        try:
            with open(output, "w") as fh:
                fh.write(json.dumps(doc, indent=2))
        except OSError as exc:
            fail(f"failed to write report {output}: {exc.strerror}")


# ---------------------------------------------------------------------------------------- release
@ipam.command()
@click.option("--ip", "ip", default=None, metavar="<IP>", help="IP address to release.")
@click.option("--from-report", "reports", multiple=True, metavar="<REPORT>",
              help="Release all leaked addresses from the report (only those leaked in every report given).")
@click.option("--force", is_flag=True, help="Force release of leaked addresses.")
@config_option
@mismatch_option
@click.pass_context
def release(ctx: click.Context, ip: str | None, reports: tuple[str, ...], force: bool, config: str | None,
            allow_mismatch: bool) -> None:
    """Release an IP address (or the leaks a report found) that is no longer used."""
    addr = _validate_ip(ip) if ip is not None and not reports else None
    docs = [_load_report(path) for path in reports]

    async def go(ds: Datastore) -> list[str]:
        from calico.ipam.allocator import IPAMClient

        client = IPAMClient(ds)
        if docs:
            return await _release_from_reports(ds, client, list(zip(reports, docs, strict=True)), force)
        if addr is None:
            return []
        not_assigned = await client.release_ips([addr])
        if not_assigned:
            fail(f"IP address {addr} is not assigned")
        return [f"Successfully released IP address {addr}"]

    lines = run_with_datastore(config, _allow(ctx, allow_mismatch), go)
    if lines:
        click.echo("\n".join(lines))


def _load_report(path: str) -> dict[str, Any]:
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except OSError as exc:
        fail(f"open {path}: {exc.strerror}")
    except ValueError as exc:
        fail(f"failed to parse report {path}: {exc}")
    if not isinstance(doc, dict) or not isinstance(doc.get("allocations", {}), dict):
        fail(f"failed to parse report {path}: not an ipam check report")
    return doc


async def _release_from_reports(ds: Datastore, client: Any, reports: list[tuple[str, dict[str, Any]]],
                                force: bool) -> list[str]:
    from calico.datastore import keys

    out: list[str] = []
    guid, rev, locked, _ = await _cluster_info(ds)
    found_current = False
    for path, r in reports:
        if str(r.get("clusterGUID") or "") != guid:
            fail(f"cluster does not match the provided report ({path}): mismatched cluster GUID. Refusing to release")
        if r.get("version") != client_version():
            if not force:
                fail(f"the provided report ({path}) was produced using a different version "
                     f"({r.get('version')}) of calicoctl. Refusing to release")
            out.append("WARNING: Report was produced using a different version of calicoctl. "
                       "Ignoring due to --force option")
        if str(r.get("clusterInformationRevision") or "") == rev:
            found_current = True
    if not found_current:
        fail("the provided reports are all stale - at least one should be up-to-date. "
             "Please generate a new report while the data store is locked and try again")
    if not locked:
        if not force:
            fail("data store is not locked. Either lock the data store, or re-run with --force")
        out.append("WARNING: Data store is not locked. Ignoring due to --force option")

    merged_ips: dict[str, str] | None = None
    merged_handles: dict[str, str] | None = None
    for _, r in reports:
        ips = {a["ip"]: a.get("handle", "") for allocs in (r.get("allocations") or {}).values()
               for a in allocs if not a.get("inUse")}
        merged_ips = ips if merged_ips is None else {ip: h for ip, h in ips.items() if ip in merged_ips}
        hs = {h["ID"]: str(h.get("Revision", "")) for h in r.get("leakedHandles") or []}
        merged_handles = hs if merged_handles is None else {
            h: v for h, v in hs.items() if merged_handles.get(h) == v}
    leaked: dict[str, str] = merged_ips or {}
    handles: dict[str, str] = merged_handles or {}

    if leaked:
        out.append(f"Releasing {len(leaked)} old IPs...")
        by_handle: dict[str, list[str]] = {}
        for ip, h in leaked.items():
            by_handle.setdefault(h, []).append(ip)
        unallocated: list[str] = []
        for owner, owned in by_handle.items():
            unallocated += await client.release_ips(owned, handle=owner or None)
        out.append(f"Released {len(leaked) - len(unallocated)} IPs successfully")
        if unallocated:
            out.append(f"{len(unallocated)} addresses marked as leaked in the report had already been cleaned up.")
    else:
        out.append("Report didn't contain any leaked IPs to clean up.")

    if handles:
        out.append(f"Deleting {len(handles)} handles...")
        out.append("Key: '.' = Deleted OK; 'x' = skip, handle missing/changed.")
        marks, ok, skipped = [], 0, 0
        for h, hrev in sorted(handles.items()):
            kv = await ds.get(keys.handle_key(h))
            if kv is None or str(kv.mod_revision) != hrev:
                marks.append("x")
                skipped += 1
                continue
            try:
                await ds.delete(kv.key, kv.mod_revision)
            except Exception:
                marks.append("x")
                skipped += 1
                continue
            marks.append(".")
            ok += 1
        out.append("".join(marks))
        out.append(f"Released {ok} handles; {skipped} skipped; 0 errors.")
    else:
        out.append("Report didn't contain any handles to clean up.")
    out.append("You may now unlock the data store.")
    return out


# ---------------------------------------------------------------------------------------- configure
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@ipam.command()
@click.option("--strictaffinity", "strict", default=None, metavar="<true/false>",
              help="Set StrictAffinity to true/false. When StrictAffinity is true, borrowing IP addresses "
                   "is not allowed.")
@click.option("--max-blocks-per-host", "max_blocks", default=None, metavar="<number>",
              help="Set the maximum number of blocks that can be affine to a host.")
@config_option
@mismatch_option
@click.pass_context
def configure(ctx: click.Context, strict: str | None, max_blocks: str | None, config: str | None,
              allow_mismatch: bool) -> None:
    """Modify configuration for Calico IP address management."""
    strict_value: bool | None = None
    if strict:
        if strict not in _TRUE | _FALSE:
            fail("invalid value. Use true or false to set strictaffinity")
        strict_value = strict in _TRUE
    blocks_value: int | None = None
    if max_blocks:
        try:
            blocks_value = int(max_blocks)
        except ValueError:
            fail("invalid value for maxblockhost. Use a valid number")
        if not 0 <= blocks_value < 2**31:
            fail("invalid value for maxblockhost. Use a valid number (0 or more; 0 means the default limit)")
    if strict_value is None and blocks_value is None:
        fail("at least one configuration option must be specified")

    async def go(ds: Datastore) -> list[str]:
        from calico.common.record import replace
        from calico.ipam.allocator import IPAMClient

        client = IPAMClient(ds)
        cfg = await client.get_config()
        if strict_value is not None:
            cfg = replace(cfg, strict_affinity=strict_value)
        if blocks_value is not None:
            cfg = replace(cfg, max_blocks_per_host=blocks_value)
        await client.set_config(cfg)
        out = []
        if strict_value is not None:
            out.append(f"Successfully set StrictAffinity to: {str(strict_value).lower()}")
        if blocks_value is not None:
            out.append(f"Successfully set MaxBlocksPerHost to: {blocks_value}")
        return out

    click.echo("\n".join(run_with_datastore(config, _allow(ctx, allow_mismatch), go)))

"""calicoctl create / apply / replace / delete / get / patch / label."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from calico.api.kinds import BY_KIND, lookup_kind
from calico.ctl.common import allow_mismatch_option, config_option, fail, resource_client, run

if TYPE_CHECKING:
    from calico.api import Resource
    from calico.datastore.resources import ResourceClient

PAST = {"create": "created", "apply": "applied", "replace": "replaced", "delete": "deleted"}

file_option = click.option("-f", "--filename", "filename", default=None,
                           help="Filename (or directory, or - for stdin) to use to manage the resources.")
recursive_option = click.option("-R", "--recursive", is_flag=True, help="Process the directory recursively.")
skip_empty_option = click.option("--skip-empty", is_flag=True, help="Do not error if a file has no resources.")
namespace_option = click.option("-n", "--namespace", default=None, help="Namespace of the resource.")


@dataclass
class Outcome:
    verb: str
    done: list[Resource] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    total: int = 0
    kinds: set[str] = field(default_factory=set)

    def report(self) -> None:
        past = PAST[self.verb]
        single_kind = len(self.kinds) == 1
        kind = next(iter(self.kinds)) if single_kind else ""
        what = f"'{kind}' resource(s)" if single_kind else "resource(s)"
        if not self.errors:
            click.echo(f"Successfully {past} {len(self.done)} {what}")
            return
        msgs = "[" + " ".join(m for _, m in self.errors) + "]"
        if self.total == 1:
            fail(f"Failed to {self.verb} '{self.errors[0][0]}' resource: {msgs}")
        if not self.done:
            any_what = f"'{kind}' resources" if single_kind else "resources"
            fail(f"Failed to {self.verb} any {any_what}: {msgs}")
        click.echo(f"Partial success: {past} the first {len(self.done)} out of {self.total} "
                   f"{f'{kind!r} resources' if single_kind else 'resources'}:")
        hit = "Hit error(s)" if self.verb == "apply" else "Hit error"
        fail(f"{hit}: {msgs}")


def _load(filename: str, recursive: bool, skip_empty: bool, verb: str, namespace: str | None) -> list[Resource]:
    from calico.api import CalicoValidationError, UnknownKindError
    from calico.ctl.files import FileError, load

    try:
        loaded = load(filename, recursive=recursive, skip_empty=skip_empty)
    except FileError as exc:
        fail(f"Failed to execute command: {exc}")
    except UnknownKindError as exc:
        fail(f"Failed to execute command: {exc}")
    except CalicoValidationError as exc:
        where = getattr(exc, "source", "")
        kind = getattr(exc, "kind", "") or "resource"
        fail(f"Failed to {verb} '{kind}' resource: [{exc}]" + (f" (in {where})" if where else ""))
    resources = [r for item in loaded for r in item.resources]
    if not resources:
        if skip_empty:
            click.echo("No resources specified")
            raise SystemExit(0)
        fail("No resources specified")
    return [_with_namespace(r, namespace) for r in resources]


def _with_namespace(res: Resource, namespace: str | None) -> Resource:
    """Apply calicoctl's namespace rules to one resource from a file."""
    from calico.api import parse_resource

    kind, ns, _name = res.identity()
    info = BY_KIND[kind]
    if not info.namespaced:
        if ns:
            fail(f"namespace should not be specified for a non-namespaced resource. {kind} is not a "
                 "namespaced resource")
        return res
    if ns and namespace and ns != namespace:
        fail(f"resource namespace does not match client namespace. {ns} != {namespace}")
    if ns:
        return res
    doc = res.to_dict()
    doc.setdefault("metadata", {})["namespace"] = namespace or "default"
    return parse_resource(doc)


async def _each(rc: ResourceClient, resources: list[Resource], verb: str,
                op: Callable[[Resource], Awaitable[Any]], skip: type[Exception] | None = None) -> Outcome:
    from calico.api import CalicoValidationError
    from calico.datastore.resources import ResourceError

    out = Outcome(verb=verb, total=len(resources))
    for res in resources:
        kind = res.identity()[0]
        out.kinds.add(kind)
        try:
            await op(res)
            out.done.append(res)
        except Exception as exc:
            if skip is not None and isinstance(exc, skip):
                out.done.append(res)
                continue
            if isinstance(exc, (ResourceError, CalicoValidationError)):
                out.errors.append((kind, str(exc)))
                continue
            raise
    return out


def _file_command(verb: str, extra: list[Callable[..., Any]] | None = None) -> Callable[..., Any]:
    def decorate(fn: Callable[..., Any]) -> click.Command:
        for opt in reversed([file_option, recursive_option, skip_empty_option, config_option, namespace_option,
                             allow_mismatch_option, *(extra or [])]):
            fn = opt(fn)
        return click.command(verb)(click.pass_context(fn))
    return decorate


async def _replace_one(rc: ResourceClient, res: Resource) -> Resource:
    """Update; a stale resourceVersion from the file gets calicoctl's out-of-date message."""
    from calico.datastore.resources import ResourceError, UpdateConflict

    rv = res.metadata.resource_version
    try:
        return await rc.update(res)
    except UpdateConflict as exc:
        if rv:
            raise ResourceError(f"Resource version '{rv}' is out of date (latest: {exc.latest}). Update the "
                                "resource YAML/JSON in order to make changes.") from None
        raise


def _run_file_verb(ctx: click.Context, verb: str, filename: str | None, recursive: bool, skip_empty: bool,
                   config_file: str, namespace: str | None, allow_version_mismatch: bool,
                   skip_exists: bool = False) -> None:
    """create / apply / replace: load every resource first (nothing written on a bad file), then write."""
    if not filename:
        fail("Failed to execute command: a file name is required (-f)")
    resources = _load(filename, recursive, skip_empty, verb, namespace)

    async def body() -> Outcome:
        from calico.datastore.resources import ResourceExists

        async with resource_client(ctx, config_file, allow_version_mismatch) as rc:
            ops: dict[str, Callable[[Resource], Awaitable[Any]]] = {
                "create": rc.create, "apply": rc.apply, "replace": lambda r: _replace_one(rc, r)}
            return await _each(rc, resources, verb, ops[verb], ResourceExists if skip_exists else None)

    run(body).report()


@_file_command("create", [click.option("--skip-exists", is_flag=True,
                                       help="Skip over and treat as successful any attempts to create an "
                                            "entry that already exists.")])
def create(ctx: click.Context, filename: str | None, recursive: bool, skip_empty: bool, config_file: str,
           namespace: str | None, allow_version_mismatch: bool, skip_exists: bool) -> None:
    """Create resources from a file."""
    _run_file_verb(ctx, "create", filename, recursive, skip_empty, config_file, namespace, allow_version_mismatch,
                   skip_exists)


@_file_command("apply")
def apply(ctx: click.Context, filename: str | None, recursive: bool, skip_empty: bool, config_file: str,
          namespace: str | None, allow_version_mismatch: bool) -> None:
    """Apply resources from a file: create, or replace if they exist."""
    _run_file_verb(ctx, "apply", filename, recursive, skip_empty, config_file, namespace, allow_version_mismatch)


@_file_command("replace")
def replace(ctx: click.Context, filename: str | None, recursive: bool, skip_empty: bool, config_file: str,
            namespace: str | None, allow_version_mismatch: bool) -> None:
    """Replace existing resources from a file."""
    _run_file_verb(ctx, "replace", filename, recursive, skip_empty, config_file, namespace, allow_version_mismatch)


def _kind_or_fail(name: str) -> str:
    info = lookup_kind(name)
    if info is None:
        fail(f"resource type '{name}' is not supported")
    return info.kind


def _ns_for(kind: str, namespace: str | None, all_namespaces: bool) -> str | None:
    info = BY_KIND[kind]
    if namespace and all_namespaces:
        fail("cannot use both --namespace and --all-namespaces flags at the same time")
    if not info.namespaced:
        if namespace or all_namespaces:
            fail(f"{kind} is not namespaced")
        return None
    if all_namespaces:
        return None
    return namespace or "default"


@click.command("delete")
@click.argument("args", nargs=-1)
@file_option
@recursive_option
@skip_empty_option
@click.option("-s", "--skip-not-exists", is_flag=True,
              help="Skip over and treat as successful any attempts to delete an entry that does not exist.")
@config_option
@namespace_option
@allow_mismatch_option
@click.pass_context
def delete(ctx: click.Context, args: tuple[str, ...], filename: str | None, recursive: bool, skip_empty: bool,
           skip_not_exists: bool, config_file: str, namespace: str | None, allow_version_mismatch: bool) -> None:
    """Delete resources by file or by KIND NAME..."""
    from calico.datastore.resources import ResourceNotFound

    targets: list[tuple[str, str, str | None]]
    if filename:
        resources = _load(filename, recursive, skip_empty, "delete", namespace)
        targets = [(k, n, ns) for (k, ns, n) in (r.identity() for r in resources)]
    else:
        if not args:
            fail("No resources specified")
        kind = _kind_or_fail(args[0])
        names = args[1:]
        if not names:
            fail("No resources specified")
        ns = _ns_for(kind, namespace, False)
        targets = [(kind, n, ns) for n in names]

    async def body() -> Outcome:
        from calico.datastore.resources import ResourceError

        async with resource_client(ctx, config_file, allow_version_mismatch) as rc:
            out = Outcome(verb="delete", total=len(targets))
            for kind, name, ns in targets:
                out.kinds.add(kind)
                try:
                    out.done.append(await rc.delete(kind, name, ns))
                except ResourceNotFound as exc:
                    if skip_not_exists:
                        out.done.append(None)  # type: ignore[arg-type]
                    else:
                        out.errors.append((kind, str(exc)))
                except ResourceError as exc:
                    out.errors.append((kind, str(exc)))
            return out

    run(body).report()


@click.command("get")
@click.argument("args", nargs=-1)
@file_option
@recursive_option
@skip_empty_option
@click.option("-o", "--output", default="ps", help="Output format: ps, wide, custom-columns=..., yaml, json.")
@config_option
@namespace_option
@click.option("-A", "-a", "--all-namespaces", "all_namespaces", is_flag=True,
              help="List the requested object(s) across all namespaces.")
@click.option("--export", is_flag=True, help="Strip cluster-specific metadata (single named resources).")
@allow_mismatch_option
@click.pass_context
def get(ctx: click.Context, args: tuple[str, ...], filename: str | None, recursive: bool, skip_empty: bool,
        output: str, config_file: str, namespace: str | None, all_namespaces: bool, export: bool,
        allow_version_mismatch: bool) -> None:
    """Get resources by KIND [NAME...] or by file."""
    from calico.ctl import output as out_fmt

    fmt = output
    if fmt == "yml":
        fmt = "yaml"
    if not (fmt in ("ps", "wide", "yaml", "json") or fmt.startswith("custom-columns")):
        fail(f"unrecognized output format '{output}'")
    if fmt.startswith("custom-columns") and not fmt.partition("=")[2].strip(","):
        fail("need to specify at least one column")

    if filename:
        resources = _load(filename, recursive, skip_empty, "get", namespace)
        targets: list[tuple[str, str | None, str | None]] = [(k, n, ns) for (k, ns, n) in
                                                               (r.identity() for r in resources)]
        kind = targets[0][0]
    else:
        if not args:
            fail("Invalid option: 'calicoctl get'. Use flag '--help' to read about a specific subcommand.")
        kind = _kind_or_fail(args[0])
        names = list(args[1:])
        if names and all_namespaces:
            fail("cannot use --all-namespace flag for getting a single resource")
        ns = _ns_for(kind, namespace, all_namespaces)
        targets = [(kind, n, ns) for n in names] if names else [(kind, None, ns)]

    async def body() -> tuple[list[dict[str, Any]], list[str], str | None, str]:
        from calico.datastore.resources import ResourceError

        async with resource_client(ctx, config_file, allow_version_mismatch) as rc:
            docs: list[dict[str, Any]] = []
            errors: list[str] = []
            list_rv: str | None = None
            default_asn = "64512"
            if kind == "Node":
                try:
                    bgp = await rc.get("BGPConfiguration", "default")
                    default_asn = str(bgp.to_dict().get("spec", {}).get("asNumber") or "64512")
                except ResourceError:
                    pass
            for k, name, ns in targets:
                try:
                    if name is None:
                        items, rev = await rc.list(k, ns)
                        list_rv = str(rev)
                        docs.extend(i.to_dict() for i in items)
                    else:
                        docs.append((await rc.get(k, name, ns)).to_dict())
                except ResourceError as exc:
                    errors.append(str(exc))
            return docs, errors, list_rv, default_asn

    docs, errors, list_rv, default_asn = run(body)
    if export:
        for d in docs:
            meta = d.get("metadata", {})
            for f in ("uid", "resourceVersion", "creationTimestamp", "namespace"):
                meta.pop(f, None)
    is_list = list_rv is not None and not filename
    try:
        if fmt in ("yaml", "json"):
            obj: Any
            if is_list:
                obj = {"apiVersion": "projectcalico.org/v3", "kind": f"{kind}List",
                       "metadata": {"resourceVersion": list_rv}, "items": docs}
            elif len(docs) == 1:
                obj = docs[0]
            else:
                obj = docs
            if docs or is_list:
                click.echo(out_fmt.to_yaml(obj) if fmt == "yaml" else out_fmt.to_json(obj), nl=False)
        else:
            with_ns = BY_KIND[kind].namespaced and (namespace is not None or all_namespaces)
            click.echo(out_fmt.table(kind, docs, fmt, with_ns, default_asn), nl=False)
    except out_fmt.OutputError as exc:
        fail(str(exc))
    if errors:
        fail("\n".join(errors))


def _merge(base: Any, patch: Any) -> Any:
    """Strategic-merge as calicoctl does for Calico types: maps merge, lists and scalars replace."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(base.get(k), v)
        return out
    return patch


@click.command("patch")
@click.argument("kind_name")
@click.argument("name")
@click.option("-p", "--patch", "patch_text", required=True, help="The spec to patch, as JSON.")
@click.option("-t", "--type", "patch_type", default="strategic", help="Patch type (strategic).")
@config_option
@namespace_option
@allow_mismatch_option
@click.pass_context
def patch(ctx: click.Context, kind_name: str, name: str, patch_text: str, patch_type: str, config_file: str,
          namespace: str | None, allow_version_mismatch: bool) -> None:
    """Patch a resource with a strategic merge of JSON."""
    from calico.api import CalicoValidationError, parse_resource

    if patch_type != "strategic":
        fail(f"patch type '{patch_type}' is not implemented; use strategic")
    kind = _kind_or_fail(kind_name)
    ns = _ns_for(kind, namespace, False)
    try:
        patch_doc = json.loads(patch_text)
    except json.JSONDecodeError as exc:
        fail(f"Failed to patch '{kind}' resource: [invalid patch JSON: {exc}]")
    if not isinstance(patch_doc, dict):
        fail(f"Failed to patch '{kind}' resource: [the patch must be a JSON object]")

    async def body() -> None:
        from calico.datastore.resources import ResourceError

        async with resource_client(ctx, config_file, allow_version_mismatch) as rc:
            try:
                current = await rc.get(kind, name, ns)
                merged = _merge(current.to_dict(), patch_doc)
                await rc.update(parse_resource(merged))
            except (ResourceError, CalicoValidationError) as exc:
                fail(f"Failed to patch '{kind}' resource: [{exc}]")

    run(body)
    click.echo(f"Successfully patched 1 '{kind}' resource")


@click.command("label")
@click.argument("kind_name")
@click.argument("name")
@click.argument("label")
@click.option("--overwrite", is_flag=True, help="Overwrite the value if the label already exists.")
@click.option("--remove", is_flag=True, help="Remove the label.")
@config_option
@namespace_option
@allow_mismatch_option
@click.pass_context
def label(ctx: click.Context, kind_name: str, name: str, label: str, overwrite: bool, remove: bool,
          config_file: str, namespace: str | None, allow_version_mismatch: bool) -> None:
    """Add, update or remove a label on a resource."""
    from calico.api import CalicoValidationError, parse_resource

    kind = _kind_or_fail(kind_name)
    ns = _ns_for(kind, namespace, False)
    if remove:
        key, value = label, None
    else:
        key, sep, value = label.partition("=")
        if not sep or not key:
            fail(f"invalid label {label}")
    lower = kind.lower()

    async def body() -> str:
        from calico.datastore.resources import ResourceNotFound

        async with resource_client(ctx, config_file, allow_version_mismatch) as rc:
            try:
                current = await rc.get(kind, name, ns)
            except ResourceNotFound:
                fail(f"{lower} {name} not found")
            doc = current.to_dict()
            labels = doc.setdefault("metadata", {}).setdefault("labels", {})
            if remove:
                if key not in labels:
                    fail(f"cannot remove label of {lower} {name}, key {key} does not exist")
                del labels[key]
                msg = f"Successfully removed label {key} from {lower} {name}"
            else:
                existed = key in labels
                if existed and not overwrite:
                    fail(f"failed to update label of {lower} {name}, key {key} is already present. "
                         "please use '--overwrite' to set a new value.")
                labels[key] = value
                msg = (f"Successfully updated label {key} on {lower} {name}" if existed
                       else f"Successfully set label {key} on {lower} {name}")
            try:
                await rc.update(parse_resource(doc))
            except CalicoValidationError as exc:
                fail(f"invalid label {label}: {exc}")
            return msg

    click.echo(run(body))

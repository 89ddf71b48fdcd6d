"""Shared plumbing for calicoctl verbs: datastore connection, version check, error exits."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from calico.datastore.base import Datastore
    from calico.datastore.resources import ResourceClient

T = TypeVar("T")
DEFAULT_CONFIG = "/etc/calico/calicoctl.cfg"


def client_version() -> str:
    try:
        from importlib.metadata import version

        return "v" + version("calico-py")
    except Exception:
        return "v3.30.0"


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


config_option = click.option("-c", "--config", "config_file", default=DEFAULT_CONFIG, show_default=True,
                             help="Path to the file containing connection configuration in YAML or JSON format.")
allow_mismatch_option = click.option("--allow-version-mismatch", is_flag=True,
                                     help="Allow client and cluster versions mismatch.")


@asynccontextmanager
async def datastore(config_file: str | None) -> AsyncIterator[Datastore]:
    from calico.datastore.config import connect, load_config

    cfg = load_config(config_file)
    ds = await connect(cfg)
    try:
        yield ds
    finally:
        await ds.close()


@asynccontextmanager
async def resource_client(ctx: click.Context, config_file: str | None,
                          allow_version_mismatch: bool) -> AsyncIterator[ResourceClient]:
    """The datastore, version-checked unless told not to, as a ResourceClient (every resource verb)."""
    from calico.datastore.resources import ResourceClient

    async with datastore(config_file) as ds:
        if not allow_mismatch(ctx, allow_version_mismatch):
            await check_version(ds)
        yield ResourceClient(ds)


async def check_version(ds: Datastore) -> None:
    """calicoctl refuses to talk to a cluster of another version unless told to."""
    import json

    from calico.datastore import keys

    kv = await ds.get(keys.resource_key("ClusterInformation", "default"))
    if kv is None:
        return
    cluster = str((json.loads(kv.value).get("spec") or {}).get("calicoVersion") or "")
    if not cluster:
        return
    mine = client_version()
    def norm(v: str) -> str:
        return v.lstrip("v").split("-")[0]
    if norm(cluster) != norm(mine):
        raise click.ClickException(
            f"Version mismatch.\nClient Version:   {mine}\nCluster Version:  {cluster}\n"
            "Use --allow-version-mismatch to override.")


def run(coro_fn: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body, turning datastore/config errors into calicoctl-style exits."""
    from calico.datastore.base import DatastoreError
    from calico.datastore.config import ConfigError

    try:
        return asyncio.run(coro_fn())  # type: ignore[arg-type]
    except DatastoreError as exc:
        fail(f"Failed to execute command: {exc}")
    except ConfigError as exc:
        fail(str(exc))


def allow_mismatch(ctx: click.Context, local_flag: bool) -> bool:
    root = ctx.find_root().obj or {}
    return bool(local_flag or root.get("allow_version_mismatch"))

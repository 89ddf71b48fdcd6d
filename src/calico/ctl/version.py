"""calicoctl version."""

from __future__ import annotations

import click

from calico.ctl.common import DEFAULT_CONFIG, client_version

GIT_COMMIT = "python"


@click.command("version")
@click.option("--client", "client_only", is_flag=True, help="Display only the client version.")
@click.option("-c", "--config", "config_file", default=DEFAULT_CONFIG)
@click.option("--poll", default=None, hidden=True)
def version(client_only: bool, config_file: str, poll: str | None) -> None:
    """Print the client and cluster versions."""
    click.echo(f"Client Version:    {client_version()}")
    click.echo(f"Git commit:        {GIT_COMMIT}")
    if client_only:
        return
    import asyncio
    import json

    async def cluster() -> tuple[str, str]:
        from calico.ctl.common import datastore
        from calico.datastore import keys

        async with datastore(config_file) as ds:
            kv = await ds.get(keys.resource_key("ClusterInformation", "default"))
        if kv is None:
            return "", ""
        spec = json.loads(kv.value).get("spec") or {}
        return str(spec.get("calicoVersion") or ""), str(spec.get("clusterType") or "")

    try:
        ver, ctype = asyncio.run(cluster())
    except Exception:
        click.echo("Unable to detect installed Calico version")
        return
    click.echo(f"Cluster Version:   {ver or 'unknown'}")
    click.echo(f"Cluster Type:      {ctype or 'unknown'}")

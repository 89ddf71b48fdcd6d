"""calicoctl entry point: global flags, then one module per verb family (imported lazily)."""

from __future__ import annotations

import importlib
import sys

import click

# verb -> "module:attribute" of a click.Command; modules import only when their verb runs.
COMMANDS: dict[str, str] = {
    "create": "calico.ctl.resources:create",
    "apply": "calico.ctl.resources:apply",
    "replace": "calico.ctl.resources:replace",
    "delete": "calico.ctl.resources:delete",
    "get": "calico.ctl.resources:get",
    "patch": "calico.ctl.resources:patch",
    "label": "calico.ctl.resources:label",
    "convert": "calico.ctl.convert:convert",
    "version": "calico.ctl.version:version",
    "ipam": "calico.ctl.ipam:ipam",
    "node": "calico.ctl.node:node",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-l", "--log-level", default="panic",
              type=click.Choice(["panic", "fatal", "error", "warn", "warning", "info", "debug"],
                                case_sensitive=False),
              help="Set the log level.")
@click.option("--allow-version-mismatch", is_flag=True, help="Skip the client/cluster version check.")
@click.option("--context", "kube_context", default=None, hidden=True)
@click.pass_context
def cli(ctx: click.Context, log_level: str, allow_version_mismatch: bool, kube_context: str | None) -> None:
    """calicoctl: manage Calico resources, IPAM and nodes."""
    import logging

    level = {"panic": logging.CRITICAL + 10, "fatal": logging.CRITICAL, "warn": logging.WARNING}.get(
        log_level.lower(), getattr(logging, log_level.upper(), logging.WARNING))
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s [%(levelname)s] %(name)s: %(message)s")
    ctx.ensure_object(dict)
    ctx.obj["allow_version_mismatch"] = allow_version_mismatch


def main(argv: list[str] | None = None) -> None:
    """Run calicoctl; usage errors read as calicoctl's and every failure exits 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        rc = cli.main(args=args, prog_name="calicoctl", standalone_mode=False)
    except click.exceptions.NoSuchOption as exc:
        click.echo(f"Invalid option: 'calicoctl {' '.join(args)}'. Use flag '--help' to read about a "
                   f"specific subcommand. ({exc.format_message()})", err=True)
        sys.exit(1)
    except click.UsageError as exc:
        if "No such command" in exc.format_message():
            click.echo(f"Invalid option: 'calicoctl {' '.join(args)}'. Use flag '--help' to read about a "
                       "specific subcommand.", err=True)
        else:
            click.echo(f"{exc.format_message()}\nUse flag '--help' to read about a specific subcommand.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(exc.format_message(), err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()

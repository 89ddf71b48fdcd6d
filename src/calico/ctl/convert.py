"""calicoctl convert: v1 (Calico 2.x) manifests to projectcalico.org/v3."""

from __future__ import annotations

import click

from calico.ctl.common import fail


@click.command("convert")
@click.option("-f", "--filename", "filename", required=True, help="Filename (or - for stdin) to convert.")
@click.option("-o", "--output", default="yaml", type=click.Choice(["yaml", "yml", "json"]),
              help="Output format.")
@click.option("--ignore-validation", is_flag=True, help="Skip validation of the converted manifest.")
def convert(filename: str, output: str, ignore_validation: bool) -> None:
    """Convert v1 resources to v3 and print them."""
    from calico.api import CalicoValidationError, UnknownKindError, convert_manifest
    from calico.ctl import output as out_fmt
    from calico.ctl.files import FileError, _documents, _read

    try:
        docs = _documents(_read(filename), filename)
        result = convert_manifest(docs, validate=not ignore_validation)
    except (FileError, UnknownKindError) as exc:
        fail(f"Failed to execute command: {exc}")
    except CalicoValidationError as exc:
        fail(f"Converted manifest resource(s) failed validation: {exc}"
             "Re-run the command with '--ignore-validation' flag to see the converted output.")
    except ValueError as exc:
        fail(f"Failed to execute command: {exc}")
    click.echo(out_fmt.to_json(result) if output == "json" else out_fmt.to_yaml(result), nl=False)

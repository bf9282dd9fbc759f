"""`justlink schemas ...`: check, register and list the Avro contracts."""

from __future__ import annotations

import click


@click.group()
def schemas() -> None:
    """The canonical Avro event schemas."""


@schemas.command()
def check() -> None:
    """Fail when a schema does not parse, lacks docs or pii tags, or changed incompatibly."""
    from schemas.check import check as run_check

    problems = run_check()
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    from schemas.loader import load_all

    click.echo(f"ok: {len(load_all())} event schemas parse, are documented, tag personal fields, "
               "and are BACKWARD_TRANSITIVE compatible with every registered version")


@schemas.command()
def register() -> None:
    """Register new versions of changed schemas in schemas/registry.json (compatibility-checked)."""
    from schemas.check import register_all
    from schemas.registry import IncompatibleSchemaError

    try:
        added = register_all()
    except IncompatibleSchemaError as exc:
        raise click.ClickException(str(exc)) from None
    for reg in added:
        click.echo(f"registered {reg.subject} v{reg.version} as id {reg.schema_id}")
    if not added:
        click.echo("nothing to register")


@schemas.command("list")
def list_() -> None:
    """Event types with their agency, registered version and schema id."""
    from schemas.loader import load_all
    from schemas.registry import default_registry

    reg = default_registry()
    for name, schema in sorted(load_all().items(), key=lambda kv: (kv[1].agency, kv[0])):
        latest = reg.lookup(schema.full_name, schema.expanded)
        tag = f"v{latest.version} id={latest.schema_id}" if latest else "UNREGISTERED"
        click.echo(f"{schema.agency:14} {name:32} {tag}")

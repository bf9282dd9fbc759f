"""`justlink schemas ...`: check, register and list the Avro contracts."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def schemas() -> None:
    """The canonical Avro event schemas."""


REGISTRY_URL = click.option("--registry-url", default=None, metavar="URL",
                            help="A Confluent-REST schema registry (default: setting schema_registry_url).")
AUTH = click.option("--auth", default=None, metavar="USER[:PASSWORD]",
                    help="HTTP Basic credentials; without :PASSWORD the password comes from "
                         "JUSTLINK_SCHEMA_REGISTRY_PASSWORD (or schema_registry_password_file), out of shell history.")


@schemas.command()
@click.option("--registry-url", default=None, metavar="URL",
              help="Also compare the committed contracts with this Confluent-REST schema registry.")
@AUTH
@click.pass_obj
def check(settings, registry_url: str | None, auth: str | None) -> None:
    """Fail when a schema does not parse, lacks docs or pii tags, changed incompatibly, or its bundled form
    is stale; with --registry-url, also when the registry differs from the committed contracts."""
    from schemas.check import check as run_check

    problems: list = list(run_check())
    if registry_url:
        from hub.bootstrap import schema_registry
        from schemas.remote_registry import RegistryRequestError, compare

        remote = schema_registry(settings, registry_url, auth)
        try:
            differences = compare(remote)
        except RegistryRequestError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            remote.close()
        problems += [f"registry {remote.url}: {d}" for d in differences]
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    from schemas.loader import load_all

    click.echo(f"ok: {len(load_all())} event schemas parse, are documented, tag personal fields, "
               "are BACKWARD_TRANSITIVE compatible with every registered version, and schemas/bundled/ is "
               "up to date" + (f"; the registry {registry_url} holds every committed version with its id"
                               if registry_url else ""))


@schemas.command()
@REGISTRY_URL
@AUTH
@click.pass_obj
def push(settings, registry_url: str | None, auth: str | None) -> None:
    """Register every committed contract version (schemas/registry.json) in a Confluent-REST schema registry:
    subjects by RecordNameStrategy (the record's full name), the committed ids kept through IMPORT mode
    where the registry supports it, compatibility BACKWARD_TRANSITIVE per subject. Idempotent."""
    from hub.bootstrap import schema_registry
    from schemas.registry import IncompatibleSchemaError
    from schemas.remote_registry import push as run_push

    remote = schema_registry(settings, registry_url, auth)
    from schemas.remote_registry import RegistryRequestError

    try:
        report = run_push(remote)
    except (IncompatibleSchemaError, RegistryRequestError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        remote.close()
    for reg in report.imported:
        click.echo(f"imported {reg.subject} v{reg.version} as id {reg.schema_id} (the committed id)")
    for local, theirs in report.registered:
        same = "the committed id" if local.schema_id == theirs.schema_id else f"committed id {local.schema_id}"
        click.echo(f"registered {local.subject} v{local.version} as id {theirs.schema_id} ({same})")
    click.echo(f"{remote.url}: {len(report.imported)} imported with their ids, {len(report.registered)} registered, "
               f"{len(report.present)} already there; compatibility BACKWARD_TRANSITIVE on every subject")
    if report.mapped:
        click.echo(f"warning: {len(report.mapped)} versions have other ids in this registry than in "
                   "schemas/registry.json: set schema_registry_url so producers write the registry's ids; records "
                   "already written with the committed ids resolve only where those ids were imported", err=True)


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


@schemas.command("bundle")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the standalone schemas (default: schemas/bundled/ next to the sources).")
def bundle_(out: Path | None) -> None:
    """Write every contract in its fully-resolved standalone form (shared types inlined), one .avsc
    per event type and per shared type, each loadable on its own by any Avro tool."""
    from schemas import bundle

    target = out or bundle.BUNDLE_DIR
    changed = bundle.write(target)
    click.echo(f"{len(bundle.bundle())} standalone schemas in {target}" +
               (f" ({len(changed)} written)" if changed else " (up to date)"))


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


@schemas.command()
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the reference to this file (e.g. docs/schemas.md) instead of printing it.")
@click.option("--check", "check_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Exit 1 when this file differs from the reference the code gives now.")
@click.option("--samples", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Exports in the generated county's layout to measure the built-in connectors' column -> "
                   "field mapping on (default: a small generated county).")
def docs(out: Path | None, check_file: Path | None, samples: Path | None) -> None:
    """The schema reference: every event type, its fields, types, docs, pii classes and enum values in
    English and Chinese, and which built-in connector maps which source column to which field."""
    from connectors.schema_docs import render

    text = render(samples)
    if check_file is not None:
        if not check_file.is_file() or check_file.read_text(encoding="utf-8") != text:
            raise click.ClickException(f"{check_file} is stale; run `justlink schemas docs --out {check_file}`")
        click.echo(f"ok: {check_file} is up to date")
    elif out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        click.echo(f"wrote {out} ({len(text.splitlines())} lines)")
    else:
        click.echo(text, nl=False)

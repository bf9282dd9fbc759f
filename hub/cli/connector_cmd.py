"""`justlink connector ...`: run a connector over exports (a built-in agency's, an installed one, or
one named by its module path), scaffold a new one, list, inspect and replay dead letters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, get_args

import click

from connectors.sdk.validation import InvalidIdPolicy
from runtime.topics import AGENCIES

CONNECTOR_HELP = ("CONNECTOR is a built-in agency (court, police, civil_affairs, justice), the name of an "
                  "installed connector (`justlink connector list`), or a module path package.module:Class "
                  "(imported from the current directory too).")


def _resolve(spec: str) -> Any:
    from connectors.registry import ConnectorNotFound, resolve

    try:
        return resolve(spec)
    except ConnectorNotFound as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def connector() -> None:
    """Agency connectors: read exports, publish protected events."""


@connector.command("run", help="Run CONNECTOR over --source. " + CONNECTOR_HELP)
@click.argument("connector_spec", metavar="CONNECTOR")
@click.option("--source", "source_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="An export file, a directory of the agency's exports, or a folder of county exports "
                   "(DIR/<division code>/, as `justlink generate --counties K` writes them).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Only publish records that occurred on or after this date (a local date, in the hub's time "
                   "zone: setting `timezone`, Asia/Shanghai by default).")
@click.option("--dry-run", is_flag=True, help="Read, map, validate and protect, but publish nothing.")
@click.option("--strict", is_flag=True, help="Exit non-zero when anything was dead-lettered.")
@click.option("--invalid-ids", type=click.Choice(get_args(InvalidIdPolicy)), default=None,
              help="An ID number with a wrong check digit: dead-letter the record (reject, the connector's "
                   "default) or keep it, marked invalid for matching (flag).")
@click.option("--from-start", is_flag=True, help="Ignore the checkpoint and re-read from the beginning "
                                                  "(already published records count as duplicates).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when on a terminal).")
@click.pass_obj
def run(settings: Any, connector_spec: str, source_path: Path, since: datetime | None, dry_run: bool,
        strict: bool, invalid_ids: InvalidIdPolicy | None, from_start: bool, progress: bool | None) -> None:
    from connectors.county import county_exports, county_sources
    from connectors.sdk.runtime import ConnectorRunner, RunSummary
    from hub.bootstrap import Hub
    from runtime.clock import from_local

    conn = _resolve(connector_spec)
    if invalid_ids:
        conn.invalid_id_policy = invalid_ids
    try:
        # several county folders: listed one county at a time, as each is run (county_sources)
        sources = conn.sources(source_path) if county_exports(source_path) == [source_path] else \
            county_sources(conn, source_path)
    except OSError as exc:
        raise click.ClickException(f"cannot read {source_path}: {exc.strerror or type(exc).__name__}") from None
    except Exception as exc:  # a connector of one's own whose sources() is broken
        from connectors.registry import failure

        raise click.ClickException(f"{connector_spec}: sources({source_path}) failed: {failure(exc)}") from None
    if isinstance(sources, list):   # one export folder (several counties' are listed as each is run)
        _say_what_is_not_read(source_path, sources, conn.agency)
    hub = Hub(settings)
    try:
        runner = ConnectorRunner(conn, hub.log, hub.protector, hub.connector_state, dry_run=dry_run,
                                 since=from_local(since, settings.timezone) if since else None, progress=progress)
        total = RunSummary(conn.name)
        for source in sources:
            summary = runner.run(source, resume=not from_start)
            click.echo(("[dry run] " if dry_run else "") + summary.line())
            total.add(summary)
        if settings.metrics_pushgateway_url and not dry_run:
            from connectors.sdk import metrics

            try:
                metrics.push(settings.metrics_pushgateway_url, conn.agency)
            except OSError as exc:  # the run itself succeeded: say so, and why the metrics did not arrive
                click.echo(f"warning: metrics not pushed to {settings.metrics_pushgateway_url}: {exc}", err=True)
        for reason, count in sorted(total.dead_letter_reasons.items(), key=lambda kv: -kv[1])[:10]:
            click.echo(f"  dead-lettered {count:>6} x {reason}")
        if not total.balanced:
            raise click.ClickException("counts do not add up — this is a bug, please report it")
        if total.refused:
            click.echo(f"error: {len(total.refused)} file(s) refused or stopped; see the REFUSED lines above",
                       err=True)
            raise SystemExit(3)
        if strict and total.dead_lettered:
            raise SystemExit(2)
    finally:
        hub.close()


def _say_what_is_not_read(source_path: Path, sources: list[Any], agency: str) -> None:
    """A file in the --source directory that no source reads (an .xlsx, a .txt) is named, and a directory
    with nothing to read is an error — never a silent run that reads nothing."""
    if source_path.is_file():
        return
    read = {Path(p).resolve() for p in (getattr(s, "path", None) for s in sources) if p is not None}
    folder = source_path / agency if (source_path / agency).is_dir() else source_path   # as Connector.sources
    skipped = sorted(p.name for p in folder.iterdir()
                     if p.is_file() and not p.name.startswith(".") and p.resolve() not in read)
    for name in skipped:
        hint = " (an Excel workbook: save it as CSV)" if name.lower().endswith((".xlsx", ".xls")) else ""
        click.echo(f"skipped {name}: not an export this connector reads (.csv or .jsonl){hint}", err=True)
    if not sources:
        raise click.ClickException(f"nothing to read in {source_path}: no .csv or .jsonl export"
                                   + (f" (skipped {len(skipped)} other files)" if skipped else ""))


@connector.command("list")
def list_() -> None:
    """The built-in connectors and the installed ones (entry points in group justlink.connectors)."""
    from connectors.registry import available

    for listed in available():
        click.echo(f"{listed.name:20} {listed.target:60} {listed.origin}")


@connector.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where to create the package.")
@click.option("--agency", type=click.Choice(AGENCIES), default="justice", show_default=True,
              help="The agency whose topic the connector publishes to.")
def new(name: str, directory: Path, agency: str) -> None:
    """Scaffold connector package NAME: a mapping, a sample export (Chinese headers, GB18030) and a test
    that runs the connector test kit on it."""
    from connectors.scaffold import ScaffoldError, class_name, scaffold

    try:
        target = scaffold(name, directory, agency=agency)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {target}/ (connector {name}.connector:{class_name(name)}, sample samples/, test tests/)")
    click.echo("next:")
    click.echo(f"  cd {target}")
    click.echo("  justlink keys init    # a hub to try it on: ./.justlink there (or where JUSTLINK_DATA_DIR says)")
    click.echo(f"  justlink connector run {name}.connector:{class_name(name)} --source samples/")
    click.echo("  python -m pytest tests/")
    click.echo(f"  pip install .    # then: justlink connector run {name} --source ...")


@connector.command("dead-letters")
@click.argument("agency", type=click.Choice(AGENCIES))
@click.option("--limit", default=50, show_default=True)
@click.option("--subject", "subjects", multiple=True,
              help="Only dead letters sealed under this subject key (repeat for every key of a person).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter (metadata only).")
@click.pass_obj
def dead_letters(settings: Any, agency: str, limit: int, subjects: tuple[str, ...], as_json: bool) -> None:
    """Show AGENCY's dead letters: file:line, source column (contract field), rule and reason; the
    originals stay sealed."""
    from connectors.sdk.deadletter import read_dead_letters
    from hub.bootstrap import Hub
    from runtime.topics import dead_letter_topic

    wanted = {s.strip().lower() for s in subjects}
    hub = Hub(settings)
    try:
        shown = 0
        group = f"justlink-cli-deadletters-{datetime.now().timestamp()}"
        for d in read_dead_letters(hub.log, [dead_letter_topic(agency)], group=group):
            if wanted and not wanted & set(d.subject_keys):
                continue
            click.echo(d.to_json() if as_json else f"{d.stage:9} {d.message()}")
            shown += 1
            if shown >= limit:
                break
        if not shown and not as_json:
            click.echo("no dead letters")
    finally:
        hub.close()


@connector.command("replay-dead-letters")
@click.argument("agency", type=click.Choice(AGENCIES))
@click.option("--connector", "connector_spec", default=None,
              help="Replay through this connector instead of the one each dead letter names. " + CONNECTOR_HELP)
@click.option("--dry-run", is_flag=True, help="Map, validate and protect, but publish nothing.")
@click.pass_obj
def replay(settings: Any, agency: str, connector_spec: str | None, dry_run: bool) -> None:
    """Re-publish AGENCY's dead letters that map now (after a fix to the connector or its vocabulary).
    What still fails stays on the dead-letter topic; originals of erased persons cannot be replayed."""
    from connectors.sdk.replay import replay_dead_letters
    from hub.bootstrap import Hub

    given = _resolve(connector_spec) if connector_spec else None
    hub = Hub(settings)
    try:
        summary = replay_dead_letters(hub.log, hub.protector, hub.connector_state, agency, resolve=_resolve,
                                      connector=given, dry_run=dry_run)
        click.echo(("[dry run] " if dry_run else "") + summary.line())
        for reason, count in sorted(summary.reasons.items(), key=lambda kv: -kv[1])[:10]:
            click.echo(f"  still failing {count:>6} x {reason}")
    finally:
        hub.close()

"""`justlink connector ...`: run an agency connector over its exports."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import get_args

import click

from connectors.registry import CONNECTORS
from connectors.sdk.validation import InvalidIdPolicy


@click.group()
def connector() -> None:
    """Agency connectors: read exports, publish protected events."""


@connector.command("run")
@click.argument("agency", type=click.Choice(sorted(CONNECTORS)))
@click.option("--source", "source_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="An export file, or a directory of the agency's exports.")
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
def run(settings, agency: str, source_path: Path, since: datetime | None, dry_run: bool, strict: bool,
        invalid_ids: InvalidIdPolicy | None, from_start: bool, progress: bool | None) -> None:
    """Run AGENCY's connector over --source."""
    from connectors.registry import get_connector
    from connectors.sdk.runtime import ConnectorRunner, RunSummary
    from hub.bootstrap import Hub
    from runtime.clock import from_local

    hub = Hub(settings)
    try:
        conn = get_connector(agency)
        if invalid_ids:
            conn.invalid_id_policy = invalid_ids
        runner = ConnectorRunner(conn, hub.log, hub.protector, hub.connector_state, dry_run=dry_run,
                                 since=from_local(since, settings.timezone) if since else None, progress=progress)
        total = RunSummary(agency)
        for source in conn.sources(source_path):
            summary = runner.run(source, resume=not from_start)
            click.echo(("[dry run] " if dry_run else "") + summary.line())
            total.add(summary)
        if settings.metrics_pushgateway_url and not dry_run:
            from connectors.sdk import metrics

            try:
                metrics.push(settings.metrics_pushgateway_url, agency)
            except OSError as exc:  # the run itself succeeded: say so, and why the metrics did not arrive
                click.echo(f"warning: metrics not pushed to {settings.metrics_pushgateway_url}: {exc}", err=True)
        for reason, count in sorted(total.dead_letter_reasons.items(), key=lambda kv: -kv[1])[:10]:
            click.echo(f"  dead-lettered {count:>6} x {reason}")
        if not total.balanced:
            raise click.ClickException("counts do not add up — this is a bug, please report it")
        if strict and total.dead_lettered:
            raise SystemExit(2)
    finally:
        hub.close()


@connector.command("list")
def list_() -> None:
    """The reference connectors."""
    for name, path in sorted(CONNECTORS.items()):
        click.echo(f"{name:14} {path}")


@connector.command("dead-letters")
@click.argument("agency", type=click.Choice(sorted(CONNECTORS)))
@click.option("--limit", default=50, show_default=True)
@click.pass_obj
def dead_letters(settings, agency: str, limit: int) -> None:
    """Show AGENCY's dead letters: where, which stage and field, and why (originals stay encrypted)."""
    from connectors.sdk.deadletter import DeadLetter
    from hub.bootstrap import Hub
    from runtime.topics import dead_letter_topic

    hub = Hub(settings)
    try:
        consumer = hub.log.consumer(f"justlink-cli-deadletters-{datetime.now().timestamp()}",
                                    [dead_letter_topic(agency)])
        shown = 0
        while shown < limit and (batch := consumer.poll(500, timeout_s=0.5)):
            for record in batch[: limit - shown]:
                d = DeadLetter.from_bytes(record.value)
                click.echo(f"{d.source}:{d.position.split(':', 1)[-1]}  {d.stage:9} {d.field or '-':28} {d.reason}")
                shown += 1
        consumer.close()
        if not shown:
            click.echo("no dead letters")
    finally:
        hub.close()

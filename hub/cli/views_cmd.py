"""`justlink views ...`: the shared views in ClickHouse / chDB."""

from __future__ import annotations

import time

import click

# what the projector writes (rebuild empties them), and what is computed from them
TABLES = ("timeline", "person_records", "person_redirects", "person_aliases", "person_lookup",
          "dispute_events", "dispute_redirects", "alerts", "cases", "event_facts", "audit_log")
VIEWS = ("persons", "disputes")


@click.group()
def views() -> None:
    """Shared views: migrate, rebuild from the log, status."""


@views.command()
@click.pass_obj
def migrate(settings) -> None:
    """Apply pending view migrations."""
    from runtime.viewstore import open_view_store

    with open_view_store(settings) as store:
        applied = store.migrate()
    click.echo("applied: " + ", ".join(applied) if applied else "views are up to date")


@views.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def rebuild(settings, yes: bool) -> None:
    """Drop the views and project them again from the log (the log is the source of truth)."""
    from hub.bootstrap import Hub
    from streams.runners.views import VIEWS_GROUP

    if not yes:
        click.confirm("Drop and rebuild every view from the log?", abort=True)
    hub = Hub(settings)
    try:
        hub.claim("views")
        store = hub.view_store
        for table in TABLES:
            store.command(f"TRUNCATE TABLE IF EXISTS {table}")
        from runtime.topics import SINGLE_PARTITION_TOPICS
        from streams.runners.views import run_projector
        from streams.views.projector import VIEW_TOPICS, ViewProjector

        # one consumer group for every rebuild, rewound to the start, rather than a new group per run
        # left behind on the brokers
        group = f"{VIEWS_GROUP}-rebuild"
        for topic in VIEW_TOPICS:
            hub.log.create_topic(topic, 1 if topic in SINGLE_PARTITION_TOPICS else None)
        with hub.log.consumer(group, list(VIEW_TOPICS)) as rewind:
            rewind.commit({tp: 0 for tp in rewind.assignment()})
        cpu_started = time.process_time()
        stats = run_projector(hub.log, ViewProjector(store), group=group)
        cpu = time.process_time() - cpu_started
        click.echo(f"rebuilt: {stats.records} log records -> {stats.rows} rows in {stats.seconds:.1f}s "
                   f"({stats.records / max(stats.seconds, 1e-9):,.0f} records/s; "
                   f"{stats.records / max(cpu, 1e-9):,.0f} per CPU-s)")
    finally:
        hub.close()


@views.command()
@click.pass_obj
def status(settings) -> None:
    """What the views hold: persons, dispute threads, cases and alerts, then the rows of every table.
    With `justlink serve` running, ask the server's data dir after stopping it (chDB allows one process)."""
    from datetime import timedelta

    from consent.access.policy import load_policy
    from runtime.viewstore import open_view_store

    lifetimes = load_policy().case_open_days or {}
    with open_view_store(settings) as store:
        store.migrate()
        persons, in_two, organisations = store.query_rows(
            "SELECT countIf(person_id LIKE 'P%'), countIf(person_id LIKE 'P%' AND length(agencies) >= 2), "
            "countIf(person_id NOT LIKE 'P%') FROM persons")[0]
        threads, across = store.query_rows("SELECT count(), countIf(length(agencies) >= 2) FROM disputes")[0]
        clock = store.query_rows("SELECT max(occurred_at) FROM timeline FINAL")[0][0]
        cases = store.query_rows("SELECT case_kind, status, opened_at FROM cases FINAL")
        still_open = sum(1 for kind, state, opened in cases if state == "open" and (
            kind not in lifetimes or clock is None or opened + timedelta(days=lifetimes[kind]) > clock))
        alerts = dict(store.query_rows("SELECT level, count() FROM alerts FINAL WHERE is_deleted = 0 GROUP BY level"))
        click.echo(f"persons   {persons:>8,}  (in 2+ agencies: {in_two:,}; and {organisations:,} organisations)")
        click.echo(f"disputes  {threads:>8,}  (across 2+ agencies: {across:,})")
        click.echo(f"cases     {len(cases):>8,}  (open: {still_open:,}, after the policy's case lifetimes)")
        click.echo(f"alerts    {sum(alerts.values()):>8,}  (red {alerts.get('red', 0)}, yellow {alerts.get('yellow', 0)}, "
                   f"blue {alerts.get('blue', 0)})")
        click.echo("rows per table:")
        for table in TABLES:
            final = "" if table == "audit_log" else " FINAL"
            n = store.query_rows(f"SELECT count() FROM {table}{final}")[0][0]
            click.echo(f"  {table:18} {n:>10,}")

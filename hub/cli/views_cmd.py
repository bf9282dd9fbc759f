"""`justlink views ...`: the shared views in ClickHouse / chDB."""

from __future__ import annotations

import click

TABLES = ("timeline", "person_records", "persons", "person_redirects", "person_aliases", "person_lookup",
          "disputes", "dispute_events", "dispute_redirects", "alerts", "cases", "event_facts", "audit_log")


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
        stats = run_projector(hub.log, ViewProjector(store), group=group)
        click.echo(f"rebuilt: {stats.records} log records -> {stats.rows} rows in {stats.seconds:.1f}s")
    finally:
        hub.close()


@views.command()
@click.pass_obj
def status(settings) -> None:
    """Row counts of the views."""
    from runtime.viewstore import open_view_store

    with open_view_store(settings) as store:
        store.migrate()
        for table in TABLES:
            n = store.query_rows(f"SELECT count() FROM {table} FINAL")[0][0] if table != "audit_log" else \
                store.query_rows("SELECT count() FROM audit_log")[0][0]
            click.echo(f"{table:18} {n:>10,}")

"""`justlink demo`: a county in a box — generate, connect, resolve, thread, view — then the sign-ins
and, per role, open cases of the generated county to try, and the web page."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import click

from runtime.clock import local_date
from runtime.topics import AGENCIES


@click.command()
@click.option("--persons", default=3000, show_default=True, help="Residents of the synthetic county.")
@click.option("--seed", default=2026, show_default=True, help="Seed of the synthetic county.")
@click.option("--serve/--no-serve", default=True, help="Serve the web page after the summary.")
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--port", default=None, type=int, help="Port (default 8000).")
@click.pass_obj
def demo(settings, persons: int, seed: int, serve: bool, host: str | None, port: int | None) -> None:
    """Generate a county, run the four connectors, the processors and the views, print a summary,
    one person's cross-agency history, the demo sign-ins and per role open cases to try; then serve
    the web page (unless --no-serve)."""
    from connectors.registry import get_connector
    from connectors.sdk.runtime import ConnectorRunner, RunSummary
    from connectors.synthetic.generator import generate
    from consent.privacy.keys import init_keystore
    from hub.bootstrap import Hub
    from hub.cli.demo_guide import print_guide
    from hub.services.context import AppServices

    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report = init_keystore(data_dir, settings.master_key_file)
    click.echo(f"keys: {'created' if report.created_keystore else 'reusing'} keystore {report.keystore} "
               f"(master key from {report.master_key_source}; generated here, never committed)")
    county = data_dir / "demo-county"
    if not (county / "manifest.json").exists():
        click.echo(f"generating a county of {persons:,} residents (seed {seed}) in {county} ...")
        generate(county, persons, seed)
    hub = Hub(settings)
    try:
        per_agency: dict[str, RunSummary] = {}
        for agency in AGENCIES:
            connector = get_connector(agency)
            runner = ConnectorRunner(connector, hub.log, hub.protector, hub.connector_state, progress=False)
            total = RunSummary(agency)
            for source in connector.sources(county):
                total.add(runner.run(source))
            per_agency[agency] = total
        stats = hub.process_until_idle(tick=True)  # deadlines passed by today's clock raise their alerts now
        views = hub.project_until_idle()
        _summary(hub, per_agency, stats, views, time.perf_counter() - started)
        services = AppServices.for_embedded(hub)
        try:
            h, p = host or settings.api_host, port or settings.api_port
            print_guide(services, f"http://{h}:{p}", serving=serve)
            if serve:
                from hub.cli.serve_cmd import serve_hub

                click.echo("Ctrl-C to stop.")
                serve_hub(hub, h, p, services=services)
        finally:
            services.close()
    finally:
        hub.close()


def _summary(hub: Any, per_agency: dict[str, Any], stats: Any, views: Any, seconds: float) -> None:
    store = hub.view_store
    zone = hub.settings.timezone
    click.echo("\nRecords per agency (read = published + dead-lettered + duplicates):")
    for agency, s in per_agency.items():
        click.echo(f"  {agency:14} read {s.read:>7,}  published {s.published:>7,}  dead-lettered "
                   f"{s.dead_lettered:>5,}  duplicates {s.duplicates:>6,}")
    click.echo(f"Processors: {stats.events:,} new events -> {stats.outputs:,} decisions "
               f"({stats.rate:,.0f} events/s); views: {views.rows:,} rows written")
    persons = store.query_rows("SELECT count(), countIf(length(agencies) >= 2), countIf(length(agencies) = 4) "
                               "FROM persons WHERE person_id LIKE 'P%'")[0]
    merges = store.query_rows("SELECT count() FROM person_redirects FINAL")[0][0]
    click.echo(f"Persons resolved: {persons[0]:,} (in 2+ agencies: {persons[1]:,}; in all four: {persons[2]:,}; "
               f"merges: {merges:,})")
    disputes = store.query_rows(
        "SELECT count(), countIf(length(agencies) >= 2), countIf(has(stages, 'incident') AND has(stages, 'mediation') "
        "AND (has(stages, 'court_filing') OR has(stages, 'judgment'))) FROM disputes")[0]
    click.echo(f"Disputes threaded: {disputes[0]:,} (across 2+ agencies: {disputes[1]:,}; "
               f"police -> mediation -> court: {disputes[2]:,})")
    _alerts(store, zone)
    rows = store.query_rows("SELECT person_id FROM persons WHERE person_id LIKE 'P%' "
                            "ORDER BY length(agencies) DESC, record_count DESC, person_id LIMIT 1")
    if rows:
        person = rows[0][0]
        click.echo(f"\nOne person's history across agencies ({person}; local dates, {zone}; names stay "
                   "encrypted here — sign in to the web page to see what your role may see):")
        for when, agency, event_type, stage, dispute, role in store.query_rows(
                "SELECT occurred_at, agency, event_type, stage, dispute_id, role FROM timeline FINAL "
                "WHERE person_id = {p:String} ORDER BY occurred_at DESC LIMIT 20", {"p": person}):
            click.echo(f"  {local_date(when, zone)}  {agency:14} {event_type:30} {stage or '-':18} "
                       f"{dispute or '-':18} as {role}")
    click.echo(f"\nDone in {seconds:.1f}s.")


def _alerts(store: Any, zone: str) -> None:
    """Alerts per level, and of them those raised by the clock: a deadline (72 h, 30 days) that passed
    after the county's last record — the same on every rerun with no new data."""
    last = store.query_rows("SELECT max(occurred_at) FROM timeline FINAL")[0][0]
    rows = store.query_rows("SELECT level, count(), countIf(raised_at > (SELECT max(occurred_at) FROM timeline FINAL)) "
                            "FROM alerts FINAL WHERE is_deleted = 0 GROUP BY level")
    total = Counter({level: n for level, n, _ in rows})
    by_clock = Counter({level: n for level, _, n in rows})
    levels = ("red", "yellow", "blue")
    click.echo("Alerts: " + ", ".join(f"{level} {total.get(level, 0)}" for level in levels))
    if sum(by_clock.values()):
        click.echo("  of which raised by the clock (a deadline that passed after the last record, "
                   f"{local_date(last, zone)}): " + ", ".join(f"{level} {by_clock[level]}" for level in levels
                                                             if by_clock.get(level)))

"""`justlink demo`: a county in a box — generate, connect, resolve, thread, view, serve."""

from __future__ import annotations

import time
from collections import Counter

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
    """Generate a county, run the four connectors, the processors and the views, print a
    summary and one person's cross-agency history, then serve the web page."""
    from connectors.registry import get_connector
    from connectors.sdk.runtime import ConnectorRunner, RunSummary
    from connectors.synthetic.generator import generate
    from consent.privacy.keys import init_keystore
    from hub.bootstrap import Hub

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
        stats = hub.process_until_idle()
        views = hub.project_until_idle()
        _summary(hub, per_agency, stats, views, time.perf_counter() - started)
        tokens = _demo_users(hub)
        if serve:
            from hub.cli.serve_cmd import serve_hub

            h, p = host or settings.api_host, port or settings.api_port
            click.echo(f"\nServing the mediator's page at http://{h}:{p}/ (API docs: /docs). Sign in with:")
            for user_id, role, token in tokens:
                click.echo(f"  {user_id:18} {role:24} {token}")
            click.echo("Ctrl-C to stop.")
            serve_hub(hub, h, p)
    finally:
        hub.close()


def _summary(hub, per_agency, stats, views, seconds: float) -> None:
    store = hub.view_store
    click.echo("\nRecords per agency (read = published + dead-lettered + duplicates):")
    for agency, s in per_agency.items():
        click.echo(f"  {agency:14} read {s.read:>7,}  published {s.published:>7,}  dead-lettered "
                   f"{s.dead_lettered:>5,}  duplicates {s.duplicates:>6,}")
    click.echo(f"Processors: {stats.events:,} events -> {stats.outputs:,} decisions "
               f"({stats.rate:,.0f} events/s); views: {views.rows:,} rows")
    persons = store.query_rows(
        "SELECT count(), countIf(a >= 2), countIf(a = 4) FROM (SELECT person_id, uniqExact(agency) a "
        "FROM timeline FINAL WHERE person_id LIKE 'P%' GROUP BY person_id)")[0]
    merges = store.query_rows("SELECT count() FROM person_redirects FINAL")[0][0]
    click.echo(f"Persons resolved: {persons[0]:,} (in 2+ agencies: {persons[1]:,}; in all four: {persons[2]:,}; "
               f"merges: {merges:,})")
    disputes = store.query_rows(
        "SELECT count(), countIf(a >= 2), countIf(has(s, 'incident') AND has(s, 'mediation') AND "
        "(has(s, 'court_filing') OR has(s, 'judgment'))) FROM (SELECT dispute_id, uniqExact(agency) a, "
        "groupUniqArray(stage) s FROM dispute_events FINAL GROUP BY dispute_id)")[0]
    click.echo(f"Disputes threaded: {disputes[0]:,} (across 2+ agencies: {disputes[1]:,}; "
               f"police -> mediation -> court: {disputes[2]:,})")
    alerts = Counter(dict(store.query_rows("SELECT level, count() FROM alerts FINAL GROUP BY level")))
    click.echo(f"Alerts: red {alerts.get('red', 0)}, yellow {alerts.get('yellow', 0)}, "
               f"blue {alerts.get('blue', 0)}")
    rows = store.query_rows(
        "SELECT person_id FROM timeline FINAL WHERE person_id LIKE 'P%' GROUP BY person_id "
        "ORDER BY uniqExact(agency) DESC, count() DESC, person_id LIMIT 1")
    if rows:
        person = rows[0][0]
        click.echo(f"\nOne person's history across agencies ({person}; names stay encrypted here — "
                   "sign in to the web page to see what your role may see):")
        for when, agency, event_type, stage, dispute, role in store.query_rows(
                "SELECT occurred_at, agency, event_type, stage, dispute_id, role FROM timeline FINAL "
                "WHERE person_id = {p:String} ORDER BY occurred_at DESC LIMIT 20", {"p": person}):
            click.echo(f"  {local_date(when, hub.settings.timezone)}  {agency:14} {event_type:30} {stage or '-':18} "
                       f"{dispute or '-':18} as {role}")
    click.echo(f"\nDone in {seconds:.1f}s.")


def _demo_users(hub) -> list[tuple[str, str, str]]:
    from consent.access.users import DEMO_USERS, UserRegistry, create_demo_users

    registry = UserRegistry.open(hub.settings.data_dir)
    try:
        issued = create_demo_users(registry)
    finally:
        registry.close()
    roles = {user_id: role for user_id, role, _, _ in DEMO_USERS}
    return [(t.user_id, roles.get(t.user_id, "?"), t.token) for t in issued]

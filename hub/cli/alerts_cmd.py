"""`justlink alerts list` — the alerts (red / yellow / blue) of one person or of the parties of your
case, for your role, under the same access rules as the API."""

from __future__ import annotations

import click

from hub.cli.person_cmd import caller_options, day, echo_json, make_caller, person_access, run_refusable
from runtime.settings import Settings


@click.group()
def alerts() -> None:
    """Risk alerts raised by the processors, for the role that should see them."""


@alerts.command("list")
@click.option("--person", "person_id", default=None, help="One person's alerts (default: every party of --case).")
@caller_options
@click.pass_obj
def list_alerts(settings: Settings, person_id: str | None, token: str, role: str, purpose: str,
                case_id: str | None, break_glass: str | None, as_json: bool) -> None:
    """List alerts for your role: of --person, or of the parties of --case you may see."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        if person_id:
            data = run_refusable(lambda: access.alerts(caller, person_id))
        else:
            data = run_refusable(lambda: access.case_alerts(caller))
    if as_json:
        echo_json(data)
        return
    for alert in data["alerts"]:
        click.echo(f"{alert['level']:<6} {alert['status']:<12} {alert['rule']:<32} {alert['person_id']}  "
                   f"thread {alert['dispute_id'] or '-'}  raised {day(alert['raised_local'])}")
    if not data["alerts"]:
        click.echo("no alerts")

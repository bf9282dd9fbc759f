"""`justlink dashboard` — the county bureau's aggregates (role bureau_officer, purpose statistics), through
the running server or on the data directory: the numbers, or one section as CSV."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from hub.cli.person_cmd import (
    echo_json,
    in_zone,
    local_time_option,
    make_caller,
    person_access,
    run_refusable,
)
from runtime.settings import Settings

SECTION_TITLES = {"disputes": "disputes by type and township", "mediation": "people's mediation by level",
                  "first_handling": "police call -> first handling", "alerts": "alerts by rule",
                  "warnings": "repeat-mediation warnings", "handovers": "released prisoners' hand-overs",
                  "open_handovers": "hand-overs open past their due date (必接必送)"}


def _read(access: Any, caller: Any, csv_section: str | None, **filters: Any) -> Any:
    from hub.cli.remote import RemotePersonAccess
    from hub.services import bureau

    if isinstance(access, RemotePersonAccess):
        return access.dashboard_csv(caller, csv_section, **filters) if csv_section else access.dashboard(caller, **filters)
    if csv_section:
        return bureau.dashboard_csv(access, caller, csv_section, **filters)
    return bureau.dashboard(access, caller, **filters)


def _number(value: Any, min_cell: int, suppressed: bool = True) -> str:
    """A count or a rate as printed: a suppressed count `<5`, a rate as a percentage, nothing known `-`."""
    if value is None:
        return f"<{min_cell}" if suppressed else "-"
    if isinstance(value, float) and value <= 1:
        return f"{value:.1%}"
    return str(value)


@click.command()
@click.option("--token", envvar="JUSTLINK_TOKEN", required=True, help="API token (or JUSTLINK_TOKEN).")
@click.option("--as", "role", default="bureau_officer", show_default=True, help="Role to act in.")
@click.option("--purpose", default="statistics", show_default=True, help="Purpose.")
@local_time_option("--since", "Threads, cases and alerts from")
@local_time_option("--until", "... up to (not including)")
@click.option("--county", default=None, help="6-digit division code (default: every county you may see).")
@click.option("--csv", "csv_section", type=click.Choice(list(SECTION_TITLES)), default=None,
              help="Print this section as CSV instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the API's response) instead of text.")
@click.pass_obj
def dashboard(settings: Settings, token: str, role: str, purpose: str, since: datetime | None,
              until: datetime | None, county: str | None, csv_section: str | None, as_json: bool) -> None:
    """The county bureau's dashboard: aggregates only, small counts suppressed, the read audited."""
    caller = make_caller(token, role, purpose, None, None)
    filters = {"since": in_zone(settings, since), "until": in_zone(settings, until), "county": county}
    with person_access(settings) as access:
        data: Any = run_refusable(lambda: _read(access, caller, csv_section, **filters))
    if csv_section:
        sys.stdout.write(str(data).lstrip("\ufeff"))
        return
    if as_json:
        echo_json(data)
        return
    k = data["min_cell"]
    for key, value in data["summary"].items():
        click.echo(f"{key:36} {_number(value, k)}")
    for section, rows in data["sections"].items():
        click.echo(f"\n{SECTION_TITLES[section]}")
        if not rows:
            click.echo("  (none)")
        for row in rows:
            click.echo("  " + "  ".join(f"{name}={_number(value, k, name in row['suppressed'])}"
                                         for name, value in row.items() if name != "suppressed"))


@click.command()
@click.option("--token", envvar="JUSTLINK_TOKEN", required=True, help="API token (or JUSTLINK_TOKEN).")
@click.option("--as", "role", default="correction_officer", show_default=True, help="Role to act in.")
@click.option("--purpose", default="resettlement_handover", show_default=True, help="Purpose.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the API's response) instead of text.")
@click.pass_obj
def handovers(settings: Settings, token: str, role: str, purpose: str, as_json: bool) -> None:
    """The released prisoners routed to your justice office (必接必送): open past due first; no person."""
    from hub.cli.remote import RemotePersonAccess
    from hub.services.handovers import office_handovers

    caller = make_caller(token, role, purpose, None, None)
    with person_access(settings) as access:
        data: Any = run_refusable(lambda: access.office_handovers(caller) if isinstance(access, RemotePersonAccess)
                                  else office_handovers(access, caller))
    if as_json:
        echo_json(data)
        return
    click.echo(f"{', '.join(data['offices'])}: {data['open']} open past due, {len(data['handovers'])} in all")
    for row in data["handovers"]:
        overdue = f" ({row['days_overdue']} days overdue)" if row["status"] == "open_overdue" else ""
        crossing = f" · sentenced in {row['sentenced_in']}" if row["cross_county"] else ""
        click.echo(f"  {row['notice_number']}  {row['county_code']} {row['office_name']}  released {row['released_on']}"
                   f"  due {row['due_on']}  {row['status']}{overdue}{crossing}")

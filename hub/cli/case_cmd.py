"""`justlink case show` — the case you work on and its parties, as the web page's "open the case" shows
them, under the same access rules: the parties you may see, and (under a rule that needs consent, such as
legal aid) the ids of the parties whose consent you must record first."""

from __future__ import annotations

import click

from hub.cli.person_cmd import caller_options, day, echo_json, make_caller, person_access, run_refusable
from runtime.settings import Settings


@click.group()
def case() -> None:
    """The case you work on (access-checked and audited)."""


@case.command("show")
@caller_options
@click.pass_obj
def show(settings: Settings, token: str, role: str, purpose: str, case_id: str | None, break_glass: str | None,
         as_json: bool) -> None:
    """--case and the parties you may see in it (each access-checked and audited)."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: access.case_parties(caller))
    if as_json:
        echo_json(data)
        return
    state = "open" if data["open"] else f"closed {day(data['closed_local'])}"
    click.echo(f"{data['case_id']}  {data['kind']}  {state}  {data['office_name'] or data['office']}  "
               f"opened {day(data['opened_local'])}")
    for card in data["parties"]:
        party = card["party"] or {}
        name = party.get("name") or "-"
        click.echo(f"  {card['person_id']}  {name if not str(name).startswith('***') else '[masked]'}  "
                   f"{card['events']} records  {', '.join(card['agencies'])}")
    for person_id in data.get("needs_consent", []):
        click.echo(f"  {person_id}  needs the party's consent: justlink consent grant {person_id} --scope ... "
                   f"(same --as/--purpose/--case)")
    if not data["parties"] and not data.get("needs_consent"):
        click.echo("  no party you may see")

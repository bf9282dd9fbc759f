"""`justlink party` — a party's access code: the office gives it at intake (`issue-code`, as the officer of
the open case); the party reads the stages of their own case (`case`) and who looked at their data
(`accesses`) with it, the code read from stdin (`--code -`) so it stays out of shell history."""

from __future__ import annotations

import sys
from typing import Any

import click

from hub.cli.person_cmd import caller_options, day, echo_json, make_caller, person_access, run_refusable
from runtime.settings import Settings


@click.group()
def party() -> None:
    """A party's access code: give it at intake; follow one's own case and who looked at one's data."""


@party.command("issue-code")
@click.argument("person_id")
@caller_options
@click.pass_obj
def issue_code(settings: Settings, person_id: str, token: str, role: str, purpose: str, case_id: str | None,
               break_glass: str | None, as_json: bool) -> None:
    """Give PERSON_ID, a party of your open case (--case), an access code (shown once; a new one revokes the
    earlier). Hand it over on paper: it opens the stages of their case and who looked at their data."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: _service(access, "issue", caller, person_id))
    if as_json:
        echo_json(data)
        return
    click.echo(f"access code for {data['person_id']} in {data['case_id']}: {data['code']}")
    click.echo(f"valid until {day(data['expires_local'])}; shown once (only its keyed hash is kept)")


def _code(code: str) -> str:
    if code == "-":
        code = sys.stdin.readline().strip()
    if not code:
        raise click.ClickException("no access code given (--code CODE, or --code - to read it from stdin)")
    return code


def _service(access: Any, action: str, *args: Any) -> Any:
    """The party calls, through the running server or on the data directory."""
    from hub.cli.remote import RemotePersonAccess
    from hub.services.party import party_service

    if isinstance(access, RemotePersonAccess):
        if action == "issue":
            return access.issue_party_code(*args)
        session = access.party_sign_in(args[0])["session"]
        return access.party_read(session, action)
    service = party_service(access)
    if action == "issue":
        return service.issue(*args)
    session = service.sign_in(args[0], "cli")["session"]
    return service.case(session) if action == "case" else service.accesses(session)


@party.command("case")
@click.option("--code", required=True, help="Your access code, or - to read it from stdin.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the API's response) instead of text.")
@click.pass_obj
def case(settings: Settings, code: str, as_json: bool) -> None:
    """The stages of your own case across agencies (nothing of the other parties)."""
    code = _code(code)
    with person_access(settings) as access:
        data = run_refusable(lambda: _service(access, "case", code))
    if as_json:
        echo_json(data)
        return
    click.echo(f"case {data['case_id']} ({'open' if data['case_open'] else 'closed'}), {len(data['steps'])} steps")
    for step in data["steps"]:
        if step["restricted"]:
            click.echo(f"  {step['occurred_local']}     a restricted record exists")
            continue
        outcome = f"  -> {step['outcome']}" if step["outcome"] else ""
        click.echo(f"  {day(step['occurred_local'])}  {step['agency']:<8} {step['stage'] or '-':<18} "
                   f"{step['office_name']}  {step['case_number'] or ''}  as {step['my_role']}{outcome}")


@party.command("accesses")
@click.option("--code", required=True, help="Your access code, or - to read it from stdin.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the API's response) instead of text.")
@click.pass_obj
def accesses(settings: Settings, code: str, as_json: bool) -> None:
    """Who looked at your data: when, agency, office, role, purpose, allowed or not; your consents."""
    code = _code(code)
    with person_access(settings) as access:
        data = run_refusable(lambda: _service(access, "accesses", code))
    if as_json:
        echo_json(data)
        return
    for row in data["accesses"]:
        glass = "  (break-glass)" if row["break_glass"] else ""
        click.echo(f"  {row['at_local']}  {row['agency'] or '-':<14} {row['office']:<20} {row['role']:<20} "
                   f"{row['purpose']:<22} {row['decision']}{glass}  {row['case_id'] or ''}")
    if not data["accesses"]:
        click.echo("nobody looked at your data")
    for consent in data["consents"]:
        state = "withdrawn" if consent["withdrawn_at"] else "active" if consent["active"] else "expired"
        click.echo(f"  consent {consent['consent_id']}: {consent['grantee_role']} for {consent['purpose']} "
                   f"({', '.join(consent['field_classes'])}) {state}")

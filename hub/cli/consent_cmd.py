"""`justlink consent grant|withdraw|list` — a data subject's consent, recorded and withdrawn by the
people who take it (a mediator at intake, for a party of the open case; the DPO, with purpose
consent_records and the form as `--case request:<ref>`), under the same access rules as the API, through
the running server when there is one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from hub.cli.person_cmd import (
    caller_options,
    day,
    echo_json,
    in_zone,
    local_time_option,
    make_caller,
    person_access,
    run_refusable,
)
from runtime.settings import Settings

CLASSES = click.Choice(["basic", "contact", "identifier", "sensitive"])


@click.group()
def consent() -> None:
    """Consents of data subjects: record, withdraw, list (each access-checked and audited)."""


def _line(item: dict[str, Any]) -> str:
    state = "active" if item["active"] else ("withdrawn" if item["withdrawn_at"] else "expired")
    until = day(item.get("valid_until_local")) or "no expiry"
    unlocks = ", ".join(item["unlocks"]["field_classes"] + item["unlocks"]["event_types"]) or "-"
    return (f"{item['consent_id']}  {state:<9} {item['purpose']} for {item['grantee_role']}  scope "
            f"{','.join(item['field_classes'])}  until {until}  unlocks {unlocks}")


@consent.command("grant")
@click.argument("person_id")
@click.option("--scope", "scope", multiple=True, type=CLASSES, required=True,
              help="A field class the subject agrees to show (repeatable), e.g. identifier.")
@local_time_option("--until", "The consent ends at this time")
@click.option("--for-purpose", "for_purpose", default=None,
              help="(DPO) the purpose the consent is for, e.g. dispute_mediation.")
@click.option("--grantee", "grantee_role", default=None, help="(DPO) the role it is given to, when several share it.")
@caller_options
@click.pass_obj
def grant(settings: Settings, person_id: str, scope: tuple[str, ...], until: datetime | None, for_purpose: str | None,
          grantee_role: str | None, token: str, role: str, purpose: str, case_id: str | None,
          break_glass: str | None, as_json: bool) -> None:
    """Record PERSON_ID's consent: what it covers (--scope) and until when; effective on the next request."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: access.grant_consent(caller, person_id, field_classes=list(scope),
                                                          valid_until=in_zone(settings, until), purpose=for_purpose,
                                                          grantee_role=grantee_role))
    if as_json:
        echo_json(data)
        return
    click.echo("recorded: " + _line(data) + f"  (audit record #{data['audit_seq']})")
    if data.get("replaces"):
        click.echo("replaces (withdrawn): " + ", ".join(data["replaces"]))


@consent.command("withdraw")
@click.argument("consent_id")
@caller_options
@click.pass_obj
def withdraw(settings: Settings, consent_id: str, token: str, role: str, purpose: str, case_id: str | None,
             break_glass: str | None, as_json: bool) -> None:
    """Withdraw CONSENT_ID; the very next request no longer has it."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: access.withdraw_consent(caller, consent_id))
    if as_json:
        echo_json(data)
        return
    click.echo("withdrawn: " + _line(data) + f"  (audit record #{data['audit_seq']})")


@consent.command("list")
@click.argument("person_id")
@caller_options
@click.pass_obj
def list_consents(settings: Settings, person_id: str, token: str, role: str, purpose: str, case_id: str | None,
                  break_glass: str | None, as_json: bool) -> None:
    """PERSON_ID's consents and what each unlocks."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: access.consents(caller, person_id))
    if as_json:
        echo_json(data)
        return
    offered = data.get("offered") or {}
    if offered.get("field_classes"):
        click.echo(f"a consent for {purpose} would unlock: "
                   + ", ".join(offered["field_classes"] + offered.get("event_types", [])))
    for item in data["consents"]:
        click.echo(_line(item))
    if not data["consents"]:
        click.echo("no consents")

"""`justlink person find|history|disputes` — the query API's reads from the command line, under the
same access rules: a token (--token or JUSTLINK_TOKEN), a role (--as), a purpose and a case, all
checked by the access gate and audited."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from runtime.settings import Settings


def open_services(settings: Settings) -> Any:
    from hub.services.context import AppServices

    try:
        return AppServices.open(settings)
    except Exception as exc:  # the store locked by a running server, no keystore, ...
        raise click.ClickException(f"cannot open the hub in {settings.data_dir}: {exc}") from None


@contextmanager
def person_access(settings: Settings) -> Iterator[Any]:
    """Through the running server when one serves this data dir (one process may hold the
    views, one writer the audit chain); else by opening the hub here."""
    from hub.cli.remote import RemotePersonAccess, running_server
    from hub.services.access import PersonAccess

    url = running_server(settings.data_dir)
    if url is not None:
        remote = RemotePersonAccess(url)
        try:
            yield remote
        finally:
            remote.close()
        return
    services = open_services(settings)
    try:
        yield PersonAccess(services)
    finally:
        services.close()


def caller_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--token, --as, --purpose, --case, --break-glass: who asks, in which role, why, for which case."""
    options = [
        click.option("--token", envvar="JUSTLINK_TOKEN", required=True, help="API token (or JUSTLINK_TOKEN)."),
        click.option("--as", "role", required=True, help="Role to act in, e.g. mediator."),
        click.option("--purpose", required=True, help="Purpose, e.g. dispute_mediation."),
        click.option("--case", "case_id", default=None, help="The case you work on (its number)."),
        click.option("--break-glass", "break_glass", default=None,
                     help="Break-glass: your written reason (judge / police only; flagged to the DPO)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON (the API's response) instead of text."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def make_caller(token: str, role: str, purpose: str, case_id: str | None, break_glass: str | None) -> Any:
    from hub.services.access import Caller

    return Caller(token, role, purpose, case_id, break_glass)


def run_refusable(action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    from hub.services.access import AccessRefused

    try:
        return action()
    except AccessRefused as exc:
        raise click.ClickException(f"refused: {exc.message()}") from None


LOCAL_TIME = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
ZONE_HELP = "in the hub's time zone (setting `timezone`, Asia/Shanghai by default)"


def local_time_option(name: str, what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """--since / --until: a date or time as people at the agency mean it, in the hub's zone."""
    return click.option(name, type=LOCAL_TIME, default=None, help=f"{what}: YYYY-MM-DD[THH:MM:SS], {ZONE_HELP}.")


def in_zone(settings: Settings, value: datetime | None) -> datetime | None:
    """A --since / --until value (naive, meant in the hub's zone) as an aware UTC time."""
    from runtime.clock import from_local

    return from_local(value, settings.timezone) if value is not None else None


def zone_note(settings: Settings, since: datetime | None, until: datetime | None) -> str:
    """What a date filter meant, said back: `since 2025-05-03 00:00 Asia/Shanghai`."""
    parts = [f"{word} {value:%Y-%m-%d %H:%M}" for word, value in (("since", since), ("until", until)) if value]
    return f" ({', '.join(parts)} {settings.timezone})" if parts else ""


def day(local: str | None) -> str:
    """The local date of an API `*_local` field (`2025-05-03 01:30` -> `2025-05-03`)."""
    return (local or "")[:10]


def echo_json(data: dict[str, Any]) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _value(value: Any, masked: dict[str, dict[str, str]], path: str) -> str:
    if path in masked:
        return f"[masked: {masked[path]['reason']}]"
    return "-" if value in (None, "") else str(value)


@click.group()
def person() -> None:
    """Find a person and read their history across agencies (access-checked and audited)."""


@person.command()
@click.option("--id-number", default=None, help="Resident ID number; '-' reads it from stdin.")
@click.option("--phone", default=None, help="Phone number; '-' reads it from stdin.")
@click.option("--name", default=None, help="Full name (with --dob); '-' reads it from stdin.")
@click.option("--dob", default=None, help="Date of birth YYYY-MM-DD (with --name).")
@caller_options
@click.pass_obj
def find(settings: Settings, id_number: str | None, phone: str | None, name: str | None, dob: str | None,
         token: str, role: str, purpose: str, case_id: str | None, break_glass: str | None, as_json: bool) -> None:
    """Find persons by ID number, phone, or name + date of birth. The value is blind-indexed here and
    never stored or printed; pass '-' to keep it out of your shell history."""
    values = [_stdin_if_dash(v) for v in (id_number, phone, name)]
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: access.find(caller, id_number=values[0], phone=values[1], name=values[2],
                                                 date_of_birth=dob))
    if as_json:
        echo_json(data)
        return
    if data.get("problem"):
        click.echo(f"note: {data['problem']}", err=True)
    if not data["results"]:
        click.echo("no match")
    for card in data["results"]:
        party = card.get("party") or {}
        click.echo(f"{card['person_id']}  {card['events']} records at {', '.join(card['agencies']) or '-'}  "
                   f"{day(card['first_local'])} .. {day(card['last_local'])}  "
                   f"gender {party.get('gender') or '-'}")


def _stdin_if_dash(value: str | None) -> str | None:
    return sys.stdin.readline().strip() if value == "-" else value


@person.command()
@click.argument("person_id")
@click.option("--agency", multiple=True, help="Only these agencies (court, police, civil_affairs, justice).")
@click.option("--type", "event_types", multiple=True, help="Only these event types.")
@local_time_option("--since", "Only records from this time on")
@local_time_option("--until", "Only records before this time")
@click.option("--dispute", "dispute_id", default=None, help="Only this dispute thread.")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@caller_options
@click.pass_obj
def history(settings: Settings, person_id: str, agency: tuple[str, ...], event_types: tuple[str, ...],
            since: datetime | None, until: datetime | None, dispute_id: str | None, limit: int, offset: int,
            token: str, role: str, purpose: str, case_id: str | None, break_glass: str | None, as_json: bool) -> None:
    """PERSON_ID's records across agencies, newest first, with the fields your role and purpose allow.
    Dates are the agencies' local dates."""
    from hub.services.queries import HistoryFilter

    flt = HistoryFilter(agency, event_types, in_zone(settings, since), in_zone(settings, until), dispute_id, limit,
                        offset)
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: access.history(caller, person_id, flt))
    if as_json:
        echo_json(data)
        return
    click.echo(f"{data['person_id']}: {data['total']} records{zone_note(settings, since, until)} "
               f"(showing {len(data['entries'])} from {data['offset']}); "
               f"basis: {data['access']['legal_basis']}; fields: {', '.join(data['access']['field_classes'])}")
    if data["hidden_restricted"]:
        click.echo(f"  {data['hidden_restricted']} restricted records withheld")
    for entry in data["entries"]:
        masked = {m["field"]: m for m in entry["masked"]}
        me = f"parties[{entry['party_index']}]"
        party = entry["fields"].get("parties", [{}])[entry["party_index"]]
        click.echo(f"{day(entry['occurred_local'])}  {entry['agency']:<13} {entry['event_type']:<28} "
                   f"stage {entry['stage'] or '-':<17} thread {entry['dispute_id'] or '-':<18} as {entry['role']}  "
                   f"office {entry['office_name'] or entry['office_code']}")
        click.echo(f"            name {_value(party.get('name'), masked, me + '.name')}  "
                   f"phone {_value(party.get('phone'), masked, me + '.phone')}  "
                   f"case {entry['case_ref'] or '-'}")


@person.command()
@click.argument("person_id")
@caller_options
@click.pass_obj
def disputes(settings: Settings, person_id: str, token: str, role: str, purpose: str, case_id: str | None,
             break_glass: str | None, as_json: bool) -> None:
    """The dispute threads PERSON_ID is in, with their stages across agencies."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: access.disputes(caller, person_id))
    if as_json:
        echo_json(data)
        return
    for thread in data["disputes"]:
        steps = " -> ".join(f"{e['agency']}:{e['stage']}" for e in thread["events"])
        click.echo(f"{thread['dispute_id']}  {day(thread['first_local'])} .. {day(thread['last_local'])}  "
                   f"{steps}")
    if not data["disputes"]:
        click.echo("no dispute threads")

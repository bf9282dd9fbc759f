"""`justlink intake-check` — the warnings of your open case: another office has the same dispute in hand
(repeat intake: same thread, or the same parties and dispute type), or the lawsuit or enforcement goes back
on a judicially confirmed mediation agreement (反悔重诉, not honoured); `justlink similar` — similar cases (类案推送) for your open mediation or court case: concluded disputes of
the same type with comparable facts, how each ended, and the success rate. Plain facts only (no case number,
no party); the read is access-checked and audited like any other (the rules: hub/services/similar.toml)."""

from __future__ import annotations

from typing import Any

import click

from hub.cli.person_cmd import caller_options, echo_json, make_caller, person_access, run_refusable
from runtime.settings import Settings


def _similar(access: Any, caller: Any) -> dict[str, Any]:
    from hub.cli.remote import RemotePersonAccess
    from hub.services.similar import similar_cases

    if isinstance(access, RemotePersonAccess):
        return access.similar_cases(caller)
    return similar_cases(access, caller)


@click.command()
@caller_options
@click.pass_obj
def similar(settings: Settings, token: str, role: str, purpose: str, case_id: str | None,
            break_glass: str | None, as_json: bool) -> None:
    """How disputes like the one of your case (--case) ended in the county: the closest concluded ones and the
    mediation success rate among them."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: _similar(access, caller))
    if as_json:
        echo_json(data)
        return
    facts = data["case_facts"]
    shown = ", ".join(f"{k} {v}" for k, v in facts.items() if v) or "no facts recorded"
    click.echo(f"case {data['case_id']}: {shown}")
    rate = data["success_rate"]
    rate_text = f"{rate:.0%}" if rate is not None else f"not given (fewer than {data['min_rate_base']})"
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(data["outcomes"].items())) or "none"
    click.echo(f"{data['similar_total']} similar concluded disputes (of {data['same_type_concluded']} of this type): "
               f"{outcomes}; mediation success rate {rate_text}")
    for item in data["similar"]:
        click.echo(f"  {item['year']}  {item['outcome']:<12} {item['days']:>4} days  score {item['score']:<4} "
                   f"matched {', '.join(item['matched']) or '-'}  ({item['amount_band'] or '-'}, "
                   f"{item['relationship'] or '-'}, {item['level'] or '-'}, township {item['township'] or '-'})")


def _warnings(access: Any, caller: Any) -> dict[str, Any]:
    from hub.cli.remote import RemotePersonAccess
    from hub.services.repeat_intake import repeat_warnings

    if isinstance(access, RemotePersonAccess):
        return access.repeat_warnings(caller)
    return repeat_warnings(access, caller)


@click.command("intake-check")
@caller_options
@click.pass_obj
def intake_check(settings: Settings, token: str, role: str, purpose: str, case_id: str | None,
                 break_glass: str | None, as_json: bool) -> None:
    """Is the dispute of your case (--case) in hand at another office too? Repeat-mediation warnings: the
    other case's agency, office, number, stage and whether it is still open (hub/services/repeat_intake.toml)."""
    caller = make_caller(token, role, purpose, case_id, break_glass)
    with person_access(settings) as access:
        data = run_refusable(lambda: _warnings(access, caller))
    if as_json:
        echo_json(data)
        return
    if not data["warnings"]:
        click.echo(f"case {data['case_id']}: no other office has this dispute in hand")
    for w in data["warnings"]:
        if w["kind"] != "repeat_intake":   # a confirmed agreement this lawsuit or enforcement goes back on
            click.echo(f"WARNING case {data['case_id']}: {w['kind']}: agreement {w['case_number']} "
                       f"({w['office_name'] or '-'}) confirmed {(w['confirmed_local'] or '')[:10]} by "
                       f"{w['confirmation_office']} {w['confirmation_number']} ({w['why']})")
            continue
        state = "open" if w["open"] else "concluded"
        click.echo(f"WARNING case {data['case_id']}: also at {w['agency']} {w['office_name']} {w['case_number']} "
                   f"(opened {w['opened_local'][:10]}, stage {w['stage'] or '-'}, {state}; {w['why']}, "
                   f"{w['shared_parties']} parties in common)")

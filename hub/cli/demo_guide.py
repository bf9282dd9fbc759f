"""What the demo prints for a newcomer to start at once: the demo users (each of a real office of
the generated county) with fresh tokens, and per role two or three open cases of the county that the
role may work on, each with a party to look up. The data are synthetic; the look-up values come from
the hub itself (decrypted here, on the operator's machine, like the connectors' exports they came from).
"""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass
from typing import Any

import click

from consent.access.cases import Case
from consent.access.policy import Rule
from consent.access.users import DEMO_USERS, User, UserRegistry, create_demo_users
from hub.services import queries
from hub.services.context import AppServices
from hub.services.transport import encode_value
from runtime.clock import local_date
from schemas import loader
from schemas.wire import default_codec

CASES_PER_ROLE = 3
ALL_CLASSES = {"basic", "contact", "identifier", "sensitive"}


@dataclass(frozen=True)
class Suggestion:
    case: Case
    person_id: str
    name: str
    lookup: tuple[str, str] | None  # ("id_number" | "phone", value)


def print_guide(services: AppServices, url: str, *, serving: bool) -> None:
    services.refresh()
    with UserRegistry.open(services.settings.data_dir, known_roles=services.policy.roles) as registry:
        tokens = {t.user_id: t for t in create_demo_users(registry, placed=placements(services))}
        users = {user_id: registry.get(user_id) for user_id, *_ in DEMO_USERS}
    where = f"at {url}/ (the DPO's page: {url}/dpo)" if serving else f"at {url}/ once `justlink serve` runs"
    click.echo(f"\nDemo sign-ins {where}; tokens are new on every run, valid 7 days:")
    for user_id, token in tokens.items():
        user = users[user_id]
        assert user is not None
        click.echo(f"  {user_id:16} {user.roles[0]:24} {user.organisation:34} {token.token}")
    click.echo("\nOpen cases to try, per role (open the case, then pick a party or look one up):")
    for user_id, user in users.items():
        assert user is not None
        rule = next((r for r in services.policy.rules.values() if r.role == user.roles[0]), None)
        if rule is None or rule.binding == "none":
            continue
        suggestions = suggest(services, user, rule)
        click.echo(f"  {user_id} — {user.roles[0]}, purpose {rule.purpose}:")
        for s in suggestions:
            opened = local_date(s.case.opened_at, services.settings.timezone) if s.case.opened_at else "?"
            look = f"look up {s.name} by {s.lookup[0]} {s.lookup[1]}" if s.lookup else f"party {s.person_id}"
            if rule.requires_consent:  # the applicant's consent, taken at intake, is recorded first
                look += f" after recording the consent of {s.person_id}"
            click.echo(f"    {s.case.case_id:28} {s.case.kind:15} opened {opened}  {look}")
        if not suggestions:
            click.echo("    (no open case of this office in the county)")
        elif user_id == "mediator.demo":
            case = suggestions[0].case.case_id
            click.echo(f"    e.g. justlink alerts list --token {tokens[user_id].token[:6]}… --as {rule.role} "
                       f"--purpose {rule.purpose} --case '{case}'   (header: X-JustLink-Case: "
                       f"{encode_value(case)[:27]}…)")


def placements(services: AppServices) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The police station the demo officer serves at: the one with the most open incidents (incidents
    close on referral and after 90 days, so a county's last weeks leave few open, at few stations)."""
    stations = Counter((c.office, c.office_name) for c in services.cases.cases()
                       if c.kind == "police_incident" and c.is_open)
    if not stations:
        return {}
    (code, name), _ = max(stations.items(), key=lambda item: (item[1], "城关" in item[0][1], item[0][0]))
    return {"police.demo": (f"police:{name or code}", (code,))}


def suggest(services: AppServices, user: User, rule: Rule, limit: int = CASES_PER_ROLE) -> list[Suggestion]:
    """Open cases this user may work on for the rule's purpose, newest first — those of the user's own
    office first — each with a party the user's role may look up."""
    services.refresh()
    mine = {*user.offices, user.organisation.partition(":")[2]}
    cases = [c for c in services.cases.cases()
             if c.is_open and c.kind in rule.case_kinds and c.parties
             and (not rule.office_bound or {c.office, c.office_name} & {*user.offices, user.organisation})]

    def own(case: Case) -> bool:
        return any(place and place[:2] in case.office_name for place in mine)

    kinds = sorted(rule.case_kinds, key=lambda k: ("correction", "mediation", "court").index(k)
                   if k in ("correction", "mediation", "court") else 9)
    cases.sort(key=lambda c: (not own(c), kinds.index(c.kind), -(c.opened_at.timestamp() if c.opened_at else 0),
                              c.case_id))
    out = []
    for case in cases:
        found = None
        for person in sorted(case.parties, key=lambda p: (not p.startswith("P"), p)):  # people before companies
            party = newest_party(services, person)
            if party is not None and party.get("kind") != "organisation":
                found = (person, party)
                break
        if found is None:
            continue
        person, party = found
        lookup = next(((k, party[k]) for k in ("id_number", "phone") if party.get(k)), None)
        out.append(Suggestion(case, person, party.get("name") or "?", lookup))
        if len(out) == limit:
            break
    return out


def newest_party(services: AppServices, person_id: str) -> dict[str, Any] | None:
    """The person as their newest record has them (plaintext: the demo's operator holds the keys)."""
    ids = queries.person_ids_of(services.store, person_id)
    rows, _ = queries.history_rows(services.store, ids, frozenset(loader.event_types()),
                                   queries.HistoryFilter(limit=1))
    if not rows:
        return None
    row = rows[0]
    event_type, record = default_codec().decode(base64.b64decode(row["payload"]))
    revealed = services.protector.reveal(record, loader.get(event_type).expanded, row["event_id"], ALL_CLASSES)
    party: dict[str, Any] = revealed["parties"][row["party_index"]]
    return party

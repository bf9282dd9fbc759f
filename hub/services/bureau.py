"""The county bureau's dashboard behind the gate: a bureau officer (role `bureau_officer`, purpose
`statistics`, no person bound) reads aggregates only; the read is audited like any other. An officer
whose offices name counties (6-digit division codes) sees those counties only."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from hub.services.access import AccessRefused, Caller, PersonAccess
from hub.services.dashboard import SECTIONS, Dashboard, DashboardFilter, to_csv
from runtime.clock import iso_utc

DIVISION_CODE = re.compile(r"\d{6}")


def dashboard(access: PersonAccess, caller: Caller, *, since: datetime | None = None,
              until: datetime | None = None, county: str | None = None) -> dict[str, Any]:
    if county is not None and not DIVISION_CODE.fullmatch(county):
        raise AccessRefused(422, "malformed_county")
    result = access.require(caller, None)
    counties = [o for o in (result.user.offices if result.user else ()) if DIVISION_CODE.fullmatch(o)]
    if counties and county is None:
        county = counties[0] if len(counties) == 1 else None
    if counties and county is not None and county not in counties:
        raise AccessRefused(403, "other_county", audit_seq=result.audit.seq, rule=result.decision.rule
                            if result.decision else "")
    services = access.services
    board = Dashboard(services.store, clock=services.now, zone=access.zone)
    data = board.build(DashboardFilter(since, until, county))
    if counties:
        data["counties"] = [c for c in data["counties"] if c in counties]
    data["filters"] = {"since": iso_utc(since), "until": iso_utc(until), "county": county}
    data["zone"] = access.zone
    return data


def dashboard_csv(access: PersonAccess, caller: Caller, section: str, **filters: Any) -> str:
    """One section as CSV, UTF-8 with a byte-order mark (spreadsheets set to a Chinese locale read it right)."""
    if section not in SECTIONS:
        raise AccessRefused(422, "unknown_section", valid=list(SECTIONS))
    data = dashboard(access, caller, **filters)
    return "\ufeff" + to_csv(section, data["sections"][section], data["min_cell"])

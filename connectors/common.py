"""Small helpers shared by the reference connectors (not part of the SDK contract)."""

from __future__ import annotations

import re
from datetime import datetime

from connectors.sdk import RecordError
from connectors.sdk.mapping import shape_of

_INCIDENT = re.compile(r"^J\d{10,}")
_MEDIATION = re.compile(r"调字")
_COURT = re.compile(r"^[（(]\d{4}[）)].*(民|刑|行|执|赔|保令).*号$")


def reference_to(record_id: str | None, relation: str) -> list[dict[str, str]]:
    """A RecordRef for another agency's id, its agency recognised from the id's format:
    police incident numbers J<station><date><seq>, mediation case numbers （年）…调字第…号,
    court case numbers （年）<court code>民初…号."""
    if not record_id:
        return []
    if _INCIDENT.match(record_id):
        agency, record_type = "police", "incident"
    elif _MEDIATION.search(record_id):
        agency, record_type = "justice", "mediation_case"
    elif _COURT.match(record_id):
        agency, record_type = "court", "court_case"
    else:
        agency, record_type = "justice", "record"
    return [{"agency": agency, "record_type": record_type, "record_id": record_id, "relation": relation}]


def add_months(when: datetime, months: int) -> datetime:
    month = when.month - 1 + months
    year = when.year + month // 12
    month = month % 12 + 1
    day = min(when.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30,
                         31, 31, 30, 31, 30, 31][month - 1])
    return when.replace(year=year, month=month, day=day)


def int_or_zero(value: str | None, column: str) -> int:
    if not value:
        return 0
    try:
        return int(float(value))
    except ValueError:
        raise RecordError(column, f"expected a whole number, got a value of {shape_of(value)}",
                          rule="number.format") from None

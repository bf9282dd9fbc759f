"""The plain facts of an agency event for the `event_facts` view: what aggregates (the bureau's dashboard)
and similar-case look-ups read — type, office, township, the record's own number, the dispute type,
the stage, the mediation level, the outcome, the amount, the parties' relationship, and the record the
event names as its source or predecessor (a court's delegation to a committee, a police referral).

Only fields the schemas leave untagged are read: a field tagged as personal data (`pii`) never reaches
this view, so an erasure has nothing to reach here and no aggregate can carry a personal field.
"""

from __future__ import annotations

import re
from typing import Any

from consent.access.cases import case_ref
from streams.disputes.rules import dispute_type_of

FACT_COLUMNS = ["event_id", "occurred_at", "event_type", "agency", "county_code", "office_code", "office_name",
                "township", "case_number", "dispute_type", "stage", "level", "outcome", "amount_yuan",
                "relationship", "restricted", "version", "is_deleted", "related_case"]

# 李店镇王楼村人民调解委员会 -> 李店; 城关派出所 -> 城关; 韩集人民法庭 -> 韩集; 清源县城关镇… -> 城关;
# 清源县疑难纠纷调处专班, 清源县医疗纠纷人民调解委员会 -> "" (county level); 新华社区… -> "" (not named)
_COUNTY_PREFIX = re.compile(r"^.{1,8}?(?:县|市|(?<!社)区)(?![镇乡])")
_TOWN = re.compile(r"^(.+?)(?:镇|乡|街道)")
_TOWN_OFFICE = re.compile(r"^(.+?)(?:派出所|人民法庭|司法所)$")


def township_of(office_name: str) -> str:
    """The township (short name, as offices name themselves) an office serves; "" for a county-level office
    or one whose name does not say."""
    name = (office_name or "").strip()
    county = _COUNTY_PREFIX.match(name)
    rest = name[county.end():] if county else name
    found = _TOWN.match(rest)
    if found:
        return found.group(1)
    found = None if county else _TOWN_OFFICE.match(rest)
    return found.group(1) if found else ""


def outcome_of(event_type: str, record: dict[str, Any]) -> str:
    """How the step ended, as the agency recorded it: a mediation outcome (agreement, failed, escalated),
    the court's outcome, an enforcement status, a confirmation (confirmed / refused)."""
    if event_type == "MediationConcluded":
        return str(record.get("outcome") or "")
    if event_type == "JudgmentIssued":
        return str(record.get("outcome") or "")
    if event_type == "EnforcementUpdated":
        return str(record.get("status") or "")
    if event_type == "MediationAgreementConfirmed":
        return "confirmed" if record.get("confirmed") else "refused"
    return ""


def fact_row(event_type: str, record: dict[str, Any], resolved: dict[str, Any], occurred: Any,
             version: int) -> list[Any]:
    """The event_facts row of one resolved agency event (columns FACT_COLUMNS)."""
    source = (record.get("envelope") or {}).get("source") or {}
    office_name = str(source.get("office_name") or "")
    township = township_of(str(record.get("tribunal") or "")) if event_type == "CaseFiled" else ""
    township = township or township_of(office_name)
    amount = record.get("amount_yuan")
    return [resolved["event_ref"], occurred, event_type, resolved["source_agency"],
            str(source.get("county_code") or ""), resolved["source_office_code"], office_name, township,
            case_ref(event_type, record) or "", dispute_type_of(event_type, record) or "", resolved["stage"] or "",
            str(record.get("level") or ""), outcome_of(event_type, record),
            float(amount) if isinstance(amount, (int, float)) and not isinstance(amount, bool) else None,
            str(record.get("relationship") or ""), 1 if resolved.get("restricted") else 0, version, 0,
            related_case(record)]


def related_case(record: dict[str, Any]) -> str:
    """The record an event names first in its envelope's `related` (its source, predecessor or referrer)."""
    for link in (record.get("envelope") or {}).get("related") or ():
        if link.get("record_id"):
            return str(link["record_id"])
    return ""

"""Domain checks beyond the contract's types: identity numbers, dates, phones.

Each returns nothing or raises `RecordError` naming the field path
(e.g. "parties[1].id_number") and what was expected — never the value itself.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from connectors.sdk.errors import RecordError
from consent.privacy.normalize import id_check_char, normalize_id_number

InvalidIdPolicy = Literal["reject", "flag"]
FUTURE_SLACK = timedelta(days=1)


def check_resident_id(value: str, path: str, date_of_birth: str | None) -> None:
    canonical = normalize_id_number(value).value
    if len(canonical) != 18 or not canonical[:17].isdigit() or not (canonical[17].isdigit() or canonical[17] == "X"):
        raise RecordError(path, f"expected an 18-character resident identity number (17 digits + digit or X), "
                                f"got {len(canonical)} characters", rule="id.format")
    try:
        born = date(int(canonical[6:10]), int(canonical[10:12]), int(canonical[12:14]))
    except ValueError:
        raise RecordError(path, "the birth date inside the identity number is not a real date",
                          rule="id.birth_date") from None
    if id_check_char(canonical[:17]) != canonical[17]:
        raise RecordError(path, "check character does not match the first 17 digits (ISO 7064 MOD 11-2); "
                                "likely a mistyped digit", rule="id.check_character")
    if date_of_birth and date_of_birth != born.isoformat():
        raise RecordError(path, "birth date inside the identity number disagrees with date_of_birth",
                          rule="id.birth_date")


def check_party(party: dict[str, Any], path: str, today: date, policy: InvalidIdPolicy) -> None:
    dob = party.get("date_of_birth")
    if dob:
        born = date.fromisoformat(dob)
        if born > today:
            raise RecordError(f"{path}.date_of_birth", "is in the future", rule="date.range")
        if born.year < 1900:
            raise RecordError(f"{path}.date_of_birth", "is before 1900", rule="date.range")
    number = party.get("id_number")
    if number and party.get("id_type") in ("resident_id", "resident_id_15"):
        try:
            if party["id_type"] == "resident_id_15" or len(number.strip()) == 15:
                if not number.strip().isdigit() or len(number.strip()) != 15:
                    raise RecordError(f"{path}.id_number", "expected a 15-digit old-format identity number",
                                      rule="id.format")
            else:
                check_resident_id(number, f"{path}.id_number", dob)
        except RecordError:
            if policy == "reject":
                raise
            # "flag": kept; the privacy layer marks it id_number_valid = false
    phone = party.get("phone")
    if phone:
        digits = sum(c.isdigit() for c in phone)
        if not 7 <= digits <= 15:
            raise RecordError(f"{path}.phone", f"has {digits} digits; expected an 11-digit mobile number "
                                               "or a landline with area code", rule="phone.digits")


def check_event(record: dict[str, Any], policy: InvalidIdPolicy = "reject", now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    occurred = record["envelope"]["occurred_at"]
    if occurred > now + FUTURE_SLACK:
        raise RecordError("envelope.occurred_at", "is in the future", rule="date.range")
    today = (now + FUTURE_SLACK).date()
    for i, party in enumerate(record.get("parties", ())):
        check_party(party, f"parties[{i}]", today, policy)

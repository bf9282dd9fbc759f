"""What a connector declares: how one source record becomes canonical events.

A connector's `map(record)` returns `MappedEvent`s — event type, the agency's own record
key, when it happened, the office, and the type's fields (parties as PartyRef dicts).
The SDK adds the envelope (deterministic event id, times, schema version), validates,
protects, encodes and publishes. The helpers below turn export text into contract
values and raise `RecordError` naming the column when the text is not what was expected.
Error messages never quote personal data, only its shape.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from connectors.sdk.errors import RecordError
from schemas.ids import event_id_for as event_id_for  # part of the SDK surface

CHINA_TZ = timezone(timedelta(hours=8))


@dataclass
class MappedEvent:
    event_type: str
    record_key: str                  # the agency's own key of this record (+ step), unique per agency
    occurred_at: datetime
    fields: dict[str, Any]           # the event type's own fields, parties included
    office_code: str
    office_name: str = ""
    county_code: str = ""
    version: int = 1
    related: list[dict[str, str]] = field(default_factory=list)
    restriction: dict[str, Any] | None = None


def text(row: Mapping[str, str], column: str, *, required: bool = False) -> str | None:
    """The cleaned text of a column; None when empty. A missing column is an error."""
    if column not in row:
        raise RecordError(column, "column is missing from the export", rule="column.missing")
    value = unicodedata.normalize("NFC", row[column]).strip()
    if not value:
        if required:
            raise RecordError(column, "is required but empty", rule="value.required")
        return None
    return value


def required(row: Mapping[str, str], column: str) -> str:
    value = text(row, column, required=True)
    assert value is not None
    return value


_CN_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日(?:\s*(\d{1,2})[:时](\d{1,2})分?)?$")
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)


_NUMERIC_DATE = re.compile(r"^(\d{4})[-/.]?(\d{1,2})[-/.]?(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


@lru_cache(maxsize=65536)
def parse_datetime(value: str, column: str, *, pii: bool = False) -> datetime:
    """Dates and times as agencies write them (2025-03-01, 2025/3/1 08:30, 20250301,
    2025年3月1日), in China Standard Time, returned in UTC. Impossible dates are errors.
    Messages describe the value's shape, never the value (`pii` is kept for callers; every value is
    treated as possibly personal)."""
    m = _NUMERIC_DATE.match(value) or _CN_DATE.match(value)
    if m is None:
        raise RecordError(column, f"the value ({shape_of(value)}) is not a date; expected e.g. 2025-03-01 or "
                                  "2025-03-01 08:30 or 2025年3月1日", rule="date.format")
    y, mo, d, hh, mm, *ss = m.groups()
    try:
        local = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss[0] or 0) if ss else 0)
    except ValueError:
        raise RecordError(column, "the value is not a real date (no such day, month or time)",
                          rule="date.impossible") from None
    stamp = local.replace(tzinfo=CHINA_TZ).astimezone(UTC)
    if stamp < EARLIEST:
        raise RecordError(column, "the date is before 1900", rule="date.range")
    return stamp


def shape_of(value: str) -> str:
    """What a value looks like, without saying what it is: its length and kinds of characters."""
    kinds = []
    if any(c.isdigit() for c in value):
        kinds.append("digits")
    if any("\u4e00" <= c <= "\u9fff" for c in value):
        kinds.append("Chinese characters")
    if any(c.isascii() and c.isalpha() for c in value):
        kinds.append("Latin letters")
    if any(not c.isalnum() for c in value):
        kinds.append("other signs")
    return f"{len(value)} characters: {', '.join(kinds) or 'none'}"


def parse_date_text(value: str | None, column: str) -> str | None:
    """A date of birth as YYYY-MM-DD text (the contract's format), or None."""
    if value is None:
        return None
    return parse_datetime(value, column, pii=True).astimezone(CHINA_TZ).date().isoformat()


def lookup(table: Mapping[str, str], value: str | None, column: str, *, default: str | None = None) -> str:
    """Map an export's label (Chinese or English) to a contract enum symbol."""
    if value is None:
        if default is not None:
            return default
        raise RecordError(column, "is required but empty", rule="value.required")
    key = value.strip()
    if key in table:
        return table[key]
    if key in table.values():
        return key
    known = ", ".join(sorted(set(table)))
    raise RecordError(column, f"the value ({shape_of(key)}) is not one of the known labels: {known}",
                      rule="value.unknown")


def flag(value: str | None, column: str) -> bool:
    if value is None:
        return False
    v = value.strip().lower()
    if v in ("是", "y", "yes", "true", "1", "已"):
        return True
    if v in ("否", "n", "no", "false", "0", "未"):
        return False
    raise RecordError(column, f"expected 是/否 (yes/no), got a value of {shape_of(value)}", rule="flag.format")


def number(value: str | None, column: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value.replace(",", "").replace("元", ""))
    except ValueError:
        raise RecordError(column, f"expected a number, got a value of {shape_of(value)}",
                          rule="number.format") from None


GENDERS = {"男": "male", "女": "female", "未知": "unknown", "M": "male", "F": "female"}
ID_TYPES = {"居民身份证": "resident_id", "身份证": "resident_id", "护照": "passport",
            "港澳居民来往内地通行证": "hk_macau_permit", "台湾居民来往大陆通行证": "taiwan_permit",
            "外国人永久居留身份证": "foreign_permanent_id", "其他": "other"}


_USCC = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
_RESIDENT_ID = re.compile(r"^\d{17}[\dXx]$|^\d{15}$")
ORGANISATION_SUFFIXES = ("公司", "有限公司", "人民政府", "政府", "委员会", "医院", "卫生院", "中心", "学校", "银行",
                         "合作社", "事务所", "办事处", "管理处", "厂", "局", "站", "所", "店")


def _looks_like_organisation(name: str, id_number: str | None) -> bool:
    if id_number and _USCC.match(id_number) and not _RESIDENT_ID.match(id_number):
        return True
    return len(name) >= 5 and name.endswith(ORGANISATION_SUFFIXES)


class SourcedDict(dict[str, Any]):
    """A mapped record part (a party) that remembers the source column of each of its fields, so that
    an error found later (an ID number's check character) names the column the integrator knows."""

    columns: dict[str, str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns = {}


PARTY_KINDS = {"自然人": "person", "法人": "organisation", "非法人组织": "organisation", "其他组织": "organisation"}


def party(row: Mapping[str, str], prefix: str, role: str, *, columns: Mapping[str, str | None] | None = None,
          gender: str | None = None, agency_person_column: str | None = None) -> dict[str, Any] | None:
    """A PartyRef from a column group (e.g. 当事人1姓名, 当事人1证件号码, ...).

    `columns` maps contract fields (name, kind, id_type, id_number, date_of_birth, gender,
    phone, address) to column suffixes (None: the export has no such column). Returns None
    when the group is empty.
    """
    cols: dict[str, str | None] = {"name": "姓名", "id_type": "证件类型", "id_number": "证件号码", "date_of_birth": "出生日期",
            "gender": "性别", "phone": "联系电话", "address": "住址", **(columns or {})}

    def col(name: str) -> str | None:
        suffix = cols.get(name)
        if suffix is None:
            return None
        return text(row, prefix + suffix) if prefix + suffix in row else None

    name = col("name")
    if name is None:
        if any(col(f) for f in ("id_number", "phone")):
            raise RecordError(prefix + (cols["name"] or ""), "is empty but the party has other details",
                              rule="party.incomplete")
        return None
    kind = lookup(PARTY_KINDS, col("kind"), prefix + (cols.get("kind") or ""), default="person")
    id_number = col("id_number")
    if kind == "person" and "kind" not in cols and _looks_like_organisation(name, id_number):
        kind = "organisation"  # exports without a party-type column: tell by the credit code or the name
    id_type_label = col("id_type")
    if kind == "organisation":
        id_type = "uscc" if id_number else None
    elif id_type_label:
        id_type = lookup(ID_TYPES, id_type_label, prefix + (cols["id_type"] or ""))
    else:
        id_type = ("resident_id_15" if len(id_number) == 15 else "resident_id") if id_number else None
    found = SourcedDict({
        "role": role,
        "kind": kind,
        "name": name,
        "id_type": id_type,
        "id_number": id_number,
        "date_of_birth": parse_date_text(col("date_of_birth"), prefix + (cols["date_of_birth"] or "")),
        "gender": gender or lookup(GENDERS, col("gender"), prefix + (cols.get("gender") or ""), default="unknown"),
        "phone": col("phone"),
        "address": col("address"),
        "agency_person_id": text(row, agency_person_column) if agency_person_column else None,
    })
    found.columns = {field: prefix + suffix for field, suffix in cols.items()
                     if suffix is not None and prefix + suffix in row}
    if agency_person_column:
        found.columns["agency_person_id"] = agency_person_column
    return found


def parties(row: Mapping[str, str], prefixes: list[str], role_column: str | None, roles: Mapping[str, str],
            *, columns: Mapping[str, str | None], default_role: str = "other") -> list[dict[str, Any]]:
    """All non-empty numbered party groups; each one's role from its role column."""
    found = []
    for prefix in prefixes:
        role_label = text(row, prefix + role_column) if role_column and prefix + role_column in row else None
        role = lookup(roles, role_label, prefix + (role_column or ""), default=default_role)
        p = party(row, prefix, role, columns=columns)
        if p is not None:
            found.append(p)
    return found


def ref(agency: str, record_type: str, record_id: str | None, relation: str) -> list[dict[str, str]]:
    """A RecordRef list with one element, or [] when the referenced id is empty."""
    if not record_id:
        return []
    return [{"agency": agency, "record_type": record_type, "record_id": record_id, "relation": relation}]

"""The `pii` field attribute: which fields hold personal data, and of which class.

Classes: `identifier` (names, ID numbers, dates of birth, agency person ids), `contact`
(phones, addresses, locations), `sensitive` (criminal records, domestic violence,
health, free-text accounts) are encrypted; `basic` (e.g. gender) stays plaintext but
is still released only to callers allowed that class.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

PII_CLASSES = ("basic", "contact", "identifier", "sensitive")
ENCRYPTED_CLASSES = frozenset({"identifier", "contact", "sensitive"})

# Field names that always hold personal data: `justlink schemas check` fails when one of
# them has no pii tag. Extend it when a new kind of personal field appears.
PERSONAL_FIELD_NAMES = frozenset({
    "name", "full_name", "id_number", "date_of_birth", "birth_date", "gender", "phone", "mobile",
    "email", "address", "location", "agency_person_id", "summary", "claim_summary", "judgment_summary",
    "agreement_summary", "offence", "sentence", "health", "ethnicity", "religion", "narrative",
    "break_glass_reason", "is_minor",
})


@dataclass(frozen=True)
class PiiField:
    path: str        # e.g. "parties[].name"
    pii_class: str


def _branches(avro_type: Any) -> list[Any]:
    return avro_type if isinstance(avro_type, list) else [avro_type]


def iter_fields(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every field of an expanded schema, nested records and arrays included, with its path."""
    for fld in schema.get("fields", []):
        path = f"{prefix}{fld['name']}"
        yield path, fld
        for branch in _branches(fld["type"]):
            if isinstance(branch, dict):
                if branch.get("type") == "record":
                    yield from iter_fields(branch, path + ".")
                elif branch.get("type") == "array" and isinstance(branch["items"], dict) \
                        and branch["items"].get("type") == "record":
                    yield from iter_fields(branch["items"], path + "[].")


def pii_fields(schema: dict[str, Any]) -> list[PiiField]:
    return [PiiField(path, fld["pii"]) for path, fld in iter_fields(schema) if "pii" in fld]

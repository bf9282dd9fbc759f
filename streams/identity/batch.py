"""Batch person resolution of a CSV with the streaming resolver (`justlink resolve`).

Each row is protected by the privacy layer exactly as a connector protects a party (consent's
Protector, with an ephemeral keystore in a temporary directory unless one is given), then fed to
IdentityProcessor as a one-party event whose occurrence key is ``<record_id>#0`` (the streaming
resolver's answer does not depend on the order, so the rows' order does not matter either). Only protection material
reaches the resolver; plaintext never leaves this module and is never printed.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.identity.processor import IdentityProcessor
from streams.processor import AGENCIES, DictState, Event

INPUT_COLUMNS = ("record_id", "source", "name", "id_type", "id_number", "date_of_birth", "gender", "phone",
                 "address")
OUTPUT_COLUMNS = ("record_id", "person_id")
_GENDERS = {"male": "male", "m": "male", "男": "male", "1": "male",
            "female": "female", "f": "female", "女": "female", "2": "female"}
_BASE_MILLIS = 946_684_800_000  # 2000-01-01: row i "occurred" i ms later


class InputError(ValueError):
    """The input CSV cannot be read; names the line and column."""


@dataclass(frozen=True, slots=True)
class ResolveSummary:
    records: int
    persons: int
    merges: int
    possible_matches: int


class PartyProtection:
    """Protection of plain party values, with a Protector over an ephemeral keystore (or a given one)."""

    def __init__(self, protector: Any = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if protector is None:
            from consent.privacy.keys import LocalKeystore
            from consent.privacy.protect import Protector

            self._tmp = tempfile.TemporaryDirectory(prefix="justlink-resolve-")
            keystore = LocalKeystore.create(Path(self._tmp.name) / "keystore.db", os.urandom(32))
            protector = Protector(keystore)
        self.protector = protector

    def protect(self, party: dict[str, Any], agency: str, record_id: str) -> dict[str, Any]:
        return self.protector.party_protection(party, agency, record_id, "parties[0]")

    def close(self) -> None:
        if self._tmp is not None:
            self.protector.keystore.close()
            self._tmp.cleanup()
            self._tmp = None


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of the input CSV; InputError on a bad header or a row without record_id."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in INPUT_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise InputError(f"{path}: header lacks column(s) {', '.join(missing)}; "
                             f"expected {','.join(INPUT_COLUMNS)}")
        seen: set[str] = set()
        for row in reader:
            line = reader.line_num
            record_id = (row.get("record_id") or "").strip()
            if not record_id:
                raise InputError(f"{path}: line {line}: column record_id is empty")
            if record_id in seen:
                raise InputError(f"{path}: line {line}: record_id {record_id!r} appears twice")
            seen.add(record_id)
            yield line, row


def row_party(row: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(agency, PartyRef-shaped plaintext party) of a CSV row."""
    def value(column: str) -> str | None:
        text = (row.get(column) or "").strip()
        return text or None

    agency = (value("source") or "").lower()
    party = {
        "name": value("name"),
        "id_number": value("id_number"),
        "date_of_birth": value("date_of_birth"),
        "phone": value("phone"),
        "address": value("address"),
        "gender": _GENDERS.get((value("gender") or "").lower()),
    }
    return (agency if agency in AGENCIES else agency or "unknown"), party


def resolve_rows(rows: Iterable[tuple[str, str, dict[str, Any]]], protection: PartyProtection,
                 processor: IdentityProcessor | None = None, state: DictState | None = None,
                 on_row: Callable[[], None] | None = None) -> tuple[list[tuple[str, str]], DictState]:
    """Resolve (record_id, agency, plaintext party) rows; [(record_id, person_id)] in input order."""
    processor = processor or IdentityProcessor()
    state = state or DictState()
    order: list[str] = []
    for i, (record_id, agency, party) in enumerate(rows):
        protected = {"gender": party.get("gender"), "protection": protection.protect(party, agency, record_id)}
        millis = _BASE_MILLIS + i
        envelope = {"event_id": record_id, "event_type": "ResolveRow",
                    "source": {"agency": agency, "office_code": "batch", "county_code": ""},
                    "occurred_at": millis, "recorded_at": millis}
        processor.resolve_event(Event("ResolveRow", {"envelope": envelope, "parties": [protected]}), state)
        order.append(record_id)
        if on_row is not None:
            on_row()
    return [(rid, processor.person_of(f"{rid}#0", state) or "") for rid in order], state


def resolve_csv(input_path: Path, output_path: Path, *, progress: bool = True,
                processor: IdentityProcessor | None = None) -> ResolveSummary:
    input_path, output_path = Path(input_path), Path(output_path)
    with open(input_path, encoding="utf-8-sig") as handle:
        total = max(sum(1 for _ in handle) - 1, 0)
    protection = PartyProtection()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="rec", desc="resolving", dynamic_ncols=True)
    try:
        rows = ((row["record_id"].strip(), *row_party(row)) for _, row in read_rows(input_path))
        result, state = resolve_rows(rows, protection, processor, on_row=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
        protection.close()
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(output_path.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(OUTPUT_COLUMNS)
        writer.writerows(result)
    tmp.replace(output_path)
    processor = processor or IdentityProcessor()
    persons = len({person for _, person in result})
    return ResolveSummary(len(result), persons, len(result) - persons,
                          sum(1 for _ in processor.possible_matches(state)))

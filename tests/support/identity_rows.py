"""Inputs of the identity tests: the natural-person parties of a generated county (through the real
connectors' mapping, still plaintext) and the FEBRL3 records, as `justlink resolve` rows; protected
under a chosen matching key."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from connectors.registry import get_connector
from connectors.sdk.sources import SourceRecord
from runtime.topics import AGENCIES
from streams.identity.batch import PartyProtection, ProtectedRow, protect_rows, row_party

Row = tuple[str, str, dict[str, Any]]  # (record_id, agency, plaintext party)


def county_rows(county: Path) -> list[Row]:
    rows: list[Row] = []
    for agency in AGENCIES:
        connector = get_connector(agency)
        for source in connector.sources(county):
            for item in source.records():
                assert isinstance(item, SourceRecord), f"{agency}: unreadable row in {source.name}"
                for mapped in connector.map(item):
                    for i, party in enumerate(mapped.fields.get("parties") or ()):
                        if party.get("kind", "person") != "organisation":
                            rows.append((f"{agency}:{mapped.record_key}:{i}", agency, party))
    return rows


@cache
def febrl3_rows() -> tuple[Row, ...]:
    from benchmarks.febrl_data import febrl_rows

    return tuple((r["record_id"], *row_party(r)) for r in febrl_rows("febrl3"))


def protected(rows: list[Row] | tuple[Row, ...], key: bytes) -> list[ProtectedRow]:
    protection = PartyProtection(matching_key=key)
    try:
        return protect_rows(rows, protection)
    finally:
        protection.close()


def partition(persons: dict[str, str]) -> set[frozenset[str]]:
    """The clusters of a record -> person map, without the person ids (they name keyed material)."""
    groups: dict[str, set[str]] = {}
    for record, person in persons.items():
        groups.setdefault(person, set()).add(record)
    return {frozenset(g) for g in groups.values()}

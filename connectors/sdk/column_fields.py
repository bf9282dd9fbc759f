"""Which contract fields a source column feeds, measured on the connector's own mapping.

A record that maps is mapped again with one column's value replaced by another record's value of that
column; the fields whose values change are the ones the column feeds (a change of the event types
means the column selects the event type). The schema reference measures every built-in connector's
columns this way; a dead letter whose mapping failed at a column is given the contract fields that
column feeds, measured on the records of the same file that did map — so an error names the column
the integrator knows and the field of the contract, for a connector of one's own too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.sdk.connector import Connector
from connectors.sdk.mapping import MappedEvent
from connectors.sdk.sources import SourceRecord

SELECTS_EVENT_TYPE = "(selects the event type)"
TRIES = 6          # other values tried until one maps
KEEP_RECORDS = 16  # records of a file kept to measure on


def flatten(event: MappedEvent) -> dict[str, Any]:
    """Every contract field of a mapped event by its path (parties[0].name, envelope.occurred_at, ...)."""
    flat: dict[str, Any] = {
        "envelope.source_record_key": event.record_key, "envelope.occurred_at": event.occurred_at,
        "envelope.source.office_code": event.office_code, "envelope.source.office_name": event.office_name,
        "envelope.source.county_code": event.county_code, "envelope.related": repr(event.related),
        "envelope.restriction": repr(event.restriction)}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, child in value.items():
                walk(child, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            for i, child in enumerate(value):
                walk(child, f"{path}[{i}]")
        else:
            flat[path] = value.isoformat() if isinstance(value, datetime) else value

    walk(event.fields, "")
    return flat


def generic(path: str) -> str:
    """parties[0].name -> parties[].name"""
    return re.sub(r"\[\d+\]", "[]", path)


def try_map(connector: Connector, record: SourceRecord) -> list[MappedEvent] | None:
    """The events of `record`, or None when it does not map — whatever the mapping raises (a connector of
    one's own may raise anything for a value it never met: measuring must not stop the run)."""
    try:
        mapped = connector.map(record)
    except Exception:
        return None
    return mapped if isinstance(mapped, list) and all(isinstance(m, MappedEvent) for m in mapped) else None


def fields_fed(connector: Connector, record: SourceRecord, base: list[MappedEvent], column: str,
               others: Sequence[str]) -> dict[str, set[str]] | None:
    """event type -> the fields `column` feeds in `record` (which maps to `base`), trying the `others`
    values in turn until one maps; None when none does."""
    for other in list(others)[:TRIES]:
        changed = try_map(connector, SourceRecord(record.position, "", {**record.data, column: other}))
        if changed is None:
            continue
        if [e.event_type for e in changed] != [e.event_type for e in base]:
            return {event.event_type: {SELECTS_EVENT_TYPE} for event in base}
        found: dict[str, set[str]] = {}
        for event, after in zip(base, changed, strict=True):
            before_flat, after_flat = flatten(event), flatten(after)
            paths = {generic(p) for p in set(before_flat) | set(after_flat) if before_flat.get(p) != after_flat.get(p)}
            found.setdefault(event.event_type, set()).update(paths)
        return found
    return None


class ColumnFields:
    """The contract fields of a file's columns, measured on the first records of it that mapped."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.records: list[tuple[SourceRecord, list[MappedEvent] | None]] = []
        self._known: dict[str, str] = {}

    def remember(self, record: SourceRecord) -> None:
        """A record that mapped (cheap: only the first few are kept)."""
        if len(self.records) < KEEP_RECORDS:
            self.records.append((record, None))

    def of(self, column: str) -> str:
        """The fields `column` feeds, as `a, b` ("envelope.event_type" when it selects the event type);
        "" when no record of the file can tell."""
        if not column:
            return ""
        if column not in self._known:
            self._known[column] = self._measure(column)
        return self._known[column]

    def _measure(self, column: str) -> str:
        for i, (record, base) in enumerate(self.records):
            if column not in record.data:
                continue
            if base is None:
                base = try_map(self.connector, record) or []
                self.records[i] = (record, base)
            if not base:
                continue
            own = record.data[column]
            others = list(dict.fromkeys(r.data[column] for r, _ in self.records
                                        if column in r.data and r.data[column] != own))
            found = fields_fed(self.connector, record, base, column, others)
            if found:
                paths = sorted(set().union(*found.values()), key=lambda p: (p.startswith("envelope."), p))
                return ", ".join("envelope.event_type" if p == SELECTS_EVENT_TYPE else p for p in paths)
        return ""

"""Telling a re-delivered record from a changed one, and naming what changed, without keeping content.

For each published event the connector state keeps a fingerprint (connectors/sdk/state.py): keyed hashes
(BLAKE2b under a random key of that state database) of
- the whole event: decides whether a record seen before under the same event id (record key and version)
  says the same now;
- the layout (which fields it has) and each field's value, one byte each (a CRC seeded from the key):
  names the fields that changed (a byte cannot tell a value, and a field whose byte happens to agree is
  left unnamed, 1 in 256).
The key lives in the state database with the fingerprints: they cannot be compared across hubs or with
precomputed tables; someone holding that file can test a guess of a whole event, or of a field's value
1 in 256 — no more than the file's own access rights (private to the hub's user) allow.
What counts is what the event says: not when it was recorded, not under which schema version, not the
fields it leaves empty, not their order (a re-run at another time or after a compatible schema change
says the same).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any
from zlib import crc32

from connectors.sdk.column_fields import ColumnFields, fields_fed, generic
from connectors.sdk.mapping import MappedEvent
from connectors.sdk.sources import SourceRecord

IGNORED = ("envelope.recorded_at", "envelope.schema_version")
_PARTY_FIELD = re.compile(r"^parties\[(\d+)\]\.(\w+)")


def leaves(event: Mapping[str, Any]) -> dict[str, str]:
    """Each value of an event by its path (category, parties[0].name, envelope.occurred_at), as text; empty
    fields and IGNORED ones left out."""
    out: dict[str, str] = {}

    def walk(record: Mapping[str, Any], path: str) -> None:
        for key, child in record.items():
            if child is None:
                continue
            at = f"{path}.{key}" if path else str(key)
            kind = type(child)
            if kind is str:
                out[at] = repr(child)
            elif kind is dict:
                walk(child, at)
            elif (kind is list or kind is tuple) and child and all(type(c) is dict for c in child):
                for i, item in enumerate(child):
                    walk(item, f"{at}[{i}]")
            elif isinstance(child, Mapping):
                walk(child, at)
            else:
                out[at] = repr(child)

    walk(event, "")
    for path in IGNORED:
        out.pop(path, None)
    return out


def fingerprint(event: Mapping[str, Any], key: bytes) -> str:
    """`<whole>:<layout>:<one byte per field>` (hex), see the module doc."""
    values = leaves(event)
    paths = sorted(values)
    # one item per field; repr() escapes line breaks, so the items joined by one are unambiguous
    items = [f"{path}={values[path]}".encode("utf-8", "surrogatepass") for path in paths]
    whole = hashlib.blake2b(b"\n".join(items), key=key, digest_size=16).hexdigest()
    seed = _seed(key)
    per_field = bytes(crc32(item, seed) & 0xFF for item in items)
    layout = hashlib.blake2b("\n".join(paths).encode("utf-8", "surrogatepass"), key=key, digest_size=2).hexdigest()
    return f"{whole}:{layout}:{per_field.hex()}"


@lru_cache(maxsize=4)
def _seed(key: bytes) -> int:
    """The CRC seed of the per-field bytes, from the key (a keyed hash per field cost a tenth of a run)."""
    return int.from_bytes(hashlib.blake2b(b"per-field", key=key, digest_size=4).digest(), "big")


def same(old: str | None, new: str) -> bool:
    """Whether a stored fingerprint and a new one say the same (one stored before fingerprints, or in an
    earlier form without the per-field part: yes)."""
    return old is None or ":" not in old or old.split(":", 1)[0] == new.split(":", 1)[0]


def changed_fields(old: str, new: str, event: Mapping[str, Any]) -> list[str] | None:
    """The fields of `event` (whose fingerprint is `new`) that differ from the one fingerprinted `old`;
    None when that cannot be told (fields added or removed, or an old fingerprint)."""
    old_parts, new_parts = old.split(":"), new.split(":")
    if len(old_parts) != 3 or old_parts[1] != new_parts[1]:
        return None
    paths = sorted(leaves(event))
    return [path for i, path in enumerate(paths) if old_parts[2][2 * i:2 * i + 2] != new_parts[2][2 * i:2 * i + 2]]


def columns_of(fields: Sequence[str], record: SourceRecord, mapped: Sequence[MappedEvent] | None,
               columns: ColumnFields | None) -> list[str]:
    """The source columns of `record` that feed `fields`: a party's from the mapping helpers' record of
    them, the others measured on this record (its mapping run again with a column's value replaced by
    the value other records of the file have there, as ColumnFields does)."""
    found: list[str] = []
    wanted = {generic(field) for field in fields}
    for field in fields:
        match = _PARTY_FIELD.match(field)
        if match:
            for event in mapped or ():
                parties = event.fields.get("parties")
                index = int(match.group(1))
                if isinstance(parties, list) and index < len(parties):
                    column = getattr(parties[index], "columns", {}).get(match.group(2))
                    if column and column not in found:
                        found.append(column)
                        wanted.discard(generic(field))
    if not wanted or columns is None or not mapped:
        return found
    for column, own in record.data.items():
        others = list(dict.fromkeys(r.data[column] for r, _ in columns.records
                                    if column in r.data and r.data[column] != own))
        fed = fields_fed(columns.connector, record, list(mapped), column, others + ([""] if own else []))
        paths = set().union(*fed.values()) if fed else set()
        if any(_within(a, b) or _within(b, a) for a in paths for b in wanted) and column not in found:
            found.append(column)
    return found


def _within(path: str, prefix: str) -> bool:
    """`path` is `prefix` or lies inside it (envelope.related[].case_number in envelope.related)."""
    return path == prefix or (path.startswith(prefix) and path[len(prefix)] in ".[")

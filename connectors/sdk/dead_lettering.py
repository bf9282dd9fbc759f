"""How a failed source record becomes a dead letter: its id (by content), the source column of the
error, the data subjects it concerns, and its original sealed under their keys.

The original is sealed (consent/privacy/sealing.py) so that destroying ANY of these keys shreds it:
1. the parties of the record's mapped events, when mapping got that far: the same subject keys their
   published records get (the strongest identifier: ID number, agency person id, name + birth date),
   so erasing a person's keys also erases their dead letters;
2. every value shaped like a resident identity number in the record (also for rows that could not
   even be mapped): the subject key an event with that ID number would get;
3. always, a key of the dead letter's own (`<agency>|dl|<dead letter id>`): an erasure that finds the
   person in a dead letter by other means (`dead_letters_naming`: a phone number, an ID number typed
   differently) destroys that key, without touching anybody else's.
All of them are listed in the `justlink.sealed.subject_keys` header, the own key also in
`justlink.sealed.own_key`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from connectors.sdk.column_fields import ColumnFields
from connectors.sdk.connector import Connector
from connectors.sdk.deadletter import DeadLetter, now_iso, read_dead_letters
from connectors.sdk.errors import RecordError
from connectors.sdk.mapping import MappedEvent, SourcedDict
from connectors.sdk.sources import Source, SourceRecord, UnreadableRecord
from consent.privacy.protect import Protector
from consent.privacy.sealing import SealError, seal_many, unseal
from runtime.eventlog.base import EventLog
from runtime.topics import AGENCIES, dead_letter_topic

MAX_ORIGINAL_BYTES = 512 * 1024   # with its headers a dead letter stays below Kafka's default 1 MB message limit
MAX_SUBJECTS = 64                  # a row naming more people is still shredded by its own key
_ID_SHAPED = re.compile(r"(?<![0-9])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
                        r"(?![0-9A-Za-z])")
_PARTY_PATH = re.compile(r"^parties\[(\d+)\]\.(\w+)")


@dataclass
class Failure:
    """A source record that failed at some stage, before it is turned into a dead letter."""

    record: SourceRecord | UnreadableRecord
    stage: str
    error: RecordError
    exception: str = "connectors.sdk.errors.RecordError"
    mapped: list[MappedEvent] | None = None


def original_bytes(record: SourceRecord | UnreadableRecord) -> bytes:
    raw = record.raw
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if not raw and isinstance(record, SourceRecord):
        raw = json.dumps(record.data, ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass")
    return raw


def _content_digest(record: SourceRecord | UnreadableRecord) -> str:
    """A record's identity: its data (so a re-encoded or re-ordered file gives the same), else its bytes."""
    if isinstance(record, SourceRecord):
        content = json.dumps(record.data, ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass")
    else:
        content = original_bytes(record)
    return hashlib.sha256(content).hexdigest()


def _value_at(fields: Mapping[str, Any], path: str) -> Any:
    current: Any = fields
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            index = int(part[1:-1])
            if not isinstance(current, list) or index >= len(current):
                return None
            current = current[index]
        elif isinstance(current, Mapping):
            current = current.get(part)
        else:
            return None
    return current


def source_column(record: SourceRecord | UnreadableRecord, mapped: Sequence[MappedEvent] | None, path: str) -> str:
    """The source column a contract field's value came from: the mapping helpers' record of it, else the
    one column holding exactly that value."""
    if not path or not isinstance(record, SourceRecord):
        return ""
    if path in record.data:
        return path
    for event in mapped or ():
        match = _PARTY_PATH.match(path)
        if match:
            parties = event.fields.get("parties")
            index = int(match.group(1))
            if isinstance(parties, list) and index < len(parties) and isinstance(parties[index], SourcedDict):
                column: str | None = parties[index].columns.get(match.group(2))
                if column:
                    return column
        value = _value_at(event.fields, path.removeprefix("envelope."))
        if isinstance(value, str) and value.strip():
            holders = [c for c, v in record.data.items() if v.strip() == value.strip()]
            if len(holders) == 1:
                return holders[0]
    return ""


class DeadLetterMaker:
    """Turns failures of one connector into sealed DeadLetters (in batches: one keystore call each)."""

    def __init__(self, connector: Connector, protector: Protector) -> None:
        self.connector = connector
        self.protector = protector
        self.agency = connector.agency
        cls = type(connector)
        self.connector_class = f"{cls.__module__}.{cls.__qualname__}"

    def letter_id(self, record: SourceRecord | UnreadableRecord) -> str:
        digest = _content_digest(record)
        return "dl-" + str(self.protector.blind.subject_key(f"deadletter|{self.agency}|{digest}"))

    def describe(self, source: Source, failure: Failure, letter_id: str,
                 columns: ColumnFields | None = None) -> DeadLetter:
        """The dead letter of a failure, not sealed yet. A mapping names only the source column it
        rejected; `columns` (measured on the file's records that mapped) adds the contract fields it feeds."""
        record, error = failure.record, failure.error
        if failure.stage == "read":
            column = error.column or error.field
            field = ""
        elif failure.stage == "map":
            column = error.column or error.field
            field = columns.of(column) if columns is not None and isinstance(record, SourceRecord) \
                and column in record.data else ""
        else:
            field = error.field
            column = error.column or source_column(record, failure.mapped, error.field)
        return DeadLetter(
            dead_letter_id=letter_id, agency=self.agency, connector=self.connector.name,
            connector_class=self.connector_class, source=source.name, position=record.position, line=record.line,
            stage=failure.stage, column=column, field=field, rule=error.rule, reason=error.reason,
            exception=failure.exception, original_meta=source.original_meta(),
            truncated=len(original_bytes(record)) > MAX_ORIGINAL_BYTES, at=now_iso())

    def subjects(self, failure: Failure, letter_id: str) -> list[str]:
        keys: list[str] = []
        for party in self._parties(failure):
            try:
                protection = self.protector.party_protection(party, self.agency, letter_id, "party")
            except Exception:  # a party the mapping left malformed: it cannot key anything
                continue
            if protection["id_number_bi"] or protection["agency_person_bi"] or protection["name_dob_bi"]:
                keys.append(protection["subject_key"])
        for number in self._id_shaped(failure.record):
            protection = self.protector.party_protection({"id_number": number}, self.agency, letter_id, "party")
            keys.append(protection["subject_key"])
        return list(dict.fromkeys(keys))[:MAX_SUBJECTS] + [self.own_key(letter_id)]

    def own_key(self, letter_id: str) -> str:
        return str(self.protector.blind.subject_key(f"{self.agency}|dl|{letter_id}"))

    @staticmethod
    def _parties(failure: Failure) -> Iterable[Mapping[str, Any]]:
        for event in failure.mapped or ():
            parties = event.fields.get("parties")
            if isinstance(parties, list):
                yield from (p for p in parties if isinstance(p, Mapping))

    @staticmethod
    def _id_shaped(record: SourceRecord | UnreadableRecord) -> list[str]:
        if isinstance(record, SourceRecord):
            text = "\n".join(record.data.values())
        else:
            text = original_bytes(record)[:MAX_ORIGINAL_BYTES].decode("utf-8", "replace")
        return sorted(set(_ID_SHAPED.findall(text)))

    def seal(self, letters: Sequence[tuple[DeadLetter, Failure]]) -> list[DeadLetter]:
        """The letters with their originals sealed under their subjects' keys, in one keystore batch."""
        if not letters:
            return []
        prepared = [(letter, self.subjects(failure, letter.dead_letter_id),
                     original_bytes(failure.record)[:MAX_ORIGINAL_BYTES]) for letter, failure in letters]
        sealed = seal_many(self.protector, [(raw, keys, letter.dead_letter_id.encode())
                                            for letter, keys, raw in prepared], self.agency)
        return [replace(letter, subject_keys=s.subject_keys, own_key=self.own_key(letter.dead_letter_id), sealed=s.blob)
                for (letter, _, _), s in zip(prepared, sealed, strict=True)]


_PHONE = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
_ANY_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])|(?<![0-9])[0-9]{15}(?![0-9])")


def dead_letters_naming(log: EventLog, protector: Protector, blind_indexes: set[str],
                        agencies: Iterable[str] = AGENCIES) -> list[DeadLetter]:
    """The dead letters whose original names one of `blind_indexes` (ID numbers' and phones' blind
    indexes, as a person's records carry them): for an erasure that must reach rows which were never
    keyed to the person (an ID number mistyped in that row, only a phone). Destroying a letter's
    `own_key` shreds it. Originals already unreadable are skipped."""
    found = []
    for agency in agencies:
        for letter in read_dead_letters(log, [dead_letter_topic(agency)], group=f"justlink-erasure-scan-{agency}",
                                        wait_s=0.5):
            try:
                raw = unseal(protector, letter.sealed, letter.dead_letter_id.encode())
            except SealError:
                continue
            if raw is None:
                continue
            try:
                text = raw.decode(letter.original_meta.get("encoding", "utf-8"), "replace")
            except LookupError:
                text = raw.decode("utf-8", "replace")
            named = {protector.blind.id_number(n)[0] for n in _ANY_ID.findall(text)}
            named |= {bi for bi in (protector.blind.phone(n) for n in _PHONE.findall(text)) if bi}
            if named & blind_indexes:
                found.append(letter)
    return found

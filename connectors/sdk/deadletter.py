"""Dead letters: records that could not become events, kept with where and why — in Kafka Connect's
dead-letter-queue convention, with the original sealed under the data subjects' keys.

One record on `justlink.<agency>.deadletter` per source record that failed:

- **key**: the dead letter's id (`dl-` + 32 hex), keyed by the record's content, so the same bad
  record read again (a re-run, a re-export, a re-encoded file) is the same dead letter, counted as a
  duplicate and not appended twice;
- **value**: the original bytes of the source record (the CSV row or JSON line as read, or the
  record's data as a JSON object for other sources), sealed (`consent/privacy/sealing.py`): readable
  only with the keystore, and no longer at all once any data subject it concerns is erased;
- **headers**: the ones every record carries (`event_type: DeadLetter`, `content-type:
  application/vnd.justlink.sealed-original.v1`, `traceparent`; schemas/wire.py), Kafka Connect's
  (`__connect.errors.topic`, `.partition`, `.offset` — empty and -1: a
  source record has none —, `.connector.name`, `.task.id`, `.stage`, `.class.name`,
  `.exception.class.name`, `.exception.message`) plus ours (`justlink.*`: the source file, line and
  column, the contract field, the rule, the subject keys the original is sealed under — its data
  subjects' and its own —, and what `record_from_original` needs to read the original again). No header ever holds a source value:
  messages name the column and the rule, and describe a value only by its shape.

Stages: READ (the bytes are not a record), MAP (the connector's mapping rejected it), VALIDATE (the
event breaks its contract or a domain check), PROTECT, ENCODE.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime

from runtime.eventlog.base import EventLog, Headers, Record
from schemas.wire import TraceContext, record_headers

logger = logging.getLogger("justlink.connector")
FORMAT_VERSION = "1"
CONTENT_TYPE = "application/vnd.justlink.sealed-original.v1"
STAGES = ("read", "map", "validate", "protect", "encode")
_CONNECT = "__connect.errors."


@dataclass(frozen=True)
class DeadLetter:
    dead_letter_id: str
    agency: str
    connector: str
    connector_class: str
    source: str                 # file or table name
    position: str               # "mediation.csv:12" (or 12-14 when a quoted value spans lines)
    line: int                   # first line in the file; 0 when not from a file
    stage: str                  # one of STAGES
    column: str                 # the source column, when known
    field: str                  # the contract field (e.g. parties[0].id_number), when there is one
    rule: str                   # see connectors.sdk.errors.RULES
    reason: str                 # what was expected; never the value
    exception: str             # the class of the error
    original_meta: dict[str, str] = dataclass_field(default_factory=dict)
    subject_keys: list[str] = dataclass_field(default_factory=list)   # erasing any of them shreds the original
    own_key: str = ""           # the one of them that is the dead letter's own (see dead_lettering)
    sealed: bytes = dataclass_field(default=b"", repr=False)   # the original, sealed
    truncated: bool = False     # the original was longer than MAX_ORIGINAL_BYTES and was cut
    at: str = ""

    def where(self) -> str:
        """The source column and, in brackets, the contract field: `申请人身份证号 (parties[0].id_number)`."""
        where = self.column or self.field or "-"
        if self.column and self.field and self.field != self.column:
            where = f"{self.column} ({self.field})"
        return where

    def message(self) -> str:
        """Where and why, in the integrator's words: file:line, column (field), rule, reason."""
        return f"{self.position}: {self.where()}: {self.rule}: {self.reason}"

    def to_record(self) -> tuple[bytes, bytes, Headers]:
        def h(name: str, value: str) -> tuple[str, bytes]:
            return name, value.encode("utf-8")

        common = record_headers("DeadLetter", TraceContext.new(self.dead_letter_id), content_type=CONTENT_TYPE)
        headers = [
            *common,
            h(_CONNECT + "topic", ""), h(_CONNECT + "partition", "-1"), h(_CONNECT + "offset", "-1"),
            h(_CONNECT + "connector.name", self.connector), h(_CONNECT + "task.id", "0"),
            h(_CONNECT + "stage", self.stage.upper()), h(_CONNECT + "class.name", self.connector_class),
            h(_CONNECT + "exception.class.name", self.exception),
            h(_CONNECT + "exception.message", self.message()),
            h("justlink.deadletter.version", FORMAT_VERSION),
            h("justlink.deadletter.id", self.dead_letter_id),
            h("justlink.agency", self.agency),
            h("justlink.source.name", self.source),
            h("justlink.source.position", self.position),
            h("justlink.source.line", str(self.line)),
            h("justlink.source.column", self.column),
            h("justlink.error.field", self.field),
            h("justlink.error.rule", self.rule),
            h("justlink.error.reason", self.reason),
            h("justlink.sealed.subject_keys", ",".join(self.subject_keys)),
            h("justlink.sealed.own_key", self.own_key),
            h("justlink.original.truncated", "true" if self.truncated else "false"),
            h("justlink.at", self.at),
        ]
        headers += [h(f"justlink.original.{name}", value) for name, value in sorted(self.original_meta.items())]
        return self.dead_letter_id.encode(), self.sealed, tuple(headers)

    @classmethod
    def from_record(cls, record: Record) -> DeadLetter:
        headers = {name: value.decode("utf-8", "replace") for name, value in record.headers}
        if headers.get("justlink.deadletter.version") != FORMAT_VERSION:
            raise ValueError(f"not a JustLink dead letter (topic {record.topic} partition {record.partition} "
                             f"offset {record.offset})")
        meta = {name.removeprefix("justlink.original."): value for name, value in headers.items()
                if name.startswith("justlink.original.") and name != "justlink.original.truncated"}
        keys = headers.get("justlink.sealed.subject_keys", "")
        return cls(
            dead_letter_id=headers["justlink.deadletter.id"], agency=headers["justlink.agency"],
            connector=headers[_CONNECT + "connector.name"], connector_class=headers[_CONNECT + "class.name"],
            source=headers["justlink.source.name"], position=headers["justlink.source.position"],
            line=int(headers.get("justlink.source.line") or 0), stage=headers[_CONNECT + "stage"].lower(),
            column=headers.get("justlink.source.column", ""), field=headers.get("justlink.error.field", ""),
            rule=headers.get("justlink.error.rule", ""), reason=headers.get("justlink.error.reason", ""),
            exception=headers.get(_CONNECT + "exception.class.name", ""), original_meta=meta,
            subject_keys=[k for k in keys.split(",") if k], own_key=headers.get("justlink.sealed.own_key", ""),
            sealed=record.value,
            truncated=headers.get("justlink.original.truncated") == "true", at=headers.get("justlink.at", ""))

    def header_bytes(self) -> bytes:
        """Every header and the key, as bytes (for scans that prove no plaintext is in them)."""
        key, _, headers = self.to_record()
        return key + b"".join(name.encode() + b"=" + value + b"\n" for name, value in headers)

    def to_json(self) -> str:
        """The metadata (not the original) as JSON, for `connector dead-letters --json`."""
        return json.dumps({
            "dead_letter_id": self.dead_letter_id, "agency": self.agency, "connector": self.connector,
            "source": self.source, "position": self.position, "line": self.line, "stage": self.stage,
            "column": self.column, "field": self.field, "rule": self.rule, "reason": self.reason,
            "subject_keys": self.subject_keys, "at": self.at}, ensure_ascii=False)


def read_dead_letters(log: EventLog, topics: Sequence[str], *, group: str, wait_s: float = 0.5) -> Iterator[DeadLetter]:
    """Every dead letter on `topics`, from the beginning (a throwaway consumer group); stops after a poll
    that waited `wait_s` and found nothing more."""
    present = [t for t in topics if t in log.topics()]
    if not present:
        return
    consumer = log.consumer(group, present)
    try:
        while batch := consumer.poll(1000, timeout_s=wait_s):
            for record in batch:
                try:
                    yield DeadLetter.from_record(record)
                except (ValueError, KeyError) as exc:   # not ours (another producer wrote to the topic)
                    logger.warning("skipped a record that is not a JustLink dead letter: %s", exc)
    finally:
        consumer.close()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

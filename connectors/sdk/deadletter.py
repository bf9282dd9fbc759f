"""Dead letters: records that could not become events, kept with the reason.

A dead letter is a JSON message on `justlink.<agency>.deadletter` saying which source
and position, which stage failed (read, map, validate, protect, encode), which field,
and why — and the original record, encrypted like any other personal data (its own
per-agency data subject), so it can be repaired and re-run but never read in clear
from the topic.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

ORIGINAL_SCHEMA: dict[str, Any] = {
    "type": "record", "name": "DeadLetterOriginal", "namespace": "org.justlink.deadletter",
    "doc": "The source record of a dead letter, kept encrypted.",
    "fields": [{"name": "original", "type": "string", "pii": "sensitive", "doc": "The record as read."}],
}


@dataclass(frozen=True)
class DeadLetter:
    agency: str
    connector: str
    source: str
    position: str
    stage: str
    field: str
    reason: str
    original: str          # a protected token, never plaintext
    dead_letter_id: str
    at: str

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> DeadLetter:
        return cls(**json.loads(data))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

"""The audit trail writer: every access, allowed or denied, appended as a signed, hash-chained
AccessAudited record on "justlink.audit" (one partition, so log order is chain order), and signed
heads on "justlink.audit.checkpoints".

A head is signed after the first record, every `checkpoint_every` records, every
`checkpoint_interval_s` seconds while records are unsigned by a head, and on `close()` (every
graceful stop). On open, the writer re-verifies what it continues — the last head and every record
after it, under its own key — and refuses to write on a trail it cannot verify or that another
key signed: the next legitimate write must never sign over a forgery.

One writer per trail (a second one would fork the chain): the hub takes the data directory's
audit lock before it opens one (runtime/datadir.py).
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from consent.access.audit.heads import SignedHead, read_head, sign_head
from consent.access.audit.keys import AuditError, key_id, load_or_create_signing_key
from consent.access.audit.records import (
    GENESIS_HASH,
    HEAD_TYPE,
    RECORD_TYPE,
    AuditEntry,
    ReasonCipher,
    audit_codec,
    digest_only,
    new_record,
    record_signing_message,
)
from consent.access.audit.verify import RecordChecker
from runtime.eventlog.base import EventLog, TopicPartition
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import AUDIT_CHECKPOINT_TOPIC, AUDIT_TOPIC
from schemas import wire

log = logging.getLogger("justlink.audit")
CHECKPOINT_TOPIC = AUDIT_CHECKPOINT_TOPIC


@dataclass(frozen=True, slots=True)
class SealedRecord:
    seq: int
    prev_hash: str
    hash: str
    value: bytes  # exactly what is on the log


def read_from(log: EventLog, topic: str, offset: int) -> list[bytes]:
    """Values of a one-partition topic from `offset` to its end."""
    values: list[bytes] = []
    if topic not in log.topics():
        return values
    with log.consumer(f"{topic}.read", [topic], from_beginning=True) as consumer:
        consumer.seek(TopicPartition(topic, 0), max(offset, 0))
        while batch := consumer.poll(1000, timeout_s=0.0):
            values.extend(r.value for r in batch)
    return values


def read_trail(log: EventLog) -> tuple[list[bytes], list[bytes]]:
    """Every audit record and signed head value, in log order."""
    return read_from(log, AUDIT_TOPIC, 0), read_from(log, CHECKPOINT_TOPIC, 0)


def _last_value(log: EventLog, topic: str) -> bytes | None:
    end = log.end_offsets(topic).get(0, 0)  # some brokers under-report: read on from there
    values = read_from(log, topic, end - 1)
    return values[-1] if values else None


class AuditTrail:
    def __init__(self, log: EventLog, signing_key: Ed25519PrivateKey, *, checkpoint_every: int = 100,
                 checkpoint_interval_s: float = 60.0, cipher: ReasonCipher | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        if checkpoint_every < 1:
            raise AuditError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
        self._log = log
        self._key = signing_key
        self._checker = RecordChecker(signing_key.public_key())
        self._key_id = key_id(signing_key.public_key())
        self._every = checkpoint_every
        self._seal = cipher.seal if cipher is not None else digest_only
        self._clock = clock
        self._codec = audit_codec()
        self._schema_id, self._schema_version = self._codec.current(RECORD_TYPE)
        self._lock = threading.Lock()
        log.create_topic(AUDIT_TOPIC, 1)
        log.create_topic(CHECKPOINT_TOPIC, 1)
        self._next_seq, self._last_hash, self._signed_size = self._recover()
        if self._next_seq > self._signed_size:  # signed records a crash left after the last head
            with self._lock:
                self._sign_locked("start")
        self._closed = threading.Event()
        self._ticker: threading.Thread | None = None
        if checkpoint_interval_s > 0:
            self._ticker = threading.Thread(target=self._tick, args=(checkpoint_interval_s,),
                                            name="audit-heads", daemon=True)
            self._ticker.start()

    @classmethod
    def open(cls, log: EventLog, data_dir: Path | str, **options: Any) -> AuditTrail:
        return cls(log, load_or_create_signing_key(data_dir), **options)

    @property
    def public_key(self):
        return self._key.public_key()

    @property
    def next_seq(self) -> int:
        return self._next_seq

    @property
    def signed_size(self) -> int:
        return self._signed_size

    # -- recovery: continue only a trail this key can verify ------------------------------------------
    def _refuse(self, why: str) -> AuditError:
        return AuditError(f"the audit trail cannot be continued: {why}. The hub will not sign over it: run "
                          "`justlink audit verify` and restore the log (or the audit key) from backup")

    def _recover(self) -> tuple[int, str, int]:
        raw_head = _last_value(self._log, CHECKPOINT_TOPIC)
        head: SignedHead | None = None
        if raw_head is not None:
            head = read_head(raw_head)
            if head is None:
                raise self._refuse("the last signed head is unreadable")
            if head.key_id != self._key_id or not head.signature_valid(self._key.public_key()):
                raise self._refuse(f"its last head was signed by key {head.key_id}, but the audit key in the data "
                                   f"directory is {self._key_id} (replaced or regenerated)")
        start = head.size - 1 if head is not None and head.size else 0
        values = read_from(self._log, AUDIT_TOPIC, start)
        prev = GENESIS_HASH
        seq = start
        if head is not None and head.size:
            if not values:
                raise self._refuse(f"the last head covers {head.size} records but the trail holds fewer — truncated")
            problem, first_hash, first_seq = self._checker.problem(values[0], start, self._claimed_prev(values[0]))
            if problem is not None or first_seq != start or first_hash != head.head_hash:
                raise self._refuse(problem or f"record {start} differs from the last signed head")
            prev, seq, values = head.head_hash, start + 1, values[1:]
        for value in values:
            problem, record_hash, claimed = self._checker.problem(value, seq, prev)
            if problem is None and claimed != seq:
                problem = f"record {seq} is missing or out of order"
            if problem is not None:
                raise self._refuse(problem)
            assert record_hash is not None
            prev, seq = record_hash, seq + 1
        return seq, prev, head.size if head is not None else 0

    def _claimed_prev(self, value: bytes) -> str:
        """The prev_hash a record claims (checked against the chain by the record before it)."""
        try:
            return str(self._codec.decode(value, RECORD_TYPE)[1]["prev_hash"])
        except (ValueError, KeyError):
            return ""

    # -- writing -----------------------------------------------------------------------------------
    def _catch_up(self) -> None:
        """Another trail object appended to this log (in tests, or a CLI command in a process that also
        holds one): continue after its records instead of forking the chain. Only the embedded log
        answers end offsets cheaply and exactly; across processes the audit lock keeps one writer."""
        if isinstance(self._log, EmbeddedEventLog) and self._log.end_offsets(AUDIT_TOPIC).get(0, 0) > self._next_seq:
            self._next_seq, self._last_hash, self._signed_size = self._recover()

    def append(self, entry: AuditEntry) -> SealedRecord:
        with self._lock:
            self._catch_up()
            seq, prev = self._next_seq, self._last_hash
            record = new_record(entry, seq, prev, self._key_id, self._schema_version, self._seal)
            record["hash"] = self._codec.chain_hash(self._schema_id, record)
            record["signature"] = base64.b64encode(self._key.sign(record_signing_message(record["hash"]))).decode()
            value = self._codec.encode_as(self._schema_id, record)
            self._log.append(AUDIT_TOPIC, value, key=str(seq).encode(), headers=_headers(RECORD_TYPE, value))
            self._next_seq, self._last_hash = seq + 1, record["hash"]
            if self._signed_size == 0 or self._next_seq - self._signed_size >= self._every:
                self._sign_locked("records")
            return SealedRecord(seq, prev, record["hash"], value)

    def checkpoint(self, trigger: str = "manual") -> SignedHead | None:
        """Sign the head now (None when every record is already covered by a head)."""
        with self._lock:
            return self._sign_locked(trigger)

    def _sign_locked(self, trigger: str) -> SignedHead | None:
        self._catch_up()
        if self._next_seq == 0 or self._next_seq == self._signed_size:
            return None
        head = sign_head(self._key, self._next_seq, self._last_hash, self._clock(), trigger)
        value = head.to_value()
        self._log.append(CHECKPOINT_TOPIC, value, key=str(head.size).encode(), headers=_headers(HEAD_TYPE, value))
        self._signed_size = head.size
        return head

    def _tick(self, interval_s: float) -> None:
        while not self._closed.wait(interval_s):
            try:
                self.checkpoint("interval")
            except Exception:  # the log may be closing; the stop head is signed by close()
                log.warning("audit trail: the periodic head could not be signed", exc_info=True)

    def close(self) -> None:
        """Sign the head on a graceful stop."""
        closed = getattr(self, "_closed", None)
        if closed is not None:
            closed.set()
        self.checkpoint("stop")


def _headers(event_type: str, value: bytes) -> wire.Headers:
    """The record headers (schemas/wire.py) of an audit record or signed head: a trace of its own, derived from
    the record's bytes (which hold its chain hash), and the schema id framed in the value."""
    import hashlib

    return wire.record_headers(event_type, wire.TraceContext.new(hashlib.sha256(value).hexdigest()),
                               schema_id=int.from_bytes(value[1:5], "big"))

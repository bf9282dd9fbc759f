"""The runner core: one input record through the pipeline — decode, de-duplicate, handle, encode,
or dead-letter — the same code for every runner (embedded, faust). Runners differ only in how they
fetch records, keep state durable and commit positions; what a record produces is decided here.

- decode: the Confluent-framed Avro of the record (any registered schema version);
- de-duplicate: an event id the state has applied before (a connector re-published it, a forwarder
  sent it twice) is skipped — processors see each event once per state;
- handle: `Pipeline.handle(event, state)`;
- encode: each output as Confluent-framed Avro, keyed by its key;
- dead-letter: a record that cannot be decoded or whose handling raises becomes one record on the
  pipeline's dead-letter topic, naming where it came from, the error class, the field and the rule —
  never a value; the run goes on.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas import wire
from schemas.wire import AvroCodec, default_codec
from streams.processor import Event, Output, State

log = logging.getLogger("justlink.runner")

SEEN_TABLE = "runner.seen"   # event id -> input offset: the events this state has applied
Row = tuple[str, bytes | None, bytes, wire.Headers]   # (topic, key, value, headers) to append


@dataclass
class Handled:
    """What the records handled so far produced, in order."""

    rows: list[Row] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    events: int = 0
    duplicates: int = 0
    dead_letters: list[str] = field(default_factory=list)   # the input topic of each dead letter


class Topology(Protocol):
    """What the core drives: the Pipeline itself (one process) or the staged topology (partitions)."""

    dead_letter_topic: str

    def handle(self, event: Event, state: State) -> list[Output]: ...

    def tick(self, now_ms: int, state: State) -> list[Output]: ...

    def deduplicates(self, topic: str) -> bool: ...


class RunnerCore:
    def __init__(self, pipeline: Topology, codec: AvroCodec | None = None) -> None:
        self.pipeline = pipeline
        self.codec = codec or default_codec()


    def handle(self, topic: str, partition: int, offset: int, raw: bytes, state: State, into: Handled, *,
               publish: bool = True, headers: wire.Headers = ()) -> None:
        """Handle one record against `state`; append what it produces to `into` unless `publish` is
        False (a runner re-applying records whose outputs are already on the log). The outputs continue
        the trace of the record's `traceparent` header (a new trace when it has none)."""
        trace = wire.trace_of(headers)
        try:
            event_type, record = self.codec.decode(raw)
            event = Event(event_type, record, topic, partition, offset, raw)
            seen = state.table(SEEN_TABLE) if self.pipeline.deduplicates(topic) else None
            if seen is not None and event.event_id in seen:
                into.duplicates += 1
                return
            outputs = self.pipeline.handle(event, state)
            if seen is not None:
                seen[event.event_id] = offset
        except Exception as exc:  # noqa: BLE001 - bad input never stops the run; it is kept with the reason
            log.warning("event dead-lettered: topic %s partition %d offset %d: %s", topic, partition, offset,
                        type(exc).__name__)
            if publish:
                into.rows.append((self.pipeline.dead_letter_topic, None, dead_letter(topic, partition, offset, exc),
                                  wire.record_headers("DeadLetter", wire.derived_trace(trace, f"{topic}/{partition}/"
                                                      f"{offset}"), content_type=wire.CONTENT_TYPE_JSON)))
                into.dead_letters.append(topic)
            return
        into.events += 1
        if publish:
            self.add_outputs(outputs, into, trace)

    def tick(self, now_ms: int, state: State, into: Handled) -> None:
        """The pipeline's wall-clock work (deadline alerts)."""
        self.add_outputs(self.pipeline.tick(now_ms, state), into)

    def add_outputs(self, outputs: list[Output], into: Handled, trace: wire.TraceContext | None = None) -> None:
        into.outputs.extend(outputs)
        for o in outputs:
            value = o.raw or self.codec.encode(o.event_type, o.record)
            trace_of_output = wire.derived_trace(trace, o.record["envelope"]["event_id"])
            into.rows.append((o.topic, o.key.encode(), value, wire.record_headers(
                o.event_type, trace_of_output, schema_id=self.codec.schema_id_of(value))))


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\[\]]{0,80}$")


def dead_letter_reason(exc: BaseException) -> tuple[str, str]:
    """(field, rule) of a failure — names, never values: an exception's text may quote the input
    (an unknown name, an ID number), so only a missing key that looks like a field name is named."""
    from schemas.loader import SchemaError
    from schemas.wire import WireFormatError

    if isinstance(exc, WireFormatError):
        return "", "wire_format: not a Confluent-framed Avro record"
    if isinstance(exc, SchemaError):
        return "", "schema: the record's schema id is not registered"
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) and _FIELD_NAME.fullmatch(exc.args[0]):
        return exc.args[0], "required: the field is missing"
    if isinstance(exc, (EOFError, StopIteration, IndexError, struct.error)):
        return "", "avro: the body ends before the record does"
    return "", f"processing: {type(exc).__name__} while handling the record"


class SnapshotPace:
    """How often a runner snapshots its state: every `every_s` seconds, but never spending more than a
    tenth of the time on it — a snapshot writes the whole state, which grows with the history (a second
    at a county's size, many at a province's), so the interval stretches to ten times the last one's
    duration."""

    SHARE = 10

    def __init__(self) -> None:
        self.last_s = 0.0

    def interval(self, every_s: float) -> float:
        return max(every_s, self.SHARE * self.last_s)

    @contextmanager
    def timed(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.last_s = time.perf_counter() - started


def dead_letter(topic: str, partition: int, offset: int, exc: BaseException) -> bytes:
    """The dead letter of an input record: where it is, and why it could not be handled (the field and
    the rule, never a value)."""
    field, rule = dead_letter_reason(exc)
    reason: dict[str, Any] = {"topic": topic, "partition": partition, "offset": offset,
                              "error": type(exc).__name__, "field": field, "reason": rule}
    return json.dumps(reason, ensure_ascii=False).encode()

"""One envelope on the wire: every record the hub writes carries `event_type`, `content-type`,
`schema_id` (Avro) and a W3C `traceparent`; a connector starts a trace per source record and the
processors' outputs continue the trace of the record they were derived from."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import AGENCY_TOPICS, RESOLVED_TOPIC
from schemas import wire
from streams.pipeline import Pipeline
from streams.runners.embedded import EmbeddedRunner
from tests.support.county import generated_and_published

TRACEPARENT = re.compile(rb"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")


def test_traceparent_is_w3c_and_derived_spans_stay_in_the_trace() -> None:
    root = wire.TraceContext.new("event-1")
    assert TRACEPARENT.match(root.header())
    assert wire.TraceContext.new("event-1") == root, "derived from the event id: re-publishing is identical"
    child = root.child("output-1")
    assert child.trace_id == root.trace_id and child.span_id != root.span_id
    assert wire.TraceContext.parse(child.header()) == child
    assert wire.derived_trace(None, "tick-output").trace_id != root.trace_id


@pytest.mark.parametrize("bad", [b"", b"garbage", b"01-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01",
                                 b"00-" + b"0" * 32 + b"-" + b"b" * 16 + b"-01",
                                 b"00-" + b"A" * 32 + b"-" + b"b" * 16 + b"-01",
                                 b"00-" + "张".encode() * 10 + b"-" + b"b" * 16 + b"-01", b"\xff" * 55])
def test_a_forged_traceparent_is_ignored_not_trusted(bad: bytes) -> None:
    assert wire.TraceContext.parse(bad) is None
    assert wire.trace_of((("traceparent", bad),)) is None


def test_avro_headers_need_the_schema_id() -> None:
    with pytest.raises(wire.WireFormatError, match="schema id"):
        wire.record_headers("CaseFiled", wire.TraceContext.new("x"))


def _records(log: EmbeddedEventLog, topics: list[str]) -> list:
    consumer = log.consumer("headers-check", topics)
    found = []
    while batch := consumer.poll(5000, timeout_s=0.2):
        found.extend(batch)
    consumer.close()
    return found


def test_every_record_of_a_county_run_carries_the_envelope(tmp_path: Path) -> None:
    """Connectors, then the processors with a record whose traceparent an outsider forged: every record on
    every topic has the headers, the schema id header equals the framed id, and EventResolved continues
    the trace of the agency event it resolves."""
    _, data = generated_and_published(tmp_path, 250, seed=4)
    log = EmbeddedEventLog(data / "log.db")
    try:
        agency_records = _records(log, list(AGENCY_TOPICS))
        assert len(agency_records) > 200
        codec = wire.default_codec()
        forged = agency_records[0]
        log.append(forged.topic, forged.value, key=forged.key,
                   headers=tuple((k, b"00-not-a-trace" if k == "traceparent" else v) for k, v in forged.headers))
        runner = EmbeddedRunner(log, Pipeline.default(), tmp_path / "state.json")
        runner.run(until_idle=True)
        every = _records(log, sorted(t for t in log.topics() if not t.endswith("deadletter")))
        trace_of_event: dict[str, str] = {}
        for record in every:
            headers = dict(record.headers)
            assert set(headers) == {"event_type", "content-type", "schema_id", "traceparent"}, record.topic
            assert headers["content-type"] == b"application/avro"
            assert int(headers["schema_id"]) == codec.schema_id_of(record.value)
            event_type, body = codec.decode(record.value)
            assert headers["event_type"].decode() == event_type
            trace = wire.trace_of(record.headers)
            if headers["traceparent"] == b"00-not-a-trace":
                continue   # the forged copy: skipped as a duplicate, without a crash
            assert trace is not None and TRACEPARENT.match(headers["traceparent"])
            if record.topic in AGENCY_TOPICS:
                trace_of_event.setdefault(body["envelope"]["event_id"], trace.trace_id)
        continued = set()
        for r in every:
            if r.topic == RESOLVED_TOPIC:
                ref = codec.decode(r.value)[1]["event_ref"]
                if wire.trace_of(r.headers).trace_id == trace_of_event[ref]:
                    continued.add(ref)
        assert continued == set(trace_of_event), "each agency event is resolved within its connector trace"
        agency_traces = [wire.trace_of(r.headers).trace_id for r in agency_records]
        assert len(set(agency_traces)) > len(agency_records) * 0.8, "a new trace per source record"
    finally:
        log.close()
        shutil.rmtree(data, ignore_errors=True)

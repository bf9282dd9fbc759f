"""Runs a connector: read -> map -> validate -> protect -> encode -> publish.

Per source record, all its events are published or none: a record that fails at any
stage goes to the dead-letter topic (connectors/sdk/deadletter.py) with the stage, the source
column and field, the rule and the reason, and the run continues. A file that cannot be read as
an export at all (no header, duplicate columns, a first record that lacks a column the connector
needs) is refused before anything of it is published, and the summary says why. Batches are
appended together; the checkpoint and the published event and dead-letter ids are committed only
after the log acknowledged the batch. At the end a summary says
read = published + dead-lettered + duplicates + filtered (mapped to no event, or older than --since);
a record seen before (same events, or the same bad content) is a duplicate.

An append the log does not acknowledge (broker down, disk full, log locked) is retried
with exponential backoff and jitter (`RetryPolicy`), each wait logged without personal
data; after the last attempt the run stops with `EventLogUnavailable`, naming the topic
and the log, and nothing of the unacknowledged batch is checkpointed.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from connectors.sdk import metrics
from connectors.sdk.column_fields import ColumnFields
from connectors.sdk.connector import Connector
from connectors.sdk.dead_lettering import DeadLetterMaker, Failure
from connectors.sdk.deadletter import DeadLetter
from connectors.sdk.errors import RecordError, SourceRefused
from connectors.sdk.fingerprint import changed_fields, columns_of, fingerprint, same
from connectors.sdk.mapping import MappedEvent
from connectors.sdk.sources import Source, SourceRecord, UnreadableRecord
from connectors.sdk.state import ConnectorState
from connectors.sdk.validation import check_event
from consent.privacy.protect import Protector
from runtime.eventlog.base import EventLog, EventLogError, Item
from runtime.topics import agency_topic, dead_letter_topic
from schemas import loader, models
from schemas.ids import event_id_for
from schemas.wire import AvroCodec, TraceContext, default_codec

log = logging.getLogger("justlink.connector")
BATCH_RECORDS = 2000


@dataclass(frozen=True)
class RetryPolicy:
    """How long a connector keeps trying to append a batch the log did not acknowledge.

    The wait before attempt n+1 is min(max_delay_s, initial_delay_s * multiplier**(n-1)), scaled by a
    random factor in [1 - jitter, 1]; it stops after `attempts` attempts or once `max_total_s` would pass.
    """

    attempts: int = 10
    initial_delay_s: float = 0.5
    multiplier: float = 2.0
    max_delay_s: float = 30.0
    max_total_s: float = 300.0
    jitter: float = 0.5

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** (attempt - 1))
        return base * (1.0 - self.jitter * rng.random())


NO_RETRY = RetryPolicy(attempts=1)


class EventLogUnavailable(EventLogError):
    """The log did not acknowledge a batch within the retry policy; the run stopped, nothing of that
    batch was checkpointed, and a re-run resumes from the last acknowledged batch."""

    def __init__(self, message: str, *, topic: str, where: str, attempts: int) -> None:
        super().__init__(message)
        self.topic, self.where, self.attempts = topic, where, attempts


@dataclass
class RunSummary:
    connector: str
    read: int = 0
    published: int = 0
    dead_lettered: int = 0
    duplicates: int = 0
    filtered: int = 0
    events: int = 0
    seconds: float = 0.0
    append_retries: int = 0            # appends the log did not acknowledge at first (outages)
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)   # source -> why nothing of it was published

    @property
    def balanced(self) -> bool:
        return self.read == self.published + self.dead_lettered + self.duplicates + self.filtered

    def line(self) -> str:
        rate = self.events / self.seconds if self.seconds else 0.0
        text = (f"{self.connector}: read {self.read} = published {self.published} + dead-lettered "
                f"{self.dead_lettered} + duplicates {self.duplicates}"
                + (f" + filtered {self.filtered}" if self.filtered else "")
                + f"; {self.events} events in {self.seconds:.1f}s ({rate:,.0f} events/s)"
                + (f"; {self.append_retries} append retries (event log unavailable)" if self.append_retries
                   else ""))
        for source, why in self.refused.items():
            text += f"\n  REFUSED {source}: {why}"
        return text

    def add(self, other: RunSummary) -> None:
        for name in ("read", "published", "dead_lettered", "duplicates", "filtered", "events", "append_retries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.seconds += other.seconds
        for reason, n in other.dead_letter_reasons.items():
            self.dead_letter_reasons[reason] = self.dead_letter_reasons.get(reason, 0) + n
        self.refused.update(other.refused)


@dataclass
class _Pending:
    record: SourceRecord
    events: list[dict[str, Any]]   # validated records, in order
    mapped: list[MappedEvent] | None = None   # what map() returned (a dead letter is sealed under its parties)


CHANGED = ("this record was published before with other content under the same record key and version: the "
           "export changed a record it had delivered already (or the connector now maps it differently); a "
           "correction needs a new record version (or its own record key). Nothing of it was published")


def describe_validation_error(exc: ValidationError) -> RecordError:
    """pydantic's first error as field + reason, without the offending value."""
    err = exc.errors()[0]
    path = ""
    for part in err["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return RecordError(path, err["msg"], rule="contract.type")


class ConnectorRunner:
    def __init__(self, connector: Connector, log_: EventLog, protector: Protector, state: ConnectorState, *,
                 codec: AvroCodec | None = None, dry_run: bool = False, since: datetime | None = None,
                 progress: bool | None = None, batch_records: int = BATCH_RECORDS,
                 retry: RetryPolicy | None = None) -> None:
        self.connector = connector
        self.log = log_
        self.protector = protector
        self.state = state
        self.codec = codec or default_codec()
        self.dry_run = dry_run
        self.since = since
        self.progress = progress
        self.batch_records = batch_records
        self.retry = retry or RetryPolicy()
        self.letters = DeadLetterMaker(connector, protector)
        self._rng = random.Random()
        self._versions: dict[str, int] = {}
        self.topic = agency_topic(connector.agency)
        self.dlq_topic = dead_letter_topic(connector.agency)
        if not dry_run:
            self.log.create_topic(self.topic)
            self.log.create_topic(self.dlq_topic)

    # -- one record --------------------------------------------------------------------------
    def _schema_version(self, event_type: str) -> int:
        version = self._versions.get(event_type)
        if version is None:
            schema = loader.get(event_type)
            registered = self.codec.registry.lookup(schema.full_name, schema.expanded)
            if registered is None:
                raise loader.SchemaError(f"{schema.path}: not registered; run `justlink schemas register`")
            version = self._versions[event_type] = registered.version
        return version

    def _envelope(self, mapped: MappedEvent, recorded_at: datetime) -> dict[str, Any]:
        agency = self.connector.agency
        return {
            "event_id": event_id_for(agency, mapped.record_key, mapped.version),
            "event_type": mapped.event_type,
            "source": {"agency": agency, "office_code": mapped.office_code, "office_name": mapped.office_name,
                       "county_code": mapped.county_code},
            "source_record_key": mapped.record_key,
            "source_record_version": mapped.version,
            "occurred_at": mapped.occurred_at,
            "recorded_at": recorded_at,
            "schema_version": self._schema_version(mapped.event_type),
            "related": mapped.related,
            "restriction": mapped.restriction,
        }

    def _validate(self, record: SourceRecord, recorded_at: datetime) -> list[dict[str, Any]]:
        """Map and validate; raises _StageError."""
        return self._prepare(record, recorded_at).events

    def _prepare(self, record: SourceRecord, recorded_at: datetime) -> _Pending:
        """Map and validate, keeping what map() returned; raises _StageError."""
        try:
            mapped = self.connector.map(record)
        except RecordError as exc:
            raise _StageError("map", exc) from None
        except Exception as exc:  # a connector bug must not stop the run: dead-letter it
            raise _StageError("map", RecordError("", f"the connector's map() raised {type(exc).__name__}",
                                                 rule="connector.error"), exception=_class_name(exc)) from exc
        if not isinstance(mapped, list | tuple) or not all(isinstance(m, MappedEvent) for m in mapped):
            raise _StageError("map", RecordError("", f"the connector's map() returned {type(mapped).__name__}, not a "
                                                     "list of MappedEvent", rule="connector.error"))
        events = []
        for m in mapped:
            try:
                raw = {**m.fields, "envelope": self._envelope(m, recorded_at)}
                valid = models.validate(m.event_type, raw)
            except ValidationError as exc:
                raise _StageError("validate", describe_validation_error(exc), mapped=mapped,
                                  exception=_class_name(exc)) from None
            except (KeyError, loader.SchemaError) as exc:
                raise _StageError("validate", RecordError("", f"unknown or unregistered event type "
                                                              f"({type(exc).__name__})", rule="contract.type"),
                                  mapped=mapped, exception=_class_name(exc)) from None
            except Exception as exc:  # e.g. a MappedEvent with fields of the wrong kind
                raise _StageError("validate", RecordError("", f"the mapped event does not fit its contract "
                                                              f"({type(exc).__name__})", rule="contract.type"),
                                  mapped=mapped, exception=_class_name(exc)) from None
            try:
                check_event(valid, self.connector.invalid_id_policy)
            except RecordError as exc:
                raise _StageError("validate", exc, mapped=mapped) from None
            events.append(valid)
        return _Pending(record, events, list(mapped))

    # -- the run ----------------------------------------------------------------------------
    def run(self, source: Source, *, resume: bool = True) -> RunSummary:
        summary = RunSummary(f"{self.connector.name}/{source.name}")
        started = time.perf_counter()
        after = self.state.checkpoint(self.connector.name, source.name) if resume else None
        bar = _progress_bar(source, self.progress)
        batch: list[_Pending] = []
        dead: list[Failure] = []
        last_checkpoint = after
        recorded_at = datetime.now(UTC)
        flushed = False
        columns = ColumnFields(self.connector)   # names the contract field of a column a mapping rejected
        try:
            for item in _guarded(lambda: source.records(after)):
                summary.read += 1
                last_checkpoint = item.checkpoint
                if isinstance(item, UnreadableRecord):
                    dead.append(Failure(item, "read", item.error))
                else:
                    try:
                        pending = self._prepare(item, recorded_at)
                    except _StageError as exc:
                        if not flushed and source.has_header and exc.error.rule == "column.missing":
                            # a column the connector needs is missing from the header: a file-level
                            # problem, refused while nothing of the file is published yet
                            raise SourceRefused(source.name, f"the header has no column {exc.error.field}, which the "
                                                "connector needs: is the header row missing, or are the columns "
                                                "named differently?", rule="file.header_missing") from None
                        dead.append(Failure(item, exc.stage, exc.error, exc.exception, exc.mapped))
                    else:
                        events = pending.events
                        if not events or (self.since and all(e["envelope"]["occurred_at"] < self.since
                                                             for e in events)):
                            summary.filtered += 1  # mapped to nothing, or older than --since
                        else:
                            batch.append(pending)
                        columns.remember(item)
                if len(batch) + len(dead) >= self.batch_records:
                    self._flush(source, batch, dead, last_checkpoint, summary, columns)
                    flushed = True
                    batch, dead = [], []
                    if bar is not None:
                        bar.update(source.progress(last_checkpoint) - bar.n)
            self._flush(source, batch, dead, last_checkpoint, summary, columns)
        except SourceRefused as exc:
            summary = RunSummary(summary.connector, refused={source.name: exc.reason})
            log.warning("source refused: %s: %s (%s)", source.name, exc.reason, exc.rule)
        except _SourceFailed as failed:
            # the source itself broke (a file that cannot be read, a custom source's bug): what was
            # acknowledged stays, the rest of the batch is not checkpointed, and a re-run resumes there
            cause = failed.__cause__
            why = f"{type(cause).__name__}: {cause.strerror}" if isinstance(cause, OSError) and cause.strerror \
                else type(cause).__name__
            if flushed:
                summary.refused[source.name] = (f"the source stopped after {last_checkpoint or 'the start'} ({why}); "
                                                "the records before it were published, run again to resume")
            else:
                summary = RunSummary(summary.connector, refused={source.name: f"the source cannot be read ({why})"})
            log.warning("source failed: %s: %s", source.name, why)
        finally:
            if bar is not None:
                bar.close()
        summary.seconds = time.perf_counter() - started
        metrics.record_run(self.connector.agency, summary)
        log.info("connector run finished", extra={"summary": summary.line()})
        return summary

    def _flush(self, source: Source, batch: list[_Pending], dead: list[Failure], checkpoint: str | None,
               summary: RunSummary, columns: ColumnFields | None = None) -> None:
        ids = [e["envelope"]["event_id"] for p in batch for e in p.events]
        seen = self.state.published_digests(ids) if ids else {}
        fresh = []
        digests: dict[str, str] = {}
        for pending in batch:
            prints = {e["envelope"]["event_id"]: fingerprint(e, self.state.content_key) for e in pending.events}
            if pending.events and all(event_id in seen for event_id in prints):
                if all(same(seen[event_id], digest) for event_id, digest in prints.items()):
                    summary.duplicates += 1
                else:   # same record key and version, other content: kept as a dead letter, never dropped
                    dead.append(Failure(pending.record, "validate", self._changed(pending, prints, seen, columns),
                                        mapped=pending.mapped))
            else:
                fresh.append(pending)
                # a record twice in one batch (a file that repeats rows) is published once
                seen.update(prints)
                digests.update(prints)
        messages, published_ids = self._protect_and_encode(fresh, dead, summary)
        letters = self._new_letters(source, dead, summary, columns)
        if not self.dry_run:
            if messages:
                self._append(self.topic, messages, summary)
            if letters:
                self._append(self.dlq_topic, [d.to_record() for d in letters], summary)
            self.state.commit(self.connector.name, source.name, checkpoint,
                              published_ids + [d.dead_letter_id for d in letters], digests)
        summary.dead_lettered += len(letters)
        for d in letters:
            key = f"{d.stage}: {d.where()}: {d.rule}: {d.reason}"[:160]
            summary.dead_letter_reasons[key] = summary.dead_letter_reasons.get(key, 0) + 1

    def _changed(self, pending: _Pending, prints: dict[str, str], seen: dict[str, str | None],
                 columns: ColumnFields | None) -> RecordError:
        """The error of a record re-delivered with other content: the fields that changed and their columns."""
        fields: list[str] = []
        for event in pending.events:
            event_id = event["envelope"]["event_id"]
            old = seen[event_id]
            if old is not None and not same(old, prints[event_id]):
                fields += [f for f in changed_fields(old, prints[event_id], event) or () if f not in fields]
        found = columns_of(fields, pending.record, pending.mapped, columns) if fields else []
        return RecordError(", ".join(fields[:6]), CHANGED, rule="record.changed", column=", ".join(found[:6]))

    def _new_letters(self, source: Source, dead: list[Failure], summary: RunSummary,
                     columns: ColumnFields | None = None) -> list[DeadLetter]:
        """Dead letters of the failures that are not already on the topic (same content, earlier run or
        earlier in this batch), sealed."""
        if not dead:
            return []
        described = []
        known = self.state.already_published([self.letters.letter_id(f.record) for f in dead])
        for failure in dead:
            letter_id = self.letters.letter_id(failure.record)
            if letter_id in known:
                summary.duplicates += 1
                continue
            known.add(letter_id)
            described.append((self.letters.describe(source, failure, letter_id, columns), failure))
        return self.letters.seal(described)

    def _append(self, topic: str, messages: Sequence[Item], summary: RunSummary) -> None:
        """Append with retries (see RetryPolicy). Before each retry the topic is created again when
        missing (a restarted broker without persistent storage has forgotten it)."""
        policy = self.retry
        started = time.monotonic()
        attempt = 1
        while True:
            try:
                if attempt > 1:
                    self.log.create_topic(topic)
                self.log.append_many(topic, messages)
                if attempt > 1:
                    log.warning("event log available again: %d records appended to topic %s after %d attempts",
                                len(messages), topic, attempt)
                return
            except EventLogError as exc:
                wait = policy.delay(attempt, self._rng)
                spent = time.monotonic() - started
                if attempt >= policy.attempts or spent + wait > policy.max_total_s:
                    where = self.log.describe()
                    raise EventLogUnavailable(
                        f"gave up appending {len(messages)} records to topic {topic!r} on {where} after "
                        f"{attempt} attempts over {spent:.1f} s ({type(exc).__name__}: {_first_line(exc)}); "
                        "nothing of this batch was checkpointed: run the connector again once the event "
                        "log is back", topic=topic, where=where, attempts=attempt) from exc
                summary.append_retries += 1
                metrics.record_retry(self.connector.agency)
                log.warning("event log unavailable, retrying in %.1fs (attempt %d of %d): topic %s, %s",
                            wait, attempt, policy.attempts, topic, type(exc).__name__)
                time.sleep(wait)
                attempt += 1

    def _protect_and_encode(self, fresh: list[_Pending], dead: list[Failure],
                            summary: RunSummary) -> tuple[list[Item], list[str]]:
        by_type: dict[str, list[tuple[dict[str, Any], str]]] = defaultdict(list)
        for pending in fresh:
            for e in pending.events:
                by_type[e["envelope"]["event_type"]].append((e, e["envelope"]["event_id"]))
        protected: dict[str, dict[str, Any] | None] = {}
        for event_type, items in by_type.items():
            schema = loader.get(event_type).expanded
            results: Sequence[dict[str, Any] | None]
            try:
                results = self.protector.protect_many(items, schema, self.connector.agency)
            except Exception:  # isolate the record that fails
                isolated: list[dict[str, Any] | None] = []
                for record, event_id in items:
                    try:
                        isolated.append(self.protector.protect(record, schema, event_id, self.connector.agency))
                    except Exception as exc:
                        log.warning("protection failed", extra={"event_id": event_id, "error": type(exc).__name__})
                        isolated.append(None)
                results = isolated
            for (_, event_id), result in zip(items, results, strict=True):
                protected[event_id] = result
        messages: list[Item] = []
        published_ids: list[str] = []
        for pending in fresh:
            try:
                encoded = []
                # one trace per source record; each of its events is a span of it (see schemas/wire.py)
                trace = TraceContext.new(pending.events[0]["envelope"]["event_id"] if pending.events else None)
                for e in pending.events:
                    p = protected[e["envelope"]["event_id"]]
                    if p is None:
                        raise _StageError("protect", RecordError("", "the privacy layer could not protect it",
                                                                 rule="protect.failed"))
                    event_id = e["envelope"]["event_id"]
                    try:
                        value, headers = self.codec.message(e["envelope"]["event_type"], p, trace.child(event_id))
                    except Exception as exc:
                        raise _StageError("encode", RecordError("", f"Avro encoding failed: {type(exc).__name__}",
                                                                rule="encode.failed"),
                                          exception=_class_name(exc)) from None
                    encoded.append((_partition_key(p), value, headers, event_id))
            except _StageError as exc:
                dead.append(Failure(pending.record, exc.stage, exc.error, exc.exception))
                continue
            summary.published += 1
            summary.events += len(encoded)
            for key, value, headers, event_id in encoded:
                messages.append((key, value, headers))
                published_ids.append(event_id)
        return messages, published_ids


class _StageError(Exception):
    def __init__(self, stage: str, error: RecordError, *, mapped: list[MappedEvent] | None = None,
                 exception: str = "connectors.sdk.errors.RecordError") -> None:
        super().__init__(f"{stage}: {error}")
        self.stage = stage
        self.error = error
        self.mapped = mapped
        self.exception = exception


class _SourceFailed(Exception):
    """A source's records() raised (its cause is the original exception)."""


def _guarded(records: Callable[[], Iterable[SourceRecord | UnreadableRecord]]
             ) -> Iterator[SourceRecord | UnreadableRecord]:
    """The records of a source; an exception of the source (not a refusal), or something that is not a
    record, becomes _SourceFailed."""
    try:
        iterator = iter(records())
    except SourceRefused:
        raise
    except Exception as exc:
        raise _SourceFailed() from exc
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except SourceRefused:
            raise
        except Exception as exc:
            raise _SourceFailed() from exc
        if not isinstance(item, SourceRecord | UnreadableRecord):
            raise _SourceFailed() from TypeError(f"the source yielded a {type(item).__name__}, not a SourceRecord")
        yield item


def _class_name(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _first_line(exc: BaseException) -> str:
    """An event-log error's own message (it names topic, partition and broker; never record values)."""
    return str(exc).splitlines()[0][:300] if str(exc) else ""


def _partition_key(record: dict[str, Any]) -> bytes:
    """Records about the same subject land in the same partition: key by the first
    party's subject key (the event id when there are no parties)."""
    for party in record.get("parties", ()):
        protection = party.get("protection")
        if protection:
            subject_key: str = protection["subject_key"]
            return subject_key.encode()
    event_id: str = record["envelope"]["event_id"]
    return event_id.encode()


def _progress_bar(source: Source, enabled: bool | None) -> Any:  # a tqdm bar (tqdm has no type hints)
    total = source.size_hint()
    if enabled is False or total is None:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=source.name, file=sys.stderr,
                disable=None if enabled is None else not enabled, leave=False)


def run_connector(connector: Connector, sources: Iterable[Source], log_: EventLog, protector: Protector,
                  state: ConnectorState, **options: Any) -> RunSummary:
    total = RunSummary(connector.name)
    runner = ConnectorRunner(connector, log_, protector, state, **options)
    for source in sources:
        total.add(runner.run(source))
    return total

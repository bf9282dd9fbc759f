"""Replaying dead letters once the cause is fixed (`justlink connector replay-dead-letters`).

A dead letter keeps its original sealed, and names the connector class that rejected it. Replay
unseals each original, reads it again the way its source did (`record_from_original`), and runs it
through the connector — the one named in the dead letter, or the one given — with the same
validation, protection, de-duplication and publishing as a normal run. What now maps is published;
what still fails stays where it is (it is not dead-lettered a second time) and is counted with its
reason; an original whose data subject was erased cannot be read any more and is counted as erased.
Replaying twice publishes nothing new: the events of the first replay are duplicates the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.sdk.column_fields import ColumnFields
from connectors.sdk.connector import Connector
from connectors.sdk.dead_lettering import Failure
from connectors.sdk.deadletter import DeadLetter, read_dead_letters
from connectors.sdk.runtime import ConnectorRunner, RunSummary, _Pending, _StageError
from connectors.sdk.sources import Source, SourceRecord, UnreadableRecord, record_from_original
from connectors.sdk.state import ConnectorState
from consent.privacy.protect import Protector
from consent.privacy.sealing import SealError, unseal
from runtime.eventlog.base import EventLog
from runtime.topics import dead_letter_topic


@dataclass
class ReplaySummary:
    agency: str
    letters: int = 0
    published: int = 0
    duplicates: int = 0          # its events were already published (replayed before)
    still_failing: int = 0
    erased: int = 0              # a data subject of the original was erased: unreadable
    unreadable: int = 0          # the sealed original does not authenticate (damaged or tampered)
    events: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (f"{self.agency}: {self.letters} dead letters = published {self.published} + already published "
                f"{self.duplicates} + still failing {self.still_failing} + erased {self.erased}"
                + (f" + unreadable {self.unreadable}" if self.unreadable else "") + f"; {self.events} events")


class _Replayed(Source):
    name = "replay"

    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]:
        return iter(())


def replay_dead_letters(log: EventLog, protector: Protector, state: ConnectorState, agency: str, *,
                        resolve: Callable[[str], Connector], connector: Connector | None = None,
                        dry_run: bool = False) -> ReplaySummary:
    """Replay every dead letter of `agency` (see the module doc). `resolve` turns the connector class a
    dead letter names into a connector; `connector`, when given, replays every letter through it."""
    summary = ReplaySummary(agency)
    runners: dict[str, ConnectorRunner] = {}
    pending: dict[str, list[_Pending]] = {}
    fields_of: dict[str, ColumnFields] = {}   # the columns' contract fields, measured on the letters that map
    recorded_at = datetime.now(UTC)
    group = f"justlink-replay-{agency}-{datetime.now(UTC).timestamp()}"
    for letter in read_dead_letters(log, [dead_letter_topic(agency)], group=group):
        summary.letters += 1
        try:
            raw = unseal(protector, letter.sealed, letter.dead_letter_id.encode())
        except SealError:
            summary.unreadable += 1
            continue
        if raw is None:
            summary.erased += 1
            continue
        key = "given" if connector is not None else letter.connector_class
        runner = runners.get(key)
        if runner is None:
            chosen = connector if connector is not None else resolve(letter.connector_class)
            runner = runners[key] = ConnectorRunner(chosen, log, protector, state, dry_run=dry_run, progress=False)
        record = record_from_original(letter.original_meta, raw, letter.position)
        if isinstance(record, UnreadableRecord):
            _still_failing(summary, letter, "read", record.error.rule)
            continue
        try:
            validated = runner._prepare(record, recorded_at)
        except _StageError as exc:
            _still_failing(summary, letter, exc.stage, exc.error.rule)
            continue
        pending.setdefault(key, []).append(validated)
        fields_of.setdefault(key, ColumnFields(runner.connector)).remember(record)
    for key, batch in pending.items():
        runner = runners[key]
        run = RunSummary(f"replay {agency}")
        failed: list[Failure] = []
        for start in range(0, len(batch), runner.batch_records):
            dead: list[Failure] = []
            runner._flush(_Replayed(), batch[start:start + runner.batch_records], dead, None, run, fields_of.get(key))
            failed += dead
        summary.published += run.published
        summary.events += run.events
        summary.still_failing += len(failed)
        # a failure at protect/encode is dead-lettered again only when its content is new
        summary.duplicates += run.duplicates - (len(failed) - run.dead_lettered)
        for failure in failed:
            key_ = f"{failure.stage}: {failure.error.column or failure.error.field or '-'}: {failure.error.rule}"
            summary.reasons[key_] = summary.reasons.get(key_, 0) + 1
    return summary


def _still_failing(summary: ReplaySummary, letter: DeadLetter, stage: str, rule: str) -> None:
    summary.still_failing += 1
    key = f"{stage}: {letter.column or letter.field or '-'}: {rule}"
    summary.reasons[key] = summary.reasons.get(key, 0) + 1

"""The Kafka-protocol broker goes away while a connector publishes: the connector retries with
backoff, reports the outage (log lines without personal data, a retry count in its summary), and
after the broker is back every record is on the topic exactly once (by event id).

The test broker (Tansu) keeps its data in memory, so a restart forgets topics and records. The
tests are built around that:
- outage before anything was acknowledged: the broker stops after the connector created its topics
  and before its first append; it restarts while the connector is retrying. All N records must then
  be on the new broker exactly once — nothing lost, nothing doubled by the retries.
- outage mid-run: the connector is held (by its source) right after batch k was acknowledged and
  checkpointed; the test reads the k batches from the broker, stops it, lets the connector go on,
  and restarts the broker while it retries. The records read before the stop and those on the
  restarted broker are disjoint, each appears once, and together they are all N: the connector
  re-sent nothing it had checkpointed and dropped nothing it had not.
- an outage longer than the retry policy: the run stops with a clear error naming the topic and the
  broker, the checkpoint stays where the last acknowledged batch left it, and a re-run after the
  broker is back publishes the rest exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sdk import ConnectorRunner, ConnectorState, CsvSource, EventLogUnavailable, RetryPolicy
from connectors.sdk.sources import Source, SourceRecord, UnreadableRecord
from consent.privacy.keys import init_keystore, open_keystore
from consent.privacy.protect import Protector
from runtime.eventlog.kafka import KafkaEventLog
from schemas.wire import default_codec
from tests.support.kafka_broker import TansuBroker
from tests.support.tiny_connector import GOOD_ID, HEADER, TinyPoliceConnector, good_row

pytestmark = pytest.mark.kafka

RECORDS = 300
BATCH = 50
TOPIC = "justlink.police.events"
FAST_RETRY = RetryPolicy(attempts=40, initial_delay_s=0.2, multiplier=2.0, max_delay_s=1.0, max_total_s=40.0)


class GatedSource(Source):
    """A CSV source that stops before record `hold_at` (1-based) until `release` is set, and says so
    in `reached`: the test then knows every earlier batch was acknowledged and checkpointed."""

    def __init__(self, inner: CsvSource, hold_at: int) -> None:
        self.inner, self.name, self.hold_at = inner, inner.name, hold_at
        self.reached, self.release = threading.Event(), threading.Event()

    def records(self, after: str | None = None) -> Iterator[SourceRecord | UnreadableRecord]:
        for n, record in enumerate(self.inner.records(after), start=1):
            if n == self.hold_at:
                self.reached.set()
                assert self.release.wait(60), "the test never released the source"
            yield record


@pytest.fixture
def broker() -> Iterator[TansuBroker]:
    broker = TansuBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def parts(tmp_path: Path):
    init_keystore(tmp_path)
    keystore = open_keystore(tmp_path)
    state = ConnectorState(tmp_path / "connectors.db")
    csv = tmp_path / "incidents.csv"
    csv.write_text(HEADER + "".join(good_row(i, "欧阳娜娜") for i in range(RECORDS)), encoding="utf-8")
    yield Protector(keystore), state, csv
    state.close()
    keystore.close()


def kafka_log(broker: TansuBroker, timeout_s: float = 1.5) -> KafkaEventLog:
    """A short timeout: each failed attempt during an outage costs about that long."""
    return KafkaEventLog(broker.bootstrap, client_id="faults", timeout_s=timeout_s)


def event_ids(broker: TansuBroker, expect: int, timeout_s: float = 20.0) -> Counter[str]:
    """Event ids on the agency topic of the broker as it is now (read until `expect` or quiet)."""
    codec = default_codec()
    log = kafka_log(broker, timeout_s=5.0)
    found: Counter[str] = Counter()
    try:
        consumer = log.consumer(f"check-{time.time_ns()}", [TOPIC])
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline and quiet < 3:
            batch = consumer.poll(5000, timeout_s=0.5)
            quiet = 0 if batch else quiet + (1 if sum(found.values()) >= expect else 0)
            for record in batch:
                found[codec.decode(record.value)[1]["envelope"]["event_id"]] += 1
        consumer.close()
    finally:
        log.close()
    return found


def run_in_thread(runner: ConnectorRunner, source: Source) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def body() -> None:
        try:
            outcome["summary"] = runner.run(source)
        except BaseException as exc:  # handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=body, name="connector", daemon=True)
    thread.start()
    return thread, outcome


def assert_outage_reported_without_personal_data(caplog: pytest.LogCaptureFixture) -> None:
    lines = [r.getMessage() for r in caplog.records if r.name == "justlink.connector"]
    assert any(line.startswith("event log unavailable, retrying in ") and "(attempt 1 of 40)" in line
               for line in lines), lines[:5]
    assert any("event log available again" in line for line in lines)
    text = "\n".join(lines + [str(r.__dict__) for r in caplog.records])
    for secret in ("欧阳娜娜", GOOD_ID, "13800138000"):
        assert secret not in text


def test_outage_before_the_first_acknowledgement(broker: TansuBroker, parts, caplog) -> None:
    caplog.set_level(logging.INFO, logger="justlink.connector")
    protector, state, csv = parts
    log = kafka_log(broker)
    try:
        runner = ConnectorRunner(TinyPoliceConnector(), log, protector, state, progress=False,
                                 batch_records=BATCH, retry=FAST_RETRY)   # creates its topics
        broker.stop()
        thread, outcome = run_in_thread(runner, CsvSource(csv))
        time.sleep(2.5)                      # the connector fails, backs off, fails again …
        assert thread.is_alive() and state.checkpoint(runner.connector.name, csv.name) is None
        broker.start()
        thread.join(60)
        assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
        summary = outcome["summary"]
        assert (summary.read, summary.published) == (RECORDS, RECORDS) and summary.append_retries >= 1
        assert "append retries (event log unavailable)" in summary.line()
    finally:
        log.close()
    ids = event_ids(broker, RECORDS)
    assert len(ids) == RECORDS and set(ids.values()) == {1}, "every record exactly once"
    assert state.checkpoint(TinyPoliceConnector().name, csv.name) is not None
    assert_outage_reported_without_personal_data(caplog)


def test_outage_mid_run_loses_and_doubles_nothing(broker: TansuBroker, parts, caplog) -> None:
    caplog.set_level(logging.INFO, logger="justlink.connector")
    protector, state, csv = parts
    held_batches = 3
    source = GatedSource(CsvSource(csv), hold_at=held_batches * BATCH + 1)
    log = kafka_log(broker)
    try:
        runner = ConnectorRunner(TinyPoliceConnector(), log, protector, state, progress=False,
                                 batch_records=BATCH, retry=FAST_RETRY)
        thread, outcome = run_in_thread(runner, source)
        assert source.reached.wait(60), outcome.get("error")
        before = event_ids(broker, held_batches * BATCH)      # acknowledged before the outage
        assert len(before) == held_batches * BATCH and set(before.values()) == {1}
        broker.stop()
        source.release.set()
        time.sleep(2.0)
        assert thread.is_alive(), outcome.get("error")
        broker.start()
        thread.join(60)
        assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
        assert outcome["summary"].append_retries >= 1
    finally:
        log.close()
    after = event_ids(broker, RECORDS - held_batches * BATCH)
    assert set(after.values()) == {1}, "an event published twice after the restart"
    assert not before.keys() & after.keys(), "the connector re-sent events it had checkpointed"
    assert len(before) + len(after) == RECORDS, "events lost across the outage"
    assert_outage_reported_without_personal_data(caplog)


def test_an_outage_longer_than_the_policy_stops_with_a_clear_error(broker: TansuBroker, parts) -> None:
    protector, state, csv = parts
    source = GatedSource(CsvSource(csv), hold_at=BATCH + 1)
    short = RetryPolicy(attempts=3, initial_delay_s=0.1, max_delay_s=0.2, max_total_s=10.0)
    log = kafka_log(broker)
    try:
        runner = ConnectorRunner(TinyPoliceConnector(), log, protector, state, progress=False,
                                 batch_records=BATCH, retry=short)
        thread, outcome = run_in_thread(runner, source)
        assert source.reached.wait(60), outcome.get("error")
        checkpoint = state.checkpoint(runner.connector.name, csv.name)
        assert checkpoint is not None
        broker.stop()
        started = time.monotonic()
        source.release.set()
        thread.join(60)
        assert time.monotonic() - started < 30, "the policy bounds the time spent retrying"
        error = outcome.get("error")
        assert isinstance(error, EventLogUnavailable), error
        message = str(error)
        assert f"topic '{TOPIC}'" in message and broker.bootstrap in message and "after 3 attempts" in message
        assert "欧阳娜娜" not in message and GOOD_ID not in message
        assert state.checkpoint(runner.connector.name, csv.name) == checkpoint, "checkpoint only after success"
    finally:
        log.close()
    broker.start()                        # empty: the first batch is gone with the old broker's memory
    log = kafka_log(broker)
    try:
        rerun = ConnectorRunner(TinyPoliceConnector(), log, protector, state, progress=False,
                                batch_records=BATCH, retry=FAST_RETRY).run(CsvSource(csv))
    finally:
        log.close()
    assert (rerun.read, rerun.published, rerun.append_retries) == (RECORDS - BATCH, RECORDS - BATCH, 0)
    ids = event_ids(broker, RECORDS - BATCH)
    assert len(ids) == RECORDS - BATCH and set(ids.values()) == {1}

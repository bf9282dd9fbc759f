"""Processor dead letters name the field and the rule, never a value: an exception's text may quote
the input (a name, an ID number), and the dead-letter topic is read by operators and tools."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from schemas.wire import default_codec
from streams.envelope import hub_envelope
from streams.processor import DictState
from streams.runners.core import Handled, RunnerCore, dead_letter

NAME, ID_NUMBER = "许一勇", "411730199003071234"


class Refusing:
    """A pipeline whose processors choke on a value and say which, as library code often does."""

    dead_letter_topic = "justlink.processors.deadletter"

    def handle(self, event, state):
        raise ValueError(f"unknown value '{NAME}' for id_number {ID_NUMBER}")

    def tick(self, now_ms, state):
        return []

    def deduplicates(self, topic):
        return True


def test_reasons_never_carry_the_value() -> None:
    for exc in (ValueError(f"unknown value '{NAME}'"), TypeError(ID_NUMBER), KeyError(NAME), RuntimeError(NAME * 50)):
        letter = dead_letter("justlink.court.events", 2, 17, exc).decode()
        assert NAME not in letter and ID_NUMBER not in letter, letter
        body = json.loads(letter)
        assert (body["topic"], body["partition"], body["offset"], body["error"]) == \
            ("justlink.court.events", 2, 17, type(exc).__name__)
        assert body["reason"]
    named = json.loads(dead_letter("t", 0, 0, KeyError("parties")))
    assert (named["field"], named["reason"]) == ("parties", "required: the field is missing")


def test_a_record_a_processor_refuses_is_dead_lettered_without_values() -> None:
    now = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    record = {"envelope": hub_envelope("ConsentWithdrawn", "withdraw\x1fc-1", now), "consent_id": "c-1",
              "subject": "P-0001"}
    handled = Handled()
    core = RunnerCore(Refusing())
    core.handle("justlink.consent", 0, 5, default_codec().encode("ConsentWithdrawn", record), DictState(), handled)
    core.handle("justlink.consent", 0, 6, b"\x00\x00\x00\x00\x07" + NAME.encode(), DictState(), handled)
    assert [row[0] for row in handled.rows] == [Refusing.dead_letter_topic] * 2
    for _, _, value, _ in handled.rows:
        assert NAME.encode() not in value and ID_NUMBER.encode() not in value
    reasons = [json.loads(v)["reason"] for _, _, v, _ in handled.rows]
    assert reasons[0] == "processing: ValueError while handling the record"

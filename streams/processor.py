"""What a stream processor is: a plain class, `handle(event, state) -> outputs`.

No Kafka, faust or file imports here or in any processor: the runners
(streams/runners/embedded.py over the embedded log, streams/runners/faust_app.py over
Kafka) decode input records, call `handle`, publish the outputs and keep the state.

State is a set of named key/value tables (`state.table("parents")`). The embedded
runner backs them with dicts and snapshots them together with the input offsets; the
faust runner backs them with faust Tables (changelog topics). Keep values small and plain
data (None, bool, int, float, str, bytes, list, dict, tuple, set, frozenset, datetime,
date: what runtime/statecodec.py carries — never pickle), and make `handle` idempotent — both runners are at-least-once: after a
crash an event may be handled again, and must then change nothing and emit outputs
with the same event ids as the first time (consumers de-duplicate by event id).
Outputs must be a deterministic function of the input order, so a replay yields the
same persons and threads.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Event:
    """A decoded input event."""

    event_type: str
    record: dict[str, Any]   # as decoded from Avro: envelope, type fields, parties
    topic: str = ""
    partition: int = 0
    offset: int = 0
    raw: bytes = b""          # the wire-format bytes as read, when the runner has them

    @property
    def event_id(self) -> str:
        return self.record["envelope"]["event_id"]


@dataclass(frozen=True, slots=True)
class Output:
    """An event a processor emits: its type, the Avro record, the topic and the key — or, for a record
    passed on unchanged (a router forwarding an agency event), its wire bytes in `raw`."""

    event_type: str
    record: dict[str, Any]
    topic: str
    key: str
    raw: bytes = b""


class State(Protocol):
    def table(self, name: str) -> MutableMapping[str, Any]: ...


class DictState:
    """State on plain dicts (embedded runner, tests, the batch resolver)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Any]] = {}

    def table(self, name: str) -> dict[str, Any]:
        table = self.tables.get(name)
        if table is None:
            table = self.tables[name] = {}
        return table


class ScopedState:
    """The tables of one scope (a county's stories) inside a larger state: `table(name)` is the
    enclosing state's table "<scope>/<name>". Lets one process hold what a partitioned deployment
    spreads over partitions, with the same code."""

    __slots__ = ("state", "prefix")

    def __init__(self, state: State, scope: str) -> None:
        self.state = state
        self.prefix = scope + "/"

    def table(self, name: str) -> MutableMapping[str, Any]:
        return self.state.table(self.prefix + name)


class Processor(Protocol):
    name: str
    input_topics: tuple[str, ...]

    def handle(self, event: Event, state: State) -> list[Output]: ...


# Topic names live in runtime.topics (the bottom layer, shared with connectors and the API).
from runtime.topics import (  # noqa: E402,F401
    AGENCIES,
    AGENCY_TOPICS,
    ALERTS_TOPIC,
    AUDIT_TOPIC,
    CONSENT_TOPIC,
    DISPUTES_TOPIC,
    IDENTITY_TOPIC,
    agency_topic,
    dead_letter_topic,
)

"""The alert processor's state tables (small, picklable values; a value is re-assigned whenever it
changes, so changelog-backed tables see every change).

- history   person -> [[at, event_id, party_index, mask, dispute_id, keys, restriction], ...] oldest first:
            the person's events that match any rule filter, trimmed to `history_days`
- spans     person -> [[rule, start_at, end_at | None, start_event_id, party_index, key], ...]
- deadlines deadline id -> {rule, subject, person, dispute, event, opened, due, keys, fired, restriction}
- index     "d:<dispute>" | "p:<person>" | "k:<field>=<value>" -> [deadline id, ...]
- due       deadline rule -> heap of [due + grace, deadline id]: deadlines waiting for the feeds to pass them
- clock     agency -> latest occurred_at seen from it (epoch ms); "tick" -> wall-clock time of the last tick
- alerts    alert id -> {rule, slot, key, status, acks, deadline, record}
- active    "<rule>|<subject>" -> alert id of the open alert (one per rule and subject)
- by_event  input event id -> alerts it caused (a deadline's alert: under its opening event), so handling it
            again repeats them and a story replay finds them
- aliases   "p:<retired>" / "d:<retired>" -> survivor (person merges, thread merges)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from streams.processor import State

AT, EID, IDX, MASK, DISPUTE, KEYS, RESTRICTION = range(7)
TICK = "tick"   # the clock table's entry for the wall clock (agencies are the other entries)
Entry = list[Any]


class Store:
    __slots__ = ("history", "spans", "deadlines", "index", "due", "clock", "alerts", "active", "by_event",
                 "aliases")

    def __init__(self, state: State) -> None:
        self.history: MutableMapping[str, list[Entry]] = state.table("alerts_history")
        self.spans: MutableMapping[str, list[list[Any]]] = state.table("alerts_spans")
        self.deadlines: MutableMapping[str, dict[str, Any]] = state.table("alerts_deadlines")
        self.index: MutableMapping[str, list[str]] = state.table("alerts_index")
        self.due: MutableMapping[str, list[list[Any]]] = state.table("alerts_due")
        self.clock: MutableMapping[str, int] = state.table("alerts_clock")
        self.alerts: MutableMapping[str, dict[str, Any]] = state.table("alerts_alerts")
        self.active: MutableMapping[str, str] = state.table("alerts_active")
        self.by_event: MutableMapping[str, list[str]] = state.table("alerts_by_event")
        self.aliases: MutableMapping[str, str] = state.table("alerts_aliases")

    def find(self, kind: str, ident: str) -> str:
        """The live id of a person ("p") or thread ("d") after merges."""
        seen = 0
        while (nxt := self.aliases.get(f"{kind}:{ident}")) is not None and seen < 64:
            ident, seen = nxt, seen + 1
        return ident

    def add_index(self, key: str, deadline_id: str) -> None:
        ids = self.index.get(key, [])
        if deadline_id not in ids:
            self.index[key] = [*ids, deadline_id]

    def drop_deadline(self, deadline_id: str) -> None:
        """Forget a deadline and its index entries (heap entries are skipped when popped)."""
        dl = self.deadlines.pop(deadline_id, None)
        if dl is None:
            return
        for key in dl["keys"]:
            ids = [d for d in self.index.get(key, ()) if d != deadline_id]
            if ids:
                self.index[key] = ids
            else:
                self.index.pop(key, None)

    def move_index(self, old_key: str, new_key: str) -> None:
        ids = self.index.pop(old_key, None)
        if not ids:
            return
        for deadline_id in ids:
            self.add_index(new_key, deadline_id)
            dl = self.deadlines.get(deadline_id)
            if dl is not None:
                self.deadlines[deadline_id] = {**dl, "keys": [new_key if k == old_key else k for k in dl["keys"]]}

    def remember(self, event_id: str, alert_id: str) -> None:
        ids = self.by_event.get(event_id, [])
        if alert_id not in ids:
            self.by_event[event_id] = [*ids, alert_id]

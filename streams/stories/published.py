"""What consumers of the disputes and alerts topics hold, so that a replay publishes only the difference.

Consumers (views, the API's directory feed, the parity tests) put an event on the thread of its latest
DisputeThreaded and follow thread merges as flattened redirects (streams/views/redirects.py: every
retired id points at the live one); a correction (`previous_dispute_id` set) makes its thread live again.
They keep an alert's last state by alert id, de-duplicating records by event id. This module mirrors
that, in the state:

- ``stories.placed``    event id -> the thread consumers hold it on, where that differs from the placement
                        the dispute state records (after a replay)
- ``stories.redirect``  retired thread -> live thread, flattened as consumers flatten it
- ``stories.retired``   live thread -> [threads redirected to it]
- ``stories.alerts``    alert id -> [publication, "open" | "closed" | "user"] ("user": closed by a person,
                        never reopened by a replay); publication 0 is the first AlertRaised
- ``stories.gen``       "e:<event>" | "d:<thread>" -> corrections published so far (their ids differ)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from streams.processor import State

PLACED = "stories.placed"
REDIRECT = "stories.redirect"
RETIRED = "stories.retired"
ALERTS = "stories.alerts"
GEN = "stories.gen"

OPEN, CLOSED, USER = "open", "closed", "user"


class Redirects:
    """Merges of ids kept in two state tables, flattened as consumers flatten them
    (streams.views.redirects.MergeMap): every retired id points at the live one."""

    __slots__ = ("redirect", "retired")

    def __init__(self, redirect: MutableMapping[str, str], retired: MutableMapping[str, list[str]]) -> None:
        self.redirect = redirect
        self.retired = retired

    def live(self, any_id: str) -> str:
        return self.redirect.get(any_id, any_id)

    def merge(self, retired: str, surviving: str) -> None:
        """`retired` and every id merged into it point at the live id of `surviving`."""
        live = self.live(surviving)
        if retired == live:
            return
        previous = self.redirect.get(retired)
        if previous is not None:
            self._unlist(previous, retired)
        moved = {retired, *self.retired.pop(retired, ())}
        moved.discard(live)
        for old in moved:
            self.redirect[old] = live
        self.retired[live] = sorted({*self.retired.get(live, ()), *moved})

    def lift(self, any_id: str) -> None:
        """`any_id` is live again."""
        live = self.redirect.pop(any_id, None)
        if live is not None:
            self._unlist(live, any_id)

    def _unlist(self, live: str, any_id: str) -> None:
        rest = [t for t in self.retired.get(live, ()) if t != any_id]
        if rest:
            self.retired[live] = rest
        else:
            self.retired.pop(live, None)


class Published(Redirects):
    """Redirects of threads, plus the placements and alert publications consumers hold."""

    __slots__ = ("placed", "alerts", "gen")

    def __init__(self, state: State) -> None:
        super().__init__(state.table(REDIRECT), state.table(RETIRED))
        self.placed: MutableMapping[str, str] = state.table(PLACED)
        self.alerts: MutableMapping[str, list[Any]] = state.table(ALERTS)
        self.gen: MutableMapping[str, int] = state.table(GEN)

    def next_gen(self, key: str) -> int:
        n = self.gen.get(key, 0) + 1
        self.gen[key] = n
        return n

    # -- alerts -------------------------------------------------------------------------------------
    def alert(self, alert_id: str) -> tuple[int, str | None]:
        """(publication, status) of an alert as consumers hold it; (-1, None) when never published."""
        found = self.alerts.get(alert_id)
        return (found[0], found[1]) if found is not None else (-1, None)

    def set_alert(self, alert_id: str, gen: int, status: str) -> None:
        self.alerts[alert_id] = [gen, status]

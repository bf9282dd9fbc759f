"""Merges of ids, flattened: every retired id points straight at the live one, and every live id
knows the ids merged into it. Persons (PersonsMerged) and dispute threads (DisputeThreaded with
`merged_into`) are merged this way, by the projector (which writes the redirect tables) and by the
API's directory feed (which answers history reads without redirect queries) — one map for both."""

from __future__ import annotations

from collections.abc import Iterable


class MergeMap:
    def __init__(self) -> None:
        self.redirect: dict[str, str] = {}      # retired id -> live id
        self.aliases: dict[str, set[str]] = {}  # live id -> retired ids

    def load(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Pairs (retired, live) as stored, already flattened; (id, id) marks an id made live again."""
        for retired, live in pairs:
            if retired == live:
                continue
            self.redirect[retired] = live
            self.aliases.setdefault(live, set()).add(retired)

    def live(self, any_id: str) -> str:
        return self.redirect.get(any_id, any_id)

    def retired(self, live_id: str) -> set[str]:
        return self.aliases.get(live_id, set())

    def merge(self, retired: str, surviving: str) -> list[str]:
        """Record that `retired` was merged into `surviving`; returns the ids whose redirect changed
        (`retired` and every id merged into it before), sorted. Merging an id into itself, or into
        an id that was merged into it, changes nothing."""
        live = self.live(surviving)
        if retired == live:
            return []
        previous = self.redirect.get(retired)
        if previous is not None:   # re-pointed (a correction): no longer an alias of its former live id
            self.aliases.get(previous, set()).discard(retired)
        moved = {retired} | self.aliases.pop(retired, set())
        moved.discard(live)
        for old in moved:
            self.redirect[old] = live
        self.aliases.setdefault(live, set()).update(moved)
        return sorted(moved)

    def lift(self, any_id: str) -> bool:
        """`any_id` is live again (a thread a correction put an event on): its redirect is dropped.
        Returns whether it had one."""
        live = self.redirect.pop(any_id, None)
        if live is None:
            return False
        self.aliases.get(live, set()).discard(any_id)
        return True

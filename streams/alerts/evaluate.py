"""Pure evaluation of count and co-occurrence rules over one person's history (no state writes).

A count rule holds when some time T exists at which every clause has at least `min` distinct matching
events in its window (T - within, T]. Each clause holds on a union of half-open intervals that start at
event times, so if the clauses hold together at all they do at some event time: only those are tried,
newest first, which makes the result independent of the order the events arrived in.
"""

from __future__ import annotations

from typing import Any

from streams.alerts.rules import DAY_MS, HOUR_MS, Rule
from streams.alerts.store import AT, EID, MASK, Entry


def count_holds(rule: Rule, entries: list[Entry]) -> tuple[int, list[str], list[int]] | None:
    """(T, sorted evidence event ids, hits per clause) for the newest T at which the rule holds."""
    mask = 0
    for clause in rule.clauses:
        mask |= clause.mask
    relevant = [e for e in entries if e[MASK] & mask]
    if not relevant:
        return None
    for t in sorted({e[AT] for e in relevant}, reverse=True):
        evidence: set[str] = set()
        hits: list[int] = []
        for clause in rule.clauses:
            lo = t - clause.within_ms
            found = {e[EID] for e in relevant if e[MASK] & clause.mask and lo < e[AT] <= t}
            if len(found) < clause.min:
                break
            evidence |= found
            hits.append(len(found))
        else:
            return t, sorted(evidence), hits
    return None


def co_occurrence_holds(rule: Rule, spans: list[list[Any]], entries: list[Entry]) -> tuple[int, list[str]] | None:
    """(time, [state-opening event id, event id]) of the newest matching event inside an open state."""
    own = [s for s in spans if s[0] == rule.name]
    if not own:
        return None
    for entry in sorted((e for e in entries if e[MASK] & rule.event_mask), key=lambda e: (e[AT], e[EID]),
                        reverse=True):
        for span in own:
            start, end = span[1], span[2]
            if start < entry[AT] and (end is None or entry[AT] <= end) and entry[EID] != span[3]:
                return entry[AT], sorted((span[3], entry[EID]))
    return None


def count_message(rule: Rule, hits: list[int]) -> str:
    parts = [f"{n} matching event{'s' if n != 1 else ''} within {_span(c.within_ms)} (needs {c.min})"
             for n, c in zip(hits, rule.clauses, strict=True)]
    return f"{rule.message}: " + "; ".join(parts)


def deadline_message(rule: Rule) -> str:
    return f"{rule.message}: no follow-up within {_span(rule.within_ms)}"


def _span(ms: int) -> str:
    if ms % DAY_MS == 0:
        return f"{ms // DAY_MS} days"
    return f"{ms / HOUR_MS:g} hours"

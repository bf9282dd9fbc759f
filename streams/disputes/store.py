"""The dispute processor's state, as named key/value tables of small picklable values.

Values are plain dicts and lists, always written back whole (faust tables persist on assignment).

  dispute_threads   dispute id -> {"type", "first", "last", "persons", "founder", "members", "keys",
                                   "stages" (distinct), "leads" (first parties), "anchors" ([person, at]: legal-aid
                                   applicants, who link to the thread alone), "merged_into"}  (a merged thread keeps only a redirect)
  dispute_events    event id   -> placement: {"d" (thread at placement), "stage", "method", "evidence",
                                   "persons", "at", "rec" (recorded at), "agency", "event_type", "type",
                                   "restriction"}
  dispute_keys      "agency:number" -> dispute id (an agency's own numbers and numbers referenced)
  dispute_persons   person id  -> [dispute ids]
  dispute_aliases   retired person id -> surviving person id
  dispute_pending   "agency:number" -> [stubs of join-only events waiting for that number]
"""

from __future__ import annotations

import hashlib
from typing import Any

from streams.processor import State

THREADS = "dispute_threads"
EVENTS = "dispute_events"
KEYS = "dispute_keys"
PERSONS = "dispute_persons"
ALIASES = "dispute_aliases"
PENDING = "dispute_pending"
HUB_THREADS = 5   # a party in more threads than this is no evidence of a link (see is_hub)


def dispute_id_for(founding_event_id: str) -> str:
    return "D" + hashlib.sha256(founding_event_id.encode()).hexdigest()[:16]


class Store:
    def __init__(self, state: State) -> None:
        self.threads = state.table(THREADS)
        self.events = state.table(EVENTS)
        self.keys = state.table(KEYS)
        self.persons = state.table(PERSONS)
        self.aliases = state.table(ALIASES)
        self.pending = state.table(PENDING)

    # -- persons ------------------------------------------------------------------------------
    def person(self, person_id: str) -> str:
        seen = 0
        while person_id in self.aliases and seen < 1000:
            person_id = self.aliases[person_id]
            seen += 1
        return person_id

    def is_hub(self, person_id: str) -> bool:
        """A party of very many threads (a township government, a property company, or a person
        the resolver over-merged) says little about which dispute a record belongs to."""
        return len(self.persons.get(person_id, ())) > HUB_THREADS

    def telling(self, persons: list[str] | set[str]) -> set[str]:
        """The parties that count as evidence: all but hubs."""
        return {p for p in persons if not self.is_hub(p)}

    def threads_of_person(self, person_id: str) -> list[str]:
        return sorted({self.find(d) for d in self.persons.get(person_id, ())})

    def add_person_thread(self, person_id: str, dispute_id: str) -> None:
        current = self.persons.get(person_id, [])
        if dispute_id not in current:
            self.persons[person_id] = [*current, dispute_id]

    # -- threads ------------------------------------------------------------------------------
    def find(self, dispute_id: str) -> str:
        seen = 0
        while seen < 1000:
            thread = self.threads.get(dispute_id)
            if thread is None or thread.get("merged_into") is None:
                return dispute_id
            dispute_id = thread["merged_into"]
            seen += 1
        return dispute_id

    def thread(self, dispute_id: str) -> dict[str, Any]:
        return self.threads[self.find(dispute_id)]

    def new_thread(self, founder: str, dispute_type: str | None, at: int) -> str:
        dispute_id = dispute_id_for(founder)
        self.threads[dispute_id] = {"type": dispute_type, "first": at, "last": at, "persons": [],
                                    "founder": founder, "members": [], "keys": [], "stages": [], "leads": [],
                                    "anchors": [],
                                    "merged_into": None}
        return dispute_id

    def thread_of_key(self, key: str) -> str | None:
        dispute_id = self.keys.get(key)
        return self.find(dispute_id) if dispute_id is not None else None

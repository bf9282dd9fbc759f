"""Persons as clusters of occurrences, kept in the processor's state tables (union-find by redirects).

Tables (values are plain tuples of str / int / bytes, re-assigned on every change so a faust Table
records the change in its changelog):

- ``identity.occurrences``  record_key -> packed (profile digest, person id it was placed in,
  occurred_ms, links: record keys it was linked through) — bytes, see `pack_occurrence`: this is
  the table with one entry per occurrence, so it is kept small
- ``identity.persons``      person id -> (first_seen_ms, founding record key, valid ID index or "",
  members, separated: persons an operator split from it, never to be merged again)
- ``identity.redirects``    retired person id -> the person it was merged into
- ``identity.profiles``     digest -> (packed profile, representative record key)
- ``identity.blocks``       block key -> digests of the distinct profiles in the block (a bare digest
  string when there is one, a tuple of them otherwise)
- ``identity.possible``     record key -> (record key of the possible match, score)
- ``identity.merges``       record key -> the PersonsMerged records it caused (re-emitted on replay)
- ``identity.splits``       split event id -> the PersonSplit record (an operator's repeat is a no-op)
- ``identity.name_counts``  name key (hash of the name CLK) -> distinct profiles with that name;
  ``""`` -> all distinct profiles with a name (term-frequency adjustment of the name weight)
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, NamedTuple

from streams.processor import State

OCCURRENCES = "identity.occurrences"
PERSONS = "identity.persons"
REDIRECTS = "identity.redirects"
PROFILES = "identity.profiles"
BLOCKS = "identity.blocks"
POSSIBLE = "identity.possible"
MERGES = "identity.merges"
SPLITS = "identity.splits"
NAME_COUNTS = "identity.name_counts"


class Occurrence(NamedTuple):
    digest: str
    person_id: str
    occurred_ms: int
    links: tuple[str, ...]


def pack_occurrence(digest_hex: str, person_id: str, occurred_ms: int, links: tuple[str, ...]) -> bytes:
    person = person_id.encode()
    return (bytes.fromhex(digest_hex) + occurred_ms.to_bytes(8, "big", signed=True) + bytes((len(person),))
            + person + "\x1f".join(links).encode())


def unpack_occurrence(raw: bytes) -> Occurrence:
    n = raw[20]
    rest = raw[21 + n :]
    return Occurrence(raw[:12].hex(), raw[21 : 21 + n].decode(), int.from_bytes(raw[12:20], "big", signed=True),
                      tuple(rest.decode().split("\x1f")) if rest else ())


def occurrence_person(raw: bytes) -> str:
    return raw[21 : 21 + raw[20]].decode()


class Person(NamedTuple):
    first_seen_ms: int
    founding_key: str
    valid_id: str  # blind index of its valid ID number, "" if none
    members: tuple[str, ...]
    separated: tuple[str, ...]


class Tables:
    """Typed access to the identity tables of one State."""

    __slots__ = ("occurrences", "persons", "redirects", "profiles", "blocks", "possible", "merges", "splits",
                 "name_counts")

    def __init__(self, state: State) -> None:
        self.occurrences: MutableMapping[str, Any] = state.table(OCCURRENCES)
        self.persons: MutableMapping[str, Any] = state.table(PERSONS)
        self.redirects: MutableMapping[str, Any] = state.table(REDIRECTS)
        self.profiles: MutableMapping[str, Any] = state.table(PROFILES)
        self.blocks: MutableMapping[str, Any] = state.table(BLOCKS)
        self.possible: MutableMapping[str, Any] = state.table(POSSIBLE)
        self.merges: MutableMapping[str, Any] = state.table(MERGES)
        self.splits: MutableMapping[str, Any] = state.table(SPLITS)
        self.name_counts: MutableMapping[str, int] = state.table(NAME_COUNTS)

    # -- union-find ------------------------------------------------------------------------------

    def find(self, person_id: str, compress: bool = False) -> str:
        """The live person a (possibly retired) id resolves to."""
        redirects = self.redirects
        root = person_id
        hops = []
        while True:
            nxt = redirects.get(root)
            if nxt is None:
                break
            hops.append(root)
            root = nxt
        if compress and len(hops) > 1:
            for hop in hops[:-1]:
                redirects[hop] = root
        return root

    def person_of_record(self, record_key: str, compress: bool = False) -> str | None:
        occ = self.occurrences.get(record_key)
        return None if occ is None else self.find(occurrence_person(occ), compress)

    def person(self, person_id: str) -> Person:
        return Person(*self.persons[person_id])

    def occurrence(self, record_key: str) -> Occurrence | None:
        occ = self.occurrences.get(record_key)
        return None if occ is None else unpack_occurrence(occ)

    def set_occurrence(self, record_key: str, digest_hex: str, person_id: str, occurred_ms: int,
                       links: tuple[str, ...]) -> None:
        self.occurrences[record_key] = pack_occurrence(digest_hex, person_id, occurred_ms, links)

    # -- changes ---------------------------------------------------------------------------------

    def new_person(self, person_id: str, record_key: str, occurred_ms: int, valid_id: str) -> None:
        self.persons[person_id] = (occurred_ms, record_key, valid_id, (record_key,), ())

    def add_member(self, person_id: str, record_key: str, valid_id: str) -> None:
        p = self.person(person_id)
        self.persons[person_id] = (p.first_seen_ms, p.founding_key, p.valid_id or valid_id,
                                   p.members + (record_key,), p.separated)

    def separated(self, a: str, b: str) -> bool:
        """Whether an operator split these two persons apart (then they never merge again)."""
        return any(self.find(x) == b for x in self.person(a).separated)

    def merge(self, survivor: str, retired: str) -> None:
        s, r = self.person(survivor), self.person(retired)
        separated = tuple(dict.fromkeys(s.separated + r.separated))
        self.persons[survivor] = (min(s.first_seen_ms, r.first_seen_ms), s.founding_key,
                                  s.valid_id or r.valid_id, s.members + r.members, separated)
        del self.persons[retired]
        self.redirects[retired] = survivor


def survivor_order(tables: Tables, person_id: str) -> tuple[int, str]:
    """Merge survivor = the person first seen earliest (occurred_at), then the smaller id."""
    return tables.person(person_id).first_seen_ms, person_id

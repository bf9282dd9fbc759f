"""Which persons live in which county, and who moves to another county (people.Move).

Persons 0..N-1 are split into K contiguous ranges, one per county, each cut into chunks of
`CHUNK_SIZE`. A share of each chunk's persons moves: who, when, where to and the story that crosses
the border depend only on (seed, home county, chunk) and the person's index, so the home chunk and
the chunk of the new county that receives them (its chunk number modulo that county's chunk count)
plan the same moves without sharing any state, and memory stays bounded by the chunk.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from connectors.synthetic import addresses as geo
from connectors.synthetic import ids
from connectors.synthetic.people import Move, Person

CHUNK_SIZE = 2000  # part of the output's definition: changing it changes who meets whom
MOVERS = 0.06  # default share of persons who move to another county (only when there are several)
MIN_PERSONS_PER_COUNTY = 100

MOVES_FROM = datetime(2020, 1, 1)
MOVES_UNTIL = datetime(2024, 9, 30)
OFFENDERS_MOVE_UNTIL = datetime(2022, 6, 30)  # early enough for trial, prison and release before the export
MOVE_KINDS = ("dispute", "family", "offender")
MOVE_KIND_WEIGHTS = (55, 30, 15)
MOVING_AGES = (23, 60)


@dataclass(frozen=True, slots=True)
class Plan:
    index: int
    move: Move
    phone: str | None  # a new mobile from the move on


class Layout:
    """K counties' shares of the persons and their chunks."""

    def __init__(self, persons: int, counties: int) -> None:
        if not 1 <= counties <= geo.MAX_COUNTIES:
            raise ValueError(f"counties: expected 1..{geo.MAX_COUNTIES}, got {counties}")
        if counties > 1 and persons < MIN_PERSONS_PER_COUNTY * counties:
            raise ValueError(f"persons: expected at least {MIN_PERSONS_PER_COUNTY} per county "
                             f"({MIN_PERSONS_PER_COUNTY * counties} for {counties} counties), got {persons}")
        self.persons, self.counties = persons, counties
        size, extra = divmod(persons, counties)
        self.ranges: list[range] = []
        start = 0
        for c in range(counties):
            stop = start + size + (1 if c < extra else 0)
            self.ranges.append(range(start, stop))
            start = stop
        self.chunks: list[list[range]] = [
            [range(a, min(a + CHUNK_SIZE, r.stop)) for a in range(r.start, r.stop, CHUNK_SIZE)] for r in self.ranges]
        self._first_chunk_no = [sum(len(c) for c in self.chunks[:i]) for i in range(counties)]

    def chunk_no(self, county: int, local: int) -> int:
        """The chunk's number across all counties (seeds the chunk's RNGs)."""
        return self._first_chunk_no[county] + local

    def all_chunks(self) -> Iterator[tuple[int, int, range]]:
        for county, chunks in enumerate(self.chunks):
            for local, persons in enumerate(chunks):
                yield county, local, persons


def planned_moves(seed: int, layout: Layout, home: int, local: int, share: float,
                  person: Callable[[int], Person]) -> list[Plan]:
    """The moves out of chunk `local` of county `home`; `person(index)` gives its persons."""
    if layout.counties == 1 or share <= 0:
        return []
    members = layout.chunks[home][local]
    wanted = round(share * len(members))
    rng = random.Random(f"{seed}:movers:{home}:{local}")
    plans: list[Plan] = []
    for index in rng.sample(members, min(len(members), 2 * wanted)):
        if len(plans) == wanted:
            break
        p = person(index)
        mrng = random.Random(f"{seed}:move:{index}")
        kind = mrng.choices(MOVE_KINDS, weights=MOVE_KIND_WEIGHTS)[0]
        latest = OFFENDERS_MOVE_UNTIL if kind == "offender" else MOVES_UNTIL
        when = MOVES_FROM + timedelta(days=mrng.randrange((latest - MOVES_FROM).days), hours=9)
        if not MOVING_AGES[0] <= p.age_at(when.date()) <= MOVING_AGES[1]:
            continue
        to = (home + 1 + mrng.randrange(layout.counties - 1)) % layout.counties
        after = geo.county(to).make_address(mrng)
        phone = ids.make_mobile(mrng) if mrng.random() < 0.6 else None
        plans.append(Plan(index, Move(when, home, to, p.addr, after, kind), phone))
    return sorted(plans, key=lambda plan: plan.index)


def arrivals(seed: int, layout: Layout, county: int, local: int, share: float,
             person: Callable[[int, int], Person]) -> list[Plan]:
    """The moves into chunk `local` of `county`: from every other county's chunks whose number is
    `local` modulo this county's chunk count. `person(home, index)` makes a person of county `home`."""
    count = len(layout.chunks[county])
    found: list[Plan] = []
    for home in range(layout.counties):
        if home == county:
            continue
        of_home = partial(person, home)
        for source in range(local, len(layout.chunks[home]), count):
            found.extend(plan for plan in planned_moves(seed, layout, home, source, share, of_home)
                         if plan.move.county == county)
    return found

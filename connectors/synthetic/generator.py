"""Streams persons in fixed-size chunks through stories and exporters; memory is bounded by the
chunk, not by the number of persons. Same (persons, seed, counties, movers) -> byte-identical output.

One county (the default) writes its exports, truth/ and manifest.json straight into `out`, exactly
as before there were several. K counties write one export folder per county, `out/<division code>/`
(the seven files and the county's manifest.json), one truth for all of them in `out/truth/` (with a
county column, and movers.csv) and a manifest.json in `out` that lists the counties."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.synthetic import addresses as geo
from connectors.synthetic.exporters import FILES, Exporter, Exports, Truth
from connectors.synthetic.moves import CHUNK_SIZE, MOVERS, Layout, arrivals, planned_moves
from connectors.synthetic.people import Person, make_person, moved
from connectors.synthetic.records import EVENT_TYPES
from connectors.synthetic.stories import EXPORT_END, WINDOW_START, chunk_events

__all__ = ["CHUNK_SIZE", "MOVERS", "generate"]

AGENCIES = ("court", "police", "civil_affairs", "justice")

TRUTH_README = """# Ground truth of this synthetic export

- persons.csv  (agency, record_key, party_index, true_person_id): one row per party occurrence.
  record_key is the value of the first column of the agency's export row; party_index is the
  1-based position of the party column group in that row (civil affairs: 1 = 男方, 2 = 女方;
  legal aid: 1 = 受援人, 2 = 对方当事人; single-person files: 1). true_person_id is P######## for
  persons, ORG<kind><nnn> for organisations (companies, hospitals, governments).
- disputes.csv (agency, record_key, true_dispute_id, dispute_type): one row per export row.
  true_dispute_id is empty for rows that belong to no dispute (marriage and divorce
  registrations, hand-overs of prisoners sentenced elsewhere).
- events.csv   (agency, record_key, file, event_type): the canonical event type of every row.

See connectors/synthetic/README.md and EXPORT_FORMATS.md in the JustLink repository.
"""

COUNTIES_TRUTH_README = """# Ground truth of this synthetic prefecture (several counties)

One truth for every county's export. Each row starts with `county`, the division code of the county
whose export holds the record (the folder `<county>/`); record keys are unique across counties.

- persons.csv  (county, agency, record_key, party_index, true_person_id): one row per party
  occurrence. party_index is the 1-based position of the party column group in the row (civil
  affairs: 1 = 男方, 2 = 女方; legal aid: 1 = 受援人, 2 = 对方当事人; single-person files: 1).
  true_person_id is P######## for persons (the same in every county: a mover is one true person),
  ORG<kind><nnn> (清源县) or ORG<division code><kind><nnn> for organisations.
- disputes.csv (county, agency, record_key, true_dispute_id, dispute_type): one row per export row.
- events.csv   (county, agency, record_key, file, event_type): file is relative to the county folder.
- movers.csv   (true_person_id, from_county, to_county, moved_on, story): persons who moved to another
  county; story is dispute, family or offender (see connectors/synthetic/README.md).

See connectors/synthetic/README.md and EXPORT_FORMATS.md in the JustLink repository.
"""


def generate(out: Path, persons: int, seed: int, progress: Callable[[int], None] | None = None,
             counties: int = 1, movers: float = MOVERS) -> dict[str, Any]:
    """Write the agencies' exports, the truth files and manifest.json under ``out`` (see the module doc
    for the layout); `movers` is the share of persons who move to another county (K > 1 only)."""
    if persons < 1:
        raise ValueError(f"persons: expected a positive number, got {persons}")
    if not 0 <= movers <= 0.5:
        raise ValueError(f"movers: expected a share between 0 and 0.5, got {movers}")
    layout = Layout(persons, counties)
    several = counties > 1
    places = [geo.county(c) for c in range(counties)]
    out.mkdir(parents=True, exist_ok=True)
    folders = [out / place.code if several else out for place in places]
    salt = random.Random(f"{seed}:birth-salt").random()
    exports = Exports({place.index: Exporter(folder, place) for place, folder in zip(places, folders, strict=True)},
                      Truth(out, with_county=several), seed)
    moving = [0] * counties
    arriving = [0] * counties

    def person_of(home: int, index: int) -> Person:
        return make_person(seed, index, salt, places[home])

    try:
        for county, local, members in layout.all_chunks():
            people = {index: person_of(county, index) for index in members}
            for plan in planned_moves(seed, layout, county, local, movers, people.__getitem__):
                exports.truth.mover(moved(people[plan.index], plan.move, plan.phone))
                moving[county] += 1
            incoming = [moved(person_of(plan.move.home, plan.index), plan.move, plan.phone)
                        for plan in arrivals(seed, layout, county, local, movers, person_of)]
            arriving[county] += len(incoming)
            events = chunk_events(seed, list(people.values()), layout.chunk_no(county, local), places[county],
                                  incoming)
            exports.write_chunk(events, layout.chunk_no(county, local))
            if progress is not None:
                progress(len(members))
    finally:
        exports.close()
    truth = {path: {"rows": exports.truth.rows[path]} for path in exports.truth.columns}
    manifests = [_county_manifest(exports.exporters[place.index], place, seed, len(layout.ranges[place.index]),
                                  None if several else truth) for place in places]
    if not several:
        manifest = manifests[0]
        (out / "truth" / "README.md").write_text(TRUTH_README, encoding="utf-8")
        _write_json(out / "manifest.json", manifest)
        return manifest
    for county_manifest, folder, leaving, coming in zip(manifests, folders, moving, arriving, strict=True):
        county_manifest["movers"] = {"moved_away": leaving, "moved_in": coming}
        _write_json(folder / "manifest.json", county_manifest)
    (out / "truth" / "README.md").write_text(COUNTIES_TRUTH_README, encoding="utf-8")
    manifest = {
        "generator": "connectors.synthetic",
        "seed": seed,
        "persons": persons,
        "chunk_size": CHUNK_SIZE,
        "movers": {"share": movers, "persons": sum(moving)},
        "prefecture": {"province": geo.PROVINCE, "city": geo.CITY},
        "window": _window(),
        "counties": [{"division_code": place.code, "name": place.full_name, "folder": place.code,
                      "persons": m["persons"], "rows": sum(m["files"][spec.path]["rows"] for spec in FILES)}
                     for place, m in zip(places, manifests, strict=True)],
        "truth": truth,
        "event_types": {name: sum(m["event_types"][name] for m in manifests) for name in EVENT_TYPES},
    }
    _write_json(out / "manifest.json", manifest)
    return manifest


def _window() -> dict[str, str]:
    return {"from": WINDOW_START.date().isoformat(), "export_date": EXPORT_END.date().isoformat()}


def _county_manifest(exporter: Exporter, place: geo.County, seed: int, persons: int,
                     truth: dict[str, Any] | None) -> dict[str, Any]:
    """One county export's manifest. With one county (`truth` given: the truth is in the same folder) its
    fields and their order are what they always were."""
    county = place.manifest()
    if truth is not None:
        county = {k: county[k] for k in ("name", "division_code", "court_code")}
    return {
        "generator": "connectors.synthetic",
        "seed": seed,
        "persons": persons,
        "chunk_size": CHUNK_SIZE,
        "county": county,
        "window": _window(),
        "files": {spec.path: {"agency": spec.agency, "encoding": spec.encoding, "rows": exporter.rows[spec.path]}
                  for spec in FILES},
        **({"truth": truth} if truth is not None else {}),
        "rows_per_agency": {agency: sum(exporter.rows[s.path] for s in FILES if s.agency == agency)
                            for agency in AGENCIES},
        "event_types": {name: exporter.event_types[name] for name in EVENT_TYPES},
    }


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

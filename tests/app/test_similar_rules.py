"""The similar-cases rules (hub/services/similar.toml) as data: a concluded dispute of the case's type is
listed when the facts it shares weigh at least min_score (firing) and not when they weigh just less
(near-miss); how a thread ended; a bad rules file names the line and the key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.services.similar import SimilarCases, SimilarRulesError, load_rules, outcome_of

NEVER = datetime(1970, 1, 1, tzinfo=UTC)
CASE = {"dispute_type": "neighbour", "amount_band": "0-10000", "relationship": "neighbours", "level": "village",
        "township": "城关"}


def thread(**facts: Any) -> dict[str, Any]:
    """A thread as the view query gives it: a village neighbour dispute of 2023 that ended in agreement."""
    row = {"dispute_type": "neighbour", "amount_yuan": 0.0, "relationship": "", "level": "", "township": "",
           "first_at": datetime(2023, 3, 1, 2, tzinfo=UTC), "last_at": datetime(2023, 3, 20, 2, tzinfo=UTC),
           "stages": ["mediation", "mediation_outcome"], "agreed_at": datetime(2023, 3, 20, 2, tzinfo=UTC),
           "failed_at": NEVER, "confirmed_at": NEVER, "judged_at": NEVER, "enforced_at": NEVER, "lawsuits": 0}
    return row | facts


@pytest.fixture(scope="module")
def similar() -> SimilarCases:
    return SimilarCases(store=None, rules=load_rules())  # type: ignore[arg-type]  # compare() reads no store


def test_the_packaged_rules_load_and_band_amounts() -> None:
    rules = load_rules()
    assert [rules.band(a) for a in (None, 0, 9999, 10000, 49999.5, 200000, 3_000_000)] == \
        ["", "", "0-10000", "10000-50000", "10000-50000", "200000+", "200000+"]
    assert rules.min_score == 2.0 and rules.weights["amount_band"] >= rules.min_score


def test_a_dispute_sharing_the_amount_band_is_listed(similar: SimilarCases) -> None:
    item = similar.compare(CASE, thread(amount_yuan=6000.0))
    assert item is not None and item["matched"] == ["amount_band"] and item["score"] >= similar.rules.min_score
    assert (item["outcome"], item["days"], item["year"]) == ("agreement", 19, 2023)


def test_near_miss_level_and_township_alone_weigh_too_little(similar: SimilarCases) -> None:
    item = similar.compare(CASE, thread(level="village", township="城关", amount_yuan=12000.0,
                                        relationship="acquaintances"))
    assert item is not None and item["matched"] == ["level", "township"]
    assert item["score"] < similar.rules.min_score   # counted as concluded of the type, not listed


def test_another_dispute_type_or_an_open_thread_is_never_compared(similar: SimilarCases) -> None:
    assert similar.compare(CASE, thread(dispute_type="private_lending", amount_yuan=6000.0)) is None
    assert similar.compare(CASE, thread(agreed_at=NEVER)) is None
    assert similar.compare({**CASE, "dispute_type": ""}, thread()) is None


def test_how_a_thread_ended_is_its_latest_milestone() -> None:
    march, june = datetime(2023, 3, 20, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC)
    assert outcome_of(thread()) == "agreement"
    assert outcome_of(thread(confirmed_at=june)) == "confirmed"
    assert outcome_of(thread(confirmed_at=march, enforced_at=june)) == "enforcement"
    # an agreement that did not hold: the lawsuit's judgment is how it ended
    assert outcome_of(thread(judged_at=june, lawsuits=1)) == "judgment"
    # mediation failed and the lawsuit it led to is still running: not concluded
    assert outcome_of(thread(agreed_at=NEVER, failed_at=march, lawsuits=1)) == ""
    assert outcome_of(thread(agreed_at=NEVER, failed_at=march)) == "failed"


@pytest.mark.parametrize("text,where", [
    ("amount_bands_yuan = [50000, 10000]\nmin_score = 2\nlimit = 5\nmin_rate_base = 5\n"
     "[weights]\namount_band = 1\nrelationship = 1\nlevel = 1\ntownship = 1\n",
     ":1: amount_bands_yuan: expected increasing positive whole numbers"),
    ("amount_bands_yuan = [10000]\nmin_score = 2\nlimit = 5\nmin_rate_base = 5\n"
     "[weights]\namount_band = 1\nrelationship = 1\nlevel = 1\nvillage = 1\n",
     ":9: weights.village: unknown key 'village'"),
    ("amount_bands_yuan = [10000]\nmin_score = 2\nlimit = 0\nmin_rate_base = 5\n"
     "[weights]\namount_band = 1\nrelationship = 1\nlevel = 1\ntownship = 1\n",
     ":3: limit: expected an integer >= 1"),
    ("amount_bands_yuan = [10000]\nmin_score = 2\nlimit = 5\n"
     "[weights]\namount_band = 1\nrelationship = 1\nlevel = 1\ntownship = 1\n", ": missing key 'min_rate_base'"),
])
def test_a_bad_rules_file_names_the_line_and_the_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "similar.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SimilarRulesError) as caught:
        load_rules(path)
    assert str(path) in str(caught.value) and where in str(caught.value)

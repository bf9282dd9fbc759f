"""The repeat-intake rules (hub/services/repeat_intake.toml) as data: two intakes of one dispute while the
earlier is open warn (firing); the same two a day after the earlier concluded, a year and a day apart, a
court's delegation to a committee, or a criminal or enforcement case do not (near-misses); a bad rules file
names the line and the key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.services.repeat_intake import Intake, RepeatIntakes, RepeatRulesError, load_rules

MARCH = datetime(2024, 3, 4, 1, 30, tzinfo=UTC)
MEDIATION = Intake("（2024）城关调字第7号", "justice", "城关镇人民调解委员会", "411730", MARCH, "private_lending",
                   "D1", frozenset({"Pa", "Pb"}), None, "mediation")
LAWSUIT = Intake("（2024）豫1730民初88号", "court", "清源县人民法院", "411730", MARCH + timedelta(days=9),
                 "private_lending", "D1", frozenset({"Pa", "Pb"}), None, "court_filing")


@pytest.fixture(scope="module")
def repeat() -> RepeatIntakes:
    return RepeatIntakes(store=None, rules=load_rules())  # type: ignore[arg-type]  # pair() reads no store


def test_a_lawsuit_filed_while_the_committee_mediates_warns(repeat: RepeatIntakes) -> None:
    warning = repeat.pair(MEDIATION, LAWSUIT)
    assert warning is not None and (warning.why, warning.shared_parties) == ("same_thread", 2)


def test_the_same_parties_and_type_on_another_thread_warn_within_the_window(repeat: RepeatIntakes) -> None:
    later = replace(LAWSUIT, thread="D2", opened_at=MARCH + timedelta(days=365))
    warning = repeat.pair(MEDIATION, later)
    assert warning is not None and warning.why == "same_parties"


def test_near_misses_do_not_warn(repeat: RepeatIntakes) -> None:
    concluded = replace(MEDIATION, closed_at=LAWSUIT.opened_at - timedelta(days=1))
    assert repeat.pair(concluded, LAWSUIT) is None                       # failed mediation, then the lawsuit
    assert repeat.pair(replace(MEDIATION, closed_at=LAWSUIT.opened_at + timedelta(seconds=1)), LAWSUIT) is not None
    a_year_on = replace(LAWSUIT, thread="D2", opened_at=MARCH + timedelta(days=366))
    assert repeat.pair(MEDIATION, a_year_on) is None                     # outside the window
    assert repeat.pair(MEDIATION, replace(LAWSUIT, thread="D2", persons=frozenset({"Pa", "Pc"}))) is None
    assert repeat.pair(MEDIATION, replace(LAWSUIT, thread="D2", dispute_type="neighbour")) is None
    assert repeat.pair(replace(MEDIATION, dispute_type="other"), replace(LAWSUIT, thread="D2",
                                                                          dispute_type="other")) is None
    delegated = replace(MEDIATION, opened_at=LAWSUIT.opened_at + timedelta(days=2), related_case=LAWSUIT.case_number)
    assert repeat.pair(LAWSUIT, delegated) is None                       # 法院委派: the court handed it over


def test_which_lawsuits_are_intakes() -> None:
    rules = load_rules()
    assert rules.is_intake("CaseFiled", "（2024）豫1730民初88号")
    assert rules.is_intake("MediationCaseOpened", "（2024）城关调字第7号")
    for number in ("（2024）豫1730刑初3号", "（2024）豫1730执512号", "（2024）豫1730民特9号"):
        assert not rules.is_intake("CaseFiled", number), number


@pytest.mark.parametrize("text,where", [
    ("court_case_types = []\nwindow_days = 30\nmin_shared_parties = 2\nignore_dispute_types = []\n",
     ":1: court_case_types: expected one or more case-number type codes"),
    ("court_case_types = [\"民初\"]\nwindow_days = 0\nmin_shared_parties = 2\nignore_dispute_types = []\n",
     ":2: window_days: expected an integer >= 1"),
    ("court_case_types = [\"民初\"]\nwindow_days = 30\nmin_shared_parties = 2\n", ": missing key 'ignore_dispute_types'"),
    ("court_case_types = [\"民初\"]\nwindow_days = 30\nmin_shared_parties = 2\nignore_dispute_types = []\nwindow = 3\n",
     ":5: window: unknown key 'window'"),
])
def test_a_bad_rules_file_names_the_line_and_the_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "repeat_intake.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RepeatRulesError) as caught:
        load_rules(path)
    assert str(path) in str(caught.value) and where in str(caught.value)

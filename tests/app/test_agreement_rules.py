"""The confirmation and re-suing rules (hub/services/agreements.toml) as data: a lawsuit of the same parties
on the dispute after its agreement was confirmed is 反悔重诉, an enforcement filing on the confirmation is
an agreement not honoured (firing); a refused confirmation, a lawsuit before the confirmation, one on another
dispute type or past the window, and a criminal case are not (near-misses); a bad file names line and key."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.services.agreements import NOT_HONOURED, RESUED, AgreementRulesError, Agreements, load_rules
from hub.services.repeat_intake import Intake

AGREED = datetime(2023, 5, 10, 2, tzinfo=UTC)
AGREEMENT = Intake("（2023）城关调字第5号", "justice", "城关镇人民调解委员会", "411730", AGREED - timedelta(days=20),
                   "neighbour", "D1", frozenset({"Pa", "Pb"}), AGREED, "mediation_outcome", "", "MediationCaseOpened")
CONFIRMED = Intake("（2023）豫1730民特3号", "court", "清源县人民法院", "411730", AGREED + timedelta(days=12), "",
                   "D1", frozenset({"Pa", "Pb"}), None, "confirmation", AGREEMENT.case_number,
                   "MediationAgreementConfirmed", "confirmed")
LAWSUIT = Intake("（2023）豫1730民初77号", "court", "清源县人民法院", "411730", AGREED + timedelta(days=120),
                 "neighbour", "D9", frozenset({"Pa", "Pb"}), None, "court_filing", "", "CaseFiled")
ENFORCEMENT = Intake("（2023）豫1730执31号", "court", "清源县人民法院", "411730", AGREED + timedelta(days=90), "",
                     "D1", frozenset({"Pa", "Pb"}), None, "enforcement", CONFIRMED.case_number, "CaseFiled")


@pytest.fixture(scope="module")
def agreements() -> Agreements:
    return Agreements(store=None, rules=load_rules())  # type: ignore[arg-type]  # check() reads no store


def test_a_lawsuit_of_the_same_parties_after_the_confirmation_is_resuing(agreements: Agreements) -> None:
    flag = agreements.check(CONFIRMED, AGREEMENT, LAWSUIT)
    assert flag is not None and (flag.kind, flag.why) == (RESUED, "same_parties")
    on_thread = agreements.check(CONFIRMED, AGREEMENT, replace(LAWSUIT, thread="D1", dispute_type="other"))
    assert on_thread is not None and on_thread.why == "same_thread"


def test_an_enforcement_filing_on_the_confirmation_means_not_honoured(agreements: Agreements) -> None:
    flag = agreements.check(CONFIRMED, AGREEMENT, ENFORCEMENT)
    assert flag is not None and (flag.kind, flag.why) == (NOT_HONOURED, "names_confirmation")


def test_near_misses_are_not_flagged(agreements: Agreements) -> None:
    assert agreements.check(replace(CONFIRMED, outcome="refused"), AGREEMENT, LAWSUIT) is None
    assert agreements.check(CONFIRMED, AGREEMENT, replace(LAWSUIT, opened_at=CONFIRMED.opened_at)) is None
    assert agreements.check(CONFIRMED, AGREEMENT, replace(LAWSUIT, dispute_type="private_lending")) is None
    assert agreements.check(CONFIRMED, AGREEMENT, replace(LAWSUIT, persons=frozenset({"Pa", "Pc"}))) is None
    late = replace(LAWSUIT, opened_at=CONFIRMED.opened_at + timedelta(days=1096))
    assert agreements.check(CONFIRMED, AGREEMENT, late) is None
    assert agreements.check(CONFIRMED, AGREEMENT, replace(LAWSUIT, case_number="（2023）豫1730刑初4号")) is None
    elsewhere = replace(ENFORCEMENT, related_case="（2022）豫1730民初12号", thread="D7")
    assert agreements.check(CONFIRMED, AGREEMENT, elsewhere) is None    # enforcing another judgment


@pytest.mark.parametrize("text,where", [
    ("lawsuit_case_types = []\nenforcement_case_types = [\"执\"]\nwindow_days = 9\nmin_shared_parties = 2\n",
     ":1: lawsuit_case_types: expected one or more case-number type codes"),
    ("lawsuit_case_types = [\"民初\"]\nenforcement_case_types = [\"执\"]\nwindow_days = 9\nmin_shared_parties = 0\n",
     ":4: min_shared_parties: expected an integer >= 1"),
    ("lawsuit_case_types = [\"民初\"]\nwindow_days = 9\nmin_shared_parties = 2\n",
     ": missing key 'enforcement_case_types'"),
])
def test_a_bad_rules_file_names_the_line_and_the_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "agreements.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AgreementRulesError) as caught:
        load_rules(path)
    assert str(path) in str(caught.value) and where in str(caught.value)

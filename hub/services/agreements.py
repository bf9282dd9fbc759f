"""Judicial confirmation and re-suing (司法确认, 反悔重诉): what became of a confirmed mediation agreement.

A mediation agreement, its judicial confirmation (MediationAgreementConfirmed, naming the mediation case)
and any later enforcement are one dispute thread. Two flags follow from the views:
- `resued_after_confirmation`: a lawsuit (a case number with one of `lawsuit_case_types`, 民初) filed after
  the confirmation between the same parties on that dispute — the same thread, or at least
  `min_shared_parties` persons in common and the agreement's dispute type within `window_days` — and not
  naming the confirmation as its basis. The judge of the lawsuit sees the agreement's case number, its
  committee and the confirmation.
- `agreement_not_honoured`: an enforcement filing (`enforcement_case_types`, 执) whose basis is the
  confirmation (it names it) or, on the agreement's thread, after it. The enforcement judge sees it; the
  bureau counts both.
A refused confirmation confirms nothing. Restricted records take no part. The rules are data
(`agreements.toml`); like the repeat-intake warnings the answer does not depend on arrival order.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from hub.services.repeat_intake import Intake, RepeatIntakes
from runtime.clock import iso_utc, local_text_or_none
from runtime.tomlcheck import TomlChecker, TomlError
from runtime.viewstore import ViewStore

RULES_PATH = Path(__file__).with_name("agreements.toml")
RECORD_TYPES = ("MediationCaseOpened", "CaseFiled", "MediationAgreementConfirmed")
RESUED = "resued_after_confirmation"
NOT_HONOURED = "agreement_not_honoured"


class AgreementRulesError(TomlError):
    """agreements.toml is invalid; the message names the file, the line and the key."""


@dataclass(frozen=True, slots=True)
class AgreementRules:
    lawsuit_case_types: tuple[str, ...]
    enforcement_case_types: tuple[str, ...]
    window_days: int
    min_shared_parties: int


class _Checker(TomlChecker):
    error = AgreementRulesError


def load_rules(path: Path | str | None = None) -> AgreementRules:
    source = Path(path) if path is not None else RULES_PATH
    try:
        text = source.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise AgreementRulesError(f"cannot read: {exc.strerror}", source, None) from None
    except tomllib.TOMLDecodeError as exc:
        raise AgreementRulesError(f"not valid TOML: {exc}", source, getattr(exc, "lineno", None)) from None
    check = _Checker(source, text)
    check.keys(data, (), {"lawsuit_case_types", "enforcement_case_types", "window_days", "min_shared_parties"})
    codes = {}
    for key in ("lawsuit_case_types", "enforcement_case_types"):
        codes[key] = check.string_list(data[key], (key,))
        if not codes[key] or any(not code.strip() for code in codes[key]):
            raise check.fail((key,), "expected one or more case-number type codes, e.g. [\"民初\"]")
    return AgreementRules(tuple(codes["lawsuit_case_types"]), tuple(codes["enforcement_case_types"]),
                          check.integer(data["window_days"], ("window_days",), 1),
                          check.integer(data["min_shared_parties"], ("min_shared_parties",), 1))


@dataclass(frozen=True, slots=True)
class AgreementFlag:
    kind: str                 # RESUED | NOT_HONOURED
    confirmation: Intake      # the 民特 ruling that confirmed the agreement
    agreement: Intake | None  # the mediation case whose agreement it confirmed (None when not in the views)
    case: Intake              # the later lawsuit or enforcement filing
    why: str                  # "names_confirmation" | "same_thread" | "same_parties"


class Agreements:
    def __init__(self, store: ViewStore, rules: AgreementRules | None = None) -> None:
        self.store = store
        self.rules = rules or load_rules()

    def check(self, confirmation: Intake, agreement: Intake | None, filing: Intake) -> AgreementFlag | None:
        """The flag a court filing raises on a confirmed agreement, or None."""
        if confirmation.outcome != "confirmed" or filing.opened_at <= confirmation.opened_at:
            return None
        names_it = filing.related_case == confirmation.case_number
        same_thread = bool(filing.thread) and filing.thread in {confirmation.thread, agreement.thread if agreement
                                                                else ""}
        if any(code in filing.case_number for code in self.rules.enforcement_case_types):
            if names_it or same_thread:
                return AgreementFlag(NOT_HONOURED, confirmation, agreement, filing,
                                     "names_confirmation" if names_it else "same_thread")
            return None
        if not any(code in filing.case_number for code in self.rules.lawsuit_case_types) or names_it:
            return None
        if same_thread:
            return AgreementFlag(RESUED, confirmation, agreement, filing, "same_thread")
        persons = confirmation.persons | (agreement.persons if agreement else frozenset())
        dispute_type = agreement.dispute_type if agreement else confirmation.dispute_type
        if (len(persons & filing.persons) >= self.rules.min_shared_parties and dispute_type
                and filing.dispute_type == dispute_type
                and filing.opened_at - confirmation.opened_at <= timedelta(days=self.rules.window_days)):
            return AgreementFlag(RESUED, confirmation, agreement, filing, "same_parties")
        return None

    def flags(self) -> list[AgreementFlag]:
        records = RepeatIntakes(self.store).records(RECORD_TYPES)
        mediations = {r.case_number: r for r in records if r.event_type == "MediationCaseOpened"}
        filings = [r for r in records if r.event_type == "CaseFiled"]
        found = []
        for confirmation in (r for r in records if r.event_type == "MediationAgreementConfirmed"):
            agreement = mediations.get(confirmation.related_case)
            for filing in filings:
                flag = self.check(confirmation, agreement, filing)
                if flag is not None:
                    found.append(flag)
        return found

    def for_case(self, case_number: str) -> list[AgreementFlag]:
        return [f for f in self.flags() if f.case.case_number == case_number]


def flag_view(flag: AgreementFlag, zone: str) -> dict[str, Any]:
    """What the judge of the later case sees: the agreement, its committee and the confirmation."""
    agreement = flag.agreement
    return {"kind": flag.kind, "case_number": agreement.case_number if agreement else flag.confirmation.related_case,
            "agency": "justice", "office_name": agreement.office_name if agreement else "",
            "confirmation_number": flag.confirmation.case_number,
            "confirmation_office": flag.confirmation.office_name,
            "confirmed_at": iso_utc(flag.confirmation.opened_at),
            "confirmed_local": local_text_or_none(flag.confirmation.opened_at, zone), "why": flag.why}

"""Similar cases for the case at hand (类案推送): how disputes like this one ended in the county.

For the caller's open case, the hub finds concluded dispute threads of the same dispute type and
compares their facts with the case's — amount band, the parties' relationship, the mediation level, the
township — and lists the closest with how they ended and how long they took, and the success rate of
mediation among them. Built from the plain facts of the events only (`event_facts`: types, levels,
amounts, relationships, outcomes): no case number, no thread id, no party of anyone else. The rules (bands,
weights, how many) are data in `similar.toml`. The read is audited like any other: the gate checks that the
caller works on this open case (a metadata read, bound to no person).
"""

from __future__ import annotations

import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consent.access.decisions import CASE_METADATA_LOOKUP
from hub.services.access import AccessRefused, Caller, PersonAccess
from runtime.clock import to_utc
from runtime.tomlcheck import TomlChecker, TomlError
from runtime.viewstore import ViewStore

RULES_PATH = Path(__file__).with_name("similar.toml")
FACTS = ("amount_band", "relationship", "level", "township")
# How a thread ended, strongest last: a later step overrides an earlier one.
OUTCOMES = ("failed", "agreement", "confirmed", "judgment", "enforcement")
SUCCESS = ("agreement", "confirmed")
SIMILAR_CASE_KINDS = ("mediation", "court")   # the case at hand: a people's mediation case or a lawsuit


class SimilarRulesError(TomlError):
    """similar.toml is invalid; the message names the file, the line and the key."""


@dataclass(frozen=True, slots=True)
class SimilarRules:
    amount_bands: tuple[int, ...]           # band edges in yuan: [0, a), [a, b), ..., [last, ∞)
    weights: dict[str, float]               # per compared fact: its weight when equal
    limit: int                              # how many similar threads to list
    min_score: float                        # a listed thread matches at least this much
    min_rate_base: int                      # the success rate needs at least this many similar threads

    def band(self, amount: float | None) -> str:
        if amount is None or amount <= 0:
            return ""
        edges = self.amount_bands
        for low, high in zip((0, *edges), edges, strict=False):
            if amount < high:
                return f"{low}-{high}"
        return f"{edges[-1]}+"


class _Checker(TomlChecker):
    error = SimilarRulesError


def load_rules(path: Path | str | None = None) -> SimilarRules:
    source = Path(path) if path is not None else RULES_PATH
    try:
        text = source.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise SimilarRulesError(f"cannot read: {exc.strerror}", source, None) from None
    except tomllib.TOMLDecodeError as exc:
        raise SimilarRulesError(f"not valid TOML: {exc}", source, getattr(exc, "lineno", None)) from None
    check = _Checker(source, text)
    check.keys(data, (), {"amount_bands_yuan", "weights", "limit", "min_score", "min_rate_base"})
    bands = data["amount_bands_yuan"]
    if not isinstance(bands, list) or not bands or any(not isinstance(b, int) or isinstance(b, bool) or b <= 0
                                                       for b in bands) or bands != sorted(set(bands)):
        raise check.fail(("amount_bands_yuan",), f"expected increasing positive whole numbers, got {bands!r}")
    weights = check.table(data["weights"], ("weights",))
    check.keys(weights, ("weights",), set(FACTS))
    for name, value in weights.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise check.fail(("weights", name), f"expected a number >= 0, got {value!r}")
    score = data["min_score"]
    if not isinstance(score, (int, float)) or isinstance(score, bool) or score < 0:
        raise check.fail(("min_score",), f"expected a number >= 0, got {score!r}")
    return SimilarRules(tuple(bands), {k: float(v) for k, v in weights.items()},
                        check.integer(data["limit"], ("limit",), 1), float(score),
                        check.integer(data["min_rate_base"], ("min_rate_base",), 1))


# Per live thread: its type, first and last time, township, and the facts of its intake (the first
# mediation case or lawsuit), and its milestones (restricted records left out).
_THREADS = """
SELECT thread, min(occurred_at) AS first_at, max(occurred_at) AS last_at, groupArray(stage) AS stages,
       if(countIf(dispute_type NOT IN ('', 'other')) > 0, argMinIf(dispute_type, occurred_at,
          dispute_type NOT IN ('', 'other')), if(countIf(dispute_type = 'other') > 0, 'other', '')) AS dispute_type,
       argMinIf(township, occurred_at, township != '') AS township,
       argMinIf(level, occurred_at, level != '') AS level,
       argMinIf(relationship, occurred_at, relationship != '') AS relationship,
       argMinIf(amount_yuan, occurred_at, amount_yuan > 0) AS amount_yuan,
       maxIf(occurred_at, event_type = 'MediationConcluded' AND outcome = 'agreement') AS agreed_at,
       maxIf(occurred_at, event_type = 'MediationConcluded' AND outcome IN ('failed', 'escalated')) AS failed_at,
       maxIf(occurred_at, event_type = 'MediationAgreementConfirmed' AND outcome = 'confirmed') AS confirmed_at,
       maxIf(occurred_at, event_type = 'JudgmentIssued') AS judged_at,
       maxIf(occurred_at, stage = 'enforcement') AS enforced_at,
       countIf(event_type = 'CaseFiled' AND stage = 'court_filing') AS lawsuits,
       groupArrayIf(case_number, case_number != '') AS numbers
FROM (
    SELECT if(r.dispute_id = '', e.dispute_id, r.dispute_id) AS thread, f.occurred_at AS occurred_at, e.stage AS stage,
           f.event_type AS event_type, f.dispute_type AS dispute_type, f.township AS township, f.level AS level,
           f.relationship AS relationship, f.amount_yuan AS amount_yuan, f.outcome AS outcome,
           f.case_number AS case_number
    FROM dispute_events AS e FINAL
    INNER JOIN (SELECT * FROM event_facts FINAL WHERE is_deleted = 0 AND restricted = 0) AS f ON f.event_id = e.event_id
    LEFT JOIN (SELECT retired_id, dispute_id FROM dispute_redirects FINAL) AS r ON r.retired_id = e.dispute_id
    WHERE e.is_deleted = 0
)
GROUP BY thread
"""

_CASE = """
SELECT argMin(dispute_type, occurred_at) AS dispute_type, argMinIf(level, occurred_at, level != '') AS level,
       argMinIf(relationship, occurred_at, relationship != '') AS relationship,
       argMinIf(amount_yuan, occurred_at, amount_yuan > 0) AS amount_yuan,
       argMinIf(township, occurred_at, township != '') AS township, count() AS n
FROM event_facts FINAL WHERE case_number = {case:String} AND is_deleted = 0
"""


def outcome_of(thread: dict[str, Any]) -> str:
    """How a thread ended: its latest milestone (enforcement > judgment > confirmed > agreement > failed), or ""
    while nothing has ended it. An agreement followed by a lawsuit did not hold: the lawsuit's end counts."""
    found = {"failed": thread["failed_at"], "agreement": thread["agreed_at"], "confirmed": thread["confirmed_at"],
             "judgment": thread["judged_at"], "enforcement": thread["enforced_at"]}
    ended = {k: to_utc(v) for k, v in found.items() if v is not None and to_utc(v).year > 1970}
    if not ended:
        return ""
    if ended.keys() <= {"failed"} and thread["lawsuits"]:
        return ""   # mediation failed and the lawsuit is still running
    return max(ended, key=lambda k: (ended[k], OUTCOMES.index(k)))


class SimilarCases:
    def __init__(self, store: ViewStore, rules: SimilarRules | None = None) -> None:
        self.store = store
        self.rules = rules or load_rules()

    def case_facts(self, case_id: str) -> dict[str, Any]:
        row = self.store.query_dicts(_CASE, {"case": case_id})[0]
        return {"dispute_type": row["dispute_type"] if row["n"] else "",
                "amount_band": self.rules.band(row["amount_yuan"]), "relationship": row["relationship"] or "",
                "level": row["level"] or "", "township": row["township"] or ""}

    def compare(self, facts: dict[str, Any], thread: dict[str, Any]) -> dict[str, Any] | None:
        """A concluded thread of the case's dispute type as listed (its facts, outcome, the facts it shares
        with the case and their weight), or None when it is of another type or has not ended."""
        if not facts["dispute_type"] or thread["dispute_type"] != facts["dispute_type"]:
            return None
        outcome = outcome_of(thread)
        if not outcome:
            return None
        theirs = {"amount_band": self.rules.band(thread["amount_yuan"]), "relationship": thread["relationship"] or "",
                  "level": thread["level"] or "", "township": thread["township"] or ""}
        matched = [name for name in FACTS if facts[name] and theirs[name] == facts[name]]
        first, last = to_utc(thread["first_at"]), to_utc(thread["last_at"])
        return {"dispute_type": thread["dispute_type"], **theirs, "outcome": outcome, "matched": matched,
                "score": round(sum(self.rules.weights[name] for name in matched), 2),
                "stages": list(dict.fromkeys(thread["stages"])), "days": (last - first).days, "year": first.year,
                "last_at": last}

    def find(self, case_id: str) -> dict[str, Any]:
        facts = self.case_facts(case_id)
        concluded = [item for thread in self.store.query_dicts(_THREADS) if case_id not in thread["numbers"]
                     for item in [self.compare(facts, thread)] if item is not None]
        similar = sorted((item for item in concluded if item["score"] >= self.rules.min_score),
                         key=lambda item: (-item["score"], -item["last_at"].timestamp()))
        for item in concluded:
            del item["last_at"]
        outcomes = Counter(item["outcome"] for item in similar)
        base = len(similar)
        rate = round(sum(outcomes[o] for o in SUCCESS) / base, 4) if base >= self.rules.min_rate_base else None
        return {"case_facts": facts, "similar": similar[:self.rules.limit], "similar_total": base,
                "outcomes": dict(outcomes), "success_rate": rate, "same_type_concluded": len(concluded),
                "min_rate_base": self.rules.min_rate_base}

def similar_cases(access: PersonAccess, caller: Caller) -> dict[str, Any]:
    """Similar concluded disputes for the caller's open case (the gate binds the caller to it, audited)."""
    result = access.require(caller, None, lookup=CASE_METADATA_LOOKUP)
    case = access.services.cases.case(caller.case_id or "")
    if case is None or case.kind not in SIMILAR_CASE_KINDS:
        raise AccessRefused(403, "not_a_dispute_case", audit_seq=result.audit.seq,
                            rule=result.decision.rule if result.decision else "")
    found = SimilarCases(access.services.store).find(case.case_id)
    return {"case_id": case.case_id, **found, "audit_seq": result.audit.seq}

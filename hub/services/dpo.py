"""The data-protection officer's view of the audit trail: accesses by user, by subject ("who looked
at this person, when, why"), by purpose; denials; break-glass uses; and anomalies worth a look:

- burst: one user looking up many different subjects in a short time;
- off_hours: accesses outside working hours (local time, weekends included);
- no_open_case: a subject reached without an open case binding the caller to them for the purpose
  (refused for that reason, or granted by break-glass over it);
- repeated_denials: one caller refused again and again in a short time (401s included);
- identifier_lookup: a look-up by ID number, phone or name under a rule with no case binding (the
  DPO's own), with the complaint or audit case it named — or refused for naming none.

Works on the records of the audit trail itself (every field, not only the view's columns).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from hub.services.labels import label, text
from runtime.clock import DEFAULT_ZONE, iso_utc, zone

NO_CASE_REASONS = frozenset({"no_case", "case_not_found", "case_closed", "not_party", "wrong_case_kind",
                             "not_supervising_office"})
SUBJECT_REPORT_WITHHELD = "subject_report_withheld"  # hub/services/party.py flags the reports it cut
SEARCH_NO_MATCH = "no_subject"  # a search that found nobody; not a refusal of a person
SECTIONS = ("accesses", "by_user", "by_subject", "by_purpose", "denials", "break_glass", "anomalies")
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "accesses": ("seq", "at", "user", "role", "organisation", "purpose", "case_id", "subject", "status", "decision",
                 "rule", "reason", "break_glass", "withheld"),
    "by_user": ("user", "roles", "organisation", "accesses", "allowed", "denied", "subjects", "break_glass",
                "first_at", "last_at"),
    "by_subject": ("subject", "accesses", "allowed", "denied", "users", "purposes", "last_at"),
    "by_purpose": ("purpose", "accesses", "allowed", "denied", "users", "subjects"),
    "denials": ("seq", "at", "user", "role", "purpose", "case_id", "subject", "status", "rule", "reason",
                "withheld"),
    "break_glass": ("seq", "at", "user", "role", "purpose", "case_id", "subject", "decision", "reason",
                    "justification"),
    "anomalies": ("kind", "user", "subject", "from_at", "to_at", "count", "detail", "seqs"),
}


@dataclass(frozen=True, slots=True)
class AnomalyRules:
    burst_subjects: int = 20  # distinct subjects ...
    burst_window: timedelta = timedelta(minutes=10)  # ... within this window
    work_start_hour: int = 8
    work_end_hour: int = 19
    work_days: frozenset[int] = frozenset(range(5))  # Monday..Friday
    local_tz: tzinfo = field(default_factory=lambda: zone(DEFAULT_ZONE))  # the agencies' zone (settings.timezone)
    denials: int = 5  # refusals of one caller ...
    denial_window: timedelta = timedelta(minutes=15)  # ... within this window


def audit_rows(records: Iterable[bytes]) -> list[dict[str, Any]]:
    """The audit records as flat rows (the break-glass reason stays sealed, in `sealed_reason`)."""
    from consent.access.audit import decode_record

    rows = []
    for value in records:
        body = decode_record(value)
        flags = list(body.get("flags") or ())
        rows.append({
            "seq": int(body["seq"]), "at": datetime.fromisoformat(str(body["at"]).replace("Z", "+00:00")),
            "user": body.get("user", ""), "role": body.get("role", ""), "organisation": body.get("organisation", ""),
            "purpose": body.get("purpose", ""), "case_id": body.get("case_id", ""),
            "subject": body.get("subject", ""), "status": int(body.get("status") or 0),
            "decision": body.get("decision", ""), "rule": body.get("rule", ""), "reason": body.get("reason", ""),
            "flags": flags, "break_glass": "break_glass" in flags or bool(body.get("break_glass_reason")),
            "sealed_reason": body.get("break_glass_reason"), "event_id": body.get("event_id", ""),
            "event_types": list(body.get("event_types") or ()), "field_classes": list(body.get("field_classes") or ()),
            "withheld": [withheld_text(w) for w in body.get("withheld") or ()],
            "hidden_restricted": int(body.get("hidden_restricted") or 0),
        })
    return rows


def withheld_text(item: dict[str, Any]) -> str:
    """A caller value the trail did not keep: which field, why, how long, and its keyed hash."""
    digest = f" hmac {item['hmac']}" if item.get("hmac") else ""
    return f"{item.get('field')}: {item.get('problem')}, {item.get('length')} bytes{digest}"


def select(rows: Iterable[dict[str, Any]], *, since: datetime | None = None, until: datetime | None = None,
           user: str | None = None, subject: str | None = None, purpose: str | None = None) -> list[dict[str, Any]]:
    return [r for r in rows if (since is None or r["at"] >= since) and (until is None or r["at"] < until)
            and (not user or r["user"] == user) and (not subject or r["subject"] == subject)
            and (not purpose or r["purpose"] == purpose)]


def is_refusal(row: dict[str, Any]) -> bool:
    return row["decision"] != "allowed" and row["reason"] != SEARCH_NO_MATCH


def report(rows: list[dict[str, Any]], rules: AnomalyRules | None = None, *,
           reveal_reason: Callable[[str, str], str] | None = None, max_accesses: int = 500) -> dict[str, Any]:
    """Every section of the DPO report over these rows (already selected)."""
    rules = rules or AnomalyRules()
    refusals = [r for r in rows if is_refusal(r)]
    return {
        "summary": {"accesses": len(rows), "allowed": sum(r["decision"] == "allowed" for r in rows),
                    "denied": len(refusals), "unauthenticated": sum(r["status"] == 401 for r in rows),
                    "break_glass": sum(r["break_glass"] for r in rows),
                    "users": len({r["user"] for r in rows}),
                    "subjects": len({r["subject"] for r in rows if r["subject"]}),
                    # accesses left out of data subjects' own "who looked at me" reports (covert matters)
                    "withheld_from_subjects": sum(r["hidden_restricted"] for r in rows
                                                  if SUBJECT_REPORT_WITHHELD in r["flags"])},
        "accesses": [_public(r, rules) for r in sorted(rows, key=lambda r: r["seq"], reverse=True)[:max_accesses]],
        "by_user": by_user(rows),
        "by_subject": by_subject(rows),
        "by_purpose": by_purpose(rows),
        "denials": [_public(r, rules) for r in sorted(refusals, key=lambda r: r["seq"], reverse=True)],
        "break_glass": [{**_public(r, rules), "justification": _justification(r, reveal_reason)}
                        for r in sorted(rows, key=lambda r: r["seq"], reverse=True) if r["break_glass"]],
        "anomalies": anomalies(rows, rules),
    }


def _public(row: dict[str, Any], rules: AnomalyRules) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in ("sealed_reason", "flags", "event_id")}
    out["at"] = iso_utc(row["at"])
    out["at_local"] = row["at"].astimezone(rules.local_tz).strftime("%Y-%m-%d %H:%M:%S")
    return out


def _justification(row: dict[str, Any], reveal: Callable[[str, str], str] | None) -> str:
    sealed = row["sealed_reason"]
    if not sealed:
        return ""
    if reveal is None:
        return "(sealed)"
    try:
        return reveal(sealed, row["event_id"])
    except Exception as exc:  # erased key, digest only: say which, never the text
        return f"({type(exc).__name__})"


def by_user(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["user"]].append(r)
    out = [{"user": user, "roles": sorted({r["role"] for r in rs if r["role"]}),
            "organisation": next((r["organisation"] for r in rs if r["organisation"]), ""),
            "accesses": len(rs), "allowed": sum(r["decision"] == "allowed" for r in rs),
            "denied": sum(is_refusal(r) for r in rs), "subjects": len({r["subject"] for r in rs if r["subject"]}),
            "break_glass": sum(r["break_glass"] for r in rs), "first_at": iso_utc(min(r["at"] for r in rs)),
            "last_at": iso_utc(max(r["at"] for r in rs))} for user, rs in groups.items()]
    return sorted(out, key=lambda x: (-x["accesses"], x["user"]))


def by_subject(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["subject"]:
            groups[r["subject"]].append(r)
    out = [{"subject": subject, "accesses": len(rs), "allowed": sum(r["decision"] == "allowed" for r in rs),
            "denied": sum(is_refusal(r) for r in rs), "users": sorted({r["user"] for r in rs}),
            "purposes": sorted({r["purpose"] for r in rs}), "last_at": iso_utc(max(r["at"] for r in rs))}
           for subject, rs in groups.items()]
    return sorted(out, key=lambda x: (-x["accesses"], x["subject"]))


def by_purpose(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["purpose"] or "(none)"].append(r)
    out = [{"purpose": purpose, "accesses": len(rs), "allowed": sum(r["decision"] == "allowed" for r in rs),
            "denied": sum(is_refusal(r) for r in rs), "users": len({r["user"] for r in rs}),
            "subjects": len({r["subject"] for r in rs if r["subject"]})} for purpose, rs in groups.items()]
    return sorted(out, key=lambda x: (-x["accesses"], x["purpose"]))


# -- anomalies ---------------------------------------------------------------------------------------

def anomalies(rows: list[dict[str, Any]], rules: AnomalyRules) -> list[dict[str, Any]]:
    ordered = sorted(rows, key=lambda r: (r["at"], r["seq"]))
    found = _bursts(ordered, rules) + _off_hours(ordered, rules) + _no_open_case(ordered) + \
        _repeated_denials(ordered, rules) + _identifier_lookups(ordered)
    for anomaly in found:
        for end in ("from", "to"):
            at = datetime.fromisoformat(anomaly[f"{end}_at"].replace("Z", "+00:00"))
            anomaly[f"{end}_local"] = at.astimezone(rules.local_tz).strftime("%Y-%m-%d %H:%M")
    return sorted(found, key=lambda a: (a["from_at"] or "", a["kind"], a["user"]), reverse=True)


def _anomaly(kind: str, rows: list[dict[str, Any]], detail: str, subject: str = "") -> dict[str, Any]:
    return {"kind": kind, "user": rows[0]["user"], "subject": subject, "from_at": iso_utc(rows[0]["at"]),
            "to_at": iso_utc(rows[-1]["at"]), "count": len(rows), "detail": detail,
            "seqs": [r["seq"] for r in rows]}


def _windows(rows: list[dict[str, Any]], window: timedelta, enough: Callable[[list[dict[str, Any]]], bool]
             ) -> list[list[dict[str, Any]]]:
    """Maximal runs of rows within `window` of their first row that satisfy `enough`; non-overlapping."""
    out, start = [], 0
    while start < len(rows):
        end = start
        while end + 1 < len(rows) and rows[end + 1]["at"] - rows[start]["at"] <= window:
            end += 1
        run = rows[start:end + 1]
        if enough(run):
            out.append(run)
            start = end + 1
        else:
            start += 1
    return out


def _per_user(rows: list[dict[str, Any]], keep: Callable[[dict[str, Any]], bool]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if keep(r):
            groups[r["user"]].append(r)
    return groups


def _bursts(rows: list[dict[str, Any]], rules: AnomalyRules) -> list[dict[str, Any]]:
    out = []
    for user_rows in _per_user(rows, lambda r: bool(r["subject"]) and r["status"] != 401).values():
        def many(run: list[dict[str, Any]]) -> bool:
            return len({r["subject"] for r in run}) >= rules.burst_subjects
        for run in _windows(user_rows, rules.burst_window, many):
            subjects = len({r["subject"] for r in run})
            minutes = max(1, round((run[-1]["at"] - run[0]["at"]).total_seconds() / 60))
            out.append(_anomaly("burst", run, text("burst", minutes=minutes, subjects=subjects)))
    return out


def _off_hours(rows: list[dict[str, Any]], rules: AnomalyRules) -> list[dict[str, Any]]:
    def outside(r: dict[str, Any]) -> bool:
        local = r["at"].astimezone(rules.local_tz)
        return local.weekday() not in rules.work_days or not (rules.work_start_hour <= local.hour
                                                               < rules.work_end_hour)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["status"] != 401 and r["subject"] and outside(r):
            groups[(r["user"], r["at"].astimezone(rules.local_tz).date().isoformat())].append(r)
    return [_anomaly("off_hours", rs, text("off_hours", day=day, zone=str(rules.local_tz), count=len(rs)))
            for (_, day), rs in groups.items()]


def _no_open_case(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        over = r["reason"].removeprefix("break_glass_over_") if r["reason"].startswith("break_glass_over_") else ""
        if r["reason"] in NO_CASE_REASONS or over in NO_CASE_REASONS:
            how = (text("no_open_case_break_glass", reason=label("reason", over)) if over
                   else text("no_open_case_refused", reason=label("reason", r["reason"])))
            out.append(_anomaly("no_open_case", [r], text("no_open_case", purpose=label("purpose", r["purpose"]),
                                                          case=r["case_id"] or "—", how=how), subject=r["subject"]))
    return out


def _identifier_lookups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every look-up by identifier under a rule with no case binding (a DPO turning an ID number into a
    person id): listed with the complaint or audit case it gave, or as refused for giving none."""
    out = []
    for r in rows:
        if "identifier_lookup" in r["flags"]:
            how = (text("identifier_lookup_for", reference=r["case_id"]) if r["decision"] == "allowed"
                   else text("identifier_lookup_refused"))
            out.append(_anomaly("identifier_lookup", [r], how, subject=r["subject"]))
    return out


def _repeated_denials(rows: list[dict[str, Any]], rules: AnomalyRules) -> list[dict[str, Any]]:
    out = []
    for user_rows in _per_user(rows, is_refusal).values():
        for run in _windows(user_rows, rules.denial_window, lambda run: len(run) >= rules.denials):
            reasons = Counter(r["reason"] for r in run).most_common(3)
            out.append(_anomaly("repeated_denials", run, text(
                "repeated_denials", count=len(run), reasons="、".join(f"{label('reason', k)}×{n}" for k, n in reasons))))
    return out


# -- export ------------------------------------------------------------------------------------------

def to_csv(section: str, rows: list[dict[str, Any]]) -> str:
    """One section of the report as CSV (lists joined with ';')."""
    if section not in CSV_COLUMNS:
        raise ValueError(f"unknown section {section!r}; expected one of {', '.join(CSV_COLUMNS)}")
    columns = CSV_COLUMNS[section]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(c)) for c in columns])
    return out.getvalue()


def cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    text = "" if value is None else str(value)
    # keep spreadsheets from running a cell as a formula
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text

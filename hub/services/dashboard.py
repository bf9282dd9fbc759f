"""The county justice bureau's dashboard: aggregates over the views, never a person.

Sections (each a list of rows, each also a CSV):
- `disputes`: dispute threads by type and township (the township of the thread's first office that names one);
- `mediation`: people's mediation cases concluded, by level: agreement, failed, escalated, success rate;
- `first_handling`: from a police call to the first handling step, by dispute type: median and 90th
  percentile hours, share within the target (72 h);
- `alerts`: alerts raised by rule: handled (acknowledged or closed by a person) in time, late, still open,
  open past their handling time, superseded by the processors;
- `warnings`: repeat-mediation warnings (a dispute taken in again at a second office while in hand,
  `repeat_intake.py`) by the pair of agencies (the earlier intake's, then the later's): raised, one of the
  two still open, both concluded; and confirmed mediation agreements gone back on by a lawsuit (反悔重诉)
  or enforced (not honoured), `agreements.py`;
- `handovers`: released prisoners' hand-overs by receiving county (`handovers.py`): release notices, due,
  received in time, late, still open past due, not yet due, and the hand-over rate (received in time of
  those due; target 100 %);
- `open_handovers`: every hand-over still open past its due date — the notice number, the receiving county
  and justice office, release and due day, days overdue, and whether it is cross-county (sentenced in another
  county of the deployment; with a county chosen, its own and those it sentenced that went elsewhere). A
  record number and an office, no person: the bureau must be able to chase each one (必接必送).

Small cells are suppressed: a count between 1 and `min_cell - 1` is given as None with `suppressed`,
and a rate over fewer than `min_cell` cases is None. Restricted records (sealed, covert) are left out.
The SQL reads the plain facts (`event_facts`), the thread placements (`dispute_events`, following
`dispute_redirects`) and the alerts; no personal field is selected anywhere here.
"""

from __future__ import annotations

import csv
import io
import statistics
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.services.agreements import AgreementFlag, Agreements
from hub.services.handovers import Handover, Handovers
from hub.services.repeat_intake import RepeatIntakes, RepeatWarning
from runtime.clock import DEFAULT_ZONE, local_date, to_utc
from runtime.tomlcheck import TomlChecker, TomlError
from runtime.viewstore import ViewStore

SETTINGS_PATH = Path(__file__).with_name("dashboard.toml")
HANDLING_STAGES = ("referral", "mediation", "court_filing", "warning", "protection_order")
SECTIONS = ("disputes", "mediation", "first_handling", "alerts", "warnings", "handovers", "open_handovers")
LEVELS = ("red", "yellow", "blue")
HANDLED = ("acknowledged", "resolved", "dismissed")
HANDOVER_RULES = ("released_prisoner_not_received",)
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "disputes": ("dispute_type", "township", "threads"),
    "mediation": ("level", "concluded", "agreement", "failed", "escalated", "success_rate"),
    "first_handling": ("dispute_type", "threads", "median_hours", "p90_hours", "within_target", "within_target_rate"),
    "alerts": ("rule", "level", "raised", "handled_in_time", "handled_late", "open", "open_overdue", "superseded",
               "in_time_rate"),
    "warnings": ("agencies", "raised", "open", "concluded"),
    "handovers": ("county_code", "notices", "due", "received_in_time", "received_late", "open_overdue", "pending",
                  "handover_rate"),
    "open_handovers": ("notice_number", "county_code", "office_name", "released_on", "due_on", "days_overdue",
                       "sentenced_in", "cross_county"),
}


class DashboardSettingsError(TomlError):
    """dashboard.toml is invalid; the message names the file, the line and the key."""


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    min_cell: int = 5
    first_handling_target_hours: int = 72
    alert_handling_hours: tuple[tuple[str, int], ...] = (("red", 24), ("yellow", 72), ("blue", 168))

    def handling_hours(self, level: str) -> int:
        return dict(self.alert_handling_hours).get(level, max(h for _, h in self.alert_handling_hours))


class _Checker(TomlChecker):
    error = DashboardSettingsError


def load_settings(path: Path | str | None = None) -> DashboardSettings:
    source = Path(path) if path is not None else SETTINGS_PATH
    try:
        text = source.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        raise DashboardSettingsError(f"cannot read: {exc.strerror}", source, None) from None
    except tomllib.TOMLDecodeError as exc:
        raise DashboardSettingsError(f"not valid TOML: {exc}", source, getattr(exc, "lineno", None)) from None
    check = _Checker(source, text)
    check.keys(data, (), {"min_cell", "first_handling_target_hours", "alert_handling_hours"})
    hours = check.table(data["alert_handling_hours"], ("alert_handling_hours",))
    check.keys(hours, ("alert_handling_hours",), set(LEVELS))
    return DashboardSettings(check.integer(data["min_cell"], ("min_cell",), 1),
                             check.integer(data["first_handling_target_hours"], ("first_handling_target_hours",), 1),
                             tuple((level, check.integer(hours[level], ("alert_handling_hours", level), 1))
                                   for level in LEVELS))


@dataclass(frozen=True, slots=True)
class DashboardFilter:
    since: datetime | None = None   # threads, cases and alerts that began in [since, until)
    until: datetime | None = None
    county: str | None = None       # 6-digit division code; None: every county in the views


# --- the reads ------------------------------------------------------------------------------------------
_THREADS = """
SELECT thread, min(occurred_at) AS first_at, argMin(county_code, occurred_at) AS county,
       argMin(stage, (occurred_at, event_id)) AS first_stage,
       minIf(occurred_at, stage IN {handling:Array(String)}) AS handled_at,
       countIf(stage IN {handling:Array(String)}) AS handling_steps,
       if(countIf(dispute_type NOT IN ('', 'other')) > 0, argMinIf(dispute_type, occurred_at,
          dispute_type NOT IN ('', 'other')), if(countIf(dispute_type = 'other') > 0, 'other', '')) AS dispute_type,
       argMinIf(township, occurred_at, township != '') AS township
FROM (
    SELECT if(r.dispute_id = '', e.dispute_id, r.dispute_id) AS thread, f.occurred_at AS occurred_at,
           f.event_id AS event_id, f.county_code AS county_code, e.stage AS stage, f.dispute_type AS dispute_type,
           f.township AS township
    FROM dispute_events AS e FINAL
    INNER JOIN (SELECT * FROM event_facts FINAL WHERE is_deleted = 0 AND restricted = 0) AS f
        ON f.event_id = e.event_id
    LEFT JOIN (SELECT retired_id, dispute_id FROM dispute_redirects FINAL) AS r ON r.retired_id = e.dispute_id
    WHERE e.is_deleted = 0
)
GROUP BY thread
"""

_MEDIATION = """
SELECT o.level AS level, c.outcome AS outcome, count() AS n
FROM (SELECT county_code, case_number, outcome, occurred_at FROM event_facts FINAL
      WHERE event_type = 'MediationConcluded' AND is_deleted = 0 AND restricted = 0) AS c
LEFT JOIN (SELECT county_code, case_number, any(level) AS level FROM event_facts FINAL
           WHERE event_type = 'MediationCaseOpened' AND is_deleted = 0 GROUP BY county_code, case_number) AS o
    ON o.county_code = c.county_code AND o.case_number = c.case_number
WHERE {where}
GROUP BY level, outcome
"""

_ALERTS = """
SELECT a.rule AS rule, a.level AS level, a.status AS status, a.raised_at AS raised_at, a.updated_at AS updated_at,
       f.county_code AS county, f.agencies AS agencies
FROM (SELECT alert_id, rule, level, status, raised_at, updated_at, evidence FROM alerts FINAL
      WHERE is_deleted = 0) AS a
LEFT JOIN (SELECT event_id, county_code, [agency] AS agencies FROM event_facts FINAL) AS f
    ON f.event_id = a.evidence[1]
"""


def _window(column: str, flt: DashboardFilter, params: dict[str, Any]) -> list[str]:
    where = []
    if flt.since is not None:
        where.append(f"{column} >= {{since:DateTime64(3, 'UTC')}}")
        params["since"] = flt.since
    if flt.until is not None:
        where.append(f"{column} < {{until:DateTime64(3, 'UTC')}}")
        params["until"] = flt.until
    return where


def _utc(rows: list[dict[str, Any]], *columns: str) -> list[dict[str, Any]]:
    """The store's times as aware UTC datetimes (a client may hand them back naive)."""
    for row in rows:
        for name in columns:
            if row[name] is not None:
                row[name] = to_utc(row[name])
    return rows


def _in_window(at: datetime | None, flt: DashboardFilter) -> bool:
    if at is None:
        return False
    return (flt.since is None or at >= flt.since) and (flt.until is None or at < flt.until)


class Dashboard:
    def __init__(self, store: ViewStore, settings: DashboardSettings | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC), zone: str = DEFAULT_ZONE) -> None:
        self.store = store
        self.zone = zone   # days (a release, a due date) are the agencies' days
        self.settings = settings or load_settings()
        self.clock = clock

    def counties(self) -> list[str]:
        rows = self.store.query_rows("SELECT DISTINCT county_code FROM event_facts FINAL WHERE county_code != '' "
                                     "ORDER BY county_code")
        return [str(r[0]) for r in rows]

    def build(self, flt: DashboardFilter) -> dict[str, Any]:
        threads = [t for t in _utc(self.store.query_dicts(_THREADS, {"handling": list(HANDLING_STAGES)}),
                                   "first_at", "handled_at")
                   if _in_window(t["first_at"], flt) and (flt.county is None or t["county"] == flt.county)]
        alerts = [a for a in _utc(self.store.query_dicts(_ALERTS), "raised_at", "updated_at")
                  if _in_window(a["raised_at"], flt) and (flt.county is None or a["county"] == flt.county)]
        warnings = [w for w in RepeatIntakes(self.store).warnings() if _in_window(w.later.opened_at, flt)
                    and (flt.county is None or w.later.county == flt.county)]
        flags = [f for f in Agreements(self.store).flags() if _in_window(f.case.opened_at, flt)
                 and (flt.county is None or f.case.county == flt.county)]
        handovers = [h for h in Handovers(self.store).all() if _in_window(h.released_at, flt)
                     and (flt.county is None or flt.county in (h.county, h.sentenced_in))]
        sections = {
            "disputes": self._disputes(threads),
            "mediation": self._mediation(flt),
            "first_handling": self._first_handling(threads),
            "alerts": self._alerts([a for a in alerts if a["rule"] not in HANDOVER_RULES]),
            "warnings": self._warnings(warnings, flags),
            "handovers": self._handovers(handovers),
            "open_handovers": self._open_handovers(handovers, flt),
        }
        total = {"threads": len(threads), "alerts": len(alerts), "warnings": len(warnings)}
        return {"summary": self._summary(total, sections), "sections": sections,
                "min_cell": self.settings.min_cell, "counties": self.counties(),
                "first_handling_target_hours": self.settings.first_handling_target_hours,
                "alert_handling_hours": dict(self.settings.alert_handling_hours)}

    # -- suppression ----------------------------------------------------------------------------------
    def cell(self, n: int) -> int | None:
        """A count as shown: None when it is small enough to point at someone (1 .. min_cell - 1)."""
        return None if 0 < n < self.settings.min_cell else n

    def rate(self, part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole >= self.settings.min_cell else None

    def _row(self, row: dict[str, Any], base: str) -> dict[str, Any]:
        """A row of one group: when its base count (threads, cases, alerts) is small, every number in it is
        suppressed (the counts within a large enough group say nothing about a person)."""
        small = row[base] is not None and self.cell(row[base]) is None
        suppressed = [name for name, value in row.items()
                      if small and isinstance(value, (int, float)) and not isinstance(value, bool)]
        for name in suppressed:
            row[name] = None
        row["suppressed"] = suppressed
        return row

    # -- sections -------------------------------------------------------------------------------------
    def _disputes(self, threads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Threads by type and township, with the totals of each type and each township ("*") and the grand
        total. Small cells are suppressed, and so are enough others that no total gives them back."""
        counts = Counter((t["dispute_type"] or "unknown", t["township"] or "") for t in threads)
        hidden = suppress_table(counts, self.settings.min_cell)
        rows = [{"dispute_type": kind, "township": town, "threads": None if (kind, town) in hidden else n,
                 "suppressed": ["threads"] if (kind, town) in hidden else []}
                for (kind, town), n in with_totals(counts).items()]
        return sorted(rows, key=lambda r: (r["dispute_type"] == "*", r["dispute_type"], r["township"] == "*",
                                           r["township"]))

    def _mediation(self, flt: DashboardFilter) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        where = _window("c.occurred_at", flt, params)
        if flt.county is not None:
            where.append("c.county_code = {county:String}")
            params["county"] = flt.county
        by_level: dict[str, Counter[str]] = defaultdict(Counter)
        for level, outcome, n in self.store.query_rows(_MEDIATION.format(where=" AND ".join(where) or "1"), params):
            by_level[str(level) or "unknown"][str(outcome)] += int(n)
        rows = []
        for level in sorted(by_level, key=lambda v: ("village", "township", "county", "unknown").index(v)
                            if v in ("village", "township", "county", "unknown") else 9):
            c = by_level[level]
            concluded = sum(c.values())
            decided = c["agreement"] + c["failed"]
            rows.append(self._row({"level": level, "concluded": concluded, "agreement": c["agreement"],
                                   "failed": c["failed"], "escalated": c["escalated"],
                                   "success_rate": self.rate(c["agreement"], decided)}, "concluded"))
        return rows

    def _first_handling(self, threads: list[dict[str, Any]]) -> list[dict[str, Any]]:
        target = self.settings.first_handling_target_hours
        waits: dict[str, list[float | None]] = defaultdict(list)
        for t in threads:
            if t["first_stage"] != "incident":
                continue
            handled = t["handled_at"] if t["handling_steps"] else None
            hours = (handled - t["first_at"]).total_seconds() / 3600 if handled and handled > t["first_at"] else None
            waits[t["dispute_type"] or "unknown"].append(hours)
        rows = []
        for kind in sorted(waits):
            all_waits = waits[kind]
            known = sorted(h for h in all_waits if h is not None)
            within = sum(1 for h in known if h <= target)
            enough = len(known) >= self.settings.min_cell
            rows.append(self._row({
                "dispute_type": kind, "threads": len(all_waits),
                "median_hours": round(statistics.median(known), 1) if enough else None,
                "p90_hours": round(known[min(len(known) - 1, int(0.9 * len(known)))], 1) if enough else None,
                "within_target": within, "within_target_rate": self.rate(within, len(all_waits))}, "threads"))
        return rows

    def _alerts(self, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        now = self.clock()
        by_rule: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        for a in alerts:
            c = by_rule[(a["rule"], a["level"])]
            limit = self.settings.handling_hours(a["level"]) * 3600
            c["raised"] += 1
            if a["status"] in HANDLED:
                late = (a["updated_at"] - a["raised_at"]).total_seconds() > limit
                c["handled_late" if late else "handled_in_time"] += 1
            elif a["status"] == "superseded":
                c["superseded"] += 1
            else:
                c["open"] += 1
                if (now - a["raised_at"]).total_seconds() > limit:
                    c["open_overdue"] += 1
        rows = []
        for (rule, level), c in sorted(by_rule.items(), key=lambda kv: (LEVELS.index(kv[0][1])
                                                                        if kv[0][1] in LEVELS else 9, kv[0][0])):
            names = ["raised", "handled_in_time", "handled_late", "open", "open_overdue", "superseded"]
            row: dict[str, Any] = {"rule": rule, "level": level, **{n: c[n] for n in names}}
            row["in_time_rate"] = self.rate(c["handled_in_time"], c["raised"] - c["superseded"])
            rows.append(self._row(row, "raised"))
        return rows

    def _warnings(self, warnings: list[RepeatWarning], flags: list[AgreementFlag]) -> list[dict[str, Any]]:
        by_pair: dict[str, Counter[str]] = defaultdict(Counter)
        for w in warnings:
            c = by_pair[f"{w.earlier.agency}>{w.later.agency}"]
            c["raised"] += 1
            c["concluded" if w.earlier.closed_at is not None and w.later.closed_at is not None else "open"] += 1
        for f in flags:   # confirmed agreements gone back on (反悔重诉) or enforced (not honoured)
            c = by_pair[f.kind]
            c["raised"] += 1
            c["concluded" if f.case.closed_at is not None else "open"] += 1
        return [self._row({"agencies": pair, "raised": c["raised"], "open": c["open"], "concluded": c["concluded"]},
                          "raised") for pair, c in sorted(by_pair.items())]

    def _handovers(self, handovers: list[Handover]) -> list[dict[str, Any]]:
        """By receiving county, with the total ("*") of every county shown."""
        now = self.clock()
        by_county: dict[str, Counter[str]] = defaultdict(Counter)
        for h in handovers:
            for county in (h.county, "*"):
                c = by_county[county]
                c["notices"] += 1
                c[h.status(now)] += 1
        rows = []
        for county in sorted(by_county, key=lambda c: (c == "*", c)):
            c = by_county[county]
            due = c["notices"] - c["pending"]
            rows.append(self._row({"county_code": county, "notices": c["notices"], "due": due,
                                   "received_in_time": c["received_in_time"], "received_late": c["received_late"],
                                   "open_overdue": c["open_overdue"], "pending": c["pending"],
                                   "handover_rate": self.rate(c["received_in_time"], due)}, "notices"))
        return rows

    def _open_handovers(self, handovers: list[Handover], flt: DashboardFilter) -> list[dict[str, Any]]:
        now = self.clock()
        rows = []
        for h in handovers:
            if h.status(now) != "open_overdue":
                continue
            rows.append({"notice_number": h.notice_number, "county_code": h.county, "office_name": h.office_name,
                         "released_on": local_date(h.released_at, self.zone).isoformat(),
                         "due_on": local_date(h.due_at, self.zone).isoformat(),
                         "days_overdue": (now - h.due_at).days, "sentenced_in": h.sentenced_in,
                         "cross_county": h.cross_county, "suppressed": []})
        return sorted(rows, key=lambda r: (-r["days_overdue"], r["notice_number"]))

    def _summary(self, total: dict[str, int], sections: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        mediation = sections["mediation"]
        agreement = sum(r["agreement"] or 0 for r in mediation)
        decided = agreement + sum(r["failed"] or 0 for r in mediation)
        handled = [r for r in sections["first_handling"]]
        within = sum(r["within_target"] or 0 for r in handled)
        alerts = sections["alerts"]
        in_time = sum(r["handled_in_time"] or 0 for r in alerts)
        counted = sum((r["raised"] or 0) - (r["superseded"] or 0) for r in alerts)
        return {"threads": self.cell(total["threads"]), "mediation_success_rate": self.rate(agreement, decided),
                "first_handling_within_target_rate": self.rate(within, sum(r["threads"] or 0 for r in handled)),
                "alerts_raised": self.cell(sum(r["raised"] or 0 for r in alerts)),
                "alerts_in_time_rate": self.rate(in_time, counted),
                "repeat_warnings": self.cell(total["warnings"]),   # the total, not the sum of suppressed rows
                "handover_rate": next((r["handover_rate"] for r in sections["handovers"] if r["county_code"] == "*"),
                                      None),
                "open_handovers": len(sections["open_handovers"])}


def with_totals(counts: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """The table with its row totals (column "*"), column totals (row "*") and the grand total."""
    table = dict(counts)
    for (row, col), n in counts.items():
        for key in ((row, "*"), ("*", col), ("*", "*")):
            table[key] = table.get(key, 0) + n
    return table


def suppress_table(counts: dict[tuple[str, str], int], min_cell: int) -> set[tuple[str, str]]:
    """The cells of a two-way table and of its totals (`with_totals`) to suppress: every count in
    1 .. min_cell - 1 (primary); then, while a line — a row or a column with its total — holds exactly one
    suppressed cell, its smallest other non-zero cell too (secondary), so that no total gives a suppressed
    count back by subtraction."""
    table = with_totals(counts)
    hidden = {key for key, n in table.items() if 0 < n < min_cell}
    lines: list[list[tuple[str, str]]] = []
    for axis in (0, 1):
        by_line: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for key in table:
            by_line[key[axis]].append(key)
        lines += [sorted(keys) for _, keys in sorted(by_line.items())]
    changed = True
    while changed:
        changed = False
        for keys in lines:
            if sum(1 for k in keys if k in hidden) == 1:
                others = sorted((table[k], k) for k in keys if k not in hidden and table[k] > 0)
                if others:
                    hidden.add(others[0][1])
                    changed = True
    return hidden


def to_csv(section: str, rows: list[dict[str, Any]], min_cell: int) -> str:
    """One section as CSV; a suppressed count is written `<min_cell` (as the page shows it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    columns = CSV_COLUMNS[section]
    writer.writerow(columns)
    for row in rows:
        writer.writerow([f"<{min_cell}" if name in row.get("suppressed", ()) else
                         "" if row.get(name) is None else row[name] for name in columns])
    return out.getvalue()

"""The DPO's report over audit records: grouping by user, subject and purpose; denials; break-glass;
the four anomaly kinds with their thresholds; CSV export that a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from consent.access.audit import AuditEntry, audit_codec
from consent.access.audit.records import new_record
from hub.services import dpo

MONDAY_10_CST = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # 10:00 in China Standard Time


def record(seq: int, at: datetime, *, user: str = "m1", subject: str = "P1", decision: str = "allowed",
           reason: str = "allowed", status: int = 200, purpose: str = "dispute_mediation", case_id: str = "M-1",
           flags: tuple[str, ...] = (), sealed: str | None = None) -> bytes:
    """An AccessAudited record as the trail writes it (unsigned: the report does not verify)."""
    entry = AuditEntry(at, user, "mediator", "justice:t", purpose, status, decision, "mediator.dispute_mediation",
                       reason, case_id, subject, flags=flags, break_glass_reason="(sealed below)" if sealed else None)
    return audit_codec().encode("AccessAudited", new_record(entry, seq, "0" * 64, "", 2, lambda *_: sealed or ""))


def rows(*records: bytes) -> list[dict]:
    return dpo.audit_rows(records)


def kinds(report: dict) -> list[str]:
    return sorted(a["kind"] for a in report["anomalies"])


def test_ordinary_work_raises_no_anomaly() -> None:
    r = rows(*(record(i, MONDAY_10_CST + timedelta(minutes=20 * i), subject=f"P{i % 3}") for i in range(12)))
    report = dpo.report(r)
    assert report["anomalies"] == []
    assert report["summary"] == {"accesses": 12, "allowed": 12, "denied": 0, "unauthenticated": 0, "break_glass": 0,
                                 "users": 1, "subjects": 3, "withheld_from_subjects": 0}
    assert report["by_user"][0]["subjects"] == 3 and report["by_purpose"][0]["accesses"] == 12


def test_burst_of_subjects_in_a_short_time() -> None:
    rules = dpo.AnomalyRules(burst_subjects=10, burst_window=timedelta(minutes=10))
    burst = [record(i, MONDAY_10_CST + timedelta(seconds=30 * i), subject=f"P{i}") for i in range(12)]
    calm = [record(100 + i, MONDAY_10_CST + timedelta(hours=2, minutes=15 * i), subject=f"Q{i}") for i in range(12)]
    report = dpo.report(rows(*burst, *calm), rules)
    assert kinds(report) == ["burst"]
    anomaly = report["anomalies"][0]
    assert anomaly["user"] == "m1" and anomaly["count"] >= 10 and anomaly["seqs"][0] == 0
    assert "名当事人" in anomaly["detail"]   # "…分钟内查询N名当事人"


def test_off_hours_and_weekends_in_local_time() -> None:
    night = MONDAY_10_CST + timedelta(hours=13)  # 23:00 local
    saturday = MONDAY_10_CST + timedelta(days=5)
    report = dpo.report(rows(record(1, night), record(2, saturday), record(3, MONDAY_10_CST)))
    assert kinds(report) == ["off_hours", "off_hours"]
    assert {a["seqs"][0] for a in report["anomalies"]} == {1, 2}


def test_no_open_case_refusals_and_break_glass_over_them() -> None:
    report = dpo.report(rows(
        record(1, MONDAY_10_CST, decision="denied", reason="not_party", status=403),
        record(2, MONDAY_10_CST, decision="denied", reason="case_closed", status=403),
        record(3, MONDAY_10_CST, reason="break_glass_over_no_case", case_id="", flags=("break_glass", "notify_dpo"),
               sealed="sha256:00"),
        record(4, MONDAY_10_CST, decision="denied", reason="no_subject", status=403, subject=""),  # empty search
    ))
    assert kinds(report) == ["no_open_case"] * 3
    assert [d["seq"] for d in report["denials"]] == [2, 1]  # an empty search is not a refusal
    use = report["break_glass"][0]
    assert use["seq"] == 3 and use["justification"] == "(sealed)"
    revealed = dpo.report(rows(record(3, MONDAY_10_CST, flags=("break_glass",), sealed="jle1.x")),
                          reveal_reason=lambda sealed, event_id: "reason text")
    assert revealed["break_glass"][0]["justification"] == "reason text"

    def erased(sealed: str, event_id: str) -> str:
        raise KeyError("erased")

    assert dpo.report(rows(record(3, MONDAY_10_CST, flags=("break_glass",), sealed="jle1.x")),
                      reveal_reason=erased)["break_glass"][0]["justification"] == "(KeyError)"


def test_repeated_denials_including_bad_tokens() -> None:
    rules = dpo.AnomalyRules(denials=4, denial_window=timedelta(minutes=5))
    refused = [record(i, MONDAY_10_CST + timedelta(seconds=20 * i), user="(unauthenticated)", subject="",
                      decision="denied", reason="unknown_token", status=401) for i in range(5)]
    spread = [record(10 + i, MONDAY_10_CST + timedelta(minutes=30 * i), decision="denied", reason="no_rule",
                     status=403, subject="") for i in range(5)]
    report = dpo.report(rows(*refused, *spread), rules)
    assert kinds(report) == ["repeated_denials"]
    assert report["anomalies"][0]["user"] == "(unauthenticated)" and "令牌无效，请重新登录×5" in report["anomalies"][0]["detail"]
    assert report["summary"]["unauthenticated"] == 5


def test_select_by_subject_user_purpose_and_time() -> None:
    r = rows(record(1, MONDAY_10_CST, subject="P1"), record(2, MONDAY_10_CST + timedelta(hours=1), subject="P2",
                                                             user="j1", purpose="adjudication"))
    assert [x["seq"] for x in dpo.select(r, subject="P2")] == [2]
    assert [x["seq"] for x in dpo.select(r, user="m1")] == [1]
    assert [x["seq"] for x in dpo.select(r, purpose="adjudication")] == [2]
    assert [x["seq"] for x in dpo.select(r, since=MONDAY_10_CST + timedelta(minutes=1))] == [2]
    assert [x["seq"] for x in dpo.select(r, until=MONDAY_10_CST + timedelta(minutes=1))] == [1]
    by_subject = dpo.report(r)["by_subject"]
    assert {s["subject"]: s["users"] for s in by_subject} == {"P1": ["m1"], "P2": ["j1"]}


def test_csv_export_is_plain_and_formula_safe() -> None:
    report = dpo.report(rows(record(1, MONDAY_10_CST, user="=HYPERLINK(\"x\")", case_id="+1")))
    text = dpo.to_csv("accesses", report["accesses"])
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(dpo.CSV_COLUMNS["accesses"])
    row = dict(zip(parsed[0], parsed[1], strict=True))
    assert row["user"].startswith("'=") and row["case_id"] == "'+1" and row["break_glass"] == "0"
    for section in dpo.SECTIONS:
        assert dpo.to_csv(section, report[section]).splitlines()[0] == ",".join(dpo.CSV_COLUMNS[section])

"""Justice-bureau connector: five exports of the justice office systems, one row per step.

- mediation_cases.csv (人民调解): 受理 MediationCaseOpened · 结案 MediationConcluded
- community_corrections.csv (社区矫正): 接收 CommunityCorrectionStarted · 解除 CommunityCorrectionEnded
- legal_aid.csv (法律援助): 申请 LegalAidApplied · 指派/不予援助 LegalAidGranted
- released_prisoners.csv (安置帮教): one row per hand-over, ReleasedPrisonerReceived
- release_notices.csv (刑满释放人员通知书, the prisons' notices as the bureau receives them): one row per
  notice, ReleaseNoticeIssued, routed to the county its 接收地区划代码 names (the person's registered
  residence: another county's for a person sentenced here who lives there) and to its 接收司法所
The file is recognised by its key column, so renamed files still map.
"""

from __future__ import annotations

from typing import Any

from connectors.common import reference_to
from connectors.county import DIVISION_CODE, CountyConnector
from connectors.sdk import (
    MappedEvent,
    RecordError,
    SourceRecord,
    lookup,
    number,
    parse_datetime,
    parties,
    party,
    required,
    text,
)
from connectors.sdk.mapping import shape_of
from connectors.sdk.vocabulary import DISPUTE_TYPES, RELATIONSHIPS, RISK_LEVELS

LEVELS = {"村(社区)级": "village", "村级": "village", "社区级": "village", "乡镇(街道)级": "township",
          "乡镇级": "township", "县级": "county"}
SOURCES = {"群众申请": "walk_in", "公安移交": "police_referral", "法院委派": "court_referral",
           "网格排查": "grid_inspection", "下级调委会上报": "escalated_from_lower_level", "其他": "other"}
OUTCOMES = {"调解成功": "agreement", "调解不成": "failed", "上报": "escalated"}
MEDIATION_ROLES = {"申请人": "applicant", "被申请人": "respondent", "第三人": "third_party"}
MEDIATION_COLUMNS = {"name": "姓名", "id_number": "身份证号", "gender": "性别", "date_of_birth": "出生日期",
                     "phone": "联系电话", "address": "住址"}
CORRECTION_TYPES = {"缓刑": "probation", "假释": "parole", "暂予监外执行": "temporary_service_outside_prison",
                    "管制": "control"}
END_REASONS = {"期满解除": "completed", "撤销缓刑收监执行": "revoked", "撤销假释收监执行": "revoked",
               "收监执行": "revoked", "迁居外地": "transferred", "死亡": "death"}
SUBJECT_COLUMNS = {"name": "姓名", "id_number": "身份证号", "gender": "性别", "date_of_birth": "出生日期",
                   "phone": "联系电话", "address": "居住地址"}
AID_COLUMNS = {"name": "姓名", "id_number": "身份证号", "gender": "性别", "date_of_birth": "出生日期",
               "phone": "联系电话", "address": "住址"}
OPPONENT_COLUMNS = {"name": "名称", "kind": "类型", "id_number": "证件号码", "address": "住址",
                    "date_of_birth": None, "gender": None, "phone": None}


def _escalation_level(label: str | None) -> str | None:
    if not label:
        return None
    if "县" in label and ("专班" in label or "县级" in label):
        return "county"
    return "township" if ("镇" in label or "乡" in label or "街道" in label) else "county"


class JusticeConnector(CountyConnector):
    agency = "justice"

    def map(self, record: SourceRecord) -> list[MappedEvent]:
        row = record.data
        if "调解案件编号" in row:
            return self._mediation(row)
        if "矫正编号" in row:
            return self._correction(row)
        if "援助案件编号" in row:
            return self._legal_aid(row)
        if "衔接编号" in row:
            return self._release(row)
        if "通知书编号" in row:
            return self._notice(row)
        raise RecordError("", "unrecognised justice export: expected a 调解案件编号, 矫正编号, 援助案件编号, "
                              "衔接编号 or 通知书编号 column", rule="column.missing")

    def _mediation(self, row) -> list[MappedEvent]:
        case_number = required(row, "调解案件编号")
        step = required(row, "环节")
        when = parse_datetime(required(row, "环节日期"), "环节日期")
        people = parties(row, [f"当事人{i}" for i in range(1, 5)], "类别", MEDIATION_ROLES,
                         columns=MEDIATION_COLUMNS, default_role="mediation_party")
        committee = required(row, "调解组织")
        if step == "受理":
            source_id = text(row, "来源单号")
            event_type = "MediationCaseOpened"
            fields = {"mediation_case_number": case_number, "level": lookup(LEVELS, required(row, "调解组织层级"),
                                                                          "调解组织层级"),
                      "committee": committee, "source": lookup(SOURCES, text(row, "案件来源"), "案件来源",
                                                               default="other"),
                      "dispute_type": lookup(DISPUTE_TYPES, required(row, "纠纷类型"), "纠纷类型"),
                      "summary": text(row, "纠纷简要情况"), "parties": people,
                      "amount_yuan": number(text(row, "涉及金额"), "涉及金额") or None,
                      "relationship": (lookup(RELATIONSHIPS, text(row, "当事人关系"), "当事人关系")
                                       if text(row, "当事人关系") else None)}
            related = reference_to(source_id, "referred_from")
        elif step == "结案":
            event_type = "MediationConcluded"
            outcome = lookup(OUTCOMES, required(row, "调解结果"), "调解结果")
            fields = {"mediation_case_number": case_number, "outcome": outcome,
                      "escalated_to": _escalation_level(text(row, "上报至")) if outcome == "escalated" else None,
                      "agreement_summary": None, "parties": people}
            related = []
        else:
            raise RecordError("环节", f"the value ({shape_of(step)}) is not one of the known labels: 受理, 结案",
                              rule="value.unknown")
        county = self.county_code()
        return [MappedEvent(event_type, required(row, "记录ID"), when, fields, office_code=county,
                            office_name=committee, county_code=county, related=related)]

    def _correction(self, row) -> list[MappedEvent]:
        number = required(row, "矫正编号")
        step = required(row, "环节")
        when = parse_datetime(required(row, "环节日期"), "环节日期")
        subject = party(row, "矫正对象", "supervisee", columns=SUBJECT_COLUMNS)
        if subject is None:
            raise RecordError("矫正对象姓名", "is required", rule="value.required")
        office = required(row, "负责司法所")
        if step == "接收":
            judgment = text(row, "判决案号")
            end = text(row, "矫正期限止")
            fields = {"correction_number": number,
                      "correction_type": lookup(CORRECTION_TYPES, required(row, "矫正类别"), "矫正类别"),
                      "risk_level": lookup(RISK_LEVELS, required(row, "风险等级"), "风险等级"),
                      "judgment_case_number": judgment, "supervising_office": office,
                      "end_date": parse_datetime(end, "矫正期限止") if end else None,
                      "offence": text(row, "罪名"), "parties": [subject]}
            event_type, related = "CommunityCorrectionStarted", reference_to(judgment, "follows_judgment")
        elif step in ("解除", "终止"):
            fields = {"correction_number": number,
                      "reason": lookup(END_REASONS, text(row, "解除原因"), "解除原因", default="other"),
                      "parties": [subject]}
            event_type, related = "CommunityCorrectionEnded", []
        else:
            raise RecordError("环节", f"the value ({shape_of(step)}) is not one of the known labels: 接收, 解除, 终止",
                              rule="value.unknown")
        county = self.county_code(number)
        return [MappedEvent(event_type, required(row, "记录ID"), when, fields, office_code=county,
                            office_name=office, county_code=county, related=related)]

    def _legal_aid(self, row) -> list[MappedEvent]:
        number = required(row, "援助案件编号")
        step = required(row, "环节")
        when = parse_datetime(required(row, "环节日期"), "环节日期")
        applicant = party(row, "受援人", "aid_applicant", columns=AID_COLUMNS)
        if applicant is None:
            raise RecordError("受援人姓名", "is required", rule="value.required")
        people = [applicant]
        fields: dict[str, Any]
        if step == "申请":
            opponent = party(row, "对方当事人", "opposing_party", columns=OPPONENT_COLUMNS)
            if opponent is not None:
                people.append(opponent)
            fields = {"aid_number": number,
                      "matter_type": lookup(DISPUTE_TYPES, required(row, "纠纷类型"), "纠纷类型"),
                      "summary": text(row, "援助事项"), "parties": people}
            event_type = "LegalAidApplied"
        elif step in ("指派", "不予援助"):
            fields = {"aid_number": number, "granted": step == "指派", "law_firm": text(row, "承办机构") or "",
                      "parties": people}
            event_type = "LegalAidGranted"
        else:
            raise RecordError("环节", f"the value ({shape_of(step)}) is not one of the known labels: 申请, 指派, "
                              "不予援助", rule="value.unknown")
        county = self.county_code()
        return [MappedEvent(event_type, required(row, "记录ID"), when, fields, office_code=county,
                            office_name=self.justice_bureau, county_code=county)]

    def _notice(self, row) -> list[MappedEvent]:
        number = required(row, "通知书编号")
        when = parse_datetime(required(row, "释放日期"), "释放日期")
        county = required(row, "接收地区划代码")
        if not DIVISION_CODE.fullmatch(county):
            raise RecordError("接收地区划代码", "is not a 6-digit county division code", rule="division_code.format")
        person = party(row, "", "released_person", columns=SUBJECT_COLUMNS)
        if person is None:
            raise RecordError("姓名", "is required", rule="value.required")
        fields = {"notice_number": number, "prison_name": required(row, "原服刑单位"), "released_at": when,
                  "parties": [person]}
        return [MappedEvent("ReleaseNoticeIssued", number, when, fields, office_code=county,
                            office_name=required(row, "接收司法所"), county_code=county,
                            related=reference_to(text(row, "原判案号"), "follows_judgment"))]

    def _release(self, row) -> list[MappedEvent]:
        number = required(row, "衔接编号")
        when = parse_datetime(required(row, "接收日期"), "接收日期")
        person = party(row, "", "released_person", columns=SUBJECT_COLUMNS)
        if person is None:
            raise RecordError("姓名", "is required", rule="value.required")
        fields = {"handover_number": number, "prison_name": required(row, "原服刑单位"),
                  "released_at": parse_datetime(required(row, "刑满释放日期"), "刑满释放日期"),
                  "received_in_person": text(row, "衔接方式") == "必接必送", "risk_level": None,
                  "parties": [person]}
        county = self.county_code(number)
        return [MappedEvent("ReleasedPrisonerReceived", number, when, fields, office_code=county,
                            office_name=text(row, "接收司法所") or self.justice_bureau, county_code=county,
                            related=reference_to(text(row, "原判案号"), "follows_judgment"))]

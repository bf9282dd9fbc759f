"""Court connector: the case-process export (案件流程节点), one row per procedural step.

See connectors/synthetic/EXPORT_FORMATS.md for the columns. Each step becomes one event:
立案 CaseFiled · 送达 DocumentsServed · 开庭 HearingHeld · 结案 JudgmentIssued ·
执行 EnforcementUpdated · 司法确认 MediationAgreementConfirmed · 保护令 ProtectionOrderIssued.
"""

from __future__ import annotations

from connectors.common import add_months, int_or_zero, reference_to
from connectors.county import CountyConnector
from connectors.sdk import (
    MappedEvent,
    RecordError,
    SourceRecord,
    lookup,
    number,
    parse_datetime,
    parties,
    required,
    text,
)
from connectors.sdk.vocabulary import dispute_type_of_cause

STEPS = {"立案": "CaseFiled", "送达": "DocumentsServed", "开庭": "HearingHeld", "结案": "JudgmentIssued",
         "执行": "EnforcementUpdated", "司法确认": "MediationAgreementConfirmed", "保护令": "ProtectionOrderIssued"}
CASE_TYPES = {"民事": "civil", "刑事": "criminal", "行政": "administrative", "执行": "enforcement",
              "人身安全保护令": "civil", "民事特别程序": "civil", "其他": "other"}
ROLES = {"原告": "plaintiff", "被告": "defendant", "第三人": "third_party", "被告人": "offender",
         "被害人": "victim", "申请执行人": "applicant", "被执行人": "respondent", "申请人": "applicant",
         "被申请人": "respondent", "上诉人": "applicant", "被上诉人": "respondent"}
SERVICE = {"直接送达": "direct", "电子送达": "electronic", "邮寄送达": "postal", "公告送达": "public_notice",
           "留置送达": "other", "委托送达": "other"}
# 主刑 -> the sentence's kind ('<kind>:<months>'; a suspended sentence is probation:<考验期 months>)
PRINCIPAL_PENALTIES = {"有期徒刑": "imprisonment", "拘役": "imprisonment", "管制": "control", "罚金": "fine",
                       "免予刑事处罚": "exempted"}
SENTENCE_KINDS = {*PRINCIPAL_PENALTIES.values(), "probation"}
DECISIONS = {"判决": "judgment", "裁定": "ruling", "调解": "mediation_settlement"}
OUTCOMES = {"支持诉讼请求": "claim_upheld", "部分支持诉讼请求": "claim_partly_upheld", "驳回诉讼请求": "claim_dismissed",
            "调解结案": "settled", "有罪": "convicted", "无罪": "acquitted", "准予撤诉": "withdrawn",
            "准予离婚": "divorce_granted", "不准离婚": "divorce_refused"}
ENFORCEMENT = {"执行中": "started", "立案执行": "started", "部分执行": "partially_executed",
               "执行完毕": "executed", "终结本次执行程序": "terminated", "终结执行": "terminated",
               "中止执行": "suspended"}
PARTY_COLUMNS = {"name": "名称", "kind": "类型", "id_number": "证件号码", "gender": "性别",
                 "date_of_birth": "出生日期", "phone": "联系电话", "address": "住址"}
PREFIXES = [f"当事人{i}" for i in range(1, 5)]


class CourtConnector(CountyConnector):
    agency = "court"
    non_personal_columns = frozenset({"节点名称"})   # the procedural step (立案, 送达, ...)

    def map(self, record: SourceRecord) -> list[MappedEvent]:
        row = record.data
        step = lookup(STEPS, required(row, "节点名称"), "节点名称")
        case_number = required(row, "案号")
        when = parse_datetime(required(row, "节点日期"), "节点日期")
        people = parties(row, PREFIXES, "诉讼地位", ROLES, columns=PARTY_COLUMNS)
        if not people:
            raise RecordError("当事人1名称", "a court record needs at least one party", rule="party.incomplete")
        fields: dict = {"case_number": case_number, "parties": people}
        related: list[dict[str, str]] = []
        linked = text(row, "关联案号")
        if step == "CaseFiled":
            cause = text(row, "案由")
            fields |= {"case_type": lookup(CASE_TYPES, required(row, "案件类型"), "案件类型"),
                       "cause_of_action": dispute_type_of_cause(cause), "cause_detail": cause or "",
                       "tribunal": text(row, "承办部门") or "",
                       "amount_yuan": number(text(row, "诉讼标的额"), "诉讼标的额")}
            related = reference_to(linked, "follows")
        elif step == "DocumentsServed":
            fields |= {"document_type": "诉讼文书",
                       "service_method": lookup(SERVICE, text(row, "送达方式"), "送达方式", default="other")}
        elif step == "HearingHeld":
            fields |= {"hearing_kind": "first_instance"}
        elif step == "JudgmentIssued":
            fields |= {"decision_kind": lookup(DECISIONS, required(row, "结案方式"), "结案方式"),
                       "outcome": OUTCOMES.get(text(row, "裁判结果") or "", text(row, "裁判结果") or "unspecified"),
                       "sentence": self._sentence(row)}
        elif step == "EnforcementUpdated":
            fields |= {"original_case_number": linked or "",
                       "status": lookup(ENFORCEMENT, required(row, "执行状态"), "执行状态"),
                       "amount_yuan": number(text(row, "执行到位金额") or text(row, "诉讼标的额"), "执行到位金额")}
            related = reference_to(linked, "enforces")
        elif step == "MediationAgreementConfirmed":
            if not linked:
                raise RecordError("关联案号", "a judicial confirmation must name the mediation case it confirms",
                                  rule="reference.missing")
            fields |= {"mediation_case_number": linked, "confirmed": text(row, "裁判结果") != "驳回申请"}
            related = reference_to(linked, "confirms")
        elif step == "ProtectionOrderIssued":
            months = int_or_zero(text(row, "保护令有效期月数"), "保护令有效期月数") or 6
            fields |= {"valid_from": when, "valid_until": add_months(when, months), "measures": []}
            related = reference_to(linked, "follows")
        county = self.county_code(case_number)
        return [MappedEvent(step, required(row, "流程节点ID"), when, fields, office_code=county,
                            office_name=self.court_name, county_code=county, related=related)]

    @staticmethod
    def _sentence(row) -> str | None:
        principal = text(row, "主刑")
        if not principal:
            return None
        probation = int_or_zero(text(row, "缓刑考验期月数"), "缓刑考验期月数")
        months = int_or_zero(text(row, "刑期月数"), "刑期月数")
        if probation:
            return f"probation:{probation}"
        kind = PRINCIPAL_PENALTIES.get(principal, "imprisonment")
        return f"{kind}:{months}"

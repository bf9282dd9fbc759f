"""Police connector: the incident-handling export (警情处警记录), one row per step.

接警登记 IncidentReported · 出具家庭暴力告诫书 DomesticViolenceWarningIssued ·
移交人民调解 DisputeReferredToMediation. Police records often lack ID numbers and give an
age instead of a birth date (age is not carried: the hub does not need it).
"""

from __future__ import annotations

from connectors.county import CountyConnector
from connectors.sdk import (
    MappedEvent,
    RecordError,
    SourceRecord,
    lookup,
    parse_datetime,
    parties,
    required,
    text,
)
from connectors.sdk.vocabulary import DISPUTE_TYPES

STEPS = {"接警登记": "IncidentReported", "出具家庭暴力告诫书": "DomesticViolenceWarningIssued",
         "移交人民调解": "DisputeReferredToMediation"}
CATEGORIES = {"家庭纠纷": "domestic_dispute", "邻里纠纷": "neighbour_dispute", "打架斗殴": "fight", "诈骗": "fraud",
              "家庭暴力": "domestic_violence", "讨薪": "wage_arrears", "交通事故": "traffic", "盗窃": "theft",
              "其他": "other"}
ROLES = {"报警人": "reporter", "嫌疑人": "suspect", "当事人": "involved", "加害人": "offender",
         "受害人": "victim", "被害人": "victim", "证人": "other"}
PARTY_COLUMNS = {"name": "姓名", "id_number": "证件号码", "gender": "性别", "phone": "联系电话",
                 "address": "现住址", "date_of_birth": None}
PREFIXES = [f"涉案人员{i}" for i in range(1, 5)]


class PoliceConnector(CountyConnector):
    agency = "police"

    def map(self, record: SourceRecord) -> list[MappedEvent]:
        row = record.data
        step = lookup(STEPS, required(row, "环节"), "环节")
        incident = required(row, "警情编号")
        when = parse_datetime(required(row, "环节时间"), "环节时间")
        people = parties(row, PREFIXES, "身份", ROLES, columns=PARTY_COLUMNS, default_role="involved")
        station = text(row, "管辖单位") or ""
        dispute_label = text(row, "纠纷类型")
        dispute_type = lookup(DISPUTE_TYPES, dispute_label, "纠纷类型") if dispute_label else None
        related = [{"agency": "police", "record_type": "incident", "record_id": incident,
                    "relation": "refers_to_incident"}] if step != "IncidentReported" else []
        if step == "IncidentReported":
            fields = {"incident_number": incident,
                      "category": lookup(CATEGORIES, required(row, "警情类别"), "警情类别"),
                      "dispute_type": dispute_type, "location": text(row, "发生地点"),
                      "summary": text(row, "简要案情"), "parties": people}
        elif step == "DomesticViolenceWarningIssued":
            fields = {"warning_number": required(row, "告诫书文号"), "incident_number": incident, "parties": people}
        else:
            if dispute_type is None:
                raise RecordError("纠纷类型", "a referral to mediation needs the dispute type", rule="value.required")
            fields = {"referral_number": required(row, "移交单号"), "incident_number": incident,
                      "target_committee": required(row, "移交调解组织"), "dispute_type": dispute_type,
                      "parties": people}
        return [MappedEvent(step, required(row, "处警记录号"), when, fields, office_code=incident[1:13],
                            office_name=station, county_code=self.county_code(incident), related=related)]

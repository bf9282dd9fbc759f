"""Civil-affairs connector: the marriage registry export (婚姻登记业务), GB18030, one row
per registration: 结婚登记 MarriageRegistered · 离婚登记 DivorceRegistered."""

from __future__ import annotations

from typing import Any

from connectors.county import CountyConnector
from connectors.sdk import (
    MappedEvent,
    RecordError,
    SourceRecord,
    lookup,
    parse_datetime,
    party,
    required,
    text,
)

KINDS = {"结婚登记": "MarriageRegistered", "离婚登记": "DivorceRegistered"}
SPOUSE_COLUMNS = {"name": "姓名", "id_type": "证件类型", "id_number": "证件号码", "date_of_birth": "出生日期",
                  "phone": "联系电话", "address": "户籍地址", "gender": None}


class CivilAffairsConnector(CountyConnector):
    agency = "civil_affairs"

    def map(self, record: SourceRecord) -> list[MappedEvent]:
        row = record.data
        kind = lookup(KINDS, required(row, "登记类型"), "登记类型")
        when = parse_datetime(required(row, "登记日期"), "登记日期")
        husband = party(row, "男方", "husband", columns=SPOUSE_COLUMNS, gender="male")
        wife = party(row, "女方", "wife", columns=SPOUSE_COLUMNS, gender="female")
        if husband is None or wife is None:
            raise RecordError("男方姓名" if husband is None else "女方姓名", "a registration needs both spouses",
                              rule="party.incomplete")
        fields: dict[str, Any] = {"registration_number": required(row, "证字号"), "parties": [husband, wife]}
        if kind == "DivorceRegistered":
            applied = text(row, "离婚申请日期")
            fields["applied_at"] = parse_datetime(applied, "离婚申请日期") if applied else None
        number = required(row, "业务编号")
        county = self.county_code(number)
        return [MappedEvent(kind, number, when, fields, office_code=county,
                            office_name=text(row, "登记机关") or "", county_code=county)]

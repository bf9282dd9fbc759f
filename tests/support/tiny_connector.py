"""A connector declared in a few lines (one police CSV), for tests of the SDK and of the faults
around it: its header, a valid synthetic ID number and a row builder."""

from __future__ import annotations

from connectors.sdk import Connector, MappedEvent, SourceRecord, lookup, parse_datetime, party, required

CATEGORIES = {"邻里纠纷": "neighbour_dispute", "打架斗殴": "fight", "家庭暴力": "domestic_violence"}
HEADER = "警情编号,接警时间,警情类别,当事人1姓名,当事人1证件号码,当事人1性别,当事人1联系电话\n"
GOOD_ID = "110105199003071239"   # valid check digit (synthetic)


class TinyPoliceConnector(Connector):
    agency = "police"

    def map(self, record: SourceRecord) -> list[MappedEvent]:
        row = record.data
        number = required(row, "警情编号")
        p = party(row, "当事人1", "reporter")
        return [MappedEvent(
            "IncidentReported", number, parse_datetime(required(row, "接警时间"), "接警时间"),
            {"incident_number": number, "category": lookup(CATEGORIES, row["警情类别"], "警情类别"),
             "parties": [p] if p else []},
            office_code="P110105")]


def good_row(i: int, name: str = "王小明") -> str:
    return f"JQ{i:05d},2025-03-0{1 + i % 9} 08:30,邻里纠纷,{name},{GOOD_ID},男,13800138000\n"

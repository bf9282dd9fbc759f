"""Records (a case, an incident, a registration) and the events (procedural steps) on them.

A record gets its agency id (案号, 警情编号, ...) only when its first event is written, so ids
follow the order in which the export is written and need no global registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.synthetic.people import Org, Person

Entity = Person | Org

# record kind -> agency
AGENCY_OF_KIND: dict[str, str] = {
    "civil": "court", "criminal": "court", "admin": "court", "enforcement": "court",
    "confirmation": "court", "protection": "court",
    "incident": "police",
    "marriage": "civil_affairs", "divorce": "civil_affairs",
    "mediation": "justice", "correction": "justice", "legal_aid": "justice", "release": "justice", "notice": "justice",
}

DISPUTE_LABELS: dict[str, str] = {
    "marriage_family": "婚姻家庭", "neighbour": "邻里", "land_homestead": "土地承包/宅基地",
    "labour_wages": "劳动争议/欠薪", "private_lending": "民间借贷/债务", "traffic_accident": "交通事故",
    "property_management": "物业", "online_shopping": "网络购物/消费", "medical": "医疗",
    "damages": "损害赔偿", "land_requisition": "征地拆迁", "other": "其他",
}

EVENT_TYPES: tuple[str, ...] = (
    "CaseFiled", "DocumentsServed", "HearingHeld", "JudgmentIssued", "EnforcementUpdated",
    "MediationAgreementConfirmed", "ProtectionOrderIssued",
    "IncidentReported", "DomesticViolenceWarningIssued", "DisputeReferredToMediation",
    "MarriageRegistered", "DivorceRegistered",
    "MediationCaseOpened", "MediationConcluded", "CommunityCorrectionStarted", "CommunityCorrectionEnded",
    "LegalAidApplied", "LegalAidGranted", "ReleaseNoticeIssued", "ReleasedPrisonerReceived",
)


@dataclass(slots=True, eq=False)
class Rec:
    kind: str
    parties: list[tuple[Entity, str]]  # (who, role label as the agency writes it)
    dispute_id: str  # "" when the record belongs to no dispute (registrations, hand-overs)
    dispute_type: str
    attrs: dict[str, Any]
    ref: Rec | None = None  # an earlier record this one names by its own id (来源单号, 执行依据, ...)
    id: str = ""
    steps_written: int = 0
    rendered_parties: list[dict[str, str]] | None = None  # parties as typed once per record
    county: int = 0  # index of the county whose agency keeps the record (whose export it is in)

    @property
    def agency(self) -> str:
        return AGENCY_OF_KIND[self.kind]


@dataclass(slots=True)
class Ev:
    when: datetime
    order: tuple[int, int, int]  # (protagonist index, story number, step number): ties and determinism
    rec: Rec
    step: str
    event_type: str
    data: dict[str, Any] = field(default_factory=dict)

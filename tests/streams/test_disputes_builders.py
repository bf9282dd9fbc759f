"""Builders of agency events in the decoded-Avro shape, validated against the contracts, for the
dispute tests. Parties carry made-up names; their protection is irrelevant to threading."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.sdk.mapping import event_id_for
from schemas import models
from streams.processor import Event

T0 = datetime(2023, 3, 1, 9, 0, tzinfo=UTC)

AGENCY_OF: dict[str, str] = {
    "IncidentReported": "police", "DomesticViolenceWarningIssued": "police", "DisputeReferredToMediation": "police",
    "MediationCaseOpened": "justice", "MediationConcluded": "justice", "LegalAidApplied": "justice",
    "LegalAidGranted": "justice", "CommunityCorrectionStarted": "justice", "CommunityCorrectionEnded": "justice",
    "ReleasedPrisonerReceived": "justice", "ReleaseNoticeIssued": "justice", "MarriageRegistered": "civil_affairs", "DivorceRegistered": "civil_affairs",
}

DEFAULTS: dict[str, dict[str, Any]] = {
    "IncidentReported": {"category": "neighbour_dispute", "dispute_type": "neighbour"},
    "DomesticViolenceWarningIssued": {},
    "DisputeReferredToMediation": {"target_committee": "committee", "dispute_type": "neighbour"},
    "MediationCaseOpened": {"level": "village", "committee": "committee", "source": "walk_in",
                            "dispute_type": "neighbour"},
    "MediationConcluded": {"outcome": "failed"},
    "CaseFiled": {"case_type": "civil", "cause_of_action": "neighbour", "cause_detail": "相邻关系纠纷",
                  "tribunal": "tribunal"},
    "DocumentsServed": {"document_type": "传票", "service_method": "direct"},
    "HearingHeld": {"hearing_kind": "first_instance"},
    "JudgmentIssued": {"decision_kind": "judgment", "outcome": "claim_upheld"},
    "MediationAgreementConfirmed": {"confirmed": True},
    "EnforcementUpdated": {"status": "started"},
    "ProtectionOrderIssued": {"valid_from": T0, "valid_until": T0 + timedelta(days=180)},
    "LegalAidApplied": {"matter_type": "labour_wages"},
    "LegalAidGranted": {"granted": True, "law_firm": "centre"},
    "CommunityCorrectionStarted": {"correction_type": "probation", "risk_level": "yellow",
                                   "supervising_office": "office"},
    "CommunityCorrectionEnded": {"reason": "completed"},
    "ReleasedPrisonerReceived": {"prison_name": "prison", "released_at": T0, "received_in_person": True},
    "ReleaseNoticeIssued": {"prison_name": "prison", "released_at": T0},
    "MarriageRegistered": {},
    "DivorceRegistered": {},
}


def party(i: int) -> dict[str, Any]:
    return {"role": "involved", "name": f"party-{i}"}


def make(event_type: str, key: str, day: float, n_parties: int = 2, related: list[dict[str, str]] | None = None,
         **fields: Any) -> Event:
    """An event `day` days after T0 whose agency record key is `key`."""
    agency = AGENCY_OF.get(event_type, "court")
    at = T0 + timedelta(days=day)
    envelope = {
        "event_id": event_id_for(agency, key, 1), "event_type": event_type,
        "source": {"agency": agency, "office_code": "X01"}, "source_record_key": key,
        "occurred_at": at, "recorded_at": at, "related": related or [],
    }
    record = {**DEFAULTS[event_type], **fields, "envelope": envelope,
              "parties": [party(i) for i in range(n_parties)]}
    return Event(event_type, models.validate(event_type, record))


def ref(agency: str, record_type: str, record_id: str, relation: str = "refers_to") -> dict[str, str]:
    return {"agency": agency, "record_type": record_type, "record_id": record_id, "relation": relation}


def test_builders_make_valid_events_of_every_type() -> None:
    numbers = {"incident_number": "J1", "warning_number": "W1", "referral_number": "R1",
               "mediation_case_number": "M1", "case_number": "C1", "original_case_number": "C0",
               "aid_number": "A1", "correction_number": "K1", "handover_number": "H1", "notice_number": "N1",
               "registration_number": "G1"}
    for event_type in DEFAULTS:
        schema_fields = models.get(event_type).model_fields
        fields = {k: v for k, v in numbers.items() if k in schema_fields}
        event = make(event_type, f"{event_type}-1", 0, **fields)
        assert event.record["envelope"]["event_type"] == event_type

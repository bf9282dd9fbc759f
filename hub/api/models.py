"""Request and response shapes of the query API (they document /docs; the access layer builds the
same dicts for the CLI)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SearchRequest(BaseModel):
    """Exactly one of: a resident ID number, a phone number, or a name with a date of birth.
    Blind-indexed on arrival; the value is never stored, logged or echoed."""

    model_config = ConfigDict(extra="forbid")
    id_number: str | None = Field(None, max_length=40, description="Resident ID number (18 or 15 characters).")
    phone: str | None = Field(None, max_length=40, description="Mobile or landline number.")
    name: str | None = Field(None, max_length=60, description="Full name; needs date_of_birth.")
    date_of_birth: str | None = Field(None, max_length=20, description="YYYY-MM-DD.")


class ConsentRequest(BaseModel):
    """A data subject's consent, as the case worker (at intake) or the DPO records it."""

    model_config = ConfigDict(extra="forbid")
    field_classes: list[str] = Field(min_length=1, max_length=4, description="The scope: field classes the "
                                     "subject agrees to show, among those the purpose offers (identifier, ...).")
    valid_until: datetime | None = Field(None, description="Expiry; without an offset, in the agencies' zone.")
    purpose: str | None = Field(None, max_length=64, description="For the DPO: the purpose the consent is for "
                                "(a case worker's consent is for their own purpose).")
    grantee_role: str | None = Field(None, max_length=64, description="For the DPO, when several roles share "
                                     "the purpose: the role the consent is given to.")


class ErasureRequest(BaseModel):
    """A DPO's erasure of a person: why, and the request, complaint or audit case it answers."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(..., max_length=40, description="subject_request, consent_withdrawn, unlawful_processing, "
                                                        "retention_expired or court_order.")
    request: str = Field(..., max_length=120, description="request:<ref>, complaint:<ref> or audit:<ref>.")


class ErrorDetail(BaseModel):
    status: int
    reason: str = Field(description="Machine code: invalid_case_id, invalid_role, ..., unknown_token, "
                                    "expired_token, unknown_role, role_not_held, no_rule, no_case, case_closed, "
                                    "not_party, no_consent, ...")
    rule: str = Field("", description="The rule that decided; for a 400, what is wrong with the value: "
                                      "undecodable, bad_character, too_long.")
    audit_seq: int | None = Field(None, description="Sequence number of the audit record of this refusal.")
    valid: list[str] | None = Field(None, description="For an unknown role or purpose: the valid ones.")


class ErrorBody(BaseModel):
    error: ErrorDetail


class AccessInfo(BaseModel):
    rule: str
    legal_basis: str
    reason: str
    event_types: list[str]
    field_classes: list[str]
    refused_event_types: list[str]
    break_glass: bool
    consent_id: str | None = None


class PersonCard(BaseModel):
    person_id: str
    matched_by: str | None
    events: int
    agencies: list[str]
    first_at: str | None
    last_at: str | None
    first_local: str | None = Field(None, description="The same time in the agencies' zone (settings.timezone), `YYYY-MM-DD HH:MM`: what to show people.")
    last_local: str | None = None
    party: dict[str, Any] | None = Field(description="The person as recorded in the newest visible record; "
                                                     "fields outside the caller's classes are masked.")
    access: AccessInfo


class FindResponse(BaseModel):
    matched_by: str
    results: list[PersonCard]
    problem: str | None = Field(None, description="e.g. id_number_invalid (checksum), phone_invalid")


class MaskedField(BaseModel):
    field: str
    field_class: str = Field(alias="class")
    reason: str = Field(description="needs_consent | not_for_purpose | erased")


class TimelineEntry(BaseModel):
    event_id: str
    event_type: str
    agency: str
    office_code: str
    office_name: str
    stage: str | None
    occurred_at: str | None = Field(description="UTC, ISO 8601.")
    occurred_local: str | None = Field(None, description="The same time in the agencies' zone (settings.timezone), `YYYY-MM-DD HH:MM`: what to show people.")
    dispute_id: str | None
    role: str
    party_index: int
    case_ref: str | None
    fields: dict[str, Any]
    masked: list[MaskedField]


class HistoryResponse(BaseModel):
    person_id: str
    ids: list[str] = Field(description="The live id and the retired ids merged into it.")
    total: int
    limit: int
    offset: int
    hidden_restricted: int = Field(description="Records on this page withheld by a restriction (sealed, covert).")
    entries: list[TimelineEntry]
    access: AccessInfo


class ThreadEvent(BaseModel):
    event_id: str
    event_type: str
    agency: str
    stage: str
    occurred_at: str | None
    occurred_local: str | None = Field(None, description="The same time in the agencies' zone (settings.timezone), `YYYY-MM-DD HH:MM`: what to show people.")


class Thread(BaseModel):
    dispute_id: str
    events: list[ThreadEvent]
    agencies: list[str]
    stages: list[str]
    first_at: str | None
    last_at: str | None
    first_local: str | None = None
    last_local: str | None = None


class DisputesResponse(BaseModel):
    person_id: str
    disputes: list[Thread]
    access: AccessInfo


class Alert(BaseModel):
    alert_id: str
    person_id: str
    dispute_id: str | None
    rule: str
    level: str = Field(description="red | yellow | blue")
    role: str
    status: str
    raised_at: str | None
    updated_at: str | None
    raised_local: str | None = Field(None, description="The same time in the agencies' zone (settings.timezone), `YYYY-MM-DD HH:MM`: what to show people.")
    evidence_count: int


class AlertsResponse(BaseModel):
    person_id: str
    alerts: list[Alert]
    access: AccessInfo


class CaseAlertsResponse(BaseModel):
    case_id: str
    alerts: list[Alert]


class CaseResponse(BaseModel):
    case_id: str
    kind: str
    open: bool
    office: str
    office_name: str = ""
    opened_at: str | None
    closed_at: str | None
    opened_local: str | None = Field(None, description="The same time in the agencies' zone (settings.timezone), `YYYY-MM-DD HH:MM`: what to show people.")
    closed_local: str | None = None
    parties: list[PersonCard]
    needs_consent: list[str] = Field(default_factory=list, description="Parties of the case the caller may see "
                                     "only with their consent (a legal-aid applicant): their ids, to record "
                                     "the consent taken at intake; nothing else.")

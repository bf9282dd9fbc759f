"""The Avro contracts: they parse, are documented and tagged, round-trip through the
wire format, and `justlink schemas check` rejects incompatible or untagged changes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli.main import cli
from schemas import loader, models
from schemas.check import check, register_all
from schemas.pii import pii_fields
from schemas.registry import LocalSchemaRegistry
from schemas.wire import AvroCodec, WireFormatError

EXPECTED_EVENT_TYPES = {
    "court": {"CaseFiled", "DocumentsServed", "HearingHeld", "JudgmentIssued", "EnforcementUpdated",
              "MediationAgreementConfirmed", "ProtectionOrderIssued"},
    "police": {"IncidentReported", "DomesticViolenceWarningIssued", "DisputeReferredToMediation"},
    "civil_affairs": {"MarriageRegistered", "DivorceRegistered"},
    "justice": {"MediationCaseOpened", "MediationConcluded", "CommunityCorrectionStarted",
                "CommunityCorrectionEnded", "LegalAidApplied", "LegalAidGranted", "ReleaseNoticeIssued",
                "ReleasedPrisonerReceived"},
    "hub": {"PersonLinked", "PersonsMerged", "PersonSplit", "DisputeThreaded", "AlertRaised",
            "AlertAcknowledged", "AlertResolved", "AccessAudited", "AuditHeadSigned", "PersonErased",
            "ConsentGranted", "ConsentWithdrawn", "EventResolved", "PartyOccurrence", "PartyResolved",
            "IdentityReviewDecided", "ClockTicked"},
}


def incident() -> dict:
    return {
        "envelope": {"event_id": "ev-1", "event_type": "IncidentReported",
                     "source": {"agency": "police", "office_code": "P330102"},
                     "source_record_key": "JQ2025-0001",
                     "occurred_at": datetime(2025, 3, 1, 8, 30, tzinfo=UTC),
                     "recorded_at": datetime(2025, 3, 1, 9, 0, tzinfo=UTC)},
        "incident_number": "JQ2025-0001", "category": "neighbour_dispute", "dispute_type": "neighbour",
        "location": "tok:loc", "summary": None,
        "parties": [{"role": "reporter", "name": "tok:name", "gender": "female"}],
    }


def test_every_agency_has_its_event_types():
    for agency, expected in EXPECTED_EVENT_TYPES.items():
        assert set(loader.event_types(agency)) == expected, agency


def test_personal_fields_are_tagged():
    party_tags = {f.path: f.pii_class for f in pii_fields(loader.get("CaseFiled").expanded)}
    assert party_tags["parties[].name"] == "identifier"
    assert party_tags["parties[].id_number"] == "identifier"
    assert party_tags["parties[].phone"] == "contact"
    assert party_tags["parties[].address"] == "contact"
    assert party_tags["claim_summary"] == "sensitive"


def test_committed_schemas_pass_the_check():
    assert [str(p) for p in check()] == []
    result = CliRunner().invoke(cli, ["schemas", "check"])
    assert result.exit_code == 0, result.output


def test_wire_round_trip_uses_confluent_framing():
    codec = AvroCodec()
    record = models.validate("IncidentReported", incident())
    data = codec.encode("IncidentReported", record)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == codec.writer("IncidentReported")[0]
    event_type, decoded = codec.decode(data)
    assert event_type == "IncidentReported"
    assert decoded["parties"][0]["gender"] == "female"
    assert decoded["envelope"]["occurred_at"] == datetime(2025, 3, 1, 8, 30, tzinfo=UTC)
    with pytest.raises(WireFormatError):
        codec.decode(b"\x01abc")


def test_model_validation_names_the_field():
    bad = incident()
    bad["category"] = "bogus"
    with pytest.raises(Exception) as info:
        models.validate("IncidentReported", bad)
    assert "category" in str(info.value)


@pytest.fixture
def schema_copy(tmp_path: Path) -> tuple[Path, LocalSchemaRegistry]:
    schema_dir = tmp_path / "avro"
    shutil.copytree(loader.SCHEMA_DIR, schema_dir)
    registry_file = tmp_path / "registry.json"
    shutil.copy(Path(loader.__file__).parent / "registry.json", registry_file)
    return schema_dir, LocalSchemaRegistry(registry_file)


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_check_rejects_a_new_field_without_default(schema_copy):
    schema_dir, registry = schema_copy
    path = schema_dir / "police" / "IncidentReported.avsc"
    _edit(path, lambda d: d["fields"].append({"name": "priority", "type": "int", "doc": "Priority."}))
    problems = check(schema_dir, registry)
    assert any(p.file == str(path) and p.field == "priority" and "without a default" in p.message
               for p in problems), problems


def test_check_rejects_a_type_change(schema_copy):
    schema_dir, registry = schema_copy
    path = schema_dir / "court" / "EnforcementUpdated.avsc"

    def to_string(d):
        for f in d["fields"]:
            if f["name"] == "amount_yuan":
                f["type"] = ["null", "boolean"]
    _edit(path, to_string)
    problems = check(schema_dir, registry)
    assert any(p.field == "amount_yuan" and "incompatible" in p.message for p in problems), problems


def test_check_rejects_a_personal_field_without_pii_tag(schema_copy):
    schema_dir, registry = schema_copy
    path = schema_dir / "civil_affairs" / "MarriageRegistered.avsc"
    _edit(path, lambda d: d["fields"].append(
        {"name": "address", "type": ["null", "string"], "default": None, "doc": "Registered address."}))
    problems = check(schema_dir, registry)
    assert any(p.field == "address" and "no pii tag" in p.message for p in problems), problems


def test_compatible_change_registers_a_new_version(schema_copy):
    schema_dir, registry = schema_copy
    path = schema_dir / "police" / "IncidentReported.avsc"
    _edit(path, lambda d: d["fields"].append(
        {"name": "priority", "type": "int", "default": 0, "doc": "Priority."}))
    assert any("not registered" in p.message for p in check(schema_dir, registry))
    before = registry.latest("org.justlink.events.IncidentReported")
    added = register_all(schema_dir, registry)
    assert [r.subject.rsplit(".", 1)[-1] for r in added] == ["IncidentReported"]
    assert added[0].version == before.version + 1
    assert check(schema_dir, LocalSchemaRegistry(registry.path)) == []


def test_schema_ids_are_unique_across_subjects():
    """Two helpers registering at once once gave two versions the same id: an id must name one schema."""
    import json

    from schemas.registry import REGISTRY_FILE

    subjects = json.loads(REGISTRY_FILE.read_text(encoding="utf-8"))["subjects"]
    ids = [version["id"] for versions in subjects.values() for version in versions]
    assert len(ids) == len(set(ids)), sorted(i for i in set(ids) if ids.count(i) > 1)

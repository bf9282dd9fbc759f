"""The threading rules (stages, numbers, types) and the quality on a generated county."""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_disputes
from connectors.synthetic.generator import generate
from runtime.clock import to_millis
from schemas import loader
from streams.disputes import rules
from streams.envelope import hub_envelope
from tests.streams.test_disputes_builders import T0, make, ref


def test_every_agency_event_type_has_a_rule_and_a_valid_stage() -> None:
    stages = set(loader.get("DisputeThreaded").expanded["fields"][3]["type"]["symbols"])
    agency_types = [name for name, schema in loader.load_all().items()
                    if schema.expanded.get("agency") in ("court", "police", "civil_affairs", "justice")]
    assert agency_types
    for name in agency_types:
        assert name in rules.RULES, name
        assert rules.RULES[name].stage in stages


def test_numbers_are_normalised_and_references_collected() -> None:
    event = make("MediationAgreementConfirmed", "K1", 0, case_number="（2025）豫1730民特 3号",
                 mediation_case_number="（2025）李店调字第4号",
                 related=[ref("justice", "mediation_case", "(2025)李店调字第4号", "confirms")])
    own, refs = rules.event_keys(event.event_type, event.record)
    assert own == ["court:(2025)豫1730民特3号"]
    assert refs == ["justice:(2025)李店调字第4号"]   # the field and the related ref are one key


def test_stage_and_type_of_events() -> None:
    enforcement = make("CaseFiled", "E1", 0, case_number="E1", case_type="enforcement")
    assert rules.stage_of("CaseFiled", enforcement.record) == "enforcement"
    call = make("IncidentReported", "J1", 0, incident_number="J1", category="domestic_violence", dispute_type=None)
    assert rules.dispute_type_of("IncidentReported", call.record) == "marriage_family"
    served = make("DocumentsServed", "C1", 0, case_number="C1")
    assert rules.dispute_type_of("DocumentsServed", served.record) is None


def test_type_compatibility() -> None:
    assert rules.compatible("neighbour", "land_homestead")
    assert not rules.compatible("neighbour", "private_lending")
    assert rules.compatible(None, "medical")
    assert not rules.compatible("other", "medical", shared=1)
    assert rules.compatible("other", "medical", shared=2)
    assert rules.refine_type("other", "damages") == "damages"
    assert rules.refine_type("damages", "other") == "damages"


def test_hub_envelope_is_deterministic_and_valid() -> None:
    a = hub_envelope("DisputeThreaded", "disputes:D1:e1", T0, county_code="411730")
    b = hub_envelope("DisputeThreaded", "disputes:D1:e1", to_millis(T0), county_code="411730")
    assert a == b and a["source"]["agency"] == "hub" and a["recorded_at"] == a["occurred_at"]
    assert a["event_id"] != hub_envelope("DisputeThreaded", "disputes:D1:e2", T0)["event_id"]


def test_a_generated_county_threads_with_f1_above_target(tmp_path: Path) -> None:
    """Real generator and real connectors, true person ids: the benchmark's first figure, small."""
    generate(tmp_path, 2500, 3)
    results = bench_disputes.run_on(tmp_path, limit=3, with_identity=False)
    by_input = {row["input"]: row for row in results}
    for row in by_input.values():
        assert row["f1"] >= 0.95, (row["input"], row["f1"])
        assert row["rows_left_unthreaded"] == 0
    assert by_input["time order"]["true_disputes"] > 100

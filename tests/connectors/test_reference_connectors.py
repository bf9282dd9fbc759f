"""The four reference connectors, checked by the connector test kit on generated
exports, and each agency's event types covered."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registry import CONNECTORS, get_connector
from connectors.synthetic.generator import generate
from connectors.testing import ConnectorTestKit

EXPECTED = {
    "court": {"CaseFiled", "DocumentsServed", "HearingHeld", "JudgmentIssued", "EnforcementUpdated",
              "MediationAgreementConfirmed", "ProtectionOrderIssued"},
    "police": {"IncidentReported", "DomesticViolenceWarningIssued", "DisputeReferredToMediation"},
    "civil_affairs": {"MarriageRegistered", "DivorceRegistered"},
    "justice": {"MediationCaseOpened", "MediationConcluded", "CommunityCorrectionStarted",
                "CommunityCorrectionEnded", "LegalAidApplied", "LegalAidGranted", "ReleasedPrisonerReceived"},
}


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("county")
    generate(out, 800, seed=5)
    return out



@pytest.mark.parametrize("agency", sorted(CONNECTORS))
def test_reference_connector_passes_the_kit(agency: str, county: Path, tmp_path: Path):
    connector = get_connector(agency)
    connector.invalid_id_policy = "flag"  # the sample has typo'd ID numbers on purpose
    report = ConnectorTestKit(connector, county, tmp_path).run_all()
    assert report.ok, report.text()
    assert set(report.coverage) == EXPECTED[agency]

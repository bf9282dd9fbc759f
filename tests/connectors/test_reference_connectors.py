"""The four reference connectors, checked by the connector test kit on generated
exports, and each agency's event types covered."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.registry import CONNECTORS, get_connector
from connectors.synthetic.generator import generate
from connectors.testing import ConnectorTestKit
from schemas import loader


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
    # every event type of the agency's contracts (tests/schemas pins which those are)
    assert set(report.coverage) == {s.event_type for s in loader.load_all().values() if s.agency == agency}

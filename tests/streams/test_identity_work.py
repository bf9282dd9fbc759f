"""The streaming resolver's matching work does not depend on the matching key (issue 16, item 7): on a
generated county protected under two keys, every record is scored against the same number of stored
profiles, in the same order of arrival — so benchmarks and capacity planning are stable across key
rotations — and the persons are the same."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.identity import IdentityProcessor, load_config
from streams.identity.batch import stream_rows
from streams.identity.config import RESOLVE_CONFIG
from tests.support.identity_rows import county_rows, partition, protected

KEY_A, KEY_B = bytes(range(32)), bytes(range(7, 39))


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> list:
    from connectors.synthetic.generator import generate

    base = tmp_path_factory.mktemp("identity-work")
    generate(base, 1500, 7)
    return county_rows(base)


def scorings_per_record(rows: list, config_path: Path | None) -> tuple[list[int], dict[str, str]]:
    """(number of pairs scored while each row was resolved, in arrival order; the persons)."""
    processor = IdentityProcessor(load_config(config_path) if config_path else None)
    counts: list[int] = []
    score: Callable[[Any, Any], float] = processor.scorer.score

    def counted(a: Any, b: Any) -> float:
        counts[-1] += 1
        return score(a, b)

    processor.scorer.score = counted  # type: ignore[method-assign]
    resolve = processor.resolve_event

    def one_row(event: Any, state: Any) -> Any:
        counts.append(0)
        return resolve(event, state)

    processor.resolve_event = one_row  # type: ignore[method-assign]
    persons, _ = stream_rows(rows, processor)
    return counts, persons


@pytest.mark.parametrize("rules", ["county (names that sound alike)", "wide (resolve.toml)"])
def test_matching_work_does_not_depend_on_the_key(county: list, rules: str) -> None:
    config_path = RESOLVE_CONFIG if rules.startswith("wide") else None
    (work_a, persons_a), (work_b, persons_b) = (scorings_per_record(protected(county, key), config_path)
                                                for key in (KEY_A, KEY_B))
    assert len(work_a) == len(county) > 1500
    assert sum(work_a) > 1000, "hardly anything scored: the test would prove nothing"
    differs = [i for i, (a, b) in enumerate(zip(work_a, work_b, strict=True)) if a != b]
    assert not differs, f"{len(differs)} records scored against another number of profiles under another key " \
                        f"(first: row {differs[0]}, {work_a[differs[0]]} vs {work_b[differs[0]]})"
    assert partition(persons_a) == partition(persons_b)

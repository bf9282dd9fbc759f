"""Standalone schemas: every file of schemas/bundled/ loads on its own with standard Avro tools
(fastavro's load_schema, Apache avro), equals the registered form of its source, and a stale bundle
fails `justlink schemas check`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import avro.schema
import fastavro.schema
import pytest
from click.testing import CliRunner

from hub.cli.main import cli
from schemas import bundle, loader
from schemas.check import check
from schemas.registry import LocalSchemaRegistry

BUNDLED = sorted(bundle.BUNDLE_DIR.glob("*/*.avsc"))


def test_there_is_one_bundled_file_per_source() -> None:
    sources = sorted(loader.SCHEMA_DIR.glob("*/*.avsc"))
    assert len(BUNDLED) == len(sources) >= 45
    assert [p.relative_to(bundle.BUNDLE_DIR) for p in BUNDLED] == [p.relative_to(loader.SCHEMA_DIR) for p in sources]


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_bundled_file_loads_alone_with_fastavro_and_apache_avro(path: Path, tmp_path: Path) -> None:
    # alone in a directory: fastavro's load_schema would otherwise find named types in sibling files
    alone = tmp_path / path.name
    shutil.copy(path, alone)
    parsed = fastavro.schema.load_schema(str(alone))
    assert parsed["name"].endswith(path.stem)
    text = path.read_text(encoding="utf-8")
    apache = avro.schema.parse(text)
    assert apache.fullname == f"{loader.NAMESPACE}.{path.stem}"


def test_bundled_event_schemas_are_what_is_registered() -> None:
    registry = LocalSchemaRegistry()
    for event_type, schema in loader.load_all().items():
        bundled = json.loads((bundle.BUNDLE_DIR / schema.agency / f"{event_type}.avsc").read_text(encoding="utf-8"))
        assert bundled == schema.expanded
        assert registry.lookup(schema.full_name, bundled) is not None


def test_a_stale_bundle_fails_the_check_and_the_cli_rewrites_it(tmp_path: Path) -> None:
    out = tmp_path / "bundled"
    shutil.copytree(bundle.BUNDLE_DIR, out)
    assert check(bundle_dir=out) == []
    stale = out / "police" / "IncidentReported.avsc"
    data = json.loads(stale.read_text(encoding="utf-8"))
    data["fields"] = data["fields"][:-1]
    stale.write_text(json.dumps(data), encoding="utf-8")
    (out / "common" / "Gender.avsc").unlink()
    (out / "court" / "Removed.avsc").write_text("{}", encoding="utf-8")
    problems = [str(p) for p in check(bundle_dir=out)]
    assert any("IncidentReported.avsc" in p and "stale" in p for p in problems), problems
    assert any("Gender.avsc" in p and "missing" in p for p in problems), problems
    assert any("Removed.avsc" in p and "no source" in p for p in problems), problems
    result = CliRunner().invoke(cli, ["schemas", "bundle", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 written" in result.output
    assert check(bundle_dir=out) == []

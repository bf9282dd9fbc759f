"""Standalone schemas: every contract in a fully-resolved form that loads on its own.

The sources in `schemas/avro/` refer to the shared types of `avro/common/` by name, so a standard
loader (fastavro's `load_schema`, Apache `avro`, avsc, a Schema Registry) needs them in dependency
order. `schemas/bundled/` holds the same files with every named type inlined at its first use
(`loader.expand`): `bundled/<agency>/<EventType>.avsc` is byte for byte the schema that is
registered and fingerprinted, and `bundled/common/<Type>.avsc` each shared type on its own.

`justlink schemas bundle` (or `make schemas`) writes them; `justlink schemas check` fails when one
is missing, extra or stale, so the bundle committed next to the sources always matches them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from schemas import loader

BUNDLE_DIR = Path(__file__).parent / "bundled"


def render(schema: dict[str, Any]) -> str:
    """The one text form of a bundled schema (stable: sorted nowhere, keys as written)."""
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def bundle(schema_dir: Path = loader.SCHEMA_DIR) -> dict[str, str]:
    """Relative path -> text of every bundled file."""
    common = loader.load_common(schema_dir)
    files: dict[str, str] = {}
    for name, raw in common.items():
        files[f"common/{name}.avsc"] = render(loader.expand(raw, common, source=f"{schema_dir}/common/{name}.avsc"))
    for path in sorted(schema_dir.glob("*/*.avsc")):
        if path.parent.name == "common":
            continue
        schema = loader.load_event_schema(path, common)
        files[f"{path.parent.name}/{path.name}"] = render(schema.expanded)
    return files


def write(out: Path = BUNDLE_DIR, schema_dir: Path = loader.SCHEMA_DIR) -> list[str]:
    """Write the bundle to `out` (removing bundled files whose source is gone); returns what changed."""
    wanted = bundle(schema_dir)
    changed = []
    for rel, text in wanted.items():
        target = out / rel
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(rel)
    for stale in sorted(out.glob("*/*.avsc")) if out.exists() else []:
        rel = f"{stale.parent.name}/{stale.name}"
        if rel not in wanted:
            stale.unlink()
            changed.append(rel)
    return changed


@dataclass(frozen=True)
class BundleProblem:
    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def stale(out: Path = BUNDLE_DIR, schema_dir: Path = loader.SCHEMA_DIR) -> list[BundleProblem]:
    """Bundled files that are missing, extra, or differ from their sources."""
    fix = "run `justlink schemas bundle` (or `make schemas`) and commit schemas/bundled/"
    wanted = bundle(schema_dir)
    problems = []
    for rel, text in wanted.items():
        target = out / rel
        if not target.exists():
            problems.append(BundleProblem(str(target), f"bundled schema is missing: {fix}"))
        elif target.read_text(encoding="utf-8") != text:
            problems.append(BundleProblem(str(target), f"bundled schema is stale (its source changed): {fix}"))
    for extra in sorted(out.glob("*/*.avsc")) if out.exists() else []:
        if f"{extra.parent.name}/{extra.name}" not in wanted:
            problems.append(BundleProblem(str(extra), f"bundled schema has no source any more: {fix}"))
    return problems

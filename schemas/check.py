"""`justlink schemas check`: every contract parses, is documented, tags its personal
fields, stays BACKWARD_TRANSITIVE compatible with every registered version, and its bundled
standalone form (schemas/bundled/, see schemas/bundle.py) is up to date."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas import bundle, loader
from schemas.pii import PERSONAL_FIELD_NAMES, PII_CLASSES, iter_fields
from schemas.registry import LocalSchemaRegistry, RegisteredSchema, SchemaRegistry


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f" field '{self.field}'" if self.field else ""
        return f"{self.file}:{where} {self.message}"


def _lint(schema: loader.EventSchema) -> list[Problem]:
    problems: list[Problem] = []
    file = str(schema.path)
    if not schema.expanded.get("doc"):
        problems.append(Problem(file, "", "record has no doc"))
    for path, fld in iter_fields(schema.expanded):
        leaf = path.rsplit(".", 1)[-1].removesuffix("[]")
        if not fld.get("doc"):
            problems.append(Problem(file, path, "has no doc"))
        tag = fld.get("pii")
        if tag is not None and tag not in PII_CLASSES:
            problems.append(Problem(file, path, f"pii tag {tag!r} is not one of {', '.join(PII_CLASSES)}"))
        if tag is None and leaf in PERSONAL_FIELD_NAMES:
            problems.append(Problem(file, path, "holds personal data but has no pii tag "
                                                f"(one of {', '.join(PII_CLASSES)})"))
    if schema.raw.get("agency") not in (*loader.AGENCIES, "hub"):
        problems.append(Problem(file, "", f"'agency' attribute must be one of {loader.AGENCIES + ('hub',)}"))
    return problems


def check(schema_dir: Path = loader.SCHEMA_DIR, registry: SchemaRegistry | None = None,
          bundle_dir: Path | None = None) -> list[Problem]:
    """Problems of the contracts in `schema_dir`; the bundle is checked in `bundle_dir` (by default
    schemas/bundled/ when `schema_dir` is the committed one)."""
    registry = registry or LocalSchemaRegistry()
    if bundle_dir is None and schema_dir == loader.SCHEMA_DIR:
        bundle_dir = bundle.BUNDLE_DIR
    try:
        common = loader.load_common(schema_dir)
    except loader.SchemaError as exc:
        return [Problem(str(schema_dir / "common"), "", str(exc))]
    problems: list[Problem] = []
    for path in sorted(schema_dir.glob("*/*.avsc")):
        if path.parent.name == "common":
            continue
        try:
            schema = loader.load_event_schema(path, common)
        except loader.SchemaError as exc:
            problems.append(Problem(str(path), "", str(exc).removeprefix(f"{path}: ")))
            continue
        problems += _lint(schema)
        for issue in registry.compatibility_problems(schema.full_name, schema.expanded):
            version, _, rest = issue.partition(": ")
            field, _, message = rest.partition(": ")
            problems.append(Problem(str(path), field, f"incompatible with registered {version}: {message}"))
        if not registry.versions(schema.full_name):
            problems.append(Problem(str(path), "", "not registered yet: run `justlink schemas register`"))
        elif registry.lookup(schema.full_name, schema.expanded) is None and not any(
                p.file == str(path) and "incompatible" in p.message for p in problems):
            problems.append(Problem(str(path), "", "changed compatibly but not registered: "
                                                   "run `justlink schemas register`"))
    if bundle_dir is not None and not problems:
        problems += [Problem(p.file, "", p.message) for p in bundle.stale(bundle_dir, schema_dir)]
    return problems


def register_all(schema_dir: Path = loader.SCHEMA_DIR,
                 registry: LocalSchemaRegistry | None = None) -> list[RegisteredSchema]:
    """Register every changed schema (compatibility-checked); returns the new versions."""
    registry = registry or LocalSchemaRegistry()
    common = loader.load_common(schema_dir)
    added = []
    for path in sorted(schema_dir.glob("*/*.avsc")):
        if path.parent.name == "common":
            continue
        schema = loader.load_event_schema(path, common)
        if registry.lookup(schema.full_name, schema.expanded) is None:
            added.append(registry.register(schema.full_name, schema.expanded))
    registry.save()
    return added

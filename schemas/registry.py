"""Schema registry: stable numeric ids for every version of every event schema.

`LocalSchemaRegistry` keeps them in `schemas/registry.json`, committed with the code, so
an id means the same schema on every machine and in every log. In production the same
interface fronts a Confluent-REST registry (schemas/remote_registry.py; subject = the record's
full name), which `justlink schemas push` fills from this file with the same ids.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from schemas.compat import backward_problems
from schemas.loader import SchemaError

REGISTRY_FILE = Path(__file__).parent / "registry.json"


def fingerprint(schema: dict[str, Any]) -> str:
    """Changes whenever anything in the schema changes, docs and pii tags included."""
    canonical = json.dumps(schema, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class RegisteredSchema:
    subject: str
    version: int
    schema_id: int
    fingerprint: str
    schema: dict[str, Any]


class IncompatibleSchemaError(SchemaError):
    pass


class SchemaRegistry(ABC):
    @abstractmethod
    def by_id(self, schema_id: int) -> RegisteredSchema: ...

    @abstractmethod
    def versions(self, subject: str) -> list[RegisteredSchema]: ...

    @abstractmethod
    def register(self, subject: str, schema: dict[str, Any]) -> RegisteredSchema: ...

    def latest(self, subject: str) -> RegisteredSchema | None:
        versions = self.versions(subject)
        return versions[-1] if versions else None

    def lookup(self, subject: str, schema: dict[str, Any]) -> RegisteredSchema | None:
        fp = fingerprint(schema)
        return next((v for v in self.versions(subject) if v.fingerprint == fp), None)

    def compatibility_problems(self, subject: str, schema: dict[str, Any]) -> list[str]:
        """BACKWARD_TRANSITIVE: the new schema must read data of every registered version."""
        problems = []
        for old in self.versions(subject):
            problems += [f"v{old.version}: {p}" for p in backward_problems(schema, old.schema)]
        return problems


class LocalSchemaRegistry(SchemaRegistry):
    def __init__(self, path: Path = REGISTRY_FILE) -> None:
        self.path = path
        self._subjects: dict[str, list[RegisteredSchema]] = {}
        self._by_id: dict[int, RegisteredSchema] = {}
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            for subject, versions in data.get("subjects", {}).items():
                for v in versions:
                    self._add(RegisteredSchema(subject, v["version"], v["id"], v["fingerprint"], v["schema"]))

    def _add(self, reg: RegisteredSchema) -> None:
        self._subjects.setdefault(reg.subject, []).append(reg)
        self._by_id[reg.schema_id] = reg

    def by_id(self, schema_id: int) -> RegisteredSchema:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise SchemaError(f"schema id {schema_id} is not in the registry {self.path}") from None

    def versions(self, subject: str) -> list[RegisteredSchema]:
        return list(self._subjects.get(subject, []))

    def subjects(self) -> list[str]:
        return sorted(self._subjects)

    def register(self, subject: str, schema: dict[str, Any]) -> RegisteredSchema:
        existing = self.lookup(subject, schema)
        if existing:
            return existing
        problems = self.compatibility_problems(subject, schema)
        if problems:
            raise IncompatibleSchemaError(f"{subject}: incompatible with registered versions: " + "; ".join(problems))
        reg = RegisteredSchema(subject, len(self.versions(subject)) + 1, max(self._by_id, default=0) + 1,
                               fingerprint(schema), schema)
        self._add(reg)
        return reg

    def save(self) -> None:
        data = {"subjects": {
            subject: [{"version": r.version, "id": r.schema_id, "fingerprint": r.fingerprint, "schema": r.schema}
                      for r in versions]
            for subject, versions in sorted(self._subjects.items())}}
        self.path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


@cache
def default_registry() -> LocalSchemaRegistry:
    return LocalSchemaRegistry()

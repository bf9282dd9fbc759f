"""A Confluent-REST Schema Registry (Confluent Schema Registry, Karapace, Redpanda, Apicurio's ccompat
API) behind the `SchemaRegistry` interface, and `push` / `compare`, which keep it equal to the
committed contracts (schemas/registry.json).

Subject naming: **RecordNameStrategy** — the subject of an event type is its record's full name
(`org.justlink.events.CaseFiled`), the same subject as in registry.json. Why: a topic carries several
event types (an agency topic carries all of its agency's events; `justlink.identity` three), so the
default TopicNameStrategy (`<topic>-value`, one schema per topic) cannot describe it; and an event type
has one contract wherever it travels (the worker forwards agency events unchanged to
`justlink.pipeline.in`), so TopicRecordNameStrategy (`<topic>-<record>`) would register each contract
once per topic and let the copies drift apart. Compatibility is therefore enforced per event type,
BACKWARD_TRANSITIVE, exactly as `justlink schemas check` enforces it. Confluent serializers that write
to these topics set `value.subject.name.strategy` to RecordNameStrategy; deserializers need no
setting (they resolve the schema id in each record).

Ids: `push` registers every version of every subject in order. On an empty subject whose committed ids
are free in the registry it first switches
the subject to IMPORT mode and registers each version **with its committed id and version**, so
records already on the log keep resolving; a registry that refuses IMPORT mode (or a subject that
exists already) gets normal registrations, and when the registry's id differs from the committed one
the push reports the mapping — producers then take ids from the registry (`schema_registry_url`), not
from the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from schemas.loader import SchemaError
from schemas.registry import LocalSchemaRegistry, RegisteredSchema, SchemaRegistry, fingerprint

COMPATIBILITY = "BACKWARD_TRANSITIVE"
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
SUBJECT_NOT_FOUND, VERSION_NOT_FOUND, SCHEMA_NOT_FOUND = 40401, 40402, 40403
INCOMPATIBLE = 409


class RegistryRequestError(SchemaError):
    """The registry refused a request or could not be reached; the message names the registry and the
    request, and carries the registry's own error code and message."""

    def __init__(self, message: str, *, status: int = 0, code: int = 0) -> None:
        super().__init__(message)
        self.status, self.code = status, code


@dataclass(frozen=True)
class RegistryAuth:
    """HTTP Basic credentials (`basic.auth.user.info` in Confluent clients)."""

    user: str
    password: str = field(repr=False)


class RemoteSchemaRegistry(SchemaRegistry):
    """The registry at `url`. Answers are cached for the life of the object (ids never change meaning)."""

    def __init__(self, url: str, *, auth: RegistryAuth | None = None, ca_file: Path | None = None,
                 timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        verify: Any = str(ca_file) if ca_file else True
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s, verify=verify,
                                  auth=(auth.user, auth.password) if auth else None,
                                  headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE})
        self._by_id: dict[int, RegisteredSchema] = {}
        self._lookups: dict[tuple[str, str], RegisteredSchema] = {}

    # -- HTTP ----------------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *, allow: tuple[int, ...] = ()) -> Any:
        """The JSON answer; a registry error code in `allow` returns None instead of raising."""
        try:
            response = self._http.request(method, path, content=None if body is None else json.dumps(body))
        except httpx.HTTPError as exc:
            raise RegistryRequestError(f"schema registry {self.url} unreachable ({method} {path}): "
                                       f"{type(exc).__name__}: {exc}") from None
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        if response.status_code < 300:
            return payload
        code = payload.get("error_code", response.status_code) if isinstance(payload, dict) else response.status_code
        if code in allow:
            return None
        message = payload.get("message", "") if isinstance(payload, dict) else response.text[:300]
        raise RegistryRequestError(f"schema registry {self.url} refused {method} {path}: HTTP "
                                   f"{response.status_code}, error {code}: {message}",
                                   status=response.status_code, code=code)

    def close(self) -> None:
        self._http.close()

    # -- SchemaRegistry --------------------------------------------------------------------------------
    def by_id(self, schema_id: int) -> RegisteredSchema:
        cached = self._by_id.get(schema_id)
        if cached is None:
            found = self.request("GET", f"/schemas/ids/{schema_id}", allow=(SCHEMA_NOT_FOUND,))
            if found is None:
                raise SchemaError(f"schema id {schema_id} is not in the schema registry {self.url}")
            schema = json.loads(found["schema"])
            where = self.request("GET", f"/schemas/ids/{schema_id}/versions", allow=(SCHEMA_NOT_FOUND,)) or []
            subject = where[0]["subject"] if where else full_name(schema)
            version = where[0]["version"] if where else 0
            cached = self._by_id[schema_id] = RegisteredSchema(subject, version, schema_id, fingerprint(schema),
                                                               schema)
        return cached

    def versions(self, subject: str) -> list[RegisteredSchema]:
        numbers = self.request("GET", f"/subjects/{quote(subject, safe='')}/versions",
                               allow=(SUBJECT_NOT_FOUND,)) or []
        out = []
        for number in numbers:
            body = self.request("GET", f"/subjects/{quote(subject, safe='')}/versions/{number}")
            schema = json.loads(body["schema"])
            out.append(RegisteredSchema(subject, body["version"], body["id"], fingerprint(schema), schema))
        return out

    def lookup(self, subject: str, schema: dict[str, Any]) -> RegisteredSchema | None:
        key = (subject, fingerprint(schema))
        cached = self._lookups.get(key)
        if cached is None:
            body = self.request("POST", f"/subjects/{quote(subject, safe='')}", {"schema": json.dumps(schema)},
                                allow=(SUBJECT_NOT_FOUND, SCHEMA_NOT_FOUND))
            if body is None:
                return None
            cached = self._lookups[key] = RegisteredSchema(subject, body["version"], body["id"], key[1], schema)
        return cached

    def register(self, subject: str, schema: dict[str, Any], *, schema_id: int | None = None,
                 version: int | None = None) -> RegisteredSchema:
        body: dict[str, Any] = {"schema": json.dumps(schema)}
        if schema_id is not None:
            body["id"] = schema_id
        if version is not None:
            body["version"] = version
        try:
            answer = self.request("POST", f"/subjects/{quote(subject, safe='')}/versions", body)
        except RegistryRequestError as exc:
            if exc.code == INCOMPATIBLE:
                from schemas.registry import IncompatibleSchemaError

                raise IncompatibleSchemaError(str(exc)) from None
            raise
        found = self.lookup(subject, schema)
        if found is None or found.schema_id != answer["id"]:
            raise RegistryRequestError(f"schema registry {self.url} registered {subject} as id {answer['id']} "
                                       "but does not find it again")
        return found

    def id_free_for(self, schema_id: int, schema: dict[str, Any]) -> bool:
        """True when `schema_id` is unused, or already holds `schema` (so IMPORT can keep it)."""
        found = self.request("GET", f"/schemas/ids/{schema_id}", allow=(SCHEMA_NOT_FOUND,))
        return found is None or fingerprint(json.loads(found["schema"])) == fingerprint(schema)

    # -- subject settings ------------------------------------------------------------------------------
    def compatibility(self, subject: str) -> str | None:
        body = self.request("GET", f"/config/{quote(subject, safe='')}", allow=(40408, SUBJECT_NOT_FOUND))
        return body.get("compatibilityLevel") if body else None

    def set_compatibility(self, subject: str, level: str = COMPATIBILITY) -> None:
        self.request("PUT", f"/config/{quote(subject, safe='')}", {"compatibility": level})

    def set_mode(self, subject: str, mode: str) -> bool:
        """Switch `subject` to `mode`; False when the registry refuses (no IMPORT support, or not empty)."""
        try:
            self.request("PUT", f"/mode/{quote(subject, safe='')}", {"mode": mode})
        except RegistryRequestError as exc:
            if exc.status in (404, 405, 422) or exc.code in (42204, 42205):
                return False
            raise
        return True


def full_name(schema: dict[str, Any]) -> str:
    name = schema.get("name", "")
    return name if "." in name or not schema.get("namespace") else f"{schema['namespace']}.{name}"


# --- push and compare ---------------------------------------------------------------------------------

@dataclass
class PushReport:
    imported: list[RegisteredSchema] = field(default_factory=list)    # committed id and version kept
    present: list[RegisteredSchema] = field(default_factory=list)     # already there with the committed id
    registered: list[tuple[RegisteredSchema, RegisteredSchema]] = field(default_factory=list)  # (local, remote)

    @property
    def mapped(self) -> list[tuple[RegisteredSchema, RegisteredSchema]]:
        """Versions whose registry id differs from the committed id."""
        return [(local, remote) for local, remote in self.registered if local.schema_id != remote.schema_id]


def push(remote: RemoteSchemaRegistry, local: LocalSchemaRegistry | None = None) -> PushReport:
    """Make `remote` hold every committed version of every subject (see the module doc)."""
    local = local or LocalSchemaRegistry()
    report = PushReport()
    for subject in sorted(local.subjects()):
        versions = local.versions(subject)
        existing = remote.versions(subject)
        if not existing and all(remote.id_free_for(v.schema_id, v.schema) for v in versions) \
                and remote.set_mode(subject, "IMPORT"):
            try:
                for version in versions:
                    remote.register(subject, version.schema, schema_id=version.schema_id, version=version.version)
                    report.imported.append(version)
            finally:
                remote.set_mode(subject, "READWRITE")
            remote.set_compatibility(subject)
            continue
        remote.set_compatibility(subject)
        for version in versions:
            found = remote.lookup(subject, version.schema)
            if found is not None and found.schema_id == version.schema_id:
                report.present.append(version)
            else:
                report.registered.append((version, found or remote.register(subject, version.schema)))
    return report


@dataclass(frozen=True)
class Difference:
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}"


def compare(remote: RemoteSchemaRegistry, local: LocalSchemaRegistry | None = None) -> list[Difference]:
    """How `remote` differs from the committed contracts: missing subjects or versions, other ids, versions
    the contracts do not know, and subjects whose compatibility is not BACKWARD_TRANSITIVE."""
    local = local or LocalSchemaRegistry()
    out = []
    for subject in sorted(local.subjects()):
        theirs = remote.versions(subject)
        if not theirs:
            out.append(Difference(subject, "not in the registry: run `justlink schemas push`"))
            continue
        for version in local.versions(subject):
            match = next((r for r in theirs if r.fingerprint == version.fingerprint), None)
            if match is None:
                out.append(Difference(subject, f"v{version.version} (id {version.schema_id}) is not in the "
                                               "registry: run `justlink schemas push`"))
            elif match.schema_id != version.schema_id:
                out.append(Difference(subject, f"v{version.version} has id {match.schema_id} in the registry but "
                                               f"{version.schema_id} in schemas/registry.json: records written "
                                               "with the committed id do not resolve there"))
        known = {v.fingerprint for v in local.versions(subject)}
        for extra in theirs:
            if extra.fingerprint not in known:
                out.append(Difference(subject, f"the registry has v{extra.version} (id {extra.schema_id}), which "
                                               "the committed contracts do not know"))
        level = remote.compatibility(subject)
        if level != COMPATIBILITY:
            out.append(Difference(subject, f"compatibility is {level or 'the global default'}, expected "
                                           f"{COMPATIBILITY}: run `justlink schemas push`"))
    return out

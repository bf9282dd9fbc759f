"""A test-only Schema Registry that speaks the Confluent REST API, in memory.

No registry server can be installed on these machines (Karapace is not on PyPI; Confluent's needs
Maven or Docker), so the registry code is tested against this one, the way the ClickHouse HTTP path
is tested against tests/support/clickhouse_http.py, and checked with a real third-party client
(confluent-kafka's SchemaRegistryClient and AvroDeserializer) to speak the protocol they expect.
Compatibility is decided by Apache Avro's own checker (`avro.compatibility`), not by the project's.

What it serves (Avro schemas only, no references), with Confluent's error codes:

    GET    /subjects[?deleted=true]                      GET  /schemas/ids/{id}[?subject=]
    GET    /subjects/{s}/versions                        GET  /schemas/ids/{id}/schema
    GET    /subjects/{s}/versions/{v|latest}[/schema]    GET  /schemas/ids/{id}/versions
    POST   /subjects/{s}/versions   (id+version in IMPORT mode)    GET /schemas/types
    POST   /subjects/{s}            (look a schema up)
    DELETE /subjects/{s}[?permanent=true]
    GET/PUT/DELETE /config[/{s}]    GET/PUT /mode[/{s}][?force=true]
    POST   /compatibility/subjects/{s}/versions[/{v|latest}][?verbose=true]

    40401 subject not found     40402 version not found     40403 schema not found
    40408 no subject-level compatibility (without ?defaultToGlobal=true)
    40409 no subject-level mode (without ?defaultToGlobal=true)
    409   incompatible schema   42201 invalid schema        42202 invalid version
    42203 invalid compatibility level                       42204 invalid mode
    42205 operation not permitted (an id outside IMPORT mode; IMPORT on a non-empty subject without
          force; a write in READONLY mode)
    42207 the id is taken by another schema (IMPORT)

`basic_auth=("user", "secret")` makes every request need HTTP Basic authentication (401 otherwise).

    with SchemaRegistryServer() as registry:
        registry.url   # http://127.0.0.1:PORT
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import avro.schema
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
LEVELS = ("NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE")
MODES = ("READWRITE", "READONLY", "IMPORT")


class RegistryError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


@dataclass
class Version:
    subject: str
    version: int
    schema_id: int
    deleted: bool = False


@dataclass
class Store:
    schemas: dict[int, str] = field(default_factory=dict)        # id -> canonical schema text
    ids: dict[str, int] = field(default_factory=dict)            # canonical text -> id
    subjects: dict[str, list[Version]] = field(default_factory=dict)
    config: dict[str, str] = field(default_factory=dict)         # "" = global
    mode: dict[str, str] = field(default_factory=dict)           # "" = global
    next_id: int = 1
    requests: list[tuple[str, str]] = field(default_factory=list)


def canonical(text: str) -> str:
    """The schema as the registry keeps and compares it: parsed, then re-serialised compactly."""
    try:
        parsed = json.loads(text)
        avro.schema.parse(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is an invalid schema
        raise RegistryError(422, 42201, f"Invalid schema: {type(exc).__name__}: {exc}") from None
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)


def compatible(new: str, old: str, level: str) -> list[str]:
    """Problems of `new` against `old` under `level` (Apache Avro's reader/writer checker)."""
    checker = ReaderWriterCompatibilityChecker()
    new_schema, old_schema = avro.schema.parse(new), avro.schema.parse(old)
    pairs = []
    if level.startswith(("BACKWARD", "FULL")):
        pairs.append((new_schema, old_schema, "the new schema cannot read data written with"))
    if level.startswith(("FORWARD", "FULL")):
        pairs.append((old_schema, new_schema, "data of the new schema cannot be read with"))
    problems = []
    for reader, writer, what in pairs:
        result = checker.get_compatibility(reader, writer)
        if result.compatibility is not SchemaCompatibilityType.compatible:
            problems.append(f"{what} an earlier version: {'; '.join(result.messages)} at "
                            f"{', '.join(result.locations)}")
    return problems


class Registry:
    """The registry's rules, apart from HTTP."""

    def __init__(self) -> None:
        self.store = Store()
        self.lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------------
    def live(self, subject: str, *, deleted: bool = False) -> list[Version]:
        versions = [v for v in self.store.subjects.get(subject, []) if deleted or not v.deleted]
        if not versions:
            raise subject_not_found(subject)
        return versions

    def version(self, subject: str, ref: str, *, deleted: bool = False) -> Version:
        versions = self.live(subject, deleted=deleted)
        if ref in ("latest", "-1"):
            return versions[-1]
        if not ref.isdigit() or int(ref) < 1:
            raise RegistryError(422, 42202, f"The specified version '{ref}' is not a valid version id. Allowed "
                                            "values are between [1, 2^31-1] and the string \"latest\"")
        found = [v for v in versions if v.version == int(ref)]
        if not found:
            raise RegistryError(404, 40402, f"Version {ref} not found.")
        return found[0]

    def level(self, subject: str) -> str:
        return self.store.config.get(subject) or self.store.config.get("", "BACKWARD")

    def mode_of(self, subject: str) -> str:
        return self.store.mode.get(subject) or self.store.mode.get("", "READWRITE")

    def version_body(self, v: Version) -> dict[str, Any]:
        return {"subject": v.subject, "version": v.version, "id": v.schema_id, "schema": self.store.schemas[v.schema_id]}

    # -- operations --------------------------------------------------------------------------------
    def register(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("schemaType", "AVRO") != "AVRO":
            raise RegistryError(422, 42201, f"Invalid schema type {body.get('schemaType')!r}: this registry "
                                            "serves AVRO only")
        if body.get("references"):
            raise RegistryError(422, 42201, "Invalid schema: references are not supported here")
        text = canonical(str(body.get("schema", "")))
        mode = self.mode_of(subject)
        if mode == "READONLY":
            raise RegistryError(422, 42205, f"Subject {subject} is in read-only mode")
        wanted_id, wanted_version = body.get("id"), body.get("version")
        existing = [v for v in self.store.subjects.get(subject, []) if not v.deleted]
        same = next((v for v in existing if self.store.schemas[v.schema_id] == text), None)
        if wanted_id is not None and mode != "IMPORT":
            raise RegistryError(422, 42205, "Subject is not in import mode: a schema id cannot be given")
        if same is not None and (wanted_id is None or wanted_id == same.schema_id):
            return {"id": same.schema_id}
        if mode == "IMPORT":
            if wanted_id is None:
                raise RegistryError(422, 42205, "In import mode a schema id must be given")
            taken = self.store.schemas.get(int(wanted_id))
            if taken is not None and taken != text:
                raise RegistryError(422, 42207, f"Overwrite new schema with id {wanted_id} is not permitted: "
                                                "the id is taken by another schema")
            schema_id = int(wanted_id)
            version = int(wanted_version) if wanted_version else (existing[-1].version + 1 if existing else 1)
            if any(v.version == version for v in existing):
                raise RegistryError(422, 42205, f"Version {version} of subject {subject} exists already")
        else:
            level = self.level(subject)
            olds = existing if level.endswith("TRANSITIVE") else existing[-1:]
            for old in olds if level != "NONE" else []:
                problems = compatible(text, self.store.schemas[old.schema_id], level)
                if problems:
                    raise RegistryError(409, 409, f"Schema being registered is incompatible with an earlier "
                                                  f"schema for subject \"{subject}\", details: "
                                                  f"[version {old.version}: {' | '.join(problems)}]")
            schema_id = self.store.ids.get(text) or self.store.next_id
            version = existing[-1].version + 1 if existing else 1
        self.store.schemas[schema_id] = text
        self.store.ids.setdefault(text, schema_id)
        self.store.next_id = max(self.store.next_id, schema_id + 1)
        self.store.subjects.setdefault(subject, []).append(Version(subject, version, schema_id))
        self.store.subjects[subject].sort(key=lambda v: v.version)
        return {"id": schema_id}

    def lookup(self, subject: str, body: dict[str, Any], deleted: bool) -> dict[str, Any]:
        text = canonical(str(body.get("schema", "")))
        versions = self.live(subject, deleted=deleted)
        for v in versions:
            if self.store.schemas[v.schema_id] == text:
                return self.version_body(v)
        raise RegistryError(404, 40403, "Schema not found")

    def check_compatibility(self, subject: str, ref: str | None, body: dict[str, Any],
                            verbose: bool) -> dict[str, Any]:
        text = canonical(str(body.get("schema", "")))
        level = self.level(subject)
        if subject not in self.store.subjects and ref is None:
            return {"is_compatible": True}
        if ref is None:
            olds = self.live(subject) if level.endswith("TRANSITIVE") else self.live(subject)[-1:]
        else:
            olds = [self.version(subject, ref)]
        messages = []
        for old in olds if level != "NONE" else []:
            messages += [f"version {old.version}: {p}" for p in compatible(text, self.store.schemas[old.schema_id],
                                                                           level)]
        result: dict[str, Any] = {"is_compatible": not messages}
        if verbose:
            result["messages"] = messages
        return result

    def delete_subject(self, subject: str, permanent: bool) -> list[int]:
        versions = self.store.subjects.get(subject, [])
        if not versions:
            raise subject_not_found(subject)
        if permanent:
            if any(not v.deleted for v in versions):
                raise RegistryError(404, 40405, f"Subject '{subject}' was not deleted first before being "
                                                "permanently deleted")
            del self.store.subjects[subject]
            return [v.version for v in versions]
        live = [v for v in versions if not v.deleted]
        if not live:
            raise RegistryError(404, 40404, f"Subject '{subject}' was soft deleted.")
        for v in live:
            v.deleted = True
        return [v.version for v in live]

    def set_mode(self, subject: str, mode: str, force: bool) -> dict[str, str]:
        if mode not in MODES:
            raise RegistryError(422, 42204, f"Invalid mode {mode!r}; one of {', '.join(MODES)}")
        if mode == "IMPORT" and not force:
            occupied = self.store.subjects.get(subject) if subject else any(self.store.subjects.values())
            if occupied:
                raise RegistryError(422, 42205, "Cannot import since found existing subjects")
        self.store.mode[subject] = mode
        return {"mode": mode}


ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    (method, re.compile(pattern + r"/?$"), name) for method, pattern, name in [
        ("GET", r"/subjects", "subjects"),
        ("GET", r"/subjects/(?P<s>[^/]+)/versions", "versions"),
        ("GET", r"/subjects/(?P<s>[^/]+)/versions/(?P<v>[^/]+)", "get_version"),
        ("GET", r"/subjects/(?P<s>[^/]+)/versions/(?P<v>[^/]+)/schema", "get_version_schema"),
        ("POST", r"/subjects/(?P<s>[^/]+)/versions", "register"),
        ("POST", r"/subjects/(?P<s>[^/]+)", "lookup"),
        ("DELETE", r"/subjects/(?P<s>[^/]+)", "delete_subject"),
        ("GET", r"/schemas/types", "types"),
        ("GET", r"/schemas/ids/(?P<id>[^/]+)", "by_id"),
        ("GET", r"/schemas/ids/(?P<id>[^/]+)/schema", "by_id_schema"),
        ("GET", r"/schemas/ids/(?P<id>[^/]+)/versions", "by_id_versions"),
        ("GET", r"/config", "get_config"),
        ("PUT", r"/config", "put_config"),
        ("GET", r"/config/(?P<s>[^/]+)", "get_config"),
        ("PUT", r"/config/(?P<s>[^/]+)", "put_config"),
        ("DELETE", r"/config/(?P<s>[^/]+)", "delete_config"),
        ("GET", r"/mode", "get_mode"),
        ("PUT", r"/mode", "put_mode"),
        ("GET", r"/mode/(?P<s>[^/]+)", "get_mode"),
        ("PUT", r"/mode/(?P<s>[^/]+)", "put_mode"),
        ("POST", r"/compatibility/subjects/(?P<s>[^/]+)/versions", "compatibility"),
        ("POST", r"/compatibility/subjects/(?P<s>[^/]+)/versions/(?P<v>[^/]+)", "compatibility"),
    ]
]


def handle(registry: Registry, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> Any:
    for route_method, pattern, route in ROUTES:
        match = pattern.match(path)
        if match and route_method == method:
            args = {k: unquote(v) for k, v in match.groupdict().items()}
            name = route
            break
    else:
        raise RegistryError(404, 404, f"HTTP 404 Not Found: {method} {path}")
    subject = args.get("s", "")
    flag = {k: query.get(k, "false").lower() == "true" for k in ("deleted", "permanent", "force", "verbose",
                                                                  "defaultToGlobal")}
    store = registry.store
    if name == "subjects":
        return sorted(s for s, vs in store.subjects.items() if any(flag["deleted"] or not v.deleted for v in vs))
    if name == "versions":
        return [v.version for v in registry.live(subject, deleted=flag["deleted"])]
    if name == "get_version":
        return registry.version_body(registry.version(subject, args["v"], deleted=flag["deleted"]))
    if name == "get_version_schema":
        return json.loads(store.schemas[registry.version(subject, args["v"]).schema_id])
    if name == "register":
        return registry.register(subject, body)
    if name == "lookup":
        return registry.lookup(subject, body, flag["deleted"])
    if name == "delete_subject":
        return registry.delete_subject(subject, flag["permanent"])
    if name == "types":
        return ["AVRO"]
    if name.startswith("by_id"):
        if not args["id"].isdigit() or int(args["id"]) not in store.schemas:
            raise RegistryError(404, 40403, "Schema not found")
        schema_id = int(args["id"])
        if name == "by_id":
            return {"schema": store.schemas[schema_id]}
        if name == "by_id_schema":
            return json.loads(store.schemas[schema_id])
        return [{"subject": v.subject, "version": v.version} for vs in store.subjects.values() for v in vs
                if v.schema_id == schema_id and not v.deleted]
    if name == "get_config":
        if subject and subject not in store.config and not flag["defaultToGlobal"]:
            raise RegistryError(404, 40408, f"Subject '{subject}' does not have subject-level compatibility "
                                            "configured")
        return {"compatibilityLevel": registry.level(subject)}
    if name == "put_config":
        level = str(body.get("compatibility", ""))
        if level not in LEVELS:
            raise RegistryError(422, 42203, f"Invalid compatibility level {level!r}")
        store.config[subject] = level
        return {"compatibility": level}
    if name == "delete_config":
        previous = registry.level(subject)
        store.config.pop(subject, None)
        return {"compatibilityLevel": previous}
    if name == "get_mode":
        if subject and subject not in store.mode and not flag["defaultToGlobal"]:
            raise RegistryError(404, 40409, f"Subject '{subject}' does not have subject-level mode configured")
        return {"mode": registry.mode_of(subject)}
    if name == "put_mode":
        return registry.set_mode(subject, str(body.get("mode", "")), flag["force"])
    if name == "compatibility":
        return registry.check_compatibility(subject, args.get("v"), body, flag["verbose"])
    raise AssertionError(name)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out as two writes on a kept-alive connection: with Nagle's algorithm the body
    # waited for the client's delayed ACK, ~40 ms a request (a schema push took a minute)
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        registry = self.server.registry
        try:
            if not self._authorised():
                raise RegistryError(401, 40101, "Unauthorized")
            try:
                body = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                raise RegistryError(400, 400, "Unexpected character: the request body is not JSON") from None
            with registry.lock:
                registry.store.requests.append((method, url.path))
                result = handle(registry, method, url.path, query, body)
            status, payload = 200, result
        except RegistryError as exc:
            status, payload = exc.status, {"error_code": exc.code, "message": exc.message}
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="schema-registry"')
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        expected = self.server.basic_auth
        if expected is None:
            return True
        header = self.headers.get("Authorization", "")
        token = base64.b64encode(f"{expected[0]}:{expected[1]}".encode()).decode()
        return header == f"Basic {token}"

    def do_GET(self) -> None:  # noqa: N802 - http.server's names
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._serve("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._serve("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: Registry
    basic_auth: tuple[str, str] | None


class SchemaRegistryServer:
    """The registry on a free loopback port, served from a thread."""

    def __init__(self, *, basic_auth: tuple[str, str] | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.registry = Registry()
        self._server.basic_auth = basic_auth
        self._thread = threading.Thread(target=self._server.serve_forever, name="schema-registry", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def registry(self) -> Registry:
        return self._server.registry

    def start(self) -> SchemaRegistryServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> SchemaRegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

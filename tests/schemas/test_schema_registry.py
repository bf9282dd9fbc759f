"""Schema Registry integration, against the test-only Confluent-REST server (tests/support/schema_registry.py)
and checked with a real third-party client (confluent-kafka's SchemaRegistryClient and AvroDeserializer):
`justlink schemas push` registers every committed version with its committed id (IMPORT mode) and
BACKWARD_TRANSITIVE per subject, `schemas check --registry-url` compares, producers can take ids from the
registry, and records the connectors wrote decode with the third-party deserializer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from hub.cli.main import cli
from runtime.eventlog.embedded import EmbeddedEventLog
from runtime.topics import AGENCY_TOPICS
from schemas import loader, wire
from schemas.registry import LocalSchemaRegistry
from schemas.remote_registry import RegistryAuth, RemoteSchemaRegistry, compare, push
from tests.support.county import generated_and_published
from tests.support.schema_registry import SchemaRegistryServer

COMMITTED = LocalSchemaRegistry()


@pytest.fixture
def registry() -> Iterator[SchemaRegistryServer]:
    with SchemaRegistryServer() as server:
        yield server


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"JUSTLINK_CONFIG": "/nonexistent.toml", **(env or {})})
    return result.exit_code, result.output


def committed_versions() -> list:
    return [v for subject in COMMITTED.subjects() for v in COMMITTED.versions(subject)]


# --- the test server speaks the protocol a real client expects ---------------------------------------

def test_the_test_registry_answers_confluents_client_with_confluents_error_codes(registry) -> None:
    client = SchemaRegistryClient({"url": registry.url})
    first = json.dumps({"type": "record", "name": "Ping", "namespace": "t", "fields": [
        {"name": "a", "type": "string"}]})
    schema_id = client.register_schema("t.Ping", Schema(first, "AVRO"))
    assert client.register_schema("t.Ping", Schema(first, "AVRO")) == schema_id, "same schema, same id"
    assert json.loads(client.get_schema(schema_id).schema_str) == json.loads(first)
    assert client.lookup_schema("t.Ping", Schema(first, "AVRO")).version == 1
    client.set_compatibility("t.Ping", "BACKWARD_TRANSITIVE")
    assert client.get_compatibility("t.Ping") == "BACKWARD_TRANSITIVE"
    added = json.dumps({**json.loads(first), "fields": [{"name": "a", "type": "string"},
                                                         {"name": "b", "type": "int", "default": 0}]})
    assert client.test_compatibility("t.Ping", Schema(added, "AVRO")) is True
    assert client.register_schema("t.Ping", Schema(added, "AVRO")) != schema_id
    assert client.get_latest_version("t.Ping").version == 2
    breaking = json.dumps({**json.loads(first), "fields": [{"name": "c", "type": "int"}]})
    with pytest.raises(SchemaRegistryError) as incompatible:
        client.register_schema("t.Ping", Schema(breaking, "AVRO"))
    assert incompatible.value.http_status_code == 409 and incompatible.value.error_code == 409
    with pytest.raises(SchemaRegistryError) as missing:
        client.get_schema(9999)
    assert missing.value.error_code == 40403
    with pytest.raises(SchemaRegistryError) as no_subject:
        client.get_latest_version("t.Nothing")
    assert no_subject.value.error_code == 40401
    with pytest.raises(SchemaRegistryError) as invalid:
        client.register_schema("t.Bad", Schema('{"type": "record", "name": "Bad", "fields": [{"name": 1}]}', "AVRO"))
    assert invalid.value.error_code == 42201
    assert client.get_subjects() == ["t.Ping"]


def test_import_mode_keeps_given_ids_and_refuses_a_taken_one(registry) -> None:
    remote = RemoteSchemaRegistry(registry.url)
    schema = {"type": "record", "name": "A", "namespace": "t", "fields": []}
    other = {"type": "record", "name": "B", "namespace": "t", "fields": []}
    with pytest.raises(wire.loader.SchemaError, match="42205"):
        remote.register("t.A", schema, schema_id=77, version=1)      # not in IMPORT mode
    assert remote.set_mode("t.A", "IMPORT")
    assert remote.register("t.A", schema, schema_id=77, version=1).schema_id == 77
    assert remote.set_mode("t.B", "IMPORT")
    with pytest.raises(wire.loader.SchemaError, match="42207"):
        remote.register("t.B", other, schema_id=77, version=1)       # the id belongs to another schema
    assert not remote.set_mode("t.A", "IMPORT") or True
    remote.request("PUT", "/mode/t.A", {"mode": "READWRITE"})
    assert not RemoteSchemaRegistry(registry.url).set_mode("t.A", "IMPORT"), "IMPORT needs an empty subject"


# --- push and check ------------------------------------------------------------------------------------

def test_push_imports_every_committed_version_with_its_id_and_check_agrees(registry) -> None:
    code, out = run("schemas", "check", "--registry-url", registry.url)
    assert code == 1 and "not in the registry: run `justlink schemas push`" in out
    code, out = run("schemas", "push", "--registry-url", registry.url)
    assert code == 0, out
    assert f"{len(committed_versions())} imported with their ids" in out
    client = SchemaRegistryClient({"url": registry.url})
    for version in committed_versions():
        assert json.loads(client.get_schema(version.schema_id).schema_str) == version.schema
        assert client.get_compatibility(version.subject) == "BACKWARD_TRANSITIVE"
        assert client.get_version(version.subject, version.version).schema_id == version.schema_id
    code, out = run("schemas", "check", "--registry-url", registry.url)
    assert code == 0 and "holds every committed version with its id" in out, out
    code, out = run("schemas", "push", "--registry-url", registry.url)
    assert code == 0 and f"{len(committed_versions())} already there" in out, "a second push changes nothing"


def test_check_names_what_someone_else_changed_in_the_registry(registry) -> None:
    remote = RemoteSchemaRegistry(registry.url)
    push(remote)
    client = SchemaRegistryClient({"url": registry.url})
    subject = "org.justlink.events.IncidentReported"
    current = loader.get("IncidentReported").expanded
    breaking = {**current, "fields": [*current["fields"], {"name": "priority", "type": "int", "doc": "x"}]}
    with pytest.raises(SchemaRegistryError) as refused:   # BACKWARD_TRANSITIVE holds against an outsider too
        client.register_schema(subject, Schema(json.dumps(breaking), "AVRO"))
    assert refused.value.error_code == 409
    extra = {**current, "fields": [*current["fields"], {"name": "priority", "type": "int", "default": 0,
                                                         "doc": "x"}]}
    client.register_schema(subject, Schema(json.dumps(extra), "AVRO"))
    client.set_compatibility("org.justlink.events.CaseFiled", "NONE")
    differences = [str(d) for d in compare(remote)]
    latest = COMMITTED.versions(subject)[-1].version
    assert any(d.startswith(subject) and f"the registry has v{latest + 1}" in d for d in differences), differences
    assert any("CaseFiled: compatibility is NONE" in d for d in differences), differences
    code, out = run("schemas", "check", "--registry-url", registry.url)
    assert code == 1 and "which the committed contracts do not know" in out


def test_a_registry_without_import_gets_mapped_ids_and_producers_use_them(registry, tmp_path: Path) -> None:
    """A registry that already holds other schemas (ids 1..n taken) and a subject registered by hand: the
    push maps ids, reports them, and a codec on that registry writes the registry's ids, which the
    third-party deserializer resolves."""
    client = SchemaRegistryClient({"url": registry.url})
    for n in range(100):   # more than every committed id (the committed ids are all taken)
        client.register_schema(f"other.S{n}", Schema(json.dumps(
            {"type": "record", "name": f"S{n}", "namespace": "other", "fields": []}), "AVRO"))
    case_filed = COMMITTED.versions("org.justlink.events.CaseFiled")[0]
    client.register_schema(case_filed.subject, Schema(json.dumps(case_filed.schema), "AVRO"))
    report = push(RemoteSchemaRegistry(registry.url))
    assert report.imported == [] and len(report.mapped) == len(committed_versions()), "every committed id was taken"
    assert (case_filed.subject, 101) in [(local.subject, remote.schema_id) for local, remote in report.mapped]
    code, out = run("schemas", "check", "--registry-url", registry.url)
    assert code == 1 and "has id 101 in the registry but 3 in schemas/registry.json" in out

    codec = wire.AvroCodec(RemoteSchemaRegistry(registry.url))
    _, data = generated_and_published(tmp_path, 60, seed=3)
    log = EmbeddedEventLog(data / "log.db")
    consumer = log.consumer("registry-test", list(AGENCY_TOPICS))
    records = []
    while batch := consumer.poll(1000, timeout_s=0.2):
        records += batch
    consumer.close()
    log.close()
    case = next(r for r in records if dict(r.headers)["event_type"] == b"CaseFiled")
    event_type, record = wire.default_codec().decode(case.value)
    value, headers = codec.message(event_type, record, wire.TraceContext.new("x"))
    assert codec.schema_id_of(value) > 101 and dict(headers)["schema_id"] == str(codec.schema_id_of(value)).encode()
    deserialize = AvroDeserializer(client)
    decoded = deserialize(value, SerializationContext("justlink.court.events", MessageField.VALUE))
    assert decoded["envelope"]["event_id"] == record["envelope"]["event_id"]
    assert codec.decode(value)[1] == record


def test_basic_auth_is_sent_and_a_wrong_password_is_named() -> None:
    with SchemaRegistryServer(basic_auth=("justlink", "s3cret-口令")) as server:
        code, out = run("schemas", "push", "--registry-url", server.url)
        assert code == 1 and "HTTP 401" in out
        code, out = run("schemas", "push", "--registry-url", server.url, "--auth", "justlink",
                        env={"JUSTLINK_SCHEMA_REGISTRY_PASSWORD": "s3cret-口令"})
        assert code == 0, out
        code, out = run("schemas", "check", "--registry-url", server.url, "--auth", "justlink:wrong")
        assert code == 1 and "HTTP 401" in out and "wrong" not in out, "the password is never echoed"
        remote = RemoteSchemaRegistry(server.url, auth=RegistryAuth("justlink", "s3cret-口令"))
        assert compare(remote) == []
        assert "s3cret" not in repr(RegistryAuth("justlink", "s3cret-口令"))


def test_an_unreachable_registry_is_named() -> None:
    code, out = run("schemas", "push", "--registry-url", "http://127.0.0.1:9")
    assert code == 1 and "schema registry http://127.0.0.1:9 unreachable" in out

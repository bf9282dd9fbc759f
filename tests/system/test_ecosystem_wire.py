"""Done-when of issue 19: a demo-like run on Kafka — a generated county through the four connectors, the
processors as a faust worker, the views, API accesses (audit) and consents — and then EVERY topic consumed
with only third-party code: confluent-kafka's Consumer, its SchemaRegistryClient and AvroDeserializer,
and the test registry filled by `justlink schemas push`. Every record must decode, carry the record
headers, and its `schema_id` header must name the id framed in the value. The worker's /metrics is
`promtool check metrics` clean while it runs.

Content types: Avro (Confluent wire format) everywhere, the audit trail and its signed heads included,
except the processors' dead letters, which are JSON (`content-type: application/json`), and the
connectors' dead letters, in Kafka Connect's convention (`__connect.errors.*` headers, the key the dead
letter's id) with the original sealed (`application/vnd.justlink.sealed-original.v1`, whose documented
layout — connectors/sdk/deadletter.py, consent/privacy/sealing.py — is checked here)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastapi.testclient import TestClient

from connectors.synthetic.generator import generate
from consent.access.consents import publish_consent_event
from consent.access.users import UserRegistry, create_demo_users
from hub.api.app import create_app
from hub.cli.main import cli
from hub.services.context import AppServices
from runtime.eventlog.kafka import KafkaEventLog
from runtime.settings import Settings
from runtime.topics import (
    AGENCY_TOPICS,
    AUDIT_TOPIC,
    RESOLVED_TOPIC,
    dead_letter_topic,
)
from runtime.viewstore import open_view_store
from streams.envelope import hub_envelope
from streams.runners.views import run_projector
from streams.views.projector import ViewProjector
from tests.support import chdb_data_dir, unique_database
from tests.support.county import publish_county
from tests.support.faust_worker import ResolvedProgress, TopicReader, start_worker, stop
from tests.support.kafka_broker import TansuBroker, free_port
from tests.support.promtool import check_metrics
from tests.support.schema_registry import SchemaRegistryServer

HEADERS = {"event_type", "content-type", "schema_id", "traceparent"}
JSON_TOPICS = {"justlink.processors.deadletter"}
SEALED = b"application/vnd.justlink.sealed-original.v1"
CONNECT_ERROR_HEADERS = {f"__connect.errors.{name}" for name in (
    "topic", "partition", "offset", "connector.name", "task.id", "stage", "class.name", "exception.class.name",
    "exception.message")}
CONNECTOR_DEAD_LETTERS = {dead_letter_topic(a) for a in ("court", "police", "civil_affairs", "justice")}
FAUST_INTERNAL = "justlink-pipeline-"   # the worker's state changelogs and leader topic (faust's, not events)


def read_everything(bootstrap: str, topics: list[str]) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "third-party-reader",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    metadata = consumer.list_topics(timeout=10)
    consumer.assign([TopicPartition(t, p, 0) for t in topics for p in metadata.topics[t].partitions])
    records, quiet = [], 0
    while quiet < 5:
        batch = consumer.consume(num_messages=5000, timeout=1.0)
        quiet = 0 if batch else quiet + 1
        for message in batch:
            assert message.error() is None, message.error()
            records.append(message)
    consumer.close()
    return records


@pytest.mark.kafka
@pytest.mark.slow
def test_every_topic_of_a_kafka_run_decodes_with_third_party_clients_only(tmp_path: Path) -> None:
    data, county = tmp_path / "data", tmp_path / "county"
    generate(county, 150, seed=21)
    with TansuBroker(log_path=tmp_path / "tansu.log") as broker, SchemaRegistryServer() as registry:
        env = {"JUSTLINK_CONFIG": str(tmp_path / "absent.toml"), "JUSTLINK_DATA_DIR": str(data)}
        pushed = CliRunner().invoke(cli, ["schemas", "push", "--registry-url", registry.url], env=env)
        assert pushed.exit_code == 0 and "imported with their ids" in pushed.output, pushed.output

        log = KafkaEventLog(broker.bootstrap, default_partitions=2)
        publish_county(county, data, log)                                     # connectors -> Kafka
        agency_events = sum(log.end_offsets(t)[p] for t in AGENCY_TOPICS for p in range(2))
        log.create_topic(RESOLVED_TOPIC, 2)   # the worker's output, read below while it runs

        metrics_port = free_port()
        worker = start_worker(broker.bootstrap, data, tmp_path / "worker.log", partitions=2,
                              env={"JUSTLINK_WORKER_METRICS_PORT": str(metrics_port),
                                   "JUSTLINK_SCHEMA_REGISTRY_URL": registry.url})   # ids from the registry
        progress = ResolvedProgress(TopicReader(broker.bootstrap, [RESOLVED_TOPIC]))
        try:
            progress.wait_for(agency_events, timeout_s=240, child=worker)
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
                worker_metrics = response.read().decode()
            with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/healthz", timeout=10) as response:
                assert response.status == 200
        finally:
            stop(worker)
            progress.reader.close()
        check_metrics(worker_metrics, "the faust worker's /metrics")
        assert 'justlink_stream_events_in_total{stage="processors",topic="justlink.pipeline.in"}' in worker_metrics

        settings = Settings(data_dir=data, log_backend="kafka", kafka_bootstrap_servers=broker.bootstrap,
                            clickhouse_database=unique_database("ecosystem"))
        store = open_view_store(settings.model_copy(update={"data_dir": chdb_data_dir()}))
        store.migrate()
        projected = run_projector(log, ViewProjector(store))                  # views
        assert projected.records >= agency_events
        from consent.privacy.keys import open_keystore
        from consent.privacy.protect import Protector

        keystore = open_keystore(data)
        services = AppServices.build(settings, log, store, Protector(keystore))
        with UserRegistry.open(data) as users:
            token = next(t.token for t in create_demo_users(users) if t.user_id == "mediator.demo")
        person = store.query_rows("SELECT person_id FROM timeline FINAL WHERE startsWith(person_id, 'P') LIMIT 1")[0][0]
        now = int(time.time() * 1000)
        publish_consent_event(log, "ConsentGranted", {
            "envelope": hub_envelope("ConsentGranted", "consent\x1fecosystem", now), "consent_id": "ecosystem",
            "subject": person, "grantee_role": "mediator", "grantee_organisation": "*",
            "purpose": "dispute_mediation", "field_classes": ["identifier"], "valid_from": now, "valid_until": None})
        with TestClient(create_app(services)) as client:                      # API accesses -> audit
            for extra in ({}, {"X-JustLink-Purpose": "curiosity"}):
                headers = {"Authorization": f"Bearer {token}", "X-JustLink-Role": "mediator",
                           "X-JustLink-Purpose": "dispute_mediation", **extra}
                status = client.get(f"/api/v1/persons/{person}/history", headers=headers).status_code
                assert status in (200, 403, 404), status   # allowed or refused, audited either way
        services.close()
        keystore.close()
        store.command(f"DROP DATABASE IF EXISTS `{store.database}`")
        store.close()
        log.close()

        # --- from here on, third-party code only ------------------------------------------------------
        topics = sorted(t for t in AdminClient({"bootstrap.servers": broker.bootstrap}).list_topics(timeout=10).topics
                        if not t.startswith(("__", FAUST_INTERNAL)))
        records = read_everything(broker.bootstrap, topics)
        client = SchemaRegistryClient({"url": registry.url})
        deserialize = AvroDeserializer(client)
        decoded, by_type = Counter(), Counter()
        for message in records:
            topic, value = message.topic(), message.value()
            headers = {k: v for k, v in (message.headers() or [])}
            assert set(headers) >= HEADERS - {"schema_id"}, (topic, sorted(headers))
            if topic in CONNECTOR_DEAD_LETTERS:   # Kafka Connect's convention; the original sealed (its format)
                assert set(headers) >= CONNECT_ERROR_HEADERS, (topic, sorted(headers))
                assert headers["content-type"] == SEALED and message.key().startswith(b"dl-")
                subjects = value[4]
                assert value[:4] == b"jls1" and 0 < subjects and len(value) > 5 + subjects * 80 + 28
                decoded[topic] += 1
                continue
            if headers["content-type"] == b"application/json":
                assert topic in JSON_TOPICS, topic
                json.loads(value)
            else:
                assert headers["content-type"] == b"application/avro"
                assert int(headers["schema_id"]) == int.from_bytes(value[1:5], "big")
                record = deserialize(value, SerializationContext(topic, MessageField.VALUE))
                if "envelope" in record:   # the audit trail's records and heads carry no event envelope
                    assert record["envelope"]["event_type"] == headers["event_type"].decode()
                by_type[headers["event_type"].decode()] += 1
            decoded[topic] += 1
        assert sum(decoded.values()) == len(records), "100 % of the records decode"
        must_have = {*AGENCY_TOPICS, "justlink.identity", "justlink.disputes", RESOLVED_TOPIC, "justlink.consent",
                     "justlink.pipeline.in", AUDIT_TOPIC}
        assert must_have <= {t for t, n in decoded.items() if n}, decoded
        assert {"PersonLinked", "DisputeThreaded", "EventResolved", "ConsentGranted", "CaseFiled", "AccessAudited",
                "AuditHeadSigned"} <= set(by_type)
        print(f"decoded {len(records)} records on {len(decoded)} topics with third-party clients: {dict(decoded)}")

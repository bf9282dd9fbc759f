"""Kafka TLS/SASL and ClickHouse TLS settings: bad combinations stop at start naming the setting, secrets come
from the environment or a file, and the event log really speaks TLS to a broker (Tansu behind a TLS proxy
with a CA made at run time) — and refuses a broker whose certificate its CA did not sign."""

from __future__ import annotations

import socket
import ssl
import uuid
from pathlib import Path

import pytest

from runtime.eventlog import EventLogError, open_event_log
from runtime.eventlog.kafka import KafkaEventLog
from runtime.kafka_security import KafkaSecurity
from runtime.settings import SettingsError, load_settings
from streams.runners.faust_app import faust_credentials
from tests.support.kafka_broker import TansuBroker, free_port
from tests.support.tls import TlsProxy, make_authority, make_server_cert


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("settings", "named"), [
    ({"kafka_security_protocol": "SASL_SSL"}, "kafka_sasl_mechanism"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512"}, "kafka_sasl_username"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "hub"},
     "kafka_sasl_password"),
    ({"kafka_sasl_username": "hub"}, "kafka_sasl_username"),
    ({"kafka_sasl_mechanism": "PLAIN"}, "kafka_sasl_mechanism"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "hub",
      "kafka_sasl_password": "p", "kafka_sasl_password_file": "PEM"}, "kafka_sasl_password"),
    ({"kafka_ssl_cafile": "PEM"}, "kafka_ssl_cafile"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "PEM"}, "kafka_ssl_certfile"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nonexistent/ca.pem"}, "kafka_ssl_cafile"),
    ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
    ({"clickhouse_ca_file": "PEM"}, "clickhouse_ca_file"),
    ({"clickhouse_secure": True}, "clickhouse_secure"),
    ({"schema_registry_url": "registry:8081"}, "schema_registry_url"),
    ({"schema_registry_url": "http://registry:8081", "schema_registry_ca_file": "PEM"}, "schema_registry_ca_file"),
    ({"schema_registry_url": "https://registry:8081", "schema_registry_user": "hub"}, "schema_registry_password"),
])
def test_a_bad_combination_stops_at_start_naming_the_setting(settings: dict, named: str, pem: Path) -> None:
    given = {k: str(pem) if v == "PEM" else v for k, v in settings.items()}
    with pytest.raises(SettingsError) as error:
        load_settings(**given)
    assert f"setting '{named}'" in str(error.value)
    assert "p\n" not in str(error.value) and "secret" not in str(error.value)


def test_good_combinations_load_and_secrets_come_from_a_file(tmp_path: Path, pem: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "sasl.password"
    secret.write_text("口令-from-file\n", encoding="utf-8")
    settings = load_settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
                             kafka_sasl_username="justlink", kafka_sasl_password_file=str(secret),
                             clickhouse_secure=True, clickhouse_port=8443, clickhouse_ca_file=str(pem))
    security = KafkaSecurity.from_settings(settings)
    assert security.password == "口令-from-file" and "口令" not in repr(security)
    monkeypatch.setenv("JUSTLINK_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("JUSTLINK_KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("JUSTLINK_KAFKA_SASL_USERNAME", "justlink")
    monkeypatch.setenv("JUSTLINK_KAFKA_SASL_PASSWORD", "from-env")
    from_env = KafkaSecurity.from_settings(load_settings())
    assert from_env.kafka_python() == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                                       "sasl_plain_username": "justlink", "sasl_plain_password": "from-env"}
    assert "from-env" not in repr(load_settings())


def test_tls_always_verifies_and_the_faust_worker_gets_the_same_credentials(tmp_path: Path) -> None:
    ca = make_authority(tmp_path)
    security = KafkaSecurity("SASL_SSL", "SCRAM-SHA-256", "justlink", "pw", cafile=ca.cert_file)
    context = security.ssl_context()
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    credentials = faust_credentials(security)
    assert credentials is not None and credentials.protocol.name == "SASL_SSL"
    assert faust_credentials(KafkaSecurity("SSL", cafile=ca.cert_file)).protocol.name == "SSL"
    assert faust_credentials(KafkaSecurity()) is None
    assert security.librdkafka() == {   # the event log's producer: the same credentials, host names verified
        "security.protocol": "SASL_SSL", "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(ca.cert_file), "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": "justlink",
        "sasl.password": "pw"}
    assert KafkaSecurity("SSL").librdkafka()["ssl.ca.location"] == "probe"   # the system's CAs
    assert KafkaSecurity().librdkafka() == {"security.protocol": "PLAINTEXT"}


class _TansuAdvertising(TansuBroker):
    """Tansu listening in plain text on `port` but advertising the TLS proxy's port to clients."""

    def __init__(self, advertised_port: int, log_path: Path) -> None:
        super().__init__(log_path=log_path)
        self.advertised_port = advertised_port

    def command(self) -> list[str]:
        return [str(self.binary), "broker", "--listener-url", f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url", f"tcp://127.0.0.1:{self.advertised_port}",
                "--storage-engine", "memory://tansu/"]

    def _check_answers(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1):
            pass


@pytest.mark.kafka
def test_the_event_log_speaks_tls_to_the_broker_and_refuses_an_unknown_ca(tmp_path: Path) -> None:
    ca, impostor = make_authority(tmp_path / "ca"), make_authority(tmp_path / "impostor", "Impostor CA")
    cert, key = make_server_cert(ca, tmp_path / "ca")
    tls_port = free_port()
    broker = _TansuAdvertising(tls_port, tmp_path / "tansu.log")
    broker.start()
    proxy = TlsProxy(cert, key, broker.port, tls_port).start()
    try:
        settings = load_settings(log_backend="kafka", kafka_bootstrap_servers=f"127.0.0.1:{tls_port}",
                                 kafka_security_protocol="SSL", kafka_ssl_cafile=str(ca.cert_file))
        topic = f"tls-{uuid.uuid4().hex[:8]}"
        with open_event_log(settings) as log:
            log.create_topic(topic, 1)
            log.append(topic, "调解".encode(), key=b"k", headers=(("event_type", b"X"),))
            with log.consumer("tls-check", [topic]) as consumer:
                records = []
                while not records:
                    records = consumer.poll(10, timeout_s=5)
        assert records[0].value == "调解".encode() and records[0].headers == (("event_type", b"X"),)

        failures = proxy.handshake_failures
        wrong = KafkaEventLog(f"127.0.0.1:{tls_port}", timeout_s=3,
                              security=KafkaSecurity("SSL", cafile=impostor.cert_file))
        with pytest.raises(EventLogError, match=f"127.0.0.1:{tls_port}"):
            wrong.topics()
        wrong._known_topics[topic] = 1   # the producer (librdkafka) on its own: it refuses the impostor too
        with pytest.raises(EventLogError, match=f"topic '{topic}'.*127.0.0.1:{tls_port}"):
            wrong.append(topic, b"x", key=b"k")
        wrong.close()
        assert proxy.handshake_failures > failures, "the client broke off the handshake: unknown CA"
    finally:
        proxy.stop()
        broker.stop()

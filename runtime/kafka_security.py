"""How the hub's Kafka clients authenticate and encrypt: one value built from the settings
(`kafka_security_protocol`, `kafka_sasl_*`, `kafka_ssl_*`, validated when the settings load) and handed
to every Kafka client of the hub — the event log's kafka-python clients and librdkafka producer, and the
faust worker's aiokafka ones — so none of them can be left on plain text by mistake.

TLS always verifies the brokers' certificates and host names (against `kafka_ssl_cafile`, or the
system's CAs); there is no setting to turn that off.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.settings import Settings


@dataclass(frozen=True)
class KafkaSecurity:
    protocol: str = "PLAINTEXT"           # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism: str | None = None     # PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    username: str = ""
    password: str = field(default="", repr=False)
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        sasl = settings.kafka_security_protocol.startswith("SASL_")
        return cls(settings.kafka_security_protocol, settings.kafka_sasl_mechanism,
                   settings.kafka_sasl_username, settings.secret("kafka_sasl_password") if sasl else "",
                   settings.kafka_ssl_cafile, settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context (CA file or the system's CAs, host names checked, mutual TLS when a
        certificate is set); None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.cafile) if self.cafile else None)
        if self.certfile is not None:
            context.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None)
        return context

    def librdkafka(self) -> dict[str, Any]:
        """The same for librdkafka's producer (confluent-kafka): host names verified, no way to turn it off."""
        options: dict[str, Any] = {"security.protocol": self.protocol}
        if self.tls:
            options["ssl.endpoint.identification.algorithm"] = "https"
            options["ssl.ca.location"] = str(self.cafile) if self.cafile else "probe"   # else the system's CAs
            if self.certfile is not None:
                options["ssl.certificate.location"] = str(self.certfile)
                if self.keyfile is not None:
                    options["ssl.key.location"] = str(self.keyfile)
        if self.sasl:
            options.update({"sasl.mechanism": self.sasl_mechanism, "sasl.username": self.username,
                            "sasl.password": self.password})
        return options

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            options["ssl_context"] = self.ssl_context()
        if self.sasl:
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password)
        return options

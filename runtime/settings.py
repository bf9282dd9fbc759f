"""One settings model for the whole hub.

Read, in increasing priority, from defaults, `justlink.toml` (in the working directory or
the file named by JUSTLINK_CONFIG), `JUSTLINK_*` environment variables (names matched
case-insensitively), and the keyword arguments given. Invalid settings fail at start with a
message that names the setting.

A plain pydantic model reads the two sources itself: pydantic-settings would cost every
`justlink` process ~0.1 CPU-s of imports for what these few lines do.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

ENV_PREFIX = "JUSTLINK_"


class SettingsError(ValueError):
    """A setting is invalid; the message names it."""


def _config_file() -> Path:
    return Path(os.environ.get("JUSTLINK_CONFIG", "justlink.toml"))


def _file_values() -> dict[str, Any]:
    path = _config_file()
    if not path.is_file():
        return {}
    import tomllib

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"settings file {path}: {exc}") from None


def _env_values(names: Any) -> dict[str, str]:
    env = {key.lower(): value for key, value in os.environ.items() if key[: len(ENV_PREFIX)].upper() == ENV_PREFIX}
    prefix = ENV_PREFIX.lower()
    return {name: env[prefix + name] for name in names if prefix + name in env}


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    def __init__(self, **values: Any) -> None:
        super().__init__(**{**_file_values(), **_env_values(type(self).model_fields), **values})

    data_dir: Path = Field(Path(".justlink"), description="Where the embedded log, chDB views and keystore live.")

    log_backend: Literal["embedded", "kafka"] = Field("embedded", description="Event log backend.")
    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", description="host:port[,host:port] of Kafka brokers.")
    kafka_client_id: str = "justlink"
    topic_partitions: int = Field(4, ge=1, le=1024, description="Partitions per topic when the hub creates one.")
    kafka_replication_factor: int = Field(1, ge=1, le=16, description="Replicas of topics the hub creates "
                                          "(3 in production, where brokers require 2 in sync).")

    view_backend: Literal["chdb", "clickhouse"] = Field("chdb", description="Where the shared views live.")
    clickhouse_host: str = "127.0.0.1"
    clickhouse_port: int = Field(8123, ge=1, le=65535)
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    clickhouse_database: str = "justlink"
    clickhouse_secure: bool = Field(False, description="HTTPS to ClickHouse, verifying its certificate.")
    clickhouse_ca_file: Path | None = Field(None, description="CA bundle (PEM) that signed ClickHouse's certificate; "
                                            "default: the system's CAs. Needs clickhouse_secure.")
    clickhouse_cluster: str = Field("", description="ClickHouse cluster name (remote_servers): the views are then "
                                    "replicated, distributed tables created ON CLUSTER; empty for one node or chDB.")
    audit_view_retention_years: int = Field(0, ge=0, le=100, description="On a cluster, years the audit_log view "
                                            "keeps a row (TTL); 0 keeps every row. The trail itself stays on the log.")

    # Kafka security (every Kafka client of the hub: the event log, the faust worker)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How the hub talks to the brokers.")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="SASL mechanism; needs a SASL_* protocol.")
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = Field(SecretStr(""), description="Prefer kafka_sasl_password_file.")
    kafka_sasl_password_file: Path | None = Field(None, description="File holding the SASL password.")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) that signed the brokers' certificates; "
                                          "default: the system's CAs. Needs an SSL protocol.")
    kafka_ssl_certfile: Path | None = Field(None, description="Client certificate (PEM) for mutual TLS.")
    kafka_ssl_keyfile: Path | None = Field(None, description="Client private key (PEM) for mutual TLS.")

    # Schema Registry (Confluent REST API): where `justlink schemas push/check` go, and, when set, where
    # producers take schema ids from instead of schemas/registry.json
    schema_registry_url: str = Field("", description="http(s)://host:port of a Confluent-REST schema registry.")
    schema_registry_user: str = ""
    schema_registry_password: SecretStr = Field(SecretStr(""), description="Prefer schema_registry_password_file.")
    schema_registry_password_file: Path | None = None
    schema_registry_ca_file: Path | None = Field(None, description="CA bundle (PEM) of an https registry.")

    # Metrics: the API serves /metrics; the faust worker serves /metrics and /healthz on metrics_host:
    # worker_metrics_port; one-shot connectors push theirs to a Pushgateway at the end of a run
    metrics_host: str = Field("127.0.0.1", description="Where the worker's /metrics and /healthz listen "
                              "(0.0.0.0 in a container).")
    worker_metrics_port: int = Field(9464, ge=0, le=65535, description="The worker's /metrics port (0: none).")
    metrics_pushgateway_url: str = Field("", description="Pushgateway that connector runs push their metrics to "
                                         "(http://host:9091); empty: no push.")

    api_host: str = "127.0.0.1"
    api_port: int = Field(8000, ge=1, le=65535)

    master_key_file: Path | None = Field(
        None, description="File holding the keystore master key; else JUSTLINK_MASTER_KEY or <data_dir>/master.key."
    )

    timezone: str = Field("Asia/Shanghai", description="The agencies' time zone (IANA name): dates are shown in "
                          "it and date filters such as --since are read in it. Storage and the wire stay UTC.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; expected an IANA name such as Asia/Shanghai") from None
        return value

    audit_key_fingerprint: str | None = Field(
        None, description="The audit key's fingerprint (64 hex, `justlink audit export-key` prints it) that "
        "`justlink audit verify` trusts: pin it here, outside the data directory.")
    audit_checkpoint_every: int = Field(100, ge=1, le=1_000_000,
                                        description="Sign a head of the audit trail at least every N records.")
    audit_checkpoint_interval_s: float = Field(
        30.0, gt=0, le=86_400, description="... and at least every T seconds while records are unsigned by a head.")

    @field_validator("audit_key_fingerprint")
    @classmethod
    def _fingerprint_is_hex(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        text = value.strip().lower().replace(":", "")
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            raise ValueError("expected the 64 hex characters `justlink audit export-key` prints")
        return text

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _servers_have_ports(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port], got {server!r}")
        return value

    @model_validator(mode="after")
    def _security_combinations(self) -> Settings:
        """Combinations that cannot work, or would silently not do what they say; each names a setting."""
        for name in ("clickhouse_ca_file", "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile",
                     "kafka_sasl_password_file", "schema_registry_password_file", "schema_registry_ca_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: no readable file at {path}")
        if self.clickhouse_ca_file is not None and not self.clickhouse_secure:
            raise ValueError("clickhouse_ca_file is set but clickhouse_secure is false: the CA would not be used")
        if self.clickhouse_secure and self.clickhouse_port == 8123:
            raise ValueError("clickhouse_secure is true but clickhouse_port is 8123, ClickHouse's plain HTTP port "
                             "(its HTTPS port is usually 8443)")
        protocol = self.kafka_security_protocol
        sasl, tls = protocol.startswith("SASL_"), protocol.endswith("SSL")
        if sasl:
            if self.kafka_sasl_mechanism is None:
                raise ValueError(f"kafka_sasl_mechanism is required with kafka_security_protocol {protocol}")
            if not self.kafka_sasl_username:
                raise ValueError(f"kafka_sasl_username is required with kafka_security_protocol {protocol}")
            if not self.kafka_sasl_password.get_secret_value() and self.kafka_sasl_password_file is None:
                raise ValueError("kafka_sasl_password or kafka_sasl_password_file is required with "
                                 f"kafka_security_protocol {protocol}")
        else:
            given = [n for n in ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password_file")
                     if getattr(self, n)] + (["kafka_sasl_password"] if self.kafka_sasl_password.get_secret_value()
                                             else [])
            if given:
                raise ValueError(f"{given[0]} is set but kafka_security_protocol is {protocol}: SASL would not be "
                                 "used (set SASL_SSL, or SASL_PLAINTEXT on a trusted network)")
        if self.kafka_sasl_password.get_secret_value() and self.kafka_sasl_password_file is not None:
            raise ValueError("kafka_sasl_password and kafka_sasl_password_file are both set: keep one")
        tls_files = [n for n in ("kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile") if getattr(self, n)]
        if tls_files and not tls:
            raise ValueError(f"{tls_files[0]} is set but kafka_security_protocol is {protocol}: no TLS would be "
                             "used (SSL or SASL_SSL)")
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("kafka_ssl_certfile and kafka_ssl_keyfile go together (mutual TLS needs both)")
        url = self.schema_registry_url
        if url and not url.startswith(("http://", "https://")):
            raise ValueError("schema_registry_url must start with http:// or https://")
        if self.schema_registry_ca_file is not None and not url.startswith("https://"):
            raise ValueError("schema_registry_ca_file is set but schema_registry_url is not https://")
        has_password = bool(self.schema_registry_password.get_secret_value() or self.schema_registry_password_file)
        if self.schema_registry_user and not has_password:
            raise ValueError("schema_registry_password (or schema_registry_password_file) is required with "
                             "schema_registry_user")
        return self

    def secret(self, name: str) -> str:
        """A password setting's value: `<name>_file`'s content (stripped), else `<name>` itself."""
        path: Path | None = getattr(self, f"{name}_file")
        if path is not None:
            return path.read_text(encoding="utf-8").strip()
        value: SecretStr = getattr(self, name)
        return value.get_secret_value()

    @property
    def kafka_servers(self) -> list[str]:
        return [s.strip() for s in self.kafka_bootstrap_servers.split(",")]


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning pydantic's error into one that names each bad setting."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            if not name:  # a combination of settings; the message starts with the setting to change
                message = str(err["msg"]).removeprefix("Value error, ")
                name, _, rest = message.partition(" ")
                name = name.rstrip(":")
                problems.append(f"setting '{name}' (env JUSTLINK_{name.upper()}): {rest}")
                continue
            problems.append(f"setting '{name}' (env JUSTLINK_{name.upper()}): {err['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(problems)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

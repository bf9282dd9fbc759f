"""The event log: interface (`base`), backends (`embedded`, `kafka`) and the factory."""

from __future__ import annotations

from typing import TYPE_CHECKING

from runtime.eventlog.base import (
    Appended,
    Consumer,
    EventLog,
    EventLogError,
    Headers,
    Record,
    TopicPartition,
)

if TYPE_CHECKING:
    from runtime.settings import Settings

__all__ = ["Appended", "Consumer", "EventLog", "EventLogError", "Headers", "Record", "TopicPartition",
           "open_event_log"]


def open_event_log(settings: Settings) -> EventLog:
    """The backend `settings.log_backend` names: the embedded log in
    `<data_dir>/log.db`, or the Kafka brokers `settings.kafka_servers`."""
    if settings.log_backend == "embedded":
        from runtime.eventlog.embedded import EmbeddedEventLog

        return EmbeddedEventLog(settings.data_dir / "log.db", default_partitions=settings.topic_partitions)
    if settings.log_backend == "kafka":
        from runtime.eventlog.kafka import KafkaEventLog
        from runtime.kafka_security import KafkaSecurity

        return KafkaEventLog(settings.kafka_servers, client_id=settings.kafka_client_id,
                             replication_factor=settings.kafka_replication_factor,
                             default_partitions=settings.topic_partitions,
                             security=KafkaSecurity.from_settings(settings))
    raise EventLogError(f"setting 'log_backend': unknown event log backend {settings.log_backend!r}")

"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kafka_broker import TansuBroker


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[str]:
    """A real Kafka-protocol broker (Tansu) for the session: "127.0.0.1:PORT".
    Fails, never skips, when the broker binary is missing."""
    broker = TansuBroker()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()

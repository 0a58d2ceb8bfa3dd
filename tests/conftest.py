"""Shared fixtures. Integration tests (marker ``kafka``) get a real broker started here."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real single-node Apache Kafka (KRaft) for the test session; yields the bootstrap address.

    ``EMENDO_TEST_BROKER=host:port`` uses an already running broker instead.
    """
    if os.environ.get("EMENDO_TEST_BROKER"):
        yield os.environ["EMENDO_TEST_BROKER"]
        return
    from emendo.streams.broker import LocalKafka, free_port

    broker = LocalKafka(data_dir=tmp_path_factory.mktemp("kafka"), port=free_port(),
                        controller_port=free_port(), partitions=4)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()

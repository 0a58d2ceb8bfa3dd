"""Tests of the local Kafka broker manager (:mod:`emendo.streams.broker`).

The ``kafka``-marked test starts a real Kafka broker of its own (jars fetched by Maven on first use);
the others need neither Java nor a network.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emendo.errors import BrokerError
from emendo.streams import broker
from emendo.streams.broker import KAFKA_VERSION, LocalKafka, free_port

BIG = 1_000_000


async def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, count: int) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                group_id=None, enable_auto_commit=False,
                                fetch_max_bytes=8 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(60):
            while len(values) < count:
                record = await consumer.getone()
                assert record.value is not None
                values.append(record.value)
        return values
    finally:
        await consumer.stop()


@pytest.mark.kafka
def test_start_produce_consume_stop_and_restart(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path / "kafka", port=free_port(), controller_port=free_port(), partitions=2)
    started = time.monotonic()
    kafka.start()
    try:
        first_start = time.monotonic() - started
        status = kafka.status()
        assert status["running"] is True
        assert status["version"] == KAFKA_VERSION
        assert status["bootstrap"] == kafka.bootstrap == f"127.0.0.1:{kafka.port}"
        pid = status["pid"]
        assert isinstance(pid, int) and kafka.pid_file.read_text().strip() == str(pid)

        kafka.start()  # already running: nothing happens
        assert kafka.pid() == pid

        kafka.create_topics(["emendo.test"])
        kafka.create_topics(["emendo.test", "emendo.other"], partitions=3)  # idempotent
        asyncio.run(_produce(kafka.bootstrap, "emendo.test", [b"hello", b"x" * BIG]))
        values = asyncio.run(_consume(kafka.bootstrap, "emendo.test", 2))
        assert values == [b"hello", b"x" * BIG]

        cluster_id = (kafka.data_dir / "kraft" / "meta.properties").read_text()
        kafka.stop()
        assert kafka.status()["running"] is False
        assert not kafka.pid_file.exists()
        kafka.stop()  # not running: no error

        # a second start (from a fresh object, as the CLI does) re-uses the formatted storage
        again = LocalKafka(kafka.data_dir, port=kafka.port, controller_port=kafka.controller_port)
        started = time.monotonic()
        again.start()
        print(f"\nKafka {KAFKA_VERSION}: first start {first_start:.1f}s, "
              f"restart {time.monotonic() - started:.1f}s")
        assert (again.data_dir / "kraft" / "meta.properties").read_text() == cluster_id
        assert asyncio.run(_consume(again.bootstrap, "emendo.test", 2)) == [b"hello", b"x" * BIG]
        again.stop()
        assert again.status()["running"] is False
    finally:
        kafka.stop()


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        kafka = LocalKafka(tmp_path, port=busy, controller_port=free_port())
        with pytest.raises(BrokerError, match=f"port 127.0.0.1:{busy} is already in use"):
            kafka.start()


def test_stale_pid_file_is_ignored(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    kafka = LocalKafka(tmp_path)
    kafka.pid_file.write_text(f"{proc.pid}\n")
    assert kafka.pid() is None
    assert not kafka.pid_file.exists()
    assert kafka.status() == {"running": False, "pid": None, "bootstrap": "127.0.0.1:9092",
                              "data_dir": str(tmp_path.resolve()), "version": KAFKA_VERSION}
    kafka.pid_file.write_text("garbage")
    kafka.stop()  # no error
    assert not kafka.pid_file.exists()


def test_pid_of_an_unrelated_process_is_not_a_broker(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        kafka = LocalKafka(tmp_path)
        kafka.pid_file.write_text(str(proc.pid))
        assert kafka.pid() is None
        kafka.stop()
        assert proc.poll() is None  # stop() must not kill what is not our broker
    finally:
        proc.kill()
        proc.wait()


def test_server_properties(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path, port=19092, controller_port=19093, partitions=6,
                       config={"log.retention.hours": "1"})
    props = kafka.server_properties()
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["num.partitions"] == "6"
    assert props["message.max.bytes"] == props["replica.fetch.max.bytes"] == str(4 * 1024 * 1024)
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["log.retention.hours"] == "1"
    assert props["log.dirs"] == str(tmp_path.resolve() / "kraft")


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMENDO_CACHE_DIR", str(tmp_path / "c"))
    assert broker.cache_dir() == tmp_path / "c"
    assert broker.kafka_home() == tmp_path / "c" / f"kafka-{KAFKA_VERSION}"
    monkeypatch.delenv("EMENDO_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert broker.cache_dir() == tmp_path / "x" / "emendo"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert broker.cache_dir() == Path.home() / ".cache" / "emendo"


def test_missing_tools_name_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMENDO_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError, match=r"'mvn' was not found.*Maven"):
        broker.install()
    broker.java_executable.cache_clear()
    try:
        with pytest.raises(BrokerError, match=r"'java' was not found.*Java 17"):
            broker.java_executable()
    finally:
        broker.java_executable.cache_clear()


@pytest.mark.kafka
def test_bad_config_fails_with_the_log_tail(tmp_path: Path) -> None:
    kafka = LocalKafka(tmp_path, port=free_port(), controller_port=free_port(),
                       config={"num.partitions": "many"})
    with pytest.raises(BrokerError, match=r"num\.partitions") as info:
        kafka.start(timeout=60)
    print(info.value)
    assert kafka.status()["running"] is False and not kafka.pid_file.exists()

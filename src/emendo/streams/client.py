"""Produce and consume emendo records with aiokafka (``emendo produce`` / ``emendo consume``)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from emendo.errors import EmendoError
from emendo.records import Source
from emendo.streams.app import MAX_MESSAGE_BYTES

Format = Literal["auto", "jsonl", "text"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed message."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


def file_messages(
    path: Path, fmt: Format = "auto", source: Source = "asr"
) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, value) pairs for a file: JSONL lines are sent as they are (keyed by their
    ``id`` when it can be read); plain text lines become ``{"id", "text", "source"}`` records."""
    if fmt == "auto":
        fmt = "jsonl" if path.suffix in (".jsonl", ".json", ".ndjson") else "text"
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            if fmt == "text":
                text = line.decode("utf-8", "replace")
                rid = f"{path.stem}-{lineno}"
                yield rid.encode(), json.dumps({"id": rid, "text": text, "source": source}).encode()
            else:
                yield _id_key(line), line


def _id_key(value: bytes) -> bytes | None:
    try:
        rid = json.loads(value).get("id")
    except (ValueError, AttributeError):
        return None
    return rid.encode() if isinstance(rid, str) and rid else None


async def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]]) -> int:
    """Send messages (idempotent producer, acks=all) and wait for every acknowledgement.
    A ``None`` value is a tombstone (deletes the key from a compacted topic)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
                                max_request_size=MAX_MESSAGE_BYTES, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(futures)


async def consume(
    bootstrap: str, topics: Sequence[str], n: int | None, *, timeout: float = 30.0,
    group: str | None = None, from_beginning: bool = True,
) -> list[Message]:
    """Read up to ``n`` messages (all available if ``n`` is None), giving up after ``timeout``
    seconds without a new message. Without ``group`` nothing is committed."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=group is not None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        fetch_max_bytes=MAX_MESSAGE_BYTES * 2, max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
    )
    await consumer.start()
    out: list[Message] = []
    try:
        deadline = time.monotonic() + timeout
        while (n is None or len(out) < n) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=None if n is None else n - len(out))
            for records in batch.values():
                out.extend(Message(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp)
                           for r in records)
                deadline = time.monotonic() + timeout
    finally:
        await consumer.stop()
    return out


async def consume_until(
    bootstrap: str, topics: Sequence[str], want_keys: set[str] | None, *, timeout: float, idle: float = 2.0,
) -> list[Message]:
    """Read ``topics`` from the beginning with one consumer (no group) until every key in
    ``want_keys`` has been seen and then ``idle`` seconds pass without a new message (so late
    duplicates are counted too), or until ``timeout`` seconds in all. ``want_keys=None``
    reads until idle."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_bytes=MAX_MESSAGE_BYTES * 2,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES, metadata_max_age_ms=1000,
    )
    await consumer.start()
    out: list[Message] = []
    missing = set(want_keys or ())
    try:
        deadline = time.monotonic() + timeout
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    out.append(Message(r.topic, r.partition, r.offset, r.key, r.value, r.timestamp))
                    if r.key is not None:
                        missing.discard(r.key.decode("utf-8", "replace"))
                last_new = time.monotonic()
            if not missing and time.monotonic() - last_new >= idle:
                break
    finally:
        await consumer.stop()
    return out


async def ensure_topics(bootstrap: str, names: Sequence[str], partitions: int, timeout: float = 30.0, *,
                        config: Mapping[str, str] | None = None) -> None:
    """Create the topics that do not exist yet (replication factor 1; ``config``: topic configs
    such as ``{"cleanup.policy": "compact"}``) and wait until every partition has a leader.
    Existing topics are left as they are."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        if missing := [n for n in names if n not in set(await admin.list_topics())]:
            resp = await admin.create_topics([NewTopic(n, partitions, 1, topic_configs=dict(config or {}))
                                              for n in missing],
                                             timeout_ms=int(timeout * 1000))
            for topic, code, *message in resp.topic_errors:
                if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS (a concurrent create)
                    raise EmendoError(f"creating topic {topic!r} failed: error {code} {message}")
        deadline = time.monotonic() + timeout
        while names:
            described = await admin.describe_topics(list(names))
            if all(t["error_code"] == 0 and t["partitions"]
                   and all(p["leader"] >= 0 for p in t["partitions"]) for t in described):
                return
            if time.monotonic() > deadline:
                raise EmendoError(f"topics {list(names)} have no partition leaders after {timeout}s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` with the broker errors turned into EmendoError."""
    try:
        return asyncio.run(coro)
    except OSError as exc:
        raise EmendoError(f"cannot reach the Kafka broker: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("aiokafka"):
            raise EmendoError(f"Kafka error: {exc!r}") from exc
        raise

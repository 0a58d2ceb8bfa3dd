"""Live entity catalogs: every worker follows the compacted catalog topic (``EMENDO_ENTITY_TOPIC``).

A record keyed ``"<catalog>/<entity id>"`` with an entity JSON value adds or replaces that
entity; a tombstone (``None`` value) deletes it (:meth:`~emendo.correctors.entities.catalog.
Catalog.apply`). The topic is compacted, so it holds the latest state of every key and a
(re)starting worker rebuilds its catalog from the files plus a replay of the topic.

Catalogs are per-worker state, not a partitioned stream: the follower reads every partition
with its own consumer outside the workers' consumer group. :func:`CatalogFollower.catch_up`
replays the topic before the worker starts correcting; :func:`CatalogFollower.follow` then
runs as a Faust task and applies each new update on the correction thread, between two
batches, so a batch is never corrected against a half-applied update.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from emendo.correctors.entities.catalog import Catalog, entity_to_dict, read_catalog_file, update_key
from emendo.errors import EmendoError
from emendo.streams.client import ensure_topics

log = logging.getLogger(__name__)

TOPIC_CONFIG = {"cleanup.policy": "compact"}
Update = tuple[bytes | None, bytes | None]


async def ensure_entity_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> None:
    """Create the catalog topic, compacted with one partition, unless it exists."""
    await ensure_topics(bootstrap, [topic], 1, timeout, config=TOPIC_CONFIG)


def entity_updates(path: Path, *, catalog: str | None = None) -> Iterator[tuple[bytes, bytes]]:
    """Upsert messages for every entity of a JSONL/CSV catalog file (validated while read)."""
    for entity in read_catalog_file(path, catalog=catalog):
        value = json.dumps(entity_to_dict(entity), ensure_ascii=False, separators=(",", ":"))
        yield update_key(entity.catalog, entity.id).encode(), value.encode()


def entity_deletions(catalog: str, entity_ids: Sequence[str]) -> Iterator[tuple[bytes, None]]:
    """Tombstones deleting entities from a catalog."""
    for entity_id in entity_ids:
        yield update_key(catalog, entity_id).encode(), None


@dataclass
class CatalogFollower:
    """Applies the catalog topic to live catalogs; remembers how far it has read."""

    bootstrap: str
    topic: str
    catalogs: Sequence[Catalog]
    positions: dict[int, int] = field(default_factory=dict)  # partition -> next offset to read
    applied: int = 0
    rejected: int = 0

    def apply(self, updates: Sequence[Update]) -> None:
        """Apply updates in order; a bad one is logged and skipped (it must not stop the worker)."""
        for key, value in updates:
            try:
                if key is None:
                    raise EmendoError("catalog update without a key")
                for catalog in self.catalogs:
                    catalog.apply(key, value)
            except EmendoError as exc:
                self.rejected += 1
                log.warning("entity catalog update %r rejected: %s", key, exc)
            else:
                self.applied += 1
                log.debug("entity catalog update %r applied (%s)", key, "delete" if value is None else "upsert")

    async def catch_up(self, timeout: float = 120.0) -> int:
        """Apply everything up to the topic's current end; returns the number of updates read."""
        consumer = await self._consumer()
        read = 0
        try:
            tps = list(consumer.assignment())
            ends = await consumer.end_offsets(tps)
            deadline = time.monotonic() + timeout
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                if time.monotonic() > deadline:
                    raise EmendoError(f"replaying {self.topic!r} took longer than {timeout}s")
                batch = await consumer.getmany(timeout_ms=500)
                updates = self._take(batch)
                self.apply(updates)
                read += len(updates)
        finally:
            await consumer.stop()
        log.info("entity catalog: replayed %d updates from %s (%d rejected)", read, self.topic, self.rejected)
        return read

    async def follow(self, executor: Executor | None = None) -> None:
        """Apply new updates as they arrive, forever (cancel to stop); with ``executor``, each
        batch of updates is applied there (the correction thread)."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                consumer = await self._consumer()
                try:
                    while True:
                        updates = self._take(await consumer.getmany(timeout_ms=1000))
                        if updates:
                            await loop.run_in_executor(executor, self.apply, updates)
                finally:
                    await consumer.stop()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away: keep the catalog, retry from positions
                log.warning("following %s failed (%r); retrying in 2 s", self.topic, exc)
                await asyncio.sleep(2.0)

    async def _consumer(self, timeout: float = 30.0) -> AIOKafkaConsumer:
        """A consumer of every partition of the topic (no group: all partitions are assigned),
        at the remembered positions (the beginning for partitions not read yet)."""
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    metadata_max_age_ms=5000)
        await consumer.start()
        try:
            deadline = time.monotonic() + timeout
            while not consumer.assignment():
                if time.monotonic() > deadline:
                    raise EmendoError(f"entity catalog topic {self.topic!r} has no partitions after {timeout}s")
                await asyncio.sleep(0.1)
            for tp in consumer.assignment():
                if tp.partition in self.positions:
                    consumer.seek(tp, self.positions[tp.partition])
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    def _take(self, batch: Mapping[TopicPartition, Sequence[Any]]) -> list[Update]:
        updates: list[Update] = []
        for tp, records in batch.items():
            for r in records:
                updates.append((r.key, r.value))
                self.positions[tp.partition] = r.offset + 1
        return updates

"""The Faust app: input topics -> batched correction agents -> output / dead-letter topics.

Delivery is at-least-once: ``stream.take_events`` acknowledges a batch only after the
agent body has returned, i.e. after every output of the batch has been acknowledged by
the broker, and Faust flushes the producer before it commits offsets. A worker killed
mid-batch therefore re-processes that batch after restart (duplicates, keyed by record
id, are possible; losses are not). Faust's ``exactly_once`` mode is deliberately not
used (see ../shared/environment.md: it was seen to lose and duplicate records).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from prometheus_client import REGISTRY, CollectorRegistry

from emendo.correctors.base import Corrector
from emendo.settings import Settings
from emendo.streams.handler import BatchHandler, InMessage, OutMessage
from emendo.streams.metrics import AgentMetrics

if TYPE_CHECKING:
    from emendo.streams.entities import CatalogFollower

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SendFn = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any]]]


class CorrectionAgent:
    """The body of a correction agent: one batch of Faust events in, outputs published.

    ``send(topic, key, value)`` publishes one message and returns an awaitable that
    completes when the broker has acknowledged it.
    """

    def __init__(self, handler: BatchHandler, metrics: AgentMetrics, send: SendFn) -> None:
        self.handler = handler
        self.metrics = metrics
        self.send = send
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emendo-correct")

    async def process(self, events: Sequence[Any]) -> list[OutMessage]:
        topic = events[0].message.topic
        t0 = time.perf_counter()
        batch = [
            InMessage(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
            for e in events
        ]
        self.metrics.records_in.labels(topic).inc(len(batch))
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self.executor, self.handler.handle, batch)
        pending = [await self.send(m.topic, m.key, m.value) for m in results]
        await asyncio.gather(*pending)  # the broker has every output before the batch is acked
        for m in results:
            if m.dead_letter is not None:
                self.metrics.dead_lettered.labels(topic, m.dead_letter.error).inc()
                log.warning("dead-lettered %s:%d@%d: %s", m.dead_letter.topic, m.dead_letter.partition,
                            m.dead_letter.offset, m.dead_letter.reason)
            else:
                self.metrics.count_output(m.topic, m.changed)
        self.metrics.batch_seconds.labels(topic).observe(time.perf_counter() - t0)
        self.metrics.batch_size.labels(topic).observe(len(batch))
        return results


def create_app(
    settings: Settings, corrector: Corrector, registry: CollectorRegistry = REGISTRY,
    entities: CatalogFollower | None = None,
) -> faust.App:
    """Build the Faust app with one correction agent per input topic (and, given ``entities``,
    a task that keeps the entity catalogs up to date from the catalog topic)."""
    app = faust.App(
        settings.app_id,
        broker=settings.faust_broker,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        producer_max_request_size=MAX_MESSAGE_BYTES,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        producer_acks=-1,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_enabled=settings.web_port != 0,
        datadir=str(settings.data_path / "worker" / settings.app_id),
        store="memory://",
        broker_commit_every=500,
        broker_commit_interval=1.0,
        stream_wait_empty=True,
    )
    outputs = {
        name: app.topic(name, key_type=bytes, value_type=bytes)
        for name in (settings.asr_out, settings.htr_out, settings.deadletter)
    }

    async def send(topic: str, key: bytes, value: bytes) -> Awaitable[Any]:
        return await outputs[topic].send(key=key, value=value)

    handler = BatchHandler(settings, corrector)
    agent = CorrectionAgent(handler, AgentMetrics(registry), send)

    async def correct_stream(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
        batches = stream.take_events(  # type: ignore[attr-defined]
            settings.batch_size, within=settings.batch_within)
        async for events in batches:
            await agent.process(list(events))
            yield None

    for name in (settings.asr_in, settings.htr_in):
        app.agent(app.topic(name, key_type=bytes, value_type=bytes), name=f"emendo.correct.{name}")(
            correct_stream)

    if entities is not None:
        follower = entities

        async def follow_entity_catalog() -> None:  # updates are applied on the correction thread
            await follower.follow(agent.executor)

        app.task(follow_entity_catalog)

    @app.page("/health/")
    async def health(view: Any, request: Any) -> Any:
        assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in app.assignor.assigned_actives())
        status: dict[str, Any] = {"status": "ok", "app": settings.app_id, "pipeline": handler.pipeline.version,
                                  "assigned": assigned}
        if entities is not None:
            status["entity_updates"] = {"applied": entities.applied, "rejected": entities.rejected}
        return view.json(status)

    setup_prometheus_sensors(app, registry=registry, name_prefix="faust")
    return app

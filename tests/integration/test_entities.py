"""Entity catalog updates through the compacted catalog topic reach running workers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from emendo.correctors.entities.catalog import Catalog
from emendo.streams.client import produce
from emendo.streams.entities import CatalogFollower
from tests.integration.harness import Topics, Worker, read_until, send
from tests.integration.test_cli import emendo

pytestmark = pytest.mark.kafka

MISSPELT = "we listened to chaikovsky yesterday"
RIGHT = "we listened to Tchaikovsky yesterday"


def wait_for(what: str, check: Callable[[], bool], worker: Worker, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert worker.proc.poll() is None, f"worker died:\n{worker.log_tail()}"
        assert time.monotonic() < deadline, f"no {what} after {timeout}s:\n{worker.log_tail()}"
        time.sleep(0.2)


def applied(worker: Worker) -> int:
    health = worker.health() or {}
    return int(health.get("entity_updates", {}).get("applied", -1))


def topic_config(bootstrap: str, topic: str) -> dict[str, str]:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    async def describe() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (resp,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            return {name: value for name, value, *_ in resp.resources[0][4]}
        finally:
            await admin.close()

    return asyncio.run(describe())


def test_worker_follows_catalog_updates(kafka: str, tmp_path: Path) -> None:
    topics = Topics(kafka)
    s, entity_topic = topics.settings, f"t{topics.tag}.entities"
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text(json.dumps({"id": "c:1", "name": "Marseille", "description": "port city in France"}) + "\n")
    update = tmp_path / "update.jsonl"
    update.write_text(json.dumps({"id": "p:1", "name": "Tchaikovsky", "description": "Russian composer"}) + "\n")
    env = {**topics.env(), "EMENDO_ENTITY_TOPIC": entity_topic}

    def corrected(rid: str, text: str = MISSPELT, confidences: list[float] | None = None) -> str:
        record = {"id": rid, "text": text, **({"confidences": confidences} if confidences else {})}
        send(kafka, s.asr_in, [(rid.encode(), json.dumps(record).encode())])
        out = read_until(kafka, [s.asr_out, s.deadletter], {rid}, timeout=30)
        values = [json.loads(m.value) for m in out if m.key == rid.encode() and m.topic == s.asr_out]
        assert values, f"no correction for {rid}:\n{worker.log_tail()}"
        return str(values[0]["corrected"])

    worker = Worker(topics, tmp_path, correctors="pednec", EMENDO_ENTITY_CATALOGS=str(catalog),
                    EMENDO_ENTITY_TOPIC=entity_topic)
    try:
        worker.wait_assigned()
        assert applied(worker) == 0
        assert topic_config(kafka, entity_topic)["cleanup.policy"] == "compact"
        assert corrected("before") == MISSPELT  # not in the catalog yet

        r = emendo("entities", "publish", str(update), env=env)
        assert r.returncode == 0 and "published 1 entities" in r.stderr, r.stderr
        wait_for("applied update", lambda: applied(worker) == 1, worker)
        assert corrected("added") == RIGHT
        # a recogniser's word confidences ride along; writing one name for two words changes the word
        # count, and the record must still come out as a correction (not a dead letter)
        assert corrected("two-words", "we listened to chai kovsky yesterday", [0.9, 0.9, 0.8, 0.4, 0.5, 0.9]) == RIGHT

        r = emendo("entities", "delete", "default", "p:1", env=env)
        assert r.returncode == 0, r.stderr
        wait_for("applied tombstone", lambda: applied(worker) == 2, worker)
        assert corrected("deleted") == MISSPELT
    finally:
        assert worker.stop() == 0, worker.log_tail()


def test_replay_rebuilds_the_catalog(kafka: str, tmp_path: Path) -> None:
    """What a (re)starting worker does before it corrects: the topic's updates, in order, on top of its files."""
    topic = f"t{Topics(kafka).tag}.entities"
    names = tmp_path / "names.jsonl"
    names.write_text(json.dumps({"id": "p:1", "name": "Tchaikovsky"}) + "\n"
                     + json.dumps({"id": "c:1", "name": "Marseille"}) + "\n")
    r = emendo("produce", topic, str(names), env={"EMENDO_BROKER": kafka, "EMENDO_ENTITY_TOPIC": topic})
    assert r.returncode == 0 and "published 2 entities" in r.stderr, r.stderr
    assert topic_config(kafka, topic)["cleanup.policy"] == "compact"
    asyncio.run(produce(kafka, topic, [(b"acme/a:1", b'{"name": "Acme"}'), (b"bad key", b'{"name": "X"}'),
                                       (b"default/p:1", None)]))
    catalog = Catalog()
    follower = CatalogFollower(kafka, topic, [catalog])
    assert asyncio.run(follower.catch_up(timeout=30)) == 5
    assert (follower.applied, follower.rejected, follower.positions) == (4, 1, {0: 5})
    assert sorted((name, e.id) for name in catalog.names() for e in catalog.index(name) or ()) == [
        ("acme", "a:1"), ("default", "c:1")]
    assert asyncio.run(follower.catch_up(timeout=30)) == 0  # resumes from its positions

"""Run a correction worker (``emendo serve``) until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
from pathlib import Path

import faust

from emendo.correctors.entities.catalog import Catalog
from emendo.correctors.pipeline import Pipeline
from emendo.correctors.registry import build_pipeline
from emendo.settings import Settings
from emendo.streams.app import create_app
from emendo.streams.client import ensure_topics, run
from emendo.streams.entities import CatalogFollower, ensure_entity_topic


def serve(settings: Settings) -> None:
    """Start a Faust worker that corrects the input topics; returns on shutdown.

    Missing topics are created first (``settings.partitions`` partitions each): Faust
    silently ignores an agent's source topic that does not exist when it subscribes. With
    entity correctors in the pipeline, the catalog topic is replayed before the worker starts
    and followed while it runs (:mod:`emendo.streams.entities`).

    Faust's worker installs SIGTERM/SIGINT handlers: the current batch is abandoned
    unacknowledged (so it is re-delivered), offsets of finished batches are committed,
    and the consumer leaves its group so partitions move to the remaining workers.
    """
    topics = [settings.asr_in, settings.htr_in, settings.asr_out, settings.htr_out, settings.deadletter]
    run(ensure_topics(settings.bootstrap_servers, topics, settings.partitions))
    pipeline = build_pipeline(settings)
    app = create_app(settings, pipeline, entities=entity_follower(settings, pipeline))
    Path(app.conf.datadir).mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    logging.getLogger("emendo").setLevel(settings.log_level.upper())
    worker.execute_from_commandline()


def entity_follower(settings: Settings, pipeline: Pipeline) -> CatalogFollower | None:
    """When the pipeline has entity correctors: a follower of ``EMENDO_ENTITY_TOPIC`` (created
    compacted if missing) that has already replayed the topic into their catalogs, so the first
    batch sees every update; else None."""
    found = (getattr(c, "catalog", None) for c in pipeline.correctors)
    catalogs = list({id(c): c for c in found if isinstance(c, Catalog)}.values())
    if not catalogs:
        return None
    run(ensure_entity_topic(settings.bootstrap_servers, settings.entity_topic))
    follower = CatalogFollower(settings.bootstrap_servers, settings.entity_topic, catalogs)
    run(follower.catch_up())
    return follower

"""Run a correction worker (``emendo serve``) until SIGTERM/SIGINT."""

from __future__ import annotations

import logging

import faust

from emendo.correctors.registry import build_pipeline
from emendo.settings import Settings
from emendo.streams.app import create_app


def serve(settings: Settings) -> None:
    """Start a Faust worker that corrects the input topics; returns on shutdown.

    Faust's worker installs SIGTERM/SIGINT handlers: the current batch is abandoned
    unacknowledged (so it is re-delivered), offsets of finished batches are committed,
    and the consumer leaves its group so partitions move to the remaining workers.
    """
    pipeline = build_pipeline(settings)
    app = create_app(settings, pipeline)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    worker = faust.Worker(app, loglevel=settings.log_level.upper(), quiet=True)
    logging.getLogger("emendo").setLevel(settings.log_level.upper())
    worker.execute_from_commandline()

"""The live entity catalog of a process: loaded once, shared by the entity correctors and kept
up to date by the worker's catalog follower (:mod:`emendo.streams.entities`).

:func:`shared_catalog` loads the catalog files named by ``EMENDO_ENTITY_CATALOGS`` (or the
built-in catalogs, as the default catalog) once per process and set of files, so a
``pednec,dancer`` pipeline indexes the entities once and both correctors see every update
applied to it. :class:`LiveDenseIndex` keeps the dense retriever of the DANCER corrector
consistent with that catalog: an entity deleted (or replaced) since the embeddings were
computed is never proposed in its old form. Entities added after start-up are found by the
phonetic index only (their descriptions are not embedded until the next start).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from emendo.correctors.entities.catalog import Catalog, builtin_catalog, check_catalog_name
from emendo.correctors.entities.retrieval import DenseIndex, FloatArray
from emendo.correctors.entities.types import Entity

_LOCK = threading.Lock()
_CATALOGS: dict[tuple[tuple[str, ...], str], Catalog] = {}


def load_catalog(paths: Sequence[str | Path], default_catalog: str = "default") -> Catalog:
    """A new catalog holding the entities of ``paths``; no paths: the built-in catalogs, loaded
    under the name ``default_catalog``."""
    check_catalog_name(default_catalog)
    if not paths:
        return builtin_catalog(catalog=default_catalog)
    return Catalog.from_files(paths)


def shared_catalog(paths: Sequence[str | Path], default_catalog: str = "default") -> Catalog:
    """The process-wide live catalog for these files (loaded on first use, then the same object)."""
    key = (tuple(str(p) for p in paths), default_catalog)
    with _LOCK:
        if key not in _CATALOGS:
            _CATALOGS[key] = load_catalog(paths, default_catalog)
        return _CATALOGS[key]


def forget_shared_catalogs() -> None:
    """Drop the loaded catalogs (tests; a later :func:`shared_catalog` loads afresh)."""
    with _LOCK:
        _CATALOGS.clear()


class LiveDenseIndex(DenseIndex):
    """A :class:`DenseIndex` over one catalog's entities that only returns entities the live
    catalog still holds, in their current form; deleted ones are skipped (``k`` is filled from
    further hits)."""

    def __init__(self, catalog: Catalog, name: str, entities: Sequence[Entity], matrix: FloatArray,
                 **options: int) -> None:
        super().__init__(entities, matrix, **options)
        self.catalog = catalog
        self.name = name

    def search(self, query: FloatArray, k: int = 20) -> list[tuple[Entity, float]]:
        out: list[tuple[Entity, float]] = []
        fetch = k
        while True:
            hits = super().search(query, fetch)
            out = [(e, cos) for e, cos in ((self.catalog.get(self.name, h.id), cos) for h, cos in hits)
                   if e is not None]
            if len(out) >= k or len(hits) < fetch:
                return out[:k]
            fetch *= 2

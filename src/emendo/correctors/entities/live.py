"""The live entity catalog of a process: loaded once, shared by the entity correctors and kept
up to date by the worker's catalog follower (:mod:`emendo.streams.entities`).

:func:`shared_catalog` loads the catalog files named by ``EMENDO_ENTITY_CATALOGS`` (or the
built-in catalogs, as the default catalog) once per process and set of files, so a
``pednec,dancer`` pipeline indexes the entities once and both correctors see every update
applied to it. :class:`LiveDenseIndex` keeps the dense retriever of the DANCER corrector
consistent with that catalog: an entity deleted since the embeddings were computed is never
proposed, and an entity added or replaced since then is embedded (its current name and
description) at the next search.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emendo.correctors.entities.catalog import Catalog, builtin_catalog, check_catalog_name
from emendo.correctors.entities.retrieval import DenseIndex, Embedder, FloatArray, entity_text
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
    """A :class:`DenseIndex` over one catalog's entities that follows the live catalog.

    Hits of the start-up matrix are returned in the entity's current form, deleted ones are
    skipped (``k`` is filled from further hits). With an ``embedder``, entities upserted
    after start-up (new ones, or new descriptions) are embedded at the next
    :meth:`search`/:meth:`similarity` and searched exactly beside the matrix; without one
    they are found by the phonetic index only.
    """

    def __init__(self, catalog: Catalog, name: str, entities: Sequence[Entity], matrix: FloatArray,
                 *, embedder: Embedder | None = None, **options: int) -> None:
        super().__init__(entities, matrix, **options)
        self.catalog = catalog
        self.name = name
        self.embedder = embedder
        self._revision = catalog.revision
        self._fresh: dict[str, tuple[Entity, FloatArray]] = {}  # upserted since start-up, with vectors

    def _refresh(self) -> None:
        if self.catalog.revision == self._revision:
            return
        self._revision, changed = self.catalog.changed_ids(self.name, self._revision)
        todo: dict[str, Entity] = {}
        for entity_id in changed:
            self._fresh.pop(entity_id, None)
            todo.pop(entity_id, None)
            entity = self.catalog.get(self.name, entity_id)
            if entity is not None and self.embedder is not None:
                todo[entity_id] = entity
        if todo and self.embedder is not None:
            vectors = self.embedder.embed([entity_text(e) for e in todo.values()])
            for entity, vector in zip(todo.values(), vectors, strict=True):
                self._fresh[entity.id] = (entity, np.asarray(vector, dtype=np.float32))

    def search(self, query: FloatArray, k: int = 20) -> list[tuple[Entity, float]]:
        self._refresh()
        out: list[tuple[Entity, float]] = []
        fetch = k
        while True:
            hits = super().search(query, fetch)
            out = [(e, cos) for e, cos in ((self.catalog.get(self.name, h.id), cos) for h, cos in hits
                                           if h.id not in self._fresh)
                   if e is not None]
            if len(out) >= k or len(hits) < fetch:
                break
            fetch *= 2
        if self._fresh:
            out += [(entity, float(vector @ query)) for entity, vector in self._fresh.values()]
            out.sort(key=lambda hit: -hit[1])
        return out[:k]

    def similarity(self, query: FloatArray, entity_ids: Sequence[str]) -> list[float]:
        self._refresh()
        base = super().similarity(query, entity_ids)
        return [float(self._fresh[i][1] @ query) if i in self._fresh else b
                for i, b in zip(entity_ids, base, strict=True)]

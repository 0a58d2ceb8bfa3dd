"""Dense retrieval of catalog entities from their descriptions (the "D" of DANCER).

Every entity is embedded once as ``"<name>: <description>"`` with the
:class:`~emendo.correctors.entities.embed.SentenceEmbedder`; the unit-vector matrix is cached
as ``.npy`` under a key made of the model fingerprint and a hash of the entity texts, so a
restart (or another worker) loads it instead of re-embedding. A query (the utterance) is
one embedding and a matrix-vector product; above ``exact_limit`` entities a small inverted
file (spherical k-means lists, ``nprobe`` lists searched) keeps a lookup to a few thousand
rows (``nprobe=6`` of ~316 lists at 100k entities; 12, twice the search cost, gave the same
DANCER output on the evaluation set's dev split, and so did 4). Products use single-threaded
``einsum``, not BLAS: on a busy 2-core machine a multi-threaded BLAS matrix-vector product
was 6x slower than one thread (10k x 384: 9.8 ms vs 1.5 ms), and a request should not compete
with its neighbours for cores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from emendo.correctors.entities.types import Entity

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class Embedder(Protocol):
    """What retrieval needs from an embedder (:class:`~emendo.correctors.entities.embed.SentenceEmbedder`)."""

    fingerprint: str
    dim: int

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> FloatArray: ...


def entity_text(entity: Entity) -> str:
    """The text embedded for an entity: its name, aliases and description."""
    names = ", ".join(entity.surface_forms[:3])
    return f"{names}: {entity.description}" if entity.description else names


def catalog_hash(entities: Sequence[Entity], fingerprint: str) -> str:
    """A key for the embedding cache: model fingerprint + every entity's id and embedded text."""
    digest = hashlib.sha256(fingerprint.encode())
    for e in entities:
        digest.update(f"{e.id}\x00{entity_text(e)}\x01".encode())
    return digest.hexdigest()[:20]


class DenseIndex:
    """Unit vectors of a fixed list of entities; :meth:`search` returns the top-k by cosine.

    Row i of :attr:`matrix` belongs to ``entities[i]`` of :attr:`entities`, which, above
    ``exact_limit`` entities, is the inverted-list order, not the order given."""

    def __init__(self, entities: Sequence[Entity], matrix: FloatArray, *, exact_limit: int = 4_000,
                 nlist: int | None = None, nprobe: int = 6, seed: int = 0) -> None:
        if matrix.shape[0] != len(entities):
            raise ValueError(f"{len(entities)} entities but {matrix.shape[0]} rows")
        self.entities = list(entities)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32)
        self.nprobe = nprobe
        self._bounds: IntArray | None = None  # list c holds rows bounds[c]:bounds[c + 1]
        self._centroids: FloatArray | None = None
        if len(entities) > exact_limit:
            self._build_ivf(nlist or max(16, int(np.sqrt(len(entities)))), seed)
        self.position = {e.id: i for i, e in enumerate(self.entities)}

    @classmethod
    def build(cls, entities: Sequence[Entity], embedder: Embedder, *, cache_dir: str | Path | None = None,
              batch_size: int = 64, **options: int) -> DenseIndex:
        """Embed ``entities`` (or load their cached matrix) and index them."""
        return cls(entities, cls.embeddings(entities, embedder, cache_dir=cache_dir, batch_size=batch_size),
                   **options)

    @staticmethod
    def embeddings(entities: Sequence[Entity], embedder: Embedder, *, cache_dir: str | Path | None = None,
                   batch_size: int = 64, progress: bool = False) -> FloatArray:
        """The unit vectors of ``entities``, row i for ``entities[i]`` (loaded from / saved to the
        cache). Use this, not the :attr:`matrix` of a built index, to pair vectors with a list of
        entities: above ``exact_limit`` an index keeps its rows (and :attr:`entities`) in
        inverted-list order. An embedder with ``embed_many`` (the bundled one) embeds on every CPU,
        with a progress bar on a terminal when ``progress``."""
        path = None
        if cache_dir is not None:
            path = Path(cache_dir) / f"entities-{catalog_hash(entities, embedder.fingerprint)}.npy"
            if path.is_file():
                cached: FloatArray = np.load(path)
                return cached
        texts = [entity_text(e) for e in entities]
        many = getattr(embedder, "embed_many", None)
        matrix = (many(texts, batch_size, progress=progress, desc="embed entity descriptions (once; cached)")
                  if many is not None else embedder.embed(texts, batch_size=batch_size))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, matrix)
            tmp.replace(path)
        return matrix

    def __len__(self) -> int:
        return len(self.entities)

    def search(self, query: FloatArray, k: int = 20) -> list[tuple[Entity, float]]:
        """The ``k`` entities nearest to the unit vector ``query``, best first, with their cosines."""
        if self._centroids is None or self._bounds is None:
            rows, scores = np.arange(len(self.entities)), _dot(self.matrix, query)
        else:
            near = np.argpartition(-_dot(self._centroids, query), self.nprobe - 1)[:self.nprobe]
            rows = np.concatenate([np.arange(self._bounds[c], self._bounds[c + 1]) for c in near])
            scores = np.concatenate([_dot(self.matrix[self._bounds[c]:self._bounds[c + 1]], query) for c in near])
        k = min(k, scores.shape[0])
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(self.entities[int(rows[t])], float(scores[t])) for t in top]

    def similarity(self, query: FloatArray, entity_ids: Sequence[str]) -> list[float]:
        """Cosine between ``query`` and each named entity (0.0 for ids the index lacks)."""
        rows = [self.position.get(i, -1) for i in entity_ids]
        known = [r for r in rows if r >= 0]
        sims = _dot(self.matrix[known], query) if known else np.zeros(0, dtype=np.float32)
        values = iter(sims.tolist())
        return [next(values) if r >= 0 else 0.0 for r in rows]

    # ------------------------------------------------------------ inverted file

    def _build_ivf(self, nlist: int, seed: int, iterations: int = 8) -> None:
        """Spherical k-means on a sample; rows (and entities) are then reordered list by list."""
        rng = np.random.default_rng(seed)
        n = self.matrix.shape[0]
        sample = self.matrix[rng.choice(n, size=min(n, nlist * 64), replace=False)]
        centroids = sample[rng.choice(sample.shape[0], size=nlist, replace=False)].copy()
        for _ in range(iterations):
            assign = np.argmax(sample @ centroids.T, axis=1)
            for c in range(nlist):
                members = sample[assign == c]
                if len(members):
                    v = members.sum(axis=0)
                    centroids[c] = v / max(float(np.linalg.norm(v)), 1e-12)
        assign = np.concatenate([np.argmax(self.matrix[i:i + 8192] @ centroids.T, axis=1)
                                 for i in range(0, n, 8192)])
        order = np.argsort(assign, kind="stable")
        self.matrix = np.ascontiguousarray(self.matrix[order])
        self.entities = [self.entities[int(i)] for i in order]
        self._bounds = np.searchsorted(assign[order], np.arange(nlist + 1)).astype(np.int64)
        self._centroids = centroids.astype(np.float32)
        self.nprobe = min(self.nprobe, nlist)


def _dot(matrix: FloatArray, query: FloatArray) -> FloatArray:
    """``matrix @ query`` on one thread (see the module notes)."""
    out: FloatArray = np.einsum("ij,j->i", matrix, query)
    return out

"""DANCER speed-ups keep results exact: bounded phonetic distances, best-first lookups, vectorised features."""

from __future__ import annotations

import random

import numpy as np

from emendo.correctors.entities.dancer import FEATURES, Reranker, _best_other
from emendo.correctors.entities.index import bounded_distance, build_index, cached_fold, sound_distance
from emendo.correctors.entities.phonetic import normalised_key_distance, phonetic_distance, phonetic_keys
from emendo.correctors.entities.types import Entity

NAMES = ("Stein", "Stine", "Marseille", "Marsala", "Marsella", "Steiner", "Schubert", "Shubert", "Chopin",
         "Showpan", "Tchaikovsky", "Chaikovsky", "New York", "Newark", "Villiers", "Villers", "Москва", "Моска",
         "Goldman", "Emma Goldman", "Golden", "Holden", "Bolton", "Boulton", "Dalton", "Walton", "Stone")


def test_sound_and_bounded_distance_equal_the_reference_under_the_cutoff() -> None:
    for a in NAMES:
        for b in NAMES:
            ka, kb = phonetic_keys(a), phonetic_keys(b)
            reference = normalised_key_distance(ka, kb)
            for cutoff in (0.1, 0.25, 0.4, 0.8):
                got = sound_distance(ka, kb, cutoff)
                assert (got is None) == (reference > cutoff) and (got is None or got == reference)
                full = phonetic_distance(a, b)
                bounded = bounded_distance(cached_fold(a), ka, b, cutoff)
                assert (bounded is None) == (full > cutoff) and (bounded is None or bounded == full)


def test_best_first_lookup_equals_a_full_scan() -> None:
    rng = random.Random(1)
    entities = [Entity(f"e:{i}", name) for i, name in enumerate(NAMES)]
    letters = "aeioustnrlmkbdg"
    entities += [Entity(f"f:{i}", "".join(rng.choice(letters) for _ in range(rng.randint(4, 9))).title())
                 for i in range(400)]
    index = build_index(entities)
    for query in (*NAMES, "marsela", "stain", "goldmann", "chopan", "vilers", "newyork"):
        for limit, max_distance in ((1, 0.4), (3, 0.4), (8, 0.4), (5, 0.15)):
            got = [(c.entity.id, c.distance) for c in index.candidates(query, limit, max_distance)]
            keys = index.candidate_keys(query)
            full = []
            for e in entities:
                if any(k in keys for k in phonetic_keys(e.name)):
                    d = phonetic_distance(query, e.name)
                    if d <= max_distance + 1e-12:
                        full.append((d, e.id))
            expected = [(eid, d) for d, eid in sorted(full)[:limit]]
            assert [eid for eid, _ in got] == [eid for eid, _ in expected], query
            assert np.allclose([d for _, d in got], [d for _, d in expected])


def _scalar_best_other(values: list[float], largest: bool, empty: float) -> list[float]:
    """The best of the other values, one position at a time."""
    pick = max if largest else min
    return [pick(values[:i] + values[i + 1:], default=empty) for i in range(len(values))]


def test_vectorised_features_match_the_scalar_forms() -> None:
    # three spans' candidates in one table: segments [0.3, 0.1, 0.5, 0.1], [0.7], [0.2, 0.2, 0.9]
    values = np.asarray([0.3, 0.1, 0.5, 0.1, 0.7, 0.2, 0.2, 0.9], dtype=np.float32)
    sizes = np.asarray([4, 1, 3])
    seg = np.repeat(np.arange(3), sizes)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    for largest, empty in ((False, 1.0), (True, 0.0)):
        got = _best_other(values, seg, starts, ends, largest=largest, empty=empty)
        expected = [x for a, b in zip(starts, ends, strict=True)
                    for x in _scalar_best_other(values[a:b].tolist(), largest, empty)]
        assert got.dtype == np.float32 and got.tolist() == [float(np.float32(x)) for x in expected]
    rng = np.random.default_rng(1)
    for _ in range(200):
        sizes = rng.integers(1, 6, size=rng.integers(1, 5))
        values = rng.choice(np.asarray([0.1, 0.2, 0.25, 0.5], dtype=np.float32), size=int(sizes.sum()))
        seg, ends = np.repeat(np.arange(len(sizes)), sizes), np.cumsum(sizes)
        for largest in (False, True):
            got = _best_other(values, seg, ends - sizes, ends, largest=largest, empty=-1.0)
            expected = [x for a, b in zip(ends - sizes, ends, strict=True)
                        for x in _scalar_best_other(values[a:b].tolist(), largest, -1.0)]
            assert got.tolist() == expected
    rng = np.random.default_rng(0)
    reranker = Reranker(tuple(rng.normal(size=len(FEATURES))), 0.3, tuple(rng.normal(size=len(FEATURES))),
                        tuple(rng.uniform(0.5, 2, size=len(FEATURES))), {})
    table = rng.normal(size=(7, len(FEATURES)))
    assert np.allclose(reranker.probabilities(table), [reranker.probability(row) for row in table])


"""DANCER's tree-ensemble scorer: numpy evaluation of flat node arrays (emendo.correctors.entities.trees)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from emendo.correctors.entities.dancer import FEATURES, Reranker
from emendo.correctors.entities.trees import Trees
from emendo.errors import ConfigError


def two_trees() -> Trees:
    """Tree 0: x0 <= 0.5 ? (x1 <= 2 ? 1.0 : 2.0) : 3.0 (a leaf at depth 1 next to depth-2 leaves).
    Tree 1: a single leaf, -0.5."""
    #              0: x0<=.5   1: x1<=2   2: leaf 3   3: leaf 1   4: leaf 2   5: leaf -.5
    return Trees.from_dict({"depth": 2, "roots": [0, 5],
                            "feature": [0, 1, -1, -1, -1, -1],
                            "threshold": [0.5, 2.0, 0, 0, 0, 0],
                            "left": [1, 3, 2, 3, 4, 5], "right": [2, 4, 2, 3, 4, 5],
                            "value": [0, 0, 3.0, 1.0, 2.0, -0.5],
                            "missing_left": [True, False, False, False, False, False]}, n_features=2)


def test_every_row_walks_every_tree() -> None:
    t = two_trees()
    table = np.array([[0.0, 1.0], [0.0, 5.0], [0.9, 1.0], [0.5, 2.0], [np.nan, 9.0]])
    # rows: left-left 1, left-right 2, right 3, thresholds inclusive, NaN goes where missing_left says
    assert t.raw(table).tolist() == [0.5, 1.5, 2.5, 0.5, 1.5]
    assert t.raw(np.zeros((0, 2))).tolist() == []
    assert Trees.from_dict(json.loads(json.dumps(t.to_dict())), 2).raw(table).tolist() == t.raw(table).tolist()


def test_malformed_ensembles_are_refused() -> None:
    good = two_trees().to_dict()
    for bad in ({**good, "left": [1, 3, 2, 3, 4, 9]}, {**good, "roots": []}, {**good, "value": [0.0]},
                {**good, "feature": [0, 7, -1, -1, -1, -1]}, {k: v for k, v in good.items() if k != "threshold"}):
        with pytest.raises(ConfigError, match="malformed"):
            Trees.from_dict(bad, n_features=2)


def test_reranker_with_trees(tmp_path: Path) -> None:
    n = len(FEATURES)
    single = {"depth": 1, "roots": [0], "feature": [0, -1, -1], "threshold": [0.25, 0, 0], "left": [1, 1, 2],
              "right": [2, 1, 2], "value": [0.0, -2.0, 1.5], "missing_left": [False] * 3}
    path = tmp_path / "reranker.json"
    path.write_text(json.dumps({"features": list(FEATURES), "weights": [0.0] * n, "bias": 0.5, "mean": [0.0] * n,
                                "scale": [1.0] * n, "trees": single, "meta": {"threshold": 0.6}}))
    r = Reranker.load(path)
    assert r.trees is not None
    low, high = [0.0] * n, [1.0] * n
    sigmoid = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    assert r.probability(low) == pytest.approx(sigmoid(0.5 - 2.0))
    assert r.probabilities(np.array([low, high])).tolist() == pytest.approx([sigmoid(-1.5), sigmoid(2.0)])
    # the catalog-size shift adds to the trees' log-odds as to the linear model's
    sized = Reranker(r.weights, r.bias, r.mean, r.scale, {"size_slope": 1.0, "size_reference": 10_000}, r.trees)
    assert sized.probability(high, catalog_size=1_000) == pytest.approx(sigmoid(3.0))


def test_matches_scikit_learn() -> None:
    sklearn = pytest.importorskip("sklearn.ensemble")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5))
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values take the learnt side
    y = ((np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) ** 2 + rng.normal(scale=0.3, size=600)) > 1).astype(float)
    model = sklearn.HistGradientBoostingClassifier(max_iter=40, max_depth=4, random_state=0).fit(X, y)
    trees, base = Trees.from_sklearn(model)
    np.testing.assert_allclose(base + trees.raw(X), model.decision_function(X), atol=1e-9)

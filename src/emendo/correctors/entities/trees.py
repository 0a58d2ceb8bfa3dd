"""A boosted tree ensemble as flat arrays, evaluated with numpy (DANCER's candidate scorer).

The ensemble is trained offline (``scripts/train_dancer_reranker.py``, scikit-learn's
``HistGradientBoostingClassifier``) and stored in the scorer's JSON as node arrays: serving
needs numpy only. All trees are walked at once, one level per step, so a table of ~20
candidates through 300 trees of depth 6 costs a few array operations per level (0.24 ms on
the 2-core CI machine, against 0.51 ms for a first version indexing a 2-D table), not a Python
loop per tree.

A node's ``feature`` is -1 for a leaf; a leaf's ``left`` and ``right`` point to itself, so
rows that reach a leaf early stay there while deeper rows go on. A row goes left when its
feature value is <= the node's ``threshold`` (a missing value, NaN, goes where
``missing_left`` says). The raw score of a row is the sum of its leaves' values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from emendo.errors import ConfigError

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
_FIELDS = ("feature", "threshold", "left", "right", "value", "missing_left")


@dataclass(frozen=True, eq=False)
class Trees:
    """Node arrays of all trees (global node ids), each tree's root, and the deepest leaf's depth."""

    feature: IntArray
    threshold: FloatArray
    left: IntArray
    right: IntArray
    value: FloatArray
    missing_left: npt.NDArray[np.bool_]
    roots: IntArray
    depth: int

    def raw(self, table: FloatArray) -> FloatArray:
        """The summed leaf values of each row of a (rows x features) table."""
        rows = np.ascontiguousarray(table, dtype=np.float64)
        if rows.ndim != 2:
            raise ValueError("Trees.raw takes a 2-D table")
        n_rows, n_features = rows.shape
        flat = rows.ravel()
        node = np.repeat(self.roots, n_rows)  # (trees * rows,): every row in every tree
        offset = np.tile(np.arange(n_rows) * n_features, len(self.roots))
        feature = np.maximum(self.feature, 0)
        missing = bool(np.isnan(flat).any())
        for _ in range(self.depth):
            x = flat.take(offset + feature.take(node))
            left = x <= self.threshold.take(node)
            if missing:
                left |= np.isnan(x) & self.missing_left.take(node)
            node = np.where(left, self.left.take(node), self.right.take(node))
        out: FloatArray = self.value.take(node).reshape(len(self.roots), n_rows).sum(axis=0)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"depth": self.depth, "roots": self.roots.tolist(),
                **{f: getattr(self, f).tolist() for f in _FIELDS}}

    @classmethod
    def from_dict(cls, data: dict[str, Any], n_features: int) -> Trees:
        """Read :meth:`to_dict`'s output, checking that it is a well-formed ensemble over ``n_features``."""
        try:
            feature = np.asarray(data["feature"], dtype=np.int32)
            threshold = np.asarray(data["threshold"], dtype=np.float64)
            left = np.asarray(data["left"], dtype=np.int32)
            right = np.asarray(data["right"], dtype=np.int32)
            value = np.asarray(data["value"], dtype=np.float64)
            missing_left = np.asarray(data["missing_left"], dtype=np.bool_)
            roots, depth = np.asarray(data["roots"], dtype=np.int32), int(data["depth"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"malformed tree ensemble: {exc}") from exc
        n = len(feature)
        same = all(len(a) == n for a in (threshold, left, right, value, missing_left))
        if not n or not same or not len(roots) or depth < 0:
            raise ConfigError("malformed tree ensemble: node arrays of different lengths, or no trees")
        if left.min() < 0 or right.min() < 0 or max(left.max(), right.max()) >= n:
            raise ConfigError("malformed tree ensemble: a child out of range")
        if roots.min() < 0 or roots.max() >= n or feature.max() >= n_features:
            raise ConfigError("malformed tree ensemble: a root or a feature index out of range")
        return cls(feature, threshold, left, right, value, missing_left, roots, depth)

    @classmethod
    def from_sklearn(cls, model: Any) -> tuple[Trees, float]:
        """The trees of a fitted binary ``HistGradientBoostingClassifier`` and its baseline log-odds."""
        feature: list[int] = []
        threshold: list[float] = []
        left: list[int] = []
        right: list[int] = []
        value: list[float] = []
        missing: list[bool] = []
        roots: list[int] = []
        depth = 0
        for (predictor,) in model._predictors:  # one tree per boosting iteration (binary classification)
            nodes, base = predictor.nodes, len(feature)
            roots.append(base)
            for i, nd in enumerate(nodes):
                leaf = bool(nd["is_leaf"])
                if not leaf and bool(nd["is_categorical"]):
                    raise ValueError("categorical splits are not supported")
                feature.append(-1 if leaf else int(nd["feature_idx"]))
                threshold.append(0.0 if leaf else float(nd["num_threshold"]))
                left.append(base + i if leaf else base + int(nd["left"]))
                right.append(base + i if leaf else base + int(nd["right"]))
                value.append(float(nd["value"]) if leaf else 0.0)
                missing.append(bool(nd["missing_go_to_left"]))
                depth = max(depth, int(nd["depth"]))
        trees = cls(np.asarray(feature, np.int32), np.asarray(threshold), np.asarray(left, np.int32),
                    np.asarray(right, np.int32), np.asarray(value), np.asarray(missing, np.bool_),
                    np.asarray(roots, np.int32), depth)
        return trees, float(np.ravel(model._baseline_prediction)[0])

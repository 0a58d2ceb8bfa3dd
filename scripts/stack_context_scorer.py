"""Fit how DANCER's context scorer joins the feature scorer, and write it into a scorer file.

Input: the pairs (``scripts/dump_dancer_pairs.py``: the feature scorer's probability ``p`` of each
kept candidate) and the context scorer's out-of-fold logits on them (``oof.npy`` from
``scripts/train_context_scorer.py``: each pair scored by a model that did not train on its fold). A
three-weight logistic regression, ``lr`` x logit(p) + ``context`` x logit + ``bias``, is fitted on
every pair (``--floor`` and ``--top``, what serving asks the context scorer about, do not change it).
It is written as ``meta["context"]`` of a copy of the scorer file, with ``floor``, ``top`` and the
context model's fingerprint; ``scripts/train_dancer_reranker.py --retune`` then tunes that file's
thresholds with the combination in place. Prints, per kind of pair, the share of spans with a gold
candidate that each scorer gets right at a given precision (the best candidate per span, ranked by
score; a span without gold counts against precision when its best candidate is taken)::

    .venv/bin/python scripts/stack_context_scorer.py runs/ctx/pairs.jsonl.gz runs/ctx/a/oof.npy \\
        src/emendo/data/models/dancer/reranker.json --out runs/ctx/reranker-ctx-f10t2.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from train_context_scorer import read_pairs

from emendo.correctors.entities.context import ContextScorer, default_model_dir


def fit(X: np.ndarray, y: np.ndarray, steps: int = 3000, lr: float = 0.5, l2: float = 1e-4) -> np.ndarray:
    """Logistic regression weights (last column of ``X`` is the bias' ones), by gradient descent on
    standardised columns, returned on the original scale."""
    mu, sd = X.mean(0), X.std(0) + 1e-9
    mu[-1], sd[-1] = 0.0, 1.0
    Z = (X - mu) / sd
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        q = 1.0 / (1.0 + np.exp(-Z @ w))
        w -= lr * (Z.T @ (q - y) / len(y) + l2 * w)
    out = w / sd
    out[-1] = w[-1] - float((w[:-1] * mu[:-1] / sd[:-1]).sum())
    return np.asarray(out)


def feature_log_odds(rows: list[dict[str, Any]]) -> np.ndarray:
    """The feature scorer's log-odds of each pair (its probability ``p``, clipped to 1e-5)."""
    p = np.clip(np.asarray([r["p"] for r in rows]), 1e-5, 1 - 1e-5)
    return np.asarray(np.log(p / (1 - p)))


def recall_at(rows: list[dict[str, Any]], score: np.ndarray, precisions: tuple[float, ...]) -> dict[str, float]:
    """Share of the spans with a gold candidate whose best-scored candidate is taken and right, at the
    loosest cut that keeps ``precision`` over the spans taken (best candidate per span)."""
    best: dict[tuple[int, int, int], tuple[float, int]] = {}
    gold = set()
    for r, s in zip(rows, score.tolist(), strict=True):
        key = (r["u"], r["s"], r["e"])
        if r["y"]:
            gold.add(key)
        if key not in best or s > best[key][0]:
            best[key] = (s, r["y"])
    ranked = sorted(best.values(), key=lambda t: -t[0])
    hits, curve = 0, []
    for n, (_, y) in enumerate(ranked, 1):
        hits += y
        curve.append((hits / max(len(gold), 1), hits / n))
    return {f"{p:g}": round(max([r for r, q in curve if q >= p] or [0.0]), 4) for p in precisions}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs")
    ap.add_argument("oof")
    ap.add_argument("scorer", help="the feature scorer's file (its weights gave the pairs' p)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default=None, help="context scorer folder (default: the bundled one)")
    ap.add_argument("--floor", type=float, default=0.1,
                    help="serving: the context scorer reads candidates whose feature probability is at least this "
                         "(not below the pairs' own --floor, 0.01)")
    ap.add_argument("--top", type=int, default=2, help="serving: candidates per span the context scorer reads, at most")
    args = ap.parse_args(argv)
    rows = read_pairs(args.pairs)
    logit = np.load(args.oof).astype(np.float64)
    z = feature_log_odds(rows)
    y = np.asarray([float(r["y"]) for r in rows])
    w = fit(np.stack([z, logit, np.ones_like(z)], axis=1), y)
    stacked = w[0] * z + w[1] * logit + w[2]
    report: dict[str, Any] = {}
    precisions = (0.95, 0.9, 0.85, 0.8)
    for kind in ("syn", "real"):
        sel = [i for i, r in enumerate(rows) if r["k"] == kind]
        part = [rows[i] for i in sel]
        report[kind] = {"feature scorer": recall_at(part, z[sel], precisions),
                        "context scorer": recall_at(part, logit[sel], precisions),
                        "combined": recall_at(part, stacked[sel], precisions)}
    model = Path(args.model) if args.model else default_model_dir()
    scorer = json.loads(Path(args.scorer).read_text())
    scorer["meta"]["context"] = {
        "lr": round(float(w[0]), 6), "context": round(float(w[1]), 6), "bias": round(float(w[2]), 6),
        "floor": args.floor, "top": args.top, "model": model.name, "fingerprint": ContextScorer(model).fingerprint,
        "pairs": len(rows), "positives": int(y.sum()), "recall_at_precision": report,
        "command": "scripts/stack_context_scorer.py " + " ".join(argv or []),
    }
    Path(args.out).write_text(json.dumps(scorer, indent=1) + "\n")
    print(json.dumps(scorer["meta"]["context"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

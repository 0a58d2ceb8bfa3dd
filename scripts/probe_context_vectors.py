"""Could a cheap scorer on the sentence encoder's own vectors stand in for the context cross-encoder?

Experiment script (session 24). For every pair of ``scripts/dump_dancer_pairs.py`` it computes, with
the bundled sentence encoder (one run per utterance, as served):

- ``q``: the utterance's pooled unit vector (what DANCER's dense search already computes);
- ``c``: the mean of the utterance's token states outside the span, unit length;
- ``h``: the mean of the span's own token states (the heard name, read in context), unit length;
- ``e``: the candidate's entity text vector (what the dense index holds).

It then fits, on each fold, a scorer on the element-wise products ``q*e``, ``c*e``, ``h*e`` (a learnt,
weighted cosine), logistic or a one-hidden-layer MLP, scores the other fold, stacks the out-of-fold
logit with the feature scorer's log-odds as ``scripts/stack_context_scorer.py`` does and prints the same
recall-at-precision table, next to the cross-encoder's when its ``--oof`` is given.

    .venv/bin/python scripts/probe_context_vectors.py runs/ctx/pairs.jsonl.gz --out runs/ctx/vectors.npz
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack_context_scorer import feature_log_odds, fit, recall_at
from train_context_scorer import read_pairs

from emendo.correctors.entities.embed import SentenceEmbedder


def token_vectors(embedder: SentenceEmbedder, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The encoder's last hidden states of ``text`` (one run) and each token's character offsets."""
    enc = embedder.tokenizer.encode(text)
    ids = np.asarray([enc.ids], dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    hidden = np.asarray(embedder.session.run(None, feeds)[0][0], dtype=np.float32)
    return hidden, list(enc.offsets)


def unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def span_vectors(hidden: np.ndarray, offsets: list[tuple[int, int]], start: int, end: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled ``q``, context ``c`` (tokens outside the span) and span ``h`` vectors."""
    inside = np.asarray([a < end and b > start and b > a for a, b in offsets])
    q = unit(hidden.mean(0))
    c = unit(hidden[~inside].mean(0)) if (~inside).any() else q
    h = unit(hidden[inside].mean(0)) if inside.any() else q
    return q, c, h


def features(rows: list[dict[str, Any]], embedder: SentenceEmbedder) -> np.ndarray:
    entity_texts = sorted({r["c"] for r in rows})
    ev = embedder.embed_many(entity_texts, progress=True, desc="entities")
    e_of = {t: i for i, t in enumerate(entity_texts)}
    states: dict[str, tuple[np.ndarray, list[tuple[int, int]]]] = {}
    spans: dict[tuple[str, int, int], np.ndarray] = {}
    X = np.zeros((len(rows), 3 * embedder.dim), dtype=np.float32)
    for i, r in enumerate(tqdm(rows, desc="pairs", mininterval=5)):
        key = (r["t"], r["s"], r["e"])
        if key not in spans:
            if r["t"] not in states:
                states[r["t"]] = token_vectors(embedder, r["t"])
            spans[key] = np.concatenate(span_vectors(*states[r["t"]], r["s"], r["e"]))
        e = ev[e_of[r["c"]]]
        X[i] = spans[key] * np.tile(e, 3)
    return X


def train_mlp(X: np.ndarray, y: np.ndarray, hidden: int, epochs: int, seed: int, l2: float = 1e-4,
              lr: float = 1e-3, batch: int = 256) -> list[np.ndarray]:
    """A logistic (``hidden`` 0) or one-hidden-layer ReLU scorer, Adam, class-balanced loss."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    params = ([rng.normal(0, 1 / np.sqrt(d), (d, hidden)).astype(np.float32), np.zeros(hidden, np.float32),
               rng.normal(0, 1 / np.sqrt(hidden), hidden).astype(np.float32), np.zeros(1, np.float32)]
              if hidden else [np.asarray(rng.normal(0, 0.01, d), dtype=np.float32), np.zeros(1, np.float32)])
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    pos = max(float(y.mean()), 1e-6)
    weight = np.where(y > 0, 0.5 / pos, 0.5 / (1 - pos)).astype(np.float32)
    t = 0
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for at in range(0, len(X), batch):
            idx = order[at:at + batch]
            xb, yb, wb = X[idx], y[idx], weight[idx]
            if hidden:
                a = xb @ params[0] + params[1]
                r = np.maximum(a, 0)
                out = r @ params[2] + params[3][0]
            else:
                out = xb @ params[0] + params[1][0]
            g = (1 / (1 + np.exp(-out)) - yb) * wb / len(idx)
            if hidden:
                gr = np.outer(g, params[2]) * (a > 0)
                grads = [xb.T @ gr, gr.sum(0), r.T @ g, np.asarray([g.sum()], np.float32)]
            else:
                grads = [xb.T @ g, np.asarray([g.sum()], np.float32)]
            t += 1
            for k, (p, gk) in enumerate(zip(params, grads, strict=True)):
                if p.ndim > 1 or (not hidden and k == 0) or (hidden and k == 2):
                    gk = gk + l2 * p
                m[k] = 0.9 * m[k] + 0.1 * gk
                v[k] = 0.999 * v[k] + 0.001 * gk * gk
                p -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return params


def predict(params: list[np.ndarray], X: np.ndarray) -> np.ndarray:
    out: np.ndarray = (np.maximum(X @ params[0] + params[1], 0) @ params[2] + params[3][0] if len(params) == 4
                       else X @ params[0] + params[1][0])
    return out


def report(rows: list[dict[str, Any]], z: np.ndarray, y: np.ndarray, logit: np.ndarray) -> dict[str, Any]:
    w = fit(np.stack([z, logit, np.ones_like(z)], axis=1), y)
    stacked = w[0] * z + w[1] * logit + w[2]
    out: dict[str, Any] = {"weights": [round(float(x), 4) for x in w]}
    for kind in ("syn", "real"):
        sel = [i for i, r in enumerate(rows) if r["k"] == kind]
        part = [rows[i] for i in sel]
        out[kind] = {"alone": recall_at(part, logit[sel], (0.95, 0.9, 0.85, 0.8)),
                     "combined": recall_at(part, stacked[sel], (0.95, 0.9, 0.85, 0.8))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs")
    ap.add_argument("--out", required=True, help="cache of the pair vectors (.npz)")
    ap.add_argument("--oof", help="the cross-encoder's out-of-fold logits, to compare")
    ap.add_argument("--hidden", type=int, nargs="+", default=[0, 64])
    ap.add_argument("--parts", default="qch", help="which products: q, c, h")
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args(argv)
    embedder = SentenceEmbedder()
    cache = Path(args.out)
    rows = read_pairs(args.pairs)
    if cache.is_file():
        X = np.load(cache)["X"]
    else:
        X = features(rows, embedder)
        np.savez(cache, X=X)
    d = embedder.dim
    cols = np.concatenate([np.arange(k * d, (k + 1) * d) for k, part in enumerate("qch") if part in args.parts])
    X = X[:, cols]
    y = np.asarray([float(r["y"]) for r in rows], dtype=np.float32)
    z = feature_log_odds(rows)
    fold = np.asarray([r["f"] for r in rows])
    results: dict[str, Any] = {"feature scorer": {k: recall_at([r for r in rows if r["k"] == k],
                                                               z[[i for i, r in enumerate(rows) if r["k"] == k]],
                                                               (0.95, 0.9, 0.85, 0.8)) for k in ("syn", "real")}}
    if args.oof:
        results["cross-encoder"] = report(rows, z, y, np.load(args.oof).astype(np.float64))
    for hidden in args.hidden:
        oof = np.zeros(len(rows))
        for f in (0, 1):
            mu, sd = X[fold != f].mean(0), X[fold != f].std(0) + 1e-6
            params = train_mlp((X[fold != f] - mu) / sd, y[fold != f], hidden, args.epochs, seed=5 + f)
            oof[fold == f] = predict(params, (X[fold == f] - mu) / sd)
        results[f"vectors {args.parts} hidden {hidden}"] = report(rows, z, y, oof)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

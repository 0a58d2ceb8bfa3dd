"""Score context models on real TTS->ASR pairs that none of them trained on (session 25).

``scripts/context_train_data.sh`` writes ``runs/entities/real_train.jsonl``: the evaluation set and the dev
records of two further builds, ids ``x1-`` and ``x2-``. A model fine-tuned with ``--hold-out
runs/entities/real_train.jsonl x2-`` (``scripts/finetune_context_scorer.py``) never sees the second
build's pairs. This script takes the pairs of that build's utterances whose named entity no other dev
record names (:func:`unseen_hyps`) and reports, per model, the share of spans with a gold candidate got
right at a given precision (``scripts/stack_context_scorer.py``'s ``recall_at``), by the model's logit
alone and combined with the feature scorer as served (the weights in ``--scorer``), and the share of
positives and negatives given a positive logit. It also gives each model after the first the
combination ``bias`` that brings its mean combined probability on these pairs to the first model's (a
one-number recalibration, for a model whose logits are more cautious than the served thresholds
assume). Writes JSON and a Markdown table::

    .venv/bin/python scripts/context_heldout.py src/emendo/data/models/context runs/ctx/ft-x1 \\
        --out runs/ctx/heldout

``--write-evalset F`` also writes the held-out utterances, with the part's entity-free records, as an
evaluation set (split ``dev``) for ``bench/entities_dancer.py --evalset F --split dev``: the whole
corrector on real utterances that neither the served model nor one fine-tuned with ``--hold-out`` saw.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from stack_context_scorer import feature_log_odds, recall_at
from train_context_scorer import pair_texts, read_pairs

from emendo.correctors.entities.context import ContextScorer

PRECISIONS = (0.9, 0.85, 0.8, 0.7)


def _named(record: dict[str, Any]) -> set[str]:
    return {s["entity_id"] for s in record["spans"]}


def part_hyps(records: list[dict[str, Any]], prefix: str) -> set[str]:
    """The hypotheses of the records whose id starts with ``prefix`` (a build's part of the file)."""
    return {r["hyp"] for r in records if r["id"].startswith(prefix)}


def unseen_hyps(records: list[dict[str, Any]], prefix: str) -> set[str]:
    """The hypotheses of the ``prefix`` records that name an entity, none of which a dev record outside
    the part names (repeats inside the part are kept: new voices and templates of the same entity)."""
    seen: set[str] = set()
    for r in records:
        if r["split"] == "dev" and not r["id"].startswith(prefix):
            seen |= _named(r)
    return {r["hyp"] for r in records if r["id"].startswith(prefix) and r["spans"] and not _named(r) & seen}


def _mean_probability(z: np.ndarray, logits: np.ndarray, w: dict[str, float], bias: float) -> float:
    return float((1.0 / (1.0 + np.exp(-(w["lr"] * z + w["context"] * logits + bias)))).mean())


def matching_bias(z: np.ndarray, logits: np.ndarray, w: dict[str, float], target: float) -> float:
    """The combination bias at which the mean combined probability is ``target`` (bisection)."""
    lo, hi = -10.0, 10.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _mean_probability(z, logits, w, mid) < target else (lo, mid)
    return round(lo, 4)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="context scorer folders")
    ap.add_argument("--pairs", default="runs/ctx/pairs-extra.jsonl.gz")
    ap.add_argument("--real", default="runs/entities/real_train.jsonl")
    ap.add_argument("--prefix", default="x2-", help="the held-out build's id prefix")
    ap.add_argument("--scorer", default="src/emendo/data/models/dancer/reranker-context.json",
                    help="scorer file whose meta.context weights combine the logits")
    ap.add_argument("--out", help="output path without suffix (.json and .md); needed with models")
    ap.add_argument("--write-evalset", metavar="JSONL", help="write the held-out records as an evaluation set")
    args = ap.parse_args(argv)
    records = [json.loads(line) for line in Path(args.real).read_text().splitlines() if line.strip()]
    held = unseen_hyps(records, args.prefix)
    if args.write_evalset:
        kept = [r for r in records if r["id"].startswith(args.prefix) and (r["hyp"] in held or not r["spans"])]
        Path(args.write_evalset).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept))
        print(json.dumps({"evalset": args.write_evalset, "records": len(kept)}))
    if not args.models:
        return 0
    if not args.out:
        raise SystemExit("--out is needed to score models")
    rows = [r for r in read_pairs(args.pairs) if r["k"] == "real" and r["t"] in held]
    if not rows:
        raise SystemExit(f"no real pairs of {args.prefix!r} records in {args.pairs}")
    w = json.loads(Path(args.scorer).read_text())["meta"]["context"]
    z = feature_log_odds(rows)
    positive = np.asarray([r["y"] for r in rows]) == 1
    report: dict[str, Any] = {"pairs": len(rows), "positives": int(positive.sum()),
                              "utterances": len({r["t"] for r in rows}), "weights": w,
                              "feature scorer": recall_at(rows, z, PRECISIONS), "models": {}}
    target = None
    for folder in args.models:
        logits = np.asarray(ContextScorer(Path(folder)).pair_logits(pair_texts(rows)), dtype=np.float64)
        mean = _mean_probability(z, logits, w, float(w["bias"]))
        target = mean if target is None else target
        report["models"][folder] = {
            "alone": recall_at(rows, logits, PRECISIONS),
            "combined": recall_at(rows, w["lr"] * z + w["context"] * logits, PRECISIONS),
            "positives with a positive logit": round(float((logits[positive] > 0).mean()), 3),
            "negatives with a positive logit": round(float((logits[~positive] > 0).mean()), 4),
            "mean combined probability": round(mean, 4),
            "bias matching the first model": matching_bias(z, logits, w, target)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    cols = " / ".join(f"{q:g}" for q in PRECISIONS)
    lines = [f"# Context models on held-out real pairs ({args.prefix} records of {args.real})", "",
             f"{report['pairs']} pairs ({report['positives']} positive) of {report['utterances']} utterances "
             "whose named entity no other dev record names. Spans right at precision " + cols + ".", "",
             "| model | logit alone | combined as served | positives / negatives with logit > 0 | "
             "mean combined probability | bias matching the first |", "| --- | --- | --- | --- | --- | --- |",
             f"| feature scorer | - | {' / '.join(str(v) for v in report['feature scorer'].values())} | - | - | - |"]
    for folder, m in report["models"].items():
        lines.append(f"| {folder} | {' / '.join(str(v) for v in m['alone'].values())} | "
                     f"{' / '.join(str(v) for v in m['combined'].values())} | "
                     f"{m['positives with a positive logit']} / {m['negatives with a positive logit']} | "
                     f"{m['mean combined probability']} | {m['bias matching the first model']} |")
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

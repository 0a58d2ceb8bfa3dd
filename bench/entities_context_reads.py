"""The context profile's read budget: quality and latency per budget, interleaved.

``DancerOptions.context_reads`` (``EMENDO_DANCER_CONTEXT_READS``) lets the context scorer read at
most N candidates an utterance, those the feature scorer rates highest; the others are not written.
One DANCER with the bundled context profile corrects the evaluation set's confusable and normal
utterances at one catalog size under each budget; the budgets take turns (``--rounds`` times) on
the same utterances, so that the shared machine's minute-to-minute speed hits all of them alike
(before each turn the memos are emptied and ``--warm`` other utterances served untimed, as in
``entities_dancer.py``). For each budget: the NE-CER reduction over PED-NEC on the confusable
utterances (with its 95% bootstrap interval), recall and precision, the context scorer's reads an
utterance, and p50 / p99 per utterance (median over rounds, with the range).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python bench/entities_context_reads.py --evalset runs/entities/evalset.jsonl

Writes ``bench/results/entities_context_reads.{json,md,png}`` (the plot needs matplotlib).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from entities_dancer import asr_input, build, correct, forget, latency, reduction_interval, run, write_report
from train_dancer_reranker import bench_universe, parts_for, subset

from emendo.correctors.entities.dancer import DancerCorrector, Reranker, bundled_weights
from emendo.correctors.entities.embed import SentenceEmbedder
from emendo.correctors.entities.retrieval import DenseIndex
from emendo.eval.entities import entity_scores, record_spans
from emendo.malloc import keep_freed_memory


class Counting:
    """Wraps a context scorer and counts the pairs it is asked about."""

    def __init__(self, scorer: Any) -> None:
        self.scorer, self.pairs = scorer, 0
        self.fingerprint = scorer.fingerprint

    def logits(self, text: str, items: Sequence[tuple[int, int, str, str]]) -> Any:
        self.pairs += len(items)
        return self.scorer.logits(text, items)


def label(reads: int) -> str:
    return "no limit" if reads == 0 else str(reads)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evalset", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--reads", default="0,1,2,3,4", help="budgets to compare (0: no limit)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm", type=int, default=200, help="untimed utterances of the other splits first")
    ap.add_argument("--cache", default="runs/entities/cache")
    ap.add_argument("--out", default="bench/results/entities_context_reads")
    args = ap.parse_args(argv)
    budgets = [int(x) for x in args.reads.split(",")]
    if any(b < 0 for b in budgets) or args.rounds < 1:
        raise SystemExit("need budgets >= 0 and --rounds >= 1")
    keep_freed_memory()
    records = [json.loads(line) for line in Path(args.evalset).read_text().splitlines() if line.strip()]
    named = [r for r in records if r["split"] == args.split and r["kind"] in ("confusable", "normal")]
    if not named:
        raise SystemExit(f"{args.evalset}: no confusable or normal records in split {args.split!r}")
    warm = [asr_input(r) for r in records if r["split"] != args.split][:args.warm]
    entities = bench_universe([args.size])  # the pool entities_dancer.py draws its catalogs from
    embedder = SentenceEmbedder()
    matrix = DenseIndex.embeddings(entities, embedder, cache_dir=args.cache, progress=True)
    part = parts_for(named, args.size)[0]
    if len(part) < len(named):
        raise SystemExit(f"the groups of {len(named)} utterances do not fit {args.size:,} entities: pick a larger size")
    rows = subset(entities, {g for r in part for g in r["group"]}, args.size, 3)
    correctors = build(entities, matrix, embedder, rows, Reranker.load(bundled_weights("context")))
    dancer, pednec = correctors["dancer"], correctors["pednec"]
    assert isinstance(dancer, DancerCorrector) and dancer.context_scorer is not None
    counting = Counting(dancer.context_scorer)
    dancer.context_scorer = counting  # type: ignore[assignment]
    base = dancer.options
    items = [asr_input(r) for r in part]
    confusable = [k for k, r in enumerate(part) if r["kind"] == "confusable"]
    refs = [part[k]["text"] for k in confusable]
    hyps = [part[k]["hyp"] for k in confusable]
    spans = [record_spans(part[k]) for k in confusable]
    before = [correct(pednec, items[k]) for k in confusable]
    pednec_ne = entity_scores(refs, before, spans).ne_cer
    timings: dict[int, list[list[float]]] = {b: [] for b in budgets}
    outputs: dict[int, list[str]] = {}
    reads: dict[int, float] = {}
    for _ in range(args.rounds):
        for budget in budgets:
            dancer.options = dataclasses.replace(base, context_reads=budget)
            forget(dancer)
            for item in warm:
                correct(dancer, item)
            counting.pairs = 0  # the timed utterances' reads only
            got, ms = run(dancer, items)
            if budget in outputs and got != outputs[budget]:
                raise RuntimeError(f"budget {budget}: different outputs in two rounds")
            outputs[budget], reads[budget] = got, counting.pairs / len(items)
            timings[budget].append(ms)
            print(f"reads {label(budget)}: p50 {np.median(ms):.2f} ms", flush=True)
    results: dict[str, Any] = {}
    for budget in budgets:
        after = [outputs[budget][k] for k in confusable]
        scores = entity_scores(refs, after, spans, inputs=hyps)
        results[label(budget)] = {
            "context_reads": budget, "ne_cer": scores.ne_cer,
            "reduction": (pednec_ne - scores.ne_cer) / pednec_ne if pednec_ne else 0.0,
            "interval": reduction_interval(refs, spans, before, after), "recall": scores.recall,
            "precision": scores.precision, "reads_per_utterance": reads[budget],
            **latency(timings[budget])}  # p50 / p99: medians over the rounds, with each round's
    report: dict[str, Any] = {
        "evalset": args.evalset, "split": args.split, "size": args.size, "rounds": args.rounds,
        "utterances": len(items), "confusable": len(confusable), "pednec_ne_cer": pednec_ne,
        "scorer": "bundled context profile (reranker-context.json)", "results": results,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, one ONNX Runtime thread a model, "
                   f"load average after {os.getloadavg()}"}
    lines = ["# DANCER's context profile: the context scorer's read budget (interleaved)", "",
             f"{report['machine']}; {args.size:,} entities; {len(items)} utterances of the {args.split} split "
             f"({len(confusable)} confusable, the rest normal); the budgets take turns, {args.rounds} rounds. "
             f"NE-CER reduction over PED-NEC (NE-CER {pednec_ne:.4f}) on the confusable utterances with its 95% "
             "bootstrap interval; latency per utterance over all of them, median over rounds (range).", "",
             "| reads an utterance (at most) | NE-CER reduction | recall / precision | reads made, mean | "
             "p50 ms | p99 ms |", "| --- | --- | --- | --- | --- | --- |"]
    for name, res in results.items():
        low, high = res["interval"]
        lines.append(f"| {name} | {100 * res['reduction']:.1f}% ({100 * low:.1f}-{100 * high:.1f}) | "
                     f"{res['recall']:.3f} / {res['precision']:.3f} | {res['reads_per_utterance']:.2f} | "
                     f"{res['p50_ms']:.1f} ({min(res['p50_passes']):.1f}-{max(res['p50_passes']):.1f}) | "
                     f"{res['p99_ms']:.1f} ({min(res['p99_passes']):.1f}-{max(res['p99_passes']):.1f}) |")
    out = Path(args.out)
    write_report(out, report, "\n".join(lines) + "\n")
    plot(results, out.with_suffix(".png"), args.size)
    return 0


def plot(results: dict[str, Any], path: Path, size: int) -> None:
    """NE-CER reduction against p50 latency, one point a budget (skipped without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [r["p50_ms"] for r in results.values()]
    ys = [100 * r["reduction"] for r in results.values()]
    ax.plot(xs, ys, "o")
    for name, x, y in zip(results, xs, ys, strict=True):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(0, 7), ha="center")
    ax.margins(x=0.15, y=0.1)
    ax.set_xlabel("p50 ms per utterance (one thread)")
    ax.set_ylabel("NE-CER reduction over PED-NEC, %")
    ax.set_title(f"Context scorer reads an utterance, {size:,} entities")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())

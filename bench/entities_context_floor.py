"""Which candidates DANCER's context scorer needs to read: its floor and top, per catalog size.

The context scorer (``EMENDO_DANCER_SCORER=context``) reads each Latin-script span's ``top`` best
candidates by the feature scorer whose feature probability, in the catalog at hand, is at least
``floor`` (``meta.context`` of the scorer file). Each read costs ~2.7 ms on one CPU thread, so the
fewer the better, as long as no candidate that could have been chosen goes unread. This script asks
the context scorer about every candidate at or above ``--probe-floor`` (the span's ``top`` best of
them, as served, or ``--probe-top``), then counts, for each floor in ``--floors`` and each top in ``--tops``: the reads
it keeps, and the **decisive** ones it would drop, i.e. candidates whose combined probability or
feature probability reached the decision threshold (the scorer's lower threshold; a candidate below it
is never written). A candidate not read keeps its feature probability: below a floor that is below the
threshold, but a candidate beyond ``top`` may be written without the read that would have kept it out.

Catalogs, parts, inputs (with the recogniser's word confidences) as in ``bench/entities_dancer.py``.

    .venv/bin/python bench/entities_context_floor.py --evalset runs/entities/evalset.jsonl --split dev

Writes ``bench/results/entities_context_floor.{json,md}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from entities_dancer import asr_input, build, named_records, write_report
from train_dancer_reranker import bench_universe, parts_for, subset, unpack

from emendo.correctors.entities.dancer import DancerCorrector, Reranker, Scored, scorer_file
from emendo.correctors.entities.embed import SentenceEmbedder
from emendo.correctors.entities.retrieval import DenseIndex
from emendo.malloc import keep_freed_memory


def probed(reranker: Reranker, floor: float, top: int | None = None) -> Reranker:
    """``reranker`` with its context scorer's floor set to ``floor`` (and its top to ``top``, when given)."""
    if reranker.stack is None:
        raise SystemExit("the scorer has no context combination (meta.context)")
    return dataclasses.replace(reranker, meta={**reranker.meta, "context": {
        **reranker.stack, "floor": floor, "top": top or reranker.stack["top"]}})


def reads(dancer: DancerCorrector, scored: list[Scored], size: int) -> list[tuple[float, int, bool]]:
    """(feature probability in a catalog of ``size``, rank by it among the span's reads, decisive) of
    every candidate the context scorer read."""
    asked = [s for s in scored if s.context is not None]
    if not asked:
        return []
    feature = dancer.reranker.probabilities(np.asarray([s.features for s in asked]), size).tolist()
    by_span: dict[tuple[int, int], list[int]] = defaultdict(list)
    for k, s in enumerate(asked):
        by_span[s.first, s.last].append(k)
    out = []
    for members in by_span.values():
        ordered = sorted(members, key=lambda k: -feature[k])
        for rank, k in enumerate(ordered):
            # decisive: written, or writable, with the read or without it (unread, a candidate keeps its
            # feature probability: the context scorer may have been what kept it below the threshold)
            out.append((feature[k], rank, max(asked[k].probability, feature[k]) >= dancer.threshold))
    return out


def tally(rows: list[tuple[float, int, bool]], floors: list[float], tops: list[int]) -> dict[str, Any]:
    """Reads kept and decisive reads dropped for each (floor, top); ``rows``: (feature probability, rank
    in its span, decisive) of every read."""
    prob = np.asarray([r[0] for r in rows])
    rank = np.asarray([r[1] for r in rows])
    decisive = np.asarray([r[2] for r in rows], dtype=bool)
    grid = {}
    for floor in floors:
        for top in tops:
            keep = (prob >= floor) & (rank < top)
            grid[f"{floor:g},{top}"] = {"floor": floor, "top": top, "kept": int(keep.sum()),
                                        "decisive_dropped": int((decisive & ~keep).sum())}
    return {"reads": len(rows), "decisive": int(decisive.sum()), "grid": grid}


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Which candidates the context scorer needs to read", "",
             f"Evaluation set `{report['evalset']}`, split `{report['split']}` (confusable and normal "
             f"utterances, with word confidences), scorer `{report['reranker']}`, every candidate at or above "
             f"{report['probe_floor']:g} read (the span's {report['probe_top']} best); {report['machine']}. "
             "A read is decisive when the combined probability or the feature probability reached the "
             f"decision threshold ({report['threshold']:g}); reads dropped below a floor or beyond a span's top "
             "keep the feature probability (`bench/entities_context_floor.py`).", ""]
    for size, res in report["sizes"].items():
        lines += [f"## {int(size):,} entities: {res['reads']:,} reads in {res['utterances']} utterances, "
                  f"{res['decisive']} decisive", "",
                  "| floor | top | reads kept | per utterance | decisive reads dropped |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        for cell in res["grid"].values():
            kept = cell["kept"]
            lines.append(f"| {cell['floor']:g} | {cell['top']} | {kept:,} ({kept / max(res['reads'], 1):.0%}) "
                         f"| {kept / max(res['utterances'], 1):.2f} | {cell['decisive_dropped']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evalset", required=True, help="scripts/make_entity_evalset.py output (JSONL)")
    ap.add_argument("--split", default="dev", help="dev (what a floor is chosen on), test or all")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reranker", help="a scorer file with a context combination (default: the bundled "
                                       "reranker-context.json), served with its options")
    ap.add_argument("--probe-floor", type=float, default=0.01, help="read every candidate at or above this")
    ap.add_argument("--floors", default="0.01,0.02,0.03,0.05,0.1,0.2")
    ap.add_argument("--tops", default="2,4,6,8")
    ap.add_argument("--probe-top", type=int, default=None,
                    help="read each span's N best candidates (default: the scorer's top)")
    ap.add_argument("--cache", default="runs/entities/cache", help="entity embedding cache folder")
    ap.add_argument("--out", default="bench/results/entities_context_floor")
    args = ap.parse_args(argv)
    keep_freed_memory()
    records = named_records(args.evalset, args.split)
    floors = [float(f) for f in args.floors.split(",")]
    tops = [int(t) for t in args.tops.split(",")]
    if min(floors) < args.probe_floor:
        raise SystemExit("--floors must not go below --probe-floor")
    source = args.reranker or "context"  # as EMENDO_DANCER_SCORER names it
    scorer = probed(Reranker.load(scorer_file(source)), args.probe_floor, args.probe_top)
    probe_top = int(scorer.stack["top"]) if scorer.stack else 0
    if max(tops) > probe_top:
        raise SystemExit(f"--tops must not go above the scorer's top ({probe_top})")
    sizes = [int(s) for s in args.sizes.split(",")]
    entities = bench_universe(sizes)
    embedder = SentenceEmbedder()
    matrix = DenseIndex.embeddings(entities, embedder, cache_dir=args.cache)
    results: dict[str, Any] = {}
    threshold = 0.0
    for size in sizes:
        rows: list[tuple[float, int, bool]] = []
        started = time.perf_counter()
        for part in parts_for(records, size):
            subset_rows = subset(entities, {g for r in part for g in r["group"]}, size, 3)
            # the probe reads every candidate at or above its floor: no read budget (``context_reads``)
            dancer = build(entities, matrix, embedder, subset_rows, scorer, context_reads=0)["dancer"]
            assert isinstance(dancer, DancerCorrector)
            threshold = dancer.threshold
            for record in part:
                text, confidences = unpack(asr_input(record))
                rows += reads(dancer, dancer.score_text(text, confidences=confidences), size)
        results[str(size)] = {**tally(rows, floors, tops), "utterances": len(records)}
        print(f"{size:,} entities: {len(rows)} reads in {time.perf_counter() - started:.0f} s", flush=True)
    report = {"evalset": args.evalset, "split": args.split, "reranker": source, "probe_floor": args.probe_floor,
              "probe_top": probe_top, "threshold": threshold, "sizes": results,
              "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"}
    write_report(Path(args.out), report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

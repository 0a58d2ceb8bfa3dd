"""Where DANCER's entity errors come from, per catalog size: an account of every entity span.

``bench/entities_dancer.py`` says how much DANCER gains; this script says what bounds the gain.
Each entity span of the evaluation set's confusable and normal utterances (``--split``, default
``test``) falls in exactly one row:

- **heard right**: the recogniser wrote the name (case and accents aside); DANCER kept it, or wrote
  something else over it (**heard right, changed**);
- **among the candidates**: DANCER's candidates for a span overlapping the name include its
  entity; then DANCER **chose it** (wrote its name), **chose another** (wrote something else there),
  or **left it** as heard (a change of case only counts as leaving it);
- **not among the candidates**, by the nearest phonetic distance between what was heard and the
  entity's names (``phonetic_distance``; DANCER looks up names within ``max_distance`` = 0.4):
  within 0.4 and among the ``phonetic_limit`` nearest names yet not looked at (the span was not
  gated, or it crosses another name); within 0.4 but **crowded out** by nearer names; 0.4-0.5;
  0.5-0.6; beyond 0.6; heard as more than 3 words, or as nothing.

For the spans not among the candidates it also counts how many the utterance's dense retrieval
(its embedding against the descriptions) ranks in its top 10 and top 50: what context alone could
still find. Catalogs, parts and scorer are built as in ``bench/entities_dancer.py``.

    .venv/bin/python bench/entities_misses.py --evalset runs/entities/evalset.jsonl

Writes ``bench/results/entities_misses.{json,md}``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from entities_dancer import build, named_records, write_report
from train_dancer_reranker import bench_universe, parts_for, subset

from emendo.correctors.entities.dancer import DancerCorrector, Reranker, scorer_file
from emendo.correctors.entities.embed import SentenceEmbedder
from emendo.correctors.entities.index import cached_fold
from emendo.correctors.entities.phonetic import phonetic_distance
from emendo.correctors.entities.retrieval import DenseIndex
from emendo.eval.entities import project, record_spans
from emendo.malloc import keep_freed_memory

ROWS = ("heard right", "heard right, changed", "among the candidates: chosen", "among the candidates: another chosen",
        "among the candidates: left as heard", "not among: within 0.4, not looked at",
        "not among: within 0.4, crowded out", "not among: 0.4-0.5", "not among: 0.5-0.6", "not among: beyond 0.6",
        "not among: more than 3 words or nothing")
DENSE = ("  of those not among: dense top 10", "  of those not among: dense top 50")


def overlaps(start: int, end: int, a: int, b: int) -> bool:
    """Whether the span ``[start, end)`` overlaps the (possibly empty) span ``[a, b)``."""
    return start < max(b, a + 1) and a < end


def account(dancer: DancerCorrector, embedder: SentenceEmbedder, record: dict[str, Any]) -> list[str]:
    """The row (:data:`ROWS`, then :data:`DENSE` where it applies) of each entity span of ``record``."""
    hyp = record["hyp"]
    scored = dancer.score_text(hyp, confidences=record.get("confidences"))
    _, chosen = dancer.apply(hyp, scored)
    index = dancer.catalog.index(dancer.options.default_catalog)
    dense = dancer.dense.get(dancer.options.default_catalog)
    assert index is not None
    ranks: dict[str, int] | None = None
    out = []
    for span in record_spans(record):
        a, b = project(record["text"], hyp, span.start, span.end)
        heard, name = hyp[a:b], record["text"][span.start:span.end]
        # a replacement that writes the name (case and accents aside) is right whichever catalog
        # entity of that name it chose (several Portlands); one that only changes case ("melbourne" ->
        # Melbourne for Millburn) leaves the span as heard: the text is what NE-CER reads
        here = [cached_fold(s.surface) == cached_fold(name) for s in chosen
                if overlaps(s.start, s.end, a, b) and cached_fold(s.surface) != cached_fold(hyp[s.start:s.end])]
        if cached_fold(heard) == cached_fold(name):
            out.append(ROWS[0] if all(here) else ROWS[1])
            continue
        if any(s.entity.id == span.entity_id and overlaps(s.start, s.end, a, b) for s in scored):
            out.append(ROWS[2] if any(here) else ROWS[3] if here else ROWS[4])
            continue
        entity = index.get(span.entity_id)
        words = len(heard.split())
        if entity is None or not words or words > 3:
            out.append(ROWS[10])
        else:
            distance = min(phonetic_distance(heard, form) for form in entity.surface_forms)
            found = index.candidates(heard, 300, dancer.options.max_distance)
            rank = next((k for k, c in enumerate(found) if c.entity.id == span.entity_id), None)
            out.append(ROWS[5] if rank is not None and rank < dancer.options.phonetic_limit else
                       ROWS[6] if distance <= dancer.options.max_distance else
                       ROWS[7] if distance <= 0.5 else ROWS[8] if distance <= 0.6 else ROWS[9])
        if dense is not None:
            if ranks is None:
                query = embedder.embed([hyp])[0]
                ranks = {e.id: k for k, (e, _) in enumerate(dense.search(query, 50))}
            rank_dense = ranks.get(span.entity_id, 50)
            out += [DENSE[0]] * (rank_dense < 10) + [DENSE[1]] * (rank_dense < 50)
    return out


def markdown(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    lines = [
        "# Where DANCER's entity errors come from",
        "",
        f"Evaluation set `{report['evalset']}`, split `{report['split']}` (confusable and normal utterances), "
        f"scorer `{report['reranker']}`; {report['machine']}. Every entity span is in exactly one of the first "
        "rows (`bench/entities_misses.py` says what each means).",
        "",
        "| entity spans | " + " | ".join(f"{s:,} entities" for s in sizes) + " |",
        "| --- | " + " | ".join("---:" for _ in sizes) + " |",
    ]
    for row in (*ROWS, *DENSE):
        counts = (str(report["counts"][str(s)].get(row, 0)) for s in sizes)
        lines.append(f"| {row.strip()} | " + " | ".join(counts) + " |")
    lines.append("| all | " + " | ".join(str(report["spans"][str(s)]) for s in sizes) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evalset", required=True, help="scripts/make_entity_evalset.py output (JSONL)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reranker", help="a scorer file, or context (default: the bundled one, with its options)")
    ap.add_argument("--cache", default="runs/entities/cache", help="entity embedding cache folder")
    ap.add_argument("--out", default="bench/results/entities_misses")
    args = ap.parse_args(argv)
    keep_freed_memory()
    records = named_records(args.evalset, args.split)
    sizes = [int(s) for s in args.sizes.split(",")]
    entities = bench_universe(sizes)
    embedder = SentenceEmbedder()
    matrix = DenseIndex.embeddings(entities, embedder, cache_dir=args.cache)
    source = scorer_file(args.reranker or "")  # as EMENDO_DANCER_SCORER reads it ("context" included)
    reranker = Reranker.load(source) if source else None
    counts: dict[str, dict[str, int]] = {}
    spans: dict[str, int] = {}
    for size in sizes:
        tally: Counter[str] = Counter()
        started = time.perf_counter()
        for part in parts_for(records, size):
            rows = subset(entities, {g for r in part for g in r["group"]}, size, 3)
            dancer = build(entities, matrix, embedder, rows, reranker)["dancer"]
            for record in part:
                tally.update(account(dancer, embedder, record))
        counts[str(size)] = dict(tally)
        spans[str(size)] = sum(tally[row] for row in ROWS)
        print(f"{size:,} entities: {spans[str(size)]} spans in {time.perf_counter() - started:.0f} s", flush=True)
    report = {"evalset": args.evalset, "split": args.split, "sizes": sizes,
              "reranker": args.reranker or "bundled reranker.json", "counts": counts, "spans": spans,
              "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"}
    write_report(Path(args.out), report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Write DANCER's (span, candidate) pairs as text, for training the context scorer (a cross-encoder).

The pairs are those ``scripts/train_dancer_reranker.py`` trains the feature scorer on: synthetic
utterances about the built-in English entities (evaluation groups left out with ``--exclude``),
the real TTS->ASR evaluation set's dev split (``--real``) and entity-free sentences (``--clean``,
every candidate a negative), each scored by the served feature scorer over a ``--catalog-size``
catalog, with the default candidate options (pronunciation candidates at every size) or (``--candidates context``) those
``reranker-context.json`` serves. Per span the ``--top`` candidates by that scorer's probability are
kept, those above ``--floor``. One JSON line a
pair (gzip)::

    {"u": item, "t": hypothesis, "s": span start, "e": span end, "c": candidate's entity text,
     "n": the surface form it would write, "y": 1/0, "p": feature-scorer probability,
     "k": "syn" | "real" | "clean", "f": fold (crc32 of the text mod 2)}

``scripts/train_context_scorer.py`` trains on it (a GPU call). Run in the main venv::

    OPENBLAS_NUM_THREADS=1 .venv/bin/python scripts/dump_dancer_pairs.py --exclude runs/entities/evalset.jsonl \\
        --real runs/entities/evalset.jsonl --clean runs/real/speech_train.jsonl --out runs/ctx/pairs.jsonl.gz
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tqdm import tqdm
from train_dancer_reranker import (
    add_example_options,
    examples,
    excluded_ids,
    fold_of,
    make_corrector,
    real_examples,
    universe,
    unpack,
)

from emendo.correctors.entities.dancer import DancerOptions, Reranker, scorer_file
from emendo.correctors.entities.embed import SentenceEmbedder
from emendo.correctors.entities.retrieval import entity_text


def candidate_options(profile: str) -> DancerOptions:
    """The options whose candidates are dumped: ``default``, the default options with pronunciation
    candidates at every catalog size (as the feature scorer trains); ``context``, those the context
    profile is served with (``reranker-context.json``'s ``meta.options``), without the cross-encoder
    itself, so every candidate keeps its feature probability."""
    if profile == "default":
        return DancerOptions(phone_catalog_limit=0)
    return DancerOptions.tuned_with(Reranker.load(scorer_file(profile)), context_scorer=False, context_reads=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--exclude", help="evaluation set JSONL whose entity groups are left out")
    ap.add_argument("--real", help="real evaluation set: its dev split is added")
    add_example_options(ap)  # the training script's generator options, with more examples by default
    ap.set_defaults(clean_count=2000, utterances=12000)
    ap.add_argument("--catalog-size", type=int, default=100_000)
    ap.add_argument("--cache", default="runs/entities/cache")
    ap.add_argument("--top", type=int, default=6, help="candidates kept per span (by the feature scorer)")
    ap.add_argument("--floor", type=float, default=0.01,
                    help="candidates the feature scorer gives less probability are left out (never replaced)")
    ap.add_argument("--candidates", choices=("default", "context"), default="default",
                    help="candidate options: the default scorer's (pronunciation candidates at every size), or "
                         "those reranker-context.json serves (also the phonetic pool and spans around names)")
    ap.add_argument("--seed", type=int, default=23)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    embedder = SentenceEmbedder()
    corrector = make_corrector(universe(args.catalog_size), embedder, cache_dir=args.cache,
                               reranker=Reranker.load(), options=candidate_options(args.candidates))
    rows, clean_texts = examples(corrector, args, excluded_ids(args.exclude), rng)
    items: list[tuple[str, list[float] | None, dict[str, Any] | None, str]] = [
        (r["hyp"], None, r, "syn") for r in rows]
    if args.real:
        real_rows, real_clean = real_examples(Path(args.real))
        items += [(r["hyp"], r.get("confidences"), r, "real") for r in real_rows]
        items += [(*unpack(c), None, "clean") for c in real_clean]
    items += [(t, None, None, "clean") for t in clean_texts]
    index, dense, phones = (corrector.catalog.index("default"), corrector.dense["default"],
                            corrector.phones("default"))
    assert index is not None
    idf = corrector.idf("default")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pairs = positives = 0
    with gzip.open(out, "wt", encoding="utf-8") as fh:
        for u, (text, confidences, row, kind) in enumerate(tqdm(items, desc="pairs", unit="utt")):
            by_span = defaultdict(list)
            for s in corrector.score_spans(text, index, dense, idf, confidences, phones):
                by_span[s.first, s.last].append(s)
            for found in by_span.values():
                for s in sorted(found, key=lambda s: -s.probability)[:args.top]:
                    if s.probability < args.floor:
                        break
                    y = int(row is not None and s.entity.id == row["entity_id"]
                            and (s.start, s.end) == (row["start"], row["end"]))
                    fh.write(json.dumps({"u": u, "t": text, "s": s.start, "e": s.end, "c": entity_text(s.entity),
                                         "n": s.surface, "y": y, "p": round(s.probability, 5), "k": kind,
                                         "f": fold_of(text, 2)}, ensure_ascii=False) + "\n")
                    pairs += 1
                    positives += y
    print(json.dumps({"items": len(items), "pairs": pairs, "positives": positives, "out": str(out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

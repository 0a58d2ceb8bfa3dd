"""Train the DANCER scorer for Cyrillic spans (``emendo/data/models/dancer/reranker-ru.json``).

The English scorer (``train_dancer_reranker.py``) learns from English utterances and MiniLM
cosines; on Russian spans it keeps nearly everything (names right 3% on the synthetic Russian
set), and one scorer trained on both languages lost English NE-CER (dev mean reduction 16.8 ->
15.1%) and changed 2.9% of the words of correct Russian sentences. So Cyrillic spans get their
own logistic regression over the same features, trained here on synthetic Russian utterances
(``scripts/russian_entity_utterances.py``: misheard names in the six cases, from the three
quarters of the names not held out for ``bench/entities_russian.py``) and entity-free Russian
corpus sentences (train split). Its thresholds (any span; a span that names another entity)
are tuned on other names' utterances and the corpus dev split: the pair with the lowest
NE-CER among those that change at most ``--max-harm`` of the corpus sentences' words and
``--max-reference-harm`` of the words of the correct sentences; ties go to the higher values.

    nice .venv/bin/python scripts/train_dancer_reranker_ru.py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from russian_entity_utterances import clean_russian, russian_names, transcripts, utterances
from train_dancer_reranker import featurise, linear_reranker, make_corrector, universe

from emendo.correctors.entities.dancer import FEATURES, DancerCorrector, DancerOptions
from emendo.correctors.entities.embed import SentenceEmbedder
from emendo.eval.entities import EntitySpan, entity_scores, project, words_changed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="src/emendo/data/models/dancer/reranker-ru.json")
    ap.add_argument("--utterances", type=int, default=1200, help="training utterances")
    ap.add_argument("--dev", type=int, default=600, help="tuning utterances (other names)")
    ap.add_argument("--corpus", default="runs/corpora/ru", help="folder with {train,dev}.jsonl.gz")
    ap.add_argument("--cache", default="runs/entities/cache", help="entity embedding cache folder")
    ap.add_argument("--asr-style", type=float, default=0.8)
    ap.add_argument("--max-harm", type=float, default=0.003,
                    help="corpus sentences' words changed, at most (0.1%% leaves NE-CER 0.15 of 0.19: no use)")
    ap.add_argument("--max-reference-harm", type=float, default=0.002,
                    help="correct sentences' words changed, at most")
    ap.add_argument("--encoder", help="sentence encoder folder (default: the bundled one); serve the scorer with it")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--dump-utterances", help="write the train and dev sentences (id, text) to this JSONL and stop")
    ap.add_argument("--dump-limits", default="1200,600", help="how many train,dev sentences --dump-utterances writes")
    ap.add_argument("--real-asr", help="JSONL of a recogniser's output for some of them (scripts/russian_entity_asr.py "
                                       "--from the dump): added to the training rows and the tuning utterances")
    ap.add_argument("--real-weight", type=int, default=2, help="times each real training utterance is repeated")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    embedder = SentenceEmbedder(args.encoder)
    options = DancerOptions()
    corrector = make_corrector(universe(), embedder, cache_dir=args.cache, options=options)
    index = corrector.catalog.index("default")
    assert index is not None
    names = russian_names(index, args.utterances + args.dev, rng, evaluation=False)
    train = [{**r, "id": f"train-{r['id']}"} for r in utterances(names[:args.utterances], rng, args.asr_style)]
    dev = [{**r, "id": f"dev-{r['id']}"} for r in utterances(names[args.utterances:], rng, args.asr_style)]
    if args.dump_utterances:  # the sentences to speak for --real-asr (scripts/russian_entity_asr.py --from)
        n_train, n_dev = (int(x) for x in args.dump_limits.split(","))
        with open(args.dump_utterances, "w", encoding="utf-8") as fh:
            for r in train[:n_train] + dev[:n_dev]:
                fh.write(json.dumps({"id": r["id"], "text": r["text"]}, ensure_ascii=False) + "\n")
        return 0
    rows = [{"id": r["id"], "hyp": r["hyp"], "entity_id": r["entity_id"], "start": r["hyp_start"],
             "end": r["hyp_end"]} for r in train]
    if args.real_asr:  # a recogniser's output for some of these sentences: added to training and tuning
        heard = transcripts(args.real_asr, train + dev, every=False)
        real_train = [real_row(r, heard[r["id"]]["hyp"]) for r in train if r["id"] in heard]
        real_dev = [{**r, "hyp": heard[r["id"]]["hyp"], "id": "asr-" + r["id"]} for r in dev if r["id"] in heard]
        rows += [x for x in real_train if x is not None] * args.real_weight
        dev += real_dev
        print(f"real ASR: {len(real_train)} training, {len(real_dev)} tuning utterances", file=sys.stderr)
    clean = clean_russian(f"{args.corpus}/train.jsonl.gz", len(rows) // 3, rng)
    X, y, _, _ = featurise(corrector, rows, clean)
    reranker = linear_reranker(X, y, {})
    scorer = DancerCorrector(corrector.catalog, embedder, corrector.dense, reranker=reranker, options=options,
                             lexicon=corrector.lexicon)
    tuning = tune(scorer, dev, clean_russian(f"{args.corpus}/dev.jsonl.gz", 300, rng), args)
    meta: dict[str, Any] = {"threshold": tuning["threshold"], "named_threshold": tuning["named_threshold"],
                            "threshold_tuning": tuning, "rows": len(y), "positives": int(y.sum()),
                            "utterances": len(rows), "clean_sentences": len(clean), "seed": args.seed,
                            "language": "ru", "encoder": embedder.fingerprint,
                            "options": dataclasses.asdict(options),
                            "command": "scripts/train_dancer_reranker_ru.py " + " ".join(argv or sys.argv[1:])}
    report = {"features": list(FEATURES), "weights": list(reranker.weights), "bias": reranker.bias,
              "mean": list(reranker.mean), "scale": list(reranker.scale), "meta": meta}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in meta.items() if k != "threshold_tuning"}, indent=1))
    return 0


def real_row(r: dict[str, Any], hyp: str) -> dict[str, Any] | None:
    """A training row for the recogniser's ``hyp`` of utterance ``r``: the name's span projected onto
    it (None when nothing of the hypothesis aligns with the name)."""
    start, end = project(r["text"], hyp, r["start"], r["end"])
    if end <= start:
        return None
    return {"id": "asr-" + r["id"], "hyp": hyp, "entity_id": r["entity_id"], "start": start, "end": end}


TUNE_GRID = tuple(k / 20 for k in range(2, 20))  # 0.1 .. 0.95


def tune(scorer: DancerCorrector, dev: list[dict[str, Any]], clean: list[str], args: argparse.Namespace,
         grid: tuple[float, ...] = TUNE_GRID) -> dict[str, Any]:
    """The (threshold, named threshold) pair with the lowest dev NE-CER within the harm bounds."""
    refs, hyps = [r["text"] for r in dev], [r["hyp"] for r in dev]
    spans = [[EntitySpan(r["start"], r["end"], r["surface"], r["entity_id"])] for r in dev]
    scored = {"hyps": [scorer.score_text(x) for x in hyps], "refs": [scorer.score_text(x) for x in refs],
              "clean": [scorer.score_text(x) for x in clean]}
    table: dict[str, dict[str, float]] = {}
    for t in grid:
        for named in (x for x in grid if x >= t):
            def decide(texts: list[str], key: str, limits: tuple[float, float] = (t, named)) -> list[str]:
                return [scorer.apply(x, s, *limits)[0] for x, s in zip(texts, scored[key], strict=True)]

            changed, total = words_changed(refs, decide(refs, "refs"))
            clean_changed, clean_total = words_changed(clean, decide(clean, "clean"))
            table[f"{t}/{named}"] = {"ne_cer": round(entity_scores(refs, decide(hyps, "hyps"), spans).ne_cer, 5),
                                     "reference_harm": round(changed / max(total, 1), 5),
                                     "harm": round(clean_changed / max(clean_total, 1), 5)}
    allowed = [k for k, v in table.items() if v["harm"] <= args.max_harm
               and v["reference_harm"] <= args.max_reference_harm] or [f"{grid[-1]}/{grid[-1]}"]
    best = min(allowed, key=lambda k: (table[k]["ne_cer"], [-float(x) for x in k.split("/")]))
    threshold, named = (float(x) for x in best.split("/"))
    real = sum(str(r["id"]).startswith("asr-") for r in dev)
    return {"rule": f"Russian dev ({len(dev)} utterances about other names, {real} of them a recogniser's output, "
                    f"the rest synthetic): lowest NE-CER with corpus "
                    f"words changed <= {args.max_harm:.2%} and correct sentences' words <= "
                    f"{args.max_reference_harm:.2%}",
            "threshold": threshold, "named_threshold": named, "input_ne_cer": round(
                entity_scores(refs, hyps, spans).ne_cer, 5), "grid": table}


if __name__ == "__main__":
    raise SystemExit(main())

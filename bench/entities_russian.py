"""Russian entity correction: misheard names in six grammatical cases, with and without inflection.

There is no offline Russian recogniser on this machine (README), so this set is synthetic
(``scripts/russian_entity_utterances.py``): single-word Russian names of the built-in catalog in
one of the six cases in a sentence that needs it, the name spelt by ear (vowel swaps, doubled
consonants ...), 80% in ASR style. Only the held-out quarter of the names is used (the DANCER
scorer trains on the rest). These errors are that script's design, not a recogniser's: the
figures say whether the case-aware lookup and the scorer work, not how they do on real
Russian ASR.

PED-NEC and DANCER run over the built-in catalogs (~95k entities, ~53k Russian) with the
index comparing a Cyrillic span with the case form of each name nearest to it
(``EntityIndex.inflect``, the default) and without it (the nominative only). Reported: NE-CER,
names right, sentences right (case-insensitive, punctuation ignored, as NE-CER), words changed
when the correct sentences and Russian corpus sentences are fed as input, latency.

    nice .venv/bin/python bench/entities_russian.py --per-case 100

Writes ``bench/results/entities_russian.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from russian_entity_utterances import clean_russian, russian_names, transcripts, utterances

sys.path.insert(0, str(Path(__file__).resolve().parent))
from entities_dancer import run, write_report

from emendo.correctors.entities.dancer import DancerCorrector, Reranker
from emendo.correctors.entities.inflect import CASES
from emendo.correctors.entities.pednec import PedNecCorrector
from emendo.correctors.entities.phonetic import fold
from emendo.correctors.registry import build_pipeline
from emendo.eval.entities import EntitySpan, entity_scores, words_changed
from emendo.settings import Settings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-case", type=int, default=100)
    ap.add_argument("--asr-style", type=float, default=0.8)
    ap.add_argument("--clean", default="runs/corpora/ru/test.jsonl.gz",
                    help="Russian corpus sentences (harm): 5-25 words, no capitalised word after the first")
    ap.add_argument("--clean-count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reranker", help="DANCER scorer weights to use instead of the bundled ones")
    ap.add_argument("--asr", help="real recogniser output for these utterances (scripts/russian_entity_asr.py, same "
                                  "--per-case and --seed): its hypotheses replace the rule-made misspellings")
    ap.add_argument("--out", help="output stem (default: bench/results/entities_russian, _asr with --asr)")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    pipeline = build_pipeline(Settings(correctors="pednec,dancer"))
    pednec, dancer = pipeline.correctors
    assert isinstance(pednec, PedNecCorrector) and isinstance(dancer, DancerCorrector)
    if args.reranker:  # a scorer written by scripts/train_dancer_reranker_ru.py --out, for every span
        dancer = DancerCorrector(dancer.catalog, dancer.embedder, dancer.dense,
                                 reranker=Reranker.load(args.reranker), options=dancer.options,
                                 lexicon=dancer.lexicon)
    index = pednec.catalog.index("default")
    if index is None:
        raise SystemExit("no default catalog")
    recs = utterances(russian_names(index, 6 * args.per_case, rng, evaluation=True), rng, args.asr_style)
    if args.asr:  # every hypothesis from the recogniser (by id; the sentence must be the same)
        heard = transcripts(args.asr, recs, every=True)
        for r in recs:
            r["hyp"], r["voice"] = heard[r["id"]]["hyp"], heard[r["id"]]["voice"]
    for r in recs:
        r["spans"] = [EntitySpan(r["start"], r["end"], r["surface"], r["entity_id"])]
    clean = clean_russian(args.clean, args.clean_count, rng) if Path(args.clean).is_file() else []
    refs, hyps = [r["text"] for r in recs], [r["hyp"] for r in recs]
    spans = [r["spans"] for r in recs]
    report: dict[str, Any] = {"machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
                              "reranker": args.reranker or "bundled", "asr_file": args.asr,
                              "utterances": len(recs), "clean_sentences": len(clean), "seed": args.seed,
                              "asr": entity_scores(refs, hyps, spans).to_dict(), "systems": {}}
    for inflect in (False, True):
        index.inflect = inflect
        index.forget_lookups()
        for name, corrector in (("pednec", pednec), ("dancer", dancer)):
            run(corrector, hyps[:20])  # warm
            outputs, ms = run(corrector, hyps)
            scores = entity_scores(refs, outputs, spans, inputs=hyps)
            norm = [" ".join(fold(w) for w in o.split()) for o in outputs]
            right = sum(a == " ".join(fold(w) for w in r.split()) for a, r in zip(norm, refs, strict=True))
            by_case = {}
            for case in CASES:
                idx = [i for i, r in enumerate(recs) if r["case"] == case]
                by_case[case] = entity_scores([refs[i] for i in idx], [outputs[i] for i in idx],
                                              [spans[i] for i in idx]).ne_cer
            harm = {}
            for label, texts in (("references", refs), ("corpus", clean)):
                got, _ = run(corrector, texts)
                changed, total = words_changed(texts, got)
                harm[label] = {"words_changed": changed, "words": total, "share": changed / max(total, 1)}
            report["systems"][f"{name}{'' if inflect else ' (nominative only)'}"] = {
                **scores.to_dict(), "sentences_right": right, "ne_cer_by_case": by_case, "harm": harm,
                "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)),
                "examples": [(h, o) for h, o in zip(hyps, outputs, strict=True) if h != o][:5]}
            print(name, inflect, round(scores.ne_cer, 4), right, flush=True)
    out = Path(args.out or ("bench/results/entities_russian" + ("_asr" if args.asr else "")))
    write_report(out, report, markdown(report), ensure_ascii=False, default=str)
    return 0


def markdown(report: dict[str, Any]) -> str:
    asr = report["asr"]
    real = bool(report.get("asr_file"))
    source = ("real TTS -> ASR: RHVoice Russian voices, multilingual Whisper base (scripts/russian_entity_asr.py)"
              if real else "synthetic by-ear misspellings")
    lines = [f"# Russian entity correction ({source}, six cases)", "",
             f"Machine: {report['machine']}; {report['utterances']} utterances (seed {report['seed']}), "
             f"{report['clean_sentences']} Russian corpus sentences for harm; built-in catalogs.", "",
             f"Input ({'recogniser output' if real else 'misspelt'}): NE-CER {asr['ne_cer']:.4f}, "
             f"names right {asr['recall']:.3f}.", "",
             "| system | NE-CER | names right | precision | sentences right | NE-CER nomn / gent / datv / accs / ablt "
             "/ loct | words changed: correct sentences / corpus | p50 / p99 ms |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, m in report["systems"].items():
        prec = "-" if m.get("precision") is None else f"{m['precision']:.3f}"
        cases = " / ".join(f"{m['ne_cer_by_case'][c]:.3f}" for c in CASES)
        harm = f"{m['harm']['references']['share']:.2%} / {m['harm']['corpus']['share']:.2%}"
        lines.append(f"| {name} | {m['ne_cer']:.4f} | {m['recall']:.3f} | {prec} | {m['sentences_right']} / "
                     f"{report['utterances']} | {cases} | {harm} | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} |")
    lines += ["", "Examples (DANCER, case-aware):", ""]
    for h, o in report["systems"].get("dancer", {}).get("examples", []):
        lines.append(f"- `{h}` -> `{o}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())

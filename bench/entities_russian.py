"""Russian entity correction: misheard names in six grammatical cases, with and without inflection.

There is no offline Russian recogniser on this machine (README), so this set is synthetic:
single-word Russian place and person names of the built-in catalog that the pymorphy3
dictionary knows (so their case forms are dictionary forms, not guesses) are put, in one of the
six cases, into sentence templates that need that case ("мой друг приехал из {gent}"). The
hypothesis misspells the name the way Russian is written by ear: 1-2 of unstressed-vowel swaps
(о/а, е/и, я/е), a doubled or undoubled consonant, "тс" -> "ц", a dropped soft sign; 80% of
hypotheses are then lower-cased without punctuation (ASR style). These errors are this
script's design, not a recogniser's: the figures say whether the case-aware lookup works, not
how it does on real Russian ASR.

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
import functools
import gzip
import json
import os
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np

from emendo.correctors.entities.inflect import CASES
from emendo.correctors.entities.phonetic import fold
from emendo.correctors.registry import build_pipeline
from emendo.eval.entities import EntitySpan, entity_scores, words_changed
from emendo.settings import Settings

TEMPLATES = {
    "nomn": ("{} — город, о котором много пишут", "говорят, что {} стоит посетить"),
    "gent": ("мой друг приехал из {} вчера", "до {} мы ехали два дня"),
    "datv": ("мы подъезжаем к {} утром", "письмо адресовано {} лично"),
    "accs": ("завтра мы едем в {} на поезде", "я давно хотел увидеть {} своими глазами"),
    "ablt": ("он всегда гордился {} и рассказывал о нём", "мы долго летели над {} ночью"),
    "loct": ("она живёт в {} уже десять лет", "мы были в {} прошлым летом"),
}
_SWAPS = (("о", "а"), ("а", "о"), ("е", "и"), ("и", "е"), ("я", "е"), ("тс", "ц"), ("ь", ""), ("ё", "о"))
_DOUBLE = "снлтрмпк"


def misspell(word: str, rng: random.Random) -> str:
    """``word`` (lower case) with 1-2 by-ear spelling changes, never the first letter: a vowel or
    "тс"/"ь"/"ё" swap, or a consonant doubled or undoubled (a kind first, then a place)."""
    for _ in range(10):
        out = word
        for _ in range(rng.choice((1, 1, 2))):
            swaps = [(at, len(a), b) for a, b in _SWAPS if (at := out.find(a, 1)) > 0]
            doubles = [(i, 2, out[i]) if out[i + 1] == out[i] else (i, 1, out[i] * 2)
                       for i in range(1, len(out) - 1) if out[i] in _DOUBLE and out[i - 1] != out[i]]
            kinds = [k for k in (swaps, doubles) if k]
            if not kinds:
                break
            at, n, new = rng.choice(rng.choice(kinds))
            out = out[:at] + new + out[at + n:]
        if out != word:
            return out
    return word


def names(pipeline: Any, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(entity id, name): single-word Russian places and people whose six case forms the dictionary gives."""
    index = pipeline.correctors[0].catalog.index("default")
    seen: set[str] = set()
    pool = []
    for entity in sorted(index, key=lambda e: e.id):
        name = entity.name
        if entity.lang != "ru" or entity.type not in ("place", "person") or " " in name or "-" in name:
            continue
        if fold(name) in seen or len(name) < 4 or len(forms_by_case(name)) < len(CASES):
            continue
        seen.add(fold(name))
        pool.append((entity.id, name))
    rng.shuffle(pool)
    return pool[:count]


def records(chosen: list[tuple[str, str]], rng: random.Random, asr_style: float) -> list[dict[str, Any]]:
    out = []
    for k, (eid, name) in enumerate(chosen):
        case = CASES[k % len(CASES)]
        form = forms_by_case(name)[case]
        template = rng.choice(TEMPLATES[case])
        pre, post = template.split("{}")
        text = (pre + form + post).strip()
        text = text[:1].upper() + text[1:] + "."
        start = text.lower().index(form.lower())
        noisy = misspell(form.lower(), rng)
        hyp = text[:start] + noisy + text[start + len(form):]
        if rng.random() < asr_style:
            hyp = " ".join(hyp.lower().replace(",", " ").replace(".", " ").replace("—", " ").split())
        out.append({"id": f"ru-{k}", "case": case, "text": text, "hyp": hyp, "entity_id": eid,
                    "spans": [EntitySpan(start, start + len(form), form, eid)]})
    return out


@functools.cache
def forms_by_case(name: str) -> dict[str, str]:
    """A single-word name's singular case forms, straight from pymorphy3's dictionary (the
    references; independent of ``emendo.correctors.entities.inflect``'s choices)."""
    morph = _analyser()
    if not morph.word_is_known(name):
        return {}
    for parse in morph.parse(name):
        if parse.tag.POS == "NOUN" and parse.tag.case == "nomn" and parse.normal_form == name.lower().replace("ё", "е"):
            out = {}
            for case in CASES:
                got = parse.inflect({case, "sing"})
                if got is not None:
                    out[case] = got.word[:1].upper() + got.word[1:] if name[:1].isupper() else got.word
            return out
    return {}


@functools.lru_cache(maxsize=1)
def _analyser() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


def run(corrector: Any, texts: list[str]) -> tuple[list[str], list[float]]:
    outputs, ms = [], []
    for text in texts:
        t = time.perf_counter()
        outputs.append(corrector.correct_text(text)[0])
        ms.append((time.perf_counter() - t) * 1000)
    return outputs, ms


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-case", type=int, default=100)
    ap.add_argument("--asr-style", type=float, default=0.8)
    ap.add_argument("--clean", default="runs/corpora/ru/test.jsonl.gz", help="Russian corpus sentences (harm)")
    ap.add_argument("--clean-count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/entities_russian")
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    pipeline = build_pipeline(Settings(correctors="pednec,dancer"))
    pednec, dancer = pipeline.correctors
    index = pednec.catalog.index("default")  # type: ignore[attr-defined]
    recs = records(names(pipeline, 6 * args.per_case, rng), rng, args.asr_style)
    clean: list[str] = []
    if Path(args.clean).is_file():
        with gzip.open(args.clean, "rt", encoding="utf-8") as fh:
            clean = [json.loads(line)["text"] for line in fh][: args.clean_count]
    refs, hyps = [r["text"] for r in recs], [r["hyp"] for r in recs]
    spans = [r["spans"] for r in recs]
    report: dict[str, Any] = {"machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
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
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


def markdown(report: dict[str, Any]) -> str:
    asr = report["asr"]
    lines = ["# Russian entity correction (synthetic by-ear misspellings, six cases)", "",
             f"Machine: {report['machine']}; {report['utterances']} utterances (seed {report['seed']}), "
             f"{report['clean_sentences']} Russian corpus sentences for harm; built-in catalogs.", "",
             f"Input (misspelt): NE-CER {asr['ne_cer']:.4f}, names right {asr['recall']:.3f}.", "",
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

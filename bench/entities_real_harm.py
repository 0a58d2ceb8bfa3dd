"""Entity correctors on real recogniser output they were not tuned on: what they change, and the WER.

Runs PED-NEC and DANCER, as ``emendo correct`` builds them (the built-in catalogs, ~95k
entities; the bundled scorer), over the 1-best hypotheses of HyPoradise sets (real recognisers:
LibriSpeech, WSJ, ATIS; no entity catalog was tuned on them) and, given a ``.csv``, over BLN600
OCR lines (``htr`` records, which the correctors skip unless their ``sources`` name ``htr``: here
they are widened, to measure what they would do). It reports, per set and corrector: WER / CER
before and after (``hyporadise`` normalisation, case and punctuation ignored; ``ocr`` for BLN600,
case kept), the lines made better and worse, the correct hypotheses changed (already equal to the
reference; a case-only change does not count), and every edit that is not a change of case or
accents, with whether the reference holds the new words: these are where a corrector turns right
words into a wrong name.

    H=../shared/data/hyporadise
    python bench/entities_real_harm.py $H/{test_ls_clean,test_wsj_score,train_atis,test_ls_other}.json \\
        ../shared/data/bln600/train.csv --limit 5000

Writes ``bench/results/entities_real_harm.{json,md}``. The data is not part of the repository
(see ``../shared/data/hyporadise/README.md`` and ``../shared/data/bln600/README.md`` for sources
and licences).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import unicodedata
from pathlib import Path
from typing import Any

from emendo.correctors.edits import word_edits
from emendo.correctors.entities.dancer import DancerCorrector
from emendo.correctors.entities.pednec import PedNecCorrector
from emendo.correctors.registry import build_pipeline
from emendo.eval.bln600 import convert_bln600, read_bln600
from emendo.eval.hyporadise import convert_hyporadise
from emendo.eval.metrics import compare
from emendo.eval.normalize import get_preset
from emendo.records import Hypothesis
from emendo.settings import Settings


def plain(text: str) -> str:
    """Lower case without accents: what a case or accent change leaves equal."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def load(path: Path, limit: int | None) -> tuple[list[Hypothesis], str]:
    """A set's records and its normalisation preset: BLN600 OCR lines for a ``.csv``, else HyPoradise."""
    if path.suffix == ".csv":
        return convert_bln600(read_bln600(path), path.stem, limit=limit).records, "ocr"
    return convert_hyporadise(json.loads(path.read_text(encoding="utf-8")), path.stem, limit=limit).records, \
        "hyporadise"


def run_set(path: Path, limit: int | None, correctors: list[str]) -> dict[str, Any]:
    records, preset = load(path, limit)
    sources = tuple(sorted({"asr", *(r.source for r in records)}))
    refs = [str(r.extra.get("reference", r.meta.get("reference", ""))) for r in records]
    hyps = [r.text for r in records]
    norm = get_preset(preset)
    right = [norm.normalize(h) == norm.normalize(ref) for h, ref in zip(hyps, refs, strict=True)]
    out: dict[str, Any] = {"n": len(records), "preset": preset, "sources": list(sources),
                           "correct_hypotheses": sum(right)}
    for name in correctors:
        pipeline = build_pipeline(Settings.from_env({**os.environ, "EMENDO_CORRECTORS": name}))
        for corrector in pipeline.correctors:  # HTR records are skipped by default: measure what they would do
            if isinstance(corrector, (PedNecCorrector, DancerCorrector)):
                corrector.options = dataclasses.replace(corrector.options, sources=sources)
        outputs = [c.corrected for c in pipeline.correct(records)]
        result = compare(refs, hyps, outputs, preset)
        out["before"] = {"wer": result.before.wer, "cer": result.before.cer}
        edits = []
        for hyp, got, ref in zip(hyps, outputs, refs, strict=True):
            words = set(norm.normalize(plain(ref)).split())
            for e in word_edits(hyp, got):
                if plain(e.before) != plain(e.after):
                    edits.append({"before": e.before, "after": e.after,
                                  "in_reference": all(w in words for w in norm.normalize(plain(e.after)).split())})
        out[name] = {"wer": result.after.wer, "cer": result.after.cer, "better": result.improved,
                     "worse": result.worsened,
                     "correct_changed": sum(ok and plain(h) != plain(g)
                                            for ok, h, g in zip(right, hyps, outputs, strict=True)),
                     "edits": edits}
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Entity correctors on real recogniser output (HyPoradise 1-best, BLN600 OCR; built-in catalogs)", "",
             f"Machine: {report['machine']}; correctors as `emendo correct` builds them (for OCR lines, `htr` "
             "added to their `sources`: by default they leave those records alone); lines better / worse "
             "compare (word errors, character errors) before and after"
             + (f"; DANCER scorer `EMENDO_DANCER_SCORER={report['dancer_scorer']}`" if report.get("dancer_scorer")
                else "") + ".", "",
             "| set | n | normalisation | corrector | WER before -> after (rel.) | CER before -> after (rel.) | lines "
             "better / worse | correct hypotheses changed | edits beyond case/accents (new words in the "
             "reference) |",
             "| --- | ---: | --- | --- | --- | --- | --- | --- | --- |"]
    for name, res in report["sets"].items():
        b = res["before"]
        for corrector in report["correctors"]:
            r = res[corrector]
            rel = (r["wer"] - b["wer"]) / b["wer"] if b["wer"] else 0.0
            rel_cer = (r["cer"] - b["cer"]) / b["cer"] if b["cer"] else 0.0
            good = sum(e["in_reference"] for e in r["edits"])
            lines.append(f"| {name} | {res['n']} | `{res['preset']}` | {corrector} | {100 * b['wer']:.2f} -> "
                         f"{100 * r['wer']:.2f} ({100 * rel:+.1f}%) | {100 * b['cer']:.2f} -> {100 * r['cer']:.2f} "
                         f"({100 * rel_cer:+.1f}%) | {r['better']} / {r['worse']} | "
                         f"{r['correct_changed']} / {res['correct_hypotheses']} | {len(r['edits'])} ({good}) |")
    lines += ["", "Edits beyond case and accents (DANCER):", ""]
    for name, res in report["sets"].items():
        if "dancer" in res:
            shown = [f"`{e['before']}` -> `{e['after']}`{'' if e['in_reference'] else ' (wrong)'}"
                     for e in res["dancer"]["edits"]]
            lines.append(f"- {name}: " + (", ".join(shown) if shown else "none"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("sets", nargs="+", type=Path, help="HyPoradise JSON files, BLN600 CSV files")
    ap.add_argument("--limit", type=int, default=1000, help="records per set")
    ap.add_argument("--correctors", default="pednec,dancer")
    ap.add_argument("--out", default="bench/results/entities_real_harm")
    args = ap.parse_args(argv)
    missing = [str(p) for p in args.sets if not p.is_file()]
    if missing:
        print(f"no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    correctors = args.correctors.split(",")
    report: dict[str, Any] = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "correctors": correctors,
                              "dancer_scorer": os.environ.get("EMENDO_DANCER_SCORER", ""),
                              "limit": args.limit, "sets": {}}
    for path in args.sets:
        name = f"bln600_{path.stem}" if path.suffix == ".csv" else path.stem
        report["sets"][name] = run_set(path, args.limit, correctors)
        print(f"{name}: done", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

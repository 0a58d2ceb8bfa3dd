"""Entity correctors on real ASR output they were not tuned on: what they change, and the WER.

Runs PED-NEC and DANCER, as ``emendo correct`` builds them (the built-in catalogs, ~95k
entities; the bundled scorer), over the 1-best hypotheses of HyPoradise sets (real recognisers:
LibriSpeech, WSJ, ATIS; no entity catalog was tuned on them) and reports, per set and
corrector: WER / CER before and after (``hyporadise`` normalisation: case and punctuation
ignored), the correct hypotheses changed (1-best already equal to the reference; a case-only
change does not count), and every edit that is not a change of case or accents, with whether the
reference holds the new words: these are where a corrector turns right words into a wrong name.

    python bench/entities_real_harm.py ../shared/data/hyporadise/{test_ls_clean,test_wsj_score,train_atis}.json \\
        --limit 1000

Writes ``bench/results/entities_real_harm.{json,md}``. The data is not part of the repository
(see ``../shared/data/hyporadise/README.md`` for its source and licence).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import unicodedata
from pathlib import Path
from typing import Any

from emendo.correctors.edits import word_edits
from emendo.correctors.registry import build_pipeline
from emendo.eval.hyporadise import convert_hyporadise
from emendo.eval.metrics import score
from emendo.eval.normalize import get_preset
from emendo.settings import Settings

PRESET = "hyporadise"


def plain(text: str) -> str:
    """Lower case without accents: what a case or accent change leaves equal."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def run_set(path: Path, limit: int | None, correctors: list[str]) -> dict[str, Any]:
    records = convert_hyporadise(json.loads(path.read_text(encoding="utf-8")), path.stem, limit=limit).records
    refs = [str(r.extra.get("reference", r.meta.get("reference", ""))) for r in records]
    hyps = [r.text for r in records]
    norm = get_preset(PRESET)
    right = [norm.normalize(h) == norm.normalize(ref) for h, ref in zip(hyps, refs, strict=True)]
    before = score(refs, hyps, PRESET)
    out: dict[str, Any] = {"n": len(records), "correct_hypotheses": sum(right),
                           "before": {"wer": before.wer, "cer": before.cer}}
    for name in correctors:
        pipeline = build_pipeline(Settings.from_env({**os.environ, "EMENDO_CORRECTORS": name}))
        outputs = [c.corrected for c in pipeline.correct(records)]
        after = score(refs, outputs, PRESET)
        edits = []
        for hyp, got, ref in zip(hyps, outputs, refs, strict=True):
            words = set(norm.normalize(plain(ref)).split())
            for e in word_edits(hyp, got):
                if plain(e.before) != plain(e.after):
                    edits.append({"before": e.before, "after": e.after,
                                  "in_reference": all(w in words for w in norm.normalize(plain(e.after)).split())})
        out[name] = {"wer": after.wer, "cer": after.cer,
                     "correct_changed": sum(ok and plain(h) != plain(g)
                                            for ok, h, g in zip(right, hyps, outputs, strict=True)),
                     "edits": edits}
    return out


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Entity correctors on real ASR output (HyPoradise 1-best, built-in catalogs)", "",
             f"Machine: {report['machine']}; normalisation `{PRESET}`; correctors as `emendo correct` builds "
             "them.", "",
             "| set | n | corrector | WER before -> after (rel.) | CER before -> after | correct hypotheses "
             "changed | edits beyond case/accents (new words in the reference) |",
             "| --- | ---: | --- | --- | --- | --- | --- |"]
    for name, res in report["sets"].items():
        b = res["before"]
        for corrector in report["correctors"]:
            r = res[corrector]
            rel = (r["wer"] - b["wer"]) / b["wer"] if b["wer"] else 0.0
            good = sum(e["in_reference"] for e in r["edits"])
            lines.append(f"| {name} | {res['n']} | {corrector} | {100 * b['wer']:.2f} -> {100 * r['wer']:.2f} "
                         f"({100 * rel:+.1f}%) | {100 * b['cer']:.2f} -> {100 * r['cer']:.2f} | "
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
    ap.add_argument("sets", nargs="+", type=Path, help="HyPoradise JSON files")
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
                              "limit": args.limit, "sets": {}}
    for path in args.sets:
        report["sets"][path.stem] = run_set(path, args.limit, correctors)
        print(f"{path.stem}: done", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

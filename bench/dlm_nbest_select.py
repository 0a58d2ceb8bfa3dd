"""Can the denoising LM pick a better hypothesis from a real n-best list? (issue 4, diagnostic)

For every HyPoradise record with 2+ distinct hypotheses, each distinct hypothesis ``h_i``
(rank ``i``, 0 = the recognizer's 1-best) gets three scores:

* ``dlm``: the DLM's teacher-forced log-probability (nats) of ``h_i`` as the correction of
  the record's input (1-best + n-best list, formatted as in training);
* ``self``: the DLM's log-probability of ``h_i`` given ``h_i`` alone (how much the model
  would leave it as it is: a denoising-LM "cleanliness" score);
* ``kenlm``: the bundled KenLM's log-probability (converted to nats).

A rule ``s_i = a*dlm + b*self + c*kenlm - d*i`` replaces the 1-best with the best-scoring
alternative when it wins by more than ``margin``. Every rule of a small grid is applied to
every set and the table lists the best rules by mean relative WER change. The rules are
chosen *on the sets they are scored on*, so the best row is an optimistic bound, not a
product figure: if even that row does not beat the 1-best, n-best selection with this model
will not either.

    .venv/bin/python bench/dlm_nbest_select.py --hyporadise ../shared/data/hyporadise

Writes ``bench/results/dlm_nbest_select.{json,md}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from emendo.correctors.dlm import DenoisingLM  # noqa: E402
from emendo.correctors.lm_scorer import KenLMScorer  # noqa: E402
from emendo.eval.hyporadise import convert_hyporadise  # noqa: E402
from emendo.eval.metrics import score  # noqa: E402
from emendo.models.inputs import format_input, normalize_space, windows  # noqa: E402

SETS = ("test_ls_clean", "test_ls_other", "test_wsj_score", "train_atis")
DEFAULT_MODEL = REPO / "src" / "emendo" / "data" / "models" / "dlm"
WEIGHTS = ((1, 0, 0), (0, 1, 0), (1, 1, 0), (0, 0, 1), (1, 0, 0.3), (0, 1, 0.3), (1, 1, 0.3), (0.5, 0.5, 0.5))
RANK_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
MARGINS = (0.0, 1.0, 2.0, 4.0)


def candidate_scores(lm: DenoisingLM, kenlm: KenLMScorer, record: Any) -> dict[str, Any]:
    """The distinct hypotheses of one record (1-best first) and their three scores."""
    cands: list[str] = []
    for x in record.nbest or (record.text,):
        x = normalize_space(x)
        if x and x not in cands:
            cands.append(x)
    one_window = len(windows(record.text, lm.inputs.window_chars, lm.inputs.window_overlap)) == 1
    if len(cands) < 2 or not one_window:
        return {"cands": cands[:1], "dlm": [0.0], "self": [0.0], "kenlm": [0.0]}
    m = lm.model
    targets = [[*lm._encode(c), m.eos_id] for c in cands]
    sources = [format_input(normalize_space(record.text), list(record.nbest), record.source, record.lang,
                            lm.inputs)] + [format_input(c, None, record.source, record.lang, lm.inputs) for c in cands]
    ids_list = [lm._encode(s)[: lm.max_source_tokens] for s in sources]
    width = max(len(x) for x in ids_list)
    ids = np.full((len(ids_list), width), m.pad_id, dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, x in enumerate(ids_list):
        ids[r, : len(x)], mask[r, : len(x)] = x, 1
    cross = m.encode(ids, mask)
    # row 0 (the record's input) scores every candidate; row 1 + i scores candidate i given itself
    rows = [0] * len(cands) + list(range(1, len(cands) + 1))
    lps = m.score(mask[rows], [c[rows] for c in cross], targets + targets)
    return {"cands": cands, "dlm": lps[: len(cands)], "self": lps[len(cands):],
            "kenlm": [kenlm.score(c) * math.log(10) for c in cands]}


def pick(item: dict[str, Any], rule: tuple[float, float, float, float, float]) -> str:
    a, b, c, d, margin = rule
    s = [a * item["dlm"][i] + b * item["self"][i] + c * item["kenlm"][i] - d * i for i in range(len(item["cands"]))]
    best = 0
    for i in range(1, len(s)):
        if s[i] - s[0] > margin and s[i] > s[best]:
            best = i
    return str(item["cands"][best])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL), help="exported DLM directory")
    ap.add_argument("--hyporadise", required=True, help="folder with the HyPoradise JSON files")
    ap.add_argument("--limit", type=int, help="records per set")
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "dlm_nbest_select"))
    args = ap.parse_args(argv)
    lm, kenlm = DenoisingLM(args.model), KenLMScorer()
    started = time.time()
    data: dict[str, list[dict[str, Any]]] = {}
    for name in SETS:
        items = json.loads((Path(args.hyporadise) / f"{name}.json").read_text(encoding="utf-8"))
        records = convert_hyporadise(items, name, limit=args.limit).records
        data[name] = [{**candidate_scores(lm, kenlm, r), "ref": r.extra["reference"]} for r in records]
        print(f"{name}: {len(records)} records scored", file=sys.stderr, flush=True)
    one_best = {n: score([x["ref"] for x in d], [x["cands"][0] for x in d], "hyporadise").wer for n, d in data.items()}
    rules: list[dict[str, Any]] = []
    for (a, b, c), d, margin in itertools.product(WEIGHTS, RANK_WEIGHTS, MARGINS):
        rule = (a, b, c, d, margin)
        rel = {n: score([x["ref"] for x in items], [pick(x, rule) for x in items], "hyporadise").wer / one_best[n] - 1
               for n, items in data.items()}
        rules.append({"rule": dict(zip(("dlm", "self", "kenlm", "rank", "margin"), rule, strict=True)),
                      "relative_wer_change": rel, "mean": float(np.mean(list(rel.values()))),
                      "sets_better": sum(v < 0 for v in rel.values())})
    rules.sort(key=lambda r: r["mean"])
    sets = {n: {"records": len(d), "one_best_wer": one_best[n]} for n, d in data.items()}
    result = {"model": lm.version, "sets": sets,
              "rules": rules, "seconds": round(time.time() - started, 1),
              "machine": f"{platform.processor() or platform.machine()}, onnxruntime 1 thread"}
    lines = ["# Denoising LM as an n-best selector (HyPoradise)", "",
             f"Model `{lm.version}`; {result['machine']}; {result['seconds']} s. Rules are ranked on the sets they "
             "are scored on (an optimistic bound). Relative WER change against the 1-best (negative is better).", "",
             "| dlm | self | kenlm | rank | margin | "
             + " | ".join(f"{n} (1-best {100 * one_best[n]:.2f})" for n in data)
             + " | mean | sets better |", "|" + " --- |" * (5 + len(data) + 2)]
    for r in rules[:12]:
        w = r["rule"]
        lines.append(f"| {w['dlm']} | {w['self']} | {w['kenlm']} | {w['rank']} | {w['margin']} | "
                     + " | ".join(f"{100 * r['relative_wer_change'][n]:+.1f}%" for n in data)
                     + f" | {100 * r['mean']:+.1f}% | {r['sets_better']} |")
    best_any = max(r["sets_better"] for r in rules)
    lines += ["", f"Rules tried: {len(rules)}; the most sets any rule improved: {best_any} of {len(data)}.", ""]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Simulated vs real error distributions, and simulator throughput.

For each real pair directory group (``emendo synth speech`` / ``handwriting`` output),
the pairs are split by a hash of their id into a fitting part (80%) and a held-out part
(20%). The simulator is fitted on the fitting part; then the CLEAN side of every held-out
pair is corrupted by the simulator and the simulated (WER, CER) distribution is compared
with the held-out real one: mean, median, p90, share of pairs with any error, and the
event mix. The target (issue 3) is a mean WER and CER within 10% relative of the real
pairs. Throughput is measured with ``emendo synth simulate`` on a clean-text file.

Writes bench/results/simulator_fit.{json,md} and simulator_fit.png (matplotlib, optional).

    python bench/simulator_fit.py --real runs/real/speech_train runs/real/hw_en_train runs/real/hw_ru_train \\
        --clean runs/real/hw_en_train.jsonl --model-out runs/sim/simulator.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from emendo.records import TrainingPair
from emendo.synth.simulate import simulate
from emendo.synth.simulator import align_words, error_rates, events_from_alignment, fit, quantile
from emendo.synth.writer import read_pairs

RESULTS = Path(__file__).resolve().parent / "results"


def profile(rows: list[tuple[str, str]]) -> dict[str, Any]:
    w = [error_rates(c, n)[0] for c, n in rows]
    c = [error_rates(cl, n)[1] for cl, n in rows]
    ev: Counter[str] = Counter()
    for clean, noisy in rows:
        ev.update(op for op, _c, _n in events_from_alignment(align_words(clean.split(), noisy.split())) if op != "ok")
    total = max(sum(ev.values()), 1)
    return {"pairs": len(rows), "wer_mean": statistics.mean(w), "wer_median": quantile(w, 0.5),
            "wer_p90": quantile(w, 0.9), "cer_mean": statistics.mean(c), "cer_median": quantile(c, 0.5),
            "cer_p90": quantile(c, 0.9), "with_errors": sum(x > 0 for x in w) / len(w),
            "event_mix": {k: ev[k] / total for k in ("sub", "ins", "del", "split", "merge")},
            "_wer": w, "_cer": c}


def held_out(pair: TrainingPair) -> bool:
    return hashlib.sha256(pair.id.encode()).digest()[0] < 52  # ~20%


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, nargs="+", required=True, help="real pair directories")
    ap.add_argument("--clean", type=Path, help="clean-text file for the throughput run (JSONL or text)")
    ap.add_argument("--throughput-lines", type=int, default=50_000)
    ap.add_argument("--draws", type=int, default=5, help="simulated versions of each held-out clean text")
    ap.add_argument("--model-out", type=Path, help="also fit on ALL real pairs and save the model here")
    ap.add_argument("--vocabulary", nargs="*", default=[], metavar="FILE:LANG",
                    help="extra real words per language for the phonetic swaps (as emendo synth fit-simulator)")
    ap.add_argument("--out", type=Path, default=RESULTS / "simulator_fit")
    args = ap.parse_args(argv)

    pairs = [p for d in args.real for p in read_pairs(d)]
    vocab: dict[str, list[str]] = {}
    for spec in args.vocabulary:
        path, _, lang = spec.rpartition(":")
        vocab.setdefault(lang, []).extend(Path(path).read_text(encoding="utf-8").split())
    fit_part = [p for p in pairs if not held_out(p)]
    test_part = [p for p in pairs if held_out(p)]
    model = fit(fit_part, vocabulary=vocab)
    rng = random.Random(0)
    groups: dict[str, dict[str, Any]] = {}
    by_group: dict[str, list[TrainingPair]] = defaultdict(list)
    for p in test_part:
        by_group[f"{p.source}-{p.lang}"].append(p)
    for g, members in sorted(by_group.items()):
        if g not in model.profiles:
            continue
        sims = [(p.clean, model.corrupt(p.clean, p.source, p.lang, rng)[0]) for _ in range(args.draws) for p in members]
        real = profile([(p.clean, p.noisy) for p in members])
        sim = profile(sims)
        groups[g] = {"fitted_on": model.profiles[g].pairs, "draws": args.draws, "real": real, "simulated": sim,
                     "rel_diff": {k: (sim[k] - real[k]) / real[k] if real[k] else None
                                  for k in ("wer_mean", "cer_mean", "wer_median", "wer_p90", "with_errors")}}

    throughput: dict[str, Any] = {}
    if args.clean:
        full = fit(pairs, vocabulary=vocab)
        with tempfile.TemporaryDirectory() as tmp:
            mpath = Path(tmp) / "m.json"
            full.save(mpath)
            for workers in (1, 2):
                t0 = time.perf_counter()
                run = simulate(mpath, args.clean, Path(tmp) / f"out{workers}", sources=["asr", "htr"],
                               workers=workers, limit=args.throughput_lines, progress=False)
                dt = time.perf_counter() - t0
                throughput[f"workers_{workers}"] = {"pairs": run["pairs"], "seconds": round(dt, 2),
                                                    "pairs_per_hour": round(run["pairs"] / dt * 3600)}
    if args.model_out:
        args.model_out.parent.mkdir(parents=True, exist_ok=True)
        fit(pairs, vocabulary=vocab).save(args.model_out)

    info = {"machine": f"{os.cpu_count()} CPUs, {platform.platform()}", "load_avg_end": list(os.getloadavg()),
            "real_dirs": [str(d) for d in args.real], "vocabulary": args.vocabulary,
            "held_out_share": "~20% of pairs by id hash",
            "groups": {g: {k: ({kk: vv for kk, vv in v.items() if not kk.startswith("_")} if isinstance(v, dict) else v)
                           for k, v in d.items()} for g, d in groups.items()},
            "throughput": throughput}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(info, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(info))
    plot(groups, args.out.with_suffix(".png"))
    print(markdown(info))
    return 0


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(info: dict[str, Any]) -> str:
    lines = ["# Error simulator vs the real pairs it was fitted on", "",
             f"Machine: {info['machine']}; load average at the end {info['load_avg_end']}.",
             "Real pairs: " + ", ".join(f"`{d}`" for d in info["real_dirs"]) + "; fitted on ~80% of them (by id hash),",
             "compared on the other ~20%: the simulator corrupts the clean side of each held-out pair "
             f"{next(iter(info['groups'].values()))['draws'] if info['groups'] else 0} times.", "",
             "| group | fitted on | held out | WER real | WER sim | diff | CER real | CER sim | diff "
             "| median WER real/sim | p90 WER real/sim | with errors real/sim |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for g, d in info["groups"].items():
        r, s, rd = d["real"], d["simulated"], d["rel_diff"]
        lines.append(f"| {g} | {d['fitted_on']} | {r['pairs']} | {_pct(r['wer_mean'])} | {_pct(s['wer_mean'])} | "
                     f"{100 * rd['wer_mean']:+.1f}% | {_pct(r['cer_mean'])} | {_pct(s['cer_mean'])} | "
                     f"{100 * rd['cer_mean']:+.1f}% | {_pct(r['wer_median'])} / {_pct(s['wer_median'])} | "
                     f"{_pct(r['wer_p90'])} / {_pct(s['wer_p90'])} | {_pct(r['with_errors'])} / "
                     f"{_pct(s['with_errors'])} |")
    lines += ["", "Event mix (share of error events; real / simulated):", "",
              "| group | sub | ins | del | split | merge |", "|---|---|---|---|---|---|"]
    for g, d in info["groups"].items():
        r, s = d["real"]["event_mix"], d["simulated"]["event_mix"]
        lines.append(f"| {g} | " + " | ".join(f"{_pct(r[k])} / {_pct(s[k])}"
                                             for k in ("sub", "ins", "del", "split", "merge")) + " |")
    if info["throughput"]:
        lines += ["", "Throughput (`emendo synth simulate`, asr + htr pair per sentence window):", "",
                  "| workers | pairs | seconds | pairs/hour |", "|---:|---:|---:|---:|"]
        for k, t in info["throughput"].items():
            lines.append(f"| {k.split('_')[1]} | {t['pairs']} | {t['seconds']} | {t['pairs_per_hour']:,} |")
    lines.append("")
    return "\n".join(lines)


def plot(groups: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(2, len(groups), figsize=(4 * len(groups), 6), squeeze=False)
    for col, (g, d) in enumerate(groups.items()):
        for row, key in enumerate(("_wer", "_cer")):
            ax = axes[row][col]
            bins = [i / 40 for i in range(0, 41)] if key == "_wer" else [i / 80 for i in range(0, 41)]
            ax.hist([min(x, bins[-1]) for x in d["real"][key]], bins=bins, alpha=0.5, label="real", density=True)
            ax.hist([min(x, bins[-1]) for x in d["simulated"][key]], bins=bins, alpha=0.5, label="simulated",
                    density=True)
            ax.set_title(f"{g}: per-pair {key[1:].upper()}")
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())

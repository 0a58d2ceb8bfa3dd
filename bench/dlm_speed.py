"""CPU speed of the denoising LM served with onnxruntime: fp32 vs int8, 1 vs 2 threads.

Usage::

    python bench/dlm_speed.py MODEL_DIR [--out bench/results] [--tag NAME] [--tokens 40] [--batch 32]

``MODEL_DIR`` is an ONNX export (``model_card.json``) or a training checkpoint
(``model/`` + ``tokenizer.json``), which is exported to a temporary directory first
(that step needs torch; serving does not).

Measured through :meth:`emendo.correctors.dlm.DenoisingLM.correct_detailed` (tokenising,
encoder, decoder loop with KV cache, teacher-forced copy scoring, gates): sentences/s at
batch ``--batch`` with every output forced to ``--tokens`` tokens (``min_new_tokens =
max_new_tokens``) from inputs of about the same number of tokens, and batch-1 latency
p50/p99. Writes ``dlm_speed[_TAG].json`` and ``.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from emendo.correctors.dlm import MODEL_CARD, PRODUCT_OPTIONS, DecodingOptions, DenoisingLM
from emendo.malloc import keep_freed_memory
from emendo.records import Hypothesis

_TEXT = ("the quick brown fox jumps over a lazy dog while speech and handwriting recognizers make "
         "mistakes that a denoising model should repair without breaking names like London or Smith "
         "и мама мыла раму пока папа читал газету")
WORDS = tuple(_TEXT.split())


def make_inputs(lm: DenoisingLM, n: int, tokens: int) -> list[Hypothesis]:
    """``n`` different hypotheses of about ``tokens`` tokens each (one window each)."""
    out = []
    for i in range(n):
        words: list[str] = []
        k = i
        while len(lm.tokenizer.encode(" ".join(words), add_special_tokens=False).ids) < tokens:
            words.append(WORDS[k % len(WORDS)])
            k = k * 7 + 3
        out.append(Hypothesis(id=f"b{i}", text=" ".join(words), source="asr", lang="en"))
    return out


def read_texts(path: Path, n: int, min_words: int = 1, max_words: int = 10_000) -> list[str]:
    """Up to ``n`` texts: lines of a text file, ``text``/``input1`` fields of JSONL, or a
    HyPoradise JSON list (its ``input`` 1-best)."""
    raw = path.read_text(encoding="utf-8")
    out: list[str] = []
    if path.suffix == ".json":
        for rec in json.loads(raw):
            inp = rec.get("input")
            out.append(inp[0] if isinstance(inp, list) else str(inp))
    else:
        for line in raw.splitlines():
            line = line.strip()
            if line.startswith("{"):
                rec = json.loads(line)
                out.append(str(rec.get("text") or rec.get("noisy") or ""))
            elif line:
                out.append(line)
    return [t for t in out if min_words <= len(t.split()) <= max_words][:n]


def bench_one(model_dir: Path, variant: str, threads: int, *, tokens: int, batch: int, rounds: int,
              latency_runs: int, draft: str = "on", texts: list[str] | None = None) -> dict[str, Any]:
    """``draft``: off, on, or nostop (drafting without stopping windows the gates must reject)."""
    on, stop = draft != "off", draft == "on"
    if texts is None:
        opts = DecodingOptions(max_new_tokens=tokens, min_new_tokens=tokens, max_length_ratio=None,
                               draft_copy=on, stop_rejected=stop)
    else:
        opts = replace(PRODUCT_OPTIONS, draft_copy=on, stop_rejected=stop)
    lm = DenoisingLM(model_dir, options=opts, variant=variant,  # type: ignore[arg-type]
                     intra_op_threads=threads, batch_size=batch, window_chars=100_000,
                     providers=["CPUExecutionProvider"])
    if texts is None:
        hyps = make_inputs(lm, batch, tokens)
    else:
        hyps = [Hypothesis(id=f"t{i}", text=t, source="asr", lang="en") for i, t in enumerate(texts)]
    src_tokens = statistics.mean(len(lm.tokenizer.encode(h.text, add_special_tokens=False).ids) for h in hyps)
    lm.correct_detailed(hyps[:4])  # warm-up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = lm.correct_detailed(hyps)
        times.append(time.perf_counter() - t0)
    assert len(res) == len(hyps)
    copied = sum(r.proposed == h.text for r, h in zip(res, hyps, strict=True))
    best, median = min(times), statistics.median(times)
    lat = []
    for i in range(latency_runs):
        h = hyps[i % len(hyps)]
        t0 = time.perf_counter()
        lm.correct_detailed([h])
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    n = len(hyps)
    return {
        "variant": variant, "threads": threads, "batch": batch, "draft_copy": on, "stop_rejected": stop and on,
        "inputs": "synthetic, forced length" if texts is None else f"{n} real texts, product options",
        "output_tokens": tokens if texts is None else None, "copied": f"{copied}/{n}",
        "mean_input_tokens": round(src_tokens, 1),
        "sent_per_s_median": round(n / median, 1), "sent_per_s_best": round(n / best, 1),
        "tokens_per_s_median": round(n * tokens / median, 0) if texts is None else None,
        "batch1_latency_ms_p50": round(lat[len(lat) // 2], 2),
        "batch1_latency_ms_p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
        "rounds": rounds, "latency_runs": latency_runs,
    }


def exported(model_dir: Path) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """``model_dir`` when it holds an export, else its export (it is then a training checkpoint)
    in a temporary directory, returned too so the caller can clean it up."""
    if (model_dir / MODEL_CARD).is_file():
        return model_dir, None
    from emendo.models.export import export_onnx  # needs torch

    tmp = tempfile.TemporaryDirectory(prefix="dlm-bench-")
    export_onnx(model_dir, tmp.name)
    return Path(tmp.name), tmp


def write_results(out: Path, stem: str, result: dict[str, Any], markdown: str) -> None:
    """``OUT/STEM.json`` and ``OUT/STEM.md``; the Markdown is printed too."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown, encoding="utf-8")
    print(markdown)


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Denoising LM CPU speed (onnxruntime)", "",
        f"Model: `{result['model']['version']}` ({result['model']['parameters']:,} parameters), "
        f"onnxruntime {result['env']['onnxruntime']}, {result['env']['cpus']} CPUs, {result['env']['platform']}.",
        f"Batch {result['rows'][0]['batch']}; synthetic inputs have every output forced to {result['tokens']} "
        "tokens (default decoding options otherwise); real texts are decoded with the product options; "
        "end-to-end `correct_detailed` (tokenise, encode, greedy decode with KV cache, copy scoring, gates).",
        f"Load average (1/5/15 min) at start {result['env']['loadavg_start']}, at end "
        f"{result['env']['loadavg_end']}. {result['note']}",
        f"Memory allocator: {result.get('malloc', 'glibc defaults')}.", "",
        "*draft*: greedy search checks the input as a draft first (`DecodingOptions.draft_copy`, lossless); "
        "*stop*: windows stop decoding once the copy-gap / confidence gates must reject them "
        "(`DecodingOptions.stop_rejected`; same corrections; the forced-length rows have no such gates); "
        "*copied*: outputs equal to their input (a stopped window counts as not copied).", "",
        "| inputs | variant | threads | draft | stop | copied | sent/s (median) | sent/s (best) | tokens/s | "
        "batch-1 p50 ms | batch-1 p99 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        tps = f"{r['tokens_per_s_median']:.0f}" if r.get("tokens_per_s_median") is not None else "-"
        lines.append(f"| {r.get('inputs', 'synthetic, forced length')} | {r['variant']} | {r['threads']} | "
                     f"{'on' if r.get('draft_copy') else 'off'} | {'on' if r.get('stop_rejected') else 'off'} | "
                     f"{r.get('copied', '-')} | {r['sent_per_s_median']} | "
                     f"{r['sent_per_s_best']} | {tps} | {r['batch1_latency_ms_p50']} | {r['batch1_latency_ms_p99']} |")
    sizes = ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in result["model"]["files"].items() if k.endswith(".onnx"))
    lines += ["", f"Files: {sizes}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--tag", default="", help="suffix of the result file names (dlm_speed_TAG.json)")
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--variants", default="fp32,int8")
    parser.add_argument("--note", default="The machine was shared with other work during the run.")
    parser.add_argument("--drafts", default="off,nostop,on",
                        help="settings to measure: off (no draft), nostop (draft, no early stop), on (both)")
    parser.add_argument("--texts", type=Path, default=None,
                        help="also measure on real texts (text lines, JSONL text, or a HyPoradise JSON file)")
    parser.add_argument("--texts-count", type=int, default=256)
    parser.add_argument("--texts-words", default="1,10000", metavar="MIN,MAX",
                        help="use only texts of MIN-MAX words (e.g. 24,36 for ~40 tokens)")
    parser.add_argument("--malloc", choices=["keep", "system"], default="keep",
                        help="keep: glibc keeps freed memory (emendo.malloc, what the emendo command does); "
                             "system: glibc defaults")
    args = parser.parse_args(argv)
    malloc_tuned = keep_freed_memory() if args.malloc == "keep" else False
    model_dir, tmp = exported(args.model_dir)
    import onnxruntime

    load_start = [round(x, 2) for x in os.getloadavg()]
    card = json.loads((model_dir / MODEL_CARD).read_text(encoding="utf-8"))
    rows = []
    lo, _, hi = args.texts_words.partition(",")
    real = read_texts(args.texts, args.texts_count, int(lo), int(hi or lo)) if args.texts else None
    for inputs in ([None, real] if real else [None]):
        for variant in args.variants.split(","):
            for threads in (int(t) for t in args.threads.split(",")):
                for draft in args.drafts.split(","):
                    if draft not in ("off", "nostop", "on"):
                        parser.error(f"--drafts: off, nostop or on, got {draft!r}")
                    row = bench_one(model_dir, variant, threads, tokens=args.tokens, batch=args.batch,
                                    rounds=args.rounds, latency_runs=args.latency_runs, draft=draft, texts=inputs)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    result = {
        "model": {"version": card.get("version"), "parameters": card["model"].get("parameters", 0),
                  "files": {k: v["bytes"] for k, v in card.get("files", {}).items()}},
        "env": {"onnxruntime": onnxruntime.__version__, "cpus": os.cpu_count(), "platform": platform.platform(),
                "python": sys.version.split()[0], "loadavg_start": load_start,
                "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "note": args.note, "rows": rows, "tokens": args.tokens,
        "texts": str(args.texts) if args.texts else None,
        "malloc": "keep freed memory (emendo.malloc)" if malloc_tuned else "glibc defaults",
    }
    write_results(args.out, f"dlm_speed_{args.tag}" if args.tag else "dlm_speed", result, to_markdown(result))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

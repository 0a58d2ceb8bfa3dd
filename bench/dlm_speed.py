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
from pathlib import Path
from typing import Any

from emendo.correctors.dlm import MODEL_CARD, DecodingOptions, DenoisingLM
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


def bench_one(model_dir: Path, variant: str, threads: int, *, tokens: int, batch: int, rounds: int,
              latency_runs: int) -> dict[str, Any]:
    opts = DecodingOptions(max_new_tokens=tokens, min_new_tokens=tokens, max_length_ratio=None)
    lm = DenoisingLM(model_dir, options=opts, variant=variant,  # type: ignore[arg-type]
                     intra_op_threads=threads, batch_size=batch, window_chars=100_000,
                     providers=["CPUExecutionProvider"])
    hyps = make_inputs(lm, batch, tokens)
    src_tokens = statistics.mean(len(lm.tokenizer.encode(h.text, add_special_tokens=False).ids) for h in hyps)
    lm.correct_detailed(hyps[:4])  # warm-up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        res = lm.correct_detailed(hyps)
        times.append(time.perf_counter() - t0)
    assert len(res) == batch
    best, median = min(times), statistics.median(times)
    lat = []
    for i in range(latency_runs):
        h = hyps[i % len(hyps)]
        t0 = time.perf_counter()
        lm.correct_detailed([h])
        lat.append((time.perf_counter() - t0) * 1000)
    lat.sort()
    return {
        "variant": variant, "threads": threads, "batch": batch, "output_tokens": tokens,
        "mean_input_tokens": round(src_tokens, 1),
        "sent_per_s_median": round(batch / median, 1), "sent_per_s_best": round(batch / best, 1),
        "tokens_per_s_median": round(batch * tokens / median, 0),
        "batch1_latency_ms_p50": round(lat[len(lat) // 2], 2),
        "batch1_latency_ms_p99": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 2),
        "rounds": rounds, "latency_runs": latency_runs,
    }


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Denoising LM CPU speed (onnxruntime)", "",
        f"Model: `{result['model']['version']}` ({result['model']['parameters']:,} parameters), "
        f"onnxruntime {result['env']['onnxruntime']}, {result['env']['cpus']} CPUs, {result['env']['platform']}.",
        f"Batch {result['rows'][0]['batch']}, every output forced to {result['rows'][0]['output_tokens']} tokens; "
        "end-to-end `correct_detailed` (tokenise, encode, greedy decode with KV cache, copy scoring, gates).",
        f"Load average (1/5/15 min) at start {result['env']['loadavg_start']}, at end "
        f"{result['env']['loadavg_end']}. {result['note']}", "",
        "| variant | threads | sent/s (median) | sent/s (best) | tokens/s | batch-1 p50 ms | batch-1 p99 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['variant']} | {r['threads']} | {r['sent_per_s_median']} | {r['sent_per_s_best']} | "
                     f"{r['tokens_per_s_median']:.0f} | {r['batch1_latency_ms_p50']} | {r['batch1_latency_ms_p99']} |")
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
    args = parser.parse_args(argv)
    model_dir: Path = args.model_dir
    tmp = None
    if not (model_dir / MODEL_CARD).is_file():
        from emendo.models.export import export_onnx  # needs torch

        tmp = tempfile.TemporaryDirectory(prefix="dlm-bench-")
        export_onnx(model_dir, tmp.name)
        model_dir = Path(tmp.name)
    import onnxruntime

    load_start = [round(x, 2) for x in os.getloadavg()]
    card = json.loads((model_dir / MODEL_CARD).read_text(encoding="utf-8"))
    rows = []
    for variant in args.variants.split(","):
        for threads in (int(t) for t in args.threads.split(",")):
            row = bench_one(model_dir, variant, threads, tokens=args.tokens, batch=args.batch, rounds=args.rounds,
                            latency_runs=args.latency_runs)
            print(json.dumps(row), flush=True)
            rows.append(row)
    result = {
        "model": {"version": card.get("version"), "parameters": card["model"].get("parameters", 0),
                  "files": {k: v["bytes"] for k, v in card.get("files", {}).items()}},
        "env": {"onnxruntime": onnxruntime.__version__, "cpus": os.cpu_count(), "platform": platform.platform(),
                "python": sys.version.split()[0], "loadavg_start": load_start,
                "loadavg_end": [round(x, 2) for x in os.getloadavg()]},
        "note": args.note, "rows": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"dlm_speed_{args.tag}" if args.tag else "dlm_speed"
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / f"{stem}.md").write_text(to_markdown(result), encoding="utf-8")
    print(to_markdown(result))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Denoising LM throughput at large batch: HF ``generate`` against the ONNX serving path.

The issue's GPU comparison, prepared so that a session with a lent GPU runs it in one call
(it runs on CPU too, for checking). Both sides decode the same inputs greedily with every
output forced to ``--tokens`` new tokens (``min_new_tokens = max_new_tokens``), so both do
the same number of decoder steps:

* ``hf-generate``: ``T5ForConditionalGeneration.generate`` of the checkpoint (fp32, and bf16
  on CUDA), torch's own KV cache;
* ``onnx``: :class:`emendo.correctors.dlm.DenoisingLM` on the exported graphs with
  ``CUDAExecutionProvider`` when onnxruntime-gpu is installed (fp32 there, int8 on CPU),
  the input checked as a draft first (the product's default) and without.

Sentences per second for each batch size; JSON + Markdown under ``--out``. Needs the ``train``
extra (torch, transformers)::

    python bench/dlm_gpu.py runs/dlm-release/checkpoint --batches 64,256,1024 --tag h100
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from dlm_speed import WORDS, exported, write_results  # bench/dlm_speed.py, next to this script

from emendo.correctors.dlm import MODEL_CARD, DecodingOptions, DenoisingLM
from emendo.models.config import load_train_config
from emendo.models.inputs import format_input
from emendo.records import Hypothesis


def texts(n: int, words: int) -> list[str]:
    """``n`` different word sequences of ``words`` words."""
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(words)) for i in range(n)]


def _timed(fn: Any, rounds: int, sync: Any) -> list[float]:
    fn()  # warm-up (CUDA kernels, allocator, ORT arena)
    sync()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return out


def bench_hf(checkpoint: Path, sents: list[str], batch: int, tokens: int, rounds: int, dtype: str) -> dict[str, Any]:
    import torch
    from tokenizers import Tokenizer
    from transformers import T5ForConditionalGeneration

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = T5ForConditionalGeneration.from_pretrained(str(checkpoint / "model")).to(device).eval()
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    tok = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    opts = load_train_config(checkpoint).inputs  # the tags and windows the model was trained with
    ids = [tok.encode(format_input(t, None, "asr", "en", opts), add_special_tokens=False).ids for t in sents[:batch]]
    width = max(len(x) for x in ids)
    pad = model.config.pad_token_id
    input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids], device=device)
    mask = (torch.arange(width, device=device)[None, :] < torch.tensor([len(x) for x in ids], device=device)[:, None])

    def run() -> None:
        with torch.inference_mode():
            model.generate(input_ids=input_ids, attention_mask=mask.long(), max_new_tokens=tokens,
                           min_new_tokens=tokens, do_sample=False, num_beams=1)

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    times = _timed(run, rounds, sync)
    return {"engine": "hf-generate", "device": device, "dtype": dtype, "batch": batch,
            "sent_per_s": round(batch / statistics.median(times), 1)}


def bench_onnx(model_dir: Path, sents: list[str], batch: int, tokens: int, rounds: int,
               draft: bool) -> dict[str, Any]:
    opts = DecodingOptions(max_new_tokens=tokens, min_new_tokens=tokens, max_length_ratio=None, draft_copy=draft,
                           use_nbest=False)
    lm = DenoisingLM(model_dir, options=opts, variant="auto", batch_size=batch, window_chars=100_000)
    hyps = [Hypothesis(id=f"g{i}", text=t, source="asr", lang="en") for i, t in enumerate(sents[:batch])]
    times = _timed(lambda: lm.correct_detailed(hyps), rounds, lambda: None)
    return {"engine": "onnx" + (" (draft)" if draft else ""), "device": lm.model.providers[0],
            "dtype": lm.model.variant, "batch": batch, "sent_per_s": round(batch / statistics.median(times), 1)}


def to_markdown(result: dict[str, Any]) -> str:
    lines = ["# Denoising LM throughput: HF generate vs the ONNX serving path", "",
             f"Checkpoint `{result['checkpoint']}`; {result['tokens']} new tokens forced per sentence "
             f"(inputs of {result['words']} words); median of {result['rounds']} rounds after a warm-up. "
             f"ONNX Runtime with 1 intra-op thread on CPU; torch with its default threads "
             f"({result['env']['torch_threads']}).",
             f"Machine: {result['env']['platform']}, {result['env']['cpus']} CPUs, GPU: {result['env']['gpu']}.", "",
             "| engine | device | dtype | batch | sentences/s |", "|---|---|---|---:|---:|"]
    lines += [f"| {r['engine']} | {r['device']} | {r['dtype']} | {r['batch']} | {r['sent_per_s']} |"
              for r in result["rows"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", type=Path, help="a training checkpoint (model/ + tokenizer.json)")
    ap.add_argument("--onnx", type=Path, help="its export (default: exported into a temporary directory)")
    ap.add_argument("--batches", default="64,256,1024")
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--words", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engines", default="hf,onnx", help="hf, onnx or both")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch

    engines = set(args.engines.split(","))
    onnx_dir, tmp = None, None
    if "onnx" in engines:  # the given export, else the checkpoint's, made here
        given = args.onnx is not None and (args.onnx / MODEL_CARD).is_file()
        onnx_dir, tmp = exported(args.onnx if given else args.checkpoint)
    batches = [int(b) for b in args.batches.split(",")]
    sents = texts(max(batches), args.words)
    rows = []
    for batch in batches:
        if "hf" in engines:
            for dtype in ["fp32", "bf16"] if torch.cuda.is_available() else ["fp32"]:
                rows.append(bench_hf(args.checkpoint, sents, batch, args.tokens, args.rounds, dtype))
                print(json.dumps(rows[-1]), flush=True)
        if "onnx" in engines and onnx_dir is not None:
            for draft in (False, True):
                rows.append(bench_onnx(onnx_dir, sents, batch, args.tokens, args.rounds, draft))
                print(json.dumps(rows[-1]), flush=True)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    result = {"checkpoint": str(args.checkpoint), "tokens": args.tokens, "words": args.words, "rounds": args.rounds,
              "rows": rows, "env": {"platform": platform.platform(), "cpus": os.cpu_count(), "gpu": gpu,
                                    "torch": torch.__version__,
                                    "torch_threads": torch.get_num_threads()}}
    write_results(args.out, f"dlm_gpu_{args.tag}" if args.tag else "dlm_gpu", result, to_markdown(result))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

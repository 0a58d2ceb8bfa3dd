#!/usr/bin/env python3
"""Training steps per second of the denoising LM (release config) on the machine's device.

A lent GPU gives a session minutes, so the release model's quality depends on how many
examples a minute of training sees. This times one optimiser step (forward, backward, clip,
AdamW; bf16 autocast on CUDA as ``emendo.models.train`` runs it) on random ids of fixed
lengths, in variants:

* ``eager``: as the trainer runs today (AdamW with torch's default implementation);
* ``fused``: ``AdamW(fused=True)``;
* ``collate``: ``fused`` plus building each batch on the CPU from encoded examples
  (:func:`emendo.models.data.collate`) and copying it over, as the trainer's loop does;
* ``compile``: ``fused`` with ``torch.compile(model)`` (compile time reported apart);

at each ``--batches`` size. JSON + Markdown under ``--out``::

    python bench/dlm_train_speed.py --batches 256,512,1024 --tag h100
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from array import array
from pathlib import Path
from typing import Any

from dlm_speed import write_results  # bench/dlm_speed.py, next to this script

from emendo.models.config import load_train_config
from emendo.models.data import Example, collate

CONFIG = Path(__file__).resolve().parents[1] / "configs/dlm-release.json"


def run(variant: str, batch: int, args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = load_train_config(args.config)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(**cfg.model.t5_kwargs())).to(device).train()
    fused = variant != "eager" and device.type == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused) if fused else \
        torch.optim.AdamW(model.parameters(), lr=1e-4)
    amp = torch.bfloat16 if device.type == "cuda" else None
    g = torch.Generator().manual_seed(1)
    vocab = cfg.model.vocab_size
    examples = [Example(array("H", torch.randint(8, vocab, (args.src,), generator=g).tolist()),
                        array("H", torch.randint(8, vocab, (args.tgt,), generator=g).tolist())) for _ in range(batch)]
    fixed = {k: v.to(device) for k, v in collate(examples).items()}
    step_model = model
    compile_s = None
    if variant == "compile":
        step_model = torch.compile(model)
        compile_s = 0.0  # the warm-up steps below, which compile

    def step() -> Any:
        batch_t = {k: v.to(device, non_blocking=True) for k, v in collate(examples).items()} \
            if variant == "collate" else fixed
        with torch.autocast(device_type=device.type, dtype=amp, enabled=amp is not None):
            loss = step_model(**batch_t).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync()
    if compile_s is not None:
        compile_s = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync()
    dt = time.perf_counter() - t0
    return {"variant": variant, "batch": batch, "steps_per_s": round(args.steps / dt, 2),
            "examples_per_s": round(args.steps * batch / dt), "loss": round(float(loss), 3),
            "device": device.type, **({"compile_s": compile_s} if compile_s is not None else {})}


def to_markdown(result: dict[str, Any]) -> str:
    env = result["env"]
    lines = ["# Denoising LM training speed (release config, random ids)", "",
             f"{result['src']} source and {result['tgt']} target tokens per example; {result['steps']} timed steps "
             f"after {result['warmup']} warm-up steps; bf16 autocast on CUDA. torch {env['torch']}; "
             f"{env['platform']}, {env['cpus']} CPUs, GPU: {env['gpu']}.", "",
             "| variant | batch | steps/s | examples/s | compile s |", "|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        head = f"| {r['variant']} | {r['batch']} |"
        lines.append(f"{head} error: {r['error']} | | |" if "error" in r else
                     f"{head} {r['steps_per_s']} | {r['examples_per_s']} | {r.get('compile_s', '')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--batches", default="256,512,1024")
    ap.add_argument("--variants", default="eager,fused,collate,compile")
    ap.add_argument("--src", type=int, default=40)
    ap.add_argument("--tgt", type=int, default=36)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    import torch

    rows = []
    for variant in args.variants.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            try:
                rows.append(run(variant, batch, args))
            except Exception as exc:  # a variant that fails (e.g. compile) is reported, the others still run
                rows.append({"variant": variant, "batch": batch, "error": f"{type(exc).__name__}: {exc}"[:200]})
            print(rows[-1], flush=True)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    result = {"src": args.src, "tgt": args.tgt, "steps": args.steps, "warmup": args.warmup, "rows": rows,
              "env": {"platform": platform.platform(), "cpus": os.cpu_count(), "gpu": gpu, "torch": torch.__version__}}
    write_results(args.out, "dlm_train_speed" + (f"_{args.tag}" if args.tag else ""), result, to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

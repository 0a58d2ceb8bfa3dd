#!/usr/bin/env python3
"""Denoising LM throughput at large batch: HF ``generate`` against the static-cache decoder.

The issue's GPU comparison, prepared so that a session with a lent GPU runs it in one call
(it runs on CPU too, for checking). Every engine decodes the same inputs greedily with
every output forced to ``--tokens`` new tokens, so all do the same number of decoder steps:

* ``hf-generate``: ``T5ForConditionalGeneration.generate`` (``min_new_tokens =
  max_new_tokens``), torch's own growing KV cache; fp32 and, on CUDA, bf16;
* ``static``: :class:`emendo.models.fastdecode.StaticGreedy` on the same weights: a KV
  cache allocated once, the step's position bias read from a precomputed table, and on
  CUDA the decoder step captured once as a CUDA graph and replayed;
* ``onnx`` (``--engines``, CPU check): the serving path, :class:`emendo.correctors.dlm.DenoisingLM`.

Before timing, parity: the static decoder's greedy tokens (natural stop at ``</s>``) against
HF ``generate``'s on the same inputs, fp32 (expected identical) and bf16 (agreement). The
model is a checkpoint, or with ``--random CONFIG`` a randomly initialised model of that
TrainConfig (throughput at forced length does not depend on the weights). JSON + Markdown
under ``--out``. Needs the ``train`` extra::

    python bench/dlm_gpu.py --random configs/dlm-release.json --batches 64,256,1024 --tag h100
    python bench/dlm_gpu.py runs/dlm-release/checkpoint --texts runs/data/release/dev.jsonl --parity-only
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
from emendo.models.inputs import InputOptions, format_input
from emendo.records import Hypothesis

BUNDLED_TOKENIZER = Path(__file__).resolve().parents[1] / "src/emendo/data/models/dlm/tokenizer.json"


def texts(n: int, words: int) -> list[str]:
    """``n`` different word sequences of ``words`` words."""
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(words)) for i in range(n)]


def file_texts(path: Path, n: int) -> list[str]:
    """The noisy side of up to ``n`` training-pair lines (``noisy``) or plain ``text`` lines."""
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            out.append(rec.get("noisy") or rec.get("text") or "")
            if len(out) >= n:
                break
    return out


def _timed(fn: Any, rounds: int, sync: Any) -> list[float]:
    fn()  # warm-up (CUDA kernels, allocator, graph capture, ORT arena)
    sync()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t0)
    return out


class Setup:
    """The model (fp32, on the device), its tokenizer and input options."""

    def __init__(self, checkpoint: Path | None, random_config: Path | None) -> None:
        import torch
        from tokenizers import Tokenizer
        from transformers import T5Config, T5ForConditionalGeneration

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        if checkpoint is not None:
            self.model = T5ForConditionalGeneration.from_pretrained(str(checkpoint / "model"))
            self.tok = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
            self.inputs = load_train_config(checkpoint).inputs  # the tags and windows it was trained with
            self.name = str(checkpoint)
        else:
            assert random_config is not None
            cfg = load_train_config(random_config)
            torch.manual_seed(0)
            self.model = T5ForConditionalGeneration(T5Config(**cfg.model.t5_kwargs()))
            self.tok = Tokenizer.from_file(str(BUNDLED_TOKENIZER))
            self.inputs = cfg.inputs
            self.name = f"random init of {random_config}"
        self.model = self.model.to(self.device).float().eval()
        self.params = sum(p.numel() for p in self.model.parameters())

    def batch(self, sents: list[str]) -> tuple[Any, Any]:
        torch = self.torch
        opts: InputOptions = self.inputs
        ids = [self.tok.encode(format_input(t, None, "asr", "en", opts), add_special_tokens=False).ids for t in sents]
        width = max(len(x) for x in ids)
        input_ids = torch.tensor([x + [0] * (width - len(x)) for x in ids], device=self.device)
        mask = (torch.arange(width, device=self.device)[None, :]
                < torch.tensor([len(x) for x in ids], device=self.device)[:, None]).long()
        return input_ids, mask

    def sync(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.synchronize()


def hf_model(s: Setup, dtype: str) -> Any:
    import copy

    return copy.deepcopy(s.model).to(s.torch.bfloat16) if dtype == "bf16" else s.model


def hf_generate(model: Any, ids: Any, mask: Any, tokens: int, forced: bool) -> Any:
    import torch

    with torch.inference_mode():
        return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens,
                              min_new_tokens=tokens if forced else 0, do_sample=False, num_beams=1)[:, 1:]


def _trim(row: list[int], eos: int = 1) -> list[int]:
    return row[: row.index(eos) + 1] if eos in row else row


def decoder(s: Setup, **kw: Any) -> tuple[Any, str | None]:
    """A :class:`StaticGreedy`; if its CUDA graph capture fails, the error and one without the graph."""
    from emendo.models.fastdecode import StaticGreedy

    try:
        return StaticGreedy(s.model, **kw), None
    except Exception as exc:  # reported in the results; the step is then timed without the graph
        error = f"{type(exc).__name__}: {exc}"[:300]
        print(f"static decoder with graphs failed: {error}", file=sys.stderr, flush=True)
        return StaticGreedy(s.model, graphs=False, **kw), error


def parity(s: Setup, sents: list[str], tokens: int, dtype: str) -> dict[str, Any]:
    """Rows whose greedy tokens (up to ``</s>``) are the same for the static decoder and HF generate."""
    torch = s.torch
    ids, mask = s.batch(sents)
    model = hf_model(s, dtype)
    ref = [_trim(r) for r in hf_generate(model, ids, mask, tokens, False).tolist()]
    dec, error = decoder(s, batch=len(sents), src_len=ids.shape[1], max_new=tokens,
                         dtype=torch.bfloat16 if dtype == "bf16" else torch.float32)
    got = [_trim(r) for r in dec.generate(ids, mask).tolist()]
    same = sum(a == b for a, b in zip(ref, got, strict=True))
    return {"dtype": dtype, "rows": len(sents), "identical": same, "graphs": dec.graph is not None,
            "mean_tokens": round(statistics.mean(len(r) for r in ref), 1), **({"graph_error": error} if error else {})}


def bench_hf(s: Setup, sents: list[str], batch: int, tokens: int, rounds: int, dtype: str) -> dict[str, Any]:
    ids, mask = s.batch(sents[:batch])
    model = hf_model(s, dtype)
    times = _timed(lambda: hf_generate(model, ids, mask, tokens, True), rounds, s.sync)
    return {"engine": "hf-generate", "device": s.device, "dtype": dtype, "batch": batch,
            "sent_per_s": round(batch / statistics.median(times), 1)}


def bench_static(s: Setup, sents: list[str], batch: int, tokens: int, rounds: int, dtype: str) -> dict[str, Any]:
    ids, mask = s.batch(sents[:batch])
    t0 = time.perf_counter()
    kw = {"batch": batch, "src_len": ids.shape[1], "max_new": tokens,
          "dtype": s.torch.bfloat16 if dtype == "bf16" else s.torch.float32}
    dec, error = decoder(s, **kw)
    setup_s = time.perf_counter() - t0
    times = _timed(lambda: dec.generate(ids, mask, forced=True), rounds, s.sync)
    return {"engine": "static" + (" + CUDA graph" if dec.graph is not None else ""), "device": s.device,
            "dtype": dtype, "batch": batch, "sent_per_s": round(batch / statistics.median(times), 1),
            "setup_s": round(setup_s, 2), **({"graph_error": error} if error else {})}


def bench_onnx(model_dir: Path, sents: list[str], batch: int, tokens: int, rounds: int,
               draft: bool) -> dict[str, Any]:
    opts = DecodingOptions(max_new_tokens=tokens, min_new_tokens=tokens, max_length_ratio=None, draft_copy=draft,
                           use_nbest=False)
    lm = DenoisingLM(model_dir, options=opts, variant="auto", batch_size=batch, window_chars=100_000)
    hyps = [Hypothesis(id=f"g{i}", text=t, source="asr", lang="en") for i, t in enumerate(sents[:batch])]
    times = _timed(lambda: lm.correct_detailed(hyps), rounds, lambda: None)
    return {"engine": "onnx" + (" (draft)" if draft else ""), "device": lm.model.providers[0],
            "dtype": lm.model.variant, "batch": batch, "sent_per_s": round(batch / statistics.median(times), 1)}


def speedups(rows: list[dict[str, Any]]) -> None:
    """``x_hf``: sentences/s over HF generate's at the same batch and dtype."""
    hf = {(r["batch"], r["dtype"]): r["sent_per_s"] for r in rows if r["engine"] == "hf-generate"}
    for r in rows:
        base = hf.get((r["batch"], r["dtype"])) or hf.get((r["batch"], "fp32"))
        if base:
            r["x_hf"] = round(r["sent_per_s"] / base, 1)


def to_markdown(result: dict[str, Any]) -> str:
    env = result["env"]
    lines = ["# Denoising LM throughput: HF generate vs the static-cache decoder", "",
             f"Model: {result['model']} ({result['params']:,} parameters); {result['tokens']} new tokens forced per "
             f"sentence (inputs of {result['words']} words); median of {result['rounds']} rounds after a warm-up. "
             f"torch {env['torch']}, transformers {env['transformers']}.",
             f"Machine: {env['platform']}, {env['cpus']} CPUs, GPU: {env['gpu']}.", ""]
    if result["parity"]:
        lines += ["Parity (greedy, natural stop at `</s>`, static decoder vs HF generate):", "",
                  "| dtype | rows | identical | CUDA graph | mean tokens |", "|---|---:|---:|---|---:|"]
        lines += [f"| {p['dtype']} | {p['rows']} | {p['identical']} | {p['graphs']} | {p['mean_tokens']} |"
                  for p in result["parity"]]
        lines.append("")
    if result["rows"]:
        lines += ["| engine | device | dtype | batch | sentences/s | x HF generate |", "|---|---|---|---:|---:|---:|"]
        lines += [f"| {r['engine']} | {r['device']} | {r['dtype']} | {r['batch']} | {r['sent_per_s']} | "
                  f"{r.get('x_hf', '')} |" for r in result["rows"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", type=Path, nargs="?", help="a training checkpoint (model/ + tokenizer.json)")
    ap.add_argument("--random", type=Path, help="a TrainConfig JSON: time a randomly initialised model of it")
    ap.add_argument("--onnx", type=Path, help="the checkpoint's export, for --engines onnx")
    ap.add_argument("--batches", default="64,256,1024")
    ap.add_argument("--tokens", type=int, default=40)
    ap.add_argument("--words", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--engines", default="hf,static", help="comma list of hf, static, onnx")
    ap.add_argument("--texts", type=Path, help="parity inputs: JSONL with 'noisy' or 'text' (default: word lists)")
    ap.add_argument("--parity-rows", type=int, default=256)
    ap.add_argument("--parity-only", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    if (args.checkpoint is None) == (args.random is None):
        ap.error("give a checkpoint or --random CONFIG")
    s = Setup(args.checkpoint, args.random)
    torch = s.torch
    dtypes = ["fp32", "bf16"] if s.device == "cuda" else ["fp32"]
    engines = set(args.engines.split(","))
    batches = [int(b) for b in args.batches.split(",")]
    sents = texts(max(batches), args.words)
    psents = file_texts(args.texts, args.parity_rows) if args.texts else texts(args.parity_rows, args.words // 2)
    checks = []
    for dtype in dtypes:
        checks.append(parity(s, psents, 64, dtype))
        print(json.dumps(checks[-1]), flush=True)
    rows: list[dict[str, Any]] = []
    onnx_dir, tmp = None, None
    if "onnx" in engines and not args.parity_only and args.checkpoint is not None:
        given = args.onnx is not None and (args.onnx / MODEL_CARD).is_file()
        onnx_dir, tmp = exported(args.onnx if given else args.checkpoint)
    for batch in [] if args.parity_only else batches:
        for dtype in dtypes:
            if "hf" in engines:
                rows.append(bench_hf(s, sents, batch, args.tokens, args.rounds, dtype))
                print(json.dumps(rows[-1]), flush=True)
            if "static" in engines:
                rows.append(bench_static(s, sents, batch, args.tokens, args.rounds, dtype))
                print(json.dumps(rows[-1]), flush=True)
        if onnx_dir is not None:
            for draft in (False, True):
                rows.append(bench_onnx(onnx_dir, sents, batch, args.tokens, args.rounds, draft))
                print(json.dumps(rows[-1]), flush=True)
    speedups(rows)
    import transformers

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    result = {"model": s.name, "params": s.params, "tokens": args.tokens, "words": args.words,
              "rounds": args.rounds, "parity": checks, "rows": rows,
              "env": {"platform": platform.platform(), "cpus": os.cpu_count(), "gpu": gpu, "torch": torch.__version__,
                      "transformers": transformers.__version__, "torch_threads": torch.get_num_threads()}}
    stem = "dlm_gpu" + ("_parity" if args.parity_only else "") + (f"_{args.tag}" if args.tag else "")
    write_results(args.out, stem, result, to_markdown(result))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

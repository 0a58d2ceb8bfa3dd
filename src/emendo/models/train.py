"""Train the denoising LM (a T5-style encoder-decoder, from scratch) on TrainingPair shards.

Needs the ``train`` extra (torch, transformers, tokenizers). One flat function,
:func:`train`, does everything: tokenizer, data, model, AdamW with linear warm-up and
decay, bf16/fp16 autocast on CUDA, gradient clipping, periodic evaluation (greedy
decoding of dev pairs: WER/CER before and after, HARM = share of already-correct
inputs the model changes), checkpoints, resume, a JSONL log.

Run directory (``TrainConfig.run_dir`` or ``--out``)::

    tokenizer.json                 trained once per run (or copied from TrainConfig.tokenizer)
    log.jsonl                      one JSON object per line: start / train / eval / end events
    checkpoints/step-0001000/      the last ``keep_checkpoints`` checkpoints
    best/                          the checkpoint with the lowest dev WER (no trainer_state.pt)

Checkpoint directory (the contract :mod:`emendo.models.export` reads)::

    model/                 T5ForConditionalGeneration.save_pretrained (config.json, model.safetensors,
                           generation_config.json); fp32 weights
    tokenizer.json         the run's tokenizer (see emendo.models.tokenizer for the special ids)
    train_config.json      TrainConfig.to_dict() (with "model" and "inputs") plus "format":
                           "emendo-dlm-checkpoint", "format_version": 1, "version": "<name>-s<seed>-step<N>",
                           "step": N
    metrics.json           the dev metrics of this step (see evaluate())
    trainer_state.pt       optimizer, scheduler, grad scaler, step, RNG states: only for resuming

A run resumes from its newest checkpoint when started again with the same run dir
(the model and input options must match; ``steps`` may be raised).

CLI::

    python -m emendo.models.train --config configs/dlm-tiny.json --out runs/tiny [--max-steps N] [--device cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emendo.errors import ConfigError, EmendoError, MissingExtraError
from emendo.eval.metrics import compare
from emendo.models.config import CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, TrainConfig, load_train_config
from emendo.models.data import BucketBatches, PairDataset, collate, iter_pairs, read_pairs
from emendo.models.inputs import normalize_space
from emendo.models.tokenizer import load_tokenizer, train_tokenizer

__all__ = ["evaluate", "latest_checkpoint", "main", "train"]

CHECKPOINTS = "checkpoints"
TRAINER_STATE = "trainer_state.pt"
FIT_AFTER = 100  # steps (start-up and warm-up of the device) before time_limit fits the run's end


def _require_torch() -> Any:
    try:
        import torch
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise MissingExtraError(exc.name or "torch", "train") from exc
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    return torch


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run (one with ``trainer_state.pt``), or None."""
    found = sorted(p for p in (Path(run_dir) / CHECKPOINTS).glob("step-*")
                   if p.is_dir() and not p.name.endswith(".tmp") and (p / TRAINER_STATE).is_file())
    return found[-1] if found else None


def _pick_device(torch: Any, device: str | None) -> Any:
    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def _amp_dtype(torch: Any, amp: str, device: Any) -> Any:
    if amp == "none" or (device.type != "cuda" and amp != "bf16"):
        return None
    if amp in ("auto", "bf16") and (device.type != "cuda" or torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


def _log(path: Path, record: dict[str, Any]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _lr_lambda(cfg: TrainConfig) -> Any:
    def factor(step: int) -> float:  # step = optimizer steps done so far
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        span = max(1, cfg.steps - cfg.warmup_steps)
        return max(cfg.min_lr_ratio, 1.0 - (1.0 - cfg.min_lr_ratio) * (step - cfg.warmup_steps) / span)
    return factor


def _prepare_tokenizer(cfg: TrainConfig, run_dir: Path) -> Path:
    """``run_dir/tokenizer.json``: kept if present, else copied from ``cfg.tokenizer`` or trained."""
    path = run_dir / "tokenizer.json"
    if path.is_file():
        return path
    if cfg.tokenizer:
        load_tokenizer(cfg.tokenizer)
        shutil.copyfile(cfg.tokenizer, path)
        return path
    texts: list[str] = []
    for pair in iter_pairs(cfg.train_files):
        texts += [pair.clean, pair.noisy]
        if len(texts) >= 2 * cfg.tokenizer_sample:
            break
    train_tokenizer(texts, cfg.model.vocab_size, path)
    return path


def evaluate(model: Any, tokenizer: Any, dev: PairDataset, cfg: TrainConfig, device: Any,
             amp_dtype: Any = None) -> dict[str, Any]:
    """Dev loss (teacher forced) and greedy-decoding scores against the clean texts.

    ``wer``/``cer`` after correction and ``wer_before``/``cer_before`` of the noisy input
    (preset ``default``: whitespace only; case and punctuation count); ``harm``: share of
    inputs already equal to the reference that the model changed; per ``source-lang``
    group the same under ``groups``.
    """
    import torch

    model.eval()
    order = sorted(range(len(dev)), key=lambda i: len(dev[i].input_ids))
    outputs: dict[int, str] = {}
    loss_sum, tokens = 0.0, 0
    with torch.no_grad(), torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        for lo in range(0, len(order), cfg.eval_batch_size):
            idx = order[lo:lo + cfg.eval_batch_size]
            batch = {k: v.to(device) for k, v in collate([dev[i] for i in idx]).items()}
            n_tok = int((batch["labels"] != -100).sum())
            loss_sum += float(model(**batch).loss) * n_tok
            tokens += n_tok
            gen = model.generate(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                                 max_new_tokens=cfg.model.max_output_tokens, do_sample=False, num_beams=1)
            for i, text in zip(idx, tokenizer.decode_batch(gen.tolist(), skip_special_tokens=True), strict=True):
                outputs[i] = normalize_space(text)
    model.train()
    pairs = dev.pairs
    refs = [normalize_space(p.clean) for p in pairs]
    before = [normalize_space(p.noisy) for p in pairs]
    after = [outputs[i] for i in range(len(pairs))]
    metrics: dict[str, Any] = {"dev_loss": loss_sum / max(1, tokens), **_scores(refs, before, after)}
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(f"{p.source}-{p.lang}", []).append(i)
    metrics["groups"] = {g: _scores([refs[i] for i in ix], [before[i] for i in ix], [after[i] for i in ix])
                         for g, ix in sorted(groups.items())}
    metrics["examples"] = [{"noisy": before[i], "output": after[i], "clean": refs[i]}
                           for i in range(min(5, len(pairs)))]
    return metrics


def _scores(refs: Sequence[str], before: Sequence[str], after: Sequence[str]) -> dict[str, Any]:
    c = compare(refs, before, after)
    return {"n": c.n, "wer_before": c.before.wer, "wer": c.after.wer, "cer_before": c.before.cer,
            "cer": c.after.cer, "harm": c.harm, "correct_before": c.correct_before, "harmed": c.harmed,
            "fixed": c.fixed, "exact": c.after.exact}


def _save_checkpoint(run_dir: Path, step: int, model: Any, cfg: TrainConfig, metrics: dict[str, Any],
                     state: dict[str, Any]) -> Path:
    """Write ``checkpoints/step-N`` atomically (via ``step-N.tmp``) and prune old checkpoints."""
    import torch

    ckpt = run_dir / CHECKPOINTS / f"step-{step:07d}"
    tmp = ckpt.with_name(ckpt.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(str(tmp / "model"), safe_serialization=True)
    shutil.copyfile(run_dir / "tokenizer.json", tmp / "tokenizer.json")
    meta = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
            "version": f"{cfg.name}-s{cfg.seed}-step{step}", "step": step, **cfg.to_dict()}
    (tmp / "train_config.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "metrics.json").write_text(json.dumps({"step": step, **metrics}, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    torch.save(state, tmp / TRAINER_STATE)
    shutil.rmtree(ckpt, ignore_errors=True)
    tmp.rename(ckpt)
    done = sorted(p for p in (run_dir / CHECKPOINTS).glob("step-*") if not p.name.endswith(".tmp"))
    for old in done[:-cfg.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)
    return ckpt


def _update_best(run_dir: Path, ckpt: Path) -> None:
    best, tmp = run_dir / "best", run_dir / "best.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(ckpt, tmp, ignore=shutil.ignore_patterns(TRAINER_STATE))
    shutil.rmtree(best, ignore_errors=True)
    tmp.rename(best)


def _fitted_end(step: int, cap: int, left_s: float, steps_per_s: float, eval_s: float, eval_every: int) -> int:
    """The last step that ``left_s`` seconds reach at ``steps_per_s``, paying ``eval_s`` per evaluation to come."""
    left_s = max(0.0, left_s)  # out of time: one more step, then the end
    n = int(left_s * steps_per_s)
    evals = n // max(1, eval_every) + 1  # the periodic ones and the final one
    n = int(max(0.0, left_s - evals * eval_s) * steps_per_s)
    return max(step + 1, min(cap, step + n))


def train(cfg: TrainConfig, *, device: str | None = None, stop_at: int | None = None,
          progress: bool = True, threads: int | None = None, time_limit: float | None = None) -> Path:
    """Train (or resume) the run in ``cfg.run_dir``; return the last checkpoint's directory.

    ``stop_at`` ends the run early at that step (the LR schedule still spans ``cfg.steps``),
    e.g. to fit a time-limited GPU session; start it again to continue. ``threads`` sets
    torch's CPU thread count (on a busy 2-core machine 1 can be faster than 2).

    ``time_limit`` (seconds from this call, data loading included) fits the run into a time
    slot, e.g. a lent GPU's: from ``FIT_AFTER`` steps on, at each log window and after each
    evaluation, the last step is set to what the window's step rate and the evaluations' time reach (never past
    ``cfg.steps``), and the LR schedule's decay is stretched or shrunk to end there, so the
    run ends on a finished schedule with a final checkpoint instead of being cut off.
    """
    t_call = time.perf_counter()
    torch = _require_torch()
    if threads:
        torch.set_num_threads(threads)
    from tqdm.auto import tqdm
    from transformers import T5Config, T5ForConditionalGeneration

    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "log.jsonl"
    dev_type = _pick_device(torch, device)
    amp_dtype = _amp_dtype(torch, cfg.amp, dev_type)
    resume = latest_checkpoint(run_dir)
    if resume is not None:
        stored = load_train_config(resume)
        if stored.model != cfg.model or stored.inputs != cfg.inputs:
            raise ConfigError(f"{run_dir} holds a run with another model or input options; use a new run dir")
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if dev_type.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    init = None
    if resume is None and cfg.init_from:
        init = Path(cfg.init_from)
        stored = load_train_config(init)
        if stored.model != cfg.model:
            raise ConfigError(f"init_from {init} has other model options than this run")
        if cfg.tokenizer and Path(cfg.tokenizer).read_bytes() != (init / "tokenizer.json").read_bytes():
            raise ConfigError(f"init_from {init}: its tokenizer.json differs from the run's tokenizer")
        cfg = dataclasses.replace(cfg, tokenizer=str(init / "tokenizer.json"))

    # ---- data
    tokenizer = load_tokenizer(_prepare_tokenizer(cfg, run_dir))
    if tokenizer.get_vocab_size() > cfg.model.vocab_size:
        raise ConfigError(f"tokenizer has {tokenizer.get_vocab_size()} tokens > model.vocab_size "
                          f"{cfg.model.vocab_size}")
    m = cfg.model
    train_ds = PairDataset.from_files(cfg.train_files, tokenizer, cfg.inputs, m.max_input_tokens, m.max_output_tokens,
                                      workers=os.cpu_count() or 1)
    dev_ds = None
    if cfg.dev_file and cfg.eval_samples:
        dev_ds = PairDataset(read_pairs([cfg.dev_file], limit=cfg.eval_samples), tokenizer, cfg.inputs,
                             m.max_input_tokens, m.max_output_tokens, keep_pairs=True)
    batches = BucketBatches(train_ds.lengths(), cfg.batch_size, cfg.seed, cfg.bucket_size)

    # ---- model, optimiser, schedule
    source = resume or init
    if source is not None:
        model = T5ForConditionalGeneration.from_pretrained(str(source / "model"))  # saved in fp32
        model.to(torch.float32)
    else:
        model = T5ForConditionalGeneration(T5Config(**m.t5_kwargs()))
    model.to(dev_type).train()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98), eps=1e-8)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _lr_lambda(cfg))
    scaler = torch.amp.GradScaler(dev_type.type, enabled=amp_dtype == torch.float16)
    step, best_wer = 0, math.inf
    if resume is not None:
        state = torch.load(resume / TRAINER_STATE, map_location="cpu", weights_only=True)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, best_wer = int(state["step"]), float(state["best_wer"])
        random.setstate(state["rng"]["python"])
        torch.set_rng_state(state["rng"]["torch"])
        if dev_type.type == "cuda" and state["rng"].get("cuda") is not None:
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    start, end = step, min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
    _log(log_path, {"event": "start", "step": step, "resumed_from": str(resume) if resume else None,
                    "initialised_from": str(init) if init else None,
                    "params": model.num_parameters(), "train_examples": len(train_ds),
                    "train_skipped": train_ds.skipped, "dev_examples": len(dev_ds) if dev_ds else 0,
                    "batches_per_epoch": len(batches), "tokenizer_vocab": tokenizer.get_vocab_size(),
                    "device": str(dev_type), "amp": str(amp_dtype) if amp_dtype else "none", "time": time.time()})

    # ---- loop
    ckpt = resume
    metrics: dict[str, Any] = {}
    loss_sum = torch.zeros((), device=dev_type)
    n_loss, n_tokens, t_window = 0, 0, time.perf_counter()
    bar = tqdm(total=end, initial=step, disable=not progress, dynamic_ncols=True, desc=cfg.name)
    eval_s, evals, rate = 0.0, 0, 0.0  # for time_limit: time spent in evaluations; the last window's steps/s

    def fit(now: float) -> None:
        """Move the last step (and the schedule's end) to what the time left reaches at the recent rate."""
        nonlocal end, cfg
        if time_limit is None or rate <= 0:
            return
        fitted = _fitted_end(step, cfg.steps if stop_at is None else min(cfg.steps, stop_at),
                             time_limit - (now - t_call), rate, eval_s / evals if evals else 0.0, cfg.eval_every)
        if abs(fitted - end) > max(10, end // 100):  # small drifts of the rate leave the schedule alone
            end = fitted
            cfg = dataclasses.replace(cfg, steps=max(end, cfg.warmup_steps + 1))  # stored with the checkpoints
            sched.lr_lambdas = [_lr_lambda(cfg) for _ in sched.lr_lambdas]
            bar.total = end
            _log(log_path, {"event": "fit", "step": step, "end": end, "steps_per_s": rate,
                            "eval_s": eval_s / evals if evals else None, "time": time.time()})

    while step < end:
        cpu_batch = collate([train_ds[i] for i in batches.batch_for_step(step)])
        n_tokens += int(cpu_batch["attention_mask"].sum()) + int((cpu_batch["labels"] != -100).sum())
        batch = {k: v.to(dev_type, non_blocking=True) for k, v in cpu_batch.items()}
        with torch.autocast(device_type=dev_type.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            loss = model(**batch).loss
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        sched.step()
        step += 1
        loss_sum += loss.detach().float()
        n_loss += 1
        bar.update(1)
        if step % cfg.log_every == 0 or step in (start + 1, end):
            dt = time.perf_counter() - t_window
            rec = {"event": "train", "step": step, "loss": float(loss_sum) / n_loss, "lr": sched.get_last_lr()[0],
                   "steps_per_s": n_loss / dt, "tokens_per_s": n_tokens / dt, "time": time.time()}
            _log(log_path, rec)
            if step - start >= FIT_AFTER and n_loss >= cfg.log_every // 2:  # (float() above waited for the GPU)
                rate = rec["steps_per_s"]
                fit(time.perf_counter())
            bar.set_postfix(loss=f"{rec['loss']:.3f}")
            loss_sum.zero_()
            n_loss, n_tokens, t_window = 0, 0, time.perf_counter()
        if step % cfg.eval_every == 0 or step == end:
            t_eval = time.perf_counter()
            metrics = evaluate(model, tokenizer, dev_ds, cfg, dev_type, amp_dtype) if dev_ds else {}
            _log(log_path, {"event": "eval", "step": step, **metrics})
            improved = "wer" in metrics and metrics["wer"] < best_wer
            best_wer = min(best_wer, metrics.get("wer", math.inf))
            state = {"step": step, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                     "scaler": scaler.state_dict(), "best_wer": best_wer,
                     "rng": {"python": random.getstate(), "torch": torch.get_rng_state(),
                             "cuda": torch.cuda.get_rng_state_all() if dev_type.type == "cuda" else None}}
            ckpt = _save_checkpoint(run_dir, step, model, cfg, metrics, state)
            if improved:
                _update_best(run_dir, ckpt)
            t_window = time.perf_counter()
            eval_s, evals = eval_s + t_window - t_eval, evals + 1
            if step < end:
                fit(t_window)
    bar.close()
    if ckpt is None:
        raise ConfigError(f"nothing to do: the run in {run_dir} has no checkpoint and steps is {end}")
    _log(log_path, {"event": "end", "step": step, "checkpoint": str(ckpt), "time": time.time()})
    return ckpt


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emendo.models.train", description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, required=True, help="TrainConfig JSON (configs/dlm-*.json)")
    ap.add_argument("--out", type=Path, help="run directory (default: the config's run_dir); resumes if it has "
                                             "checkpoints")
    ap.add_argument("--max-steps", type=int, help="override the config's steps (the LR schedule's length)")
    ap.add_argument("--time-limit", type=float, help="seconds: end the schedule (and the run) within this time")
    ap.add_argument("--stop-at", type=int, help="stop at this step without changing the schedule (resume later)")
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    ap.add_argument("--train", nargs="+", metavar="GLOB", help="override train_files")
    ap.add_argument("--dev", help="override dev_file")
    ap.add_argument("--tokenizer", help="use this tokenizer.json instead of training one")
    ap.add_argument("--init-from", help="start from this checkpoint's weights and tokenizer (fresh optimiser)")
    ap.add_argument("--batch-size", type=int, help="override batch_size")
    ap.add_argument("--eval-every", type=int, help="override eval_every")
    ap.add_argument("--seed", type=int, help="override seed")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        cfg = load_train_config(args.config)
        overrides: dict[str, Any] = {
            "run_dir": str(args.out) if args.out else None, "steps": args.max_steps,
            "train_files": tuple(args.train) if args.train else None, "dev_file": args.dev,
            "tokenizer": args.tokenizer, "batch_size": args.batch_size, "eval_every": args.eval_every,
            "seed": args.seed, "init_from": args.init_from,
        }
        cfg = dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
        ckpt = train(cfg, device=args.device, stop_at=args.stop_at, progress=not args.no_progress,
                     threads=args.threads, time_limit=args.time_limit)
    except EmendoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    metrics = json.loads((ckpt / "metrics.json").read_text(encoding="utf-8"))
    metrics.pop("examples", None)
    print(json.dumps({"checkpoint": str(ckpt), "metrics": metrics}, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

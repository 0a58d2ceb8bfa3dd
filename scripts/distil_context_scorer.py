"""Distil the served context scorer into a smaller cross-encoder that reproduces its logits (a CPU job).

The served cross-encoder (4 layers, ``emendo/data/models/context``) costs ~2.3 ms a read on one CPU
thread; a 2-layer one ~1 ms. Trained on the labels alone, a 2-layer model is clearly weaker (session
27: 16.3% NE-CER reduction at 100k against the served 18.9%) and needs its own combination and
thresholds. This script instead trains a student to give the *served model's logit* for each pair
(mean squared error), so that it can be served with the served combination and thresholds
unchanged (``reranker-context.json`` with ``meta.context.model`` pointing at the student's folder).

Pairs: ``scripts/dump_dancer_pairs.py`` output (all real pairs and ``--others`` of the rest); the
teacher's logits come from the served int8 ONNX model, as serving computes them. A share of the
utterances (``--check``) is kept out of training to report how closely the student follows the
teacher (correlation, mean absolute difference, and how often both rank the same candidate first).
The student starts from ``--init`` (``scripts/train_context_scorer.py`` weights of the same depth,
e.g. a device run's ``ctx-L2-r5``) or else from the sentence encoder's first ``--layers`` layers.
Writes ``weights.safetensors`` and ``report.json`` to ``--out`` for ``scripts/export_context_scorer.py``.
Session 27 ran it here (19 min on 2 cores, 45k pairs, 2 epochs: 17.7% at 100k, not enough); on a GPU
(``--device cuda``, ``DISTIL=1`` in ``scripts/device_context_session.sh``) every pair for more epochs
takes minutes. In the training venv (session 27's run, with its defaults)::

    .venv-train/bin/python scripts/distil_context_scorer.py runs/ctx/pairs-ctxcand.jsonl.gz \\
        --init runs/s27/dev/ctx-L2-r5/weights.safetensors --out runs/ctx/distil-l2
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_context_scorer import build, descend, encode, optimiser, pair_texts, read_pairs, tokenizer_for

from emendo.correctors.entities.context import ContextScorer, default_model_dir


def follow(student: np.ndarray, teacher: np.ndarray, rows: list[dict[str, Any]]) -> dict[str, float]:
    """How closely ``student`` logits follow ``teacher`` ones: correlation, mean absolute difference,
    and the share of spans (with two candidates or more) whose best candidate is the same."""
    spans: dict[tuple[int, int, int], list[int]] = {}
    for i, r in enumerate(rows):
        spans.setdefault((r["u"], r["s"], r["e"]), []).append(i)
    many = [ix for ix in spans.values() if len(ix) > 1]
    same = sum(int(np.argmax(student[ix]) == np.argmax(teacher[ix])) for ix in many)
    return {"pairs": len(rows), "correlation": round(float(np.corrcoef(student, teacher)[0, 1]), 5),
            "mean_abs_diff": round(float(np.mean(np.abs(student - teacher))), 4),
            "spans": len(many), "same_best": round(same / max(1, len(many)), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", help="scripts/dump_dancer_pairs.py output (.jsonl.gz)")
    ap.add_argument("--out", required=True, help="folder for weights.safetensors and report.json")
    ap.add_argument("--teacher", default=None, help="context scorer folder (default: the bundled one)")
    ap.add_argument("--init", default=None, help="student weights to start from (train_context_scorer.py's)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--others", type=int, default=30000, help="synthetic and entity-free pairs drawn")
    ap.add_argument("--check", type=float, default=0.05, help="share of utterances kept out to check with")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device for the student (cuda on a device machine)")
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args(argv)
    import torch
    from safetensors.torch import load_file, save_file

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    rows = read_pairs(args.pairs)
    others = [r for r in rows if r["k"] != "real"]
    data = [r for r in rows if r["k"] == "real"] + rng.sample(others, min(args.others, len(others)))
    utterances = sorted({(r["k"], r["u"]) for r in data})
    checked = set(rng.sample(utterances, int(len(utterances) * args.check)))
    check = [r for r in data if (r["k"], r["u"]) in checked]
    train = [r for r in data if (r["k"], r["u"]) not in checked]
    t0 = time.time()
    teacher_dir = Path(args.teacher) if args.teacher else default_model_dir()
    teacher = ContextScorer(teacher_dir, max_length=args.max_length, intra_op_threads=args.threads)
    target = {id(r): v for r, v in zip(data, teacher.pair_logits(pair_texts(data)), strict=True)}
    print(f"teacher logits for {len(data)} pairs: {time.time() - t0:.0f}s", flush=True)

    model = build(args.device, args.layers)
    if args.init:
        state = {k: v.float() for k, v in load_file(args.init).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [m for m in missing if "word_embeddings" not in m and "position_ids" not in m]
        if missing or unexpected:
            raise SystemExit(f"--init does not fit {args.layers} layers: missing {missing}, unexpected {unexpected}")
    tok = tokenizer_for(args.max_length)

    def predict(part: list[dict[str, Any]]) -> np.ndarray:
        model.eval()
        out = np.zeros(len(part), dtype=np.float32)
        with torch.no_grad():
            for b in range(0, len(part), 256):
                ids, mask, types = (torch.from_numpy(x).to(args.device) for x in encode(tok, part[b:b + 256]))
                out[b:b + 256] = model(ids, mask, types).float().cpu().numpy()
        return out

    teacher_check = np.asarray([target[id(r)] for r in check], dtype=np.float32)
    report: dict[str, Any] = {"args": vars(args), "teacher": teacher.fingerprint, "train_pairs": len(train),
                              "before": follow(predict(check), teacher_check, check)}
    print("before:", report["before"], flush=True)
    params = [p for p in model.parameters() if p.requires_grad]
    steps = args.epochs * math.ceil(len(train) / args.batch)
    opt, sched = optimiser(model, args.lr, steps)
    step = 0
    for _epoch in range(args.epochs):
        model.train()
        order = list(range(len(train)))
        rng.shuffle(order)
        for b in range(0, len(order), args.batch):
            chunk = [train[i] for i in order[b:b + args.batch]]
            ids, mask, types = (torch.from_numpy(x).to(args.device) for x in encode(tok, chunk))
            y = torch.tensor([target[id(r)] for r in chunk], device=args.device)
            with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device == "cuda"):
                logits = model(ids, mask, types).float()
            loss = torch.nn.functional.mse_loss(logits, y)
            descend(opt, sched, params, loss)
            step += 1
            if step % 100 == 0:
                print(f"step {step}/{steps} mse {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
    report["after"] = follow(predict(check), teacher_check, check)
    report["seconds"] = round(time.time() - t0, 1)
    print("after:", report["after"], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").half().contiguous() for k, v in model.state_dict().items()
             if "word_embeddings" not in k and "position_ids" not in k}
    save_file(state, str(out / "weights.safetensors"))
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fine-tune the served context scorer with the real TTS->ASR pairs weighted more (session 24; a CPU job).

The shipped cross-encoder (``emendo/data/models/context``) was trained on ~97k synthetic pairs and ~6k
real ones (the evaluation set's dev split) at equal weight, and gives 40% of its own real positives a
negative logit. This script rebuilds that model in torch from its int8 ONNX (the weights dequantised,
checked against the ONNX scorer), then trains it further on every real pair of the pairs file and a
sample of the others, the real ones' loss weighted ``--real-weight``, and writes the weights as
``scripts/train_context_scorer.py`` does, for ``scripts/export_context_scorer.py``. In the training venv
(~9 min on 2 cores with the defaults)::

    .venv-train/bin/python scripts/finetune_context_scorer.py runs/ctx/pairs.jsonl.gz \\
        --out runs/ctx/ft/weights.safetensors

Session 25 ran it on the pairs with more real data (``scripts/context_train_data.sh``), from session 23's
model, with and without ``--hold-out`` (one build's pairs left out for ``scripts/context_heldout.py``); see
the context model card.
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
from context_heldout import part_hyps
from train_context_scorer import build, dequantised_state, encode, pair_texts, pair_weight, read_pairs, tokenizer_for

from emendo.correctors.entities.context import MODEL_FILE, ContextScorer, default_model_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", help="scripts/dump_dancer_pairs.py output (.jsonl.gz)")
    ap.add_argument("--out", required=True, help="weights.safetensors to write")
    ap.add_argument("--model", default=None, help="context scorer folder to start from (default: the bundled one)")
    ap.add_argument("--real-weight", type=float, default=5.0)
    ap.add_argument("--others", type=int, default=6000, help="synthetic and entity-free pairs drawn to train with")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--hold-out", nargs=2, metavar=("REAL_JSONL", "PREFIX"),
                    help="leave out the real pairs of that file's records whose id starts with PREFIX (for "
                         "scripts/context_heldout.py), e.g. runs/entities/real_train.jsonl x2-")
    args = ap.parse_args(argv)
    import torch
    from safetensors.torch import save_file

    folder = Path(args.model) if args.model else default_model_dir()
    model = build("cpu")
    # the served int8 export, dequantised (its initialisers are the export wrapper's ``inner.*``)
    state = {k: torch.from_numpy(v) for k, v in dequantised_state(folder / MODEL_FILE, "inner").items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "word_embeddings" not in m and "position_ids" not in m]
    if missing or unexpected:
        raise SystemExit(f"state mismatch: missing {missing}, unexpected {unexpected}")
    rows = read_pairs(args.pairs)
    rng = random.Random(args.seed)
    held: set[str] = set()
    if args.hold_out:
        held = part_hyps([json.loads(line) for line in Path(args.hold_out[0]).read_text().splitlines()
                          if line.strip()], args.hold_out[1])
    real = [r for r in rows if r["k"] == "real" and r["t"] not in held]
    data = real + rng.sample([r for r in rows if r["k"] != "real"], args.others)
    tok = tokenizer_for(args.max_length)
    # the rebuilt model against the ONNX scorer it came from
    model.eval()
    check = real[:300]
    with torch.no_grad():
        rebuilt = model(*(torch.from_numpy(x) for x in encode(tok, check))).numpy()
    served = ContextScorer(folder).pair_logits(pair_texts(check))
    report: dict[str, Any] = {"start": str(folder), "parity_mean_abs": round(float(np.abs(rebuilt - served).mean()), 4),
                              "real_pairs": len(real), "other_pairs": args.others, "args": vars(args)}
    print(json.dumps(report), flush=True)
    torch.manual_seed(args.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    order: list[int] = []
    for _ in range(args.epochs):
        epoch = list(range(len(data)))
        rng.shuffle(epoch)
        order += epoch
    steps = math.ceil(len(order) / args.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, (steps - s) / steps))
    model.train()
    t0 = time.time()
    for step, at in enumerate(range(0, len(order), args.batch)):
        chunk = [data[i] for i in order[at:at + args.batch]]
        ids, mask, types = (torch.from_numpy(x) for x in encode(tok, chunk))
        y = torch.tensor([float(r["y"]) for r in chunk])
        weight = torch.tensor([pair_weight(r, args.real_weight) for r in chunk])
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(ids, mask, types), y, weight=weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().half().contiguous() for k, v in model.state_dict().items()
               if "word_embeddings" not in k and "position_ids" not in k}, str(out))
    report["seconds"] = round(time.time() - t0, 1)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "args"}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

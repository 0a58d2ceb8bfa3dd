"""Train DANCER's context scorer: a cross-encoder over (utterance with the span marked, candidate).

The feature scorer (logistic regression over :data:`~emendo.correctors.entities.dancer.FEATURES`)
sees a candidate only through numbers: sound distances, a cosine between the whole utterance and the
entity text, word overlaps. This model reads both texts together::

    [CLS] my cousin lives in [ angola ] city in india [SEP] Ankola | Ankola: city in India [SEP]

and gives one logit: is this the entity the speaker named? It starts from the bundled sentence
encoder (4 MiniLM layers, ``emendo/data/models/minilm/model.int8.onnx``; its int8 weights are
dequantised into a torch ``BertModel``, so no other download is needed), adds mean pooling and a
linear head, and is fine-tuned with binary cross-entropy on the pairs
``scripts/dump_dancer_pairs.py`` writes. The word embeddings stay frozen (the export rebuilds them
from the same ONNX file).

Cross-fitting: with ``--folds 2`` two models are trained, each on one fold (``f`` of the pairs), and
each scores the other fold; those out-of-fold logits (``oof.npy``, row order of the pairs file) train
the combination with the feature scorer without the cross-encoder having seen the pair. The final
model is trained on every pair. Written to ``--out``: ``weights.safetensors`` (fp16, every parameter
but the word embeddings), ``oof.npy``, ``report.json``. ``scripts/export_context_scorer.py`` turns
the weights into int8 ONNX. Meant for a GPU (a few minutes on an H100/H200); ``--device cpu
--limit 2000`` checks it here.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from emendo.correctors.entities.context import candidate_text, encode_pairs, marked

ONNX = "src/emendo/data/models/minilm/model.int8.onnx"
TOKENIZER = "src/emendo/data/models/minilm/tokenizer.json"
LAYERS = 4


def dequantised_state(path: str | Path, prefix: str = "model") -> dict[str, np.ndarray]:
    """A state dict (numpy, fp32) from a dynamically quantised int8 ONNX export whose initialisers are
    named ``<prefix>.<parameter>``: float initialisers as they are, quantised embeddings and matrix
    products dequantised (per channel). ``model``: the bundled sentence encoder (``BertModel`` keys);
    ``inner``: an exported context scorer (the cross-encoder's keys, ``bert.*`` and ``head.*``)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in graph.initializer}

    def dequantised(base: str) -> np.ndarray:
        q = init[base + "_quantized"].astype(np.float32)  # a matrix product's: [in, out], per output channel
        return np.asarray((q - init[base + "_zero_point"].astype(np.float32)) * init[base + "_scale"])

    state: dict[str, np.ndarray] = {}
    for name, value in init.items():
        if not name.startswith(prefix + "."):
            continue
        key = name[len(prefix) + 1:]
        if not name.endswith(("_quantized", "_scale", "_zero_point")):
            state[key] = value.astype(np.float32)
        elif name.endswith("_quantized") and ".embeddings." in name:
            state[key.removesuffix("_quantized")] = dequantised(name.removesuffix("_quantized"))
    for node in graph.node:
        if node.op_type != "MatMulInteger":
            continue
        # /model/encoder/layer.0/attention/self/query/MatMul_quant -> encoder.layer.0.attention.self.query
        # (a context scorer's: /bert/encoder/... -> bert.encoder..., /head/Gemm_MatMul_quant -> head)
        module = node.name.strip("/").split("/")[:-1]
        if module[0] == prefix:
            module = module[1:]
        state[".".join(module) + ".weight"] = dequantised(node.input[1].removesuffix("_quantized")).T.copy()
    return state


def build(device: str, layers: int = LAYERS) -> Any:
    """The cross-encoder (BertModel from the dequantised encoder + mean pooling + linear head); ``layers``:
    the encoder's first ``layers`` layers (fewer: a cheaper model, ~1/4 of the cost per layer dropped)."""
    import torch
    from transformers import BertConfig, BertModel

    if not 1 <= layers <= LAYERS:
        raise SystemExit(f"--layers must be 1-{LAYERS}")
    config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=layers, num_attention_heads=12,
                        intermediate_size=1536, max_position_embeddings=512, type_vocab_size=2,
                        attn_implementation="eager")

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel(config, add_pooling_layer=False)
            self.head = torch.nn.Linear(384, 1)

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any, inputs_embeds: Any = None) -> Any:
            """Logits of token ids, or of word embeddings (``inputs_embeds``: the exported graph's input)."""
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                               inputs_embeds=inputs_embeds).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    model = CrossEncoder()
    state = {k: torch.from_numpy(v) for k, v in dequantised_state(ONNX).items() if layer_of(k) < layers}
    missing, unexpected = model.bert.load_state_dict(state, strict=False)
    missing = [m for m in missing if "position_ids" not in m]
    if missing or unexpected:
        raise SystemExit(f"state mismatch: missing {missing}, unexpected {unexpected}")
    model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    return model.to(device)


def layer_of(name: str) -> int:
    """The encoder layer a parameter belongs to (``encoder.layer.2.attention...`` -> 2), -1 for others."""
    found = re.search(r"encoder\.layer\.(\d+)\.", name)
    return int(found.group(1)) if found else -1


def read_pairs(path: str | Path) -> list[dict[str, Any]]:
    """The (span, candidate) pairs of ``scripts/dump_dancer_pairs.py`` (gzip JSON lines), in file order."""
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def pair_texts(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Each pair's two segments as the served scorer reads them: the hypothesis with the span marked,
    and the candidate's surface form with its entity text."""
    return [(marked(r["t"], r["s"], r["e"]), candidate_text(r["n"], r["c"])) for r in rows]


def encode(tokenizer: Any, rows: list[dict[str, Any]]) -> tuple[np.ndarray, ...]:
    """input_ids, attention_mask, token_type_ids (int64, padded to the longest) of ``rows``' pairs."""
    return encode_pairs(tokenizer, pair_texts(rows))


def tokenizer_for(max_length: int) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(TOKENIZER)
    tok.no_padding()
    tok.enable_truncation(max_length, strategy="longest_first")
    return tok


def train(rows: list[dict[str, Any]], args: argparse.Namespace, seed: int) -> Any:
    import torch

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = build(args.device, args.layers)
    tok = tokenizer_for(args.max_length)
    params = [p for p in model.parameters() if p.requires_grad]
    steps = args.epochs * math.ceil(len(rows) / args.batch)
    opt, sched = optimiser(model, args.lr, steps)
    pos_weight = torch.tensor(args.pos_weight, device=args.device)
    model.train()
    step, t0 = 0, time.time()
    for _epoch in range(args.epochs):
        order = list(range(len(rows)))
        rng.shuffle(order)
        for b in range(0, len(order), args.batch):
            chunk = [rows[i] for i in order[b:b + args.batch]]
            ids, mask, types = (torch.from_numpy(x).to(args.device) for x in encode(tok, chunk))
            y = torch.tensor([float(r["y"]) for r in chunk], device=args.device)
            weight = torch.tensor([pair_weight(r, args.real_weight) for r in chunk], device=args.device)
            with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device == "cuda"):
                logits = model(ids, mask, types).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=weight,
                                                                        pos_weight=pos_weight)
            descend(opt, sched, params, loss)
            step += 1
            if step % 200 == 0:
                print(f"step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    model.eval()
    return model


def optimiser(model: Any, lr: float, steps: int) -> tuple[Any, Any]:
    """AdamW with the head at 10x ``lr`` (it starts from scratch), and a schedule that warms up over the
    first 5% of ``steps`` and then falls linearly to 0."""
    import torch

    head = [p for n, p in model.named_parameters() if n.startswith("head")]
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head")]
    opt = torch.optim.AdamW([{"params": body, "lr": lr}, {"params": head, "lr": lr * 10}], weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (steps - s) / max(1, steps - warm)))
    return opt, sched


def descend(opt: Any, sched: Any, params: list[Any], loss: Any) -> None:
    """One optimiser step on ``loss``, its gradients clipped to norm 1."""
    import torch

    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()


def pair_weight(row: dict[str, Any], real_weight: float) -> float:
    """A pair's loss weight: ``real_weight`` for the real TTS->ASR pairs, 1 for the others."""
    return real_weight if row["k"] == "real" else 1.0


def predict(model: Any, rows: list[dict[str, Any]], args: argparse.Namespace) -> np.ndarray:
    import torch

    tok = tokenizer_for(args.max_length)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]["t"]) + len(rows[i]["c"]))
    out = np.zeros(len(rows), dtype=np.float32)
    with torch.no_grad():
        for b in range(0, len(order), 1024):
            idx = order[b:b + 1024]
            ids, mask, types = (torch.from_numpy(x).to(args.device)
                                for x in encode(tok, [rows[i] for i in idx]))
            with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.device == "cuda"):
                out[idx] = model(ids, mask, types).float().cpu().numpy()
    return out


def top1(rows: list[dict[str, Any]], score: np.ndarray) -> dict[str, float]:
    """Per span (utterance, start, end) with a positive: share whose best-scored candidate is it."""
    best: dict[tuple[int, int, int], tuple[float, int]] = {}
    has: set[tuple[int, int, int]] = set()
    for r, s in zip(rows, score, strict=True):
        key = (r["u"], r["s"], r["e"])
        if r["y"]:
            has.add(key)
        if key not in best or s > best[key][0]:
            best[key] = (float(s), r["y"])
    hit = sum(1 for k in has if best[k][1])
    return {"spans_with_gold": len(has), "top1": round(hit / max(1, len(has)), 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs", help="scripts/dump_dancer_pairs.py output (.jsonl.gz)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--pos-weight", type=float, default=1.0)
    ap.add_argument("--real-weight", type=float, default=1.0,
                    help="loss weight of the real TTS->ASR pairs (kind 'real'; ~6k of ~104k pairs) against the "
                         "synthetic and entity-free ones (session 24: the 4-layer model trained at 1 gives 40%% "
                         "of its own real positives a negative logit)")
    ap.add_argument("--max-length", type=int, default=96)
    ap.add_argument("--layers", type=int, default=LAYERS,
                    help="keep the encoder's first N layers (default: all 4; fewer: cheaper to serve)")
    ap.add_argument("--folds", type=int, default=2, help="cross-fitted models for out-of-fold logits (0: none)")
    ap.add_argument("--limit", type=int, default=0, help="first N pairs only (a quick check)")
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    from safetensors.torch import save_file

    rows = read_pairs(args.pairs)
    if args.limit:
        rows = rows[:args.limit]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"pairs": len(rows), "positives": sum(r["y"] for r in rows), "args": vars(args)}
    p = np.asarray([r["p"] for r in rows])
    report["feature_scorer"] = top1(rows, p)
    t0 = time.time()
    if args.folds:
        oof = np.zeros(len(rows), dtype=np.float32)
        for k in range(args.folds):
            inside = [i for i, r in enumerate(rows) if r["f"] % args.folds != k]
            outside = [i for i, r in enumerate(rows) if r["f"] % args.folds == k]
            model = train([rows[i] for i in inside], args, args.seed + k)
            oof[outside] = predict(model, [rows[i] for i in outside], args)
            print(f"fold {k}: {time.time() - t0:.0f}s", flush=True)
        np.save(out / "oof.npy", oof)
        report["cross_encoder_oof"] = top1(rows, oof)
        for kind in ("syn", "real", "clean"):
            sel = [i for i, r in enumerate(rows) if r["k"] == kind]
            report[f"oof_{kind}"] = top1([rows[i] for i in sel], oof[sel])
            report[f"feature_{kind}"] = top1([rows[i] for i in sel], p[sel])
    model = train(rows, args, args.seed + 100)
    state = {k: v.detach().to("cpu").half().contiguous() for k, v in model.state_dict().items()
             if "word_embeddings" not in k and "position_ids" not in k}
    save_file(state, str(out / "weights.safetensors"))
    report["seconds"] = round(time.time() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "args"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

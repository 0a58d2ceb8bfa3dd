"""Export the context scorer (``scripts/train_context_scorer.py`` weights) to int8 ONNX and check parity.

The graph starts at ``inputs_embeds``: serving looks the word embeddings up in the bundled sentence
encoder's table (:class:`~emendo.correctors.entities.context.ContextScorer`), the same frozen table the
model was trained with. Weights int8 per channel (ONNX Runtime dynamic quantisation). Parity: the
served int8 model's logits against PyTorch's (fp32) on ``--pairs`` rows; the script exits non-zero
when the correlation falls below ``--min-correlation``, or when on more than ``--max-flips`` of the spans
with a plausible candidate int8 puts first one that PyTorch scored more than 0.25 below its best. Run in
the training venv::

    .venv-train/bin/python scripts/export_context_scorer.py runs/ctx/a/weights.safetensors \\
        --pairs runs/ctx/pairs.jsonl.gz -o src/emendo/data/models/context
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_context_scorer import build, encode, layer_of, pair_texts, read_pairs, tokenizer_for

from emendo.correctors.entities.context import MODEL_FILE, ContextScorer


def load(weights: str) -> Any:
    import torch
    from safetensors.torch import load_file

    state = {k: v.float() for k, v in load_file(weights).items()}
    model = build("cpu", 1 + max(layer_of(k) for k in state))  # as many layers as were trained
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if "word_embeddings" not in m and "position_ids" not in m]
    if missing or unexpected:
        raise SystemExit(f"state mismatch: missing {missing}, unexpected {unexpected}")
    model.eval()
    torch.set_grad_enabled(False)
    return model


def export(model: Any, out: Path, opset: int) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class FromEmbeddings(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, inputs_embeds: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(None, attention_mask, token_type_ids, inputs_embeds=inputs_embeds)

    tok = tokenizer_for(96)
    rows = [{"t": "a short one", "s": 2, "e": 7, "n": "Shorter", "c": "Shorter: a place"},
            {"t": "we flew to port coburn last week", "s": 11, "e": 22, "n": "Port Colborne",
             "c": "Port Colborne: city in Canada, population 18,424"}]
    ids, mask, types = (torch.from_numpy(x) for x in encode(tok, rows))
    embeds = model.bert.embeddings.word_embeddings(ids)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "context.onnx"
        torch.onnx.export(FromEmbeddings(model).eval(), (embeds, mask, types), str(fp32),
                          input_names=["inputs_embeds", "attention_mask", "token_type_ids"],
                          output_names=["logits"], opset_version=opset, dynamo=False,
                          dynamic_axes={**{n: {0: "batch", 1: "seq"} for n in ("inputs_embeds", "attention_mask",
                                                                                 "token_type_ids")},
                                        "logits": {0: "batch"}})
        quantize_dynamic(str(fp32), str(out / MODEL_FILE), per_channel=True, weight_type=QuantType.QInt8)


def parity(model: Any, out: Path, pairs: str, count: int, seed: int) -> dict[str, Any]:
    import torch

    rows = read_pairs(pairs)
    by_utt: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_utt.setdefault(r["u"], []).append(r)
    utts = sorted(by_utt)
    random.Random(seed).shuffle(utts)
    picked: list[dict[str, Any]] = []
    for u in utts:
        if len(picked) >= count:
            break
        picked += by_utt[u]
    tok = tokenizer_for(96)
    ref = np.concatenate([model(*(torch.from_numpy(x) for x in encode(tok, picked[b:b + 64]))).numpy()
                          for b in range(0, len(picked), 64)])
    scorer = ContextScorer(out)
    got = np.concatenate([scorer.pair_logits(pair_texts(picked[b:b + 8])) for b in range(0, len(picked), 8)])
    spans: dict[tuple[int, int, int], list[int]] = {}
    for i, r in enumerate(picked):
        spans.setdefault((r["u"], r["s"], r["e"]), []).append(i)
    # spans where a candidate is plausible (a logit above -1 in PyTorch): elsewhere all candidates are
    # far below any threshold. A flip: int8 puts first a candidate PyTorch scored more than 0.25 lower
    # than its best (near-ties, which int8 noise reorders, decide nothing)
    live = [idx for idx in spans.values() if len(idx) > 1 and ref[idx].max() > -1.0]
    flips = sum(1 for idx in live if ref[idx].max() - ref[idx][int(np.argmax(got[idx]))] > 0.25)
    return {"pairs": len(picked), "spans": len(spans), "correlation": round(float(np.corrcoef(ref, got)[0, 1]), 5),
            "max_abs_diff": round(float(np.abs(ref - got).max()), 4),
            "mean_abs_diff": round(float(np.abs(ref - got).mean()), 4),
            "spans_with_a_plausible_candidate": len(live), "best_candidate_changed": flips,
            "int8_bytes": (out / MODEL_FILE).stat().st_size}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", help="weights.safetensors from scripts/train_context_scorer.py")
    ap.add_argument("-o", "--out", default="src/emendo/data/models/context")
    ap.add_argument("--pairs", required=True, help="pairs file (scripts/dump_dancer_pairs.py) for the parity check")
    ap.add_argument("--count", type=int, default=1000, help="pairs checked (whole utterances)")
    ap.add_argument("--min-correlation", type=float, default=0.99)
    ap.add_argument("--max-flips", type=float, default=0.01,
                    help="share of the spans with a plausible candidate whose best candidate may change")
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args(argv)
    model = load(args.weights)
    out = Path(args.out)
    export(model, out, args.opset)
    report = parity(model, out, args.pairs, args.count, args.seed)
    (out / "parity.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    flips_allowed = args.max_flips * report["spans_with_a_plausible_candidate"]
    if report["correlation"] < args.min_correlation or report["best_candidate_changed"] > flips_allowed:
        print("PARITY FAILED", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

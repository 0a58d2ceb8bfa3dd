#!/usr/bin/env python3
"""Copy the int8 graphs of an exported denoising LM into the package as the bundled default model.

    python scripts/bundle_dlm.py runs/dlm-release/onnx src/emendo/data/models/dlm \\
        --data-manifest runs/dlm-release/data_manifest.json --train-log runs/dlm-release/log.jsonl

Only what CPU serving needs is copied (``encoder.int8.onnx``, ``decoder.int8.onnx``,
``tokenizer.json``, ``train_config.json``, ``metrics.json``); ``model_card.json`` is
rewritten to list just those files (with their sha256) and to record the training data
manifest and the dev-set evaluations of the training log. The human-readable model card
(``README.md`` next to it) is written by hand from ``bench/results/dlm_eval_*.md``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from emendo.models.export import sha256_file  # torch-free at import

FILES = ("encoder.int8.onnx", "decoder.int8.onnx", "tokenizer.json", "train_config.json", "metrics.json")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("export_dir", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--data-manifest", type=Path, help="manifest.json of scripts/make_dlm_data.py")
    ap.add_argument("--train-log", type=Path, help="log.jsonl of the training run")
    args = ap.parse_args(argv)

    card = json.loads((args.export_dir / "model_card.json").read_text(encoding="utf-8"))
    args.out.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in FILES:
        src = args.export_dir / name
        if not src.is_file():
            print(f"bundle_dlm: {src} missing", file=sys.stderr)
            return 1
        shutil.copyfile(src, args.out / name)
        files[name] = {"sha256": sha256_file(src), "bytes": src.stat().st_size}
    card["files"] = files
    card["bundle"] = {"variants": ["int8"], "source_export": str(args.export_dir)}
    if args.data_manifest:
        card["training_data"] = json.loads(args.data_manifest.read_text(encoding="utf-8"))
    if args.train_log:
        evals = [json.loads(line) for line in args.train_log.read_text(encoding="utf-8").splitlines() if line.strip()]
        card["dev_evaluations"] = [{k: e[k] for k in ("step", "dev_loss", "wer_before", "wer", "cer_before", "cer",
                                                      "harm") if k in e}
                                   for e in evals if e.get("event") == "eval"]
    (args.out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    total = sum(f["bytes"] for f in files.values())
    print(f"bundled {len(files)} files, {total / 1e6:.1f} MB -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

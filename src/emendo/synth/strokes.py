"""Single-line stroke fonts (Latin and Cyrillic) for the handwriting renderer.

A *stroke font* maps characters to glyphs made of pen strokes (polylines), not
outlines: the renderer (:mod:`emendo.synth.handwriting`) draws each stroke as a
smooth curve with a writer's pen. Fonts ship as compact JSON tables in
``emendo/data/strokes/`` (see the README there for sources and licences) and are
made by ``scripts/build_cyrillic_strokes.py`` from two Debian sources:

* ``hershey-*``: the Hershey fonts (Debian ``hershey-fonts-data``), converted from
  their ``.jhf`` files by :func:`parse_jhf`: script/cursive Latin (``scripts``,
  ``cursive``, ``scriptc``), print-style Cyrillic (``cyrillic``, the only Hershey
  Cyrillic; its letters sit at ASCII positions, remapped by :data:`HERSHEY_CYRILLIC`)
  and ``timesr`` as that font's Latin fallback.
* ``skel-*``: single-line cursive Latin + Cyrillic made by skeletonising the italic
  outline fonts of Debian ``fonts-paratype`` (ParaType Free Font Licence; the tables
  are deliberately not named after the fonts, as that licence asks of modified
  versions) and vectorising the skeletons.

Coordinates in a table are integers in the font's own units, x to the right, y up,
baseline at y = 0; ``units_per_cap`` (the height of a capital ``H``/``Н``) turns them
into *cap units*, the unit every :class:`Glyph` is given in.

A :class:`Hand` is an ordered list of fonts (a primary font and fallbacks for the
characters it lacks); :data:`HANDS` lists the hands per language. :meth:`Hand.missing`
reports the characters no font of a hand can draw, so a caller can say which
characters were unknown instead of drawing a blank.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FORMAT_VERSION",
    "HANDS",
    "HERSHEY_CYRILLIC",
    "STROKES_DIR",
    "Glyph",
    "Hand",
    "StrokeFont",
    "available_fonts",
    "font_table",
    "get_hand",
    "hands_for",
    "load_font",
    "parse_jhf",
]

FORMAT_VERSION = 1
STROKES_DIR = Path(__file__).resolve().parents[1] / "data" / "strokes"

Points = NDArray[np.float64]
RawGlyph = tuple[int, int, list[list[tuple[int, int]]]]

# cyrillic.jhf (Hershey "Cyrillic complex") puts its letters at ASCII positions. Upper-case
# 'E' repeats 'I' (И); Й, Ё and ё are composed by the build script from И/й and Е/е.
HERSHEY_CYRILLIC: dict[str, str] = dict(zip(
    "$%&ABCDFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~",
    "ЫцыАБЭДФГЖИЧКЛМНОПШРСТЮВЩХУЗЕЪЯЬЦабэдйфгжичклмнопшрстювщхузеъяь",
    strict=True,
))


# ------------------------------------------------------------------ Hershey .jhf


def parse_jhf(text: str) -> list[RawGlyph]:
    """Parse a Hershey ``.jhf`` file: ``(left, right, strokes)`` per glyph, in file order.

    Each glyph is a 5-character number, a 3-character vertex count (the bounds pair
    included), then pairs of characters: first the left/right bounds, then x/y
    coordinates, both offset by ``ord('R')``; ``" R"`` lifts the pen. Long glyphs may
    wrap onto continuation lines, so newlines are ignored while reading a glyph. y grows
    downwards, as in the original data.
    """
    data = text.replace("\r", "").replace("\n", "")
    out: list[RawGlyph] = []
    pos = 0
    while pos < len(data):
        if not data[pos:].strip():
            break
        header = data[pos:pos + 8]
        if len(header) < 8 or not header[5:8].strip().isdigit():
            raise ValueError(f"malformed .jhf glyph header {header!r} at offset {pos}")
        count = int(header[5:8])
        body = data[pos + 8:pos + 8 + 2 * count]
        if len(body) < 2 * count:
            raise ValueError(f"truncated .jhf glyph at offset {pos}")
        pos += 8 + 2 * count
        left, right = ord(body[0]) - 82, ord(body[1]) - 82
        strokes: list[list[tuple[int, int]]] = [[]]
        for i in range(2, len(body), 2):
            pair = body[i:i + 2]
            if pair == " R":
                strokes.append([])
            else:
                strokes[-1].append((ord(pair[0]) - 82, ord(pair[1]) - 82))
        out.append((left, right, [s for s in strokes if s]))
    return out


# ------------------------------------------------------------------ fonts


@dataclass(frozen=True, slots=True)
class Glyph:
    """One character: advance box ``[left, right]`` and strokes, in cap units (y up, baseline 0).

    A stroke of one point is a dot.
    """

    left: float
    right: float
    strokes: tuple[Points, ...]

    @property
    def advance(self) -> float:
        return self.right - self.left


@dataclass(frozen=True)
class StrokeFont:
    """A stroke font loaded from a JSON table (see :func:`font_table` for the format)."""

    name: str
    style: str
    source: str
    licence: str
    glyphs: Mapping[str, Glyph]
    space: float

    def missing(self, text: str) -> list[str]:
        """Characters of ``text`` (other than whitespace) this font has no glyph for, in order of appearance."""
        return _unique(c for c in text if not c.isspace() and c not in self.glyphs)

    def info(self) -> dict[str, str]:
        return {"name": self.name, "style": self.style, "source": self.source, "licence": self.licence}


def font_table(name: str, *, style: str, source: str, licence: str, units_per_cap: float, space: int,
               glyphs: Mapping[str, tuple[int, int, Sequence[Sequence[tuple[int, int]]]]],
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON table of a stroke font (what the build script writes and :func:`load_font` reads).

    ``glyphs`` maps a character to ``(left, right, strokes)`` with integer coordinates,
    y up, baseline 0. Strokes are stored flat: ``[x0, y0, x1, y1, ...]``.
    """
    return {
        "format": FORMAT_VERSION,
        "name": name,
        "style": style,
        "source": source,
        "licence": licence,
        "units_per_cap": units_per_cap,
        "space": space,
        **(dict(extra) if extra else {}),
        "glyphs": {ch: [int(left), int(right), [[int(v) for p in s for v in p] for s in strokes]]
                   for ch, (left, right, strokes) in sorted(glyphs.items())},
    }


def available_fonts(directory: Path = STROKES_DIR) -> list[str]:
    """Names of the stroke fonts shipped in ``directory``."""
    return sorted(p.stem for p in directory.glob("*.json"))


@cache
def load_font(name: str, directory: Path = STROKES_DIR) -> StrokeFont:
    """Load the stroke font ``name`` (``directory/name.json``); cached per process."""
    path = directory / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"stroke font {name!r} not found in {directory} "
                                f"(have: {', '.join(available_fonts(directory)) or 'none'}); "
                                "run scripts/build_cyrillic_strokes.py")
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT_VERSION:
        raise ValueError(f"{path}: stroke table format {data.get('format')!r}, expected {FORMAT_VERSION}")
    unit = float(data["units_per_cap"])
    glyphs: dict[str, Glyph] = {}
    for ch, (left, right, strokes) in data["glyphs"].items():
        arrays = tuple(np.asarray(s, dtype=np.float64).reshape(-1, 2) / unit for s in strokes if s)
        glyphs[ch] = Glyph(left / unit, right / unit, arrays)
    return StrokeFont(name=data["name"], style=data["style"], source=data["source"], licence=data["licence"],
                      glyphs=glyphs, space=float(data["space"]) / unit)


# ------------------------------------------------------------------ hands


@dataclass(frozen=True, slots=True)
class Hand:
    """A writer's letter forms: fonts tried in order for each character."""

    name: str
    fonts: tuple[str, ...]
    langs: tuple[str, ...]
    style: str
    weight: float = 1.0

    def font(self, index: int = 0) -> StrokeFont:
        return load_font(self.fonts[index])

    def glyph(self, ch: str) -> tuple[Glyph, str] | None:
        """The glyph for ``ch`` and the name of the font that drew it, or None."""
        for name in self.fonts:
            g = load_font(name).glyphs.get(ch)
            if g is not None:
                return g, name
        return None

    def missing(self, text: str) -> list[str]:
        """Characters of ``text`` no font of this hand can draw (whitespace aside)."""
        return _unique(c for c in text if not c.isspace() and self.glyph(c) is None)

    @property
    def space(self) -> float:
        return self.font().space


HANDS: dict[str, Hand] = {h.name: h for h in (
    Hand("hershey-script", ("hershey-scripts", "hershey-cursive"), ("en",), "cursive", 1.0),
    Hand("hershey-cursive", ("hershey-cursive", "hershey-scripts"), ("en",), "cursive", 1.0),
    Hand("hershey-script-complex", ("hershey-scriptc", "hershey-scripts"), ("en",), "cursive", 0.5),
    Hand("hershey-cyrillic", ("hershey-cyrillic", "hershey-timesr"), ("ru",), "print", 0.5),
    Hand("skel-sans-italic", ("skel-sans-italic",), ("en", "ru"), "cursive", 1.0),
    Hand("skel-serif-italic", ("skel-serif-italic",), ("en", "ru"), "cursive", 1.0),
)}


def hands_for(lang: str) -> list[Hand]:
    """The hands that can write ``lang`` (``en`` or ``ru``), in a fixed order."""
    out = [h for h in HANDS.values() if lang in h.langs]
    if not out:
        raise ValueError(f"no handwriting stroke fonts for language {lang!r} (have: en, ru)")
    return out


def get_hand(name: str) -> Hand:
    try:
        return HANDS[name]
    except KeyError:
        raise ValueError(f"unknown hand {name!r}; choose from {', '.join(HANDS)}") from None


def _unique(chars: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for c in chars:
        seen.setdefault(c, None)
    return list(seen)


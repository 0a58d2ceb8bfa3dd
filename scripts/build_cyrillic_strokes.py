#!/usr/bin/env python3
"""Build the single-line stroke tables of emendo's handwriting renderer (src/emendo/data/strokes/).

Two kinds of table, both from Debian packages (installed, or fetched with ``apt-get
download`` and unpacked into a cache; see scripts/install_htr_tools.sh):

``skel-*`` (cursive Latin + Cyrillic): the italic outline fonts of ``fonts-paratype``
    (PT Sans Italic ``PTS56F.ttf``, PT Serif Italic ``PTF56F.ttf``) are rasterised glyph
    by glyph with Pillow/FreeType, thinned to a one-pixel skeleton (Zhang-Suen, numpy,
    plus staircase removal), and the skeleton is vectorised into polylines: trace the
    pixel graph between end points and junctions, prune short spurs, join the edges at
    a junction that continue each other most smoothly, simplify (Ramer-Douglas-Peucker).
    Italic Cyrillic has real cursive letter forms (д, т, и, п ... as written by hand),
    which the Hershey fonts lack. Licence: ParaType Free Font License (the Debian
    package's licence; the same fonts are also published under SIL OFL 1.1). It allows
    modified versions if they travel with the licence text and the copyright notice and
    do not use the original name: the tables are called ``skel-sans-italic`` /
    ``skel-serif-italic``, and LICENSE-ParaType.txt is written next to them.

``hershey-*``: the Hershey fonts of ``hershey-fonts-data`` converted from ``.jhf``
    (script simplex/complex and cursive Latin; Cyrillic complex, print-style, with Й,
    Ё and ё composed; Times Roman as its Latin fallback). Licence: the Hershey Fonts
    licence (any use, conversion to any format but the NTIS one, acknowledgements
    kept): LICENSE-Hershey.txt.

Also writes README.md (sources, package versions, licences, glyph counts, sizes) and,
with ``--sheet DIR``, a contact sheet PNG per table for eyeballing.

    python scripts/build_cyrillic_strokes.py                    # rebuild every table
    python scripts/build_cyrillic_strokes.py --only skel-sans-italic --sheet /tmp/sheets
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from emendo.synth.debian import package_root  # noqa: E402
from emendo.synth.strokes import HERSHEY_CYRILLIC, STROKES_DIR, font_table, parse_jhf  # noqa: E402

CACHE = Path.home() / ".cache" / "emendo" / "strokes"
HERSHEY_DIR = "/usr/share/hershey-fonts"
PARATYPE_DIR = "/usr/share/fonts/truetype/paratype"

Pt = tuple[int, int]
IntStroke = list[tuple[int, int]]
GlyphData = tuple[int, int, list[IntStroke]]

ASCII = [chr(c) for c in range(33, 127)]
CYRILLIC = [chr(c) for c in range(0x410, 0x450)] + ["Ё", "ё"]
SKELETON_CHARS = [*ASCII, *CYRILLIC, "№"]

HERSHEY_FONTS = {  # table name: (jhf file, style, description)
    "hershey-scripts": ("scripts.jhf", "cursive", "Hershey Script Simplex (single line)"),
    "hershey-cursive": ("cursive.jhf", "cursive", "Hershey Cursive (script simplex letters, simplex digits)"),
    "hershey-scriptc": ("scriptc.jhf", "cursive", "Hershey Script Complex (double line)"),
    "hershey-cyrillic": ("cyrillic.jhf", "print", "Hershey Cyrillic Complex (print-style, double line)"),
    "hershey-timesr": ("timesr.jhf", "print", "Hershey Times Roman (Latin fallback of hershey-cyrillic)"),
}
SKELETON_FONTS = {  # table name: (ttf file, description)
    "skel-sans-italic": ("PTS56F.ttf", "skeleton of ParaType PT Sans Italic"),
    "skel-serif-italic": ("PTF56F.ttf", "skeleton of ParaType PT Serif Italic"),
}

HERSHEY_ACK = """\
The Hershey Fonts were originally created by Dr. A. V. Hershey while working at the
U. S. National Bureau of Standards.

The format of the Font data in this distribution was originally created by
James Hurt, Cognition, Inc., 900 Technology Park Drive, Billerica, MA 01821
(mit-eddie!ci-dandelion!hurt)
"""


# ------------------------------------------------------------------ Debian packages


def copyright_text(root: Path, pkg: str) -> str:
    path = root / "usr/share/doc" / pkg / "copyright"
    return path.read_text(encoding="utf-8") if path.exists() else ""


# ------------------------------------------------------------------ Hershey


def hershey_table(name: str, path: Path, style: str, description: str, version: str) -> dict[str, Any]:
    raw = parse_jhf(path.read_text(encoding="latin-1"))
    chars = [chr(32 + i) for i in range(len(raw))]
    by_ascii = dict(zip(chars, raw, strict=True))
    cap_top = min(y for s in by_ascii["H"][2] for _, y in s)
    baseline = max(y for s in by_ascii["H"][2] for _, y in s)

    def up(glyph: tuple[int, int, list[list[tuple[int, int]]]]) -> GlyphData:
        left, right, strokes = glyph
        return left, right, [[(x, baseline - y) for x, y in s] for s in strokes]

    glyphs: dict[str, GlyphData] = {}
    for ch, g in by_ascii.items():
        if ch == " " or ch == "\x7f":
            continue
        if name == "hershey-cyrillic":
            if ch == "E":  # a second И
                continue
            glyphs[HERSHEY_CYRILLIC.get(ch, ch)] = up(g)
        else:
            glyphs[ch] = up(g)
    if name == "hershey-cyrillic":
        compose_cyrillic(glyphs, cap=baseline - cap_top)
    space = by_ascii[" "][1] - by_ascii[" "][0]
    return font_table(name, style=style, source=f"{description}; {path.name} of Debian hershey-fonts-data {version}",
                      licence="Hershey Fonts licence (see LICENSE-Hershey.txt)",
                      units_per_cap=float(baseline - cap_top), space=space, glyphs=glyphs)


def compose_cyrillic(glyphs: dict[str, GlyphData], cap: int) -> None:
    """Add Й (И + the breve of й), Ё and ё (Е/е + two dots) to the Hershey Cyrillic table."""
    i_small, short_i = glyphs["и"], glyphs["й"]
    plain = {tuple(s) for s in i_small[2]}
    breve = [s for s in short_i[2] if tuple(s) not in plain]
    x_top = max(y for s in i_small[2] for _, y in s)
    lift = cap - x_top
    big_i = glyphs["И"]
    shift = (big_i[0] + big_i[1]) // 2 - (short_i[0] + short_i[1]) // 2
    glyphs["Й"] = (big_i[0], big_i[1], [*big_i[2], *[[(x + shift, y + lift) for x, y in s] for s in breve]])
    if glyphs["э"][2] == glyphs["Э"][2]:  # the font's lower-case э is its capital: scale it to x-height
        left, right, strokes = glyphs["Э"]
        mid = (left + right) / 2
        glyphs["э"] = (round(mid + (left - mid) * 0.8), round(mid + (right - mid) * 0.8),
                       [[(round(mid + (x - mid) * 0.8), round(y * x_top / cap)) for x, y in s] for s in strokes])
    for base, new, top in (("Е", "Ё", cap), ("е", "ё", x_top)):
        left, right, strokes = glyphs[base]
        mid = (left + right) // 2
        dots = [[(mid - 3, top + 3)], [(mid + 3, top + 3)]]
        glyphs[new] = (left, right, [*strokes, *dots])


# ------------------------------------------------------------------ skeletons


def thin(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Zhang-Suen thinning (numpy), then removal of staircase pixels: an 8-connected one-pixel skeleton."""
    img = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            c = img[1:-1, 1:-1]
            n, ne, e, se = img[:-2, 1:-1], img[:-2, 2:], img[1:-1, 2:], img[2:, 2:]
            s, sw, w, nw = img[2:, 1:-1], img[2:, :-2], img[1:-1, :-2], img[:-2, :-2]
            ring = [n, ne, e, se, s, sw, w, nw, n]
            b = n + ne + e + se + s + sw + w + nw
            a = sum(((ring[k] == 0) & (ring[k + 1] == 1)).astype(np.uint8) for k in range(8))
            cond = ((n * e * s == 0) & (e * s * w == 0)) if step == 0 else ((n * e * w == 0) & (n * s * w == 0))
            kill = (c == 1) & (b >= 2) & (b <= 6) & (a == 1) & cond
            if kill.any():
                c[kill] = 0
                changed = True
        if not changed:
            break
    # staircases: a pixel with two orthogonal neighbours (N+E, E+S, S+W, W+N) and nothing on the opposite side
    patterns = [((-1, 0), (0, 1), (-1, 1), [(1, 0), (1, -1), (0, -1)]),
                ((0, 1), (1, 0), (1, 1), [(0, -1), (-1, -1), (-1, 0)]),
                ((1, 0), (0, -1), (1, -1), [(-1, 0), (-1, 1), (0, 1)]),
                ((0, -1), (-1, 0), (-1, -1), [(0, 1), (1, 1), (1, 0)])]
    for y, x in zip(*np.nonzero(img), strict=True):
        for (ay, ax), (by, bx), (dy, dx), empty in patterns:
            if (img[y + ay, x + ax] and img[y + by, x + bx] and not img[y + dy, x + dx]
                    and not any(img[y + oy, x + ox] for oy, ox in empty)):
                img[y, x] = 0
                break
    return img[1:-1, 1:-1].astype(bool)


_N8 = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def vectorise(skel: NDArray[np.bool_], *, spur: float, dot: float) -> list[list[tuple[float, float]]]:
    """Polylines (row, col) of a one-pixel skeleton: traced, pruned, joined at junctions."""
    pix = {(int(y), int(x)) for y, x in zip(*np.nonzero(skel), strict=True)}

    def nbrs(p: Pt) -> list[Pt]:
        return [(p[0] + dy, p[1] + dx) for dy, dx in _N8 if (p[0] + dy, p[1] + dx) in pix]

    deg = {p: len(nbrs(p)) for p in pix}
    node_pix = {p for p, d in deg.items() if d != 2}
    cluster: dict[Pt, int] = {}
    centres: list[tuple[float, float]] = []
    for p in sorted(node_pix):
        if p in cluster:
            continue
        members, todo = [], deque([p])
        cluster[p] = len(centres)
        while todo:
            q = todo.popleft()
            members.append(q)
            if deg[q] < 3:
                continue
            for r in nbrs(q):
                if r in node_pix and deg[r] >= 3 and r not in cluster:
                    cluster[r] = len(centres)
                    todo.append(r)
        centres.append((float(np.mean([m[0] for m in members])), float(np.mean([m[1] for m in members]))))

    edges: list[tuple[int, int, list[tuple[float, float]]]] = []  # (start node, end node, points)
    seen_steps: set[tuple[Pt, Pt]] = set()
    visited: set[Pt] = set()
    for p in sorted(node_pix):
        for q in nbrs(p):
            if (p, q) in seen_steps or (q in node_pix and cluster[q] == cluster[p]):
                continue
            path = [p, q]
            prev, cur = p, q
            while cur not in node_pix:
                visited.add(cur)
                nxt = [r for r in nbrs(cur) if r != prev]
                if not nxt:
                    break
                prev, cur = cur, nxt[0]
                path.append(cur)
            seen_steps.add((p, q))
            seen_steps.add((path[-1], path[-2]))
            if cur not in node_pix:
                continue
            pts = [centres[cluster[p]], *[(float(a), float(b)) for a, b in path[1:-1]], centres[cluster[cur]]]
            edges.append((cluster[p], cluster[cur], pts))
    loops: list[list[tuple[float, float]]] = []
    for p in sorted(pix - node_pix - visited):
        if p in visited:
            continue
        path, cur = [p], p
        back: Pt | None = None  # the pixel before ``cur`` (none at the start)
        visited.add(p)
        while True:
            nxt = [r for r in nbrs(cur) if r != back and (r not in visited or (r == p and len(path) > 2))]
            if not nxt:
                break
            back, cur = cur, nxt[0]
            if cur == p:
                path.append(p)
                break
            visited.add(cur)
            path.append(cur)
        loops.append([(float(a), float(b)) for a, b in path])

    had_edges = {n for a, b, _ in edges for n in (a, b)}
    # prune spurs: short edges from an end point to a junction
    for _ in range(3):
        degree = [0] * len(centres)
        for a, b, _pts in edges:
            degree[a] += 1
            degree[b] += 1
        keep = []
        for a, b, pts in edges:
            short = _length(pts) < spur
            if short and ((degree[a] == 1 and degree[b] >= 3) or (degree[b] == 1 and degree[a] >= 3)):
                continue
            keep.append((a, b, pts))
        if len(keep) == len(edges):
            break
        edges = keep

    strokes = join_at_nodes(edges, len(centres))
    strokes.extend(loops)
    strokes.extend([centres[n]] for n in range(len(centres)) if n not in had_edges)
    out = []
    for s in strokes:
        arr = np.asarray(s)
        if len(s) == 1 or (np.ptp(arr[:, 0]) < dot and np.ptp(arr[:, 1]) < dot):
            out.append([(float(arr[:, 0].mean()), float(arr[:, 1].mean()))])
        else:
            out.append(rdp(s, 0.8))
    return out


def join_at_nodes(edges: list[tuple[int, int, list[tuple[float, float]]]], n_nodes: int
                  ) -> list[list[tuple[float, float]]]:
    """Join edges into strokes: at every node, the pair of edge ends that continue each other best (> 110°)."""
    strokes = [list(pts) for _, _, pts in edges]
    ends = [[a, b] for a, b, _ in edges]  # node at the start / end of each stroke
    alive = [True] * len(strokes)
    changed = True
    while changed:
        changed = False
        for node in range(n_nodes):
            at = [(i, k) for i in range(len(strokes)) if alive[i] for k in (0, 1) if ends[i][k] == node]
            if len(at) < 2:
                continue
            best: tuple[float, tuple[int, int], tuple[int, int]] | None = None
            for x in range(len(at)):
                for y in range(x + 1, len(at)):
                    (i, ki), (j, kj) = at[x], at[y]
                    if i == j:
                        continue
                    cos = float(np.dot(_direction(strokes[i], ki), _direction(strokes[j], kj)))
                    if cos < -0.34 and (best is None or cos < best[0]):
                        best = (cos, at[x], at[y])
            if best is None:
                if len(at) == 2 and at[0][0] == at[1][0]:  # a stroke that closes on itself
                    continue
                continue
            (i, ki), (j, kj) = best[1], best[2]
            a = strokes[i] if ki == 1 else strokes[i][::-1]
            b = strokes[j] if kj == 0 else strokes[j][::-1]
            strokes.append(a + b[1:])
            ends.append([ends[i][1 - ki], ends[j][1 - kj]])
            alive.append(True)
            alive[i] = alive[j] = False
            changed = True
    return [s for s, ok in zip(strokes, alive, strict=True) if ok]


def _direction(pts: Sequence[tuple[float, float]], end: int, reach: int = 6) -> NDArray[np.float64]:
    """Unit vector pointing from the stroke end ``end`` (0 start, 1 end) into the stroke."""
    seq = pts if end == 0 else pts[::-1]
    a = np.asarray(seq[0], dtype=np.float64)
    b = np.asarray(seq[min(reach, len(seq) - 1)], dtype=np.float64)
    v: NDArray[np.float64] = b - a
    norm = float(np.hypot(*v))
    return v / norm if norm else v


def _length(pts: Sequence[tuple[float, float]]) -> float:
    arr = np.asarray(pts)
    return float(np.hypot(*np.diff(arr, axis=0).T).sum()) if len(arr) > 1 else 0.0


def rdp(pts: Sequence[tuple[float, float]], eps: float) -> list[tuple[float, float]]:
    """Ramer-Douglas-Peucker simplification (iterative)."""
    arr = np.asarray(pts, dtype=np.float64)
    if len(arr) < 3:
        return [(float(a), float(b)) for a, b in arr]
    keep = np.zeros(len(arr), dtype=bool)
    keep[0] = keep[-1] = True
    stack = [(0, len(arr) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        a, b = arr[i], arr[j]
        seg = b - a
        rel = arr[i + 1:j] - a
        norm = float(np.hypot(*seg))
        dist = np.abs(seg[0] * rel[:, 1] - seg[1] * rel[:, 0]) / norm if norm else np.hypot(rel[:, 0], rel[:, 1])
        k = int(np.argmax(dist))
        if dist[k] > eps:
            keep[i + 1 + k] = True
            stack.extend([(i, i + 1 + k), (i + 1 + k, j)])
    return [(float(a), float(b)) for a, b in arr[keep]]


def skeleton_table(name: str, ttf: Path, description: str, version: str, size: int) -> dict[str, Any]:
    font = ImageFont.truetype(str(ttf), size=size)
    cap = -font.getbbox("H", anchor="ls")[1]
    stem = _stem_width(font)
    pad = size
    notdef = _glyph_mask(font, "\U000f0000", pad)[0]
    glyphs: dict[str, GlyphData] = {}
    for ch in SKELETON_CHARS:
        mask, origin = _glyph_mask(font, ch, pad)
        if not mask.any() or (mask.shape == notdef.shape and np.array_equal(mask, notdef)):
            print(f"  {name}: no glyph for {ch!r}", file=sys.stderr)
            continue
        lines = vectorise(thin(mask), spur=0.9 * stem, dot=0.9 * stem)
        oy, ox = origin
        strokes = [[(round(x - ox), round(oy - y)) for y, x in line] for line in lines]
        strokes = [_dedupe(s) for s in sorted(strokes, key=lambda s: (min(p[0] for p in s), -max(p[1] for p in s)))]
        glyphs[ch] = (0, round(font.getlength(ch)), strokes)
    return font_table(name, style="cursive",
                      source=f"{description} ({ttf.name}, Debian fonts-paratype {version}); "
                             f"rasterised at {size} px/em, thinned, vectorised",
                      licence="ParaType Free Font License (see LICENSE-ParaType.txt)", units_per_cap=float(cap),
                      space=round(font.getlength(" ")), glyphs=glyphs, extra={"stem_units": round(stem, 1)})


def _glyph_mask(font: ImageFont.FreeTypeFont, ch: str, pad: int) -> tuple[NDArray[np.bool_], tuple[int, int]]:
    width = int(font.getlength(ch)) + 2 * pad
    height = 3 * pad
    origin = (2 * pad, pad)  # (row, col) of the baseline origin
    im = Image.new("L", (width, height), 0)
    ImageDraw.Draw(im).text((origin[1], origin[0]), ch, font=font, fill=255, anchor="ls")
    return np.asarray(im) >= 128, origin


def _stem_width(font: ImageFont.FreeTypeFont) -> float:
    """Thickness of a vertical stem: the mode of horizontal run lengths in 'l'."""
    mask, _ = _glyph_mask(font, "l", int(font.size))
    runs: list[int] = []
    for row in mask:
        d = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        runs.extend((np.nonzero(d == -1)[0] - np.nonzero(d == 1)[0]).tolist())
    return float(np.median(runs)) if runs else font.size / 12


def _dedupe(stroke: Iterable[tuple[int, int]]) -> IntStroke:
    out: IntStroke = []
    for p in stroke:
        if not out or out[-1] != p:
            out.append(p)
    return out


# ------------------------------------------------------------------ sheets, README


def contact_sheet(table: dict[str, Any], path: Path, cell: int = 64) -> None:
    chars = list(table["glyphs"])
    cols = 24
    rows = (len(chars) + cols - 1) // cols
    scale = cell * 0.55 / table["units_per_cap"]
    im = Image.new("L", (cols * cell, rows * cell), 255)
    d = ImageDraw.Draw(im)
    for k, ch in enumerate(chars):
        left, _right, strokes = table["glyphs"][ch]
        ox, oy = (k % cols) * cell + cell * 0.25, (k // cols) * cell + cell * 0.72
        for s in strokes:
            pts = [(ox + (s[i] - left) * scale, oy - s[i + 1] * scale) for i in range(0, len(s), 2)]
            if len(pts) == 1:
                x, y = pts[0]
                d.ellipse((x - 1.5, y - 1.5, x + 1.5, y + 1.5), fill=0)
            else:
                d.line(pts, fill=0, width=2, joint="curve")
    im.save(path)


def write_readme(out: Path, tables: dict[str, dict[str, Any]], versions: dict[str, str]) -> None:
    rows = []
    for name in sorted(tables):
        t = tables[name]
        size = (out / f"{name}.json").stat().st_size
        scripts = []
        if any("a" <= c <= "z" for c in t["glyphs"]):
            scripts.append("Latin")
        if any("а" <= c <= "я" for c in t["glyphs"]):
            scripts.append("Cyrillic")
        rows.append(f"| `{name}.json` | {t['style']} | {', '.join(scripts) or '-'} | {len(t['glyphs'])} | "
                    f"{size:,} | {t['source']} | {t['licence']} |")
    total = sum((out / f"{n}.json").stat().st_size for n in tables)
    text = f"""# Stroke tables of the handwriting renderer

Single-line stroke fonts for `emendo.synth.handwriting` (loaded by `emendo.synth.strokes`).
Generated by `scripts/build_cyrillic_strokes.py`, which also writes this card: edit the
script, not this file. Format: JSON, `format` {tables[next(iter(tables))]['format']}; integer coordinates, y up,
baseline 0; `units_per_cap` is the height of a capital H/Н; each glyph is
`[left, right, [[x0, y0, x1, y1, ...], ...]]` (a one-point stroke is a dot).

| table | style | scripts | glyphs | bytes | source | licence |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Total {total:,} bytes. Debian packages used: {', '.join(f'{k} {v}' for k, v in sorted(versions.items()))}.

## Licences

* `skel-*`: derived (rasterised, thinned and vectorised) from the italic faces of the
  ParaType PT Sans / PT Serif families, Copyright 2009 ParaType Ltd., as packaged in Debian
  `fonts-paratype` under the ParaType Free Font License, reproduced unchanged in
  `LICENSE-ParaType.txt`. That licence allows modified versions to be distributed
  with software (not sold by themselves) when they are accompanied by the licence and
  the copyright notice and are not distributed under the original font names: hence
  the names `skel-sans-italic` and `skel-serif-italic`. (ParaType also publishes
  these fonts under the SIL Open Font License 1.1, which permits the same use.)
* `hershey-*`: converted from the Hershey fonts (`.jhf`) of Debian `hershey-fonts-data`
  under the Hershey Fonts licence (use for any purpose; conversion to any format but the
  U.S. NTIS one; these acknowledgements must travel with the data), in
  `LICENSE-Hershey.txt`:

```
{HERSHEY_ACK.rstrip()}
```
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=STROKES_DIR)
    ap.add_argument("--only", help="comma-separated table names (default: all)")
    ap.add_argument("--size", type=int, default=160, help="rasterisation size of the outline fonts, px/em")
    ap.add_argument("--sheet", type=Path, help="also write a contact sheet PNG per table into this directory")
    ap.add_argument("--cache", type=Path, default=CACHE)
    args = ap.parse_args(argv)
    names = [*HERSHEY_FONTS, *SKELETON_FONTS]
    chosen = names if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in chosen if n not in names]
    if unknown:
        ap.error(f"unknown table(s) {unknown}; choose from {', '.join(names)}")
    args.out.mkdir(parents=True, exist_ok=True)
    hroot, hversion = package_root("hershey-fonts-data", f"{HERSHEY_DIR}/scripts.jhf", args.cache)
    proot, pversion = package_root("fonts-paratype", f"{PARATYPE_DIR}/PTS56F.ttf", args.cache)
    versions = {"hershey-fonts-data": hversion, "fonts-paratype": pversion}
    tables: dict[str, dict[str, Any]] = {}
    for name in names:
        path = args.out / f"{name}.json"
        if name not in chosen:
            if path.exists():
                tables[name] = json.loads(path.read_text(encoding="utf-8"))
            continue
        print(f"building {name}", file=sys.stderr)
        if name in HERSHEY_FONTS:
            jhf, style, desc = HERSHEY_FONTS[name]
            tables[name] = hershey_table(name, hroot / HERSHEY_DIR.lstrip("/") / jhf, style, desc, hversion)
        else:
            ttf, desc = SKELETON_FONTS[name]
            tables[name] = skeleton_table(name, proot / PARATYPE_DIR.lstrip("/") / ttf, desc, pversion, args.size)
        path.write_text(json.dumps(tables[name], ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        if args.sheet:
            args.sheet.mkdir(parents=True, exist_ok=True)
            contact_sheet(tables[name], args.sheet / f"{name}.png")
    paratype = copyright_text(proot, "fonts-paratype")
    licence = paratype.split("License: ParaType-Free-Font-License", 1)[-1].split("\nFiles:", 1)[0]
    licence = "\n".join(line[1:] if line.startswith(" ") else line for line in licence.strip("\n").splitlines())
    licence = licence.replace("\n.\n", "\n\n")
    (args.out / "LICENSE-ParaType.txt").write_text(
        "PT Sans, PT Serif: Copyright (c) 2009 ParaType Ltd. All Rights Reserved.\n"
        "(Source: Debian package fonts-paratype, /usr/share/doc/fonts-paratype/copyright.)\n\n"
        "ParaType Free Font Licensing Agreement\n\n" + licence.rstrip() + "\n", encoding="utf-8")
    hershey = copyright_text(hroot, "hershey-fonts-data")
    hlicence = hershey.split("License: hershey-license", 1)[-1].split("\nLicense:", 1)[0]
    hlicence = "\n".join(line[1:] if line.startswith(" ") else line for line in hlicence.strip("\n").splitlines())
    (args.out / "LICENSE-Hershey.txt").write_text(
        "Hershey Fonts (Debian package hershey-fonts-data, /usr/share/doc/hershey-fonts-data/copyright)\n\n"
        + HERSHEY_ACK + "\nLicence:\n\n" + hlicence.rstrip() + "\n", encoding="utf-8")
    write_readme(args.out, tables, versions)
    total = sum((args.out / f"{n}.json").stat().st_size for n in tables)
    print(f"{len(tables)} tables, {total:,} bytes in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

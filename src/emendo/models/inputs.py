"""How a recognizer hypothesis becomes the denoising LM's input text (shared by training and serving).

No torch here: :mod:`emendo.correctors.dlm` (onnxruntime serving) imports this module so that
serving formats inputs exactly as training did.

Input format
------------
``<asr> <en> the 1-best text <sep> second alternative <sep> third alternative``

* a source tag (``<asr>`` / ``<htr>``) and a language tag (``<en>`` / ``<ru>``; other
  languages get none) when :attr:`InputOptions.use_tags` is set;
* the 1-best text, whitespace collapsed;
* with :attr:`InputOptions.use_nbest`, up to ``max_nbest - 1`` further n-best entries that
  differ from the 1-best (and from each other), each after ``<sep>``.

The tags are special tokens of the project tokenizer (:mod:`emendo.models.tokenizer`)
that swallow the spaces around them, so the first word of the text is tokenized as it is
at the start of a target sentence. The target is the clean text (whitespace collapsed) and
``</s>``; the source gets no ``</s>``.

Windows
-------
Long inputs are corrected in overlapping word windows of at most ``window_chars``
characters (90, after the Cyrillic post-OCR paper). :func:`windows` plans them so that
their *cores* partition the words (the middle of each overlap is the border);
:func:`stitch` aligns each window's output to its input words and keeps, for every
input word, the output of the window whose core holds it (an insertion belongs to the
word before it). N-best alternatives are only given to the model when the 1-best fits in
one window.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from difflib import SequenceMatcher
from typing import Any

from emendo.errors import ConfigError

__all__ = [
    "LANG_TAGS",
    "SEP",
    "SOURCE_TAGS",
    "InputOptions",
    "Window",
    "format_input",
    "format_source",
    "normalize_space",
    "stitch",
    "windows",
]

SOURCE_TAGS: dict[str, str] = {"asr": "<asr>", "htr": "<htr>"}
LANG_TAGS: dict[str, str] = {"en": "<en>", "ru": "<ru>"}
SEP = "<sep>"


@dataclass(frozen=True, slots=True)
class InputOptions:
    """How model inputs are formatted; stored in every checkpoint (``train_config.json["inputs"]``).

    ``use_tags``: prefix source and language tags. ``use_nbest``: append n-best alternatives
    (at most ``max_nbest`` entries in all, the 1-best included). ``window_chars`` /
    ``window_overlap``: window length and overlap in characters for long inputs.
    """

    use_tags: bool = True
    use_nbest: bool = True
    max_nbest: int = 4
    window_chars: int = 90
    window_overlap: int = 30

    def __post_init__(self) -> None:
        if self.max_nbest < 1:
            raise ConfigError(f"max_nbest must be >= 1, got {self.max_nbest}")
        if self.window_chars < 1 or not 0 <= self.window_overlap < self.window_chars:
            raise ConfigError("window_chars must be >= 1 and 0 <= window_overlap < window_chars, got "
                              f"{self.window_chars} / {self.window_overlap}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputOptions:
        """Build from a JSON object; unknown keys are rejected so typos do not pass silently."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown input option(s): {', '.join(unknown)}")
        return cls(**dict(data))

    @classmethod
    def from_train_config(cls, data: Mapping[str, Any]) -> InputOptions:
        """The options of a checkpoint, from its parsed ``train_config.json`` (defaults if absent)."""
        inputs = data.get("inputs")
        return cls.from_dict(inputs) if isinstance(inputs, Mapping) else cls()


DEFAULT_OPTIONS = InputOptions()


def normalize_space(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


def format_input(
    hyp_text: str,
    nbest: Sequence[str] | None = None,
    source: str | None = None,
    lang: str | None = None,
    options: InputOptions = DEFAULT_OPTIONS,
) -> str:
    """The model input text for one hypothesis (or one window of it); see the module docstring."""
    parts: list[str] = []
    if options.use_tags:
        if source in SOURCE_TAGS:
            parts.append(SOURCE_TAGS[source])
        if lang in LANG_TAGS:
            parts.append(LANG_TAGS[lang])
    text = normalize_space(hyp_text)
    parts.append(text)
    if options.use_nbest and nbest and options.max_nbest > 1:
        seen = {text}
        for alt in nbest:
            norm = normalize_space(alt)
            if not norm or norm in seen:
                continue
            seen.add(norm)
            parts.extend((SEP, norm))
            if len(seen) >= options.max_nbest:
                break
    return " ".join(parts)


def format_source(
    text: str,
    *,
    source: str | None = "asr",
    lang: str | None = None,
    nbest: Sequence[str] | None = None,
    options: InputOptions = DEFAULT_OPTIONS,
) -> str:
    """Keyword form of :func:`format_input` (the name :mod:`emendo.correctors.dlm` looks up)."""
    return format_input(text, nbest, source, lang, options)


# ---------------------------------------------------------------- windows


@dataclass(frozen=True, slots=True)
class Window:
    """Words ``[start, end)`` of a text; the window decides the output of words ``[core_start, core_end)``."""

    start: int
    end: int
    core_start: int
    core_end: int
    text: str


def windows(text: str, window_chars: int = 90, overlap: int = 30) -> list[Window]:
    """Split ``text`` into word windows of at most ``window_chars`` characters overlapping by ~``overlap``.

    Words are never cut (a single word longer than ``window_chars`` is a window of its
    own). The cores partition the words; a text that fits is one window. An empty text
    gives one empty window.
    """
    if window_chars < 1 or not 0 <= overlap < window_chars:
        raise ConfigError("window_chars must be >= 1 and 0 <= overlap < window_chars")
    words = text.split()
    n = len(words)
    if n == 0:
        return [Window(0, 0, 0, 0, "")]
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end, chars = start + 1, len(words[start])
        while end < n and chars + 1 + len(words[end]) <= window_chars:
            chars += 1 + len(words[end])
            end += 1
        spans.append((start, end))
        if end >= n:
            break
        nxt, back = end, 0  # step back over about `overlap` characters of this window
        while nxt - 1 > start and back + 1 + len(words[nxt - 1]) <= overlap:
            back += 1 + len(words[nxt - 1])
            nxt -= 1
        start = max(nxt, start + 1)
    out: list[Window] = []
    for k, (s, e) in enumerate(spans):
        core_s = 0 if k == 0 else (spans[k - 1][1] + s) // 2
        core_e = n if k == len(spans) - 1 else (e + spans[k + 1][0]) // 2
        out.append(Window(s, e, core_s, core_e, " ".join(words[s:e])))
    return out


def stitch(wins: Sequence[Window], outputs: Sequence[str]) -> str:
    """Join the corrected ``outputs`` of ``wins`` (from :func:`windows`) into one text.

    Each output is aligned to its window's input words with :class:`difflib.SequenceMatcher`;
    a block of ``n`` input words that became ``m`` output words is shared out
    proportionally, so every input word gets a (possibly empty) piece of output. Each
    input word then takes its piece from the window whose core holds it.
    """
    if len(wins) != len(outputs):
        raise ValueError(f"{len(wins)} windows but {len(outputs)} outputs")
    if len(wins) == 1:
        return normalize_space(outputs[0])
    result: list[str] = []
    for k, (win, output) in enumerate(zip(wins, outputs, strict=True)):
        src = win.text.split()
        out = output.split()
        pieces: dict[int, list[str]] = {}
        inserts: dict[int, list[str]] = {}
        for _tag, i1, i2, j1, j2 in SequenceMatcher(a=src, b=out, autojunk=False).get_opcodes():
            if i1 == i2:
                inserts.setdefault(win.start + i1, []).extend(out[j1:j2])
                continue
            n_in, n_out = i2 - i1, j2 - j1
            for d in range(n_in):
                pieces[win.start + i1 + d] = out[j1 + d * n_out // n_in:j1 + (d + 1) * n_out // n_in]
        if k == 0:
            result.extend(inserts.get(win.start, ()))
        for g in range(win.core_start, win.core_end):
            result.extend(pieces.get(g, ()))
            result.extend(inserts.get(g + 1, ()))
    return " ".join(result)

"""Named text-normalisation presets, built from jiwer transforms.

Every score emendo reports names the preset it was computed under, and every caller
uses these shared presets rather than normalising ad hoc. A preset is a chain of
string-to-string jiwer transforms; :attr:`Preset.words` and :attr:`Preset.chars` append
the jiwer reducer that turns normalised strings into word or character lists.

Presets
-------
``none``
    Exact comparison: the text is left untouched. Words are the runs of characters
    between spaces; characters include every space.
``default``
    Whitespace clean-up only: every run of Unicode whitespace becomes one space and the
    ends are stripped. Case and punctuation count.
``hyporadise``
    The HyPoradise convention (references are lower-case letters, digits, spaces and
    apostrophes only): Unicode NFC, lower-case, curly apostrophes made straight,
    hyphens and dashes become spaces, all other punctuation and all symbols (``$``,
    ``%``, ``+`` ...) are removed, except apostrophes inside a word (``don't`` stays,
    ``'quoted'`` loses them), whitespace collapsed and stripped.
``ocr``
    For OCR/HTR lines, which keep case and punctuation: Unicode NFC, curly quotes made
    straight (``‘’‚‛′`` -> ``'``, ``“”„‟″«»`` -> ``"``), hyphen and dash variants
    (``‐‑‒–—―−``) -> ``-``, whitespace collapsed and stripped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import jiwer

from emendo.errors import ConfigError

__all__ = ["DEFAULT_PRESET", "PRESETS", "Preset", "get_preset", "preset_names"]

DEFAULT_PRESET = "default"


class UnicodeNFC(jiwer.AbstractTransform):
    """Compose the text to Unicode normal form C."""

    def process_string(self, s: str) -> str:
        return unicodedata.normalize("NFC", s)


class RemovePunctuationKeepApostrophes(jiwer.AbstractTransform):
    """Dashes (Unicode ``Pd``, and the minus sign) -> space; other punctuation removed.

    With ``symbols=True`` Unicode symbols (``S*``: ``$ £ + ^ ©`` ...) are removed as
    well. The ASCII apostrophe survives this step; apostrophes that are not between two
    word characters are removed afterwards, so ``don't`` keeps its apostrophe and
    ``'tis the students'`` loses both.
    """

    _EDGE_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")

    def __init__(self, *, symbols: bool = False) -> None:
        self.drop = ("P", "S") if symbols else ("P",)

    def process_string(self, s: str) -> str:
        out = []
        for ch in s:
            if ch == "'":
                out.append(ch)
                continue
            cat = unicodedata.category(ch)
            if cat == "Pd" or ch == "\u2212":
                out.append(" ")
            elif not cat.startswith(self.drop):
                out.append(ch)
        return self._EDGE_APOSTROPHE.sub("", "".join(out))


_WHITESPACE = jiwer.SubstituteRegexes({r"\s+": " "})
_APOSTROPHES = jiwer.SubstituteRegexes({"[\u2018\u2019\u201a\u201b\u2032\u02bc]": "'"})
_QUOTES = jiwer.SubstituteRegexes({"[\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb]": '"'})
_DASHES = jiwer.SubstituteRegexes({"[\u2010\u2011\u2012\u2013\u2014\u2015\u2212]": "-"})


@dataclass(frozen=True)
class Preset:
    """A named normalisation: ``steps`` are jiwer string-to-string transforms."""

    name: str
    description: str
    steps: tuple[jiwer.AbstractTransform, ...]

    @property
    def text(self) -> jiwer.Compose:
        """The string -> string transform."""
        return jiwer.Compose(list(self.steps))

    @property
    def words(self) -> jiwer.Compose:
        """String(s) -> list of word lists, for :func:`jiwer.process_words`."""
        return jiwer.Compose([*self.steps, jiwer.ReduceToListOfListOfWords()])

    @property
    def chars(self) -> jiwer.Compose:
        """String(s) -> list of character lists, for :func:`jiwer.process_characters`."""
        return jiwer.Compose([*self.steps, jiwer.ReduceToListOfListOfChars()])

    def normalize(self, text: str) -> str:
        """Apply this preset to one string."""
        out = text
        for step in self.steps:
            out = step.process_string(out)
        return out

    def normalize_all(self, texts: Sequence[str]) -> list[str]:
        """Apply this preset to many strings."""
        return [self.normalize(t) for t in texts]


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("none", "exact text, nothing normalised", ()),
        Preset("default", "whitespace collapsed and stripped", (_WHITESPACE, jiwer.Strip())),
        Preset(
            "hyporadise",
            "lower-case, no punctuation/symbols except word-internal apostrophes, hyphens as spaces",
            (UnicodeNFC(), jiwer.ToLowerCase(), _APOSTROPHES, RemovePunctuationKeepApostrophes(symbols=True),
             _WHITESPACE, jiwer.Strip()),
        ),
        Preset(
            "ocr",
            "NFC, straight quotes, plain hyphens, whitespace collapsed; case and punctuation kept",
            (UnicodeNFC(), _APOSTROPHES, _QUOTES, _DASHES, _WHITESPACE, jiwer.Strip()),
        ),
    )
}


def preset_names() -> tuple[str, ...]:
    """The valid preset names, in definition order."""
    return tuple(PRESETS)


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name`` (a :class:`Preset` is returned unchanged).

    Raises :class:`~emendo.errors.ConfigError` naming the valid presets.
    """
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown normalisation preset {name!r}; valid presets: {', '.join(PRESETS)}"
        ) from None

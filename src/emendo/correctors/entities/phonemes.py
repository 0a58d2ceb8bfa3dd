"""Pronunciations (espeak-ng phonemes) and a phoneme edit distance between surface forms.

Double Metaphone (:mod:`~emendo.correctors.entities.phonetic`) keys spellings by coarse
consonant rules and drops vowels; what a recogniser hears is a pronunciation. Here both
sides, the words of the hypothesis and a catalog name, are turned into phonemes by
espeak-ng's English letter-to-sound rules and dictionary (through the ``espeakbridge``
module of the ``piper-tts`` package, GPL-3.0, which bundles espeak-ng and its data), so
"bador" and Bhadaur both read /bædɔːɹ/ while Badr reads /bædɚ/.

:func:`phoneme_distance` mixes the normalised Levenshtein distance of the phoneme strings
with that of their reduced forms, where voiced/voiceless pairs and vowels of one region
share a symbol (a recogniser confuses /d/ and /t/ far more often than /d/ and /m/).

A text is pronounced word by word (the words' phonemes joined), so the words of an utterance
and of a catalog's names are pronounced once each, in batches. espeak-ng keeps global state,
so calls are serialised by a lock.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from rapidfuzz.distance import Levenshtein

from emendo.errors import ConfigError

VOICE = "en-us"
_MARKS = re.compile(r"[ˈˌːˑ\u0300-\u036f ʲ.,;:!?\-]")
_NOT_LETTER = re.compile(r"[^\w' ]+|_|\d")
# reduced symbols: voiced/voiceless pairs, nasals, and three vowel regions share one
_REDUCE = str.maketrans({
    "b": "p", "d": "t", "ɾ": "t", "g": "k", "ɡ": "k", "v": "f", "ð": "θ", "z": "s", "ʒ": "ʃ", "ŋ": "n",
    "r": "ɹ", "ɚ": "ɹ",
    "a": "A", "æ": "A", "ɑ": "A", "ʌ": "A", "ɐ": "A", "ɒ": "A",
    "e": "E", "ɛ": "E", "ə": "E", "ɪ": "E", "i": "E", "ᵻ": "E", "ɜ": "E",
    "o": "O", "ɔ": "O", "ʊ": "O", "u": "O",
})


class _Espeak:
    """The espeak-ng bridge, loaded on first use (import errors become a ConfigError)."""

    def __init__(self) -> None:
        self._bridge: Any = None
        self._lock = threading.Lock()

    def clauses(self, text: str) -> list[str]:
        """espeak-ng's phonemes of ``text``, one string per clause."""
        with self._lock:
            if self._bridge is None:
                try:
                    from piper import espeakbridge
                    from piper.phonemize_espeak import ESPEAK_DATA_DIR
                except ImportError as exc:
                    raise ConfigError("pronunciations need espeak-ng from the piper-tts package: "
                                      "pip install 'emendo[phonemes]'") from exc
                espeakbridge.initialize(str(ESPEAK_DATA_DIR))
                espeakbridge.set_voice(VOICE)
                self._bridge = espeakbridge
            return [p for p, _terminator, _end in self._bridge.get_phonemes(text)]


_ESPEAK = _Espeak()


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether espeak-ng can be loaded (the ``piper-tts`` package: ``pip install 'emendo[phonemes]'``)."""
    try:
        from piper import espeakbridge  # noqa: F401
    except ImportError:
        return False
    return True


def words(text: str) -> list[str]:
    """The words espeak-ng is given: letters and apostrophes, in the text's order."""
    found = (w.strip("'") for w in _NOT_LETTER.sub(" ", unicodedata.normalize("NFC", text)).split())
    return [w for w in found if w]


def _strip(phones: str) -> str:
    return _MARKS.sub("", unicodedata.normalize("NFD", re.sub(r"\([^)]+\)", "", phones)))


_cached: dict[str, str] = {}  # word -> phonemes
_texts: dict[str, tuple[str, str]] = {}  # text -> (phonemes, reduced phonemes)
_LIMIT = 500_000


def prefetch(texts: Iterable[str]) -> None:
    """Pronounce many texts, their new words in one espeak-ng call per 256 (~20 us a word instead
    of ~120 for a call of its own), into the caches."""
    wanted = list(dict.fromkeys(texts))
    new = [t for t in wanted if t not in _texts]
    if not new:
        return
    if len(_texts) + len(new) > _LIMIT:  # full: start again, keeping what this call was asked for
        forget()
        new = wanted
    split = {t: words(t) for t in new}
    prefetch_words(w for found in split.values() for w in found)
    for t, found in split.items():
        phones = "".join(_cached[w] for w in found)
        _texts[t] = phones, reduce(phones)


def prefetch_words(found: Iterable[str]) -> None:
    """Pronounce words (:func:`words`' output) not in the cache yet, 256 to an espeak-ng call."""
    wanted = list(dict.fromkeys(found))
    todo = [w for w in wanted if w not in _cached]
    if len(_cached) + len(todo) > _LIMIT:  # full: start again with these words (texts hold no others then)
        forget()
        todo = wanted
    for chunk in (todo[i:i + 256] for i in range(0, len(todo), 256)):
        out = _ESPEAK.clauses(", ".join(chunk))
        if len(out) != len(chunk):  # a word espeak split or joined: one call each
            out = ["".join(_ESPEAK.clauses(w)) for w in chunk]
        for w, p in zip(chunk, out, strict=True):
            _cached[w] = _strip(p)


def forget() -> None:
    """Empty the caches (benchmarks: a worker that has not pronounced anything yet)."""
    _cached.clear()
    _texts.clear()


def pronounce(text: str) -> tuple[str, str]:
    """:func:`phonemes` of ``text`` and their :func:`reduce`-d form (cached)."""
    hit = _texts.get(text)
    if hit is None:
        prefetch([text])
        hit = _texts[text]
    return hit


def phonemes(text: str) -> str:
    """The phonemes of ``text``'s words, without stress, length marks or word breaks ("" for no letters)."""
    return pronounce(text)[0]


def reduce(phones: str) -> str:
    """Voiced/voiceless pairs, nasals and vowel regions folded to one symbol each."""
    return phones.translate(_REDUCE)


def phoneme_distance(a: str, b: str) -> float:
    """Distance between two phoneme strings, 0 (same) .. 1: the mean of the normalised
    Levenshtein distances of the strings and of their :func:`reduce`-d forms."""
    return _distance((a, reduce(a)), (b, reduce(b)))


def _distance(a: tuple[str, str], b: tuple[str, str]) -> float:
    if a[0] == b[0]:
        return 0.0
    if not a[0] or not b[0]:
        return 1.0
    return 0.5 * (Levenshtein.normalized_distance(a[0], b[0]) + Levenshtein.normalized_distance(a[1], b[1]))


def distances(span: str, surfaces: Sequence[str]) -> list[float]:
    """:func:`phoneme_distance` from the span's pronunciation to each surface form's."""
    if span not in _texts or any(s not in _texts for s in surfaces):
        prefetch([span, *surfaces])
    heard = pronounce(span)  # (a full cache emptied by that call is refilled one text at a time)
    return [_distance(heard, pronounce(s)) for s in surfaces]

"""Phonetic keys (English Double Metaphone, a Russian phonetic normalisation) and a phonetic edit distance.

A *key* is what a surface form sounds like, coarsely: ``"New York"`` and ``"new yorke"``
both give ``NRK``. Words are joined before keying, so word-boundary errors of ASR
(``"newyork"``) give the same key. The script decides the scheme: text with Cyrillic letters
gets :func:`russian_key`, anything else Double Metaphone (``metaphone`` package, BSD).

:func:`phonetic_distance` (0 = same, 1 = unrelated) mixes a weighted Levenshtein distance
over the keys (similar sounds substitute cheaply) with the normalised character edit
distance of the folded spellings, so that OCR-style letter errors count too.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from metaphone import doublemetaphone
from rapidfuzz.distance import Levenshtein

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_NOT_WORD = re.compile(r"[^\w]+|_")

# Substitution classes for the weighted Levenshtein over keys: members of one class cost
# SIMILAR_COST to swap. Latin letters are Double Metaphone codes ('0' = th, 'X' = sh);
# lowercase ones are the vowel classes of russian_key.
_CLASSES = ("PFB", "T0D", "SXZ", "KGJ", "MN", "LR", "aiu")
SIMILAR_COST = 0.5  # key_distance counts in half units: this is fixed
_CLASS_ID = {ch: k for k, cls in enumerate(_CLASSES) for ch in cls}


def fold(text: str) -> str:
    """Lowercase, strip accents (but keep й/ё as letters of their own), drop non-letters and spaces.

    ``fold("New  York!") == "newyork"``; the spelling side of :func:`phonetic_distance`.
    """
    if text.isascii():  # nothing to normalise or strip: the same result at less than half the cost
        return _NOT_WORD.sub("", text.lower())
    text = unicodedata.normalize("NFD", text.lower().replace("ё", "е"))
    text = "".join(ch for ch in text if not unicodedata.combining(ch) or ch == "\u0306")
    return _NOT_WORD.sub("", unicodedata.normalize("NFC", text))


def is_cyrillic(text: str) -> bool:
    """Whether ``text`` contains a Cyrillic letter."""
    return _CYRILLIC.search(text) is not None


# ---------------------------------------------------------------- Russian

_TRANSLIT = {
    "а": "a", "б": "B", "в": "V", "г": "G", "д": "D", "е": "i", "ж": "J", "з": "Z", "и": "i",
    "й": "i", "к": "K", "л": "L", "м": "M", "н": "N", "о": "a", "п": "P", "р": "R", "с": "S",
    "т": "T", "у": "u", "ф": "F", "х": "H", "ц": "C", "ч": "Q", "ш": "X", "щ": "X", "ъ": "",
    "ь": "", "ы": "i", "э": "i", "ю": "u", "я": "a", "і": "i", "ї": "i", "є": "i", "ґ": "G",
    "ў": "u",
}
_DEVOICE = {"B": "P", "V": "F", "G": "K", "D": "T", "J": "X", "Z": "S"}
_VOICELESS = frozenset("PFKTXSCQH")


def russian_key(text: str) -> str:
    """A phonetic key for Russian (Cyrillic) text, in the style of the "Russian Metaphone".

    Vowels fold into three classes (а/о/я -> ``a``, е/и/ы/э/й -> ``i``, у/ю -> ``u``: unstressed
    vowel reduction, with stress unknown), voiced consonants devoice before a voiceless one and
    at the end (б->п, в->ф, г->к, д->т, ж->ш, з->с), тс/дс -> ц, ь and ъ vanish, and runs of one
    sound collapse. Consonants come out as uppercase Latin codes, vowels as lowercase.
    """
    letters = [_TRANSLIT.get(ch, ch.upper() if ch.isascii() and ch.isalpha() else "") for ch in fold(text)]
    codes = "".join(letters).replace("TS", "C").replace("DS", "C")
    out: list[str] = []
    for i, ch in enumerate(codes):
        nxt = codes[i + 1] if i + 1 < len(codes) else ""
        if ch in _DEVOICE and (not nxt or nxt in _VOICELESS):
            ch = _DEVOICE[ch]
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


_RU_ENDINGS = ("ами", "ями", "ого", "его", "ому", "ему", "ой", "ей", "ом", "ем", "ах", "ях", "ам", "ям", "ов",
               "ев", "ую", "юю", "ая", "яя", "ые", "ие", "ых", "их", "ым", "им", "ий", "ый", "а", "я", "ы", "и",
               "у", "ю", "е", "о", "ь", "й")


def russian_stem(text: str) -> str:
    """The folded words with a case ending cut from each (``"Москве"`` -> ``"москв"``; ``"в Нижнем
    Новгороде"`` -> ``"в нижн новгород"``).

    Used to tell an inflected form of a catalog name (clean Russian text) from a misspelling:
    a crude suffix cut, good enough to compare two words, not a morphological analyser.
    """
    stems = []
    for word in text.replace("-", " ").split():
        folded = fold(word)
        for ending in _RU_ENDINGS:
            if folded.endswith(ending) and len(folded) - len(ending) >= 3:
                folded = folded[: -len(ending)]
                break
        stems.append(folded)
    # words stay apart: joined, "чайковскам и" would give "чайковски", the stem of "Чайковский"
    return " ".join(stems)


# ---------------------------------------------------------------- keys


@lru_cache(maxsize=200_000)
def phonetic_keys(text: str) -> tuple[str, ...]:
    """The phonetic keys of a surface form: one for Russian, one or two (Double Metaphone) otherwise.

    Empty when the text has no letters.
    """
    if is_cyrillic(text):
        key = russian_key(text)
        return (key,) if key else ()
    folded = fold(text)
    if not folded:
        return ()
    primary, secondary = doublemetaphone(folded)
    if not primary:  # no consonant codes at all (e.g. "a"): fall back on the spelling
        return (folded.upper(),)
    return (primary, secondary) if secondary and secondary != primary else (primary,)


def key_distance(a: str, b: str) -> float:
    """Weighted Levenshtein distance between two keys: indel 1, substitution 1 or SIMILAR_COST (0.5)."""
    if a == b:
        return 0.0
    # some optimal alignment matches an equal prefix and suffix: the programme runs on the rest
    n, m = len(a), len(b)
    i = 0
    while i < n and i < m and a[i] == b[i]:
        i += 1
    j = 0
    while j < n - i and j < m - i and a[n - 1 - j] == b[m - 1 - j]:
        j += 1
    a, b = a[i:n - j], b[i:m - j]
    if not a or not b:
        return float(len(a) + len(b))
    # integer costs in half units (indel 2, substitution 2, within a class 1); a letter of no class
    # has class None on one side and -1 on the other, so it never counts as similar
    b_class = [_CLASS_ID.get(cb, -1) for cb in b]
    prev = list(range(0, 2 * len(b) + 1, 2))
    for row, ca in enumerate(a, 1):
        a_class = _CLASS_ID.get(ca)
        left = 2 * row
        cur = [left]
        for col, cb in enumerate(b):
            best = prev[col] + (0 if ca == cb else 1 if b_class[col] == a_class else 2)
            if prev[col + 1] + 2 < best:
                best = prev[col + 1] + 2
            if left + 2 < best:
                best = left + 2
            cur.append(best)
            left = best
        prev = cur
    return prev[-1] / 2


def normalised_key_distance(keys_a: tuple[str, ...], keys_b: tuple[str, ...]) -> float:
    """The smallest :func:`key_distance` over key pairs, divided by the longer key's length (0..1)."""
    best = 1.0
    for a in keys_a:
        for b in keys_b:
            longest = max(len(a), len(b))
            if longest:
                best = min(best, key_distance(a, b) / longest)
    return best


@dataclass(frozen=True, slots=True)
class DistanceWeights:
    """How :func:`phonetic_distance` mixes its two parts (weights sum to 1)."""

    phonetic: float = 0.5
    spelling: float = 0.5


DEFAULT_WEIGHTS = DistanceWeights()


def phonetic_distance(a: str, b: str, weights: DistanceWeights = DEFAULT_WEIGHTS) -> float:
    """Phonetic edit distance between two surface forms, 0 (same) .. 1 (unrelated).

    ``weights.phonetic`` x normalised weighted key distance + ``weights.spelling`` x
    normalised character Levenshtein distance of the :func:`fold`-ed spellings.
    """
    fa, fb = fold(a), fold(b)
    if fa == fb:
        return 0.0
    spelling = Levenshtein.normalized_distance(fa, fb)
    keys_a, keys_b = phonetic_keys(a), phonetic_keys(b)
    sound = normalised_key_distance(keys_a, keys_b) if keys_a and keys_b else 1.0
    return weights.phonetic * sound + weights.spelling * spelling

"""Russian names in the grammatical case of the text they replace.

A Russian recogniser writes a name in the case the sentence needs ("из навасибирска", "в
масскву"), while a catalog lists it in the nominative (Новосибирск, Москва). Comparing the
span with the nominative counts the case ending as an error, and writing the nominative in
its place breaks the sentence ("из Новосибирск"). :func:`nearest_form` gives the form of a
catalog name (singular, one of the six cases, every inflectable word inflected alike, via the
pymorphy3 analyser and its OpenCorpora dictionary) that is closest in spelling to the span:
"навасибирска" -> "Новосибирска", "масскву" -> "Москву". Names the analyser does not know as
a nominative lemma, and non-Cyrillic text, stay as they are. :func:`word_forms` lists every
form the dictionary has for a one-word name, so that the index can tell a correct inflection
("о Чайковском") from a misheard ending ("о чайковскам"). All three are memoised per name.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rapidfuzz.distance import Levenshtein

from emendo.correctors.entities.phonetic import fold, is_cyrillic

CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")  # nominative first: it wins ties
_PART = re.compile(r"[^\W\d_]+", re.UNICODE)  # the letter runs of a name (words, hyphenated parts)
# parses that may carry a name's case: nouns (places, people, things) and adjectives ("Нижний")
_INFLECTABLE = ("NOUN", "ADJF")


@lru_cache(maxsize=1)
def _analyser() -> Any:
    """pymorphy3's analyser (loaded once, ~0.1 s), or None when pymorphy3 is not installed."""
    try:
        import pymorphy3
    except ImportError:  # pragma: no cover - a core dependency; degrade to no inflection
        return None
    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=100_000)
def case_forms(name: str) -> tuple[str, ...]:
    """``name`` in each of :data:`CASES` (singular), letter case kept; ``(name,)`` when it cannot
    be inflected (not Cyrillic, unknown to the analyser, or not a nominative lemma)."""
    morph = _analyser()
    if morph is None or not is_cyrillic(name):
        return (name,)
    # the whole name first (pymorphy knows "Санкт-Петербург" as one word), else word by word
    words = [name] if "-" in name and " " not in name else name.split(" ")
    # only dictionary words (a guessed paradigm would invent forms, and guessing is the slow part)
    parses = [morph.parse(w) if morph.word_is_known(w) else [] for w in words]
    if not any(parses):
        return (name,)
    # an adjective agrees with its noun's animacy in the accusative ("Нижний Новгород", inanimate)
    animate = any(p[0].tag.POS == "NOUN" and p[0].tag.animacy == "anim" for p in parses if p)
    inflected: list[dict[str, str]] = []
    for word, word_parses in zip(words, parses, strict=True):
        forms = _word_forms(word, word_parses, animate)
        if forms is None and len(words) == 1 and "-" in word:
            return (name,)
        inflected.append(forms or {})
    if not any(inflected):
        return (name,)
    out = []
    for case in CASES:
        out.append(" ".join(_restore_case(forms.get(case, word), word) if forms else word
                            for word, forms in zip(words, inflected, strict=True)))
    return tuple(dict.fromkeys(out))


@lru_cache(maxsize=100_000)
def word_forms(name: str) -> frozenset[str] | None:
    """Every form the dictionary lists for a one-word Cyrillic name whose lemma it is (all cases
    and numbers, folded), or None when there is no such entry (several words, unknown, Latin)."""
    morph = _analyser()
    if morph is None or not is_cyrillic(name) or " " in name.strip() or not morph.word_is_known(name):
        return None
    forms = {fold(f.word) for parse in _lemma_parses(name, morph.parse(name)) for f in parse.lexeme}
    return frozenset(forms) or None


def nearest_form(name: str, span: str) -> str:
    """The case form of ``name`` spelt most like ``span`` (the nominative on ties); ``name`` itself
    unless both are Cyrillic."""
    if not is_cyrillic(span):
        return name
    forms = case_forms(name)
    if len(forms) == 1:
        return name
    target = fold(span)
    return min(forms, key=lambda f: Levenshtein.distance(fold(f), target))


def _word_forms(word: str, parses: list[Any], animate: bool) -> dict[str, str] | None:
    """One word's singular case forms (lower case), from its nominative parse whose lemma it is."""
    for parse in _lemma_parses(word, parses):
        tag = parse.tag
        if tag.case != "nomn" or tag.number == "plur":
            continue
        forms = {}
        for case in CASES:
            grammemes = {case, "sing"} if tag.number == "sing" else {case}
            if tag.POS == "ADJF" and case == "accs":
                grammemes.add("anim" if animate else "inan")
            got = parse.inflect(grammemes)
            if got is not None:
                forms[case] = got.word
        if len(forms) > 1:
            return forms
    return None


def _lemma_parses(word: str, parses: list[Any]) -> list[Any]:
    """The noun and adjective parses whose dictionary lemma is ``word`` itself (е for ё)."""
    lower = word.lower().replace("ё", "е")
    return [p for p in parses if p.tag.POS in _INFLECTABLE and p.normal_form.replace("ё", "е") == lower]


def _restore_case(form: str, original: str) -> str:
    """``form`` (lower case) with the capitals of ``original``'s parts ("санкт-петербурга" ->
    "Санкт-Петербурга")."""
    parts = _PART.findall(original)
    pieces = re.split(r"([^\W\d_]+)", form)
    k = 0
    for i, piece in enumerate(pieces):
        if piece and _PART.fullmatch(piece):
            if k < len(parts) and parts[k][:1].isupper():
                piece = piece[:1].upper() + piece[1:]
            if k < len(parts) and parts[k].isupper() and len(parts[k]) > 1:
                piece = piece.upper()
            pieces[i] = piece
            k += 1
    return "".join(pieces)

"""Bootstrap text-level corruption: clean text -> ASR-like or HTR/OCR-like noisy text (no torch).

A STOPGAP. This is a hand-written noise model, not fitted to any recognizer; it exists
so the denoising LM (issue 4) can be trained before the error simulator of issue 3 is
fitted on real TTS->ASR and handwriting->HTR pairs. Replace or mix it with that
simulator when it exists; pairs made here say ``"generator": "textnoise"`` in their
provenance.

ASR-like noise (word level, per sentence word-error rate drawn from
:attr:`NoiseOptions.asr_word_rate`): substitutions by phonetically or orthographically
close words of a :class:`Vocabulary` (a crude phonetic key per language, a small
English homophone list, and words one deletion away), deletions, insertions of
frequent short words, splits (``into`` -> ``in to``) and merges (``a lot`` -> ``alot``).
Case and punctuation around a word are kept. A share of ASR pairs
(:attr:`NoiseOptions.asr_spoken_share`) is made in "spoken" style on both sides (the
``hyporadise`` normalisation: lower case, no punctuation); some get an n-best list
whose alternatives differ from the 1-best in one or two words.

HTR/OCR-like noise (character level, per sentence rate from
:attr:`NoiseOptions.htr_char_rate`): visual confusions (``rn``/``m``, ``l``/``1``/``I``,
``e``/``c``, Cyrillic ``и``/``н``/``п``, ``ш``/``щ`` ...), Latin look-alikes in
Cyrillic words, dropped/inserted/doubled characters, missing and extra spaces,
dropped or confused punctuation, case slips.

:attr:`NoiseOptions.clean_share` of pairs (about a quarter) are left clean
(``noisy == clean``) so the corrector learns to copy; the others are corrupted until they
differ from the clean text (the rate doubles on each of up to four tries). Everything is deterministic for
a given seed (``random.Random`` seeded with a string; no set iteration order is used).
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from emendo.eval.normalize import get_preset
from emendo.records import Source, TrainingPair

__all__ = ["TEXTNOISE_VERSION", "NoiseOptions", "NoisyText", "TextNoiser", "Vocabulary"]

TEXTNOISE_VERSION = "1"
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_TOKEN = re.compile(r"^(\W*?)([^\W_].*?[^\W_]|[^\W_])?(\W*)$")
_SPOKEN = get_preset("hyporadise")


@dataclass(frozen=True, slots=True)
class NoiseOptions:
    """Rates of the bootstrap noise. Rate ranges are ``(low, high)``; a sentence's rate is skewed low."""

    clean_share: float = 0.25
    asr_word_rate: tuple[float, float] = (0.04, 0.35)
    htr_char_rate: tuple[float, float] = (0.01, 0.12)
    asr_spoken_share: float = 0.5
    nbest_share: float = 0.5
    nbest_max: int = 5


@dataclass(frozen=True, slots=True)
class NoisyText:
    """One corrupted text: ``noisy`` (the 1-best), the possibly restyled ``clean`` target, and details."""

    clean: str
    noisy: str
    nbest: tuple[str, ...] | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- vocabulary

_EN_HOMOPHONES = (
    ("their", "there", "they're"), ("to", "too", "two"), ("your", "you're"), ("its", "it's"), ("then", "than"),
    ("here", "hear"), ("know", "no"), ("write", "right"), ("whether", "weather"), ("by", "buy", "bye"),
    ("for", "four"), ("one", "won"), ("see", "sea"), ("new", "knew"), ("our", "hour"), ("which", "witch"),
    ("would", "wood"), ("been", "bin"), ("where", "wear"), ("whole", "hole"), ("peace", "piece"),
    ("week", "weak"), ("meet", "meat"), ("son", "sun"), ("made", "maid"), ("road", "rode"), ("allowed", "aloud"),
)
_EN_RULES = (("ph", "f"), ("ck", "k"), ("wh", "w"), ("gh", ""), ("kn", "n"), ("wr", "r"), ("dg", "j"),
             ("ce", "se"), ("ci", "si"), ("cy", "sy"), ("c", "k"), ("q", "k"), ("x", "ks"), ("z", "s"))
_RU_FINAL = str.maketrans("бвгджз", "пфктшс")
_RU_VOWELS = str.maketrans("оеёэыяю", "аииииау")


def phonetic_key(word: str, lang: str) -> str:
    """A crude sound-alike key: words with the same key are candidate ASR confusions."""
    w = word.lower().replace("'", "").replace("’", "")
    if lang == "ru":
        w = w.replace("тся", "ца").replace("ться", "ца").replace("ь", "").replace("ъ", "")
        w = w.translate(_RU_VOWELS)
        w = w[:-1] + w[-1:].translate(_RU_FINAL) if w else w
    else:
        for a, b in _EN_RULES:
            w = w.replace(a, b)
        if len(w) > 2 and w.endswith("e"):
            w = w[:-1]
        w = w[:1] + re.sub(r"[aeiouy]+", "a", w[1:])
    return re.sub(r"(.)\1+", r"\1", w)


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


class Vocabulary:
    """Word counts of one language with sound-alike and spelling-neighbour indexes."""

    def __init__(self, counts: Mapping[str, int], lang: str) -> None:
        self.lang = lang
        self.counts = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
        self._by_key: dict[str, list[str]] = {}
        self._by_delete: dict[str, list[str]] = {}
        for w in self.counts:
            self._by_key.setdefault(phonetic_key(w, lang), []).append(w)
            if len(w) >= 3:
                for d in (w, *_deletes(w)):
                    self._by_delete.setdefault(d, []).append(w)
        self._homophones: dict[str, list[str]] = {}
        if lang == "en":
            for group in _EN_HOMOPHONES:
                for w in group:
                    self._homophones[w] = [v for v in group if v != w and v in self.counts]
        short = [w for w in self.counts if len(w) <= 4]
        self.fillers: list[str] = short[:40] or list(self.counts)[:40]
        self._cache: dict[str, tuple[list[str], list[float]]] = {}

    @classmethod
    def from_texts(cls, texts: Iterable[str], lang: str, *, max_words: int = 60_000, min_count: int = 1) -> Vocabulary:
        """Count the alphabetic words (lower-cased) of ``texts``; keep the ``max_words`` most frequent."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(m.group(0).lower() for m in _WORD.finditer(text))
        kept = sorted(((w, c) for w, c in counts.items() if c >= min_count), key=lambda kv: (-kv[1], kv[0]))
        return cls(dict(kept[:max_words]), lang)

    def __len__(self) -> int:
        return len(self.counts)

    def candidates(self, word: str) -> tuple[list[str], list[float]]:
        """Close words (sound-alikes weigh more) and their sampling weights; cached."""
        w = word.lower()
        hit = self._cache.get(w)
        if hit is not None:
            return hit
        weights: dict[str, float] = {}
        for v in self._homophones.get(w, ()):
            weights[v] = weights.get(v, 0.0) + 50.0
        for v in self._by_key.get(phonetic_key(w, self.lang), ()):
            weights[v] = weights.get(v, 0.0) + 3.0 * math.sqrt(self.counts[v])
        if len(w) >= 3:
            for d in (w, *_deletes(w)):
                for v in self._by_delete.get(d, ()):
                    weights[v] = weights.get(v, 0.0) + math.sqrt(self.counts[v])
        weights.pop(w, None)
        ranked = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:30]
        out = ([v for v, _ in ranked], [x for _, x in ranked])
        if len(self._cache) < 200_000:
            self._cache[w] = out
        return out

    def similar(self, word: str, rng: random.Random) -> str | None:
        """A random close word, or None when there is none."""
        words, weights = self.candidates(word)
        return rng.choices(words, weights)[0] if words else None

    def split(self, word: str) -> tuple[str, str] | None:
        """The most frequent split of ``word`` into two vocabulary words (``into`` -> ``in``, ``to``)."""
        w = word.lower()
        best: tuple[int, str, str] | None = None
        for i in range(2, len(w) - 1):
            a, b = w[:i], w[i:]
            score = min(self.counts.get(a, 0), self.counts.get(b, 0))
            if score > 0 and (best is None or score > best[0]):
                best = (score, a, b)
        return (best[1], best[2]) if best else None


# ---------------------------------------------------------------- ASR-like noise


def _match_case(new: str, old: str) -> str:
    if len(old) > 1 and old.isupper():
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def _split_token(token: str) -> tuple[str, str, str]:
    m = _TOKEN.match(token)
    if not m:
        return "", token, ""
    return m.group(1), m.group(2) or "", m.group(3)


_ASR_OPS = ("sub", "del", "ins", "split", "merge")
_ASR_WEIGHTS = (0.58, 0.14, 0.12, 0.07, 0.09)


def _corrupt_words(words: Sequence[str], rate: float, vocab: Vocabulary, rng: random.Random,
                   ops: Counter[str]) -> list[list[str]]:
    """Per input word, its output words (a list: empty for a deletion, two for a split)."""
    slots = [[w] for w in words]
    i = 0
    while i < len(words):
        if rng.random() >= rate:
            i += 1
            continue
        op = rng.choices(_ASR_OPS, _ASR_WEIGHTS)[0]
        lead, core, trail = _split_token(words[i])
        if op == "split" and core and (parts := vocab.split(core)):
            slots[i] = [lead + _match_case(parts[0], core), parts[1] + trail]
        elif op == "merge" and i + 1 < len(words) and core and not trail:
            nxt_lead, nxt_core, nxt_trail = _split_token(words[i + 1])
            if nxt_lead or not nxt_core:
                i += 1
                continue
            slots[i] = [lead + core + nxt_core.lower() + nxt_trail]
            slots[i + 1] = []
            i += 1
        elif op == "del" and len(words) > 1:
            slots[i] = []
        elif op == "ins":
            filler = rng.choice(vocab.fillers) if vocab.fillers else core.lower()
            slots[i] = [words[i], filler] if rng.random() < 0.5 else [filler, words[i]]
        else:
            op = "sub"
            new = vocab.similar(core, rng) if core else None
            if new is None:
                i += 1
                continue
            slots[i] = [lead + _match_case(new, core) + trail]
        ops[op] += 1
        i += 1
    return slots


def _nbest(words: Sequence[str], slots: list[list[str]], vocab: Vocabulary, rng: random.Random,
           size: int) -> tuple[str, ...] | None:
    """The 1-best and up to ``size - 1`` distinct alternatives one or two words away from it (None if none)."""
    best = " ".join(w for s in slots for w in s)
    out = [best]
    wrong = [i for i, s in enumerate(slots) if s != [words[i]]]
    for _ in range(4 * size):
        if len(out) >= size:
            break
        alt = [list(s) for s in slots]
        for _ in range(rng.randint(1, 2)):
            if wrong and rng.random() < 0.5:
                i = rng.choice(wrong)
                alt[i] = [words[i]]
            else:
                i = rng.randrange(len(alt))
                if not alt[i]:
                    continue
                lead, core, trail = _split_token(alt[i][0])
                new = vocab.similar(core, rng) if core else None
                if new:
                    alt[i] = [lead + _match_case(new, core) + trail, *alt[i][1:]]
        text = " ".join(w for s in alt for w in s)
        if text and text not in out:
            out.append(text)
    return tuple(out) if len(out) > 1 else None


# ---------------------------------------------------------------- HTR/OCR-like noise

_LATIN_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "rn": ("m",), "m": ("rn", "nn", "in"), "cl": ("d",), "d": ("cl", "a"), "vv": ("w",), "w": ("vv", "v"),
    "ri": ("n",), "li": ("h",), "h": ("li", "b", "n"), "n": ("h", "ri", "u", "r"), "u": ("n", "v", "ii"),
    "v": ("u", "y"), "l": ("1", "I", "i", "t"), "I": ("l", "1"), "1": ("l", "I"), "i": ("l", "j", "1"),
    "j": ("i",), "e": ("c", "o"), "c": ("e", "o"), "o": ("0", "a", "c"), "O": ("0", "Q", "D"), "0": ("O", "o"),
    "a": ("o", "u", "d"), "t": ("f", "l"), "f": ("t",), "g": ("q", "y", "9"), "q": ("g",), "y": ("v", "g"),
    "s": ("5",), "S": ("5",), "5": ("S",), "B": ("8",), "8": ("B",), "b": ("h", "6"), "k": ("h",), "r": ("n", "v"),
    "E": ("F",), "F": ("E",), "P": ("R",), "R": ("P",), "C": ("G",), "G": ("C", "6"), "Z": ("2",), "2": ("Z",),
    ".": (",",), ",": (".",), ";": (":",), ":": (";",), "'": ("`",), "-": ("~",),
}
_CYRILLIC_CONFUSIONS: dict[str, tuple[str, ...]] = {
    "и": ("н", "п", "й"), "н": ("и", "п"), "п": ("н", "и", "л"), "л": ("д", "п"), "д": ("л", "а"),
    "т": ("г", "ш"), "г": ("т", "ч"), "ш": ("щ", "и", "т"), "щ": ("ш",), "ц": ("щ", "и"), "е": ("с", "ё", "о"),
    "ё": ("е",), "с": ("е", "о"), "о": ("а", "с", "0"), "а": ("о", "д"), "б": ("6", "д"), "в": ("8", "б"),
    "з": ("э", "3"), "э": ("з",), "ь": ("ъ", "б"), "ъ": ("ь",), "ы": ("ьі", "ьг"), "к": ("н", "х"),
    "х": ("ж", "к"), "ж": ("х",), "м": ("л", "ш"), "й": ("и",), "я": ("а", "л"), "у": ("ч",), "ч": ("у", "г"),
    "ии": ("ш",), "лл": ("м",), "ьі": ("ы",), "И": ("Н",), "Н": ("И",), "П": ("Н",), "З": ("3",), "О": ("0",),
    "Б": ("6",), "Т": ("Г",), "Г": ("Т",), "Ш": ("Щ",),
}
_LOOKALIKES = dict(zip("аеорсухАВЕКМНОРСТХ", "aeopcyxABEKMHOPCTX", strict=True))
_CONFUSIONS = {**_LATIN_CONFUSIONS, **_CYRILLIC_CONFUSIONS}


def _corrupt_chars(text: str, rate: float, rng: random.Random, ops: Counter[str]) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if rng.random() >= rate:
            out.append(ch)
            i += 1
            continue
        if ch == " ":
            if rng.random() < 0.7:
                ops["space_del"] += 1
            else:
                out.append(ch)
            i += 1
            continue
        if unicodedata.category(ch).startswith("P"):
            if rng.random() < 0.5 or ch not in _CONFUSIONS:
                ops["punct_drop"] += 1
            else:
                out.append(rng.choice(_CONFUSIONS[ch]))
                ops["confusion"] += 1
            i += 1
            continue
        r = rng.random()
        pair = text[i:i + 2]
        if r < 0.62 and (pair in _CONFUSIONS or ch in _CONFUSIONS):
            key = pair if pair in _CONFUSIONS and (ch not in _CONFUSIONS or rng.random() < 0.5) else ch
            out.append(rng.choice(_CONFUSIONS[key]))
            ops["confusion"] += 1
            i += len(key)
            continue
        if r < 0.68 and ch in _LOOKALIKES:
            out.append(_LOOKALIKES[ch])
            ops["lookalike"] += 1
        elif r < 0.78:
            ops["char_del"] += 1
        elif r < 0.85:
            out.append(ch + ch)
            ops["char_dup"] += 1
        elif r < 0.96 and 0 < i < n - 1 and text[i + 1] != " " and text[i - 1] != " ":
            out.append(ch + " ")
            ops["space_ins"] += 1
        elif ch.isalpha() and ch.swapcase() != ch:
            out.append(ch.swapcase())
            ops["case"] += 1
        else:
            out.append(ch)
        i += 1
    return " ".join("".join(out).split())


# ---------------------------------------------------------------- the noiser


_ATTEMPTS = 4


def _skewed(rng: random.Random, lo: float, hi: float) -> float:
    return lo + (hi - lo) * math.pow(rng.random(), 1.5)


class TextNoiser:
    """Makes (noisy, clean) pairs from clean text with per-language :class:`Vocabulary` objects."""

    def __init__(self, vocabularies: Mapping[str, Vocabulary], options: NoiseOptions | None = None) -> None:
        self.vocabularies = dict(vocabularies)
        self.options = options or NoiseOptions()

    def _vocab(self, lang: str) -> Vocabulary:
        vocab = self.vocabularies.get(lang)
        if vocab is None:
            vocab = self.vocabularies[lang] = Vocabulary({}, lang)
        return vocab

    def corrupt(self, clean: str, source: Source, lang: str, seed: int | str) -> NoisyText:
        """Corrupt one clean text; the same arguments always give the same result."""
        rng = random.Random(f"textnoise:{seed}")
        opts = self.options
        clean = " ".join(unicodedata.normalize("NFC", clean).split())
        keep = rng.random() < opts.clean_share
        ops: Counter[str] = Counter()
        info: dict[str, Any] = {"generator": "textnoise", "version": TEXTNOISE_VERSION}
        if source == "asr":
            spoken = rng.random() < opts.asr_spoken_share
            if spoken:
                clean = _SPOKEN.normalize(clean)
            rate = 0.0 if keep else _skewed(rng, *opts.asr_word_rate)
            words = clean.split()
            vocab = self._vocab(lang)
            slots = [[w] for w in words]
            for attempt in range(_ATTEMPTS if rate else 0):  # a noisy pair must differ: retry at higher rates
                slots = _corrupt_words(words, rate * 2**attempt, vocab, rng, ops)
                if slots != [[w] for w in words]:
                    break
            noisy = " ".join(w for s in slots for w in s) or clean
            nbest = None
            if words and rng.random() < opts.nbest_share:
                nbest = _nbest(words, slots, vocab, rng, rng.randint(2, max(2, opts.nbest_max)))
            info.update(style="spoken" if spoken else "written", rate=round(rate, 4))
        else:
            rate = 0.0 if keep else _skewed(rng, *opts.htr_char_rate)
            noisy = clean
            for attempt in range(_ATTEMPTS if rate else 0):
                noisy = _corrupt_chars(clean, rate * 2**attempt, rng, ops) or clean
                if noisy != clean:
                    break
            nbest = None
            info.update(style="written", rate=round(rate, 4))
        info["ops"] = dict(sorted(ops.items()))
        info["clean"] = noisy == clean
        return NoisyText(clean=clean, noisy=noisy, nbest=nbest, info=info)

    def pair(self, pair_id: str, clean: str, source: Source, lang: str, seed: int | str,
             provenance: Mapping[str, Any] | None = None) -> TrainingPair:
        """A :class:`TrainingPair` whose provenance holds the noise details plus ``provenance``."""
        out = self.corrupt(clean, source, lang, f"{seed}:{pair_id}")
        return TrainingPair(id=pair_id, source=source, lang=lang, clean=out.clean, noisy=out.noisy,
                            nbest=out.nbest, provenance={**(provenance or {}), **out.info})

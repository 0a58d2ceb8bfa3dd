"""KenLM sentence scoring, with the text normalisation the bundled LM was built with.

The bundled model (``emendo/data/lm/en.binary``, see its ``README.md``) is a pruned
word 4-gram over lower-cased, punctuation-free English, the same form as the
HyPoradise references. :func:`normalize_text` is applied both when the corpus is built
(``scripts/build_lm.py``) and when a sentence is scored, so that raw recognizer output
("Don't stop, Mr. Smith!") and the model agree on tokens ("don't stop mr smith").
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import unicodedata
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from emendo.errors import EmendoError

DEFAULT_MODEL_RESOURCE = "data/lm/en.binary"
LOG10_TO_LN = math.log(10.0)


class LanguageModelError(EmendoError):
    """The language model file is missing or cannot be loaded."""


# ---------------------------------------------------------------- normalisation

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
         "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_TENS = ("_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
_DASHES = re.compile(r"[\u2010-\u2015\u2212_/-]+")
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(st|nd|rd|th|s)?(?!\w)")
_NOT_WORD = re.compile(r"[^a-z0-9' ]+")
_EDGE_APOSTROPHE = re.compile(r"(?<![a-z0-9])'+|'+(?![a-z0-9])")
_SPACES = re.compile(r"\s+")


def _cardinal(n: int) -> str:
    """English words for a non-negative integer ("one hundred twenty three")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {_cardinal(rest)}" if rest else "")
    for value, word in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{_cardinal(head)} {word}" + (f" {_cardinal(rest)}" if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def _year(n: int) -> str:
    """Years read in pairs: 1987 -> "nineteen eighty seven", 1900 -> "nineteen hundred"."""
    head, tail = divmod(n, 100)
    if tail == 0:
        return f"{_cardinal(head)} hundred"
    return f"{_cardinal(head)} " + (f"oh {_ONES[tail]}" if tail < 10 else _cardinal(tail))


def _ordinal(words: str) -> str:
    last = words.rsplit(" ", 1)
    word = last[-1]
    if word in _ORDINAL_WORDS:
        word = _ORDINAL_WORDS[word]
    elif word.endswith("y"):
        word = word[:-1] + "ieth"
    else:
        word += "th"
    return " ".join([*last[:-1], word])


def spell_number(digits: str, fraction: str | None = None, suffix: str | None = None) -> str:
    """Spell a number as words: "1987" (a year), "155,221", "5.93", "22nd", "1960s"."""
    n = int(digits.replace(",", ""))
    if "," not in digits and len(digits) == 4 and 1100 <= n <= 1999 and fraction is None:
        words = _year(n)
    elif n >= 10**15:
        words = " ".join(_ONES[int(d)] for d in digits if d.isdigit())
    else:
        words = _cardinal(n)
    if fraction:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    if suffix in ("st", "nd", "rd", "th"):
        words = _ordinal(words)
    elif suffix == "s":
        words = words[:-1] + "ies" if words.endswith("y") else words + "s"
    return words


def normalize_text(text: str, *, spell_digits: bool = True) -> str:
    """The LM's token form: lower case, ASCII letters, no punctuation, apostrophes kept.

    Hyphens, dashes and slashes separate words; apostrophes survive only inside words
    ("don't", "shelley's"); accents are dropped; digits are spelled out unless
    ``spell_digits`` is false ("1987" -> "nineteen eighty seven", "22nd" -> "twenty
    second", "5.93" -> "five point nine three"); ``&`` and ``%`` become "and" and
    "percent". The result is a single space-separated line, possibly empty.
    """
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("&", " and ").replace("%", " percent ")
    text = _DASHES.sub(" ", text)
    if spell_digits:
        text = _NUMBER.sub(lambda m: f" {spell_number(m.group(1), m.group(2), m.group(3))} ", text)
    text = _NOT_WORD.sub(" ", text)
    text = _EDGE_APOSTROPHE.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


# ---------------------------------------------------------------- model files


def default_model_path() -> Path:
    """The bundled English model, located through :mod:`importlib.resources`."""
    return Path(str(resources.files("emendo").joinpath(DEFAULT_MODEL_RESOURCE)))


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a model file (cached per path, size and modification time)."""
    p = Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise LanguageModelError(f"language model not found: {p} ({exc.strerror})") from exc
    return _sha256(str(p.resolve()), st.st_size, st.st_mtime_ns)


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise LanguageModelError(
            f"language model not found: {path}. The bundled model ships in emendo/data/lm/en.binary; "
            "rebuild it with `python scripts/build_lm.py` or pass the path of a KenLM .binary/.arpa file"
        )


# ---------------------------------------------------------------- scorer


class KenLMScorer:
    """Scores sentences with a KenLM model (log10 probabilities, ``<s>``/``</s>`` included).

    The model is loaded on first use (thread-safe); ``path`` defaults to the bundled
    model. Text is passed through :func:`normalize_text` unless a method is told that it
    already is normalised.
    """

    def __init__(self, path: str | Path | None = None, *, spell_digits: bool = True) -> None:
        self.path = Path(path) if path is not None else default_model_path()
        self.spell_digits = spell_digits
        self._model: Any = None
        self._lock = threading.Lock()

    # -- loading

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Any:
        """Load (once) and return the underlying ``kenlm.Model``."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    _check_file(self.path)
                    try:
                        import kenlm
                    except ImportError as exc:  # pragma: no cover - kenlm is a core dependency
                        raise LanguageModelError("the kenlm package is not installed") from exc
                    try:
                        self._model = kenlm.Model(str(self.path))
                    except (OSError, RuntimeError) as exc:
                        raise LanguageModelError(f"cannot load language model {self.path}: {exc}") from exc
        return self._model

    @property
    def order(self) -> int:
        return int(self.load().order)

    def sha256(self) -> str:
        """SHA-256 of the model file (raises :class:`LanguageModelError` when it is missing)."""
        _check_file(self.path)
        return file_sha256(self.path)

    # -- scoring

    def normalize(self, text: str) -> str:
        return normalize_text(text, spell_digits=self.spell_digits)

    def score(self, text: str, *, bos: bool = True, eos: bool = True, normalized: bool = False) -> float:
        """log10 P(sentence), with sentence-start and sentence-end context by default."""
        sentence = text if normalized else self.normalize(text)
        return float(self.load().score(sentence, bos=bos, eos=eos))

    def score_per_word(self, text: str, *, normalized: bool = False) -> float:
        """log10 probability per predicted token (words plus ``</s>``): a length-normalised score."""
        sentence = text if normalized else self.normalize(text)
        return per_word(self.score(sentence, normalized=True), len(sentence.split()))

    def perplexity(self, text: str, *, normalized: bool = False) -> float:
        """Per-token perplexity (``</s>`` counted), as KenLM defines it."""
        return float(10.0 ** -self.score_per_word(text, normalized=normalized))

    def oov_count(self, text: str, *, normalized: bool = False) -> int:
        """How many words of ``text`` the model does not know."""
        sentence = text if normalized else self.normalize(text)
        return len(self.oov_words(sentence.split()))

    def oov_words(self, words: list[str]) -> frozenset[str]:
        """The (normalised) words the model does not know."""
        model = self.load()
        return frozenset(w for w in words if w not in model)


def per_word(log10_score: float, n_words: int) -> float:
    """Normalise a sentence score by its number of predicted tokens (words + ``</s>``)."""
    return log10_score / (n_words + 1)

"""Sentence corpora: splitting, normalisation, filtering, de-duplication and document-level splits.

The corpus builder (``scripts/build_corpora.py``) reads documents from
:mod:`emendo.synth.corpus_sources` and turns them into :class:`CorpusRecord` lines::

    {"id", "text", "lang", "source", "document", "licence", "split"}

* :func:`normalise` — NFC, one form of quotes and dashes, no control or zero-width
  characters, single spaces.
* :func:`split_sentences` — rule-based splitter for English and Russian prose.
* :func:`keep_sentence` — length and script filters (:class:`FilterOptions`).
* :class:`Deduplicator` — exact duplicates by a normalised-text key and near duplicates
  by MinHash LSH over character 4-grams, verified by exact Jaccard similarity.
* :func:`split_of` — train/dev/test by a seeded hash of the *document* id, so a document
  never spans two splits; since the de-duplicator keeps only the first of a cluster of
  (near) duplicates, no sentence or near duplicate crosses splits either.
* :func:`leakage` — the independent check of that claim over finished splits.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
import numpy.typing as npt

from emendo.errors import EmendoError

SPLITS = ("train", "dev", "test")
LANGS = ("en", "ru")


class CorpusError(EmendoError):
    """A corpus source or corpus file is missing, empty or malformed."""


# ------------------------------------------------------------------ normalisation

_CHAR_MAP = str.maketrans({
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\uff02": '"',
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u2012": "\u2013", "\u2015": "\u2014", "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2026": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2007": " ", "\u3000": " ", "\t": " ",
    "\u00ad": None, "\u200b": None, "\u200c": None, "\u200d": None, "\u2060": None, "\ufeff": None,
})
_SPACED_DASH = re.compile(r"\s+(?:--?|\u2013|\u2014)\s+|(?<=\w)--(?=\w)|\s*\u2014\s*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,;:.!?)\]»])")
_SPACE_AFTER_OPEN = re.compile(r"([(\[«])\s+")


def normalise(text: str) -> str:
    """NFC; curly quotes to straight ones (« » kept), spaced dashes and ``--`` to a spaced em dash,
    ``…`` to ``...``, no control/zero-width/soft-hyphen characters, single spaces, no space before , . ! ? etc."""
    text = unicodedata.normalize("NFC", text).translate(_CHAR_MAP)
    text = _CONTROL.sub(" ", text)
    text = _SPACED_DASH.sub(" \u2014 ", text)
    text = _SPACES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    text = _SPACE_AFTER_OPEN.sub(r"\1", text)
    return text.strip()


# ------------------------------------------------------------------ sentence splitting

ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "messrs", "dr", "st", "mme", "mlle", "col", "capt", "gen", "lieut", "rev", "esq", "sr", "jr",
    "hon", "vs", "viz", "ch", "vol", "no", "etc", "ft", "lt", "sgt", "maj", "prof", "gov", "sen", "rep", "fig", "e.g",
    "i.e", "cf", "al", "approx", "dept", "eq", "sec", "ref", "obs", "esp", "usu",
    "т", "д", "п", "г", "гг", "см", "ср", "др", "пр", "тыс", "млн", "млрд", "руб", "коп", "им", "ул", "стр", "рис",
    "табл", "напр", "англ", "лат", "греч", "франц", "нем", "др.-греч", "т.е", "т.д", "т.п", "т.к", "и.о", "проф",
})
_BOUNDARY = re.compile(r"[.!?]+[\"'\u00bb)\]]*\s+(?=[\"'\u00ab(\[\u2014-]*\s*[A-Z\u0410-\u042f\u04010-9])")
_LAST_WORD = re.compile(r"([\w.-]+?)\.?[.!?]*[\"'\u00bb)\]]*$")


def split_sentences(paragraph: str) -> list[str]:
    """Split at ``. ! ?`` followed by a capital or digit, except after abbreviations and initials.

    English and Russian alike; the paragraph should already be :func:`normalise` d.
    """
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(paragraph):
        head = paragraph[start:m.end()].strip()
        last = _LAST_WORD.search(head)
        if head.endswith(".") and last:
            word = last.group(1).strip(".")
            if word.lower() in ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
        out.append(head)
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


# ------------------------------------------------------------------ filtering


@dataclass(frozen=True)
class FilterOptions:
    """Which sentences are kept: word and character counts, share of letters, script purity."""

    min_words: int = 4
    max_words: int = 80
    min_chars: int = 15
    max_chars: int = 500
    min_letter_share: float = 0.7
    min_script_share: float = 0.8  # Russian; English needs max(this, 0.97) Latin letters
    require_end_punct: bool = True


_BAD = re.compile(r"[<>{}|=\\_@#^~*\[\]$%]|https?:|www\.|\.{4,}|\S+\.(?:com|org|net|ru|html?|py|txt)\b|::|\(\)")
_END = re.compile(r"[.!?][\"')\u00bb]*$")


def keep_sentence(text: str, lang: str, options: FilterOptions = FilterOptions()) -> bool:
    """Whether a normalised sentence is prose in ``lang``: length, letters, script, no markup or URLs."""
    words = text.split()
    if not options.min_words <= len(words) <= options.max_words:
        return False
    if not options.min_chars <= len(text) <= options.max_chars or _BAD.search(text) or "\ufffd" in text:
        return False
    if options.require_end_punct and not _END.search(text):
        return False
    if not (text[0].isupper() or text[0] in "\"'\u00ab(\u2014" or text[0].isdigit()):
        return False
    letters = [c for c in text if c.isalpha()]
    if len(letters) < options.min_letter_share * len(text.replace(" ", "")):
        return False
    cyrillic = sum("\u0400" <= c <= "\u04ff" for c in letters)
    if lang == "ru":
        return cyrillic >= options.min_script_share * len(letters)
    latin = sum(c.isascii() for c in letters)
    return cyrillic == 0 and latin >= max(options.min_script_share, 0.97) * len(letters)


# ------------------------------------------------------------------ de-duplication

_NOT_ALNUM = re.compile(r"[^\w]+|_")


def dedup_key(text: str) -> str:
    """The exact-duplicate key: case-folded, ``ё`` as ``е``, accents dropped, punctuation and spacing ignored."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("ё", "е"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NOT_ALNUM.sub(" ", text).strip()


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()


def shingles(key: str, k: int = 4) -> npt.NDArray[np.uint64]:
    """The distinct character k-grams of a :func:`dedup_key` as 64-bit integers (16 bits per character)."""
    codes = np.frombuffer(f" {key} ".encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) & np.uint64(0xFFFF)
    if len(codes) < k:
        codes = np.concatenate([codes, np.zeros(k - len(codes), dtype=np.uint64)])
    grams = np.zeros(len(codes) - k + 1, dtype=np.uint64)
    for i in range(k):
        grams = (grams << np.uint64(16)) | codes[i:len(codes) - k + 1 + i]
    return np.unique(grams)


def jaccard(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> float:
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter) if len(a) + len(b) else 1.0


@dataclass(frozen=True)
class DedupOptions:
    """MinHash LSH near-duplicate detection: ``bands * rows`` hash functions; pairs at or above
    ``threshold`` character-4-gram Jaccard similarity are near duplicates."""

    bands: int = 6
    rows: int = 4
    threshold: float = 0.8
    seed: int = 1


class MinHasher:
    def __init__(self, options: DedupOptions) -> None:
        rng = np.random.default_rng(options.seed)
        n = options.bands * options.rows
        self.options = options
        self._a = rng.integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 2**63, size=n, dtype=np.uint64)

    def band_keys(self, grams: npt.NDArray[np.uint64]) -> list[bytes]:
        """One key per LSH band (the band index is part of the key)."""
        with np.errstate(over="ignore"):
            hashed = (grams[None, :] * self._a[:, None] + self._b[:, None]) >> np.uint64(32)
        sig = hashed.min(axis=1).astype(np.uint32)
        r = self.options.rows
        return [bytes([i]) + sig[i * r:(i + 1) * r].tobytes() for i in range(self.options.bands)]


@dataclass
class Deduplicator:
    """Keeps the first of every group of exact or near duplicates; :meth:`add` says whether to keep a sentence."""

    options: DedupOptions = field(default_factory=DedupOptions)
    exact_dropped: int = 0
    near_dropped: int = 0

    def __post_init__(self) -> None:
        self._hasher = MinHasher(self.options)
        self._exact: set[bytes] = set()
        self._bands: dict[bytes, int] = {}
        self._keys: list[str] = []

    def _probe(self, text: str) -> tuple[str, int | None, str, list[bytes]]:
        key = dedup_key(text)
        if _digest(key) in self._exact:
            return "exact", None, key, []
        grams = shingles(key)
        bands = self._hasher.band_keys(grams)
        for band in bands:
            j = self._bands.get(band)
            if j is not None and jaccard(grams, shingles(self._keys[j])) >= self.options.threshold:
                return "near", j, key, bands
        return "", None, key, bands

    def find(self, text: str) -> tuple[str, str]:
        """("exact"|"near"|"", the normalised key of the kept sentence it duplicates, or "")."""
        kind, j, key, _ = self._probe(text)
        return kind, (key if kind == "exact" else self._keys[j] if j is not None else "")

    def add(self, text: str) -> bool:
        """True (and remember the sentence) unless it duplicates one kept before."""
        kind, _, key, bands = self._probe(text)
        if kind == "exact":
            self.exact_dropped += 1
            return False
        if kind == "near":
            self.near_dropped += 1
            return False
        self._exact.add(_digest(key))
        index = len(self._keys)
        self._keys.append(key)
        for band in bands:
            self._bands.setdefault(band, index)
        return True


# ------------------------------------------------------------------ splits and records


def split_of(document: str, seed: int, dev_share: float, test_share: float) -> str:
    """"train", "dev" or "test" from a seeded hash of the document id (stable across runs and sources)."""
    if dev_share < 0 or test_share < 0 or dev_share + test_share >= 1:
        raise CorpusError(f"bad split shares: dev={dev_share} test={test_share}")
    u = int.from_bytes(hashlib.sha1(f"{seed}:{document}".encode()).digest()[:8], "big") / 2**64
    return "test" if u < test_share else "dev" if u < test_share + dev_share else "train"


@dataclass(frozen=True)
class CorpusRecord:
    """One sentence of a corpus with its provenance."""

    id: str
    text: str
    lang: str
    source: str
    document: str
    licence: str
    split: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> CorpusRecord:
        try:
            data = json.loads(line)
            record = cls(**{k: data[k] for k in ("id", "text", "lang", "source", "document", "licence", "split")})
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CorpusError(f"not a corpus record ({exc}): {line[:80]!r}") from exc
        if not record.text or not record.licence or record.split not in SPLITS:
            raise CorpusError(f"corpus record {record.id!r}: empty text/licence or unknown split {record.split!r}")
        return record


# ------------------------------------------------------------------ leakage check


@dataclass(frozen=True)
class LeakageReport:
    """Sentences of dev/test (or of a document) that also occur, exactly or nearly, in another split."""

    exact: int
    near: int
    documents_in_two_splits: int
    examples: tuple[tuple[str, str], ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.exact or self.near or self.documents_in_two_splits)


def leakage(records: Iterable[CorpusRecord], options: DedupOptions = DedupOptions()) -> LeakageReport:
    """Count cross-split exact and near duplicates and documents assigned to two splits.

    Every split is indexed on its own; each dev/test sentence is then looked up in every other split.
    """
    by_split: dict[str, list[CorpusRecord]] = {s: [] for s in SPLITS}
    doc_split: dict[tuple[str, str], str] = {}
    docs_bad: set[tuple[str, str]] = set()
    for r in records:
        by_split[r.split].append(r)
        if doc_split.setdefault((r.source, r.document), r.split) != r.split:
            docs_bad.add((r.source, r.document))
    index: dict[str, Deduplicator] = {}
    for split, recs in by_split.items():
        index[split] = dedup = Deduplicator(options)
        for r in recs:
            dedup.add(r.text)
    exact = near = 0
    examples: list[tuple[str, str]] = []
    for split in ("dev", "test"):
        others = [s for s in SPLITS if s != split and (s == "train" or s > split)]
        for r in by_split[split]:
            for other in others:
                kind, match = index[other].find(r.text)
                if kind:
                    exact += kind == "exact"
                    near += kind == "near"
                    if len(examples) < 5:
                        examples.append((r.text, f"{other}: {match}"))
                    break
    return LeakageReport(exact, near, len(docs_bad), tuple(examples))


def count_by(records: Iterable[CorpusRecord], *fields: str) -> Mapping[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        key = "/".join(str(getattr(r, f)) for f in fields)
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))

"""PED-NEC: replace spans that sound like a catalog entity (phonetic edit distance named-entity correction).

For each hypothesis, every span of 1..``max_words`` whitespace tokens is a candidate; the
catalog index (:class:`~emendo.correctors.entities.index.EntityIndex`) proposes entities
whose surface forms lie within a threshold of it. Replacements are chosen best-first
(smallest distance, then longest span), never overlapping, and only the replaced characters
change: punctuation around a span, spacing and the rest of the text stay as they were.

Clean text must come through untouched, so the corrector is conservative:

* a span that already equals a surface form of the catalog (ignoring case, accents and
  spaces; for Russian, also an inflected form of it) is left alone, and so is every span
  inside it; a single word that is part of a catalog name (``Emma`` of ``Emma Goldman``)
  counts as such a span;
* in a span of several words, every common lowercase word must reappear in the entity's
  name (``new yorke`` -> ``New York``, never ``and Londen`` -> ``East London``);
* a span needs a word that the lexicon (common words of the language, shipped in
  ``emendo/data/entities``) does not know; a span of known words only is considered when one
  of its words is capitalised mid-sentence, and then under the much tighter
  ``max_distance_known`` with identical phonetic keys;
* the best candidate must beat the next different surface form by ``min_margin`` (two
  near-homophones are the dense retriever's job, not a coin toss).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from emendo.correctors.entities.catalog import Catalog
from emendo.correctors.entities.index import Candidate, EntityIndex
from emendo.correctors.entities.phonetic import fold, phonetic_keys
from emendo.errors import ConfigError
from emendo.records import Correction, Hypothesis

_TOKEN = re.compile(r"\S+")
_EDGE_PUNCT = "\"'“”‘’«»()[]{}<>.,;:!?…—–-*/\\"
_SENTENCE_END = (".", "!", "?", "…")
_POSSESSIVE = ("'s", "’s")
_INNER_PUNCT = re.compile(r"[^\w'’-]|--")  # "was:--he", "date(1": not a name
LEXICON_LANGS = ("en", "ru")
# closed-class words (articles, prepositions, pronouns, auxiliaries, numerals): part of the English lexicon,
# and never the whole of a span DANCER takes for a name
FUNCTION_WORDS = frozenset("""a an the and or but nor so yet for of to in on at by with from into onto upon about above
across after against along among around as before behind below beneath beside besides between beyond down
during except inside like near off out outside over past since than through throughout till toward towards
under underneath until up via within without i me my mine myself you your yours yourself yourselves he him his
himself she her hers herself it its itself we us our ours ourselves they them their theirs themselves this that
these those who whom whose which what whatever whoever whichever am is are was were be been being have has had
having do does did doing done will would shall should can could may might must ought not no yes if then else
when where why how all any both each either neither every few many more most much other another some such own
same too very just only also even ever never always here there now again once ok okay oh hey hi hello um uh
mr mrs ms dr st s t d ll m re ve don doesn didn isn aren wasn weren won wouldn couldn shouldn can't won't don't
i'm i've i'd i'll you're you've you'd you'll he's she's it's we're we've they're they've that's there's
let's isn't aren't wasn't weren't hasn't haven't hadn't doesn't didn't wouldn't couldn't shouldn't mustn't
one two three four five six seven eight nine ten eleven twelve twenty thirty hundred thousand million first
second third""".split())  # noqa: SIM905


@dataclass(frozen=True, slots=True)
class PedNecOptions:
    """Algorithm options of :class:`PedNecCorrector` (frozen: part of the corrector's identity)."""

    max_distance: float = 0.15  # spans with a word the lexicon does not know
    max_distance_known: float = 0.05  # spans of known words only (capitalised ones)
    max_words: int = 4
    min_chars: int = 4  # folded span length
    min_margin: float = 0.02  # best vs next different surface form
    limit: int = 5  # candidates fetched per span
    default_catalog: str = "default"
    use_canonical: bool = False  # write the entity's name instead of the matched alias
    # words WordNet writes capitalised that are not names ("friday", "april", "american", "lutheran",
    # and their plurals: ``builtin_proper_words``) count as known: on real HyPoradise output PED-NEC
    # wrote Faraday for "friday" 72 times in 3,964 ATIS queries. Session 13, 1,000 hypotheses per set:
    # WER +2.8/+5.8/+3.4/+5.0% -> +0.9/+3.3/+0.4/+4.6% (LibriSpeech clean, WSJ, ATIS, LibriSpeech
    # other); on the entity set's dev split NE-CER unchanged (1k/10k) or lower (100k)
    know_proper_words: bool = True
    # the recognisers whose records are corrected (``Hypothesis.source``); others pass unchanged: on
    # 5,000 BLN600 OCR lines (``htr``) PED-NEC made 105 lines better and 769 worse, CER +3.7% relative
    # (bench/entities_real_harm.py; OCR noise makes many unknown words, and capitalised ones are everywhere)
    sources: tuple[str, ...] = ("asr",)
    lowercase_if_input_lowercase: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.max_distance_known <= self.max_distance < 1:
            raise ConfigError("need 0 <= max_distance_known <= max_distance < 1")
        if not 1 <= self.max_words <= 8:
            raise ConfigError("max_words must lie in 1..8")
        if self.min_margin < 0 or self.limit < 1 or self.min_chars < 1:
            raise ConfigError("min_margin >= 0, limit >= 1 and min_chars >= 1 are required")


@dataclass(frozen=True, slots=True)
class _Token:
    start: int  # character offsets of the token's core (edge punctuation stripped)
    end: int
    text: str
    lead: bool  # leading punctuation was stripped
    trail: bool  # trailing punctuation was stripped
    sentence_start: bool


@dataclass(frozen=True, slots=True)
class Replacement:
    """One span PED-NEC replaced: tokens ``[first, last]`` (characters ``[start, end)``) became ``surface``."""

    first: int
    last: int
    start: int
    end: int
    before: str
    surface: str
    entity_id: str
    distance: float


@lru_cache(maxsize=4)
def builtin_lexicon(langs: tuple[str, ...] = LEXICON_LANGS) -> frozenset[str]:
    """Common lowercase words of the given languages, from ``emendo/data/entities/lexicon-<lang>.txt.gz``."""
    words: set[str] = set()
    root = resources.files("emendo.data").joinpath("entities")
    for lang in langs:
        resource = root.joinpath(f"lexicon-{lang}.txt.gz")
        if not resource.is_file():
            raise ConfigError(f"built-in lexicon for {lang!r} missing: run scripts/build_entity_catalogs.py")
        words.update(gzip.decompress(resource.read_bytes()).decode("utf-8").split())
    return frozenset(words)


@lru_cache(maxsize=1)
def builtin_proper_words() -> frozenset[str]:
    """English words written capitalised that are not names (demonyms, languages, days:
    "kuwaiti", "honduran"), lowercased, from ``emendo/data/entities/proper-en.txt.gz``."""
    resource = resources.files("emendo.data").joinpath("entities").joinpath("proper-en.txt.gz")
    if not resource.is_file():
        raise ConfigError("built-in proper-word list missing: run scripts/build_entity_catalogs.py")
    return frozenset(gzip.decompress(resource.read_bytes()).decode("utf-8").split())


def tokenize(text: str) -> list[_Token]:
    """Whitespace tokens, edge punctuation and possessive ``'s`` stripped (punctuation-only tokens dropped)."""
    out: list[_Token] = []
    previous_end = True
    for m in _TOKEN.finditer(text):
        raw = m.group()
        core = raw.strip(_EDGE_PUNCT)
        if core.lower().endswith(_POSSESSIVE) and len(core) > 2:
            core = core[:-2].rstrip(_EDGE_PUNCT)  # "chaikovsky's": the name is the core, "'s" stays
        if core:
            lead = raw.index(core)
            out.append(_Token(m.start() + lead, m.start() + lead + len(core), core, lead > 0,
                              lead + len(core) < len(raw), previous_end))
        previous_end = raw.endswith(_SENTENCE_END)
    return out


class PedNecCorrector:
    """Phonetic span matching against a :class:`Catalog`; implements the Corrector protocol."""

    name = "pednec"
    version = "1"

    def __init__(self, catalog: Catalog, options: PedNecOptions = PedNecOptions(),
                 lexicon: Collection[str] | None = None) -> None:
        self.catalog = catalog
        self.options = options
        self.lexicon = builtin_lexicon() if lexicon is None else lexicon
        self.proper_words = builtin_proper_words() if options.know_proper_words else frozenset()

    def correct(self, batch: Sequence[Hypothesis]) -> list[Correction]:
        out = []
        for hyp in batch:
            if hyp.source not in self.options.sources:
                out.append(Correction(hyp, hyp.text, confidence=1.0))
                continue
            text, replacements = self.correct_text(hyp.text, hyp.entities)
            confidence = 1.0
            for r in replacements:
                confidence *= 1.0 - r.distance
            out.append(Correction(hyp, text, confidence=confidence))
        return out

    def correct_text(self, text: str, catalog: str | None = None) -> tuple[str, list[Replacement]]:
        """The corrected text and the replacements made, in text order."""
        index = self._index(catalog)
        if index is None or not len(index):
            return text, []
        tokens = tokenize(text)
        chosen = self._choose(tokens, index, text)
        pieces, cursor = [], 0
        for r in chosen:
            pieces += [text[cursor:r.start], r.surface]
            cursor = r.end
        pieces.append(text[cursor:])
        return "".join(pieces), chosen

    def _index(self, catalog: str | None) -> EntityIndex | None:
        if catalog is not None and catalog in self.catalog:
            return self.catalog.index(catalog)
        return self.catalog.index(self.options.default_catalog)

    def _choose(self, tokens: list[_Token], index: EntityIndex, text: str) -> list[Replacement]:
        proposals: list[Replacement] = []
        protected: list[tuple[int, int]] = []
        for first in range(len(tokens)):
            for last in range(first, min(first + self.options.max_words, len(tokens))):
                if last > first and (tokens[last - 1].trail or tokens[last].lead):
                    break  # punctuation inside the span
                span = text[tokens[first].start:tokens[last].end]
                if index.exact(span) or (first == last and index.is_name_word(span)):
                    protected.append((first, last))
                    continue
                proposal = self._propose(tokens[first:last + 1], first, span, index)
                if proposal is not None:
                    proposals.append(proposal)
        proposals.sort(key=lambda r: (r.distance, r.first - r.last, r.first))
        taken: list[Replacement] = []
        for r in proposals:
            inside_protected = any(a <= r.first and r.last <= b for a, b in protected)
            if inside_protected or any(r.first <= t.last and t.first <= r.last for t in taken):
                continue
            taken.append(r)
        return sorted(taken, key=lambda r: r.first)

    def _propose(self, tokens: list[_Token], first: int, span: str, index: EntityIndex) -> Replacement | None:
        opts = self.options
        if len(fold(span)) < opts.min_chars or any(_INNER_PUNCT.search(t.text) for t in tokens):
            return None
        unknown = any(not self._known(t.text) for t in tokens)
        if not unknown and not any(t.text[:1].isupper() and not t.sentence_start for t in tokens):
            return None
        limit = opts.max_distance if unknown else opts.max_distance_known
        candidates = index.candidates(span, opts.limit, limit)
        if not candidates:
            return None
        candidates = [c for c in candidates if self._covers_known_words(tokens, c.surface)]
        if not candidates:
            return None
        best = candidates[0]
        if not unknown and set(phonetic_keys(span)).isdisjoint(phonetic_keys(best.surface)):
            return None
        if not self._clear_winner(best, candidates[1:]):
            return None
        surface = best.entity.name if opts.use_canonical else best.surface
        if opts.lowercase_if_input_lowercase and span.islower():
            surface = surface.lower()
        return Replacement(first, first + len(tokens) - 1, tokens[0].start, tokens[-1].end, span, surface,
                           best.entity.id, best.distance)

    def _covers_known_words(self, tokens: list[_Token], surface: str) -> bool:
        """Whether every lowercase known word of a multi-word span is a word of ``surface`` too.

        ``"new yorke"`` may become ``"New York"``, but ``"and Londen"`` may not become
        ``"East London"``: a common word is only replaced as part of a name that contains it.
        """
        if len(tokens) == 1:
            return True
        words = {fold(w) for w in surface.replace("-", " ").split()}
        return all(fold(t.text) in words for t in tokens if not t.text[:1].isupper() and self._known(t.text))

    def _clear_winner(self, best: Candidate, others: list[Candidate]) -> bool:
        rivals = [c for c in others if fold(c.surface) != fold(best.surface)]
        return not rivals or rivals[0].distance - best.distance >= self.options.min_margin

    def _known(self, word: str) -> bool:
        lower = word.lower().replace("ё", "е")
        if lower in self.lexicon or lower in self.proper_words or (
                lower.endswith("s") and lower[:-1] in self.proper_words):
            return True
        for suffix in ("'s", "’s"):
            if lower.endswith(suffix) and lower[: -len(suffix)] in self.lexicon:
                return True
        return len(fold(word)) <= 2 or not any(ch.isalpha() for ch in word)

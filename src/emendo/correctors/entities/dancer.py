"""DANCER-style entity correction: sound-alike candidates, chosen by context and descriptions.

For every span of the hypothesis that could be a misrecognised entity (same gates as
PED-NEC: a word the lexicon does not know, or a capitalised word inside the sentence), the
candidates are the union of

* phonetic candidates from the catalog index (names and aliases that sound alike), and
* dense candidates: the entities whose *descriptions* are nearest to the utterance
  (:class:`~emendo.correctors.entities.retrieval.DenseIndex`), kept when they also sound
  close enough to the span; the ``dense_top`` nearest may sound further off. Only these may
  claim a span of ordinary lower-case words (ASR often writes a name as common words), under
  ``dense_known_distance`` (``dense_top_known_distance`` for the nearest), and
* for a gated Latin-script span in a catalog of up to ``phone_catalog_limit`` entities, the names
  espeak-ng pronounces most like it (:class:`~emendo.correctors.entities.phone_index.PhoneIndex`).

A small learned scorer (logistic regression trained by ``scripts/train_dancer_reranker.py``
on synthetic confusions built from the catalog and the real evaluation set's dev split; weights
in ``emendo/data/models/dancer/reranker.json``) turns phonetic distance, the
utterance/description cosine, the dense rank and their margins over the other candidates into
a probability; when the hypothesis carries the recogniser's word confidences, the doubt about
the span's words (1 - their lowest confidence) is a feature too (``low_confidence``, with
``has_confidence`` telling the scorer whether there were any: plain text has none). Its decision
threshold is tuned on the real dev split, together with a catalog-size slope: the larger the
catalog, the likelier a span sounds like one of its names by chance, so the scorer's log-odds
move by ``size_slope`` per tenfold fewer entities than it was trained with
(:meth:`Reranker.size_shift`). A span that already
names a catalog entity is scored too (its own entity is a candidate, and choosing it keeps
the text), so a homophone of the intended entity can be replaced, but only at the stricter
``named_threshold``; a name the text already holds is not written again in place of other
words (``named_once``). A span is replaced only when its best candidate's probability reaches
``threshold``; otherwise the original is kept, which is what happens on clean, entity-free
text. Rules found on real ASR output keep correct words (``DancerOptions``): a span of one known
lower-case word needs ``named_threshold`` too ("plane" is not Plano), a demonym does not become the
name it derives from ("kuwaiti" is not Kuwait), a name with a number needs a spoken number in the
span ("richard" is not Richard I), and no span may cut through a name the text holds ("york to" in
"new york to montreal" is not Yorkton) or, unless ``around_names``, hold it with other words ("fran
clinton" for Franklin). Spans in Cyrillic have their own scorer and thresholds
(``reranker-ru.json``, trained on Russian examples), and a Russian name is written in the case
form nearest the span (:mod:`~emendo.correctors.entities.inflect`). When the recogniser gave word
confidences, a span of one or two known lower-case words one of which it was unsure of (below
``doubt_gate``) is gated like an unknown word: Whisper writes names as ordinary words and doubts them.

A scorer file may combine the feature scorer with the context scorer (``meta["context"]``;
:mod:`~emendo.correctors.entities.context`, a cross-encoder over the utterance and a candidate's
name and description): each Latin-script span's ``top`` best candidates by the features (at least
``floor``) are read by it, and a logistic combination of both log-odds decides, with
thresholds tuned for the combination (the bundled ``reranker-context.json``; ~2.7 ms a candidate on one thread).
A scorer file records the options its thresholds were tuned with (``meta["options"]``;
:meth:`DancerOptions.tuned_with`): ``reranker-context.json`` widens the candidates.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from emendo.correctors.entities.catalog import Catalog
from emendo.correctors.entities.context import ContextScorer
from emendo.correctors.entities.context import default_model_dir as context_model_dir
from emendo.correctors.entities.index import Candidate, EntityIndex, bounded_distance, cached_fold, class_key
from emendo.correctors.entities.inflect import nearest_form
from emendo.correctors.entities.pednec import FUNCTION_WORDS, builtin_lexicon, builtin_proper_words, tokenize
from emendo.correctors.entities.phone_index import PhoneIndex
from emendo.correctors.entities.phonemes import available as phonemes_available
from emendo.correctors.entities.phonemes import distances as phoneme_distances
from emendo.correctors.entities.phonemes import prefetch as prefetch_phonemes
from emendo.correctors.entities.phonemes import prefetch_words
from emendo.correctors.entities.phonemes import words as words_of
from emendo.correctors.entities.phonetic import DEFAULT_WEIGHTS, is_cyrillic, phonetic_keys
from emendo.correctors.entities.retrieval import DenseIndex, Embedder, FloatArray, entity_text
from emendo.correctors.entities.trees import Trees
from emendo.correctors.entities.types import Entity
from emendo.errors import ConfigError
from emendo.records import Correction, Hypothesis

FEATURES = ("distance", "distance_gap", "cosine", "cosine_gap", "cosine_rank0", "dense_hit", "unknown",
            "capitalised", "words", "candidates", "identical", "span_exact", "overlap", "overlap_gap", "gated",
            "dense_rank", "low_confidence", "has_confidence", "phone", "phone_gap")
_WORD = re.compile(r"[^\W\d_]{3,}")
_WHITESPACE_WORD = re.compile(r"\S+")
_STOP_WORDS = ("the and for with from that this was were are has have had its his her their who which "
               "one also not but into over under about after before")
_STOP = frozenset(_STOP_WORDS.split())
log = logging.getLogger(__name__)
# per span (token range): its context words; the description idf
_Context = tuple[dict[tuple[int, int], set[str]], dict[str, float]]


@dataclass(frozen=True, slots=True)
class DancerOptions:
    """Algorithm options of :class:`DancerCorrector`."""

    max_distance: float = 0.4  # phonetic distance for a candidate at all
    max_words: int = 3
    name_words: int = 6  # catalog names this long (in words) are recognised in the text and left alone
    min_chars: int = 4
    phonetic_limit: int = 8
    dense_k: int = 10  # 0 switches dense candidates off (descriptions still score the others)
    # a dense candidate (its description is near the utterance) may sound a little further from
    # a gated span than a phonetic-only one: the context vouches for it
    dense_distance: float = 0.4
    # spans of known lower-case words (which PED-NEC never touches) may still take an entity that
    # the utterance's context retrieved (dense_k) when it sounds this close: ASR often writes a
    # name as ordinary words ("fear" for Fier). On the first evaluation set's dev split, 0.2 lowered
    # DANCER's NE-CER at 1k and 10k entities (0.438 -> 0.431, 0.451 -> 0.445), left 100k
    # unchanged and changed no word of 3,858 entity-free ones; it costs an embedding on every
    # sentence (0 switches it off).
    dense_known_distance: float = 0.2
    # the ``dense_top`` entities nearest to the utterance are trusted more: they may sound up to
    # ``dense_top_distance`` from a gated span, ``dense_top_known_distance`` from a span of two or more
    # known words (ASR writes "Vespasian" as "best posh and" while the sentence quotes its
    # description) and ``dense_top_word_distance`` from one known word ("natter" for Natta; 0: the
    # strict ``dense_known_distance``). With the scorer retrained on the candidates each admits, the
    # real dev split's mean NE-CER reduction over PED-NEC at 1k/10k/100k entities: first set, top 3 at
    # 0.5/0.35 (one word strict): 11.8% -> 13.3%; merged set, top 3 -> 10: 14.7% -> 16.1%, with the
    # words changed outside the entity spans unchanged (0.22-0.39%). One known word at 0.4 as well
    # gave 17.1% but twice the changes outside entity spans (0.42-0.59%: "ever" -> Aveiro), and at
    # equal off-entity changes less than top 10 alone, so it stays off
    dense_top: int = 10
    dense_top_distance: float = 0.5
    dense_top_known_distance: float = 0.35
    dense_top_word_distance: float = 0.0
    threshold: float | None = None  # None: the threshold tuned with the reranker's weights
    # replacing a span that already names a catalog entity (by another entity, a homophone) needs at
    # least this probability (None: the one tuned with the weights; never below ``threshold``): correct
    # names are the common case, and a sound-alike put in their place is harm (Murmansk -> Morshansk)
    named_threshold: float | None = None
    # embed the utterance on a worker thread while the phonetic lookups run: lower latency with a
    # free core, higher on a saturated 2-core machine (bench notes), hence off by default
    overlap_embedding: bool = False
    # a name the utterance already contains is not written again in place of other words: fed correct
    # text that quotes an entity's description ("Have you heard of Hart? ... lyricist"), the context
    # points at that very entity and a description word ("heard") sounds like it. Another name of
    # the entity may still be written ("vietta, the capital of Malta" -> Valletta)
    named_once: bool = True
    # a word written capitalised that is not a name (a demonym: "kuwaiti", "honduran", "american";
    # ``proper_words``, by default WordNet's) is a word of the language, not the misheard name it
    # derives from: it does not take a name sharing all but its last three letters or fewer (Kuwait,
    # Honduras, Americana). On real WSJ and ATIS output DANCER wrote those three; on the evaluation
    # set's dev split NE-CER stayed as it was at every catalog size
    keep_derived_words: bool = True
    # spans made only of function words ("been to", "from", "we are": ``pednec.FUNCTION_WORDS``) are scored
    # too. On the evaluation set's dev split DANCER wrote a name for 9 / 13 / 7 of them at 1k / 10k / 100k
    # entities, 4 / 2 / 0 rightly ("her for" -> Herford, "on the" -> Onda), the others template words
    # ("been to" -> Bonito, "from" -> Frome). False drops them: reference words changed 0.29 -> 0.23%,
    # NE-CER reduction 23.2 -> 22.6% (1k), 14.6 -> 14.0% (10k), 8.7 -> 8.6% (100k); on 2,836 real
    # HyPoradise hypotheses no such span was changed either way, so the default keeps the gain
    function_word_spans: bool = True
    # a span of one known lower-case word (only dense candidates reach it: "natter" for Natta) is
    # replaced only at the named threshold, like a name: on real LibriSpeech and ATIS output DANCER
    # wrote "kings" -> 1 Kings and "plane" -> Plano at 0.41 / 0.49
    strict_known_words: bool = True
    # the recognisers whose records are corrected (``Hypothesis.source``); others pass unchanged. The
    # scorer learnt and was tuned on ASR errors; on 5,000 BLN600 OCR lines (``htr``) it made 21 worse and
    # none better ("becaine" -> Begūn, "Joseph" -> Józefów): CER +0.2% relative (bench/entities_real_harm.py)
    sources: tuple[str, ...] = ("asr",)
    # a span of known lower-case words is gated like an unknown word (phonetic candidates, the
    # ordinary threshold) when the recogniser gave one of its words a confidence below this: Whisper
    # writes names as common words ("guard the" for Guarda) and is unsure of them (0: off). Only spans
    # of up to ``doubt_words`` words, not all function words, are gated so; not Cyrillic ones (the Russian
    # scorer learnt from recogniser output without confidences)
    doubt_gate: float = 0.5
    doubt_words: int = 2
    # plain text (no word confidences) gives no sign that a correctly spelled catalog name is wrong:
    # such a span is not replaced by another entity ("pittsburgh" -> Pittsburg, "iraq" -> Arāk on real
    # ATIS and WSJ output, where nothing else changed). With confidences, one may be at
    # ``named_threshold``. Not for Cyrillic spans: the Russian scorer was trained and tuned on plain text
    replace_names_in_plain_text: bool = False
    # the thresholds are tuned on recogniser output with its word confidences; in plain text every
    # replacement needs ``named_threshold`` (real HyPoradise output, which has none,
    # docs/entities-experiments.md "Robustness")
    strict_plain_text: bool = True
    # a gated Latin-script span also takes the ``phone_limit`` entities whose names espeak-ng pronounces
    # most like it (reduced pronunciations within ``phone_distance``, :mod:`~emendo.correctors.entities.
    # phone_index`), when the scorer reads pronunciations: Whisper writes names so that neither spelling
    # nor Double Metaphone is close enough ("denmark" for Dinar). Retrained with them, on the test split
    # at every size: NE-CER reduction 28.1 / 18.8 / 9.9% -> 29.1 / 20.4 / 12.6% at 1k / 10k / 100k,
    # candidate ceiling 36.2 / 29.3 / 22.1% -> 38.6 / 32.6 / 24.5% (docs/entities-experiments.md, session 18). 0: off
    phone_limit: int = 4
    phone_distance: float = 0.3
    # ... for catalogs of at most this many entities (0: any size). The lookups cost ~0.6 ms an utterance
    # at 100k entities and the extra candidates' features ~0.5 ms more, which takes the 100k p50 from 4.7
    # to 6.0 ms; there they raised the test split's NE-CER reduction from 9.9% to 12.6%
    # (docs/entities-experiments.md, session 18)
    phone_catalog_limit: int = 50_000
    # a gated Latin-script span's phonetic lookup fetches the ``phonetic_pool`` nearest entities and keeps
    # the ``phonetic_limit`` of them whose distance less ``pool_cosine`` times their description's cosine
    # to the utterance is smallest: in a large catalog the context tells sound-alikes apart before the
    # scorer does (0: the ``phonetic_limit`` nearest by sound alone). A pool of 32 at 0.5 raised the dev
    # split's candidate ceiling at 100k entities from 21.8 to 25.2%, but the retrained scorer's NE-CER
    # reduction only from 9.0 to 9.7% there (28.2 / 19.6% at 1k / 10k against 29.4 / 20.8%), for
    # 0.3 ms more of lookups an utterance: off (docs/entities-experiments.md, session 19)
    phonetic_pool: int = 0
    pool_cosine: float = 0.5
    # each Latin-script span's few best candidates (``Reranker.stack``: top and floor) are read once more
    # by the context scorer, a cross-encoder over the utterance and the candidate's name and description
    # (:mod:`~emendo.correctors.entities.context`), when the scorer has a combination for it (the bundled
    # one does). False: the feature scorer alone, with the thresholds tuned for it alone
    context_scorer: bool = True
    # at most this many context-scorer reads an utterance (0: no limit): the candidates with the highest
    # feature probability among those ``Reranker.stack`` picks; the others are not written (their
    # probability is held at the stack's floor). Each read costs ~2.3 ms on one thread, so this bounds
    # the context profile's latency
    context_reads: int = 0
    # a span that holds a catalog name and more words, one of them a word the lexicon lacks or one the
    # recogniser doubted (``doubt_gate``), is scored too, at the named threshold, as replacing a name:
    # the recogniser split a name into a name and other words ("fran clinton" for Franklin, "linden
    # hurstley" for Lindenhurst). Latin-script spans only. False: every span sharing a token with a name
    # is left alone (spans cutting through a name or inside it always are: "york to" in "new york to
    # montreal"). At 100k entities on the dev split it put the gold entity among the candidates of 15
    # more of 811 entity spans (241 -> 256); with the default scorer and thresholds the test split's
    # NE-CER stayed as it was (29.1 / 20.4 / 11.7%, ceiling 38.6 / 32.6 / 22.1 -> 38.6 / 32.9 / 22.5%),
    # so it is off by default; ``reranker-context.json`` turns it on (docs/entities-experiments.md, session 21)
    around_names: bool = False
    default_catalog: str = "default"

    def __post_init__(self) -> None:
        bad_threshold = any(t is not None and not 0 < t <= 1 for t in (self.threshold, self.named_threshold))
        if not 0 < self.max_distance < 1 or bad_threshold or not 1 <= self.max_words <= 8:
            raise ConfigError("need 0 < max_distance < 1, 0 < threshold <= 1, 1 <= max_words <= 8")
        limits = (self.dense_distance, self.dense_known_distance, self.dense_top_distance,
                  self.dense_top_known_distance, self.dense_top_word_distance)
        if not all(0 <= x < 1 for x in limits) or self.dense_k < 0 or self.dense_top < 0:
            raise ConfigError("need dense distances in [0, 1), dense_k >= 0 and dense_top >= 0")
        if not 0 <= self.doubt_gate <= 1 or self.doubt_words < 1:
            raise ConfigError("need 0 <= doubt_gate <= 1 and doubt_words >= 1")
        if self.phone_limit < 0 or not 0 <= self.phone_distance < 1 or self.phone_catalog_limit < 0:
            raise ConfigError("need phone_limit >= 0, 0 <= phone_distance < 1 and phone_catalog_limit >= 0")
        if self.phonetic_pool < 0 or self.pool_cosine < 0 or self.context_reads < 0:
            raise ConfigError("need phonetic_pool >= 0, pool_cosine >= 0 and context_reads >= 0")

    @classmethod
    def tuned_with(cls, reranker: Reranker | None, **overrides: Any) -> DancerOptions:
        """The options ``reranker``'s thresholds were tuned with (``meta["options"]``, as
        ``scripts/train_dancer_reranker.py`` records them; defaults for fields it does not name),
        then ``overrides``: a scorer is served as it was measured."""
        given = dict(reranker.meta.get("options", {})) if reranker is not None else {}
        unknown = sorted(set(given) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"the scorer names DANCER options this version lacks: {', '.join(unknown)}")
        if "sources" in given:
            given["sources"] = tuple(given["sources"])
        return cls(**{**given, **overrides})


@dataclass(frozen=True, slots=True)
class Scored:
    """One (span, candidate) pair with its features and probability."""

    first: int  # token indexes
    last: int
    start: int  # character offsets
    end: int
    entity: Entity
    surface: str
    features: tuple[float, ...]
    probability: float = 0.0
    context: float | None = None  # the context scorer's logit, when it was asked
    around_name: bool = False  # the span holds a catalog name and more words (``around_names``)


@dataclass(frozen=True, slots=True)
class _Gathered:
    """One span (as :meth:`DancerCorrector._spans` gives it) with its candidates, entity id -> (entity,
    surface form, distance), and the recogniser's doubt about its words."""

    span: tuple[int, int, int, int, bool, bool, bool]
    found: dict[str, tuple[Entity, str, float]]
    doubt: float | None


@dataclass(frozen=True, slots=True)
class Reranker:
    """The candidate scorer over :data:`FEATURES`: log-odds ``bias`` + a boosted tree ensemble
    (``trees``, when given) or else logistic regression (``weights`` over the features
    standardised with ``mean``/``scale``), + the catalog-size shift, through a sigmoid."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    meta: dict[str, Any]
    trees: Trees | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> Reranker:
        """Read weights written by the training script (default: the bundled ones)."""
        src = Path(path) if path else bundled_weights()
        if not src.is_file():
            raise ConfigError(f"{src}: no reranker weights; run scripts/train_dancer_reranker.py")
        data = json.loads(src.read_text())
        # weights trained before later features were added read the first features only
        trained = tuple(data["features"])
        if not trained or FEATURES[:len(trained)] != trained:
            raise ConfigError(f"{src}: trained on features {data['features']}, this code has {FEATURES}")
        trees = Trees.from_dict(data["trees"], len(trained)) if data.get("trees") else None
        return cls(tuple(data["weights"]), float(data["bias"]), tuple(data["mean"]), tuple(data["scale"]),
                   data.get("meta", {}), trees)

    def raw(self, table: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """The feature scorer's log-odds of every row of a (candidates x features) table, at the
        catalog size it was trained at, without the context scorer."""
        table = table[:, :self.feature_count]
        z: npt.NDArray[np.float64] = self.bias + (
            self.trees.raw(table) if self.trees is not None
            else ((table - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights))
        return z

    def probabilities(self, table: npt.NDArray[np.float64], catalog_size: int | None = None,
                      context: npt.NDArray[np.float64] | None = None) -> npt.NDArray[np.float64]:
        """:meth:`probability` of every row of a (candidates x features) table; ``context``: the
        context scorer's logit of each row (NaN where it was not asked), combined with the feature
        scorer's log-odds as :attr:`stack` says."""
        z = self.raw(table)
        stack = self.stack
        if context is not None and stack is not None:
            asked = ~np.isnan(context)
            z = np.where(asked, stack["lr"] * z + stack["context"] * np.nan_to_num(context) + stack["bias"], z)
        z = z + self.size_shift(catalog_size)
        out: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
        return out

    @property
    def stack(self) -> dict[str, Any] | None:
        """How the context scorer's logit joins the feature scorer (``meta["context"]``), or None:
        ``lr`` x the feature log-odds + ``context`` x the logit + ``bias``, for each span's ``top``
        candidates whose feature probability (at the serving catalog size) is at least ``floor``;
        ``model``: the context scorer's folder under ``emendo/data/models``."""
        found = self.meta.get("context")
        return found if isinstance(found, dict) else None

    def probability(self, features: Sequence[float], catalog_size: int | None = None) -> float:
        """The probability that a candidate (its :data:`FEATURES`) is the entity the span meant,
        in a catalog of ``catalog_size`` entities (None: the size the weights were trained at), by
        the feature scorer alone."""
        if self.trees is not None:
            return float(self.probabilities(np.asarray([features], dtype=np.float64), catalog_size)[0])
        z = self.bias + self.size_shift(catalog_size) + sum(
            w * (x - m) / s for w, x, m, s in zip(self.weights, features[:self.feature_count], self.mean, self.scale,
                                                  strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    @property
    def feature_count(self) -> int:
        """How many of :data:`FEATURES` (the first ones) the scorer reads."""
        return len(self.mean)

    def size_shift(self, catalog_size: int | None) -> float:
        """Log-odds added for a catalog of ``catalog_size`` entities: ``meta.size_slope`` per tenfold
        below the size the weights were trained at (``meta.size_reference``), less above it. The
        more entities, the likelier a span sounds like one of them by chance, so the same features
        are weaker evidence in a larger catalog. Sizes below ``meta.size_floor`` (the smallest
        the slope was tuned at) count as that size."""
        slope = float(self.meta.get("size_slope", 0.0))
        if not slope or not catalog_size:
            return 0.0
        reference = float(self.meta.get("size_reference", catalog_size))
        floor = float(self.meta.get("size_floor", 1))
        return slope * math.log10(reference / max(float(catalog_size), floor))


class DancerCorrector:
    """Description-augmented entity correction over one :class:`Catalog`; a Corrector."""

    name = "dancer"
    version = "1"

    def __init__(self, catalog: Catalog, embedder: Embedder, dense: dict[str, DenseIndex], *,
                 reranker: Reranker | None = None, options: DancerOptions = DancerOptions(),
                 lexicon: Collection[str] | None = None, cyrillic_reranker: Reranker | None = None,
                 proper_words: Collection[str] | None = None, context_scorer: ContextScorer | None = None,
                 onnx_threads: int = 1) -> None:
        """``onnx_threads``: ONNX Runtime intra-op threads of the context scorer this corrector loads
        itself (the ``embedder``'s are its own)."""
        self.catalog = catalog
        self.embedder = embedder
        self.dense = dense  # catalog name -> dense index over that catalog's entities
        # spans in Cyrillic have their own scorer (trained on Russian examples, its own thresholds):
        # by default the bundled one when ``reranker`` is bundled too, else ``reranker`` for both
        bundled_ru = bundled_weights("ru")
        if cyrillic_reranker is None:
            cyrillic_reranker = Reranker.load(bundled_ru) if reranker is None and bundled_ru.is_file() else reranker
        self.reranker = reranker or Reranker.load()
        self.cyrillic_reranker = cyrillic_reranker or self.reranker
        if self.reads_pronunciations and not phonemes_available():
            raise ConfigError("this DANCER scorer reads pronunciations: pip install 'emendo[phonemes]' (espeak-ng)")
        self.options = options
        # the context scorer: given, else the one the scorer's combination names, unless switched off
        stack = self.reranker.stack
        if not options.context_scorer or stack is None:
            context_scorer = None
        elif context_scorer is None:
            context_scorer = ContextScorer(context_model_dir(stack.get("model", "context")),
                                           intra_op_threads=onnx_threads)
        self.context_scorer = context_scorer
        if context_scorer is not None:  # records say which corrections the context scorer helped decide
            self.version = f"{type(self).version}+context.{context_scorer.fingerprint}"
        if context_scorer is not None and stack is not None and stack.get("fingerprint") not in (
                None, context_scorer.fingerprint):
            log.warning("DANCER scorer combined with context scorer %s, served with %s: retune it",
                        stack.get("fingerprint"), context_scorer.fingerprint)
        self.lexicon = builtin_lexicon() if lexicon is None else lexicon
        self.proper_words: Collection[str] = (builtin_proper_words() if proper_words is None else proper_words) \
            if options.keep_derived_words else frozenset()
        self._idf: dict[str, dict[str, float]] = {}  # catalog name -> description word -> idf
        self._phones: dict[str, PhoneIndex] = {}  # catalog name -> its names by pronunciation
        self._pool: ThreadPoolExecutor | None = None
        self.threshold, self.named_threshold = self._thresholds(self.reranker)
        self.cyrillic_thresholds = self._thresholds(self.cyrillic_reranker)
        for r in {id(r): r for r in (self.reranker, self.cyrillic_reranker)}.values():
            trained_with = r.meta.get("encoder")
            if trained_with and trained_with != embedder.fingerprint:
                log.warning("DANCER scorer trained with sentence encoder %s, served with %s: its cosine features "
                            "mean something else; retrain it with --encoder", trained_with, embedder.fingerprint)

    def _thresholds(self, reranker: Reranker) -> tuple[float, float]:
        """(threshold, named threshold): the options' when set, else those tuned with the weights."""
        opts = self.options
        threshold = opts.threshold if opts.threshold is not None else float(reranker.meta.get("threshold", 0.5))
        named = opts.named_threshold if opts.named_threshold is not None else float(
            reranker.meta.get("named_threshold", threshold))
        return threshold, max(named, threshold)

    def correct(self, batch: Sequence[Hypothesis]) -> list[Correction]:
        out = []
        for hyp in batch:
            if hyp.source not in self.options.sources:
                out.append(Correction(hyp, hyp.text, confidence=1.0))
                continue
            # the scorer learnt what Whisper's word confidences mean; a handwriting recogniser's are
            # on another scale, so HTR records (with ``sources`` naming them) are scored as plain text
            confidences = hyp.confidences if hyp.source == "asr" else None
            text, chosen = self.correct_text(hyp.text, hyp.entities, confidences)
            confidence = 1.0
            for s in chosen:
                confidence *= s.probability
            out.append(Correction(hyp, text, confidence=confidence))
        return out

    def correct_text(self, text: str, catalog: str | None = None,
                     confidences: Sequence[float] | None = None) -> tuple[str, list[Scored]]:
        """The corrected text and the replacements made (in text order); ``confidences``: the
        recogniser's per-word confidences of ``text`` (whitespace words), when it gave them."""
        return self.apply(text, self.score_text(text, catalog, confidences))

    def score_text(self, text: str, catalog: str | None = None,
                   confidences: Sequence[float] | None = None) -> list[Scored]:
        """Every candidate of every span of ``text`` with its probability (no decision yet)."""
        name = catalog if catalog is not None and catalog in self.catalog else self.options.default_catalog
        index = self.catalog.index(name)
        if index is None or not len(index):
            return []
        return self.score_spans(text, index, self.dense.get(name), self.idf(name), confidences, self.phones(name))

    def apply(self, text: str, scored: Sequence[Scored], threshold: float | None = None,
              named_threshold: float | None = None) -> tuple[str, list[Scored]]:
        """Replace, in ``text``, each span's best candidate whose probability reaches ``threshold``
        (default: :attr:`threshold`, :attr:`cyrillic_thresholds` for a Cyrillic span;
        ``named_threshold``, never lower, when the span names another catalog entity: default
        :attr:`named_threshold`), overlapping spans resolved by probability; returns the text and
        the replacements made (in text order)."""
        def passes(s: Scored) -> bool:
            cyrillic = is_cyrillic(text[s.start:s.end])
            default = self.cyrillic_thresholds if cyrillic else (self.threshold, self.named_threshold)
            limit = default[0] if threshold is None else threshold
            named = max(limit, default[1] if named_threshold is None else named_threshold)
            named_span = _replaces_a_name(s)
            plain = not s.features[_HAS_CONFIDENCE] and not cyrillic
            if named_span and plain and not self.options.replace_names_in_plain_text:
                return False
            strict = named_span or s.around_name or (self.options.strict_known_words and _one_known_word(s)) or (
                plain and self.options.strict_plain_text)
            return s.probability >= (named if strict else limit)

        passed = [s for s in scored if passes(s)]
        chosen = [s for s in self._choose(passed) if s.surface != text[s.start:s.end]]
        pieces, cursor = [], 0
        for s in chosen:
            pieces += [text[cursor:s.start], s.surface]
            cursor = s.end
        pieces.append(text[cursor:])
        return "".join(pieces), chosen

    def idf(self, catalog: str) -> dict[str, float]:
        """Inverse document frequencies of description words in one catalog (built on first use, when
        the catalog's names are pronounced too: :meth:`pronounce_names`)."""
        table = self._idf.get(catalog)
        if table is None:
            index = self.catalog.index(catalog)
            entities = list(index) if index is not None else []
            df = Counter(w for e in entities for w in description_words(e.description))
            n = max(len(entities), 1)
            table = self._idf[catalog] = {w: math.log(n / c) for w, c in df.items()}
            self.pronounce_names(entities)
        return table

    def phones(self, catalog: str) -> PhoneIndex | None:
        """The catalog's names filed by pronunciation (built on first use: ~2 s for 100k entities), or
        None when pronunciation candidates are off (``phone_limit`` 0, a catalog larger than
        ``phone_catalog_limit``, or a scorer that does not read pronunciations, such as the one served
        without espeak-ng)."""
        index, most = self.catalog.index(catalog), self.options.phone_catalog_limit
        if not self.options.phone_limit or not self.reads_pronunciations or index is None or (
                most and len(index) > most):
            return None
        found = self._phones.get(catalog)
        if found is None:
            found = self._phones[catalog] = PhoneIndex(self.catalog, catalog)
        return found

    def pronounce_names(self, entities: Iterable[Entity]) -> None:
        """Pronounce the Latin-script names and aliases of ``entities`` into the pronunciation cache in
        batches (~1.5 s for the built-in catalogs), when the scorer reads pronunciations; entities added
        later are pronounced when they first become candidates."""
        if self.reads_pronunciations:
            prefetch_phonemes(s for e in entities for s in e.surface_forms if not is_cyrillic(s))

    @property
    def reads_pronunciations(self) -> bool:
        """Whether the (Latin-script) scorer reads the ``phone`` features (espeak-ng pronunciations)."""
        return self.reranker.feature_count > _PHONE

    def score_spans(self, text: str, index: EntityIndex, dense: DenseIndex | None,
                    idf: dict[str, float] | None = None,
                    confidences: Sequence[float] | None = None, phones: PhoneIndex | None = None) -> list[Scored]:
        """Every gated span's candidates with features and probabilities (the scorer's input);
        ``confidences`` (one per whitespace word of ``text``, else ignored) feed the
        ``low_confidence`` feature: the recogniser's doubt about the span's words; ``phones``: the
        catalog's names by pronunciation (:meth:`phones`), candidates of gated Latin-script spans too."""
        opts = self.options
        # with ``overlap_embedding`` (off by default: slower on a busy 2-core machine, bench notes) the
        # embedding and the dense search (ONNX Runtime and numpy, GIL released) run on a worker thread
        # while this one gates spans and does the phonetic lookups (pure Python); they start as soon
        # as one token could gate a span (a word the lexicon does not know, a capitalised one, or one the
        # recogniser doubted: ``doubt_gate``)
        pending = None
        doubt = _Doubt(text, confidences)
        if opts.overlap_embedding and (self._known_spans_open() or self._may_gate(text, doubt)):
            pending = self._executor().submit(self._retrieve, text, dense)
            time.sleep(0)
        spans, named = self._spans(text, index, doubt)
        if not any(s[6] for s in spans) and not (self._known_spans_open() and spans):
            return []
        phonetic: dict[tuple[int, int], list[Candidate]] = {}
        for s in spans:
            if s[6]:
                if pending is not None:
                    time.sleep(0)  # let the worker take the GIL between its native calls (else it waits ~5 ms)
                heard = text[s[2]:s[3]]
                pooled = opts.phonetic_pool > opts.phonetic_limit and not is_cyrillic(heard)
                limit = opts.phonetic_pool if pooled else opts.phonetic_limit
                phonetic[s[0], s[1]] = index.candidates(heard, limit, opts.max_distance)
        # what needs no embedding is done before waiting for it: the spans' context words
        idf = idf or {}
        contexts = {(s[0], s[1]): description_words(text[:s[2]] + " " + text[s[3]:]) for s in spans}
        query, nearest = pending.result() if pending is not None else self._retrieve(text, dense)
        phonetic = self._pool_pruned(phonetic, dense, query)
        known_open = bool(nearest) and self._known_spans_open()
        looked = [s for s in spans if s[6] or known_open]
        dense_hits = _DenseForms(nearest, [text[s[2]:s[3]] for s in looked], [max(self._limits(s)) for s in looked])
        if phones is not None:  # the gated spans' words in one espeak-ng call, not one call a span
            prefetch_words(w for s in looked if s[6] for w in words_of(text[s[2]:s[3]]))
        gathered = []
        for number, span in enumerate(looked):
            found = self._span_candidates(text, span, number, phonetic.get((span[0], span[1]), []), dense_hits)
            heard = text[span[2]:span[3]]
            if phones is not None and span[6] and not is_cyrillic(heard):
                folded, keys = cached_fold(heard), phonetic_keys(heard)
                for entity, surface, _ in phones.nearest(heard, opts.phone_limit, opts.phone_distance, found):
                    # phonetic_distance, with the memoised folds and keys: no distance exceeds 1, so the
                    # bounded form returns every one (equal on 200,000 span/name pairs checked)
                    distance = bounded_distance(folded, keys, surface, 1.0)
                    found[entity.id] = (entity, surface, 1.0 if distance is None else distance)
            if found:
                gathered.append(_Gathered(span, found, doubt.of(span[2], span[3])))
        if gathered and self.reads_pronunciations:  # the words of the spans with candidates, in one espeak-ng call
            prefetch_words(w for g in gathered for w in words_of(text[g.span[2]:g.span[3]]))
        out = self._score(text, gathered, (dense, query, dense_hits.rank), (contexts, idf), len(index))
        if opts.named_once and named:
            out = [s for s in out if _named_here(s, named)]
        if opts.around_names and named:
            inside = {r for where in named.values() for r in where}
            out = [replace(s, around_name=True) if any(_nested(r, (s.first, s.last)) for r in inside)
                   else s for s in out]
        return out

    def _retrieve(self, text: str, dense: DenseIndex | None) -> tuple[FloatArray, list[Entity]]:
        """The utterance's embedding and the entities whose descriptions are nearest to it."""
        query: FloatArray = self.embedder.embed([text])[0]
        if dense is None or self.options.dense_k <= 0:
            return query, []
        return query, [e for e, _cos in dense.search(query, self.options.dense_k)]

    def _pool_pruned(self, phonetic: dict[tuple[int, int], list[Candidate]], dense: DenseIndex | None,
                     query: FloatArray) -> dict[tuple[int, int], list[Candidate]]:
        """Each span's phonetic candidates cut to ``phonetic_limit``: from a pool (``phonetic_pool``),
        those whose distance less ``pool_cosine`` times their cosine to the utterance ``query`` is
        smallest (in their distance order); without a dense index, the nearest."""
        opts = self.options
        if opts.phonetic_pool <= opts.phonetic_limit:
            return phonetic
        out = {}
        for where, found in phonetic.items():
            if dense is not None and len(found) > opts.phonetic_limit:
                cos = dense.similarity(query, [c.entity.id for c in found])
                ranked = sorted(range(len(found)), key=lambda k: (found[k].distance - opts.pool_cosine * cos[k], k))
                found = [found[k] for k in sorted(ranked[:opts.phonetic_limit])]
            out[where] = found[:opts.phonetic_limit]
        return out

    def _known_spans_open(self) -> bool:
        """Whether spans of known lower-case words may take dense candidates at all."""
        opts = self.options
        return opts.dense_k > 0 and (opts.dense_known_distance > 0 or (
            opts.dense_top > 0 and opts.dense_top_known_distance > 0))

    def _may_gate(self, text: str, doubt: _Doubt | None = None) -> bool:
        """Whether some token could gate a span (a cheap early test; :meth:`_spans` decides): one the
        lexicon does not know, a capitalised one, or, with ``doubt``, a word the recogniser gave a
        confidence below ``doubt_gate``."""
        gate = self.options.doubt_gate
        if gate > 0 and doubt is not None and doubt.conf is not None and min(doubt.conf, default=1.0) < gate:
            return True
        return any(not self._known(t.text) or (t.text[:1].isupper() and not t.sentence_start)
                   for t in tokenize(text))

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dancer-embed")
        return self._pool

    # ------------------------------------------------------------ internals

    def _spans(self, text: str, index: EntityIndex, doubt: _Doubt | None = None
               ) -> tuple[list[tuple[int, int, int, int, bool, bool, bool]],
                          dict[tuple[str, str], set[tuple[int, int]]]]:
        """Token spans worth a look: (first, last, start, end, unknown word, capitalised, gated), and
        the names the text contains ((entity id, folded name) -> the token ranges of the longest
        spans that name it); ``doubt``: the recogniser's word confidences (``doubt_gate``)."""
        tokens = tokenize(text)
        named: dict[tuple[str, str], set[tuple[int, int]]] = {}
        unknown_at = [not self._known(t.text) for t in tokens]
        is_function = [t.text.lower() in FUNCTION_WORDS for t in tokens]
        function_at = [f and not self.options.function_word_spans for f in is_function]  # spans left out
        capital_at = [t.text[:1].isupper() and not t.sentence_start for t in tokens]
        gate = self.options.doubt_gate
        doubted_at = [gate > 0 and doubt is not None and (d := doubt.of(t.start, t.end)) is not None
                      and d > 1.0 - gate and not is_cyrillic(t.text) for t in tokens]
        out = []
        protected: list[tuple[int, int]] = []
        # names are looked up in spans of up to ``name_words`` words (exact lookups are cheap), candidates
        # only in spans of up to ``max_words``: "new york stock exchange" must shield "stock exchange"
        reach = max(self.options.max_words, self.options.name_words)
        for first in range(len(tokens)):
            unknown = capitalised = doubted = False
            for last in range(first, min(first + reach, len(tokens))):
                if last > first and (tokens[last - 1].trail or tokens[last].lead):
                    break
                unknown, capitalised = unknown or unknown_at[last], capitalised or capital_at[last]
                doubted = doubted or doubted_at[last]
                by_doubt = doubted and last - first < self.options.doubt_words and not all(is_function[first:last + 1])
                start, end = tokens[first].start, tokens[last].end
                if len(cached_fold(text[start:end])) < self.options.min_chars:
                    continue
                owners = index.exact(text[start:end])
                if owners:
                    protected.append((first, last))
                    for entity, surface in owners:
                        named.setdefault((entity.id, cached_fold(surface)), set()).add((first, last))
                if last - first < self.options.max_words and not all(function_at[first:last + 1]):
                    out.append((first, last, start, end, unknown, capitalised, unknown or capitalised or by_doubt))
        # a span that names a catalog entity is a unit: spans inside it, around it (but see ``around_names``)
        # or cutting through it are left alone ("new york to montreal": "york to" is not Yorkton, real ATIS
        # output).
        # Only the longest such names count ("baro da" names Baroda, so "baro", naming Baro, is inside
        # it and protects nothing), and only names of min_chars or more ("al" for Alabama would shield
        # "al kerma" from Al Khurmah)
        protected = [p for p in protected if not any(_nested(q, p) and q[1] - q[0] > p[1] - p[0] for q in protected)]
        longest = set(protected)
        named = {eid: kept for eid, where in named.items() if (kept := where & longest)}

        def looked_at(s: tuple[int, int, int, int, bool, bool, bool]) -> bool:
            touched = [p for p in protected if _shares_tokens(p, (s[0], s[1]))]
            if not touched:
                return True
            # ``around_names``: every name it touches lies inside it, and a word outside them is one the
            # lexicon does not know or the recogniser doubted ("fran clinton", not "in germany": that would
            # be a lookup more for every name, +10% latency at 100k entities)
            # (not Cyrillic spans: the Russian scorer was tuned without them)
            return self.options.around_names and not is_cyrillic(text[s[2]:s[3]]) and all(
                s[0] <= p[0] and p[1] <= s[1] for p in touched) and any(
                (unknown_at[t] or doubted_at[t]) and not any(p[0] <= t <= p[1] for p in touched)
                for t in range(s[0], s[1] + 1))

        return [s for s in out if looked_at(s)], named

    def _span_candidates(self, text: str, span: tuple[int, int, int, int, bool, bool, bool], number: int,
                         phonetic: list[Candidate], dense_hits: _DenseForms) -> dict[str, tuple[Entity, str, float]]:
        """One span's candidates, entity id -> (entity, surface form, distance): its phonetic ones, then
        the dense hits that sound close enough; ``number``: the span's row in ``dense_hits``."""
        opts = self.options
        start, end = span[2:4]
        text_span = text[start:end]
        found: dict[str, tuple[Entity, str, float]] = {c.entity.id: (c.entity, c.surface, c.distance)
                                                       for c in phonetic}
        top_limit, limit = self._limits(span)
        folded = cached_fold(text_span)
        length, keys = len(folded), phonetic_keys(text_span)
        # the dense forms whose distance bound stays within their limit (C-speed passes over all of
        # them), then a cheap length filter and the exact distance (index.bounded_distance); per entity
        # its nearest form, the first one on ties
        best: dict[int, tuple[float, int]] = {}  # dense hit -> (distance, form row)
        for row in dense_hits.within(number, (top_limit, limit), opts.dense_top):
            hit, form, n = dense_hits.rows[row]
            if dense_hits.entities[hit].id in found or abs(n - length) > 0.4 * max(n, length):
                continue
            distance = bounded_distance(folded, keys, form, top_limit if hit < opts.dense_top else limit)
            if distance is not None and (distance, row) < best.get(hit, (math.inf, row)):
                best[hit] = (distance, row)
        cyrillic = is_cyrillic(text_span)
        for hit in sorted(best):
            distance, row = best[hit]
            form = dense_hits.rows[row][1]
            if cyrillic:  # the name in the case form nearest the span, as the index's own lookups give it
                inflected = nearest_form(form, text_span)
                if inflected != form:
                    d = bounded_distance(folded, keys, inflected, distance)
                    form, distance = (inflected, d) if d is not None else (form, distance)
            found[dense_hits.entities[hit].id] = (dense_hits.entities[hit], form, distance)
        return found

    def _limits(self, span: tuple[int, int, int, int, bool, bool, bool]) -> tuple[float, float]:
        """How far a dense candidate may sound from ``span``: (for the ``dense_top`` nearest entities,
        for the others)."""
        opts = self.options
        first, last, gated = span[0], span[1], span[6]
        limit = max(opts.max_distance, opts.dense_distance) if gated else opts.dense_known_distance
        # the nearest entities' looser limits: a gated span, several known words, one known word
        top_limit = max(limit, opts.dense_top_distance if gated else
                        opts.dense_top_known_distance if last > first else opts.dense_top_word_distance)
        return top_limit, limit

    def _score(self, text: str, gathered: list[_Gathered],
               retrieved: tuple[DenseIndex | None, FloatArray, dict[str, int]],
               context: _Context, catalog_size: int | None = None) -> list[Scored]:
        """The features and probabilities of every gathered span's candidates, as one table (a span's
        rows are a segment; "gap" features compare a candidate with the best of its span's others);
        ``retrieved``: the dense index, the utterance's embedding and its dense hits' ranks; ``context``:
        each span's context words and the description idf."""
        if not gathered:
            return []
        opts = self.options
        dense, query, dense_rank = retrieved
        contexts, idf = context
        spans = [g.span for g in gathered]
        texts = [text[s[2]:s[3]] for s in spans]
        folded = [cached_fold(t) for t in texts]
        cyrillic = [is_cyrillic(t) for t in texts]
        ids = [eid for g in gathered for eid in g.found]
        rows = [g.found[eid] for g in gathered for eid in g.found]
        sizes = np.asarray([len(g.found) for g in gathered])
        seg = np.repeat(np.arange(len(gathered)), sizes)
        ends = np.cumsum(sizes)
        starts = ends - sizes
        if dense is not None:
            cosines = dense.similarity(query, ids)
        else:  # one embedding call per span, as the scorer was trained (int8 scales depend on the batch)
            cosines = [c for g in gathered for c in (self.embedder.embed(
                [f"{surface}: {entity.description}" for entity, surface, _ in g.found.values()]) @ query).tolist()]
        cos = np.asarray(cosines, dtype=np.float32)  # float32 as in training
        dist = np.asarray([r[2] for r in rows], dtype=np.float32)
        overlap = np.asarray([_overlap(entity.description, contexts[s[0], s[1]], idf)
                              for g, s in zip(gathered, spans, strict=True) for entity, _, _ in g.found.values()],
                             dtype=np.float32)
        identical = np.asarray([cached_fold(r[1]) == folded[k] for k, r in zip(seg.tolist(), rows, strict=True)],
                               dtype=np.float32)
        # pronunciations cost ~0.1 ms a span: only for a scorer that reads them, and not for Cyrillic
        # (espeak's English rules do not read it); otherwise the Metaphone/spelling distance stands in
        phone = dist.copy()
        if self.reads_pronunciations:
            for k, g in enumerate(gathered):
                if not cyrillic[k]:
                    phone[starts[k]:ends[k]] = phoneme_distances(texts[k], [r[1] for r in g.found.values()])
        table = np.empty((len(ids), len(FEATURES)), dtype=np.float64)
        table[:, 0] = dist
        table[:, 1] = dist - _best_other(dist, seg, starts, ends, largest=False, empty=1.0)
        table[:, 2] = cos
        table[:, 3] = cos - _best_other(cos, seg, starts, ends, largest=True, empty=0.0)
        table[:, 4] = cos >= np.maximum.reduceat(cos, starts)[seg]
        table[:, 5] = [eid in dense_rank for eid in ids]
        table[:, 6] = np.asarray([float(s[4]) for s in spans])[seg]
        table[:, 7] = np.asarray([float(s[5]) for s in spans])[seg]
        table[:, 8] = np.asarray([float(s[1] - s[0] + 1) for s in spans])[seg]
        table[:, 9] = np.asarray([math.log(n) for n in sizes.tolist()])[seg]
        table[:, 10] = identical
        table[:, 11] = np.maximum.reduceat(identical, starts)[seg]
        table[:, 12] = overlap
        table[:, 13] = overlap - _best_other(overlap, seg, starts, ends, largest=True, empty=0.0)
        table[:, 14] = np.asarray([float(s[6]) for s in spans])[seg]
        table[:, 15] = [math.log1p(dense_rank.get(eid, opts.dense_k)) for eid in ids]
        doubts = [(g.doubt, 1.0) if g.doubt is not None else (0.0, 0.0) for g in gathered]
        table[:, 16:18] = np.asarray(doubts, dtype=np.float64)[seg]
        table[:, _PHONE] = phone
        table[:, _PHONE + 1] = phone - _best_other(phone, seg, starts, ends, largest=False, empty=1.0)
        probabilities = np.empty(len(ids))
        on_cyrillic = np.asarray(cyrillic)[seg]
        read, unread = self._ask_context(text, table, ~on_cyrillic, seg, rows, spans, catalog_size)  # its logits
        for reranker, rows_of in ((self.reranker, ~on_cyrillic), (self.cyrillic_reranker, on_cyrillic)):
            if rows_of.any():
                probabilities[rows_of] = reranker.probabilities(table[rows_of], catalog_size, read[rows_of])
        if unread.any() and (stack := self.reranker.stack) is not None:
            # left unread by ``context_reads``: never written on the features' word alone
            probabilities[unread] = np.minimum(probabilities[unread], float(stack["floor"]))
        out = []
        features, chances = table.tolist(), probabilities.tolist()
        logits = ([None if math.isnan(c) else c for c in read.tolist()] if self.context_scorer is not None
                  else [None] * len(ids))
        for k, g in enumerate(gathered):
            first, last, start, end = spans[k][:4]
            # "kuwaiti" is not taken for Kuwait, yet Kuwait stays among the candidates the others' features
            # compare with (their gaps): the scorer learnt with it there, and without it Arāk became the
            # closest candidate of "iraqi" (real WSJ output). A word that names a catalog entity ("Marsala"
            # the wine and the town) is a name first: the named threshold guards it
            proper = first == last and folded[k] in self.proper_words and not table[starts[k], 11]
            numbered = _says_number(texts[k])
            for j, (entity, surface, _) in enumerate(g.found.values(), start=int(starts[k])):
                if proper and _derived(folded[k], cached_fold(surface)):
                    continue
                # a number is a spoken word: "kings" is not 1 Kings, "richard" not Richard I, and "ptolemy"
                # followed by "the first" does not become "Ptolemy I the first"
                if not numbered and _says_number(surface):
                    continue
                out.append(Scored(first, last, start, end, entity, surface, tuple(features[j]), chances[j],
                                  logits[j]))
        return out

    def _ask_context(self, text: str, table: npt.NDArray[np.float64], eligible: npt.NDArray[np.bool_],
                     seg: npt.NDArray[np.int64], rows: list[tuple[Entity, str, float]],
                     spans: list[tuple[int, int, int, int, bool, bool, bool]],
                     catalog_size: int | None = None) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """The context scorer's logit for each ``eligible`` span's ``top`` candidates by the feature
        scorer among those whose feature probability in a catalog of ``catalog_size`` entities is at
        least ``floor`` (:attr:`Reranker.stack`); NaN elsewhere. Those below the floor keep the feature
        scorer's probability, below every threshold as long as the floor is. With ``context_reads``, only
        that many are read (those the features rate highest); the second array marks the others."""
        context = np.full(len(table), np.nan)
        unread = np.zeros(len(table), dtype=bool)
        stack = self.reranker.stack
        if self.context_scorer is None or stack is None or not eligible.any():
            return context, unread
        raw = self.reranker.raw(table)
        floor = float(stack["floor"])
        passing = eligible & (raw + self.reranker.size_shift(catalog_size) >= math.log(floor / (1.0 - floor)))
        asked: list[int] = []
        for k in np.unique(seg[passing]).tolist():
            mine = np.flatnonzero(passing & (seg == k))
            asked += mine[np.argsort(-raw[mine], kind="stable")][:int(stack["top"])].tolist()
        reads = self.options.context_reads
        if 0 < reads < len(asked):  # the most probable by the features, in table order
            ranked = sorted(asked, key=lambda i: -raw[i])
            unread[ranked[reads:]] = True
            asked = sorted(ranked[:reads])
        if asked:
            items = [(spans[seg[i]][2], spans[seg[i]][3], rows[i][1], entity_text(rows[i][0])) for i in asked]
            context[asked] = self.context_scorer.logits(text, items)
        return context, unread

    @staticmethod
    def _choose(scored: list[Scored]) -> list[Scored]:
        taken: list[Scored] = []
        for s in sorted(scored, key=lambda s: (-s.probability, s.first - s.last, s.first)):
            if not any(s.first <= t.last and t.first <= s.last for t in taken):
                taken.append(s)
        return sorted(taken, key=lambda s: s.first)

    def _known(self, word: str) -> bool:
        lower = word.lower().replace("ё", "е")
        if lower in self.lexicon or (lower.endswith("'s") and lower[:-2] in self.lexicon):
            return True
        return len(cached_fold(word)) <= 2 or not any(ch.isalpha() for ch in word)


class _Doubt:
    """The recogniser's doubt about a character span of the text: 1 - the lowest confidence of the
    whitespace words it touches; None without confidences (text input, HTR, a count that does not
    match the words)."""

    __slots__ = ("conf", "ends", "starts")

    def __init__(self, text: str, confidences: Sequence[float] | None) -> None:
        words = [(m.start(), m.end()) for m in _WHITESPACE_WORD.finditer(text)] if confidences else []
        self.conf = list(confidences) if confidences and len(confidences) == len(words) else None
        self.starts = [a for a, _ in words]
        self.ends = [b for _, b in words]

    def of(self, start: int, end: int) -> float | None:
        if self.conf is None:
            return None
        # the words are in text order: those touched run from the first ending after ``start`` to the
        # last starting before ``end`` (two bisections, not a pass over every word per span)
        touched = self.conf[bisect_right(self.ends, start):bisect_left(self.starts, end)]
        return 1.0 - min(touched) if touched else None


class _DenseForms:
    """The surface forms of the entities dense retrieval returned for one utterance, flattened, with
    a lower bound of every span's distance to each of them computed in a few C-speed calls for all
    spans at once (:meth:`within` then picks a span's rows)."""

    __slots__ = ("bounds", "entities", "hit", "least", "rank", "rows")

    def __init__(self, entities: Sequence[Entity], spans: Sequence[str] = (),
                 reach: Sequence[float] | None = None) -> None:
        self.entities = list(entities)
        self.rank = {e.id: k for k, e in enumerate(self.entities)}  # 0: nearest to the utterance
        forms = [(k, form) for k, e in enumerate(self.entities) for form in e.surface_forms]
        folded = [cached_fold(form) for _, form in forms]
        # (position in entities, form, folded length), in entity then form order
        self.rows = [(k, form, len(f)) for (k, form), f in zip(forms, folded, strict=True)]
        self.hit = np.asarray([k for k, _ in forms], dtype=np.int64)
        self.bounds = _distance_bounds(list(spans), folded, [form for _, form in forms], reach)
        # each span's smallest bound: most spans are far from every form, and need no row-wise test
        self.least = self.bounds.min(axis=1) if self.bounds.size else np.ones(len(spans), dtype=np.float32)

    def within(self, span: int, limits: tuple[float, float], top: int) -> list[int]:
        """The rows whose bound from span number ``span`` stays within its limit (``limits[0]`` for
        the ``top`` nearest entities' forms, ``limits[1]`` for the others)."""
        if not self.rows or self.least[span] > max(limits) + 1e-6:
            return []
        cutoff = np.where(self.hit < top, limits[0], limits[1])
        return np.flatnonzero(self.bounds[span] <= cutoff + 1e-6).tolist()


def _distance_bounds(spans: list[str], folded: list[str], forms: list[str],
                     reach: Sequence[float] | None = None) -> FloatArray:
    """A (spans x forms) lower bound of :func:`~emendo.correctors.entities.index.bounded_distance`:
    its spelling part exactly, its sound part as the normalised Levenshtein distance of class keys
    (never above the weighted key distance: a class key has its key's length); a side without
    keys has sound part 1.0, as there. With ``reach`` (a limit per span), a span whose spelling part
    alone exceeds its limit on every form is not keyed (a new span's keys cost a Double Metaphone
    call): its sound part stays 1.0, a bound that exceeds the limit all the same."""
    if not spans or not forms:
        return np.zeros((len(spans), len(forms)), dtype=np.float32)
    weights = DEFAULT_WEIGHTS
    spelling = process.cdist([cached_fold(s) for s in spans], folded, scorer=Levenshtein.normalized_distance,
                             dtype=np.float32)
    sound = np.ones((len(spans), len(forms)), dtype=np.float32)
    keyed = range(len(spans)) if reach is None else np.flatnonzero(
        weights.spelling * spelling.min(axis=1) <= np.asarray(reach, dtype=np.float32) + 1e-6).tolist()
    span_keys = [(i, class_key(key)) for i in keyed for key in phonetic_keys(spans[i])]
    # a Latin form has the keys of its folded spelling, which the index memoised when it was built
    # (Cyrillic keys depend on word boundaries, which folding drops)
    form_keys = [(j, class_key(key)) for j, (form, f) in enumerate(zip(forms, folded, strict=True))
                 for key in phonetic_keys(f if f.isascii() else form)]
    if span_keys and form_keys:
        edits = process.cdist([k for _, k in span_keys], [k for _, k in form_keys], scorer=Levenshtein.distance,
                              dtype=np.float32)
        longest = np.maximum(np.asarray([len(k) for _, k in span_keys], dtype=np.float32)[:, None],
                             np.asarray([len(k) for _, k in form_keys], dtype=np.float32)[None, :])
        normalised = edits / np.maximum(longest, 1.0)  # (span keys x form keys)
        rows = np.asarray([i for i, _ in span_keys])
        cols = np.asarray([j for j, _ in form_keys])
        # the smallest over each (span, form) pair's keys
        np.minimum.at(sound, (rows[:, None], cols[None, :]), normalised)
    bound: FloatArray = (weights.phonetic * sound + weights.spelling * spelling).astype(np.float32)
    return bound


def _best_other(values: FloatArray, seg: npt.NDArray[np.int64], starts: npt.NDArray[np.int64],
                ends: npt.NDArray[np.int64], *, largest: bool, empty: float) -> FloatArray:
    """For each position, the smallest (``largest``: the largest) value of the *other* positions of its
    segment (``seg``: each position's segment; segment k holds positions ``starts[k]:ends[k]``), or
    ``empty`` in a segment of one. Ties as a stable sort orders them (it does not change the values)."""
    order = np.lexsort((values, seg))  # by segment, then value; segments keep their positions
    first = order[ends - 1] if largest else order[starts]
    out = values[first][seg]
    many = ends - starts > 1
    second = np.where(many, order[np.where(many, ends - 2 if largest else starts + 1, starts)], first)
    out[first] = np.where(many, values[second], np.float32(empty))
    return out


_SPAN_EXACT, _IDENTICAL = FEATURES.index("span_exact"), FEATURES.index("identical")
_HAS_CONFIDENCE, _PHONE = FEATURES.index("has_confidence"), FEATURES.index("phone")
_WORDS, _UNKNOWN, _CAPITALISED = FEATURES.index("words"), FEATURES.index("unknown"), FEATURES.index("capitalised")


def encoder_threads(reranker: Reranker | None, options: DancerOptions, threads: int) -> int:
    """The sentence encoder's ONNX Runtime threads when a worker gives DANCER ``threads``
    (``EMENDO_DANCER_THREADS``): all of them, or 1 when the context scorer is served, which then
    gets them. ONNX Runtime's threads spin between calls, and two sessions' spinning threads fight
    over the cores: at 100k entities on the 2-core CI machine (``bench/entities_dancer_threads.py``,
    interleaved), 2 threads for both took the context profile's p50 from 27.4 to 33.7 ms, 2 for the
    context scorer alone to 19.9 ms; 2 for the encoder took the default path from 4.5 to 4.2 ms."""
    serves_context = options.context_scorer and (reranker or Reranker.load()).stack is not None
    return 1 if serves_context else threads


def bundled_weights(lang: str = "") -> Path:
    """The bundled scorer's file: ``reranker-<lang>.json`` (``ru``: Cyrillic spans; ``context``: the scorer
    combined with the context scorer, which reads pronunciations too), else ``reranker.json``,
    which reads espeak-ng pronunciations, or, where espeak-ng is not installed (``piper-tts``, GPL-3.0:
    the ``phonemes`` extra), ``reranker-nophonemes.json``, trained without them."""
    if not lang and not phonemes_available():
        _warn_once("espeak-ng (piper-tts) is not installed: DANCER uses its scorer without pronunciations; "
                   "pip install 'emendo[phonemes]' for the better one")
        lang = "nophonemes"
    name = f"reranker-{lang}.json" if lang else "reranker.json"
    return Path(str(resources.files("emendo").joinpath(f"data/models/dancer/{name}")))


def scorer_file(name: str) -> Path | None:
    """The scorer file ``EMENDO_DANCER_SCORER`` (or a benchmark's ``--reranker``) names: None for empty (the
    bundled default), the bundled combined scorer for ``context``, else the path given."""
    if not name:
        return None
    return bundled_weights("context") if name == "context" else Path(name)


@lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    log.warning(message)


def _replaces_a_name(s: Scored) -> bool:
    """Whether ``s`` puts another entity in place of a span that names a catalog entity."""
    return bool(s.features[_SPAN_EXACT]) and not s.features[_IDENTICAL]


def _one_known_word(s: Scored) -> bool:
    """Whether ``s``'s span is one word the lexicon knows, not capitalised (gated at most by doubt)."""
    return s.features[_WORDS] == 1 and not s.features[_UNKNOWN] and not s.features[_CAPITALISED]


def _named_here(s: Scored, named: dict[tuple[str, str], set[tuple[int, int]]]) -> bool:
    """Whether ``s`` writes a name the text holds nowhere, or only at ``s``'s own span."""
    where = named.get((s.entity.id, cached_fold(s.surface)))
    return where is None or (s.first, s.last) in where


_NUMBER_TEXT = ("one two three four five six seven eight nine ten eleven twelve first second third fourth fifth "
                "sixth seventh eighth ninth tenth eleventh twelfth")
_NUMBER_WORDS = frozenset(_NUMBER_TEXT.split())
_ROMAN = re.compile(r"[IVXL]+")


@lru_cache(maxsize=65_536)  # candidate names repeat across spans and utterances
def _says_number(text: str) -> bool:
    """Whether text says a number: digits ("1 Kings"), a number word ("the third"), an upper-case Roman
    numeral ("Richard I") or a lower-case one of two letters or more ("louis xiv"; "i" is the pronoun)."""
    return any(any(ch.isdigit() for ch in w) or w.lower() in _NUMBER_WORDS
               or (w.isupper() and _ROMAN.fullmatch(w)) or (len(w) > 1 and _ROMAN.fullmatch(w.upper()))
               for w in text.split())


def _derived(word: str, name: str) -> bool:
    """Whether ``word`` and ``name`` (folded) differ, sharing 4+ first letters and all but at most the
    last three of the shorter: "kuwaiti"/"kuwait", "honduran"/"honduras", "british"/"britain"."""
    shared = next((i for i, (a, b) in enumerate(zip(word, name, strict=False)) if a != b),
                  min(len(word), len(name)))
    return word != name and shared >= 4 and shared >= min(len(word), len(name)) - 3


def _shares_tokens(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two different token ranges with a token in common (nested or crossing)."""
    return a != b and a[0] <= b[1] and b[0] <= a[1]


def _nested(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Two different token ranges, one inside the other."""
    return a != b and ((a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1]))


def description_words(text: str) -> set[str]:
    """Lower-case content words (3+ letters, no stop words) of a description or an utterance."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


_description_words = lru_cache(maxsize=65_536)(description_words)  # entity descriptions repeat


def _overlap(description: str, context: set[str], idf: dict[str, float]) -> float:
    """The idf-weighted share of the description's words that the utterance (span excluded) contains."""
    words = _description_words(description)
    total = sum(idf.get(w, 1.0) for w in words)
    return sum(idf.get(w, 1.0) for w in words & context) / total if total else 0.0

"""A conservative KenLM n-best rescorer: ``kenlm-rescorer``.

For a record with an n-best list, every distinct hypothesis (after
:func:`~emendo.correctors.lm_scorer.normalize_text`) gets a combined score::

    s_i = lm_weight * LM_i  +  word_bonus * words_i  -  rank_weight * rank_i  +  asr_weight * asr_i

where ``LM_i`` is the KenLM log10 probability of the sentence (divided by its token
count when ``length_norm`` is set), ``rank_i`` its position in the n-best list and
``asr_i`` the recognizer's own score for it (``nbest_scores``, only when the record has
them). The 1-best (the record's current text) is kept unless an alternative

* is within ``max_rank`` of the top of the list,
* differs from the 1-best by at most ``max_word_diff`` words in length,
* does not differ from it in a word the LM does not know (``oov_guard``) nor only in
  British/American spelling (``spelling_guard``), and
* beats the 1-best's combined score by more than ``margin``.

This caution is measured, not decorative: on HyPoradise n-best lists a plain 4-gram
argmax made the WER worse (ASR errors are mostly real words, and the LM prefers the
short, hallucinated hypotheses that n-best lists contain); see
``bench/results/rescore_hyporadise.md``. The confidence reported is the softmax
probability of the returned hypothesis among the distinct candidates (scores divided by
``temperature``). The returned text is the raw n-best entry, casing and punctuation as
the recognizer wrote it. Records without an n-best list, with a single distinct
hypothesis, or whose text is no longer in their n-best list (an earlier stage changed
it) pass through unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from emendo.correctors.lm_scorer import KenLMScorer
from emendo.errors import ConfigError
from emendo.records import Correction, Hypothesis

__all__ = ["Candidate", "NBestRescorer", "RescorerOptions", "choose", "spelling_variants"]

RESCORER_VERSION = "1"


@dataclass(frozen=True, slots=True)
class RescorerOptions:
    """Weights and guards of :class:`NBestRescorer`.

    The defaults were tuned on the first half of each HyPoradise set (LibriSpeech
    test-clean/other, WSJ, ATIS) and checked on the second halves; see
    ``bench/rescore_hyporadise.py --tune``.
    """

    lm_weight: float = 1.0
    """Weight of the KenLM log10 score."""
    length_norm: bool = False
    """Use the per-token LM score (log10 / (words + 1)) instead of the sentence total."""
    word_bonus: float = 0.0
    """Added per word (log10 units): counters the LM's preference for short hypotheses
    (moot while ``max_word_diff`` is 0; raise it together with ``max_word_diff``)."""
    rank_weight: float = 2.0
    """Subtracted per n-best position: the recognizer's ranking as a prior."""
    asr_weight: float = 0.0
    """Weight of the recognizer's own ``nbest_scores`` when a record has them (no measured
    effect on WSJ/ATIS at the default margin, hence 0)."""
    margin: float = 3.0
    """An alternative must beat the 1-best's combined score by more than this (log10 units:
    with ``rank_weight`` 2 the runner-up needs an LM score 10^5 times higher)."""
    max_rank: int = 2
    """Only the first ``max_rank + 1`` entries of the n-best list may be chosen."""
    max_word_diff: int = 0
    """Alternatives whose word count differs from the 1-best's by more are never chosen."""
    oov_guard: bool = True
    """Never switch when the two hypotheses differ in a word the LM does not know: its
    preference then rests on the ``<unk>`` penalty, not on evidence (names, rare words)."""
    spelling_guard: bool = True
    """Never switch between British and American spellings of the same words ("favorably"
    -> "favourably"): the bundled LM learnt 19th-century British spelling, not correctness."""
    temperature: float = 1.0
    """Softmax temperature of the reported confidence (log10 units)."""

    def __post_init__(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if self.max_rank < 0 or self.max_word_diff < 0:
            raise ConfigError("max_rank and max_word_diff must be >= 0")
        for name in ("lm_weight", "word_bonus", "rank_weight", "asr_weight", "margin"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"{name} must be finite")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One distinct hypothesis of an n-best list and its features."""

    text: str
    """The raw n-best entry (first occurrence of this normalised form)."""
    normalized: str
    rank: int
    """Position of ``text`` in the n-best list (0 = best)."""
    lm: float
    """KenLM log10 probability of ``normalized`` with <s> and </s>."""
    n_words: int
    asr_score: float | None = None
    oov: frozenset[str] = frozenset()
    """The words of ``normalized`` that the LM does not know."""

    def combined(self, opts: RescorerOptions) -> float:
        lm = self.lm / (self.n_words + 1) if opts.length_norm else self.lm
        score = opts.lm_weight * lm + opts.word_bonus * self.n_words - opts.rank_weight * self.rank
        if self.asr_score is not None:
            score += opts.asr_weight * self.asr_score
        return score


def choose(candidates: Sequence[Candidate], incumbent: int, opts: RescorerOptions) -> tuple[int, float]:
    """Pick a candidate: ``(index into candidates, confidence)``.

    ``incumbent`` is the index of the current 1-best; it is kept unless an allowed
    alternative wins by more than ``opts.margin``.
    """
    scores = [c.combined(opts) for c in candidates]
    base = candidates[incumbent]
    best = incumbent
    for i, c in enumerate(candidates):
        if i == incumbent or c.rank > opts.max_rank or not c.normalized:
            continue
        if scores[i] - scores[incumbent] <= opts.margin or scores[i] <= scores[best]:
            continue
        if abs(c.n_words - base.n_words) > opts.max_word_diff:
            continue
        if opts.oov_guard and c.oov != base.oov:
            continue
        if opts.spelling_guard and spelling_variants(base.normalized, c.normalized):
            continue
        best = i
    top = max(scores)
    weights = [math.exp((s - top) / opts.temperature) for s in scores]
    return best, weights[best] / sum(weights)


_SPELLING_RULES = (
    (re.compile(r"(?<=\w{2})our(s|ed|ing|ite|ites|able|ably|er|ers|ful|less)?$"), r"or\1"),
    (re.compile(r"(?<=\w{3})is(e|es|ed|ing|ation|ations)$"), r"iz\1"),
    (re.compile(r"(?<=\w{3})ys(e|es|ed|ing)$"), r"yz\1"),
    (re.compile(r"(?<=\w{3})tre(s)?$"), r"ter\1"),
    (re.compile(r"(?<=\w{4})ll(ed|ing|er|ers)$"), r"l\1"),
    (re.compile(r"(?<=\w{4})ogue(s)?$"), r"og\1"),
    (re.compile(r"^grey"), "gray"),
)


def _spelling_key(word: str) -> str:
    for pattern, repl in _SPELLING_RULES:
        word = pattern.sub(repl, word)
    return word


def spelling_variants(a: str, b: str) -> bool:
    """True when two different normalised sentences differ only in British/American spelling."""
    wa, wb = a.split(), b.split()
    if wa == wb or len(wa) != len(wb):
        return False
    return all(x == y or _spelling_key(x) == _spelling_key(y) for x, y in zip(wa, wb, strict=True))


class NBestRescorer:
    """Re-ranks n-best lists with a KenLM model; a :class:`~emendo.correctors.base.Corrector`.

    ``lm_path`` defaults to the bundled English model; the version string carries the
    first 12 hex digits of the model file's sha256, so a changed model changes the
    provenance of every correction. Raises
    :class:`~emendo.correctors.lm_scorer.LanguageModelError` (an ``EmendoError``) at
    construction when the model file is missing.
    """

    name = "kenlm-rescorer"

    def __init__(self, options: RescorerOptions | None = None, *, lm_path: str | Path | None = None,
                 scorer: KenLMScorer | None = None) -> None:
        self.options = options or RescorerOptions()
        self.scorer = scorer or KenLMScorer(lm_path)
        self.lm_sha256 = self.scorer.sha256()
        self.version = f"{RESCORER_VERSION}+lm.{self.lm_sha256[:12]}"

    def candidates(self, hyp: Hypothesis) -> tuple[list[Candidate], int] | None:
        """The distinct candidates of ``hyp`` and the index of its current text among them.

        None when there is nothing to choose from (no n-best list, or the text is not in it).
        """
        if not hyp.nbest:
            return None
        norm_text = self.scorer.normalize(hyp.text)
        seen: dict[str, int] = {}
        out: list[Candidate] = []
        for rank, raw in enumerate(hyp.nbest):
            norm = self.scorer.normalize(raw)
            if norm in seen:
                continue
            seen[norm] = len(out)
            asr = hyp.nbest_scores[rank] if hyp.nbest_scores is not None else None
            words = norm.split()
            out.append(Candidate(raw, norm, rank, self.scorer.score(norm, normalized=True), len(words),
                                 asr, self.scorer.oov_words(words)))
        incumbent = seen.get(norm_text)
        if incumbent is None or not norm_text:
            return None
        return out, incumbent

    def rescore(self, hyp: Hypothesis) -> Correction:
        found = self.candidates(hyp)
        if found is None or len(found[0]) < 2:
            return Correction(hyp, hyp.text, confidence=1.0)
        cands, incumbent = found
        best, confidence = choose(cands, incumbent, self.options)
        text = hyp.text if best == incumbent else cands[best].text
        return Correction(hyp, text, confidence=confidence)

    def correct(self, batch: Sequence[Hypothesis]) -> list[Correction]:
        return [self.rescore(h) for h in batch]

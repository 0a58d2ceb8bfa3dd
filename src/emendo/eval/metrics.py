"""Corpus-level WER / CER / WAR / CAR with jiwer, and before/after comparisons.

Conventions (all scores name the normalisation preset they were computed under):

* Texts are normalised with a named preset (:mod:`emendo.eval.normalize`) and then
  aligned by :func:`jiwer.process_words` / :func:`jiwer.process_characters`.
* Rates are **corpus-level**: ``WER = (S + D + I) / N`` summed over all utterances,
  ``N`` the number of reference words (``CER`` likewise over characters, spaces
  included). They are not averages of per-utterance rates, and can exceed 1.
* **Empty texts** never crash. An utterance whose reference is empty after
  normalisation adds no reference tokens and counts every hypothesis token as an
  insertion; an empty hypothesis counts every reference token as a deletion. If the
  whole corpus has no reference tokens the rate is the number of inserted tokens
  (jiwer's convention), so empty against empty is 0.0. An empty corpus (``n == 0``)
  scores 0.0 error, 1.0 accuracy.
* **Accuracy**: ``WAR = max(0, 1 - WER)`` and ``CAR = max(0, 1 - CER)`` (word / character
  accuracy rate, as reported in post-OCR correction work); floored at 0 because the
  error rate exceeds 1 when a hypothesis inserts many tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import jiwer

from emendo.eval.normalize import DEFAULT_PRESET, Preset, get_preset

__all__ = ["Comparison", "Scores", "compare", "score"]

_WORDS = jiwer.Compose([jiwer.ReduceToListOfListOfWords()])
_CHARS = jiwer.Compose([jiwer.ReduceToListOfListOfChars()])


@dataclass(frozen=True)
class Scores:
    """Corpus-level scores of hypotheses against references under one preset.

    ``wer``/``cer`` are error rates, ``war``/``car`` the accuracies ``max(0, 1 - rate)``;
    ``n`` utterances with ``ref_words`` / ``ref_chars`` reference tokens;
    ``hits``/``substitutions``/``deletions``/``insertions`` are word-level counts and
    ``char_errors`` the character edit count; ``exact`` counts utterances whose
    normalised hypothesis equals the normalised reference.
    """

    wer: float
    cer: float
    war: float
    car: float
    n: int
    ref_words: int
    ref_chars: int
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    char_errors: int
    exact: int
    preset: str

    @property
    def word_errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["word_errors"] = self.word_errors
        return out


@dataclass(frozen=True)
class Comparison:
    """The recogniser's output (``before``) and emendo's (``after``) on the same references.

    Per utterance, ``improved``/``worsened``/``unchanged`` compare the pair
    (word edits, character edits) against the reference, lexicographically.
    ``changed`` counts utterances whose normalised text the correction altered;
    ``correct_before`` those whose input already matched the reference; ``harmed``
    those of them the correction made wrong, ``fixed`` wrong inputs it made right.
    Word level: ``correct_words_before`` reference words that the input got right
    (aligned as hits); ``harmed_words`` of those are no longer hits after correction;
    ``fixed_words`` reference words that were not hits before and are after.
    """

    before: Scores
    after: Scores
    improved: int
    worsened: int
    unchanged: int
    changed: int
    correct_before: int
    harmed: int
    fixed: int
    correct_words_before: int
    harmed_words: int
    fixed_words: int

    @property
    def n(self) -> int:
        return self.before.n

    @property
    def wer_delta(self) -> float:
        """Absolute WER change, ``after - before`` (negative is better)."""
        return self.after.wer - self.before.wer

    @property
    def cer_delta(self) -> float:
        """Absolute CER change, ``after - before`` (negative is better)."""
        return self.after.cer - self.before.cer

    @property
    def wer_rel(self) -> float | None:
        """Relative WER change ``(after - before) / before``; None when before is 0."""
        return _relative(self.before.wer, self.after.wer)

    @property
    def cer_rel(self) -> float | None:
        """Relative CER change ``(after - before) / before``; None when before is 0."""
        return _relative(self.before.cer, self.after.cer)

    @property
    def harm(self) -> float:
        """Fraction of already-correct inputs the correction broke (0.0 if there were none)."""
        return self.harmed / self.correct_before if self.correct_before else 0.0

    @property
    def word_harm(self) -> float:
        """Fraction of correctly recognised reference words the correction broke (0.0 if none)."""
        return self.harmed_words / self.correct_words_before if self.correct_words_before else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            "wer_delta": self.wer_delta,
            "wer_rel": self.wer_rel,
            "cer_delta": self.cer_delta,
            "cer_rel": self.cer_rel,
            "improved": self.improved,
            "worsened": self.worsened,
            "unchanged": self.unchanged,
            "changed": self.changed,
            "correct_before": self.correct_before,
            "harmed": self.harmed,
            "fixed": self.fixed,
            "harm": self.harm,
            "correct_words_before": self.correct_words_before,
            "harmed_words": self.harmed_words,
            "fixed_words": self.fixed_words,
            "word_harm": self.word_harm,
        }


@dataclass(frozen=True)
class _Aligned:
    """Scores plus the per-utterance detail :func:`compare` needs."""

    scores: Scores
    word_errors: list[int]
    char_errors: list[int]
    ref_hits: list[set[int]]
    hyps: list[str]


def score(refs: Sequence[str], hyps: Sequence[str], preset: str | Preset = DEFAULT_PRESET) -> Scores:
    """Corpus-level scores of ``hyps`` against ``refs`` (same length, paired by position)."""
    p = get_preset(preset)
    _check_lengths(refs, hyps=hyps)
    return _align(p.normalize_all(refs), p.normalize_all(hyps), p.name).scores


def compare(
    refs: Sequence[str],
    before: Sequence[str],
    after: Sequence[str],
    preset: str | Preset = DEFAULT_PRESET,
) -> Comparison:
    """Score the input (``before``) and the corrected text (``after``) against ``refs``."""
    p = get_preset(preset)
    _check_lengths(refs, before=before, after=after)
    norm_refs = p.normalize_all(refs)
    b = _align(norm_refs, p.normalize_all(before), p.name)
    a = _align(norm_refs, p.normalize_all(after), p.name)
    improved = worsened = changed = correct_before = harmed = fixed = 0
    correct_words = harmed_words = fixed_words = 0
    for i, ref in enumerate(norm_refs):
        cost_b = (b.word_errors[i], b.char_errors[i])
        cost_a = (a.word_errors[i], a.char_errors[i])
        improved += cost_a < cost_b
        worsened += cost_a > cost_b
        changed += a.hyps[i] != b.hyps[i]
        if b.hyps[i] == ref:
            correct_before += 1
            harmed += a.hyps[i] != ref
        elif a.hyps[i] == ref:
            fixed += 1
        correct_words += len(b.ref_hits[i])
        harmed_words += len(b.ref_hits[i] - a.ref_hits[i])
        fixed_words += len(a.ref_hits[i] - b.ref_hits[i])
    return Comparison(
        before=b.scores, after=a.scores, improved=improved, worsened=worsened,
        unchanged=len(norm_refs) - improved - worsened, changed=changed,
        correct_before=correct_before, harmed=harmed, fixed=fixed,
        correct_words_before=correct_words, harmed_words=harmed_words, fixed_words=fixed_words,
    )


def _align(refs: list[str], hyps: list[str], preset: str) -> _Aligned:
    """Align already-normalised texts at word and character level."""
    if not refs:
        empty = Scores(0.0, 0.0, 1.0, 1.0, 0, 0, 0, 0, 0, 0, 0, 0, 0, preset)
        return _Aligned(empty, [], [], [], [])
    words = jiwer.process_words(refs, hyps, reference_transform=_WORDS, hypothesis_transform=_WORDS)
    chars = jiwer.process_characters(refs, hyps, reference_transform=_CHARS, hypothesis_transform=_CHARS)
    word_errors: list[int] = []
    ref_hits: list[set[int]] = []
    for chunks in words.alignments:
        errors, hits = 0, set[int]()
        for c in chunks:
            if c.type == "equal":
                hits.update(range(c.ref_start_idx, c.ref_end_idx))
            elif c.type == "insert":
                errors += c.hyp_end_idx - c.hyp_start_idx
            else:  # substitute / delete: one error per reference token
                errors += c.ref_end_idx - c.ref_start_idx
        word_errors.append(errors)
        ref_hits.append(hits)
    char_errors = [
        sum(max(c.ref_end_idx - c.ref_start_idx, c.hyp_end_idx - c.hyp_start_idx)
            for c in chunks if c.type != "equal")
        for chunks in chars.alignments
    ]
    ref_words = sum(len(r) for r in words.references)
    ref_chars = sum(len(r) for r in chars.references)
    n_word_errors = words.substitutions + words.deletions + words.insertions
    n_char_errors = chars.substitutions + chars.deletions + chars.insertions
    wer = _rate(n_word_errors, ref_words)
    cer = _rate(n_char_errors, ref_chars)
    scores = Scores(
        wer=wer, cer=cer, war=max(0.0, 1.0 - wer), car=max(0.0, 1.0 - cer), n=len(refs),
        ref_words=ref_words, ref_chars=ref_chars, hits=words.hits, substitutions=words.substitutions,
        deletions=words.deletions, insertions=words.insertions, char_errors=n_char_errors,
        exact=sum(r == h for r, h in zip(refs, hyps, strict=True)), preset=preset,
    )
    return _Aligned(scores, word_errors, char_errors, ref_hits, hyps)


def _rate(errors: int, ref_tokens: int) -> float:
    return errors / ref_tokens if ref_tokens else float(errors)


def _relative(before: float, after: float) -> float | None:
    return (after - before) / before if before else None


def _check_lengths(refs: Sequence[str], **others: Sequence[str]) -> None:
    for name, seq in others.items():
        if len(seq) != len(refs):
            raise ValueError(f"{len(refs)} references but {len(seq)} {name}")

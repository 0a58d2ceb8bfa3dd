"""Entity metrics: entity recall/precision, NE-CER (CER over entity spans), sentence WER, harm.

Reference entities are character spans of the reference text. Each span is projected onto a
system output (the hypothesis before correction, or the corrected text after) through a
character alignment, widened to whole words, and compared with the reference surface under
the shared ``hyporadise`` normalisation preset (lower-case, punctuation removed; ASR output
does not carry the reference's case and punctuation):

* **recall**: share of reference entities whose projected output span equals the surface;
* **precision**: share of the corrector's changed word regions (input vs output) that land
  on a reference entity and make it right (``None`` when nothing changed);
* **NE-CER**: character edits between projected spans and surfaces over surface characters;
* **WER**: corpus word error rate of whole sentences (:func:`emendo.eval.metrics.score`);
* **words changed**: share of input words a corrector changed (harm on clean text).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from rapidfuzz.distance import Levenshtein

from emendo.eval.metrics import score
from emendo.eval.normalize import get_preset

_EDGE = "\"'“”‘’«»()[]{}<>.,;:!?…—–-"


@dataclass(frozen=True, slots=True)
class EntitySpan:
    """A reference entity mention: characters ``[start, end)`` of the reference are ``surface``."""

    start: int
    end: int
    surface: str
    entity_id: str = ""


def record_spans(record: dict[str, Any]) -> list[EntitySpan]:
    """The entity spans of an evaluation-set record (``{"spans": [{"start", "end", "surface",
    "entity_id"}, ...]}``, as ``scripts/make_entity_evalset.py`` writes them)."""
    return [EntitySpan(s["start"], s["end"], s["surface"], s["entity_id"]) for s in record["spans"]]


@dataclass(frozen=True)
class EntityScores:
    """Entity-level and sentence-level scores of outputs against references."""

    entities: int
    recalled: int
    recall: float
    proposals: int
    correct_proposals: int
    precision: float | None
    ne_char_errors: int
    ne_ref_chars: int
    ne_cer: float
    wer: float
    utterances: int
    # with ``inputs``: words of the outputs changed outside every (projected) reference entity span,
    # e.g. an entity name put in place of ordinary words, per input word (harm inside entity utterances)
    off_entity_words: int = 0
    off_entity_rate: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def levenshtein(a: str, b: str) -> int:
    """Character edit distance."""
    return int(Levenshtein.distance(a, b))


def project(ref: str, out: str, start: int, end: int) -> tuple[int, int]:
    """The whole-word character span of ``out`` aligned with ``ref[start:end]`` (may be empty)."""
    ops = difflib.SequenceMatcher(None, ref.lower(), out.lower(), autojunk=False).get_opcodes()
    s, e = _map(ops, start, left=True), _map(ops, end, left=False)
    if e <= s:
        return s, s
    while s > 0 and not out[s - 1].isspace():
        s -= 1
    while e < len(out) and not out[e].isspace():
        e += 1
    while s < e and out[s] in _EDGE:
        s += 1
    while e > s and out[e - 1] in _EDGE:
        e -= 1
    return s, e


def _map(ops: Sequence[tuple[str, int, int, int, int]], pos: int, *, left: bool) -> int:
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" and i1 <= pos <= i2:
            return j1 + (pos - i1)
        if tag in ("replace", "delete") and i1 <= pos <= i2:
            return j1 if left and pos == i1 else j2 if not left or pos == i2 else j1
    return ops[-1][4] if ops else 0


def _word_ops(before: str, after: str, fold_case: bool) -> tuple[int, Sequence[tuple[str, int, int, int, int]]]:
    """(words of ``before``, the word-level edit opcodes turning ``before`` into ``after``), case-blind
    when ``fold_case``; the word indexes are those of ``before.split()`` and ``after.split()``."""
    if fold_case:
        before, after = before.casefold(), after.casefold()
    a, b = before.split(), after.split()
    return len(a), difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()


def changed_regions(before: str, after: str, *, fold_case: bool = True) -> list[tuple[int, int]]:
    """Character spans of ``after`` covering the words that differ from ``before`` (case-blind unless
    ``fold_case`` is false, like :func:`words_changed`)."""
    offsets, cursor = [], 0
    for word in after.split():
        cursor = after.index(word, cursor)
        offsets.append((cursor, cursor + len(word)))
        cursor += len(word)
    out = []
    for tag, _i1, _i2, j1, j2 in _word_ops(before, after, fold_case)[1]:
        if tag in ("replace", "insert") and j2 > j1:
            out.append((offsets[j1][0], offsets[j2 - 1][1]))
    return out


def words_changed(inputs: Sequence[str], outputs: Sequence[str], *, fold_case: bool = True) -> tuple[int, int]:
    """(input words replaced or deleted, total input words) over all pairs: the harm measure.

    Words are compared case-blind, as WER and NE-CER compare them: a correctly heard name
    written with its capital ("japan" -> "Japan") changes no word (unless ``fold_case`` is false).
    """
    changed = total = 0
    for before, after in zip(inputs, outputs, strict=True):
        words, ops = _word_ops(before, after, fold_case)
        total += words
        for tag, i1, i2, j1, j2 in ops:
            if tag != "equal":
                changed += max(i2 - i1, j2 - j1 if tag == "insert" else 0)
    return changed, total


def entity_scores(refs: Sequence[str], outputs: Sequence[str], spans: Sequence[Sequence[EntitySpan]],
                  inputs: Sequence[str] | None = None, preset: str = "hyporadise", *,
                  fold_case: bool = True) -> EntityScores:
    """Scores of ``outputs`` (with ``inputs``, the text before correction, for precision and the
    off-entity count; a change of case alone is no change unless ``fold_case`` is false)."""
    norm = get_preset(preset).normalize
    recalled = entities = errors = chars = proposals = correct = off = input_words = 0
    for i, (ref, out) in enumerate(zip(refs, outputs, strict=True)):
        right: list[tuple[int, int]] = []
        named: list[tuple[int, int]] = []
        for span in spans[i]:
            s, e = project(ref, out, span.start, span.end)
            named.append((s, e))
            want, got = norm(span.surface), norm(out[s:e])
            entities += 1
            chars += len(want)
            errors += levenshtein(want, got)
            if want == got:
                recalled += 1
                right.append((s, e))
        if inputs is not None:
            input_words += len(inputs[i].split())
            for s, e in changed_regions(inputs[i], out, fold_case=fold_case):
                proposals += 1
                correct += any(s < re_ and rs < e for rs, re_ in right)
                if not any(s < ne and ns < e for ns, ne in named):
                    off += len(out[s:e].split())
    wer = score(list(refs), list(outputs), preset).wer if refs else 0.0
    return EntityScores(entities, recalled, recalled / max(entities, 1), proposals, correct,
                        correct / proposals if proposals else None, errors, chars, errors / max(chars, 1), wer,
                        len(refs), off, off / max(input_words, 1) if inputs is not None else None)

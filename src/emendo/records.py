"""The one record schema shared by producers, agents, batch jobs and evaluation.

A :class:`Hypothesis` is what a recognizer produced; a :class:`Correction` is a
hypothesis plus what emendo made of it; a :class:`TrainingPair` is a (noisy, clean)
example made by ``emendo.synth``.

JSON codec
----------
Records travel as JSON objects (one per Kafka value or JSONL line)::

    {"id": "utt-1", "text": "the cat sat", "source": "asr",
     "nbest": ["the cat sat", "the cat sad"], "nbest_scores": [-0.2, -0.4],
     "confidences": [0.99, 0.97, 0.6], "lang": "en", "entities": "default",
     "meta": {...}, "schema": 1}

Only ``id`` and ``text`` are required; ``source`` defaults to ``asr``. ``nbest`` may
also be a list of ``{"text": ..., "score": ...}`` objects. Fields this release does not
know are kept in :attr:`Hypothesis.extra` and written back unchanged, so records pass
through emendo without losing anything. A record with a ``schema`` newer than
:data:`SCHEMA_VERSION` is rejected with :class:`~emendo.errors.SchemaVersionError`.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

from emendo.errors import RecordError, SchemaVersionError

SCHEMA_VERSION = 1
MAX_TEXT_CHARS = 20_000
MAX_ID_CHARS = 256
MAX_NBEST = 100

Source = Literal["asr", "htr"]
EditOp = Literal["replace", "insert", "delete"]
SOURCES: tuple[Source, ...] = ("asr", "htr")

_HYPOTHESIS_FIELDS = frozenset(
    {"id", "text", "source", "nbest", "nbest_scores", "confidences", "lang", "entities",
     "meta", "schema"}
)
_CORRECTION_FIELDS = frozenset(
    {"corrected", "changed", "edits", "confidence", "correctors", "model_versions",
     "timings_ms"}
)


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """A recognizer's output for one utterance or text line."""

    id: str
    text: str
    source: Source = "asr"
    nbest: tuple[str, ...] | None = None
    nbest_scores: tuple[float, ...] | None = None
    confidences: tuple[float, ...] | None = None
    lang: str | None = None
    entities: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate_hypothesis(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, max_chars: int = MAX_TEXT_CHARS) -> Hypothesis:
        """Build a validated hypothesis from a decoded JSON object."""
        if not isinstance(data, Mapping):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}")
        _check_schema(data.get("schema", SCHEMA_VERSION))
        text = _require_str(data, "text")
        if len(text) > max_chars:
            raise RecordError(f"text has {len(text)} characters, limit is {max_chars}", field="text")
        nbest, scores = _parse_nbest(data.get("nbest"), data.get("nbest_scores"))
        return cls(
            id=_require_str(data, "id"),
            text=text,
            source=cast(Source, data.get("source", "asr")),
            nbest=nbest,
            nbest_scores=scores,
            confidences=_float_tuple(data.get("confidences"), "confidences"),
            lang=_optional_str(data, "lang"),
            entities=_optional_str(data, "entities"),
            meta=_mapping(data.get("meta"), "meta"),
            extra={k: v for k, v in data.items() if k not in _HYPOTHESIS_FIELDS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object form (unknown input fields included)."""
        out: dict[str, Any] = dict(self.extra)
        out.update(id=self.id, text=self.text, source=self.source)
        if self.nbest is not None:
            out["nbest"] = list(self.nbest)
        if self.nbest_scores is not None:
            out["nbest_scores"] = list(self.nbest_scores)
        if self.confidences is not None:
            out["confidences"] = list(self.confidences)
        if self.lang is not None:
            out["lang"] = self.lang
        if self.entities is not None:
            out["entities"] = self.entities
        if self.meta:
            out["meta"] = dict(self.meta)
        out["schema"] = SCHEMA_VERSION
        return out

    def candidates(self) -> tuple[str, ...]:
        """The n-best list if there is one, else just the 1-best text."""
        return self.nbest if self.nbest else (self.text,)


@dataclass(frozen=True, slots=True)
class Edit:
    """One word-level change: input words ``[start, end)`` became ``after``."""

    op: EditOp
    start: int
    end: int
    before: str
    after: str

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "start": self.start, "end": self.end,
                "before": self.before, "after": self.after}


@dataclass(frozen=True, slots=True)
class Step:
    """Provenance of one corrector in a pipeline run."""

    corrector: str
    version: str
    changed: bool
    text: str
    ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"corrector": self.corrector, "version": self.version, "changed": self.changed,
                "text": self.text, "ms": round(self.ms, 3)}


@dataclass(frozen=True, slots=True)
class Correction:
    """A hypothesis and the text emendo made of it."""

    hypothesis: Hypothesis
    corrected: str
    edits: tuple[Edit, ...] = ()
    confidence: float = 1.0
    steps: tuple[Step, ...] = ()

    @property
    def id(self) -> str:
        return self.hypothesis.id

    @property
    def changed(self) -> bool:
        return self.corrected != self.hypothesis.text

    @property
    def model_versions(self) -> dict[str, str]:
        return {s.corrector: s.version for s in self.steps}

    @property
    def total_ms(self) -> float:
        return sum(s.ms for s in self.steps)

    def to_dict(self) -> dict[str, Any]:
        out = self.hypothesis.to_dict()
        out.update(
            corrected=self.corrected,
            changed=self.changed,
            edits=[e.to_dict() for e in self.edits],
            confidence=round(self.confidence, 6),
            correctors=[s.to_dict() for s in self.steps],
            model_versions=self.model_versions,
            timings_ms={"total": round(self.total_ms, 3)},
        )
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Correction:
        """Read back a correction written by :meth:`to_dict`."""
        if "corrected" not in data:
            raise RecordError("missing required field", field="corrected")
        hyp = Hypothesis.from_dict({k: v for k, v in data.items() if k not in _CORRECTION_FIELDS})
        try:
            edits = tuple(Edit(**e) for e in data.get("edits", ()))
            steps = tuple(Step(**s) for s in data.get("correctors", ()))
        except TypeError as exc:
            raise RecordError(f"malformed edits/correctors: {exc}") from exc
        return cls(hyp, _require_str(data, "corrected"), edits,
                   float(data.get("confidence", 1.0)), steps)


@dataclass(frozen=True, slots=True)
class TrainingPair:
    """A (noisy, clean) example for training a corrector, with its provenance."""

    id: str
    source: Source
    lang: str
    clean: str
    noisy: str
    nbest: tuple[str, ...] | None = None
    confidences: tuple[float, ...] | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "source": self.source, "lang": self.lang,
                               "clean": self.clean, "noisy": self.noisy}
        if self.nbest is not None:
            out["nbest"] = list(self.nbest)
        if self.confidences is not None:
            out["confidences"] = list(self.confidences)
        out["provenance"] = dict(self.provenance)
        out["schema"] = SCHEMA_VERSION
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingPair:
        _check_schema(data.get("schema", SCHEMA_VERSION))
        source = data.get("source")
        if source not in SOURCES:
            raise RecordError(f"must be one of {SOURCES}, got {source!r}", field="source")
        return cls(
            id=_require_str(data, "id"),
            source=cast(Source, source),
            lang=_require_str(data, "lang"),
            clean=_require_str(data, "clean"),
            noisy=_require_str(data, "noisy"),
            nbest=_str_tuple(data.get("nbest"), "nbest"),
            confidences=_float_tuple(data.get("confidences"), "confidences"),
            provenance=_mapping(data.get("provenance"), "provenance"),
        )


# ---------------------------------------------------------------- JSON codec

def decode_hypothesis(raw: bytes | str, *, max_chars: int = MAX_TEXT_CHARS) -> Hypothesis:
    """Decode one JSON record (Kafka value or JSONL line) into a :class:`Hypothesis`."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(f"value is not valid UTF-8 (byte {exc.start})") from exc
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RecordError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    return Hypothesis.from_dict(data, max_chars=max_chars)


def encode(record: Hypothesis | Correction | TrainingPair) -> bytes:
    """Serialise a record as compact UTF-8 JSON."""
    return json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()


def with_text(hyp: Hypothesis, text: str) -> Hypothesis:
    """A copy of ``hyp`` with a new 1-best text (used between pipeline stages); its word
    confidences follow the words (:func:`carry_confidences`), so a stage that merges or splits
    words hands the next one a valid record."""
    if hyp.confidences is None or text == hyp.text:
        return replace(hyp, text=text)
    return replace(hyp, text=text, confidences=carry_confidences(hyp.text, text, hyp.confidences))


def carry_confidences(old: str, new: str, confidences: Sequence[float]) -> tuple[float, ...] | None:
    """The recogniser's word confidences of ``old`` moved onto the words of ``new``: a word a
    stage left as it was keeps its own; the words that replace others get the lowest of theirs
    (the recogniser was unsure there, whatever a stage made of it); an inserted word gets the
    lowest of its neighbours'. None when ``new`` has no words or ``old`` had none."""
    before, after = old.split(), new.split()
    if not after or not before or len(confidences) != len(before):
        return None
    out: list[float] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        if op == "equal":
            out += confidences[i1:i2]
        elif op != "delete":
            source = confidences[i1:i2] if i2 > i1 else confidences[max(i1 - 1, 0):i1 + 1]
            out += [min(source)] * (j2 - j1)
    return tuple(out)


# ---------------------------------------------------------------- validation

def _validate_hypothesis(h: Hypothesis) -> None:
    if not isinstance(h.id, str) or not h.id.strip():
        raise RecordError("must be a non-empty string", field="id")
    if len(h.id) > MAX_ID_CHARS:
        raise RecordError(f"longer than {MAX_ID_CHARS} characters", field="id")
    if not isinstance(h.text, str) or not h.text.strip():
        raise RecordError("must be a non-empty string", field="text")
    if h.source not in SOURCES:
        raise RecordError(f"must be one of {SOURCES}, got {h.source!r}", field="source")
    if h.nbest is not None:
        if not h.nbest:
            raise RecordError("must not be an empty list", field="nbest")
        if len(h.nbest) > MAX_NBEST:
            raise RecordError(f"more than {MAX_NBEST} entries", field="nbest")
        if h.nbest_scores is not None and len(h.nbest_scores) != len(h.nbest):
            raise RecordError(
                f"{len(h.nbest_scores)} scores for {len(h.nbest)} hypotheses", field="nbest_scores"
            )
    elif h.nbest_scores is not None:
        raise RecordError("given without nbest", field="nbest_scores")
    if h.confidences is not None:
        n_words = len(h.text.split())
        if len(h.confidences) != n_words:
            raise RecordError(
                f"{len(h.confidences)} values for {n_words} words of text", field="confidences"
            )
        if any(not 0.0 <= c <= 1.0 for c in h.confidences):
            raise RecordError("values must lie in [0, 1]", field="confidences")


def _check_schema(version: Any) -> None:
    if not isinstance(version, int) or isinstance(version, bool):
        raise SchemaVersionError(f"must be an integer, got {version!r}", field="schema")
    if not 1 <= version <= SCHEMA_VERSION:
        raise SchemaVersionError(
            f"version {version} not supported (this release reads 1..{SCHEMA_VERSION})",
            field="schema",
        )


def _require_str(data: Mapping[str, Any], name: str) -> str:
    if name not in data:
        raise RecordError("missing required field", field=name)
    value = data[name]
    if not isinstance(value, str):
        raise RecordError(f"must be a string, got {type(value).__name__}", field=name)
    return value


def _optional_str(data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is not None and not isinstance(value, str):
        raise RecordError(f"must be a string, got {type(value).__name__}", field=name)
    return value


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(f"must be an object, got {type(value).__name__}", field=name)
    return dict(value)


def _str_tuple(value: Any, name: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise RecordError("must be a list of strings", field=name)
    if not all(isinstance(v, str) for v in value):
        raise RecordError("must be a list of strings", field=name)
    return tuple(value)


def _float_tuple(value: Any, name: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise RecordError("must be a list of numbers", field=name)
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise RecordError(f"must be a list of finite numbers, found {v!r}", field=name)
        out.append(float(v))
    return tuple(out)


def _parse_nbest(nbest: Any, scores: Any) -> tuple[tuple[str, ...] | None, tuple[float, ...] | None]:
    """Accept ``["a", "b"]`` (+ ``nbest_scores``) or ``[{"text": "a", "score": -1.2}, ...]``."""
    if nbest is None:
        return None, _float_tuple(scores, "nbest_scores")
    if isinstance(nbest, list) and nbest and all(isinstance(e, Mapping) for e in nbest):
        if scores is not None:
            raise RecordError("scores given both inline and in nbest_scores", field="nbest")
        texts = _str_tuple([e.get("text") for e in nbest], "nbest")
        if all("score" in e for e in nbest):
            return texts, _float_tuple([e["score"] for e in nbest], "nbest")
        return texts, None
    return _str_tuple(nbest, "nbest"), _float_tuple(scores, "nbest_scores")

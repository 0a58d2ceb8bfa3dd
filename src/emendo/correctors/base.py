"""The swap point between correctors: ``Corrector.correct(batch) -> list[Correction]``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from emendo.records import Correction, Hypothesis


@runtime_checkable
class Corrector(Protocol):
    """Anything that turns a batch of hypotheses into one correction each, in order.

    Implementations fill ``corrected`` and ``confidence``; the :class:`~emendo.correctors.
    pipeline.Pipeline` adds edits, provenance and timings. A corrector raises an
    :class:`~emendo.errors.EmendoError` (or any exception) when it cannot handle a batch;
    the pipeline then isolates the failing record.
    """

    name: str
    version: str

    def correct(self, batch: Sequence[Hypothesis]) -> list[Correction]: ...


class IdentityCorrector:
    """Returns every hypothesis unchanged: the baseline, and a probe for the plumbing."""

    name = "identity"
    version = "1"

    def correct(self, batch: Sequence[Hypothesis]) -> list[Correction]:
        return [Correction(h, h.text, confidence=1.0) for h in batch]

"""Compose correctors: each stage sees the previous stage's text."""

from __future__ import annotations

import time
from collections.abc import Sequence

from emendo.correctors.base import Corrector
from emendo.correctors.edits import word_edits
from emendo.errors import CorrectorError
from emendo.records import Correction, Hypothesis, Step, with_text


class Pipeline:
    """Runs correctors in order and merges their outputs into one correction per record.

    The final :class:`~emendo.records.Correction` carries the original hypothesis, the
    last stage's text, word edits from input to output, the product of the stage
    confidences, and one :class:`~emendo.records.Step` (provenance, time) per stage.
    """

    name = "pipeline"

    def __init__(self, correctors: Sequence[Corrector]) -> None:
        if not correctors:
            raise CorrectorError("a pipeline needs at least one corrector")
        self.correctors = tuple(correctors)
        self.version = "+".join(f"{c.name}@{c.version}" for c in self.correctors)

    def correct(self, batch: Sequence[Hypothesis]) -> list[Correction]:
        """Correct a batch; any stage's exception propagates."""
        current = list(batch)
        steps: list[list[Step]] = [[] for _ in batch]
        confidence = [1.0] * len(batch)
        for corrector in self.correctors:
            t0 = time.perf_counter()
            out = corrector.correct(current)
            per_record_ms = (time.perf_counter() - t0) * 1000 / max(len(batch), 1)
            if len(out) != len(current):
                raise CorrectorError(
                    f"{corrector.name} returned {len(out)} corrections for {len(current)} inputs"
                )
            for i, (hyp, corr) in enumerate(zip(current, out, strict=True)):
                steps[i].append(Step(corrector.name, corrector.version,
                                     corr.corrected != hyp.text, corr.corrected, per_record_ms))
                confidence[i] *= corr.confidence
                current[i] = with_text(hyp, corr.corrected)
        return [
            Correction(orig, cur.text, word_edits(orig.text, cur.text), conf, tuple(st))
            for orig, cur, conf, st in zip(batch, current, confidence, steps, strict=True)
        ]

    def correct_isolated(self, batch: Sequence[Hypothesis]) -> list[Correction | Exception]:
        """Like :meth:`correct`, but a failing record yields its exception, not a failed batch.

        The whole batch is tried first; if it raises, records are retried one by one so
        that one bad record cannot take its neighbours down with it.
        """
        try:
            return list(self.correct(batch))
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
        results: list[Correction | Exception] = []
        for hyp in batch:
            try:
                results.append(self.correct([hyp])[0])
            except Exception as exc:
                results.append(exc)
        return results


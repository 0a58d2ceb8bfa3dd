"""Turn one batch of Kafka messages into output messages: corrections or dead letters.

This is the agents' whole logic, kept free of Faust so it can be tested in-process.
Every input message yields exactly one output message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from emendo.correctors.base import Corrector
from emendo.correctors.pipeline import Pipeline
from emendo.errors import RecordError
from emendo.records import Correction, Hypothesis, Source, decode_hypothesis, encode
from emendo.settings import Settings
from emendo.streams.deadletter import DeadLetter


@dataclass(frozen=True, slots=True)
class InMessage:
    """A consumed Kafka message (value as raw bytes)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class OutMessage:
    """A message to publish: a correction or a dead letter."""

    topic: str
    key: bytes
    value: bytes
    changed: bool = False
    dead_letter: DeadLetter | None = None


class BatchHandler:
    """Decodes, validates, corrects and routes one batch of input messages."""

    def __init__(self, settings: Settings, corrector: Corrector) -> None:
        self.settings = settings
        self.pipeline = corrector if isinstance(corrector, Pipeline) else Pipeline([corrector])
        self.source_of_topic: dict[str, Source] = {settings.asr_in: "asr", settings.htr_in: "htr"}

    def decode(self, msg: InMessage) -> Hypothesis:
        """Decode and validate one message; raise RecordError with a readable reason."""
        if msg.value is None:
            raise RecordError("empty Kafka value (tombstone)")
        hyp = decode_hypothesis(msg.value, max_chars=self.settings.max_text_chars)
        expected = self.source_of_topic.get(msg.topic)
        if expected is not None and hyp.source != expected:
            raise RecordError(
                f"record with source {hyp.source!r} arrived on the {expected} topic {msg.topic!r}",
                field="source")
        return hyp

    def handle(self, batch: Sequence[InMessage]) -> list[OutMessage]:
        """One output message per input message, in input order."""
        results: list[Hypothesis | Exception] = []
        for msg in batch:
            try:
                results.append(self.decode(msg))
            except RecordError as exc:
                results.append(exc)
        valid = [r for r in results if isinstance(r, Hypothesis)]
        corrected = iter(self.pipeline.correct_isolated(valid) if valid else [])
        out: list[OutMessage] = []
        for msg, item in zip(batch, results, strict=True):
            outcome: Correction | Exception = item if isinstance(item, Exception) else next(corrected)
            if isinstance(outcome, Correction):
                topic = self.settings.output_topic[outcome.hypothesis.source]
                out.append(OutMessage(topic, outcome.id.encode(), encode(outcome), outcome.changed))
            else:
                record_id = item.id if isinstance(item, Hypothesis) else None
                out.append(self.dead_letter(msg, outcome, record_id))
        return out

    def dead_letter(self, msg: InMessage, exc: BaseException, record_id: str | None = None) -> OutMessage:
        dl = DeadLetter.from_exception(
            exc, topic=msg.topic, partition=msg.partition, offset=msg.offset, key=msg.key,
            original=msg.value or b"", record_id=record_id)
        return OutMessage(self.settings.deadletter, dl.out_key, dl.encode(), dead_letter=dl)

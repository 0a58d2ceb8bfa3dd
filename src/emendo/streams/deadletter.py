"""Dead-letter records: what could not be corrected, with the reason, so nothing is lost."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

from emendo.errors import EmendoError


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One input record that could not be corrected.

    ``original`` holds the exact bytes that arrived (base64 in JSON, because they need
    not be valid UTF-8); ``topic``/``partition``/``offset`` say where they came from.
    """

    reason: str
    error: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    original: bytes
    record_id: str | None = None

    @classmethod
    def from_exception(
        cls, exc: BaseException, *, topic: str, partition: int, offset: int,
        key: bytes | None, original: bytes, record_id: str | None = None,
    ) -> DeadLetter:
        reason = str(exc) or exc.__class__.__name__
        if not isinstance(exc, EmendoError):
            reason = f"corrector failed: {reason}"
        return cls(reason[:2000], exc.__class__.__name__, topic, partition, offset, key, original, record_id)

    @property
    def out_key(self) -> bytes:
        """Kafka key of the dead letter: the record id, else the input key, else topic:partition:offset."""
        if self.record_id:
            return self.record_id.encode()
        return self.key if self.key else f"{self.topic}:{self.partition}:{self.offset}".encode()

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "error": self.error,
            "id": self.record_id,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key.decode("utf-8", "replace") if self.key is not None else None,
            "original_b64": base64.b64encode(self.original).decode("ascii"),
            "original_size": len(self.original),
            "worker": f"{socket.gethostname()}:{os.getpid()}",
            "ts": time.time(),
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    @staticmethod
    def original_of(value: dict[str, Any]) -> bytes:
        """The original bytes of a decoded dead-letter value."""
        return base64.b64decode(value["original_b64"])

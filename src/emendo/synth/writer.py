"""Sharded, resumable JSONL output for synthetic training pairs.

A run directory holds ``pairs-00000.jsonl``, ``pairs-00001.jsonl``, ... (one
:class:`~emendo.records.TrainingPair` per line) and ``drops.jsonl`` (one line per item
that produced no pair: its id and the reason). Reopening a directory resumes it: every
id already in a shard or in the drop log counts as done, a line torn by a crash is cut
off, and new pairs go to new shards. Generators skip ``writer.done`` ids, so a run that
is interrupted and started again with the same seed ends with the same set of pairs.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from emendo.jsonl import cut_torn_tail
from emendo.records import TrainingPair, encode

SHARD_GLOB = "pairs-*.jsonl"
DROPS = "drops.jsonl"


class PairWriter:
    """Append pairs to size-bounded shards and drops to the drop log of ``out_dir``."""

    def __init__(self, out_dir: Path, *, shard_size: int = 10_000) -> None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        self.out_dir = out_dir
        self.shard_size = shard_size
        out_dir.mkdir(parents=True, exist_ok=True)
        self.done: set[str] = set()
        shards = sorted(out_dir.glob(SHARD_GLOB))
        for path in [*shards, out_dir / DROPS]:
            if path.exists():
                cut_torn_tail(path)
                self.done.update(json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines())
        self._next_shard = len(shards)
        self._shard: IO[str] | None = None
        self._in_shard = 0
        self._drops = (out_dir / DROPS).open("a", encoding="utf-8")
        self.written = 0
        self.dropped = 0

    def write(self, pair: TrainingPair) -> None:
        if self._shard is None or self._in_shard >= self.shard_size:
            self._roll()
        assert self._shard is not None
        self._shard.write(encode(pair).decode() + "\n")
        self._in_shard += 1
        self.written += 1
        self.done.add(pair.id)

    def drop(self, item_id: str, reason: str, **details: Any) -> None:
        """Record that ``item_id`` produced no pair, and why."""
        self._drops.write(json.dumps({"id": item_id, "reason": reason, **details}, ensure_ascii=False) + "\n")
        self.dropped += 1
        self.done.add(item_id)

    def flush(self) -> None:
        if self._shard is not None:
            self._shard.flush()
        self._drops.flush()

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None
        self._drops.close()

    def _roll(self) -> None:
        if self._shard is not None:
            self._shard.close()
        self._shard = (self.out_dir / f"pairs-{self._next_shard:05d}.jsonl").open("a", encoding="utf-8")
        self._next_shard += 1
        self._in_shard = 0

    def __enter__(self) -> PairWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def read_pairs(out_dir: Path) -> list[TrainingPair]:
    """Every pair of a run directory, in shard order."""
    pairs = []
    for path in sorted(out_dir.glob(SHARD_GLOB)):
        for line in path.read_text(encoding="utf-8").splitlines():
            pairs.append(TrainingPair.from_dict(json.loads(line)))
    return pairs


def read_drops(out_dir: Path) -> list[dict[str, Any]]:
    path = out_dir / DROPS
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


"""Small helpers for the append-only JSONL files that batch jobs and synth runs resume from."""

from __future__ import annotations

from pathlib import Path


def cut_torn_tail(path: Path) -> None:
    """Drop a last line that a crash left without its newline, so the file is valid JSONL again."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])

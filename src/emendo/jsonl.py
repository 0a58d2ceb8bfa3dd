"""Small helpers for the append-only JSONL files that batch jobs and synth runs resume from."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO


def cut_torn_tail(path: Path) -> None:
    """Drop a last line that a crash left without its newline, so the file is valid JSONL again."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def open_text(path: str | Path) -> IO[str]:
    """Open a UTF-8 text file (JSONL, a corpus split) for reading, gunzipping it when its name ends in ``.gz``."""
    if str(path).endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")  # the caller closes it: ``with open_text(p) as fh``

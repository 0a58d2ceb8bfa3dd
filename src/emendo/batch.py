"""Batch correction of files (``emendo correct IN -o OUT``).

Input: JSONL hypothesis records, or plain text with one hypothesis per line (ids are
``<file stem>-<line number>``). Output: one JSONL correction per readable input record.
Lines that cannot be read or corrected go to a rejects file (line number, reason) and
the job goes on. The job is resumable: run it again with the same arguments and it
skips every line already written to the output or the rejects file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tqdm import tqdm

from emendo.correctors.pipeline import Pipeline
from emendo.errors import EmendoError, RecordError
from emendo.jsonl import cut_torn_tail
from emendo.records import MAX_TEXT_CHARS, Correction, Hypothesis, Source, decode_hypothesis, encode

InputFormat = Literal["auto", "jsonl", "text"]


@dataclass
class BatchReport:
    """What a batch job did."""

    read: int = 0
    corrected: int = 0
    changed: int = 0
    rejected: int = 0
    resumed: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"read": self.read, "corrected": self.corrected, "changed": self.changed,
                "rejected": self.rejected, "skipped_already_done": self.resumed}


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    raw: bytes


def rejects_path_for(out: Path) -> Path:
    return out.with_name(out.name + ".rejects.jsonl")


def correct_file(
    src: Path, out: Path, pipeline: Pipeline, *, batch_size: int = 32, fmt: InputFormat = "auto",
    source: Source = "asr", rejects: Path | None = None, resume: bool = True,
    max_chars: int = MAX_TEXT_CHARS, progress: bool = True,
) -> BatchReport:
    """Correct every record of ``src`` into ``out``; see the module docstring."""
    if not src.is_file():
        raise EmendoError(f"input file not found: {src}")
    if fmt == "auto":
        fmt = "jsonl" if src.suffix in (".jsonl", ".json", ".ndjson") else "text"
    rejects = rejects or rejects_path_for(out)
    report = BatchReport()
    done_ids, done_lines = _already_done(out, rejects) if resume else (set(), set())
    mode = "a" if resume else "w"
    total = _count_lines(src)
    with out.open(mode, encoding="utf-8") as out_fh, rejects.open(mode, encoding="utf-8") as rej_fh:
        def reject(line: _Line, exc: BaseException) -> None:
            report.rejected += 1
            rej_fh.write(json.dumps({
                "line": line.number, "reason": str(exc), "error": type(exc).__name__,
                "raw": line.raw[:300].decode("utf-8", "replace")}, ensure_ascii=False) + "\n")

        bar = tqdm(total=total, unit="line", disable=not progress, desc=f"correct {src.name}")
        for chunk in _chunks(_lines(src), batch_size):
            hyps: list[tuple[_Line, Hypothesis]] = []
            for line in chunk:
                if line.number in done_lines:
                    report.resumed += 1
                    continue
                try:
                    hyp = _parse(line, fmt, src.stem, source, max_chars)
                except RecordError as exc:
                    reject(line, exc)
                    continue
                if hyp.id in done_ids:
                    report.resumed += 1
                    continue
                hyps.append((line, hyp))
            report.read += len(hyps)
            results = pipeline.correct_isolated([h for _, h in hyps]) if hyps else []
            for (line, _), result in zip(hyps, results, strict=True):
                if isinstance(result, Correction):
                    out_fh.write(encode(result).decode() + "\n")
                    report.corrected += 1
                    report.changed += result.changed
                else:
                    reject(line, result)
            out_fh.flush()
            rej_fh.flush()
            bar.update(len(chunk))
        bar.close()
    return report


def _parse(line: _Line, fmt: str, stem: str, source: Source, max_chars: int) -> Hypothesis:
    if fmt == "jsonl":
        return decode_hypothesis(line.raw, max_chars=max_chars)
    try:
        text = line.raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"line is not valid UTF-8 (byte {exc.start})") from exc
    if len(text) > max_chars:
        raise RecordError(f"text has {len(text)} characters, limit is {max_chars}", field="text")
    return Hypothesis(id=f"{stem}-{line.number}", text=text, source=source)


def _lines(path: Path) -> Iterator[_Line]:
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            raw = raw.rstrip(b"\r\n")
            if raw.strip():
                yield _Line(number, raw)


def _chunks(lines: Iterator[_Line], size: int) -> Iterator[Sequence[_Line]]:
    chunk: list[_Line] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for raw in fh if raw.strip())


def _already_done(out: Path, rejects: Path) -> tuple[set[str], set[int]]:
    """Ids already in ``out`` and line numbers already in ``rejects``; a torn last line
    (the job was killed mid-write) is cut off so that the files stay valid JSONL."""
    ids: set[str] = set()
    lines: set[int] = set()
    for path, field in ((out, "id"), (rejects, "line")):
        if not path.exists():
            continue
        cut_torn_tail(path)
        with path.open(encoding="utf-8") as fh:
            for raw in fh:
                value = json.loads(raw)[field]
                if field == "id":
                    ids.add(value)
                else:
                    lines.add(value)
    return ids, lines


"""Convert HyPoradise n-best JSON into emendo's JSONL record contract.

A HyPoradise file is a JSON list of ``{"input": [n-best, best first], "output":
reference, "score": [ASR scores]}`` objects (some sets name the scores ``am_score``
and carry an ``id``; other fields such as ``instruction`` are ignored). Each item
becomes one Hypothesis record::

    {"id": "<set>-<index>", "text": input[0], "source": "asr", "nbest": input,
     "nbest_scores": score, "lang": "en", "reference": output,
     "meta": {"dataset": "<set>"}, "schema": 1}

``<index>`` is the item's 0-based position in the file, so ids stay stable when items
are skipped or ``limit`` is used; an item's own ``id`` is kept as ``meta.source_id``.
Malformed items are skipped with a reason. Command line::

    python -m emendo.eval.hyporadise test_ls_clean.json -o test_ls_clean.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from emendo.errors import EmendoError
from emendo.records import Hypothesis, encode

__all__ = ["Conversion", "build_parser", "convert_hyporadise", "main", "write_jsonl"]


@dataclass
class Conversion:
    """Converted records and the items skipped, as ``(position, reason)``."""

    records: list[Hypothesis] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def report(self, stream: TextIO, *, show: int = 20) -> None:
        """Write the skip count and the first ``show`` reasons to ``stream``."""
        if not self.skipped:
            return
        print(f"skipped {len(self.skipped)} malformed item(s):", file=stream)
        for where, reason in self.skipped[:show]:
            print(f"  {where}: {reason}", file=stream)
        if len(self.skipped) > show:
            print(f"  ... and {len(self.skipped) - show} more", file=stream)


def convert_hyporadise(
    items: Sequence[Any], set_name: str, *, limit: int | None = None, lang: str = "en"
) -> Conversion:
    """Convert decoded HyPoradise items; stops after ``limit`` converted records."""
    out = Conversion()
    for index, item in enumerate(items):
        if limit is not None and len(out.records) >= limit:
            break
        try:
            out.records.append(Hypothesis.from_dict(_record(item, set_name, index, lang)))
        except (EmendoError, ValueError) as exc:
            out.skipped.append((f"item {index}", str(exc)))
    return out


def _record(item: Any, set_name: str, index: int, lang: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    nbest = item.get("input")
    if not isinstance(nbest, list) or not nbest:
        raise ValueError("'input' must be a non-empty list of hypotheses")
    reference = item.get("output")
    if not isinstance(reference, str):
        raise ValueError("'output' (the reference) must be a string")
    meta: dict[str, Any] = {"dataset": set_name}
    if isinstance(item.get("id"), str | int):
        meta["source_id"] = item["id"]
    record: dict[str, Any] = {"id": f"{set_name}-{index}", "text": nbest[0], "source": "asr",
                              "nbest": nbest, "lang": lang, "reference": reference, "meta": meta}
    scores = item.get("score", item.get("am_score"))
    if scores is not None:
        record["nbest_scores"] = scores
    return record


def write_jsonl(records: Sequence[Hypothesis], stream: TextIO) -> None:
    """Write records one JSON object per line, with the record codec."""
    for rec in records:
        stream.write(encode(rec).decode("utf-8") + "\n")


def write_output(records: Sequence[Hypothesis], output: Path | None) -> None:
    """Write records to ``output``, or to stdout when it is None."""
    if output is None:
        write_jsonl(records, sys.stdout)
        return
    with output.open("w", encoding="utf-8") as fh:
        write_jsonl(records, fh)


def _load(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise EmendoError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise EmendoError(f"{path}: malformed JSON: {exc.msg} at line {exc.lineno}") from exc
    if not isinstance(data, list):
        raise EmendoError(f"{path}: expected a JSON list of items, got {type(data).__name__}")
    return data


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hyporadise_to_jsonl", description="Convert HyPoradise JSON files to emendo JSONL records."
    )
    parser.add_argument("inputs", nargs="+", type=Path, metavar="FILE.json")
    parser.add_argument("-o", "--output", type=Path, help="output JSONL (default: stdout)")
    parser.add_argument("--set-name", help="set name for ids and meta.dataset (default: each file's stem)")
    parser.add_argument("--limit", type=int, help="at most this many records per input file")
    parser.add_argument("--lang", default="en", help="language code (default en)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be >= 1", file=sys.stderr)
        return 2
    if args.set_name is not None and len(args.inputs) > 1:
        print("error: --set-name needs a single input file (ids would collide)", file=sys.stderr)
        return 2
    converted: list[Hypothesis] = []
    try:
        for path in args.inputs:
            name = args.set_name or path.stem
            result = convert_hyporadise(_load(path), name, limit=args.limit, lang=args.lang)
            result.report(sys.stderr)
            print(f"{path}: {len(result.records)} record(s) as set {name!r}", file=sys.stderr)
            converted.extend(result.records)
        if not converted:
            print("error: no record converted", file=sys.stderr)
            return 1
        write_output(converted, args.output)
    except (EmendoError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

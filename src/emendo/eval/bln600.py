"""Convert the BLN600 post-OCR corpus (CSV) into emendo's JSONL record contract.

The CSV has the columns ``Sample ID, Date, Publication, OCR Text, Ground Truth, CER``,
one sentence per row. Each row becomes one Hypothesis record (OCR travels as source
``htr``)::

    {"id": "<Sample ID>-<k>", "text": OCR Text, "source": "htr", "lang": "en",
     "reference": Ground Truth,
     "meta": {"dataset": "bln600", "sample_id": ..., "date": ..., "publication": ...,
              "cer": <the corpus's own CER, when numeric>}, "schema": 1}

``<k>`` counts the rows of one sample from 0, in file order. Rows whose OCR text is
empty, whose fields are missing or too long are skipped with a reason. Command line::

    python -m emendo.eval.bln600 train.csv -o bln600_train.jsonl
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from emendo.errors import EmendoError
from emendo.eval.hyporadise import Conversion, write_output
from emendo.records import Hypothesis

__all__ = ["COLUMNS", "build_parser", "convert_bln600", "main", "read_bln600"]

COLUMNS = ("Sample ID", "Date", "Publication", "OCR Text", "Ground Truth", "CER")


def read_bln600(path: Path) -> list[dict[str, str]]:
    """Read the CSV rows; raises :class:`~emendo.errors.EmendoError` on a bad file or header."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise EmendoError(f"{path}: missing column(s) {', '.join(missing)}; expected {COLUMNS}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise EmendoError(f"cannot read {path}: {exc}") from exc


def convert_bln600(
    rows: Iterable[Mapping[str, Any]], set_name: str = "bln600", *, limit: int | None = None,
    lang: str = "en",
) -> Conversion:
    """Convert CSV rows (dicts keyed by :data:`COLUMNS`); stops after ``limit`` records."""
    out = Conversion()
    per_sample: Counter[str] = Counter()
    for index, row in enumerate(rows):
        if limit is not None and len(out.records) >= limit:
            break
        sample = str(row.get("Sample ID") or "").strip()
        k = per_sample[sample]
        per_sample[sample] += 1
        try:
            out.records.append(Hypothesis.from_dict(_record(row, sample, k, set_name, lang)))
        except (EmendoError, ValueError) as exc:
            out.skipped.append((f"row {index + 2}", str(exc)))  # +2: header, 1-based lines
    return out


def _record(row: Mapping[str, Any], sample: str, k: int, set_name: str, lang: str) -> dict[str, Any]:
    if not sample:
        raise ValueError("empty 'Sample ID'")
    ocr, truth = row.get("OCR Text"), row.get("Ground Truth")
    if not isinstance(ocr, str) or not isinstance(truth, str):
        raise ValueError("missing 'OCR Text' or 'Ground Truth'")
    meta: dict[str, Any] = {"dataset": set_name, "sample_id": sample,
                            "date": row.get("Date") or None, "publication": row.get("Publication") or None}
    try:
        cer = float(row.get("CER") or "nan")
    except ValueError:
        cer = math.nan
    if math.isfinite(cer):
        meta["cer"] = cer
    return {"id": f"{sample}-{k}", "text": ocr, "source": "htr", "lang": lang, "reference": truth,
            "meta": {key: v for key, v in meta.items() if v is not None}}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bln600_to_jsonl", description="Convert the BLN600 CSV to emendo JSONL records."
    )
    parser.add_argument("input", type=Path, metavar="FILE.csv")
    parser.add_argument("-o", "--output", type=Path, help="output JSONL (default: stdout)")
    parser.add_argument("--set-name", default="bln600", help="meta.dataset value (default bln600)")
    parser.add_argument("--limit", type=int, help="at most this many records")
    parser.add_argument("--lang", default="en", help="language code (default en)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be >= 1", file=sys.stderr)
        return 2
    try:
        result = convert_bln600(read_bln600(args.input), args.set_name, limit=args.limit, lang=args.lang)
        result.report(sys.stderr)
        print(f"{args.input}: {len(result.records)} record(s)", file=sys.stderr)
        if not result.records:
            print("error: no record converted", file=sys.stderr)
            return 1
        write_output(result.records, args.output)
    except (EmendoError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

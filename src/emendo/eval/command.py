"""The ``emendo eval`` command: score hypotheses or corrections against references.

Inputs (exactly one of ``--hyp``, ``--corrections``, ``--pairs``):

``--ref REF --hyp HYP``
    Plain text (one utterance per line) or JSONL. A JSONL reference holds objects with
    ``id`` and ``reference`` (or ``text``); a JSONL hypothesis holds objects with ``id``
    and ``text`` (emendo Hypothesis records). Two JSONL files are joined by id,
    otherwise by position (line counts must match). Without ``--ref`` each hypothesis
    record must carry its reference inline as ``reference``.
``--corrections FILE``
    Correction records as written by ``emendo correct``: ``text`` (before) and
    ``corrected`` (after) are compared against ``--ref`` (joined as above) or against
    each record's inline ``reference`` field.
``--pairs FILE``
    JSONL objects with ``reference``/``hypothesis`` or ``clean``/``noisy`` (and
    optionally ``corrected``).

Every hypothesis must have a reference; every reference must have a hypothesis unless
``--subset`` is given. The Markdown table goes to stdout; ``--json``, ``--markdown``
and ``--plot`` also write files. Exit status 0 on success, 1 on bad input, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emendo.errors import EmendoError
from emendo.eval.normalize import DEFAULT_PRESET, get_preset, preset_names
from emendo.eval.report import EvalItem, build_report, plot_comparison
from emendo.records import Correction

__all__ = ["EvalInputError", "add_arguments", "load_items", "run"]

_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_SHOW = 5


class EvalInputError(EmendoError):
    """An input file of ``emendo eval`` is unreadable or inconsistent."""


@dataclass(frozen=True)
class _Row:
    """One hypothesis-side record before it is joined with its reference."""

    where: str
    id: str | None
    text: str
    corrected: str | None = None
    reference: str | None = None
    source: str | None = None
    set: str | None = None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``emendo eval`` to ``parser``."""
    src = parser.add_argument_group("inputs (give --hyp, --corrections or --pairs)")
    src.add_argument("--ref", type=Path, metavar="REF", help="references: text lines or JSONL")
    src.add_argument("--hyp", type=Path, metavar="HYP", help="hypotheses: text lines or JSONL records")
    src.add_argument("--corrections", type=Path, metavar="FILE",
                     help="JSONL Correction records (text = before, corrected = after)")
    src.add_argument("--pairs", type=Path, metavar="FILE",
                     help="JSONL with reference/hypothesis or clean/noisy fields")
    src.add_argument("--format", choices=("auto", "text", "jsonl"), default="auto",
                     help="format of --ref/--hyp (auto: by suffix, else by first line)")
    src.add_argument("--subset", action="store_true",
                     help="score only ids present in the hypotheses (default: all references)")
    opt = parser.add_argument_group("scoring and output")
    opt.add_argument("--preset", default=DEFAULT_PRESET, choices=preset_names(),
                     help=f"normalisation preset (default {DEFAULT_PRESET})")
    opt.add_argument("--by-source", action=argparse.BooleanOptionalAction, default=None,
                     help="break down by source asr/htr (default: on when records have sources)")
    opt.add_argument("--by-set", action="store_true", help="break down by meta.dataset")
    opt.add_argument("--json", type=Path, metavar="OUT.json", help="write the report as JSON")
    opt.add_argument("--markdown", type=Path, metavar="OUT.md", help="write the Markdown table")
    opt.add_argument("--plot", type=Path, metavar="OUT.png", help="write a PNG bar chart (needs matplotlib)")


def run(args: argparse.Namespace) -> int:
    """Run ``emendo eval``; returns the exit status."""
    given = [name for name in ("hyp", "corrections", "pairs") if getattr(args, name) is not None]
    if len(given) != 1:
        return _fail("give exactly one of --hyp, --corrections, --pairs", status=2)
    if args.pairs is not None and args.ref is not None:
        return _fail("--pairs carries its references; do not combine it with --ref", status=2)
    try:
        preset = get_preset(args.preset)
        items = load_items(args)
        by_source = args.by_source
        if by_source is None:
            by_source = any(it.source is not None for it in items)
        report = build_report(items, preset.name, by_source=by_source, by_set=args.by_set)
        markdown = report.to_markdown()
        if args.json is not None:
            text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
            args.json.write_text(text, encoding="utf-8")
        if args.markdown is not None:
            args.markdown.write_text(markdown, encoding="utf-8")
        if args.plot is not None:
            plot_comparison(report, args.plot)
    except (EmendoError, ValueError) as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot write output: {exc}")
    sys.stdout.write(markdown)
    return 0


def load_items(args: argparse.Namespace) -> list[EvalItem]:
    """Read and join the inputs named by ``args``; raises :class:`EvalInputError`."""
    if args.pairs is not None:
        rows = [_pair_row(args.pairs, line, obj) for line, obj in _read_jsonl(args.pairs)]
        items = [_item(r, r.reference) for r in rows]
    else:
        if args.corrections is not None:
            path = args.corrections
            rows = [_correction_row(path, line, obj) for line, obj in _read_jsonl(path)]
        else:
            path = args.hyp
            rows = _read_hyps(path, args.format)
        items = _join(rows, path, args.ref, args.format, args.subset)
    if not items:
        raise EvalInputError("no utterances to score: the input is empty")
    return items


# ------------------------------------------------------------------ reading

def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalInputError(f"cannot read {path}: {exc}") from exc


def _lines(path: Path) -> list[str]:
    text = _read_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [ln.removesuffix("\r") for ln in lines]


def _is_jsonl(path: Path, fmt: str) -> bool:
    if fmt != "auto":
        return fmt == "jsonl"
    if path.suffix.lower() in _JSONL_SUFFIXES:
        return True
    if path.suffix.lower() == ".txt":
        return False
    first = next((ln for ln in _lines(path) if ln.strip()), "")
    try:
        return first.lstrip().startswith("{") and isinstance(json.loads(first), dict)
    except json.JSONDecodeError:
        return False


def _read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for no, line in enumerate(_lines(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalInputError(f"{path}:{no}: malformed JSON: {exc.msg}") from exc
        if not isinstance(obj, dict):
            raise EvalInputError(f"{path}:{no}: expected a JSON object, got {type(obj).__name__}")
        out.append((no, obj))
    return out


def _field(path: Path, no: int, obj: Mapping[str, Any], *names: str, required: bool = True) -> str | None:
    for name in names:
        if name in obj:
            value = obj[name]
            if not isinstance(value, str):
                raise EvalInputError(f"{path}:{no}: field {name!r} must be a string")
            return value
    if required:
        raise EvalInputError(f"{path}:{no}: missing field {' or '.join(repr(n) for n in names)}")
    return None


def _dataset(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("meta")
    value = meta.get("dataset") if isinstance(meta, Mapping) else None
    return value if isinstance(value, str) else None


def _source(obj: Mapping[str, Any]) -> str | None:
    value = obj.get("source")
    return value if isinstance(value, str) else None


def _read_hyps(path: Path, fmt: str) -> list[_Row]:
    if not _is_jsonl(path, fmt):
        return [_Row(f"{path}:{no}", None, text) for no, text in enumerate(_lines(path), start=1)]
    return [
        _Row(f"{path}:{no}", _field(path, no, obj, "id"), _field(path, no, obj, "text") or "",
             reference=_field(path, no, obj, "reference", required=False),
             source=_source(obj), set=_dataset(obj))
        for no, obj in _read_jsonl(path)
    ]


def _correction_row(path: Path, no: int, obj: dict[str, Any]) -> _Row:
    try:
        corr = Correction.from_dict(obj)
    except EmendoError as exc:
        raise EvalInputError(f"{path}:{no}: not a Correction record: {exc}") from exc
    hyp = corr.hypothesis
    ref = hyp.extra.get("reference")
    if ref is not None and not isinstance(ref, str):
        raise EvalInputError(f"{path}:{no}: field 'reference' must be a string")
    dataset = hyp.meta.get("dataset")
    return _Row(f"{path}:{no}", hyp.id, hyp.text, corr.corrected, ref, hyp.source,
                dataset if isinstance(dataset, str) else None)


def _pair_row(path: Path, no: int, obj: dict[str, Any]) -> _Row:
    return _Row(
        f"{path}:{no}", _field(path, no, obj, "id", required=False) or str(no),
        _field(path, no, obj, "hypothesis", "noisy") or "",
        corrected=_field(path, no, obj, "corrected", required=False),
        reference=_field(path, no, obj, "reference", "clean"),
        source=_source(obj), set=_dataset(obj),
    )


def _read_refs(path: Path, fmt: str) -> tuple[list[str | None], list[str]]:
    """Reference ids (None for plain text) and texts, in file order."""
    if not _is_jsonl(path, fmt):
        texts = _lines(path)
        return [None] * len(texts), texts
    records = _read_jsonl(path)
    ids: list[str | None] = [_field(path, no, obj, "id") for no, obj in records]
    texts = [_field(path, no, obj, "reference", "text") or "" for no, obj in records]
    return ids, texts


# ------------------------------------------------------------------ joining

def _item(row: _Row, reference: str | None) -> EvalItem:
    if reference is None:
        raise EvalInputError(f"{row.where}: no reference for id {row.id!r}: pass --ref or add a "
                             "'reference' field to the record")
    return EvalItem(row.id or row.where, reference, row.text, row.corrected, row.source, row.set)


def _join(rows: list[_Row], hyp_path: Path, ref_path: Path | None, fmt: str, subset: bool) -> list[EvalItem]:
    if ref_path is None:
        return [_item(r, r.reference) for r in rows]
    ref_ids, refs = _read_refs(ref_path, fmt)
    keyed = all(i is not None for i in ref_ids) and bool(ref_ids)
    if keyed and rows and all(r.id is not None for r in rows):
        by_id = _unique(ref_ids, ref_path)
        _unique([r.id for r in rows], hyp_path)
        missing = [r.id for r in rows if r.id not in by_id]
        if missing:
            raise EvalInputError(f"{len(missing)} hypothesis id(s) not in {ref_path}: {_show(missing)}")
        if not subset:
            seen = {r.id for r in rows}
            unscored = [i for i in by_id if i not in seen]
            if unscored:
                raise EvalInputError(
                    f"{len(unscored)} reference id(s) in {ref_path} have no hypothesis: "
                    f"{_show(unscored)} (use --subset to score only the ids present)"
                )
        return [_item(r, refs[by_id[r.id]]) for r in rows if r.id is not None]
    if len(refs) != len(rows):
        raise EvalInputError(
            f"{ref_path} has {len(refs)} references but the hypotheses have {len(rows)}; "
            "files without ids on both sides are joined line by line"
        )
    return [_item(r if r.id is not None or i is None else _with_id(r, i), ref)
            for r, i, ref in zip(rows, ref_ids, refs, strict=True)]


def _with_id(row: _Row, id_: str) -> _Row:
    return _Row(row.where, id_, row.text, row.corrected, row.reference, row.source, row.set)


def _unique(ids: Sequence[str | None], path: Path) -> dict[str, int]:
    index: dict[str, int] = {}
    dupes = []
    for pos, i in enumerate(ids):
        if i is None:
            continue
        if i in index:
            dupes.append(i)
        index[i] = pos
    if dupes:
        raise EvalInputError(f"duplicate id(s) in {path}: {_show(dupes)}")
    return index


def _show(ids: Sequence[str | None]) -> str:
    head = ", ".join(repr(i) for i in ids[:_SHOW])
    return head + (f", ... ({len(ids) - _SHOW} more)" if len(ids) > _SHOW else "")


def _fail(message: str, status: int = 1) -> int:
    print(f"emendo eval: error: {message}", file=sys.stderr)
    return status

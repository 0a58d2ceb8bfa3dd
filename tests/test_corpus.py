"""Sentence corpora: normalisation, splitting, filtering, de-duplication, document splits, leakage, readers."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from emendo.synth.corpus import (
    CorpusError,
    CorpusRecord,
    Deduplicator,
    dedup_key,
    keep_sentence,
    leakage,
    normalise,
    split_of,
    split_sentences,
)
from emendo.synth.corpus_sources import SOURCES
from emendo.synth.corpus_sources.base import read_text
from emendo.synth.corpus_sources.text import html_paragraphs, mo_messages, rst_paragraphs, troff_paragraphs
from tests.mo_files import mo_bytes


def test_normalise_nfc_quotes_dashes_spaces() -> None:
    decomposed = "Ё\u0308лка".replace("Ё", "Е")  # Е + combining diaeresis
    assert normalise(decomposed) == "Ёлка"
    assert normalise("He said \u201chi\u201d -- and\u00a0left\u2026 ( ok ) .") == 'He said "hi" — and left... (ok).'
    assert normalise("a\u00adb\u200bc  \t d") == "abc d"
    assert normalise("Он \u2013 врач , а она - нет .") == "Он — врач, а она — нет."
    assert normalise("well-known") == "well-known"


def test_split_sentences_en_ru_abbreviations() -> None:
    assert split_sentences("Mr. Smith came. He saw J. Doe! Did he? Yes.") == [
        "Mr. Smith came.", "He saw J. Doe!", "Did he?", "Yes."]
    assert split_sentences("Это т. е. пример. См. рис. 3. Всё «хорошо». Да.") == [
        "Это т. е. пример.", "См. рис. 3.", "Всё «хорошо».", "Да."]


def test_keep_sentence_length_and_script() -> None:
    assert keep_sentence("The cat sat on the mat.", "en")
    assert not keep_sentence("Too short.", "en")
    assert not keep_sentence("The cat sat on the мат.", "en")
    assert not keep_sentence("See https://example.com for more details.", "en")
    assert not keep_sentence("the cat sat on the mat.", "en")  # no capital: a fragment
    assert keep_sentence("Кошка сидела на коврике весь день.", "ru")
    assert not keep_sentence("The cat sat on the mat.", "ru")


def test_dedup_exact_and_near() -> None:
    d = Deduplicator()
    assert d.add("The quick brown fox jumps over the lazy dog near the river.")
    assert not d.add("the quick brown fox jumps over the lazy dog, near the river!")  # same key
    assert not d.add("The quick brown fox jumped over the lazy dog near the river.")  # near
    assert d.add("A completely different sentence about something else entirely.")
    assert (d.exact_dropped, d.near_dropped) == (1, 1)
    assert dedup_key("Ёж, «ёлка»!") == "еж елка"


def test_split_by_document_is_stable_and_seeded() -> None:
    docs = [f"doc{i}" for i in range(2000)]
    splits = [split_of(d, 0, 0.1, 0.1) for d in docs]
    assert splits == [split_of(d, 0, 0.1, 0.1) for d in docs]
    assert 100 < splits.count("dev") < 300 and 100 < splits.count("test") < 300
    assert splits != [split_of(d, 1, 0.1, 0.1) for d in docs]
    with pytest.raises(CorpusError):
        split_of("x", 0, 0.6, 0.5)


def _rec(i: int, text: str, split: str, doc: str = "") -> CorpusRecord:
    return CorpusRecord(f"en-t-{i}", text, "en", "t", doc or f"d{i}", "CC0-1.0", split)


def test_leakage_finds_exact_near_and_split_documents() -> None:
    clean = [_rec(0, "The cat sat on the mat all day long.", "train"),
             _rec(1, "Dogs bark loudly at the postman every single morning.", "dev"),
             _rec(2, "Birds sing in the garden before dawn.", "test")]
    assert leakage(clean).clean
    leaky = [*clean, _rec(3, "the cat sat on the mat all day long!", "test"),
             _rec(4, "Dogs barked loudly at the postman every single morning.", "train"),
             _rec(5, "Another sentence from document zero here.", "test", doc="d0")]
    report = leakage(leaky)
    assert (report.exact, report.near, report.documents_in_two_splits) == (1, 1, 1)
    assert not report.clean


def test_record_roundtrip_keeps_licence_and_rejects_bad_lines() -> None:
    r = _rec(7, "Ёлка стоит в углу комнаты.", "train")
    line = r.to_json()
    assert '"licence": "CC0-1.0"' in line and "Ёлка" in line
    assert CorpusRecord.from_json(line) == r
    for bad in ("", "{not json", '{"id": "x"}', line.replace('"CC0-1.0"', '""')):
        with pytest.raises(CorpusError):
            CorpusRecord.from_json(bad)


def test_every_source_records_language_and_licence() -> None:
    assert {s.lang for s in SOURCES.values()} == {"en", "ru"}
    for s in SOURCES.values():
        assert s.licence and s.description and s.name


def test_html_rst_troff_extraction() -> None:
    html = "<html><body><p>First <b>bold</b> para.</p><pre>code here</pre><ul><li>An item.</li></ul>" \
           "<p>Uses <code>x</code> inline.</p></body></html>"
    assert html_paragraphs(html) == ["First bold para.", "An item.", "Uses {code} inline."]
    rst = "Title\n=====\n\nSome :func:`open` text\nwrapped.\n\n.. note::\n\n   skipped\n\nExample::\n\n   code\n\nEnd."
    assert list(rst_paragraphs(rst)) == ["Some open text wrapped.", "Example:", "End."]
    troff = '.TH X 1\n.SH NAME\nx \\- do\n.PP\nThe\n.B bold\nword.\n.nf\ncode\n.fi\nAfter.'
    assert list(troff_paragraphs(troff)) == ["x - do", "The bold word.", "After."]




def test_mo_catalogue_and_corrupt_input(tmp_path: Path) -> None:
    good = tmp_path / "ok.mo"
    good.write_bytes(mo_bytes([(b"", b"header"), (b"File not found.", "Файл не найден.".encode())]))
    assert mo_messages(good) == [("File not found.", "Файл не найден.")]
    bad = tmp_path / "bad.mo"
    bad.write_bytes(b"\x00" * 40)
    with pytest.raises(CorpusError, match=r"not a \.mo file"):
        mo_messages(bad)
    empty = tmp_path / "empty.mo"
    empty.write_bytes(b"")
    with pytest.raises(CorpusError, match="too short"):
        mo_messages(empty)


def test_read_text_gz_and_replacement(tmp_path: Path) -> None:
    p = tmp_path / "a.txt.gz"
    with gzip.open(p, "wb") as fh:
        fh.write("Привет\n".encode() + b"\xff")
    assert read_text(p) == "Привет\n\ufffd"
    assert not keep_sentence("Привет мир, как дела \ufffd сегодня?", "ru")

"""espeak-ng pronunciations and the phoneme distance DANCER's scorer reads."""

from __future__ import annotations

import pytest

pytest.importorskip("piper.espeakbridge")

from emendo.correctors.entities import phonemes as ph


def test_pronunciations_drop_stress_length_and_word_breaks() -> None:
    assert ph.phonemes("bador") == ph.phonemes("Bhadaur")  # both /bædɔɹ/
    heard = ph.phonemes("the kuo en")
    assert heard and " " not in heard and "ˈ" not in heard and "ː" not in heard
    assert ph.phonemes("1806 ...") == ""


def test_distance_prefers_the_name_that_sounds_like_the_span() -> None:
    # Whisper wrote these for the names on the left; Double Metaphone ranks the wrong ones first
    for span, meant, other in [("pākudah", "Kakuda", "Takada"), ("bador", "Bhadaur", "Badr"),
                               ("burl", "Verl", "Buer")]:
        near, far = ph.distances(span, [meant, other])
        assert near < far, (span, meant, other)
    assert ph.phoneme_distance("abc", "abc") == 0.0
    assert ph.phoneme_distance("", "abc") == 1.0
    # voiced and voiceless stops differ by half a substitution
    assert 0 < ph.phoneme_distance("bæt", "pæt") < ph.phoneme_distance("bæt", "mæt")


def test_batched_pronunciations_match_one_call_per_word() -> None:
    texts = ["Nizhny Novgorod", "St. Louis", "O'Hare", "Reni", "rainy", "x1", "Kwa-Zulu", "''", "1806"]
    words = [w for t in texts for w in ph.words(t)]
    assert words == ["Nizhny", "Novgorod", "St", "Louis", "O'Hare", "Reni", "rainy", "x", "Kwa", "Zulu"]
    alone = {w: ph._strip("".join(ph._ESPEAK.clauses(w))) for w in words}
    ph.forget()
    ph.prefetch(texts)
    assert ph._cached == alone  # one call for all of them, the same phonemes
    assert ph.phonemes("Nizhny Novgorod") == alone["Nizhny"] + alone["Novgorod"]
    assert ph.phonemes("1806") == ""


def test_a_full_cache_starts_again_without_losing_what_was_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ph, "_LIMIT", 6)
    ph.forget()
    ph.prefetch(["Kakuda", "Takada", "Reni"])
    before = ph.distances("pākudah", ["Kakuda", "Takada"])
    # more new words than fit: the caches are emptied and refilled with this call's texts
    got = ph.distances("bador", ["Bhadaur", "Badr", "Verl", "Buer", "Houba"])
    assert len(got) == 5 and got[0] == 0.0 and len(ph._cached) <= 6 + 6
    assert ph.distances("pākudah", ["Kakuda", "Takada"]) == before

"""Phonetic keys (English Double Metaphone, Russian normalisation) and the phonetic edit distance."""

from __future__ import annotations

import random

import pytest

from emendo.correctors.entities.phonetic import (
    fold,
    key_distance,
    phonetic_distance,
    phonetic_keys,
    russian_key,
    russian_stem,
)


@pytest.mark.parametrize(("text", "keys"), [
    ("Smith", ("SM0", "XMT")),
    ("Schmidt", ("XMT", "SMT")),
    ("Thompson", ("TMPSN",)),
    ("New York", ("NRK",)),
    ("new yorke", ("NRK",)),
    ("newyork", ("NRK",)),
    ("Tchaikovsky", ("XKFSK",)),
])
def test_double_metaphone_keys(text: str, keys: tuple[str, ...]) -> None:
    assert phonetic_keys(text) == keys


def test_russian_key_reduces_vowels_and_devoices() -> None:
    assert russian_key("Москва") == russian_key("Масква") == "MaSKVa"
    assert russian_key("Петербург") == russian_key("Питербурк") == "PiTiRBuRK"
    assert russian_key("дуб") == russian_key("дуп")
    assert russian_key("Ёлкин") == russian_key("Елкин")
    assert phonetic_keys("Москва") == ("MaSKVa",)


def test_fold_and_stem() -> None:
    assert fold("New  York!") == "newyork"
    assert fold("Zürich") == "zurich"
    assert fold("Йошкар-Ола") == "йошкарола"
    assert fold("O'Brien_Smith-Jones 3rd") == "obriensmithjones3rd"  # ASCII: the short path, same rules
    assert russian_stem("Москве") == russian_stem("Москва") == "москв"
    assert russian_stem("Санкт-Петербурге") == russian_stem("санкт петербург") == "санкт петербург"
    assert russian_stem("чайковскам и") != russian_stem("Чайковский")  # two words never make one stem
    # adjective-like names: every case shares the stem ("о Чайковском" is a correct use of the name)
    assert {russian_stem(w) for w in ("Чайковский", "Чайковского", "Чайковском", "Чайковским")} == {"чайковск"}


def test_key_distance_weights_similar_sounds() -> None:
    assert key_distance("PRS", "PRS") == 0
    assert key_distance("PRS", "FRS") == 0.5  # P/F similar
    assert key_distance("PRS", "KRS") == 1.0
    assert key_distance("PRS", "PR") == 1.0


def _textbook_key_distance(a: str, b: str) -> float:
    """The weighted Levenshtein programme over whole keys (no trimming, float costs)."""
    similar = {(x, y) for cls in ("PFB", "T0D", "SXZ", "KGJ", "MN", "LR", "aiu") for x in cls for y in cls if x != y}
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        cur = [float(i)]
        for j, cb in enumerate(b, 1):
            sub = 0.0 if ca == cb else 0.5 if (ca, cb) in similar else 1.0
            cur.append(min(prev[j] + 1.0, cur[j - 1] + 1.0, prev[j - 1] + sub))
        prev = cur
    return prev[-1]


def test_key_distance_equals_the_textbook_programme() -> None:
    # key_distance trims an equal prefix and suffix and counts in integer half units
    rng = random.Random(7)
    letters = "PFBT0DSXZKGJMNLRHWAaiuCq"
    for _ in range(5_000):
        a = "".join(rng.choice(letters) for _ in range(rng.randint(0, 8)))
        b = list(a) if rng.random() < 0.7 else [rng.choice(letters) for _ in range(rng.randint(0, 8))]
        for _ in range(rng.randint(0, 3)):
            k = rng.randrange(len(b) + 1)
            if rng.random() < 0.5:
                b.insert(k, rng.choice(letters))
            elif b:
                b[min(k, len(b) - 1)] = rng.choice(letters)
        assert key_distance(a, "".join(b)) == _textbook_key_distance(a, "".join(b)), (a, b)


def test_phonetic_distance_orders_candidates() -> None:
    assert phonetic_distance("New York", "new york") == 0.0
    near, far = phonetic_distance("new yorke", "New York"), phonetic_distance("new yorke", "Newark")
    assert 0 < near < far < 0.3
    assert phonetic_distance("chaikovsky", "Tchaikovsky") < 0.1
    assert phonetic_distance("Санкт Питербург", "Санкт-Петербург") < 0.1
    assert phonetic_distance("table", "Tchaikovsky") > 0.5


@pytest.mark.parametrize("form", ["São Paulo", "Saint-Étienne", "O'Neill", "Dvořák", "New  York!", "AC/DC"])
def test_a_latin_form_has_the_keys_of_its_folded_spelling(form: str) -> None:
    # DANCER looks up the keys of dense candidates' folded spellings, which the index memoised
    assert fold(form).isascii()
    assert phonetic_keys.__wrapped__(fold(form)) == phonetic_keys.__wrapped__(form)

"""Russian names put in the case of the span they replace (pymorphy3's dictionary; fast)."""

from __future__ import annotations

import pytest

from emendo.correctors.entities.index import build_index
from emendo.correctors.entities.inflect import case_forms, nearest_form, word_forms
from emendo.correctors.entities.types import Entity


@pytest.mark.parametrize(("name", "forms"), [
    ("Москва", ("Москва", "Москвы", "Москве", "Москву", "Москвой")),
    ("Санкт-Петербург", ("Санкт-Петербург", "Санкт-Петербурга", "Санкт-Петербургу", "Санкт-Петербургом",
                         "Санкт-Петербурге")),
    # an adjective agrees with its inanimate noun in the accusative (not "Нижнего Новгород")
    ("Нижний Новгород", ("Нижний Новгород", "Нижнего Новгорода", "Нижнему Новгороду", "Нижним Новгородом",
                         "Нижнем Новгороде")),
    ("Лев Толстой", ("Лев Толстой", "Льва Толстого", "Льву Толстому", "Львом Толстым", "Льве Толстом")),
    ("Сочи", ("Сочи",)),  # indeclinable
    ("Бээжин", ("Бээжин",)),  # not in the dictionary: no guessed paradigm
    ("СССР", ("СССР",)),
    ("Paris", ("Paris",)),
])
def test_case_forms(name: str, forms: tuple[str, ...]) -> None:
    assert case_forms(name) == forms


def test_nearest_form_follows_the_span() -> None:
    assert nearest_form("Новосибирск", "навасибирска") == "Новосибирска"
    assert nearest_form("Москва", "масскву") == "Москву"
    assert nearest_form("Москва", "москва") == "Москва"  # the nominative on ties
    assert nearest_form("Paris", "парижа") == "Paris"  # Latin names stay
    assert nearest_form("Москва", "moskvu") == "Москва"  # a Latin span: nothing to follow


def test_index_compares_a_cyrillic_span_with_the_nearest_case_form() -> None:
    entities = [Entity("nsk", "Новосибирск", type="place", lang="ru"), Entity("msk", "Москва", lang="ru")]
    inflecting, plain = build_index(entities), build_index(entities)
    plain.inflect = False
    (got,) = inflecting.candidates("навасибирска", 5, 0.15)
    assert (got.entity.id, got.surface) == ("nsk", "Новосибирска") and got.distance < 0.15
    # against the nominative the case ending counts as an error: too far for the same limit
    assert plain.candidates("навасибирска", 5, 0.15) == []
    assert [c.surface for c in plain.candidates("навасибирска", 5, 0.3)] == ["Новосибирск"]


def test_synthetic_russian_utterances_mark_the_name_in_both_texts() -> None:
    import random
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from russian_entity_utterances import CASES as cases
    from russian_entity_utterances import held_out, russian_names, utterances

    entities = [Entity(f"ru:{i}", name, type="place", lang="ru") for i, name in enumerate(
        ("Новосибирск", "Москва", "Самара", "Казань", "Омск", "Томск", "Тверь", "Пермь", "Сочи", "Нью-Йорк"))]
    rng = random.Random(0)
    train = russian_names(entities, 50, rng, evaluation=False)
    held = russian_names(entities, 50, rng, evaluation=True)
    assert not {e for e, _ in train} & {e for e, _ in held}
    assert all(held_out(e) for e, _ in held) and not any(held_out(e) for e, _ in train)
    assert "Нью-Йорк" not in {n for _, n in train + held}  # single words only
    records = utterances(train + held, rng, asr_style=0.5)
    assert [r["case"] for r in records] == [cases[k % 6] for k in range(len(records))]
    for r in records:
        assert r["text"][r["start"]:r["end"]] == r["surface"]
        noisy = r["hyp"][r["hyp_start"]:r["hyp_end"]]
        assert noisy != r["surface"].lower() and noisy[:1] == r["surface"][:1].lower()


def test_a_dictionary_name_counts_as_named_only_in_its_own_forms() -> None:
    index = build_index([Entity("p", "Чайковский", type="person", lang="ru"), Entity("x", "Бээжин", lang="ru")])
    for correct in ("о Чайковском", "Чайковского", "чайковские"):  # any case or number
        assert [e.id for e, _ in index.exact(correct.split()[-1])] == ["p"]
    assert index.exact("чайковскам") == []  # same stem, but a misheard ending: open to correction
    assert word_forms("Бээжин") is None and index.exact("Бээжина")  # no dictionary entry: the stem decides

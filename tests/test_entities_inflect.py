"""Russian names put in the case of the span they replace (pymorphy3's dictionary; fast)."""

from __future__ import annotations

import pytest

from emendo.correctors.entities.index import build_index
from emendo.correctors.entities.inflect import case_forms, nearest_form
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

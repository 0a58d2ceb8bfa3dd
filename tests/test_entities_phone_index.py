"""Catalog names by pronunciation: candidates for spans that neither spelling nor Double Metaphone bring close."""

from __future__ import annotations

import pytest

pytest.importorskip("piper.espeakbridge")

from emendo.correctors.entities.catalog import Catalog
from emendo.correctors.entities.dancer import DancerOptions
from emendo.correctors.entities.phone_index import PhoneIndex
from emendo.correctors.entities.phonemes import pronounce
from emendo.correctors.entities.types import Entity
from emendo.errors import ConfigError

NAMES = {"bhadaur": "Bhadaur", "badr": "Badr", "arumanai": "Arumanai", "kakuda": "Kakuda", "takada": "Takada",
         "moscow": "Москва", "al": "AL"}


def _catalog() -> Catalog:
    catalog = Catalog()
    for eid, name in NAMES.items():
        catalog.upsert(Entity(eid, name))
    return catalog


def test_finds_the_name_espeak_reads_alike_not_the_one_spelt_alike() -> None:
    index = PhoneIndex(_catalog(), "default")
    # Cyrillic names and pronunciations under three symbols are not filed
    assert {surface for _, surface, _ in index._forms} == {"Bhadaur", "Badr", "Arumanai", "Kakuda", "Takada"}
    found = index.nearest("bador", 4, 0.3)
    assert [e.id for e, _, _ in found][:1] == ["bhadaur"] and found[0][2] == 0.0
    assert [e.id for e, _, _ in index.nearest("pākudah", 4, 0.3)] == ["kakuda"]  # Whisper's spelling of Kakuda
    # nearest first, within the distance, at most ``limit``, never an entity in ``skip``
    distances = [d for _, _, d in index.nearest("pākudah", 4, 0.5)]
    assert distances == sorted(distances) and all(d <= 0.5 for d in distances)
    assert len(index.nearest("bador", 1, 0.9)) == 1
    assert "bhadaur" not in {e.id for e, _, _ in index.nearest("bador", 4, 0.3, skip={"bhadaur"})}
    assert index.nearest("xq", 4, 0.3) == [] and index.nearest("bador", 0, 0.3) == []


def test_equals_a_full_scan_on_near_pronunciations() -> None:
    # one edit at either end of a long name is found (the first and the last six symbols are filed)
    catalog = Catalog()
    names = ["Constantinople", "Konstantinovka", "Valparaiso", "Paramaribo", "Marrakesh", "Ouagadougou"]
    for n, name in enumerate(names):
        catalog.upsert(Entity(f"e{n}", name))
    index = PhoneIndex(catalog, "default")
    for name in names:
        heard = pronounce(name)[1]
        for query in (heard[1:], heard[:-1], "x" + heard, heard + "x"):
            assert index._forms and any(s == name for _, s, _ in index.nearest_reduced(query, 6, 0.3)), (name, query)


def test_follows_the_live_catalog() -> None:
    catalog = _catalog()
    index = PhoneIndex(catalog, "default")
    assert index.nearest("munakata", 4, 0.3) == []
    catalog.upsert(Entity("munakata", "Munakata"))  # a new entity is filed at the next lookup
    assert [e.id for e, _, _ in index.nearest("moona kata", 4, 0.3)] == ["munakata"]
    catalog.upsert(Entity("bhadaur", "Bhadaura Town"))  # replaced: the old form is stale
    assert "Bhadaur" not in {s for _, s, _ in index.nearest("bador", 4, 0.3)}
    catalog.delete("default", "munakata")
    assert index.nearest("moona kata", 4, 0.3) == []


def test_options_check_the_pronunciation_candidates() -> None:
    with pytest.raises(ConfigError):
        DancerOptions(phone_limit=-1)
    with pytest.raises(ConfigError):
        DancerOptions(phone_distance=1.0)

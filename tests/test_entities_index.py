"""The entity index finds the right candidates by sound and spelling, and stays consistent under updates."""

from __future__ import annotations

import random
import string

from emendo.correctors.entities.index import EntityIndex, build_index, deletions, index_key
from emendo.correctors.entities.types import Entity

ENTITIES = [
    Entity("nyc", "New York", ("NYC",), type="place"),
    Entity("newark", "Newark", type="place"),
    Entity("york", "York", type="place"),
    Entity("tch", "Tchaikovsky", ("Pyotr Tchaikovsky",), type="person"),
    Entity("rach", "Rachmaninoff", ("Rachmaninov",), type="person"),
    Entity("msk", "Москва", lang="ru", type="place"),
    Entity("spb", "Санкт-Петербург", ("Питер",), lang="ru", type="place"),
]


def test_deletion_neighbourhood() -> None:
    assert deletions("NRK") == {"NRK", "RK", "NK", "NR"}
    assert deletions("NR") == {"NR"}
    assert index_key("MaSKVa") == "MSKV"
    assert len(index_key("ABCDEFGHIJ")) == 7


def test_candidates_by_sound_and_spelling() -> None:
    index = build_index(ENTITIES)
    assert [c.entity.id for c in index.candidates("new yorke", max_distance=0.3)] == ["nyc", "newark"]
    assert index.candidates("chaikovsky")[0].entity.id == "tch"
    assert index.candidates("Rakhmaninov")[0].surface == "Rachmaninov"
    assert index.candidates("Масква")[0].entity.id == "msk"
    assert index.candidates("Санкт Питербург")[0].entity.id == "spb"
    assert index.candidates("table") == []
    assert index.candidates("") == [] and index.candidates("...") == []


def test_exact_ignores_case_space_and_russian_inflection() -> None:
    index = build_index(ENTITIES)
    assert [e.id for e, _ in index.exact("new york")] == ["nyc"]
    assert [e.id for e, _ in index.exact("nyc")] == ["nyc"]
    assert [e.id for e, _ in index.exact("Москве")] == ["msk"]
    assert index.exact("Yorkshire") == []


def test_add_remove_keep_tables_consistent() -> None:
    index = build_index(ENTITIES)
    before = index.stats()
    extra = Entity("x", "Worcester", ("Wooster",))
    index.add(extra)
    assert index.candidates("wuster")[0].entity.id == "x"
    index.add(Entity("x", "Gloucester"))  # replace
    assert index.candidates("wuster") == [] and index.candidates("gloster")[0].entity.id == "x"
    assert index.remove("x") is not None and index.remove("x") is None
    assert index.stats() == before


def test_shared_surface_forms_survive_removal_of_one_owner() -> None:
    index = EntityIndex()
    index.add(Entity("a", "Paris", description="city in France"))
    index.add(Entity("b", "Paris", description="city in Texas"))
    index.remove("a")
    assert [c.entity.id for c in index.candidates("pariss")] == ["b"]


def test_many_entities_lookup_is_sublinear() -> None:
    rng = random.Random(0)
    names = {"".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10))).title() for _ in range(20_000)}
    index = build_index(Entity(str(i), n) for i, n in enumerate(sorted(names)))
    index.add(Entity("target", "Tchaikovsky"))
    assert index.candidates("chaikovsky")[0].entity.id == "target"
    assert len(index.candidate_keys("chaikovsky")) < len(index) / 20


def test_equally_near_forms_of_one_entity_give_the_form_it_lists_first() -> None:
    # the index pools forms in a set (ordered by string hashing); the choice must not depend on it
    for forms in (("Smith", "Smyth"), ("Smyth", "Smith")):
        index = build_index([Entity("p:1", forms[0], aliases=(forms[1],))])
        (candidate,) = index.candidates("smeth", 5, 0.5)
        assert candidate.surface == forms[0]


def test_recent_lookups_are_reused_until_the_index_changes() -> None:
    index = build_index([Entity("c:1", "Marsala")])
    first = index.candidates("marsalla", 5, 0.4)
    assert [c.entity.id for c in first] == ["c:1"]
    first.clear()  # callers get their own list
    assert [c.entity.id for c in index.candidates("marsalla", 5, 0.4)] == ["c:1"]
    index.add(Entity("c:2", "Marsalla"))  # an exact match now exists: the memo must not hide it
    assert [c.entity.id for c in index.candidates("marsalla", 5, 0.4)] == ["c:2", "c:1"]
    index.remove("c:2")
    assert [c.entity.id for c in index.candidates("marsalla", 5, 0.4)] == ["c:1"]

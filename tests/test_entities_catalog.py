"""Entity catalog files (JSONL/CSV, good and bad rows) and the upsert/delete update path."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from emendo.correctors.entities.catalog import (
    Catalog,
    entity_from_dict,
    entity_to_dict,
    read_catalog_file,
    update_key,
    write_catalog_jsonl,
)
from emendo.correctors.entities.types import Entity
from emendo.errors import ConfigError, RecordError

ROWS = [
    {"id": "nyc", "name": "New York", "aliases": ["New York City", "NYC"], "description": "city in the USA",
     "type": "place", "catalog": "travel", "source": "test", "licence": "CC0", "population": 8_000_000},
    {"id": "tch", "name": "Tchaikovsky", "type": "person", "catalog": "music"},
]


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_loads_fields_aliases_and_extra(tmp_path: Path) -> None:
    entities = list(read_catalog_file(write_jsonl(tmp_path / "c.jsonl", ROWS)))
    nyc, tch = entities
    assert nyc.surface_forms == ("New York", "New York City", "NYC")
    assert (nyc.type, nyc.catalog, nyc.lang, nyc.licence) == ("place", "travel", "en", "CC0")
    assert nyc.extra == {"population": 8_000_000}
    assert (tch.catalog, tch.type, tch.aliases) == ("music", "person", ())


def test_gzip_jsonl_and_catalog_override(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl.gz"
    assert write_catalog_jsonl([entity_from_dict(r) for r in ROWS], path) == 2
    assert gzip.decompress(path.read_bytes()).startswith(b'{"id":"nyc"')
    assert {e.catalog for e in read_catalog_file(path, catalog="tenant-a")} == {"tenant-a"}


def test_round_trip() -> None:
    entity = entity_from_dict(ROWS[0])
    assert entity_from_dict(entity_to_dict(entity)) == entity


def test_csv_with_pipe_aliases_and_unknown_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("id,name,aliases,type,region\n1,Москва,Москов|Moscow,place,RU\n2,Tom Hanks,,person,\n",
                    encoding="utf-8")
    moscow, hanks = read_catalog_file(path)
    assert moscow.aliases == ("Москов", "Moscow") and moscow.extra == {"region": "RU"}
    assert hanks.aliases == () and hanks.type == "person" and hanks.extra == {}


@pytest.mark.parametrize(("row", "message"), [
    ({"name": "No Id"}, "id: missing"),
    ({"id": "x", "name": "  "}, "name: missing"),
    ({"id": "x", "name": "X", "type": "planet"}, "type: must be one of"),
    ({"id": "x", "name": "X", "aliases": [1, 2]}, "aliases: must be a list"),
    ({"id": "x", "name": "X", "catalog": "a/b"}, "catalog: invalid catalog name"),
    ({"id": 5, "name": "X"}, "id: must be a string"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_jsonl_rows_name_file_and_line(tmp_path: Path, row: object, message: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [ROWS[1], row])
    with pytest.raises(RecordError, match=rf"bad\.jsonl:2: .*{message}"):
        list(read_catalog_file(path))


def test_malformed_json_and_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[1]) + "\n\n{nope\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"bad\.jsonl:3: malformed JSON"):
        list(read_catalog_file(path))
    write_jsonl(path, [ROWS[1], ROWS[0], ROWS[1]])
    with pytest.raises(RecordError, match=r"bad\.jsonl:3: duplicate id 'tch' \(first on line 1\)"):
        list(read_catalog_file(path))


def test_bad_csv(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("name,type\nX,place\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"bad\.csv:1: header lacks column\(s\) \['id'\]"):
        list(read_catalog_file(path))
    path.write_text("id,name\n1,A\n2,B,extra\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"bad\.csv:3: more fields"):
        list(read_catalog_file(path))


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        list(read_catalog_file(tmp_path / "none.jsonl"))
    with pytest.raises(ConfigError, match="unknown catalog format"):
        list(read_catalog_file(tmp_path / "c.txt"))


def test_catalog_upsert_replace_delete_updates_the_index(tmp_path: Path) -> None:
    catalog = Catalog.from_files([write_jsonl(tmp_path / "c.jsonl", ROWS)])
    assert catalog.names() == ["music", "travel"] and len(catalog) == 2
    assert catalog.candidates("new yorke", "travel")[0].entity.id == "nyc"
    catalog.upsert(Entity("nyc", "Newark", catalog="travel"))  # replace: old surfaces leave the index
    assert [c.surface for c in catalog.candidates("new yorke", "travel")] == ["Newark"]
    assert catalog.index("travel").exact("NYC") == []  # type: ignore[union-attr]
    assert catalog.delete("travel", "nyc") is not None
    assert "travel" not in catalog and catalog.candidates("newark", "travel") == []
    assert catalog.delete("travel", "nyc") is None


def test_apply_kafka_style_updates() -> None:
    catalog = Catalog()
    key = update_key("tenant-a", "e1")
    catalog.apply(key.encode(), json.dumps({"name": "Tchaikovsky", "type": "person"}).encode())
    assert catalog.get("tenant-a", "e1") == Entity("e1", "Tchaikovsky", type="person", catalog="tenant-a")
    catalog.apply(key, {"name": "Rachmaninoff", "aliases": ["Rachmaninov"]})
    assert catalog.candidates("rakhmaninov", "tenant-a")[0].surface == "Rachmaninov"
    catalog.apply(key, None)  # tombstone
    assert catalog.get("tenant-a", "e1") is None and len(catalog) == 0
    with pytest.raises(RecordError, match="not '<catalog>/<entity id>'"):
        catalog.apply("no-slash", None)
    with pytest.raises(RecordError, match="disagree"):
        catalog.apply(key, {"id": "other", "name": "X"})
    with pytest.raises(RecordError, match="malformed JSON"):
        catalog.apply(key, b"{")


def test_russian_wiktionary_definitions_come_out_as_plain_text() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from build_entity_catalogs import _wiki_definition

    def row(definition: str) -> str:  # a wikiwordnet row: lemma~lang~lemma~lang~definition~ids
        return f"X~ru~X~ru~{definition}~1~2"

    block = ("{{значение\n |язык        = ru\n |определение = [[город]] в Руси и [[Россия|России]], столица\n"
             " |пометы      = \n |примеры     = <br/>{{пример|{{выдел|Москва}} проснулась.}}}}")
    assert _wiki_definition(row(block)) == "город в Руси и России, столица"
    assert _wiki_definition(row("{{аббр.|ru|средство массовой информации|газеты, журналы {{итп}}}} {{пример|}}")) == (
        "средство массовой информации: газеты, журналы и т. п.")
    bold = "{{сокр.||автозаправочная станция{{!}}'''а'''вто'''з'''аправочная '''с'''танция}}"
    assert _wiki_definition(row(bold)) == "автозаправочная станция"
    assert _wiki_definition(row("#{{аббр.|ru|w:Баварские заводы{{!}}Баварские заводы|производитель автомобилей}}")) == (
        "Баварские заводы: производитель автомобилей")
    # a link whose closing brackets are cut short in the source still loses its target
    assert _wiki_definition(row("[[река]] в России, приток [[Волга|Волги]] {{пример|Пермь стоит на Каме.}}")) == (
        "река в России, приток Волги")
    assert "[[" not in _wiki_definition(row("приток [[Волга|Волги]а"))

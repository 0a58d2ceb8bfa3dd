"""The entity correctors in the product: settings, registry, batch CLI, live catalog, catalog updates."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emendo.cli import main
from emendo.correctors.entities.catalog import Catalog
from emendo.correctors.entities.live import LiveDenseIndex, forget_shared_catalogs, shared_catalog
from emendo.correctors.entities.types import Entity
from emendo.correctors.registry import FACTORIES, build_pipeline, entity_catalog
from emendo.errors import ConfigError
from emendo.records import Hypothesis
from emendo.settings import Settings
from emendo.streams.entities import CatalogFollower, entity_deletions, entity_updates

ENTITIES = [
    {"id": "p:1", "name": "Tchaikovsky", "description": "Russian composer", "type": "person"},
    {"id": "c:1", "name": "Marseille", "description": "port city in southern France", "type": "place"},
    {"id": "c:2", "name": "Zhytomyr", "description": "city in Ukraine", "type": "place", "catalog": "travel"},
]


@pytest.fixture(autouse=True)
def fresh_catalogs() -> Iterator[None]:
    forget_shared_catalogs()
    yield
    forget_shared_catalogs()


@pytest.fixture
def catalog_file(tmp_path: Path) -> Path:
    path = tmp_path / "catalog.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in ENTITIES), encoding="utf-8")
    return path


def settings(catalog_file: Path, **overrides: object) -> Settings:
    return Settings.from_env({"EMENDO_ENTITY_CATALOGS": f" {catalog_file} ,"}, **overrides)


def test_settings_read_entity_variables(tmp_path: Path) -> None:
    s = Settings.from_env({"EMENDO_ENTITY_CATALOGS": f"{tmp_path}/a.jsonl, {tmp_path}/b.csv.gz",
                           "EMENDO_ENTITY_DEFAULT_CATALOG": "acme", "EMENDO_ENTITY_TOPIC": "x.entities",
                           "EMENDO_CORRECTORS": "dlm, pednec"})
    assert s.entity_catalog_paths == (tmp_path / "a.jsonl", tmp_path / "b.csv.gz")
    assert (s.entity_default_catalog, s.entity_topic, s.corrector_names) == ("acme", "x.entities", ("dlm", "pednec"))
    defaults = Settings()
    assert (defaults.entity_catalog_paths, defaults.entity_default_catalog, defaults.entity_topic) == (
        (), "default", "emendo.entities")
    with pytest.raises(ConfigError, match="EMENDO_ENTITY_DEFAULT_CATALOG"):
        Settings.from_env({"EMENDO_ENTITY_DEFAULT_CATALOG": "a/b"})


def test_pednec_and_its_alias_share_one_live_catalog(catalog_file: Path) -> None:
    assert {"pednec", "entities", "dancer"} <= set(FACTORIES)
    s = settings(catalog_file, correctors="identity,pednec")
    pipeline = build_pipeline(s)
    assert [c.name for c in pipeline.correctors] == ["identity", "pednec"]
    alias = build_pipeline(settings(catalog_file, correctors="entities")).correctors[0]
    assert alias.catalog is pipeline.correctors[1].catalog is entity_catalog(s)  # type: ignore[attr-defined]
    (c,) = pipeline.correct([Hypothesis("1", "we listened to chaikovsky yesterday")])
    assert c.corrected == "we listened to Tchaikovsky yesterday"
    assert [(s.corrector, s.changed) for s in c.steps] == [("identity", False), ("pednec", True)]
    # an update applied to the live catalog is seen by the already built corrector
    entity_catalog(s).apply("default/p:1", None)
    assert pipeline.correct([Hypothesis("2", "we listened to chaikovsky yesterday")])[0].changed is False


def test_default_catalog_and_record_catalogs(catalog_file: Path) -> None:
    s = settings(catalog_file, correctors="pednec", entity_default_catalog="travel")
    pipeline = build_pipeline(s)
    out = pipeline.correct([Hypothesis("1", "a train to zhitomir and marsaille"),
                            Hypothesis("2", "a train to zhitomir and marsaille", entities="default")])
    assert [c.corrected for c in out] == ["a train to Zhytomyr and marsaille", "a train to zhitomir and Marseille"]


def test_a_missing_catalog_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        build_pipeline(settings(tmp_path / "nope.jsonl", correctors="pednec"))


def test_dancer_factory(catalog_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emendo.correctors.entities.dancer import FEATURES, Reranker

    monkeypatch.setenv("EMENDO_CACHE_DIR", str(tmp_path / "cache"))
    s = settings(catalog_file, correctors="pednec,dancer", data_dir=str(tmp_path / "data"))
    try:
        Reranker.load()
    except ConfigError:  # weights not bundled (yet): a clear error, then go on with stand-in weights
        with pytest.raises(ConfigError, match="reranker"):
            build_pipeline(s)
        weights = Reranker(tuple(-6.0 if f == "distance" else 0.0 for f in FEATURES), 0.0,
                           (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), {"threshold": 0.6})
        monkeypatch.setattr(Reranker, "load", classmethod(lambda cls, path=None: weights))
    pednec, dancer = build_pipeline(s).correctors
    assert dancer.name == "dancer" and dancer.catalog is pednec.catalog  # type: ignore[attr-defined]
    assert set(dancer.dense) == {"default", "travel"}  # type: ignore[attr-defined]
    # embeddings cached in the shared cache (not the worker's data folder): any working folder reuses them
    assert list((tmp_path / "cache" / "entity-embeddings").glob("entities-*.npy"))
    (c,) = dancer.correct([Hypothesis("1", "the cat sat on the mat")])
    assert not c.changed


def test_dancer_serves_the_scorer_the_settings_name(catalog_file: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from emendo.correctors.entities.dancer import FEATURES, DancerOptions, Reranker, bundled_weights

    if not bundled_weights().is_file() or not bundled_weights("ru").is_file():
        pytest.skip("no trained scorers bundled")
    monkeypatch.setenv("EMENDO_CACHE_DIR", str(tmp_path / "cache"))
    mine = tmp_path / "scorer.json"
    n = len(FEATURES)
    tuned = {"phonetic_pool": 32, "around_names": True, "sources": ["asr", "htr"], "threshold": None}
    mine.write_text(json.dumps({"features": list(FEATURES), "weights": [0.0] * n, "bias": -1.0, "mean": [0.0] * n,
                                "scale": [1.0] * n, "meta": {"threshold": 0.9, "named_threshold": 0.95,
                                                             "options": tuned}}))
    s = settings(catalog_file, correctors="dancer", data_dir=str(tmp_path / "data"), dancer_scorer=str(mine))
    (dancer,) = build_pipeline(s).correctors
    assert (dancer.threshold, dancer.named_threshold) == (0.9, 0.95)  # type: ignore[attr-defined]
    # served with the options it was tuned with
    opts = dancer.options  # type: ignore[attr-defined]
    assert (opts.phonetic_pool, opts.around_names, opts.sources) == (32, True, ("asr", "htr"))
    assert opts.max_distance == DancerOptions().max_distance
    bad = tmp_path / "bad.json"
    bad.write_text(mine.read_text().replace('"around_names"', '"no_such_option"'))
    with pytest.raises(ConfigError, match="no_such_option"):
        build_pipeline(settings(catalog_file, correctors="dancer", dancer_scorer=str(bad)))
    assert dancer.reranker.bias == -1.0  # type: ignore[attr-defined]
    # the operator's thresholds win over the scorer's (a named threshold never below the other)
    (stricter,) = build_pipeline(settings(catalog_file, correctors="dancer", data_dir=str(tmp_path / "data"),
                                          dancer_scorer=str(mine), dancer_thresholds="0.97")).correctors
    assert (stricter.threshold, stricter.named_threshold) == (0.97, 0.97)  # type: ignore[attr-defined]
    # Cyrillic spans keep the bundled Russian scorer
    assert dancer.cyrillic_reranker == Reranker.load(bundled_weights("ru"))  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="no reranker weights"):
        build_pipeline(settings(catalog_file, correctors="dancer", dancer_scorer=str(tmp_path / "none.json")))
    # ``context``: the bundled scorer combined with the bundled context scorer
    if bundled_weights("context").is_file():
        (combined,) = build_pipeline(settings(catalog_file, correctors="dancer", data_dir=str(tmp_path / "data"),
                                              dancer_scorer="context")).correctors
        assert combined.reranker == Reranker.load(bundled_weights("context"))  # type: ignore[attr-defined]
        assert combined.reranker.stack is not None  # type: ignore[attr-defined]
        assert combined.context_scorer is not None  # type: ignore[attr-defined]
        assert threads_of(combined.context_scorer.session) == 1  # type: ignore[attr-defined]
        assert threads_of(combined.embedder.session) == 1  # type: ignore[attr-defined]
        # EMENDO_DANCER_THREADS: the context scorer's when it is served (the encoder keeps one) ...
        (two,) = build_pipeline(settings(catalog_file, correctors="dancer", data_dir=str(tmp_path / "data"),
                                         dancer_scorer="context", dancer_threads=2)).correctors
        assert threads_of(two.context_scorer.session) == 2  # type: ignore[attr-defined]
        assert threads_of(two.embedder.session) == 1  # type: ignore[attr-defined]
        assert two.options.context_reads == 3  # type: ignore[attr-defined]  # the bundled scorer's own
        # EMENDO_DANCER_CONTEXT_READS: another budget of context-scorer reads an utterance, or none (0)
        (capped,) = build_pipeline(settings(catalog_file, correctors="dancer", data_dir=str(tmp_path / "data"),
                                            dancer_scorer="context", dancer_context_reads="2")).correctors
        assert capped.options.context_reads == 2  # type: ignore[attr-defined]
        (unlimited,) = build_pipeline(settings(catalog_file, correctors="dancer", data_dir=str(tmp_path / "data"),
                                               dancer_scorer="context", dancer_context_reads="0")).correctors
        assert unlimited.options.context_reads == 0  # type: ignore[attr-defined]
    # ... else the sentence encoder's
    (plain,) = build_pipeline(settings(catalog_file, correctors="dancer", data_dir=str(tmp_path / "data"),
                                       dancer_threads=2)).correctors
    assert plain.context_scorer is None  # type: ignore[attr-defined]
    assert threads_of(plain.embedder.session) == 2  # type: ignore[attr-defined]


def threads_of(session: Any) -> int:
    """The intra-op thread count an ONNX Runtime session was made with."""
    return int(session.get_session_options().intra_op_num_threads)


def test_live_dense_index_skips_deleted_entities() -> None:
    catalog = Catalog()
    entities = [Entity(f"e:{i}", f"Name{i}") for i in range(4)]
    for e in entities:
        catalog.upsert(e)
    matrix = np.eye(4, dtype=np.float32)
    dense = LiveDenseIndex(catalog, "default", entities, matrix)
    query = np.array([1.0, 0.9, 0.8, 0.7], dtype=np.float32)
    assert [e.id for e, _ in dense.search(query, 2)] == ["e:0", "e:1"]
    catalog.delete("default", "e:0")
    catalog.upsert(Entity("e:1", "Renamed"))
    assert [(e.id, e.name) for e, _ in dense.search(query, 2)] == [("e:1", "Renamed"), ("e:2", "Name2")]


class _FakeEmbedder:
    """Unit vectors keyed by the entity text's first word (Name0 -> axis 0, ...)."""

    fingerprint = "fake"

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), 5), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row, int(text.split(":")[0].split(",")[0][-1])] = 1.0
        return out


def test_live_dense_index_embeds_entities_added_or_changed_after_start() -> None:
    catalog = Catalog()
    entities = [Entity(f"e:{i}", f"Name{i}") for i in range(3)]
    for e in entities:
        catalog.upsert(e)
    dense = LiveDenseIndex(catalog, "default", entities, np.eye(3, 5, dtype=np.float32), embedder=_FakeEmbedder())
    axis4 = np.array([0, 0, 0, 0, 1], dtype=np.float32)
    assert [cos for _, cos in dense.search(axis4, 3)] == [0.0, 0.0, 0.0]
    catalog.upsert(Entity("new", "Name4", description="added through the topic"))
    catalog.upsert(Entity("other", "Name4", catalog="elsewhere"))  # another catalog: not this index
    (top, cos), *_ = dense.search(axis4, 3)
    assert (top.id, cos) == ("new", 1.0)
    assert dense.similarity(axis4, ["new", "e:0", "missing"]) == [1.0, 0.0, 0.0]
    catalog.upsert(Entity("e:0", "Name4"))  # a changed entity is re-embedded, its old row ignored
    assert {e.id for e, cos in dense.search(axis4, 4) if cos == 1.0} == {"new", "e:0"}
    catalog.delete("default", "new")
    assert [e.id for e, cos in dense.search(axis4, 4) if cos == 1.0] == ["e:0"]
    assert len(dense.search(axis4, 10)) == 3  # e:0 (fresh), e:1, e:2


def test_follower_applies_updates_and_skips_bad_ones() -> None:
    catalog = Catalog()
    follower = CatalogFollower("unused:9092", "t", [catalog])
    follower.apply([
        (b"default/p:1", json.dumps({"name": "Tchaikovsky"}).encode()),
        (b"acme/x", b'{"name": "Acme"}'),
        (b"no-slash", b'{"name": "X"}'),
        (None, b'{"name": "X"}'),
        (b"default/p:2", b"not json"),
        (b"acme/x", None),
    ])
    assert (follower.applied, follower.rejected) == (3, 3)
    assert catalog.names() == ["default"] and catalog.get("default", "p:1") is not None


def test_update_messages(catalog_file: Path) -> None:
    msgs = list(entity_updates(catalog_file))
    assert [k for k, _ in msgs] == [b"default/p:1", b"default/c:1", b"travel/c:2"]
    assert json.loads(msgs[0][1])["name"] == "Tchaikovsky"
    assert next(k for k, _ in entity_updates(catalog_file, catalog="acme")) == b"acme/p:1"
    assert list(entity_deletions("acme", ["a", "b/c"])) == [(b"acme/a", None), (b"acme/b/c", None)]
    # the messages rebuild the catalog they came from
    catalog = Catalog()
    CatalogFollower("unused:9092", "t", [catalog]).apply(msgs)
    assert len(catalog) == 3 and catalog.names() == ["default", "travel"]


def test_batch_correct_with_pednec(catalog_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("EMENDO_ENTITY_CATALOGS", str(catalog_file))
    src, out = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("we listened to chaikovsky yesterday\nthe cat sat on the mat\n", encoding="utf-8")
    assert main(["correct", str(src), "-o", str(out), "--correctors", "pednec", "-q"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["corrected"] for r in rows] == ["we listened to Tchaikovsky yesterday", "the cat sat on the mat"]
    assert rows[0]["edits"][0]["before"] == "chaikovsky" and rows[0]["model_versions"] == {"pednec": "1"}
    assert '"changed": 1' in capsys.readouterr().err


def test_shared_catalog_is_loaded_once(catalog_file: Path) -> None:
    first = shared_catalog([catalog_file])
    assert shared_catalog([str(catalog_file)]) is first
    assert shared_catalog([catalog_file], "travel") is not first


@pytest.mark.slow
def test_builtin_catalog_when_no_files_are_named() -> None:
    pipeline = build_pipeline(Settings(correctors="pednec"))
    catalog = pipeline.correctors[0].catalog  # type: ignore[attr-defined]
    assert len(catalog) > 50_000 and "default" in catalog


def test_registry_dancer_pairs_each_entity_with_its_own_vector_above_the_exact_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above 4,000 entities a built index keeps its rows in inverted-list order; the registry
    must pair the catalog's entities with vectors in catalog order (a bug once paired them
    with the reordered matrix, so dense retrieval returned unrelated entities)."""
    from emendo.correctors.entities import embed
    from emendo.correctors.entities.retrieval import entity_text

    class HashEmbedder:
        fingerprint, dim = "hash-1", 32

        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
            rows = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=self.dim) for t in texts]
            out = np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dim)
            return out / np.linalg.norm(out, axis=1, keepdims=True)

    monkeypatch.setattr(embed, "SentenceEmbedder", HashEmbedder)
    monkeypatch.setenv("EMENDO_CACHE_DIR", str(tmp_path / "cache"))  # its vectors vary with the hash seed
    path = tmp_path / "big.jsonl"
    rows = [{"id": f"e:{i}", "name": f"Entity{i}", "description": f"thing number {i}", "type": "other"}
            for i in range(4_500)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    dancer = build_pipeline(settings(path, correctors="dancer", data_dir=tmp_path / "data")).correctors[0]
    index = dancer.dense["default"]  # type: ignore[attr-defined]
    assert index._centroids is not None  # the inverted file is in use
    for i in (0, 1_234, 4_499):
        entity = dancer.catalog.index("default").get(f"e:{i}")  # type: ignore[attr-defined]
        query = HashEmbedder().embed([entity_text(entity)])[0]
        assert index.search(query, k=1)[0][0].id == f"e:{i}"

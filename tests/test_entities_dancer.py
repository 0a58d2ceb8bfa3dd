"""DANCER entity correction: embedder, dense retrieval, scorer, metrics (fast; no ../shared data)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from emendo.correctors.base import Corrector
from emendo.correctors.entities.catalog import Catalog
from emendo.correctors.entities.dancer import (
    FEATURES,
    DancerCorrector,
    DancerOptions,
    Reranker,
    Scored,
    _Doubt,
    description_words,
    scorer_file,
)
from emendo.correctors.entities.dancer import _derived as derived
from emendo.correctors.entities.dancer import _says_number as says_number
from emendo.correctors.entities.embed import SentenceEmbedder, default_model_dir
from emendo.correctors.entities.retrieval import DenseIndex, catalog_hash, entity_text
from emendo.correctors.entities.types import Entity
from emendo.errors import ConfigError
from emendo.eval.entities import (
    EntitySpan,
    changed_regions,
    entity_scores,
    levenshtein,
    project,
    record_spans,
    words_changed,
)
from emendo.records import Hypothesis


class BagOfWords:
    """A deterministic stand-in embedder: hashed lowercase words, L2-normalised."""

    fingerprint = "bow-1"
    dim = 64

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().replace(",", " ").replace(":", " ").replace(".", " ").split():
                if len(word) > 3:
                    out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i] /= max(float(np.linalg.norm(out[i])), 1e-9)
        return out


ENTITIES = [
    Entity("p:1", "Stein", description="German composer of church music and organ works"),
    Entity("p:2", "Stine", description="American novelist who wrote horror books for children"),
    Entity("c:1", "Marseille", description="port city in southern France on the Mediterranean", type="place"),
    Entity("c:2", "Marsala", description="town in Sicily famous for its fortified wine", type="place"),
]
_WORDS = ("i was reading about the a his new book for children and on in of wine we drank "
          "from sailed to port city cat sat mat yesterday very good")
LEXICON = frozenset(_WORDS.split())
# Hand-set weights: close in sound, and clearly the best description for the context.
WEIGHTS = {"distance": -6.0, "cosine": 4.0, "cosine_gap": 8.0, "identical": -1.0}


def reranker() -> Reranker:
    weights = tuple(WEIGHTS.get(f, 0.0) for f in FEATURES)
    return Reranker(weights, 0.0, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), {"threshold": 0.6})


def catalog_of(entities: Sequence[Entity]) -> Catalog:
    catalog = Catalog()
    for e in entities:
        catalog.upsert(e)
    return catalog


def span_texts(entities: Sequence[Entity], text: str, words: set[str]) -> set[str]:
    """The spans DANCER looks at in ``text`` (lexicon: the toy one plus ``words``)."""
    catalog = catalog_of(entities)
    corrector = DancerCorrector(catalog, BagOfWords(), {}, reranker=reranker(), lexicon=LEXICON | words)
    index = catalog.index("default")
    assert index is not None
    return {text[s[2]:s[3]] for s in corrector._spans(text, index)[0]}


def dancer(options: DancerOptions | None = None) -> DancerCorrector:
    """A corrector over the four toy entities. The hand-set weights know nothing of the dense
    rank, so by default the nearest entities get no looser sound limit (``dense_top=0``): in a
    four-entity catalog every entity is among the nearest."""
    catalog = Catalog()
    for e in ENTITIES:
        catalog.upsert(e)
    embedder = BagOfWords()
    dense = DenseIndex.build(ENTITIES, embedder)
    return DancerCorrector(catalog, embedder, {"default": dense}, reranker=reranker(),
                           options=options or DancerOptions(dense_top=0), lexicon=LEXICON)


def test_serving_modules_never_import_torch() -> None:
    code = ("import sys, emendo.correctors.entities.embed, emendo.correctors.entities.retrieval, "
            "emendo.correctors.entities.dancer, emendo.eval.entities; "
            "bad = [m for m in ('torch', 'transformers') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not (default_model_dir() / "model.int8.onnx").is_file(), reason="bundled MiniLM missing")
def test_bundled_embedder_gives_unit_vectors_that_rank_paraphrases_first() -> None:
    emb = SentenceEmbedder()
    v = emb.embed(["Mozart was an Austrian composer", "an Austrian composer of the classical period",
                   "a port city in southern France"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.3


def test_dense_search_ranks_by_description() -> None:
    index = DenseIndex.build(ENTITIES, BagOfWords())
    query = BagOfWords().embed(["we drank fortified wine in sicily"])[0]
    hits = index.search(query, k=2)
    assert hits[0][0].id == "c:2" and hits[0][1] >= hits[1][1]
    assert index.similarity(query, ["c:2", "nope"])[1] == 0.0


def test_dense_inverted_file_finds_an_exact_row() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(3000, 32)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    entities = [Entity(f"e:{i}", f"name {i}") for i in range(3000)]
    index = DenseIndex(entities, matrix, exact_limit=1000, nprobe=4)
    for row in (5, 1234, 2999):
        assert index.search(matrix[row], k=1)[0][0].id == f"e:{row}"


def test_embeddings_stay_in_input_order_when_the_index_reorders_its_rows(tmp_path: Path) -> None:
    # Above exact_limit an index keeps its rows in inverted-list order: vectors to pair with a
    # list of entities (another index over a subset, the live index) come from embeddings().
    rng = np.random.default_rng(1)
    entities = [Entity(f"e:{i}", f"name {i}") for i in range(600)]
    matrix = rng.normal(size=(600, 16)).astype(np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)

    class Table:
        fingerprint, dim = "table-1", 16

        def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
            return np.stack([matrix[int(t.split()[1])] for t in texts])

    big = DenseIndex.build(entities, Table(), cache_dir=tmp_path, exact_limit=100)
    assert [e.id for e in big.entities] != [e.id for e in entities]  # reordered by the inverted lists
    vectors = DenseIndex.embeddings(entities, Table(), cache_dir=tmp_path)
    assert np.array_equal(vectors, matrix)
    rows = list(range(0, 600, 3))
    sub = DenseIndex([entities[i] for i in rows], vectors[rows], exact_limit=50, nprobe=50)
    for i in (0, 300, 597):
        assert sub.search(matrix[i], k=1)[0][0].id == f"e:{i}"
        assert sub.similarity(matrix[i], [f"e:{i}"])[0] > 0.999


def test_dense_cache_round_trip(tmp_path: Path) -> None:
    embedder = BagOfWords()
    first = DenseIndex.build(ENTITIES, embedder, cache_dir=tmp_path)
    second = DenseIndex.build(ENTITIES, embedder, cache_dir=tmp_path)
    assert embedder.calls == 1 and np.array_equal(first.matrix, second.matrix)
    assert (tmp_path / f"entities-{catalog_hash(ENTITIES, 'bow-1')}.npy").is_file()
    assert catalog_hash(ENTITIES[:2], "bow-1") != catalog_hash(ENTITIES, "bow-1")
    assert entity_text(ENTITIES[0]).startswith("Stein: German composer")


def test_context_picks_the_right_homophone() -> None:
    corrector = dancer()
    assert isinstance(corrector, Corrector)
    text, chosen = corrector.correct_text("I was reading about Stien and his new horror book for children.")
    assert "Stine" in text and chosen[0].entity.id == "p:2"
    text, _ = corrector.correct_text("I was reading about Stien, the German composer of organ works.")
    assert "Stein" in text


def test_a_homophone_that_is_itself_an_entity_can_be_replaced_and_the_right_one_is_kept() -> None:
    text = "We sailed to Marsala, the port city in southern France."
    sure = [0.9] * len(text.split())
    # plain text gives no sign that a correctly spelled catalog name is wrong: it stays
    corrector = dancer()
    assert corrector.correct_text(text)[0] == text
    # with the recogniser's word confidences it may be replaced (the toy scorer ignores their values)
    assert corrector.correct_text(text, confidences=sure)[0].count("Marseille")
    loose = dancer(DancerOptions(dense_top=0, replace_names_in_plain_text=True))
    assert loose.correct_text(text)[0].count("Marseille")
    kept = "We drank wine in Marsala, the town in Sicily famous for fortified wine."
    assert corrector.correct_text(kept, confidences=[0.9] * len(kept.split()))[0] == kept
    # replacing a span that names an entity may need more: the named threshold
    strict = dancer(DancerOptions(dense_top=0, named_threshold=0.9999))
    assert strict.correct_text(text, confidences=sure)[0] == text
    assert dancer(DancerOptions(dense_top=0, named_threshold=0.1)).named_threshold == 0.6  # never below threshold


def test_clean_text_and_low_confidence_stay_unchanged() -> None:
    corrector = dancer()
    clean = "The cat sat on the mat yesterday, very good."
    assert corrector.correct([Hypothesis("1", clean)])[0].corrected == clean
    strict = dancer(DancerOptions(threshold=0.9999))
    text = "I was reading about Stien yesterday."
    assert strict.correct_text(text)[0] == text


def test_the_recognisers_word_confidences_feed_the_low_confidence_feature() -> None:
    # a scorer that trusts the recogniser: doubt about the span's words raises the probability
    weights = tuple({**WEIGHTS, "low_confidence": 6.0, "has_confidence": -3.0}.get(f, 0.0) for f in FEATURES)
    trusting = Reranker(weights, 0.0, (0.0,) * len(FEATURES), (1.0,) * len(FEATURES), {"threshold": 0.6})
    catalog = Catalog()
    for e in ENTITIES:
        catalog.upsert(e)
    embedder = BagOfWords()
    corrector = DancerCorrector(catalog, embedder, {"default": DenseIndex.build(ENTITIES, embedder)},
                                reranker=trusting, options=DancerOptions(dense_top=0), lexicon=LEXICON)
    text = "i was reading about stien and his new horror book for children"
    words = len(text.split())
    unsure = tuple(0.3 if w == "stien" else 0.95 for w in text.split())
    sure = (0.99,) * words

    def stine(scored: list) -> float:
        return max(s.probability for s in scored if s.entity.id == "p:2")

    low, high, none = (corrector.score_text(text, confidences=c) for c in (unsure, sure, None))
    feature = FEATURES.index("low_confidence")
    assert {round(s.features[feature], 6) for s in low} == {0.7}  # 1 - the span's lowest word confidence
    assert {s.features[FEATURES.index("has_confidence")] for s in none} == {0.0}
    assert stine(low) > stine(none) > stine(high)
    # the same through correct(): a hypothesis carries its confidences; a count that does not match
    # the words is ignored (as if none were given)
    (fixed,) = corrector.correct([Hypothesis("1", text, confidences=unsure)])
    assert "Stine" in fixed.corrected
    assert corrector.score_text(text, confidences=unsure[:-1]) == none
    assert corrector.correct([Hypothesis("1", text, confidences=sure)])[0].corrected == text
    # handwriting records pass unchanged by default (the scorer was tuned on ASR errors only); asked to
    # correct them, it does not read their confidences (it learnt Whisper's): scored as plain text
    assert corrector.correct([Hypothesis("1", text, source="htr")])[0].corrected == text
    assert "Stine" in corrector.correct_text(text)[0]
    both = DancerCorrector(corrector.catalog, corrector.embedder, corrector.dense, reranker=corrector.reranker,
                           options=dataclasses.replace(corrector.options, sources=("asr", "htr")),
                           lexicon=corrector.lexicon)
    assert "Stine" in both.correct([Hypothesis("1", text, source="htr", confidences=sure)])[0].corrected


def test_scoring_once_and_deciding_per_threshold_matches_correct_text() -> None:
    corrector = dancer()
    text = "I was reading about Stien and his new horror book for children."
    scored = corrector.score_text(text)
    best = max(s.probability for s in scored)
    assert corrector.apply(text, scored) == corrector.correct_text(text)
    assert corrector.apply(text, scored, best + 1e-6)[0] == text  # above every candidate: kept
    assert "Stine" in corrector.apply(text, scored, best)[0]


@pytest.mark.parametrize("name", ["reranker.json", "reranker-nophonemes.json", "reranker-ru.json"])
def test_bundled_rerankers_match_the_feature_list(name: str) -> None:
    path = Path(str(default_model_dir().parent / "dancer" / name))
    if not path.is_file():
        pytest.skip("no trained reranker bundled")
    model = Reranker.load(path)
    # weights trained before later features were added read the first ones
    assert FEATURES[:model.feature_count] == tuple(json.loads(path.read_text())["features"])
    assert len(model.weights) == model.feature_count
    assert 0 < model.meta["threshold"] <= model.meta["named_threshold"] <= 1
    # trained on the bundled encoder's cosines (a swapped encoder needs retrained scorers)
    assert model.meta["encoder"] == SentenceEmbedder().fingerprint


def test_a_scorer_trained_on_the_first_features_reads_only_those(tmp_path: Path) -> None:
    older = FEATURES[:FEATURES.index("phone")]
    k = len(older)
    path = tmp_path / "older.json"
    data = {"features": list(older), "weights": [0.5] * k, "bias": 0.1, "mean": [0.2] * k, "scale": [2.0] * k,
            "meta": {"threshold": 0.5}}
    path.write_text(json.dumps(data))
    model = Reranker.load(path)
    assert model.feature_count == k
    row = np.arange(len(FEATURES), dtype=np.float64) / 10
    z = 0.1 + sum(0.5 * (x - 0.2) / 2.0 for x in row[:k])
    expected = 1 / (1 + np.exp(-z))
    assert model.probability(row.tolist()) == pytest.approx(expected)
    assert model.probabilities(row[None, :])[0] == pytest.approx(expected)
    # features in another order (or unknown ones) are refused
    path.write_text(json.dumps({**data, "features": list(reversed(older))}))
    with pytest.raises(ConfigError, match="trained on features"):
        Reranker.load(path)


def test_pronunciations_are_read_only_by_a_scorer_trained_with_them() -> None:
    pytest.importorskip("piper.espeakbridge")
    text = "I was reading about Stien and his new horror book for children."
    phone, distance = FEATURES.index("phone"), FEATURES.index("distance")
    full = dancer().score_text(text)
    assert full and any(s.features[phone] != s.features[distance] for s in full)
    older = reranker()
    k = FEATURES.index("phone")
    corrector = dancer()
    corrector.reranker = Reranker(older.weights[:k], 0.0, (0.0,) * k, (1.0,) * k, older.meta)
    scored = corrector.score_text(text)
    assert scored and all(s.features[phone] == pytest.approx(s.features[distance]) for s in scored)
    assert corrector.apply(text, scored)[0] == dancer().correct_text(text)[0]


def test_without_espeak_the_scorer_trained_without_pronunciations_is_served(monkeypatch: pytest.MonkeyPatch) -> None:
    from emendo.correctors.entities import dancer as module

    if not module.bundled_weights().is_file():
        pytest.skip("no trained reranker bundled")
    corrector = dancer()  # the toy scorer reads every feature, pronunciations too
    monkeypatch.setattr(module, "phonemes_available", lambda: False)
    assert module.bundled_weights().name == "reranker-nophonemes.json"
    assert module.bundled_weights("ru").name == "reranker-ru.json"
    assert Reranker.load().feature_count == FEATURES.index("phone")
    with pytest.raises(ConfigError, match="phonemes"):
        DancerCorrector(corrector.catalog, corrector.embedder, corrector.dense, reranker=corrector.reranker)


def test_entity_metrics_golden() -> None:
    ref = "I was reading about Mozart, the Austrian composer."
    hyp = "I was reading about Motzart the Austrian composer."
    out = "I was reading about Mozart the Austrian composer."
    assert hyp[slice(*project(ref, hyp, 20, 26))] == "Motzart"
    span = [[EntitySpan(20, 26, "Mozart")]]
    before = entity_scores([ref], [hyp], span)
    after = entity_scores([ref], [out], span, inputs=[hyp])
    assert before.recall == 0.0 and before.ne_cer == pytest.approx(1 / 6)
    assert after.recall == 1.0 and after.ne_cer == 0.0 and after.precision == 1.0 and after.wer < before.wer
    assert after.off_entity_words == 0 and after.off_entity_rate == 0.0 and before.off_entity_rate is None
    # a name put in place of ordinary words elsewhere counts as off-entity harm (2 output words of 8 input)
    worse = entity_scores([ref], ["I Marsala Bay reading about Mozart the Austrian composer."], span, inputs=[hyp])
    assert worse.recall == 1.0 and worse.off_entity_words == 2 and worse.off_entity_rate == pytest.approx(2 / 8)
    assert levenshtein("kitten", "sitting") == 3
    assert words_changed(["a b c d"], ["a x c d"]) == (1, 4)
    # case alone is no change (WER and NE-CER are case-blind): a correctly heard name capitalised
    assert words_changed(["lives in japan now"], ["lives in Japan now"]) == (0, 4)
    assert changed_regions("lives in japan now", "lives in Japan now") == []
    # the threshold tuner's bounds still count case (fold_case=False: the rules its thresholds were checked under)
    assert words_changed(["lives in japan now"], ["lives in Japan now"], fold_case=False) == (1, 4)
    assert changed_regions("lives in japan now", "lives in Japan now", fold_case=False) == [(9, 14)]
    assert changed_regions("lives in japan now", "lives in Japan know") == [(15, 19)]
    capital = entity_scores([ref], ["I Was reading about Mozart the Austrian composer."], span, inputs=[hyp])
    assert capital.off_entity_words == 0 and capital.precision == 1.0
    strict = entity_scores([ref], ["I Was reading about Mozart the Austrian composer."], span, inputs=[hyp],
                           fold_case=False)
    assert strict.off_entity_words == 1 and strict.precision == 0.5
    record = {"spans": [{"start": 20, "end": 26, "surface": "Mozart", "entity_id": "p:9"}]}
    assert record_spans(record) == [EntitySpan(20, 26, "Mozart", "p:9")]


def test_description_overlap_prefers_the_entity_whose_description_the_context_repeats() -> None:
    corrector = dancer()
    idf = corrector.idf("default")
    assert idf["wine"] > 0 and "the" not in description_words("the wine of the town")
    index = corrector.catalog.index("default")
    assert index is not None
    scored = corrector.score_spans("we drank fortified wine in marsella", index, None, idf)
    overlap = {s.entity.id: s.features[FEATURES.index("overlap")] for s in scored}
    assert overlap["c:2"] > overlap.get("c:1", 0.0)


def test_overlapped_and_sequential_embedding_give_the_same_corrections() -> None:
    texts = ("i was reading about stine his new book for children", "we drank wine from marsella",
             "the cat sat on the mat", "we sailed to marsala port city")
    for text in texts:
        a = dancer(DancerOptions(overlap_embedding=True)).correct_text(text)
        b = dancer(DancerOptions(overlap_embedding=False)).correct_text(text)
        assert a[0] == b[0] and [(s.entity.id, s.probability) for s in a[1]] == [
            (s.entity.id, s.probability) for s in b[1]]
    # with known words closed to dense candidates, only a gating token starts the embedding early: a word
    # the recogniser doubted (doubt_gate) is one, as _spans gates its span
    closed = DancerOptions(overlap_embedding=True, dense_known_distance=0.0, dense_top_known_distance=0.0)
    corrector = dancer(closed)
    text, unsure, sure = "we drank wine from the port", [0.9, 0.9, 0.9, 0.9, 0.9, 0.2], [0.9] * 6
    assert not corrector._known_spans_open() and not corrector._may_gate(text)
    assert corrector._may_gate(text, _Doubt(text, unsure)) and not corrector._may_gate(text, _Doubt(text, sure))
    assert not dancer(dataclasses.replace(closed, doubt_gate=0.0))._may_gate(text, _Doubt(text, unsure))
    sequential = dancer(dataclasses.replace(closed, overlap_embedding=False))
    assert corrector.correct_text(text, confidences=unsure) == sequential.correct_text(text, confidences=unsure)


def test_threshold_tuned_on_the_real_dev_split_picks_the_best_allowed_value() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_dancer_reranker import tune_threshold

    text = "I was reading about Stine, the American novelist who wrote horror books for children."
    start = text.index("Stine")
    records = [
        {"split": "dev", "kind": "confusable", "text": text, "group": ["p:1", "p:2"],
         "hyp": "i was reading about stien the american novelist who wrote horror books for children",
         "spans": [{"start": start, "end": start + 5, "surface": "Stine", "entity_id": "p:2"}]},
        {"split": "dev", "kind": "confusable", "text": text, "group": ["p:1", "p:2"],  # a homophone in the catalog
         "hyp": "i was reading about stein the american novelist who wrote horror books for children",
         "spans": [{"start": start, "end": start + 5, "surface": "Stine", "entity_id": "p:2"}]},
        {"split": "dev", "kind": "clean", "text": "The cat sat on the mat.", "group": [],
         "hyp": "the cat sat on the mat"},
        {"split": "test", "kind": "confusable", "text": "never read", "group": [], "hyp": "never read",
         "spans": []},
    ]
    embedder = BagOfWords()
    matrix = DenseIndex.embeddings(ENTITIES, embedder)

    def tune(max_harm: float, max_off_entity: float = 1.0, max_reference_harm: float = 1.0) -> tuple[object, ...]:
        got = tune_threshold(reranker(), records, ["a clean sentence about nothing"], [4], ENTITIES, embedder,
                             matrix, grid=[0.5, 0.9999], max_harm=max_harm, seed=0, options=DancerOptions(),
                             max_off_entity=max_off_entity, max_reference_harm=max_reference_harm)
        return got["threshold"], got["named_threshold"], got

    *best, result = tune(0.001)
    assert isinstance(result, dict)
    grid = result["grid"]
    assert best == [0.5, 0.5] and result["dev_utterances"] == 2 and result["entity_free_sentences"] == 3
    # named threshold: the span "stein" names the homophone Stein, so the stricter value fixes one of two
    assert set(grid) == {"0.5/0.5", "0.5/0.9999", "0.9999/0.9999"}
    reduction = {k: v["ne_cer_reduction"][0] for k, v in grid.items()}
    assert reduction["0.5/0.5"] > reduction["0.5/0.9999"] > 0 == reduction["0.9999/0.9999"]
    assert tune(-1.0)[:2] == (0.9999, 0.9999)  # nothing allowed: the most conservative values
    # values within a tolerance of the best count as ties, and the most conservative of them wins
    lenient = tune_threshold(reranker(), records, ["a clean sentence about nothing"], [4], ENTITIES, embedder,
                             matrix, grid=[0.5, 0.9999], max_harm=0.001, seed=0, options=DancerOptions(),
                             tolerance=1.0)
    assert (lenient["threshold"], lenient["named_threshold"]) == (0.9999, 0.9999)
    gap = grid["0.5/0.5"]["ne_cer_reduction"][0] - grid["0.5/0.9999"]["ne_cer_reduction"][0]
    within = tune_threshold(reranker(), records, ["a clean sentence about nothing"], [4], ENTITIES, embedder,
                            matrix, grid=[0.5, 0.9999], max_harm=0.001, seed=0, options=DancerOptions(),
                            tolerance=gap + 1e-6)
    assert gap > 0 and (within["threshold"], within["named_threshold"]) == (0.5, 0.9999)
    # the replacements are the entity itself: nothing changed outside its span, so a zero bound allows them
    assert grid["0.5/0.5"]["off_entity"] == [0.0] and tune(0.001, max_off_entity=0.0)[:2] == (0.5, 0.5)
    assert tune(0.001, max_off_entity=-1.0)[:2] == (0.9999, 0.9999)
    # the reference texts name their entities correctly and stay as they are
    assert grid["0.5/0.5"]["reference_harm"] == [0.0] and tune(0.001, max_reference_harm=0.0)[:2] == (0.5, 0.5)
    assert tune(0.001, max_reference_harm=-1.0)[:2] == (0.9999, 0.9999)
    # correct text with rare words and names the catalog lacks bounds the thresholds too: "stien" is a
    # real spelling here, and at 0.5 it becomes Stine
    rare = ["i was reading about stien and his new book for children"]
    for bound, expected in ((1.0, 0.5), (0.0, 0.9999)):
        got = tune_threshold(reranker(), records, ["a clean sentence about nothing"], [4], ENTITIES, embedder, matrix,
                             grid=[0.5, 0.9999], max_harm=0.001, seed=0, options=DancerOptions(), rare=rare,
                             max_rare_harm=bound)
        assert got["threshold"] == expected and got["rare_sentences"] == 1
    assert got["grid"]["0.5/0.5"]["rare_harm"][0] > 0 == got["grid"]["0.9999/0.9999"]["rare_harm"][0]
    # the catalog-size slope is tuned with the thresholds: trained at 4,000 entities, the four-entity
    # catalog (three tenfolds smaller) lifts the log-odds by 3 x slope, enough to pass 0.9999 at slope 3
    base = reranker()
    trained_large = Reranker(base.weights, base.bias, base.mean, base.scale, {"size_reference": 4_000})
    sloped = tune_threshold(trained_large, records, [], [4], ENTITIES, embedder, matrix, grid=[0.9999],
                            max_harm=0.001, seed=0, options=DancerOptions(), slopes=[0.0, 3.0])
    assert (sloped["size_slope"], sloped["size_reference"], sloped["size_floor"]) == (3.0, 4_000, 4)
    assert sloped["slopes"]["0.0"]["ne_cer_reduction"] == [0.0] < sloped["slopes"]["3.0"]["ne_cer_reduction"]
    assert tune_threshold(trained_large, records, [], [4], ENTITIES, embedder, matrix, grid=[0.9999],
                          max_harm=0.001, seed=0, options=DancerOptions())["size_slope"] == 0.0
    # names the catalog lacks: without Stine, "stien" (the first utterance) is left alone or becomes the
    # German composer Stein; the NE-CER increase over the recogniser's output bounds the thresholds too
    # (a third utterance heard the name right: without Stine in the catalog, 0.5 writes Stein over it)
    heard_right = {**records[0], "hyp": "i was reading about stine the american novelist who wrote horror books"}
    for bound, expected in ((1.0, 0.5), (0.0, 0.9999)):
        got = tune_threshold(reranker(), [*records, heard_right], ["a clean sentence about nothing"], [4], ENTITIES,
                             embedder, matrix, grid=[0.5, 0.9999], max_harm=0.001, seed=0, options=DancerOptions(),
                             max_open_world=bound)
        assert got["threshold"] == expected
    assert got["grid"]["0.5/0.5"]["open_world"][0] > 0 == got["grid"]["0.9999/0.9999"]["open_world"][0]


def test_the_entities_nearest_to_the_utterance_may_sound_further_off() -> None:
    text = "We drank wine in Marsala, the town in Sicily famous for fortified wine."

    def candidates(options: DancerOptions) -> dict[tuple[str, str], tuple[float, ...]]:
        corrector = dancer(options)
        index = corrector.catalog.index("default")
        assert index is not None
        scored = corrector.score_spans(text, index, corrector.dense["default"], corrector.idf("default"))
        return {(text[s.start:s.end], s.entity.id): s.features for s in scored}

    strict = candidates(DancerOptions(dense_top=0))
    loose = candidates(DancerOptions(dense_top=3, dense_top_distance=0.5))
    assert ("town", "p:1") not in strict and ("town", "p:1") in loose  # "town" / "Stein"
    features = dict(zip(FEATURES, loose["town", "p:1"], strict=True))
    assert DancerOptions().max_distance < features["distance"] <= 0.5
    assert features["dense_rank"] < np.log1p(DancerOptions().dense_k)  # ranked among the nearest
    assert set(strict) <= set(loose)


def test_rare_word_sentences_are_correct_asr_form_text_with_words_the_lexicon_lacks(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_dancer_reranker import rare_sentences

    rows = [("kjv", "And Zadok the priest, and Nathan the prophet, anointed him."),  # "zadok": unknown
            ("kjv", "The cat sat on the mat yesterday."),  # every word known: DANCER would not look
            ("pydoc", "Call stien with the new book for children."),  # a source not asked for
            ("austen", "Stien was reading."),  # too short
            ("austen", "I was reading about Stien, and his new book for children.")]
    path = tmp_path / "dev.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"source": src, "text": text}) + "\n" for src, text in rows)
    got = rare_sentences(path, ["kjv", "austen"], dancer(), 10, seed=0)
    assert got == ["and zadok the priest and nathan the prophet anointed him",
                   "i was reading about stien and his new book for children"]
    assert len(rare_sentences(path, ["kjv", "austen"], dancer(), 1, seed=0)) == 1


def test_evaluation_sets_built_with_other_seeds_merge_without_repeating_an_entity() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from make_entity_evalset import merge

    def rec(rid: str, entity: str | None, text: str, split: str = "dev") -> dict[str, object]:
        spans = [{"start": 0, "end": 1, "entity_id": entity, "surface": "x"}] if entity else []
        return {"id": rid, "kind": "confusable" if entity else "clean", "text": text, "spans": spans,
                "group": [entity] if entity else [], "split": split}

    first = [rec("conf-0000", "e:1", "about e1"), rec("clean-0001", None, "a clean one")]
    second = [rec("conf-0000", "e:1", "e1 again"), rec("conf-0001", "e:2", "about e2", "test"),
              rec("clean-0002", None, "a clean one"), rec("clean-0003", None, "another clean one")]
    merged = merge([first, second])
    assert [r["id"] for r in merged] == ["conf-0000", "clean-0001", "p1-conf-0001", "p1-clean-0003"]
    assert merged[2]["split"] == "test"  # a record keeps the split its entity's group hashes to


def test_extra_builds_add_only_dev_records_that_share_no_entity_with_the_test_split() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from make_entity_evalset import training_extension

    def rec(rid: str, entity: str | None, text: str, split: str, group: list[str] | None = None) -> dict[str, object]:
        spans = [{"start": 0, "end": 1, "entity_id": entity, "surface": "x"}] if entity else []
        return {"id": rid, "kind": "confusable" if entity else "clean", "text": text, "spans": spans,
                "group": group if group is not None else ([entity] if entity else []), "split": split}

    base = [rec("conf-0000", "e:1", "about e1", "dev"), rec("conf-0001", "e:2", "about e2", "test", ["e:2", "e:3"]),
            rec("clean-0002", None, "a test clean one", "test")]
    part = [rec("conf-0000", "e:1", "e1 in other words", "dev"),  # a dev entity again: kept
            rec("norm-0001", "e:3", "about e3", "dev"),  # a member of a test group: left out
            rec("conf-0002", "e:4", "about e4", "test"),  # test split: left out
            rec("conf-0003", "e:5", "about e5", "dev", ["e:2", "e:5"]),  # a test entity in its group, e:5 named: kept
            rec("clean-0004", None, "a test clean one", "dev"),  # a test record's text: left out
            rec("clean-0005", None, "a new clean one", "dev")]
    out = training_extension(base, [part, [rec("conf-0000", "e:6", "about e6", "dev")]])
    assert [r["id"] for r in out] == ["conf-0000", "conf-0001", "clean-0002", "x1-conf-0000", "x1-conf-0003",
                                      "x1-clean-0005", "x2-conf-0000"]


def test_context_pairs_are_dumped_with_the_candidates_the_context_profile_serves() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from dump_dancer_pairs import candidate_options

    served = DancerOptions.tuned_with(Reranker.load(scorer_file("context")))
    context = candidate_options("context")
    assert not context.context_scorer and context.context_reads == 0  # candidates keep the features' word
    assert (context.around_names, context.phonetic_pool, context.phone_catalog_limit) == (
        served.around_names, served.phonetic_pool, served.phone_catalog_limit)
    assert context.around_names and context.phonetic_pool > 0  # wider than the default's
    default = candidate_options("default")
    assert default.phone_catalog_limit == 0 and not default.around_names and default.phonetic_pool == 0


def test_utterances_whose_groups_overflow_a_catalog_are_split_into_parts() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_dancer_reranker import parts_for

    records = [{"id": i, "group": [f"e:{i}a", f"e:{i}b", f"e:{i}c"]} for i in range(10)]
    records.append({"id": "clean", "group": []})
    assert parts_for(records, 100) == [records]  # 30 group entities fit one catalog
    parts = parts_for(records, 12)  # at most 9 group entities (3/4 of 12) per part
    assert [[r["id"] for r in p] for p in parts] == [[0, 1, 2, "clean"], [3, 4, 5], [6, 7, 8], [9]]


def test_only_the_longest_catalog_names_of_min_chars_shield_the_spans_around_them() -> None:
    entities = [Entity("c:b", "Baro", description="city in Nigeria"),
                Entity("c:bd", "Baroda", description="city in India"),
                Entity("s:al", "Alabama", aliases=("AL",), description="state of the United States"),
                Entity("c:ak", "Al Khurmah", description="city in Saudi Arabia")]
    spans = span_texts(entities, "we sailed to baro da and al kerma", {"al", "da"})
    # "baro da" names Baroda and holds "baro" (Baro): the longer name is the unit, scored itself
    assert "baro da" in spans and "baro" not in spans and "to baro da" not in spans
    # "al" names Alabama but is shorter than min_chars: "al kerma" stays open for Al Khurmah
    assert "al kerma" in spans


def test_one_known_word_takes_the_nearest_entities_only_within_its_own_limit() -> None:
    entities = [*ENTITIES, Entity("p:3", "Natta", description="Italian chemist known for his work on polymers")]
    catalog = Catalog()
    for e in entities:
        catalog.upsert(e)
    embedder = BagOfWords()
    text = "I was reading about natter the Italian chemist known for work on polymers"

    def pairs(options: DancerOptions) -> set[tuple[str, str]]:
        corrector = DancerCorrector(catalog, embedder, {"default": DenseIndex.build(entities, embedder)},
                                    reranker=reranker(), options=options, lexicon=LEXICON | {"natter"})
        return {(text[s.start:s.end], s.entity.id) for s in corrector.score_text(text)}

    assert ("natter", "p:3") not in pairs(DancerOptions(dense_top=3, dense_top_word_distance=0.0))
    assert ("natter", "p:3") in pairs(DancerOptions(dense_top=3, dense_top_word_distance=0.4))
    # a limit above the spelling weight no longer trips the C-speed spelling pre-filter's range check
    assert ("natter", "p:3") in pairs(DancerOptions(dense_top=3, dense_top_distance=0.6,
                                                    dense_top_known_distance=0.6, dense_top_word_distance=0.6))


def test_the_dense_forms_distance_bound_never_exceeds_the_exact_distance() -> None:
    from emendo.correctors.entities.dancer import _distance_bounds
    from emendo.correctors.entities.index import bounded_distance, cached_fold
    from emendo.correctors.entities.phonetic import phonetic_keys

    spans = ["the kuo", "natter", "best posh and", "marsella", "a", "sudan", "москве", "tokio"]
    forms = ["Tokyo", "Tokio", "Natta", "Vespasian", "Marseille", "Marsala", "Soudan", "Москва", "Edo", "Kore"]
    bounds = _distance_bounds(spans, [cached_fold(f) for f in forms], forms)
    assert bounds.shape == (len(spans), len(forms))
    for i, span in enumerate(spans):
        for j, form in enumerate(forms):
            exact = bounded_distance(cached_fold(span), phonetic_keys(span), form, 1.0)
            assert exact is not None
            assert bounds[i, j] <= exact + 1e-6, (span, form)
    assert bounds[spans.index("tokio"), forms.index("Tokio")] == 0.0
    # tight enough to prune: far pairs get a bound well above the strict limits
    assert bounds[spans.index("natter"), forms.index("Москва")] > 0.5


def test_a_name_the_text_already_holds_is_not_written_again_in_place_of_other_words() -> None:
    natta = Entity("p:3", "Natta", aliases=("Professor Natta",),
                   description="Italian chemist known for his work on polymers")
    entities = [*ENTITIES, natta]
    catalog = Catalog()
    for e in entities:
        catalog.upsert(e)
    embedder = BagOfWords()

    def pairs(text: str, named_once: bool = True) -> set[tuple[str, str]]:
        corrector = DancerCorrector(catalog, embedder, {"default": DenseIndex.build(entities, embedder)},
                                    reranker=reranker(), lexicon=LEXICON | {"natter", "professor"},
                                    options=DancerOptions(dense_top=3, dense_top_word_distance=0.4,
                                                          named_once=named_once))
        return {(text[s.start:s.end], s.entity.id) for s in corrector.score_text(text)}

    # correct text quoting the description: "natter" sounds like the name it already holds
    text = "I was reading about Natta, natter the Italian chemist known for work on polymers"
    assert ("natter", "p:3") in pairs(text, named_once=False)
    assert ("natter", "p:3") not in pairs(text) and ("Natta", "p:3") in pairs(text)  # its own span keeps it
    # another of the entity's names may still be written ("vietta, the capital of Malta" -> Valletta)
    other = "I was reading about Professor Natta, natter the Italian chemist known for work on polymers"
    assert ("natter", "p:3") in pairs(other)
    assert DancerOptions().named_once  # on by default


def test_bulk_embedding_on_several_threads_gives_the_vectors_of_embed() -> None:
    embedder = SentenceEmbedder()
    places = [("Lyon", "France", "Rhone"), ("Turin", "Italy", "Po"), ("Basel", "Switzerland", "Rhine"),
              ("Linz", "Austria", "Danube"), ("Cologne", "Germany", "Rhine")]
    texts = [f"{name}: a city in {country} on the river {river} ({k})" for k in range(9)
             for name, country, river in places]
    texts += ["short", "a much longer description of a place that has many more tokens than the others do"]
    one = embedder.embed(texts, batch_size=8)
    many = embedder.embed_many(texts, 8, workers=3)
    assert len(embedder._sessions) == 3
    np.testing.assert_array_equal(one, many)  # the same batches: identical vectors, in input order
    assert embedder.embed_many([], 8).shape == (0, embedder.dim)


def test_cyrillic_spans_have_their_own_scorer_and_get_the_case_of_the_span() -> None:
    moscow = Entity("c:3", "Москва", description="столица России, крупнейший город страны", type="place", lang="ru")
    entities = [*ENTITIES, moscow]
    catalog = Catalog()
    for e in entities:
        catalog.upsert(e)
    embedder = BagOfWords()
    weights = reranker()

    def corrector(latin: float, cyrillic: float) -> DancerCorrector:
        def scorer(threshold: float) -> Reranker:
            return Reranker(weights.weights, weights.bias, weights.mean, weights.scale, {"threshold": threshold})

        return DancerCorrector(catalog, embedder, {"default": DenseIndex.build(entities, embedder)},
                               reranker=scorer(latin), cyrillic_reranker=scorer(cyrillic),
                               options=DancerOptions(dense_top=0), lexicon=LEXICON | {"мы", "едем", "в"})

    text = "I was reading about Stien and his new horror book for children; мы едем в масскву"
    fixed = corrector(0.01, 0.01).correct_text(text)[0]
    assert "Stine" in fixed and fixed.endswith("мы едем в Москву")  # the accusative, as the span
    assert corrector(0.01, 0.9999).correct_text(text)[0].endswith("масскву")  # Cyrillic kept
    assert "Stien" in corrector(0.9999, 0.01).correct_text(text)[0]
    plain = dancer()
    assert plain.cyrillic_reranker is plain.reranker  # a given scorer serves both unless told otherwise


def test_bundled_models_fix_golden_examples_in_english_and_russian() -> None:
    """The shipped MiniLM and both shipped scorers, end to end on a small catalog."""
    entities = [Entity("msk", "Москва", description="город, Россия, столица", type="place", lang="ru"),
                Entity("nsk", "Новосибирск", description="город, Россия", type="place", lang="ru"),
                Entity("ekb", "Екатеринбург", description="город, Россия", type="place", lang="ru"),
                Entity("moz", "Mozart", description="Austrian composer of the classical period", type="person"),
                Entity("sal", "Salzburg", description="city in Austria, birthplace of Mozart", type="place")]
    catalog = Catalog()
    for e in entities:
        catalog.upsert(e)
    embedder = SentenceEmbedder()
    corrector = DancerCorrector(catalog, embedder, {"default": DenseIndex.build(entities, embedder)})
    assert corrector.cyrillic_reranker is not corrector.reranker  # reranker-ru.json is bundled
    golden = {
        "мы едем в масскву на следующей неделе": "мы едем в Москву на следующей неделе",
        "мой друг приехал из навасибирска вчера": "мой друг приехал из Новосибирска вчера",
        "мы были в екатеринбурке прошлым летом": "мы были в Екатеринбурге прошлым летом",
        "мой друг приехал из Новосибирска вчера": "мой друг приехал из Новосибирска вчера",
        "i was reading about motsart the austrian composer": "i was reading about Mozart the austrian composer",
        "The cat sat on the mat yesterday.": "The cat sat on the mat yesterday.",
    }
    assert {text: corrector.correct_text(text)[0] for text in golden} == golden


def test_scorer_trained_with_another_encoder_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    catalog = Catalog()
    for e in ENTITIES:
        catalog.upsert(e)
    embedder = BagOfWords()
    dense = DenseIndex.build(ENTITIES, embedder)
    base = reranker()
    for trained_with, warned in (("bow-1", False), ("other-encoder", True)):
        caplog.clear()
        scorer = Reranker(base.weights, base.bias, base.mean, base.scale, {**base.meta, "encoder": trained_with})
        DancerCorrector(catalog, embedder, {"default": dense}, reranker=scorer, lexicon=LEXICON)
        assert ("retrain it with --encoder" in caplog.text) is warned


def test_encoder_training_triples_pair_a_misheard_utterance_with_its_entity_and_a_hard_negative() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import random

    from train_entity_encoder import head, triples

    def city(i: str, name: str, country: str) -> Entity:
        return Entity(i, name, description=f"city in {country}, population 1,000", type="place")

    entities = [city("c:1", "Ankola", "India"), city("c:2", "Angola", "Brazil"), city("c:3", "Ankleshwar", "India"),
                city("c:4", "Anjala", "Finland"), city("c:5", "Ankara", "Turkey"), city("c:6", "Ancona", "Italy")]
    assert head(entities[0].description) == "city in india"
    rows = triples(entities, 40, random.Random(0), asr_share=1.0)
    assert rows
    texts = {entity_text(e): e for e in entities}
    for query, positive, negative in rows:
        assert positive in texts and negative in texts and positive != negative
        assert query == query.lower() and "," not in query  # written the ASR way
        # the query is about the positive: its description's country is there, not the name it shows
        assert texts[positive].description.split(",")[0].split(" in ")[1].lower() in query or \
            "something i read about" in query


def test_encoder_distillation_texts_come_from_no_evaluation_or_held_out_entity(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import argparse
    import json
    import random

    import train_entity_encoder
    from russian_entity_utterances import held_out

    english = [Entity(f"e:{i}", f"Placename{chr(97 + i)}", description=f"town number {i}", lang="en")
               for i in range(8)]
    russian = [Entity(f"r:{i}", f"Город{i}", description=f"город номер {i}", lang="ru") for i in range(16)]
    assert any(held_out(e.id) for e in russian) and not all(held_out(e.id) for e in russian)
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text("".join(json.dumps({"id": e.id, "name": e.name, "description": e.description,
                                           "lang": e.lang}) + "\n" for e in english + russian))
    clean = tmp_path / "clean.txt"
    clean.write_text("".join(f"this is an ordinary sentence number {i} here\n" for i in range(300)))
    monkeypatch.setattr(train_entity_encoder, "builtin_catalog_files", lambda: [catalog])
    args = argparse.Namespace(russian=0, clean=str(clean), clean_ru=None, clean_count=300, asr_style=0.8)
    excluded = {"e:0", "e:1", "e:2"}
    rows = train_entity_encoder.other_texts(args, random.Random(0), excluded)
    partners = {t for row in rows for t in row[1:]}
    assert len(rows) == 300
    allowed = {entity_text(e) for e in english if e.id not in excluded} | {
        entity_text(e) for e in russian if not held_out(e.id)}
    assert partners <= allowed and len(partners) > len(allowed) // 2  # drawn widely, never from the others


def test_the_catalog_size_shifts_the_scorer_by_its_tuned_slope() -> None:
    base = reranker()
    sized = Reranker(base.weights, base.bias, base.mean, base.scale,
                     {"size_slope": 0.5, "size_reference": 100_000, "size_floor": 1_000})
    assert base.size_shift(1_000) == 0.0 and sized.size_shift(None) == 0.0  # no slope, no size: no shift
    assert sized.size_shift(100_000) == 0.0
    assert sized.size_shift(1_000) == pytest.approx(1.0)  # two tenfolds below the reference, 0.5 each
    assert sized.size_shift(10) == sized.size_shift(1_000)  # below the floor: as the floor
    assert sized.size_shift(1_000_000) == pytest.approx(-0.5)  # larger catalogs: weaker evidence
    table = np.asarray([[0.2] * len(FEATURES), [0.6] * len(FEATURES)])
    small, large = sized.probabilities(table, 1_000), sized.probabilities(table, 1_000_000)
    assert (small > sized.probabilities(table)).all() and (large < sized.probabilities(table)).all()
    assert np.allclose(small, [sized.probability(row, 1_000) for row in table])
    # DANCER scores with its catalog's size: four entities here, which count as the floor
    corrector = dancer()
    corrector.reranker = sized
    scored = corrector.score_text("we drank wine from marsella")
    assert scored and all(s.probability == pytest.approx(sized.probability(s.features, 4)) for s in scored)
    assert all(s.probability > base.probability(s.features) for s in scored)


def test_a_catalog_name_longer_than_a_candidate_span_still_shields_the_words_inside_it() -> None:
    # "new york stock exchange" names the entity (4 words, more than max_words): the words inside it
    # are not a span that could take another of its names ("stock exchange" -> "N. Y. Stock Exchange")
    nyse = Entity("o:1", "New York Stock Exchange", aliases=("N. Y. Stock Exchange", "NYSE"),
                  description="a stock exchange in New York", type="organisation")
    catalog = Catalog()
    catalog.upsert(nyse)
    embedder = BagOfWords()
    text = "prices rose on the new york stock exchange today"

    def inside(options: DancerOptions) -> list[str]:
        corrector = DancerCorrector(catalog, embedder, {"default": DenseIndex.build([nyse], embedder)},
                                    reranker=reranker(), options=options, lexicon=LEXICON | {"prices", "rose",
                                    "new", "york", "stock", "exchange", "today"})
        return [text[s.start:s.end] for s in corrector.score_text(text) if s.start >= text.index("new york")]

    assert "stock exchange" in inside(DancerOptions(name_words=3))  # names only up to 3 words: exposed
    assert inside(DancerOptions()) == []


def test_a_demonym_is_not_taken_for_the_name_it_derives_from() -> None:
    """'kuwaiti' is a word (WordNet writes it capitalised, not as a name): DANCER wrote Kuwait for it on
    real WSJ output. A proper word that is not derived from the candidate may still be replaced."""
    entities = [*ENTITIES, Entity("c:kw", "Kuwait", description="country on the Persian Gulf", type="place"),
                Entity("c:mk", "Marikana", description="mining town in South Africa", type="place")]
    catalog = catalog_of(entities)
    embedder = BagOfWords()
    dense = DenseIndex.build(entities, embedder)

    def correct(text: str, keep: bool) -> str:
        corrector = DancerCorrector(catalog, embedder, {"default": dense}, reranker=reranker(),
                                    options=DancerOptions(dense_top=0, keep_derived_words=keep),
                                    lexicon=LEXICON | {"tankers", "persian", "gulf", "mining", "town", "south"},
                                    proper_words={"kuwaiti", "american"})
        return corrector.correct_text(text)[0]

    text = "we sailed four kuwaiti tankers on the persian gulf"
    assert correct(text, keep=False) == "we sailed four Kuwait tankers on the persian gulf"  # the old behaviour
    assert correct(text, keep=True) == text
    other = "i was reading about american mining town in south africa"
    assert correct(other, keep=True) == correct(other, keep=False) == \
        "i was reading about Marikana mining town in south africa"
    assert derived("honduran", "honduras") and derived("british", "britain") and derived("iraqi", "iraq")
    assert not derived("american", "marikana") and not derived("wesleyan", "wesseling")
    assert not derived("monday", "monday")  # the same word: a name written as it is, not a derivation


def test_spans_of_function_words_only_are_not_scored() -> None:
    """With ``function_word_spans=False``: 'been to' sounds like Bonito, a city in Brazil, and on the dev
    split DANCER wrote such names for template words ("from" -> Frome)."""
    entities = [*ENTITIES, Entity("c:bo", "Bonito", description="city in Brazil", type="place")]
    catalog = catalog_of(entities)
    embedder = BagOfWords()
    dense = DenseIndex.build(entities, embedder)
    text = "have you ever been to recife in brazil"

    def spans(function_word_spans: bool) -> set[tuple[str, str]]:
        corrector = DancerCorrector(catalog, embedder, {"default": dense}, reranker=reranker(),
                                    options=DancerOptions(dense_top=3, function_word_spans=function_word_spans),
                                    lexicon=LEXICON | {"have", "you", "ever", "been", "brazil", "recife"})
        return {(text[s.start:s.end], s.surface) for s in corrector.score_text(text)}

    assert ("been to", "Bonito") in spans(True)  # the default
    assert not any(span in ("been to", "ever been", "have you", "been", "to") for span, _ in spans(False))


def test_one_known_word_is_replaced_only_at_the_named_threshold() -> None:
    """'plane' -> Plano at 0.49 (real ATIS output): a word of the lexicon needs the named threshold,
    a gated (unknown) word the plain one."""
    plano = Entity("c:pl", "Plano", description="city in Texas", type="place")
    text = "what type of plane flies to dallas"

    def scored(gated: bool, probability: float, confidences: bool = True) -> Scored:
        features = {"words": 1.0, "gated": float(gated), "unknown": float(gated), "has_confidence": float(confidences)}
        return Scored(3, 3, 13, 18, plano, "Plano", tuple(features.get(f, 0.0) for f in FEATURES), probability)

    for strict in (True, False):
        corrector = DancerCorrector(Catalog(), BagOfWords(), {}, reranker=reranker(),
                                    options=DancerOptions(threshold=0.4, named_threshold=0.7,
                                                          strict_known_words=strict), lexicon=LEXICON)
        changed = corrector.apply(text, [scored(False, 0.5)])[0] != text
        assert changed is not strict
        assert corrector.apply(text, [scored(False, 0.75)])[0] == "what type of Plano flies to dallas"
        assert corrector.apply(text, [scored(True, 0.5)])[0] == "what type of Plano flies to dallas"
        # plain text (no confidences): every replacement needs the named threshold, unless told otherwise
        assert corrector.apply(text, [scored(True, 0.5, confidences=False)])[0] == text
        assert corrector.apply(text, [scored(True, 0.75, confidences=False)])[0] != text
    lenient = DancerCorrector(Catalog(), BagOfWords(), {}, reranker=reranker(), lexicon=LEXICON,
                              options=DancerOptions(threshold=0.4, named_threshold=0.7, strict_plain_text=False))
    assert lenient.apply(text, [scored(True, 0.5, confidences=False)])[0] != text


def test_a_name_with_a_number_needs_a_number_in_the_span() -> None:
    """'kings' -> 1 Kings, 'richard' -> Richard I (real LibriSpeech output): a number is a spoken word."""
    entities = [*ENTITIES, Entity("b:1k", "1 Kings", description="book of the Old Testament about the kings"),
                Entity("b:k", "Kingsley", description="English novelist who wrote about the kings")]
    catalog = catalog_of(entities)
    embedder = BagOfWords()
    corrector = DancerCorrector(catalog, embedder, {"default": DenseIndex.build(entities, embedder)},
                                reranker=reranker(), options=DancerOptions(dense_top=0), lexicon=LEXICON)
    found = {s.surface for s in corrector.score_text("i was reading about kingz the book about the kings")}
    assert "Kingsley" in found and "1 Kings" not in found
    found = {s.surface for s in corrector.score_text("i was reading 1 kingz the book about the kings")}
    assert "1 Kings" in found
    assert says_number("Richard I") and says_number("I Chronicles") and says_number("louis xiv")
    assert says_number("william the third") and not says_number("Vila Formosa") and not says_number("i was reading")


def test_a_span_cutting_through_a_name_is_not_scored() -> None:
    """'new york to montreal': 'york to' sounds like Yorkton, but 'new york' names New York (real ATIS output)."""
    entities = [*ENTITIES, Entity("c:ny", "New York", description="city in United States", type="place"),
                Entity("c:yt", "Yorkton", description="city in Canada", type="place")]
    spans = span_texts(entities, "we fly from new york to montreal", {"fly"})
    assert "new york" in spans and "york to" not in spans and "york" not in spans
    assert "to montreal" in spans


def test_known_words_the_recogniser_doubts_are_gated_like_unknown_ones() -> None:
    """'stain' is a word of the lexicon, so by default only dense candidates reach it; with
    ``doubt_gate`` a confidence below the gate opens it (and its two-word spans, not spans of
    function words only or of more than ``doubt_words`` words) to phonetic candidates."""
    text = "i was reading about stain and his new book for children"
    words = text.split()
    unsure = tuple(0.3 if w in ("stain", "and", "his") else 0.95 for w in words)
    sure = (0.95,) * len(words)
    lexicon = LEXICON | {"stain"}
    catalog = catalog_of(ENTITIES)
    index = catalog.index("default")
    assert index is not None

    def gated(options: DancerOptions, confidences: tuple[float, ...] | None) -> set[str]:
        corrector = DancerCorrector(catalog, BagOfWords(), {}, reranker=reranker(), options=options, lexicon=lexicon)
        spans = corrector._spans(text, index, _Doubt(text, confidences))[0]
        return {text[s[2]:s[3]] for s in spans if s[6]}

    on = DancerOptions(dense_top=0)  # doubt_gate 0.5 by default
    assert gated(DancerOptions(dense_top=0, doubt_gate=0.0), unsure) == set()  # 0: off
    assert gated(on, None) == gated(on, sure) == set()  # plain text, or a sure recogniser
    # spans of up to two words with a doubted word in them, except those of function words only ("and his")
    assert gated(on, unsure) == {"stain", "about stain", "stain and", "his new"}
    # end to end, without the dense path (which reaches a known word that sounds this close anyway)
    corrector = dancer(dataclasses.replace(on, dense_known_distance=0.0))
    corrector.lexicon = lexicon
    assert "Stine" in corrector.correct_text(text, confidences=unsure)[0]
    assert corrector.correct_text(text, confidences=sure)[0] == corrector.correct_text(text)[0] == text
    for bad in ({"doubt_gate": -0.1}, {"doubt_gate": 1.5}, {"doubt_words": 0}):
        with pytest.raises(ConfigError):
            DancerOptions(**bad)  # type: ignore[arg-type]


def test_extra_real_examples_take_every_split_but_no_excluded_entity(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_dancer_reranker import real_examples

    def record(rid: str, split: str, group: list[str]) -> str:
        return json.dumps({"id": rid, "kind": "confusable", "text": "I met Stein today.", "hyp": "i met stain today",
                           "group": group, "split": split, "confidences": [0.9, 0.9, 0.3, 0.9],
                           "spans": [{"start": 6, "end": 11, "entity_id": group[0], "surface": "Stein"}]})

    path = tmp_path / "extra.jsonl"
    path.write_text("\n".join([record("a", "dev", ["p:1", "p:2"]), record("b", "test", ["p:3"]),
                               record("c", "test", ["p:4", "p:1"])]) + "\n")
    assert [r["id"] for r in real_examples(path)[0]] == ["a"]  # the tuning set: its dev split
    rows, _ = real_examples(path, ("dev", "test"), {"p:2"})
    assert [r["id"] for r in rows] == ["b", "c"]  # a group member excluded drops the record
    assert rows[0]["hyp"][rows[0]["start"]:rows[0]["end"]] == "stain"


def test_pronunciation_candidates_reach_names_spelling_does_not() -> None:
    pytest.importorskip("piper.espeakbridge")
    # "Denmark" is 0.41 from Dinar by Double Metaphone and spelling (beyond max_distance 0.4), while
    # espeak-ng reads them 0.29 apart (reduced pronunciations): only the pronunciation index offers it
    entities = [*ENTITIES, Entity("m:1", "Dinar", description="currency of Serbia and of Kuwait")]

    def candidates(limit: int) -> set[str]:
        catalog = catalog_of(entities)
        embedder = BagOfWords()
        corrector = DancerCorrector(catalog, embedder, {"default": DenseIndex.build(entities, embedder)},
                                    reranker=reranker(), lexicon=LEXICON,
                                    options=DancerOptions(dense_top=0, phone_limit=limit))
        assert (corrector.phones("default") is None) == (limit == 0)
        return {s.entity.id for s in corrector.score_text("we sailed to Denmark yesterday") if s.surface == "Dinar"}

    assert candidates(4) == {"m:1"}
    assert candidates(0) == set()


def test_a_phonetic_pool_keeps_the_sound_alikes_the_context_points_at() -> None:
    # one phonetic candidate per span, no dense or pronunciation ones: by sound alone "Stien" gets the
    # same entity whatever the sentence says; from a pool of two, the one whose description it is near
    def candidates(text: str, pool: int) -> set[str]:
        corrector = dancer(DancerOptions(dense_top=0, dense_k=0, phone_limit=0, phonetic_limit=1,
                                          phonetic_pool=pool))
        return {s.entity.id for s in corrector.score_text(text) if text[s.start:s.end] == "Stien"}

    horror = "I was reading about Stien and his new horror book for children."
    organ = "I was reading about Stien, the German composer of organ works."
    by_sound = candidates(horror, 0)
    assert len(by_sound) == 1 and candidates(organ, 0) == by_sound
    assert candidates(horror, 2) == {"p:2"} and candidates(organ, 2) == {"p:1"}
    with pytest.raises(ConfigError):
        DancerOptions(phonetic_pool=-1)


def test_open_world_training_copies_score_the_utterance_as_if_the_catalog_lacked_its_entity() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_dancer_reranker import featurise

    corrector = dancer()
    text = "I was reading about Stien and his new horror book for children."
    row = {"hyp": text, "entity_id": "p:2", "start": text.index("Stien"), "end": text.index("Stien") + 5}
    X, y, _, _ = featurise(corrector, [row], [], open_world=0.0)
    X2, y2, g2, _ = featurise(corrector, [row], [], open_world=1.0)
    assert y.sum() == 1 and np.array_equal(X2[:len(X)], X)  # the utterance as it is, then its copy
    copy = g2 >= 100  # the second item's groups
    assert copy.any() and y2[copy].sum() == 0 and len(X2) - len(X) == int(copy.sum())
    # the copy's candidates do not include Stine: one fewer for the span where Stine was one
    assert int(copy.sum()) < len(X)


def test_spans_around_a_name_are_scored_only_with_around_names() -> None:
    """'fran clinton' (ASR for Franklin) holds the name Clinton: by default no span sharing a token with
    a name is scored; with ``around_names`` a span around it is when another of its words is one the
    lexicon lacks, as replacing a name (the named threshold); spans cutting through a name or inside
    it stay out."""
    entities = [*ENTITIES, Entity("c:fr", "Franklin", description="city in United States", type="place"),
                Entity("c:cl", "Clinton", description="city in United States", type="place"),
                Entity("c:ny", "New York", description="city in United States", type="place")]
    text = "we sailed to fran clinton city and from new york to port"
    catalog = catalog_of(entities)
    index = catalog.index("default")
    assert index is not None

    def spans(options: DancerOptions) -> set[str]:
        corrector = DancerCorrector(catalog, BagOfWords(), {}, reranker=reranker(), options=options,
                                    lexicon=LEXICON | {"we", "city", "york", "new"})
        return {text[s[2]:s[3]] for s in corrector._spans(text, index)[0]}

    plain, around = spans(DancerOptions()), spans(DancerOptions(around_names=True))
    assert "fran clinton" not in plain and "clinton" in plain and "new york" in plain
    assert {"fran clinton", "to fran clinton"} <= around
    assert not {"york to", "york", "york to port"} & around  # cutting through a name or inside it
    assert not {"from new york", "clinton city"} & around  # no word outside the name the lexicon lacks
    assert around - plain == {"fran clinton", "to fran clinton", "fran clinton city"}
    # not Cyrillic spans (the Russian scorer was tuned without them)
    ru = DancerCorrector(catalog_of([*entities, Entity("r:1", "Москва", description="столица России")]), BagOfWords(),
                         {}, reranker=reranker(), options=DancerOptions(around_names=True), lexicon=LEXICON)
    ru_index = ru.catalog.index("default")
    assert ru_index is not None
    ru_text = "едем в москва дальше"
    assert {ru_text[x[2]:x[3]] for x in ru._spans(ru_text, ru_index)[0]} & {"москва дальше", "в москва"} == set()
    dense = DenseIndex.build(entities, BagOfWords())
    corrector = DancerCorrector(catalog, BagOfWords(), {"default": dense}, reranker=reranker(),
                                options=DancerOptions(dense_top=0, around_names=True),
                                lexicon=LEXICON | {"we", "city", "york", "new"})
    scored = corrector.score_text(text, confidences=[0.9] * len(text.split()))
    franklin = [s for s in scored if s.surface == "Franklin" and text[s.start:s.end] == "fran clinton"]
    assert franklin and all(s.around_name for s in franklin)
    assert not any(s.around_name for s in scored if text[s.start:s.end] == "clinton")
    # replacing it needs the named threshold
    chosen = corrector.apply(text, franklin, threshold=0.01, named_threshold=1.0)[1]
    assert chosen == []
    assert corrector.apply(text, franklin, threshold=0.01, named_threshold=0.01)[0].count("Franklin") == 1


def test_the_misses_bench_puts_every_entity_span_in_exactly_one_row() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from entities_misses import DENSE, ROWS, account

    corrector = dancer()

    def record(text: str, hyp: str, name: str, entity_id: str) -> dict[str, object]:
        start = text.index(name)
        return {"text": text, "hyp": hyp, "confidences": None,
                "spans": [{"start": start, "end": start + len(name), "surface": name, "entity_id": entity_id}]}

    text = "I was reading about Stine and his new horror book for children."
    rows = {
        "heard right": record(text, text, "Stine", "p:2"),
        "among the candidates: chosen": record(text, text.replace("Stine", "Stien"), "Stine", "p:2"),
        "not among: beyond 0.6": record(text, text.replace("Stine", "Bartholomew"), "Stine", "p:2"),
        "not among: more than 3 words or nothing": record(text, text.replace("Stine ", ""), "Stine", "p:2"),
    }
    for row, rec in rows.items():
        got = account(corrector, corrector.embedder, rec)
        assert [r for r in got if r in ROWS] == [row], (row, got)
        assert all(r in ROWS or r in DENSE for r in got)

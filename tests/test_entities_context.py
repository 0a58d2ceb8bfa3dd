"""DANCER's context scorer (cross-encoder): reading the shared embeddings, logits, the combination."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from emendo.correctors.entities.catalog import Catalog
from emendo.correctors.entities.context import (
    WORD_EMBEDDINGS,
    ContextScorer,
    candidate_text,
    default_model_dir,
    encoder_dir,
    marked,
    read_initializers,
)
from emendo.correctors.entities.dancer import (
    FEATURES,
    DancerCorrector,
    DancerOptions,
    Reranker,
    bundled_weights,
    scorer_file,
)
from emendo.correctors.entities.retrieval import DenseIndex
from emendo.errors import ConfigError
from tests.test_entities_dancer import ENTITIES, LEXICON, BagOfWords, reranker

bundled = pytest.mark.skipif(not (default_model_dir() / "context.int8.onnx").is_file(),
                             reason="bundled context scorer missing")


def test_the_span_is_marked_and_the_candidate_reads_surface_then_entity_text() -> None:
    assert marked("we flew to port coburn last week", 11, 22) == "we flew to [ port coburn ] last week"
    assert candidate_text("Port Colborne", "Port Colborne: city in Canada") == \
        "Port Colborne | Port Colborne: city in Canada"


def test_the_word_embeddings_are_read_from_the_encoder_file_without_the_onnx_package() -> None:
    table, scale, zero = read_initializers(encoder_dir() / "model.int8.onnx", WORD_EMBEDDINGS)
    assert table.shape == (30522, 384) and table.dtype == np.uint8
    assert 0 < scale < 1 and 0 <= zero <= 255
    code = ("import sys, emendo.correctors.entities.context; "
            "bad = [m for m in ('torch', 'transformers', 'onnx') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


@bundled
def test_the_context_scorer_prefers_the_entity_the_context_describes() -> None:
    scorer = ContextScorer()
    golden = [  # (utterance, span, right candidate, wrong sound-alike)
        ("my cousin lives in angola city in india", (19, 25), ("Ankola", "Ankola: city in India"),
         ("Angola", "Angola, Republic of Angola: a republic in southwestern Africa")),
        ("i was reading about stein and his horror books for children", (20, 25),
         ("Stine", "Stine: American novelist who wrote horror books for children"),
         ("Stein", "Stein: German composer of church music and organ works")),
        ("we are travelling to port coburn city in canada next week", (21, 32),
         ("Port Colborne", "Port Colborne: city in Canada, population 18,424"),
         ("Cockburn", "Cockburn: city in Australia, population 104,000")),
    ]
    for text, (start, end), right, wrong in golden:
        logits = scorer.logits(text, [(start, end, *right), (start, end, *wrong)])
        assert logits.shape == (2,) and logits[0] > logits[1] + 1.0, (text, logits)
    assert scorer.logits("nothing to ask", []).shape == (0,)


@bundled
def test_a_pairs_logit_does_not_depend_on_the_other_pairs_asked_with_it() -> None:
    scorer = ContextScorer()
    text = "we are travelling to port coburn city in canada next week"
    short = (21, 32, "Cockburn", "Cockburn: city in Australia")
    long = (21, 32, "Port Colborne", "Port Colborne: city in Canada, population 18,424, on Lake Erie at the "
            "southern end of the Welland Canal, in the Niagara Region of Ontario")
    alone = [float(scorer.logits(text, [item])[0]) for item in (short, long)]
    together = scorer.logits(text, [short, long]).tolist()
    assert together == alone, (together, alone)


def test_pairs_are_tokenised_one_at_a_time_as_a_batch_would_tokenise_them() -> None:
    scorer = ContextScorer()
    long = "Port Colborne: city in Canada, " + "on Lake Erie at the southern end of the Welland Canal, " * 6
    pairs = [(marked("we flew to port coburn last week", 11, 22), candidate_text(s, d))
             for s, d in (("Cockburn", "Cockburn: city in Australia"), ("Port Colborne", long))]
    batch = scorer.tokenizer.encode_batch(pairs)
    single = [scorer.tokenizer.encode(a, b) for a, b in pairs]
    assert [(e.ids, e.type_ids) for e in single] == [(e.ids, e.type_ids) for e in batch]
    assert len(single[1].ids) == 96  # the long description is cut (longest first), alike both ways


class Recording:
    """A stand-in context scorer that records what it is asked and answers from a table."""

    fingerprint = "rec-1"

    def __init__(self, answers: dict[str, float]) -> None:
        self.answers, self.asked = answers, []  # type: ignore[var-annotated]

    def logits(self, text: str, items: Sequence[tuple[int, int, str, str]]) -> np.ndarray:
        self.asked += [(text[s:e], surface) for s, e, surface, _ in items]
        return np.asarray([self.answers.get(surface, 0.0) for _, _, surface, _ in items], dtype=np.float32)


def stacked(stack: dict[str, float | int | str]) -> Reranker:
    base = reranker()
    return Reranker(base.weights, base.bias, base.mean, base.scale, {**base.meta, "context": stack})


def test_the_combination_joins_the_logit_only_where_the_context_scorer_was_asked() -> None:
    scorer = stacked({"lr": 0.5, "context": 2.0, "bias": -1.0, "floor": 0.01, "top": 2})
    table = np.zeros((3, len(FEATURES)))
    table[:, FEATURES.index("cosine")] = [0.5, 0.25, 0.0]  # feature log-odds 2, 1, 0 (weight 4)
    p = scorer.probabilities(table, None, np.asarray([1.5, np.nan, -3.0]))
    z = [0.5 * 2 + 2.0 * 1.5 - 1.0, 1.0, 0.5 * 0 + 2.0 * -3.0 - 1.0]
    assert np.allclose(p, [1 / (1 + math.exp(-v)) for v in z])
    assert np.allclose(scorer.probabilities(table), reranker().probabilities(table))  # no logits: features alone
    assert reranker().stack is None and scorer.stack is not None


def corrector_with(scorer: Reranker, context: Recording | None, options: DancerOptions | None = None
                   ) -> DancerCorrector:
    catalog = Catalog()
    for e in ENTITIES:
        catalog.upsert(e)
    embedder = BagOfWords()
    return DancerCorrector(catalog, embedder, {"default": DenseIndex.build(ENTITIES, embedder)}, reranker=scorer,
                           options=options or DancerOptions(dense_top=0), lexicon=LEXICON,
                           context_scorer=context)  # type: ignore[arg-type]


def test_the_context_scorer_reads_each_spans_best_candidates_and_can_overturn_the_feature_scorer() -> None:
    text = "I was reading about Stien and his new horror book for children."
    plain = corrector_with(reranker(), None)
    assert "Stine" in plain.correct_text(text)[0]  # the features alone pick the novelist
    # the context scorer, asked about the best candidates, is sure of the composer instead
    recording = Recording({"Stein": 6.0, "Stine": -6.0})
    scorer = stacked({"lr": 1.0, "context": 1.0, "bias": 0.0, "floor": 0.01, "top": 2})
    corrector = corrector_with(scorer, recording)
    out, chosen = corrector.correct_text(text)
    assert "Stein" in out and chosen[0].context == 6.0
    assert {heard for heard, _ in recording.asked} == {"Stien"}
    assert {surface for _, surface in recording.asked} <= {"Stein", "Stine", "Marseille", "Marsala"}
    assert len(recording.asked) <= 2  # ``top`` candidates of the one span
    asked = len(recording.asked)
    scored = corrector.score_text(text)  # the logits asked for are kept with the candidates
    assert sum(s.context is not None for s in scored) == asked == len(recording.asked) - asked
    # a floor above every candidate's feature probability: nobody is asked
    quiet = Recording({})
    corrector_with(stacked({"lr": 1.0, "context": 1.0, "bias": 0.0, "floor": 0.9999, "top": 2}), quiet).score_text(text)
    assert quiet.asked == []


def test_a_read_budget_reads_the_candidates_the_features_rate_highest_and_writes_no_other() -> None:
    text = "I was reading about Stien and his new horror book for children."
    stack = {"lr": 1.0, "context": 1.0, "bias": 0.0, "floor": 0.01, "top": 2}
    everything = Recording({"Stein": 6.0, "Stine": -6.0})
    scored = corrector_with(stacked(stack), everything).score_text(text)
    assert len(everything.asked) == 2
    features = {s.surface: s.features for s in scored}
    first = max(everything.asked, key=lambda a: reranker().probability(features[a[1]]))[1]  # the features' favourite
    # one read: the candidate the features rate highest; the other keeps no chance of being written
    budget = Recording({"Stein": 6.0, "Stine": -6.0})
    corrector = corrector_with(stacked(stack), budget, DancerOptions(dense_top=0, context_reads=1))
    scored = corrector.score_text(text)
    assert [surface for _, surface in budget.asked] == [first]
    left = [s for s in scored if s.surface in {a[1] for a in everything.asked} - {first}]
    assert left and all(s.context is None and s.probability <= 0.01 for s in left)
    # read and liked, the favourite is written; read and refused, nothing is (the other was not read)
    assert corrector.correct_text(text)[0] == (text.replace("Stien", "Stein") if first == "Stein" else text)
    with pytest.raises(ConfigError):
        DancerOptions(context_reads=-1)


def test_the_floor_reads_the_feature_probability_at_the_serving_catalog_size() -> None:
    text = "I was reading about Stien and his new horror book for children."
    best = max(s.probability for s in corrector_with(reranker(), None).score_text(text))
    floor = 1 / (1 + math.exp(-(math.log(best / (1 - best)) + 1.0)))  # one log-odds above the best candidate
    stack = {"lr": 1.0, "context": 1.0, "bias": 0.0, "floor": floor, "top": 2}
    quiet = Recording({})
    corrector_with(stacked(stack), quiet).score_text(text)
    assert quiet.asked == []
    # the same scorer trained at a catalog 100 times the size of this one (slope 1: +2 log-odds here)
    base = stacked(stack)
    grown = dataclasses.replace(base, meta={**base.meta, "size_slope": 1.0, "size_reference": 100 * len(ENTITIES)})
    asked = Recording({})
    corrector_with(grown, asked).score_text(text)
    assert [heard for heard, _ in asked.asked][:1] == ["Stien"]


def test_the_floor_bench_counts_the_reads_kept_and_the_decisive_reads_dropped() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from entities_context_floor import reads, tally

    # by hand: kept = at or above the floor and within the span's top
    rows = [(0.5, 0, True), (0.02, 1, True), (0.2, 2, False), (0.04, 0, False), (0.3, 1, True)]
    cell = tally(rows, [0.03], [2])["grid"]["0.03,2"]
    assert (cell["kept"], cell["decisive_dropped"]) == (3, 1)
    assert tally(rows, [0.01], [3])["grid"]["0.01,3"] == {"floor": 0.01, "top": 3, "kept": 5, "decisive_dropped": 0}
    # on a corrector: one row per read, ranked within its span, decisive where the choice could fall
    text = "I was reading about Stien and his new horror book for children."
    recording = Recording({"Stein": 6.0, "Stine": -6.0})
    corrector = corrector_with(stacked({"lr": 1.0, "context": 1.0, "bias": 0.0, "floor": 0.01, "top": 2}), recording)
    got = reads(corrector, corrector.score_text(text), len(ENTITIES))
    assert len(got) == len(recording.asked) > 0
    assert sorted(rank for _, rank, _ in got) == list(range(len(got)))  # one span
    # both decide: Stein, read at logit 6, is written; Stine, which the features alone would write, read at -6
    assert [decisive for _, _, decisive in got] == [True, True]
    assert tally(got, [1.0], [2])["grid"]["1,2"]["decisive_dropped"] == 2


def test_the_context_scorer_can_be_switched_off_and_is_loaded_only_for_a_scorer_combined_with_it() -> None:
    scorer = stacked({"lr": 1.0, "context": 1.0, "bias": 0.0, "floor": 0.01, "top": 2})
    off = DancerOptions(dense_top=0, context_scorer=False)
    assert corrector_with(scorer, Recording({}), off).context_scorer is None
    assert corrector_with(reranker(), Recording({})).context_scorer is None


@bundled
def test_the_bundled_combined_scorer_is_served_with_the_bundled_context_scorer() -> None:
    path = bundled_weights("context")
    if not path.is_file():
        pytest.skip("no combined scorer bundled")
    combined = Reranker.load(path)
    assert combined.stack is not None and Reranker.load().stack is None  # the default scorer stays the features'
    corrector = corrector_with(combined, None, DancerOptions())
    assert isinstance(corrector.context_scorer, ContextScorer)
    assert corrector.context_scorer.fingerprint == combined.stack["fingerprint"]
    assert corrector.version == f"1+context.{combined.stack['fingerprint']}"  # in every record's model_versions
    plain = corrector_with(Reranker.load(), None, DancerOptions())
    assert plain.context_scorer is None and plain.version == "1"


def test_a_scorer_is_named_by_path_or_as_context_for_the_bundled_combined_one(tmp_path: Path) -> None:
    assert scorer_file("") is None  # the bundled default
    assert scorer_file("context") == bundled_weights("context")
    assert scorer_file(str(tmp_path / "mine.json")) == tmp_path / "mine.json"


def test_the_combination_fit_recovers_known_weights_and_recall_at_precision_counts_spans() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from stack_context_scorer import fit, recall_at

    rng = np.random.default_rng(0)
    z, c = rng.normal(size=20000), rng.normal(size=20000)
    y = (rng.random(20000) < 1 / (1 + np.exp(-(1.5 * z + 0.5 * c - 1.0)))).astype(float)
    w = fit(np.stack([z, c, np.ones_like(z)], axis=1), y)
    assert np.allclose(w, [1.5, 0.5, -1.0], atol=0.1)
    rows = [{"u": 0, "s": 0, "e": 3, "y": 1}, {"u": 0, "s": 0, "e": 3, "y": 0},  # span with gold, ranked right
            {"u": 1, "s": 0, "e": 3, "y": 0}, {"u": 1, "s": 0, "e": 3, "y": 1},  # span with gold, ranked wrong
            {"u": 2, "s": 4, "e": 9, "y": 0}]  # no gold: taking it costs precision
    got = recall_at(rows, np.asarray([3.0, 1.0, 2.0, 0.5, -1.0]), (1.0, 0.5))
    assert got == {"1": 0.5, "0.5": 0.5}


def test_the_training_model_starts_as_the_bundled_encoder_dequantised() -> None:
    """The cross-encoder's body, rebuilt in torch from the int8 ONNX encoder, embeds as the encoder does."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("onnx")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_context_scorer import build, tokenizer_for

    from emendo.correctors.entities.embed import SentenceEmbedder

    model = build("cpu").eval()
    texts = ["my cousin lives in angola city in india", "Ankola: city in India"]
    reference = SentenceEmbedder().embed(texts)
    tok = tokenizer_for(128)
    for text, ref in zip(texts, reference, strict=True):
        ids = torch.tensor([tok.encode(text).ids])
        with torch.no_grad():
            hidden = model.bert(input_ids=ids, attention_mask=torch.ones_like(ids),
                                token_type_ids=torch.zeros_like(ids)).last_hidden_state[0].mean(0).numpy()
        assert float(hidden @ ref / np.linalg.norm(hidden)) > 0.99
    # a cheaper model keeps the first layers (``--layers``), with the same weights
    small = build("cpu", 2)
    assert len(small.bert.encoder.layer) == 2
    full = model.state_dict()
    body = {name: value for name, value in small.state_dict().items() if name.startswith("bert.")}  # head: random
    assert body and all(torch.equal(value, full[name]) for name, value in body.items())


def test_parameters_are_told_apart_by_encoder_layer() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_context_scorer import layer_of

    assert layer_of("bert.encoder.layer.3.attention.self.query.weight") == 3
    assert layer_of("encoder.layer.12.output.dense.bias") == 12
    assert layer_of("bert.embeddings.position_embeddings.weight") == -1 and layer_of("head.weight") == -1


def test_the_vector_probe_splits_an_utterance_at_its_span_and_its_scorers_learn() -> None:
    """scripts/probe_context_vectors.py (session 24's measured, not kept, alternative to the
    cross-encoder): the context vector leaves the span's tokens out, the span vector keeps only them,
    and both its scorers fit a separable problem."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from probe_context_vectors import predict, span_vectors, train_mlp

    hidden = np.asarray([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    offsets = [(0, 0), (0, 3), (4, 9), (0, 0)]  # [CLS] "the" "angola" [SEP] of "the angola"
    q, c, h = span_vectors(hidden, offsets, 4, 10)
    assert np.allclose(h, [0.0, 1.0]) and np.allclose(c, np.asarray([2.0, 1.0]) / np.sqrt(5.0))
    assert np.allclose(q, [np.sqrt(0.5), np.sqrt(0.5)])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    y = (X[:, 0] - X[:, 3] > 0).astype(np.float32)
    for width in (0, 8):
        params = train_mlp(X[:400], y[:400], width, epochs=30, seed=1, lr=1e-2, batch=64)
        assert float(((predict(params, X[400:]) > 0) == (y[400:] > 0)).mean()) > 0.9


def test_the_context_scorers_training_weighs_only_the_real_pairs() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_context_scorer import pair_weight

    assert pair_weight({"k": "real"}, 5.0) == 5.0
    assert pair_weight({"k": "syn"}, 5.0) == pair_weight({"k": "clean"}, 5.0) == 1.0


def test_the_held_out_build_keeps_only_utterances_naming_entities_no_other_dev_record_names(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import numpy as np
    from context_heldout import main, matching_bias, part_hyps, unseen_hyps

    def rec(rid: str, entity: str | None, hyp: str, split: str = "dev") -> dict[str, object]:
        spans = [{"start": 0, "end": 1, "entity_id": entity, "surface": "x"}] if entity else []
        return {"id": rid, "hyp": hyp, "spans": spans, "split": split}

    records = [rec("conf-0000", "e:1", "old one"), rec("conf-0001", "e:9", "a test one", "test"),
               rec("x1-conf-0000", "e:2", "first extra"),
               rec("x2-conf-0000", "e:1", "e1 again"),  # named by the evaluation set's dev split
               rec("x2-conf-0001", "e:2", "e2 again"),  # named by the first extra build
               rec("x2-conf-0002", "e:9", "e9 in dev words"),  # a test record's entity: not a dev record's
               rec("x2-conf-0003", "e:3", "new one"), rec("x2-conf-0004", "e:3", "new one in another voice"),
               rec("x2-clean-0005", None, "no entity")]
    assert part_hyps(records, "x2-") == {"e1 again", "e2 again", "e9 in dev words", "new one",
                                         "new one in another voice", "no entity"}
    assert unseen_hyps(records, "x2-") == {"e9 in dev words", "new one", "new one in another voice"}
    real, evalset = tmp_path / "real.jsonl", tmp_path / "held.jsonl"
    real.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert main(["--real", str(real), "--prefix", "x2-", "--write-evalset", str(evalset)]) == 0
    assert [json.loads(line)["id"] for line in evalset.read_text().splitlines()] == [
        "x2-conf-0002", "x2-conf-0003", "x2-conf-0004", "x2-clean-0005"]  # the part's entity-free records too
    z, logits = np.array([-3.0, -1.0, 2.0]), np.array([-2.0, 0.5, 3.0])
    w = {"lr": 0.8, "context": 0.7}
    target = float((1 / (1 + np.exp(-(0.8 * z + 0.7 * logits - 0.4)))).mean())
    assert matching_bias(z, logits, w, target) == pytest.approx(-0.4, abs=1e-3)


def test_the_served_context_scorer_is_read_back_into_the_training_model() -> None:
    """scripts/finetune_context_scorer.py starts from the served int8 export, dequantised by the same
    function that reads the sentence encoder (its initialisers and nodes under the export's ``inner``)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("onnx")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_context_scorer import build, dequantised_state, encode, tokenizer_for

    from emendo.correctors.entities.context import MODEL_FILE, default_model_dir

    state = dequantised_state(default_model_dir() / MODEL_FILE, "inner")
    model = build("cpu").eval()
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert [m for m in missing if "word_embeddings" not in m and "position_ids" not in m] == [] and unexpected == []
    text = "my cousin lives in angola city in india"
    rows = [{"t": text, "s": 19, "e": 25, "n": name, "c": described}
            for name, described in (("Ankola", "Ankola: city in India"), ("Angola", "Angola: country in Africa"))]
    with torch.no_grad():
        rebuilt = model(*(torch.from_numpy(x) for x in encode(tokenizer_for(96), rows))).numpy()
    served = ContextScorer().logits(text, [(19, 25, r["n"], r["c"]) for r in rows])
    assert np.abs(rebuilt - served).max() < 0.5


def test_distillation_reports_how_closely_the_student_follows_the_teacher() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from distil_context_scorer import follow

    rows = [{"u": 0, "s": 0, "e": 4}, {"u": 0, "s": 0, "e": 4}, {"u": 1, "s": 2, "e": 6}, {"u": 1, "s": 2, "e": 6},
            {"u": 2, "s": 0, "e": 3}]  # two spans with two candidates, one with one (not counted)
    teacher = np.asarray([2.0, -1.0, 0.5, 1.0, -3.0])
    assert follow(teacher, teacher, rows) == {"pairs": 5, "correlation": 1.0, "mean_abs_diff": 0.0, "spans": 2,
                                              "same_best": 1.0}
    student = np.asarray([2.0, -1.0, 1.5, 1.0, -3.0])  # ranks the second span's candidates the other way
    got = follow(student, teacher, rows)
    assert got["same_best"] == 0.5 and got["mean_abs_diff"] == 0.2 and got["correlation"] < 1.0

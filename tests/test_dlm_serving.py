"""The denoising LM served with onnxruntime, torch-free, on the committed tiny fixture.

``tests/fixtures/dlm-tiny`` is a 200k-parameter T5 copy-trained for a few CPU minutes on
random word sequences (see its README.md); it copies in-domain text, so its outputs are
stable enough to test decoding, gating, windowing and batching mechanics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")

from emendo.correctors.base import Corrector
from emendo.correctors.dlm import PRODUCT_OPTIONS, DecodingOptions, DenoisingLM, word_edit_distance
from emendo.correctors.pipeline import Pipeline
from emendo.errors import ConfigError
from emendo.records import Hypothesis

FIXTURE = Path(__file__).parent / "fixtures" / "dlm-tiny"

# in-domain for the fixture: words of emendo.models.export.TINY_TEXTS
CLEAN = [
    "the cat sat on the mat",
    "the quick brown fox jumps over the lazy dog",
    "мама мыла раму",
    "speech recognition output often contains errors",
    "one two three four five",
    "a language model can fix errors",
]
LONG = ("the cat sat on the mat and the dog sat on the log while the quick brown fox jumps over the lazy dog "
        "and speech recognition output often contains errors that a language model can fix one two three four")


def hyp(i: int, text: str, **kw: object) -> Hypothesis:
    lang = "ru" if any("\u0400" <= c <= "\u04ff" for c in text) else "en"
    return Hypothesis(id=f"h{i}", text=text, lang=lang, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def lm() -> DenoisingLM:
    return DenoisingLM(FIXTURE, variant="fp32")


def test_fixture_is_small_and_matches_its_card() -> None:
    files = [p for p in FIXTURE.iterdir() if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 2_000_000
    card = json.loads((FIXTURE / "model_card.json").read_text(encoding="utf-8"))
    assert card["format"] == "emendo-dlm-onnx"
    assert card["parity"]["passed"] is True
    for name, meta in card["files"].items():
        assert hashlib.sha256((FIXTURE / name).read_bytes()).hexdigest() == meta["sha256"], name


def test_decoding_options_are_frozen_and_validated() -> None:
    opts = DecodingOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.beam_size = 4  # type: ignore[misc]
    assert dataclasses.replace(opts, beam_size=4).beam_size == 4
    for bad in ({"beam_size": 0}, {"min_confidence": 1.5}, {"max_new_tokens": 0}, {"copy_bias": -1.0},
                {"nbest_agreement": "maybe"}, {"min_new_tokens": 500}, {"max_relative_edit": -0.1}):
        with pytest.raises(ConfigError):
            DecodingOptions(**bad)  # type: ignore[arg-type]
    assert DecodingOptions().to_dict()["beam_size"] == 1


def test_is_a_corrector(lm: DenoisingLM) -> None:
    assert isinstance(lm, Corrector)
    assert lm.name == "dlm"
    assert lm.version == "tiny-copy2000-s0-fp32"
    out = Pipeline([lm]).correct([hyp(0, CLEAN[0])])
    assert out[0].steps[0].corrector == "dlm"


def test_copies_clean_in_domain_input(lm: DenoisingLM) -> None:
    res = lm.correct_detailed([hyp(i, t) for i, t in enumerate(CLEAN)])
    same = sum(r.corrected == r.hypothesis.text for r in res)
    assert same >= len(CLEAN) - 1
    for r in res:
        assert 0.0 < r.confidence <= 1.0
        assert 0.0 < r.copy_confidence <= 1.0
        assert r.windows == 1


def _encoded(lm: DenoisingLM, texts: Sequence[str]) -> tuple[object, object]:
    import numpy as np

    rows = [lm._encode(f"<asr> <en> {t}") for t in texts]
    s = max(map(len, rows))
    ids = np.zeros((len(rows), s), dtype=np.int64)
    mask = np.zeros((len(rows), s), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return mask, lm.model.encode(ids, mask)


@pytest.mark.parametrize("copy_bias", [0.0, 2.0])
def test_greedy_equals_beam_size_1(lm: DenoisingLM, copy_bias: float) -> None:
    import numpy as np

    texts = [*CLEAN, "tbe cat sat onn the mat", "quick brown"]
    mask, cross = _encoded(lm, texts)
    bias = None
    if copy_bias:
        bias = np.zeros((len(texts), lm.model.vocab_size), dtype=np.float32)
        bias[:, :50] = copy_bias
    caps = [20] * len(texts)
    greedy = lm.model.greedy(mask, cross, caps, bias=bias)  # type: ignore[arg-type]
    beam1 = lm.model.beam(mask, cross, caps, beam_size=1, bias=bias)  # type: ignore[arg-type]
    assert [g[0] for g in greedy] == [b[0] for b in beam1]
    for (_, a), (_, b) in zip(greedy, beam1, strict=True):
        assert a == pytest.approx(b, abs=1e-6)
    # and through the corrector
    hyps = [hyp(i, t) for i, t in enumerate(texts)]
    explicit = [r.proposed for r in lm.correct_detailed(hyps, DecodingOptions(beam_size=1, copy_bias=copy_bias))]
    assert explicit == [r.proposed for r in lm.correct_detailed(hyps, DecodingOptions(copy_bias=copy_bias))]


@pytest.mark.parametrize(("copy_bias", "min_new", "cap"), [(0.0, 0, 20), (2.0, 0, 20), (0.0, 9, 20), (0.0, 0, 4)])
def test_drafted_greedy_is_lossless(lm: DenoisingLM, copy_bias: float, min_new: int, cap: int) -> None:
    """Checking the input as a draft first gives exactly plain greedy's tokens and log-probs,
    whether the output copies the input, leaves it early or late, or hits the length cap;
    the draft's log-prob is the teacher-forced copy score."""
    import numpy as np

    texts = [*CLEAN, "tbe cat sat onn the mat", "quick brown", "mat the on sat cat the", "the the the the",
             "фокс мыла мат fox"]
    mask, cross = _encoded(lm, texts)
    drafts = [[*lm._encode(t), lm.model.eos_id] for t in texts]
    bias = None
    if copy_bias:
        bias = np.zeros((len(texts), lm.model.vocab_size), dtype=np.float32)
        bias[:, :50] = copy_bias
    caps = [cap] * len(texts)
    plain = lm.model.greedy(mask, cross, caps, min_new=min_new, bias=bias)  # type: ignore[arg-type]
    drafted, copy_lp, _ = lm.model.greedy_drafted(mask, cross, caps, drafts, min_new=min_new,  # type: ignore[arg-type]
                                               bias=bias)
    assert [d[0] for d in drafted] == [p[0] for p in plain]
    for (_, a), (_, b) in zip(drafted, plain, strict=True):
        assert a == pytest.approx(b, abs=1e-4)
    assert copy_lp == pytest.approx(lm.model.score(mask, cross, drafts), abs=1e-4)  # type: ignore[arg-type]
    for rounds in (0, 1, 5):  # re-drafting after a divergence changes only how much one call checks
        again, _, _ = lm.model.greedy_drafted(mask, cross, caps, drafts, min_new=min_new,  # type: ignore[arg-type]
                                           bias=bias, rounds=rounds)
        assert [d[0] for d in again] == [p[0] for p in plain]
    assert any(p[0] == d for p, d in zip(plain, drafts, strict=True))  # some rows copy ...
    assert any(p[0] != d for p, d in zip(plain, drafts, strict=True))  # ... and some do not
    hyps = [hyp(i, t) for i, t in enumerate(texts)]
    on = lm.correct_detailed(hyps, DecodingOptions(copy_bias=copy_bias))
    off = lm.correct_detailed(hyps, DecodingOptions(copy_bias=copy_bias, draft_copy=False))
    assert [r.proposed for r in on] == [r.proposed for r in off]


def test_log_probs_and_search_scores(lm: DenoisingLM) -> None:
    """The shipped LogSoftmax graph matches numpy's log-softmax; the scores greedy search takes
    its argmax of are the logits themselves (no copy) unless a bias or a barred </s> applies."""
    import numpy as np

    from emendo.correctors.dlm import _scores

    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((3, 5, 40)) * 6).astype(np.float32)
    ref = logits - np.log(np.exp(logits.astype(np.float64)).sum(axis=-1, keepdims=True))
    assert np.allclose(lm.model.log_probs(logits), ref, atol=1e-5)
    assert np.allclose(lm.model.log_probs(logits[:, 2, :]), ref[:, 2, :], atol=1e-5)
    assert _scores(logits, None, 1, 0) is logits
    bias = np.zeros((3, 40), dtype=np.float32)
    bias[:, 7] = 100.0
    biased = _scores(logits, bias, 1, 2)
    assert (biased.argmax(axis=-1) == 7).all() and (logits.argmax(axis=-1) != 7).any()
    assert (biased[:, :2, 1] < -1e29).all() and (biased[:, 2:, 1] == logits[:, 2:, 1]).all()
    barred = _scores(logits[:, 0, :], None, 1, 1)
    assert (barred[:, 1] < -1e29).all() and logits[0, 0, 1] > -1e29


def test_drafts_save_decoder_calls(lm: DenoisingLM, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [*CLEAN, "tbe cat sat onn the mat", "the quick brown fox jumps ovr the lazy dog"]
    mask, cross = _encoded(lm, texts)
    drafts = [[*lm._encode(t), lm.model.eos_id] for t in texts]
    calls = []
    step = lm.model.step
    monkeypatch.setattr(lm.model, "step", lambda *a, **k: calls.append(a[0].shape) or step(*a, **k))
    lm.model.greedy(mask, cross, [30] * len(texts))  # type: ignore[arg-type]
    plain = len(calls)
    calls.clear()
    lm.model.greedy_drafted(mask, cross, [30] * len(texts), drafts)  # type: ignore[arg-type]
    assert len(calls) < plain  # draft calls (then a few steps) instead of one call per token


def test_beam_search(lm: DenoisingLM) -> None:
    hyps = [hyp(i, t) for i, t in enumerate(CLEAN)]
    res = lm.correct_detailed(hyps, DecodingOptions(beam_size=4))
    assert [r.hypothesis for r in res] == hyps
    assert sum(r.proposed == r.hypothesis.text for r in res) >= len(CLEAN) - 1
    mask, cross = _encoded(lm, CLEAN)
    beams = lm.model.beam(mask, cross, [20] * len(CLEAN), beam_size=4)  # type: ignore[arg-type]
    greedy = lm.model.greedy(mask, cross, [20] * len(CLEAN))  # type: ignore[arg-type]
    for (bt, blp), (gt, glp) in zip(beams, greedy, strict=True):
        assert bt[-1] == lm.model.eos_id
        # beam search finds a hypothesis at least as good as greedy (length-normalised score)
        assert blp / len(bt) >= glp / len(gt) - 1e-6


def test_confidence_gate_keeps_input_at_threshold_1(lm: DenoisingLM) -> None:
    texts = [*CLEAN, "tbe cat sat onn teh mat", "the quikc brown fox", "  the   cat sat  "]
    hyps = [hyp(i, t) for i, t in enumerate(texts)]
    free = lm.correct_detailed(hyps, DecodingOptions(min_confidence=0.0))
    assert any(r.proposed != " ".join(r.hypothesis.text.split()) for r in free)  # the model does propose changes
    gated = lm.correct_detailed(hyps, DecodingOptions(min_confidence=1.0, stop_rejected=False))
    for f, g in zip(free, gated, strict=True):
        assert g.corrected == g.hypothesis.text  # verbatim, whitespace included
        assert g.proposed == f.proposed
        if f.proposed != " ".join(f.hypothesis.text.split()):
            assert "confidence" in g.rejected
            assert g.confidence == pytest.approx(g.copy_confidence)


@pytest.mark.parametrize(("gap", "conf"), [(None, 0.0), (0.0, 0.0), (2.0, 0.0), (5.0, 0.85), (None, 0.9),
                                         (1.0, 0.5), (None, 1.0)])
def test_stopping_rejected_windows_early_keeps_the_corrections(lm: DenoisingLM, gap: float | None,
                                                               conf: float) -> None:
    """A window stops decoding once a gate must reject it: the corrections, confidences and
    (for the gates involved) rejection reasons are those of decoding every window to the end,
    in fewer decoder calls."""
    texts = [*CLEAN, "tbe cat sat onn teh mat", "the quikc brown fox", "  the   cat sat  ", "mat the on sat cat",
             "the the the the the", "фокс мыла мат fox", "quick brown", "the lazy dog jumps ovr the fox"]
    hyps = [hyp(i, t) for i, t in enumerate(texts)]
    full = lm.correct_detailed(hyps, DecodingOptions(min_copy_gap=gap, min_confidence=conf, stop_rejected=False))
    calls: list[int] = []
    step = lm.model.step
    lm.model.step = lambda *a, **k: calls.append(a[0].size) or step(*a, **k)  # type: ignore[method-assign]
    try:
        stopped = lm.correct_detailed(hyps, DecodingOptions(min_copy_gap=gap, min_confidence=conf))
    finally:
        del lm.model.step
    for f, s in zip(full, stopped, strict=True):
        assert (s.corrected, s.confidence, s.copy_confidence) == (f.corrected, pytest.approx(f.confidence),
                                                                  pytest.approx(f.copy_confidence))
        assert set(s.rejected) <= set(f.rejected)  # the gate that stopped it, of those that fired
        assert bool(s.rejected) == bool(f.rejected)
    cut = [s.proposed != f.proposed for f, s in zip(full, stopped, strict=True)]  # proposals cut short
    assert any(cut) or conf < 1.0  # at 1.0 every changed window must stop: the path is exercised
    if any(cut):
        calls_stopped = sum(calls)
        calls.clear()
        lm.model.step = lambda *a, **k: calls.append(a[0].size) or step(*a, **k)  # type: ignore[method-assign]
        try:
            lm.correct_detailed(hyps, DecodingOptions(min_copy_gap=gap, min_confidence=conf, stop_rejected=False))
        finally:
            del lm.model.step
        assert calls_stopped < sum(calls)  # decoder input tokens


def _fake_model(lm: DenoisingLM, transform: Callable[[str], str]) -> Callable[..., None]:
    """A stand-in for DenoisingLM._run: the 'model' rewrites each window with ``transform``."""

    def run(chunk: Sequence[object], opts: DecodingOptions) -> None:
        for w in chunk:
            out = [*lm._encode(transform(w.window.text)), lm.model.eos_id]  # type: ignore[attr-defined]
            w.out_ids, w.out_logprob, w.copy_logprob = out, -0.01 * len(out), -5.0  # type: ignore[attr-defined]

    return run


def test_window_stitching_on_a_long_input(lm: DenoisingLM, monkeypatch: pytest.MonkeyPatch) -> None:
    h = hyp(0, LONG)
    real = lm.correct_detailed([h])[0]
    assert real.windows >= 3
    # the copy-trained model reproduces most of the long input through the windows
    words, out = LONG.split(), real.proposed.split()
    assert word_edit_distance(words, out) <= len(words) // 5
    # a deterministic "model": windows are rewritten, the stitched text must be exact
    monkeypatch.setattr(lm, "_run", _fake_model(lm, lambda t: t.replace("dog", "DOG").replace("the ", "")))
    res = lm.correct_detailed([h, hyp(1, "the dog")])
    assert res[0].windows == real.windows
    assert res[0].corrected == LONG.replace("dog", "DOG").replace("the ", "")
    assert res[1].corrected == "DOG"


def test_gates_on_a_fixed_proposal(lm: DenoisingLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lm, "_run", _fake_model(lm, lambda t: t.replace("sat", "sad")))
    h = hyp(0, "the cat sat on the mat", nbest=("the cat sat on the mat", "the cat sad on the mat"))
    h2 = hyp(1, "the cat sat on the mat", nbest=("the cat sat on the mat", "a cat sat on a mat"))
    accepted = lm.correct_detailed([h, h2], DecodingOptions())
    assert [r.corrected for r in accepted] == ["the cat sad on the mat"] * 2
    exact = lm.correct_detailed([h, h2], DecodingOptions(nbest_agreement="exact"))
    assert [r.corrected for r in exact] == ["the cat sad on the mat", h2.text]
    assert exact[1].rejected == ("nbest_exact",)
    support = lm.correct_detailed([h, h2], DecodingOptions(nbest_agreement="support"))
    assert [r.corrected for r in support] == ["the cat sad on the mat", h2.text]
    edit = lm.correct_detailed([h], DecodingOptions(max_relative_edit=0.1))  # 1 of 6 words > 0.1
    assert edit[0].corrected == h.text and edit[0].rejected == ("max_edit",)
    assert lm.correct_detailed([h], DecodingOptions(max_relative_edit=0.2))[0].corrected != h.text
    gap = lm.correct_detailed([h], DecodingOptions(min_copy_gap=100.0))
    assert gap[0].corrected == h.text and gap[0].rejected == ("copy_gap",)


def test_keep_word_count_passes_substitutions_only(lm: DenoisingLM, monkeypatch: pytest.MonkeyPatch) -> None:
    edits = {"the cat sat on the mat": "the cat sad on the mat",  # substitution: passes
             "the the dog ran": "the dog ran",  # deletion: rejected
             "a dog ran": "a big dog ran"}  # insertion: rejected
    monkeypatch.setattr(lm, "_run", _fake_model(lm, lambda t: edits.get(t, t)))
    batch = [hyp(i, text) for i, text in enumerate(edits)]
    free = lm.correct_detailed(batch, DecodingOptions())
    assert [r.corrected for r in free] == list(edits.values())
    kept = lm.correct_detailed(batch, DecodingOptions(keep_word_count=True))
    assert [r.corrected for r in kept] == ["the cat sad on the mat", "the the dog ran", "a dog ran"]
    assert [r.rejected for r in kept] == [(), ("word_count",), ("word_count",)]
    assert PRODUCT_OPTIONS.keep_word_count


def test_banned_words_and_withheld_nbest(lm: DenoisingLM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lm, "_run", _fake_model(lm, lambda t: t.replace("sat", "<UNK>")))
    h = hyp(0, "the cat sat on the mat")
    res = lm.correct_detailed([h], DecodingOptions())[0]
    assert res.corrected == h.text and res.rejected == ("banned",)
    assert lm.correct_detailed([h], DecodingOptions(banned=()))[0].corrected == "the cat <UNK> on the mat"
    seen: list[str] = []
    monkeypatch.setattr(lm, "_encode", lambda text: seen.append(text) or [5, 6, 7])
    monkeypatch.setattr(lm, "_run", lambda chunk, opts: None)
    with_nbest = hyp(1, "the cat sat on the mat", nbest=("the cat sat on the mat", "a cat sat on a mat", "<UNK> cat"))
    lm.correct_detailed([with_nbest], DecodingOptions())
    assert "a cat sat on a mat" in seen[0] and "<UNK>" not in seen[0]
    seen.clear()
    lm.correct_detailed([with_nbest], DecodingOptions(use_nbest=False))
    assert "a cat sat on a mat" not in seen[0]


def test_truncated_output_is_rejected(lm: DenoisingLM) -> None:
    h = hyp(0, CLEAN[1])
    res = lm.correct_detailed([h], DecodingOptions(max_new_tokens=3))[0]
    assert len(res.proposed.split()) < len(h.text.split())
    assert res.corrected == h.text and res.rejected[0] == "truncated"


def test_batches_by_length_and_returns_input_order(lm: DenoisingLM) -> None:
    texts = [CLEAN[3], CLEAN[2], LONG, CLEAN[0], "one", CLEAN[1], CLEAN[4], "the cat"]
    hyps = [hyp(i, t) for i, t in enumerate(texts)]
    small = DenoisingLM(FIXTURE, variant="fp32", batch_size=3)
    together = small.correct_detailed(hyps)
    assert [r.hypothesis for r in together] == hyps
    alone = [small.correct_detailed([h])[0] for h in hyps]
    assert [r.proposed for r in together] == [r.proposed for r in alone]
    for a, b in zip(together, alone, strict=True):
        assert a.confidence == pytest.approx(b.confidence, rel=1e-4)


def test_int8_variant_loads_and_mostly_agrees(lm: DenoisingLM) -> None:
    int8 = DenoisingLM(FIXTURE)  # auto: int8 on CPU
    assert int8.model.variant == "int8" and int8.version.endswith("-int8")
    hyps = [hyp(i, t) for i, t in enumerate(CLEAN)]
    a = [r.proposed for r in int8.correct_detailed(hyps)]
    b = [r.proposed for r in lm.correct_detailed(hyps)]
    assert sum(x == y for x, y in zip(a, b, strict=True)) >= len(CLEAN) - 1


def test_rejects_a_directory_without_a_model_card(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        DenoisingLM(tmp_path)


def test_importing_the_corrector_does_not_import_torch() -> None:
    code = ("import sys, emendo.correctors.dlm, emendo.models.inputs, emendo.models.tokenizer; "
            "bad = sorted(m for m in ('torch', 'transformers', 'onnx') if m in sys.modules); "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr

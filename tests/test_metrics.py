"""emendo.eval: presets, corpus-level scores, comparisons and reports, against hand-computed values."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from emendo.errors import ConfigError, MissingExtraError
from emendo.eval.metrics import compare, score
from emendo.eval.normalize import PRESETS, get_preset, preset_names
from emendo.eval.report import EvalItem, build_report, plot_comparison

# ------------------------------------------------------------------ presets


def test_preset_names_and_unknown_preset() -> None:
    assert {"none", "default", "hyporadise", "ocr"} <= set(preset_names())
    assert get_preset("ocr") is PRESETS["ocr"]
    with pytest.raises(ConfigError) as err:
        get_preset("bogus")
    for name in ("none", "default", "hyporadise", "ocr"):
        assert name in str(err.value)


def test_none_and_default_presets() -> None:
    text = "  The  Cat\tsat. "
    assert get_preset("none").normalize(text) == text
    assert get_preset("default").normalize(text) == "The Cat sat."


def test_hyporadise_preset() -> None:
    p = get_preset("hyporadise")
    assert p.normalize("Don’t stop—the well-known 'Cats'!  Now, $5") == "don't stop the well known cats now 5"
    assert p.normalize("the students' books") == "the students books"
    assert p.normalize("rock'n'roll") == "rock'n'roll"


def test_ocr_preset_keeps_case_and_punctuation() -> None:
    p = get_preset("ocr")
    assert p.normalize("“Hello”  — it’s\u00a0Caf\u0065\u0301.") == '"Hello" - it\'s Caf\u00e9.'


def test_preset_transforms_are_jiwer_composable() -> None:
    p = get_preset("hyporadise")
    assert p.words(["Hello, World!"]) == [["hello", "world"]]
    assert p.chars(["A-b"]) == [["a", " ", "b"]]


# ------------------------------------------------------------------ score


def test_wer_and_cer_hand_computed() -> None:
    s = score(["the cat sat on the mat"], ["the cat sit on mat"])
    # sat->sit (S), "the" deleted (D): 2 errors / 6 words
    assert s.wer == pytest.approx(2 / 6)
    assert (s.substitutions, s.deletions, s.insertions, s.hits) == (1, 1, 0, 4)
    # a->i (1) + "the " deleted (4): 5 edits / 22 characters
    assert s.cer == pytest.approx(5 / 22)
    assert (s.ref_words, s.ref_chars, s.char_errors, s.n) == (6, 22, 5, 1)
    assert s.war == pytest.approx(4 / 6)
    assert s.car == pytest.approx(17 / 22)


def test_cer_examples() -> None:
    assert score(["abcd"], ["abxd"]).cer == pytest.approx(1 / 4)
    assert score(["hello"], ["helo"]).cer == pytest.approx(1 / 5)
    assert score(["ab"], ["ba"]).cer == pytest.approx(2 / 2)


def test_rates_are_corpus_level_not_averaged() -> None:
    s = score(["a b c d", "e f"], ["a b c d", "x f y"])
    assert s.wer == pytest.approx(2 / 6)  # mean of per-utterance rates would be 0.5
    assert s.exact == 1


def test_presets_change_scores() -> None:
    refs, hyps = ["Hello, world"], ["hello world"]
    assert score(refs, hyps, "default").wer == pytest.approx(1 / 2)  # "Hello," -> "hello"
    assert score(refs, hyps, "hyporadise").wer == 0.0
    assert score(["a  b"], ["a b"], "none").cer == pytest.approx(1 / 4)
    assert score(["a  b"], ["a b"], "default").cer == 0.0


def test_empty_texts_do_not_crash() -> None:
    empty_ref = score([""], ["a b"])
    assert (empty_ref.wer, empty_ref.war, empty_ref.insertions, empty_ref.ref_words) == (2.0, 0.0, 2, 0)
    both_empty = score(["", "a b"], [" ", "a b"])
    assert both_empty.wer == 0.0 and both_empty.exact == 2
    empty_hyp = score(["a b"], [""])
    assert (empty_hyp.wer, empty_hyp.deletions, empty_hyp.cer) == (1.0, 2, 1.0)
    nothing = score([], [])
    assert (nothing.n, nothing.wer, nothing.war) == (0, 0.0, 1.0)
    # punctuation-only reference becomes empty under the hyporadise preset
    assert score(["..."], ["ok"], "hyporadise").wer == 1.0


def test_accuracy_is_floored_at_zero() -> None:
    s = score(["a"], ["a b c"])
    assert s.wer == pytest.approx(2.0)
    assert s.war == 0.0


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="2 references but 1 hyps"):
        score(["a", "b"], ["a"])


# ------------------------------------------------------------------ compare

REFS = ["the cat sat", "a b c", "hello world", "good day"]
BEFORE = ["the cat sat", "a x c", "helo world", "good dy"]
AFTER = ["the cat sad", "a b c", "helo world", "good dy"]


def test_compare_counts_and_harm() -> None:
    c = compare(REFS, BEFORE, AFTER)
    assert (c.n, c.improved, c.worsened, c.unchanged, c.changed) == (4, 1, 1, 2, 2)
    assert (c.correct_before, c.harmed, c.fixed, c.harm) == (1, 1, 1, 1.0)
    # words: 10 reference words, 3 errors before and after
    assert c.before.wer == pytest.approx(3 / 10)
    assert c.after.wer == pytest.approx(3 / 10)
    assert c.wer_delta == 0.0 and c.wer_rel == 0.0
    # characters: 11 + 5 + 11 + 8 = 35, 3 edits before and after
    assert c.before.cer == pytest.approx(3 / 35)
    assert c.after.cer == pytest.approx(3 / 35)
    # hits before: 3 + 2 + 1 + 1 = 7 words; "sat" broken, "b" fixed
    assert (c.correct_words_before, c.harmed_words, c.fixed_words) == (7, 1, 1)
    assert c.word_harm == pytest.approx(1 / 7)
    d = c.to_dict()
    assert d["harm"] == 1.0 and d["before"]["wer"] == pytest.approx(0.3)


def test_compare_relative_change_and_zero_baseline() -> None:
    c = compare(["a b c d"], ["a x y d"], ["a b y d"])
    assert c.before.wer == pytest.approx(0.5)
    assert c.wer_delta == pytest.approx(-0.25)
    assert c.wer_rel == pytest.approx(-0.5)
    assert (c.improved, c.correct_before, c.harm) == (1, 0, 0.0)
    z = compare(["a"], ["a"], ["b"])
    assert z.wer_rel is None and z.wer_delta == 1.0 and z.harm == 1.0


def test_harm_uses_the_preset() -> None:
    refs, before, after = ["Hello world"], ["hello world"], ["hello, world"]
    lenient = compare(refs, before, after, "hyporadise")
    assert (lenient.correct_before, lenient.harmed, lenient.changed) == (1, 0, 0)
    strict = compare(refs, before, after, "default")
    assert (strict.correct_before, strict.harmed, strict.worsened) == (0, 0, 1)


# ------------------------------------------------------------------ report

ITEMS = [
    EvalItem("1", "the cat sat", "the cat sat", "the cat sad", "asr", "s1"),
    EvalItem("2", "a b c", "a x c", "a b c", "asr", "s2"),
    EvalItem("3", "hello world", "helo world", "helo world", "htr", "s2"),
    EvalItem("4", "good day", "good dy", "good dy", "htr", None),
]


def test_report_per_source_and_set() -> None:
    report = build_report(ITEMS, "default", by_source=True, by_set=True)
    labels = [g.label for g in report.groups]
    assert labels == ["all", "source=asr", "source=htr", "set=(none)", "set=s1", "set=s2"]
    asr = report.groups[1].comparison
    assert asr is not None
    assert asr.before.wer == pytest.approx(1 / 6) and asr.after.wer == pytest.approx(1 / 6)
    assert (asr.harmed, asr.fixed) == (1, 1)
    htr = report.groups[2].comparison
    assert htr is not None and htr.before.wer == pytest.approx(2 / 4) and htr.improved == 0
    d = report.to_dict()
    assert d["mode"] == "compare" and d["preset"] == "default"
    assert d["groups"][1]["group"] == "source=asr"
    md = report.to_markdown()
    assert "| source=htr | 2 | 50.00% | 50.00% |" in md
    assert "1/1 (100.00%)" in md


def test_report_scores_only_and_no_breakdown() -> None:
    items = [EvalItem("1", "a b", "a c"), EvalItem("2", "c d", "c d")]
    report = build_report(items, by_source=True)
    assert [g.label for g in report.groups] == ["all"]
    assert not report.is_comparison
    assert report.groups[0].scores.wer == pytest.approx(1 / 4)
    assert "| all | 2 | 4 | 25.00% |" in report.to_markdown()
    with pytest.raises(ValueError, match="corrected"):
        build_report([*items, EvalItem("3", "x", "y", "x")])


def test_plot_writes_png(tmp_path: Path) -> None:
    out = plot_comparison(build_report(ITEMS, by_source=True), tmp_path / "c.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(MissingExtraError, match=r"emendo\[plot\]"):
        plot_comparison(build_report(ITEMS), tmp_path / "c.png")

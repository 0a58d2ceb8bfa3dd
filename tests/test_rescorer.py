"""KenLMScorer and the kenlm-rescorer (bundled LM; no shared data, no lmplz needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emendo.correctors.base import Corrector
from emendo.correctors.lm_scorer import (
    KenLMScorer,
    LanguageModelError,
    default_model_path,
    normalize_text,
    spell_number,
)
from emendo.correctors.pipeline import Pipeline
from emendo.correctors.rescorer import NBestRescorer, RescorerOptions, spelling_variants
from emendo.errors import ConfigError, EmendoError
from emendo.records import Hypothesis

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scorer() -> KenLMScorer:
    return KenLMScorer()


@pytest.fixture(scope="module")
def rescorer(scorer: KenLMScorer) -> NBestRescorer:
    return NBestRescorer(scorer=scorer)


def hyp(nbest: list[str], scores: list[float] | None = None, text: str | None = None) -> Hypothesis:
    return Hypothesis(id="u1", text=nbest[0] if text is None else text, nbest=tuple(nbest),
                      nbest_scores=tuple(scores) if scores is not None else None, lang="en")


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(("raw", "norm"), [
    ("Don't stop, Mr. Smith!", "don't stop mr smith"),
    ("\u201cWell,\u201d said she\u2014\u2018I know\u2019.", "well said she i know"),
    ("Twenty-seventh of July", "twenty seventh of july"),
    ("the horses' tails at o'clock", "the horses tails at o'clock"),
    ("In 1987 he paid 5.93 for 155,221 bags on the 22nd", "in nineteen eighty seven he paid five point "
     "nine three for one hundred fifty five thousand two hundred twenty one bags on the twenty second"),
    ("Caf\u00e9 & 50%", "cafe and fifty percent"),
    ("   ", ""),
])
def test_normalize_text(raw: str, norm: str) -> None:
    assert normalize_text(raw) == norm


def test_normalize_keeps_digits_when_asked() -> None:
    assert normalize_text("Flight 22, gate B-7", spell_digits=False) == "flight 22 gate b 7"
    assert spell_number("1960", suffix="s") == "nineteen sixties"
    assert spell_number("2005") == "two thousand five"


# ---------------------------------------------------------------- scorer


def test_bundled_model_exists_and_is_small() -> None:
    path = default_model_path()
    assert path.is_file()
    assert path.stat().st_size < 26 * 2**20
    assert (path.parent / "README.md").is_file()


def test_natural_sentence_beats_shuffled(scorer: KenLMScorer) -> None:
    natural = "she said that she had never seen such a thing in all her life"
    words = natural.split()
    shuffled = " ".join(words[i] for i in (7, 2, 11, 0, 9, 4, 13, 1, 5, 12, 3, 10, 6, 8))
    assert sorted(shuffled.split()) == sorted(words)
    assert scorer.score(natural) > scorer.score(shuffled) + 5
    assert scorer.score_per_word(natural) > scorer.score_per_word(shuffled)
    assert scorer.perplexity(natural) < scorer.perplexity(shuffled)


def test_scorer_normalises_and_loads_lazily() -> None:
    s = KenLMScorer()
    assert not s.loaded
    assert s.score("It was a bright, cold day.") == s.score("it was a bright cold day", normalized=True)
    assert s.loaded
    assert s.order == 4
    assert s.score("the day", bos=False, eos=False) > s.score("the day")
    assert s.oov_count("the zzqxv day") == 1


def test_missing_model_raises_emendo_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.binary"
    with pytest.raises(LanguageModelError, match="language model not found"):
        KenLMScorer(missing).score("hello")
    with pytest.raises(EmendoError):
        NBestRescorer(lm_path=missing)


def test_corrupt_model_raises_emendo_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.binary"
    bad.write_bytes(b"not a language model\n")
    with pytest.raises(LanguageModelError, match="cannot load"):
        KenLMScorer(bad).load()


# ---------------------------------------------------------------- rescorer


def test_is_a_corrector_with_versioned_lm(rescorer: NBestRescorer, scorer: KenLMScorer) -> None:
    assert isinstance(rescorer, Corrector)
    assert rescorer.name == "kenlm-rescorer"
    assert rescorer.version.endswith(scorer.sha256()[:12])


@pytest.mark.parametrize(("nbest", "expected"), [
    (["And the Lord sad unto Moses,", "And the Lord said unto Moses,", "and the lord sat unto moses"],
     "And the Lord said unto Moses,"),
    (["Eye do knot no what ewe mean.", "I do not know what you mean.", "eye do not know what you mean"],
     "I do not know what you mean."),
])
def test_switches_to_clearly_better_alternative(rescorer: NBestRescorer, nbest: list[str],
                                                expected: str) -> None:
    (out,) = rescorer.correct([hyp(nbest)])
    assert out.corrected == expected  # the raw n-best entry: casing and punctuation kept
    assert out.changed
    assert 0.5 < out.confidence <= 1.0


def test_small_margin_keeps_the_1best(rescorer: NBestRescorer, scorer: KenLMScorer) -> None:
    one_best, alt = "He hoped their would be stew for dinner.", "He hoped there would be stew for dinner."
    assert scorer.score(alt) > scorer.score(one_best)  # the LM prefers the alternative, but not by much
    (out,) = rescorer.correct([hyp([one_best, alt])])
    assert out.corrected == one_best
    assert not out.changed
    assert 0.0 < out.confidence < 1.0


def test_a_lower_margin_switches_the_same_record(scorer: KenLMScorer) -> None:
    eager = NBestRescorer(RescorerOptions(margin=0.0, rank_weight=0.5), scorer=scorer)
    (out,) = eager.correct([hyp(["He hoped their would be stew for dinner.",
                                 "He hoped there would be stew for dinner."])])
    assert out.corrected == "He hoped there would be stew for dinner."


def test_no_nbest_passes_through(rescorer: NBestRescorer) -> None:
    h = Hypothesis(id="u2", text="The Cat sad on the mat.")
    (out,) = rescorer.correct([h])
    assert out.corrected == h.text
    assert out.confidence == 1.0
    assert not out.changed


def test_one_distinct_hypothesis_passes_through(rescorer: NBestRescorer) -> None:
    (out,) = rescorer.correct([hyp(["The cat sat.", "the cat sat", "THE CAT SAT!"])])
    assert out.corrected == "The cat sat."
    assert out.confidence == 1.0


def test_text_changed_upstream_passes_through(rescorer: NBestRescorer) -> None:
    h = hyp(["and the lord sad unto moses", "and the lord said unto moses"], text="an upstream fix")
    (out,) = rescorer.correct([h])
    assert out.corrected == "an upstream fix"


def test_shorter_alternative_is_not_chosen(scorer: KenLMScorer) -> None:
    one_best = "and the lord sad unto moses in the wilderness of sinai"
    shorter = "and the lord said unto moses"
    eager = NBestRescorer(RescorerOptions(margin=0.0, rank_weight=0.0), scorer=scorer)
    assert scorer.score(shorter) > scorer.score(one_best) + 3
    assert eager.correct([hyp([one_best, shorter])])[0].corrected == one_best
    loose = NBestRescorer(RescorerOptions(margin=0.0, rank_weight=0.0, max_word_diff=99), scorer=scorer)
    assert loose.correct([hyp([one_best, shorter])])[0].corrected == shorter


def test_unknown_words_block_a_switch(scorer: KenLMScorer) -> None:
    nbest = ["the zorblax said unto moses", "the lord said unto moses"]
    assert scorer.oov_count(nbest[0]) == 1
    eager = RescorerOptions(margin=0.0, rank_weight=0.0)
    assert NBestRescorer(eager, scorer=scorer).correct([hyp(nbest)])[0].corrected == nbest[0]
    unguarded = RescorerOptions(margin=0.0, rank_weight=0.0, oov_guard=False)
    assert NBestRescorer(unguarded, scorer=scorer).correct([hyp(nbest)])[0].corrected == nbest[1]


def test_spelling_variants_are_not_corrections(scorer: KenLMScorer) -> None:
    assert spelling_variants("he spoke favorably of the color", "he spoke favourably of the colour")
    assert not spelling_variants("four men", "for men")
    nbest = ["she spoke favorably of his honor", "she spoke favourably of his honour"]
    eager = RescorerOptions(margin=0.0, rank_weight=0.0)
    assert NBestRescorer(eager, scorer=scorer).correct([hyp(nbest)])[0].corrected == nbest[0]


def test_rank_limit(scorer: KenLMScorer) -> None:
    nbest = ["and the lord sad unto moses", "and the lord sad unto moses x", "and the lord sod unto moses",
             "and the lord said unto moses"]
    opts = RescorerOptions(margin=0.0, rank_weight=0.0, max_rank=2)
    assert NBestRescorer(opts, scorer=scorer).correct([hyp(nbest)])[0].corrected == nbest[0]
    opts = RescorerOptions(margin=0.0, rank_weight=0.0, max_rank=3)
    assert NBestRescorer(opts, scorer=scorer).correct([hyp(nbest)])[0].corrected == nbest[3]


def test_asr_scores_are_used_when_weighted(scorer: KenLMScorer) -> None:
    nbest = ["he went to the station", "he went to the stations"]
    opts = RescorerOptions(margin=0.0, rank_weight=0.0, asr_weight=100.0)
    out = NBestRescorer(opts, scorer=scorer).correct([hyp(nbest, scores=[-1.0, -0.5])])[0]
    assert out.corrected == nbest[1]
    out = NBestRescorer(opts, scorer=scorer).correct([hyp(nbest)])[0]  # no scores: LM and rank only
    assert out.corrected == nbest[0]


def test_batch_order_and_pipeline(rescorer: NBestRescorer) -> None:
    batch = [
        hyp(["And the Lord sad unto Moses,", "And the Lord said unto Moses,"]),
        Hypothesis(id="u3", text="no n-best here"),
        hyp(["He hoped their would be stew.", "He hoped there would be stew."]),
    ]
    outs = Pipeline([rescorer]).correct(batch)
    assert [o.corrected for o in outs] == ["And the Lord said unto Moses,", "no n-best here",
                                           "He hoped their would be stew."]
    assert outs[0].model_versions == {"kenlm-rescorer": rescorer.version}
    assert [e.to_dict() for e in outs[0].edits] == [
        {"op": "replace", "start": 3, "end": 4, "before": "sad", "after": "said"}]


def test_nbest_objects_from_json(rescorer: NBestRescorer) -> None:
    h = Hypothesis.from_dict({"id": "x", "text": "and the lord sad unto moses",
                              "nbest": [{"text": "and the lord sad unto moses", "score": -1.0},
                                        {"text": "and the lord said unto moses", "score": -1.2}]})
    assert rescorer.correct([h])[0].corrected == "and the lord said unto moses"


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        RescorerOptions(temperature=0.0)
    with pytest.raises(ConfigError):
        RescorerOptions(max_rank=-1)
    with pytest.raises(ConfigError):
        RescorerOptions(margin=float("nan"))
    with pytest.raises(AttributeError):
        RescorerOptions().margin = 1.0  # type: ignore[misc]


# ---------------------------------------------------------------- toy LM (only where lmplz is built)


def _kenlm_bin() -> Path | None:
    cache = Path(os.environ.get("EMENDO_CACHE_DIR")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "emendo")
    for d in [os.environ.get("KENLM_BIN"), str(cache / "kenlm-bin")]:
        if d and (Path(d) / "lmplz").is_file() and (Path(d) / "build_binary").is_file():
            return Path(d)
    found = shutil.which("lmplz")
    return Path(found).parent if found and shutil.which("build_binary") else None


@pytest.mark.skipif(_kenlm_bin() is None, reason="lmplz/build_binary not built (scripts/install_kenlm_tools.sh)")
def test_toy_lm_from_in_repo_corpus(tmp_path: Path) -> None:
    out = tmp_path / "toy.binary"
    env = dict(os.environ, KENLM_BIN=str(_kenlm_bin()))
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_lm.py"), "--corpus",
         str(REPO / "tests" / "data" / "lm_toy_corpus.txt"), "--out", str(out), "--order", "3",
         "--prune", "0", "--memory", "32M", "--no-card"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    toy = KenLMScorer(out)
    assert toy.order == 3
    assert toy.score("the cat sat on the mat") > toy.score("mat the on sat cat the")
    rescorer = NBestRescorer(scorer=toy, options=RescorerOptions(margin=0.5, rank_weight=0.5))
    assert rescorer.correct([hyp(["the cat sat on the mad", "the cat sat on the mat"])])[0].corrected \
        == "the cat sat on the mad"  # "mad" is unknown to the toy LM: the OOV guard keeps the 1-best
    assert rescorer.correct([hyp(["the cat sat in the mat", "the cat sat on the mat"])])[0].corrected \
        == "the cat sat on the mat"

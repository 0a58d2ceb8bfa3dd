"""Model input formatting and long-input windows (emendo.models.inputs; no torch)."""

from __future__ import annotations

import itertools

import pytest

from emendo.errors import ConfigError
from emendo.models.inputs import InputOptions, format_input, format_source, normalize_space, stitch, windows

LONG = ("It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
        "want of a wife. However little known the feelings or views of such a man may be on his first entering "
        "a neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is "
        "considered the rightful property of some one or other of their daughters.")


def test_format_with_tags_and_nbest() -> None:
    out = format_input("the cat  sat", nbest=["the cat sat", "the cap sat", "the cap sat", "a cat sat"],
                       source="asr", lang="en")
    assert out == "<asr> <en> the cat sat <sep> the cap sat <sep> a cat sat"


def test_format_options() -> None:
    assert format_input("x y", ["x z"], "htr", "ru", InputOptions(use_tags=False)) == "x y <sep> x z"
    assert format_input("x y", ["x z"], "htr", "ru", InputOptions(use_nbest=False)) == "<htr> <ru> x y"
    assert format_input("x y", ["a", "b", "c", "d"], "asr", "de", InputOptions(max_nbest=2)) == "<asr> x y <sep> a"
    assert format_source("x", source="htr", lang="en") == "<htr> <en> x"


def test_options_round_trip_and_validation() -> None:
    opts = InputOptions(use_nbest=False, window_chars=60, window_overlap=20)
    assert InputOptions.from_dict(opts.to_dict()) == opts
    assert InputOptions.from_train_config({"inputs": opts.to_dict()}) == opts
    assert InputOptions.from_train_config({}) == InputOptions()
    with pytest.raises(ConfigError):
        InputOptions(window_chars=30, window_overlap=30)
    with pytest.raises(ConfigError):
        InputOptions.from_dict({"use_tag": True})


def test_windows_cover_long_input() -> None:
    wins = windows(LONG, 90, 30)
    words = LONG.split()
    assert len(wins) > 3
    assert all(len(w.text) <= 90 for w in wins)
    assert wins[0].start == 0 and wins[-1].end == len(words)
    # cores partition the words; consecutive windows overlap
    assert [i for w in wins for i in range(w.core_start, w.core_end)] == list(range(len(words)))
    assert all(b.start < a.end for a, b in itertools.pairwise(wins))
    assert all(w.text == " ".join(words[w.start:w.end]) for w in wins)


def test_windows_short_and_edge_cases() -> None:
    assert windows("short text", 90, 30) == [windows("short text")[0]]
    assert len(windows("short text")) == 1
    assert windows("   ")[0].text == ""
    long_word = "x" * 120
    wins = windows(f"a {long_word} b", 50, 10)
    assert any(w.text == long_word for w in wins)
    assert stitch(wins, [w.text for w in wins]) == f"a {long_word} b"
    with pytest.raises(ConfigError):
        windows("a b", 10, 10)


def test_stitch_identity_and_corrections() -> None:
    wins = windows(LONG, 90, 30)
    assert stitch(wins, [w.text for w in wins]) == normalize_space(LONG)
    # every window fixes "man" -> "woman" (a substitution) and drops "so" (a deletion)
    outs = [" ".join("woman" if t == "man" else t for t in w.text.split() if t != "so") for w in wins]
    want = " ".join("woman" if t == "man" else t for t in LONG.split() if t != "so")
    assert stitch(wins, outs) == want


def test_stitch_insertion_and_merge_across_boundaries() -> None:
    wins = windows(LONG, 60, 25)
    outs = [w.text.replace("some one", "someone").replace("truth", "great truth") for w in wins]
    want = LONG.replace("some one", "someone").replace("truth", "great truth")
    assert stitch(wins, outs) == normalize_space(want)


def test_stitch_length_mismatch() -> None:
    with pytest.raises(ValueError):
        stitch(windows("a b c"), [])

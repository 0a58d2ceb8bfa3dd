"""The fitted text-level error simulator: alignment, fitting, sampling, the simulate command."""

from __future__ import annotations

import gzip
import json
import random
import statistics
from pathlib import Path

import pytest

from emendo.records import TrainingPair
from emendo.synth.simulate import fit_dirs, read_clean, simulate
from emendo.synth.simulator import (
    ErrorModel,
    align_words,
    char_chunks,
    error_rates,
    events_from_alignment,
    fit,
    skeleton,
)
from emendo.synth.writer import PairWriter, read_pairs
from tests.sentences import EN as ENGLISH
from tests.sentences import RU as RUSSIAN


def test_alignment_and_events() -> None:
    steps = align_words(["the", "cat", "sat", "on", "the", "mat"], ["the", "cat", "sat", "on", "them", "at"])
    assert [s[0] for s in steps] == ["ok", "ok", "ok", "ok", "sub", "sub"]
    events = events_from_alignment(align_words(["i", "saw", "a", "notebook"], ["i", "saw", "a", "note", "book"]))
    assert ("split", ["notebook"], ["note", "book"]) in events
    events = events_from_alignment(align_words(["some", "where", "else"], ["somewhere", "else"]))
    assert ("merge", ["some", "where"], ["somewhere"]) in events
    assert char_chunks("modern", "modem") == [("rn", "m")]
    assert skeleton("Their") == skeleton("there") == "tr"


def _asr_pairs(n: int) -> list[TrainingPair]:
    """Toy ASR-like pairs: 'their' heard as 'there', 'a' dropped, 'uh' inserted."""
    rng = random.Random(3)
    pairs = []
    for k in range(n):
        clean = ["their", "house", "is", "a", "big", "one", "near", "the", "river"]
        noisy = list(clean)
        if rng.random() < 0.6:
            noisy[0] = "there"
        if rng.random() < 0.3:
            noisy.remove("a")
        if rng.random() < 0.2:
            noisy.insert(2, "uh")
        pairs.append(TrainingPair(f"p{k}", "asr", "en", " ".join(clean), " ".join(noisy),
                                  nbest=(" ".join(noisy), " ".join(clean))))
    return pairs


def test_fit_learns_confusions_and_rate() -> None:
    pairs = _asr_pairs(400)
    model = fit(pairs, vocabulary={"en": ["there", "uh"]})
    prof = model.profile("asr", "en")
    assert prof.word_conf["their"] == {"there": pytest.approx(prof.word_conf["their"]["there"])}
    assert prof.deleted.get("a", 0) > 0 and prof.inserted.get("uh", 0) > 0
    real_wer = statistics.mean(error_rates(p.clean, p.noisy)[0] for p in pairs)
    rng = random.Random(0)
    sims = [model.corrupt(p.clean, "asr", "en", rng) for p in pairs]
    sim_wer = statistics.mean(error_rates(p.clean, s[0])[0] for p, s in zip(pairs, sims, strict=True))
    assert abs(sim_wer - real_wer) / real_wer < 0.25
    assert sum(s[0].startswith("there ") for s in sims) > 100  # the learnt confusion is replayed
    assert any(s[1] is not None and len(s[1]) == 2 for s in sims)  # n-best lists are simulated
    with pytest.raises(KeyError, match="htr-ru"):
        model.corrupt("текст", "htr", "ru", rng)


def test_save_load_and_determinism(tmp_path: Path) -> None:
    model = fit(_asr_pairs(100))
    model.save(tmp_path / "m.json")
    again = ErrorModel.load(tmp_path / "m.json")
    for text in ENGLISH[:20]:
        a = model.corrupt(text, "asr", "en", random.Random(7))
        b = again.corrupt(text, "asr", "en", random.Random(7))
        assert a == b
    (tmp_path / "bad.json").write_text(json.dumps({"version": "0", "profiles": {}}))
    with pytest.raises(ValueError, match="version"):
        ErrorModel.load(tmp_path / "bad.json")


def _htr_dir(tmp_path: Path) -> Path:
    rng = random.Random(5)
    out = tmp_path / "real"
    with PairWriter(out) as w:
        for k, text in enumerate(RUSSIAN * 4):
            noisy = "".join(("ш" if ch == "щ" else "н" if ch == "п" and rng.random() < 0.5 else ch) for ch in text)
            w.write(TrainingPair(f"r{k}", "htr", "ru", text, noisy))
    return out


def test_simulate_command_is_resumable_and_deterministic(tmp_path: Path) -> None:
    model = tmp_path / "sim.json"
    summary = fit_dirs([_htr_dir(tmp_path)], model)
    assert "htr-ru" in summary
    src = tmp_path / "clean.jsonl"
    src.write_text("".join(json.dumps({"id": f"s{k}", "text": t, "lang": "ru", "licence": "test"},
                                      ensure_ascii=False) + "\n" for k, t in enumerate(RUSSIAN))
                   + "not json\n" + json.dumps({"id": "e", "text": "   "}) + "\n", encoding="utf-8")
    full = simulate(model, src, tmp_path / "a", sources=["htr"], seed=3, progress=False)
    assert full["pairs"] == len(RUSSIAN) and full["rejected_lines"] == {"bad_json": 1, "empty_text": 1}
    simulate(model, src, tmp_path / "b", sources=["htr"], seed=3, limit=5, progress=False)
    resumed = simulate(model, src, tmp_path / "b", sources=["htr"], seed=3, progress=False)
    assert resumed["resumed_with"] == 5 and resumed["pairs"] == len(RUSSIAN) - 5
    a = {p.id: p for p in read_pairs(tmp_path / "a")}
    b = {p.id: p for p in read_pairs(tmp_path / "b")}
    assert a == b
    assert a["s0-htr"].provenance["licence"] == "test"
    assert any(p.noisy != p.clean for p in a.values())


def test_read_clean_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        list(read_clean(tmp_path / "missing.txt"))
    long = tmp_path / "long.txt"
    long.write_text(" ".join(["word"] * 60) + "\n")
    wins = list(read_clean(long))
    assert len(wins) > 1 and all(len(w.text) <= 90 for w in wins)
    packed = tmp_path / "clean.jsonl.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "g1", "text": "a gzipped line", "lang": "en"}) + "\n")
    assert [(c.id, c.text) for c in read_clean(packed)] == [("g1", "a gzipped line")]


def test_bundled_simulator_loads_and_corrupts() -> None:
    from emendo.synth.simulator import BUNDLED

    model = ErrorModel.load(BUNDLED)
    assert {"asr-en", "htr-en", "htr-ru"} <= set(model.profiles)
    rng = random.Random(1)
    outs = [model.corrupt(t, "htr", "ru", rng)[0] for t in RUSSIAN * 10]
    changed = sum(o != t for o, t in zip(outs, RUSSIAN * 10, strict=True)) / len(outs)
    assert 0.3 < changed < 0.98  # most, not all, real htr-ru lines have an error

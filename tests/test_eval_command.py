"""The ``emendo eval`` command end to end on small temporary files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from emendo.eval.command import add_arguments, run


def _run(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="emendo eval")
    add_arguments(parser)
    return run(parser.parse_args([str(a) for a in argv]))


def _jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _text(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_plain_text_ref_and_hyp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _text(tmp_path / "ref.txt", ["the cat sat on the mat", "hello world"])
    hyp = _text(tmp_path / "hyp.txt", ["the cat sit on mat", "hello world"])
    out = tmp_path / "r.json"
    assert _run("--ref", ref, "--hyp", hyp, "--json", out) == 0
    stdout = capsys.readouterr().out
    assert "| all | 2 | 8 | 25.00% |" in stdout  # 2 errors / 8 words
    assert "source=" not in stdout
    report = json.loads(out.read_text())
    assert report["mode"] == "score"
    assert report["groups"][0]["scores"]["wer"] == pytest.approx(2 / 8)


def test_jsonl_joined_by_id_with_sources(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _jsonl(tmp_path / "ref.jsonl", [{"id": "a", "text": "one two"}, {"id": "b", "reference": "x y z"}])
    hyp = _jsonl(tmp_path / "hyp.jsonl", [
        {"id": "b", "text": "x y", "source": "htr"},
        {"id": "a", "text": "one two", "source": "asr"},
    ])
    assert _run("--ref", ref, "--hyp", hyp) == 0
    stdout = capsys.readouterr().out
    assert "| all | 2 | 5 | 20.00% |" in stdout
    assert "| source=asr | 1 | 2 | 0.00% |" in stdout
    assert "| source=htr | 1 | 3 | 33.33% |" in stdout
    assert _run("--ref", ref, "--hyp", hyp, "--no-by-source") == 0
    assert "source=" not in capsys.readouterr().out


def test_jsonl_ref_with_plain_hyp_joins_by_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _jsonl(tmp_path / "ref.jsonl", [{"id": "a", "text": "a b"}, {"id": "b", "text": "c d"}])
    hyp = _text(tmp_path / "hyp.txt", ["a b", "c e"])
    assert _run("--ref", ref, "--hyp", hyp) == 0
    assert "| all | 2 | 4 | 25.00% |" in capsys.readouterr().out


def test_corrections_with_inline_reference_writes_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corr = _jsonl(tmp_path / "corr.jsonl", [
        {"id": "1", "text": "the cat sat", "corrected": "the cat sad", "source": "asr",
         "reference": "the cat sat", "meta": {"dataset": "s1"}},
        {"id": "2", "text": "a x c", "corrected": "a b c", "source": "asr", "reference": "a b c"},
        {"id": "3", "text": "helo world", "corrected": "hello world", "source": "htr",
         "reference": "Hello world"},
    ])
    paths = {k: tmp_path / f"out.{k}" for k in ("json", "md", "png")}
    rc = _run("--corrections", corr, "--json", paths["json"], "--markdown", paths["md"],
              "--plot", paths["png"], "--by-set", "--preset", "hyporadise")
    assert rc == 0
    stdout = capsys.readouterr().out
    assert stdout == paths["md"].read_text()
    assert "| source=htr |" in stdout and "| set=s1 |" in stdout and "| set=(none) |" in stdout
    report = json.loads(paths["json"].read_text())
    overall = report["groups"][0]
    assert report["mode"] == "compare" and report["preset"] == "hyporadise"
    assert overall["before"]["wer"] == pytest.approx(2 / 8)
    assert overall["after"]["wer"] == pytest.approx(1 / 8)
    counts = [overall[k] for k in ("improved", "worsened", "harmed", "correct_before")]
    assert counts == [2, 1, 1, 1]
    assert paths["png"].read_bytes()[:4] == b"\x89PNG"


def test_corrections_with_ref_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corr = _jsonl(tmp_path / "corr.jsonl", [
        {"id": "u2", "text": "a x", "corrected": "a b"},
        {"id": "u1", "text": "c d", "corrected": "c d"},
    ])
    ref = _jsonl(tmp_path / "ref.jsonl", [{"id": "u1", "text": "c d"}, {"id": "u2", "text": "a b"}])
    assert _run("--corrections", corr, "--ref", ref) == 0
    stdout = capsys.readouterr().out
    assert "| all | 2 | 25.00% | 0.00% | -25.00 (-100.0%) |" in stdout


def test_pairs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = _jsonl(tmp_path / "pairs.jsonl", [
        {"clean": "a b c", "noisy": "a b", "source": "htr"},
        {"reference": "d e", "hypothesis": "d e"},
    ])
    assert _run("--pairs", pairs) == 0
    stdout = capsys.readouterr().out
    assert "| all | 2 | 5 | 20.00% |" in stdout
    assert "| source=(none) | 1 |" in stdout


def _error(capsys: pytest.CaptureFixture[str], rc: int, status: int, *needles: str) -> None:
    err = capsys.readouterr().err
    assert rc == status, err
    assert err.startswith("emendo eval: error:")
    for needle in needles:
        assert needle in err


def test_error_line_count_mismatch(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _text(tmp_path / "ref.txt", ["a", "b", "c"])
    hyp = _text(tmp_path / "hyp.txt", ["a", "b"])
    _error(capsys, _run("--ref", ref, "--hyp", hyp), 1, "3 references", "have 2")


def test_error_missing_and_unscored_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _jsonl(tmp_path / "ref.jsonl", [{"id": "a", "text": "x"}, {"id": "b", "text": "y"}])
    hyp = _jsonl(tmp_path / "hyp.jsonl", [{"id": "a", "text": "x"}, {"id": "zz", "text": "y"}])
    _error(capsys, _run("--ref", ref, "--hyp", hyp), 1, "1 hypothesis id(s) not in", "'zz'")
    only_a = _jsonl(tmp_path / "a.jsonl", [{"id": "a", "text": "x"}])
    _error(capsys, _run("--ref", ref, "--hyp", only_a), 1, "have no hypothesis", "'b'", "--subset")
    assert _run("--ref", ref, "--hyp", only_a, "--subset") == 0
    assert "| all | 1 | 1 | 0.00% |" in capsys.readouterr().out


def test_error_duplicate_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref = _jsonl(tmp_path / "ref.jsonl", [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])
    hyp = _jsonl(tmp_path / "hyp.jsonl", [{"id": "a", "text": "x"}])
    _error(capsys, _run("--ref", ref, "--hyp", hyp), 1, "duplicate id(s)", "'a'")


def test_error_unreadable_and_malformed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hyp = _text(tmp_path / "hyp.txt", ["a"])
    _error(capsys, _run("--ref", tmp_path / "missing.txt", "--hyp", hyp), 1, "cannot read", "missing.txt")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "x"}\n{oops\n', encoding="utf-8")
    _error(capsys, _run("--ref", hyp, "--hyp", bad), 1, "bad.jsonl:2", "malformed JSON")
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    _error(capsys, _run("--ref", binary, "--hyp", hyp), 1, "cannot read")


def test_error_correction_without_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corr = _jsonl(tmp_path / "c.jsonl", [{"id": "1", "text": "a", "corrected": "b"}])
    _error(capsys, _run("--corrections", corr), 1, "no reference", "--ref")
    not_corr = _jsonl(tmp_path / "n.jsonl", [{"id": "1", "text": "a", "reference": "a"}])
    _error(capsys, _run("--corrections", not_corr), 1, "not a Correction record", "corrected")


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = _jsonl(tmp_path / "p.jsonl", [{"clean": "a", "noisy": "a"}])
    _error(capsys, _run(), 2, "exactly one of")
    _error(capsys, _run("--pairs", pairs, "--hyp", pairs), 2, "exactly one of")
    _error(capsys, _run("--pairs", pairs, "--ref", pairs), 2, "--pairs")
    empty = _text(tmp_path / "empty.txt", [])
    _error(capsys, _run("--ref", empty, "--hyp", empty), 1, "no utterances")


def test_plot_without_matplotlib_exits_nonzero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for mod in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, mod, None)
    pairs = _jsonl(tmp_path / "p.jsonl", [{"clean": "a", "noisy": "a"}])
    _error(capsys, _run("--pairs", pairs, "--plot", tmp_path / "x.png"), 1, "emendo[plot]")

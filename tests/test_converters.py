"""HyPoradise and BLN600 converters, on tiny inline fixtures."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from emendo.eval import bln600, hyporadise
from emendo.eval.command import add_arguments, run
from emendo.records import decode_hypothesis

ROOT = Path(__file__).resolve().parents[1]

HYPO_ITEMS = [
    {"input": ["the cat sit on mat", "the cat sat on the mat"], "output": "the cat sat on the mat",
     "score": [-0.1, -0.2], "instruction": "pick the best"},
    {"input": "not a list", "output": "x"},
    {"input": ["hello world"], "output": "hello world", "am_score": [-0.5], "id": "orig-7"},
    {"input": ["a b"], "output": None},
    {"input": ["a b", "a c"], "output": "a b", "score": [-1.0]},
    ["not", "an", "object"],
    {"input": ["", "x"], "output": "x"},
]


def test_convert_hyporadise_records_and_skips() -> None:
    result = hyporadise.convert_hyporadise(HYPO_ITEMS, "ls_clean")
    assert [r.id for r in result.records] == ["ls_clean-0", "ls_clean-2"]
    first = result.records[0].to_dict()
    assert first == {
        "id": "ls_clean-0", "text": "the cat sit on mat", "source": "asr",
        "nbest": ["the cat sit on mat", "the cat sat on the mat"], "nbest_scores": [-0.1, -0.2],
        "lang": "en", "reference": "the cat sat on the mat", "meta": {"dataset": "ls_clean"}, "schema": 1,
    }
    second = result.records[1]
    assert second.nbest_scores == (-0.5,)
    assert second.meta == {"dataset": "ls_clean", "source_id": "orig-7"}
    reasons = dict(result.skipped)
    assert set(reasons) == {"item 1", "item 3", "item 4", "item 5", "item 6"}
    assert "input" in reasons["item 1"]
    assert "output" in reasons["item 3"]
    assert "nbest_scores" in reasons["item 4"]
    assert "object" in reasons["item 5"]
    assert "text" in reasons["item 6"]


def test_convert_hyporadise_limit_keeps_ids_stable() -> None:
    result = hyporadise.convert_hyporadise(HYPO_ITEMS, "s", limit=2)
    assert [r.id for r in result.records] == ["s-0", "s-2"]
    assert len(hyporadise.convert_hyporadise(HYPO_ITEMS, "s", limit=1).records) == 1


def test_hyporadise_main_then_eval(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "test_wsj.json"
    src.write_text(json.dumps(HYPO_ITEMS), encoding="utf-8")
    out = tmp_path / "wsj.jsonl"
    assert hyporadise.main([str(src), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "skipped 5 malformed item(s)" in err and "2 record(s) as set 'test_wsj'" in err
    records = [decode_hypothesis(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r.id for r in records] == ["test_wsj-0", "test_wsj-2"]
    assert records[0].extra["reference"] == "the cat sat on the mat"
    # 1-best against the inline references: 2 errors / (6 + 2) words
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert run(parser.parse_args(["--hyp", str(out), "--preset", "hyporadise"])) == 0
    assert "| all | 2 | 8 | 25.00% |" in capsys.readouterr().out


def test_hyporadise_main_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"input": "x"}]), encoding="utf-8")
    assert hyporadise.main([str(bad)]) == 1
    assert "no record converted" in capsys.readouterr().err
    notlist = tmp_path / "obj.json"
    notlist.write_text("{}", encoding="utf-8")
    assert hyporadise.main([str(notlist)]) == 1
    assert "expected a JSON list" in capsys.readouterr().err
    assert hyporadise.main([str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert hyporadise.main([str(bad), str(notlist), "--set-name", "x"]) == 2


BLN_CSV = (
    'Sample ID,Date,Publication,OCR Text,Ground Truth,CER\n'
    'S1,1882-05-27,Police News,"__RO BBERY AT A BARONET\'S.",ROBBERY AT A BARONETS.,0.18\n'
    'S1,1882-05-27,Police News,"value \u00a3100, the pro- perty","value \u00a3100, the property",n/a\n'
    'S2,1890-01-01,Times,"   ",Empty OCR line,0.5\n'
    'S2,1890-01-01,Times,Tbe end,The end,0.14\n'
)


def test_convert_bln600(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text(BLN_CSV, encoding="utf-8")
    result = bln600.convert_bln600(bln600.read_bln600(path))
    assert [r.id for r in result.records] == ["S1-0", "S1-1", "S2-1"]
    first = result.records[0].to_dict()
    assert first == {
        "id": "S1-0", "text": "__RO BBERY AT A BARONET'S.", "source": "htr", "lang": "en",
        "reference": "ROBBERY AT A BARONETS.", "schema": 1,
        "meta": {"dataset": "bln600", "sample_id": "S1", "date": "1882-05-27",
                 "publication": "Police News", "cer": 0.18},
    }
    assert "cer" not in result.records[1].meta
    assert result.skipped == [("row 4", "text: must be a non-empty string")]
    assert [r.id for r in bln600.convert_bln600(bln600.read_bln600(path), limit=1).records] == ["S1-0"]


def test_bln600_main(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "train.csv"
    path.write_text(BLN_CSV, encoding="utf-8")
    out = tmp_path / "bln.jsonl"
    assert bln600.main([str(path), "-o", str(out), "--set-name", "bln-dev"]) == 0
    records = [decode_hypothesis(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 3 and all(r.source == "htr" and r.meta["dataset"] == "bln-dev" for r in records)
    assert "skipped 1 malformed item(s)" in capsys.readouterr().err
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,text\n1,a\n", encoding="utf-8")
    assert bln600.main([str(wrong)]) == 1
    assert "missing column(s)" in capsys.readouterr().err


def test_scripts_are_thin_wrappers(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text(BLN_CSV, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bln600_to_jsonl.py"), str(path), "--limit", "2"],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == ["S1-0", "S1-1"]
    assert "--set-name" in hyporadise.build_parser().format_help()

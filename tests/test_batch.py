import json

import pytest

from emendo.batch import correct_file, rejects_path_for
from emendo.cli import main
from emendo.correctors import IdentityCorrector, Pipeline
from emendo.errors import EmendoError
from emendo.records import Correction


class Fixer:
    name, version = "fixer", "1"

    def correct(self, batch):
        return [Correction(h, h.text.replace("teh", "the")) for h in batch]


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jsonl_with_rejects(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_bytes(b'{"id": "1", "text": "teh cat", "reference": "the cat"}\n'
                    b'{"id": "2", "text": ""}\n'
                    b'not json\n'
                    b'\n'
                    b'{"id": "3", "text": "fine", "source": "htr"}\n')
    out = tmp_path / "out.jsonl"
    report = correct_file(src, out, Pipeline([Fixer()]), batch_size=2, progress=False)
    assert report.to_dict() == {"read": 2, "corrected": 2, "changed": 1, "rejected": 2,
                                "skipped_already_done": 0}
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == ["1", "3"]
    assert rows[0]["corrected"] == "the cat" and rows[0]["reference"] == "the cat"
    rejects = read_jsonl(rejects_path_for(out))
    assert [(r["line"], r["error"]) for r in rejects] == [(2, "RecordError"), (3, "RecordError")]
    assert "malformed JSON" in rejects[1]["reason"]


def test_plain_text_lines(tmp_path):
    src = tmp_path / "lines.txt"
    src.write_text("teh first\nsecond\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    correct_file(src, out, Pipeline([Fixer()]), source="htr", progress=False)
    rows = read_jsonl(out)
    assert [(r["id"], r["source"], r["corrected"]) for r in rows] == [
        ("lines-1", "htr", "the first"), ("lines-2", "htr", "second")]


def test_resume_skips_done_lines_and_repairs_torn_tail(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(i), "text": f"teh {i}"}) + "\n" for i in range(10)) + "bad\n")
    out = tmp_path / "out.jsonl"
    full = correct_file(src, out, Pipeline([Fixer()]), batch_size=3, progress=False)
    assert full.corrected == 10 and full.rejected == 1
    # simulate a crash: keep 4 records and half of the 5th line
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:4]) + lines[4][:20])
    again = correct_file(src, out, Pipeline([Fixer()]), batch_size=3, progress=False)
    assert (again.resumed, again.corrected, again.rejected) == (5, 6, 0)
    assert sorted(int(r["id"]) for r in read_jsonl(out)) == list(range(10))
    assert len(read_jsonl(rejects_path_for(out))) == 1


def test_missing_input(tmp_path):
    with pytest.raises(EmendoError, match="not found"):
        correct_file(tmp_path / "nope.jsonl", tmp_path / "o.jsonl", Pipeline([IdentityCorrector()]))


def test_cli_exit_codes(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("nope\n{}\n")
    assert main(["correct", str(bad), "-o", str(tmp_path / "o.jsonl"), "--correctors", "identity", "-q"]) == 1
    assert "no record could be read" in capsys.readouterr().err
    good = tmp_path / "good.txt"
    good.write_text("hello\n")
    assert main(["correct", str(good), "-o", str(tmp_path / "g.jsonl"), "--correctors", "identity", "-q"]) == 0
    assert main(["correct", str(good), "-o", str(tmp_path / "g2.jsonl"), "--correctors", "nope", "-q"]) == 1
    assert "unknown corrector" in capsys.readouterr().err

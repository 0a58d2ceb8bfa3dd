import pytest

from emendo.correctors import IdentityCorrector, Pipeline
from emendo.correctors.edits import word_edits
from emendo.errors import CorrectorError
from emendo.records import Correction, Hypothesis


class Upper:
    name, version = "upper", "7"

    def correct(self, batch):
        return [Correction(h, h.text.upper(), confidence=0.5) for h in batch]


class FailOn:
    name, version = "fail", "1"

    def __init__(self, bad):
        self.bad = bad

    def correct(self, batch):
        if any(self.bad in h.text for h in batch):
            raise ValueError(f"cannot handle {self.bad}")
        return [Correction(h, h.text) for h in batch]


def test_word_edits():
    assert word_edits("a b c", "a b c") == ()
    (e,) = word_edits("the cat sad on", "the cat sat on")
    assert (e.op, e.start, e.end, e.before, e.after) == ("replace", 2, 3, "sad", "sat")
    ops = [(e.op, e.before, e.after) for e in word_edits("a b c", "a c d")]
    assert ops == [("delete", "b", ""), ("insert", "", "d")]


def test_pipeline_composes_and_records_provenance():
    p = Pipeline([IdentityCorrector(), Upper()])
    (c,) = p.correct([Hypothesis("1", "ab cd")])
    assert c.corrected == "AB CD" and c.changed
    assert [s.corrector for s in c.steps] == ["identity", "upper"]
    assert [s.changed for s in c.steps] == [False, True]
    assert c.confidence == 0.5
    assert c.model_versions == {"identity": "1", "upper": "7"}
    assert len(c.edits) == 1 and c.edits[0].after == "AB CD"
    assert p.version == "identity@1+upper@7"


def test_isolation_keeps_good_records():
    p = Pipeline([FailOn("boom")])
    batch = [Hypothesis("1", "fine"), Hypothesis("2", "boom here"), Hypothesis("3", "also fine")]
    out = p.correct_isolated(batch)
    assert isinstance(out[0], Correction) and isinstance(out[2], Correction)
    assert isinstance(out[1], ValueError)
    assert isinstance(p.correct_isolated([batch[1]])[0], ValueError)


def test_empty_pipeline_rejected():
    with pytest.raises(CorrectorError):
        Pipeline([])


def test_wrong_length_detected():
    class Short:
        name, version = "short", "0"

        def correct(self, batch):
            return []

    with pytest.raises(CorrectorError, match="returned 0 corrections for 1"):
        Pipeline([Short()]).correct([Hypothesis("1", "x")])


class Merge:
    """Joins the first two words: a stage that changes the word count."""

    name, version = "merge", "1"

    def correct(self, batch):
        return [Correction(h, "".join(h.text.split()[:2]) + " " + " ".join(h.text.split()[2:])) for h in batch]


def test_word_confidences_follow_a_stage_that_changes_the_word_count():
    # a record with word confidences must come out as a correction, not fail validation in the
    # next stage (or after the last) because the word count changed
    hyp = Hypothesis("1", "new york is big", confidences=(0.4, 0.9, 0.8, 0.7))
    (c,) = Pipeline([Merge(), Upper()]).correct([hyp])
    assert c.corrected == "NEWYORK IS BIG"
    seen = []

    class Spy:
        name, version = "spy", "1"

        def correct(self, batch):
            seen.extend(batch)
            return [Correction(h, h.text) for h in batch]

    Pipeline([Merge(), Spy()]).correct([hyp])
    assert seen[0].text == "newyork is big" and seen[0].confidences == (0.4, 0.8, 0.7)


def test_carry_confidences():
    from emendo.records import carry_confidences

    assert carry_confidences("a b c", "a b c", (0.1, 0.2, 0.3)) == (0.1, 0.2, 0.3)
    assert carry_confidences("a b c", "a x y c", (0.9, 0.5, 0.8)) == (0.9, 0.5, 0.5, 0.8)  # b -> x y
    assert carry_confidences("a b c", "a c", (0.9, 0.5, 0.8)) == (0.9, 0.8)  # b deleted
    assert carry_confidences("a c", "a b c", (0.9, 0.6)) == (0.9, 0.6, 0.6)  # inserted: its neighbours' lowest
    assert carry_confidences("a b", "", (0.9, 0.6)) is None

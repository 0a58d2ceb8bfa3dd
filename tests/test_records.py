import json

import pytest

from emendo.errors import RecordError, SchemaVersionError
from emendo.records import (
    SCHEMA_VERSION,
    Correction,
    Edit,
    Hypothesis,
    Step,
    TrainingPair,
    decode_hypothesis,
    encode,
)


def test_minimal_record_defaults():
    h = decode_hypothesis(b'{"id": "a", "text": "hello world"}')
    assert (h.id, h.text, h.source, h.nbest, h.lang) == ("a", "hello world", "asr", None, None)
    assert h.candidates() == ("hello world",)


def test_full_record_round_trip_keeps_unknown_fields():
    data = {
        "id": "u1", "text": "the cat sat", "source": "htr", "nbest": ["the cat sat", "the cat sad"],
        "nbest_scores": [-0.1, -0.7], "confidences": [0.9, 0.8, 0.5], "lang": "en",
        "entities": "default", "meta": {"device": "scanner-3"}, "reference": "the cat sat",
        "customer": {"tier": 2},
    }
    h = Hypothesis.from_dict(data)
    assert h.extra == {"reference": "the cat sat", "customer": {"tier": 2}}
    out = json.loads(encode(h))
    assert out == {**data, "schema": SCHEMA_VERSION}
    assert Hypothesis.from_dict(out) == h


def test_nbest_objects_form():
    h = Hypothesis.from_dict({"id": "x", "text": "a b", "nbest": [{"text": "a b", "score": -1},
                                                                  {"text": "a c", "score": -2}]})
    assert h.nbest == ("a b", "a c")
    assert h.nbest_scores == (-1.0, -2.0)


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b"{not json", None, "malformed JSON"),
        (b'["a"]', None, "expected a JSON object"),
        (b'{"text": "x"}', "id", "missing"),
        (b'{"id": "a"}', "text", "missing"),
        (b'{"id": "a", "text": "   "}', "text", "non-empty"),
        (b'{"id": "", "text": "x"}', "id", "non-empty"),
        (b'{"id": "a", "text": 5}', "text", "must be a string"),
        (b'{"id": "a", "text": "x", "source": "ocr"}', "source", "must be one of"),
        (b'{"id": "a", "text": "x y", "confidences": [0.5]}', "confidences", "1 values for 2 words"),
        (b'{"id": "a", "text": "x", "confidences": [1.5]}', "confidences", "[0, 1]"),
        (b'{"id": "a", "text": "x", "nbest": []}', "nbest", "empty"),
        (b'{"id": "a", "text": "x", "nbest": ["x"], "nbest_scores": [1, 2]}', "nbest_scores", "2 scores"),
        (b'{"id": "a", "text": "x", "nbest": "x"}', "nbest", "list of strings"),
        (b'{"id": "a", "text": "x", "meta": 3}', "meta", "must be an object"),
        (b'{"id": "a", "text": "x", "schema": 2}', "schema", "not supported"),
        (b'{"id": "a", "text": "x", "schema": "1"}', "schema", "integer"),
        (b'\xff\xfe{"id": "a"}', None, "not valid UTF-8"),
    ],
)
def test_invalid_records_have_readable_errors(raw, field, words):
    with pytest.raises(RecordError) as info:
        decode_hypothesis(raw)
    assert info.value.field == field
    assert words in str(info.value)


def test_wrong_schema_version_is_its_own_error():
    with pytest.raises(SchemaVersionError):
        decode_hypothesis(b'{"id": "a", "text": "x", "schema": 99}')


def test_text_length_limit():
    with pytest.raises(RecordError, match="limit is 10"):
        decode_hypothesis(json.dumps({"id": "a", "text": "x" * 11}), max_chars=10)


def test_correction_round_trip():
    h = Hypothesis("a", "the cat sad", nbest=("the cat sad", "the cat sat"))
    c = Correction(h, "the cat sat", (Edit("replace", 2, 3, "sad", "sat"),), 0.8,
                   (Step("kenlm-rescorer", "abc", True, "the cat sat", 1.5),))
    d = json.loads(encode(c))
    assert d["corrected"] == "the cat sat" and d["changed"] is True
    assert d["model_versions"] == {"kenlm-rescorer": "abc"}
    assert d["edits"] == [{"op": "replace", "start": 2, "end": 3, "before": "sad", "after": "sat"}]
    assert Correction.from_dict(d) == c


def test_training_pair_round_trip():
    p = TrainingPair("p1", "htr", "ru", "мама мыла раму", "мама мыла рамy", provenance={"font": "x"})
    assert TrainingPair.from_dict(json.loads(encode(p))) == p
    with pytest.raises(RecordError, match="source"):
        TrainingPair.from_dict({**p.to_dict(), "source": "tts"})

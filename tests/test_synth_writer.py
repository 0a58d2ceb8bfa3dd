from emendo.records import TrainingPair
from emendo.synth.writer import PairWriter, read_drops, read_pairs


def pair(i):
    return TrainingPair(f"p{i}", "asr", "en", f"clean {i}", f"noisy {i}", provenance={"seed": i})


def test_shards_drops_and_resume(tmp_path):
    with PairWriter(tmp_path, shard_size=3) as w:
        for i in range(7):
            w.write(pair(i))
        w.drop("p7", "hallucination", wer=1.5)
    assert len(list(tmp_path.glob("pairs-*.jsonl"))) == 3
    assert [p.id for p in read_pairs(tmp_path)] == [f"p{i}" for i in range(7)]
    # a crash leaves a torn line in the last shard
    last = sorted(tmp_path.glob("pairs-*.jsonl"))[-1]
    last.write_text(last.read_text() + '{"id": "p8", "sou')
    with PairWriter(tmp_path, shard_size=3) as w:
        assert w.done == {f"p{i}" for i in range(8)}
        for i in range(10):
            if f"p{i}" not in w.done:
                w.write(pair(i))
    assert sorted(p.id for p in read_pairs(tmp_path)) == sorted(f"p{i}" for i in range(10) if i != 7)
    assert read_drops(tmp_path) == [{"id": "p7", "reason": "hallucination", "wer": 1.5}]

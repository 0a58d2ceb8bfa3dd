"""End-to-end against a real Kafka broker and real ``emendo serve`` worker processes."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.harness import Topics, Worker, key_counts, read_until, records, send

pytestmark = pytest.mark.kafka


@pytest.fixture
def topics(kafka: str) -> Topics:
    return Topics(kafka)


def test_thousand_in_thousand_out(topics: Topics, tmp_path) -> None:
    s = topics.settings
    asr, htr = records(700, "asr", "a"), records(300, "htr", "h")
    worker = Worker(topics, tmp_path, correctors="rescorer")
    try:
        worker.wait_assigned()
        send(topics.bootstrap, s.asr_in, asr)
        send(topics.bootstrap, s.htr_in, htr)
        want = {k.decode() for k, _ in asr + htr}
        out = read_until(topics.bootstrap, [s.asr_out, s.htr_out], want, timeout=120)
        counts = key_counts(out)
        assert set(counts) == want
        assert sum(counts.values()) == 1000, f"duplicates: {[k for k, c in counts.items() if c > 1][:5]}"
        for m in out:
            value = json.loads(m.value)
            assert value["id"] == m.key.decode()
            assert m.topic == (s.asr_out if value["source"] == "asr" else s.htr_out)
            assert value["model_versions"].keys() == {"kenlm-rescorer"}
        metrics = worker.metrics()
        assert f'emendo_records_in_total{{topic="{s.asr_in}"}} 700.0' in metrics
        assert f'emendo_records_out_total{{topic="{s.htr_out}"}} 300.0' in metrics
    finally:
        assert worker.stop() == 0, worker.log_tail()


def test_kill_9_mid_stream_loses_nothing(topics: Topics, tmp_path, record_property) -> None:
    s = topics.settings
    n = 30_000
    recs = records(n, "asr", "k")
    want = {k.decode() for k, _ in recs}
    topics.create()
    send(topics.bootstrap, s.asr_in, recs)
    worker = Worker(topics, tmp_path, EMENDO_BATCH_SIZE="16")
    deadline = time.monotonic() + 90
    while worker.records_out() < 1000 and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.kill9()
    done_before_kill = set(key_counts(read_until(topics.bootstrap, [s.asr_out], None, timeout=30)))
    assert 0 < len(done_before_kill) < n, "the kill must land mid-stream"
    restarted = Worker(topics, tmp_path, EMENDO_BATCH_SIZE="16")
    try:
        out = read_until(topics.bootstrap, [s.asr_out], want, timeout=240)
        counts = key_counts(out)
        missing = want - set(counts)
        assert not missing, f"{len(missing)} ids lost, e.g. {sorted(missing)[:5]}"
        duplicates = sum(counts.values()) - n
        record_property("duplicates_after_kill9", duplicates)
        print(f"\nkill -9 after >= {len(done_before_kill)} of {n} corrections: "
              f"{duplicates} duplicate corrections, 0 missing")
    finally:
        assert restarted.stop() == 0, restarted.log_tail()


def test_bad_records_are_dead_lettered_and_worker_keeps_running(topics: Topics, tmp_path) -> None:
    s = topics.settings
    bad = {
        "malformed": b'{"id": "m1", "text": ',
        "schema": json.dumps({"id": "v1", "text": "x", "schema": 42}).encode(),
        "empty": json.dumps({"id": "e1", "text": ""}).encode(),
        "huge": json.dumps({"id": "h1", "text": "x" * 1_000_000}).encode(),
        "utf8": b'{"id": "u1", "text": "caf\xe9"}',
    }
    worker = Worker(topics, tmp_path)
    try:
        worker.wait_assigned()
        send(topics.bootstrap, s.asr_in, [(name.encode(), value) for name, value in bad.items()])
        send(topics.bootstrap, s.asr_in, records(3, "asr", "after"))
        dead = read_until(topics.bootstrap, [s.deadletter], set(bad), timeout=90)
        by_key = {m.key.decode(): json.loads(m.value) for m in dead}
        assert "malformed JSON" in by_key["malformed"]["reason"]
        assert by_key["schema"]["error"] == "SchemaVersionError"
        assert "non-empty" in by_key["empty"]["reason"]
        assert "limit is" in by_key["huge"]["reason"] and by_key["huge"]["original_size"] > 1_000_000
        assert "UTF-8" in by_key["utf8"]["reason"]
        assert len(dead) == len(bad)
        for value in by_key.values():
            assert {"topic", "partition", "offset", "original_b64", "error"} <= value.keys()
            assert value["topic"] == s.asr_in
        good = read_until(topics.bootstrap, [s.asr_out], {"after-000000", "after-000002"}, timeout=60)
        assert {"after-000000", "after-000001", "after-000002"} <= set(key_counts(good))
        assert worker.proc.poll() is None
    finally:
        assert worker.stop() == 0, worker.log_tail()


def test_two_workers_split_partitions_and_hand_over(topics: Topics, tmp_path) -> None:
    s = topics.settings
    w1 = Worker(topics, tmp_path)
    w2 = Worker(topics, tmp_path)
    try:
        w1.wait_assigned()
        w2.wait_assigned()
        all_tps = {f"{t}:{p}" for t in (s.asr_in, s.htr_in) for p in range(4)}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            a1, a2 = w1.assigned(), w2.assigned()
            if a1 and a2 and not (a1 & a2) and (a1 | a2) >= all_tps:
                break
            time.sleep(0.5)
        assert a1 and a2 and not (a1 & a2), (a1, a2)
        first = records(400, "asr", "s1")
        send(topics.bootstrap, s.asr_in, first)
        read_until(topics.bootstrap, [s.asr_out], {k.decode() for k, _ in first}, timeout=60)
        assert w1.stop() == 0, w1.log_tail()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not w2.assigned() >= all_tps:
            time.sleep(0.5)
        assert w2.assigned() >= all_tps
        second = records(400, "asr", "s2")
        send(topics.bootstrap, s.asr_in, second)
        want = {k.decode() for k, _ in first + second}
        counts = key_counts(read_until(topics.bootstrap, [s.asr_out], want, timeout=90))
        assert want <= set(counts)
    finally:
        w1.stop()
        assert w2.stop() == 0, w2.log_tail()

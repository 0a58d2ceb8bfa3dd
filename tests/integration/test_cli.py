"""`emendo produce`, `emendo consume` and `emendo kafka` against the real broker."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emendo.streams.broker import free_port
from tests.integration.harness import Topics

pytestmark = pytest.mark.kafka


def emendo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([sys.executable, "-m", "emendo", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_produce_and_consume_files(kafka: str, tmp_path) -> None:
    topics = Topics(kafka)
    env = topics.env()
    jsonl = tmp_path / "recs.jsonl"
    jsonl.write_text("".join(json.dumps({"id": f"j{i}", "text": f"line {i}"}) + "\n" for i in range(5)))
    text = tmp_path / "notes.txt"
    text.write_text("first line\n\nsecond line\n")
    r = emendo("produce", f"t{topics.tag}.x", str(jsonl), env=env)
    assert r.returncode == 0, r.stderr
    assert "produced 5 records" in r.stderr
    r = emendo("produce", f"t{topics.tag}.x", str(text), "--source", "htr", env=env)
    assert r.returncode == 0, r.stderr
    r = emendo("consume", f"t{topics.tag}.x", "-n", "7", "--timeout", "20", env=env)
    assert r.returncode == 0, r.stderr
    values = [json.loads(line) for line in r.stdout.splitlines()]
    assert sorted(v["id"] for v in values) == sorted([f"j{i}" for i in range(5)] + ["notes-1", "notes-3"])
    assert {v["source"] for v in values if v["id"].startswith("notes")} == {"htr"}


def test_produce_missing_file_fails_clearly(kafka: str, tmp_path) -> None:
    r = emendo("produce", "whatever", str(tmp_path / "nope.jsonl"), env={"EMENDO_BROKER": kafka})
    assert r.returncode == 1
    assert "file not found" in r.stderr


def test_kafka_command_start_status_stop(tmp_path) -> None:
    port, cport = free_port(), free_port()
    args = ["--port", str(port), "--controller-port", str(cport), "--data-dir", str(tmp_path / "k")]
    try:
        r = emendo("kafka", "start", *args)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["running"] is True
        r = emendo("kafka", "status", *args)
        assert json.loads(r.stdout)["bootstrap"] == f"127.0.0.1:{port}"
    finally:
        r = emendo("kafka", "stop", *args)
    assert r.returncode == 0
    assert json.loads(r.stdout)["running"] is False

"""Worker processes and topic helpers for the integration tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emendo.settings import Settings
from emendo.streams.broker import free_port
from emendo.streams.client import Message, consume_until, ensure_topics, produce


@dataclass
class Topics:
    """A private set of topic names and consumer group for one test."""

    bootstrap: str
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def env(self) -> dict[str, str]:
        t = self.tag
        return {
            "EMENDO_BROKER": self.bootstrap, "EMENDO_APP_ID": f"emendo-test-{t}",
            "EMENDO_TOPIC_ASR_IN": f"t{t}.asr.in", "EMENDO_TOPIC_HTR_IN": f"t{t}.htr.in",
            "EMENDO_TOPIC_ASR_OUT": f"t{t}.asr.out", "EMENDO_TOPIC_HTR_OUT": f"t{t}.htr.out",
            "EMENDO_TOPIC_DEADLETTER": f"t{t}.dead", "EMENDO_PARTITIONS": "4",
        }

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env())

    def create(self) -> None:
        s = self.settings
        names = [s.asr_in, s.htr_in, s.asr_out, s.htr_out, s.deadletter]
        asyncio.run(ensure_topics(self.bootstrap, names, s.partitions))


class Worker:
    """``emendo serve`` in a child process."""

    def __init__(self, topics: Topics, log_dir: Path, correctors: str = "identity", **env: str) -> None:
        self.port = free_port()
        self.log_path = log_dir / f"worker-{self.port}.log"
        full_env = {**os.environ, **topics.env(), "EMENDO_CORRECTORS": correctors,
                    "EMENDO_WEB_PORT": str(self.port), "EMENDO_DATA_DIR": str(log_dir / f"w{self.port}"),
                    "EMENDO_BATCH_SIZE": "64", **env}
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "emendo", "serve"], env=full_env,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health/", timeout=2) as r:
                return dict(json.load(r))
        except OSError:
            return None

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def records_out(self) -> int:
        """Corrections this worker has published so far (from its Prometheus counters)."""
        try:
            text = self.metrics()
        except OSError:
            return 0
        return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
                   if line.startswith("emendo_records_out_total{"))

    def assigned(self) -> set[str]:
        h = self.health()
        return set(h["assigned"]) if h else set()

    def wait_assigned(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker died:\n{self.log_tail()}"
            if self.assigned():
                return
            time.sleep(0.3)
        raise AssertionError(f"worker got no partitions in {timeout}s:\n{self.log_tail()}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def log_tail(self, n: int = 3000) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-n:]


def records(n: int, source: str = "asr", prefix: str = "r") -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        rid = f"{prefix}-{i:06d}"
        out.append((rid.encode(), json.dumps({"id": rid, "text": f"record number {i}", "source": source}).encode()))
    return out


def send(bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes]]) -> None:
    asyncio.run(produce(bootstrap, topic, messages))


def read_until(bootstrap: str, topics: list[str], want_ids: set[str] | None, timeout: float) -> list[Message]:
    """All messages of ``topics`` once every wanted id has been seen and the topics went quiet
    (or ``timeout``); ``None`` reads what is there until quiet."""
    return asyncio.run(consume_until(bootstrap, topics, want_ids, timeout=timeout))

def key_counts(messages: list[Message]) -> Counter[str]:
    return Counter(m.key.decode() for m in messages if m.key)

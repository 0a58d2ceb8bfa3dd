"""``emendo demo``: the whole service on one machine, end to end.

Starts the local Kafka broker (unless ``EMENDO_BROKER`` points at one), starts a worker
process (correctors: ``--correctors``, else ``EMENDO_CORRECTORS``, else the rescorer followed
by the bundled denoising LM), produces the bundled sample of real ASR and HTR hypotheses, consumes the
corrections, prints a before/after WER/CER table, and stops what it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from contextlib import ExitStack
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

from emendo.errors import EmendoError
from emendo.eval.report import EvalItem, build_report
from emendo.settings import Settings
from emendo.streams.client import consume_until, produce, run

PRESET_BY_SOURCE = {"asr": "hyporadise", "htr": "ocr"}
DEMO_CORRECTORS = "rescorer,dlm"  # the KenLM rescorer, then the bundled denoising LM


def bundled_sample() -> Path:
    return Path(str(resources.files("emendo") / "data" / "samples" / "demo.jsonl"))


def run_demo(sample: Path | None = None, correctors: str | None = None, timeout: float = 180.0) -> int:
    sample = sample or bundled_sample()
    records = _load(sample)
    run_id = uuid.uuid4().hex[:8]
    overrides: dict[str, Any] = {"app_id": "emendo-demo"}
    if correctors or "EMENDO_CORRECTORS" not in os.environ:
        overrides["correctors"] = correctors or DEMO_CORRECTORS
    settings = Settings.from_env(**overrides)
    with ExitStack() as stack:
        if "EMENDO_BROKER" not in os.environ:
            settings = Settings.from_env(**overrides, broker=_start_local_broker(settings, stack))
        settings = replace(settings, web_port=_free_port())
        worker = _start_worker(settings, stack)
        _say(f"worker pid {worker.pid}: correctors {settings.correctors}, broker {settings.bootstrap_servers}")
        _wait_healthy(settings, worker, timeout)

        sent: dict[str, dict[str, Any]] = {}
        for source, topic in (("asr", settings.asr_in), ("htr", settings.htr_in)):
            batch = []
            for r in records:
                if r.get("source", "asr") == source:
                    r = {**r, "id": f"demo-{run_id}-{r['id']}"}
                    sent[r["id"]] = r
                    batch.append((r["id"].encode(), json.dumps(r).encode()))
            run(produce(settings.bootstrap_servers, topic, batch))
            _say(f"produced {len(batch)} {source} records to {topic}")

        t0 = time.monotonic()
        got = _collect(settings, set(sent), timeout)
        _say(f"received {len(got)} corrections in {time.monotonic() - t0:.1f}s")
        missing = set(sent) - set(got)
        if missing:
            raise EmendoError(f"{len(missing)} records got no correction within {timeout}s")
    _print_tables(sent, got)
    return 0


def _load(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise EmendoError(f"sample file not found: {path}")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not rows or any("reference" not in r for r in rows):
        raise EmendoError(f"{path}: every demo record needs a 'reference' field")
    return rows


def _start_local_broker(settings: Settings, stack: ExitStack) -> str:
    from emendo.streams.broker import LocalKafka

    broker = LocalKafka(data_dir=settings.data_path / "demo-kafka", port=_free_port(),
                        controller_port=_free_port())
    _say(f"starting local Kafka {broker.bootstrap} (first run downloads the jars from Maven Central)")
    t0 = time.monotonic()
    broker.start()
    stack.callback(broker.stop)
    _say(f"Kafka up in {time.monotonic() - t0:.1f}s")
    return broker.bootstrap


def _start_worker(settings: Settings, stack: ExitStack) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EMENDO_BROKER": settings.bootstrap_servers, "EMENDO_APP_ID": settings.app_id,
           "EMENDO_CORRECTORS": settings.correctors, "EMENDO_WEB_PORT": str(settings.web_port),
           "EMENDO_DATA_DIR": str(settings.data_path)}
    log_path = settings.data_path / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "emendo", "serve"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)

    def stop() -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()

    stack.callback(stop)
    return proc


def _wait_healthy(settings: Settings, worker: subprocess.Popen[bytes], timeout: float) -> None:
    url = f"http://{settings.web_host}:{settings.web_port}/health/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise EmendoError(f"worker exited with code {worker.returncode}; see "
                              f"{settings.data_path / 'demo-worker.log'}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if json.load(resp).get("assigned"):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise EmendoError(f"worker not healthy after {timeout}s")


def _collect(settings: Settings, ids: set[str], timeout: float) -> dict[str, dict[str, Any]]:
    msgs = run(consume_until(settings.bootstrap_servers, [settings.asr_out, settings.htr_out], ids,
                             timeout=timeout, idle=0.5))
    got: dict[str, dict[str, Any]] = {}
    for m in msgs:
        if m.key is not None and m.key.decode() in ids:
            value = json.loads(m.value or b"{}")
            got[value["id"]] = value
    return got


def _print_tables(sent: dict[str, dict[str, Any]], got: dict[str, dict[str, Any]]) -> None:
    for source, preset in PRESET_BY_SOURCE.items():
        items = [EvalItem(rid, r["reference"], r["text"], got[rid]["corrected"], source)
                 for rid, r in sent.items() if r.get("source", "asr") == source]
        if not items:
            continue
        report = build_report(items, preset, by_source=False)
        changed = sum(1 for it in items if it.corrected != it.hypothesis)
        print(f"\n## {source.upper()} ({len(items)} records, {changed} changed)\n")
        print(report.to_markdown())


def _free_port() -> int:
    from emendo.streams.broker import free_port

    return free_port()


def _say(text: str) -> None:
    print(f"[demo] {text}", file=sys.stderr, flush=True)

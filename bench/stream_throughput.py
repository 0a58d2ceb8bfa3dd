"""Throughput and end-to-end latency of one ``emendo serve`` worker through a real Kafka broker.

For each corrector pipeline (default: identity, rescorer):
  * throughput: N records are produced first, then one worker drains them; records/s is
    measured between the first and the last correction the consumer receives;
  * latency: with the worker idle and caught up, records are produced at a fixed offered
    rate; latency = time a consumer receives the correction - time the record was sent
    (both on this machine's clock), reported as p50/p90/p99.

Writes bench/results/stream_throughput.{json,md}. Starts its own local broker unless
--broker is given.

    python bench/stream_throughput.py --records 20000 --rate 200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.harness import Topics, Worker, records, send  # noqa: E402

from emendo.streams.broker import LocalKafka, free_port  # noqa: E402

SENTENCES = [
    "the cat sat on the mat and looked out of the window at the rain",
    "he said that the meeting would be held on tuesday at ten o'clock",
    "please book a flight from boston to denver leaving tomorrow morning",
    "the stock market fell sharply after the announcement of new tariffs",
]


def nbest_records(n: int, prefix: str) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        text = SENTENCES[i % len(SENTENCES)]
        words = text.split()
        alt = " ".join([*words[:-1], words[-1] + "s"])
        rid = f"{prefix}-{i:07d}"
        rec = {"id": rid, "text": text, "source": "asr", "nbest": [text, alt, " ".join(words[1:])],
               "nbest_scores": [-0.2, -0.5, -0.9]}
        out.append((rid.encode(), json.dumps(rec).encode()))
    return out


async def drain(bootstrap: str, topic: str, n: int, timeout: float) -> list[float]:
    """Receipt times (time.time) of n distinct corrections."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    seen: dict[bytes, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            now = time.time()
            for msgs in batch.values():
                for m in msgs:
                    seen.setdefault(m.key, now)
    finally:
        await consumer.stop()
    return sorted(seen.values())


def throughput(bootstrap: str, correctors: str, n: int, tmp: Path) -> dict[str, Any]:
    topics = Topics(bootstrap)
    s = topics.settings
    topics.create()
    send(bootstrap, s.asr_in, nbest_records(n, "tp"))
    worker = Worker(topics, tmp, correctors=correctors)
    try:
        times = asyncio.run(drain(bootstrap, s.asr_out, n, timeout=600))
    finally:
        worker.stop()
    if len(times) < n:
        raise SystemExit(f"only {len(times)} of {n} corrections arrived")
    span = times[-1] - times[0]
    return {"records": n, "seconds": round(span, 3), "records_per_s": round((n - 1) / span, 1)}


async def offered_load(
    bootstrap: str, in_topic: str, out_topic: str, rate: float, seconds: float
) -> list[float]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(out_topic, bootstrap_servers=bootstrap, auto_offset_reset="latest")
    await producer.start()
    await consumer.start()
    await consumer.seek_to_end()
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    n = int(rate * seconds)
    payloads = nbest_records(n, "lat")

    done_sending = asyncio.Event()

    async def receive() -> None:
        give_up: float | None = None
        while len(latencies) < n:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.time()
            for msgs in batch.values():
                for m in msgs:
                    if m.key in sent:
                        latencies.append(now - sent.pop(m.key))
            if done_sending.is_set():
                give_up = give_up or time.monotonic() + 30
                if time.monotonic() > give_up:
                    break

    receiver = asyncio.create_task(receive())
    t0 = time.monotonic()
    for i, (key, value) in enumerate(payloads):
        wait = t0 + i / rate - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        sent[key] = time.time()
        await producer.send(in_topic, value=value, key=key)
    await producer.flush()
    done_sending.set()
    await receiver
    await producer.stop()
    await consumer.stop()
    return latencies


def latency(bootstrap: str, correctors: str, rate: float, seconds: float, tmp: Path) -> dict[str, Any]:
    topics = Topics(bootstrap)
    s = topics.settings
    worker = Worker(topics, tmp, correctors=correctors)
    try:
        worker.wait_assigned()
        send(bootstrap, s.asr_in, records(50, "asr", "warm"))  # warm up the pipeline
        time.sleep(3)
        lat = asyncio.run(offered_load(bootstrap, s.asr_in, s.asr_out, rate, seconds))
    finally:
        worker.stop()
    ms = np.array(lat) * 1000
    pct = {f"p{q}_ms": round(float(np.percentile(ms, q)), 1) for q in (50, 90, 99)}
    return {"offered_rate": rate, "seconds": seconds, "received": len(lat), "sent": int(rate * seconds),
            **pct, "max_ms": round(float(ms.max()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--broker", help="use this broker instead of starting a local one")
    ap.add_argument("--correctors", default="identity,rescorer", help="comma list of pipelines to measure")
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=200.0, help="offered records/s for the latency run")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "tmp-stream"
    tmp.mkdir(exist_ok=True)
    broker = None
    bootstrap = args.broker
    if not bootstrap:
        broker = LocalKafka(data_dir=tmp / "kafka", port=free_port(), controller_port=free_port())
        broker.start()
        bootstrap = broker.bootstrap
    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "loadavg_at_start": os.getloadavg()},
        "settings": {"batch_size": 64, "batch_within_s": 0.05, "partitions": 4, "workers": 1},
        "runs": {},
    }
    try:
        for name in args.correctors.split(","):
            print(f"[{name}] throughput over {args.records} records ...", flush=True)
            tp = throughput(bootstrap, name, args.records, tmp)
            print(f"[{name}] {tp}", flush=True)
            print(f"[{name}] latency at {args.rate}/s for {args.seconds}s ...", flush=True)
            lat = latency(bootstrap, name, args.rate, args.seconds, tmp)
            print(f"[{name}] {lat}", flush=True)
            results["runs"][name] = {"throughput": tp, "latency": lat}
    finally:
        if broker:
            broker.stop()
    lines = ["| pipeline | records/s (1 worker) | offered rate | p50 ms | p90 ms | p99 ms | max ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["runs"].items():
        t, la = r["throughput"], r["latency"]
        lines.append(f"| {name} | {t['records_per_s']} | {la['offered_rate']}/s | {la['p50_ms']} | "
                     f"{la['p90_ms']} | {la['p99_ms']} | {la['max_ms']} |")
    md = "\n".join(lines) + "\n"
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    (args.out / "stream_throughput.json").write_text(json.dumps(results, indent=2))
    (args.out / "stream_throughput.md").write_text(
        f"# Stream throughput and latency\n\nOne `emendo serve` worker, local Kafka 4.4.0 on the same machine.\n"
        f"Machine: {results['machine']}\nSettings: {results['settings']}\n\n{md}")
    print(md)


if __name__ == "__main__":
    main()

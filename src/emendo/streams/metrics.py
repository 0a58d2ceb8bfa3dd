"""Prometheus metrics of the correction agents (served at ``/metrics`` on the Faust web port)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as PromCounter


class AgentMetrics:
    """Counters and latency histogram shared by the agents of one worker."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self._out: Counter[str] = Counter()
        self._changed: Counter[str] = Counter()
        self.records_in = PromCounter(
            "emendo_records_in", "Records read from input topics", ["topic"], registry=registry)
        self.records_out = PromCounter(
            "emendo_records_out", "Corrections written", ["topic"], registry=registry)
        self.records_changed = PromCounter(
            "emendo_records_changed", "Corrections whose text differs from the input", ["topic"],
            registry=registry)
        self.dead_lettered = PromCounter(
            "emendo_records_deadlettered", "Records sent to the dead-letter topic", ["topic", "error"],
            registry=registry)
        self.correction_rate = Gauge(
            "emendo_correction_rate", "Share of corrections (since start) whose text differs from the input",
            ["topic"], registry=registry)
        self.batch_seconds = Histogram(
            "emendo_batch_seconds", "Time to correct and publish one batch", ["topic"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry)
        self.batch_size = Histogram(
            "emendo_batch_records", "Records per batch", ["topic"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256), registry=registry)

    def count_output(self, topic: str, changed: bool) -> None:
        """Count one published correction and update the correction rate of its topic."""
        self.records_out.labels(topic).inc()
        self._out[topic] += 1
        if changed:
            self.records_changed.labels(topic).inc()
            self._changed[topic] += 1
        self.correction_rate.labels(topic).set(self._changed[topic] / self._out[topic])

"""The agent's logic in-process: decode, correct, route, dead-letter (no broker)."""

import asyncio
import base64
import json
from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from emendo.correctors import IdentityCorrector
from emendo.records import Correction
from emendo.settings import Settings
from emendo.streams.app import CorrectionAgent
from emendo.streams.handler import BatchHandler, InMessage
from emendo.streams.metrics import AgentMetrics

S = Settings(max_text_chars=1000)


def msg(value, offset=0, topic=S.asr_in, key=None):
    return InMessage(topic, 0, offset, key, value)


def rec(rid, text, **kw):
    return json.dumps({"id": rid, "text": text, **kw}).encode()


class Exploding:
    name, version = "explode", "1"

    def correct(self, batch):
        if any("explode" in h.text for h in batch):
            raise RuntimeError("model crashed")
        return [Correction(h, h.text.replace("sad", "sat")) for h in batch]


def test_every_message_gets_exactly_one_output():
    h = BatchHandler(S, Exploding())
    batch = [
        msg(rec("a", "the cat sad"), 0),
        msg(b"{oops", 1, key=b"k1"),
        msg(rec("b", "x", schema=7), 2),
        msg(rec("c", "   "), 3),
        msg(rec("d", "y" * 2000), 4),
        msg(b"\xff\xfe\x00", 5),
        msg(None, 6),
        msg(rec("e", "please explode"), 7),
        msg(rec("f", "an htr line", source="htr"), 8),
        msg(rec("g", "fine htr line", source="htr"), 9, topic=S.htr_in),
    ]
    out = h.handle(batch)
    assert len(out) == len(batch)
    assert [o.topic for o in out] == [S.asr_out] + [S.deadletter] * 8 + [S.htr_out]
    first = json.loads(out[0].value)
    assert out[0].key == b"a" and first["corrected"] == "the cat sat" and out[0].changed
    reasons = {o.dead_letter.offset: (o.dead_letter.error, o.dead_letter.reason) for o in out[1:-1]}
    assert reasons[1][0] == "RecordError" and "malformed JSON" in reasons[1][1]
    assert reasons[2][0] == "SchemaVersionError"
    assert "non-empty" in reasons[3][1]
    assert "limit is 1000" in reasons[4][1]
    assert "UTF-8" in reasons[5][1]
    assert "tombstone" in reasons[6][1]
    assert reasons[7] == ("RuntimeError", "corrector failed: model crashed")
    assert "arrived on the asr topic" in reasons[8][1]
    dl = json.loads(out[1].value)
    assert base64.b64decode(dl["original_b64"]) == b"{oops"
    assert (dl["topic"], dl["partition"], dl["offset"], dl["key"]) == (S.asr_in, 0, 1, "k1")
    assert out[7].key == b"e"  # dead letters keyed by id when the record could be read


def test_correction_agent_publishes_and_counts():
    sent = []

    async def send(topic, key, value):
        fut = asyncio.get_running_loop().create_future()
        sent.append((topic, key, value))
        fut.set_result(None)
        return fut

    registry = CollectorRegistry()
    agent = CorrectionAgent(BatchHandler(S, IdentityCorrector()), AgentMetrics(registry), send)
    events = [SimpleNamespace(message=SimpleNamespace(topic=S.asr_in, partition=1, offset=i, key=None,
                                                      value=rec(f"id{i}", f"text {i}")))
              for i in range(5)]
    events.append(SimpleNamespace(message=SimpleNamespace(topic=S.asr_in, partition=1, offset=5, key=None,
                                                          value=b"bad")))
    results = asyncio.run(agent.process(events))
    assert len(results) == len(sent) == 6
    assert [k for _, k, _ in sent[:5]] == [f"id{i}".encode() for i in range(5)]
    get = registry.get_sample_value
    assert get("emendo_records_in_total", {"topic": S.asr_in}) == 6
    assert get("emendo_records_out_total", {"topic": S.asr_out}) == 5
    assert get("emendo_records_deadlettered_total", {"topic": S.asr_in, "error": "RecordError"}) == 1
    assert get("emendo_batch_seconds_count", {"topic": S.asr_in}) == 1
    assert get("emendo_correction_rate", {"topic": S.asr_out}) == 0.0

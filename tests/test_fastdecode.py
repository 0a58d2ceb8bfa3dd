"""The static-cache greedy decoder (emendo.models.fastdecode) against HF generate (needs the ``train`` extra).

CUDA graphs need a GPU (bench/dlm_gpu.py checks them there); these tests run the same step on CPU.
"""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from emendo.models.config import ModelConfig  # noqa: E402
from emendo.models.fastdecode import StaticGreedy  # noqa: E402


@pytest.fixture(scope="module")
def model() -> Any:
    """A tiny random T5 (weights scaled up so greedy outputs vary) whose end-of-sequence id is a token it
    emits at different steps in different rows, so rows stop at different steps."""
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    kw = ModelConfig(d_model=64, d_ff=128, num_layers=2, num_heads=4, d_kv=16, dropout=0.0, vocab_size=64).t5_kwargs()
    m = T5ForConditionalGeneration(T5Config(**kw, initializer_factor=4.0)).eval()
    ids, mask = _inputs(8, 10, seed=1)
    with torch.no_grad():
        rows = m.generate(input_ids=ids, attention_mask=mask, max_new_tokens=16, min_new_tokens=16,
                          do_sample=False, num_beams=1)[:, 1:].tolist()

    def stops(t: int) -> set[int]:  # the steps at which rows would end if t were </s>
        return {r.index(t) if t in r else -1 for r in rows}

    eos = max(sorted({t for r in rows for t in r} - {0}), key=lambda t: len(stops(t)))
    assert len(stops(eos)) >= 3
    m.config.eos_token_id = m.generation_config.eos_token_id = eos
    return m


def _inputs(rows: int, width: int, seed: int) -> tuple[Any, Any]:
    """Random source ids; rows from the middle on are padded (shorter inputs)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 64, (rows, width), generator=g)
    mask = torch.ones_like(ids)
    mask[rows // 2:, width - 3:] = 0
    return ids * mask, mask


def _trim(row: list[int], eos: int) -> list[int]:
    return row[: row.index(eos) + 1] if eos in row else row


def _hf(m: Any, ids: Any, mask: Any, new: int) -> list[list[int]]:
    with torch.no_grad():
        out = m.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new, do_sample=False, num_beams=1)
    return [_trim(r, m.config.eos_token_id) for r in out[:, 1:].tolist()]


def test_same_tokens_as_hf_generate_with_padding_and_early_stop(model: Any) -> None:
    eos = model.config.eos_token_id
    ids, mask = _inputs(8, 10, seed=1)
    want = _hf(model, ids, mask, 24)
    assert len({len(r) for r in want if r[-1] == eos}) >= 2  # rows stop at different steps
    dec = StaticGreedy(model, batch=10, src_len=14, max_new=24)  # larger than the batch: padded
    got = dec.generate(ids, mask)
    assert got.shape == (8, 24)
    assert [_trim(r, eos) for r in got.tolist()] == want
    for row in got.tolist():  # padding after </s>
        if eos in row:
            assert set(row[row.index(eos) + 1:]) == {0}
    # the decoder is reusable: another batch, of another size, gives its own HF outputs
    ids2, mask2 = _inputs(5, 12, seed=2)
    assert [_trim(r, eos) for r in dec.generate(ids2, mask2).tolist()] == _hf(model, ids2, mask2, 24)
    # forced length runs every step; the caller's model is left in its dtype
    assert dec.generate(ids, mask, forced=True).shape == (8, 24)
    assert next(model.parameters()).dtype == torch.float32


def test_bf16_and_shape_errors(model: Any) -> None:
    ids, mask = _inputs(4, 10, seed=3)
    dec = StaticGreedy(model, batch=4, src_len=10, max_new=16, dtype=torch.bfloat16)
    assert dec.graph is None  # CPU: no CUDA graph
    out = dec.generate(ids, mask, forced=True)
    assert out.shape == (4, 16) and out.dtype == torch.long
    with pytest.raises(ValueError, match="exceeds"):
        StaticGreedy(model, batch=2, src_len=10, max_new=4).generate(ids, mask)

"""Greedy decoding of the denoising LM on a GPU with a static KV cache and CUDA graphs.

HF ``generate`` spends most of a small model's decoding time in Python and in kernel
launches: each step grows the KV cache with ``torch.cat`` and launches a few hundred small
kernels one by one. :class:`StaticGreedy` does the same greedy search with

* the encoder run once per batch, cross-attention keys/values computed once
  (the ONNX export's :class:`EncoderGraph`);
* a decoder self-attention cache allocated once for the whole output length, written in
  place at the step's position, with the relative position bias and the causal mask of
  every step precomputed as one table (a step reads its row);
* on CUDA, one decoder step captured as a CUDA graph and replayed, so a step is one launch
  from Python: the step reads the token and the position from device buffers and writes
  back the next ones, so replays need no host work in between.

The outputs are those of greedy search: in fp32 the same tokens as HF ``generate``
(tests/test_fastdecode.py); a row that has emitted ``</s>`` writes padding afterwards.
It is a training-side tool (torch): the serving path stays ONNX Runtime.

    dec = StaticGreedy(model, batch=1024, src_len=48, max_new=40, dtype=torch.bfloat16)
    tokens = dec.generate(input_ids, attention_mask)      # (batch, max_new) on the device
"""

from __future__ import annotations

import copy
from typing import Any

from emendo.models.export import _modules, _require_torch, _scales_tied_output

MASKED = -1e9  # finite in fp32, fp16 and bf16; exp() of it is 0 next to any real score


class StaticGreedy:
    """Greedy search for one batch shape ``(batch, src_len)`` and ``max_new`` output tokens.

    ``graphs`` captures the decoder step as a CUDA graph (CUDA only; default: on CUDA).
    ``dtype`` is the compute dtype (the model is cast to it; softmax runs in fp32).
    Inputs shorter than ``src_len`` or batches smaller than ``batch`` are padded.
    """

    def __init__(self, model: Any, *, batch: int, src_len: int, max_new: int, dtype: Any = None,
                 graphs: bool | None = None) -> None:
        torch = _require_torch()
        self.torch = torch
        params = next(model.parameters())
        self.device = params.device
        self.dtype = dtype or params.dtype
        model = copy.deepcopy(model).to(self.dtype).eval()  # the caller's model stays as it is
        encoder_cls, decoder_cls = _modules(torch)
        self.encoder = encoder_cls(model).eval()
        self.decoder = decoder_cls(model, _scales_tied_output(model)).eval()
        cfg = model.config
        self.batch, self.src_len, self.max_new = batch, src_len, max_new
        self.start, self.eos, self.pad = cfg.decoder_start_token_id, cfg.eos_token_id, cfg.pad_token_id
        n_layers, heads, d_kv = len(self.decoder.blocks), cfg.num_heads, cfg.d_kv
        dev, dt = self.device, self.dtype

        def zeros(*shape: int) -> Any:
            return torch.zeros(*shape, device=dev, dtype=dt)

        # static state: what a step reads and writes
        self.k_self = [zeros(batch, heads, max_new, d_kv) for _ in range(n_layers)]
        self.v_self = [zeros(batch, heads, max_new, d_kv) for _ in range(n_layers)]
        self.k_cross = [zeros(batch, heads, src_len, d_kv) for _ in range(n_layers)]
        self.v_cross = [zeros(batch, heads, src_len, d_kv) for _ in range(n_layers)]
        self.cross_bias = zeros(batch, 1, 1, src_len)
        self.token = torch.full((batch, 1), self.start, device=dev, dtype=torch.long)
        self.pos = torch.zeros(1, device=dev, dtype=torch.long)
        self.done = torch.zeros(batch, 1, device=dev, dtype=torch.bool)
        self.out = torch.full((batch, max_new), self.pad, device=dev, dtype=torch.long)
        with torch.no_grad():  # (1, H, max_new, max_new): step t's row = bias to keys 0..max_new-1
            steps = torch.arange(max_new, device=dev)
            attn0 = self.decoder.blocks[0].layer[0].SelfAttention
            table = self.decoder.position_bias(attn0, steps, steps, False).float()
            table = table.masked_fill((steps[None, :] > steps[:, None])[None, None], MASKED)
            self.bias_table = table.to(dt)
        self.graph = None
        use_graphs = self.device.type == "cuda" if graphs is None else graphs
        if use_graphs:
            self._capture()

    # ---- one decoder step on the static buffers
    def _step(self) -> None:
        torch, dec = self.torch, self.decoder
        x = dec.embed(self.token)  # (B, 1, d)
        bias = self.bias_table.index_select(2, self.pos)  # (1, H, 1, T)
        for i, block in enumerate(dec.blocks):
            sa = block.layer[0]
            att = sa.SelfAttention
            h = dec.norm(sa.layer_norm, x)
            self.k_self[i].index_copy_(2, self.pos, dec.heads(att.k(h)))
            self.v_self[i].index_copy_(2, self.pos, dec.heads(att.v(h)))
            x = x + dec.attend(dec.heads(att.q(h)), self.k_self[i], self.v_self[i], bias, att.o)
            ca = block.layer[1]
            h = dec.norm(ca.layer_norm, x)
            att = ca.EncDecAttention
            x = x + dec.attend(dec.heads(att.q(h)), self.k_cross[i], self.v_cross[i], self.cross_bias, att.o)
            x = dec.ffn(block.layer[2], x)
        logits = dec.lm_head(dec.norm(dec.final_ln, x) * dec.scale)  # (B, 1, V)
        nxt = logits.argmax(-1)
        nxt = torch.where(self.done, torch.full_like(nxt, self.pad), nxt)
        self.out.index_copy_(1, self.pos, nxt)
        self.done |= nxt == self.eos
        self.token.copy_(nxt)
        self.pos += 1

    def _reset(self) -> None:
        self.token.fill_(self.start)
        self.pos.zero_()
        self.done.zero_()
        self.out.fill_(self.pad)

    def _capture(self) -> None:
        torch = self.torch
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.no_grad(), torch.cuda.stream(stream):
            for _ in range(3):  # warm-up outside the graph (cuBLAS handles, allocator)
                self._step()
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(self.graph):
            self._step()
        self._reset()

    # ---- a batch
    def _load(self, input_ids: Any, attention_mask: Any) -> None:
        torch = self.torch
        b, s = input_ids.shape
        if b > self.batch or s > self.src_len:
            raise ValueError(f"batch {tuple(input_ids.shape)} exceeds the decoder's shape "
                             f"({self.batch}, {self.src_len})")
        ids = torch.full((self.batch, self.src_len), self.pad, device=self.device, dtype=torch.long)
        mask = torch.zeros((self.batch, self.src_len), device=self.device, dtype=torch.long)
        ids[:b, :s] = input_ids
        mask[:b, :s] = attention_mask
        mask[b:, 0] = 1  # padding rows attend to one position (their output is dropped)
        low = self.dtype != torch.float32  # the encoder graph adds an fp32 mask: autocast keeps matmuls in dtype
        with torch.autocast(device_type=self.device.type, dtype=self.dtype, enabled=low):
            outs = self.encoder(ids, mask)
        for i in range(len(self.k_cross)):
            self.k_cross[i].copy_(outs[1 + 2 * i])
            self.v_cross[i].copy_(outs[2 + 2 * i])
        self.cross_bias.copy_(((1 - mask[:, None, None, :]) * MASKED).to(self.dtype))
        self._reset()

    def generate(self, input_ids: Any, attention_mask: Any, *, forced: bool = False, check_every: int = 8) -> Any:
        """Greedy tokens ``(rows, max_new)`` for the batch, ``pad`` after each row's ``</s>``.

        ``forced`` runs all ``max_new`` steps (for timing); otherwise decoding stops once
        every row has ended, checked every ``check_every`` steps (one host sync each).
        """
        torch = self.torch
        rows = input_ids.shape[0]
        with torch.no_grad():
            self._load(input_ids.to(self.device), attention_mask.to(self.device))
            if rows < self.batch:
                self.done[rows:] = True
            for t in range(self.max_new):
                if self.graph is not None:
                    self.graph.replay()
                else:
                    self._step()
                if not forced and (t + 1) % check_every == 0 and bool(self.done.all()):
                    break
        return self.out[:rows]

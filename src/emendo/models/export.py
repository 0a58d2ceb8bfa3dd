"""Export a trained denoising LM (HF ``T5ForConditionalGeneration``) to ONNX, with parity checks.

Needs the ``train`` extra (torch, transformers, tokenizers, onnx); serving
(:mod:`emendo.correctors.dlm`) needs only onnxruntime and tokenizers.

The export is hand-written (no optimum): the T5 forward pass is re-expressed with the
checkpoint's own modules in two small ``torch.nn.Module`` wrappers and traced with
``torch.onnx.export``:

* ``encoder.onnx``: ``input_ids, attention_mask -> encoder_hidden_states, cross_k_<i>,
  cross_v_<i>``. The cross-attention keys/values of every decoder layer are projected
  here, once per input, so there is no separate "decoder-init" graph.
* ``decoder.onnx``: ``input_ids (B, T), encoder_attention_mask, past_k_<i>, past_v_<i>
  (B, H, P, d_kv), cross_k_<i>, cross_v_<i> -> logits (B, T, V), present_k_<i>,
  present_v_<i> (B, H, P+T, d_kv)``. ``P = 0`` is the first step; ``T > 1`` with ``P = 0``
  scores a whole target teacher-forced (a causal mask is built inside the graph).

Dynamic axes: batch, source length, target length and past length. Then int8 dynamic
quantisation (``onnxruntime.quantization.quantize_dynamic``), per-channel and per-tensor
both tried and the one whose greedy outputs agree best with PyTorch kept.

Parity (against the HF PyTorch model on a fixed test set): the fp32 graphs must match
teacher-forced and step-by-step logits within ``fp32_atol`` and produce the same greedy
token sequences as ``generate``; the int8 graphs must produce the same greedy sequence
for at least ``int8_min_agreement`` of the inputs. A failure raises :class:`ParityError`
and writes ``parity_failed.json`` instead of ``model_card.json`` (so the export cannot be
served by mistake).

CLI: ``python -m emendo.models.export CHECKPOINT OUT [--no-quantize]``.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import logging
import math
import shutil
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emendo.correctors.dlm import (
    DECODER_FILES,
    ENCODER_FILES,
    MODEL_CARD,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    OnnxSeq2Seq,
)
from emendo.errors import ConfigError, EmendoError, MissingExtraError
from emendo.models.inputs import InputOptions, format_input

COPIED_FILES = ("tokenizer.json", "train_config.json", "metrics.json")
PARITY_FILE = "parity.jsonl"
MAX_PARITY_INPUTS = 64
OPSET = 17

#: Inputs of the parity check: (source, lang, text). Clean and noisy, English and Russian.
PARITY_TEXTS: tuple[tuple[str, str, str], ...] = (
    ("asr", "en", "the cat sat on the mat"),
    ("asr", "en", "i scream for ice cream every sunday"),
    ("asr", "en", "their going to the park tomorrow morning"),
    ("asr", "en", "please recognise speech with the new model"),
    ("asr", "en", "the quick brown fox jumps over the lazy dog"),
    ("asr", "en", "she sells sea shells by the sea shore"),
    ("asr", "en", "we meet at nine thirty in the main hall"),
    ("asr", "en", "what is the whether like in london to day"),
    ("asr", "en", "a"),
    ("asr", "en", "turn left at the second traffic light then go straight on for two miles"),
    ("htr", "en", "Dear Sir, I write to you concerning the letter of May 3rd."),
    ("htr", "en", "Tbe weather was fine and tbe children played outside."),
    ("htr", "en", "It is a truth universally acknowledged, that a single man"),
    ("htr", "en", "Mr. Darcy walked into the room and bowed."),
    ("htr", "en", "The results in Table 2 show a 15% improvement."),
    ("htr", "en", "Somewhere over the rainbow, bluebirds fly."),
    ("htr", "ru", "Мама мыла раму."),
    ("htr", "ru", "Сегодня хорошая погода, и мы пойдём гулять."),
    ("htr", "ru", "Я пишу тебе письмо из Москвы"),
    ("htr", "ru", "Учитель проверил тетради учеников."),
    ("asr", "ru", "привет как дела"),
    ("asr", "ru", "поезд отправляется в восемь часов"),
    ("asr", "ru", "мы живём в большом городе"),
    ("asr", "ru", "он сказал что придёт завтра"),
    ("asr", "en", "one two three four five six seven eight nine ten"),
    ("asr", "en", "call me at five five five one two three four"),
    ("htr", "en", "Thank you for your kind invitation; I shall be delighted to attend."),
    ("htr", "en", "Chapter 1. The Beginning"),
    ("asr", "en", "the meeting has been moved to thursday afternoon"),
    ("asr", "en", "can you here me now"),
    ("htr", "ru", "Глава первая. Начало."),
    ("htr", "ru", "Вчера шёл дождь, а сегодня светит солнце."),
)


class ParityError(EmendoError):
    """The exported ONNX graphs do not reproduce the PyTorch model within the declared tolerance."""

    def __init__(self, message: str, report: ExportReport | None = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class ExportReport:
    """What :func:`export_onnx` did and measured."""

    out_dir: str
    version: str
    files: dict[str, int] = field(default_factory=dict)  # name -> bytes
    export_seconds: float = 0.0
    quantize_seconds: float = 0.0
    parity_seconds: float = 0.0
    parity: dict[str, Any] = field(default_factory=dict)
    passed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- torch wrappers


def _require_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(exc.name or "torch", "train") from exc
    return torch


def _modules(torch: Any) -> tuple[type, type]:
    """Build the wrapper classes (torch is imported lazily, so this module imports without it)."""
    nn = torch.nn
    neg = torch.finfo(torch.float32).min

    def relative_bucket(rel: Any, bidirectional: bool, num_buckets: int, max_distance: int) -> Any:
        # as transformers' T5Attention._relative_position_bucket
        buckets = torch.zeros_like(rel)
        if bidirectional:
            num_buckets //= 2
            buckets = buckets + (rel > 0).to(torch.long) * num_buckets
            rel = torch.abs(rel)
        else:
            rel = -torch.min(rel, torch.zeros_like(rel))
        max_exact = num_buckets // 2
        is_small = rel < max_exact
        large = max_exact + (
            torch.log(rel.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
        ).to(torch.long)
        large = torch.min(large, torch.full_like(large, num_buckets - 1))
        return buckets + torch.where(is_small, rel, large)

    def rms_norm(ln: Any, x: Any) -> Any:
        var = x.pow(2).mean(-1, keepdim=True)
        return ln.weight * (x * torch.rsqrt(var + ln.variance_epsilon))

    class _Common(nn.Module):  # type: ignore[misc,name-defined]
        norm = staticmethod(rms_norm)  # for emendo.models.fastdecode's static-cache decoder

        def __init__(self, model: Any, embed: Any) -> None:
            super().__init__()
            cfg = model.config
            self.n_heads = cfg.num_heads
            self.d_kv = cfg.d_kv
            self.num_buckets = cfg.relative_attention_num_buckets
            self.max_distance = cfg.relative_attention_max_distance
            self.embed = embed

        def heads(self, x: Any) -> Any:  # (B, L, H*d) -> (B, H, L, d)
            return x.view(x.shape[0], -1, self.n_heads, self.d_kv).transpose(1, 2)

        def attend(self, q: Any, k: Any, v: Any, bias: Any, o: Any) -> Any:
            scores = torch.matmul(q, k.transpose(3, 2)) + bias  # T5: no 1/sqrt(d) scaling
            weights = torch.softmax(scores.float(), dim=-1).type_as(scores)
            out = torch.matmul(weights, v).transpose(1, 2)
            return o(out.reshape(out.shape[0], -1, self.n_heads * self.d_kv))

        def ffn(self, layer: Any, x: Any) -> Any:
            h = rms_norm(layer.layer_norm, x)
            d = layer.DenseReluDense
            h = d.act(d.wi_0(h)) * d.wi_1(h) if hasattr(d, "wi_0") else d.act(d.wi(h))
            return x + d.wo(h)

        def position_bias(self, attn: Any, q_pos: Any, k_pos: Any, bidirectional: bool) -> Any:
            rel = k_pos[None, :] - q_pos[:, None]
            buckets = relative_bucket(rel, bidirectional, self.num_buckets, self.max_distance)
            return attn.relative_attention_bias(buckets).permute(2, 0, 1).unsqueeze(0)  # (1, H, Q, K)

    class EncoderGraph(_Common):
        def __init__(self, model: Any) -> None:
            super().__init__(model, model.encoder.embed_tokens)
            self.blocks = model.encoder.block
            self.final_ln = model.encoder.final_layer_norm
            self.cross = nn.ModuleList([b.layer[1].EncDecAttention for b in model.decoder.block])

        def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, ...]:
            x = self.embed(input_ids)
            pos = torch.arange(input_ids.shape[1], device=input_ids.device)
            bias = self.position_bias(self.blocks[0].layer[0].SelfAttention, pos, pos, True)
            bias = bias + (1.0 - attention_mask[:, None, None, :].float()) * neg
            for block in self.blocks:
                sa = block.layer[0]
                h = rms_norm(sa.layer_norm, x)
                att = sa.SelfAttention
                x = x + self.attend(self.heads(att.q(h)), self.heads(att.k(h)), self.heads(att.v(h)), bias, att.o)
                x = self.ffn(block.layer[-1], x)
            x = rms_norm(self.final_ln, x)
            outs = [x]
            for ca in self.cross:
                outs += [self.heads(ca.k(x)), self.heads(ca.v(x))]
            return tuple(outs)

    class DecoderGraph(_Common):
        def __init__(self, model: Any, scale_output: bool) -> None:
            super().__init__(model, model.decoder.embed_tokens)
            self.blocks = model.decoder.block
            self.final_ln = model.decoder.final_layer_norm
            self.lm_head = model.lm_head
            self.scale = model.config.d_model ** -0.5 if scale_output else 1.0

        def forward(self, input_ids: Any, encoder_attention_mask: Any, *kv: Any) -> tuple[Any, ...]:
            n = len(self.blocks)
            past, cross = kv[: 2 * n], kv[2 * n:]
            x = self.embed(input_ids)
            p = past[0].shape[2]
            q_pos = torch.arange(input_ids.shape[1], device=input_ids.device) + p
            k_pos = torch.arange(input_ids.shape[1] + p, device=input_ids.device)
            bias = self.position_bias(self.blocks[0].layer[0].SelfAttention, q_pos, k_pos, False)
            bias = bias + (k_pos[None, :] > q_pos[:, None]).float()[None, None] * neg
            cross_bias = (1.0 - encoder_attention_mask[:, None, None, :].float()) * neg
            presents = []
            for i, block in enumerate(self.blocks):
                sa = block.layer[0]
                h = rms_norm(sa.layer_norm, x)
                att = sa.SelfAttention
                k = torch.cat([past[2 * i], self.heads(att.k(h))], dim=2)
                v = torch.cat([past[2 * i + 1], self.heads(att.v(h))], dim=2)
                presents += [k, v]
                x = x + self.attend(self.heads(att.q(h)), k, v, bias, att.o)
                ca = block.layer[1]
                h = rms_norm(ca.layer_norm, x)
                att = ca.EncDecAttention
                x = x + self.attend(self.heads(att.q(h)), cross[2 * i], cross[2 * i + 1], cross_bias, att.o)
                x = self.ffn(block.layer[2], x)
            x = rms_norm(self.final_ln, x) * self.scale
            return (self.lm_head(x), *presents)

    return EncoderGraph, DecoderGraph


def _scales_tied_output(model: Any) -> bool:
    """Whether the decoder output is rescaled by ``d_model ** -0.5`` before the LM head.

    transformers 5 says so in ``config.scale_decoder_outputs``; 4.x does it when the
    head is tied to the embeddings.
    """
    cfg = model.config
    flag = getattr(cfg, "scale_decoder_outputs", None)
    return bool(cfg.tie_word_embeddings if flag is None else flag)


# ---------------------------------------------------------------- export


def _onnx_export(torch: Any, module: Any, args: tuple[Any, ...], path: Path, input_names: list[str],
                 output_names: list[str], dynamic_axes: dict[str, dict[int, str]]) -> None:
    kwargs: dict[str, Any] = dict(input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes,
                                  opset_version=OPSET, do_constant_folding=True)
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kwargs["dynamo"] = False  # the TorchScript exporter: dynamic_axes, no 0/1 specialisation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), **kwargs)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file (read in 1 MiB blocks); model cards record it per file."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_graphs(torch: Any, model: Any, out: Path) -> dict[str, Any]:
    enc_cls, dec_cls = _modules(torch)
    scale = _scales_tied_output(model)
    enc, dec = enc_cls(model).eval(), dec_cls(model, scale).eval()
    cfg = model.config
    n = cfg.num_decoder_layers
    b, s, p = 2, 7, 3
    ids = torch.randint(3, cfg.vocab_size, (b, s))
    mask = torch.ones(b, s, dtype=torch.long)
    mask[1, 5:] = 0
    cross_names = [f"cross_{kv}_{i}" for i in range(n) for kv in "kv"]
    past_names = [f"past_{kv}_{i}" for i in range(n) for kv in "kv"]
    present_names = [f"present_{kv}_{i}" for i in range(n) for kv in "kv"]
    with torch.no_grad():
        enc_out = enc(ids, mask)
        dyn: dict[str, dict[int, str]] = {"input_ids": {0: "batch", 1: "src_len"},
                                          "attention_mask": {0: "batch", 1: "src_len"},
                                          "encoder_hidden_states": {0: "batch", 1: "src_len"}}
        dyn.update({name: {0: "batch", 2: "src_len"} for name in cross_names})
        _onnx_export(torch, enc, (ids, mask), out / ENCODER_FILES["fp32"], ["input_ids", "attention_mask"],
                     ["encoder_hidden_states", *cross_names], dyn)
        past = [torch.randn(b, cfg.num_heads, p, cfg.d_kv) for _ in range(2 * n)]
        dec_ids = torch.randint(3, cfg.vocab_size, (b, 2))
        dyn = {"input_ids": {0: "batch", 1: "tgt_len"}, "encoder_attention_mask": {0: "batch", 1: "src_len"},
               "logits": {0: "batch", 1: "tgt_len"}}
        dyn.update({name: {0: "batch", 2: "past_len"} for name in past_names})
        dyn.update({name: {0: "batch", 2: "src_len"} for name in cross_names})
        dyn.update({name: {0: "batch", 2: "total_len"} for name in present_names})
        _onnx_export(torch, dec, (dec_ids, mask, *past, *enc_out[1:]), out / DECODER_FILES["fp32"],
                     ["input_ids", "encoder_attention_mask", *past_names, *cross_names],
                     ["logits", *present_names], dyn)
    return {"opset": OPSET, "torch": torch.__version__, "scaled_tied_output": scale,
            "cross_kv_in_encoder": True, "decoder_init_graph": False}


def write_log_softmax_graph(path: str | Path) -> Path:
    """Write the one-node graph serving runs the decoder's logits through
    (:data:`emendo.correctors.dlm.LOG_SOFTMAX_GRAPH`): ``LogSoftmax(axis=-1)`` over a float
    (batch, length, vocab) tensor, opset 17. Deterministic bytes, so the shipped file can be
    checked against this function."""
    import onnx
    from onnx import TensorProto, helper

    dims = ["batch", "length", "vocab"]
    graph = helper.make_graph(
        [helper.make_node("LogSoftmax", ["logits"], ["log_probs"], axis=-1)], "log_softmax",
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, dims)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="emendo")
    model.ir_version = 8
    onnx.checker.check_model(model)
    out = Path(path)
    out.write_bytes(model.SerializeToString())
    return out


def _quantize(src: Path, dst: Path, per_channel: bool) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing" is logged on the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel,
                             op_types_to_quantize=["MatMul", "Gather"])
    finally:
        root.setLevel(level)


# ---------------------------------------------------------------- parity


@dataclass
class _ParityInputs:
    ids: np.ndarray
    mask: np.ndarray


def _parity_inputs(tokenizer: Any, texts: Sequence[tuple[str, str, str]], max_tokens: int,
                   options: InputOptions) -> _ParityInputs:
    rows = [tokenizer.encode(format_input(t, None, src, lang, options), add_special_tokens=False).ids[:max_tokens]
            for src, lang, t in texts]
    s = max(len(r) for r in rows)
    ids = np.zeros((len(rows), s), dtype=np.int64)
    mask = np.zeros((len(rows), s), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    mask[:, 0] = 1
    return _ParityInputs(ids, mask)


def _trim(seq: Sequence[int], eos: int) -> list[int]:
    out = []
    for t in seq:
        out.append(int(t))
        if t == eos:
            break
    return out


def _torch_greedy(torch: Any, model: Any, inp: _ParityInputs, max_new: int) -> list[list[int]]:
    cfg = model.config
    with torch.no_grad():
        gen = model.generate(input_ids=torch.from_numpy(inp.ids), attention_mask=torch.from_numpy(inp.mask),
                             max_new_tokens=max_new, min_new_tokens=0, num_beams=1, do_sample=False,
                             eos_token_id=cfg.eos_token_id, pad_token_id=cfg.pad_token_id,
                             decoder_start_token_id=cfg.decoder_start_token_id)
    return [_trim(row[1:].tolist(), cfg.eos_token_id) for row in gen]


def _onnx_greedy(m: OnnxSeq2Seq, inp: _ParityInputs, max_new: int) -> list[list[int]]:
    cross = m.encode(inp.ids, inp.mask)
    return [tok for tok, _ in m.greedy(inp.mask, cross, [max_new] * len(inp.ids))]


def _logit_diffs(torch: Any, model: Any, m: OnnxSeq2Seq, inp: _ParityInputs,
                 targets: Sequence[Sequence[int]]) -> tuple[float, float]:
    """Max |logit difference| teacher-forced (one decoder call) and step by step (KV cache)."""
    cfg = model.config
    b = len(targets)
    t = max(len(x) for x in targets)
    dec = np.full((b, t), cfg.pad_token_id, dtype=np.int64)
    valid = np.zeros((b, t), dtype=bool)
    for i, tgt in enumerate(targets):
        dec[i, 0] = cfg.decoder_start_token_id
        dec[i, 1: len(tgt)] = list(tgt)[: len(tgt) - 1]
        valid[i, : len(tgt)] = True
    with torch.no_grad():
        ref = model(input_ids=torch.from_numpy(inp.ids), attention_mask=torch.from_numpy(inp.mask),
                    decoder_input_ids=torch.from_numpy(dec)).logits.numpy()
    cross = m.encode(inp.ids, inp.mask)
    full, _ = m.step(dec, inp.mask, m.empty_past(b), cross)
    forced = float(np.abs(full - ref)[valid].max())
    past = m.empty_past(b)
    stepwise = 0.0
    for j in range(t):
        logits, past = m.step(dec[:, j: j + 1], inp.mask, past, cross)
        diff = np.abs(logits[:, 0, :] - ref[:, j, :])[valid[:, j]]
        if diff.size:
            stepwise = max(stepwise, float(diff.max()))
    return forced, stepwise


def read_parity_file(path: str | Path, limit: int = MAX_PARITY_INPUTS) -> list[tuple[str, str, str]]:
    """Parity inputs from JSONL (hypothesis records: ``text``, optional ``source``/``lang``; or ``noisy``)."""
    out = []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                text = rec.get("text", rec.get("noisy"))
            except (json.JSONDecodeError, AttributeError) as exc:
                raise ConfigError(f"{path}:{lineno}: not a JSON object") from exc
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{path}:{lineno}: needs a non-empty 'text' (or 'noisy')")
            out.append((str(rec.get("source") or "asr"), str(rec.get("lang") or ""), text))
            if len(out) >= limit:
                break
    if not out:
        raise ConfigError(f"{path}: no parity inputs")
    return out


def check_parity(model: Any, export_dir: Path, tokenizer: Any, *, texts: Sequence[tuple[str, str, str]] = PARITY_TEXTS,
                 max_new_tokens: int = 32, fp32_atol: float = 1e-4, int8_min_agreement: float = 0.95,
                 check_int8: bool = True, options: InputOptions | None = None) -> dict[str, Any]:
    """Compare the exported graphs in ``export_dir`` with the PyTorch ``model``; returns the numbers.

    ``passed`` is true when the fp32 logits agree within ``fp32_atol`` (teacher-forced and
    step-by-step), all fp32 greedy sequences equal PyTorch's, and (if checked) at least
    ``int8_min_agreement`` of the int8 greedy sequences equal PyTorch's.
    """
    torch = _require_torch()
    inp = _parity_inputs(tokenizer, texts, 128, options or InputOptions())
    ref = _torch_greedy(torch, model, inp, max_new_tokens)
    fp32 = OnnxSeq2Seq(export_dir, variant="fp32", intra_op_threads=1, providers=["CPUExecutionProvider"])
    got = _onnx_greedy(fp32, inp, max_new_tokens)
    targets = [r if r else [model.config.eos_token_id] for r in ref]
    forced, stepwise = _logit_diffs(torch, model, fp32, inp, targets)
    identical = sum(a == b for a, b in zip(ref, got, strict=True))
    res: dict[str, Any] = {
        "n_inputs": len(texts), "max_new_tokens": max_new_tokens,
        "mean_ref_tokens": round(float(np.mean([len(r) for r in ref])), 2),
        "fp32_atol": fp32_atol, "fp32_max_abs_logit_diff": forced, "fp32_step_max_abs_logit_diff": stepwise,
        "fp32_greedy_identical": identical,
    }
    ok = max(forced, stepwise) <= fp32_atol and identical == len(texts)
    if check_int8 and (export_dir / ENCODER_FILES["int8"]).is_file():
        int8 = OnnxSeq2Seq(export_dir, variant="int8", intra_op_threads=1, providers=["CPUExecutionProvider"])
        got8 = _onnx_greedy(int8, inp, max_new_tokens)
        agree = sum(a == b for a, b in zip(ref, got8, strict=True)) / len(texts)
        forced8, _ = _logit_diffs(torch, model, int8, inp, targets)
        res.update(int8_greedy_agreement=agree, int8_min_agreement=int8_min_agreement,
                   int8_max_abs_logit_diff=forced8)
        ok = ok and agree >= int8_min_agreement
    res["passed"] = bool(ok)
    return res


# ---------------------------------------------------------------- entry point


def _load(checkpoint: Path) -> tuple[Any, Any]:
    _require_torch()
    from transformers import T5ForConditionalGeneration

    from emendo.models.tokenizer import load_tokenizer

    model_dir = checkpoint / "model"
    if not model_dir.is_dir():
        raise EmendoError(f"{checkpoint}: no model/ directory (expected an emendo training checkpoint)")
    if not (checkpoint / "tokenizer.json").is_file():
        raise EmendoError(f"{checkpoint}: tokenizer.json missing")
    model = T5ForConditionalGeneration.from_pretrained(str(model_dir)).eval()
    model.float()
    return model, load_tokenizer(checkpoint / "tokenizer.json")


def _version(checkpoint: Path) -> str:
    cfg_path = checkpoint / "train_config.json"
    if cfg_path.is_file():
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        if isinstance(cfg, dict) and cfg.get("version"):
            return str(cfg["version"])
    weights = sorted((checkpoint / "model").glob("*.safetensors")) or sorted((checkpoint / "model").glob("*.bin"))
    h = hashlib.sha256()
    for w in weights:
        h.update(sha256_file(w).encode())
    return f"dlm-{h.hexdigest()[:12]}"


def export_onnx(checkpoint_dir: str | Path, out_dir: str | Path, *, quantize: bool = True,
                fp32_atol: float = 1e-4, int8_min_agreement: float = 0.95, parity_max_new_tokens: int = 32,
                parity_texts: Sequence[tuple[str, str, str]] | None = None) -> ExportReport:
    """Export ``checkpoint_dir`` (``model/`` + ``tokenizer.json`` ...) to ONNX graphs in ``out_dir``.

    Parity inputs are ``(source, lang, text)`` triples: ``parity_texts``, else the
    checkpoint's ``parity.jsonl`` (held-out inputs, see :func:`read_parity_file`), else
    :data:`PARITY_TEXTS`. Use inputs from the model's own domain: the int8 agreement of a
    model on text it was never trained on measures noise, not quantisation.
    Raises :class:`ParityError` when the graphs do not match PyTorch (see module docstring).
    """
    torch = _require_torch()
    checkpoint, out = Path(checkpoint_dir), Path(out_dir)
    if parity_texts is None:
        parity_file = checkpoint / PARITY_FILE
        parity_texts = read_parity_file(parity_file) if parity_file.is_file() else PARITY_TEXTS
    train_cfg: dict[str, Any] = {}
    if (checkpoint / "train_config.json").is_file():
        train_cfg = json.loads((checkpoint / "train_config.json").read_text(encoding="utf-8"))
    inputs = InputOptions.from_train_config(train_cfg)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (MODEL_CARD, "parity_failed.json", *ENCODER_FILES.values(), *DECODER_FILES.values()):
        (out / stale).unlink(missing_ok=True)
    model, tokenizer = _load(checkpoint)
    report = ExportReport(out_dir=str(out), version=_version(checkpoint))
    t0 = time.perf_counter()
    settings = _write_graphs(torch, model, out)
    report.export_seconds = time.perf_counter() - t0
    for name in COPIED_FILES:
        if (checkpoint / name).is_file():
            shutil.copyfile(checkpoint / name, out / name)
    cfg = model.config
    card: dict[str, Any] = {
        "format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "name": "dlm", "version": report.version,
        "architecture": "t5", "checkpoint": str(checkpoint),
        "model": {"vocab_size": cfg.vocab_size, "d_model": cfg.d_model, "d_kv": cfg.d_kv, "d_ff": cfg.d_ff,
                  "num_heads": cfg.num_heads, "num_layers": cfg.num_layers,
                  "num_decoder_layers": cfg.num_decoder_layers, "pad_token_id": cfg.pad_token_id,
                  "eos_token_id": cfg.eos_token_id, "decoder_start_token_id": cfg.decoder_start_token_id,
                  "parameters": int(sum(p.numel() for p in model.parameters()))},
    }
    # the card must exist for OnnxSeq2Seq to load the graphs during the parity check
    (out / MODEL_CARD).write_text(json.dumps(card, indent=2), encoding="utf-8")
    t0 = time.perf_counter()
    parity = check_parity(model, out, tokenizer, texts=parity_texts, max_new_tokens=parity_max_new_tokens,
                          fp32_atol=fp32_atol, check_int8=False, options=inputs)
    quant: dict[str, Any] = {}
    report.parity_seconds = time.perf_counter() - t0
    if quantize:
        trials: dict[str, Any] = {}
        int8_diff: dict[bool, float] = {}
        best: tuple[float, bool] | None = None
        for per_channel in (True, False):
            t0 = time.perf_counter()
            for graphs in (ENCODER_FILES, DECODER_FILES):
                _quantize(out / graphs["fp32"], out / graphs["int8"], per_channel)
            report.quantize_seconds += time.perf_counter() - t0
            t0 = time.perf_counter()
            res = check_parity(model, out, tokenizer, texts=parity_texts, max_new_tokens=parity_max_new_tokens,
                               fp32_atol=math.inf, int8_min_agreement=int8_min_agreement, options=inputs)
            report.parity_seconds += time.perf_counter() - t0
            agree = float(res["int8_greedy_agreement"])
            trials["per_channel" if per_channel else "per_tensor"] = agree
            int8_diff[per_channel] = float(res["int8_max_abs_logit_diff"])
            if best is None or agree > best[0]:
                best = (agree, per_channel)
        assert best is not None
        if best[1]:  # the files on disk are the last (per-tensor) trial: redo the winner
            t0 = time.perf_counter()
            for graphs in (ENCODER_FILES, DECODER_FILES):
                _quantize(out / graphs["fp32"], out / graphs["int8"], True)
            report.quantize_seconds += time.perf_counter() - t0
        quant = {"method": "onnxruntime.quantization.quantize_dynamic", "weight_type": "QInt8",
                 "op_types": ["MatMul", "Gather"], "per_channel": best[1], "agreement_trials": trials}
        parity.update(int8_greedy_agreement=best[0], int8_min_agreement=int8_min_agreement,
                      int8_max_abs_logit_diff=int8_diff[best[1]])
        parity["passed"] = bool(parity["passed"] and best[0] >= int8_min_agreement)
    report.parity = parity
    report.passed = bool(parity["passed"])
    written = sorted(p for p in out.iterdir() if p.is_file() and p.name != MODEL_CARD)
    report.files = {p.name: p.stat().st_size for p in written}
    card["files"] = {p.name: {"sha256": sha256_file(p), "bytes": p.stat().st_size} for p in written}
    card["export"] = {**settings, "transformers": _transformers_version(), "quantization": quant or None,
                      "export_seconds": round(report.export_seconds, 3)}
    card["parity"] = parity
    (out / MODEL_CARD).unlink()
    if not report.passed:
        (out / "parity_failed.json").write_text(json.dumps(card, indent=2), encoding="utf-8")
        raise ParityError(f"ONNX export of {checkpoint} failed its parity check: {json.dumps(parity)}", report)
    (out / MODEL_CARD).write_text(json.dumps(card, indent=2), encoding="utf-8")
    report.files[MODEL_CARD] = (out / MODEL_CARD).stat().st_size
    return report


def _transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


# ---------------------------------------------------------------- a tiny random checkpoint


TINY_TEXTS = (
    "the cat sat on the mat and the dog sat on the log",
    "speech recognition output often contains errors that a language model can fix",
    "handwriting recognition confuses similar letters such as rn and m",
    "мама мыла раму а папа читал газету",
    "the quick brown fox jumps over the lazy dog",
    "Dear Sir, I write to you concerning the letter of May 3rd, 1999.",
    "сегодня хорошая погода и мы пойдём гулять в парк",
    "one two three four five six seven eight nine ten eleven twelve",
)


def _noisy(rng: Any, text: str) -> str:
    """A light character-level corruption (for the tiny model's copy/denoise training)."""
    chars = list(text)
    for _ in range(int(rng.integers(0, 3))):
        if len(chars) < 4:
            break
        i = int(rng.integers(0, len(chars) - 1))
        op = int(rng.integers(0, 3))
        if op == 0:
            del chars[i]
        elif op == 1:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars.insert(i, chars[i])
    return "".join(chars)


def _train_tiny(torch: Any, model: Any, tok: Any, texts: Sequence[str], steps: int, seed: int,
                batch_size: int = 32, lr: float = 3e-3) -> dict[str, float]:
    """Teach the tiny model to copy (and lightly denoise) random word sequences: a few CPU minutes."""
    rng = np.random.default_rng(seed)
    words = sorted({w for t in texts for w in t.split()})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread (2 were 40x slower under load)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * max(0.05, 1 - s / steps))
    model.train()
    loss_val = math.nan
    for _ in range(steps):
        src_rows, tgt_rows = [], []
        for clean in _tiny_sentences(rng, words, batch_size):
            noisy = _noisy(rng, clean) if rng.random() < 0.3 else clean
            source = "asr" if rng.random() < 0.5 else "htr"
            src = format_input(noisy, None, source, _lang(clean), InputOptions())
            src_rows.append(tok.encode(src, add_special_tokens=False).ids)
            tgt_rows.append([*tok.encode(clean, add_special_tokens=False).ids, model.config.eos_token_id])
        s, t = max(map(len, src_rows)), max(map(len, tgt_rows))
        ids = torch.zeros(batch_size, s, dtype=torch.long)
        mask = torch.zeros(batch_size, s, dtype=torch.long)
        labels = torch.full((batch_size, t), -100, dtype=torch.long)
        for i, (a, b) in enumerate(zip(src_rows, tgt_rows, strict=True)):
            ids[i, : len(a)] = torch.tensor(a)
            mask[i, : len(a)] = 1
            labels[i, : len(b)] = torch.tensor(b)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_val = float(loss.detach())
    model.eval()
    torch.set_num_threads(threads)
    return {"final_train_loss": round(loss_val, 4), "steps": steps, "batch_size": batch_size}


def _tiny_sentences(rng: Any, words: Sequence[str], n: int) -> list[str]:
    return [" ".join(words[int(i)] for i in rng.integers(0, len(words), int(rng.integers(1, 16)))) for _ in range(n)]


def make_tiny_checkpoint(out_dir: str | Path, *, vocab_size: int = 512, seed: int = 0, d_model: int = 64,
                         d_ff: int = 128, num_layers: int = 2, num_heads: int = 4,
                         texts: Sequence[str] = TINY_TEXTS, train_steps: int = 0) -> Path:
    """A tiny T5 in the training checkpoint layout (``model/``, ``tokenizer.json`` ...), for tests.

    Random weights, or with ``train_steps`` a few CPU minutes of copy/denoise training on
    random sequences of the words of ``texts`` (so that it copies clean input and its
    outputs are not degenerate). A trained one also gets ``parity.jsonl``: inputs from its
    own domain for the export's parity check.
    """
    torch = _require_torch()
    from transformers import T5Config, T5ForConditionalGeneration

    from emendo.models.config import CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, ModelConfig
    from emendo.models.tokenizer import train_tokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer(list(texts) * 4, vocab_size, out / "tokenizer.json")
    mcfg = ModelConfig(d_model=d_model, d_ff=d_ff, num_layers=num_layers, num_heads=num_heads,
                       d_kv=d_model // num_heads, dropout=0.0, vocab_size=tok.get_vocab_size(),
                       max_input_tokens=128, max_output_tokens=64)
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(T5Config(**mcfg.t5_kwargs())).eval()
    metrics = _train_tiny(torch, model, tok, texts, train_steps, seed) if train_steps > 0 else {}
    model.save_pretrained(str(out / "model"), safe_serialization=True)
    kind = f"copy{train_steps}" if train_steps > 0 else "random"
    meta = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_FORMAT_VERSION,
            "version": f"tiny-{kind}-s{seed}", "step": train_steps, "name": "tiny", "seed": seed,
            "model": mcfg.to_dict(), "inputs": InputOptions().to_dict()}
    (out / "train_config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(metrics) + "\n", encoding="utf-8")
    if train_steps > 0:
        rng = np.random.default_rng(seed + 1)
        words = sorted({w for t in texts for w in t.split()})
        lines = [json.dumps({"text": t, "source": "asr" if k % 2 else "htr", "lang": _lang(t)}, ensure_ascii=False)
                 for k, t in enumerate(_tiny_sentences(rng, words, MAX_PARITY_INPUTS))]
        (out / PARITY_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _lang(text: str) -> str:
    return "ru" if any("\u0400" <= c <= "\u04ff" for c in text) else "en"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emendo.models.export", description=__doc__.split("\n")[0])
    parser.add_argument("checkpoint", type=Path, help="training checkpoint directory (model/, tokenizer.json, ...)")
    parser.add_argument("out", type=Path, help="output directory for the ONNX graphs and model_card.json")
    parser.add_argument("--no-quantize", action="store_true", help="skip the int8 graphs")
    parser.add_argument("--fp32-atol", type=float, default=1e-4, help="max |logit difference| allowed (fp32)")
    parser.add_argument("--int8-min-agreement", type=float, default=0.95,
                        help="min share of int8 greedy outputs identical to PyTorch's")
    parser.add_argument("--parity-file", type=Path,
                        help="JSONL of parity inputs (text, source, lang); default: CHECKPOINT/parity.jsonl if "
                             "present, else the built-in sentences")
    parser.add_argument("--make-tiny", action="store_true",
                        help="first write a tiny checkpoint to CHECKPOINT (for tests and benchmarks)")
    parser.add_argument("--tiny-train-steps", type=int, default=0,
                        help="with --make-tiny: CPU copy-training steps for the tiny model (0: random weights)")
    args = parser.parse_args(argv)
    try:
        if args.make_tiny:
            make_tiny_checkpoint(args.checkpoint, train_steps=args.tiny_train_steps)
        texts = read_parity_file(args.parity_file) if args.parity_file else None
        report = export_onnx(args.checkpoint, args.out, quantize=not args.no_quantize, fp32_atol=args.fp32_atol,
                             int8_min_agreement=args.int8_min_agreement, parity_texts=texts)
    except EmendoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

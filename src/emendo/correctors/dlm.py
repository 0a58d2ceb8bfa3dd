"""The denoising LM corrector: a T5-style encoder-decoder served with onnxruntime (no torch).

The model directory is what :func:`emendo.models.export.export_onnx` writes::

    model_card.json            format, version, token ids, graph shapes, sha256 of every file
    encoder.onnx               input_ids, attention_mask -> encoder_hidden_states,
                               cross_k_<i>, cross_v_<i> (cross-attention K/V of decoder layer i)
    decoder.onnx               input_ids (B, T), encoder_attention_mask, past_k_<i>, past_v_<i>
                               (B, H, P, d_kv; P may be 0), cross_k_<i>, cross_v_<i>
                               -> logits (B, T, V), present_k_<i>, present_v_<i> (B, H, P+T, d_kv)
    encoder.int8.onnx, decoder.int8.onnx    the same graphs, int8 dynamic quantisation
    tokenizer.json             HF ``tokenizers`` byte-level BPE (<pad>=0, </s>=1, <unk>=2, tags)

The cross-attention K/V are computed once, in the encoder graph, so one decoder graph serves
the first step (empty past), every later step (past of length P, one new token) and
teacher-forced scoring of a whole sequence (empty past, T tokens, causal mask inside).

Decoding is greedy or beam search with the KV cache kept in numpy. Conservative decisions
are part of the product (a corrector must not make clean input worse): every change the
model proposes passes the gates of :class:`DecodingOptions` or the input is kept verbatim.
Inputs are formatted and windowed exactly as in training (:mod:`emendo.models.inputs`):
a text longer than ``InputOptions.window_chars`` (90) is corrected in overlapping word
windows whose outputs are aligned back to the input words and stitched, each window
deciding the words of its core. Gates apply per window; ``nbest_agreement="exact"`` applies
to the stitched sentence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from rapidfuzz.distance import Levenshtein

from emendo.errors import ConfigError, MissingExtraError
from emendo.models.inputs import InputOptions, Window, format_input, normalize_space, stitch, windows
from emendo.records import Correction, Hypothesis

MODEL_CARD = "model_card.json"
MODEL_FORMAT = "emendo-dlm-onnx"
MODEL_FORMAT_VERSION = 1
ENCODER_FILES = {"fp32": "encoder.onnx", "int8": "encoder.int8.onnx"}
DECODER_FILES = {"fp32": "decoder.onnx", "int8": "decoder.int8.onnx"}
# one LogSoftmax node over the last axis (opset 17; written by emendo.models.export.write_log_softmax_graph):
# ONNX Runtime's vectorised kernel is ~3x faster than numpy's exp-and-sum on a draft call's logits
LOG_SOFTMAX_GRAPH = Path(__file__).resolve().parent.parent / "data" / "ops" / "log_softmax.onnx"

Variant = Literal["auto", "fp32", "int8"]
NBestAgreement = Literal["off", "exact", "support"]
FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

# drafted greedy search re-drafts while a call gains at least this many tokens per row still
# drafting (below it, stepping is cheaper; measured on HyPoradise: 651 -> 526 decoder calls for
# 384 utterances, the same with 2 or 6 re-drafts; without the rule, slower)
MIN_GAIN = 2.0
_NEG_INF = -1e30


# ---------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class DecodingOptions:
    """How the denoising LM decodes and when its output is accepted.

    Decoding:

    * ``beam_size``: 1 is greedy search; more is beam search (``length_penalty`` divides
      a finished hypothesis' score by ``len ** length_penalty``).
    * ``max_new_tokens``: hard cap on generated tokens per window; ``min_new_tokens``
      suppresses ``</s>`` before that many tokens (benchmarks use it to fix lengths).
    * ``max_length_ratio`` / ``length_slack``: a window may generate at most
      ``ceil(ratio * n_input_tokens) + slack`` tokens (``None``: only ``max_new_tokens``).
    * ``copy_bias``: added to the log-probability of every token of the input window
      while searching: a bias towards copying, i.e. towards a minimum-edit output. The
      reported confidences use the model's unbiased probabilities.

    Gates (a proposed change must pass all of them, else the input is kept verbatim; an
    output that hit its length cap without ``</s>`` is always rejected as ``truncated``):

    * ``min_confidence``: the change's sequence confidence, ``exp(mean token log-prob)``
      of the output (``</s>`` included), must be strictly greater. 1.0 keeps every input.
    * ``min_copy_gap``: ``log P(output) - log P(input)`` (nats, whole window; the input is
      scored teacher-forced as "the copy hypothesis") must be at least this.
    * ``max_relative_edit``: word edit distance between input and output, divided by the
      number of input words, must not exceed this.
    * ``keep_word_count``: the output must have as many words as the input (whitespace
      split, per window): only word substitutions pass. The model's deletions and insertions
      are its riskiest edits on real text (dropped repeats and phrases, appended words).
    * ``nbest_agreement``: with an n-best list of 2+ entries, ``"exact"`` accepts a change
      only if the corrected sentence equals one of the n-best entries (whitespace
      normalised); ``"support"`` only if every word the change introduces occurs in some
      n-best entry. Records without an n-best list are not affected.
    * ``banned``: strings a change may not introduce (a word containing one that the input
      lacks fails the ``banned`` gate); n-best entries containing one are not shown to the
      model either. Recognisers write placeholders such as ``<UNK>`` into n-best lists.

    Speed:

    * ``draft_copy``: greedy search checks the input window as a draft first (one
      teacher-forced call, then steps only where the output leaves it; lossless: the same
      output as plain greedy search). No effect on beam search.
    * ``stop_rejected``: with ``draft_copy``, stop decoding a window as soon as the
      ``min_copy_gap`` or ``min_confidence`` gate must reject it (a log-prob only falls as
      the output grows). The corrections are the same; such a window's reported proposal
      is its output up to there.

    Input:

    * ``use_nbest``: show the model the n-best alternatives (when the record has them and
      the model was trained with them). ``False`` corrects from the 1-best alone.
    """

    beam_size: int = 1
    max_new_tokens: int = 128
    min_new_tokens: int = 0
    max_length_ratio: float | None = 1.5
    length_slack: int = 8
    length_penalty: float = 1.0
    copy_bias: float = 0.0
    min_confidence: float = 0.0
    min_copy_gap: float | None = None
    max_relative_edit: float | None = None
    keep_word_count: bool = False
    nbest_agreement: NBestAgreement = "off"
    banned: tuple[str, ...] = ("<unk>", "<UNK>")
    use_nbest: bool = True
    draft_copy: bool = True
    stop_rejected: bool = True

    def __post_init__(self) -> None:
        if self.beam_size < 1:
            raise ConfigError(f"beam_size must be >= 1, got {self.beam_size}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ConfigError(f"min_new_tokens must lie in [0, max_new_tokens], got {self.min_new_tokens}")
        if self.max_length_ratio is not None and self.max_length_ratio <= 0:
            raise ConfigError(f"max_length_ratio must be > 0, got {self.max_length_ratio}")
        if self.length_slack < 0:
            raise ConfigError(f"length_slack must be >= 0, got {self.length_slack}")
        if not math.isfinite(self.copy_bias) or self.copy_bias < 0:
            raise ConfigError(f"copy_bias must be a finite number >= 0, got {self.copy_bias}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"min_confidence must lie in [0, 1], got {self.min_confidence}")
        if self.max_relative_edit is not None and self.max_relative_edit < 0:
            raise ConfigError(f"max_relative_edit must be >= 0, got {self.max_relative_edit}")
        if self.nbest_agreement not in ("off", "exact", "support"):
            raise ConfigError(f"nbest_agreement must be off, exact or support, got {self.nbest_agreement!r}")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


#: The product's decoding options (``emendo.correctors.registry``): the strictest point of the
#: gate sweep on the synthetic dev split (no clean dev input changed), and the 1-best alone,
#: because real n-best lists (HyPoradise) made the release model switch words far more often
#: than it fixed them (bench/results/dlm_eval_release.md). Word substitutions only: on real
#: OCR (BLN600) the release model's changes that dropped or added words worsened more lines
#: than they improved (e.g. 52/95 with a deletion and a substitution; substitutions alone
#: 504/233), and with this gate BLN600 CER went from +0.8% to -0.2% against the input, the
#: synthetic test CER from -0.8% to -1.2% and HyPoradise from +1.6/+0.6/+0.3/+0.2% to
#: +1.0/+0.2/+0.0/-0.0% (bench/results/dlm_eval_release-wordcount.md).
PRODUCT_OPTIONS = DecodingOptions(copy_bias=0.0, min_confidence=0.85, min_copy_gap=5.0, use_nbest=False,
                                  keep_word_count=True)

#: The bundled release model (int8 graphs only; model card in its README.md).
BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "data" / "models" / "dlm"


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class DLMResult:
    """What the denoising LM did with one hypothesis (for evaluation and threshold tuning).

    ``proposed`` is the stitched raw model output, ``corrected`` what passed the gates;
    ``confidence`` is ``exp(mean token log-prob)`` of ``corrected`` over all its windows,
    ``copy_confidence`` the same for the unchanged input. ``rejected`` names the gates
    that sent a window (or, for ``nbest_exact``, the sentence) back to its input.
    """

    hypothesis: Hypothesis
    corrected: str
    proposed: str
    confidence: float
    copy_confidence: float
    windows: int
    rejected: tuple[str, ...] = ()

    def to_correction(self) -> Correction:
        return Correction(self.hypothesis, self.corrected, confidence=self.confidence)


@dataclass(slots=True)
class _Work:
    """One unit of model work: a word window of one hypothesis, and what the model made of it."""

    window: Window
    source_ids: list[int]
    copy_ids: list[int]  # the input window as a target sequence, </s> included
    out_ids: list[int] | None = None
    out_logprob: float = 0.0
    copy_logprob: float = 0.0
    stopped: str | None = None  # the gate that had to reject the output when decoding stopped early


# ---------------------------------------------------------------- text helpers


def word_edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences."""
    return int(Levenshtein.distance(a, b))


# ---------------------------------------------------------------- the ONNX model


def _scores(logits: FloatArray, bias: FloatArray | None, eos_id: int, bar_eos: int) -> FloatArray:
    """The scores greedy search takes its argmax of (the same argmax as of the log-probs + bias):
    ``logits`` + ``bias`` (one (V,) row per batch row, or none), with ``</s>`` barred from the
    first ``bar_eos`` positions of a (B, T, V) array, or from every row of a (B, V) one when
    ``bar_eos`` > 0. ``logits`` itself (no copy) when neither applies."""
    if bias is None and bar_eos <= 0:
        return logits
    out = logits.copy() if bias is None else logits + (bias if logits.ndim == 2 else bias[:, None, :])
    if bar_eos > 0 and out.ndim == 2:
        out[:, eos_id] = _NEG_INF
    elif bar_eos > 0:
        out[:, :bar_eos, eos_id] = _NEG_INF
    return out


class _Floors:
    """When a row's greedy output must fail a gate, so decoding it further is wasted.

    A token log-prob is <= 0, so a row's log-prob only falls as it grows. Once it is below its
    draft's (the copy's) log-prob + ``min_copy_gap``, the copy-gap gate must reject the output;
    once it is at most ``log(min_confidence)`` times the row's length cap, the mean over the
    final length (<= the cap) is too, and the confidence gate must reject it. A small margin
    keeps float rounding from stopping a row the gates would accept."""

    MARGIN = 1e-3

    def __init__(self, gap: float | None, mean: float | None, copy_lp: Sequence[float], caps: IntArray) -> None:
        self.gap = [(c + gap if gap is not None else -math.inf) - self.MARGIN for c in copy_lp]
        self.mean = [(float(cap) * mean if mean is not None else -math.inf) - self.MARGIN for cap in caps]

    def reason(self, row: int, logprob: float) -> str | None:
        if logprob < self.gap[row]:
            return "copy_gap"
        if logprob <= self.mean[row]:
            return "confidence"
        return None


class OnnxSeq2Seq:
    """The encoder and decoder sessions of one exported model, plus greedy/beam search."""

    def __init__(self, model_dir: str | Path, *, variant: Variant = "auto", intra_op_threads: int = 1,
                 providers: Sequence[str] | None = None) -> None:
        import onnxruntime as ort  # a core dependency; imported here to keep module import cheap

        self.model_dir = Path(model_dir)
        card_path = self.model_dir / MODEL_CARD
        if not card_path.is_file():
            raise ConfigError(f"{self.model_dir} is not an exported denoising LM: {MODEL_CARD} missing")
        self.card: dict[str, Any] = json.loads(card_path.read_text(encoding="utf-8"))
        if self.card.get("format") != MODEL_FORMAT or int(self.card.get("format_version", 0)) > MODEL_FORMAT_VERSION:
            raise ConfigError(f"{card_path}: unsupported model format "
                              f"{self.card.get('format')!r} v{self.card.get('format_version')}")
        cfg = self.card["model"]
        self.num_layers = int(cfg["num_decoder_layers"])
        self.num_heads = int(cfg["num_heads"])
        self.d_kv = int(cfg["d_kv"])
        self.vocab_size = int(cfg["vocab_size"])
        self.pad_id = int(cfg["pad_token_id"])
        self.eos_id = int(cfg["eos_token_id"])
        self.start_id = int(cfg["decoder_start_token_id"])
        available = list(ort.get_available_providers())
        if providers is None:
            providers = ["CPUExecutionProvider"]
            if "CUDAExecutionProvider" in available:
                providers.insert(0, "CUDAExecutionProvider")
        self.providers = [p for p in providers if p in available] or ["CPUExecutionProvider"]
        if variant == "auto":
            on_gpu = self.providers[0] == "CUDAExecutionProvider"
            has_int8 = (self.model_dir / ENCODER_FILES["int8"]).is_file()
            has_fp32 = (self.model_dir / ENCODER_FILES["fp32"]).is_file()
            # fp32 on a GPU; int8 on CPU; whichever exists when a bundle ships only one
            variant = "fp32" if (on_gpu and has_fp32) or not has_int8 else "int8"
        if variant not in ENCODER_FILES:
            raise ConfigError(f"variant must be auto, fp32 or int8, got {variant!r}")
        self.variant: str = variant
        if intra_op_threads < 0:
            raise ConfigError(f"intra_op_threads must be >= 0, got {intra_op_threads}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = intra_op_threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        paths = [self.model_dir / ENCODER_FILES[variant], self.model_dir / DECODER_FILES[variant]]
        for p in paths:
            if not p.is_file():
                raise ConfigError(f"model file missing: {p}")
        self.encoder = ort.InferenceSession(str(paths[0]), sess_options=opts, providers=self.providers)
        self.decoder = ort.InferenceSession(str(paths[1]), sess_options=opts, providers=self.providers)
        # the decoder's logits come back to host memory whatever the provider: their log-softmax runs there
        self._log_softmax = ort.InferenceSession(str(LOG_SOFTMAX_GRAPH), sess_options=opts,
                                                 providers=["CPUExecutionProvider"])
        self._cross_names = [f"cross_{kv}_{i}" for i in range(self.num_layers) for kv in "kv"]
        self._past_names = [f"past_{kv}_{i}" for i in range(self.num_layers) for kv in "kv"]
        self._present_names = [f"present_{kv}_{i}" for i in range(self.num_layers) for kv in "kv"]

    # -- graph calls

    def encode(self, input_ids: IntArray, attention_mask: IntArray) -> list[FloatArray]:
        """Cross-attention K/V of every decoder layer, ordered k0, v0, k1, v1, ..."""
        outs = self.encoder.run(self._cross_names, {"input_ids": input_ids, "attention_mask": attention_mask})
        return [np.asarray(o, dtype=np.float32) for o in outs]

    def empty_past(self, batch: int) -> list[FloatArray]:
        return [np.zeros((batch, self.num_heads, 0, self.d_kv), dtype=np.float32)
                for _ in range(2 * self.num_layers)]

    def step(self, input_ids: IntArray, enc_mask: IntArray, past: Sequence[FloatArray],
             cross: Sequence[FloatArray]) -> tuple[FloatArray, list[FloatArray]]:
        """Run the decoder on ``input_ids`` (B, T) after ``past``; returns logits and the new past."""
        feed: dict[str, Any] = {"input_ids": input_ids, "encoder_attention_mask": enc_mask}
        feed.update(zip(self._past_names, past, strict=True))
        feed.update(zip(self._cross_names, cross, strict=True))
        outs = self.decoder.run(["logits", *self._present_names], feed)
        return np.asarray(outs[0], dtype=np.float32), [np.asarray(o) for o in outs[1:]]

    def log_probs(self, logits: FloatArray) -> FloatArray:
        """Log-softmax of (B, T, V) or (B, V) ``logits`` over the vocabulary."""
        x = logits if logits.ndim == 3 else logits[:, None, :]
        out: FloatArray = self._log_softmax.run(None, {"logits": np.ascontiguousarray(x, dtype=np.float32)})[0]
        return out if logits.ndim == 3 else out[:, 0, :]

    # -- search

    def score(self, enc_mask: IntArray, cross: Sequence[FloatArray], targets: Sequence[Sequence[int]]) -> list[float]:
        """Teacher-forced log-probability (nats) of each target sequence, in one decoder call."""
        b = len(targets)
        t = max(len(x) for x in targets)
        dec_in = np.full((b, t), self.pad_id, dtype=np.int64)
        gold = np.full((b, t), self.pad_id, dtype=np.int64)
        valid = np.zeros((b, t), dtype=bool)
        for i, tgt in enumerate(targets):
            n = len(tgt)
            dec_in[i, 0] = self.start_id
            dec_in[i, 1:n] = tgt[: n - 1]
            gold[i, :n] = tgt
            valid[i, :n] = True
        logits, _ = self.step(dec_in, enc_mask, self.empty_past(b), cross)
        picked = np.take_along_axis(self.log_probs(logits), gold[:, :, None], axis=2)[:, :, 0]
        return [float(v) for v in np.where(valid, picked, 0.0).sum(axis=1)]

    def _biased(self, lp: FloatArray, bias_rows: FloatArray | None, steps_done: int, min_new: int) -> FloatArray:
        sel = lp if bias_rows is None else lp + bias_rows
        if steps_done < min_new:
            sel = sel.copy()
            sel[:, self.eos_id] = _NEG_INF
        return sel

    def greedy(self, enc_mask: IntArray, cross: Sequence[FloatArray], max_new: Sequence[int], *,
               min_new: int = 0, bias: FloatArray | None = None) -> list[tuple[list[int], float]]:
        """Greedy search; returns (tokens, unbiased log-prob) per row. ``bias``: (B, V) added to log-probs."""
        b = enc_mask.shape[0]
        start = np.full((b, 1), self.start_id, dtype=np.int64)
        found, _ = self._greedy_loop(enc_mask, list(cross), np.asarray(max_new, dtype=np.int64), min_new, bias,
                                     self.empty_past(b), start, [[] for _ in range(b)], [0.0] * b, 0)
        return found

    def greedy_drafted(self, enc_mask: IntArray, cross: Sequence[FloatArray], max_new: Sequence[int],
                       drafts: Sequence[Sequence[int]], *, min_new: int = 0, bias: FloatArray | None = None,
                       rounds: int = 6, reject_gap: float | None = None, reject_mean: float | None = None,
                       ) -> tuple[list[tuple[list[int], float]], list[float], list[str | None]]:
        """Greedy search that checks a draft per row first (the input window: a denoiser mostly
        copies), as in input-guided aggressive decoding (Ge et al., 2022).

        One teacher-forced decoder call scores every draft; the prefix where the draft is the
        greedy choice is accepted without stepping. A row that leaves its draft gets a new one:
        the accepted prefix, the greedy token where it left, and the rest of the input realigned
        after it (a substitution, or 1-4 input tokens dropped / one inserted when the token matches
        one of the input's next four / its previous one), checked again in the next call (which
        reuses the previous call's KV cache up to the shortest prefix and feeds only what follows),
        for up to ``rounds`` more calls while a call gains ``MIN_GAIN``+ tokens per row still
        drafting. Rows left then step on from the shortest accepted prefix among them, with the KV
        cache of the last call. The output is :meth:`greedy`'s (drafts only decide how much is
        checked per call). Also returns each draft's unbiased log-prob (the copy score; a draft
        is scored with ``</s>`` appended when it lacks one).

        ``reject_gap`` / ``reject_mean`` (the copy-gap gate's nats and ``log(min_confidence)``):
        a row that leaves its draft stops as soon as those gates must reject its output
        (:class:`_Floors`); it is returned with its tokens so far, and the third list names the
        gate (``None`` for rows decoded to the end)."""
        b = enc_mask.shape[0]
        caps = np.asarray(max_new, dtype=np.int64)
        copies = [list(d) if d and d[-1] == self.eos_id else [*d, self.eos_id] for d in drafts]  # end in </s>
        out: list[tuple[list[int], float] | None] = [None] * b
        copy_lp = [0.0] * b
        stopped: list[str | None] = [None] * b
        floors: _Floors | None = None
        prefix: list[list[int]] = [[] for _ in range(b)]  # verified tokens that lead the draft
        pointer = [0] * b  # the draft goes on with copies[r][pointer[r]:]
        prefix_lp: list[list[float]] = [[] for _ in range(b)]  # log-probs of the prefix tokens
        prev_present: list[FloatArray] = []  # KV cache of the previous call, and its rows
        prev_index: dict[int, int] = {}
        active = list(range(b))
        for round_no in range(rounds + 1):
            rows = np.asarray(active)
            cand = [prefix[r] + (copies[r][pointer[r]:] or [self.eos_id]) for r in active]
            t_max = max(1, max(len(c) for c in cand))
            n = len(active)
            dec_in = np.full((n, t_max), self.pad_id, dtype=np.int64)
            gold = np.full((n, t_max), self.pad_id, dtype=np.int64)
            lengths = np.asarray([len(c) for c in cand], dtype=np.int64)
            for i, c in enumerate(cand):
                dec_in[i, 0] = self.start_id
                dec_in[i, 1:len(c)] = c[:-1]
                gold[i, :len(c)] = c
            sub_cross = [x[rows] for x in cross]
            # a re-drafted row's prefix (accepted tokens + its greedy token) was fed in the previous
            # call: that call's KV cache covers it, so only positions after the shortest prefix run
            p = min(len(prefix[r]) for r in active) if round_no else 0
            if p:
                idx = np.asarray([prev_index[r] for r in active])
                past = [x[idx][:, :, :p] for x in prev_present]
            else:
                past = self.empty_past(n)
            logits, present = self.step(dec_in[:, p:], enc_mask[rows], past, sub_cross)
            lp = self.log_probs(logits)
            picked = np.empty((n, t_max), dtype=lp.dtype)
            picked[:, p:] = np.take_along_axis(lp, gold[:, p:, None], axis=2)[:, :, 0]
            for i, r in enumerate(active):
                picked[i, :p] = prefix_lp[r][:p]
            valid = np.arange(t_max)[None, :] < lengths[:, None]
            if round_no == 0:
                for i, r in enumerate(active):
                    copy_lp[r] = float(np.where(valid[i], picked[i], 0.0).sum())
                if reject_gap is not None or reject_mean is not None:
                    floors = _Floors(reject_gap, reject_mean, copy_lp, caps)
            sel = _scores(logits, None if bias is None else bias[rows], self.eos_id, min_new - p)
            best = np.empty((n, t_max), dtype=np.int64)
            best[:, :p] = gold[:, :p]  # prefixes are greedy choices already
            best[:, p:] = sel.argmax(axis=2)
            agree = (best == gold) & valid
            accepted = np.where(agree.all(axis=1), lengths, np.argmin(agree, axis=1))  # leading agreements
            left: list[tuple[int, int, int]] = []  # (position in this call, row, accepted tokens)
            for i, r in enumerate(active):
                k = int(min(accepted[i], caps[r]))
                if k == lengths[i] or k == caps[r]:  # the whole draft (</s> included), or up to the length cap
                    out[r] = (cand[i][:k], float(picked[i, :k].sum()))
                    continue
                g = int(best[i, k])  # the greedy token where the row leaves its draft
                running = float(picked[i, :k].sum() + lp[i, k - p, g])
                if g == self.eos_id or k + 1 >= caps[r]:
                    out[r] = ([*cand[i][:k], g], running)
                    continue
                if floors is not None and (why := floors.reason(r, running)) is not None:
                    out[r], stopped[r] = ([*cand[i][:k], g], running), why
                    continue
                left.append((i, r, k))
            if not left:
                break
            # a call re-checks whole drafts: worth another one while it gains a few tokens per row
            gained = sum(k + 1 - len(prefix[r]) for _, r, k in left) / len(left)
            if round_no == rounds or (round_no > 0 and gained < MIN_GAIN):
                self._finish_greedy(out, stopped, floors, left, cand, picked, present, dec_in, enc_mask,
                                    sub_cross, caps, min_new, bias, rows)
                break
            for i, r, k in left:
                g = int(best[i, k])
                copy, q = copies[r], pointer[r]
                j = q + (k - len(prefix[r])) if k >= len(prefix[r]) else q  # input index the draft had at k
                q = j + 1  # substituted, unless g is one of the input's next tokens (those before it
                for jump in (1, 2, 3, 4, -1):  # were dropped) or its previous one (a token was inserted)
                    if 0 <= j + jump < len(copy) and copy[j + jump] == g:
                        q = j + jump + 1
                        break
                prefix[r], pointer[r] = [*cand[i][:k], g], min(q, len(copy))
                prefix_lp[r] = [*picked[i, :k].tolist(), float(lp[i, k - p, g])]
            prev_present, prev_index = present, {r: i for i, r, _ in left}
            active = [r for _, r, _ in left]
        return [x for x in out if x is not None], copy_lp, stopped

    def _finish_greedy(self, out: list[tuple[list[int], float] | None], stopped: list[str | None],
                       floors: _Floors | None, left: list[tuple[int, int, int]],
                       cand: list[list[int]], picked: FloatArray, present: list[FloatArray], dec_in: IntArray,
                       enc_mask: IntArray, cross: list[FloatArray], caps: IntArray, min_new: int,
                       bias: FloatArray | None, rows: IntArray) -> None:
        """Step the rows ``left`` of a draft call on from their shortest accepted prefix."""
        idx = np.asarray([i for i, _, _ in left])
        batch_rows = [r for _, r, _ in left]
        p = int(min(min(k for _, _, k in left), int(caps[batch_rows].min()) - 1))
        past = [x[idx][:, :, :p] for x in present]
        ids = (dec_in[idx, p] if p > 0 else np.full(len(left), self.start_id, dtype=np.int64))[:, None]
        found, why = self._greedy_loop(enc_mask[rows][idx], [c[idx] for c in cross], caps[batch_rows], min_new,
                                       None if bias is None else bias[batch_rows], past, ids.astype(np.int64),
                                       [cand[i][:p] for i, _, _ in left],
                                       [float(picked[i, :p].sum()) for i, _, _ in left], p,
                                       None if floors is None else (floors, batch_rows))
        for r, res, reason in zip(batch_rows, found, why, strict=True):
            out[r], stopped[r] = res, reason

    def _greedy_loop(self, enc_mask: IntArray, cross: list[FloatArray], caps: IntArray, min_new: int,
                     bias: FloatArray | None, past: list[FloatArray], ids: IntArray, tokens: list[list[int]],
                     logprob: list[float], t: int, floors: tuple[_Floors, list[int]] | None = None,
                     ) -> tuple[list[tuple[list[int], float]], list[str | None]]:
        """Greedy steps from a state: ``t`` tokens made (``tokens``/``logprob`` per row), ``past``
        the KV cache of the decoder inputs before ``ids``, the next input (B, 1). With ``floors``
        (and each row's index into them), a row stops once a gate must reject it; the second
        list names that gate per row."""
        active = np.arange(len(tokens))
        why: list[str | None] = [None] * len(tokens)
        while active.size:
            logits, past = self.step(ids, enc_mask, past, cross)
            last = logits[:, -1, :]
            lp = self.log_probs(last)
            nxt = _scores(last, None if bias is None else bias[active], self.eos_id, min_new - t).argmax(axis=1)
            t += 1
            done = np.zeros(active.size, dtype=bool)
            for r, row in enumerate(active):
                tok = int(nxt[r])
                tokens[row].append(tok)
                logprob[row] += float(lp[r, tok])
                done[r] = tok == self.eos_id or t >= caps[row]
                if not done[r] and floors is not None:
                    why[row] = floors[0].reason(floors[1][row], logprob[row])
                    done[r] = why[row] is not None
            if done.all():
                break
            if done.any():
                keep = np.flatnonzero(~done)
                active, nxt = active[keep], nxt[keep]
                enc_mask = enc_mask[keep]
                past = [p[keep] for p in past]
                cross = [c[keep] for c in cross]
            ids = nxt.astype(np.int64)[:, None]
        return [(tok, lp_) for tok, lp_ in zip(tokens, logprob, strict=True)], why

    def beam(self, enc_mask: IntArray, cross: Sequence[FloatArray], max_new: Sequence[int], *, beam_size: int,
             min_new: int = 0, bias: FloatArray | None = None,
             length_penalty: float = 1.0) -> list[tuple[list[int], float]]:
        """Beam search (finished when ``beam_size`` hypotheses ended); same return as :meth:`greedy`."""
        k = beam_size
        n = enc_mask.shape[0]
        caps = np.asarray(max_new, dtype=np.int64)
        v = self.vocab_size
        rep = np.repeat(np.arange(n), k)
        enc_mask = enc_mask[rep]
        cross = [c[rep] for c in cross]
        bias_rows = None if bias is None else bias[rep]
        past = self.empty_past(n * k)
        scores = np.full((n, k), _NEG_INF, dtype=np.float64)
        scores[:, 0] = 0.0
        raw = np.zeros((n, k), dtype=np.float64)
        seqs: list[list[list[int]]] = [[[] for _ in range(k)] for _ in range(n)]
        finished: list[list[tuple[float, list[int], float]]] = [[] for _ in range(n)]
        items = np.arange(n)  # original item of each active group
        ids = np.full((n * k, 1), self.start_id, dtype=np.int64)
        t = 0
        while items.size:
            logits, past = self.step(ids, enc_mask, past, cross)
            last = logits[:, -1, :]
            lp = self.log_probs(last)  # as greedy search computes a token's log-prob
            sel = self._biased(lp, bias_rows, t, min_new)
            t += 1
            m = items.size
            cand = (scores[:, :, None] + sel.reshape(m, k, -1)).reshape(m, k * v)
            top = np.argpartition(-cand, 2 * k - 1, axis=1)[:, : 2 * k] if k * v > 2 * k else \
                np.tile(np.arange(k * v), (m, 1))
            new_scores = np.full((m, k), _NEG_INF, dtype=np.float64)
            new_raw = np.zeros((m, k), dtype=np.float64)
            src_beam = np.zeros((m, k), dtype=np.int64)
            new_tok = np.full((m, k), self.pad_id, dtype=np.int64)
            new_seqs: list[list[list[int]]] = []
            done = np.zeros(m, dtype=bool)
            for g in range(m):
                item = int(items[g])
                row = cand[g]
                order = sorted((int(c) for c in top[g]), key=lambda c: (-float(row[c]), c))
                group_seqs: list[list[int]] = []
                for rank, c in enumerate(order):
                    beam_i, tok = divmod(int(c), v)
                    s = float(cand[g, c])
                    if s <= _NEG_INF / 2:
                        break
                    r = float(raw[g, beam_i] + lp[g * k + beam_i, tok])
                    seq = [*seqs[g][beam_i], tok]
                    if tok == self.eos_id:
                        if rank < k:
                            finished[item].append((s / len(seq) ** length_penalty, seq, r))
                        continue
                    slot = len(group_seqs)
                    if slot < k:
                        new_scores[g, slot], new_raw[g, slot] = s, r
                        src_beam[g, slot], new_tok[g, slot] = beam_i, tok
                        group_seqs.append(seq)
                    if len(group_seqs) == k and rank >= k - 1:
                        break
                while len(group_seqs) < k:
                    group_seqs.append([])
                new_seqs.append(group_seqs)
                at_cap = t >= caps[item]
                if len(finished[item]) >= k or at_cap or not np.isfinite(new_scores[g]).any() \
                        or new_scores[g, 0] <= _NEG_INF / 2:
                    if at_cap:
                        for slot in range(k):
                            if new_scores[g, slot] > _NEG_INF / 2:
                                seq = group_seqs[slot]
                                finished[item].append((new_scores[g, slot] / len(seq) ** length_penalty, seq,
                                                       new_raw[g, slot]))
                    done[g] = True
            scores, raw, seqs = new_scores, new_raw, new_seqs
            flat_src = (np.arange(m)[:, None] * k + src_beam).reshape(-1)
            past = [p[flat_src] for p in past]
            ids = new_tok.reshape(-1, 1)
            if done.any():
                keep = np.flatnonzero(~done)
                rows = (keep[:, None] * k + np.arange(k)).reshape(-1)
                items, scores, raw = items[keep], scores[keep], raw[keep]
                seqs = [seqs[i] for i in keep.tolist()]
                ids, enc_mask = ids[rows], enc_mask[rows]
                past = [p[rows] for p in past]
                cross = [c[rows] for c in cross]
                if bias_rows is not None:
                    bias_rows = bias_rows[rows]
        out: list[tuple[list[int], float]] = []
        for item in range(n):
            if not finished[item]:  # pragma: no cover - every item ends through eos or its cap
                out.append(([self.eos_id], 0.0))
                continue
            best = max(finished[item], key=lambda f: f[0])
            out.append((best[1], best[2]))
        return out


# ---------------------------------------------------------------- the corrector


class DenoisingLM:
    """Corrector ``"dlm"``: a seq2seq denoising LM exported to ONNX, behind conservative gates.

    ``model_dir`` is an export directory (see module docstring). ``variant`` picks the
    int8 or fp32 graphs (``auto``: int8 on CPU when present, fp32 on CUDA). Inputs are
    formatted and windowed as in training (:mod:`emendo.models.inputs`, options from the
    exported ``train_config.json``; ``window_chars`` / ``window_overlap`` override them).
    Windows of a batch are sorted by token length and run ``batch_size`` at a time to
    limit padding; results come back in input order.
    """

    name = "dlm"

    def __init__(self, model_dir: str | Path, *, options: DecodingOptions | None = None, variant: Variant = "auto",
                 intra_op_threads: int = 1, batch_size: int = 32, window_chars: int | None = None,
                 window_overlap: int | None = None, max_source_tokens: int | None = None,
                 providers: Sequence[str] | None = None) -> None:
        try:
            from emendo.models.tokenizer import load_tokenizer
        except ImportError as exc:  # pragma: no cover - tokenizers is needed to serve the model
            raise MissingExtraError("tokenizers", "train") from exc
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
        self.options = options or DecodingOptions()
        self.model = OnnxSeq2Seq(model_dir, variant=variant, intra_op_threads=intra_op_threads, providers=providers)
        self.tokenizer = load_tokenizer(self.model.model_dir / "tokenizer.json")
        train_cfg: dict[str, Any] = {}
        cfg_path = self.model.model_dir / "train_config.json"
        if cfg_path.is_file():
            train_cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        inputs = InputOptions.from_train_config(train_cfg)
        if window_chars is not None or window_overlap is not None:
            inputs = InputOptions.from_dict({**inputs.to_dict(),
                                             "window_chars": window_chars or inputs.window_chars,
                                             "window_overlap": inputs.window_overlap if window_overlap is None
                                             else window_overlap})
        self.inputs = inputs
        model_cfg = train_cfg.get("model")
        if not isinstance(model_cfg, dict):
            model_cfg = {}
        self.max_source_tokens = int(max_source_tokens or model_cfg.get("max_input_tokens") or 256)
        self.batch_size = batch_size
        self.version = f"{self.model.card.get('version', 'unknown')}-{self.model.variant}"

    # -- Corrector protocol

    def correct(self, batch: Sequence[Hypothesis]) -> list[Correction]:
        return [r.to_correction() for r in self.correct_detailed(batch)]

    def correct_detailed(self, batch: Sequence[Hypothesis], options: DecodingOptions | None = None) -> list[DLMResult]:
        """Correct a batch and say, per hypothesis, what was proposed and which gates fired."""
        opts = options or self.options
        work: list[_Work] = []
        per_item: list[list[_Work]] = [[] for _ in batch]
        for i, hyp in enumerate(batch):
            wins = windows(hyp.text, self.inputs.window_chars, self.inputs.window_overlap)
            nbest = None
            if opts.use_nbest and hyp.nbest and len(wins) == 1:
                nbest = [x for x in hyp.nbest if not any(b in x for b in opts.banned)] or None
            for win in wins:
                src = format_input(win.text, nbest, hyp.source, hyp.lang, self.inputs)
                w = _Work(win, self._encode(src)[: self.max_source_tokens],
                          [*self._encode(win.text), self.model.eos_id])
                work.append(w)
                per_item[i].append(w)
        order = sorted(range(len(work)), key=lambda j: len(work[j].source_ids))
        for lo in range(0, len(order), self.batch_size):
            self._run([work[j] for j in order[lo: lo + self.batch_size]], opts)
        return [self._finish(hyp, per_item[i], opts) for i, hyp in enumerate(batch)]

    # -- internals

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def _run(self, chunk: Sequence[_Work], opts: DecodingOptions) -> None:
        m = self.model
        b = len(chunk)
        s = max(1, max(len(w.source_ids) for w in chunk))
        ids = np.full((b, s), m.pad_id, dtype=np.int64)
        mask = np.zeros((b, s), dtype=np.int64)
        for r, w in enumerate(chunk):
            ids[r, : len(w.source_ids)] = w.source_ids
            mask[r, : len(w.source_ids)] = 1
        mask[:, 0] = 1  # an empty source still attends to one position
        cross = m.encode(ids, mask)
        caps = []
        for w in chunk:
            cap = opts.max_new_tokens
            if opts.max_length_ratio is not None:
                cap = min(cap, math.ceil(opts.max_length_ratio * len(w.copy_ids)) + opts.length_slack)
            caps.append(max(cap, opts.min_new_tokens, 1))
        bias = None
        if opts.copy_bias > 0:
            bias = np.zeros((b, m.vocab_size), dtype=np.float32)
            for r, w in enumerate(chunk):
                bias[r, [t for t in w.copy_ids if 0 <= t < m.vocab_size]] = opts.copy_bias
        if opts.beam_size == 1 and opts.draft_copy:
            stop = opts.stop_rejected
            found, copy_lp, stopped = m.greedy_drafted(
                mask, cross, caps, [w.copy_ids for w in chunk], min_new=opts.min_new_tokens, bias=bias,
                reject_gap=opts.min_copy_gap if stop else None,
                reject_mean=math.log(opts.min_confidence) if stop and opts.min_confidence > 0 else None)
            for w, (toks, lp), clp, why in zip(chunk, found, copy_lp, stopped, strict=True):
                w.out_ids, w.out_logprob, w.copy_logprob, w.stopped = toks, lp, clp, why
            return
        if opts.beam_size == 1:
            found = m.greedy(mask, cross, caps, min_new=opts.min_new_tokens, bias=bias)
        else:
            found = m.beam(mask, cross, caps, beam_size=opts.beam_size, min_new=opts.min_new_tokens, bias=bias,
                           length_penalty=opts.length_penalty)
        for w, (toks, lp) in zip(chunk, found, strict=True):
            w.out_ids, w.out_logprob, w.copy_logprob = toks, lp, lp
        # the copy hypothesis needs its own (teacher-forced) score only where the output differs
        changed = [r for r, w in enumerate(chunk) if w.out_ids != w.copy_ids]
        if changed:
            copy_lp = m.score(mask[changed], [c[changed] for c in cross], [chunk[r].copy_ids for r in changed])
            for r, clp in zip(changed, copy_lp, strict=True):
                chunk[r].copy_logprob = clp

    def _gate(self, w: _Work, out_words: list[str], opts: DecodingOptions, nbest_words: set[str] | None) -> list[str]:
        """The gates a proposed window change fails (empty: accepted)."""
        if w.stopped:  # decoding stopped when this gate had to reject the output
            return [w.stopped]
        src_words = w.window.text.split()
        reasons = []
        if not w.out_ids or w.out_ids[-1] != self.model.eos_id:
            reasons.append("truncated")  # hit its length cap: the rest of the window would be lost
        n = max(1, len(w.out_ids or ()))
        if not math.exp(w.out_logprob / n) > opts.min_confidence:
            reasons.append("confidence")
        if opts.min_copy_gap is not None and w.out_logprob - w.copy_logprob < opts.min_copy_gap:
            reasons.append("copy_gap")
        if opts.keep_word_count and len(out_words) != len(src_words):
            reasons.append("word_count")
        if (opts.max_relative_edit is not None and
                word_edit_distance(src_words, out_words) / max(1, len(src_words)) > opts.max_relative_edit):
            reasons.append("max_edit")
        new_words = set(out_words) - set(src_words)
        if nbest_words is not None and any(x not in nbest_words for x in new_words):
            reasons.append("nbest_support")
        if opts.banned and any(b in x for x in new_words for b in opts.banned):
            reasons.append("banned")
        return reasons

    def _finish(self, hyp: Hypothesis, work: Sequence[_Work], opts: DecodingOptions) -> DLMResult:
        nbest_words: set[str] | None = None
        if opts.nbest_agreement == "support" and hyp.nbest and len(hyp.nbest) >= 2:
            nbest_words = {x for alt in hyp.nbest for x in alt.split()}
        wins = [w.window for w in work]
        accepted: list[str] = []
        proposed: list[str] = []
        rejected: list[str] = []
        lp_sum, n_tok, copy_sum, copy_n = 0.0, 0, 0.0, 0
        for w in work:
            out_text = normalize_space(self.tokenizer.decode(w.out_ids or [], skip_special_tokens=True))
            proposed.append(out_text)
            copy_sum += w.copy_logprob
            copy_n += len(w.copy_ids)
            reasons = ["unchanged"] if out_text == w.window.text else self._gate(w, out_text.split(), opts, nbest_words)
            if reasons:
                accepted.append(w.window.text)
                lp_sum += w.copy_logprob
                n_tok += len(w.copy_ids)
                rejected.extend(r for r in reasons if r != "unchanged")
            else:
                accepted.append(out_text)
                lp_sum += w.out_logprob
                n_tok += max(1, len(w.out_ids or ()))
        corrected = stitch(wins, accepted)
        proposal = stitch(wins, proposed)
        original = normalize_space(hyp.text)
        if (opts.nbest_agreement == "exact" and hyp.nbest and len(hyp.nbest) >= 2 and corrected != original
                and corrected not in {normalize_space(x) for x in hyp.nbest}):
            corrected = original
            lp_sum, n_tok = copy_sum, copy_n
            rejected.append("nbest_exact")
        if corrected == original:
            corrected = hyp.text  # keep the input verbatim, whitespace included
        confidence = math.exp(lp_sum / max(1, n_tok))
        copy_conf = math.exp(copy_sum / max(1, copy_n))
        return DLMResult(hyp, corrected, proposal, confidence, copy_conf, len(work), tuple(rejected))

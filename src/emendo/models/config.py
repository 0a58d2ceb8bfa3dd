"""Model and training configuration of the denoising LM: frozen dataclasses, read from JSON.

No torch here. A config file (``configs/dlm-*.json``) is a :class:`TrainConfig` as JSON,
with the :class:`ModelConfig` under ``"model"`` and the
:class:`~emendo.models.inputs.InputOptions` under ``"inputs"``. Every checkpoint stores
its TrainConfig as ``train_config.json`` (plus the keys ``format``, ``format_version``,
``version`` and ``step``, which :func:`load_train_config` ignores).

Relative paths in a config file (``train_files``, ``dev_file``, ``tokenizer``,
``run_dir``) are taken relative to the current directory (run from the repository root).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from emendo.errors import ConfigError
from emendo.models.inputs import InputOptions

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_FORMAT_VERSION", "ModelConfig", "TrainConfig", "load_train_config"]

CHECKPOINT_FORMAT = "emendo-dlm-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1
_CHECKPOINT_KEYS = frozenset({"format", "format_version", "version", "step"})

Amp = Literal["auto", "bf16", "fp16", "none"]


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Shape of the T5-style encoder-decoder (built as a ``transformers.T5Config``).

    ``vocab_size`` is the size of the embedding table and the target size when the
    tokenizer is trained; a tokenizer with more tokens is an error. ``max_input_tokens``
    / ``max_output_tokens`` bound training examples (longer pairs are skipped) and
    generation. ``num_decoder_layers`` defaults to ``num_layers``.
    """

    d_model: int = 256
    d_ff: int = 768
    num_layers: int = 4
    num_decoder_layers: int | None = None
    num_heads: int = 4
    d_kv: int = 64
    dropout: float = 0.1
    vocab_size: int = 8192
    max_input_tokens: int = 128
    max_output_tokens: int = 64
    feed_forward_proj: str = "relu"
    relative_attention_num_buckets: int = 32
    relative_attention_max_distance: int = 128
    tie_word_embeddings: bool = True

    def __post_init__(self) -> None:
        for name in ("d_model", "d_ff", "num_layers", "num_heads", "d_kv", "vocab_size",
                     "max_input_tokens", "max_output_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must lie in [0, 1), got {self.dropout}")

    @property
    def decoder_layers(self) -> int:
        return self.num_decoder_layers if self.num_decoder_layers is not None else self.num_layers

    def t5_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.T5Config`` (special ids as in :mod:`emendo.models.tokenizer`)."""
        return {
            "vocab_size": self.vocab_size, "d_model": self.d_model, "d_ff": self.d_ff, "d_kv": self.d_kv,
            "num_layers": self.num_layers, "num_decoder_layers": self.decoder_layers,
            "num_heads": self.num_heads, "dropout_rate": self.dropout,
            "feed_forward_proj": self.feed_forward_proj,
            "relative_attention_num_buckets": self.relative_attention_num_buckets,
            "relative_attention_max_distance": self.relative_attention_max_distance,
            "tie_word_embeddings": self.tie_word_embeddings,
            "pad_token_id": 0, "eos_token_id": 1, "decoder_start_token_id": 0,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        return cls(**_known(cls, data, "model"))


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything one training run needs; stored in every checkpoint as ``train_config.json``.

    Data: ``train_files`` (glob patterns of TrainingPair JSONL shards), ``dev_file``
    (JSONL; ``eval_samples`` of it are decoded at each evaluation, the first ones in file
    order), ``tokenizer`` (an existing ``tokenizer.json``; ``None`` trains one on
    ``tokenizer_sample`` training texts). Optimisation: AdamW (``lr``, ``weight_decay``,
    betas ``(0.9, 0.98)``), ``warmup_steps`` of linear warm-up then linear decay to
    ``min_lr_ratio * lr`` at ``steps``; ``grad_clip`` max gradient norm; ``batch_size``
    sentences per step. ``amp``: ``auto`` is bf16 on CUDA devices that support it, no
    autocast on CPU. Bookkeeping: a checkpoint every ``eval_every`` steps (and at the
    end), ``keep_checkpoints`` most recent kept, plus ``best/`` (lowest dev WER);
    ``log_every`` steps a JSONL log line. ``init_from``: a checkpoint directory whose weights
    (and tokenizer) a new run starts from, with a fresh optimiser and its own schedule (to go
    on training a model whose optimiser state was not kept); its model options must match.
    """

    name: str = "dlm"
    model: ModelConfig = field(default_factory=ModelConfig)
    inputs: InputOptions = field(default_factory=InputOptions)
    train_files: tuple[str, ...] = ("runs/data/textnoise/train-*.jsonl",)
    dev_file: str | None = "runs/data/textnoise/dev.jsonl"
    tokenizer: str | None = None
    tokenizer_sample: int = 200_000
    run_dir: str = "runs/dlm"
    steps: int = 10_000
    batch_size: int = 64
    lr: float = 1e-3
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.01
    warmup_steps: int = 500
    grad_clip: float = 1.0
    eval_every: int = 1000
    eval_samples: int = 500
    eval_batch_size: int = 64
    log_every: int = 50
    keep_checkpoints: int = 2
    seed: int = 0
    amp: Amp = "auto"
    bucket_size: int = 50
    init_from: str | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "eval_batch_size", "log_every", "keep_checkpoints",
                     "tokenizer_sample", "bucket_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.warmup_steps < 0 or self.grad_clip <= 0 or self.eval_samples < 0:
            raise ConfigError("lr and grad_clip must be > 0, warmup_steps and eval_samples >= 0")
        if self.amp not in ("auto", "bf16", "fp16", "none"):
            raise ConfigError(f"amp must be auto, bf16, fp16 or none, got {self.amp!r}")
        if not self.train_files:
            raise ConfigError("train_files must name at least one file or pattern")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["train_files"] = list(self.train_files)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a JSON object (checkpoint bookkeeping keys are ignored, other unknown keys rejected)."""
        kw = _known(cls, {k: v for k, v in data.items() if k not in _CHECKPOINT_KEYS}, "train config")
        if "model" in kw:
            kw["model"] = ModelConfig.from_dict(kw["model"])
        if "inputs" in kw:
            kw["inputs"] = InputOptions.from_dict(kw["inputs"])
        if "train_files" in kw:
            files = kw["train_files"]
            kw["train_files"] = (files,) if isinstance(files, str) else tuple(files)
        return cls(**kw)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)


def load_train_config(path: str | Path) -> TrainConfig:
    """Read a config file, or a checkpoint's ``train_config.json`` (a checkpoint directory works too)."""
    p = Path(path)
    if p.is_dir():
        p = p / "train_config.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{p}: malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a JSON object")
    return TrainConfig.from_dict(data)


def _known(cls: type, data: Mapping[str, Any], what: str) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{what}: unknown key(s): {', '.join(unknown)}")
    return dict(data)

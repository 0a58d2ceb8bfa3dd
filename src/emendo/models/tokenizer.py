"""The project tokenizer: byte-level BPE (HF ``tokenizers``; no torch), shared by training and serving.

Byte-level BPE covers every Unicode string losslessly (Latin, Cyrillic, anything else:
unknown characters fall back to their UTF-8 bytes, so ``<unk>`` never occurs). The
tokenizer does no normalisation and adds no tokens by itself (no post-processor):
callers format inputs with :func:`emendo.models.inputs.format_input` and append
``</s>`` to targets.

Special tokens (ids fixed, T5 convention): ``<pad>`` = 0 (also the decoder start
token), ``</s>`` = 1, ``<unk>`` = 2, then the control tokens ``<asr>``, ``<htr>``,
``<en>``, ``<ru>``, ``<sep>`` (3..7). Control tokens strip the spaces around them, so
``"<asr> <en> the cat"`` encodes as ``<asr>``, ``<en>``, ``the``, ``Ġcat``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from emendo.errors import ConfigError

__all__ = [
    "CONTROL_TOKENS",
    "EOS_ID",
    "PAD_ID",
    "SPECIAL_TOKENS",
    "UNK_ID",
    "check_tokenizer",
    "load_tokenizer",
    "train_tokenizer",
]

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
CONTROL_TOKENS: tuple[str, ...] = ("<asr>", "<htr>", "<en>", "<ru>", "<sep>")
SPECIAL_TOKENS: tuple[str, ...] = (PAD, EOS, UNK, *CONTROL_TOKENS)
PAD_ID, EOS_ID, UNK_ID = 0, 1, 2


def _added_tokens() -> list[AddedToken]:
    out = [AddedToken(t, special=True, normalized=False) for t in (PAD, EOS, UNK)]
    out += [AddedToken(t, special=True, normalized=False, lstrip=True, rstrip=True) for t in CONTROL_TOKENS]
    return out


def train_tokenizer(texts: Iterable[str], vocab_size: int, path: str | Path | None = None,
                    *, min_frequency: int = 2) -> Tokenizer:
    """Train a byte-level BPE tokenizer of at most ``vocab_size`` tokens on ``texts``; save it to ``path``.

    The vocabulary holds the special tokens, the 256 byte symbols and the learned merges;
    a small corpus can give fewer than ``vocab_size`` tokens. Training is deterministic
    for the same texts in the same order.
    """
    if vocab_size < len(SPECIAL_TOKENS) + 256:
        raise ConfigError(f"vocab_size must be >= {len(SPECIAL_TOKENS) + 256}, got {vocab_size}")
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=_added_tokens(),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    check_tokenizer(tok)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(path))
    return tok


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load ``tokenizer.json`` (a file, or a checkpoint directory holding one) and check its special ids."""
    p = Path(path)
    if p.is_dir():
        p = p / "tokenizer.json"
    if not p.is_file():
        raise ConfigError(f"tokenizer file not found: {p}")
    tok = Tokenizer.from_file(str(p))
    check_tokenizer(tok)
    return tok


def check_tokenizer(tok: Tokenizer) -> None:
    """Raise :class:`ConfigError` unless every special token has its fixed id."""
    for want, token in enumerate(SPECIAL_TOKENS):
        got = tok.token_to_id(token)
        if got != want:
            raise ConfigError(f"tokenizer: {token!r} has id {got}, expected {want}")

"""DANCER's context scorer: a cross-encoder that reads the utterance and one candidate together.

The feature scorer sees a candidate through numbers (sound distances, one cosine between the whole
utterance and the entity text, description-word overlaps). This model, a 4-layer MiniLM fine-tuned
by ``scripts/train_context_scorer.py`` (model card: ``emendo/data/models/context/README.md``), reads
``"<utterance with the span in [ brackets ]>"`` and ``"<surface form> | <name, aliases: description>"``
as one BERT sentence pair and gives a logit: is this the entity the speaker named? DANCER asks it
only about each span's few best candidates by the feature scorer (``Reranker.meta["context"]``), and
a logistic combination of both decides.

Its word embeddings are the bundled sentence encoder's (frozen in training), read from that model
file (``emendo/data/models/minilm/model.int8.onnx``, uint8 per-tensor) so they are not shipped twice;
the ONNX graph here starts at ``inputs_embeds``. int8 ONNX, onnxruntime, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer

# the bundled sentence encoder's folder: the tokenizer and word embeddings this model shares
from emendo.correctors.entities.embed import default_model_dir as encoder_dir
from emendo.correctors.entities.embed import file_fingerprint
from emendo.errors import ConfigError

FloatArray = npt.NDArray[np.float32]
MODEL_FILE = "context.int8.onnx"
WORD_EMBEDDINGS = "model.embeddings.word_embeddings.weight"


def default_model_dir(name: str = "context") -> Path:
    """A bundled context scorer's folder (``emendo/data/models/<name>``; the one shipped: ``context``)."""
    return Path(str(resources.files("emendo").joinpath(f"data/models/{name}")))


def marked(text: str, start: int, end: int) -> str:
    """The utterance with the span ``text[start:end]`` in brackets (the first segment)."""
    return f"{text[:start]}[ {text[start:end]} ]{text[end:]}"


def candidate_text(surface: str, entity_text: str) -> str:
    """A candidate as the model reads it (the second segment): the form it would write, then the
    entity's text (:func:`~emendo.correctors.entities.retrieval.entity_text`)."""
    return f"{surface} | {entity_text}"


class ContextScorer:
    """Logits of (utterance, span, candidate) pairs with the bundled (or a given) cross-encoder."""

    def __init__(self, model_dir: str | Path | None = None, *, max_length: int = 96,
                 intra_op_threads: int = 1) -> None:
        folder = Path(model_dir) if model_dir is not None else default_model_dir()
        model = folder / MODEL_FILE
        if not model.is_file():
            raise ConfigError(f"{folder}: no {MODEL_FILE}; run scripts/export_context_scorer.py")
        self.tokenizer = Tokenizer.from_file(str(encoder_dir() / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length, strategy="longest_first")
        quantised, scale, zero = read_initializers(encoder_dir() / "model.int8.onnx", WORD_EMBEDDINGS)
        self._table, self._scale, self._zero = quantised, float(scale), float(zero)
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.fingerprint = file_fingerprint(model)

    def logits(self, text: str, items: Sequence[tuple[int, int, str, str]]) -> FloatArray:
        """One logit per ``(start, end, surface, entity text)``: the span ``text[start:end]`` replaced
        by ``surface``, the entity that ``entity text`` describes, is what was said."""
        return self.pair_logits([(marked(text, s, e), candidate_text(surface, described))
                                 for s, e, surface, described in items])

    def pair_logits(self, pairs: Sequence[tuple[str, str]]) -> FloatArray:
        """Logits of ready-made (first segment, second segment) pairs, one model run each.

        Not one padded batch: the int8 model quantises its activations per tensor, so in a batch
        the other pairs (and the padding) moved a pair's logit, by up to 3.6 on the dev split at
        100k entities (mean 0.08); alone, each pair gets the logit it always gets, and on one
        thread the runs take less time than the padded batch (docs/entities-experiments.md,
        session 23). Tokenised one pair at a time too: the same ids as ``encode_batch``, whose thread
        pool cost 0.46 ms for 3 pairs between two corrections against 0.27 ms (session 26)."""
        logits = np.zeros(len(pairs), dtype=np.float32)
        for row, enc in enumerate(self.tokenizer.encode(first, second) for first, second in pairs):
            ids = np.asarray([enc.ids], dtype=np.int64)
            embeds = (self._table[ids].astype(np.float32) - self._zero) * self._scale
            feed = {"inputs_embeds": embeds, "attention_mask": np.ones_like(ids),
                    "token_type_ids": np.asarray([enc.type_ids], dtype=np.int64)}
            logits[row] = float(np.asarray(self.session.run(None, feed)[0]).reshape(-1)[0])
        return logits


def encode_pairs(tokenizer: Tokenizer, pairs: Sequence[tuple[str, str]]) -> tuple[npt.NDArray[np.int64], ...]:
    """input_ids, attention_mask, token_type_ids (int64, padded to the longest) of sentence pairs."""
    encs = tokenizer.encode_batch(list(pairs))
    width = max(len(e.ids) for e in encs)
    ids = np.zeros((len(encs), width), dtype=np.int64)
    mask, types = np.zeros_like(ids), np.zeros_like(ids)
    for row, enc in enumerate(encs):
        n = len(enc.ids)
        ids[row, :n], mask[row, :n], types[row, :n] = enc.ids, enc.attention_mask, enc.type_ids
    return ids, mask, types


# ---------------------------------------------------------------- reading one tensor from an ONNX file
# The serving install has onnxruntime, not the onnx package; an ONNX file is a protobuf ModelProto
# (graph = field 7; GraphProto.initializer = field 5; TensorProto: dims 1, data_type 2, float_data 4,
# int32_data 5, name 8, raw_data 9), so the three tensors of one quantised initializer are read
# with a few lines of protobuf decoding.

_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64}


def read_initializers(path: Path, name: str) -> tuple[npt.NDArray[np.generic], float, float]:
    """(``<name>_quantized`` array, its ``_scale``, its ``_zero_point``) from a dynamically
    quantised ONNX model (per-tensor quantisation)."""
    wanted = {f"{name}_quantized", f"{name}_scale", f"{name}_zero_point"}
    data = path.read_bytes()
    found: dict[str, npt.NDArray[np.generic]] = {}
    for field, start, end in _fields(data, 0, len(data)):
        if field != 7:
            continue
        for inner, s, e in _fields(data, start, end):
            if inner == 5:
                tensor = _tensor(data, s, e, wanted)
                if tensor is not None:
                    found[tensor[0]] = tensor[1]
    if set(found) != wanted:
        raise ConfigError(f"{path}: no per-tensor quantised {name} (found {sorted(found)})")
    return found[f"{name}_quantized"], float(found[f"{name}_scale"].reshape(-1)[0]), \
        float(found[f"{name}_zero_point"].reshape(-1)[0])


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes, pos: int, end: int) -> list[tuple[int, int, int]]:
    """(field number, start, end) of the length-delimited fields of one message; others skipped."""
    out = []
    while pos < end:
        key, pos = _varint(data, pos)
        wire = key & 7
        if wire == 0:
            _, pos = _varint(data, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((key >> 3, pos, pos + length))
            pos += length
        else:
            raise ConfigError(f"unsupported protobuf wire type {wire}")
    return out


def _tensor(data: bytes, start: int, end: int, wanted: set[str]) -> tuple[str, npt.NDArray[np.generic]] | None:
    """A TensorProto's (name, array) if its name is ``wanted``, else None (its data left unread)."""
    dims: list[int] = []
    dtype = 0
    name = ""
    raw: bytes | None = None
    floats: list[float] = []
    ints: list[int] = []
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            if field == 1:
                dims.append(value)
            elif field == 2:
                dtype = value
            elif field == 5:
                ints.append(value)
        elif wire == 2:
            length, pos = _varint(data, pos)
            chunk = data[pos:pos + length]
            pos += length
            if field == 8:
                name = chunk.decode()
                if name not in wanted:
                    return None
            elif field == 9:
                raw = chunk
            elif field == 1:  # packed dims
                p = 0
                while p < len(chunk):
                    v, p = _varint(chunk, p)
                    dims.append(v)
            elif field == 4:  # packed float_data
                floats += np.frombuffer(chunk, dtype="<f4").tolist()
            elif field == 5:  # packed int32_data
                p = 0
                while p < len(chunk):
                    v, p = _varint(chunk, p)
                    ints.append(v)
        elif wire == 5:
            if field == 4:
                floats.append(float(np.frombuffer(data[pos:pos + 4], dtype="<f4")[0]))
            pos += 4
        elif wire == 1:
            pos += 8
    if name not in wanted or dtype not in _DTYPES:
        return None
    kind = _DTYPES[dtype]
    if raw is not None:
        array = np.frombuffer(raw, dtype=kind).copy()
    else:
        array = np.asarray(floats if kind == np.float32 else ints).astype(kind)
    return name, array.reshape(dims) if dims else array

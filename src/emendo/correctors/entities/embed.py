"""Sentence embeddings for the dense entity retriever: a MiniLM, int8 ONNX, no torch.

The bundled model is a 4-layer student of all-MiniLM-L6-v2 distilled by
``scripts/train_entity_encoder.py`` (a third faster per utterance), exported by
``scripts/export_minilm.py`` (parity-checked against PyTorch) and bundled under
``emendo/data/models/minilm`` (see the model card there). Embeddings are the
mean of the last hidden states over real tokens, L2-normalised, as sentence-transformers
computes them for this model, so a dot product is a cosine.
"""

from __future__ import annotations

import hashlib
import os
import queue
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort
from tokenizers import Tokenizer
from tqdm import tqdm

from emendo.errors import ConfigError

FloatArray = npt.NDArray[np.float32]
MODEL_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
DIM = 384


def default_model_dir() -> Path:
    """The bundled model folder (``emendo/data/models/minilm``)."""
    return Path(str(resources.files("emendo").joinpath("data/models/minilm")))


class SentenceEmbedder:
    """Embeds texts into L2-normalised 384-d vectors with ONNX Runtime on CPU.

    ``max_length`` caps tokens per text (descriptions longer than that are cut); inputs are
    sorted by length inside :meth:`embed` so that padding stays small.
    """

    def __init__(self, model_dir: str | Path | None = None, *, max_length: int = 128,
                 intra_op_threads: int = 1) -> None:
        folder = Path(model_dir) if model_dir is not None else default_model_dir()
        model, tok = folder / MODEL_FILE, folder / TOKENIZER_FILE
        if not model.is_file() or not tok.is_file():
            raise ConfigError(f"{folder}: no {MODEL_FILE}/{TOKENIZER_FILE}; run scripts/export_minilm.py")
        self.tokenizer = Tokenizer.from_file(str(tok))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._model_path, self._options = str(model), options
        self._sessions = [self.session]  # embed_many's, one per worker thread
        self.fingerprint = file_fingerprint(model)
        self.dim = DIM

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> FloatArray:
        """An ``(len(texts), 384)`` float32 matrix of unit vectors, one row per text, in order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        ids, chunks = self._batches(texts, batch_size)
        for chunk in chunks:
            out[chunk] = self._run([ids[i] for i in chunk])
        return out

    def embed_many(self, texts: Sequence[str], batch_size: int = 64, *, workers: int | None = None,
                   progress: bool = False, desc: str = "embed") -> FloatArray:
        """:meth:`embed` for many texts (a catalog's descriptions): the same batches (so the same
        vectors: dynamic int8 quantisation scales each batch as a whole), run on ``workers`` threads
        (default: the CPU count), each with its own one-thread session, with a progress bar on a
        terminal when ``progress``."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        ids, chunks = self._batches(texts, batch_size)
        if not chunks:
            return out
        count = max(1, min(workers or os.cpu_count() or 1, len(chunks)))
        while len(self._sessions) < count:
            self._sessions.append(ort.InferenceSession(self._model_path, self._options,
                                                       providers=["CPUExecutionProvider"]))
        free: queue.SimpleQueue[ort.InferenceSession] = queue.SimpleQueue()
        for session in self._sessions[:count]:
            free.put(session)

        def run(chunk: list[int]) -> int:
            session = free.get()
            try:
                out[chunk] = self._run([ids[i] for i in chunk], session)
            finally:
                free.put(session)
            return len(chunk)

        with ThreadPoolExecutor(max_workers=count) as pool, \
                tqdm(total=len(texts), unit="text", desc=desc, disable=None if progress else True) as bar:
            for done in pool.map(run, chunks):
                bar.update(done)
        return out

    def _batches(self, texts: Sequence[str], batch_size: int) -> tuple[list[list[int]], list[list[int]]]:
        """Token ids of ``texts`` and the batches to run: text positions sorted by length (little
        padding), ``batch_size`` at a time."""
        ids = [e.ids for e in self.tokenizer.encode_batch(list(texts))] if texts else []
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        return ids, [order[start:start + batch_size] for start in range(0, len(order), batch_size)]

    def embed_one(self, text: str) -> FloatArray:
        """The unit vector of one text."""
        row: FloatArray = self.embed([text])[0]
        return row

    def _run(self, ids: list[list[int]], session: ort.InferenceSession | None = None) -> FloatArray:
        width = max(len(x) for x in ids)
        input_ids = np.zeros((len(ids), width), dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, seq in enumerate(ids):
            input_ids[row, :len(seq)] = seq
            mask[row, :len(seq)] = 1
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden = np.asarray((session or self.session).run(None, feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: FloatArray = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return unit


def file_fingerprint(path: Path) -> str:
    """A short content hash of a model file (keys embedding caches; names the model a scorer was fitted with)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]

#!/usr/bin/env python3
"""Does the denoising LM help on real data? WER/CER, harm and speed of an exported DLM.

Usage::

    .venv/bin/python bench/dlm_eval.py MODEL_DIR                      # evaluate the option sets
    .venv/bin/python bench/dlm_eval.py MODEL_DIR --tune               # tune gates on synthetic dev, then evaluate
    .venv/bin/python bench/dlm_eval.py MODEL_DIR --limit 200          # quick run (writes dlm_eval_limit200.*)

``MODEL_DIR`` is an ONNX export (:mod:`emendo.models.export`). Served exactly as the
product serves it (:class:`emendo.correctors.dlm.DenoisingLM`: int8 on CPU, windows and
input format from the exported ``train_config.json``; n-best lists go to the model when it
was trained with them, ``InputOptions.use_nbest``). Every option set is evaluated on:

(a) HyPoradise (``--hyporadise`` directory; test_ls_clean, test_ls_other, test_wsj_score,
    train_atis): WER (preset ``hyporadise``) of the 1-best, of the KenLM n-best rescorer,
    of the DLM alone and of rescorer + DLM (the DLM sees the rescorer's choice and the n-best);
(b) BLN600 (``--bln600`` CSV, 19th-century newspaper OCR): CER/WER (preset ``ocr``)
    before and after;
(c) harm: the clean references of HyPoradise and BLN600 given as input (no n-best list):
    the share of words the DLM changes (word edit distance / input words; target <= 0.5 %);
(d) the synthetic test split (``--synthetic`` directory, held-out documents): WER/CER
    (preset ``ocr``) before/after per group asr-en / htr-en / asr-ru / htr-ru, plus the
    share of words changed on its clean inputs (pairs whose noisy text is the clean text).

Option sets: ``ungated`` (the raw model: ``DecodingOptions()``), ``registry`` (the product
defaults of ``emendo.correctors.registry``), any ``--options NAME=JSON``, and with
``--tune`` the set chosen on the synthetic dev split (``tuned``) and a stricter one chosen
the same way under ``--strict-harm`` (``tuned-strict``):

``--tune`` decodes the synthetic dev split once per ``copy_bias`` value and applies the
gates (min_copy_gap, min_confidence, max_relative_edit, nbest_agreement) offline to the
stored per-window log-probabilities, for every grid point. Objective: the largest mean
relative WER/CER reduction on dev (all groups pooled), subject to at most ``--max-harm``
(0.5 %) of the words of the clean dev inputs being changed. The real sets are not looked
at while tuning; the chosen set is then evaluated on them once.

Decoding is shared between option sets with the same decoding parameters (gates are
applied afterwards with the corrector's own gate code) and between inputs that give the
same model windows (rescorer + DLM re-uses the DLM-alone windows). ``--cache DIR`` stores
the decoded windows (and their timings) so that an interrupted run resumes. The data are
read in place, never copied. Results: ``--out``/``dlm_eval[_TAG].json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from emendo.correctors.dlm import (  # noqa: E402
    DECODER_FILES,
    PRODUCT_OPTIONS,
    DecodingOptions,
    DenoisingLM,
    _Work,
    word_edit_distance,
)
from emendo.eval.bln600 import convert_bln600, read_bln600  # noqa: E402
from emendo.eval.hyporadise import convert_hyporadise  # noqa: E402
from emendo.eval.metrics import Comparison, _align, compare, score  # noqa: E402
from emendo.eval.normalize import get_preset  # noqa: E402
from emendo.models.inputs import format_input, normalize_space, stitch, windows  # noqa: E402
from emendo.records import Hypothesis, TrainingPair, with_text  # noqa: E402

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - tqdm is a core dependency
    tqdm = None

DATA = Path("/work/shared/data")
DEFAULT_HYPORADISE = DATA / "hyporadise"
DEFAULT_BLN600 = DATA / "bln600" / "train.csv"
DEFAULT_SYNTHETIC = REPO / "runs" / "data" / "textnoise"
HYPORADISE_SETS = ("test_ls_clean", "test_ls_other", "test_wsj_score", "train_atis")
GROUPS = ("asr-en", "htr-en", "asr-ru", "htr-ru")
#: the product defaults (src/emendo/correctors/registry.py) at the time of writing
REGISTRY = PRODUCT_OPTIONS
GATE_FIELDS = ("min_confidence", "min_copy_gap", "max_relative_edit", "nbest_agreement", "keep_word_count")
DECODE_FIELDS = ("beam_size", "max_new_tokens", "min_new_tokens", "max_length_ratio", "length_slack",
                 "length_penalty", "copy_bias", "use_nbest", "banned")

# the tuning grid (gates are applied offline; copy_bias needs one decode per value)
GRID: dict[str, tuple[Any, ...]] = {
    "copy_bias": (0.0, 0.5, 1.0, 2.0, 3.0),
    "min_copy_gap": (None, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0),
    "min_confidence": (0.0, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95),
    "max_relative_edit": (None, 0.05, 0.1, 0.15, 0.2, 0.34, 0.5),
    "nbest_agreement": ("off", "support", "exact"),
    "keep_word_count": (False, True),
}


def progress(items: Iterable[Any] | None = None, **kw: Any) -> Any:
    """A tqdm bar (stderr) unless disabled; ``items=None`` with ``total=`` gives a manual bar."""
    if tqdm is None or not PROGRESS:
        return _NoBar(items)
    return tqdm(items, file=sys.stderr, dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0, **kw)


class _NoBar:
    def __init__(self, items: Iterable[Any] | None) -> None:
        self.items = items

    def __iter__(self) -> Any:
        return iter(self.items or ())

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


PROGRESS = True


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data


@dataclass
class Task:
    """Hypotheses to correct and how to judge the result.

    ``kind`` is ``correct`` (score ``after`` against ``refs``, with ``before`` the text the
    recognizer produced) or ``harm`` (the inputs are clean: count the words changed).
    ``groups``/``clean`` label the items of the synthetic sets.
    """

    name: str
    kind: str
    hyps: list[Hypothesis]
    preset: str
    refs: list[str] | None = None
    before: list[str] | None = None
    groups: list[str] | None = None
    clean: list[bool] | None = None


def load_hyporadise(path: Path, set_name: str, limit: int | None) -> list[Hypothesis]:
    items = json.loads(path.read_text(encoding="utf-8"))
    conv = convert_hyporadise(items, set_name, limit=limit)
    conv.report(sys.stderr)
    return conv.records


def load_bln600(path: Path, limit: int | None) -> list[Hypothesis]:
    conv = convert_bln600(read_bln600(path), limit=limit)
    conv.report(sys.stderr)
    return conv.records


def load_pairs(path: Path, limit: int | None) -> list[TrainingPair]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                out.append(TrainingPair.from_dict(json.loads(line)))
                if limit is not None and len(out) >= limit:
                    break
    return out


def pair_task(name: str, pairs: Sequence[TrainingPair]) -> Task:
    hyps = [Hypothesis(id=p.id, text=p.noisy, source=p.source, lang=p.lang, nbest=p.nbest,
                       confidences=None) for p in pairs]
    return Task(name, "correct", hyps, "ocr", refs=[p.clean for p in pairs], before=[p.noisy for p in pairs],
                groups=[f"{p.source}-{p.lang}" for p in pairs],
                clean=[bool(p.provenance.get("clean")) or p.noisy == p.clean for p in pairs])


def reference_hyps(hyps: Sequence[Hypothesis]) -> list[Hypothesis]:
    """The clean references as inputs (no n-best list: the strictest case for the gates)."""
    return [Hypothesis(id=h.id, text=h.extra["reference"], source=h.source, lang=h.lang)
            for h in hyps if str(h.extra.get("reference", "")).strip()]


# ---------------------------------------------------------------- decoding (shared, cached)


def decode_key(opts: DecodingOptions) -> tuple[Any, ...]:
    return tuple(getattr(opts, f) for f in DECODE_FIELDS)


def gates_of(opts: DecodingOptions) -> dict[str, Any]:
    return {f: getattr(opts, f) for f in GATE_FIELDS}


class Decoder:
    """Plans windows exactly as :meth:`DenoisingLM.correct_detailed`, decodes each distinct window
    once per decoding key (in length-sorted batches through ``DenoisingLM._run``) and applies the
    gates with ``DenoisingLM._finish``, the product's own gate code."""

    def __init__(self, lm: DenoisingLM, cache_dir: Path | None) -> None:
        self.lm = lm
        self.memo: dict[tuple[Any, ...], dict[str, tuple[list[int], float, float]]] = {}
        self.timings: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}
        self.cache_dir = cache_dir
        card = lm.model.card
        self.model_id = card.get("files", {}).get(DECODER_FILES[lm.model.variant], {}).get("sha256", lm.version)

    def plan(self, hyp: Hypothesis, opts: DecodingOptions) -> list[_Work]:
        lm = self.lm
        wins = windows(hyp.text, lm.inputs.window_chars, lm.inputs.window_overlap)
        nbest = None
        if opts.use_nbest and hyp.nbest and len(wins) == 1:  # as DenoisingLM.correct_detailed does
            nbest = [x for x in hyp.nbest if not any(b in x for b in opts.banned)] or None
        out = []
        for win in wins:
            src = format_input(win.text, nbest, hyp.source, hyp.lang, lm.inputs)
            out.append(_Work(win, lm._encode(src)[: lm.max_source_tokens], [*lm._encode(win.text), lm.model.eos_id]))
        return out

    @staticmethod
    def wkey(w: _Work) -> str:
        return hashlib.sha1(json.dumps([w.source_ids, w.copy_ids]).encode()).hexdigest()

    def _cache_file(self, key: tuple[Any, ...]) -> Path | None:
        if self.cache_dir is None:
            return None
        h = hashlib.sha1(json.dumps([self.model_id, self.lm.max_source_tokens, key]).encode()).hexdigest()[:16]
        return self.cache_dir / f"decode-{h}.jsonl"

    def _memo(self, key: tuple[Any, ...]) -> dict[str, tuple[list[int], float, float]]:
        if key in self.memo:
            return self.memo[key]
        memo: dict[str, tuple[list[int], float, float]] = {}
        timings: dict[str, dict[str, Any]] = {}
        path = self._cache_file(key)
        if path is not None and path.is_file():
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:  # a torn last line of an interrupted run
                        continue
                    if "timing" in rec:
                        timings[rec["timing"]["task"]] = {**rec["timing"], "from_cache": True}
                    else:
                        memo[rec["k"]] = (rec["o"], rec["lp"], rec["clp"])
            log(f"cache {path.name}: {len(memo)} decoded windows")
        self.memo[key], self.timings[key] = memo, timings
        return memo

    def decode(self, task_name: str, hyps: Sequence[Hypothesis], opts: DecodingOptions,
               batch_size: int) -> list[list[_Work]]:
        """The planned and decoded windows of every hypothesis (input order)."""
        # gates are applied offline with other values: every window is decoded to its end
        full = dataclasses.replace(opts, stop_rejected=False)
        key = decode_key(opts)
        memo = self._memo(key)
        plans = [self.plan(h, opts) for h in hyps]
        todo: dict[str, _Work] = {}
        reused = 0
        for works in plans:
            for w in works:
                k = self.wkey(w)
                if k in memo:
                    reused += 1
                elif k not in todo:
                    todo[k] = w
        n_windows = sum(len(p) for p in plans)
        path = self._cache_file(key)
        t0 = time.perf_counter()
        if todo:
            order = sorted(todo.items(), key=lambda kv: len(kv[1].source_ids))
            bar = progress(total=len(order), desc=f"decode {task_name}", unit="win")
            fh = path.open("a", encoding="utf-8") if path is not None else None
            try:
                for lo in range(0, len(order), batch_size):
                    chunk = order[lo: lo + batch_size]
                    self.lm._run([w for _, w in chunk], full)
                    lines = []
                    for k, w in chunk:
                        memo[k] = (list(w.out_ids or []), float(w.out_logprob), float(w.copy_logprob))
                        if fh is not None:
                            lines.append(json.dumps({"k": k, "o": memo[k][0], "lp": memo[k][1], "clp": memo[k][2]}))
                    if fh is not None:
                        fh.write("\n".join(lines) + "\n")
                        fh.flush()
                    bar.update(len(chunk))
            finally:
                bar.close()
                if fh is not None:
                    fh.close()
        seconds = time.perf_counter() - t0
        if todo or task_name not in self.timings[key]:
            timing = {"task": task_name, "hyps": len(hyps), "windows": n_windows, "new_windows": len(todo),
                      "reused_windows": reused,
                      "seconds": round(seconds, 3), "load_avg": round(os.getloadavg()[0], 2)}
            if todo and not reused:  # nothing re-used from earlier tasks: an honest throughput figure
                timing["sent_per_s"] = round(len(hyps) / seconds, 1) if seconds else None
                timing["windows_per_s"] = round(n_windows / seconds, 1) if seconds else None
            self.timings[key][task_name] = timing
            if path is not None and todo:
                with path.open("a", encoding="utf-8") as fh2:
                    fh2.write(json.dumps({"timing": timing}) + "\n")
        for works in plans:
            for w in works:
                w.out_ids, w.out_logprob, w.copy_logprob = memo[self.wkey(w)]
        return plans

    def finish(self, hyps: Sequence[Hypothesis], plans: Sequence[list[_Work]], opts: DecodingOptions) -> list[str]:
        return [self.lm._finish(h, p, opts).corrected for h, p in zip(hyps, plans, strict=True)]

    def self_check(self, hyps: Sequence[Hypothesis], opts: DecodingOptions, batch_size: int) -> int:
        """Mismatches between this decoder and ``DenoisingLM.correct_detailed`` on ``hyps`` (same batching)."""
        opts = dataclasses.replace(opts, stop_rejected=False)  # as decode() runs them
        lm = self.lm
        saved = lm.batch_size
        lm.batch_size = batch_size
        try:
            ref = lm.correct_detailed(hyps, opts)
        finally:
            lm.batch_size = saved
        plans = [self.plan(h, opts) for h in hyps]
        work = [w for p in plans for w in p]
        order = sorted(range(len(work)), key=lambda j: len(work[j].source_ids))
        for lo in range(0, len(order), batch_size):
            lm._run([work[j] for j in order[lo: lo + batch_size]], opts)
        got = self.finish(hyps, plans, opts)
        return sum(r.corrected != g or r.proposed != lm._finish(h, p, opts).proposed
                   for r, g, h, p in zip(ref, got, hyps, plans, strict=True))


# ---------------------------------------------------------------- measures


def words_changed(inputs: Sequence[str], outputs: Sequence[str]) -> dict[str, Any]:
    """Word edit distance from input to output over all items, per input word (whitespace words)."""
    words = changed_words = changed = 0
    for a, b in zip(inputs, outputs, strict=True):
        wa, wb = a.split(), b.split()
        words += len(wa)
        if wa != wb:
            changed += 1
            changed_words += word_edit_distance(wa, wb)
    return {"n": len(inputs), "words": words, "changed_words": changed_words,
            "words_changed": changed_words / words if words else 0.0,
            "sentences_changed": changed / max(1, len(inputs))}


def cmp_dict(c: Comparison) -> dict[str, Any]:
    return c.to_dict()


def examples(refs: Sequence[str], before: Sequence[str], after: Sequence[str], preset: str,
             k: int = 8) -> dict[str, list[dict[str, str]]]:
    """The first ``k`` changed items that got better and worse (word, then character errors)."""
    p = get_preset(preset)
    idx = [i for i in range(len(refs)) if before[i] != after[i]]
    if not idx:
        return {"improved": [], "worsened": []}
    nr = p.normalize_all([refs[i] for i in idx])
    b = _align(nr, p.normalize_all([before[i] for i in idx]), p.name)
    a = _align(nr, p.normalize_all([after[i] for i in idx]), p.name)
    out: dict[str, list[dict[str, str]]] = {"improved": [], "worsened": []}
    for j, i in enumerate(idx):
        cb, ca = (b.word_errors[j], b.char_errors[j]), (a.word_errors[j], a.char_errors[j])
        kind = "improved" if ca < cb else "worsened" if ca > cb else None
        if kind and len(out[kind]) < k:
            out[kind].append({"reference": refs[i], "before": before[i], "after": after[i]})
    return out


# ---------------------------------------------------------------- tuning (offline gates)


@dataclass
class DevItem:
    """Gate features of one dev hypothesis, per window, for offline gating."""

    hyp: Hypothesis
    works: list[_Work]
    outs: list[str]
    changed: list[bool]
    truncated: list[bool]
    conf: list[float]
    gap: list[float]
    rel: list[float]
    support: list[bool]
    same_count: list[bool]
    nbest2: bool
    nbest_norm: frozenset[str]
    cache: dict[Any, tuple[int, int, int]] = field(default_factory=dict)


def dev_item(lm: DenoisingLM, hyp: Hypothesis, works: list[_Work]) -> DevItem:
    """Mirror of ``DenoisingLM._gate``/``_finish`` features (checked against them in :func:`tune`)."""
    eos = lm.model.eos_id
    nbest2 = bool(hyp.nbest) and len(hyp.nbest or ()) >= 2
    nbest_words = {x for alt in hyp.nbest or () for x in alt.split()} if nbest2 else None
    it = DevItem(hyp, works, [], [], [], [], [], [], [], [], nbest2,
                 frozenset(normalize_space(x) for x in hyp.nbest or ()) if nbest2 else frozenset())
    for w in works:
        out = normalize_space(lm.tokenizer.decode(w.out_ids or [], skip_special_tokens=True))
        src_words, out_words = w.window.text.split(), out.split()
        it.outs.append(out)
        it.changed.append(out != w.window.text)
        it.truncated.append(not w.out_ids or w.out_ids[-1] != eos)
        it.conf.append(math.exp(w.out_logprob / max(1, len(w.out_ids or ()))))
        it.gap.append(w.out_logprob - w.copy_logprob)
        it.rel.append(word_edit_distance(src_words, out_words) / max(1, len(src_words)))
        it.support.append(nbest_words is None or all(x in nbest_words for x in set(out_words) - set(src_words)))
        it.same_count.append(len(out_words) == len(src_words))
    return it


def window_ok(it: DevItem, j: int, g: dict[str, Any]) -> bool:
    return (it.changed[j] and not it.truncated[j] and it.conf[j] > g["min_confidence"]
            and (g["min_copy_gap"] is None or it.gap[j] >= g["min_copy_gap"])
            and (g["max_relative_edit"] is None or it.rel[j] <= g["max_relative_edit"])
            and (not g["keep_word_count"] or it.same_count[j])
            and (g["nbest_agreement"] != "support" or it.support[j]))


def offline_correct(it: DevItem, g: dict[str, Any]) -> str:
    """What ``DenoisingLM._finish`` returns for the gates ``g`` (the corrected text)."""
    acc = [window_ok(it, j, g) for j in range(len(it.works))]
    if not any(acc):
        return it.hyp.text
    corrected = stitch([w.window for w in it.works], [o if a else w.window.text
                                                      for o, a, w in zip(it.outs, acc, it.works, strict=True)])
    original = normalize_space(it.hyp.text)
    if g["nbest_agreement"] == "exact" and it.nbest2 and corrected != original and corrected not in it.nbest_norm:
        return it.hyp.text
    return it.hyp.text if corrected == original else corrected


class DevSet:
    """Vectorised offline gating of one decode of the dev split."""

    def __init__(self, items: list[DevItem], task: Task) -> None:
        assert task.refs is not None and task.clean is not None and task.groups is not None
        self.items, self.task = items, task
        self.preset = get_preset(task.preset)
        refs = self.preset.normalize_all(task.refs)
        self.refs = refs
        inp = _align(refs, self.preset.normalize_all([it.hyp.text for it in items]), task.preset)
        self.ref_words, self.ref_chars = inp.scores.ref_words, inp.scores.ref_chars
        self.w_in = np.array(inp.word_errors, dtype=np.int64)
        self.c_in = np.array(inp.char_errors, dtype=np.int64)
        self.clean = np.array(task.clean, dtype=bool)
        self.clean_words = int(sum(len(it.hyp.text.split()) for it, c in zip(items, task.clean, strict=True) if c))
        single = [i for i, it in enumerate(items) if len(it.works) == 1]
        self.multi = [i for i, it in enumerate(items) if len(it.works) > 1]
        self.single = np.array(single, dtype=np.int64)
        s = [items[i] for i in single]
        self.s_changed = np.array([it.changed[0] for it in s], dtype=bool)
        self.s_trunc = np.array([it.truncated[0] for it in s], dtype=bool)
        self.s_conf = np.array([it.conf[0] for it in s], dtype=np.float64)
        self.s_gap = np.array([it.gap[0] for it in s], dtype=np.float64)
        self.s_rel = np.array([it.rel[0] for it in s], dtype=np.float64)
        self.s_support = np.array([it.support[0] for it in s], dtype=bool)
        self.s_same_count = np.array([it.same_count[0] for it in s], dtype=bool)
        self.s_exact = np.array([not it.nbest2 or it.outs[0] in it.nbest_norm for it in s], dtype=bool)
        outs = self.preset.normalize_all([it.outs[0] for it in s])
        prop = _align([refs[i] for i in single], outs, task.preset)
        self.s_w_out = np.array(prop.word_errors, dtype=np.int64)
        self.s_c_out = np.array(prop.char_errors, dtype=np.int64)
        self.s_harm = np.array([word_edit_distance(it.hyp.text.split(), it.outs[0].split()) if c else 0
                                for it, c in zip(s, self.clean[self.single], strict=True)], dtype=np.int64)
        self.s_w_in, self.s_c_in = self.w_in[self.single], self.c_in[self.single]
        self.w_in_total, self.c_in_total = int(self.w_in.sum()), int(self.c_in.sum())

    def _multi_cost(self, i: int, g: dict[str, Any]) -> tuple[int, int, int, bool]:
        it = self.items[i]
        text = offline_correct(it, g)
        if text == it.hyp.text:
            return int(self.w_in[i]), int(self.c_in[i]), 0, False
        if text not in it.cache:
            a = _align([self.refs[i]], [self.preset.normalize(text)], self.task.preset)
            harm = word_edit_distance(it.hyp.text.split(), text.split()) if self.clean[i] else 0
            it.cache[text] = (a.word_errors[0], a.char_errors[0], harm)
        w, c, h = it.cache[text]
        return w, c, h, True

    def evaluate(self, g: dict[str, Any]) -> dict[str, Any]:
        acc = self.s_changed & ~self.s_trunc & (self.s_conf > g["min_confidence"])
        if g["min_copy_gap"] is not None:
            acc &= self.s_gap >= g["min_copy_gap"]
        if g["max_relative_edit"] is not None:
            acc &= self.s_rel <= g["max_relative_edit"]
        if g["keep_word_count"]:
            acc &= self.s_same_count
        if g["nbest_agreement"] == "support":
            acc &= self.s_support
        elif g["nbest_agreement"] == "exact":
            acc &= self.s_exact
        w = int(np.where(acc, self.s_w_out, self.s_w_in).sum())
        c = int(np.where(acc, self.s_c_out, self.s_c_in).sum())
        harm = int(self.s_harm[acc].sum())
        changed = int(acc.sum())
        for i in self.multi:
            wi, ci, hi, ch = self._multi_cost(i, g)
            w, c, harm, changed = w + wi, c + ci, harm + hi, changed + ch
        wer_b, cer_b = self.w_in_total / self.ref_words, self.c_in_total / self.ref_chars
        wer_a, cer_a = w / self.ref_words, c / self.ref_chars
        rel_w = (wer_b - wer_a) / wer_b if wer_b else 0.0
        rel_c = (cer_b - cer_a) / cer_b if cer_b else 0.0
        return {"wer_before": wer_b, "wer": wer_a, "cer_before": cer_b, "cer": cer_a, "wer_rel_reduction": rel_w,
                "cer_rel_reduction": rel_c, "objective": (rel_w + rel_c) / 2,
                "clean_words_changed": harm / self.clean_words if self.clean_words else 0.0,
                "changed": changed / len(self.items)}

    def corrected(self, g: dict[str, Any]) -> list[str]:
        return [offline_correct(it, g) for it in self.items]


def grid_points(grid: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(GATE_FIELDS, vals, strict=True)) for vals in itertools.product(*(grid[n] for n in GATE_FIELDS))]


def tune(decoder: Decoder, dev: Task, base: DecodingOptions, grid: dict[str, tuple[Any, ...]], max_harm: float,
         strict_harm: float, batch_size: int) -> dict[str, Any]:
    """Sweep the gates on the synthetic dev split; return the chosen options and the sweep summary.

    Besides the point chosen under ``max_harm`` (``_options``) a second, stricter point is
    chosen the same way under ``strict_harm`` (``_strict``), also on dev only.
    """
    lm = decoder.lm
    points = grid_points(grid)
    rows: list[dict[str, Any]] = []
    sets: dict[float, DevSet] = {}
    t0 = time.perf_counter()
    for bias in grid["copy_bias"]:
        opts = dataclasses.replace(base, copy_bias=float(bias))
        plans = decoder.decode(f"dev copy_bias={bias}", dev.hyps, opts, batch_size)
        items = [dev_item(lm, h, p) for h, p in zip(dev.hyps, plans, strict=True)]
        ds = DevSet(items, dev)
        sets[float(bias)] = ds
        for g in progress(points, desc=f"gates copy_bias={bias}", unit="pt"):
            rows.append({"copy_bias": float(bias), **g, **ds.evaluate(g)})
    feasible = [r for r in rows if r["clean_words_changed"] <= max_harm]
    if not feasible:
        raise SystemExit(f"no grid point keeps the clean-input word changes <= {max_harm:.2%}")

    def rank(r: dict[str, Any]) -> tuple[float, float, float]:
        return (-round(r["objective"], 9), r["changed"], r["clean_words_changed"])

    best = min(feasible, key=rank)
    chosen = dataclasses.replace(base, copy_bias=best["copy_bias"], **{f: best[f] for f in GATE_FIELDS})
    strict_rows = [r for r in rows if r["clean_words_changed"] <= strict_harm]
    strict = min(strict_rows, key=rank) if strict_rows else None
    # the offline gates must reproduce DenoisingLM._finish exactly: check the chosen points
    checks = [(best, chosen)]
    if strict is not None:
        checks.append((strict, dataclasses.replace(base, copy_bias=strict["copy_bias"],
                                                   **{f: strict[f] for f in GATE_FIELDS})))
    product: list[str] = []
    for point, opts in reversed(checks):  # the chosen point last: its texts are reported below
        ds = sets[point["copy_bias"]]
        product = decoder.finish(dev.hyps, [it.works for it in ds.items], opts)
        offline = ds.corrected(gates_of(opts))
        mismatches = sum(a != b for a, b in zip(product, offline, strict=True))
        if mismatches:
            raise SystemExit(f"offline gating disagrees with DenoisingLM._finish on {mismatches} dev items")
    assert dev.refs is not None and dev.before is not None
    verified = compare(dev.refs, dev.before, product, dev.preset)
    frontier: list[dict[str, Any]] = []
    for cap in (0.0, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 1.0):
        ok = [r for r in rows if r["clean_words_changed"] <= cap]
        if ok:
            lowest: dict[str, Any] = min(ok, key=rank)
            frontier.append({"max_clean_words_changed": cap, **lowest})
    per_mode = {}
    for mode in grid["nbest_agreement"]:
        ok = [r for r in feasible if r["nbest_agreement"] == mode]
        if ok:
            per_mode[mode] = min(ok, key=rank)
    registry_row = None
    if float(REGISTRY.copy_bias) in sets:
        registry_row = {"copy_bias": REGISTRY.copy_bias, **gates_of(REGISTRY),
                        **sets[float(REGISTRY.copy_bias)].evaluate(gates_of(REGISTRY))}
    ungated = {"copy_bias": 0.0, **gates_of(DecodingOptions()), **sets[0.0].evaluate(gates_of(DecodingOptions()))} \
        if 0.0 in sets else None
    groups = {}
    assert dev.groups is not None
    for grp in sorted(set(dev.groups)):
        idx = [i for i, x in enumerate(dev.groups) if x == grp]
        c = compare([dev.refs[i] for i in idx], [dev.before[i] for i in idx], [product[i] for i in idx], dev.preset)
        groups[grp] = {"n": len(idx), "wer_before": c.before.wer, "wer": c.after.wer, "cer_before": c.before.cer,
                       "cer": c.after.cer, "changed": c.changed}
    return {
        "split": "synthetic dev", "n": len(dev.hyps), "clean_items": int(sum(dev.clean or [])),
        "objective": "max mean relative WER/CER reduction (preset ocr, all groups pooled) subject to "
                     f"clean-input words changed <= {max_harm:.2%}",
        "grid": {k: list(v) for k, v in grid.items()}, "points": len(rows),
        "seconds": round(time.perf_counter() - t0, 1),
        "chosen": {"copy_bias": best["copy_bias"], **{f: best[f] for f in GATE_FIELDS}},
        "chosen_dev": best, "chosen_dev_groups": groups, "verified_with_product_gates": True,
        "chosen_dev_compare": cmp_dict(verified), "registry_dev": registry_row, "ungated_dev": ungated,
        "best_per_nbest_agreement": per_mode, "frontier": frontier,
        "top": sorted(feasible, key=rank)[:15],
        "strict": None if strict is None else {"max_clean_words_changed": strict_harm, **strict},
        "_options": chosen,
        "_strict": None if strict is None else dataclasses.replace(
            base, copy_bias=strict["copy_bias"], **{f: strict[f] for f in GATE_FIELDS}),
    }


# ---------------------------------------------------------------- evaluation


def evaluate(decoder: Decoder, tasks: Sequence[Task], option_sets: dict[str, DecodingOptions],
             batch_size: int) -> dict[str, dict[str, list[str]]]:
    """Corrected texts: ``{task name: {option set: texts}}``; one decode per decoding key."""
    by_key: dict[tuple[Any, ...], list[str]] = {}
    for name, opts in option_sets.items():
        by_key.setdefault(decode_key(opts), []).append(name)
    out: dict[str, dict[str, list[str]]] = {t.name: {} for t in tasks}
    for key, names in by_key.items():
        opts0 = option_sets[names[0]]
        for task in tasks:
            plans = decoder.decode(task.name, task.hyps, opts0, batch_size)
            for name in names:
                out[task.name][name] = decoder.finish(task.hyps, plans, option_sets[name])
        log(f"decoded all tasks for {names} (key {key})")
    return out


def hyporadise_results(sets: dict[str, list[Hypothesis]], rescored: dict[str, list[str]],
                       texts: dict[str, dict[str, list[str]]], names: Sequence[str],
                       rescorer_seconds: dict[str, float], tasks: dict[str, Task]) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for set_name, hyps in sets.items():
        refs = [str(h.extra["reference"]) for h in hyps]
        one_best = [h.text for h in hyps]
        oracle = []
        for h, r in zip(hyps, refs, strict=True):
            cands = list(h.nbest or (h.text,))
            a = _align([get_preset("hyporadise").normalize(r)] * len(cands),
                       get_preset("hyporadise").normalize_all(cands), "hyporadise")
            oracle.append(cands[int(np.argmin(a.word_errors))])
        entry: dict[str, Any] = {
            "n": len(hyps),
            "one_best": score(refs, one_best, "hyporadise").to_dict(),
            "oracle_wer": score(refs, oracle, "hyporadise").wer,
            "rescorer": cmp_dict(compare(refs, one_best, rescored[set_name], "hyporadise")),
            "rescorer_utt_per_s": round(len(hyps) / rescorer_seconds[set_name], 1)
            if rescorer_seconds[set_name] else None,
            "dlm": {}, "rescorer+dlm": {}, "dlm_without_nbest": {}, "harm_clean_reference": {}, "examples": {},
        }
        for name in names:
            entry["dlm"][name] = cmp_dict(compare(refs, one_best, texts[f"hyporadise/{set_name}/dlm"][name],
                                                  "hyporadise"))
            entry["rescorer+dlm"][name] = cmp_dict(compare(
                refs, one_best, texts[f"hyporadise/{set_name}/rescorer+dlm"][name], "hyporadise"))
            entry["dlm_without_nbest"][name] = cmp_dict(compare(
                refs, one_best, texts[f"hyporadise/{set_name}/dlm-no-nbest"][name], "hyporadise"))
            harm = tasks[f"hyporadise/{set_name}/harm"]
            entry["harm_clean_reference"][name] = words_changed([h.text for h in harm.hyps], texts[harm.name][name])
            entry["examples"][name] = examples(refs, one_best, texts[f"hyporadise/{set_name}/dlm"][name], "hyporadise")
        res[set_name] = entry
    return res


def bln600_results(task: Task, harm: Task, texts: dict[str, dict[str, list[str]]],
                   names: Sequence[str]) -> dict[str, Any]:
    assert task.refs is not None and task.before is not None
    res: dict[str, Any] = {"n": len(task.hyps), "dlm": {}, "harm_clean_reference": {}, "examples": {}}
    for name in names:
        res["dlm"][name] = cmp_dict(compare(task.refs, task.before, texts[task.name][name], "ocr"))
        res["examples"][name] = examples(task.refs, task.before, texts[task.name][name], "ocr")
        res["harm_clean_reference"][name] = words_changed([h.text for h in harm.hyps], texts[harm.name][name])
    return res


def synthetic_results(task: Task, texts: dict[str, dict[str, list[str]]], names: Sequence[str]) -> dict[str, Any]:
    assert task.refs is not None and task.before is not None and task.groups is not None and task.clean is not None
    res: dict[str, Any] = {"n": len(task.hyps), "by_option": {}}
    for name in names:
        after = texts[task.name][name]
        per: dict[str, Any] = {}
        for grp in ["all", *[g for g in GROUPS if g in task.groups]]:
            idx = [i for i, x in enumerate(task.groups) if grp in ("all", x)]
            c = compare([task.refs[i] for i in idx], [task.before[i] for i in idx], [after[i] for i in idx], "ocr")
            clean = [i for i in idx if task.clean[i]]
            per[grp] = {**cmp_dict(c), "clean_inputs": words_changed([task.before[i] for i in clean],
                                                                      [after[i] for i in clean])}
        res["by_option"][name] = per
    return res


# ---------------------------------------------------------------- report


def pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f}"


def machine() -> dict[str, Any]:
    import onnxruntime

    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"started": dt.datetime.now().isoformat(timespec="seconds"), "machine": platform.machine(), "cpu": cpu,
            "cores": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "load_avg_start": [round(x, 2) for x in os.getloadavg()]}


def rel(before: float, after: float) -> str:
    return f"{100 * (after - before) / before:+.1f}%" if before else "n/a"


def summary_table(res: dict[str, Any]) -> list[str]:
    """Relative change of the error rates against the input, per option set (negative is better)."""
    cols: list[tuple[str, Any]] = []
    for set_name in res.get("hyporadise", {}):
        cols.append((f"{set_name} WER", lambda n, s=set_name: (res["hyporadise"][s]["dlm"][n]["before"]["wer"],
                                                              res["hyporadise"][s]["dlm"][n]["after"]["wer"])))
    if "bln600" in res:
        for m in ("cer", "wer"):
            cols.append((f"BLN600 {m.upper()}", lambda n, m=m: (res["bln600"]["dlm"][n]["before"][m],
                                                                res["bln600"]["dlm"][n]["after"][m])))
    if "synthetic_test" in res:
        for m in ("wer", "cer"):
            cols.append((f"synthetic test {m.upper()}", lambda n, m=m: (
                res["synthetic_test"]["by_option"][n]["all"]["before"][m],
                res["synthetic_test"]["by_option"][n]["all"]["after"][m])))
    if not cols:
        return []
    harm_cols = []
    if "hyporadise" in res or "bln600" in res:
        harm_cols = ["max clean-reference words changed"]
    out = ["## Summary: relative change of the error rate against the input (negative is better)", "",
           "| option set | " + " | ".join(c for c, _ in cols) + "".join(f" | {h}" for h in harm_cols) + " |",
           "|---" * (1 + len(cols) + len(harm_cols)) + "|"]
    for name in res["option_sets"]:
        cells = [rel(*f(name)) for _, f in cols]
        if harm_cols:
            hs = [e["harm_clean_reference"][name]["words_changed"] for e in res.get("hyporadise", {}).values()]
            if "bln600" in res:
                hs.append(res["bln600"]["harm_clean_reference"][name]["words_changed"])
            cells.append(f"{pct(max(hs))}%")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def example_lines(ex: dict[str, list[dict[str, str]]], k: int = 3) -> list[str]:
    out = []
    for kind in ("worsened", "improved"):
        for e in ex.get(kind, [])[:k]:
            out += [f"* {kind}: `{e['before'][:160]}` -> `{e['after'][:160]}` (reference `{e['reference'][:160]}`)"]
    return out


def to_markdown(res: dict[str, Any]) -> str:
    meta = res["meta"]
    names = list(res["option_sets"])
    out = [f"# Denoising LM on real data ({meta['model_version']})", ""]
    m = meta["machine"]
    out += [f"Machine: {m['machine']} {m['cpu']}, {m['cores']} cores (shared with other jobs), Python {m['python']}, "
            f"onnxruntime {m['onnxruntime']}, {meta['threads']} intra-op thread(s), batch {meta['batch_size']}; "
            f"load average {m['load_avg_start']} at start, {meta.get('load_avg_end')} at end. "
            f"Run started {meta['started']}, {meta['seconds']:.0f} s in all.", "",
            f"Model: `{meta['model_dir']}` version `{meta['model_version']}` ({meta['parameters']:,} parameters), "
            f"input options {json.dumps(meta['input_options'])}: n-best lists "
            f"{'are' if meta['input_options']['use_nbest'] else 'are not'} given to the model "
            "(only when the 1-best fits one window).", ""]
    if meta.get("limit"):
        out += [f"**Subset run: at most {meta['limit']} items per set** (`--limit`).", ""]
    exp = res.get("export")
    if exp:
        p = exp.get("parity") or {}
        out += ["## Export", "",
                f"Parity ({p.get('n_inputs')} inputs, {p.get('max_new_tokens')} new tokens): fp32 max |logit diff| "
                f"{p.get('fp32_max_abs_logit_diff')} (step-wise {p.get('fp32_step_max_abs_logit_diff')}), "
                f"fp32 greedy identical {p.get('fp32_greedy_identical')}/{p.get('n_inputs')}; int8 greedy agreement "
                f"{p.get('int8_greedy_agreement')} (max |logit diff| {p.get('int8_max_abs_logit_diff')}). "
                f"Files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in exp.get("files", {}).items()), ""]
    out += summary_table(res)
    out += ["## Option sets", "", "| name | options |", "|---|---|"]
    for name, o in res["option_sets"].items():
        out.append(f"| {name} | `{json.dumps(o)}` |")
    out.append("")
    tun = res.get("tuning")
    if tun:
        out += ["## Gate tuning (synthetic dev split only)", "",
                f"{tun['n']} dev pairs ({tun['clean_items']} clean inputs); {tun['points']} grid points in "
                f"{tun['seconds']:.0f} s (one decode per copy_bias, gates applied offline, the chosen point re-checked "
                f"with the corrector's own gate code). Objective: {tun['objective']}.", "",
                f"Chosen: `{json.dumps(tun['chosen'])}`", "",
                "| point | WER before | WER | CER before | CER | obj. | clean words changed | changed |",
                "|---|---|---|---|---|---|---|---|"]

        def row(label: str, r: dict[str, Any] | None) -> None:
            if r:
                out.append(f"| {label} | {pct(r['wer_before'])} | {pct(r['wer'])} | {pct(r['cer_before'])} | "
                           f"{pct(r['cer'])} | {pct(r['objective'], 1)}% | {pct(r['clean_words_changed'])}% | "
                           f"{pct(r['changed'], 1)}% |")

        row("chosen", tun["chosen_dev"])
        row(f"tuned-strict (cap {pct((tun.get('strict') or {}).get('max_clean_words_changed'))}%)", tun.get("strict"))
        row("registry", tun.get("registry_dev"))
        row("ungated", tun.get("ungated_dev"))
        for mode, r in tun["best_per_nbest_agreement"].items():
            row(f"best with nbest_agreement={mode}", r)
        out += ["", "Best point under each cap on clean-input word changes (dev):", "",
                "| cap | copy_bias | min_copy_gap | min_confidence | max_relative_edit | nbest | WER | CER | "
                "obj. | clean words changed |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in tun["frontier"]:
            out.append(f"| {pct(r['max_clean_words_changed'])}% | {r['copy_bias']} | {r['min_copy_gap']} | "
                       f"{r['min_confidence']} | {r['max_relative_edit']} | {r['nbest_agreement']} | {pct(r['wer'])} | "
                       f"{pct(r['cer'])} | {pct(r['objective'], 1)}% | {pct(r['clean_words_changed'])}% |")
        out += ["", "Chosen point per dev group (verified through `DenoisingLM._finish`):", "",
                "| group | N | WER before | WER | CER before | CER | changed |", "|---|---|---|---|---|---|---|"]
        for g, r in tun["chosen_dev_groups"].items():
            out.append(f"| {g} | {r['n']} | {pct(r['wer_before'])} | {pct(r['wer'])} | {pct(r['cer_before'])} | "
                       f"{pct(r['cer'])} | {r['changed']} |")
        out.append("")
    hyp = res.get("hyporadise")
    if hyp:
        out += ["## HyPoradise (real ASR 5-best; WER %, preset hyporadise)", "",
                "*1-best* is the recognizer's output; *rescorer* the KenLM n-best rescorer (product defaults); "
                "*DLM* the denoising LM on the 1-best (+ n-best); *resc.+DLM* the DLM on the rescorer's choice; "
                "*DLM w/o n-best* (diagnostic) the DLM given the 1-best alone, as if there were no n-best list. "
                "*harm (1-best)*: correct 1-best utterances the DLM broke / correct 1-best utterances. "
                "*clean ref words changed*: the references given as input (no n-best list).", ""]
        for name in names:
            out += [f"### option set `{name}`", "",
                    "| set | N | 1-best | oracle | rescorer | DLM | resc.+DLM | DLM w/o n-best | DLM changed | "
                    "DLM improved/worsened | harm (1-best) | clean ref words changed |",
                    "|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for set_name, e in hyp.items():
                d, rd, h = e["dlm"][name], e["rescorer+dlm"][name], e["harm_clean_reference"][name]
                out.append(f"| {set_name} | {e['n']} | {pct(e['one_best']['wer'])} | {pct(e['oracle_wer'])} | "
                           f"{pct(e['rescorer']['after']['wer'])} | {pct(d['after']['wer'])} | "
                           f"{pct(rd['after']['wer'])} | {pct(e['dlm_without_nbest'][name]['after']['wer'])} | "
                           f"{pct(d['changed'] / max(1, d['n']), 1)}% | "
                           f"{d['improved']}/{d['worsened']} | {d['harmed']}/{d['correct_before']} | "
                           f"{pct(h['words_changed'])}% |")
            out.append("")
        shown = "tuned" if "tuned" in names else names[-1]
        out += [f"First changed utterances that got worse / better (option set `{shown}`; more in the JSON):", ""]
        for set_name, e in hyp.items():
            out += [f"{set_name}:", "", *example_lines(e.get("examples", {}).get(shown, {})), ""]
    bln = res.get("bln600")
    if bln:
        out += ["## BLN600 (real 19th-century newspaper OCR; preset ocr: case and punctuation count)", "",
                "| option set | N | CER before | CER after | WER before | WER after | changed | improved/worsened | "
                "clean GT words changed |", "|---|---|---|---|---|---|---|---|---|"]
        for name in names:
            d, h = bln["dlm"][name], bln["harm_clean_reference"][name]
            out.append(f"| {name} | {bln['n']} | {pct(d['before']['cer'])} | {pct(d['after']['cer'])} | "
                       f"{pct(d['before']['wer'])} | {pct(d['after']['wer'])} | "
                       f"{pct(d['changed'] / max(1, d['n']), 1)}% | {d['improved']}/{d['worsened']} | "
                       f"{pct(h['words_changed'])}% |")
        out.append("")
        shown = "tuned" if "tuned" in names else names[-1]
        out += [f"First changed lines that got worse / better (option set `{shown}`; more in the JSON):", "",
                *example_lines(bln.get("examples", {}).get(shown, {})), ""]
    syn = res.get("synthetic_test")
    if syn:
        out += ["## Synthetic test split (held-out documents; preset ocr)", "",
                "| option set | group | N | WER before | WER after | CER before | CER after | changed | "
                "clean inputs: words changed |", "|---|---|---|---|---|---|---|---|---|"]
        for name in names:
            for grp, d in syn["by_option"][name].items():
                out.append(f"| {name} | {grp} | {d['n']} | {pct(d['before']['wer'])} | {pct(d['after']['wer'])} | "
                           f"{pct(d['before']['cer'])} | {pct(d['after']['cer'])} | {d['changed']} | "
                           f"{pct(d['clean_inputs']['words_changed'])}% ({d['clean_inputs']['n']}) |")
        out.append("")
    out += ["## Decoding speed", "",
            f"One process, onnxruntime CPU, {meta['variant']}, {meta['threads']} thread(s); *sent/s* only where no "
            "window of the task was re-used from an earlier task (repeats inside a task are decoded once); includes "
            "tokenising, encoder, greedy decoder with KV cache and teacher-forced scoring of the copy hypothesis. "
            "*load*: 1-minute load average after the step (2 cores, other jobs running).", "",
            "| decode (copy_bias) | task | hyps | windows | new windows | seconds | sent/s | windows/s | load |",
            "|---|---|---|---|---|---|---|---|---|"]
    for t in res["timings"]:
        out.append(f"| {t['copy_bias']} | {t['task']} | {t['hyps']} | {t['windows']} | {t['new_windows']} | "
                   f"{t['seconds']}{' (cached)' if t.get('from_cache') else ''} | {t.get('sent_per_s', '')} | "
                   f"{t.get('windows_per_s', '')} | {t.get('load_avg', '')} |")
    out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- main


def parse_options(spec: str) -> tuple[str, DecodingOptions]:
    name, _, js = spec.partition("=")
    if not name or not js:
        raise argparse.ArgumentTypeError("expected NAME=JSON, e.g. strict={\"min_copy_gap\": 4}")
    return name, DecodingOptions(**json.loads(js))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("model", type=Path, help="exported DLM directory (model_card.json)")
    p.add_argument("--hyporadise", type=Path, default=DEFAULT_HYPORADISE, help="HyPoradise directory (JSON files)")
    p.add_argument("--sets", nargs="+", default=list(HYPORADISE_SETS), help="HyPoradise sets")
    p.add_argument("--bln600", type=Path, default=DEFAULT_BLN600, help="BLN600 train.csv")
    p.add_argument("--synthetic", type=Path, default=DEFAULT_SYNTHETIC, help="directory with dev.jsonl and test.jsonl")
    p.add_argument("--skip", nargs="*", default=[], choices=["hyporadise", "bln600", "synthetic"],
                   help="leave these evaluations out")
    p.add_argument("--limit", type=int, help="at most N items per set (quick runs)")
    p.add_argument("--limit-hyporadise", type=int, help="override --limit for HyPoradise sets")
    p.add_argument("--limit-bln600", type=int, help="override --limit for BLN600")
    p.add_argument("--tune", action="store_true", help="tune the gates on the synthetic dev split first")
    p.add_argument("--tune-limit", type=int, help="at most N dev pairs for tuning (default: --limit)")
    p.add_argument("--tune-only", action="store_true", help="stop after tuning (no real data read)")
    p.add_argument("--max-harm", type=float, default=0.005, help="tuning cap on clean dev words changed (0.005)")
    p.add_argument("--strict-harm", type=float, default=0.001,
                   help="cap of the second, stricter tuned point (tuned-strict; 0.001)")
    p.add_argument("--copy-bias-grid", type=float, nargs="+", help="copy_bias values to sweep (default 0 .5 1 2)")
    p.add_argument("--options", action="append", default=[], type=parse_options, metavar="NAME=JSON",
                   help="an extra option set, DecodingOptions fields as JSON (repeatable)")
    p.add_argument("--no-ungated", action="store_true", help="leave out the ungated option set")
    p.add_argument("--variant", default="auto", choices=["auto", "fp32", "int8"])
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (1)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--cache", type=Path, help="directory for decoded windows (resume / re-use between runs)")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    p.add_argument("--tag", help="suffix of the result files (default: limit<N> for subset runs)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    global PROGRESS
    args = build_parser().parse_args(argv)
    PROGRESS = not args.no_progress
    started = time.perf_counter()
    started_machine = machine()
    lm = DenoisingLM(args.model, options=REGISTRY, variant=args.variant, intra_op_threads=args.threads,
                     batch_size=args.batch_size, providers=["CPUExecutionProvider"])
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    decoder = Decoder(lm, args.cache)
    lim_h = args.limit_hyporadise or args.limit
    lim_b = args.limit_bln600 or args.limit
    tag = args.tag or (f"limit{args.limit}" if args.limit else "")
    stem = "dlm_eval" + (f"_{tag}" if tag else "")
    log(f"model {lm.version}, inputs {lm.inputs.to_dict()}, results -> {args.out / stem}.{{json,md}}")

    option_sets: dict[str, DecodingOptions] = {}
    if not args.no_ungated:
        option_sets["ungated"] = DecodingOptions()
    option_sets["registry"] = REGISTRY
    for name, opts in args.options:
        option_sets[name] = opts

    res: dict[str, Any] = {}
    tuning = None
    if args.tune:
        dev = pair_task("synthetic/dev", load_pairs(args.synthetic / "dev.jsonl", args.tune_limit or args.limit))
        bad = decoder.self_check(dev.hyps[:48], REGISTRY, args.batch_size)
        if bad:
            raise SystemExit(f"the bench decoder disagrees with DenoisingLM.correct_detailed on {bad}/48 items")
        grid = dict(GRID)
        if args.copy_bias_grid:
            grid["copy_bias"] = tuple(args.copy_bias_grid)
        log(f"tuning on {len(dev.hyps)} synthetic dev pairs")
        tuning = tune(decoder, dev, DecodingOptions(), grid, args.max_harm, args.strict_harm, args.batch_size)
        option_sets["tuned"] = tuning.pop("_options")
        strict = tuning.pop("_strict")
        if strict is not None and strict != option_sets["tuned"]:
            option_sets["tuned-strict"] = strict
        log(f"chosen: {json.dumps(tuning['chosen'])}  dev: {json.dumps(tuning['chosen_dev'])}")
        res["tuning"] = tuning
    if args.tune_only:
        return _write(args, stem, res, lm, option_sets, decoder, started, started_machine, lim_h, lim_b)

    tasks: list[Task] = []
    hyp_sets: dict[str, list[Hypothesis]] = {}
    rescored: dict[str, list[str]] = {}
    rescorer_seconds: dict[str, float] = {}
    if "hyporadise" not in args.skip:
        from emendo.correctors.rescorer import NBestRescorer

        rescorer = NBestRescorer()
        for set_name in args.sets:
            hyps = load_hyporadise(args.hyporadise / f"{set_name}.json", set_name, lim_h)
            hyp_sets[set_name] = hyps
            t0 = time.perf_counter()
            rescored[set_name] = [c.corrected for c in rescorer.correct(hyps)]
            rescorer_seconds[set_name] = time.perf_counter() - t0
            tasks.append(Task(f"hyporadise/{set_name}/dlm", "correct", hyps, "hyporadise"))
            tasks.append(Task(f"hyporadise/{set_name}/rescorer+dlm", "correct",
                              [with_text(h, t) for h, t in zip(hyps, rescored[set_name], strict=True)], "hyporadise"))
            tasks.append(Task(f"hyporadise/{set_name}/harm", "harm", reference_hyps(hyps), "hyporadise"))
            tasks.append(Task(f"hyporadise/{set_name}/dlm-no-nbest", "correct",
                              [dataclasses.replace(h, nbest=None, nbest_scores=None) for h in hyps], "hyporadise"))
            log(f"HyPoradise {set_name}: {len(hyps)} utterances")
    bln_task = bln_harm = None
    if "bln600" not in args.skip:
        hyps = load_bln600(args.bln600, lim_b)
        bln_task = Task("bln600/dlm", "correct", hyps, "ocr", refs=[str(h.extra["reference"]) for h in hyps],
                        before=[h.text for h in hyps])
        bln_harm = Task("bln600/harm", "harm", reference_hyps(hyps), "ocr")
        tasks += [bln_task, bln_harm]
        log(f"BLN600: {len(hyps)} lines")
    syn_task = None
    if "synthetic" not in args.skip:
        syn_task = pair_task("synthetic/test", load_pairs(args.synthetic / "test.jsonl", args.limit))
        tasks.append(syn_task)
        log(f"synthetic test: {len(syn_task.hyps)} pairs")

    texts = evaluate(decoder, tasks, option_sets, args.batch_size)
    names = list(option_sets)
    if hyp_sets:
        res["hyporadise"] = hyporadise_results(hyp_sets, rescored, texts, names, rescorer_seconds,
                                               {t.name: t for t in tasks})
    if bln_task is not None and bln_harm is not None:
        res["bln600"] = bln600_results(bln_task, bln_harm, texts, names)
    if syn_task is not None:
        res["synthetic_test"] = synthetic_results(syn_task, texts, names)
    return _write(args, stem, res, lm, option_sets, decoder, started, started_machine, lim_h, lim_b)


def _write(args: argparse.Namespace, stem: str, res: dict[str, Any], lm: DenoisingLM,
           option_sets: dict[str, DecodingOptions], decoder: Decoder, started: float, started_machine: dict[str, Any],
           lim_h: int | None, lim_b: int | None) -> int:
    card = lm.model.card
    timings = []
    for key, per_task in decoder.timings.items():
        for t in per_task.values():
            timings.append({"copy_bias": key[DECODE_FIELDS.index("copy_bias")], **t})
    meta = {
        "script": "bench/dlm_eval.py", "argv": sys.argv[1:], "started": started_machine["started"],
        "finished": dt.datetime.now().isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - started, "machine": started_machine,
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "model_dir": str(args.model), "model_version": lm.version, "variant": lm.model.variant,
        "parameters": card.get("model", {}).get("parameters"), "input_options": lm.inputs.to_dict(),
        "threads": args.threads, "batch_size": args.batch_size, "limit": args.limit,
        "limit_hyporadise": lim_h, "limit_bln600": lim_b,
        "data": {"hyporadise": str(args.hyporadise), "bln600": str(args.bln600), "synthetic": str(args.synthetic)},
    }
    files = {k: v.get("bytes") for k, v in card.get("files", {}).items()}
    full = {"meta": meta,
            "export": {"parity": card.get("parity"), "files": files,
                       "quantization": card.get("export", {}).get("quantization")},
            "option_sets": {k: v.to_dict() for k, v in option_sets.items()}, **res, "timings": timings}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / f"{stem}.md").write_text(to_markdown(full), encoding="utf-8")
    log(f"wrote {args.out / stem}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())

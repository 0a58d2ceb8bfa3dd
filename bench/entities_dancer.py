"""PED-NEC vs DANCER on the entity evaluation set, with catalogs of 1k / 10k / 100k entities.

For each catalog size the catalog holds every entity of the evaluation groups (the true
entities and their sound-alikes) plus a deterministic sample of the others in a pool of 100,000:
the built-in entities topped up with synthetic fillers (``scripts/train_dancer_reranker.py``
``bench_universe``; the same pool whichever sizes a run asks for). When the groups alone do not
fit a size (1k with the full evaluation set), the utterances are split into consecutive parts
whose groups fill at most 3/4 of it, and each part is corrected with its own catalog of that size;
scores are over all parts together.
Inputs are the real TTS->ASR hypotheses of ``scripts/make_entity_evalset.py``, given to DANCER
with Whisper's word confidences as a record carries them (its reduction without them, as for
plain-text input, is reported too);
entity-free ``clean`` sentences are fed both as their clean text and as their ASR output to
measure harm (words changed); ``--clean-extra`` adds a larger entity-free set (sentences
not used in training: the reranker's negatives come from ``speech_train``). In the utterances
that name entities, the words changed outside every entity span are counted too ("off-entity
words": a name put in place of ordinary words), per input word. Latency is
wall time per utterance of ``correct_text`` (one thread), including DANCER's embedding; each
corrector gets one untimed call first, which builds its per-catalog tables (DANCER's
description idf: ~1 s at 100k entities, counted in the build time instead). The confusable
and normal sets are timed in ``--passes`` passes; before each, the memoised spellings and
phonetic keys are emptied and refilled with the catalog's names (as building the index fills
them), and the corrector handles up to ``--warm`` utterances of the other splits untimed, so
every pass sees a worker in steady state that has not seen the timed texts. Latency is the
median over passes (this shared machine's speed varies by up to ~2x from minute to minute),
with the range.

    nice .venv/bin/python bench/entities_dancer.py --evalset runs/entities/evalset.jsonl

Writes ``bench/results/entities_dancer.{json,md}``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from make_entity_evalset import clean_sentences
from train_dancer_reranker import Item, bench_universe, make_corrector, parts_for, subset, unpack

from emendo.correctors.entities import phonemes
from emendo.correctors.entities.catalog import Catalog
from emendo.correctors.entities.dancer import DancerCorrector, DancerOptions, Reranker, encoder_threads, scorer_file
from emendo.correctors.entities.embed import SentenceEmbedder
from emendo.correctors.entities.index import cached_fold, class_key
from emendo.correctors.entities.pednec import PedNecCorrector
from emendo.correctors.entities.phonetic import phonetic_keys
from emendo.correctors.entities.retrieval import DenseIndex
from emendo.correctors.entities.types import Entity
from emendo.eval.entities import entity_scores, project, record_spans, words_changed
from emendo.malloc import keep_freed_memory


def write_report(out: Path, report: dict[str, Any], text: str, **json_options: Any) -> None:
    """``OUT.json`` (the report, one-space indent; ``json_options`` for ``json.dumps``) and ``OUT.md``
    (``text``), the folder made if need be; the Markdown is printed too."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, **json_options) + "\n")
    out.with_suffix(".md").write_text(text)
    print(text)


def named_records(evalset: str, split: str) -> list[dict[str, Any]]:
    """The evaluation set's utterances that name entities (confusable and normal) of ``split`` (``all``:
    every split); exits with a message when there are none."""
    records = [json.loads(line) for line in Path(evalset).read_text().splitlines() if line.strip()]
    records = [r for r in records if split in ("all", r["split"]) and r["kind"] in ("confusable", "normal")]
    if not records:
        raise SystemExit(f"{evalset}: no confusable or normal records in split {split!r}")
    return records


def correct(corrector: Timed, item: Item) -> str:
    """``corrector``'s output for one text; DANCER also gets the recogniser's word confidences."""
    text, confidences = unpack(item)
    if isinstance(corrector, DancerCorrector):
        return corrector.correct_text(text, confidences=confidences)[0]
    return corrector.correct_text(text)[0]


def asr_input(record: dict[str, Any], confidences: bool = True) -> Item:
    """A record's hypothesis as the recogniser gave it: with its word confidences (when it has them
    and ``confidences``)."""
    return (record["hyp"], record.get("confidences") if confidences else None)


def run(corrector: Timed, texts: Sequence[Item]) -> tuple[list[str], list[float]]:
    outputs, ms = [], []
    for item in texts:
        t = time.perf_counter()
        out = correct(corrector, item)
        ms.append((time.perf_counter() - t) * 1000)
        outputs.append(out)
    return outputs, ms


def build(entities: list[Entity], matrix: np.ndarray, embedder: SentenceEmbedder,
          rows: list[int], reranker: Reranker | None = None, threads: int = 1,
          **overrides: Any) -> dict[str, Any]:
    """PED-NEC and DANCER over the catalog made of ``entities[rows]``: the bundled scorer and
    default options, or ``reranker`` with the options it was trained with (its ``meta.options``),
    then ``overrides`` (DANCER options); ``threads``: the context scorer's ONNX Runtime threads (the
    ``embedder``'s are its own)."""
    options = DancerOptions.tuned_with(reranker, **overrides) if reranker or overrides else None
    dancer = make_corrector([entities[i] for i in rows], embedder, matrix[rows],
                            reranker=reranker or Reranker.load(), options=options, threads=threads)
    return {"pednec": PedNecCorrector(dancer.catalog), "dancer": dancer}


Maker = Callable[..., dict[str, Any]]  # (entity ids that must be in the catalog, drop=ids left out) -> correctors


def confusable_ne_cer(parts: list[list[dict[str, Any]]], make: Maker, confidences: bool = True) -> dict[str, float]:
    """NE-CER of each system on the confusable records, each part corrected with its own catalog
    (DANCER given the recogniser's word confidences, or not)."""
    recs: list[dict[str, Any]] = []
    outs: dict[str, list[str]] = {"pednec": [], "dancer": []}
    for part in parts:
        correctors = make({eid for r in part for eid in r["group"]})
        conf = [r for r in part if r["kind"] == "confusable"]
        recs += conf
        for name in outs:
            outs[name] += [correct(correctors[name], asr_input(r, confidences)) for r in conf]
    refs, spans = [r["text"] for r in recs], [record_spans(r) for r in recs]
    return {name: entity_scores(refs, got, spans).ne_cer for name, got in outs.items()}


def out_of_catalog(parts: list[list[dict[str, Any]]], make: Maker) -> dict[str, Any]:
    """The confusable and normal utterances corrected with catalogs that lack the entities they name
    (their sound-alikes kept): names a catalog does not hold, as a deployed catalog always misses
    some. The right output leaves such a name as the recogniser wrote it; every change is a guess
    among sound-alikes (right only where another entity has the very name)."""
    recs: list[dict[str, Any]] = []
    outs: dict[str, list[str]] = {"pednec": [], "dancer": []}
    for part in parts:
        named = {span.entity_id for r in part for span in record_spans(r)}
        correctors = make({eid for r in part for eid in r["group"]} - named, drop=frozenset(named))
        rows = [r for r in part if r["kind"] in ("confusable", "normal")]
        recs += rows
        for name in outs:
            outs[name] += [correct(correctors[name], asr_input(r)) for r in rows]
    refs, hyps, spans = [r["text"] for r in recs], [r["hyp"] for r in recs], [record_spans(r) for r in recs]
    result: dict[str, Any] = {"n": len(recs), "asr": entity_scores(refs, hyps, spans).to_dict()}
    for name, got in outs.items():
        result[name] = entity_scores(refs, got, spans, inputs=hyps).to_dict()
    return result


def reduction_interval(refs: list[str], spans: list[Any], base: list[str], new: list[str],
                       resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval (utterances resampled) of the relative NE-CER reduction of ``new``
    over ``base``: how far the figure could move on another draw of as many utterances."""
    def errors(outputs: list[str]) -> np.ndarray:
        return np.array([entity_scores([r], [o], [s]).ne_char_errors
                         for r, o, s in zip(refs, outputs, spans, strict=True)], dtype=np.float64)
    b, n = errors(base), errors(new)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(refs), size=(resamples, len(refs)))
    bs, ns = b[idx].sum(axis=1), n[idx].sum(axis=1)
    rel = np.where(bs > 0, (bs - ns) / np.maximum(bs, 1e-9), 0.0)
    low, high = np.percentile(rel, [2.5, 97.5])
    return float(low), float(high)


def ceiling_output(dancer: DancerCorrector, record: dict[str, Any]) -> str:
    """The hypothesis with each entity span set to the reference name when DANCER's candidates for
    a span overlapping it include that entity: what a perfect choice among the candidates DANCER
    generates would give. Its NE-CER bounds what any scorer can reach with these candidates."""
    text, out = record["text"], str(record["hyp"])
    scored = dancer.score_text(out, confidences=record.get("confidences"))
    for span in sorted(record_spans(record), key=lambda s: -s.start):  # right to left: offsets stay valid
        a, b = project(text, record["hyp"], span.start, span.end)
        if any(s.entity.id == span.entity_id and s.start < max(b, a + 1) and a < s.end for s in scored):
            out = out[:a] + text[span.start:span.end] + out[b:]
    return out


def _reduction(pednec: float, dancer: float) -> dict[str, float]:
    return {"pednec": pednec, "dancer": dancer, "reduction": (pednec - dancer) / pednec if pednec else 0.0}


def forget(corrector: Timed) -> None:
    """Empty the memoised spellings, phonetic keys, pronunciations and index lookups, then memoise the
    catalog's names again as building its index did: the memos of a worker that has not seen any utterance."""
    for memo in (cached_fold, class_key, phonetic_keys):
        memo.cache_clear()
    index = corrector.catalog.index("default")
    if index is not None:
        index.forget_lookups()
    for entity in index if index is not None else ():
        for surface in entity.surface_forms:
            for key in phonetic_keys(cached_fold(surface)):
                class_key(key)
    # DANCER pronounces its catalog's names when it builds its per-catalog tables; the utterances'
    # words are pronounced as they come
    phonemes.forget()
    if isinstance(corrector, DancerCorrector) and index is not None:
        corrector.pronounce_names(index)


def timed(corrector: Timed, texts: list[Item], warm: list[Item],
          passes: int) -> tuple[list[str], list[list[float]]]:
    """Outputs and per-pass latencies (ms) over ``passes`` passes. Before each, the memos are
    emptied and the corrector handles ``warm`` (other utterances, untimed), so every pass sees a
    worker in steady state that has not seen these texts."""
    outputs: list[str] = []
    per_pass = []
    for _ in range(passes):
        forget(corrector)
        for item in warm:
            correct(corrector, item)
        got, ms = run(corrector, texts)
        if outputs and got != outputs:
            raise RuntimeError("a corrector gave different outputs on two passes")
        outputs = got
        per_pass.append(ms)
    return outputs, per_pass


def latency(per_pass: list[list[float]]) -> dict[str, Any]:
    """p50/p99 as the medians over passes (this machine's speed varies from minute to minute),
    with the per-pass values."""
    p50s = [float(np.percentile(ms, 50)) for ms in per_pass if ms]
    p99s = [float(np.percentile(ms, 99)) for ms in per_pass if ms]
    if not p50s:
        return {}
    return {"p50_ms": float(np.median(p50s)), "p99_ms": float(np.median(p99s)), "p50_passes": p50s,
            "p99_passes": p99s}


def evaluate(parts: list[list[dict[str, Any]]], make: Maker, extra: list[str],
             warm: list[Item], passes: int) -> dict[str, Any]:
    """Scores, harm and latency; each part of the records is corrected with the catalog ``make``
    builds for its entity groups (the entity-free sets with the first part's)."""
    kinds, systems = ("confusable", "normal"), ("pednec", "dancer")
    recs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
    outs: dict[str, dict[str, list[str]]] = {k: {name: [] for name in (*systems, "ceiling")} for k in kinds}
    ms: dict[str, dict[str, list[list[float]]]] = {k: {name: [[] for _ in range(passes)]
                                                       for name in (*systems, "embedding")} for k in kinds}
    first: dict[str, Any] | None = None
    # the reference texts of the utterances that name entities, as input: correct names must stay
    named: list[Item] = []
    named_out: dict[str, tuple[list[str], list[float]]] = {name: ([], []) for name in systems}
    for part in parts:
        correctors = make({eid for r in part for eid in r["group"]})
        first = first or correctors
        texts: list[Item] = [r["text"] for r in part if r["kind"] in kinds]
        named += texts
        for name in systems:
            got, took = run(correctors[name], texts)
            named_out[name][0].extend(got)
            named_out[name][1].extend(took)
        for kind in kinds:
            part_recs = [r for r in part if r["kind"] == kind]
            recs[kind] += part_recs
            outs[kind]["ceiling"] += [ceiling_output(correctors["dancer"], r) for r in part_recs]
            for name in systems:
                got, per_pass = timed(correctors[name], [asr_input(r) for r in part_recs], warm, passes)
                outs[kind][name] += got
                for values, more in zip(ms[kind][name], per_pass, strict=True):
                    values += more
            # the MiniLM embedding of the utterance alone, in the same passes: the part of DANCER's
            # latency that is the model's and moves most with the machine's speed
            _, per_pass = timed(_EmbedOnly(correctors["dancer"].embedder), [asr_input(r) for r in part_recs],
                                warm, passes)
            for values, more in zip(ms[kind]["embedding"], per_pass, strict=True):
                values += more
    result: dict[str, Any] = {"parts": len(parts)}
    for kind in kinds:
        refs, hyps = [r["text"] for r in recs[kind]], [r["hyp"] for r in recs[kind]]
        spans = [record_spans(r) for r in recs[kind]]
        result[kind] = {"n": len(hyps), "asr": entity_scores(refs, hyps, spans).to_dict()}
        for name in systems:
            result[kind][name] = {**entity_scores(refs, outs[kind][name], spans, inputs=hyps).to_dict(),
                                  **latency(ms[kind][name])}
        result[kind]["embedding"] = latency(ms[kind]["embedding"])
        result[kind]["ceiling"] = entity_scores(refs, outs[kind]["ceiling"], spans).to_dict()
        if hyps:
            result[kind]["reduction_interval"] = reduction_interval(refs, spans, outs[kind]["pednec"],
                                                                    outs[kind]["dancer"])
    records = [r for part in parts for r in part]
    sets: dict[str, list[Item]] = {"clean": [r["text"] for r in records if r["kind"] == "clean"],
                                   "clean_asr": [asr_input(r) for r in records if r["kind"] == "clean"],
                                   "clean_extra": list(extra)}
    assert first is not None
    for key, clean in {**sets, "named": named}.items():
        result[key] = {"n": len(clean)}
        inputs = [unpack(x)[0] for x in clean]
        for name in systems:
            outputs, times = named_out[name] if key == "named" else run(first[name], clean)
            changed, total = words_changed(inputs, outputs)
            result[key][name] = {"words_changed": changed, "words": total, "share": changed / max(total, 1),
                                 "sentences_changed": sum(a != b for a, b in zip(inputs, outputs, strict=True)),
                                 **_lat(times)}
    return result


class _EmbedOnly:
    """Times DANCER's embedding of an utterance alone (the text comes back unchanged)."""

    def __init__(self, embedder: SentenceEmbedder) -> None:
        self.embedder = embedder
        self.catalog = Catalog()  # empty: nothing for forget() to memoise again

    def correct_text(self, text: str) -> tuple[str, list[Any]]:
        self.embedder.embed([text])
        return text, []


Timed = PedNecCorrector | DancerCorrector | _EmbedOnly  # what run / timed / forget accept


def _lat(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))} if ms else {}


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Entity correction: PED-NEC vs DANCER", "", f"Machine: {report['machine']}", "",
             f"Evaluation set: {report['evalset']} (split {report['split']}); catalog sizes {report['sizes']}; "
             f"ONNX Runtime threads per DANCER model call: {report.get('threads', 1)}; DANCER scorer: "
             f"{report.get('reranker', 'bundled')}"
             + (f"; context-scorer reads an utterance: {report['context_reads'] or 'no limit'}"
                if "context_reads" in report else "") + ".", ""]
    for size, res in report["results"].items():
        actual = res.get("entities", int(size))
        held = f"; {actual:,} entities: every one of the evaluation groups" if actual > int(size) else ""
        if res.get("parts", 1) > 1:
            held = (f"; the utterances in {res['parts']} parts, each corrected with a catalog of its groups' "
                    "entities and other entities")
        lines += [f"## Catalog {size} entities (build {res['build_s']:.1f} s{held})", "",
                  "| set | system | recall | precision | NE-CER | WER | off-entity words changed | p50 ms | p99 ms |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for kind in ("confusable", "normal"):
            for name in ("asr", "pednec", "dancer"):
                m = res[kind][name]
                prec = "-" if m.get("precision") is None else f"{m['precision']:.3f}"
                off = ("-" if m.get("off_entity_rate") is None
                       else f"{m['off_entity_words']} ({100 * m['off_entity_rate']:.2f}%)")
                lat = f"{_spread(m, 'p50')} | {_spread(m, 'p99')}"
                lines.append(f"| {kind} (n={res[kind]['n']}) | {name} | {m['recall']:.3f} | {prec} | "
                             f"{m['ne_cer']:.4f} | {m['wer']:.4f} | {off} | {lat} |")
            if res[kind].get("embedding"):
                e = res[kind]["embedding"]
                lines.append(f"| {kind} (n={res[kind]['n']}) | (DANCER's MiniLM embedding alone) | - | - | - | - | - "
                             f"| {_spread(e, 'p50')} | {_spread(e, 'p99')} |")
        lines += ["", "| input that should stay as it is | system | words changed | sentences changed | p50 ms "
                  "| p99 ms |", "| --- | --- | --- | --- | --- | --- |"]
        for key, label in (("clean", "entity-free clean text"), ("clean_asr", "its ASR output"),
                           ("clean_extra", "more entity-free clean text"),
                           ("named", "correct text naming entities (the references)")):
            for name in ("pednec", "dancer"):
                if key not in res or not res[key]["n"]:
                    continue
                c = res[key][name]
                lat = f"{c['p50_ms']:.2f} | {c['p99_ms']:.2f}"
                lines.append(f"| {label} (n={res[key]['n']}) | {name} | {c['words_changed']}/{c['words']} "
                             f"({100 * c['share']:.2f}%) | {c['sentences_changed']} | {lat} |")
        conf = res["confusable"]
        rel = _reduction(conf["pednec"]["ne_cer"], conf["dancer"]["ne_cer"])["reduction"]
        ci = conf.get("reduction_interval")
        interval = f" (95% bootstrap interval over utterances {100 * ci[0]:.1f} to {100 * ci[1]:.1f}%)" if ci else ""
        lines += ["", f"DANCER NE-CER vs PED-NEC on the confusable set: {100 * rel:+.1f}% relative reduction"
                  f"{interval}."]
        if "without_confidences" in res:
            lines += ["", f"Without the recogniser's word confidences (text input only): "
                          f"{100 * res['without_confidences']['reduction']:+.1f}%."]
        if "ceiling" in conf:
            top = _reduction(conf["pednec"]["ne_cer"], conf["ceiling"]["ne_cer"])["reduction"]
            lines += ["", f"Ceiling (every entity whose candidates DANCER generates chosen right, nothing else "
                          f"changed): NE-CER {conf['ceiling']['ne_cer']:.4f}, {100 * top:+.1f}% vs PED-NEC; recall "
                          f"{conf['ceiling']['recall']:.3f}."]
        if "out_of_catalog" in res:
            lines += ["", *_out_of_catalog(res["out_of_catalog"])]
        lines.append("")
    lines += _draws(report) + _targets(report)
    return "\n".join(lines) + "\n"


def _out_of_catalog(o: dict[str, Any]) -> list[str]:
    """The names-missing-from-the-catalog table."""
    lines = [f"Names the catalog lacks (the confusable and normal utterances, n={o['n']}, each corrected with its "
             "catalog less the entities it names; their sound-alikes stay): every change is a guess.", "",
             "| system | NE-CER | changes | of them right | off-entity words changed |",
             "| --- | --- | --- | --- | --- |",
             f"| asr | {o['asr']['ne_cer']:.4f} | - | - | - |"]
    for name in ("pednec", "dancer"):
        m = o[name]
        lines.append(f"| {name} | {m['ne_cer']:.4f} | {m['proposals']} | {m['correct_proposals']} | "
                     f"{m['off_entity_words']} ({100 * m['off_entity_rate']:.2f}%) |")
    return lines


def _spread(m: dict[str, Any], key: str) -> str:
    """The median over passes, with the range when there were several."""
    if f"{key}_ms" not in m:
        return "-"
    values = m.get(f"{key}_passes", [])
    spread = f" ({min(values):.1f}-{max(values):.1f})" if len(values) > 1 else ""
    return f"{m[f'{key}_ms']:.2f}{spread}"


def _draws(report: dict[str, Any]) -> list[str]:
    """NE-CER reduction of DANCER over PED-NEC (confusable set) for every catalog draw."""
    seeds = sorted({seed for res in report["results"].values() for seed in res.get("draws", {})}, key=int)
    if len(seeds) < 2:
        return []
    out = ["## Catalog draws", "", "The catalogs hold the evaluation groups plus a seeded sample of other entities; "
           "other samples move the figure:", "",
           "| catalog | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | min |",
           "| --- | " + " | ".join("---" for _ in seeds) + " | --- | --- |"]
    for size, res in report["results"].items():
        values = [res["draws"][s]["reduction"] for s in seeds if s in res.get("draws", {})]
        cells = [f"{100 * res['draws'][s]['reduction']:.1f}%" if s in res["draws"] else "-" for s in seeds]
        out.append(f"| {size} | " + " | ".join(cells) + f" | {100 * float(np.mean(values)):.1f}% | "
                   f"{100 * min(values):.1f}% |")
    return [*out, ""]


def _targets(report: dict[str, Any]) -> list[str]:
    """Issue 5 targets, met or not, at every catalog size."""
    out = ["## Targets (issue 5)", "", "| catalog | NE-CER -20% vs PED-NEC (confusable) | clean words changed <= 0.5% "
           "| DANCER p50 <= 5 ms | DANCER p99 <= 20 ms | ceiling with DANCER's candidates |",
           "| --- | --- | --- | --- | --- | --- |"]
    for size, res in report["results"].items():
        rel = _reduction(res["confusable"]["pednec"]["ne_cer"], res["confusable"]["dancer"]["ne_cer"])["reduction"]
        harm = max(res[k]["dancer"]["share"] for k in ("clean", "clean_asr", "clean_extra") if "dancer" in res[k])
        lat = [res[k]["dancer"] for k in ("confusable", "normal")]
        p50, p99 = max(m["p50_ms"] for m in lat), max(m["p99_ms"] for m in lat)
        ceiling = res["confusable"].get("ceiling")
        top = "-" if ceiling is None else (
            f"{100 * _reduction(res['confusable']['pednec']['ne_cer'], ceiling['ne_cer'])['reduction']:.1f}%")
        out.append(f"| {size} | {100 * rel:.1f}% {'met' if rel >= 0.2 else 'NOT met'} | {100 * harm:.2f}% "
                   f"{'met' if harm <= 0.005 else 'NOT met'} | {p50:.1f} ms {'met' if p50 <= 5 else 'NOT met'} | "
                   f"{p99:.1f} ms {'met' if p99 <= 20 else 'NOT met'} | {top} |")
    return [*out, ""]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--evalset", required=True)
    ap.add_argument("--split", default="test", help="dev, test or all")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--cache", default="runs/entities/cache")
    ap.add_argument("--out", default="bench/results/entities_dancer")
    ap.add_argument("--clean-extra", help="more entity-free sentences for the harm measure (text or JSONL)")
    ap.add_argument("--clean-extra-count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--catalog-seeds", default="4,5",
                    help="further catalog draws (seeds) at every size: NE-CER of both correctors on the "
                         "confusable set only, to show how much the figure moves with the catalog's filler")
    ap.add_argument("--warm", type=int, default=200,
                    help="utterances of the other splits each corrector handles, untimed, before each pass")
    ap.add_argument("--passes", type=int, default=3,
                    help="timed passes over the confusable and normal sets (latency: median over passes)")
    ap.add_argument("--malloc", choices=["keep", "system"], default="keep",
                    help="keep: glibc keeps freed memory (emendo.malloc, what the emendo command does)")
    ap.add_argument("--reranker", help="a scorer written by scripts/train_dancer_reranker.py --out, served "
                                       "with the options it was trained with (default: the bundled one; "
                                       "context: the bundled one combined with the context scorer)")
    ap.add_argument("--encoder", help="a sentence encoder folder (model.int8.onnx + tokenizer.json) instead of the "
                                      "bundled one, e.g. from scripts/train_entity_encoder.py + export_minilm.py")
    ap.add_argument("--threads", type=int, default=1,
                    help="ONNX Runtime threads of DANCER's model calls (EMENDO_DANCER_THREADS; default 1)")
    ap.add_argument("--context-reads", type=int,
                    help="with the context scorer: at most this many reads an utterance, 0: no limit "
                         "(EMENDO_DANCER_CONTEXT_READS; default: the scorer's own)")
    args = ap.parse_args(argv)
    if args.threads < 1 or (args.context_reads is not None and args.context_reads < 0):
        raise SystemExit("need --threads >= 1 and --context-reads >= 0")
    overrides = {"context_reads": args.context_reads} if args.context_reads is not None else {}
    source = scorer_file(args.reranker or "")  # as EMENDO_DANCER_SCORER reads it ("context" included)
    reranker = Reranker.load(source) if source else None
    malloc_tuned = keep_freed_memory() if args.malloc == "keep" else False
    allocator = "glibc keeping freed memory (emendo.malloc)" if malloc_tuned else "glibc defaults"
    records = [json.loads(line) for line in Path(args.evalset).read_text().splitlines()]
    # steady state: before timing, each corrector handles the other splits' utterances (untimed),
    # as a worker that has been serving a while has (memoised folds and phonetic keys, warm arenas)
    warm: list[Item] = [asr_input(r) for r in records if args.split != "all" and r["split"] != args.split][:args.warm]
    records = [r for r in records if args.split == "all" or r["split"] == args.split]
    sizes = [int(s) for s in args.sizes.split(",")]
    extra = clean_sentences(Path(args.clean_extra), args.clean_extra_count, random.Random(args.seed)) \
        if args.clean_extra else []
    seen = {json.loads(line)["text"] for line in Path(args.evalset).read_text().splitlines()}
    extra = [t for t in extra if t not in seen]  # the evaluation set's dev part trained the scorer
    entities = bench_universe(sizes)
    threads = encoder_threads(reranker, DancerOptions.tuned_with(reranker), args.threads)
    embedder = SentenceEmbedder(args.encoder, intra_op_threads=threads)
    matrix = DenseIndex.embeddings(entities, embedder, cache_dir=args.cache, progress=True)
    report: dict[str, Any] = {"evalset": args.evalset, "reranker": args.reranker or "bundled", **overrides,
                              "encoder": args.encoder or "bundled", "split": args.split, "threads": args.threads,
                              "sizes": sizes, "results": {},
                              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                                         f"load average before {os.getloadavg()}; memory allocator: {allocator}"}
    draws = [int(x) for x in args.catalog_seeds.split(",") if x.strip()]
    for size in sizes:
        parts = parts_for(records, size)
        built: list[tuple[float, int]] = []  # (build seconds, catalog entities) of each catalog made

        def make(groups: set[str], seed: int = args.seed, size: int = size,
                 log: list[tuple[float, int]] = built, drop: frozenset[str] = frozenset()) -> dict[str, Any]:
            t = time.perf_counter()
            rows = [i for i in subset(entities, groups, size, seed) if entities[i].id not in drop]
            correctors = build(entities, matrix, embedder, rows, reranker, args.threads, **overrides)
            for corrector in correctors.values():  # one-off per catalog (DANCER's idf table): not a request's latency
                corrector.correct_text("warm up")
            log.append((time.perf_counter() - t, len(rows)))
            return correctors

        res = report["results"][str(size)] = evaluate(parts, make, extra, warm, args.passes)
        res["build_s"], res["entities"] = built[0]  # the first part's catalog
        res["draws"] = {str(args.seed): _reduction(res["confusable"]["pednec"]["ne_cer"],
                                                   res["confusable"]["dancer"]["ne_cer"])}
        ne = confusable_ne_cer(parts, make, confidences=False)
        res["without_confidences"] = _reduction(ne["pednec"], ne["dancer"])
        res["out_of_catalog"] = out_of_catalog(parts, make)
        for seed in draws:
            ne = confusable_ne_cer(parts, functools.partial(make, seed=seed))
            res["draws"][str(seed)] = _reduction(ne["pednec"], ne["dancer"])
        print(f"catalog {size}: done", flush=True)
    report["machine"] += f"; load average after {os.getloadavg()}"
    write_report(Path(args.out), report, markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

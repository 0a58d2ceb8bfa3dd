"""Throughput and error profile of the speech-pair pipeline (``emendo synth speech``) on this machine.

Usage::

    bash scripts/install_synth_tools.sh
    python bench/synth_speech.py [--per-source 100] [--workers 2] [--pack-study 60] [--out bench/results]

Sentences: public-domain prose read with the readers of ``scripts/build_lm.py`` (Jane Austen's
novels, the King James Bible, Moby Dick; NOT the Harvard sentences of the demo sample),
``--per-source`` sentences of 6-25 words from each, sampled with a fixed seed.

1. The full pipeline (:func:`emendo.synth.speech.run_speech`, default settings: every installed
   voice, espeak-ng at 15 %, default augmentation, Whisper tiny.en int8 with 5 utterances
   or so packed per window, pocketsphinx for 10 %) with ``--workers`` processes: pairs/hour
   (wall clock), CPU seconds per stage, WER/CER per voice, TTS engine, augmentation and ASR
   engine, drop reasons.
2. A packing study on ``--pack-study`` of the sentences (natural voices, default
   augmentation, one process, one thread): Whisper decoding each utterance alone vs
   packed per 30 s window with the transcript split back by Whisper's segment timestamps
   or by aligned word timings: seconds per utterance, WER, n-best oracle WER, distinct
   n-best entries, and the split's accuracy (errors added by splitting = per-utterance
   errors minus the errors of the whole window against the concatenated references).

Writes ``synth_speech.json`` and ``synth_speech.md`` into ``--out``; scratch output goes to
``bench/results/tmp-synth-speech/`` (git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import random
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SOURCES_USED = ("austen", "kjv", "mobydick")


def load_build_lm() -> Any:
    spec = importlib.util.spec_from_file_location("build_lm", REPO / "scripts" / "build_lm.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["build_lm"] = mod
    spec.loader.exec_module(mod)
    return mod


def make_sentences(path: Path, per_source: int, seed: int) -> dict[str, Any]:
    blm = load_build_lm()
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {}
    for name in SOURCES_USED:
        src = blm.SOURCES[name]
        it, versions = src.read(blm.CACHE)
        pool = sorted({" ".join(s.split()) for s in it if 6 <= len(s.split()) <= 25})
        pick = random.Random(f"{seed}-{name}").sample(pool, min(per_source, len(pool)))
        info[name] = {"eligible": len(pool), "used": len(pick), "packages": versions, "licence": src.licence}
        rows += [{"id": f"{name}-{i:04d}", "text": t, "source": name, "source_document": src.description,
                  "licence": src.licence} for i, t in enumerate(pick)]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return info


def packing_study(sentences: list[dict[str, Any]], n: int, seed: int) -> dict[str, Any]:
    import jiwer

    from emendo.eval.normalize import get_preset
    from emendo.synth.asr import WhisperASR, normalize_hypotheses
    from emendo.synth.augment import AugmentConfig, augment
    from emendo.synth.speech import item_seed
    from emendo.synth.tts import Synthesizer, VoiceMix, available_voices

    norm = get_preset("hyporadise")
    items = random.Random(seed).sample(sentences, min(n, len(sentences)))
    mix = VoiceMix(tuple(v for v in available_voices() if not v.robotic))
    audios, refs = [], []
    with Synthesizer() as tts:
        for it in items:
            s = item_seed(seed, it["id"])
            voice = mix.pick(np.random.default_rng([s, 1]))
            syn = tts.synthesize(voice, it["text"], np.random.default_rng([s, 2]))
            a, _ = augment(syn.audio, np.random.default_rng([s, 3]), AugmentConfig())
            audios.append(a[: 28 * 16000])
            refs.append(norm.normalize(it["text"]))
    nref = sum(len(r.split()) for r in refs)

    def nearest(ref: str, candidates: Sequence[str]) -> str:
        """The candidate with the lowest WER against ``ref`` (the n-best oracle)."""
        return min(candidates, key=lambda c: jiwer.process_words(ref, c or "<empty>").wer)

    def score(name: str, hyps: list[Any], seconds: float, plan: list[list[int]] | None) -> dict[str, Any]:
        nb = [normalize_hypotheses(h) for h in hyps]
        best = [x.nbest[0] if x.nbest else "" for x in nb]
        oracle = [nearest(r, x.nbest or ("",)) for x, r in zip(nb, refs, strict=True)]
        row: dict[str, Any] = {
            "variant": name, "utterances": len(hyps), "s_per_utt": round(seconds / len(hyps), 3),
            "wer": round(jiwer.wer(refs, [b or "<empty>" for b in best]), 4),
            "oracle_wer": round(jiwer.wer(refs, [o or "<empty>" for o in oracle]), 4),
            "nbest_distinct": round(float(np.mean([len(x.nbest) for x in nb])), 2),
            "empty": sum(not b for b in best),
        }
        if plan is not None:
            win_err = split_err = 0
            for w in plan:
                o = jiwer.process_words(" ".join(refs[i] for i in w), " ".join(best[i] for i in w) or "<empty>")
                win_err += o.substitutions + o.deletions + o.insertions
                for i in w:
                    o = jiwer.process_words(refs[i], best[i] or "<empty>")
                    split_err += o.substitutions + o.deletions + o.insertions
            row["utts_per_window"] = round(len(hyps) / len(plan), 2)
            row["window_wer"] = round(win_err / nref, 4)
            row["split_added_wer"] = round((split_err - win_err) / nref, 4)
        return row

    rows = []
    asr = WhisperASR(threads=1, gap_s=1.0)
    asr.transcribe(audios[0])  # warm-up
    t0 = time.perf_counter()
    solo = [asr.transcribe(a) for a in audios]
    rows.append(score("alone (one utterance per window)", solo, time.perf_counter() - t0, None))
    for split in ("segments", "words"):
        asr.split = split  # type: ignore[assignment]
        plan = asr.plan([a.size / 16000 for a in audios])
        out: list[Any] = [None] * len(audios)
        t0 = time.perf_counter()
        for w in plan:
            for k, h in zip(w, asr.transcribe_packed([audios[i] for i in w]), strict=True):
                out[k] = h
        row = score(f"packed, split by {split}", out, time.perf_counter() - t0, plan)
        sb = [normalize_hypotheses(h).nbest[:1] for h in solo]
        pb = [normalize_hypotheses(h).nbest[:1] for h in out]
        row["same_1best_as_alone"] = round(float(np.mean([a == b for a, b in zip(sb, pb, strict=True)])), 3)
        rows.append(row)
    return {"utterances": len(items), "reference_words": nref,
            "mean_audio_s": round(float(np.mean([a.size / 16000 for a in audios])), 2), "rows": rows}


def md_groups(groups: dict[str, Any], title: str) -> list[str]:
    lines = [f"### {title}", "",
             "| group | pairs | WER | per-pair mean | median | p90 | CER mean | with errors | n-best |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k, s in groups.items():
        lines.append(f"| {k} | {s['pairs']} | {s['wer']:.1%} | {s['wer_mean']:.1%} | {s['wer_median']:.1%} | "
                     f"{s['wer_p90']:.1%} | {s['cer_mean']:.1%} | {s['with_errors']:.0%} | {s['nbest_mean']:.2f} |")
    return [*lines, ""]


def write_md(path: Path, res: dict[str, Any]) -> None:
    r = res["pipeline"]
    run = r["run"]
    st = run["stage_seconds"]
    pairs = max(run["pairs_written"], 1)
    lines = [
        "# Speech pairs (TTS -> augmentation -> ASR): throughput and error profile",
        "",
        f"Machine: {res['machine']['cpus']} CPUs ({res['machine']['cpu']}), {res['machine']['platform']}. "
        f"Load average (1/5/15 min) at start {res['load_start']}, at end {res['load_end']}: "
        "the machine was shared with other work, so wall-clock rates are lower bounds.",
        f"Sentences: {res['sentences']['total']} public-domain sentences (6-25 words) from "
        + ", ".join(f"{k} ({v['used']} of {v['eligible']})" for k, v in res["sentences"]["sources"].items())
        + ", read with `scripts/build_lm.py`'s readers (not the Harvard sentences of the demo sample).",
        f"Voices available: {len(res['voices'])} ({res['distinct_speakers']} distinct recorded speakers "
        "plus espeak-ng formant variants); see the voice table below.",
        "",
        "## Throughput",
        "",
        f"- **{run['pairs_per_hour']:,} pairs/hour** with {run['workers']} worker processes (wall clock: "
        f"{run['pairs_written']} pairs + {run['drops_written']} drops from {res['sentences']['total']} "
        f"sentences in {run['wall_s']} s, model loading included); {run['items_per_hour']:,} items/hour "
        "including dropped ones.",
        f"- CPU seconds per kept pair (measured in the workers: process + engine subprocesses), by stage: "
        f"TTS {st.get('tts_cpu_s', 0) / pairs:.3f}, augmentation {st.get('augment_cpu_s', 0) / pairs:.3f}, "
        f"Whisper {st.get('whisper_cpu_s', 0) / pairs:.3f}, "
        f"pocketsphinx {st.get('pocketsphinx_cpu_s', 0) / pairs:.3f}; "
        f"all work {st.get('block_cpu_s', 0) / pairs:.3f} (wall time in the workers "
        f"{st.get('block_s', 0) / pairs:.3f} s per pair: the difference is time the workers waited for a core).",
        f"- **CPU-bound rate: ~{res['cpu_bound_pairs_per_hour']:,} pairs/hour on {run['workers']} uncontended cores** "
        f"(3600 x {run['workers']} / CPU seconds per kept pair; model loading excluded).",
        f"- {st.get('whisper_windows', 0):.0f} Whisper decodes for "
        f"{st.get('tts_n', 0) - st.get('pocketsphinx_n', 0):.0f} Whisper utterances; "
        f"{st.get('whisper_carried', 0):.0f} times a window ended before its last utterances "
        "(they led the next window, as in Whisper's long-form seek); "
        f"{st.get('whisper_repacked', 0):.0f} times a packed utterance came back empty or implausible "
        "(skipped by Whisper, or eaten by a neighbour's runaway repetition) and was packed again or, "
        f"failing twice, decoded alone; {st.get('whisper_solo', 0):.0f} utterances decoded alone.",
        f"- Settings: Whisper beam {run['config']['beam_size']} / {run['config']['nbest']}-best, "
        f"pocketsphinx share {run['config']['pocketsphinx_share']}, espeak-ng share {run['config']['espeak_share']}, "
        f"block size {run['config']['block_size']}, {run['config'].get('windows_per_call', 1)} window(s) per "
        f"Whisper call, WER ceiling {run['config']['wer_ceiling']}.",
    ]
    pk = res.get("packing")
    if pk:
        lines += [
        "",
        "## Packing several utterances per Whisper window",
        "",
        f"{res['packing']['utterances']} utterances (mean {res['packing']['mean_audio_s']} s of audio, "
        f"{res['packing']['reference_words']} reference words), natural voices, default augmentation, "
        "Whisper tiny.en int8, beam 5, 5 hypotheses, 1 thread, 1.0 s of silence between packed utterances.",
        "",
        "| decoding | s/utterance | utts/window | WER | oracle WER (n-best) | distinct n-best | empty | "
        "window WER | WER added by the split | same 1-best as alone |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
    for row in pk["rows"] if pk else []:
        lines.append(
            f"| {row['variant']} | {row['s_per_utt']:.3f} | {row.get('utts_per_window', 1)} | {row['wer']:.1%} | "
            f"{row['oracle_wer']:.1%} | {row['nbest_distinct']:.2f} | {row['empty']} | "
            f"{row['window_wer']:.1%} | {row['split_added_wer']:.2%} | {row['same_1best_as_alone']:.0%} |"
            if "window_wer" in row else
            f"| {row['variant']} | {row['s_per_utt']:.3f} | 1 | {row['wer']:.1%} | {row['oracle_wer']:.1%} | "
            f"{row['nbest_distinct']:.2f} | {row['empty']} | - | - | - |")
    if pk:
        lines += ["", "The study decodes each planned window once. *empty*: utterances a window skipped or did not "
                  "reach (scored as all deletions here); the pipeline decodes those again, leading the next "
                  "window or alone, so its pairs have none."]
    lines += ["", "## Error profile of the generated pairs", "",
              f"{r['pairs']} pairs kept, {r['drops']} dropped. Overall WER {r['overall']['wer']:.1%} "
              f"(per-pair mean {r['overall']['wer_mean']:.1%}, median {r['overall']['wer_median']:.1%}, p90 "
              f"{r['overall']['wer_p90']:.1%}); {r['overall']['with_errors']:.0%} of pairs differ from the clean "
              f"text; {r['overall']['nbest_mean']:.2f} distinct n-best entries per pair. WER is over the kept "
              "pairs, after the hallucination filter (WER ceiling 0.6, length ratio 0.5-2).", "",
              "### Drop reasons", "", "| reason | count |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in r["drop_reasons"].items()] + [""]
    lines += md_groups(r["by_asr"], "Per ASR engine")
    lines += md_groups(r["by_tts_engine"], "Per TTS engine")
    lines += md_groups(r["by_augmentation"], "Per augmentation (a pair counts under each transform applied)")
    lines += md_groups(r["by_voice"], "Per voice")
    if r.get("drops_by_voice"):
        lines += ["### Drops per voice", "", "| voice | drops |", "|---|---|"]
        lines += [f"| {v} | {c} |" for v, c in r["drops_by_voice"].items()] + [""]
    lines += ["## Voices", "", "| voice | engine | speaker | accent | commercial use | licence |",
              "|---|---|---|---|---|---|"]
    for v in res["voices"]:
        lines.append(f"| {v['name']} | {v['engine']} | {v['speaker']} ({v['gender']}) | {v['accent']} | "
                     f"{'yes' if v['commercial'] else 'no'} | {v['licence']} |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-source", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pack-study", type=int, default=60)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    ap.add_argument("--skip-pipeline", action="store_true", help="only the packing study (debugging)")
    ap.add_argument("--pack-study-off", action="store_true", help="skip the packing study")
    ap.add_argument("--beam", type=int, default=5, help="Whisper beam size (= n-best size)")
    ap.add_argument("--pocketsphinx-share", type=float, default=None)
    ap.add_argument("--espeak-share", type=float, default=None)
    ap.add_argument("--block-size", type=int, default=None, help="items per work unit (default: the pipeline's)")
    ap.add_argument("--windows-per-call", type=int, default=None, help="packed windows per Whisper call")
    ap.add_argument("--tag", default="", help="suffix of the result files (synth_speech_TAG.*)")
    args = ap.parse_args()

    from emendo.synth.speech import SpeechConfig, run_speech
    from emendo.synth.tts import available_voices

    scratch = REPO / "bench" / "results" / "tmp-synth-speech"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    sent_path = scratch / "sentences.jsonl"
    src_info = make_sentences(sent_path, args.per_source, args.seed)
    sentences = [json.loads(line) for line in sent_path.read_text(encoding="utf-8").splitlines()]
    voices = available_voices()
    res: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                    "platform": platform.platform()},
        "load_start": [round(x, 2) for x in os.getloadavg()],
        "sentences": {"total": len(sentences), "sources": src_info},
        "voices": [v.to_dict() for v in voices],
        "distinct_speakers": len({v.speaker for v in voices if v.speaker != "synthetic"}),
        "seed": args.seed,
    }
    if not args.skip_pipeline:
        config = SpeechConfig(seed=args.seed)
        over: dict[str, Any] = {"beam_size": args.beam, "nbest": args.beam}
        if args.pocketsphinx_share is not None:
            over["pocketsphinx_share"] = args.pocketsphinx_share
        if args.espeak_share is not None:
            over["espeak_share"] = args.espeak_share
        if args.block_size is not None:
            over["block_size"] = args.block_size
        if args.windows_per_call is not None:
            over["windows_per_call"] = args.windows_per_call
        config = dataclasses.replace(config, **over)
        report = run_speech(config, sent_path, scratch / "pairs", workers=args.workers, progress=True)
        res["pipeline"] = report
        st = report["run"]["stage_seconds"]
        cpu_per_pair = st.get("block_cpu_s", 0.0) / max(report["run"]["pairs_written"], 1)
        res["cpu_bound_pairs_per_hour"] = round(3600 * args.workers / cpu_per_pair) if cpu_per_pair else None
    if not args.pack_study_off:
        res["packing"] = packing_study(sentences, args.pack_study, args.seed)
    res["load_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "synth_speech" + (f"_{args.tag}" if args.tag else "")
    (args.out / f"{stem}.json").write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n",
                                                encoding="utf-8")
    if "pipeline" in res:
        write_md(args.out / f"{stem}.md", res)
    print(json.dumps({"pairs_per_hour": res.get("pipeline", {}).get("run", {}).get("pairs_per_hour"),
                      "cpu_bound_pairs_per_hour": res.get("cpu_bound_pairs_per_hour"),
                      "packing": res.get("packing", {}).get("rows")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

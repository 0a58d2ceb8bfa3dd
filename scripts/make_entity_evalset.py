"""Build the entity-correction evaluation set (issue 5): utterances with marked entity spans.

Three kinds of records, all English:

* ``confusable``: an entity that has near-homophones in the catalog (another surface form
  within ``--max-distance`` phonetic distance: homophones, near-homophones, shared
  prefixes); the utterance's context carries words of the entity's description (the setting
  DANCER assumes: a context that says *which* of the sound-alikes is meant);
* ``normal``: a random catalog entity, same templates;
* ``clean``: entity-free sentences (``--clean`` file; lines with a capitalised word inside
  the sentence are skipped), to measure harm.

Entity spans are character offsets into ``text``. Each record gets ``split`` ``dev`` or
``test`` by a hash of its entity's group, so the test part shares no entity with dev. With
``--asr`` the texts go through the real TTS->ASR pipeline (``emendo synth speech``, run with
``--workers 1``) and every record gains ``hyp`` (1-best), ``nbest`` and ``confidences`` (Whisper's
per-word probabilities of ``hyp``, when it gave them); records the pipeline dropped are dropped.

Example::

    nice python scripts/make_entity_evalset.py --out runs/entities/evalset.jsonl \\
        --clean runs/real/speech_test.jsonl --confusable 600 --normal 200 --clean-count 150 --asr

(808 records after the pipeline's drops, ~6 minutes on 2 cores). The benchmark's set merges
that build with a second one (``--seed 14 --confusable 900 --normal 200 --clean-count 100``,
then ``--merge first.jsonl second.jsonl --out runs/entities/evalset.jsonl``; the clean source is a
seeded sample of the corpus's test split, ``scripts/sample_corpus.py``; ``scripts/entity_bench_data.sh``
runs every step): 1,782 records, 619 confusable in the test split and 649 in dev (rebuilt from
nothing on 2026-11-27; the set of sessions 9-11 had 1,793 / 622 / 651, most likely because its
clean sentences came from an earlier sample, and Whisper decodes several utterances packed in one
window, so a few neighbouring hypotheses and drops differ). Splits are disjoint in the entity that each utterance
names; an entity can still appear in both splits as a sound-alike member of two groups (233
of ~5,100 group members in the merged set).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from emendo.correctors.entities.catalog import builtin_catalog_files, read_catalog_file
from emendo.correctors.entities.index import build_index
from emendo.correctors.entities.phonetic import fold
from emendo.correctors.entities.types import Entity

TEMPLATES: dict[str, tuple[str, ...]] = {
    "person": ("I was reading about {N}, {D}, last night.", "The lecture today was about {N}, {D}.",
               "Have you heard of {N}? {D}.", "My teacher kept talking about {N}, {D}.",
               "There is a new book on {N}, {D}."),
    "place": ("We are travelling to {N}, {D}, next week.", "My cousin lives in {N}, {D}.",
              "The train to {N} leaves at six; it is a {D}.", "Have you ever been to {N}? It is a {D}."),
    "other": ("We talked about {N}, {D}.", "The documentary was about {N}, {D}.",
              "She wrote her essay on {N}, {D}."),
}
_POPULATION = re.compile(r",?\s*population [\d,]+")


def context_of(entity: Entity, rng: random.Random, max_words: int = 9) -> str:
    """A short context phrase from the entity's description (first clause, a few words, some dropped)."""
    desc = _POPULATION.sub("", entity.description).split(";")[0].strip().rstrip(".")
    words = desc.split()[:max_words]
    if len(words) > 5:  # drop one word in the middle: the context is a paraphrase, not a copy
        del words[rng.randrange(1, len(words) - 1)]
    return " ".join(words)


def utterance(entity: Entity, rng: random.Random) -> tuple[str, int, int]:
    """An utterance mentioning ``entity.name`` and its span ``[start, end)``."""
    kind = entity.type if entity.type in TEMPLATES else "other"
    template = rng.choice(TEMPLATES[kind])
    head, _, tail = template.partition("{N}")
    context = context_of(entity, rng)
    tail = tail.replace("{D}", context)
    if tail.startswith("? "):
        tail = "? " + tail[2:3].upper() + tail[3:]
    text = head + entity.name + tail
    return text, len(head), len(head) + len(entity.name)


def english_entities(paths: list[Path]) -> list[Entity]:
    """English entities with a description and a name of letters/spaces (at most three words)."""
    out = []
    for path in paths:
        for e in read_catalog_file(path):
            if e.lang == "en" and e.description and 4 <= len(e.name) <= 30 and len(e.name.split()) <= 3 \
                    and re.fullmatch(r"[A-Za-z][A-Za-z .'-]*", e.name):
                out.append(e)
    return out


def confusable_groups(entities: list[Entity], max_distance: float, rng: random.Random,
                      tries: int) -> list[tuple[Entity, list[Entity]]]:
    """(entity, its sound-alikes with a different name and description) for sampled entities."""
    index = build_index(entities)
    pool = rng.sample(entities, min(tries, len(entities)))
    groups = []
    for e in pool:
        own = _POPULATION.sub("", e.description)
        alikes = [c.entity for c in index.candidates(e.name, 8, max_distance)
                  if fold(c.entity.name) != fold(e.name) and _POPULATION.sub("", c.entity.description) != own]
        if alikes:
            groups.append((e, alikes))
    return groups


def clean_sentences(path: Path, count: int, rng: random.Random) -> list[str]:
    """Entity-free lines: 5-25 words, no capitalised word after the first."""
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = json.loads(line)["text"] if path.suffix == ".jsonl" else line
        words = text.split()
        if 5 <= len(words) <= 25 and not any(w[:1].isupper() for w in words[1:]) and text.isascii():
            texts.append(text.strip())
    return rng.sample(texts, min(count, len(texts)))


def split_of(key: str, test_share: float) -> str:
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "test" if h < test_share else "dev"


def build(args: argparse.Namespace) -> list[dict[str, Any]]:
    rng = random.Random(args.seed)
    entities = english_entities(builtin_catalog_files())
    records: list[dict[str, Any]] = []
    groups = confusable_groups(entities, args.max_distance, rng, args.confusable * 6)
    rng.shuffle(groups)
    for e, alikes in groups[:args.confusable]:
        group = sorted([e.id, *(a.id for a in alikes)])
        records.append(_record(f"conf-{len(records):04d}", "confusable", e, rng, group, args.test_share))
    for e in rng.sample(entities, args.normal):
        records.append(_record(f"norm-{len(records):04d}", "normal", e, rng, [e.id], args.test_share))
    if args.clean:
        for text in clean_sentences(Path(args.clean), args.clean_count, rng):
            records.append({"id": f"clean-{len(records):04d}", "kind": "clean", "text": text, "spans": [],
                            "group": [], "split": split_of(text, args.test_share)})
    return records


def _record(rid: str, kind: str, e: Entity, rng: random.Random, group: list[str], test_share: float) -> dict[str, Any]:
    text, start, end = utterance(e, rng)
    return {"id": rid, "kind": kind, "text": text, "group": group, "split": split_of(group[0], test_share),
            "spans": [{"start": start, "end": end, "entity_id": e.id, "surface": e.name}]}


def run_asr(records: list[dict[str, Any]], out: Path, seed: int) -> list[dict[str, Any]]:
    """Speak and recognise every record with ``emendo synth speech``; returns those that came back."""
    work = out.with_suffix(".asr")
    work.mkdir(parents=True, exist_ok=True)
    inp = work / "input.jsonl"
    inp.write_text("".join(json.dumps({"id": r["id"], "text": r["text"], "source": "entity-evalset"}) + "\n"
                           for r in records))
    cmd = [sys.executable, "-m", "emendo", "synth", "speech", str(inp), "--out", str(work / "pairs"),
           "--workers", "1", "--seed", str(seed), "--no-progress", "--espeak-share", "0.1"]
    subprocess.run(cmd, check=True)
    hyps: dict[str, dict[str, Any]] = {}
    for shard in sorted((work / "pairs").glob("pairs-*.jsonl")):
        for line in shard.read_text().splitlines():
            pair = json.loads(line)
            hyps[pair["id"]] = pair
    out_records = []
    for r in records:
        pair = hyps.get(r["id"])
        if pair is not None:
            confidences = pair.get("confidences")
            if confidences is not None and len(confidences) != len(pair["noisy"].split()):
                confidences = None
            out_records.append({**r, "hyp": pair["noisy"], "nbest": pair.get("nbest"), "confidences": confidences,
                                "voice": pair.get("provenance", {}).get("voice")})
    return out_records


def merge(parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Concatenate evaluation sets built with different seeds: a later part's records about an
    entity (or clean sentence) that an earlier part already has are dropped, ids get the part's
    number as a prefix. Splits stay consistent: they hash the entity's group, not the build."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, records in enumerate(parts):
        for r in records:
            key = r["spans"][0]["entity_id"] if r["spans"] else "clean:" + r["text"]
            if key in seen:
                continue
            seen.add(key)
            out.append({**r, "id": r["id"] if n == 0 else f"p{n}-{r['id']}"})
    return out


def training_extension(base: list[dict[str, Any]], parts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """``base`` followed by the dev records of further builds, for training only (more real TTS->ASR
    pairs for the context scorer, session 25). A part's record is left out when it is in the test
    split, when an entity it names is a member of any test group of ``base`` (a group's split hashes
    its first member, so an entity named by a ``normal`` record in one build can sit in a test group
    of another), or when its text is a test record's. Parts may repeat an entity (new voices and
    templates); ids get ``x<part>-`` prefixes. The benchmark keeps reading ``base`` alone."""
    test_members: set[str] = set()
    test_texts: set[str] = set()
    for r in base:
        if r["split"] == "test":
            test_members.update(r["group"])
            test_members.update(s["entity_id"] for s in r["spans"])
            test_texts.add(r["text"])
    out = list(base)
    for n, records in enumerate(parts, 1):
        for r in records:
            named = {s["entity_id"] for s in r["spans"]}
            if r["split"] == "dev" and not named & test_members and r["text"] not in test_texts:
                out.append({**r, "id": f"x{n}-{r['id']}"})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output JSONL")
    ap.add_argument("--clean", help="entity-free sentence source (text or JSONL with 'text')")
    ap.add_argument("--confusable", type=int, default=200)
    ap.add_argument("--normal", type=int, default=100)
    ap.add_argument("--clean-count", type=int, default=100)
    ap.add_argument("--max-distance", type=float, default=0.25, help="phonetic distance of sound-alikes")
    ap.add_argument("--test-share", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--asr", action="store_true", help="pass the texts through TTS->ASR (emendo synth speech)")
    ap.add_argument("--merge", nargs="+", metavar="JSONL",
                    help="instead of building: merge sets built with different seeds (see merge()) into --out")
    ap.add_argument("--extend", nargs="+", metavar="JSONL",
                    help="instead of building: the first set, then the dev records of the others that share no "
                         "entity with its test split (see training_extension()), into --out: for training only")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.merge or args.extend:
        sets = [[json.loads(line) for line in Path(p).read_text().splitlines() if line.strip()]
                for p in (args.merge or args.extend)]
        records = merge(sets) if args.merge else training_extension(sets[0], sets[1:])
    else:
        records = build(args)
        if args.asr:
            records = run_asr(records, out, args.seed)
    with out.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    kinds = {k: sum(r["kind"] == k for r in records) for k in ("confusable", "normal", "clean")}
    print(json.dumps({"records": len(records), **kinds, "out": str(out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

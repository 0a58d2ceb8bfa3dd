"""Per-utterance latency of the PED-NEC entity corrector with 1k / 10k / 100k-entity catalogs.

Usage::

    python bench/entities_pednec.py [--sizes 1000,10000,100000] [--utterances 300] [--out bench/results]

Catalogs are drawn (seeded) from the built-in catalog (``emendo/data/entities``, about 95k
entities); the 100k catalog is the whole built-in catalog padded with synthetic entities
(random pronounceable names, ``type="other"``) to reach the size. Utterances are short
English/Russian sentences: a third mention a catalog entity with one letter changed (an
ASR/OCR-like error), a third mention it correctly, a third carry no entity. Each utterance
is corrected alone (``correct([hyp])``), the way a stream agent with batch 1 would; the
figures are wall-clock per utterance. Also reported: catalog load time (parse + index),
index table sizes, peak RSS, and how often the misspelt mention was restored / a clean
utterance changed. Writes ``entities_pednec.json`` and ``.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from emendo.correctors.entities.catalog import Catalog, builtin_catalog_files, read_catalog_file
from emendo.correctors.entities.pednec import PedNecCorrector, builtin_lexicon
from emendo.correctors.entities.types import Entity
from emendo.records import Hypothesis

EN_TEMPLATES = ("I flew to {} last week.", "We talked about {} at dinner", "the report on {} is due tomorrow",
                "Have you ever heard of {} before?")
RU_TEMPLATES = ("Мы говорили про {} вчера вечером.", "В докладе упоминается {} несколько раз",
                "Он рассказал нам о {} подробно.")
CLEAN = ("The meeting has been moved to Thursday afternoon because the hall is not ready.",
         "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
         "There were two of them walking into the house by the sea, and their son knew it well.",
         "please send me the files before the end of the day",
         "Сегодня хорошая погода, и мы пойдём гулять в лес.",
         "Учитель проверил тетради учеников и поставил оценки.")


def synthetic_name(rng: random.Random) -> str:
    consonants, vowels = "bcdfghjklmnprstvz", "aeiou"

    def word() -> str:
        return "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))

    return " ".join(word().title() for _ in range(rng.randint(1, 2)))


def make_entities(size: int, pool: list[Entity], rng: random.Random) -> list[Entity]:
    chosen = rng.sample(pool, min(size, len(pool)))
    chosen += [Entity(f"synthetic:{i}", synthetic_name(rng), source="synthetic") for i in range(size - len(chosen))]
    return chosen


def corrupt(name: str, rng: random.Random) -> str:
    """One letter of the (longest word of the) name replaced, dropped or doubled."""
    words = name.split()
    i = max(range(len(words)), key=lambda k: len(words[k]))
    word = words[i]
    pos = rng.randrange(1, len(word)) if len(word) > 1 else 0
    op = rng.choice(("sub", "del", "dup"))
    letters = "абвгдеиклмнопрстуя" if any("а" <= c <= "я" for c in word.lower()) else "aeioubcdklmnprst"
    if op == "sub":
        word = word[:pos] + rng.choice(letters) + word[pos + 1:]
    elif op == "del" and len(word) > 3:
        word = word[:pos] + word[pos + 1:]
    else:
        word = word[:pos] + word[pos] + word[pos:]
    words[i] = word
    return " ".join(words)


def make_utterances(entities: list[Entity], n: int, rng: random.Random) -> list[tuple[Hypothesis, str, str]]:
    """(hypothesis, expected text, kind) triples; kind is misspelt / correct / clean."""
    named = [e for e in entities if 4 <= len(e.name) <= 30 and e.source != "synthetic"] or entities
    out = []
    for k in range(n):
        kind = ("misspelt", "correct", "clean")[k % 3]
        if kind == "clean":
            text = expected = rng.choice(CLEAN)
        else:
            entity = rng.choice(named)
            template = rng.choice(RU_TEMPLATES if entity.lang == "ru" else EN_TEMPLATES)
            expected = template.format(entity.name)
            text = template.format(corrupt(entity.name, rng)) if kind == "misspelt" else expected
        out.append((Hypothesis(f"u{k}", text), expected, kind))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_size(size: int, pool: list[Entity], n: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    entities = make_entities(size, pool, rng)
    t0 = time.perf_counter()
    catalog = Catalog()
    for entity in entities:
        catalog.upsert(entity)
    index_s = time.perf_counter() - t0
    corrector = PedNecCorrector(catalog)
    utterances = make_utterances(entities, n, rng)
    for hyp, _, _ in utterances[:20]:  # warm caches
        corrector.correct([hyp])
    times, outcome = [], {"misspelt": [0, 0], "correct": [0, 0], "clean": [0, 0]}
    for hyp, expected, kind in utterances:
        t = time.perf_counter()
        corrected = corrector.correct([hyp])[0].corrected
        times.append((time.perf_counter() - t) * 1000)
        good = corrected == expected
        outcome[kind][0] += good
        outcome[kind][1] += 1
    stats = catalog.index("default").stats()  # type: ignore[union-attr]
    return {
        "entities": size, "synthetic": sum(e.source == "synthetic" for e in entities), "utterances": n,
        "index_build_s": round(index_s, 2), "p50_ms": round(percentile(times, 0.5), 3),
        "p90_ms": round(percentile(times, 0.9), 3), "p99_ms": round(percentile(times, 0.99), 3),
        "mean_ms": round(statistics.fmean(times), 3), "max_ms": round(max(times), 3),
        "misspelt_restored": f"{outcome['misspelt'][0]}/{outcome['misspelt'][1]}",
        "correct_mention_kept": f"{outcome['correct'][0]}/{outcome['correct'][1]}",
        "clean_kept": f"{outcome['clean'][0]}/{outcome['clean'][1]}",
        "index": stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--utterances", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    pool = [e for path in builtin_catalog_files() for e in read_catalog_file(path)]
    read_s = time.perf_counter() - t0
    builtin_lexicon()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size:,} entities ...", file=sys.stderr, flush=True)
        rows.append(run_size(size, pool, args.utterances, args.seed))
        print(f"  {rows[-1]}", file=sys.stderr)
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "builtin_entities": len(pool), "builtin_read_s": round(read_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "runs": rows,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "entities_pednec.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (args.out / "entities_pednec.md").write_text(report(result), encoding="utf-8")
    print(report(result))
    return 0


def report(r: dict[str, Any]) -> str:
    lines = [
        "# PED-NEC entity corrector: per-utterance latency",
        "",
        f"{r['machine']['cpus']} CPUs, {r['machine']['platform']}, Python {r['machine']['python']}. "
        f"Load average (1/5/15 min) at start {r['load_average_start']}, at end {r['load_average_end']} "
        "(the machine is shared with other work).",
        f"Catalogs drawn from the built-in catalog ({r['builtin_entities']:,} entities, read in "
        f"{r['builtin_read_s']} s); the 100k catalog is padded with synthetic names. One utterance per "
        f"`correct()` call; peak RSS of the whole run {r['peak_rss_mb']} MB.",
        "",
        "| entities | synthetic | index build s | p50 ms | p90 ms | p99 ms | mean ms | max ms | misspelt restored "
        "| correct kept | clean kept | surfaces | keys | deletion variants |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in r["runs"]:
        ix = x["index"]
        lines.append(f"| {x['entities']:,} | {x['synthetic']:,} | {x['index_build_s']} | {x['p50_ms']} | {x['p90_ms']} "
                     f"| {x['p99_ms']} | {x['mean_ms']} | {x['max_ms']} | {x['misspelt_restored']} "
                     f"| {x['correct_mention_kept']} | {x['clean_kept']} | {ix['surfaces']:,} | {ix['keys']:,} "
                     f"| {ix['deletion_variants']:,} |")
    lines += ["", "Misspelt mentions have one letter changed; PED-NEC leaves a mention alone when two catalog "
              "names are equally close (the ambiguity the dense retriever is meant to resolve), so "
              "'restored' is a floor for recall, not a tuned figure.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

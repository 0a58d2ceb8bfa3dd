"""Synthetic Russian utterances with a misheard catalog name in one of the six cases.

There is no offline Russian recogniser on this machine (README), so the Russian entity
examples are made here: single-word Russian place and person names of a catalog that the
pymorphy3 dictionary knows (their case forms are dictionary forms, not guesses) are put, in
one of the six cases, into sentence templates that need that case ("мой друг приехал из
{gent}"). The hypothesis spells the name the way Russian is written by ear: 1-2 of a vowel
swap (о/а, е/и, я/е), "тс" -> "ц", a dropped soft sign, a doubled or undoubled consonant;
``asr_style`` of them are then lower-cased without punctuation. These errors are this
module's design, not a recogniser's.

A quarter of the names (by a hash of the entity id, :func:`held_out`) are kept for
evaluation (``bench/entities_russian.py``); the DANCER scorer trains on the others
(``scripts/train_dancer_reranker.py --russian``).
"""

from __future__ import annotations

import functools
import json
import random
import zlib
from collections.abc import Iterable
from typing import Any

from emendo.correctors.entities.inflect import CASES
from emendo.correctors.entities.phonetic import fold, is_cyrillic
from emendo.correctors.entities.types import Entity
from emendo.jsonl import open_text

TEMPLATES = {
    "nomn": ("{} — город, о котором много пишут", "говорят, что {} стоит посетить"),
    "gent": ("мой друг приехал из {} вчера", "до {} мы ехали два дня"),
    "datv": ("мы подъезжаем к {} утром", "письмо адресовано {} лично"),
    "accs": ("завтра мы едем в {} на поезде", "я давно хотел увидеть {} своими глазами"),
    "ablt": ("он всегда гордился {} и рассказывал о нём", "мы долго летели над {} ночью"),
    "loct": ("она живёт в {} уже десять лет", "мы были в {} прошлым летом"),
}
_SWAPS = (("о", "а"), ("а", "о"), ("е", "и"), ("и", "е"), ("я", "е"), ("тс", "ц"), ("ь", ""), ("ё", "о"))
_DOUBLE = "снлтрмпк"


def held_out(entity_id: str) -> bool:
    """Whether an entity is kept for evaluation (a quarter, by a stable hash of its id)."""
    return zlib.crc32(entity_id.encode()) % 4 == 0


@functools.lru_cache(maxsize=1)
def _analyser() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


@functools.cache
def forms_by_case(name: str) -> dict[str, str]:
    """A single-word name's singular case forms, straight from pymorphy3's dictionary (the
    references; independent of ``emendo.correctors.entities.inflect``'s choices)."""
    morph = _analyser()
    if not morph.word_is_known(name):
        return {}
    lemma = name.lower().replace("ё", "е")
    for parse in morph.parse(name):
        if parse.tag.POS == "NOUN" and parse.tag.case == "nomn" and parse.normal_form == lemma:
            out = {}
            for case in CASES:
                got = parse.inflect({case, "sing"})
                if got is not None:
                    out[case] = got.word[:1].upper() + got.word[1:] if name[:1].isupper() else got.word
            return out
    return {}


def misspell(word: str, rng: random.Random) -> str:
    """``word`` (lower case) with 1-2 by-ear spelling changes, never the first letter: a vowel or
    "тс"/"ь"/"ё" swap, or a consonant doubled or undoubled (a kind first, then a place)."""
    for _ in range(10):
        out = word
        for _ in range(rng.choice((1, 1, 2))):
            swaps = [(at, len(a), b) for a, b in _SWAPS if (at := out.find(a, 1)) > 0]
            doubles = [(i, 2, out[i]) if out[i + 1] == out[i] else (i, 1, out[i] * 2)
                       for i in range(1, len(out) - 1) if out[i] in _DOUBLE and out[i - 1] != out[i]]
            kinds = [k for k in (swaps, doubles) if k]
            if not kinds:
                break
            at, n, new = rng.choice(rng.choice(kinds))
            out = out[:at] + new + out[at + n:]
        if out != word:
            return out
    return word


def russian_names(entities: Iterable[Entity], count: int, rng: random.Random, *,
                  evaluation: bool) -> list[tuple[str, str]]:
    """(entity id, name): ``count`` single-word Russian places and people whose six case forms the
    dictionary gives, from the held-out quarter (``evaluation``) or the other three."""
    seen: set[str] = set()
    pool = []
    for entity in sorted(entities, key=lambda e: e.id):
        name = entity.name
        if entity.lang != "ru" or entity.type not in ("place", "person") or " " in name or "-" in name:
            continue
        if held_out(entity.id) != evaluation or fold(name) in seen or len(name) < 4:
            continue
        if len(forms_by_case(name)) < len(CASES):
            continue
        seen.add(fold(name))
        pool.append((entity.id, name))
    rng.shuffle(pool)
    return pool[:count]


def utterances(chosen: list[tuple[str, str]], rng: random.Random, asr_style: float) -> list[dict[str, Any]]:
    """One utterance per name, the cases in turn: ``text`` (correct), ``hyp`` (misheard name,
    ASR style for ``asr_style`` of them), the name's character span in each (``start``/``end``
    in ``text``; ``hyp_start``/``hyp_end`` in ``hyp``), its ``case`` and ``entity_id``."""
    out = []
    for k, (eid, name) in enumerate(chosen):
        case = CASES[k % len(CASES)]
        form = forms_by_case(name)[case]
        pre, post = rng.choice(TEMPLATES[case]).split("{}")
        pre = pre[:1].upper() + pre[1:] if pre else ""
        text = pre + form + post + "."
        noisy = misspell(form.lower(), rng)
        h_pre, h_post = pre, post + "."
        if rng.random() < asr_style:
            h_pre, h_post = _asr(h_pre), _asr(h_post)
            h_pre, h_post = (h_pre + " " if h_pre else ""), (" " + h_post if h_post else "")
        out.append({"id": f"ru-{k}", "case": case, "entity_id": eid, "text": text, "start": len(pre),
                    "end": len(pre) + len(form), "surface": form, "hyp": h_pre + noisy + h_post,
                    "hyp_start": len(h_pre), "hyp_end": len(h_pre) + len(noisy)})
    return out


def _asr(text: str) -> str:
    return " ".join(text.lower().replace(",", " ").replace(".", " ").replace("—", " ").split())


def clean_russian(path: str, count: int, rng: random.Random) -> list[str]:
    """Entity-free Russian sentences of a corpus JSONL (.gz too): 5-25 words, no capitalised word
    after the first, Cyrillic."""
    texts = []
    with open_text(path) as fh:
        for line in fh:
            text = json.loads(line)["text"].strip()
            words = text.split()
            if 5 <= len(words) <= 25 and not any(w[:1].isupper() for w in words[1:]) and is_cyrillic(text):
                texts.append(text)
    return rng.sample(texts, min(count, len(texts)))


def transcripts(path: str, records: list[dict[str, Any]], *, every: bool) -> dict[str, dict[str, Any]]:
    """A recogniser's output for ``records`` (``scripts/russian_entity_asr.py``: JSONL of ``id``, ``text``,
    ``hyp``, ``voice``), by id. An entry whose sentence differs from its record's (another seed or
    count made it) is an error; so is a record without one when ``every``."""
    with open(path, encoding="utf-8") as fh:
        heard = {a["id"]: a for a in (json.loads(line) for line in fh if line.strip())}
    wrong = [r["id"] for r in records if (r["id"] in heard and heard[r["id"]]["text"] != r["text"])
             or (every and r["id"] not in heard)]
    if wrong:
        raise SystemExit(f"error: {path} lacks {len(wrong)} of the {len(records)} utterances or has other "
                         f"sentences for them (made with other --per-case, --seed or dump options?), "
                         f"e.g. {wrong[:3]}")
    return {r["id"]: heard[r["id"]] for r in records if r["id"] in heard}

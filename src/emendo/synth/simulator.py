"""A text-level error simulator fitted on real (clean, noisy) pairs.

Real TTS->ASR and handwriting->HTR pairs cost ~0.1-0.5 CPU-seconds each; training a
corrector needs millions. The simulator learns what the real engines get wrong and
replays it on any clean text at >1M pairs/hour:

1. **Fit** (:func:`fit`): every real pair is aligned word by word
   (:func:`align_words`) into *events*: substitutions, insertions, deletions, splits
   (one clean word heard/read as two) and merges (two as one). A substitution is
   either a *word swap* (the noisy word is itself a real word: typical of ASR) or a
   *spelling corruption*, whose character edits (``"rn" -> "m"``, ``"e" -> "c"``) are
   collected as chunk confusions. Per (source, language) the model keeps the event
   mix, the word-confusion table, the chunk-confusion table, which words get deleted
   and inserted, and the empirical distribution of the per-pair error rate by sentence
   length.
2. **Sample** (:meth:`ErrorModel.corrupt`): draw an error rate from the empirical
   distribution for this sentence's length, turn it into a number of events, and
   apply events drawn from the fitted mix: known confusions first, then phonetically
   close words from a vocabulary (same consonant skeleton), then chunk corruptions.
   ASR n-best lists are simulated as variants that re-draw some of the events.

The fitted model is plain JSON (:meth:`ErrorModel.save`), so it can be inspected,
shipped and loaded without the real engines. ``emendo synth simulate`` drives it
(:mod:`emendo.synth.simulate`); ``bench/simulator_fit.py`` compares simulated and real
pairs (table and plot).
"""

from __future__ import annotations

import bisect
import gzip
import json
import math
import random
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from emendo.records import TrainingPair

VERSION = "2"
BUNDLED = Path(__file__).resolve().parent.parent / "data" / "simulator" / "simulator.json.gz"
EVENTS = ("sub", "ins", "del", "split", "merge")
MAX_LENGTH = 60  # sentences longer than this share the error-rate pool of this length
MIN_RATE_SAMPLES = 40  # error rates drawn from the pairs of the nearest lengths, at least this many
MAX_TABLE = 20_000  # entries kept per confusion table (most frequent first)


# ----------------------------------------------------------------------------- alignment

def align_words(clean: Sequence[str], noisy: Sequence[str]) -> list[tuple[str, list[str], list[str]]]:
    """Levenshtein alignment of two word sequences as ``(op, clean_words, noisy_words)`` steps.

    ``op`` is ``"ok"``, ``"sub"``, ``"ins"`` or ``"del"``; a following pass
    (:func:`events_from_alignment`) folds adjacent steps into splits and merges.
    """
    n, m = len(clean), len(noisy)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        cost[i][0] = i
    for j in range(1, m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        ci, row, prev = clean[i - 1], cost[i], cost[i - 1]
        for j in range(1, m + 1):
            sub = prev[j - 1] + (0 if ci == noisy[j - 1] else 1)
            row[j] = min(sub, prev[j] + 1, row[j - 1] + 1)
    steps: list[tuple[str, list[str], list[str]]] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i][j] == cost[i - 1][j - 1] + (0 if clean[i - 1] == noisy[j - 1] else 1):
            steps.append(("ok" if clean[i - 1] == noisy[j - 1] else "sub", [clean[i - 1]], [noisy[j - 1]]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i][j] == cost[i - 1][j] + 1:
            steps.append(("del", [clean[i - 1]], []))
            i -= 1
        else:
            steps.append(("ins", [], [noisy[j - 1]]))
            j -= 1
    steps.reverse()
    return steps


def _squash(text: str) -> str:
    return re.sub(r"[^\w]", "", text.lower())


def events_from_alignment(steps: list[tuple[str, list[str], list[str]]]) -> list[tuple[str, list[str], list[str]]]:
    """Fold ``sub+ins`` whose noisy words join to the clean word into a split, and
    ``sub+del`` whose clean words join to the noisy word into a merge; other steps stay."""
    out: list[tuple[str, list[str], list[str]]] = []
    k = 0
    while k < len(steps):
        op, c, nz = steps[k]
        nxt = steps[k + 1] if k + 1 < len(steps) else None
        if op == "sub" and nxt is not None:
            if nxt[0] == "ins" and _close(_squash(c[0]), _squash(nz[0] + nxt[2][0])):
                out.append(("split", c, nz + nxt[2]))
                k += 2
                continue
            if nxt[0] == "del" and _close(_squash(c[0] + nxt[1][0]), _squash(nz[0])):
                out.append(("merge", c + nxt[1], nz))
                k += 2
                continue
        if (op == "ins" and nxt is not None and nxt[0] == "sub"
                and _close(_squash(nxt[1][0]), _squash(nz[0] + nxt[2][0]))):
            out.append(("split", nxt[1], nz + nxt[2]))
            k += 2
            continue
        if (op == "del" and nxt is not None and nxt[0] == "sub"
                and _close(_squash(c[0] + nxt[1][0]), _squash(nxt[2][0]))):
            out.append(("merge", c + nxt[1], nxt[2]))
            k += 2
            continue
        out.append((op, c, nz))
        k += 1
    return out


def _close(a: str, b: str) -> bool:
    if not a or not b:
        return False
    return a == b or SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.75


def char_chunks(clean: str, noisy: str) -> list[tuple[str, str]]:
    """Character edits turning ``clean`` into ``noisy`` as ``(source, replacement)`` chunks
    (an insertion has an empty source, a deletion an empty replacement)."""
    sm = SequenceMatcher(None, clean, noisy, autojunk=False)
    return [(clean[i1:i2], noisy[j1:j2]) for tag, i1, i2, j1, j2 in sm.get_opcodes() if tag != "equal"]


def skeleton(word: str) -> str:
    """A rough phonetic key: lower case, letters only, first letter kept, later vowels
    (and y/h/w) dropped, doubled letters collapsed; Cyrillic vowels too."""
    w = "".join(ch for ch in unicodedata.normalize("NFC", word.lower()) if ch.isalpha())
    if not w:
        return ""
    vowels = set("aeiouyhwаеёиоуыэюяйьъ")
    out = [w[0]]
    for ch in w[1:]:
        if ch in vowels:
            continue
        if out[-1] != ch:
            out.append(ch)
    return "".join(out)


def length_key(n_words: int) -> int:
    """The sentence length under which a pair's error rate is stored."""
    return min(n_words, MAX_LENGTH)


# ----------------------------------------------------------------------------- statistics

@dataclass
class _Counts:
    """What :func:`fit` accumulates for one (source, language)."""

    pairs: int = 0
    words: int = 0
    rates: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    events: Counter[str] = field(default_factory=Counter)
    swap: int = 0
    spell: int = 0
    chunks_per_spell: Counter[int] = field(default_factory=Counter)
    word_conf: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    chunk_conf: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    deleted: Counter[str] = field(default_factory=Counter)
    substituted: Counter[str] = field(default_factory=Counter)
    inserted: Counter[str] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)
    vocab: Counter[str] = field(default_factory=Counter)
    nbest_sizes: Counter[int] = field(default_factory=Counter)
    nbest_pairs: int = 0


def _add_pair(acc: _Counts, clean: str, noisy: str, nbest: Sequence[str] | None) -> None:
    cw, nw = clean.split(), noisy.split()
    if not cw:
        return
    acc.pairs += 1
    acc.words += len(cw)
    acc.seen.update(cw)
    events = [e for e in events_from_alignment(align_words(cw, nw)) if e[0] != "ok"]
    acc.rates[length_key(len(cw))].append(len(events) / len(cw))
    for op, c, n in events:
        acc.events[op] += 1
        if op in ("sub", "split", "merge"):
            acc.substituted[c[0]] += 1
        if op == "sub":
            if n[0].lower() in acc.vocab or _squash(n[0]) in acc.vocab:
                acc.swap += 1
                acc.word_conf[c[0]][n[0]] += 1
            else:
                acc.spell += 1
                chunks = char_chunks(c[0], n[0])
                acc.chunks_per_spell[min(len(chunks), 4)] += 1
                for src, rep in chunks:
                    acc.chunk_conf[src][rep] += 1
        elif op == "del":
            acc.deleted[c[0]] += 1
        elif op == "ins":
            acc.inserted[n[0]] += 1
    if nbest is not None:
        acc.nbest_pairs += 1
        acc.nbest_sizes[len(dict.fromkeys(nbest))] += 1


def _top(counter: Mapping[str, int], n: int = MAX_TABLE) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:n])


def fit(pairs: Iterable[TrainingPair], *, vocabulary: Mapping[str, Iterable[str]] | None = None,
        min_pairs: int = 20) -> ErrorModel:
    """Fit one error profile per (source, language) from real pairs.

    ``vocabulary`` maps a language to more real words for the phonetic swaps (e.g. the
    words of the text corpus); the clean sides of the pairs are always part of it. Groups
    with fewer than ``min_pairs`` pairs are left out.
    """
    groups: dict[str, list[TrainingPair]] = defaultdict(list)
    for pair in pairs:
        groups[f"{pair.source}-{pair.lang}"].append(pair)
    acc: dict[str, _Counts] = {}
    for group, members in groups.items():
        a = acc[group] = _Counts()
        a.vocab.update((vocabulary or {}).get(group.split("-", 1)[1], ()))
        for pair in members:  # the vocabulary first, so swap-vs-spelling does not depend on order
            a.vocab.update(pair.clean.split())
            a.vocab.update(w.lower() for w in pair.clean.split())
        for pair in members:
            _add_pair(a, pair.clean, pair.noisy, pair.nbest)
    profiles: dict[str, Profile] = {}
    for group, a in sorted(acc.items()):
        if a.pairs < min_pairs:
            continue
        subs = max(a.swap + a.spell, 1)
        total_events = max(sum(a.events.values()), 1)
        vocab_words = [w for w, _ in a.vocab.most_common(200_000) if w.isalpha()]
        profiles[group] = Profile(
            group=group,
            pairs=a.pairs,
            words=a.words,
            rates={str(b): sorted(round(r, 4) for r in rs) for b, rs in sorted(a.rates.items())},
            event_mix={op: a.events[op] / total_events for op in EVENTS},
            swap_share=a.swap / subs,
            chunks_per_spell={str(k): v for k, v in sorted(a.chunks_per_spell.items())},
            word_conf={w: _top(c, 20) for w, c in sorted(a.word_conf.items())},
            chunk_conf={s: _top(c, 20) for s, c in sorted(a.chunk_conf.items()) if s or c},
            deleted=_top(a.deleted),
            substituted=_top(a.substituted),
            inserted=_top(a.inserted),
            seen={w: c for w, c in a.seen.items() if w in a.deleted or w in a.substituted},
            vocabulary=vocab_words,
            nbest_sizes={str(k): v for k, v in sorted(a.nbest_sizes.items())},
            nbest_share=a.nbest_pairs / a.pairs,
        )
    return ErrorModel(profiles)


# ----------------------------------------------------------------------------- the model

@dataclass
class Profile:
    """Fitted error statistics of one (source, language), JSON-serialisable."""

    group: str
    pairs: int
    words: int
    rates: dict[str, list[float]]
    event_mix: dict[str, float]
    swap_share: float
    chunks_per_spell: dict[str, int]
    word_conf: dict[str, dict[str, int]]
    chunk_conf: dict[str, dict[str, int]]
    deleted: dict[str, int]
    substituted: dict[str, int]
    inserted: dict[str, int]
    seen: dict[str, int]
    vocabulary: list[str]
    nbest_sizes: dict[str, int]
    nbest_share: float
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    # lazily built sampling tables ------------------------------------------------
    def _table(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = getattr(self, "_build_" + name)()
        return self._cache[name]

    def rates_near(self, n_words: int) -> list[float]:
        """Per-pair error rates of real sentences of (nearly) this length: the exact length first,
        then lengths ever further away until at least :data:`MIN_RATE_SAMPLES` rates are pooled.
        Drawing from the same length keeps the share of error-free pairs right."""
        key = f"near{length_key(n_words)}"
        if key not in self._cache:
            target = length_key(n_words)
            by_len = {int(k): v for k, v in self.rates.items()}
            pool: list[float] = []
            for dist in range(0, MAX_LENGTH + 1):
                for n in {target - dist, target + dist}:
                    pool.extend(by_len.get(n, ()))
                if len(pool) >= MIN_RATE_SAMPLES:
                    break
            self._cache[key] = pool or [0.0]
        rates: list[float] = self._cache[key]
        return rates

    def _build_events(self) -> tuple[list[str], list[float]]:
        ops = [op for op in EVENTS if self.event_mix.get(op, 0) > 0] or ["sub"]
        return ops, list(_cum([self.event_mix.get(op, 1.0) for op in ops]))

    def _build_phonetic(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = defaultdict(list)
        for w in self.vocabulary:
            groups[skeleton(w)].append(w)
        return groups

    def _build_chunks(self) -> tuple[list[str], list[float], dict[str, tuple[list[str], list[float]]]]:
        sources = [s for s in self.chunk_conf if s]
        weights = [float(sum(self.chunk_conf[s].values())) for s in sources]
        reps = {s: (list(c), list(_cum(c.values()))) for s, c in self.chunk_conf.items()}
        return sources, weights, reps

    def _build_inserted(self) -> tuple[list[str], list[float]]:
        words = list(self.inserted) or ["the"]
        return words, list(_cum(self.inserted.values() or [1]))

    def _build_spell(self) -> tuple[list[int], list[float]]:
        ks = [int(k) for k in self.chunks_per_spell] or [1]
        return ks, list(_cum(self.chunks_per_spell.values() or [1]))

    def _build_nbest(self) -> tuple[list[int], list[float]]:
        ks = [int(k) for k in self.nbest_sizes] or [1]
        return ks, list(_cum(self.nbest_sizes.values() or [1]))


def _cum(weights: Iterable[float]) -> Iterable[float]:
    total = 0.0
    for w in weights:
        total += w
        yield total


def _pick(rng: random.Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    return items[bisect.bisect_right(cum, rng.random() * cum[-1]) if cum[-1] > 0 else 0]


class ErrorModel:
    """Fitted profiles keyed ``"asr-en"``, ``"htr-ru"``, ...; samples noisy text."""

    def __init__(self, profiles: Mapping[str, Profile]) -> None:
        self.profiles = dict(profiles)

    # ---- persistence
    def save(self, path: Path) -> None:
        """Write the model as JSON (gzipped when ``path`` ends in ``.gz``; byte-stable for a given model)."""
        data = {"version": VERSION, "profiles": {g: p.to_dict() for g, p in self.profiles.items()}}
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)

    @classmethod
    def load(cls, path: Path) -> ErrorModel:
        raw = path.read_bytes()
        data = json.loads(gzip.decompress(raw) if path.suffix == ".gz" else raw)
        if data.get("version") != VERSION:
            raise ValueError(f"{path}: simulator model version {data.get('version')!r}, expected {VERSION!r}")
        return cls({g: Profile(**p) for g, p in data["profiles"].items()})

    def profile(self, source: str, lang: str) -> Profile:
        key = f"{source}-{lang}"
        if key not in self.profiles:
            raise KeyError(f"no fitted profile {key!r}; have {', '.join(sorted(self.profiles)) or 'none'}")
        return self.profiles[key]

    # ---- sampling
    def corrupt(self, clean: str, source: str, lang: str, rng: random.Random,
                *, rate_scale: float = 1.0) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        """Noisy text, an n-best list (ASR profiles with n-best data) and what was done."""
        prof = self.profile(source, lang)
        words = clean.split()
        if not words:
            return clean, None, {"rate": 0.0, "events": {}}
        rates = prof.rates_near(len(words))
        rate = rates[int(rng.random() * len(rates))] * rate_scale
        expected = rate * len(words)
        n_events = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        noisy, counts = _apply(prof, words, n_events, rng)
        nbest: tuple[str, ...] | None = None
        if prof.nbest_share > 0 and rng.random() < prof.nbest_share:
            size = _pick(rng, *prof._table("nbest"))
            variants = [noisy]
            for _ in range(4 * size):
                if len(variants) >= size:
                    break
                alt, _c = _apply(prof, words, max(n_events + rng.choice((-1, 0, 1)), 0), rng)
                if alt not in variants:
                    variants.append(alt)
            nbest = tuple(variants)
        return noisy, nbest, {"rate": round(rate, 4), "events": dict(counts)}


def _apply(prof: Profile, words: list[str], n_events: int, rng: random.Random) -> tuple[str, Counter[str]]:
    out: list[str | None] = list(words)
    extra: dict[int, list[str]] = defaultdict(list)  # insertions after position i
    touched: set[int] = set()
    counts: Counter[str] = Counter()
    ops, cum = prof._table("events")
    for _ in range(n_events):
        op = _pick(rng, ops, cum)
        free = [i for i in range(len(words)) if i not in touched]
        if not free:
            break
        i = _choose_position(prof, op, words, free, rng)
        if op == "ins":
            extra[i].append(_pick(rng, *prof._table("inserted")))
        elif op == "del":
            out[i] = None
            touched.add(i)
        elif op == "split":
            w = words[i]
            if len(w) < 4:
                out[i] = _substitute(prof, w, rng)
            else:
                cut = rng.randint(2, len(w) - 2)
                out[i] = w[:cut] + " " + w[cut:]
            touched.add(i)
        elif op == "merge" and i + 1 < len(words) and i + 1 not in touched:
            out[i] = words[i] + words[i + 1]
            out[i + 1] = None
            touched.update((i, i + 1))
        else:
            out[i] = _substitute(prof, words[i], rng)
            touched.add(i)
        counts[op] += 1
    pieces: list[str] = []
    for i, kept in enumerate(out):
        if kept:
            pieces.append(kept)
        pieces.extend(extra.get(i, ()))
    return " ".join(pieces), counts


def _choose_position(prof: Profile, op: str, words: list[str], free: list[int], rng: random.Random) -> int:
    """A position for ``op``, weighted by each word's own smoothed rate of that error in the real pairs
    (real engines drop short function words and confuse some words far more than others)."""
    table = prof.deleted if op == "del" else prof.substituted if op in ("sub", "split", "merge") else None
    if not table:
        return free[int(rng.random() * len(free))]
    base = sum(table.values()) / max(prof.words, 1)
    alpha = 5.0
    weights = [(table.get(words[i], 0) + alpha * base) / (prof.seen.get(words[i], 0) + alpha) for i in free]
    return int(_pick(rng, free, list(_cum(weights))))


def _substitute(prof: Profile, word: str, rng: random.Random) -> str:
    if rng.random() < prof.swap_share:
        conf = prof.word_conf.get(word)
        if conf and rng.random() < 0.7:
            alts = list(conf)
            return str(_pick(rng, alts, list(_cum(conf.values()))))
        near: list[str] = [w for w in prof._table("phonetic").get(skeleton(word), ()) if w != word]
        if near:
            # real confusions sound alike AND look alike: the closest spelling of a few same-skeleton words
            sample = [near[int(rng.random() * len(near))] for _ in range(8)]
            return max(sample, key=lambda w: SequenceMatcher(None, word, w, autojunk=False).ratio())
    return _spell(prof, word, rng)


def _spell(prof: Profile, word: str, rng: random.Random) -> str:
    sources, weights, reps = prof._table("chunks")
    if not sources:
        return word[::-1] if len(word) > 1 else word + word
    n = _pick(rng, *prof._table("spell"))
    w = word
    for _ in range(max(n, 1)):
        # chunks whose source occurs in the word (plus pure insertions), weighted by frequency
        cands = [(s, wt) for s, wt in zip(sources, weights, strict=True) if s in w]
        ins = reps.get("")
        if ins and (not cands or rng.random() < 0.15):
            rep = _pick(rng, *ins)
            pos = rng.randint(0, len(w))
            w = w[:pos] + rep + w[pos:]
            continue
        if not cands:
            break
        src = _pick(rng, [c[0] for c in cands], list(_cum(c[1] for c in cands)))
        starts = [m.start() for m in re.finditer(re.escape(src), w)]
        pos = starts[int(rng.random() * len(starts))]
        w = w[:pos] + _pick(rng, *reps[src]) + w[pos + len(src):]
    if w == word:
        return _spell_fallback(word, rng)
    return w


def _spell_fallback(word: str, rng: random.Random) -> str:
    if len(word) < 2:
        return word + word
    i = rng.randrange(len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def error_rates(clean: str, noisy: str) -> tuple[float, float]:
    """(WER, CER) of ``noisy`` against ``clean`` (raw text, whitespace tokens)."""
    cw = clean.split()
    wer = Levenshtein.distance(cw, noisy.split()) / max(len(cw), 1)
    cer = Levenshtein.distance(clean, noisy) / max(len(clean), 1)
    return wer, cer


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of sorted-or-not ``values``; 0 for none."""
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]

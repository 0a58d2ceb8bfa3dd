"""Candidate lookup over the surface forms (names + aliases) of one catalog, without a linear scan.

Every surface form is filed under its phonetic keys (:func:`~emendo.correctors.entities.
phonetic.phonetic_keys`). Each key is reduced to a short *index key* (Russian vowel classes
dropped after the first letter, cut to :data:`PREFIX` characters) and filed under its
SymSpell deletion neighbourhood: the index key and every string made by deleting one of its
characters. A query does the same with its own keys, so two keys meet whenever their index
keys are at most one deletion apart on each side (every single edit, most double ones): a
lookup touches ``len(key) + 1`` dictionary buckets, never the whole catalog. The surface
forms found are pruned by their spelling distance (C-speed Levenshtein from rapidfuzz)
before the weighted key distance is computed; the result equals :func:`~emendo.correctors.
entities.phonetic.phonetic_distance`.

Adding or removing an entity touches only its own surface forms (the update path of a
compacted Kafka topic). One index holds one catalog; :class:`~emendo.correctors.entities.
catalog.Catalog` keeps one per catalog name.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from emendo.correctors.entities.inflect import nearest_form, word_forms
from emendo.correctors.entities.phonetic import (
    _CLASSES,
    DEFAULT_WEIGHTS,
    SIMILAR_COST,
    DistanceWeights,
    fold,
    is_cyrillic,
    key_distance,
    phonetic_keys,
    russian_stem,
)
from emendo.correctors.entities.types import Entity

PREFIX = 7
# every member of a substitution class written as the class's first member: the plain Levenshtein
# distance of two keys so mapped counts only indels and cross-class substitutions
_CLASS_OF = str.maketrans({ch: cls[0] for cls in _CLASSES for ch in cls})


@lru_cache(maxsize=200_000)
def class_key(key: str) -> str:
    """``key`` with every sound written as its substitution class (``"BTS"`` -> ``"PTS"``)."""
    return key.translate(_CLASS_OF)


@lru_cache(maxsize=200_000)
def cached_fold(text: str) -> str:
    """:func:`~emendo.correctors.entities.phonetic.fold`, memoised (surface forms and spans repeat)."""
    return fold(text)


def sound_distance(query_keys: tuple[str, ...], keys: tuple[str, ...], cutoff: float) -> float | None:
    """The smallest normalised weighted key distance over key pairs, or None when all exceed ``cutoff``.

    Equal to :func:`~emendo.correctors.entities.phonetic.normalised_key_distance` whenever that
    is at most ``cutoff``. The Python dynamic programme runs only for pairs that survive a
    C-speed lower bound: for one alignment, weighted cost = ``c`` x its plain cost + ``(1 - c)``
    x its cost over class keys (``c`` = SIMILAR_COST), so the weighted distance is at least
    ``c`` x Levenshtein(keys) + ``(1 - c)`` x Levenshtein(class keys).
    """
    best: float | None = None
    for q in query_keys:
        cq, lq = class_key(q), len(q)
        for key in keys:
            lk = len(key)
            longest = lq if lq >= lk else lk
            if not longest:
                continue
            limit = cutoff if best is None or best > cutoff else best
            reach = (limit + 1e-9) * longest
            # cheapest first: both Levenshtein distances are at least the length difference, and the
            # class keys' one is at most the plain one
            if abs(lq - lk) > reach:
                continue
            class_edits = Levenshtein.distance(cq, class_key(key))
            if class_edits > reach or (
                    SIMILAR_COST * Levenshtein.distance(q, key) + (1 - SIMILAR_COST) * class_edits > reach):
                continue
            d = key_distance(q, key) / longest
            if d <= cutoff and (best is None or d < best):
                best = d
    return best


def bounded_distance(folded: str, query_keys: tuple[str, ...], other: str, cutoff: float,
                     weights: DistanceWeights = DEFAULT_WEIGHTS) -> float | None:
    """:func:`~emendo.correctors.entities.phonetic.phonetic_distance` of a folded query (with its
    keys) and ``other`` when it is at most ``cutoff``, else None; cheap bounds first."""
    other_folded = cached_fold(other)
    if folded == other_folded:
        return 0.0
    wp, ws = weights.phonetic, weights.spelling
    spelling = Levenshtein.normalized_distance(folded, other_folded)
    if ws * spelling > cutoff + 1e-9:
        return None
    other_keys = phonetic_keys(other)
    if query_keys and other_keys:
        sound = sound_distance(query_keys, other_keys, (cutoff - ws * spelling) / wp + 1e-9 if wp else 1.0)
        if sound is None:
            return None
    else:
        sound = 1.0
    distance = wp * sound + ws * spelling
    return distance if distance <= cutoff else None


@dataclass(frozen=True, slots=True)
class Candidate:
    """A catalog entity whose surface form ``surface`` lies ``distance`` (0..1) from the query."""

    entity: Entity
    surface: str
    distance: float


def index_key(key: str) -> str:
    """The part of a phonetic key that is indexed: vowel classes after the first letter dropped, cut to PREFIX."""
    return (key[:1] + "".join(ch for ch in key[1:] if not ch.islower()))[:PREFIX]


def deletions(key: str) -> set[str]:
    """``key`` and, for keys of 3 characters or more, every string made by deleting one character."""
    out = {key}
    if len(key) >= 3:
        out.update(key[:i] + key[i + 1:] for i in range(len(key)))
    return out


def _add(table: dict[str, list[str]], key: str, value: str) -> None:
    bucket = table.get(key)
    if bucket is None:
        table[key] = [value]
    elif value not in bucket:
        bucket.append(value)


def _discard(table: dict[str, list[str]], key: str, value: str) -> bool:
    """Remove ``value`` from a bucket; True when the bucket became empty (and was dropped)."""
    bucket = table.get(key)
    if bucket is None or value not in bucket:
        return False
    bucket.remove(value)
    if not bucket:
        del table[key]
        return True
    return False


def _words(surface: str) -> list[str]:
    """The folded words of a multi-word surface form (none for a single word)."""
    words = [fold(w) for w in surface.replace("-", " ").split()]
    return [w for w in words if w] if len(words) > 1 else []


RECENT_LOOKUPS = 20_000  # candidates() results memoised per index (a few MB)
# a Cyrillic span is compared with each name in the case form spelt most like it (inflect.py); the
# nominative lookup runs this much looser first, as the span's case ending counts against it there
INFLECTION_SLACK = 0.15


class EntityIndex:
    """Surface forms of one catalog's entities, searchable by sound and spelling."""

    def __init__(self, weights: DistanceWeights = DEFAULT_WEIGHTS, *, inflect: bool = True) -> None:
        self.weights = weights
        self.inflect = inflect  # compare Cyrillic spans with the case form of a name nearest to them
        self._entities: dict[str, Entity] = {}
        self._by_fold: dict[str, list[tuple[str, str]]] = {}  # folded surface -> [(entity id, surface)]
        self._by_stem: dict[str, list[str]] = {}  # Russian stem of a Cyrillic surface -> folded surfaces
        self._by_key: dict[str, list[str]] = {}  # phonetic key -> folded surfaces
        self._by_deletion: dict[str, list[str]] = {}  # deletion variant of an index key -> phonetic keys
        # deletion variant -> the folded surfaces filed under its keys, one entry per (key, surface):
        # a lookup unions these few lists instead of walking variant -> keys -> surfaces
        self._pool: dict[str, list[str]] = {}
        self._name_words: dict[str, int] = {}  # folded word of a multi-word surface -> how many surfaces
        # recent lookups, (text, limit, max_distance) -> result, oldest first; emptied by every change.
        # Spans recur across requests ("city in india"): on the entity evaluation set a worker warmed on
        # 200 other utterances answered 11% of the test split's lookups (16% of their time) from it
        self._recent: OrderedDict[tuple[str, int, float], list[Candidate]] = OrderedDict()

    # ------------------------------------------------------------ updates

    def add(self, entity: Entity) -> None:
        """Insert ``entity``, replacing any entity with the same id."""
        if entity.id in self._entities:
            self.remove(entity.id)
        self._recent.clear()
        self._entities[entity.id] = entity
        for surface in entity.surface_forms:
            folded = fold(surface)
            if not folded:
                continue
            owners = self._by_fold.get(folded)
            if owners is None:
                owners = self._by_fold[folded] = []
                for key in phonetic_keys(folded):
                    self._file_key(key, folded)
                if is_cyrillic(folded):
                    _add(self._by_stem, russian_stem(surface), folded)
                for word in _words(surface):
                    self._name_words[word] = self._name_words.get(word, 0) + 1
            if all(eid != entity.id for eid, _ in owners):
                owners.append((entity.id, surface))

    def remove(self, entity_id: str) -> Entity | None:
        """Delete the entity with this id; returns it, or None when there was none."""
        entity = self._entities.pop(entity_id, None)
        if entity is None:
            return None
        self._recent.clear()
        for surface in entity.surface_forms:
            folded = fold(surface)
            owners = self._by_fold.get(folded)
            if owners is None:
                continue
            owners[:] = [(eid, s) for eid, s in owners if eid != entity_id]
            if not owners:
                del self._by_fold[folded]
                for key in phonetic_keys(folded):
                    for variant in deletions(index_key(key)):
                        _discard(self._pool, variant, folded)
                    if _discard(self._by_key, key, folded):
                        for variant in deletions(index_key(key)):
                            _discard(self._by_deletion, variant, key)
                if is_cyrillic(folded):
                    _discard(self._by_stem, russian_stem(surface), folded)
                for word in _words(surface):
                    if self._name_words.get(word, 0) <= 1:
                        self._name_words.pop(word, None)
                    else:
                        self._name_words[word] -= 1
        return entity

    def _file_key(self, key: str, folded: str) -> None:
        variants = deletions(index_key(key))
        if key not in self._by_key:
            for variant in variants:
                _add(self._by_deletion, variant, key)
        _add(self._by_key, key, folded)
        for variant in variants:
            self._pool.setdefault(variant, []).append(folded)

    # ------------------------------------------------------------ queries

    def __len__(self) -> int:
        return len(self._entities)

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._entities

    def __iter__(self) -> Iterator[Entity]:
        return iter(list(self._entities.values()))

    def get(self, entity_id: str) -> Entity | None:
        """The entity with this id, if any."""
        return self._entities.get(entity_id)

    def exact(self, text: str) -> list[tuple[Entity, str]]:
        """Entities with a surface form equal to ``text`` once both are folded (case, accents, spaces).

        For Cyrillic text an inflected form counts too: ``"в Москве"`` is a correct use of
        ``"Москва"``, not an error. A name the pymorphy3 dictionary knows counts in the forms it
        lists for it (any case or number), so "чайковскам" (a misheard ending) is no use of
        Чайковский; for other names a shared :func:`russian_stem` is enough.
        """
        folded = cached_fold(text)
        owners = list(self._by_fold.get(folded, ()))
        if is_cyrillic(folded):
            for other in self._by_stem.get(russian_stem(text), ()):
                if other != folded:
                    owners += [(eid, surface) for eid, surface in self._by_fold.get(other, ())
                               if (forms := word_forms(surface)) is None or folded in forms]
        return [(self._entities[eid], surface) for eid, surface in owners]

    def is_name_word(self, word: str) -> bool:
        """Whether ``word`` (folded) is one word of a multi-word surface form (``"Emma"`` of ``"Emma Goldman"``)."""
        return cached_fold(word) in self._name_words

    def candidate_keys(self, text: str) -> set[str]:
        """Stored phonetic keys whose index keys lie in the deletion neighbourhood of ``text``'s."""
        found: set[str] = set()
        for key in phonetic_keys(text):
            for variant in deletions(index_key(key)):
                found.update(self._by_deletion.get(variant, ()))
        return found

    def candidates(self, text: str, limit: int = 10, max_distance: float = 0.35) -> list[Candidate]:
        """Entities whose surface forms lie within ``max_distance`` of ``text``, nearest first.

        One :class:`Candidate` per entity (its nearest surface form); ties are broken by entity
        id, so results are deterministic. This is the lookup the dense retriever can share. The
        last ``RECENT_LOOKUPS`` results are kept until the index changes.
        """
        key = (text, limit, max_distance)
        found = self._recent.get(key)
        if found is None:
            inflected = self.inflect and is_cyrillic(text)
            found = self._recent[key] = (self._lookup_inflected if inflected else self._lookup)(
                text, limit, max_distance)
            if len(self._recent) > RECENT_LOOKUPS:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(key)
        return list(found)

    def forget_lookups(self) -> None:
        """Empty the recent-lookups memo (benchmarks: a worker that has seen no utterance yet)."""
        self._recent.clear()

    def _lookup(self, text: str, limit: int, max_distance: float) -> list[Candidate]:
        folded = cached_fold(text)
        query_keys = phonetic_keys(text)
        if not query_keys or not folded:
            return []
        wp, ws = self.weights.phonetic, self.weights.spelling
        spelling_cutoff = min(1.0, max_distance / ws) if ws else 1.0
        best: dict[str, Candidate] = {}
        pool: set[str] = set()
        for key in query_keys:
            for variant in deletions(index_key(key)):
                if found := self._pool.get(variant):
                    pool.update(found)
        # the C-speed spelling distance prunes first; the key distance only for survivors. Hits come
        # nearest spelling first, so once ``limit`` entities are held, a surface whose spelling part
        # alone exceeds the limit-th distance cannot enter the result, and ends the scan
        hits = process.extract(folded, pool, scorer=Levenshtein.normalized_distance,
                               score_cutoff=spelling_cutoff, limit=None)
        bound = max_distance
        for other, spelling, _ in hits:
            if ws * spelling > bound + 1e-9:
                break
            sound_cutoff = (max_distance - ws * spelling) / wp if wp else 1.0
            if bound < max_distance and wp:
                sound_cutoff = min(sound_cutoff, (bound - ws * spelling) / wp + 1e-9)
            sound = sound_distance(query_keys, phonetic_keys(other), sound_cutoff)
            if sound is None:
                continue
            distance = 0.0 if folded == other else wp * sound + ws * spelling
            changed = False
            for eid, surface in self._by_fold[other]:
                held = best.get(eid)
                # equally near forms of one entity ("Tokyo", "Tokio"): the one it lists first, not
                # whichever the pool (a set, ordered by the process's string hashing) yields first
                if held is None or distance < held.distance or (
                        distance == held.distance and _form_rank(held.entity, surface) < _form_rank(
                            held.entity, held.surface)):
                    best[eid] = Candidate(self._entities[eid], surface, distance)
                    changed = True
            if changed and len(best) >= limit:
                bound = sorted(c.distance for c in best.values())[limit - 1]
        return sorted(best.values(), key=lambda c: (c.distance, c.entity.id))[:limit]

    def _lookup_inflected(self, text: str, limit: int, max_distance: float) -> list[Candidate]:
        """:meth:`_lookup` for a Cyrillic span: each name in its case form nearest the span ("из
        навасибирска": Новосибирска, not Новосибирск), at that form's distance."""
        folded, keys = cached_fold(text), phonetic_keys(text)
        best: dict[str, Candidate] = {}
        for c in self._lookup(text, 2 * limit, min(max_distance + INFLECTION_SLACK, 0.99)):
            form = nearest_form(c.surface, text)
            distance = c.distance if form == c.surface else bounded_distance(folded, keys, form, max_distance)
            if distance is not None and distance <= max_distance and (
                    c.entity.id not in best or distance < best[c.entity.id].distance):
                best[c.entity.id] = Candidate(c.entity, form, distance)
        return sorted(best.values(), key=lambda c: (c.distance, c.entity.id))[:limit]

    @staticmethod
    def _sound_distance(query_keys: tuple[str, ...], keys: tuple[str, ...], cutoff: float) -> float | None:
        """The smallest normalised weighted key distance over key pairs, or None when all exceed ``cutoff``."""
        return sound_distance(query_keys, keys, cutoff)

    def stats(self) -> dict[str, int]:
        """Sizes of the internal tables (for benchmarks and capacity planning)."""
        return {"entities": len(self._entities), "surfaces": len(self._by_fold), "keys": len(self._by_key),
                "deletion_variants": len(self._by_deletion),
                "pool_entries": sum(len(bucket) for bucket in self._pool.values())}


def _form_rank(entity: Entity, surface: str) -> int:
    """Where ``surface`` comes in ``entity.surface_forms`` (name first; unlisted forms last)."""
    forms = entity.surface_forms
    return forms.index(surface) if surface in forms else len(forms)


def build_index(entities: Iterable[Entity], weights: DistanceWeights = DEFAULT_WEIGHTS) -> EntityIndex:
    """An :class:`EntityIndex` holding ``entities``."""
    index = EntityIndex(weights)
    for entity in entities:
        index.add(entity)
    return index
